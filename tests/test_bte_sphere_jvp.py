"""The exact Jacobian action of the spherical BTE's collisions
(fvqp/models/bte_sphere/problem.py ``collision_jvp``: product rule on the cached real-FFT
linearisation fvqp.collisions.angular.RatesLinearisation, the one the mesh bte uses)
against the complex step through the collision terms (the reference, ``jvp_mode =
"complex_step"``) to round-off and against central differences of the residual, for bath,
local and transported phonons; anisotropic, nonthermal QPs and hot phonons (random data
with a packet near 3 Delta), on a state that moves (the cached linearisation is rebuilt)."""

from __future__ import annotations

import numpy as np
import pytest

from fvqp.collisions import EnergyGrid
from fvqp.models.bte_sphere.discretisation import Ordinates, RadialMesh
from fvqp.models.bte_sphere.problem import SphereProblem
from fvqp.models.bte_sphere.spectral import bcs_spectrum
from fvqp.spectra.gap import thermal_gap


def _state(p, rng) -> np.ndarray:
    x = p.equilibrium().reshape(p.n, p.B).copy()
    e = np.repeat(p.grid.e, p.K)
    x[:, : p.nq] *= 1.0 + 2.0 * rng.random((p.n, p.nq))
    x[:, : p.nq] += 0.05 * rng.random((p.n, p.nq)) * np.exp(-((e - 3.0) / 0.3) ** 2)
    x[:, p.nq:] *= 1.0 + rng.random((p.n, p.B - p.nq))
    return x.ravel()


@pytest.mark.parametrize("phonons", ["bath", "local", "bte"])
def test_exact_collision_action_is_the_complex_step_and_central_differences(phonons):
    g = EnergyGrid.build(thermal_gap(0.3, 1.0), h=0.1, e_max=5.0)
    p = SphereProblem(RadialMesh.uniform(10.0, 5), Ordinates.gauss_legendre(4),
                      bcs_spectrum(g), v_f=10.0, mfp=3.0, t_bath=0.3, c_ph=30.0,
                      phonons=phonons, c_s=2.0 if phonons == "bte" else 0.0)
    rng = np.random.default_rng(7)
    for _ in range(2):                      # a second state: the cache follows it
        x, v = _state(p, rng), rng.standard_normal(p.n * p.B)
        exact = p.rhs_jvp(x, v)
        p.jvp_mode = "complex_step"
        ref = p.rhs_jvp(x, v)
        p.jvp_mode = "exact"
        coll = np.abs(ref - p.linear @ v).max()        # the collisions' own part
        assert coll > 1e-3 * np.abs(ref).max()
        assert np.abs(exact - ref).max() <= 1e-12 * coll
        eps = 1e-6
        cd = (p.rhs(x + eps * v) - p.rhs(x - eps * v)) / (2.0 * eps)
        assert np.abs(cd - exact).max() <= 1e-9 * np.abs(exact).max()

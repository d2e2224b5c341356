"""bte with ``[spectrum] kind = "eliashberg"``: storage N = rho m per bin and flux v_F per
energy (the group velocity is v_F / N, docs/theory_bte_sphere.md), built from the real-axis
Eliashberg solution through :func:`fvqp.models.bte_sphere.spectral.eliashberg_spectrum`.
Checks: the spectrum reaches the problem unchanged (N > rho by the mass renormalisation
m ~ 1 + lambda); a uniform isotropic equilibrium of the film is stationary (diffuse walls,
a bath contact at the same temperature, a trap region); the free-streaming speed of every
bin is v_F / N (centroid of a beam on a channel, exact for backward Euler)."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import case_variant as _variant
from fvqp.mesh import build_geometry
from fvqp.models.bte.problem import BTEProblem
from fvqp.models.bte.rect import rectangle
from fvqp.ordinates.quadrature import circle
from fvqp.parallel import Distribution


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    from fvqp.case import load_case
    from fvqp.models.bte.driver import BTESimulation

    tmp = tmp_path_factory.mktemp("eli")
    path = _variant("bte_film_pulse.toml", tmp, **{
        "directions = 16": "directions = 8\n\n[spectrum]\nkind = \"eliashberg\"",
        'temperature = "20 mK"': 'temperature = "300 mK"',
        '[boundaries.trap_end]\ntype = "absorbing"': '[boundaries.trap_end]\ntype = "bath"'})
    return BTESimulation(load_case(path))


def test_eliashberg_spectrum_reaches_the_problem(sim):
    spec, p = sim.spectrum, sim.problem
    assert spec.kind == "eliashberg" and p.N == spec.grid.n >= 3
    assert np.array_equal(p.rho, spec.states)
    assert np.array_equal(p.v, np.full(p.N, sim.v_f))
    # mass renormalisation: m ~ 1 + lambda (Al: lambda = 0.43) far below the phonons; the
    # material's N0 (Sommerfeld gamma) and Kaplan's tau0 already hold Z1(0) = 1 + lambda,
    # so the storage is N = rho m / Z1(0), within 1e-3 of rho here (weak coupling)
    assert np.all(spec.renorm > 1.3) and np.all(spec.renorm < 1.6)
    assert spec.z0 == pytest.approx(1.43, rel=1e-6)
    assert np.allclose(p.rho, spec.rho * spec.renorm / 1.43, rtol=1e-6, atol=0)
    assert np.all(np.abs(p.rho / spec.rho - 1.0) < 1e-3)
    assert sim.gap == pytest.approx(spec.gap, rel=1e-15)
    assert spec.grid.e[0] - 0.5 * spec.grid.h == pytest.approx(spec.gap, rel=1e-12)


def test_uniform_isotropic_equilibrium_stationary(sim):
    """f = f_FD(E, T_bath) everywhere and in every direction: one backward-Euler step of
    every bin (diffuse walls, bath contact at T_bath, traps towards f_bath; the case's
    pulse switched off) keeps it."""
    p = sim.problem
    p.sources = []
    assert sim.f_bath.min() > 1e-6
    x0 = p.equilibrium(sim.f_bath)
    x1, res = p.step(x0, None, 0.0, 0.3)
    p.release()
    assert all(r.success for r in res)
    assert np.max(np.abs(x1 - x0) / sim.f_bath[:, None]) < 1e-11


def test_free_streaming_speed_is_vf_over_states(sim):
    """A beam along +x in the first cells of a ballistic channel (quads): with backward
    Euler the centroid advances by exactly dt v_F / N_j per step in bin j (first moment of
    the conservative upwind scheme), i.e. the Bogoliubov group velocity, slower near the
    gap edge where N is large."""
    spec = sim.spectrum
    raw = rectangle(80, 1, 8.0, 0.1)
    geo = build_geometry(raw)
    quad = circle(8)
    kinds = {"left": "inflow", "right": "inflow", "top": "specular", "bottom": "specular"}
    n = spec.grid.n
    f_in = {"left": np.zeros(n), "right": np.zeros(n)}
    v_f = 2.0
    p = BTEProblem(Distribution(geo), quad, spec.grid, spec.gap, v_f, 1.0, np.ones(1),
                   np.zeros(1), np.zeros(1), kinds, f_in, np.zeros(n),
                   states=spec.states, flux=np.ones(n), prefix="bte_eli_")
    k = int(np.argmax(quad.omega[:, 0]))  # a beam at 22.5 deg; specular top/bottom
    mu = quad.omega[k, 0]  # reflect it into its mirror image, same x-velocity
    assert mu == pytest.approx(np.cos(np.pi / 8), rel=1e-14)
    xc = np.asarray(geo.centroid)[:, 0]
    x = np.zeros((n, geo.n_cells, p.B))
    x[:, xc < 1.0, k] = 1.0
    x = x.reshape(n, -1)
    dt, steps = 0.1, 4

    def centroid(x):
        fb = p.mean(x)
        return fb @ (p.vol * xc) / (fb @ p.vol)

    m0 = centroid(x)
    for _ in range(steps):
        x = p.step(x, None, 0.0, dt)[0]
    p.release()
    assert np.all(p.mean(x)[:, -1] < 1e-12)  # nothing reached the outflow: moment exact
    speed = (centroid(x) - m0) / (steps * dt)
    assert speed == pytest.approx(v_f * mu / spec.states, rel=1e-10)
    assert speed[0] < 0.6 * speed[-1]  # slow near the gap edge (N large)

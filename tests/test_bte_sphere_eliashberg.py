"""Spherical BTE with the Eliashberg spectrum (fvqp.eliashberg, issue 7 part 2): the
renormalised storage N = rho m (Eq. 178) keeps equilibrium, conservation and the group
velocity v_F / N."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("fvqp.eliashberg")

from fvqp.materials import get_material  # noqa: E402
from fvqp.models.bte_sphere.discretisation import Ordinates, RadialMesh  # noqa: E402
from fvqp.models.bte_sphere.problem import SphereProblem  # noqa: E402
from fvqp.models.bte_sphere.spectral import eliashberg_spectrum  # noqa: E402
from fvqp.solvers import BDFIntegrator, BDFOptions, JacobianConfig  # noqa: E402

NEWTON = {"snes_type": "newtonls", "snes_rtol": 1e-10, "ksp_type": "gmres",
          "ksp_rtol": 1e-10, "ksp_atol": 1e-300, "pc_type": "bjacobi", "sub_pc_type": "lu",
          "sub_pc_factor_mat_ordering_type": "rcm"}


@pytest.fixture(scope="module")
def spectrum():
    return eliashberg_spectrum(get_material("Sn"), 0.2, 0.15, 5.0)


@pytest.mark.slow
def test_eliashberg_spectrum_renormalises_states(spectrum):
    g = spectrum.grid
    assert spectrum.kind == "eliashberg" and g.e[0] - g.h / 2 == pytest.approx(spectrum.gap)
    # strong coupling (Sn, lambda ~ 0.7): m = (d xi/d eps) / rho well above 1 (-> 1 +
    # lambda in the normal state); rho has the BCS-like edge peak and tends to 1
    assert np.all(spectrum.renorm[-5:] > 1.4)
    e, d0 = g.e[-1], spectrum.gap
    assert 1.0 < spectrum.rho[-1] < 1.02 * e / np.sqrt(e * e - (1.1 * d0) ** 2)
    assert np.all(np.diff(spectrum.rho) < 0) and spectrum.rho[0] > 3


@pytest.mark.slow
def test_eliashberg_equilibrium_and_energy_balance(spectrum):
    p = SphereProblem(RadialMesh.uniform(10.0, 10), Ordinates.gauss_legendre(4), spectrum,
                      v_f=10.0, mfp=3.0, t_bath=0.2 * 1.0, c_ph=30.0, phonons="bte",
                      c_s=1.0, outer_qp="bath", outer_ph="bath")
    x = p.equilibrium()
    ref = np.abs(p.rhs(x * (1 + 1e-3 * np.random.default_rng(0).random(x.size)))).max()
    assert np.abs(p.rhs(x)).max() < 1e-9 * ref
    g = spectrum.grid
    y = x.reshape(p.n, p.B)
    rc = p.mesh.centres
    pk = 1e-3 * np.exp(-((g.e - 3.5) / 0.3) ** 2)[None, :] * np.exp(-rc**2 / 4)[:, None]
    y[:, :p.nq] += np.repeat(pk, p.K, axis=1)
    x0 = y.ravel()
    integ = BDFIntegrator(p, x0, 0.0, "el_", NEWTON,
                          BDFOptions(order=2, dt_initial=0.05, adaptive=False),
                          jacobian=JacobianConfig("matrix_free"))
    integ.run(1.0)
    t0, t1, acc = p.totals(x0), p.totals(integ.x), integ.accumulated
    dE = t1["E_qp"] + t1["E_ph"] - t0["E_qp"] - t0["E_ph"]
    flows = sum(v for k, v in acc.items() if k.startswith("E:"))
    assert abs(acc["E:surface_qp"]) > 1e-3 * abs(dE)
    assert abs(dE - flows) < 1e-9 * t0["E_qp"]


@pytest.mark.slow
def test_eliashberg_case_through_the_cli(tmp_path):
    """`[spectrum] kind = "eliashberg"` through `fvqp run`: the grid starts at the
    Eliashberg gap edge and the energy balance closes."""
    import json

    from test_bte_sphere_case import _small_case

    from conftest import run_fvqp

    case = _small_case(tmp_path, {'kind = "bcs"': 'kind = "eliashberg"'})
    run_fvqp(["run", case, "--output", tmp_path / "out"])
    s = json.loads((tmp_path / "out" / "summary.json").read_text())
    e = s["energy_J"]
    dep = e["deposited_excess"]
    assert s["parameters"]["spectrum"] == "eliashberg"
    # Sn: the Eliashberg gap edge differs from the BCS gap of the tabulated gap ratio
    assert abs(s["parameters"]["gap_kTc"] - 1.73) > 0.02
    assert abs(dep - e["escaped"] - e["left_excess_qp"] - e["left_excess_ph"]) < 1e-8 * dep
    assert e["escaped"] > 0.1 * dep

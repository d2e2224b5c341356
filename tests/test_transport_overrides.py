"""Every material constant the transport model reads can be set per region (issue 20 §3):
Tc, gap_ratio/delta0, N0, tau0, tau0_phi, diffusion_constant, resistivity — accepted by
the schema, used by the run (driver.region_params) and recorded as "case override"."""

from __future__ import annotations

import json

import pytest

from conftest import CASES
from fvqp.case.loader import load_case
from fvqp.materials import get_material
from fvqp.models.base.schema import case_material
from fvqp.models.transport.driver import region_params
from fvqp.units import UnitSystem

OVER = {"tau0": 2 * 438e-9, "tau0_phi": 3 * 0.242e-9, "N0": 1.5 * 1.74e47,
        "gap_ratio": 1.9}


def test_region_params_follow_the_overrides():
    """Collision prefactors scale as 1/tau0 and 1/tau0_phi, the QP weight as N0, the
    zero-temperature gap as the gap ratio — each exactly (1e-14) against the database
    material's parameters."""
    al = get_material("Al")
    u = UnitSystem.from_material(al)
    reg = {"material": "Al", "diffusion_constant": 6e-3}
    base = region_params(case_material(reg), reg, u, 0.1, 3)
    over = region_params(case_material({**reg, **OVER}), {**reg, **OVER}, u, 0.1, 3)
    assert over.qp_scale / base.qp_scale == pytest.approx(al.tau0 / OVER["tau0"], rel=1e-14)
    assert over.weight / base.weight == pytest.approx(OVER["N0"] / al.N0, rel=1e-14)
    assert over.delta0 / base.delta0 == pytest.approx(1.9 / al.gap_ratio, rel=1e-14)
    assert over.c_ph / base.c_ph == pytest.approx(
        (al.tau0_phi * al.gap_ratio) / (OVER["tau0_phi"] * 1.9), rel=1e-14)
    # the diffusion constant from an overridden resistivity when none is given
    rho = {"material": "Al", "resistivity": 2e-8}
    d = region_params(case_material(rho), rho, u, 0.1, 3).diffusion
    assert d * u.scales["diffusivity"] == pytest.approx(
        al.diffusion_from_resistivity(2e-8), rel=1e-14)


def test_nis_wire_run_records_the_overrides(tmp_path):
    """The NIS wire case with tau0, tau0_phi and N0 set for its region: accepted, run, and
    each recorded in summary.json as a case override with its SI value."""
    from fvqp.models.transport import run

    text = (CASES / "transport_nis_wire.toml").read_text().replace(
        'file = "../meshes/', f'file = "{CASES.parent}/meshes/')
    text = text.replace('escape_time = "16 ps"', 'escape_time = "16 ps"\n'
                        'tau0 = "876 ns"\ntau0_phi = "0.726 ns"\nN0 = "2.61e47 1/(J m^3)"')
    p = tmp_path / "nis.toml"
    p.write_text(text)
    r = run(load_case(str(p)), output_dir=str(tmp_path / "o"))
    assert r.status == 0
    s = json.loads((tmp_path / "o" / "summary.json").read_text())
    const = s["materials"]["wire"]["constants"]
    for key, value in (("tau0", 876e-9), ("tau0_phi", 0.726e-9), ("N0", 2.61e47)):
        assert const[key]["source"] == "case override", key
        assert const[key]["value"] == pytest.approx(value, rel=1e-12, abs=0), key

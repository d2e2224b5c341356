"""Usadel: every material constant of a region from the case (SI, "case override"), the
case converted once to the wire units (Δ0, ξ, R_ξ, I0), and the set-up equal to the SI
conversion of the same numbers.

Physics checks: the Dynes subgap DOS of a uniform S wire N(0) = γ/sqrt(1+γ²)
(Dynes et al., PRL 41, 1509 (1978); Ryan et al. 2026 Eq. 1 with Γ), the BCS gap
1.764 k_B Tc of an overridden Tc, the cut-off ω_D = Δ0 sinh(1/λ) of a coupling λ
(BCS T = 0 gap equation, Eq. 8) and ω_D = k_B Θ_D of a Debye temperature.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from fvqp.case import CaseError
from fvqp.case.loader import load_case
from fvqp.materials import get_material
from fvqp.models.usadel.driver import build
from fvqp.models.usadel.selfconsistent import spectral_of
from fvqp.spectra.gap import BCS_GAP_RATIO
from fvqp.units import E_CHARGE, HBAR, K_B, WireScales

ROOT = Path(__file__).resolve().parent.parent
MESH = ROOT / "meshes" / "nis_wire" / "nis_wire.msh"

BASE = """
model = "usadel"
[mesh]
file = "@MESH@"
[bath]
temperature = "50 mK"
[regions.wire]
cross_section = "1200 nm^2"
@REGION@
[boundaries.reservoir_left]
type = "superconductor"
[boundaries.reservoir_right]
type = "superconductor"
[energy]
spacing = 0.05
max = 3.0
[selfconsistency]
mode = "none"
[time]
steady = true
@EXTRA@
"""


def _case(tmp_path, region: str, extra: str = "", name: str = "c"):
    p = tmp_path / f"usadel_{name}.toml"
    p.write_text(BASE.replace("@MESH@", str(MESH)).replace("@REGION@", region)
                 .replace("@EXTRA@", extra))
    return load_case(str(p))


def test_setup_in_wire_units_equals_the_si_conversion():
    """The NIS case converted once (internal case) gives the numbers WireScales gives
    the SI values, to round-off."""
    case = load_case(str(ROOT / "cases" / "usadel_nis_wire.toml"))
    setup, meta = build(case)
    sc = WireScales(265e-6 * E_CHARGE, 16.9e-4, 1.5818e-7, 1200e-18)
    assert meta["scales"].xi == pytest.approx(sc.xi, rel=1e-15, abs=0)
    jun = {j.name: j for j in setup.junctions + meta["passive"]}
    assert jun["junction_a"].kappa == pytest.approx(sc.kappa(24.6e-6), rel=1e-15, abs=0)
    assert jun["junction_a"].temperature == pytest.approx(sc.t(0.061), rel=1e-15, abs=0)
    assert jun["junction_b"].temperature == pytest.approx(sc.t(0.037), rel=1e-15, abs=0)
    assert setup.problem.gamma == pytest.approx(sc.energy(0.405e-6 * E_CHARGE), rel=1e-15,
                                                abs=0)
    assert meta["t_bath"] == pytest.approx(sc.t(0.024), rel=1e-15, abs=0)
    assert float(meta["net"].length.sum()) == pytest.approx(11e-6 / sc.xi, rel=1e-12, abs=0)
    assert np.all(setup.problem.delta == 1.0)  # Δ0 = the wire's gap, exactly


@pytest.mark.parametrize("gamma", [0.02, 0.1])
def test_dynes_gamma_override_sets_the_subgap_dos(tmp_path, gamma):
    """dynes_gamma = γ on an Al wire between S reservoirs (uniform state): N(ε = 0) =
    γ/sqrt(1+γ²) on every node, and the Material records the number as a case override."""
    case = _case(tmp_path, f'material = "Al"\ngap = "200 ueV"\ndynes_gamma = {gamma}')
    setup, meta = build(case)
    assert setup.problem.gamma == pytest.approx(gamma, rel=1e-15, abs=0)
    spec = spectral_of(setup, setup.problem.delta)
    i0 = int(np.argmin(np.abs(setup.eps)))
    assert setup.eps[i0] == 0.0
    n0 = gamma / math.sqrt(1.0 + gamma**2)
    assert np.max(np.abs(spec.N[i0] - n0)) < 1e-10
    mat = meta["materials"]["wire"]
    assert mat.dynes_gamma == pytest.approx(gamma, rel=1e-15, abs=0)
    assert mat.sources["dynes_gamma"] == "case override"
    assert mat.sources["delta0" if "delta0" in mat.sources else "gap_ratio"] == \
        "case override"


def test_dynes_energy_equals_dynes_gamma(tmp_path):
    """dynes = Γ (an energy) and dynes_gamma = Γ/Δ0 are the same broadening."""
    a, _ = build(_case(tmp_path, 'material = "Al"\ngap = "200 ueV"\ndynes = "4 ueV"', name="a"))
    b, mb = build(_case(tmp_path, 'material = "Al"\ngap = "200 ueV"\ndynes_gamma = 0.02',
                        name="b"))
    assert a.problem.gamma == pytest.approx(b.problem.gamma, rel=1e-14, abs=0)


def test_material_defaults_and_tc_override(tmp_path):
    """A region with only material and Tc: Δ0 = 1.764 k_B Tc (the weak-coupling ratio of
    Eq. 8), ρ and D from the database with their sources, Tc recorded as a case override."""
    case = _case(tmp_path, 'material = "Al"\nTc = "1.4 K"')
    setup, meta = build(case)
    al = get_material("Al")
    sc = meta["scales"]
    assert sc.delta0 == pytest.approx(BCS_GAP_RATIO * K_B * 1.4, rel=1e-15, abs=0)
    assert sc.diffusivity == al.diffusion_constant and sc.resistivity == al.resistivity
    mat = meta["materials"]["wire"]
    assert mat.sources["Tc"] == "case override"
    assert mat.sources["diffusion_constant"] == al.sources["diffusion_constant"]
    assert mat.sources["gap_ratio"].startswith("BCS weak coupling")
    assert mat.delta0 == pytest.approx(sc.delta0, rel=1e-15, abs=0)
    # a higher Tc film has a larger gap and a shorter ξ = sqrt(ħD/Δ0) (Eq. 2)
    _, m2 = build(_case(tmp_path, 'material = "Al"\nTc = "2.8 K"', name="b"))
    assert m2["scales"].xi == pytest.approx(sc.xi / math.sqrt(2.0), rel=1e-14, abs=0)


def test_coupling_and_debye_temperature_set_the_cutoff(tmp_path):
    """coupling λ: ω_D = Δ0 sinh(1/λ); debye_temperature Θ: ω_D = k_B Θ/Δ0 (units Δ0)."""
    s, _ = build(_case(tmp_path, 'material = "Al"\ngap = "200 ueV"\ncoupling = 0.3', name="a"))
    assert s.omega_d == pytest.approx(math.sinh(1 / 0.3), rel=1e-15, abs=0)
    s, m = build(_case(tmp_path, 'material = "Al"\ngap = "200 ueV"\n'
                       'debye_temperature = "20 K"', name="b"))
    assert s.omega_d == pytest.approx(K_B * 20.0 / (200e-6 * E_CHARGE), rel=1e-14, abs=0)
    assert m["materials"]["wire"].sources["debye_temperature"] == "case override"


def test_collision_time_in_wire_units(tmp_path):
    """[collisions] tau0 is converted once to ħ/Δ0: γ_ph = ħ/(Δ0 τ0)."""
    s, _ = build(_case(tmp_path, 'gap = "200 ueV"\nresistivity = "3e-8 Ohm m"\n'
                       'diffusivity = "16 cm^2/s"', extra='[collisions]\ntau0 = "400 ns"'))
    assert s.gamma_ph == pytest.approx(HBAR / (200e-6 * E_CHARGE * 400e-9), rel=1e-15,
                                       abs=0)


@pytest.mark.parametrize("region, key", [
    ('gap = "200 ueV"\ndiffusivity = "16 cm^2/s"', "regions.wire.resistivity"),
    ('material = "Al"\ngap = "200 ueV"\ngap_ratio = 1.8', "regions.wire.gap_ratio"),
    ('material = "Al"\ndynes = "1 ueV"\ndynes_gamma = 0.01', "regions.wire.dynes_gamma"),
    ('gap = "200 ueV"\nresistivity = "3e-8 Ohm m"\ndiffusivity = "16 cm^2/s"\nTc = "1 K"',
     "regions.wire.Tc"),
])
def test_inconsistent_constants_are_case_errors(tmp_path, region, key):
    with pytest.raises(CaseError) as exc:
        _case(tmp_path, region)
    assert key in str(exc.value) and "usadel_c.toml" in str(exc.value)


def test_run_records_case_overrides(tmp_path):
    """summary.json lists the wire's constants with unit and source ("case override" for
    the case's)."""
    from fvqp.models.usadel import run

    case = _case(tmp_path, 'material = "Al"\ngap = "200 ueV"\ndynes_gamma = 0.02\n'
                 'resistivity = "5e-8 Ohm m"')
    res = run(case, output_dir=str(tmp_path / "out"))
    assert res.status == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    wire = summary["materials"]["wire"]
    assert wire["material"] == "Al"
    assert {"dynes_gamma", "resistivity", "gap_ratio"} <= set(wire["overridden"])
    assert wire["constants"]["resistivity"]["value"] == 5e-8
    assert wire["constants"]["resistivity"]["unit"] == "Ohm m"
    assert wire["constants"]["diffusion_constant"]["source"] != "case override"


def test_diffusion_constant_is_the_diffusivity(tmp_path):
    """diffusion_constant (the other models' key) sets D_N as diffusivity does."""
    _, m = build(_case(tmp_path, 'material = "Al"\ngap = "200 ueV"\n'
                       'diffusion_constant = "16 cm^2/s"'))
    assert m["scales"].diffusivity == pytest.approx(16e-4, rel=1e-15, abs=0)
    assert m["materials"]["wire"].sources["diffusion_constant"] == "case override"


def test_api_material_object_sets_the_dynes_broadening(tmp_path):
    """fvqp.api: a Material with dynes_gamma (Python, SI) reaches the wire as the case
    override would."""
    from fvqp.api import build_case

    text = BASE.replace("@MESH@", str(MESH)).replace("@EXTRA@", "").replace(
        "@REGION@", 'material = "Al"\ngap = "200 ueV"\nresistivity = "3e-8 Ohm m"\n'
        'diffusivity = "16 cm^2/s"')
    mat = get_material("Al").with_overrides(dynes_gamma=0.05)
    case = build_case(text, materials={"wire": mat}, base_dir=tmp_path, name="api")
    setup, meta = build(case)
    assert setup.problem.gamma == pytest.approx(0.05, rel=1e-15, abs=0)
    assert meta["materials"]["wire"].sources["dynes_gamma"] == "case override"


def test_shared_dynes_gamma_and_coupling_are_case_overrides_in_the_summary(tmp_path):
    """dynes_gamma and coupling are the shared MATERIAL_OVERRIDES fields (one text, the
    usadel hint appended) and reach summary.json's materials entry as "case override"
    with their values, like every other override."""
    from fvqp.models.base.schema import MATERIAL_OVERRIDES
    from fvqp.models.base.template import materials_entry
    from fvqp.models.usadel import SPEC

    fields = SPEC.region_schema.fields
    for key in ("dynes_gamma", "coupling"):
        assert fields[key].doc.startswith(MATERIAL_OVERRIDES[key].doc)
        assert fields[key].internal == "si"
    _, m = build(_case(tmp_path, 'material = "Al"\ngap = "200 ueV"\ndynes_gamma = 0.02\n'
                       'coupling = 0.3'))
    entry = materials_entry(m["materials"])["wire"]
    assert {"dynes_gamma", "coupling"} <= set(entry["overridden"])
    assert entry["constants"]["coupling"]["value"] == 0.3
    assert entry["constants"]["dynes_gamma"]["value"] == 0.02

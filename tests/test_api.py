"""The SI Python API (:mod:`fvqp.api`, :mod:`fvqp.post.arrays`): cases from dicts and TOML
text with Material objects, results as SI arrays with units, and the notebook-style
examples of every model in ``docs/examples/`` (each asserts a physics number)."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib

import numpy as np
import pytest

from conftest import CASES, ROOT

EXAMPLES = sorted(p.name for p in (ROOT / "docs" / "examples").glob("*.py"))
#: the example of every model
EXAMPLE_OF = {"heat": "heat_nis_wire.py", "kinetics0d": "kinetics0d_resonator.py",
              "transport": "transport_nis_wire.py", "usadel": "usadel_nis_wire.py",
              "stochastic": "stochastic_relaxation.py", "bte_sphere": "bte_sphere_packet.py",
              "bte": "bte_film_pulse.py", "phonon": "phonon_si_block.py",
              "bte_chip": "bte_chip_deposit.py"}
E = 1.602176634e-19


def test_every_model_has_an_example():
    from fvqp.models import model_names

    assert set(EXAMPLE_OF) == set(model_names())  # a new model needs its example
    assert set(EXAMPLE_OF.values()) == set(EXAMPLES)


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_runs_and_its_physics_holds(name, tmp_path):
    """Each example runs as a script (as a notebook would, cell after cell) and its own
    asserts hold: Kirchhoff split (heat), NIS injection rate (transport), eta_pb = 2Δ/ħω
    (kinetics0d), even g_nl (usadel), Eq. (8) (stochastic), energy and QP-number balances
    (bte_sphere, bte), energy balance at every step (phonon)."""
    env = {**os.environ, "FVQP_EXAMPLE_OUT": str(tmp_path), "MPLBACKEND": "Agg",
           "FVQP_ROOT": str(ROOT)}
    p = subprocess.run([sys.executable, str(ROOT / "docs" / "examples" / name)], env=env,
                       capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert "status 0" in p.stdout


def _heat_case() -> dict:
    case = tomllib.loads((CASES / "heat_nis_wire.toml").read_text())
    case.pop("output")
    return case


def test_dict_text_and_file_give_the_same_case(tmp_path):
    """A dict, its TOML text and the case file validate to the same SI data (paths made
    absolute against base_dir)."""
    from fvqp.api import build_case

    from_file = build_case(CASES / "heat_nis_wire.toml")
    text = (CASES / "heat_nis_wire.toml").read_text()
    from_text = build_case(text, base_dir=CASES, output_dir=tmp_path / "a")
    from_dict = build_case(tomllib.loads(text), base_dir=CASES, output_dir=tmp_path / "b")
    for c in (from_text, from_dict):
        assert c.mesh_path == from_file.mesh_path
        a, b = dict(c.data), dict(from_file.data)
        a.pop("output"), b.pop("output")
        a["mesh"], b["mesh"] = dict(a["mesh"]), dict(b["mesh"])
        a["mesh"].pop("file"), b["mesh"].pop("file")
        assert a == b
    assert from_text.output_dir == str(tmp_path / "a")
    assert from_text.data["bath"]["temperature"] == pytest.approx(0.15, rel=1e-15, abs=0)


def test_material_overrides_enter_the_case_in_si(tmp_path):
    from fvqp.api import build_case, get_material

    mat = get_material("Al").with_overrides(Tc=1.5)
    case = build_case(_heat_case(), base_dir=CASES, materials={"wire": mat},
                      output_dir=tmp_path)
    assert case.data["regions"]["wire"]["material"] == "Al"
    assert case.data["regions"]["wire"]["Tc"] == pytest.approx(1.5, rel=1e-15, abs=0)
    # the database material replaces the case's Tc = 1.74 K override: no override left
    plain = build_case(_heat_case(), base_dir=CASES, materials={"wire": "Al"},
                       output_dir=tmp_path)
    assert _heat_case()["regions"]["wire"]["Tc"] == "1.74 K"
    assert plain.data["regions"]["wire"].get("Tc") is None


def test_bad_api_input_is_a_case_error_naming_the_key(tmp_path):
    from fvqp.api import build_case, get_material
    from fvqp.case import CaseError

    with pytest.raises(CaseError, match=r"materials\['nowhere'\].*Fix: name one of "
                                        r"regions\.wire"):
        build_case(_heat_case(), base_dir=CASES, materials={"nowhere": "Al"})
    with pytest.raises(CaseError, match="not valid TOML"):
        build_case("model = \n", base_dir=CASES)
    with pytest.raises(CaseError, match="model"):
        build_case({"model": "nonsense"})
    # a constant the model's case does not take (the heat model has no sound velocity)
    mat = get_material("Al").replace(sound_velocity_L=1.0)
    with pytest.raises(CaseError, match=r"sound_velocity_L.*Fix"):
        build_case(_heat_case(), base_dir=CASES, materials={"wire": mat})


def test_results_are_si_arrays_equal_to_the_files_times_their_unit(tmp_path):
    """Fields from the VTK snapshots converted to SI (µeV -> J, 1/µm³ -> 1/m³, µm -> m)
    and the summary's numbers with their units."""
    import pyvista as pv

    from fvqp.api import open_run, run

    r = run(_heat_case(), base_dir=CASES, output_dir=tmp_path, name="heat_api")
    assert r.status == 0 and r.result.model == "heat"
    grid = pv.read(r.path / "vtu" / sorted(os.listdir(r.path / "vtu"))[-1])
    gap, n = r.fields["gap"], r.fields["qp_density"]
    assert gap.unit == "J" and n.unit == "1/m^3" and r.fields["temperature"].unit == "K"
    np.testing.assert_allclose(gap.values[-1], grid.cell_data["gap"] * 1e-6 * E,
                               rtol=1e-15, atol=0)
    np.testing.assert_allclose(n.values[-1], grid.cell_data["qp_density"] * 1e18, rtol=1e-15,
                               atol=0)
    # the cold wire's gap is Δ0 = 1.764 k_B Tc of the case's Tc = 1.74 K (BCS at 0.09 Tc)
    assert gap.values[-1].max() == pytest.approx(1.764 * 1.380649e-23 * 1.74, rel=2e-3, abs=0)
    # cell lengths in m sum to the 11 µm wire; every cell is in region "wire"
    assert gap.measure.sum() == pytest.approx(11e-6, rel=1e-12, abs=0)
    assert set(gap.region) == {"wire"}
    q = r.quantities
    assert q["power_W.deposited"].unit == "W"
    assert q["power_W.deposited"].value == pytest.approx(1e-15, rel=1e-12, abs=0)
    assert q["max_temperature_K"].value == pytest.approx(
        r.fields["temperature"].values[-1].max(), rel=1e-12, abs=0)
    # the same directory opened later gives the same arrays
    again = open_run(tmp_path)
    np.testing.assert_array_equal(again.fields["gap"].values, gap.values)
    pngs = r.plot(output=tmp_path / "png")
    assert {p.name for p in pngs} >= {"heat_api_temperature_steady.png"}


def test_summary_quantities_take_the_unit_of_the_key():
    from fvqp.post.arrays import summary_quantities

    q = summary_quantities({"energy_J": {"imbalance": 1e-20, "deposited": 2e-19},
                            "gap_min_ueV": 180.0, "steps": 12, "wall_time_s": 3.5,
                            "q_star_C_per_m3": 1.0})
    assert q["energy_J.deposited"].unit == "J" and q["steps"].unit == ""
    assert q["gap_min_ueV"].value == pytest.approx(180e-6 * E, rel=1e-15, abs=0)
    assert q["gap_min_ueV"].unit == "J" and q["wall_time_s"].unit == "s"


def test_material_object_reaches_the_run_as_case_overrides(tmp_path):
    """A Material with overridden constants (kinetics0d takes Tc, gap_ratio, N0, tau0,
    tau0_phi) runs with them: the summary records each as "case override", the others
    keep their database sources, and the thermal QP density follows the new gap."""
    from fvqp.api import get_material, run

    mat = get_material("Al").with_overrides(Tc=1.25, tau0=500e-9)
    case = {"model": "kinetics0d", "bath": {"temperature": "150 mK"},
            "film": {"thickness": "50 nm"}, "grid": {"spacing": "8 ueV", "e_max": "700 ueV"},
            "time": {"steady": True}}
    r = run(case, materials={"film": mat}, output_dir=tmp_path)
    assert r.status == 0
    consts = r.result["materials"]["film"]["constants"]
    assert consts["Tc"]["value"] == 1.25 and consts["Tc"]["source"] == "case override"
    assert consts["tau0"]["value"] == 5e-7 and consts["tau0"]["source"] == "case override"
    assert consts["N0"]["source"] != "case override"
    # no drive: the steady state is the bath, n_qp its thermal density with the overridden
    # gap (measured +4.3 % on the coarse 8 ueV grid; the database's Tc = 1.2 K gives 2.3x)
    from fvqp.spectra.gap import thermal_qp_density

    n_th = thermal_qp_density(1.380649e-23 * 0.15, mat.delta0, mat.N0)
    n = r.result["observables_SI"]
    n_qp = n.get("n_qp", n.get("n_qp_SI"))
    assert n_qp == pytest.approx(n_th, rel=0.1, abs=0)
    # the distributions in SI: the undriven steady state is the bath's Fermi function of
    # the QP energies (J) — and those start at the overridden gap
    from fvqp.spectra.gap import fermi

    e, f = r.data["energy"], r.data["f"]
    assert e.unit == "J" and f.unit == ""
    assert e.values[0] == pytest.approx(mat.delta0, rel=1e-6, abs=0)
    np.testing.assert_allclose(f.values, fermi(e.values / (1.380649e-23 * 0.15), 1.0),
                               rtol=1e-6, atol=0)


@pytest.mark.parametrize("model", ["transport", "usadel"])
def test_junction_without_a_temperature_is_at_the_bath_temperature(model, tmp_path):
    """Junctions (and reservoirs) default to the stated [bath] temperature, not T = 0: the
    same run with the bath temperature written out gives the same numbers, and another
    electrode temperature does not."""
    from fvqp.api import run

    base = tomllib.loads((CASES / f"{model}_nis_wire.toml").read_text())
    base.pop("output")
    if model == "usadel":
        base["sweep"]["points"] = 3
        base["energy"]["spacing"] = 0.05
        base["junctions"]["junction_a"].pop("temperature")
        table = base["junctions"]["junction_a"]
    else:
        base["energy"]["spacing"] = "16 ueV"
        # a grid that holds the 300 mK electrode's injection too (620 ueV cuts 0.3 %)
        base["energy"]["e_max"] = "720 ueV"
        table = base["boundaries"]["junction_a"]
        assert "temperature" not in table
    bath = base["bath"]["temperature"]

    def result(temperature, tag):
        case = json_copy(base)
        t = case["junctions" if model == "usadel" else "boundaries"]["junction_a"]
        if temperature is not None:
            t["temperature"] = temperature
        r = run(case, base_dir=CASES, output_dir=tmp_path / tag, name=f"{model}_{tag}")
        assert r.status == 0
        if model == "usadel":
            return r.data["i_det_A"].values
        return np.array(list(r.result["qp_rates_per_s"].values()))

    default, stated = result(None, "default"), result(bath, "stated")
    # the same numbers to round-off: two in-process runs of one case differ by ~2e-16
    # when multithreaded BLAS splits its reductions differently (seen 2.4e-16 under load)
    np.testing.assert_allclose(default, stated, rtol=1e-13, atol=0)
    warmer = result("300 mK", "warm")
    assert np.abs(warmer - default).max() > 1e-3 * np.abs(default).max()


def json_copy(d: dict) -> dict:
    import json

    return json.loads(json.dumps(d))


def test_material_gap_ratio_and_region_gap_is_an_error_naming_both(tmp_path):
    """A Material with a non-database gap ratio for a usadel region that also sets gap:
    a CaseError naming materials[...].gap_ratio, regions.wire.gap and the fix — neither is
    dropped silently. Following the fix (no gap) the region's Δ0 is the Material's
    gap_ratio k_B Tc; with the database gap ratio the region's gap is kept."""
    from fvqp.api import build_case, get_material
    from fvqp.case import CaseError
    from fvqp.models.usadel.constants import region_constants

    path = CASES / "usadel_open_wire.toml"
    mat = get_material("Al").with_overrides(gap_ratio=1.8)
    with pytest.raises(CaseError) as err:
        build_case(path, materials={"wire": mat})
    text = str(err.value)
    assert "materials['wire'].gap_ratio" in text and "regions.wire.gap" in text
    assert "given twice" in text and "Fix: remove gap from regions.wire" in text
    raw = tomllib.loads(path.read_text())
    del raw["regions"]["wire"]["gap"]
    case = build_case(raw, base_dir=CASES, materials={"wire": mat})
    c = region_constants(case.data["regions"]["wire"])
    assert c.delta0 == pytest.approx(1.8 * 1.380649e-23 * mat.Tc, rel=1e-12, abs=0)
    assert c.material.sources["gap_ratio"] == "case override"
    case = build_case(path, materials={"wire": get_material("Al").with_overrides(Tc=1.3)})
    c = region_constants(case.data["regions"]["wire"])
    assert c.delta0 == pytest.approx(265e-6 * E, rel=1e-12, abs=0)

"""bte's ``summary.json`` says which gap is which: ``gap_ueV`` (the lowest bath gap, the
bins' reference) and ``region_gaps_ueV`` (per region: bath, and the final range over its
cells)."""

import json

import numpy as np
import pytest

import fvqp
from conftest import case_variant, case_with_values, last_snapshot
from fvqp.materials import get_material
from fvqp.spectra.gap import thermal_gap
from fvqp.units import E_CHARGE, K_B

UEV = E_CHARGE * 1e-6


def _bath_gap_ueV(material: str, T: float) -> float:
    m = get_material(material)
    return K_B * m.Tc * float(thermal_gap(T / m.Tc, 1.0, m.gap_ratio, "delta0")) / UEV


def test_multi_material_fixed_gaps_per_region(tmp_path):
    """Al/Sn gap step at 100 mK (fixed gaps, one step): each active region's bath gap is
    its material's, computed here independently (1e-12); final = bath in every region;
    the left-out cap is not listed; gap_ueV is the lowest (Al), the grid's reference."""
    run = fvqp.run(case_variant("bte_gapstep.toml", tmp_path), max_steps=1,
                   output_dir=str(tmp_path / "o"))
    res = run.result
    g = res["region_gaps_ueV"]
    assert set(g) == {"low", "high"}
    for name, mat in (("low", "Al"), ("high", "Sn")):
        want = _bath_gap_ueV(mat, 0.1)
        assert g[name]["bath"] == pytest.approx(want, rel=1e-12, abs=0)
        assert g[name]["final_min"] == g[name]["final_max"] == g[name]["bath"]
    assert res["gap_ueV"] == g["low"]["bath"] < 0.35 * g["high"]["bath"]
    q = run.quantities["region_gaps_ueV.high.final_max"]  # the key's suffix gives the unit
    assert q.value == pytest.approx(g["high"]["bath"] * UEV, rel=1e-12, abs=0)


def test_self_consistent_gap_final_range_is_the_cells_last_gap(tmp_path):
    """A QP pulse in a self-consistent Al film (4 steps to 1 ns, the last one written):
    the region's final min/max are those of the last snapshot's ``gap`` field read with
    pyvista (1e-9), below the bath gap (the pulse lowered it), and the bath gap is the
    summary's gap_ueV."""
    case = case_with_values("bte_selfgap_pulse.toml", tmp_path, end='"1 ns"')
    case.write_text(case.read_text().replace("[output]\n", "[output]\nfigures = false\n"))
    out = tmp_path / "o"
    res = fvqp.run(case, output_dir=str(out)).result
    assert res["status"] == 0
    g = json.loads((out / "summary.json").read_text())["region_gaps_ueV"]["domain"]
    times, mesh = last_snapshot(out, "bte_selfgap_pulse")
    assert times[-1] == pytest.approx(1e-9, rel=1e-9)
    cells = np.asarray(mesh.cell_data["gap"])
    assert g["final_min"] == pytest.approx(cells.min(), rel=1e-9, abs=0)
    assert g["final_max"] == pytest.approx(cells.max(), rel=1e-9, abs=0)
    assert g["final_max"] < g["bath"] - 0.01
    assert g["bath"] == res["gap_ueV"]

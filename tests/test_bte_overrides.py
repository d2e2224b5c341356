"""bte regions take every material constant the model reads (issue 20 §3), including the
gap ratio and N0: the gap step case with the Sn region's gap ratio set to 2.1 (a
value other than the database's) runs with that gap in every Sn cell and records it as a
case override."""

from __future__ import annotations

import json

import numpy as np
import pytest

import fvqp.api as fa
from conftest import CASES
from fvqp.materials import get_material
from fvqp.spectra.gap import bcs_gap
from fvqp.units import K_B


def test_gap_ratio_and_n0_overrides_reach_the_bte_run(tmp_path):
    """The Sn region's `gap_ratio = 2.1` (database: its Kittel value) and `N0`: the VTK
    gap of every Sn cell is 2.1 k_B Tc times the BCS Δ(T)/Δ(0) at 100 mK (1e-6), the Al
    cells keep theirs, and summary.json records both constants as case overrides."""
    sn = get_material("Sn")
    text = (CASES / "bte_gapstep.toml").read_text().replace(
        'file = "../meshes/', f'file = "{CASES.parent}/meshes/')
    text = text.replace('mean_free_path = "0.5 um"',
                        'mean_free_path = "0.5 um"\ngap_ratio = 2.1\n'
                        f'N0 = "{1.1 * sn.N0:.6e} 1/(J m^3)"')
    assert 'fields = [' in text
    text = text.replace('fields = [', 'fields = ["gap", ', 1)
    # the source above the raised Sn gap (674 ueV at 100 mK; at 600 ueV it would have no
    # states: refused)
    assert 'energy = "600 ueV"' in text
    text = text.replace('energy = "600 ueV"', 'energy = "720 ueV"')
    p = tmp_path / "gapstep.toml"
    p.write_text(text)
    r = fa.run(str(p), output_dir=tmp_path / "o")
    assert r.result.status == 0
    gap = r.fields["gap"].values[-1]
    reg = r.fields["gap"].region
    want = 2.1 * K_B * sn.Tc * bcs_gap(0.1 * K_B, K_B * sn.Tc) / bcs_gap(0.0, K_B * sn.Tc)
    assert np.all(gap[reg == "high"] == pytest.approx(want, rel=1e-6, abs=0))
    al = get_material("Al")
    assert np.all(gap[reg == "low"] == pytest.approx(al.gap_ratio * K_B * al.Tc, rel=1e-4,
                                                       abs=0))
    s = json.loads((tmp_path / "o" / "summary.json").read_text())
    const = s["materials"]["high"]["constants"]
    assert const["gap_ratio"]["source"] == "case override"
    assert const["N0"]["source"] == "case override"
    assert const["N0"]["value"] == pytest.approx(1.1 * sn.N0, rel=1e-6, abs=0)

"""What a stochastic run tells at its end and on the way: the key numbers (summary
``keys`` and the final log line, with the files it wrote) and the progress of its work
units (:class:`fvqp.models.stochastic.progress.StudyProgress`)."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
from test_stochastic_cases import _outputs, _variant

import fvqp
from fvqp.materials import get_material
from fvqp.stochastic import annihilation as an


def _end_line(caplog) -> str:
    # the run template's end-of-run report (fvqp/models/base/template.py run_model)
    lines = [r.getMessage() for r in caplog.records if r.name == "fvqp.stochastic"]
    return lines[-1]


def test_relaxation_key_numbers_against_eq8(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="fvqp")
    case = _variant(tmp_path, "stochastic_relaxation.toml", a0=1e-6, box=50.0, n_start=140,
                    repeats=2, bins=6)
    out = tmp_path / "out"
    fvqp.run_case(case, output_dir=str(out))
    d, _, s = _outputs(out)
    assert s == json.loads((out / "summary.json").read_text())
    assert s["keys"] == ["decay_rate_first_bin", "decay_rate_eq8_first_bin",
                         "ratio_to_eq8_first_bin", "c_start", "c_final", "decay_time",
                         "time_unit_s", "decay_time_s", "decay_rate_first_bin_per_s"]
    # the case's r_c = 100 nm and Al: the time unit r_c^3/Gamma_bar in s
    gbar = an.gamma_bar_material(get_material("Al"))
    assert s["time_unit_s"] == pytest.approx(1e-21 / gbar, rel=1e-13, abs=0)
    assert s["decay_time_s"] == pytest.approx(s["decay_time"] * 1e-21 / gbar, rel=1e-13,
                                              abs=0)
    assert s["decay_rate_first_bin_per_s"] == pytest.approx(
        s["decay_rate_first_bin"] * gbar / 1e-21, rel=1e-13, abs=0)
    # the fitted decay rate -(dc/dt)/c of the densest bin and Eq. (8) there, recomputed
    c = d["c"][-1]
    r = np.cbrt(3.0 * an.CP_PAPER / (4.0 * np.pi * c))
    eq8 = 4.0 * np.pi * an.B_PAPER / (3.0 * an.CP_PAPER) * r**an.BETA_PAPER * np.exp(-r)
    assert s["decay_rate_eq8_first_bin"] == pytest.approx(eq8, rel=1e-12, abs=0)
    assert s["decay_rate_first_bin"] == pytest.approx(-d["dcdt"][-1] / c, rel=1e-12, abs=0)
    assert s["decay_rate_first_bin"] / s["decay_rate_eq8_first_bin"] == pytest.approx(
        s["ratio_to_eq8_first_bin"], rel=1e-12, abs=0)
    # the recorded decay starts at N <= n_start and ends at N >= n_min in the 50^3 box
    V = 50.0**3
    assert 20 <= s["c_final"] * V < s["c_start"] * V <= 140
    assert s["decay_time"] == d["t"][-1] > 0
    # the final log line: status, output, wall time and every key number
    line = _end_line(caplog)
    assert line.startswith("stochastic: status 0 — relaxation done\n"
                           f"  output: {out}\n")
    assert f"  wall time: {s['wall_time_s']:.3g} s" in line
    for k in s["keys"]:
        assert f"  {k}: {s[k]:.6g}" in line


def test_concentration_curve_progress_counts_every_unit(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="fvqp")
    case = _variant(tmp_path, "stochastic_concentration_curve.toml", a_min=1e-10,
                    a_max=1e-6, points=3, particles=80, replicas=2, burn=2.0, sample=4.0)
    out = tmp_path / "out"
    s = fvqp.run_case(case, output_dir=str(out))
    assert s["units_total"] == s["units_computed"] == 3
    progress = [r.getMessage() for r in caplog.records if r.getMessage().startswith("unit ")]
    # the last unit is always reported (the ones before at most every 5 s)
    assert progress[-1] == "unit 3/3 (a2) done"
    # the fitted Eq. (9) is a key number, beside the paper's beta
    assert {"beta_fit", "beta_paper"} <= set(s["keys"])
    assert s["beta_fit"] == s["fit_eq9"]["beta"] and s["beta_paper"] == an.BETA_PAPER
    assert f"  beta_fit: {s['beta_fit']:.6g}" in _end_line(caplog)

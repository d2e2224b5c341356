"""``fvqp run --resume`` of a kinetics0d transient with a later ``[time] end`` continues
the finished run (issue 20 §2): ``[time] end`` is left out of the checkpoint's case
digest (``SPEC.digest_exempt``), the resumed run ends in the state of one run to the new
end, an earlier end is refused, and the log lines give times in SI seconds."""

from __future__ import annotations

import json
import re

import h5py
import numpy as np
import pytest

from conftest import CASES, run_fvqp
from fvqp.io.series import read_series

#: fixed 10 ns BDF2 steps (no adaptivity), so that a run to 200 ns (20 steps = one
#: checkpoint segment, where the BDF history restarts in every run) continued to 400 ns
#: takes the steps of one run to 400 ns; a coarse grid keeps it short
_FIXED = {'spacing = "6 ueV"': 'spacing = "12 ueV"', 'e_max = "700 ueV"': 'e_max = "500 ueV"',
          'dt_initial = "0.1 ns"': 'dt_initial = "10 ns"',
          'times = ["1 ns", "10 ns", "100 ns", "1 us", "10 us", "100 us"]':
          'times = ["100 ns", "300 ns"]'}


def _variant(tmp_path, end: str):
    """cases/kinetics0d_al_relaxation.toml with fixed steps and ``end = END`` (the same
    file name, so the same case name, in a directory per end)."""
    text = (CASES / "kinetics0d_al_relaxation.toml").read_text()
    for old, new in _FIXED.items():
        assert old in text, old
        text = text.replace(old, new)
    text, n = re.subn(r'(?m)^end = "[^"]*"', f'end = "{end}"', text)
    assert n == 1
    text += '\n[solver.ts]\nts_adapt_type = "none"\n'
    p = tmp_path / end.replace(" ", "") / "kinetics0d_al_relaxation.toml"
    p.parent.mkdir()
    p.write_text(text)
    return p


def _final(out):
    with h5py.File(out / "kinetics0d.h5") as fh:
        y = np.concatenate((fh["state/f"][:], fh["state/n"][:]))
        series = {k: fh[f"timeseries/{k}"][:] for k in ("t", "n_qp", "energy")}
        snaps = fh["timeseries/snapshot_t"][:]
        tau0 = float(fh.attrs["tau0_s"])
    return y, series, snaps, tau0, json.loads((out / "summary.json").read_text())


def test_resume_extends_the_end(tmp_path):
    """200 ns, resumed to 400 ns = one run to 400 ns: same steps, final f and n, time
    series, snapshots (the 300 ns one taken in the second leg) and N_qp to 1e-12; the
    resume and end log lines give the times in seconds."""
    t1, t2 = _variant(tmp_path, "200 ns"), _variant(tmp_path, "400 ns")
    a, b = tmp_path / "a", tmp_path / "b"
    run_fvqp(["run", t2, "--output", a])
    run_fvqp(["run", t1, "--output", b])
    y1, _, _, tau0, s1 = _final(b)
    assert s1["status"] == 0 and s1["steps"] == 20
    back = run_fvqp(["run", t2, "--output", b, "--resume"])
    ya, sera, snapa, _, sa = _final(a)
    yb, serb, snapb, _, sb = _final(b)
    assert sb["status"] == 0 and sb["steps"] == sa["steps"] == 40
    assert serb["t"][-1] * tau0 == pytest.approx(400e-9, rel=1e-12, abs=0)
    assert np.max(np.abs(ya - yb)) <= 1e-12 * np.max(np.abs(ya))
    assert np.max(np.abs(ya - y1)) > 1e-6 * np.max(np.abs(ya))  # it did move on
    for k in ("t", "n_qp", "energy"):
        assert np.allclose(sera[k], serb[k], rtol=1e-12, atol=0), k
    assert np.allclose(snapa, snapb, rtol=1e-12, atol=0) and snapb.size == 2
    # <case>_series.csv: the extended run's rows are the one run's (41: t = 0 and 40 steps)
    (ha, ra), (hb, rb) = (read_series(str(o / "kinetics0d_al_relaxation_series.csv"))
                          for o in (a, b))
    assert ha == hb and len(rb) == 41
    assert np.allclose(np.array(ra), np.array(rb), rtol=1e-12, atol=0)
    assert sb["observables"]["n_qp"] == pytest.approx(sa["observables"]["n_qp"], rel=1e-12,
                                                      abs=0)
    log = back.stderr + back.stdout
    assert "at t = 200 ns" in log and "to [time] end = 400 ns" in log, log
    assert "(t = 400 ns)" in log and "tau0)" not in log.replace("tau0, step", ""), log


def test_an_end_before_the_checkpoint_is_refused(tmp_path):
    """A run to 200 ns resumed with end 100 ns: exit 2 with the times in s and the fix
    (before, the state at 200 ns was reported as the end of a run to 100 ns)."""
    out = tmp_path / "b"
    run_fvqp(["run", _variant(tmp_path, "200 ns"), "--output", out])
    back = run_fvqp(["run", _variant(tmp_path, "100 ns"), "--output", out, "--resume"],
                    check=False)
    assert back.returncode == 2, back.stderr
    assert "is at t = 2.000000e-07 s, after [time] end = 1.000000e-07 s. Fix: give an " \
           "end at or after" in back.stderr

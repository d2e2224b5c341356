"""A self-consistent-gap run whose gap falls below the energy grid (``[gap] floor``) stops
on the shared fixed-step loop (fvqp/models/bte/gaprun.py, fvqp/models/base/fixedstep.py)
with everything at the last good step: status -1 (exit 3) and a message naming the step,
the cause (cells below the grid's first edge) and the fix; summary.json, the series, the
snapshots and the checkpoint equal those of the same run stopped after that step by
``--max-steps``; a resumed run meets the same failure at the same step. Before, the failed
step counted as done: its unconverged gaps were written, checkpointed and summed into the
summary, and the initial series row lacked the flow columns.

Two cases, each failing at its step 2: the collisionless hot spot (``bte_selfgap.toml``,
floor 0.97: the spot's gap drops ~4 % in 10 ps) and the uniform film with collisions
under 20 nW (``bte_selfgap_uniform.toml``, floor 0.99)."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from conftest import case_variant, run_fvqp
from fvqp.io.series import read_series

CASES = {
    "collisionless": ("bte_selfgap.toml", {"self_consistent = true":
                                           "self_consistent = true\nfloor = 0.97"}),
    "collisions": ("bte_selfgap_uniform.toml", {"self_consistent = true":
                                                "self_consistent = true\nfloor = 0.99",
                                                'end = "80 ns"': 'end = "20 ns"'}),
}


def _outputs(out, name):
    s = json.loads((out / "summary.json").read_text())
    header, rows = read_series(str(out / f"{name}_series.csv"))
    with h5py.File(out / "checkpoint.h5") as f:
        x = np.asarray(f["cell::x"])
        gaps = np.asarray(f["gaps"])
    pvd = (out / f"{name}.pvd").read_text()
    return s, header, np.array(rows), x, gaps, pvd


@pytest.mark.parametrize("kind", sorted(CASES))
def test_a_failed_gap_step_leaves_the_run_at_the_step_before(tmp_path, kind):
    name, repl = CASES[kind]
    case = case_variant(name, tmp_path, **repl)
    stem = name.removesuffix(".toml")
    bad, ref = tmp_path / "bad", tmp_path / "ref"
    proc = run_fvqp(["run", case, "--output", bad], check=False)
    assert proc.returncode == 3, proc.stderr[-2000:]
    s, header, rows, x, gaps, pvd = _outputs(bad, stem)
    assert s["status"] == -1 and s["steps"] == 1
    assert s["message"].startswith("step 2 of ")
    for part in ("fell below the energy grid's first edge", "Fix: lower [gap] floor",
                 "end at step 1"):
        assert part in s["message"], s["message"]
    # the failed step is nowhere: the run stopped by --max-steps 1 is the same run
    run_fvqp(["run", case, "--output", ref, "--max-steps", "1"])
    r, rheader, rrows, rx, rgaps, rpvd = _outputs(ref, stem)
    assert r["status"] == 1 and r["steps"] == 1
    assert header == rheader and rows.shape == (2, len(header))
    np.testing.assert_allclose(rows, rrows, rtol=1e-12, atol=0)
    np.testing.assert_allclose(x, rx, rtol=1e-12, atol=0)
    np.testing.assert_allclose(gaps, rgaps, rtol=1e-12, atol=0)
    assert pvd.count("<DataSet") == rpvd.count("<DataSet")
    for key in ("initial", "final", "imbalance"):
        assert s["qp_number"][key] == pytest.approx(r["qp_number"][key], rel=1e-12,
                                                    abs=1e-12 * r["qp_number"]["final"])
    assert s["gap"]["min_ueV"] == pytest.approx(r["gap"]["min_ueV"], rel=1e-12, abs=0)
    # the step-0 row has every flow column, zero (they were missing: nan)
    flows = [k for k in header if k.startswith("qp_number.")]
    assert "qp_number.sources" in flows and np.all(rows[0, [header.index(k)
                                                           for k in flows]] == 0.0)
    # resumed from the last good step, the run fails again at step 2, alike
    proc = run_fvqp(["run", case, "--output", ref, "--resume"], check=False)
    assert proc.returncode == 3
    r2 = json.loads((ref / "summary.json").read_text())
    assert r2["status"] == -1 and r2["steps"] == 1 and r2["message"] == s["message"]

"""``[gap] self_consistent`` runs resume (fvqp/models/bte/gaprun.py): the cell gaps are
checkpointed with the state, so a run stopped by ``--max-steps``, killed right after a
checkpoint, or ended early and extended by a later ``[time] end`` equals the
uninterrupted run to 1e-12 (VTK series incl. the gap, and summary.json)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import case_variant, run_fvqp, run_fvqp_killed

NAME = "bte_selfgap"
FIELDS = ("qp_density", "gap")
SHORT = {'end = "60 ps"': 'end = "30 ps"', "every = 1": "every = 1\ncheckpoint_every = 2"}


def _series(out):
    import pyvista as pv

    reader = pv.get_reader(str(out / f"{NAME}.pvd"))
    times, snaps = list(reader.time_values), []
    for t in times:
        reader.set_active_time_value(t)
        m = reader.read()[0]
        snaps.append({f: np.asarray(m.cell_data[f]) for f in FIELDS})
    return times, snaps


def same_series(a, b, rtol: float = 1e-12) -> None:
    """Equal times and fields, to ``rtol`` of each field's largest value."""
    ta, sa = _series(a)
    tb, sb = _series(b)
    assert len(ta) == len(tb) and tb == pytest.approx(ta, rel=1e-12, abs=0)
    for x, y in zip(sa, sb, strict=True):
        for f in FIELDS:
            assert np.max(np.abs(x[f] - y[f])) <= rtol * np.max(np.abs(x[f])), f


def summary(out) -> dict:
    return json.loads((out / "summary.json").read_text())


def same_numbers(a: dict, b: dict, rtol: float = 1e-12) -> None:
    """QP number balance and gap range equal; the imbalance (round-off) on the scale of
    the QP number."""
    qa, qb = a["qp_number"], b["qp_number"]
    assert qb.keys() == qa.keys()
    scale = max(abs(qa["initial"]), abs(qa["final"]))
    for k, v in qa.items():
        assert qb[k] == pytest.approx(v, rel=rtol, abs=rtol * scale), k
    for k in ("min_ueV", "max_ueV"):
        assert b["gap"][k] == pytest.approx(a["gap"][k], rel=rtol, abs=0), k


def test_stopped_killed_and_extended_runs_equal_the_uninterrupted_one(tmp_path):
    """6 steps of 5 ps: (a) at once; (b) --max-steps 3 (status 1, 4 snapshots), then
    --resume; (c) killed (SIGKILL) right after its second checkpoint (step 4), then
    --resume; (d) run to 15 ps, then resumed with [time] end = 30 ps. (b)-(d) equal (a)
    to 1e-12, with the gaps (which differ from the bath gap by ~4 % in the spot, so a
    resume from the bath gaps would fail)."""
    case = case_variant("bte_selfgap.toml", tmp_path, **SHORT)
    run_fvqp(["run", case, "--output", tmp_path / "a"])
    sa = summary(tmp_path / "a")
    assert sa["status"] == 0 and sa["steps"] == 6
    assert sa["gap"]["min_ueV"] < 0.97 * sa["gap_ueV"]
    # (b) stopped, resumed
    run_fvqp(["run", case, "--output", tmp_path / "b", "--max-steps", "3"])
    sb = summary(tmp_path / "b")
    assert sb["status"] == 1 and sb["steps"] == 3
    assert len(_series(tmp_path / "b")[0]) == 4
    run_fvqp(["run", case, "--output", tmp_path / "b", "--resume"])
    sb = summary(tmp_path / "b")
    assert sb["status"] == 0 and sb["steps"] == 6
    same_series(tmp_path / "a", tmp_path / "b")
    same_numbers(sa, sb)
    assert sb["linear_iterations"] == sa["linear_iterations"]
    # (c) killed after the step-4 checkpoint, resumed
    proc = run_fvqp_killed(["run", case, "--output", tmp_path / "c"], after_checkpoints=2)
    assert proc.returncode != 0
    run_fvqp(["run", case, "--output", tmp_path / "c", "--resume"])
    sc = summary(tmp_path / "c")
    assert sc["status"] == 0 and sc["steps"] == 6
    same_series(tmp_path / "a", tmp_path / "c")
    same_numbers(sa, sc)
    # (d) a shorter run extended by --resume with a later end
    (tmp_path / "short").mkdir()
    short = case_variant("bte_selfgap.toml", tmp_path / "short",
                         **{**SHORT, 'end = "60 ps"': 'end = "15 ps"'})
    run_fvqp(["run", short, "--output", tmp_path / "d"])
    assert summary(tmp_path / "d")["steps"] == 3
    run_fvqp(["run", case, "--output", tmp_path / "d", "--resume"])
    sd = summary(tmp_path / "d")
    assert sd["status"] == 0 and sd["steps"] == 6
    same_series(tmp_path / "a", tmp_path / "d")
    same_numbers(sa, sd)


def test_checkpoint_of_an_edited_case_is_refused(tmp_path):
    """A changed mean free path: the checkpoint is not resumed (exit != 0, named)."""
    case = case_variant("bte_selfgap.toml", tmp_path, **SHORT)
    run_fvqp(["run", case, "--output", tmp_path / "a", "--max-steps", "1"])
    case.write_text(case.read_text().replace('mean_free_path = "5 um"',
                                             'mean_free_path = "4 um"', 1))
    proc = run_fvqp(["run", case, "--output", tmp_path / "a", "--resume"], check=False)
    assert proc.returncode != 0
    assert "another version of the case" in proc.stdout + proc.stderr

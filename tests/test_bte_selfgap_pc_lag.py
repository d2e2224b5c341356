"""The Newton preconditioner of per-cell-gap runs with collisions kept across Newton
iterations and rebuilt problems (fvqp.models.bte.gapcollide ``_Carried`` with
``pc_lag``): every step of such a run solves twice (at the extrapolated gaps and at the
self-consistent gaps of the result), each on a collision problem rebuilt at new gaps.
Built once per step (``step``, the default) the run takes the
Newton path of a build at every Newton iteration (``none``) and gives its answer to the
Krylov tolerance; kept across steps (``run``) it is built less often than once per step.
The Krylov operator is always the current problem's exact Jacobian action, so what the
kept build changes is the Krylov count only."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_bte_absorber3d_mpi import CASE, SMALL, _fields

from conftest import case_variant, run_fvqp


def _run(tmp_path, lag: str | None) -> tuple[dict, dict]:
    d = tmp_path / str(lag)
    d.mkdir()
    case = case_variant(CASE, d, **SMALL)
    text = case.read_text()
    assert "self_consistent = true" in text and "[solver]" not in text
    # the LU's builds (the case's own fine level is the sweep since 2026-11-25)
    lag_opt = "" if lag is None else f', pc_lag = "{lag}"'
    case.write_text(text + f'\n[solver]\npetsc = {{ fine_pc = "lu"{lag_opt} }}\n')
    out = d / "out"
    run_fvqp(["run", case, "--output", out])
    return json.loads((out / "summary.json").read_text()), _fields(out)


def test_per_cell_gap_preconditioner_built_once_per_step(tmp_path):
    """The small absorber variant (LU, three 0.3 ns BDF2 steps). Measured (2026-11-25):
    none 10 Newton / 22 Krylov / 10 builds, 2.8 s per step (21 Krylov since the correction
    solve starts from the first solve's result); step (default) 10 / 27 / 3
    builds, 1.5 s per step, fields equal to 4e-14; run 10 / 34 / 2 builds."""
    none, fn = _run(tmp_path, "none")
    step, fs = _run(tmp_path, None)
    run, fr = _run(tmp_path, "run")
    for s in (none, step, run):
        assert s["status"] == 0 and s["steps"] == 3 and s["fine_preconditioner"] == "lu"
    assert (none["preconditioner_lag"], step["preconditioner_lag"],
            run["preconditioner_lag"]) == ("none", "step", "run")
    # a build at every Newton iteration, of every solve
    assert none["preconditioner_updates"] == none["newton_iterations"] > 2 * none["steps"]
    assert none["preconditioner_reuses"] == 0
    # one build per step: the second solve of a step, on a problem rebuilt at the
    # self-consistent gaps, reuses the build of the first
    assert step["preconditioner_updates"] == step["steps"]
    assert step["preconditioner_reuses"] == step["newton_iterations"] - step["steps"]
    assert step["newton_iterations"] == none["newton_iterations"]
    assert run["preconditioner_updates"] < run["steps"]
    for s, f, tol in ((step, fs, 1e-10), (run, fr, 1e-8)):
        assert s["qp_number"]["final"] == pytest.approx(none["qp_number"]["final"],
                                                        rel=tol, abs=0)
        for name, v in fn.items():
            assert np.max(np.abs(f[name] - v)) <= tol * np.max(np.abs(v)), name

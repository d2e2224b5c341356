"""The collisional bte transient's Newton preconditioner kept across Newton iterations
(fvqp.models.bte.coupled ``pc_lag``; transport sweeps + the global coarse level): built
once per step (``step``, the default with sweeps) it takes the Newton and Krylov path of
a build at every Newton iteration (``none``) and a stopped run resumes bit for bit; kept
across steps (``run``) it is built less often than once per step and converges to the
same answer; an unknown value is refused."""

from __future__ import annotations

import pytest

from conftest import case_variant
from fvqp.api import run_case
from fvqp.case import CaseError

#: the film relaxation case with transport sweeps, 8 BDF2 steps of 50 ps (2 Newton
#: iterations in some steps: the burst)
EDITS = {'end = "1 ns"': 'end = "0.4 ns"', 'dt_initial = "20 ps"': 'dt_initial = "50 ps"',
         "every = 2": "every = 100\nfigures = false"}


def _run(tmp_path, lag: str, **kw) -> dict:
    d = tmp_path / lag
    d.mkdir(exist_ok=True)
    section = (f'[numerics]\npreconditioner = "sweep"\n\n[solver]\npetsc = {{ pc_lag = '
               f'"{lag}" }}\n\n[output]')
    case = case_variant("bte_film_relaxation.toml", d, **EDITS, **{"[output]": section})
    return run_case(str(case), output_dir=str(d / "out"), **kw)


def test_kept_preconditioner_same_path_fewer_builds_and_resume(tmp_path):
    """Measured (2026-11-23): none 12 Newton / 117 Krylov / 12 builds, step 12 / 117 / 8
    (N_qp equal to 4e-16), run 11 / 130 / 1 (N_qp to 2e-10: the Newton tolerance); step
    stopped after 3 steps and resumed: the uninterrupted counts and N_qp."""
    none, step = _run(tmp_path, "none"), _run(tmp_path, "step")
    for s in (none, step):
        assert s["status"] == 0 and s["steps"] == 8 and s["fine_preconditioner"] == "sweep"
    assert none["preconditioner_lag"] == "none" and step["preconditioner_lag"] == "step"
    assert none["preconditioner_updates"] == none["newton_iterations"] > none["steps"]
    # one build per step (the Krylov counts stay flat: no rebuild by the growth rule)
    assert step["preconditioner_updates"] == step["steps"]
    assert step["preconditioner_reuses"] == step["newton_iterations"] - step["steps"] > 0
    assert step["newton_iterations"] == none["newton_iterations"]
    assert step["linear_iterations"] <= none["linear_iterations"] + 2
    assert step["N_qp"] == pytest.approx(none["N_qp"], rel=1e-10, abs=0)
    run = _run(tmp_path, "run")
    assert run["status"] == 0 and run["preconditioner_updates"] < run["steps"]
    assert run["N_qp"] == pytest.approx(none["N_qp"], rel=1e-8, abs=0)
    (tmp_path / "r").mkdir()
    stopped = _run(tmp_path / "r", "step", max_steps=3)
    assert stopped["status"] == 1 and stopped["steps"] == 3
    resumed = _run(tmp_path / "r", "step", resume=True)
    assert resumed["status"] == 0
    assert resumed["newton_iterations"] == step["newton_iterations"]
    assert resumed["linear_iterations"] == step["linear_iterations"]
    # the preconditioner's work too (the resumed part's alone before 2026-11-26: 5 of 8
    # builds)
    for k in ("preconditioner_updates", "preconditioner_reuses", "coarse_solves"):
        assert resumed[k] == step[k], k
    assert resumed["coarse_solves"]["solves"] > 0
    assert resumed["N_qp"] == pytest.approx(step["N_qp"], rel=1e-12, abs=0)


def test_unknown_lag_is_refused(tmp_path):
    with pytest.raises(CaseError, match="pc_lag"):
        _run(tmp_path, "always")

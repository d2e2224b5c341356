"""The bte sweep path's global coarse solve switches from ILU(0)-GMRES to GAMG on the
cells once one of its solves takes more than ``coarse_switch`` iterations
(fvqp.models.bte.inelastic_pc.COARSE_ESCALATION, fvqp.solvers.twolevel's ``escalate``).
A run with a gap in every cell rebuilds its collision problem at every gap update: the
switch is carried to the rebuilt problems (once switched, the run does not pay one long
ILU(0) solve per rebuild), and the answer is the unswitched run's to the Krylov
tolerance."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_bte_absorber3d_mpi import CASE, SMALL, _fields

from conftest import case_variant, run_fvqp

SWITCH = "the later solves use pc_type gamg"


def _run(tmp_path, switch: int | None, extra: str = ""):
    d = tmp_path / f"switch_{switch}{extra.split(' ')[0]}"
    d.mkdir()
    case = case_variant(CASE, d, **SMALL)
    text = case.read_text()
    assert "self_consistent = true" in text and "[solver]" not in text
    if switch is not None:
        case.write_text(text + f"\n[solver]\npetsc = {{ coarse_switch = {switch}{extra} }}\n")
    out = d / "out"
    proc = run_fvqp(["run", case, "--output", out])
    return json.loads((out / "summary.json").read_text()), _fields(out), \
        proc.stdout + proc.stderr


def test_switch_is_carried_over_the_rebuilt_problems_and_keeps_the_answer(tmp_path):
    """The small per-cell-gap absorber (three 0.3 ns steps, sweeps): at the default limit
    (50) no coarse solve switches; with ``coarse_switch = 1`` the first coarse solve of
    more than one iteration switches, once for the whole run (one log line although the
    run rebuilds its problem at every gap update), and the fields and QP numbers equal the
    unswitched run's to 1e-8 (the Newton and Krylov tolerances)."""
    base, fb, log_b = _run(tmp_path, None)
    sw, fs, log_s = _run(tmp_path, 1)
    assert base["status"] == sw["status"] == 0
    assert base["fine_preconditioner"] == sw["fine_preconditioner"] == "sweep"
    assert SWITCH not in log_b
    assert log_s.count(SWITCH) == 1
    _same_answer(base, fb, sw, fs)


def _same_answer(base: dict, fb: dict, other: dict, fo: dict) -> None:
    """Two runs' final QP numbers and every field equal to 1e-8 (the Newton and Krylov
    tolerances)."""
    assert other["qp_number"]["final"] == pytest.approx(base["qp_number"]["final"],
                                                        rel=1e-8, abs=0)
    for name, v in fb.items():
        scale = np.max(np.abs(v))
        assert np.max(np.abs(fo[name] - v)) <= 1e-8 * scale, name


def test_a_negative_limit_is_refused_with_the_key(tmp_path):
    """``coarse_switch = -1`` stops before the run with the key, the file and the fix."""
    case, err = _refused(tmp_path, "coarse_switch = -1")
    assert "solver.petsc.coarse_switch" in err and str(case) in err and "0: never" in err


def _refused(tmp_path, petsc: str):
    """The small case with ``[solver] petsc = { <petsc> }``, run: it must fail; returns
    the case file and what the run printed."""
    d = tmp_path / "bad"
    d.mkdir()
    case = case_variant(CASE, d, **SMALL)
    case.write_text(case.read_text() + f"\n[solver]\npetsc = {{ {petsc} }}\n")
    proc = run_fvqp(["run", case, "--output", d / "out"], check=False)
    assert proc.returncode != 0
    return case, proc.stdout + proc.stderr


def test_unconverged_coarse_solves_are_counted_and_reported(tmp_path):
    """Inexact coarse solves that stop at their iteration limit are not an error (the
    outer FGMRES still reaches its tolerance) but they are reported: with the switch off
    and ``icoarse_ksp_max_it = 2`` (ILU(0)-GMRES cannot reach 1e-3 in two iterations) the
    summary counts them and the log says how to avoid them; the default run's coarse
    solves all converge (count 0, no warning); the answer is the default run's to the
    Newton and Krylov tolerances."""
    base, fb, log_b = _run(tmp_path, None)
    cut, fc, log_c = _run(tmp_path, 0, ", icoarse_ksp_max_it = 2")
    assert base["status"] == cut["status"] == 0
    cb, cc = base["coarse_solves"], cut["coarse_solves"]
    assert cb["solves"] > 0 and cb["iterations"] >= cb["solves"]
    assert cb["unconverged"] == 0 and "stopped unconverged" not in log_b
    assert 0 < cc["unconverged"] <= cc["solves"]
    assert cc["iterations"] <= 2 * cc["solves"]
    assert f"{cc['unconverged']} of {cc['solves']} global coarse solves" in log_c
    assert "coarse_switch" in log_c and "-bte_icoarse_ksp_max_it" in log_c
    assert cut["qp_number"]["final"] == pytest.approx(base["qp_number"]["final"],
                                                      rel=1e-8, abs=0)


def test_an_exact_coarse_solve_gives_the_inexact_answer(tmp_path):
    """``coarse_solve = "exact"`` (a sparse LU of the global coarse level instead of
    ILU(0)-GMRES to 1e-3, the sweep path's default): the same fields and QP number to
    1e-8 (the Newton and Krylov tolerances), every coarse solve one direct solve, and the
    summary names the coarse solve of either run."""
    base, fb, _ = _run(tmp_path, None)
    ex, fe, _ = _run(tmp_path, 50, ', coarse_solve = "exact"')
    assert base["status"] == ex["status"] == 0
    assert base["coarse_solve"] == "inexact" and ex["coarse_solve"] == "exact"
    c = ex["coarse_solves"]
    assert c["solves"] > 0 and c["iterations"] == c["solves"] and c["unconverged"] == 0
    _same_answer(base, fb, ex, fe)


def test_an_unknown_coarse_solve_is_refused_with_the_key(tmp_path):
    """``coarse_solve = "direct"`` stops before the run with the key, the file and the
    choices."""
    case, err = _refused(tmp_path, 'coarse_solve = "direct"')
    assert "solver.petsc.coarse_solve" in err and str(case) in err
    assert "exact, inexact" in err

"""PETSc options under a prefix (issue 15 §4): fvqp's check whether the command line set
an option must not mark it used, so a command-line option that no solver reads is still
named as unused after the solve (PETSc's ``-options_left`` list)."""

from __future__ import annotations

import numpy as np
import pytest
from petsc4py import PETSc

from fvqp.solvers.options import (
    apply_options,
    options_session,
    set_from_options,
    unused_options,
)


def _solve(prefix: str) -> PETSc.KSP:
    """A 3x3 diagonal system solved by a KSP under ``prefix`` (options set last)."""
    a = PETSc.Mat().createAIJ([3, 3], nnz=1, comm=PETSc.COMM_SELF)
    for i in range(3):
        a.setValue(i, i, 2.0 + i)
    a.assemble()
    ksp = PETSc.KSP().create(PETSc.COMM_SELF)
    ksp.setOperators(a)
    ksp.setOptionsPrefix(prefix)
    set_from_options(ksp, prefix)
    b, x = a.createVecs()
    b.set(1.0)
    ksp.solve(b, x)
    assert x.getArray() == pytest.approx(1.0 / np.array([2.0, 3.0, 4.0]), rel=1e-8)
    return ksp


def test_command_line_option_no_solver_reads_is_reported_unused_after_apply():
    """The command line sets ``-h2opt_ksp_bogus`` (read by nothing) and
    ``-h2opt_ksp_type cg``; the case asks for both as well. The command line wins for both
    (nothing inserted), the KSP reads ``ksp_type``, and ``ksp_bogus`` is still unused
    after the solve (PETSc's own ``used`` flag): ``db.hasName`` in :func:`apply_options`
    marked it used, so it was never named."""
    db = PETSc.Options()
    db.setValue("h2opt_ksp_bogus", "1")
    db.setValue("h2opt_ksp_type", "cg")
    try:
        with options_session():
            inserted = apply_options("h2opt_", {"ksp_bogus": 2, "ksp_type": "gmres",
                                                "ksp_rtol": 1e-12})
            assert inserted == {"ksp_rtol": "1e-12"}  # the command line wins
            ksp = _solve("h2opt_")
            assert ksp.getType() == "cg"
            assert ksp.getTolerances()[0] == pytest.approx(1e-12, rel=0, abs=0)
            assert unused_options("h2opt_") == ["h2opt_ksp_bogus"]
            assert not db.used("h2opt_ksp_bogus") and db.used("h2opt_ksp_type")
            # applied a second time (a second problem under the prefix): still unused
            apply_options("h2opt_", {"ksp_bogus": 3})
            assert unused_options("h2opt_") == ["h2opt_ksp_bogus"]
        # the session removed only fvqp's own option; the command line's stay
        assert db.getString("h2opt_ksp_bogus") == "1" and not db.hasName("h2opt_ksp_rtol")
    finally:
        db.delValue("h2opt_ksp_bogus")
        db.delValue("h2opt_ksp_type")


def test_command_line_wins_whatever_the_case_of_its_spelling():
    """PETSc's option names are case-insensitive: ``-h2case_KSP_TYPE cg`` on the command
    line is the same option as the case's ``ksp_type = "gmres"``, so the command line wins
    (nothing inserted, the KSP runs cg) and the session leaves the user's entry alone (a
    case-sensitive check inserted gmres over it)."""
    db = PETSc.Options()
    db.setValue("h2case_KSP_TYPE", "cg")
    try:
        with options_session():
            inserted = apply_options("h2case_", {"ksp_type": "gmres"})
            assert inserted == {}
            assert _solve("h2case_").getType() == "cg"
        assert db.getString("h2case_ksp_type") == "cg"
    finally:
        db.delValue("h2case_KSP_TYPE")


def test_viewer_options_written_as_booleans_are_flags(capfd):
    """A case writes ``ksp_converged_reason = true`` (TOML has no bare flag): PETSc
    refuses the viewer type "true", so a viewer option given as a boolean is inserted as
    the flag alone (``true``) or left out (``false``); a boolean option whose name merely
    contains a viewer word (``ksp_monitor_cancel``) keeps its value."""
    with options_session():
        ins = apply_options("h2view_", {"ksp_converged_reason": True, "ksp_monitor": False,
                                        "ksp_monitor_cancel": True})
        assert ins == {"ksp_converged_reason": None, "ksp_monitor_cancel": "true"}
        db = PETSc.Options()
        assert not db.hasName("h2view_ksp_monitor")
        capfd.readouterr()
        _solve("h2view_")
        out = capfd.readouterr().out
    assert "Linear h2view_ solve converged due to" in out
    assert "KSP Residual norm" not in out

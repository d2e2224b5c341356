"""NonlinearSolver's test "did the user set -<prefix>snes_atol?" (issue 15 item 4).

It decides whether :meth:`NonlinearSolver.solve`'s ``atol`` (the caller's round-off
floor) applies. It used ``PETSc.Options().hasName``: that marks the option used, and it
took an option fvqp itself had inserted for an earlier solver under the same prefix for
the user's, so the later solver ignored its ``atol`` and ran with PETSc's default 1e-50.
The check is now :func:`fvqp.solvers.options.given_by_user` (``getAll`` membership,
fvqp's own insertions excluded), and a misspelt command-line option is still named
unused (PETSc's ``-options_left`` list)."""

from __future__ import annotations

import numpy as np
import pytest
from petsc4py import PETSc

from fvqp.parallel.serial import SerialLayout
from fvqp.solvers import NonlinearSolver
from fvqp.solvers.options import given_by_user, unused_options

N = 4


def _solver(prefix: str, options: dict) -> NonlinearSolver:
    """Newton on x^3 = 2 in N unknowns (diagonal Jacobian, LU)."""
    return NonlinearSolver(SerialLayout(N), lambda x: x**3 - 2.0, lambda x: 3.0 * x**2,
                           (np.arange(N), np.arange(N)), prefix,
                           {"ksp_type": "preonly", "pc_type": "lu", **options})


def test_an_earlier_solvers_atol_is_not_taken_for_the_users():
    """Solver A (alive) inserted ``-uat_snes_atol 1e-3``; solver B under the same prefix
    sets no atol, so its ``solve(atol=...)`` sets SNES's absolute tolerance (before: B
    counted A's insertion as the user's and kept 1e-50)."""
    a = _solver("uat_", {"snes_atol": 1e-3})
    b = _solver("uat_", {})
    try:
        assert not b._user_atol
        x = np.ones(N)
        res = b.solve(x, atol=1e-7)
        assert res.success
        assert b.snes.getTolerances()[1] == 1e-7
        assert np.allclose(x, np.cbrt(2.0), rtol=1e-7, atol=0)   # |F| <= atol
    finally:
        b.destroy()
        a.destroy()


def test_command_line_atol_wins_and_a_typo_is_still_reported_unused():
    """``-uac_snes_atol 1e-9`` from the command line is the user's (the solve's atol does
    not replace it); the misspelt ``-uac_snes_atoll`` stays unused after the solve, as
    PETSc's ``-options_left`` would list it; the check itself marks nothing used."""
    db = PETSc.Options()
    db.setValue("uac_snes_atol", "1e-9")
    db.setValue("uac_snes_atoll", "1e-9")
    try:
        assert given_by_user("uac_snes_atol") and given_by_user("UAC_SNES_ATOLL")
        assert not db.used("uac_snes_atoll")
        s = _solver("uac_", {})
        try:
            assert s._user_atol
            x = np.ones(N)
            assert s.solve(x, atol=1e-3).success
            assert s.snes.getTolerances()[1] == pytest.approx(1e-9, rel=1e-15, abs=0)
            assert unused_options("uac_") == ["uac_snes_atoll"]
            assert not db.used("uac_snes_atoll")
        finally:
            s.destroy()
    finally:
        db.delValue("uac_snes_atol")
        db.delValue("uac_snes_atoll")

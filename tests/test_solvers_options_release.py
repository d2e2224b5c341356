"""NonlinearSolver used directly from the API (no options session: a script, a test)
removes the options it inserted under its prefix when it is destroyed (issue 15 item 4,
the DOLFINx/petsctools rule "removed after use"); before, ``-<prefix>snes_*`` and
``-<prefix>ksp_*`` stayed in PETSc's database for the rest of the process (PETSc's
"unused database options" list at exit, and leaked into the next solver). Options the
user set on the command line stay, and options a second live solver under the same
prefix still needs stay until it is destroyed too."""

from __future__ import annotations

import numpy as np
from petsc4py import PETSc

from fvqp.parallel.serial import SerialLayout
from fvqp.solvers import NonlinearSolver
from fvqp.solvers.options import inserted_names

N = 4
OPTIONS = {"snes_rtol": 1e-12, "snes_max_it": 20, "snes_linesearch_type": "basic",
           "ksp_type": "preonly", "pc_type": "lu"}


def _solver(prefix: str) -> NonlinearSolver:
    return NonlinearSolver(SerialLayout(N), lambda x: x**3 - 2.0, lambda x: 3.0 * x**2,
                           (np.arange(N), np.arange(N)), prefix, dict(OPTIONS))


def _keys(prefix: str) -> set[str]:
    return {k for k in PETSc.Options().getAll() if k.startswith(prefix)}


def test_destroy_removes_the_inserted_options():
    assert not _keys("trel_")
    s = _solver("trel_")
    assert _keys("trel_") == {"trel_" + k for k in OPTIONS}
    x = np.ones(N)
    assert s.solve(x).success
    s.destroy()
    assert not _keys("trel_")
    assert not [k for k in inserted_names() if k.startswith("trel_")]
    s.destroy()                           # a second destroy is harmless


def test_command_line_options_stay_and_a_live_solver_keeps_its_options():
    """``-trel2_snes_max_it 7`` (the command line) survives both destroys; the first
    solver's destroy leaves the options the second (alive, same prefix) reads; the
    second's destroy removes them."""
    db = PETSc.Options()
    db.setValue("trel2_snes_max_it", "7")
    try:
        a = _solver("trel2_")
        b = _solver("trel2_")
        a.destroy()
        assert _keys("trel2_") == {"trel2_" + k for k in OPTIONS}
        x = np.ones(N)
        assert b.solve(x).success and b.snes.getTolerances()[3] == 7
        b.destroy()
        assert _keys("trel2_") == {"trel2_snes_max_it"}
        assert db.getString("trel2_snes_max_it") == "7"
    finally:
        db.delValue("trel2_snes_max_it")

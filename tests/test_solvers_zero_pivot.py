"""The transport sweep's ILU(0) (fvqp.solvers.sweep.OrderedILU) on a zero pivot: PETSc
marks the factor failed and its solve fills the result with ``inf`` (MatSolve of a failed
factor), which reached the Krylov method silently (reviewer, 2026-11-23). The
factorisation now checks PETSc's failed reason and the values and raises
:class:`~fvqp.solvers.sweep.ZeroPivotError` naming the rows and the fix
(``-<prefix>pc_factor_shift_type nonzero``), on every rank when any rank fails."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp
from petsc4py import PETSc

from conftest import mpi_env
from fvqp.solvers.sweep import OrderedILU, ZeroPivotError


def _lower(d2: float) -> sp.csr_matrix:
    """Lower bidiagonal 4 x 4 (the sweep of a line), diagonal (2, 2, d2, 2): ``d2`` is
    stored even when it is 0 (a structurally present zero pivot)."""
    rows = [0, 1, 1, 2, 2, 3, 3]
    cols = [0, 0, 1, 1, 2, 2, 3]
    vals = [2.0, -1.0, 2.0, -1.0, d2, -1.0, 2.0]
    m = sp.coo_matrix((vals, (rows, cols)), shape=(4, 4)).tocsr()
    assert m.nnz == 7                       # the zero is an entry of the pattern
    return m


def test_structurally_present_zero_pivot_raises_with_the_fix():
    """Row 2's stored diagonal is 0: the factorisation raises (before: it passed and the
    sweep returned inf), naming PETSc's reason, the row and the option that shifts the
    pivot; the solve of the failed factor raises too instead of returning inf."""
    ilu = OrderedILU(np.arange(4), "tzp_sweep_")
    try:
        with pytest.raises(ZeroPivotError, match=r"ZEROPIVOT.*diagonal: \[2\] of 4.*"
                                                 r"-tzp_sweep_pc_factor_shift_type nonzero"):
            ilu.factor(_lower(0.0))
        with pytest.raises(ZeroPivotError):
            ilu.solve(np.ones(4))
    finally:
        ilu.destroy()


def test_in_place_refactor_reports_and_recovers():
    """The same pattern factored in place (Newton iterations): good values solve exactly
    (lower triangular: ILU(0) is exact), a zero pivot in place raises, and good values
    again factor and solve exactly (afresh: PETSc keeps a failed factor's error through
    numeric refactorisations, whose solves were inf again)."""
    ilu = OrderedILU(np.arange(4), "tzi_sweep_")
    try:
        b = np.array([1.0, 2.0, 3.0, 4.0])
        ilu.factor(_lower(3.0))
        assert np.allclose(ilu.solve(b), np.linalg.solve(_lower(3.0).toarray(), b),
                           rtol=1e-15, atol=0)
        with pytest.raises(ZeroPivotError, match="FACTOR_NUMERIC_ZEROPIVOT"):
            ilu.factor(_lower(0.0))
        ilu.factor(_lower(5.0))
        assert (ilu.rebuilds, ilu.refactors) == (2, 1)
        assert np.allclose(ilu.solve(b), np.linalg.solve(_lower(5.0).toarray(), b),
                           rtol=1e-15, atol=0)
    finally:
        ilu.destroy()


def test_cancelled_pivot_and_the_named_fix():
    """Every diagonal nonzero but ILU(0)'s second pivot cancels (1 - 1 x 1): raised, the
    message says a pivot cancelled; with the fix it names, ``-<prefix>pc_factor_shift_type
    nonzero``, the same matrix factors and the solve is finite; non-finite values are
    refused before PETSc sees them."""
    m = sp.csr_matrix(np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0], [0.0, 1.0, 1.0]]))
    ilu = OrderedILU(np.arange(3), "tzc_sweep_")
    try:
        with pytest.raises(ZeroPivotError, match="a pivot cancelled"):
            ilu.factor(m)
        bad = m.copy()
        bad.data[0] = np.nan
        with pytest.raises(ZeroPivotError, match="non-finite values"):
            ilu.factor(bad)
    finally:
        ilu.destroy()
    db = PETSc.Options()
    db.setValue("tzs_sweep_pc_factor_shift_type", "nonzero")
    try:
        ilu = OrderedILU(np.arange(3), "tzs_sweep_")
        ilu.factor(m)
        assert np.all(np.isfinite(ilu.solve(np.ones(3))))
        ilu.destroy()
    finally:
        db.delValue("tzs_sweep_pc_factor_shift_type")


SCRIPT = r"""
import numpy as np, scipy.sparse as sp
from petsc4py import PETSc
from fvqp.solvers.sweep import OrderedILU, ZeroPivotError, collective_factor
comm = PETSc.COMM_WORLD; r = comm.getRank()
ilu = OrderedILU(np.arange(2), "tzm_sweep_")
d = 0.0 if r == 1 else 2.0                    # a zero pivot on rank 1 only
m = sp.csr_matrix((np.array([2.0, -1.0, d]), np.array([0, 0, 1]), np.array([0, 1, 3])),
                  shape=(2, 2))
try:
    collective_factor(comm, lambda: ilu.factor(m))
    line = f"RANK {r} passed"
except ZeroPivotError as exc:
    line = f"RANK {r} raised {'(rank 1 of 2)' in str(exc)}"
# every rank reaches the next collective; rank 0 prints all lines in one write (ranks
# printing for themselves interleaved their words under unbuffered output: CI's
# 'RANKRANK 0 raised True')
lines = comm.tompi4py().gather(line, root=0)
if r == 0:
    print("\n".join(lines), flush=True)
"""


@pytest.mark.mpi
def test_zero_pivot_on_one_rank_raises_on_every_rank():
    """A zero pivot on rank 1 only: both ranks raise ZeroPivotError naming rank 1 (a
    raise on rank 1 alone would leave rank 0 waiting in the next collective call)."""
    proc = subprocess.run(["mpiexec", "-n", "2", sys.executable, "-c", SCRIPT],
                          capture_output=True, text=True, env=mpi_env(), timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = sorted(ln for ln in proc.stdout.splitlines() if ln.startswith("RANK"))
    assert lines == ["RANK 0 raised True", "RANK 1 raised True"]

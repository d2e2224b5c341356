"""solvers.diagonal.ShiftedSystems on 2 ranks when two systems share a sparsity pattern on
one rank but not on the other (scipy drops exact-zero sums, so a bin's pattern can follow
its values): the pattern's identity must be the same on every rank, or the collective
creation of a new matrix and KSP deadlocks (reviewer's reproduction, 2026-11-23)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from conftest import mpi_env

SCRIPT = r"""
import numpy as np, scipy.sparse as sp
from petsc4py import PETSc
from fvqp.solvers.diagonal import ShiftedSystems
comm = PETSc.COMM_WORLD; r = comm.getRank()
n_global, nr = 4, 2; row0 = 2 * r
def block(extra):
    rows = [0, 1, 0, 1]; cols = [row0, row0 + 1, row0 + 1, row0]
    vals = [4.0, 4.0, -1.0, -1.0]
    if extra and r == 1:          # an entry only rank 1 has
        rows.append(0); cols.append(0); vals.append(-0.5)
    return sp.csr_matrix((vals, (rows, cols)), shape=(nr, n_global)), n_global, row0
S = ShiftedSystems("tshift_", comm)
S.solver("A", lambda: block(False), None)
sB = S.solver("B", lambda: block(True), np.full(nr, 1.0))
b = sB.mat.createVecs()[1]; b.set(1.0); x = b.duplicate()
sB.ksp.setTolerances(rtol=1e-14, atol=0.0)
sB.ksp.solve(b, x)
out = comm.tompi4py().gather(x.getArray().copy())
if r == 0:
    print("X", *np.concatenate(out).tolist(), "PATTERNS", len(S._pat))
"""


@pytest.mark.mpi
def test_patterns_differing_between_ranks_do_not_deadlock():
    """Both ranks solve system B (shift 1 on the diagonal) and get the dense solution to
    1e-12; two patterns are kept (A and B differ on rank 1). Before the fix the second
    `solver()` call hung (rank 0 reused A's matrix, rank 1 created a new one)."""
    proc = subprocess.run(["mpiexec", "-n", "2", sys.executable, "-c", SCRIPT],
                          capture_output=True, text=True, env=mpi_env(), timeout=120)
    assert proc.returncode == 0, proc.stderr
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("X"))
    words = line.split()
    x = np.array([float(w) for w in words[1:5]])
    assert int(words[-1]) == 2
    B = np.zeros((4, 4))
    for r in (0, 1):
        o = 2 * r
        B[o, o] = B[o + 1, o + 1] = 5.0          # 4 + the shift 1
        B[o, o + 1] = B[o + 1, o] = -1.0
    B[2, 0] = -0.5                               # rank 1's extra entry
    assert np.max(np.abs(x - np.linalg.solve(B, np.ones(4)))) <= 1e-12

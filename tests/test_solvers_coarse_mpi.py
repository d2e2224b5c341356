"""solvers.twolevel.CoarseCorrection.set_matrix on 2 ranks when the coarse operator's
sparsity pattern changes on one rank only (scipy drops exact-zero sums, so a rank's
pattern can follow its values): whether the operator is written "in place" into the kept
PETSc matrix or into a new one is a collective choice — a new matrix and its KSP are built
by every rank — so all ranks must take the same branch (reviewer, 2026-11-23; the same
fault as solvers.diagonal.ShiftedSystems, tests/test_shifted_systems_mpi.py)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from conftest import mpi_env

SCRIPT = r"""
import numpy as np, scipy.sparse as sp
from petsc4py import PETSc
from fvqp.solvers.twolevel import CoarseCorrection, exact_defaults
comm = PETSc.COMM_WORLD; r = comm.getRank()
n_global, nr = 4, 2; row0 = 2 * r
R = P = sp.identity(nr, format="csr")
def coarse(extra, scale=1.0):
    rows = [0, 1, 0, 1]; cols = [row0, row0 + 1, row0 + 1, row0]
    vals = [4.0 * scale, 5.0 * scale, -1.0, -1.5]
    if extra and r == 1:          # an entry only rank 1 has: its pattern changes
        rows.append(0); cols.append(0); vals.append(-0.5)
    return sp.csr_matrix((vals, (rows, cols)), shape=(nr, n_global))
rhs = np.array([1.0, 2.0]) + 3.0 * r
def gathered(level):
    z = level.correct(rhs)
    return np.concatenate(comm.tompi4py().allgather(z))
kept = CoarseCorrection(comm, R, P, "tcc_kept_", exact_defaults(comm))
kept.set_matrix(coarse(False))
first = kept.solver.mat
kept.set_matrix(coarse(True))            # rank 1's pattern changed, rank 0's not
z_new = gathered(kept)
rebuilt = kept.solver.mat is not first
second = kept.solver.mat
kept.set_matrix(coarse(True, 2.0))       # same pattern on every rank: in place
z_inplace = gathered(kept)
in_place = kept.solver.mat is second
fresh = []
for extra, scale in ((True, 1.0), (True, 2.0)):
    f = CoarseCorrection(comm, R, P, "tcc_fresh_", exact_defaults(comm))
    f.set_matrix(coarse(extra, scale))
    fresh.append(gathered(f))
    f.destroy()
kept.destroy()
if r == 0:
    print("NEW", *z_new.tolist())
    print("INPLACE", *z_inplace.tolist())
    print("FRESH", *fresh[0].tolist())
    print("FRESH2", *fresh[1].tolist())
    print("BRANCHES", int(rebuilt), int(in_place))
"""


def _dense(scale: float) -> np.ndarray:
    """The global coarse matrix of the script with rank 1's extra entry."""
    C = np.zeros((4, 4))
    for r in (0, 1):
        o = 2 * r
        C[o, o], C[o + 1, o + 1] = 4.0 * scale, 5.0 * scale
        C[o, o + 1], C[o + 1, o] = -1.0, -1.5
    C[2, 0] = -0.5
    return C


@pytest.mark.mpi
def test_pattern_changed_on_one_rank_rebuilds_on_every_rank():
    """Rank 1's coarse pattern gains an entry, rank 0's stays: both ranks build a new
    matrix (no deadlock; before the fix rank 0 refactored in place while rank 1 created
    a new matrix and the run hung), and the correction equals a fresh coarse level's bit
    for bit and the dense solve to 1e-14; a later change of values only (same pattern on
    every rank) is done in place and also equals a fresh level bit for bit."""
    proc = subprocess.run(["mpiexec", "-n", "2", sys.executable, "-c", SCRIPT],
                          capture_output=True, text=True, env=mpi_env(), timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = {ln.split()[0]: np.array([float(w) for w in ln.split()[1:]])
           for ln in proc.stdout.splitlines()
           if ln.split()[:1] in (["NEW"], ["INPLACE"], ["FRESH"], ["FRESH2"], ["BRANCHES"])}
    assert out["BRANCHES"].tolist() == [1.0, 1.0]     # rebuilt, then in place
    assert np.array_equal(out["NEW"], out["FRESH"])
    assert np.array_equal(out["INPLACE"], out["FRESH2"])
    rhs = np.array([1.0, 2.0, 4.0, 5.0])
    for key, scale in (("NEW", 1.0), ("INPLACE", 2.0)):
        exact = np.linalg.solve(_dense(scale), rhs)
        assert np.max(np.abs(out[key] - exact)) <= 1e-14 * np.max(np.abs(exact))

"""Assembled systems that differ from cached matrices only by a diagonal shift, on one
PETSc matrix and one KSP per sparsity pattern.

A family of linear systems whose diagonal changes from solve to solve (e.g. the phonon
systems of :mod:`fvqp.models.phonon.bins` with the chip chain's film absorption rates,
:mod:`fvqp.models.bte_chip.coupling`) keeps of each system only its values (8 bytes per
entry): the systems of one sparsity pattern (the phonon bins of a chip: one pattern for
all energies) share its row starts and column indices, one PETSc AIJ matrix and one KSP
(with its Krylov vectors and factorisation). Before a solve the system's values, with the
shift added on the diagonal, are written into that matrix (``MatSetValuesCSR``, the
pattern unchanged) and the preconditioner is set up anew. A shift of zero gives the
system's own values exactly. The memory of the cached systems is their values, not a
PETSc matrix each (2026-11-23: 110 -> ~60 bytes per phonon unknown on the chip layout
with 24 ordinates, ``benchmarks/chip_deposit.py --memory``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from ..parallel.distribution import allgather_objects
from .linear import LinearSolver

__all__ = ["ShiftedSystems"]


class ShiftedSystems:
    """Cached systems by key (their values), one matrix and KSP per pattern.

    Parameters
    ----------
    prefix : str
        Options prefix of the KSPs (the options are already in the database).
    comm : petsc4py communicator
        Communicator of the matrices.
    """

    def __init__(self, prefix: str, comm):
        self.prefix, self.comm = prefix, comm
        self._vals: dict = {}     # key -> (pattern id, values)
        self._pat: dict = {}      # pattern id -> _SharedMatrix (Mat, work, order, dpos)
        self._ksp: dict = {}      # (pattern id, with a PC context) -> LinearSolver

    def _add(self, key, csr: sp.csr_matrix, n_global: int, row0: int) -> None:
        """Cache the values of ``csr`` (owned rows, global sorted columns) under its
        pattern (the diagonal made structural: an explicit 0 where it is missing)."""
        nr = csr.shape[0]
        if not _has_diagonal(csr, row0):   # coo -> csr keeps the explicit zeros
            c, i = csr.tocoo(), np.arange(nr)
            csr = sp.csr_matrix((np.concatenate([c.data, np.zeros(nr)]),
                                 (np.concatenate([c.row, i]), np.concatenate([c.col, row0 + i]))),
                                shape=csr.shape)
            csr.sum_duplicates()
        csr.sort_indices()
        local = hashlib.sha1(csr.indptr.tobytes() + csr.indices.tobytes()).hexdigest()
        # the pattern's identity from every rank's rows: a new matrix and KSP are
        # collective, so all ranks must take the same branch (a pattern shared on one rank
        # but not on another deadlocked; scipy drops exact-zero sums, so patterns follow
        # values)
        pid = (n_global, nr, allgather_objects(self.comm, local))
        if pid not in self._pat:
            self._pat[pid] = _SharedMatrix(self.comm, csr, n_global, row0)
        self._vals[key] = (pid, csr.data[self._pat[pid].order])

    def solver(self, key, build: Callable, shift: np.ndarray | None,
               pc_context: Callable | None = None) -> LinearSolver:
        """The KSP of the system ``key`` with ``shift`` (owned rows; None: 0) added to
        its own diagonal. ``build()`` returns the system once: its owned rows (scipy CSR,
        global sorted column indices), the global size and the first owned row's global
        index. ``pc_context()``: a Python preconditioner context (e.g. a
        :class:`~fvqp.solvers.twolevel.TwoLevelPC`, set up anew with every system's
        values) for the KSP of the pattern; the systems of one pattern with and without
        one have a KSP each."""
        if key not in self._vals:
            self._add(key, *build())
        pid, vals = self._vals[key]
        sm = self._pat[pid]
        np.copyto(sm.work, vals)
        if shift is not None:
            sm.work[sm.dpos] += shift
        sm.mat.assemble()          # PETSc holds sm.work: publish the new values
        sm.mat.stateIncrease()
        mat = sm.mat
        kid = (pid, pc_context is not None)
        if kid not in self._ksp:
            self._ksp[kid] = LinearSolver(mat, self.prefix, pc_context=pc_context and
                                          pc_context())
        s = self._ksp[kid]
        s.set_operators(mat)
        return s

    def release(self) -> None:
        """Destroy the KSPs and the matrices; forget the values."""
        for s in self._ksp.values():
            s.destroy()
        for p in self._pat.values():
            p.mat.destroy()
        self._ksp.clear()
        self._pat.clear()
        self._vals.clear()


def _has_diagonal(csr: sp.csr_matrix, row0: int) -> bool:
    """Every owned row ``i`` has an entry in global column ``row0 + i``."""
    rows = np.repeat(np.arange(csr.shape[0]), np.diff(csr.indptr))
    return np.count_nonzero(csr.indices == rows + row0) == csr.shape[0]


class _SharedMatrix:
    """The PETSc AIJ matrix of one pattern on a value array it shares with numpy
    (``MatCreateSeqAIJWithArrays`` / ``MatCreateMPIAIJWithSplitArrays``, as
    :mod:`.blockcsr`): :attr:`work` holds the owned rows' values, the entries of owned
    columns ("diagonal part", local column numbers) first, then the others (global
    numbers); :attr:`order` maps the CSR's entries to that order, :attr:`dpos` is the
    position of every row's diagonal in it."""

    def __init__(self, comm, csr: sp.csr_matrix, n_global: int, row0: int):
        from petsc4py import PETSc

        nr = csr.shape[0]
        rows = np.repeat(np.arange(nr), np.diff(csr.indptr))
        inside = (csr.indices >= row0) & (csr.indices < row0 + nr)
        d_idx, o_idx = np.flatnonzero(inside), np.flatnonzero(~inside)
        self.order = np.concatenate([d_idx, o_idx])
        self.work = np.zeros(csr.nnz)
        nd = len(d_idx)
        it = PETSc.IntType

        def part(idx, cols, values):
            ptr = np.concatenate([[0], np.cumsum(np.bincount(rows[idx], minlength=nr))])
            return ptr.astype(it), cols.astype(it), values

        diag = part(d_idx, csr.indices[d_idx] - row0, self.work[:nd])
        pos = np.empty(csr.nnz, dtype=np.int64)
        pos[self.order] = np.arange(csr.nnz)
        self.dpos = pos[np.flatnonzero(csr.indices == rows + row0)]
        size = ((nr, n_global), (nr, n_global))
        if comm.getSize() == 1:
            arrays = diag
        else:
            arrays = (diag, part(o_idx, csr.indices[o_idx], self.work[nd:]))
        self.mat = PETSc.Mat().createAIJWithArrays(size, arrays, comm=comm)
        shared = self.mat.getAttr("__csr__")
        values = shared[2] if comm.getSize() == 1 else shared[0][2]
        if not np.shares_memory(values, self.work):   # a copy would freeze the values
            raise RuntimeError("PETSc copied the matrix values; in-place updates would "
                               "be lost")

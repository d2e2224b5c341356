"""Assembled systems that differ from cached matrices only by a diagonal shift, on one
PETSc matrix and one KSP per sparsity pattern.

A family of linear systems whose diagonal changes from solve to solve (e.g. the phonon
systems of :mod:`fvqp.models.phonon.bins` with the chip chain's film absorption rates,
:mod:`fvqp.models.bte_chip.coupling`) keeps of each system only its values (8 bytes per
entry): the systems of one sparsity pattern (the phonon bins of a chip: one pattern for
all energies) share its row starts and column indices, one PETSc AIJ matrix and one KSP
(with its Krylov vectors and factorisation). Before a solve the system's values, with the
shift added on the diagonal, are written into that matrix (``MatSetValuesCSR``, the
pattern unchanged) and the preconditioner is set up anew — unless the caller allows a
*kept factor*: the systems of one KSP that differ from the one its preconditioner was
set up with by little more than a scale keep that preconditioner
(:meth:`ShiftedSystems.solver`'s ``reuse_spread``). A shift of zero gives the system's
own values exactly. The memory of the cached systems is their values, not a
PETSc matrix each (2026-11-23: 110 -> ~60 bytes per phonon unknown on the chip layout
with 24 ordinates, ``benchmarks/chip_deposit.py --memory``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from ..parallel.distribution import allgather_objects, max_in_place
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
        # per KSP: the diagonal its preconditioner was set up with, that of the system
        # handed out last, and its kept-preconditioner failures when it was handed out
        self._factored: dict = {}
        self._last: dict = {}
        #: systems handed out with the kept preconditioner, and with one set up anew;
        #: the solves that failed with a kept one (of released KSPs: :meth:`failures`)
        self.kept = 0
        self.refactored = 0
        self._failed = 0

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
               pc_context: Callable | None = None, reuse_spread: float = 0.0
               ) -> LinearSolver:
        r"""The KSP of the system ``key`` with ``shift`` (owned rows; None: 0) added to
        its own diagonal. ``build()`` returns the system once: its owned rows (scipy CSR,
        global sorted column indices), the global size and the first owned row's global
        index. ``pc_context()``: a Python preconditioner context (e.g. a
        :class:`~fvqp.solvers.twolevel.TwoLevelPC`, set up anew with every system's
        values) for the KSP of the pattern; the systems of one pattern with and without
        one have a KSP each.

        ``reuse_spread`` > 0: the KSP keeps the preconditioner it was last set up with
        (:meth:`~fvqp.solvers.linear.LinearSolver.keep_preconditioner`) when this
        system's diagonal is that one's up to a scale within this relative spread,
        :math:`\max_i q_i/\min_i q_i - 1 \le` ``reuse_spread`` with
        :math:`q_i = d_i/d^{\rm factored}_i > 0` over every row of every rank (a
        preconditioner scaled by a constant gives the same Krylov iterates; the
        diagonal carries the rates that differ between such systems). Else, at 0, and
        with a ``pc_context`` (whose own solvers would not see the flag), it is set up
        anew for this system. Collective."""
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
        s.keep_preconditioner(self._keeps(kid, s, sm, 0.0 if pc_context is not None
                                          else reuse_spread))
        return s

    def _keeps(self, kid, s: LinearSolver, sm: _SharedMatrix, spread: float) -> bool:
        """Whether the KSP ``s`` of ``kid`` keeps its preconditioner for the values now in
        ``sm`` (:meth:`solver`); records the diagonal a new one is set up with."""
        d = sm.work[sm.dpos]    # a new array (never written): shared by the records
        if kid in self._last and s.kept_failures != self._last[kid][1]:
            self._factored[kid] = self._last[kid][0]   # set up anew after a failure
        self._last[kid] = (d, s.kept_failures)
        ref = self._factored.get(kid)
        keep = False
        if spread > 0 and ref is not None:
            with np.errstate(divide="ignore", invalid="ignore"):
                q = d / ref
            # [max q, -min q] over the ranks (an empty rank: -inf, -inf); inf where a
            # ratio is not finite
            ext = np.array([q.max(initial=-np.inf), -q.min(initial=np.inf)])
            if not np.isfinite(q).all():
                ext[:] = np.inf
            max_in_place(self.comm, ext)
            hi, lo = ext[0], -ext[1]
            keep = bool(np.isfinite(ext).all() and lo > 0 and hi / lo - 1 <= spread)
        if keep:
            self.kept += 1
        else:
            self._factored[kid] = d
            self.refactored += 1
        return keep

    def forget_factors(self) -> None:
        """The next system of every KSP is factored for itself (``reuse_spread``
        compares with no earlier one): a round of solves that starts with this
        depends on no earlier round, so that a run resumed between rounds solves the
        systems of the uninterrupted run with the same preconditioners."""
        self._factored.clear()

    def failures(self) -> int:
        """Solves that failed with a kept preconditioner and went on with one set up
        anew (:meth:`~fvqp.solvers.linear.LinearSolver.solve_from`), so far."""
        return self._failed + sum(s.kept_failures for s in self._ksp.values())

    def release(self) -> None:
        """Destroy the KSPs and the matrices; forget the values (the counters stay)."""
        self._failed = self.failures()
        for s in self._ksp.values():
            s.destroy()
        for p in self._pat.values():
            p.mat.destroy()
        self._ksp.clear()
        self._pat.clear()
        self._vals.clear()
        self._factored.clear()
        self._last.clear()


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

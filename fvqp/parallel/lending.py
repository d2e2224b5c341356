r"""Lending cells: cell-local work balanced over the ranks of a distribution.

The mesh is split once, by cells (:mod:`.distribution`), but the work of some per-cell
computations is not uniform: in the transport model a cell off the bath goes through the
FFT collision operator while a cell at the bath takes its class's shared response
(:mod:`fvqp.models.transport.quiet`), ~6x cheaper. A burst in one rank's part of a device
leaves that rank with most of the expensive cells and the others waiting for it at every
Krylov reduction. Such work needs no neighbours, so it can be done anywhere: a busy rank
*lends* some of its expensive cells (in batches, whole or pieces) to a less busy one, which
computes them from their inputs and sends the results back.

A :class:`Loan` is the plan of one such balance — which of this rank's batches go to which
rank — made collectively from every rank's batch sizes, and the two exchanges it needs:
:meth:`Loan.lend` (inputs of the lent batches to their borrowers) and
:meth:`Loan.give_back` (the borrowers' results to the lenders). Every rank must call each
of them the same number of times in the same order (they are collective); a rank with
nothing to lend or to borrow takes part with empty arrays.

The plan: the target of every rank is the mean work; a rank above it lends its last
batches, the busiest rank first, to the ranks below it, one batch at a time to the least
busy, while the lender is above the mean and the batch leaves the borrower below the
lender (a borrower never lends). Deterministic (the same on every
rank, from the allgathered sizes).
"""

from __future__ import annotations

import numpy as np

__all__ = ["Loan", "plan_loans"]


def plan_loans(sizes: list[np.ndarray], min_share: float = 0.02) -> list[list[tuple]]:
    """Which batches every rank lends to which: per rank, ``[(batch, borrower), ...]``.

    Parameters
    ----------
    sizes : list of ndarray
        Per rank, the work (e.g. cells) of each of its lendable batches, in its order.
    min_share : float
        No loans when the busiest rank is within this fraction of the mean above it (a
        balance not worth two exchanges per use).
    """
    nranks = len(sizes)
    load = np.array([float(np.sum(s)) for s in sizes])
    plan: list[list[tuple]] = [[] for _ in range(nranks)]
    if nranks < 2 or load.sum() <= 0:
        return plan
    mean = load.mean()
    if load.max() <= (1.0 + min_share) * mean:
        return plan
    lenders = [int(r) for r in np.argsort(-load, kind="stable") if load[r] > mean]
    borrowers = np.array([r for r in range(nranks) if load[r] <= mean])
    for lender in lenders:
        # the last batches first (a rank keeps its first ones: any order would do, the
        # same on every rank)
        for b in range(len(sizes[lender]) - 1, -1, -1):
            w = float(sizes[lender][b])
            if load[lender] <= mean:
                break
            if w <= 0:
                continue
            borrower = int(borrowers[np.argmin(load[borrowers])])
            # the move must bring the pair closer: the lender stays above the borrower's
            # new load minus the batch (no overshoot that a later move must undo)
            if load[borrower] + w >= load[lender]:
                continue
            plan[lender].append((b, borrower))
            load[lender] -= w
            load[borrower] += w
    return plan


class Loan:
    """One balance of batches over the ranks of ``comm`` (module docstring; collective).

    Parameters
    ----------
    comm : petsc4py communicator, or None (one rank: nothing lent)
    sizes : ndarray of int
        This rank's work per lendable batch (e.g. the active cells of each batch): the
        rows each batch has in the arrays :meth:`lend` moves.
    min_share : float
        :func:`plan_loans`.

    Attributes
    ----------
    lent : list of int
        This rank's batches lent, in the order their rows are sent (by borrower rank,
        then as planned).
    borrowed : list of int
        Sizes of the batches this rank computes for others, in the order of
        :meth:`lend`'s output (by lender rank, then as planned).
    active : bool
        Whether any rank lends anything (the same on every rank).
    """

    def __init__(self, comm, sizes: np.ndarray, min_share: float = 0.02):
        self.comm = comm
        n = 1 if comm is None else comm.getSize()
        me = 0 if comm is None else comm.getRank()
        sizes = np.asarray(sizes, dtype=np.int64)
        everyone = [sizes] if n == 1 else list(comm.tompi4py().allgather(sizes))
        plan = plan_loans(everyone, min_share)
        to = [[b for b, r in plan[me] if r == dest] for dest in range(n)]
        came = [[int(everyone[src][b]) for b, r in plan[src] if r == me]
                for src in range(n)]
        self.lent = [b for batches in to for b in batches]
        self.borrowed = [w for ws in came for w in ws]
        self.active = any(plan)
        self._rows_out = [int(sum(sizes[b] for b in batches)) for batches in to]
        self._rows_in = [int(sum(ws)) for ws in came]

    def lend(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        """The borrowers' side of per-row arrays: ``arrays[i]`` holds the rows of this
        rank's lent batches concatenated in :attr:`lent` order; returns per array the
        rows of the borrowed batches concatenated in :attr:`borrowed` order."""
        return [self._exchange(a, self._rows_out, self._rows_in) for a in arrays]

    def give_back(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        """The reverse of :meth:`lend`: the borrowed batches' results (rows in
        :attr:`borrowed` order) to their lenders (rows in :attr:`lent` order)."""
        return [self._exchange(a, self._rows_in, self._rows_out) for a in arrays]

    def _exchange(self, send: np.ndarray, rows_out: list[int],
                  rows_in: list[int]) -> np.ndarray:
        """Rows of ``send`` (grouped by destination rank, ``rows_out`` per rank) to
        their ranks; the rows received (``rows_in`` per source rank), in rank order."""
        send = np.asarray(send)
        tail, dtype = send.shape[1:], send.dtype
        if self.comm is None or self.comm.getSize() == 1:
            return send.copy()
        width = int(np.prod(tail, dtype=np.int64))
        flat = np.ascontiguousarray(send).reshape(-1)
        recv = np.empty(int(sum(rows_in)) * width, dtype=dtype)
        sc = np.array(rows_out, dtype=np.int64) * width
        rc = np.array(rows_in, dtype=np.int64) * width
        sd = np.concatenate([[0], np.cumsum(sc)[:-1]])
        rd = np.concatenate([[0], np.cumsum(rc)[:-1]])
        self.comm.tompi4py().Alltoallv([flat, (sc, sd)], [recv, (rc, rd)])
        return recv.reshape((-1, *tail))

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

The plan weighs the work (:func:`plan_loans`): a rank's load is its own lendable work,
plus work it cannot lend (``base``, e.g. its quiet cells at their own lower cost), plus
its borrowed work at ``guest`` per unit (a borrowed cell may cost less than an owned
one: its inputs arrive contiguous). While the heaviest rank that has borrowed nothing is
above the lightest, it lends its last batches to the lightest rank, as long as a batch
brings the pair closer (no overshoot that a later move must undo). Deterministic (the
same on every rank, from the allgathered sizes and loads).
"""

from __future__ import annotations

import numpy as np

__all__ = ["Loan", "plan_loans"]


def plan_loans(sizes: list[np.ndarray], min_share: float = 0.02,
               base: np.ndarray | None = None,
               guest: float = 1.0) -> list[list[tuple]]:
    r"""Which batches every rank lends to which: per rank, ``[(batch, borrower), ...]``.

    Rank :math:`r`'s load is :math:`L_r = \sum_{b\ \mathrm{kept}} s_{rb} + \beta_r
    + g\sum_{\mathrm{borrowed}} s`, with :math:`s_{rb}` the sizes, :math:`\beta_r` the
    ``base`` and :math:`g` the ``guest`` weight. A batch of size :math:`s` goes from the
    lender :math:`l` (the heaviest rank that has not borrowed, its last batches first) to
    the lightest rank :math:`k` while it brings the pair closer,
    :math:`(1 + g)s < 2(L_l - L_k)`; a rank that has lent never borrows.

    Parameters
    ----------
    sizes : list of ndarray
        Per rank, the work (e.g. cells) of each of its lendable batches, in its order.
    min_share : float
        No loans when the heaviest rank is within this fraction of the mean load above
        it (a balance not worth two exchanges per use).
    base : ndarray, optional
        Per rank, work it cannot lend, in the units of ``sizes`` (default none).
    guest : float
        The cost of a borrowed unit of work at its borrower relative to its lender's
        (default 1).
    """
    nranks = len(sizes)
    load = np.array([float(np.sum(s)) for s in sizes])
    if base is not None:
        load += np.asarray(base, dtype=float)
    plan: list[list[tuple]] = [[] for _ in range(nranks)]
    if nranks < 2 or load.sum() <= 0:
        return plan
    if load.max() <= (1.0 + min_share) * load.mean():
        return plan
    nxt = [len(s) - 1 for s in sizes]  # each rank's next batch to lend (last first)
    lent, borrowed = np.zeros(nranks, bool), np.zeros(nranks, bool)
    while True:
        lenders = [r for r in range(nranks) if not borrowed[r] and nxt[r] >= 0]
        if not lenders:
            break
        lender = max(lenders, key=lambda r: (load[r], -r))
        others = [r for r in range(nranks) if r != lender and not lent[r]]
        if not others:
            break
        borrower = min(others, key=lambda r: (load[r], r))
        gap = load[lender] - load[borrower]
        if gap <= 0:
            break
        b = nxt[lender]
        nxt[lender] -= 1
        w = float(sizes[lender][b])
        if w <= 0 or (1.0 + guest) * w >= 2.0 * gap:
            continue  # no gain from this batch (a smaller one further on may still)
        plan[lender].append((b, borrower))
        lent[lender], borrowed[borrower] = True, True
        load[lender] -= w
        load[borrower] += guest * w
    return plan


class Loan:
    """One balance of batches over the ranks of ``comm`` (module docstring; collective).

    Parameters
    ----------
    comm : petsc4py communicator, or None (one rank: nothing lent)
    sizes : ndarray of int
        This rank's work per lendable batch (e.g. the active cells of each batch): the
        rows each batch has in the arrays :meth:`lend` moves.
    min_share, guest : float
        :func:`plan_loans`.
    base : float
        This rank's work that cannot be lent, in the units of ``sizes``
        (:func:`plan_loans`).

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

    def __init__(self, comm, sizes: np.ndarray, min_share: float = 0.02,
                 base: float = 0.0, guest: float = 1.0):
        self.comm = comm
        n = 1 if comm is None else comm.getSize()
        me = 0 if comm is None else comm.getRank()
        sizes = np.asarray(sizes, dtype=np.int64)
        mine = (sizes, float(base))
        everyone = [mine] if n == 1 else list(comm.tompi4py().allgather(mine))
        plan = plan_loans([s for s, _ in everyone], min_share,
                          np.array([b for _, b in everyone]), guest)
        everyone = [s for s, _ in everyone]
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

r"""The QP ``bte`` model's transport sweeps: orders, stages across ranks, the split by bins.

The sweep orders of one ordinate's upwind streaming (topological wavefronts, cycle
breaks, the unknown orders :func:`bin_order` and :func:`coupled_order`) live in
:mod:`fvqp.ordinates.sweeporder` (the phonon bins use them too) and are re-exported here.

On several ranks the sweep crosses the rank boundaries (:func:`crossing_sweep`,
:class:`fvqp.solvers.sweep.CrossingSweep`): every (cell, ordinate) gets a stage, the
number of rank changes upwind of it (:mod:`fvqp.parallel.sweepstages`), and the ranks
sweep stage by stage with a ghost exchange in between — on pure streaming the serial
sweep on any number of ranks.

The sweep of the coupled collisional system (:mod:`.inelastic_pc`) never couples two
energy bins (the collisions enter it by their diagonal only), so on several ranks it is
split by bins instead (:class:`BinSplitSweep`, the default, :func:`rank_split`): every
rank sweeps its share of the bins over the whole mesh, in the serial order — the serial
sweep itself, on any number of ranks, with one all-to-all of the residual before and of
the result after (:class:`fvqp.parallel.exchange.BlockRegroup`). Measured on the
absorber (3 360 cells x 16 bins x 24 ordinates): the stages of the sweep across ranks
alternate between the ranks (6 stages on 2 ranks, one rank idle in each), and the ILU(0)
terms between stages are only approximated, so Krylov per Newton grew from 6.0 to 8.1;
split by bins it stays 6.0 and both ranks sweep all the time.
"""

from __future__ import annotations

import logging

import numpy as np
import scipy.sparse as sp

from ...ordinates.sweeporder import (
    bin_order,
    cell_levels,
    cell_orders,
    coupled_order,
    ordinate_dependencies,
    topological_levels,
    topological_order,
)

log = logging.getLogger("fvqp.bte")

#: default limit of the stages of a sweep across ranks (0: none; :func:`across_ranks`)
MAX_STAGES = 0
#: how the coupled system's sweep spans the ranks (:func:`rank_split`): split by energy
#: bins (:class:`BinSplitSweep`) or stage by stage across the cells (:class:`StageSweep`)
RANK_SPLITS = ("bins", "stages")

__all__ = ["RANK_SPLITS", "BinSplitSweep", "StageSweep", "across_ranks", "bin_order",
           "bin_stages", "bin_sweep_pc", "cell_levels", "cell_orders",
           "coupled_order", "coupled_stages", "crossing_sweep", "ordinate_couplings",
           "ordinate_dependencies", "rank_split", "rank_sweep",
           "topological_levels", "topological_order"]


def ordinate_couplings(pattern: sp.spmatrix, K: int) -> sp.csr_matrix:
    """The couplings between different ordinates (walls, interfaces) of a matrix in the
    bin layout (rows ``c (K+1) + b`` owned, columns local), in the layout ``cell K + k``
    of :func:`fvqp.parallel.sweepstages.sweep_stages` (angle averages left out)."""
    B = K + 1
    m = sp.csr_matrix(pattern).tocoo()
    rb, cb = m.row % B, m.col % B
    s = (rb < K) & (cb < K) & (rb != cb)
    shape = (m.shape[0] // B * K, m.shape[1] // B * K)
    out = sp.csr_matrix((np.ones(int(s.sum())), ((m.row[s] // B) * K + rb[s],
                                                   (m.col[s] // B) * K + cb[s])), shape=shape)
    out.sum_duplicates()
    return out


def crossing_sweep(stream_matrix: sp.spmatrix, cells, K: int, max_stages: int = 0,
                   pattern: sp.spmatrix | None = None) -> tuple[list, np.ndarray, int, int]:
    """What a sweep across the ranks of ``cells`` (a :class:`fvqp.parallel.Distribution`)
    needs: the owned cells' orders of every ordinate, the stage of every owned cell and
    ordinate (:func:`fvqp.parallel.sweepstages.sweep_stages`: the number of rank changes
    upwind — along the streaming of each ordinate and, from ``pattern``, a matrix of one
    bin's system, along the couplings from lower to higher ordinates that the sweep in
    ordinate order solves; at most ``max_stages``, 0: no limit), the number of stages and
    of cycle breaks."""
    from ...parallel.sweepstages import sweep_stages

    n = cells.local.n_owned
    levels, deps, breaks = cell_levels(stream_matrix, n, K)
    cross = ordinate_couplings(pattern, K) if pattern is not None else None
    stage, n_stages = sweep_stages(cells, deps, levels, cross, max_stages)
    log.info("sweep across %d ranks: %d stages, %d cycle breaks on rank %d", cells.size,
             n_stages, breaks, cells.rank)
    orders = [np.concatenate(lv) if lv else np.zeros(0, dtype=np.int64) for lv in levels]
    return orders, stage, n_stages, breaks


def bin_stages(stage: np.ndarray) -> np.ndarray:
    """Stage of every unknown of one bin's system (rows ``c (K+1) + k``) from the cells'
    ordinate stages ``stage`` (n, K): the ordinates' own, the angle average the last of
    its cell's (it needs every ordinate)."""
    return np.concatenate([stage, stage.max(axis=1, initial=0)[:, None]], axis=1).ravel()


def coupled_stages(stage: np.ndarray, N: int, Mp: int) -> np.ndarray:
    """Stage of every unknown of the coupled layout of :mod:`.inelastic` (rows ``c S + j
    (K+1) + b``, phonons at ``c S + N (K+1) + q``): :func:`bin_stages` in every bin, the
    local phonons at their cell's last stage."""
    n = len(stage)
    one = bin_stages(stage).reshape(n, -1)
    last = np.repeat(stage.max(axis=1, initial=0)[:, None], Mp, axis=1)
    return np.concatenate([np.tile(one, (1, N)), last], axis=1).ravel()


def across_ranks(prefix: str, size: int) -> tuple[int, bool] | None:
    """How the sweep crosses the ranks (:class:`fvqp.solvers.sweep.CrossingSweep`) on more
    than one rank: the stage limit (option ``-<prefix>sweep_max_stages``, default
    :data:`MAX_STAGES`, 0: no limit) and whether the stages follow the couplings between
    ordinates too (``-<prefix>sweep_ordinate_couplings``, default true: the walls and
    interfaces that the serial sweep solves in its lower triangle; false: the streaming
    only, fewer stages). None for a sweep per rank (one rank, or
    ``-<prefix>sweep_across_ranks false``: block Jacobi of sweeps, for comparisons)."""
    from ...solvers.linear import option_value

    if size == 1 or not option_value(f"{prefix}sweep_across_ranks", True):
        return None
    return (int(option_value(f"{prefix}sweep_max_stages", MAX_STAGES)),
            bool(option_value(f"{prefix}sweep_ordinate_couplings", True)))


def bin_sweep_pc(prob, A, j: int, a: float):
    """The python PC context (:class:`fvqp.solvers.sweep.SweepTwoLevelPC`) of the system
    ``A`` of bin ``j`` and time coefficient ``a`` of the :class:`.problem.BTEProblem`
    ``prob``: sweeps in :func:`bin_order` — across the ranks (:func:`across_ranks`) —,
    then (``preconditioner = "sweep"``) the isotropic Galerkin coarse correction of
    :mod:`.coarse`, solved exactly."""
    from ...solvers.sweep import SweepTwoLevelPC
    from .coarse import isotropic_maps

    if getattr(prob, "_order", None) is None:
        cross = across_ranks(prob.prefix, prob.dist.size)
        if cross is not None:
            # the walls and interfaces of the highest bin (every interface open)
            top = prob.local_matrix(prob.N - 1, 0.0)
            orders, stage, n_stages, prob.cycle_breaks = crossing_sweep(
                prob.sweep_graph(top), prob.dist, prob.K, cross[0],
                top if cross[1] else None)
            prob._crossing = (bin_stages(stage), n_stages, prob.bdist)
        else:
            orders, prob.cycle_breaks = cell_orders(prob.sweep_graph(), prob.n, prob.K)
            prob._crossing = None
        prob._order = bin_order(orders, prob.n)
    maps = isotropic_maps(prob.bdist, prob.quad.weights) \
        if prob.preconditioner == "sweep" else (None, None)
    return SweepTwoLevelPC(A, prob.local_matrix(j, a), prob._order, *maps,
                           prefix=prob.prefix, crossing=prob._crossing)


def rank_split(prefix: str, size: int) -> str | None:
    """How the coupled system's sweep spans ``size`` ranks: ``-<prefix>sweep_rank_split``
    (:data:`RANK_SPLITS`, default ``bins``); None on one rank and for a sweep per rank
    (``-<prefix>sweep_across_ranks false``, :func:`across_ranks`)."""
    from ...solvers.linear import option_value

    if across_ranks(prefix, size) is None:
        return None
    split = str(option_value(f"{prefix}sweep_rank_split", "bins"))
    if split not in RANK_SPLITS:
        raise ValueError(f"-{prefix}sweep_rank_split must be one of {RANK_SPLITS}, not "
                         f"{split!r}")
    return split


def rank_sweep(prob, options_prefix: str, prefix: str, bin_pattern):
    """The sweep of the coupled system ``prob`` (:class:`.inelastic.InelasticProblem`)
    across the ranks (:func:`rank_split`): a :class:`BinSplitSweep` or a
    :class:`StageSweep` (``bin_pattern()``: one bin's couplings for the stages), with
    options prefix ``prefix``; None for a sweep per rank. Both are collective and take
    the diagonal of the owned rows (:meth:`factor`)."""
    split = rank_split(options_prefix, prob.base.dist.size)
    if split == "bins":
        return BinSplitSweep(prob, prefix)
    if split == "stages":
        cross = across_ranks(options_prefix, prob.base.dist.size)
        return StageSweep(prob, prefix, cross[0], bin_pattern() if cross[1] else None)
    return None


class StageSweep:
    """The sweep of the coupled system across the ranks stage by stage
    (:class:`fvqp.solvers.sweep.CrossingSweep`; stages at most ``max_stages``, along the
    ordinate couplings of ``pattern`` too)."""

    def __init__(self, prob, prefix: str, max_stages: int, pattern):
        from ...solvers.sweep import CrossingSweep

        p, b = prob, prob.base
        orders, stage, self.n_stages, self.cycle_breaks = crossing_sweep(
            b.sweep_graph(), b.dist, p.K, max_stages, pattern)
        self.p = p
        self.sweep = CrossingSweep(coupled_order(orders, p.n, p.N, p.S, p.Mp),
                                   coupled_stages(stage, p.N, p.Mp), self.n_stages, p.dist,
                                   prefix)

    def factor(self, diag: np.ndarray) -> None:
        """Factor ``L + diag(diag)`` (owned rows, ghost columns too; collective)."""
        p = self.p
        self.sweep.factor(p.L + sp.diags(diag, shape=p.L.shape))

    def solve(self, r: np.ndarray) -> np.ndarray:
        """The sweep across the ranks of the owned residual ``r`` (collective)."""
        return self.sweep.solve(r)

    def destroy(self) -> None:
        self.sweep.destroy()


class BinSplitSweep:
    r"""The serial sweep of the coupled system :math:`M = L + D` (:mod:`.inelastic_pc`
    step 1) with its energy bins shared over the ranks (module docstring).

    The bins go to the ranks by their cost (the nonzeros of their rows of :math:`L` plus
    :attr:`ROW_COST` per row, largest first to the least loaded rank: the bins above a
    film's gap have more nonzeros — on the absorber 988 452 against 227 196 below the Ta
    gap, where the Ta cells' rows are diagonal). A rank
    holds its bins' rows of :math:`M` over the whole mesh directly in the serial sweep
    order — bin by bin :func:`bin_order` of the cells' orders from the whole mesh's
    streaming in file cell order, as on one rank (:class:`fvqp.parallel.exchange.
    BlockRegroup`: the transport part :math:`L`, fixed during a run, moved once, the
    diagonal :math:`D` at every :meth:`factor`) — and factors them by ILU(0) in that order
    (:class:`fvqp.solvers.sweep.OrderedILU`), so its solve is the serial sweep of those
    bins on any number of ranks. The local phonons (diagonal rows of :math:`M`) stay with
    their cells.
    """

    n_stages = 1
    #: the cost of a row relative to a nonzero in a sweep (measured on the absorber: ILU(0)
    #: solve 2.5 ns per row + 0.5 ns per nonzero, regrouping ~4 ns per value)
    ROW_COST = 12.0

    def __init__(self, prob, prefix: str):
        from ...parallel.distribution import allgather_concat, sum_in_place
        from ...parallel.exchange import BlockRegroup
        from ...solvers.sweep import OrderedILU

        p = prob
        cells = p.base.dist
        n, N, B, S, K = p.n, p.N, p.B, p.S, p.K
        glob = np.asarray(cells.local.cells, dtype=np.int64)   # file index of local cells
        nc = int(cells.n_global)
        self.comm, self.shape = cells.comm, (n, N, B)
        # the whole mesh's streaming pattern in file order: the serial sweep orders
        sm = sp.csr_matrix(p.base.sweep_graph()).tocoo()
        rows = allgather_concat(cells.comm, glob[sm.row // B] * B + sm.row % B)
        cols = allgather_concat(cells.comm, glob[sm.col // B] * B + sm.col % B)
        whole = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(nc * B, nc * B))
        orders, self.cycle_breaks = cell_orders(whole, nc, K)
        inv = np.empty(nc * B, dtype=np.int64)
        inv[bin_order(orders, nc)] = np.arange(nc * B)      # (c B + b) -> place in a bin
        # the bins' owners by their cost per sweep: nonzeros in L (QP rows, bin (row % S)
        # // B) + ROW_COST per row (the rows are the same in every bin)
        L = sp.csr_matrix(p.L)
        rb = (np.repeat(np.arange(L.shape[0]), np.diff(L.indptr)) % S) // B
        cost = np.bincount(rb[rb < N], minlength=N).astype(float)
        sum_in_place(cells.comm, cost)
        cost += self.ROW_COST * nc * B
        owner = np.zeros(N, dtype=np.int64)
        load = np.zeros(cells.size)
        for j in np.argsort(-cost, kind="stable"):
            owner[j] = int(np.argmin(load))
            load[owner[j]] += cost[j]
        self.rg = BlockRegroup(cells.comm, owner, glob[:n], B)
        nm = len(self.rg.mine)
        # place in this rank's sweep order of every regrouped value (cell, own bin, slot)
        # and of every local QP column (on its bin's rank)
        rank_of = np.zeros(N, dtype=np.int64)
        for r in range(cells.size):
            mine = np.flatnonzero(owner == r)
            rank_of[mine] = np.arange(len(mine))
        self._pos = (rank_of[self.rg.mine][None, :, None] * (nc * B)
                     + inv.reshape(nc, B)[self.rg.cells][:, None, :]).ravel()
        self._perm = np.empty_like(self._pos)
        self._perm[self._pos] = np.arange(len(self._pos))
        c, k = np.divmod(np.arange(cells.local.n_local * S), S)
        col_pos = np.where(k < p.nq, rank_of[np.minimum(k // B, N - 1)] * (nc * B)
                           + inv[glob[c] * B + k % B], -1)
        # M's QP rows with an explicit (zero if absent) diagonal, in sweep order on the
        # bins' ranks
        qp = (np.arange(n)[:, None] * S + np.arange(p.nq)[None, :]).ravel()
        m = L[qp] if p.Mp else L
        rowid = np.repeat(qp, np.diff(m.indptr))
        if np.count_nonzero(m.indices == rowid) < len(qp):
            m = m.tocoo()
            m = sp.csr_matrix((np.concatenate([m.data, np.zeros(len(qp))]),
                               (np.concatenate([m.row, np.arange(len(qp))]),
                                np.concatenate([m.col, qp]))), shape=m.shape)
        self._m = self.rg.rows(m, col_pos, len(self._pos))[self._perm]
        self._m.sort_indices()
        rowid = np.repeat(np.arange(len(self._pos)), np.diff(self._m.indptr))
        self._diag = np.flatnonzero(self._m.indices == rowid)
        self._l_diag = self._m.data[self._diag].copy()     # L's diagonal (+ 0)
        self._x, self._g = np.empty(len(self._pos)), np.empty(len(self._pos))
        self.ilu = OrderedILU(np.arange(len(self._pos)), prefix) if nm else None
        self._ph = L[:, : n * S].diagonal().reshape(n, S)[:, p.nq:].copy()
        self._piv_ph = None

    def _forward(self, v: np.ndarray) -> np.ndarray:
        """The owned rows' QP values ``v`` (n, S) of this rank's bins, whole mesh, in
        sweep order (a work array)."""
        n, N, B = self.shape
        got = self.rg.forward(v[:, : N * B].reshape(n, N, B))
        return np.take(got.ravel(), self._perm, out=self._x, mode="clip")  # unbuffered

    def factor(self, diag: np.ndarray) -> None:
        r"""Factor :math:`L + \mathrm{diag}(d)` of this rank's bins, ``diag`` the owned
        rows' :math:`d` (collective: a zero pivot on any rank raises on all)."""
        from ...solvers.sweep import collective_factor

        n, N, B = self.shape
        d = np.asarray(diag, dtype=float).reshape(n, -1)
        dst = self._forward(d)
        self._m.data[self._diag] = self._l_diag + dst    # only the diagonal changes
        self._piv_ph = self._ph + d[:, N * B:]
        collective_factor(self.comm, lambda: self.ilu.factor(self._m)
                          if self.ilu is not None else None)

    def solve(self, r: np.ndarray) -> np.ndarray:
        """The serial sweep of the owned residual ``r`` (collective)."""
        n, N, B = self.shape
        r = np.asarray(r, dtype=float).reshape(n, -1)
        x = self._forward(r)
        y = self.ilu.solve(x) if self.ilu is not None else x
        z = self.rg.backward(np.take(y, self._pos, out=self._g, mode="clip"))
        if r.shape[1] == N * B:
            return z.ravel()
        out = np.empty(r.shape)
        out[:, : N * B] = z.reshape(n, N * B)
        out[:, N * B:] = r[:, N * B:] / self._piv_ph
        return out.ravel()

    def destroy(self) -> None:
        if self.ilu is not None:
            self.ilu.destroy()

r"""Sweep orders of the discrete-ordinates unknowns: the upwind streaming in triangular form.

For one ordinate :math:`k` the upwind streaming plus removal operator of :mod:`.problem`
couples a cell only to its *upwind* neighbours (the faces with :math:`\Omega_k\cdot n < 0`),
so in a topological order of the directed graph "cell :math:`c` needs its upwind
neighbour :math:`u`" the operator is lower triangular and its inverse is one transport
sweep (Lewis & Miller 1984, ch. 4). The order is found by Kahn's algorithm level by
level (wavefronts: all cells whose upwind neighbours are done); a cycle of the graph —
possible on non-convex or badly shaped cells — is broken by releasing the remaining cell
with the fewest unfinished upwind neighbours, i.e. lagging its cycle edges (the standard
fix, Adams & Larsen 2002, Sec. 3). Couplings between ordinates (reflecting and diffuse
walls, interfaces) and the angle average :math:`\phi` are not in the graph: the
factorisation in this order (:class:`fvqp.solvers.sweep.OrderedILU`, ILU(0), exact on a
triangular matrix) keeps the lower ones and lags the rest in its upper factor.

Unknown orders (:func:`bin_order`, :func:`coupled_order`): ordinate by ordinate, cells in
the ordinate's sweep order; then the angle averages :math:`\phi` of the cells; in the
coupled layout of :mod:`.inelastic` bin by bin, the local phonons last.

References
----------
E. E. Lewis and W. F. Miller, *Computational Methods of Neutron Transport* (1984), ch. 4.
M. L. Adams and E. W. Larsen, Prog. Nucl. Energy 40, 3 (2002).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["bin_order", "bin_sweep_pc", "cell_orders", "coupled_order",
           "topological_order"]


def topological_order(dep: sp.csr_matrix) -> tuple[np.ndarray, int]:
    """Kahn's order of the nodes of the dependency graph ``dep`` (``dep[i, j] != 0``,
    ``i != j``: node ``i`` needs node ``j`` first), wavefront by wavefront; cycles are
    broken by releasing the remaining node with the fewest unfinished dependencies.
    Returns the order and the number of cycle breaks."""
    n = dep.shape[0]
    g = sp.csr_matrix(dep, copy=True)
    g.setdiag(0)
    g.eliminate_zeros()
    g.data[:] = 1.0
    indeg = np.diff(g.indptr).astype(np.int64)
    users = g.T.tocsr()                     # users[j] = nodes that need j
    done = np.zeros(n, dtype=bool)
    order, breaks, count = [], 0, 0
    front = np.flatnonzero(indeg == 0)
    while count < n:
        if len(front) == 0:                 # a cycle: lag the edges of one node
            rest = np.flatnonzero(~done)
            front = rest[[np.argmin(indeg[rest])]]
            breaks += 1
        done[front] = True
        order.append(front)
        count += len(front)
        lo, hi = users.indptr[front], users.indptr[front + 1]
        lens = hi - lo
        start = np.repeat(lo - np.cumsum(lens) + lens, lens)
        idx = users.indices[start + np.arange(int(lens.sum()))]
        np.subtract.at(indeg, idx, 1)
        cand = np.unique(idx)
        front = cand[(indeg[cand] <= 0) & ~done[cand]]
    return np.concatenate(order), breaks


def cell_orders(stream_matrix: sp.spmatrix, n: int, K: int) -> tuple[list, int]:
    """Sweep order of the ``n`` owned cells for every ordinate from the streaming matrix
    of :mod:`fvqp.ordinates.streaming` (rows ``c (K+1) + k``; ghost columns and couplings
    between ordinates left out). Returns the K orders and the total of cycle breaks."""
    B = K + 1
    m = sp.csr_matrix(stream_matrix)[:, : n * B].tocoo()
    same = (m.row % B == m.col % B) & (m.row % B < K) & (m.row != m.col)
    r, c, k = m.row[same] // B, m.col[same] // B, m.row[same] % B
    orders, breaks = [], 0
    for kk in range(K):
        s = k == kk
        dep = sp.csr_matrix((np.ones(int(s.sum())), (r[s], c[s])), shape=(n, n))
        o, b = topological_order(dep)
        orders.append(o)
        breaks += b
    return orders, breaks


def bin_order(orders: list, n: int) -> np.ndarray:
    """Unknown order of one bin's system (rows ``c (K+1) + k``): ordinates in their cells'
    sweep orders, then the angle averages."""
    B = len(orders) + 1
    parts = [o * B + k for k, o in enumerate(orders)]
    return np.concatenate(parts + [np.arange(n) * B + B - 1]).astype(np.int64)


def coupled_order(orders: list, n: int, N: int, S: int, Mp: int) -> np.ndarray:
    """Unknown order of the coupled system of :mod:`.inelastic` (rows ``c S + j (K+1) +
    b``, phonons at ``c S + N (K+1) + q``): bin by bin :func:`bin_order`, phonons last."""
    one = bin_order(orders, n)
    B = len(orders) + 1
    cell, b = one // B, one % B
    parts = [cell * S + j * B + b for j in range(N)]
    c = np.arange(n)
    parts.append((c[:, None] * S + N * B + np.arange(Mp)).ravel())
    return np.concatenate(parts).astype(np.int64)


def bin_sweep_pc(prob, A, j: int, a: float):
    """The python PC context (:class:`fvqp.solvers.sweep.SweepTwoLevelPC`) of the system
    ``A`` of bin ``j`` and time coefficient ``a`` of the :class:`.problem.BTEProblem`
    ``prob``: sweeps in :func:`bin_order`, then (``preconditioner = "sweep"``) the
    isotropic Galerkin coarse correction of :mod:`.coarse`, solved exactly."""
    from ...solvers.sweep import SweepTwoLevelPC
    from .coarse import isotropic_maps

    if getattr(prob, "_order", None) is None:
        orders, prob.cycle_breaks = cell_orders(prob.stream.matrix, prob.n, prob.K)
        prob._order = bin_order(orders, prob.n)
    own = prob.local_matrix(j, a)[:, : prob.n * prob.B]
    maps = isotropic_maps(prob.bdist, prob.quad.weights) \
        if prob.preconditioner == "sweep" else (None, None)
    return SweepTwoLevelPC(A, own, prob._order, *maps, prefix=prob.prefix)

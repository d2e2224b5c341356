r"""Sweep orders of discrete-ordinates unknowns on a mesh: the upwind streaming in
triangular form.

For one ordinate :math:`k` the upwind streaming plus removal operator couples a cell only
to its *upwind* neighbours (the faces with :math:`\Omega_k\cdot n < 0`), so in a
topological order of the directed graph "cell :math:`c` needs its upwind neighbour
:math:`u`" the operator is lower triangular and its inverse is one transport sweep (Lewis
& Miller 1984, ch. 4). The order is found by Kahn's algorithm level by level (wavefronts:
all cells whose upwind neighbours are done); a cycle of the graph — possible on
non-convex or badly shaped cells — is broken by releasing the remaining cell with the
fewest unfinished upwind neighbours, i.e. lagging its cycle edges (the standard fix,
Adams & Larsen 2002, Sec. 3). Couplings between ordinates (reflecting and diffuse walls,
interfaces) and the angle average are not in the graph: a factorisation in this order
(:class:`fvqp.solvers.sweep.OrderedILU`, ILU(0), exact on a triangular matrix) keeps the
lower ones and lags the rest in its upper factor.

Unknown orders (:func:`bin_order`, :func:`coupled_order`): ordinate by ordinate, cells in
the ordinate's sweep order; then the angle averages of the cells; in a layout of several
bins per cell (the QP ``bte`` collision layer, the phonon bins solved together) bin by
bin, the local phonons last. Users: the QP ``bte`` model (:mod:`fvqp.models.bte.sweep`)
and the phonon bins (:mod:`fvqp.models.phonon.bins`).

References
----------
E. E. Lewis and W. F. Miller, *Computational Methods of Neutron Transport* (1984), ch. 4.
M. L. Adams and E. W. Larsen, Prog. Nucl. Energy 40, 3 (2002).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..setops import distinct

__all__ = ["bin_order", "cell_levels", "cell_orders", "coupled_order",
           "ordinate_dependencies", "topological_levels", "topological_order"]


def topological_levels(dep: sp.csr_matrix) -> tuple[list, int]:
    """Kahn's wavefronts of the nodes of the dependency graph ``dep`` (``dep[i, j] != 0``,
    ``i != j``: node ``i`` needs node ``j`` first); cycles are broken by releasing the
    remaining node with the fewest unfinished dependencies (a wavefront of its own).
    Returns the wavefronts (int arrays, in sweep order) and the number of cycle breaks."""
    n = dep.shape[0]
    g = sp.csr_matrix(dep, copy=True)
    g.setdiag(0)
    g.eliminate_zeros()
    g.data[:] = 1.0
    indeg = np.diff(g.indptr).astype(np.int64)
    users = g.T.tocsr()                     # users[j] = nodes that need j
    done = np.zeros(n, dtype=bool)
    levels, breaks, count = [], 0, 0
    front = np.flatnonzero(indeg == 0)
    while count < n:
        if len(front) == 0:                 # a cycle: lag the edges of one node
            rest = np.flatnonzero(~done)
            front = rest[[np.argmin(indeg[rest])]]
            breaks += 1
        done[front] = True
        levels.append(front)
        count += len(front)
        lo, hi = users.indptr[front], users.indptr[front + 1]
        lens = hi - lo
        start = np.repeat(lo - np.cumsum(lens) + lens, lens)
        idx = users.indices[start + np.arange(int(lens.sum()))]
        np.subtract.at(indeg, idx, 1)
        cand = distinct(idx)
        front = cand[(indeg[cand] <= 0) & ~done[cand]]
    return levels, breaks

def topological_order(dep: sp.csr_matrix) -> tuple[np.ndarray, int]:
    """Kahn's order of the nodes of ``dep`` (:func:`topological_levels` concatenated) and
    the number of cycle breaks."""
    levels, breaks = topological_levels(dep)
    return (np.concatenate(levels) if levels else np.zeros(0, dtype=np.int64)), breaks

def ordinate_dependencies(stream_matrix: sp.spmatrix, n: int, K: int) -> list:
    """Per ordinate, the upwind dependencies of the ``n`` owned cells on the local cells
    (owned and ghosts) from the streaming matrix of :mod:`fvqp.ordinates.streaming` (rows
    ``c (K+1) + k``; couplings between ordinates left out): (n, n_local) CSR matrices."""
    B = K + 1
    m = sp.csr_matrix(stream_matrix).tocoo()
    nl = m.shape[1] // B
    same = (m.row % B == m.col % B) & (m.row % B < K) & (m.row != m.col)
    r, c, k = m.row[same] // B, m.col[same] // B, m.row[same] % B
    return [sp.csr_matrix((np.ones(int((k == kk).sum())), (r[k == kk], c[k == kk])),
                          shape=(n, nl)) for kk in range(K)]

def cell_levels(stream_matrix: sp.spmatrix, n: int, K: int) -> tuple[list, list, int]:
    """The owned cells' sweep wavefronts of every ordinate (:func:`topological_levels`;
    ghost columns left out), the dependencies of :func:`ordinate_dependencies` and the
    total of cycle breaks."""
    deps = ordinate_dependencies(stream_matrix, n, K)
    levels, breaks = [], 0
    for d in deps:
        lv, b = topological_levels(d[:, :n].tocsr())
        levels.append(lv)
        breaks += b
    return levels, deps, breaks

def cell_orders(stream_matrix: sp.spmatrix, n: int, K: int) -> tuple[list, int]:
    """Sweep order of the ``n`` owned cells for every ordinate from the streaming matrix
    of :mod:`fvqp.ordinates.streaming` (rows ``c (K+1) + k``; ghost columns and couplings
    between ordinates left out). Returns the K orders and the total of cycle breaks."""
    levels, _, breaks = cell_levels(stream_matrix, n, K)
    return [np.concatenate(lv) if lv else np.zeros(0, dtype=np.int64)
            for lv in levels], breaks

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

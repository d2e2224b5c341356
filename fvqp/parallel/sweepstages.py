r"""Stages of a transport sweep across ranks: when each rank may sweep which unknowns.

A sweep of one ordinate follows the directed graph "cell :math:`c` needs its upwind
neighbour :math:`u`"; on several ranks part of a cell's upwind neighbours are ghosts,
owned and swept by another rank. The *stage* of an owned cell in ordinate :math:`k` is
the largest number of rank changes along any upwind path that reaches it,

.. math::  s_{c,k} = \max\Big(\max_{u\ \mathrm{owned}} s_{u,k},\;
           \max_{g\ \mathrm{ghost}} (s_{g,k} + 1)\Big),\qquad s = 0 \text{ without
           upwind neighbours},

the longest path of the graph with weight 1 on the edges between ranks and 0 inside a
rank. The graph may also carry couplings between ordinates (walls, interfaces) from a
lower to a higher ordinate — the part of them that the serial sweep, ordinate by
ordinate, solves in its lower triangle: then :math:`s_{c,k}` is also at least the stage
of every :math:`(u, k' < k)` it needs (plus 1 across ranks), and the sweep across ranks
keeps them too (more stages: a path may cross the ranks once per ordinate).

Swept stage by stage — every rank sweeps its unknowns of stage :math:`s`, then the
ranks exchange their ghost values — every cell finds all its upwind values computed, so
the sweeps of all ranks together are the serial sweep (exact on pure streaming) with
:math:`\max s + 1` exchanges and the work of one sweep: the parallel sweep of
unstructured meshes scheduled by subdomain depth (Pautz 2002; Plimpton et al. 2005).

The stages are found by the same recursion over rounds: each rank takes its ghosts'
stages from the last exchange, propagates them through its own cells wavefront by
wavefront (the Kahn levels of its sweep order; edges that the order lags — cycles — are
left out), and exchanges again until no stage changes on any rank. A cycle through
several ranks would raise stages for ever; the rounds stop at ``max_stages`` (or 1 000
rounds; the edges that would need more are then lagged, like the rank-local cycle edges —
measured on the absorber: a limit below the natural depth loses most of the gain).

References
----------
S. D. Pautz, Nucl. Sci. Eng. 140, 111 (2002).
S. Plimpton, B. Hendrickson, S. Burns, W. McLendon and L. Rauchwerger, Nucl. Sci. Eng.
150, 267 (2005).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .blocked import BlockDistribution

__all__ = ["sweep_stages"]


def _row_max(indptr: np.ndarray, vals: np.ndarray, n: int, empty: int = 0) -> np.ndarray:
    """Maximum of every row's values (CSR ``indptr``), ``empty`` for an empty row."""
    out = np.full(n, empty, dtype=np.int64)
    nz = np.flatnonzero(np.diff(indptr) > 0)
    if len(nz):
        out[nz] = np.maximum(np.maximum.reduceat(vals, indptr[nz]), empty)
    return out


class _Ordinate:
    """One ordinate's dependencies: ghost edges, edges from the earlier ordinates and the
    owned edges of its own sweep level by level."""

    def __init__(self, dep: sp.csr_matrix, levels: list[np.ndarray], n: int,
                 cross: sp.csr_matrix | None):
        dep = sp.csr_matrix(dep)
        self.ghost = dep[:, n:].tocsr()
        self.cross = cross
        lvl = np.empty(n, dtype=np.int64)
        for i, f in enumerate(levels):
            lvl[f] = i
        own = dep[:, :n].tocoo()
        keep = (lvl[own.col] < lvl[own.row]) & (own.row != own.col)  # lagged edges out
        own = sp.csr_matrix((np.ones(int(keep.sum())), (own.row[keep], own.col[keep])),
                            shape=(n, n))
        self.levels = [(f, own[f]) for f in levels if len(f)]

    def propagate(self, ghost_stage: np.ndarray, earlier: np.ndarray, n: int,
                  last: int) -> np.ndarray:
        """Stages of the owned cells given the ghosts' ``ghost_stage`` and the stages of
        every local cell and ordinate ``earlier`` (flat, ``cell * K + k``, ghosts + 1) that
        the earlier ordinates' edges read (the recursion of the module docstring,
        wavefront by wavefront), at most ``last``."""
        g = self.ghost
        s = _row_max(g.indptr, ghost_stage[g.indices] + 1, n)
        if self.cross is not None and self.cross.nnz:
            c = self.cross
            s = np.maximum(s, _row_max(c.indptr, earlier[c.indices], n))
        s = np.minimum(s, last)
        for f, rows in self.levels:
            if rows.nnz:
                s[f] = np.maximum(s[f], _row_max(rows.indptr, s[rows.indices], len(f)))
        return s


def sweep_stages(cells, deps: list, levels: list, cross: sp.spmatrix | None = None,
                 max_stages: int = 0) -> tuple[np.ndarray, int]:
    """Sweep stage of every owned cell and ordinate (module docstring).

    Parameters
    ----------
    cells : fvqp.parallel.Distribution
        The cell distribution (owned cells, then ghosts).
    deps : list of scipy sparse matrices, (n_owned, n_local)
        Per ordinate: entry ``(c, u)`` nonzero if owned cell ``c`` needs local cell ``u``
        (owned or ghost) upwind.
    levels : list of lists of int arrays
        Per ordinate: the owned cells' sweep order as Kahn wavefronts (owned edges from a
        later or the same wavefront are lagged and left out).
    cross : scipy sparse matrix, (n_owned K, n_local K), optional
        Couplings between ordinates that the sweep takes from the earlier ordinates (rows
        and columns ``cell * K + k``; only the entries with the column's ordinate below the
        row's are read): walls and interfaces, which the sweep in ordinate order solves
        in its lower triangle.
    max_stages : int
        At most this many stages (0: no limit): the edges between ranks that would need
        more are lagged. Without a limit the exchanges stop at 1 000 rounds (a cycle
        through several ranks).

    Returns
    -------
    stage : ndarray of int, (n_owned, K)
        The stage of every owned cell in every ordinate (0 on one rank).
    n_stages : int
        ``max stage + 1`` over all ranks (1 on one rank).
    """
    n, K = cells.local.n_owned, len(deps)
    stage = np.zeros((n, K), dtype=np.int64)
    if cells.size == 1 or K == 0:
        return stage, 1
    crosses = [None] * K
    if cross is not None:
        cr = sp.csr_matrix(cross).tocoo()
        keep = (cr.col % K) < (cr.row % K)
        rows, cols = cr.row[keep], cr.col[keep]
        for k in range(1, K):
            s = rows % K == k
            crosses[k] = sp.csr_matrix((np.ones(int(s.sum())), (rows[s] // K, cols[s])),
                                       shape=(n, cr.shape[1]))
    ords = [_Ordinate(d, lv, n, c) for d, lv, c in zip(deps, levels, crosses, strict=True)]
    layout = BlockDistribution(cells, K)
    last = max_stages - 1 if max_stages > 0 else np.iinfo(np.int64).max - 1
    rounds = max_stages + 1 if max_stages > 0 else 1000
    for _ in range(rounds):
        loc = np.rint(layout.ghosted(stage.ravel())).astype(np.int64).reshape(-1, K)
        loc[n:] += 1                      # a ghost's value comes one exchange later
        new = stage.copy()
        for k, o in enumerate(ords):
            if n:
                new[:, k] = o.propagate(loc[n:, k] - 1, loc.ravel(), n, last)
                loc[:n, k] = new[:, k]
        changed = cells.max(float(np.any(new != stage)))
        stage = new
        if not changed:
            break
    return stage, int(cells.max(float(stage.max(initial=0)))) + 1

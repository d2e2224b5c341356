r"""Cell aggregates of a distributed mesh: the coarse space of two-level solvers.

A two-level method restores the global coupling that one-level subdomain solves lose
(Mandel 1993; Smith, Bjørstad & Gropp 1996, ch. 2 and 5). Its coarse space here is
piecewise constant on compact, balanced aggregates of cells: recursive coordinate
bisection of the cell centres (as for the ranks, :func:`.distribution.rcb_partition`).
The aggregation depends only on the mesh: every rank computes the same aggregates from
the global geometry, independent of the number of ranks. The coarse levels themselves
are built in :mod:`fvqp.solvers.twolevel` (:class:`~fvqp.solvers.twolevel.AggregateCoarse`
for the transport Schur complement).
"""

from __future__ import annotations

import numpy as np

from .distribution import rcb_partition

__all__ = ["cell_aggregates"]


def cell_aggregates(cells, n_agg: int) -> tuple[np.ndarray, int]:
    """Aggregate of every local cell (owned, then ghosts) of the distribution ``cells``.

    Parameters
    ----------
    cells : fvqp.parallel.Distribution
        Cell distribution (its global geometry defines the aggregates).
    n_agg : int
        Number of aggregates wanted (clipped to ``[1, cells]``).

    Returns
    -------
    agg : ndarray of int
        Aggregate number of every local cell (the same numbering on every rank).
    n_agg : int
        Number of aggregates.
    """
    g = cells.geometry
    n_agg = max(1, min(int(n_agg), g.n_cells))
    agg = np.empty(g.n_cells, dtype=np.int64)  # global (distribution) numbering
    agg[cells.new_of_old] = rcb_partition(g.centroid, n_agg)
    return agg[cells.local_to_global], n_agg

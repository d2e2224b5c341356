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
import scipy.sparse as sp

from .distribution import rcb_partition

__all__ = ["aggregate_space", "cell_aggregates", "isotropic_space"]


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


def aggregate_space(cells, n_agg: int, bs: int,
                    components: np.ndarray | None = None) -> tuple[sp.csr_matrix,
                                                                   sp.csr_matrix]:
    r"""Restriction and prolongation of the piecewise-constant coarse space on cell
    aggregates, separately for each of the ``bs`` unknowns of a cell (energy bins,
    phonon nodes), rank-local.

    A coarse unknown is (aggregate, unknown) restricted to this rank's owned cells: an
    aggregate that two ranks share gives each its own coarse unknowns, so the coarse
    unknowns of a rank come from its owned fine unknowns only (the form
    :class:`fvqp.solvers.twolevel.CoarseCorrection` takes). The aggregates are those of
    :func:`cell_aggregates` (the same on every rank count).

    Parameters
    ----------
    cells : fvqp.parallel.Distribution
        Cell distribution; the fine unknowns of owned cell ``c`` are ``c*bs + k``.
    n_agg : int
        Aggregates of the whole mesh (:func:`cell_aggregates`).
    bs : int
        Unknowns per cell.
    components : ndarray of int, optional
        The unknowns of a cell that get coarse unknowns (default all ``bs``); the others
        are left to the one-level solve.

    Returns
    -------
    R, P : scipy.sparse.csr_matrix
        ``R`` (coarse × owned fine) sums the owned cells of an aggregate per unknown,
        ``P = R^T`` injects the aggregate's value into its cells.
    """
    agg, _ = cell_aggregates(cells, n_agg)
    n = cells.local.n_owned
    present, local = np.unique(agg[:n], return_inverse=True)
    k = np.arange(bs) if components is None else np.asarray(components)
    m = len(k)
    rows = (local[:, None] * m + np.arange(m)).ravel()
    cols = (np.arange(n)[:, None] * bs + k).ravel()
    R = sp.csr_matrix((np.ones(n * m), (rows, cols)), shape=(len(present) * m, n * bs))
    return R, R.T.tocsr()


def isotropic_space(n: int, K: int, weights: np.ndarray, members: int = 1
                    ) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    r"""Restriction and prolongation of the isotropic coarse space of a discrete-ordinate
    layout, rank-local: per owned cell ``members`` blocks (energy bins solved together) of
    ``K`` ordinates and one angle-average unknown each, ``c (members (K+1)) + i (K+1) + k``.

    ``R`` (``n members`` x owned unknowns) is the quadrature sum of a block's ordinates,
    :math:`Rr = \sum_k w_kr_k` (the angle average unknown not summed); ``P`` puts a
    block's coarse value on its every ordinate and its angle average (the leading order
    of the discrete equations where the distribution is isotropic: a diffusion-synthetic
    coarse space, Adams & Larsen 2002).
    """
    B = K + 1
    blocks = n * members
    unk = np.arange(blocks * B)
    rows = np.repeat(np.arange(blocks), B)
    R = sp.csr_matrix((np.tile(np.append(weights, 0.0), blocks), (rows, unk)),
                      shape=(blocks, blocks * B))
    R.eliminate_zeros()
    R.sort_indices()
    P = sp.csr_matrix((np.ones(blocks * B), (unk, rows)), shape=(blocks * B, blocks))
    P.sort_indices()
    return R, P

r"""Aggregation coarse space for the inner solve of the QP Schur complement.

Optional (``-<prefix>schur_coarse_aggregates N``, off by default). It was written when
the 2-rank inner solve lost a factor 2-3 in outer Krylov iterations; the cause turned out
to be the elimination order of the subdomain ILU(0), not the rank cut (module
:mod:`fvqp.models.transport.schur`: in reverse Cuthill-McKee order one cell of Schwarz
overlap matches the serial count on 2 ranks). It remains available for many ranks or
meshes where the subdomains are small compared with the transport length per step.

A two-level method restores the global coupling cheaply (Mandel 1993; Smith, Bjørstad &
Gropp 1996, ch. 2 and 5): cells are grouped into compact, balanced aggregates (recursive
coordinate bisection of the cell centres, as for the ranks) and the coarse space is
piecewise constant on every aggregate, separately for every energy bin, so that the
Galerkin coarse operator :math:`S_c = P^TS_TP` keeps the structure of :math:`S_T`:

.. math::
    (S_c)_{IJ} = \sum_{c\in I,\ b\in J} (S_T)_{cb},

a dense :math:`N\times N` block per aggregate (the sum of its cells' blocks; transport
inside an aggregate cancels except for boundary terms) plus energy-diagonal couplings
between neighbouring aggregates. It is small (a few hundred aggregates × N), summed
over the ranks and factored redundantly on every rank (SuperLU). One application of the
preconditioner is

.. math::
    z = B t,\quad z \mathrel{+}= P S_c^{-1} P^T (t - S_T z),\quad
    z \mathrel{+}= B (t - S_T z),

with :math:`B` the one-level inner solve (hybrid multiplicative Schwarz, symmetric
smoothing). The aggregation depends only on the mesh: every rank computes the same
aggregates from the global geometry.

It has the interface of the PETSc coarse level :class:`fvqp.solvers.twolevel.CoarseCorrection`
(``correct(r)`` = :math:`PS_c^{-1}P^Tr`); this variant needs no PETSc objects because its
coarse matrix is small enough to be summed over the ranks and factored on every rank.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from .distribution import rcb_partition

__all__ = ["AggregateCoarse"]


class AggregateCoarse:
    """Coarse correction on cell aggregates, per energy bin.

    Parameters
    ----------
    cells : fvqp.parallel.Distribution
        Cell distribution (its global geometry defines the aggregates).
    N : int
        Unknowns (energy bins) per cell.
    n_agg : int
        Number of aggregates (compact, balanced: recursive coordinate bisection of the
        cell centres into ``n_agg`` parts).
    rows, cols, bins : ndarray of int
        Local row cell (owned), column cell and energy bin of every energy-diagonal
        transport entry of :math:`S_T`, in the order of the values passed to
        :meth:`build`.
    diagonal : bool
        Keep only the energy-diagonal part of the aggregated cell blocks (cheaper coarse
        factorisation, weaker correction; option ``-<prefix>schur_coarse_diagonal``).
    """

    def __init__(self, cells, N: int, n_agg: int, rows: np.ndarray, cols: np.ndarray,
                 bins: np.ndarray, diagonal: bool = False):
        self.N, self.n, self.diagonal = N, cells.local.n_owned, diagonal
        self.comm = cells.comm.tompi4py()
        g = cells.geometry
        n_agg = max(1, min(int(n_agg), g.n_cells))
        agg = np.empty(g.n_cells, dtype=np.int64)  # global (distribution) numbering
        agg[cells.new_of_old] = rcb_partition(g.centroid, n_agg)
        self.n_agg = n_agg
        self.agg = agg[cells.local_to_global]  # local cells (owned and ghosts)
        #: restriction of owned cells to aggregates (sums)
        self.R = sp.csr_matrix((np.ones(self.n), (self.agg[:self.n], np.arange(self.n))),
                               shape=(self.n_agg, self.n))
        e = bins
        I, J = self.agg[rows], self.agg[cols]
        same = I == J
        self._diag = (I[same], e[same], same)
        # inter-aggregate couplings: a global list of pairs (same on every rank)
        key = I[~same] * self.n_agg + J[~same]
        pairs = np.unique(np.concatenate(self.comm.allgather(np.unique(key))))
        self._pair_of_entry = np.searchsorted(pairs, key)
        self._e_off = e[~same]
        self.pairs = (pairs // self.n_agg, pairs % self.n_agg)
        self.blocks = np.zeros((self.n_agg, N, N))
        self.lu = None

    def begin(self) -> None:
        self.blocks[:] = 0.0

    def add_blocks(self, cs: np.ndarray, blocks: np.ndarray) -> None:
        """Add the dense blocks of owned cells ``cs`` to their aggregates."""
        R = sp.csr_matrix((np.ones(len(cs)), (self.agg[cs], np.arange(len(cs)))),
                          shape=(self.n_agg, len(cs)))
        self.blocks += (R @ blocks.reshape(len(cs), -1)).reshape(self.blocks.shape)

    def build(self, values: np.ndarray) -> None:
        """Add the transport entries ``values`` (order of ``rows, cols``), sum over the
        ranks and factor :math:`S_c`."""
        from mpi4py import MPI

        N, na = self.N, self.n_agg
        I, e, same = self._diag
        self.blocks += np.bincount((I * N + e) * N + e, values[same],
                                   na * N * N).reshape(na, N, N)
        npair = len(self.pairs[0])
        off = np.bincount(self._pair_of_entry * N + self._e_off, values[~same],
                          npair * N).reshape(npair, N)
        self.comm.Allreduce(MPI.IN_PLACE, self.blocks, op=MPI.SUM)
        self.comm.Allreduce(MPI.IN_PLACE, off, op=MPI.SUM)
        if self.diagonal:
            self.blocks *= np.eye(N)
        k = np.arange(N)
        br = (np.arange(na)[:, None, None] * N + k[None, :, None]).repeat(N, axis=2)
        bc = (np.arange(na)[:, None, None] * N + k[None, None, :]).repeat(N, axis=1)
        pr = (self.pairs[0][:, None] * N + k).ravel()
        pc = (self.pairs[1][:, None] * N + k).ravel()
        S = sp.csc_matrix((np.concatenate([self.blocks.ravel(), off.ravel()]),
                           (np.concatenate([br.ravel(), pr]), np.concatenate([bc.ravel(), pc]))),
                          shape=(na * N, na * N))
        S.eliminate_zeros()  # the off-diagonal block entries with ``diagonal``
        self.lu = spla.splu(S)

    def correct(self, r: np.ndarray) -> np.ndarray:
        """:math:`P S_c^{-1} P^T r` for an owned-rows residual ``r`` of shape (n, N)."""
        from mpi4py import MPI

        rc = np.ascontiguousarray(self.R @ r)
        self.comm.Allreduce(MPI.IN_PLACE, rc, op=MPI.SUM)
        zc = self.lu.solve(rc.ravel()).reshape(self.n_agg, self.N)
        return zc[self.agg[:self.n]]

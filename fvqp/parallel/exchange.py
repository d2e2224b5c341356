"""Values of the cells two distributions of one mesh have in common, moved between them.

Two models on one mesh may distribute different subsets of its cells (``bte_chip``: the
QP films on one :class:`~fvqp.parallel.Distribution`, films and substrate on another), so
a cell's owner differs between them. :class:`SubsetExchange` moves per-cell arrays from
the owned cells of one to the owned cells of the other, in a common numbering (the file
cell index of the larger mesh): every rank sends its owned (ids, values) to all ranks and
keeps the rows it owns on the other side. The common cells are few (films), so an
all-gather is the simple exact choice.

:class:`BlockRegroup` moves cell-distributed blocks of values (energy bins) to the
blocks' ranks, whole mesh, and back (one ``Alltoallv`` each way), and the rows of a sparse
matrix with them: the bte sweep split by energy bins (:class:`fvqp.models.bte.sweep.
BinSplitSweep`).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["BlockRegroup", "SubsetExchange"]


class SubsetExchange:
    """Per-cell arrays between two distributions of the same communicator.

    Parameters
    ----------
    comm : petsc4py communicator
    ids_a, ids_b : ndarray of int
        Common cell number of every owned cell of side ``a`` / ``b`` (-1: a cell the other
        side does not have).
    """

    def __init__(self, comm, ids_a: np.ndarray, ids_b: np.ndarray):
        self.mpi = comm.tompi4py()
        self.ids_a, self.ids_b = np.asarray(ids_a), np.asarray(ids_b)
        self.sel_a = np.flatnonzero(self.ids_a >= 0)
        self.sel_b = np.flatnonzero(self.ids_b >= 0)

    def _move(self, values, ids_from, sel_from, ids_to, sel_to, fill):
        values = np.asarray(values)
        parts = self.mpi.allgather((ids_from[sel_from], values[sel_from]))
        ids = np.concatenate([p[0] for p in parts])
        vals = np.concatenate([p[1] for p in parts]) if ids.size else \
            np.zeros((0,) + values.shape[1:])
        out = np.full((len(ids_to),) + values.shape[1:], fill, dtype=values.dtype)
        if ids.size:
            order = np.argsort(ids)
            pos = np.searchsorted(ids[order], ids_to[sel_to])
            out[sel_to] = vals[order][pos]
        return out

    def a_to_b(self, values: np.ndarray, fill: float = 0.0) -> np.ndarray:
        """Rows of ``values`` (owned cells of ``a`` first axis) on the owned cells of
        ``b`` (``fill`` where ``a`` has no value). Collective."""
        return self._move(values, self.ids_a, self.sel_a, self.ids_b, self.sel_b, fill)

    def b_to_a(self, values: np.ndarray, fill: float = 0.0) -> np.ndarray:
        """The inverse direction of :meth:`a_to_b`. Collective."""
        return self._move(values, self.ids_b, self.sel_b, self.ids_a, self.sel_a, fill)


class BlockRegroup:
    """Cell-distributed blocks of values regrouped on the blocks' ranks, whole mesh, and
    back.

    Every rank holds values ``(n_owned cells, n_blocks, width)`` (e.g. energy bins x the
    unknowns of a bin); block ``j`` belongs to rank ``owner[j]``. :meth:`forward` gives
    every rank its blocks' values of *all* cells, ``(n_cells, n_mine, width)``, cells in
    rank order (:attr:`cells`: the caller's index of each, e.g. the file cell), blocks
    ``mine`` in increasing order; :meth:`backward` is the reverse. The blocks are copied
    whole (``width`` contiguous values) on both sides and the ranks exchange by one
    ``Alltoallv`` each way, so the caller's own permutation of the regrouped values (e.g.
    into a sweep order) is the only scattered access — half of it per rank on 2 ranks.

    Parameters
    ----------
    comm : petsc4py communicator
    owner : ndarray of int
        Rank of every block (the same on every rank).
    cells : ndarray of int
        The caller's index of every owned cell (sent once to every rank).
    width : int
        Values per cell and block.
    """

    def __init__(self, comm, owner: np.ndarray, cells: np.ndarray, width: int):
        self.mpi = comm.tompi4py()
        rank, size = self.mpi.Get_rank(), self.mpi.Get_size()
        self.nprocs, self.w = size, int(width)
        self.owner = np.asarray(owner, dtype=np.int64)
        self.mine = np.flatnonzero(self.owner == rank)
        self.to = [np.flatnonzero(self.owner == d) for d in range(size)]
        parts = self.mpi.allgather(np.asarray(cells, dtype=np.int64)) if size > 1 \
            else [np.asarray(cells, dtype=np.int64)]
        #: the caller's index of every cell of :meth:`forward`'s rows
        self.cells = np.concatenate(parts)
        self.n, self.n_of = len(cells), np.array([len(p) for p in parts], dtype=np.int64)
        self._send_n = np.array([self.n * len(t) * self.w for t in self.to], dtype=np.int64)
        self._recv_n = self.n_of * len(self.mine) * self.w
        self._send = np.empty(int(self._send_n.sum()))
        self._recv = np.empty(int(self._recv_n.sum()))
        # backward's unpacking: the row (of ``width`` values) of the received buffer that
        # holds every owned (cell, block), so that one take of contiguous rows rebuilds
        # the owned layout (a fancy assignment per destination took 3x as long)
        rows = np.empty((self.n, len(self.owner)), dtype=np.int64)
        first = 0
        for t in self.to:
            rows[:, t] = first + (np.arange(self.n)[:, None] * len(t)
                                  + np.arange(len(t))[None, :])
            first += self.n * len(t)
        self._back_rows = rows.ravel()

    def _a2a(self, send, send_n, recv, recv_n) -> None:
        from mpi4py import MPI

        sd = np.concatenate([[0], np.cumsum(send_n)[:-1]])
        rd = np.concatenate([[0], np.cumsum(recv_n)[:-1]])
        self.mpi.Alltoallv([send, (send_n, sd), MPI.DOUBLE], [recv, (recv_n, rd),
                                                              MPI.DOUBLE])

    def _chunks(self, buf: np.ndarray, counts: np.ndarray) -> list:
        ends = np.cumsum(counts)
        return [buf[e - c:e] for c, e in zip(counts, ends, strict=True)]

    def forward(self, v: np.ndarray) -> np.ndarray:
        """This rank's blocks of every cell, ``(n_cells, n_mine, width)``, from the owned
        ``v`` of shape ``(n_owned, n_blocks, width)`` (a view is fine). A work array of
        this object, valid until the next call; collective."""
        for t, out in zip(self.to, self._chunks(self._send, self._send_n), strict=True):
            # unbuffered (mode "clip"; t is valid): np.take with out otherwise copies the
            # whole result once more
            np.take(v, t, axis=1, out=out.reshape(self.n, len(t), self.w), mode="clip")
        if self.nprocs == 1:
            self._recv[:] = self._send
        else:
            self._a2a(self._send, self._send_n, self._recv, self._recv_n)
        return self._recv.reshape(len(self.cells), len(self.mine), self.w)

    def backward(self, g: np.ndarray) -> np.ndarray:
        """The owned ``(n_owned, n_blocks, width)`` (a new array) from every rank's
        regrouped ``g`` (:meth:`forward`'s shape); collective."""
        g = np.ascontiguousarray(g, dtype=float).ravel()
        if self.nprocs == 1:
            got = g
        else:
            got = self._send
            self._a2a(g, self._recv_n, got, self._send_n)
        out = np.empty((self.n, len(self.owner), self.w))
        np.take(got.reshape(-1, self.w), self._back_rows, axis=0,
                out=out.reshape(-1, self.w), mode="clip")
        return out

    def rows(self, m: sp.spmatrix, col_pos: np.ndarray, size: int) -> sp.csr_matrix:
        """The rows of ``m`` regrouped as the values: ``m`` has one row per owned value
        (rows ``(c n_blocks + j) width + s``, columns local); a row goes where its value
        goes (the rows of the result in :meth:`forward`'s order), its column ``k`` to
        ``col_pos[k]`` (the caller's numbering on the row's rank, ``< size``). Set-up
        (pickled exchange)."""
        m = sp.csr_matrix(m)
        cp = np.asarray(col_pos, dtype=np.int64)
        grid = np.arange(m.shape[0]).reshape(self.n, len(self.owner), self.w)
        send = []
        for t in self.to:
            sub = m[grid[:, t, :].ravel()]
            send.append((np.diff(sub.indptr), cp[sub.indices], sub.data))
        got = self.mpi.alltoall(send) if self.nprocs > 1 else send
        lens = np.concatenate([g[0] for g in got])
        out = sp.csr_matrix((np.concatenate([g[2] for g in got]),
                             np.concatenate([g[1] for g in got]),
                             np.concatenate([[0], np.cumsum(lens)])),
                            shape=(len(lens), size))
        out.sort_indices()
        return out

"""Cell-distributed unknowns regrouped by decoupled blocks (e.g. energies) over the ranks.

A model whose unknowns are distributed by cells (:class:`.blocked.BlockDistribution`:
``bs`` unknowns per cell) may have a preconditioning matrix that never couples two
*blocks* of its per-cell unknowns (the energies of a streaming operator). Solved per
block over all cells, that preconditioner is exact whatever the number of ranks, while
the usual block Jacobi over the ranks' cells drops the coupling across rank boundaries.
:class:`BlockTranspose` is the all-to-all that makes this possible: every rank owns a
contiguous range of the blocks (:class:`.energies.EnergySplit`), receives the matrix
entries and the vector values of its blocks from the ranks owning the cells, and sends
the solution back.

The stacked layout of a rank's blocks is independent of the number of ranks (block by
block; in a block, file-order cell ``c`` and slot ``s`` at ``c * width + s``), so a
preconditioner built on it is the same on 1 and on N ranks.
This module, :mod:`.distribution`, :mod:`.tasks` and :mod:`.energies` know about ranks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csc_matrix

from .energies import EnergySplit

__all__ = ["BlockTranspose", "StackedEntries"]


class BlockTranspose:
    """The unknowns of a cell distribution regrouped by block on the block's owner rank.

    Parameters
    ----------
    cells_global : ndarray of int
        File-order index of every local cell (owned first, then ghosts).
    n_owned : int
        Owned cells of this rank.
    n_cells : int
        Cells of the whole mesh.
    block : ndarray of int, shape (bs,)
        Block of each per-cell unknown (``0 .. n_blocks - 1``).
    slot : ndarray of int, shape (bs,)
        Position of each per-cell unknown within its block's cell entries
        (``0 .. width[block] - 1``).
    comm : optional
        petsc4py or mpi4py communicator (``PETSc.COMM_WORLD`` by default).

    Attributes
    ----------
    blocks : range
        The blocks this rank owns.
    size : int
        Length of this rank's stacked vector (its blocks' unknowns of all cells).
    """

    def __init__(self, cells_global: np.ndarray, n_owned: int, n_cells: int,
                 block: np.ndarray, slot: np.ndarray, comm=None):
        self.split = split = EnergySplit(comm)
        self.comm, nprocs = split.comm, split.size
        block, slot = np.asarray(block, dtype=np.int64), np.asarray(slot, dtype=np.int64)
        self.bs, nb = len(block), int(block.max()) + 1
        width = np.zeros(nb, dtype=np.int64)
        np.maximum.at(width, block, slot + 1)
        owner = np.empty(nb, dtype=np.int64)
        start = np.zeros(nb, dtype=np.int64)  # offset of the block in its owner's stack
        for p in range(nprocs):
            sl = split.block(nb, p)
            owner[sl] = p
            sizes = width[sl] * n_cells
            start[sl] = np.concatenate([[0], np.cumsum(sizes)[:-1]]) if len(sizes) else []
        self.blocks = range(*split.block(nb).indices(nb))
        self.size = int(np.sum(width[self.blocks.start:self.blocks.stop]) * n_cells)
        self._cells = np.asarray(cells_global, dtype=np.int64)
        self._owner_of, self._width, self._start = owner, width, start
        self._block, self._slot = block, slot
        # where every owned unknown goes: destination rank and position in its stack
        dest, pos = self._place(np.arange(n_owned * self.bs))
        order = np.argsort(dest, kind="stable")
        self._send_idx = order  # owned unknowns in the order of their destinations
        self._send_n = np.bincount(dest, minlength=nprocs)
        self._send_n = self._send_n.astype(np.int64)
        recv = self._exchange([pos[order][a:b] for a, b in self._bounds(self._send_n)])
        self._recv_pos = np.concatenate(recv).astype(np.int64)
        self._recv_n = np.array([len(r) for r in recv], dtype=np.int64)

    @staticmethod
    def _bounds(counts: np.ndarray):
        ends = np.cumsum(counts)
        return list(zip(ends - counts, ends, strict=True))

    def _exchange(self, parts: list) -> list:
        if self.split.size == 1:
            return parts
        return self.comm.alltoall(parts)

    def _alltoallv(self, send: np.ndarray, send_n: np.ndarray, recv_n: np.ndarray
                   ) -> np.ndarray:
        """Contiguous per-rank parts of ``send`` (float) to every rank, buffer based."""
        if self.split.size == 1:
            return send.copy()
        from mpi4py import MPI

        recv = np.empty(int(recv_n.sum()), dtype=np.float64)
        sd = np.concatenate([[0], np.cumsum(send_n)[:-1]])
        rd = np.concatenate([[0], np.cumsum(recv_n)[:-1]])
        self.comm.Alltoallv([np.ascontiguousarray(send, dtype=np.float64), (send_n, sd),
                             MPI.DOUBLE], [recv, (recv_n, rd), MPI.DOUBLE])
        return recv

    def _place(self, local: np.ndarray):
        """Owner rank and stacked position of local unknowns ``c * bs + k``."""
        c, k = np.divmod(local, self.bs)
        b = self._block[k]
        pos = self._start[b] + self._cells[c] * self._width[b] + self._slot[k]
        return self._owner_of[b], pos

    def forward(self, owned: np.ndarray) -> np.ndarray:
        """This rank's stacked vector from every rank's owned values (real)."""
        got = self._alltoallv(np.asarray(owned)[self._send_idx], self._send_n, self._recv_n)
        out = np.empty(self.size)
        out[self._recv_pos] = got
        return out

    def backward(self, stacked: np.ndarray) -> np.ndarray:
        """The owned values of this rank from every rank's stacked vector (real)."""
        got = self._alltoallv(np.asarray(stacked)[self._recv_pos], self._recv_n, self._send_n)
        out = np.empty(len(self._send_idx))
        out[self._send_idx] = got
        return out

    @property
    def offsets(self) -> np.ndarray:
        """Stacked start of each of this rank's blocks, then :attr:`size` (length
        ``len(blocks) + 1``): block ``blocks[i]`` is ``offsets[i]:offsets[i + 1]``."""
        b = np.arange(self.blocks.start, self.blocks.stop)
        base = self._start[b] if len(b) else np.zeros(0, dtype=np.int64)
        return np.concatenate([base, [self.size]]).astype(np.int64)

    def entry_builder(self, rows: np.ndarray, cols: np.ndarray) -> StackedEntries:
        """The entries of this rank's blocks for a matrix with a fixed pattern of entries
        in the owned rows (local unknown indices; columns may be ghosts), on the stacked
        layout (:class:`StackedEntries`: the stacked row and column of every distinct
        entry, sorted by column, then row). The pattern is placed and sent once; each
        call of :meth:`StackedEntries.received` sends only the values. A pattern
        coupling two blocks raises ``ValueError`` (the split would not be exact)."""
        rows, cols = np.asarray(rows), np.asarray(cols)
        dest, r = self._place(rows)
        dcol, c = self._place(cols)
        if np.any(dest != dcol) or np.any(self._block[rows % self.bs]
                                          != self._block[cols % self.bs]):
            raise ValueError("the matrix couples two blocks: a block split is not exact")
        order = np.argsort(dest, kind="stable")
        send_n = np.bincount(dest, minlength=self.split.size).astype(np.int64)
        got = self._exchange([(r[order][a:b], c[order][a:b])
                              for a, b in self._bounds(send_n)])
        recv_n = np.array([len(g[0]) for g in got], dtype=np.int64)
        rr = np.concatenate([g[0] for g in got])
        cc = np.concatenate([g[1] for g in got])
        n = max(self.size, 1)
        uniq, inv = np.unique(cc * n + rr, return_inverse=True)

        def received(vals: np.ndarray) -> np.ndarray:
            return self._alltoallv(np.asarray(vals, dtype=float)[order], send_n, recv_n)

        return StackedEntries(uniq % n, uniq // n, inv.ravel(), received)

    def matrix_builder(self, rows: np.ndarray, cols: np.ndarray):
        """A function ``vals -> CSC matrix`` of this rank's blocks (the entries of
        :meth:`entry_builder`; same arguments and checks)."""
        ent = self.entry_builder(rows, cols)
        n = self.size
        indptr = np.concatenate([[0], np.cumsum(np.bincount(ent.cols, minlength=n))])

        def build(vals: np.ndarray):
            return csc_matrix((ent.values(vals), ent.rows, indptr), shape=(n, n))

        return build


@dataclass
class StackedEntries:
    """The entries of a rank's blocks on the stacked layout
    (:meth:`BlockTranspose.entry_builder`).

    Attributes
    ----------
    rows, cols : ndarray of int
        Stacked row and column of every distinct entry.
    inverse : ndarray of int
        The distinct entry of every received entry (duplicates are summed).
    received : callable
        ``vals -> v``: the values of every rank's owned entries (in the order of the
        pattern given to :meth:`~BlockTranspose.entry_builder`) sent to their block's
        rank, in the received order (collective).
    """

    rows: np.ndarray
    cols: np.ndarray
    inverse: np.ndarray
    received: Callable[[np.ndarray], np.ndarray]

    def values(self, vals: np.ndarray) -> np.ndarray:
        """The values of the distinct entries: duplicates summed in the order of the
        owning rank (as on one rank); collective."""
        return np.bincount(self.inverse, weights=self.received(vals),
                           minlength=len(self.rows))

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

import numpy as np
from scipy.sparse import coo_matrix

from .energies import EnergySplit

__all__ = ["BlockTranspose"]


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
        self._send = [np.flatnonzero(dest == p) for p in range(nprocs)]
        recv = self._exchange([pos[idx] for idx in self._send])
        self._recv = recv  # positions in this rank's stack, per source rank

    def _place(self, local: np.ndarray):
        """Owner rank and stacked position of local unknowns ``c * bs + k``."""
        c, k = np.divmod(local, self.bs)
        b = self._block[k]
        pos = self._start[b] + self._cells[c] * self._width[b] + self._slot[k]
        return self._owner_of[b], pos

    def _exchange(self, parts: list) -> list:
        if self.split.size == 1:
            return parts
        return self.comm.alltoall(parts)

    def forward(self, owned: np.ndarray) -> np.ndarray:
        """This rank's stacked vector from every rank's owned values."""
        got = self._exchange([owned[idx] for idx in self._send])
        out = np.empty(self.size, dtype=owned.dtype)
        for pos, vals in zip(self._recv, got, strict=True):
            out[pos] = vals
        return out

    def backward(self, stacked: np.ndarray) -> np.ndarray:
        """The owned values of this rank from every rank's stacked vector."""
        got = self._exchange([stacked[pos] for pos in self._recv])
        out = np.empty(sum(len(i) for i in self._send), dtype=stacked.dtype)
        for idx, vals in zip(self._send, got, strict=True):
            out[idx] = vals
        return out

    def matrix(self, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray):
        """This rank's blocks of a matrix given by the entries of the owned rows (local
        unknown indices; columns may be ghosts), as a CSC matrix on the stacked layout.
        Entries coupling two blocks raise ``ValueError`` (the split would not be exact).
        Duplicates are summed in the order of the owning rank (as on one rank)."""
        dest, r = self._place(np.asarray(rows))
        dcol, c = self._place(np.asarray(cols))
        if np.any(dest != dcol) or np.any(self._block[np.asarray(rows) % self.bs]
                                          != self._block[np.asarray(cols) % self.bs]):
            raise ValueError("the matrix couples two blocks: a block split is not exact")
        parts = [np.flatnonzero(dest == p) for p in range(self.split.size)]
        got = self._exchange([(r[i], c[i], vals[i]) for i in parts])
        rr = np.concatenate([g[0] for g in got])
        cc = np.concatenate([g[1] for g in got])
        vv = np.concatenate([g[2] for g in got])
        return coo_matrix((vv, (rr, cc)), shape=(self.size, self.size)).tocsc()

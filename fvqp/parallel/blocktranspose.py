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
from scipy.sparse import csr_matrix

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
    weights : ndarray, shape (n_blocks,), optional
        This rank's share of each block's cost (e.g. its owned cells' matrix entries of
        the block), summed over the ranks: the ranks then own contiguous ranges of
        blocks of near-equal cost (:meth:`.energies.EnergySplit.block_by_weight`)
        instead of near-equal numbers of blocks.

    Attributes
    ----------
    blocks : range
        The blocks this rank owns.
    size : int
        Length of this rank's stacked vector (its blocks' unknowns of all cells).
    """

    def __init__(self, cells_global: np.ndarray, n_owned: int, n_cells: int,
                 block: np.ndarray, slot: np.ndarray, comm=None,
                 weights: np.ndarray | None = None):
        self.split = split = EnergySplit(comm)
        self.comm, nprocs = split.comm, split.size
        block, slot = np.asarray(block, dtype=np.int64), np.asarray(slot, dtype=np.int64)
        self.bs, nb = len(block), int(block.max()) + 1
        width = np.zeros(nb, dtype=np.int64)
        np.maximum.at(width, block, slot + 1)
        owner = np.empty(nb, dtype=np.int64)
        start = np.zeros(nb, dtype=np.int64)  # offset of the block in its owner's stack
        if weights is not None:
            weights = np.asarray(weights, dtype=float)
            if len(weights) != nb:
                raise ValueError(f"BlockTranspose: {len(weights)} weights for {nb} blocks")
            if nprocs > 1:
                weights = self.comm.allreduce(weights)

        def share(p: int) -> slice:
            return split.block(nb, p) if weights is None else split.block_by_weight(
                weights, p)

        for p in range(nprocs):
            sl = share(p)
            owner[sl] = p
            sizes = width[sl] * n_cells
            start[sl] = np.concatenate([[0], np.cumsum(sizes)[:-1]]) if len(sizes) else []
        self.blocks = range(*share(split.rank).indices(nb))
        self.size = int(np.sum(width[self.blocks.start:self.blocks.stop]) * n_cells)
        self._cells = np.asarray(cells_global, dtype=np.int64)
        #: length of all ranks' stacks together (bounds every stacked index)
        self._total = int(np.sum(width) * n_cells)
        if self._total > 3_000_000_000:
            raise ValueError("BlockTranspose: more than 3e9 stacked unknowns (entry keys "
                             "row * total + column would overflow int64)")
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
        #: on one rank both regroupings are one permutation each (no exchange)
        self._serial = None
        if nprocs == 1:
            to_stack = np.empty(self.size, dtype=np.int64)
            to_stack[self._recv_pos] = self._send_idx
            to_owned = np.empty(len(self._send_idx), dtype=np.int64)
            to_owned[self._send_idx] = self._recv_pos
            self._serial = (to_stack, to_owned)

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
            return send  # the callers pass a fresh array and only read the result
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
        if self._serial is not None:
            return np.asarray(owned, dtype=float)[self._serial[0]]
        got = self._alltoallv(np.asarray(owned)[self._send_idx], self._send_n, self._recv_n)
        out = np.empty(self.size)
        out[self._recv_pos] = got
        return out

    def backward(self, stacked: np.ndarray) -> np.ndarray:
        """The owned values of this rank from every rank's stacked vector (real)."""
        if self._serial is not None:
            return np.asarray(stacked, dtype=float)[self._serial[1]]
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
        entry, sorted by row, then column: the order of a CSR matrix's values). The
        pattern is placed and sent once; each call of :meth:`StackedEntries.received`
        sends only the values. A pattern coupling two blocks raises ``ValueError`` (the
        split would not be exact).

        Memory: the pattern is placed in chunks of :data:`PLACE_CHUNK` entries, so
        beyond the result (an index per entry, a row and a column per distinct entry)
        the set-up holds about five 8-byte arrays of the entries at its peak (the sort
        that finds the distinct ones), not the ~18 of placing everything at once
        (bte_sphere at 200 x 200 x 16: 14.7 M entries, 2.2 GB of transients before).
        """
        rows, cols = np.asarray(rows), np.asarray(cols)
        ne, nprocs = len(rows), self.split.size
        dest = np.empty(ne, dtype=np.int32)
        key = np.empty(ne, dtype=np.int64)  # stacked row, then row * size + column
        col = np.empty(ne, dtype=np.int64)
        for a in range(0, ne, PLACE_CHUNK):
            sl = slice(a, a + PLACE_CHUNK)
            d_r, key[sl] = self._place(rows[sl])
            d_c, col[sl] = self._place(cols[sl])
            if np.any(d_r != d_c) or np.any(self._block[rows[sl] % self.bs]
                                            != self._block[cols[sl] % self.bs]):
                raise ValueError("the matrix couples two blocks: a block split is not "
                                 "exact")
            dest[sl] = d_r
        n = max(self.size, 1)
        if nprocs == 1:  # nothing to send: the entries stay in the order given
            key *= n
            key += col
            del col, dest
            uniq, inv = _distinct(key)
            return StackedEntries(uniq // n, uniq % n, inv,
                                  lambda vals: np.asarray(vals, dtype=float))
        # the duplicates are summed before they are sent: per destination, the distinct
        # entries (row * total + column on that rank's stack) and where each entry goes
        order = np.argsort(dest, kind="stable")
        send_n = np.bincount(dest, minlength=nprocs).astype(np.int64)
        del dest
        total = self._total
        key = key[order]
        key *= total
        key += col[order]
        del col
        parts, local_inv, start = [], np.empty(ne, dtype=np.intp), 0
        for a, b in self._bounds(send_n):
            u, i = _distinct(key[a:b])
            local_inv[order[a:b]] = i + start
            parts.append(u)
            start += len(u)
        del key
        send_d = np.array([len(u) for u in parts], dtype=np.int64)
        got = self._exchange(parts)
        del parts
        recv_d = np.array([len(g) for g in got], dtype=np.int64)
        rc = np.concatenate(got)
        del got
        r, c = np.divmod(rc, total)
        del rc
        r *= n
        r += c
        del c
        uniq, inv = _distinct(r)  # a permutation: every entry's row has one owner

        def received(vals: np.ndarray) -> np.ndarray:
            summed = np.bincount(local_inv, weights=np.asarray(vals, dtype=float),
                                 minlength=int(send_d.sum()))
            return self._alltoallv(summed, send_d, recv_d)

        return StackedEntries(uniq // n, uniq % n, inv, received, distinct=True)

    def matrix_builder(self, rows: np.ndarray, cols: np.ndarray):
        """A function ``vals -> CSR matrix`` of this rank's blocks (the entries of
        :meth:`entry_builder`; same arguments and checks)."""
        ent = self.entry_builder(rows, cols)
        n = self.size
        indptr = np.concatenate([[0], np.cumsum(np.bincount(ent.rows, minlength=n))])

        def build(vals: np.ndarray):
            return csr_matrix((ent.values(vals), ent.cols, indptr), shape=(n, n))

        return build


#: entries placed at once by :meth:`BlockTranspose.entry_builder` (its transients)
PLACE_CHUNK = 1 << 20


def _distinct(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(key, return_inverse=True)`` with fewer arrays alive at once: the
    sorted distinct keys and, for every key, the index of its distinct value. ``key``
    (int64) is consumed: its buffer holds the sort and the indices."""
    perm = np.argsort(key)
    key[:] = key[perm]
    first = np.empty(len(key), dtype=bool)
    first[:1] = True
    np.not_equal(key[1:], key[:-1], out=first[1:])
    uniq = key[first]
    np.cumsum(first, out=key)
    del first
    key -= 1
    inv = np.empty(len(key), dtype=np.intp)
    inv[perm] = key
    return uniq, inv


@dataclass
class StackedEntries:
    """The entries of a rank's blocks on the stacked layout
    (:meth:`BlockTranspose.entry_builder`).

    Attributes
    ----------
    rows, cols : ndarray of int
        Stacked row and column of every distinct entry.
    inverse : ndarray of int
        The distinct entry of every received entry (duplicates are summed; on one rank
        of every entry in the order given, :attr:`received` then passing the values
        through).
    received : callable
        ``vals -> v``: the values of every rank's owned entries (in the order of the
        pattern given to :meth:`~BlockTranspose.entry_builder`) sent to their block's
        rank, in the received order (collective).
    distinct : bool
        The received values are already summed per entry (each sender summed its
        duplicates, in the pattern's order): :attr:`inverse` is a permutation.
    """

    rows: np.ndarray | None
    cols: np.ndarray | None
    inverse: np.ndarray
    received: Callable[[np.ndarray], np.ndarray]
    distinct: bool = False

    def __post_init__(self):
        #: distinct entries (:attr:`rows` and :attr:`cols` may be dropped once a matrix
        #: holds the structure)
        self.count = len(self.rows)

    def values(self, vals: np.ndarray) -> np.ndarray:
        """The values of the distinct entries: duplicates summed in the order of the
        owning rank (as on one rank); collective."""
        if self.distinct:
            out = np.empty(self.count)
            out[self.inverse] = self.received(vals)
            return out
        return np.bincount(self.inverse, weights=self.received(vals),
                           minlength=self.count)

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
    strided : bool
        Regroup by strided copies of regular runs of blocks where the layout allows
        (:class:`_Runs`; the default); ``False``: always by index permutations (the
        general path, a reference for the tests). Both give the same values bit for bit.

    Attributes
    ----------
    blocks : range
        The blocks this rank owns.
    size : int
        Length of this rank's stacked vector (its blocks' unknowns of all cells).
    """

    def __init__(self, cells_global: np.ndarray, n_owned: int, n_cells: int,
                 block: np.ndarray, slot: np.ndarray, comm=None,
                 weights: np.ndarray | None = None, strided: bool = True):
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
        #: the regroupings as strided copies of regular runs of blocks (:class:`_Runs`)
        #: where the per-cell unknowns and the ranks' cells allow, else by index
        self._runs = _Runs.build(self, np.asarray(cells_global[:n_owned], dtype=np.int64),
                                 n_cells) if strided else None
        self._serial = None
        if self._runs is not None:
            return
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
        if self._runs is not None:
            return self._runs.forward(np.asarray(owned, dtype=float))
        if self._serial is not None:
            return np.asarray(owned, dtype=float)[self._serial[0]]
        got = self._alltoallv(np.asarray(owned)[self._send_idx], self._send_n, self._recv_n)
        out = np.empty(self.size)
        out[self._recv_pos] = got
        return out

    def backward(self, stacked: np.ndarray) -> np.ndarray:
        """The owned values of this rank from every rank's stacked vector (real)."""
        if self._runs is not None:
            return self._runs.backward(np.asarray(stacked, dtype=float))
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


class _Runs:
    r"""The regroupings of :class:`BlockTranspose` as strided copies, without indices.

    Where the per-cell unknowns fall into *runs* (consecutive unknowns
    ``k0 .. k0 + nb w - 1`` holding blocks ``b0 .. b0 + nb - 1`` of one width ``w``, each
    with its slots in order, as :func:`fvqp.models.bte_sphere.precond.energy_blocks`
    lays them out) and every rank owns a contiguous range of file-order cells in order,
    a run's unknowns on a rank are an array ``(cells, nb, w)`` and its blocks on their
    owner's stack an array ``(nb, n_cells, w)``: the regrouping is a transpose of the
    first two axes, copied by numpy as ``8 w``-byte items (the ``w`` slots are
    contiguous on both sides). The index path reads an 8-byte index for every 8-byte
    value and scatters through it. A rank's own part is copied straight between its
    vectors; only the other ranks' parts go through one buffer-based ``Alltoallv`` each
    way. At the device size of ``bte_sphere`` (``benchmarks/bte_sphere.py --fine``, 100
    repeats, one thread) a forward and backward pair took 2.1-2.3 ms serially and
    4.2-4.8 ms per rank on 2 ranks by index, 0.65 and 1.7 ms as strided copies.
    """

    def __init__(self, tr: BlockTranspose, pieces: list, ranges: np.ndarray, n_cells: int):
        self.tr, self.n_cells = tr, n_cells
        rank, nprocs = tr.split.rank, tr.split.size
        self.n_own = int(ranges[rank][1])
        # pieces (k0, b, nb, w) with the owner's blocks of a run; by destination rank
        self.send = [[q for q in pieces if tr._owner_of[q[1]] == p] for p in range(nprocs)]
        mine = self.send[rank]
        self.send_n = np.array([0 if p == rank else
                                sum(nb * w for _, _, nb, w in self.send[p]) * self.n_own
                                for p in range(nprocs)], dtype=np.int64)
        self.recv_n = np.array([0 if p == rank else
                                sum(nb * w for _, _, nb, w in mine) * int(ranges[p][1])
                                for p in range(nprocs)], dtype=np.int64)
        self.ranges = ranges

    @classmethod
    def build(cls, tr: BlockTranspose, owned_cells: np.ndarray, n_cells: int
              ) -> _Runs | None:
        """The runs of ``tr`` or ``None`` where its layout has none (collective)."""
        block, slot, width = tr._block, tr._slot, tr._width
        pieces, k, bs = [], 0, tr.bs
        while k < bs:  # maximal runs of whole blocks of one width, slots in order
            b0, w = int(block[k]), int(width[block[k]])
            k1, b = k, b0
            while (k1 + w <= bs and b < len(width) and width[b] == w
                   and np.all(block[k1:k1 + w] == b)
                   and np.array_equal(slot[k1:k1 + w], np.arange(w))):
                k1, b = k1 + w, b + 1
            if k1 == k:
                pieces = None
                break
            for p in range(tr.split.size):  # split by owner: consecutive on its stack
                own = np.flatnonzero(tr._owner_of[b0:b] == p)
                if len(own):
                    pieces.append((k + int(own[0]) * w, b0 + int(own[0]), len(own), w))
            k = k1
        n_own = len(owned_cells)
        first = int(owned_cells[0]) if n_own else 0
        ok = pieces is not None and np.array_equal(owned_cells, first + np.arange(n_own))
        ranges = np.array([[first, n_own]], dtype=np.int64)
        if tr.split.size > 1:
            from mpi4py import MPI

            ok = tr.comm.allreduce(ok, op=MPI.LAND)
            ranges = np.array(tr.comm.allgather((first, n_own)), dtype=np.int64)
        return cls(tr, pieces, ranges, n_cells) if ok else None

    @staticmethod
    def _items(a: np.ndarray, w: int) -> np.ndarray:
        """``a`` (last axis ``w`` contiguous doubles per item) as one ``8 w``-byte item per
        ``w`` doubles: numpy then copies whole items (0.28 against 1.6 ms for a
        ``(120, 1029, 8)`` transpose of doubles)."""
        return a.view(np.dtype((np.void, 8 * w)))

    def _owned(self, a: np.ndarray, k0: int, nb: int, w: int) -> np.ndarray:
        """View ``(nb, cells)`` of a piece's items in an owned vector ``a``."""
        return self._items(a.reshape(self.n_own, self.tr.bs)[:, k0:k0 + nb * w], w).T

    def _stacked(self, a: np.ndarray, b: int, nb: int, w: int, p: int) -> np.ndarray:
        """View ``(nb, cells of rank p)`` of a piece's items in this rank's stacked
        ``a``."""
        c0, n = (int(v) for v in self.ranges[p])
        s = int(self.tr._start[b])
        return self._items(a[s:s + nb * self.n_cells * w].reshape(nb, self.n_cells * w),
                           w)[:, c0:c0 + n]

    def _buffer(self, a: np.ndarray, at: int, nb: int, n: int, w: int) -> np.ndarray:
        """View ``(nb, n)`` of the items at ``at`` of a message buffer."""
        return self._items(a[at:at + nb * n * w].reshape(nb, n * w), w)

    def forward(self, owned: np.ndarray) -> np.ndarray:
        """:meth:`BlockTranspose.forward`."""
        rank, nprocs = self.tr.split.rank, self.tr.split.size
        out = np.empty(self.tr.size)
        send = np.empty(int(self.send_n.sum()))
        at = 0
        for p in range(nprocs):
            for k0, b, nb, w in self.send[p]:
                src = self._owned(owned, k0, nb, w)
                if p == rank:
                    self._stacked(out, b, nb, w, rank)[...] = src
                else:
                    self._buffer(send, at, nb, self.n_own, w)[...] = src
                    at += nb * self.n_own * w
        if nprocs > 1:
            got, at = self.tr._alltoallv(send, self.send_n, self.recv_n), 0
            for p in range(nprocs):
                if p != rank:
                    n = int(self.ranges[p][1])
                    for _, b, nb, w in self.send[rank]:
                        self._stacked(out, b, nb, w, p)[...] = self._buffer(got, at, nb, n, w)
                        at += nb * n * w
        return out

    def backward(self, stacked: np.ndarray) -> np.ndarray:
        """:meth:`BlockTranspose.backward`."""
        rank, nprocs = self.tr.split.rank, self.tr.split.size
        out = np.empty(self.n_own * self.tr.bs)
        if nprocs > 1:
            send, at = np.empty(int(self.recv_n.sum())), 0
            for p in range(nprocs):
                if p != rank:
                    n = int(self.ranges[p][1])
                    for _, b, nb, w in self.send[rank]:
                        self._buffer(send, at, nb, n, w)[...] = self._stacked(
                            stacked, b, nb, w, p)
                        at += nb * n * w
            got, at = self.tr._alltoallv(send, self.recv_n, self.send_n), 0
        for p in range(nprocs):
            for k0, b, nb, w in self.send[p]:
                dst = self._owned(out, k0, nb, w)
                if p == rank:
                    dst[...] = self._stacked(stacked, b, nb, w, rank)
                else:
                    dst[...] = self._buffer(got, at, nb, self.n_own, w)
                    at += nb * self.n_own * w
        return out


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

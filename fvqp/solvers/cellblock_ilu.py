r"""Block ILU(0) of a "dense cell blocks + energy-diagonal couplings" matrix, stored per
cell in single precision outside PETSc (issue 18 §1: the QP Schur complement of
:mod:`fvqp.models.transport.schur` as a PETSc AIJ matrix costs :math:`12N^2` bytes per
cell, values and column indices; here :math:`4N^2`).

The matrix :math:`S` has, per cell :math:`c`, a dense block :math:`S_c` (:math:`N\times
N`) and, per face pair :math:`(a, b)`, the couplings :math:`C_{ab}` (row cell :math:`a`,
column cell :math:`b`) and :math:`C_{ba}`, diagonal in the bin. Its block ILU(0) in the
natural order of the cells (Saad, *Iterative Methods for Sparse Linear Systems*, 2nd ed.,
SIAM 2003, §10.3.2, Eq. 10.33 with the block pattern of :math:`S`) is

.. math::
    M = (D + E_L)\,D^{-1}\,(D + E_U), \qquad
    D_k = S_k - \sum_{j<k,\,j\sim k} C_{kj}\,D_j^{-1}\,C_{jk},

with :math:`E_L` (:math:`E_U`) the couplings below (above) the block diagonal. When no
three cells are pairwise neighbours (hexahedral and quadrilateral meshes; checked) this
closed form is exact block ILU(0): eliminating cell :math:`j` makes fill only between two
later neighbours :math:`k, l` of :math:`j`, which are not neighbours of each other (the
fill is dropped, it is outside the pattern) unless :math:`k = l`, where it is the dense
update above. Its diagonal blocks and couplings equal those of :math:`S` exactly, and on a
chain of cells (no fill to drop) :math:`M = S`.

Cells are grouped in *levels* (a cell's level is one more than the highest level of its
lower neighbours), so the factorisation and both sweeps run level by level on batches of
cells. Each cell keeps one :math:`N\times N` float32 array, :math:`D_k^{-1}` (inverted in
double precision by LAPACK with partial pivoting, then rounded). :math:`M^{-1}t` is

.. math::
    w_k = D_k^{-1}\Big(t_k - \sum_{j<k} C_{kj}w_j\Big) \ (\text{levels up}),\qquad
    z_k = w_k - D_k^{-1}\sum_{l>k} C_{kl}z_l \ (\text{levels down}),

two dense products per cell (a point ILU(0) of the same storage, PETSc's ``-pc_type ilu``
of the AIJ matrix, needs the same two half-products but masked copies of the packed
factors: 2.4x the time of a sweep, and a Doolittle factorisation without pivoting).

Measured on the absorber burst (13 280 cells x 66 bins, 6 BDF1 steps, one thread,
2026-11-24): against the point ILU(0) the sweeps take 0.046 instead of 0.066 s per
application and the factorisation 0.86 instead of 1.96 s, with 58 instead of 57 Krylov
iterations in 12 Newton solves (the condensed solve's iterations are set by the float32
:math:`S_T` against the exact :math:`S`, not by the ILU).
"""

from __future__ import annotations

import logging

import numpy as np
from scipy.sparse import csr_matrix

__all__ = ["CellBlockILU", "VALUES"]

log = logging.getLogger("fvqp.solvers")

#: cells per batch of the block inversions (temporaries ~ 3 CHUNK N^2 doubles)
CHUNK = 256
#: how the blocks may be stored: ``float32`` (:math:`4N^2` bytes per cell), or ``int16``
#: (:math:`2N^2 + 4N`: every row as integers of its own float32 scale, rounded to
#: :data:`INT16_STEPS` steps of its largest magnitude, relative rounding
#: :math:`\le 1.5\times10^{-5}` of that magnitude; every product and inversion in float32
#: or double as before, a batch of blocks scaled back at a time)
VALUES = ("float32", "int16")
#: steps of a row's largest magnitude in the ``int16`` storage
INT16_STEPS = 32767.0


class CellBlockILU:
    """Single-precision block ILU(0) of dense cell blocks coupled diagonally in energy.

    Parameters
    ----------
    n, N : int
        Cells and unknowns per cell.
    pair_a, pair_b : ndarray of int
        The coupled cells of every face pair (``< n``; duplicates allowed).
    keep_matrix : bool
        Keep a float32 copy of the blocks before the factorisation (another
        :math:`4N^2` bytes per cell) for :meth:`matvec`: the residuals of a two-level
        solve.
    values : {"float32", "int16"}
        How the blocks are stored (:data:`VALUES`).

    Raises
    ------
    ValueError
        If three cells are pairwise neighbours (the closed form above does not hold).
    """

    def __init__(self, n: int, N: int, pair_a: np.ndarray, pair_b: np.ndarray,
                 keep_matrix: bool = False, values: str = "float32"):
        if values not in VALUES:
            raise ValueError(f"cell-block ILU(0): values must be one of {VALUES}, not "
                             f"{values!r}")
        self.n, self.N = int(n), int(N)
        #: how the blocks are stored (:data:`VALUES`)
        self.values = values
        self.check(n, pair_a, pair_b)
        a, b = np.asarray(pair_a, np.int64), np.asarray(pair_b, np.int64)
        self.lo, self.hi = np.minimum(a, b), np.maximum(a, b)
        level = np.zeros(n, dtype=np.int64)
        order = np.argsort(self.hi, kind="stable")
        for p in order:  # pairs by their later cell: its lower neighbours are final
            level[self.hi[p]] = max(level[self.hi[p]], level[self.lo[p]] + 1)
        #: cells per level, and the pairs whose later (earlier) cell is in the level
        self.levels = _groups(level, np.arange(n))
        self.pairs_hi = _groups(level[self.hi], np.arange(len(a)), len(self.levels))
        self.pairs_lo = _groups(level[self.lo], np.arange(len(a)), len(self.levels))
        #: the blocks are stored level by level (a level's blocks are one contiguous
        #: slice: the sweeps read them in place, no gathered copy); ``slot[c]`` is the
        #: storage row of cell ``c``, ``bounds`` the levels' slices
        self.order = np.concatenate(self.levels) if n else np.zeros(0, np.int64)
        self.slot = np.empty(n, dtype=np.int64)
        self.slot[self.order] = np.arange(n)
        self.bounds = np.cumsum([0] + [len(c) for c in self.levels])
        self.lo_s, self.hi_s = self.slot[self.lo], self.slot[self.hi]
        self.blocks = np.zeros((n, N, N), dtype=np.int16 if values == "int16"
                               else np.float32)
        #: ``int16``: each stored row's scale (a row is ``blocks * row_scale[..., None]``)
        self.row_scale = np.zeros((n, N), np.float32) if values == "int16" else None
        self._buf = None  # ``int16``: one batch of blocks as float32 (:meth:`_matvec`)
        self._diag = None  # ``int16``: the diagonal added since begin (:meth:`add_diagonal`)
        self.c_low = np.zeros((len(a), N), dtype=np.float32)  # row hi, column lo
        self.c_up = np.zeros((len(a), N), dtype=np.float32)   # row lo, column hi
        #: the blocks of the matrix itself (storage order, float32), kept with
        #: ``keep_matrix``
        self.matrix = np.zeros((n, N, N), np.float32) if keep_matrix else None
        #: per level, the pairs split into rounds whose target cells are distinct (a
        #: plain fancy-index update per round instead of the slow ``ufunc.at``)
        self.rounds_hi = [_rounds(self.hi_s[pairs], pairs) for pairs in self.pairs_hi]
        self.rounds_lo = [_rounds(self.lo_s[pairs], pairs) for pairs in self.pairs_lo]
        self.iterations = 0

    @staticmethod
    def check(n: int, pair_a: np.ndarray, pair_b: np.ndarray) -> None:
        """Raise ValueError if three cells are pairwise neighbours."""
        a, b = np.asarray(pair_a, np.int64), np.asarray(pair_b, np.int64)
        adj = csr_matrix((np.ones(2 * len(a)), (np.concatenate([a, b]),
                                                 np.concatenate([b, a]))), shape=(n, n))
        adj.data[:] = 1.0
        if (adj @ adj).multiply(adj).nnz:
            raise ValueError("cell-block ILU(0): three cells are pairwise neighbours; use "
                             "the AIJ storage")

    def begin(self) -> None:
        """Zero the blocks for a new assembly."""
        self.blocks[:] = 0
        if self.row_scale is not None:
            self.row_scale[:] = 0.0
            self._diag = None

    def _get(self, rows) -> np.ndarray:
        """The stored blocks at the storage rows ``rows`` (a slice or indices) as float32
        (``int16``: scaled back per row)."""
        if self.row_scale is None:
            return self.blocks[rows]
        return self.blocks[rows] * self.row_scale[rows][:, :, None]

    def _put(self, rows, blocks: np.ndarray) -> None:
        """Store ``blocks`` at the storage rows ``rows`` (``int16``: each row rounded to
        :data:`INT16_STEPS` steps of its largest magnitude)."""
        if self.row_scale is None:
            self.blocks[rows] = blocks
            return
        scale = np.max(np.abs(blocks), axis=2) / INT16_STEPS
        q = np.divide(blocks, scale[:, :, None], out=np.zeros(blocks.shape, np.float32),
                      where=scale[:, :, None] > 0)
        self.blocks[rows] = np.rint(q, out=q)
        self.row_scale[rows] = scale

    def set_blocks(self, cells: np.ndarray, blocks: np.ndarray) -> None:
        """Write the dense blocks ``(len(cells), N, N)`` of ``cells``."""
        self._put(self.slot[np.asarray(cells)], blocks)

    def add_diagonal(self, diag: np.ndarray) -> None:
        """Add ``diag`` (n, N), per cell, to the diagonals of the blocks (``int16``: kept
        apart in float32 and added where a block is next read as a whole, by
        :meth:`factor` and :meth:`cell_blocks`, so that no block is rounded twice)."""
        e = np.arange(self.N)
        d = diag[self.order]
        if self.row_scale is None:
            self.blocks[:, e, e] += d
            return
        if self._diag is None:
            self._diag = np.zeros((self.n, self.N), np.float32)
        self._diag += d

    def _matrix(self, rows) -> np.ndarray:
        """The blocks of the assembled matrix at the storage rows ``rows`` as float32
        (before :meth:`factor`; ``int16``: with the diagonal kept apart)."""
        out = self._get(rows)
        if self._diag is not None:
            e = np.arange(self.N)
            out[:, e, e] += self._diag[rows]
        return out

    def set_couplings(self, a: np.ndarray, b: np.ndarray, ab: np.ndarray,
                      ba: np.ndarray) -> None:
        """Couplings of the pairs (``a``, ``b`` as given to the constructor): ``ab`` the
        entries of row ``a``, column ``b`` (pairs, N), ``ba`` the reverse."""
        swap = (np.asarray(a) > np.asarray(b))[:, None]
        self.c_up[:] = np.where(swap, ba, ab)
        self.c_low[:] = np.where(swap, ab, ba)

    def factor(self) -> None:
        """Block ILU(0) of :attr:`blocks` (with their diagonal transport entries) and the
        couplings, in place: :attr:`blocks` then hold :math:`D_k^{-1}` (module
        docstring). A singular :math:`D_k` gives non-finite values in its cell (logged),
        so an application fails as a failed linear solve does."""
        if self.matrix is not None:
            for s in range(0, self.n, CHUNK):
                sl = slice(s, min(self.n, s + CHUNK))
                self.matrix[sl] = self._matrix(sl)
        if self.row_scale is not None:
            self._factor_rounded()
            return
        for k, rounds in enumerate(self.rounds_hi):
            a, b = self.bounds[k], self.bounds[k + 1]
            for pairs in rounds:  # distinct targets within a round; D_j^-1 final
                for s in range(0, len(pairs), CHUNK):
                    pc = pairs[s:s + CHUNK]
                    upd = self.blocks[self.lo_s[pc]]  # a gathered copy
                    upd *= self.c_low[pc][:, :, None]
                    upd *= self.c_up[pc][:, None, :]
                    self.blocks[self.hi_s[pc]] -= upd
            for s in range(a, b, CHUNK):
                sl = slice(s, min(b, s + CHUNK))
                self.blocks[sl] = _inverses(self.blocks[sl])

    def _factor_rounded(self) -> None:
        """:meth:`factor` of the ``int16`` storage: each level by batches of
        :data:`CHUNK` cells in float32 (its blocks with the diagonal, the updates from
        the final :math:`D_j^{-1}` of the lower levels, the inverses), rounded once."""
        for k, rounds in enumerate(self.rounds_hi):
            a, b = self.bounds[k], self.bounds[k + 1]
            pairs = np.concatenate(rounds) if rounds else np.zeros(0, np.int64)
            # by target, each target's pairs in their order: a batch's are one slice
            pairs = pairs[np.argsort(self.hi_s[pairs], kind="stable")]
            cut = np.searchsorted(self.hi_s[pairs], np.arange(a, b + CHUNK, CHUNK))
            for j, s in enumerate(range(a, b, CHUNK)):
                e = min(b, s + CHUNK)
                blk = self._matrix(slice(s, e))
                mine = pairs[cut[j]:cut[j + 1]]
                for r in _rounds(self.hi_s[mine], mine):  # distinct targets per round
                    upd = self._get(self.lo_s[r])
                    upd *= self.c_low[r][:, :, None]
                    upd *= self.c_up[r][:, None, :]
                    blk[self.hi_s[r] - s] -= upd
                self._put(slice(s, e), _inverses(blk))
        self._diag = None  # in the blocks now

    def solve(self, r: np.ndarray, gather: np.ndarray | None = None,
              scatter: np.ndarray | None = None) -> np.ndarray:
        """:math:`M^{-1}r` for ``r`` of shape (n N,) (module docstring); float64 out.

        ``gather``, ``scatter``: a caller whose cells are numbered otherwise (a
        subdomain's local cells, :class:`.cellblock_ras.CellBlockRAS`) passes its
        numbering composed with :attr:`order` and :attr:`slot`: row ``gather[k]`` of
        ``r`` (rows of N) is storage row ``k``, and storage row ``scatter[i]`` is the
        ``i``-th row returned (one gather and one scatter per solve, not two each)."""
        N = self.N
        self.iterations += 1
        t = np.asarray(r, dtype=np.float32).reshape(-1, N)[
            self.order if gather is None else gather]
        big = int(np.max(np.diff(self.bounds), initial=0))
        buf = np.empty((big, N), dtype=np.float32)
        for k, rounds in enumerate(self.rounds_hi):  # w, levels up
            a, b = self.bounds[k], self.bounds[k + 1]
            for pairs in rounds:  # distinct targets within a round
                t[self.hi_s[pairs]] -= self.c_low[pairs] * t[self.lo_s[pairs]]
            self._matvec(a, b, t[a:b], out=buf[:b - a])
            t[a:b] = buf[:b - a]
        for k in range(len(self.levels) - 1, -1, -1):  # z, levels down
            a, b = self.bounds[k], self.bounds[k + 1]
            if not len(self.rounds_lo[k]):
                continue
            g = buf[:b - a]
            g[:] = 0.0
            for pairs in self.rounds_lo[k]:
                g[self.lo_s[pairs] - a] += self.c_up[pairs] * t[self.hi_s[pairs]]
            t[a:b] -= self._matvec(a, b, g, out=np.empty_like(g))
        return t[self.slot if scatter is None else scatter].astype(np.float64).ravel()


    def matvec(self, z: np.ndarray, gather: np.ndarray | None = None,
               scatter: np.ndarray | None = None) -> np.ndarray:
        """:math:`S z` for ``z`` of shape (n N,) with the kept float32 matrix
        (``keep_matrix``), in double precision (batches of :data:`CHUNK` cells: a
        float32 product loses the residual of a good preconditioner, ~1e-3 of it, to
        cancellation); ``gather``, ``scatter`` as :meth:`solve`'s."""
        if self.matrix is None:
            raise RuntimeError("CellBlockILU.matvec needs keep_matrix=True")
        t = np.asarray(z, dtype=np.float64).reshape(-1, self.N)[
            self.order if gather is None else gather]
        out = np.empty_like(t)
        for s in range(0, self.n, CHUNK):
            e = min(self.n, s + CHUNK)
            out[s:e] = np.einsum("cij,cj->ci", self.matrix[s:e].astype(np.float64), t[s:e])
        np.add.at(out, self.hi_s, self.c_low * t[self.lo_s])
        np.add.at(out, self.lo_s, self.c_up * t[self.hi_s])
        return out[self.slot if scatter is None else scatter].ravel()

    def cell_blocks(self, cells: np.ndarray) -> np.ndarray:
        """The stored blocks of ``cells`` as float32 (before :meth:`factor`: the
        matrix's, with the diagonal added)."""
        return self._matrix(self.slot[np.asarray(cells)])

    def _matvec(self, a: int, b: int, x: np.ndarray, out: np.ndarray) -> np.ndarray:
        """The products of the stored blocks of the storage rows ``a:b`` with ``x``
        ``(b - a, N)``, into ``out`` (``int16``: scaled back to float32 by batches of
        :data:`CHUNK` cells, each batch's products at once)."""
        if self.row_scale is None:
            return _matvec(self.blocks[a:b], x, out=out)
        if self._buf is None:
            self._buf = np.empty((CHUNK, self.N, self.N), np.float32)
        for s in range(a, b, CHUNK):
            e = min(b, s + CHUNK)
            q = self._buf[:e - s]
            np.copyto(q, self.blocks[s:e], casting="unsafe")  # exact: |q| <= 32767
            o = _matvec(q, x[s - a:e - a], out=out[s - a:e - a])
            o *= self.row_scale[s:e]  # (diag(scale) Q) x = scale * (Q x)
        return out


def _matvec(blocks: np.ndarray, x: np.ndarray, out: np.ndarray | None = None
            ) -> np.ndarray:
    """The products of the cell blocks ``(c, N, N)`` with their vectors ``(c, N)``, shape
    ``(c, N)`` (into ``out`` if given), by numpy's stacked ``matmul``: 2x the speed of
    ``einsum("cij,cj->ci")`` on float32 blocks of 66 (200 cells: 57 against 118 us),
    summed in another order (float32 round-off apart)."""
    res = np.matmul(blocks, x[:, :, None], out=None if out is None else out[:, :, None])
    return res[:, :, 0]


def _rounds(target: np.ndarray, pairs: np.ndarray) -> list:
    """``pairs`` split into rounds in which no ``target`` repeats (the k-th occurrence of
    a target goes to round k)."""
    if not len(pairs):
        return []
    order = np.argsort(target, kind="stable")
    ts = target[order]
    first = np.r_[True, ts[1:] != ts[:-1]]
    start = np.maximum.accumulate(np.where(first, np.arange(len(ts)), 0))
    rank = np.empty(len(ts), dtype=np.int64)
    rank[order] = np.arange(len(ts)) - start
    return [pairs[rank == r] for r in range(int(rank.max()) + 1)]


def _groups(key: np.ndarray, items: np.ndarray, count: int | None = None) -> list:
    """``items`` grouped by ``key`` (0, 1, ..., count - 1)."""
    count = int(key.max(initial=-1)) + 1 if count is None else count
    order = np.argsort(key, kind="stable")
    bounds = np.searchsorted(key[order], np.arange(count + 1))
    return [items[order[bounds[k]:bounds[k + 1]]] for k in range(count)]


def _inverses(blocks: np.ndarray) -> np.ndarray:
    """Inverses of the matrices ``blocks`` (c, N, N) in double precision (LAPACK, partial
    pivoting), in their dtype; a singular one is replaced by NaN (and logged)."""
    try:
        return np.linalg.inv(blocks.astype(np.float64)).astype(blocks.dtype)
    except np.linalg.LinAlgError:
        out = np.full(blocks.shape, np.nan, dtype=blocks.dtype)
        bad = 0
        for c, blk in enumerate(blocks.astype(np.float64)):
            try:
                out[c] = np.linalg.inv(blk)
            except np.linalg.LinAlgError:
                bad += 1
        log.warning("cell-block ILU(0): %d singular diagonal block(s); their cells get "
                    "non-finite values and the linear solve fails", bad)
        return out

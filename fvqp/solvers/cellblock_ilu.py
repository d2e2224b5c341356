r"""ILU(0) of a "dense cell blocks + energy-diagonal couplings" matrix, stored per cell in
single precision outside PETSc (issue 18 §1: the QP Schur complement of
:mod:`fvqp.models.transport.schur` as a PETSc AIJ matrix costs :math:`12N^2` bytes per
cell, values and column indices; here :math:`4N^2`).

The matrix has, per cell :math:`c`, a dense block :math:`S_c` (:math:`N\times N`) and,
per face pair :math:`(a, b)`, the couplings :math:`(a,i)\to(b,i)` and
:math:`(b,i)\to(a,i)`, diagonal in the bin :math:`i`. Point ILU(0) in the natural order
of the rows (cells in their local order, bins within a cell: PETSc's ``-pc_type ilu``
on the same AIJ matrix) then has a closed form when no three cells are pairwise
neighbours (hexahedral and quadrilateral meshes; checked): eliminating the coupling
column :math:`(j, i)` of the row :math:`(k, i)` of a later cell :math:`k` touches only the
diagonal entry :math:`(k, i), (k, i)` (the row :math:`(j, i)` of :math:`U` meets the
pattern of row :math:`(k, i)` only there), so

.. math::
    \tilde S_k = S_k - \mathrm{diag}\Big(\sum_{j<k,\,j\sim k}
        \frac{c_{kj}\,c_{jk}}{u_j}\Big), \qquad \tilde S_k = L_kU_k,

with :math:`u_j` the pivots (diagonal of :math:`U_j`) and the couplings of the factors
:math:`l_{kj} = c_{kj}/u_j`, :math:`u_{jk} = c_{jk}`. Cells are grouped in *levels* (a
cell's level is one more than the highest level of its lower neighbours), so the
factorisation and both triangular sweeps run level by level on batches of cells. Each
cell keeps one :math:`N\times N` float32 array: :math:`L_k^{-1}` below the diagonal
(unit diagonal implied) and :math:`U_k^{-1}` on and above it.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import csr_matrix

__all__ = ["CellBlockILU"]

#: cells per batch of the triangular inversions (temporaries ~ 3 CHUNK N^2 floats)
CHUNK = 256


class CellBlockILU:
    """Single-precision ILU(0) of dense cell blocks coupled diagonally in energy.

    Parameters
    ----------
    n, N : int
        Cells and unknowns per cell.
    pair_a, pair_b : ndarray of int
        The coupled cells of every face pair (``< n``; duplicates allowed).

    Raises
    ------
    ValueError
        If three cells are pairwise neighbours (the closed form above does not hold).
    """

    def __init__(self, n: int, N: int, pair_a: np.ndarray, pair_b: np.ndarray):
        self.n, self.N = int(n), int(N)
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
        self.blocks = np.zeros((n, N, N), dtype=np.float32)
        self.c_low = np.zeros((len(a), N), dtype=np.float32)  # row hi, column lo
        self.c_up = np.zeros((len(a), N), dtype=np.float32)   # row lo, column hi
        self._lower = np.tril(np.ones((N, N), dtype=bool), -1)
        self._masks = (self._lower.astype(np.float32), (~self._lower).astype(np.float32))
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
        self.blocks[:] = 0.0

    def set_blocks(self, cells: np.ndarray, blocks: np.ndarray) -> None:
        """Write the dense blocks ``(len(cells), N, N)`` of ``cells``."""
        self.blocks[self.slot[np.asarray(cells)]] = blocks

    def add_diagonal(self, diag: np.ndarray) -> None:
        """Add ``diag`` (n, N), per cell, to the diagonals of the blocks."""
        e = np.arange(self.N)
        self.blocks[:, e, e] += diag[self.order]

    def set_couplings(self, a: np.ndarray, b: np.ndarray, ab: np.ndarray,
                      ba: np.ndarray) -> None:
        """Couplings of the pairs (``a``, ``b`` as given to the constructor): ``ab`` the
        entries of row ``a``, column ``b`` (pairs, N), ``ba`` the reverse."""
        swap = (np.asarray(a) > np.asarray(b))[:, None]
        self.c_up[:] = np.where(swap, ba, ab)
        self.c_low[:] = np.where(swap, ab, ba)

    def factor(self) -> None:
        """ILU(0) of :attr:`blocks` (with their diagonal transport entries) and the
        couplings, in place (module docstring)."""
        N = self.N
        piv = np.empty((self.n, N), dtype=np.float32)  # storage order
        e = np.arange(N)
        for k, pairs in enumerate(self.pairs_hi):
            sl = slice(self.bounds[k], self.bounds[k + 1])
            S = self.blocks[sl]  # a view: factored in place
            if len(pairs):
                corr = np.zeros((self.n, N), dtype=np.float32)
                np.add.at(corr, self.hi_s[pairs], self.c_low[pairs] * self.c_up[pairs]
                          / piv[self.lo_s[pairs]])
                S[:, e, e] -= corr[sl]
            _lu_in_place(S)
            piv[sl] = S[:, e, e]
        self.c_low /= piv[self.lo_s]  # l_kj = c_kj / u_j
        for s in range(0, self.n, CHUNK):
            sl = slice(s, min(self.n, s + CHUNK))
            self.blocks[sl] = _invert_factors(self.blocks[sl], self._lower)

    def solve(self, r: np.ndarray) -> np.ndarray:
        """:math:`(LU)^{-1}r` for ``r`` of shape (n N,); float64 out."""
        N = self.N
        self.iterations += 1
        t = np.asarray(r, dtype=np.float32).reshape(self.n, N)[self.order]
        low, up = self._masks
        big = int(np.max(np.diff(self.bounds), initial=0))
        buf = np.empty((big, N, N), dtype=np.float32)
        for k, rounds in enumerate(self.rounds_hi):
            a, b = self.bounds[k], self.bounds[k + 1]
            for pairs in rounds:  # distinct targets within a round
                t[self.hi_s[pairs]] -= self.c_low[pairs] * t[self.lo_s[pairs]]
            P = np.multiply(self.blocks[a:b], low, out=buf[:b - a])
            t[a:b] += np.einsum("cij,cj->ci", P, t[a:b])
        for k in range(len(self.levels) - 1, -1, -1):
            a, b = self.bounds[k], self.bounds[k + 1]
            for pairs in self.rounds_lo[k]:
                t[self.lo_s[pairs]] -= self.c_up[pairs] * t[self.hi_s[pairs]]
            P = np.multiply(self.blocks[a:b], up, out=buf[:b - a])
            t[a:b] = np.einsum("cij,cj->ci", P, t[a:b])
        return t[self.slot].astype(np.float64).ravel()


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


def _lu_in_place(S: np.ndarray) -> None:
    """Doolittle LU without pivoting of every matrix of ``S`` (c, N, N), in place
    (unit-lower L strictly below the diagonal, U on and above it): the row order of
    point ILU(0) within a dense block."""
    N = S.shape[1]
    for p in range(N - 1):
        S[:, p + 1:, p] /= S[:, p:p + 1, p]
        S[:, p + 1:, p + 1:] -= S[:, p + 1:, p, None] * S[:, p, None, p + 1:]


def _invert_factors(LU: np.ndarray, lower: np.ndarray) -> np.ndarray:
    """Packed :math:`L^{-1}` (strictly lower) and :math:`U^{-1}` (upper) of packed LU
    factors (c, N, N), by triangular solves against the identity."""
    N = LU.shape[1]
    eye = np.broadcast_to(np.eye(N, dtype=LU.dtype), LU.shape)
    L = np.where(lower, LU, 0.0) + eye
    U = np.where(lower, 0.0, LU)
    Li = _tri_inverse(L, lower=True)
    Ui = _tri_inverse(U, lower=False)
    return np.where(lower, Li, Ui).astype(LU.dtype)


def _tri_inverse(T: np.ndarray, lower: bool) -> np.ndarray:
    """Inverses of the triangular matrices ``T`` (c, N, N) by substitution, row by row
    over the batch (N vectorised steps)."""
    c, N, _ = T.shape
    X = np.zeros_like(T)
    rows = range(N) if lower else range(N - 1, -1, -1)
    for i in rows:
        rhs = np.zeros((c, N), dtype=T.dtype)
        rhs[:, i] = 1.0
        if lower and i:
            rhs -= np.einsum("ck,ckj->cj", T[:, i, :i], X[:, :i, :])
        elif not lower and i < N - 1:
            rhs -= np.einsum("ck,ckj->cj", T[:, i, i + 1:], X[:, i + 1:, :])
        X[:, i, :] = rhs / T[:, i, i, None]
    return X

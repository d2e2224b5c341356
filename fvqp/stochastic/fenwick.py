"""Fenwick (binary indexed) tree of non-negative rates for kinetic Monte Carlo.

Point updates (also batched, vectorised over the indices), prefix sums and the
inverse-cumulative search used to pick an event with probability proportional to its rate
all cost :math:`O(\\log n)`.  Incremental updates accumulate round-off; :meth:`rebuild`
restores the tree exactly from the leaf values in :math:`O(n)` (vectorised by levels).
"""

from __future__ import annotations

import numpy as np

__all__ = ["Fenwick"]


class Fenwick:
    """Fenwick tree over ``n`` leaves (0-based indices externally).

    Parameters
    ----------
    n : int
        Number of leaves (capacity).
    """

    def __init__(self, n: int):
        self.n = int(n)
        self.tree = np.zeros(self.n + 1)
        self._top = 1 << (self.n.bit_length() - 1) if self.n > 0 else 0
        # chain of tree nodes updated by each leaf (padded with the unused node 0)
        levels = max(self.n.bit_length(), 1)
        anc = np.zeros((self.n, levels), dtype=np.int64)
        i = np.arange(1, self.n + 1)
        for lev in range(levels):
            anc[:, lev] = np.where(i <= self.n, i, 0)
            i = np.where(i <= self.n, i + (i & -i), i)
        self._anc = anc

    def add(self, idx: np.ndarray, delta: np.ndarray) -> None:
        """Add ``delta`` to the leaves ``idx`` (arrays, repeated indices allowed)."""
        i = np.asarray(idx, dtype=np.int64) + 1
        d = np.asarray(delta, dtype=float)
        if i.ndim == 0:
            j = int(i)
            dv = float(d)
            t = self.tree
            while j <= self.n:
                t[j] += dv
                j += j & -j
            return
        d = np.broadcast_to(d, i.shape)
        nodes = self._anc[i - 1]
        np.add.at(self.tree, nodes.ravel(), np.repeat(d, nodes.shape[1]))
        self.tree[0] = 0.0

    def prefix(self, k: int) -> float:
        """Sum of leaves ``0 .. k-1``."""
        s = 0.0
        t = self.tree
        while k > 0:
            s += t[k]
            k -= k & -k
        return s

    def total(self) -> float:
        """Sum of all leaves."""
        return self.prefix(self.n)

    def find(self, u: float) -> int:
        """Smallest leaf ``i`` with ``prefix(i + 1) > u`` (``0 <= u < total``).

        Returns ``n - 1`` at most (guards ``u`` rounding up to the total).
        """
        pos = 0
        step = self._top
        t = self.tree
        n = self.n
        while step:
            nxt = pos + step
            if nxt <= n and t[nxt] <= u:
                pos = nxt
                u -= t[nxt]
            step >>= 1
        return min(pos, n - 1)

    def rebuild(self, values: np.ndarray) -> None:
        """Rebuild exactly from leaf ``values`` (length ``n``), level by level."""
        t = np.zeros(self.n + 1)
        t[1:] = values
        i = np.arange(1, self.n + 1)
        low = i & -i
        level = 1
        while level <= self.n:
            src = i[low == level]
            dst = src + level
            ok = dst <= self.n
            np.add.at(t, dst[ok], t[src[ok]])
            level <<= 1
        self.tree = t

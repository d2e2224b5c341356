"""Per-cell arrays of few distinct rows (the bin-averaged DOS of the cells of one gap,
the QP and phonon masses): kept as a table of the distinct rows and every cell's row
number instead of one row per cell (issue 18 §1: 3 KB per cell at 66 QP bins and 130
phonon nodes on the 3D absorber, whose cells share two gaps)."""

from __future__ import annotations

import numpy as np

__all__ = ["RowTable"]


class RowTable:
    r"""An (n, K) array whose row ``c`` is ``table[index[c]]``, or, with a ``scale``,
    :math:`(s_c\,\phi)\,t_{i_c}` in that order (``factor`` :math:`\phi`): every row has
    the bits of the whole array's product ``(s[:, None] * factor) * table[index]``.

    Indexing gives numpy arrays, made for the rows asked: ``a[rows]``, ``a[rows, cols]``
    (rows a slice, an integer or an integer array); ``np.asarray(a)`` gives the whole
    array. The users read rows in batches; nothing writes into a table.

    Parameters
    ----------
    table : ndarray, shape (R, K)
        The distinct rows.
    index : ndarray of int, shape (n,)
        Every cell's row of ``table``.
    scale : ndarray, shape (n,), optional
        A factor per cell.
    factor : float
        A common factor (with ``scale``).
    """

    def __init__(self, table: np.ndarray, index: np.ndarray,
                 scale: np.ndarray | None = None, factor: float = 1.0):
        self.table = np.asarray(table)
        self.index = np.asarray(index, dtype=np.intp)
        self.scale = None if scale is None else np.asarray(scale, dtype=float)
        self.factor = float(factor)
        self.shape = (len(self.index), self.table.shape[1])
        self.ndim = 2
        self.dtype = self.table.dtype if scale is None else np.result_type(
            self.table.dtype, np.float64)

    def __len__(self) -> int:
        return self.shape[0]

    def rows(self, key) -> np.ndarray:
        """The rows ``key`` (slice, integer or integer array) as an array."""
        out = self.table[self.index[key]]
        if self.scale is not None:
            s = self.scale[key]
            out = (np.asarray(s)[..., None] * self.factor) * out
        return out

    def __getitem__(self, key):
        if isinstance(key, tuple):
            if len(key) != 2:
                raise IndexError(f"a RowTable takes (rows, columns), got {key!r}")
            rows = self.rows(key[0])
            return rows[key[1]] if rows.ndim == 1 else rows[:, key[1]]
        return self.rows(key)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        out = self.rows(slice(None))
        return out if dtype is None else out.astype(dtype)

    @property
    def nbytes(self) -> int:
        """Bytes held (the table, the row numbers and the scale)."""
        return self.table.nbytes + self.index.nbytes + (
            0 if self.scale is None else self.scale.nbytes)

"""Set operations on index arrays whose numpy spelling is slow at the sizes fvqp meets.

:func:`distinct` replaces ``np.unique(a)`` (no ``return_*``, no ``axis``): numpy 2.3+
finds the distinct values of such a call by hashing, which on this project's machine
took 1.2 s for 10⁶ random int64 keys and 0.8 s for 10⁶ multiples of 1 024 against 0.01 s
for one sort; at the ``bte_sphere`` device size (``benchmarks/bte_sphere.py --fine``) the
energy blocks' cost model spent 11.5 s of a 28 s run there.
"""

from __future__ import annotations

import numpy as np

__all__ = ["distinct"]


def distinct(a) -> np.ndarray:
    """The sorted distinct values of ``a`` (flattened), by one sort: ``np.unique(a)``
    for arrays without NaN.

    >>> distinct([3, 1, 3, 2, 1])
    array([1, 2, 3])
    """
    s = np.sort(np.asarray(a).ravel())
    if s.size < 2:
        return s
    keep = np.empty(s.size, dtype=bool)
    keep[0] = True
    np.not_equal(s[1:], s[:-1], out=keep[1:])
    return s[keep]

"""Values of the cells two distributions of one mesh have in common, moved between them.

Two models on one mesh may distribute different subsets of its cells (``bte_chip``: the
QP films on one :class:`~fvqp.parallel.Distribution`, films and substrate on another), so
a cell's owner differs between them. :class:`SubsetExchange` moves per-cell arrays from
the owned cells of one to the owned cells of the other, in a common numbering (the file
cell index of the larger mesh): every rank sends its owned (ids, values) to all ranks and
keeps the rows it owns on the other side. The common cells are few (films), so an
all-gather is the simple exact choice.
"""

from __future__ import annotations

import numpy as np

__all__ = ["SubsetExchange"]


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

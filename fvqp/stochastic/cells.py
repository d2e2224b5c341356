"""Periodic cell list for particles in a cubic box, with slot-indexed storage.

Particles live in *slots* (rows of a position array owned by the caller).  The box of
side ``L`` is split into ``m^3`` cells of side ``L/m >= cutoff``, so every pair closer than
the cutoff lies in the same or adjacent cells; a query scans the (de-duplicated, for
``m < 3``) 27 neighbouring cells.  Insertions and removals are :math:`O(1)`.
"""

from __future__ import annotations

import numpy as np

__all__ = ["CellList", "minimum_image"]


def minimum_image(d: np.ndarray, L: float) -> np.ndarray:
    """Periodic minimum-image displacement (``d`` of shape ``(..., 3)``)."""
    return d - L * np.round(d / L)


class CellList:
    """Cell list of a periodic cube.

    Parameters
    ----------
    L : float
        Box side.
    cutoff : float
        Interaction range (cells are at least this large).
    """

    def __init__(self, L: float, cutoff: float):
        self.L = float(L)
        self.m = max(1, int(np.floor(self.L / cutoff)))
        self.cell_size = self.L / self.m
        self.cells: list[set[int]] = [set() for _ in range(self.m**3)]
        offs = np.array(np.meshgrid([-1, 0, 1], [-1, 0, 1], [-1, 0, 1], indexing="ij"))
        self._offsets = offs.reshape(3, -1).T
        self._nbr_cache: dict[int, tuple[int, ...]] = {}

    def cell_of(self, p: np.ndarray) -> int:
        """Linear cell index of a point."""
        m = self.m
        c = np.floor(np.asarray(p) / self.cell_size).astype(int) % m
        return int((c[0] * m + c[1]) * m + c[2])

    def _neighbour_cells(self, cell: int) -> tuple[int, ...]:
        got = self._nbr_cache.get(cell)
        if got is None:
            m = self.m
            c = np.array([cell // (m * m), (cell // m) % m, cell % m])
            nb = (c[None, :] + self._offsets) % m
            lin = (nb[:, 0] * m + nb[:, 1]) * m + nb[:, 2]
            got = tuple(sorted(set(lin.tolist())))
            self._nbr_cache[cell] = got
        return got

    def insert(self, slot: int, p: np.ndarray) -> int:
        """Insert ``slot`` at point ``p``; returns its cell."""
        cell = self.cell_of(p)
        self.cells[cell].add(slot)
        return cell

    def remove(self, slot: int, cell: int) -> None:
        """Remove ``slot`` from ``cell``."""
        self.cells[cell].discard(slot)

    def candidates(self, p: np.ndarray) -> np.ndarray:
        """Slots in the cells around ``p`` (a superset of those within the cutoff)."""
        out: list[int] = []
        cells = self.cells
        for c in self._neighbour_cells(self.cell_of(p)):
            out.extend(cells[c])
        return np.fromiter(out, dtype=np.int64, count=len(out))

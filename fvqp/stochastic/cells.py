"""Simulation boxes and a cell list for particles in them, with slot-indexed storage.

A :class:`Box` is a rectangular box with sides ``(Lx, Ly, Lz)``, each axis either periodic
(minimum-image distances) or bounded by hard walls (particles stay inside, distances are
plain).  Three shapes cover the devices of interest:

``cube``   periodic cube (bulk; the geometry of Bespalov et al. 2016, Supplement);
``film``   periodic in the plane, walls at ``z = 0`` and ``z = d`` (a film of thickness
           ``d``, thinner than the localization length in Al films);
``closed`` walls on every side (an isolated island or trap volume).

Particles live in *slots* (rows of a position array owned by the caller).  The box is
split into ``m_x m_y m_z`` cells of side ``>= cutoff``, so every pair closer than the
cutoff lies in the same or adjacent cells; a query scans the (de-duplicated) 27
neighbouring cells, wrapping only across periodic axes.  Insertions and removals are
:math:`O(1)`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Box", "CellList", "minimum_image"]


def minimum_image(d: np.ndarray, L) -> np.ndarray:
    """Periodic minimum-image displacement (``d`` of shape ``(..., 3)``; ``L`` a side or
    a :class:`Box`, whose non-periodic axes are left as they are)."""
    if isinstance(L, Box):
        return L.displacement(d)
    return d - L * np.round(d / L)


@dataclass(frozen=True)
class Box:
    """Rectangular box with per-axis periodicity (see module docstring).

    Parameters
    ----------
    sides : tuple of 3 floats
    periodic : tuple of 3 bools
    """

    sides: tuple
    periodic: tuple = (True, True, True)

    def __post_init__(self) -> None:
        sides = tuple(float(s) for s in self.sides)
        if len(sides) != 3 or min(sides) <= 0 or not all(np.isfinite(sides)):
            raise ValueError(f"a box needs three positive sides, got {self.sides!r}")
        if len(self.periodic) != 3:
            raise ValueError(f"periodic needs three flags, got {self.periodic!r}")
        object.__setattr__(self, "sides", sides)
        object.__setattr__(self, "periodic", tuple(bool(p) for p in self.periodic))

    @classmethod
    def cube(cls, L: float) -> Box:
        """Periodic cube of side ``L``."""
        return cls((L, L, L), (True, True, True))

    @classmethod
    def film(cls, L: float, thickness: float) -> Box:
        """Film: periodic ``L x L`` in the plane, walls at ``z = 0, thickness``."""
        return cls((L, L, thickness), (True, True, False))

    @classmethod
    def closed(cls, L: float) -> Box:
        """Cube of side ``L`` with walls on every side."""
        return cls((L, L, L), (False, False, False))

    @property
    def volume(self) -> float:
        return float(np.prod(self.sides))

    @property
    def kind(self) -> str:
        if all(self.periodic):
            return "cube" if len(set(self.sides)) == 1 else "periodic"
        if self.periodic == (True, True, False):
            return "film"
        return "closed" if not any(self.periodic) else "mixed"

    def displacement(self, d: np.ndarray) -> np.ndarray:
        """Minimum image along the periodic axes, plain difference along the walls."""
        L = np.asarray(self.sides)
        per = np.asarray(self.periodic)
        return d - np.where(per, L * np.round(d / L), 0.0)

    def wrap(self, p: np.ndarray) -> np.ndarray:
        """Map a point into the box (periodic axes); points must already lie between the
        walls of the others."""
        L = np.asarray(self.sides)
        return np.where(np.asarray(self.periodic), np.mod(p, L), p)

    def random_points(self, rng: np.random.Generator, n: int | None = None) -> np.ndarray:
        """Uniformly distributed points (one of shape (3,) if ``n`` is None)."""
        size = 3 if n is None else (int(n), 3)
        return rng.random(size) * np.asarray(self.sides)


class CellList:
    """Cell list of a :class:`Box` (a plain side ``L`` means the periodic cube).

    Parameters
    ----------
    L : float or Box
    cutoff : float
        Interaction range (cells are at least this large).
    """

    def __init__(self, L, cutoff: float):
        self.box = L if isinstance(L, Box) else Box.cube(L)
        sides = np.asarray(self.box.sides)
        self.m = np.maximum(1, np.floor(sides / cutoff)).astype(int)
        self.cell_size = sides / self.m
        # plain-Python copies for the scalar cell_of (numpy on 3-vectors is slow per call)
        self._mt = tuple(int(x) for x in self.m)
        self._cst = tuple(float(x) for x in self.cell_size)
        self._per = tuple(bool(x) for x in self.box.periodic)
        self.cells: list[set[int]] = [set() for _ in range(int(np.prod(self.m)))]
        offs = np.array(np.meshgrid([-1, 0, 1], [-1, 0, 1], [-1, 0, 1], indexing="ij"))
        self._offsets = offs.reshape(3, -1).T
        self._nbr_cache: dict[int, tuple[int, ...]] = {}

    def _linear(self, c: np.ndarray):
        m = self.m
        return (c[..., 0] * m[1] + c[..., 1]) * m[2] + c[..., 2]

    def cell_of(self, p: np.ndarray) -> int:
        """Linear cell index of a point (the same float operations as
        ``floor(p / cell_size)``, wrapped on periodic axes, clipped between walls)."""
        c = [0, 0, 0]
        for k in range(3):
            ck = math.floor(float(p[k]) / self._cst[k])
            mk = self._mt[k]
            c[k] = ck % mk if self._per[k] else min(max(ck, 0), mk - 1)
        return (c[0] * self._mt[1] + c[1]) * self._mt[2] + c[2]

    def _neighbour_cells(self, cell: int) -> tuple[int, ...]:
        got = self._nbr_cache.get(cell)
        if got is None:
            m = self.m
            c = np.array([cell // (m[1] * m[2]), (cell // m[2]) % m[1], cell % m[2]])
            nb = c[None, :] + self._offsets
            per = np.asarray(self.box.periodic)
            inside = np.all(per | ((nb >= 0) & (nb < m)), axis=1)
            nb = np.where(per, nb % m, nb)[inside]
            got = tuple(sorted(set(self._linear(nb).tolist())))
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

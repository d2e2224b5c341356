r"""Restricted additive Schwarz with the cell-block ILU(0) of :mod:`.cellblock_ilu` on
each rank's subdomain: the parallel inner solve of the float32 cell storage (issue 18
§2; :mod:`fvqp.models.transport.schur`).

Each rank's subdomain is its owned cells plus one layer of face neighbours (its ghost
cells), listed in reverse Cuthill-McKee order of the subdomain's part of the *global*
face graph (:func:`fvqp.parallel.overlap.subdomain_cells`, the order PETSc's ASM gets on
the AIJ storage). The subdomain matrix :math:`S_\Omega` is the restriction
:math:`R S R^T` of the global one: the ghost cells' own blocks and couplings to each
other (the faces between two ghosts, :func:`fvqp.parallel.overlap.ghost_faces`), and
their whole diagonal transport entries, which are their owners' (one ghost exchange per
factorisation). One application is (Cai & Sarkis, SIAM J. Sci. Comput. 21, 792 (1999),
Eq. 1.4)

.. math::
    z = \sum_\Omega \tilde R_\Omega^T\, M_\Omega^{-1} R_\Omega\, t,

:math:`M_\Omega` the block ILU(0) of :math:`S_\Omega`, :math:`R_\Omega` the restriction
to the subdomain (a ghost exchange of :math:`t`), :math:`\tilde R_\Omega^T` the
prolongation of its owned rows only. On one rank it is the block ILU(0) of the whole
matrix in RCM order. Memory: the subdomain's :math:`4N^2` bytes per cell, nothing global.
"""

from __future__ import annotations

import numpy as np

from ..parallel.blocked import BlockDistribution
from ..parallel.overlap import face_graph, subdomain_cells
from .cellblock_ilu import CellBlockILU

__all__ = ["CellBlockRAS"]


class CellBlockRAS:
    """Cell-block ILU(0) on this rank's one-layer subdomain, applied as restricted
    additive Schwarz.

    Parameters
    ----------
    cells : fvqp.parallel.Distribution
        The cell distribution (owned cells, then ghosts, as the blocks are numbered).
    N : int
        Unknowns per cell.
    pair_a, pair_b : ndarray of int
        Local cells of every coupled pair of the subdomain: the local face pairs and
        those between two ghost cells.
    keep_matrix : bool
        Keep the subdomain's matrix for :meth:`matvec` (:class:`CellBlockILU`).
    values : {"float32", "int16"}
        How the blocks are stored (:data:`fvqp.solvers.cellblock_ilu.VALUES`).

    Raises
    ------
    ValueError
        If three cells of the global mesh are pairwise neighbours
        (:meth:`CellBlockILU.check`; the same answer on every rank).
    """

    def __init__(self, cells, N: int, pair_a: np.ndarray, pair_b: np.ndarray,
                 keep_matrix: bool = False, values: str = "float32"):
        self.check(cells)
        loc = cells.local
        self.n_owned, self.n_local, self.N = loc.n_owned, loc.n_local, int(N)
        sub, _ = subdomain_cells(cells, 1)  # distribution numbers, elimination order
        local = np.full(cells.n_global, -1, dtype=np.int64)
        local[cells.local_to_global] = np.arange(self.n_local)
        #: local cell of each subdomain position, and the position of each local cell
        self.order = local[sub]
        if len(sub) != self.n_local or np.any(self.order < 0):
            raise RuntimeError("cell-block Schwarz: the one-layer subdomain is not the "
                               "owned + ghost cells of the distribution")
        self.pos = np.empty(self.n_local, dtype=np.int64)
        self.pos[self.order] = np.arange(self.n_local)
        self._a, self._b = self.pos[np.asarray(pair_a)], self.pos[np.asarray(pair_b)]
        #: the subdomain's block ILU(0), cells numbered by position
        self.ilu = CellBlockILU(self.n_local, N, self._a, self._b, keep_matrix, values)
        #: the local cells of the ILU's storage rows, and the storage rows of the owned
        #: cells: this numbering composed with the ILU's (one gather per application)
        self._gather = self.order[self.ilu.order]
        self._scatter = self.ilu.slot[self.pos[:self.n_owned]]
        self._rows = BlockDistribution(cells, N)
        self._work = self._rows.create_vec()

    @staticmethod
    def check(cells) -> None:
        """Raise ValueError if three cells of the global mesh are pairwise neighbours
        (every rank holds the global geometry: the same answer everywhere)."""
        g = face_graph(cells.geometry).tocoo()
        up = g.row < g.col
        CellBlockILU.check(g.shape[0], g.row[up], g.col[up])

    @property
    def iterations(self) -> int:
        """Applications so far."""
        return self.ilu.iterations

    @property
    def blocks(self) -> np.ndarray:
        """The stored blocks (:attr:`CellBlockILU.blocks`)."""
        return self.ilu.blocks

    def begin(self) -> None:
        """Zero the blocks for a new assembly."""
        self.ilu.begin()

    def set_blocks(self, cells: np.ndarray, blocks: np.ndarray) -> None:
        """Write the dense blocks ``(len(cells), N, N)`` of the local ``cells`` (owned
        or ghost)."""
        self.ilu.set_blocks(self.pos[np.asarray(cells)], blocks)

    def add_diagonal(self, diag: np.ndarray) -> None:
        """Add ``diag`` (n_owned, N) to the owned cells' block diagonals, and the owners'
        values to the ghosts' (one ghost exchange, collective)."""
        full = self._rows.ghosted(diag, self._work).reshape(self.n_local, self.N)
        self.ilu.add_diagonal(full[self.order])

    def set_couplings(self, a: np.ndarray, b: np.ndarray, ab: np.ndarray,
                      ba: np.ndarray) -> None:
        """Couplings of the pairs (``a``, ``b`` local, as given to the constructor):
        ``ab`` the entries of row ``a``, column ``b`` (pairs, N), ``ba`` the reverse."""
        self.ilu.set_couplings(self.pos[np.asarray(a)], self.pos[np.asarray(b)], ab, ba)

    def factor(self) -> None:
        """The subdomain's block ILU(0) (:meth:`CellBlockILU.factor`)."""
        self.ilu.factor()

    def solve(self, r: np.ndarray) -> np.ndarray:
        """:math:`z` of the module docstring for the owned ``r`` (n_owned N,): a ghost
        exchange (collective), the subdomain's two sweeps, the owned rows; float64."""
        return self._rows.with_ghosts(
            r, lambda t: self.ilu.solve(t, self._gather, self._scatter), self._work)

    def matvec(self, z: np.ndarray) -> np.ndarray:
        """:math:`S z` in the owned rows for the owned ``z`` (a ghost exchange, then the
        subdomain's kept matrix: an owned cell's row of it is its global row)."""
        return self._rows.with_ghosts(
            z, lambda t: self.ilu.matvec(t, self._gather, self._scatter), self._work)

    def cell_blocks(self, cells: np.ndarray) -> np.ndarray:
        """The stored blocks of the local ``cells`` (:meth:`CellBlockILU.cell_blocks`)."""
        return self.ilu.cell_blocks(self.pos[np.asarray(cells)])

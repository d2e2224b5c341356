"""Several unknowns per cell: the cell distribution seen as a distribution of unknowns.

Energy-resolved models carry a block of ``bs`` unknowns in every cell (``f`` on the energy
grid, then ``n`` on the phonon grid). :class:`BlockDistribution` presents the cells of a
:class:`~fvqp.parallel.Distribution` as ``bs`` consecutive unknowns each, with the
interface the solver layer uses (``local.n_owned``, ``n_global``, ``local_to_global``,
``starts``, ghosted vectors, reductions), so :class:`~fvqp.solvers.NonlinearSolver` and
:class:`~fvqp.solvers.bdf.BDFIntegrator` work on block systems unchanged. Local unknown
``c * bs + k`` is unknown ``k`` of local cell ``c`` (owned cells first, then ghosts).
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from .distribution import GhostedVectors


class BlockDistribution(GhostedVectors):
    """``bs`` unknowns per cell of ``cells`` (a :class:`~fvqp.parallel.Distribution`)."""

    def __init__(self, cells, bs: int):
        from petsc4py import PETSc

        self.cells, self.bs = cells, int(bs)
        self.comm, self.rank, self.size = cells.comm, cells.rank, cells.size
        k = np.arange(self.bs)
        n_own = cells.local.n_owned
        self.local = SimpleNamespace(n_owned=n_own * self.bs,
                                     n_local=cells.local.n_local * self.bs)
        self.n_global = cells.n_global * self.bs
        self.starts = cells.starts * self.bs
        ghosts = (cells.local_to_global[n_own:, None] * self.bs + k).ravel()
        self._template = PETSc.Vec().createGhost(
            ghosts.astype(PETSc.IntType), size=(n_own * self.bs, self.n_global),
            comm=self.comm)

    @property
    def local_to_global(self) -> np.ndarray:
        """Global number of every local unknown, computed on each access: not kept (one
        int64 per unknown, 1.6 KB per cell at 196 unknowns per cell, issue 18 §1); ask
        :meth:`global_index` for some of them."""
        return self.global_index(np.arange(self.local.n_local))

    def global_index(self, local: np.ndarray) -> np.ndarray:
        """Global numbers of the local unknowns ``local``: unknown ``k`` of local cell
        ``c`` (``local = c bs + k``) is ``g(c) bs + k``."""
        c, k = np.divmod(np.asarray(local, dtype=np.int64), self.bs)
        return self.cells.local_to_global[c] * self.bs + k

    def sum(self, value: float) -> float:
        return self.cells.sum(value)

    def max(self, value: float) -> float:
        return self.cells.max(value)

    def bcast(self, obj, root: int = 0):
        return self.cells.bcast(obj, root)

    def gather(self, owned_values: np.ndarray, root: int | None = 0):
        """Owned unknowns of every rank as a ``(n_cells, bs)`` array in file cell order."""
        return self.cells.gather(np.asarray(owned_values).reshape(-1, self.bs), root)

    def scatter(self, full, root: int = 0) -> np.ndarray:
        """Inverse of :meth:`gather`, flattened to owned unknowns."""
        return self.cells.scatter(full, root).ravel()

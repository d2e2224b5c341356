"""A flat vector of unknowns on one rank, with the interface of a cell distribution.

Models without a mesh (a Usadel network, a 0D kinetic state) still solve their systems
with :class:`~fvqp.solvers.NonlinearSolver`, which works on a distribution: the owned
unknowns, their global numbers, ghosted vectors and reductions. :class:`SerialLayout`
is that interface for ``n`` unknowns owned by the calling process alone (``COMM_SELF``,
no ghosts, reductions are the identity). Its vectors are sequential PETSc vectors (not
ghosted MPI ones, whose 2-norm is the square root of a dot product rather than BLAS
``nrm2``: the Krylov iterates of a one-process solve would differ in the last bits).
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from .distribution import GhostedVectors

__all__ = ["FlatLayout", "SerialLayout"]


class FlatLayout(GhostedVectors):
    """A flat vector without ghosts in contiguous blocks over the ranks: rank ``p`` owns
    the unknowns ``starts[p]:starts[p + 1]`` (the layout of the models without a mesh;
    subclasses set the blocks with :meth:`_blocks` and the reductions)."""

    def _blocks(self, comm, rank: int, size: int, starts) -> tuple[int, int]:
        """Set the communicator and the blocks; the owned range ``(lo, hi)``."""
        self.comm, self.rank, self.size = comm, rank, size
        self.starts = np.asarray(starts)
        lo, hi = int(self.starts[rank]), int(self.starts[rank + 1])
        self.local = SimpleNamespace(n_owned=hi - lo, n_local=hi - lo)
        self.n_global = int(self.starts[-1])
        self.local_to_global = np.arange(lo, hi)
        return lo, hi

    def read_local(self, vec, fn):
        """``fn`` on the owned values of a vector (there are no ghosts), read in place
        (:meth:`GhostedVectors.read_local`)."""
        return fn(vec.getArray(readonly=True))

    def to_local(self, x, work) -> np.ndarray:
        return x.getArray(readonly=True).copy()


class SerialLayout(FlatLayout):
    """``n`` unknowns owned by this process (``COMM_SELF``, no ghosts).

    Examples
    --------
    >>> layout = SerialLayout(3)
    >>> layout.local.n_owned, layout.n_global, layout.sum(2.0)
    (3, 3, 2.0)
    """

    def __init__(self, n: int):
        from petsc4py import PETSc

        n = int(n)
        self._blocks(PETSc.COMM_SELF, 0, 1, [0, n])
        self._template = PETSc.Vec().createSeq(n, comm=self.comm)

    def sum(self, value: float) -> float:
        return float(value)

    def max(self, value: float) -> float:
        return float(value)

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

__all__ = ["SerialLayout"]


class SerialLayout(GhostedVectors):
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
        self.comm = PETSc.COMM_SELF
        self.rank, self.size = 0, 1
        self.local = SimpleNamespace(n_owned=n, n_local=n)
        self.n_global = n
        self.starts = np.array([0, n])
        self.local_to_global = np.arange(n)
        self._template = PETSc.Vec().createSeq(n, comm=self.comm)

    def local_array(self, vec) -> np.ndarray:
        """The values of a vector (there are no ghosts), as a numpy copy."""
        return vec.getArray(readonly=True).copy()

    def to_local(self, x, work) -> np.ndarray:
        return x.getArray(readonly=True).copy()

    def sum(self, value: float) -> float:
        return float(value)

    def max(self, value: float) -> float:
        return float(value)

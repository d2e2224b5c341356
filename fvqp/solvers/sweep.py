r"""Transport sweeps as a factorisation in a given order, and the sweep two-level PC.

A model hands over the rank-local (owned rows and columns) block of its operator as a
scipy matrix and an order of its unknowns in which that block is nearly lower triangular
(the sweep order of discrete ordinates, :mod:`fvqp.models.bte.sweep`). :class:`OrderedILU`
permutes the block to that order and factors it by PETSc's ILU(0) with the natural
ordering: on a lower-triangular matrix ILU(0) is exact and its solve is the sweep (one
forward substitution, cost of the nonzeros); the entries above the diagonal (lagged
cycle edges, couplings between ordinates, the angle average) stay in the upper factor,
whose back substitution follows. Nothing but the matrix is stored — no fill.

:class:`SweepTwoLevelPC` is the petsc4py ``python`` PC of a distributed system with that
smoother on every rank's block (block Jacobi over the ranks) and a Galerkin coarse
correction (:class:`fvqp.solvers.twolevel.CoarseCorrection`) applied multiplicatively,
sweep – coarse – sweep (Smith, Bjørstad & Gropp 1996, ch. 2 and 5):

.. math::  y = S r,\quad y \mathrel{+}= P A_c^{-1}R(r - Ay),\quad y \mathrel{+}= S(r - Ay).

With the isotropic coarse space of the bte model this is a diffusion-synthetic
acceleration consistent with the discretisation (Adams & Larsen 2002, Sec. 4).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .options import apply_options, set_from_options
from .twolevel import CoarseCorrection, exact_defaults

__all__ = ["OrderedILU", "SweepTwoLevelPC"]

#: the sweep (options ``<prefix>sweep_*``): ILU(0) in the given order
SWEEP_DEFAULTS: dict[str, object] = {"pc_type": "ilu", "pc_factor_levels": 0,
                                     "pc_factor_mat_ordering_type": "natural"}


class OrderedILU:
    """ILU(0) of a rank-local square matrix in a given order of its unknowns (module
    docstring); :meth:`factor` again for new values, :meth:`solve` on numpy arrays.

    Parameters
    ----------
    order : ndarray of int
        The unknowns in sweep order (a permutation of ``range(n)``).
    prefix : str
        Options prefix of the factorisation (``<prefix>pc_type`` etc.,
        :data:`SWEEP_DEFAULTS`; the command line wins).
    """

    def __init__(self, order: np.ndarray, prefix: str = "sweep_"):
        from petsc4py import PETSc

        self.order = np.asarray(order, dtype=np.int64)
        self.prefix = prefix
        apply_options(prefix, SWEEP_DEFAULTS)
        self.pc = PETSc.PC().create(comm=PETSc.COMM_SELF)
        self.pc.setOptionsPrefix(prefix)
        self.mat = None
        n = len(self.order)
        self._x = PETSc.Vec().createSeq(n, comm=PETSc.COMM_SELF)
        self._y = PETSc.Vec().createSeq(n, comm=PETSc.COMM_SELF)

    def factor(self, m: sp.spmatrix) -> None:
        """Factor the square rank-local matrix ``m`` (natural numbering) in the order."""
        from petsc4py import PETSc

        o = self.order
        a = sp.csr_matrix(m)[o][:, o].tocsr()
        a.sum_duplicates()
        a.sort_indices()
        it = PETSc.IntType
        mat = PETSc.Mat().createAIJ(size=a.shape, comm=PETSc.COMM_SELF,
                                    csr=(a.indptr.astype(it), a.indices.astype(it), a.data))
        self.pc.setOperators(mat, mat)
        if self.mat is None:
            set_from_options(self.pc, self.prefix)
        else:
            self.mat.destroy()
        self.mat = mat
        self.pc.setUp()

    def solve(self, r: np.ndarray) -> np.ndarray:
        """The sweep :math:`\\tilde A^{-1}r` (natural numbering in and out)."""
        self._x.setArray(np.ascontiguousarray(r[self.order]))
        self.pc.apply(self._x, self._y)
        out = np.empty(len(self.order))
        out[self.order] = self._y.getArray()
        return out

    def destroy(self) -> None:
        for o in (self.pc, self.mat, self._x, self._y):
            if o is not None:
                o.destroy()
        self.mat = None


class SweepTwoLevelPC:
    r"""petsc4py ``python`` PC context: sweep – Galerkin coarse correction – sweep
    (module docstring).

    Parameters
    ----------
    A : petsc4py.PETSc.Mat
        The distributed fine operator.
    local : scipy sparse matrix
        This rank's owned rows and columns of ``A`` (natural local numbering).
    order : ndarray of int
        Sweep order of the owned unknowns (:class:`OrderedILU`).
    R, P : scipy sparse matrices, optional
        Rank-local restriction and prolongation of the coarse space; None: the sweep
        alone (block Jacobi of sweeps over the ranks).
    prefix : str
        Options prefix of the outer KSP: the sweep reads ``<prefix>sweep_*``, the coarse
        solve ``<prefix>coarse_*`` (exact LU by default, :func:`exact_defaults`).
    post : bool
        Sweep again after the coarse correction (symmetric cycle).
    """

    def __init__(self, A, local, order, R=None, P=None, prefix: str = "bte_",
                 post: bool = True):
        self.A, self.post = A, post
        self.sweep = OrderedILU(order, prefix + "sweep_")
        self.sweep.factor(local)
        self.coarse = None
        if R is not None:
            comm = A.getComm()
            self.coarse = CoarseCorrection(comm, R, P, prefix + "coarse_",
                                           exact_defaults(comm))
            self.coarse.set_galerkin(A)
        self.t = A.createVecLeft()
        self.z = A.createVecLeft()

    def _smooth(self, x, y) -> None:
        """``y = S x`` on PETSc vectors."""
        y.setArray(self.sweep.solve(x.getArray(readonly=True)))

    def apply(self, pc, x, y) -> None:
        self._smooth(x, y)
        if self.coarse is None:
            return
        self.A.mult(y, self.t)
        self.t.aypx(-1.0, x)               # t = x - A y
        self.coarse.add_correction(self.t, y)
        if self.post:
            self.A.mult(y, self.t)
            self.t.aypx(-1.0, x)
            self._smooth(self.t, self.z)
            y.axpy(1.0, self.z)

    def destroy(self, pc=None) -> None:
        self.sweep.destroy()
        for o in (self.t, self.z):
            o.destroy()
        if self.coarse is not None:
            self.coarse.destroy()

r"""Two-level preconditioning: a coarse correction on a space chosen by the physics.

A model describes its coarse space with numbers — a restriction :math:`R` (coarse
unknowns of this rank from its owned fine unknowns) and a prolongation :math:`P` (the
reverse), both rank-local scipy matrices, and either a fine operator whose Galerkin
product :math:`A_c = RAP` is the coarse operator, or the coarse operator itself, assembled
by the model (owned rows, global columns). This module builds the PETSc objects: the
distributed coarse matrix, its KSP under an options prefix (defaults, then the case's
options, ``setFromOptions`` last so the command line wins, :mod:`.options`), and the
one-level smoother of :class:`TwoLevelPC`. The correction is

.. math::  z = P A_c^{-1} R\,r,

and applied multiplicatively after a one-level preconditioner :math:`B` (Smith, Bjørstad
& Gropp 1996, ch. 2 and 5; Mandel 1993),

.. math::  y = B r,\quad y \mathrel{+}= P A_c^{-1} R\,(r - A y).

Users: :mod:`fvqp.models.bte.coarse` (isotropic coarse space of the per-bin transport
systems, Galerkin, GAMG) and :mod:`fvqp.models.bte.coupled_coarse` (isotropic coarse space
of the coupled Newton systems, assembled by the model, exact LU). The aggregation coarse
space of the transport Schur complement, summed over the ranks and factored redundantly
without PETSc, is :class:`fvqp.parallel.coarse.AggregateCoarse`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import scipy.sparse as sp

from .linear import LinearSolver, csr_matrix
from .options import apply_options, set_from_options

__all__ = ["BLOCK_JACOBI_DEFAULTS", "CoarseCorrection", "TwoLevelPC", "exact_defaults"]

#: one-level smoother of :class:`TwoLevelPC` (options ``<prefix>bj_*``)
BLOCK_JACOBI_DEFAULTS: dict[str, object] = {
    "pc_type": "bjacobi", "sub_pc_type": "lu", "sub_pc_factor_mat_ordering_type": "rcm"}
#: coarse solve of :class:`TwoLevelPC` (options ``<prefix>coarse_*``): one AMG V-cycle
GALERKIN_COARSE_DEFAULTS: dict[str, object] = {"ksp_type": "preonly", "pc_type": "gamg"}


def exact_defaults(comm) -> dict[str, object]:
    """Options of an exact coarse solve: LU, on several ranks the redundant LU of the
    whole coarse matrix on every rank."""
    if comm.getSize() > 1:
        return {"ksp_type": "preonly", "pc_type": "redundant", "redundant_pc_type": "lu"}
    return {"ksp_type": "preonly", "pc_type": "lu"}


def _mat(comm, m: sp.csr_matrix, col_start: int, n_cols_local: int):
    """A distributed AIJ matrix from rank-local rows/columns ``m`` (the owned block of a
    block-diagonal operator): global indices are ``start + local``."""
    from petsc4py import PETSc

    m = sp.csr_matrix(m)
    m.sort_indices()
    it = PETSc.IntType
    return PETSc.Mat().createAIJ(
        size=((m.shape[0], None), (n_cols_local, None)), comm=comm,
        csr=(m.indptr.astype(it), (m.indices + col_start).astype(it), m.data))


class CoarseCorrection:
    r"""The coarse level :math:`z = P A_c^{-1} R r` (module docstring).

    Parameters
    ----------
    comm : petsc4py.PETSc.Comm
        Communicator of the fine (and coarse) system.
    R : scipy sparse matrix, shape (n_coarse, n_fine)
        Restriction from this rank's owned fine unknowns to its owned coarse unknowns.
    P : scipy sparse matrix, shape (n_fine, n_coarse)
        Prolongation, owned coarse to owned fine unknowns.
    prefix : str
        Options prefix of the coarse KSP (e.g. ``"bte_icoarse_"``).
    defaults, options : mapping, optional
        PETSc options of the coarse solve without the prefix: defaults (e.g.
        :func:`exact_defaults`), then the user's; the command line wins.
    """

    def __init__(self, comm, R, P, prefix: str, defaults: Mapping | None = None,
                 options: Mapping | None = None):
        self.comm, self.prefix = comm, prefix
        self.R, self.P = sp.csr_matrix(R), sp.csr_matrix(P)
        apply_options(prefix, {**(defaults or {}), **(options or {})})
        self.solver: LinearSolver | None = None
        self._Rm = self._Pm = None
        self._rc = self._ec = None

    # ---- the coarse operator ----------------------------------------------------------
    def set_matrix(self, C: sp.csr_matrix) -> None:
        """Use ``C`` (owned coarse rows, *global* coarse columns, square) as the coarse
        operator, and factor it (a previous operator is freed)."""
        C = sp.csr_matrix(C)
        C.sum_duplicates()
        C.sort_indices()
        mat = csr_matrix(self.comm, C, C.shape[1])
        if self.solver is None:
            self.solver = LinearSolver(mat, self.prefix)  # options inserted at __init__
        else:
            self.solver.mat.destroy()
            self.solver.mat = mat
            self.solver.set_operators(mat)
        self.solver.ksp.setUp()

    def set_galerkin(self, A) -> None:
        """Use the Galerkin product :math:`RAP` of the distributed fine operator ``A``
        (a PETSc matrix on the owned fine unknowns) as the coarse operator."""
        if self._Rm is None:
            lo = A.getOwnershipRange()[0]
            self._Rm = _mat(self.comm, self.R, lo, self.R.shape[1])
            c0 = self._Rm.getOwnershipRange()[0]
            self._Pm = _mat(self.comm, self.P, c0, self.P.shape[1])
        AP = A.matMult(self._Pm)
        Ac = self._Rm.matMult(AP)
        AP.destroy()
        if self.solver is not None:
            self.solver.destroy()
        self.solver = LinearSolver(Ac, self.prefix)
        self.solver.ksp.setUp()
        self._rc, self._ec = Ac.createVecs()

    # ---- the correction ---------------------------------------------------------------
    def correct(self, r: np.ndarray) -> np.ndarray:
        """:math:`P A_c^{-1} R\\,r` for the owned fine residual ``r`` (numpy)."""
        return self.P @ self.solver.solve(self.R @ r)

    def add_correction(self, t, y) -> None:
        """``y += P A_c^{-1} R t`` on PETSc vectors of the fine layout (after
        :meth:`set_galerkin`)."""
        self._Rm.mult(t, self._rc)
        self.solver.ksp.solve(self._rc, self._ec)
        self._Pm.multAdd(self._ec, y, y)

    @property
    def iterations(self) -> int:
        """Krylov iterations of all coarse solves."""
        return 0 if self.solver is None else self.solver.iterations

    def destroy(self) -> None:
        """Free the coarse matrix, its factorisation and the transfer matrices."""
        if self.solver is not None:
            self.solver.destroy()
            self.solver = None
        for o in (self._Rm, self._Pm, self._rc, self._ec):
            if o is not None:
                o.destroy()
        self._Rm = self._Pm = self._rc = self._ec = None


class TwoLevelPC:
    r"""petsc4py ``python`` PC context: block Jacobi, then the Galerkin coarse correction
    on the space ``(R, P)`` (module docstring).

    Parameters
    ----------
    A : petsc4py.PETSc.Mat
        The fine operator.
    R, P : scipy sparse matrices
        Rank-local restriction and prolongation (:class:`CoarseCorrection`).
    prefix : str
        Options prefix of the outer KSP; the block Jacobi stage reads ``<prefix>bj_*``
        (:data:`BLOCK_JACOBI_DEFAULTS`: LU per subdomain, RCM ordering), the coarse solve
        ``<prefix>coarse_*`` (one GAMG V-cycle by default).
    """

    def __init__(self, A, R, P, prefix: str):
        from petsc4py import PETSc

        self.A = A
        comm = A.getComm()
        apply_options(prefix + "bj_", BLOCK_JACOBI_DEFAULTS)
        self.coarse = CoarseCorrection(comm, R, P, prefix + "coarse_",
                                       GALERKIN_COARSE_DEFAULTS)
        self.bj = PETSc.PC().create(comm=comm)
        self.bj.setOperators(A, A)
        self.bj.setOptionsPrefix(prefix + "bj_")
        set_from_options(self.bj, prefix + "bj_")
        self.bj.setUp()
        self.coarse.set_galerkin(A)
        self.t = A.createVecLeft()

    def apply(self, pc, x, y) -> None:
        self.bj.apply(x, y)
        self.A.mult(y, self.t)
        self.t.aypx(-1.0, x)           # t = x - A y
        self.coarse.add_correction(self.t, y)

    def destroy(self, pc=None) -> None:
        for o in (self.bj, self.t):
            o.destroy()
        self.coarse.destroy()

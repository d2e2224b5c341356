"""Krylov solves of an assembled PETSc matrix, configured under an options prefix.

The preconditioners built from a model's structure (e.g. the Schur complement of
:mod:`fvqp.models.transport.schur`) describe their matrices (:mod:`.blockcsr`) and the
subdomains they want; this module builds the KSP: defaults, then the case's options,
under the prefix, then ``setFromOptions`` last so the command line wins
(:mod:`.options`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .options import apply_options, set_from_options

__all__ = ["LinearSolver", "option_value"]


def option_value(name: str, default):
    """The value of the option ``name`` (with its prefix) in PETSc's database, of the
    type of ``default`` (str, int, float or bool), or ``default`` if it is not set."""
    from petsc4py import PETSc

    db = PETSc.Options()
    get = {bool: db.getBool, int: db.getInt, float: db.getReal}.get(type(default),
                                                                     db.getString)
    return get(name, default)


class LinearSolver:
    """A KSP on the matrix ``mat`` under ``prefix``.

    Parameters
    ----------
    mat : petsc4py.PETSc.Mat
        The operator (and preconditioning matrix); its values may be rewritten in place
        between solves (call :meth:`set_operators` after each rewrite).
    prefix : str
        Options prefix, e.g. ``"transport_schur_"``.
    defaults, options : mapping, optional
        PETSc options without the prefix: the caller's defaults, then the user's (case
        file); ``sub_*`` defaults are dropped unless the PC has sub-solvers (bjacobi, asm).
    subdomains : tuple of ndarray, optional
        ``(rows, owned_rows)``: global row numbers of this rank's additive-Schwarz
        subdomain, in the order its factorisation should eliminate them, and the owned
        ones among them. Used when the PC type is ``asm`` (passed unsorted, overlap 0 on
        top).
    """

    def __init__(self, mat, prefix: str, defaults: Mapping | None = None,
                 options: Mapping | None = None, subdomains=None):
        from petsc4py import PETSc

        self.mat, self.prefix = mat, prefix
        user = dict(options or {})
        opts = {**(defaults or {}), **user}
        if opts.get("pc_type") not in ("bjacobi", "asm"):  # no sub-solvers
            opts = {k: v for k, v in opts.items() if not k.startswith("sub_") or k in user}
        apply_options(prefix, opts)
        self.ksp = PETSc.KSP().create(comm=mat.getComm())
        self.ksp.setOperators(mat)
        self.ksp.setOptionsPrefix(prefix)
        if subdomains is not None and option_value(prefix + "pc_type", "") == "asm":
            rows, owned = (PETSc.IS().createGeneral(np.asarray(r).astype(PETSc.IntType),
                                                    comm=PETSc.COMM_SELF)
                           for r in subdomains)
            pc = self.ksp.getPC()
            pc.setType("asm")
            pc.setASMLocalSubdomains(1, [rows], [owned])
            pc.setASMOverlap(0)
            pc.setASMSortIndices(False)
        set_from_options(self.ksp, prefix)  # last: the command line wins
        self._rhs, self._sol = mat.createVecs()
        self._res = None
        #: Krylov iterations of all solves (at least 1 per solve)
        self.iterations = 0

    def set_operators(self, mat=None) -> None:
        """Tell the KSP that the matrix values changed (refactor the preconditioner)."""
        self.ksp.setOperators(self.mat if mat is None else mat)

    def solve(self, b: np.ndarray) -> np.ndarray:
        """:math:`A^{-1} b` (owned rows) to the KSP's tolerance."""
        self._rhs.setArray(b)
        self.ksp.solve(self._rhs, self._sol)
        self.iterations += max(int(self.ksp.getIterationNumber()), 1)
        return self._sol.getArray().copy()

    def last_iterations(self) -> int:
        """Krylov iterations of the last solve."""
        return int(self.ksp.getIterationNumber())

    def residual(self, b: np.ndarray, x: np.ndarray) -> np.ndarray:
        """:math:`b - A x` (owned rows)."""
        if self._res is None:
            self._res = self.mat.createVecs()[0]
        self._sol.setArray(x)
        self.mat.mult(self._sol, self._res)
        return b - self._res.getArray()

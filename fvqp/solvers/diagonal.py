"""Assembled systems that differ from cached matrices only by a diagonal shift, solved
by one KSP per system size.

A family of linear systems whose diagonal changes from solve to solve (e.g. the phonon
systems of :mod:`fvqp.models.phonon.problem` with the chip chain's film absorption
rates, :mod:`fvqp.models.bte_chip.coupling`) keeps each matrix once: the shifted
diagonal, the matrix's own plus the shift, is written into it (values only), and one KSP
of that size is pointed at it, whose preconditioner is then set up anew. The Krylov work
vectors and the factorisation exist once per size, not once per system: the memory of
the cached systems is that of their matrices. A shift of zero gives the matrix's own
values back exactly.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .linear import LinearSolver

__all__ = ["ShiftedSystems"]


class ShiftedSystems:
    """Cached matrices by key, their own diagonals, and one KSP per size.

    Parameters
    ----------
    prefix : str
        Options prefix of the KSPs (the options are already in the database).
    """

    def __init__(self, prefix: str):
        self.prefix = prefix
        self._mats: dict = {}
        self._ksp: dict = {}

    def solver(self, key, build: Callable, shift: np.ndarray | None) -> LinearSolver:
        """The KSP of the system ``key`` (its PETSc matrix built once by ``build()``)
        with ``shift`` (owned rows; None: 0) added to the matrix's own diagonal."""
        if key not in self._mats:
            mat = build()
            base = mat.getDiagonal()
            self._mats[key] = (mat, base, base.duplicate())
        mat, base, work = self._mats[key]
        own = base.getArray(readonly=True)
        work.setArray(own if shift is None else own + shift)
        mat.setDiagonal(work)
        size = mat.getSizes()
        if size not in self._ksp:
            self._ksp[size] = LinearSolver(mat, self.prefix)
        s = self._ksp[size]
        s.set_operators(mat)
        return s

    def release(self) -> None:
        """Destroy the KSPs, the matrices and their diagonals."""
        for s in self._ksp.values():
            s.destroy()
        for mat, base, work in self._mats.values():
            for o in (mat, base, work):
                o.destroy()
        self._ksp.clear()
        self._mats.clear()

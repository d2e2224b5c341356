"""A shift of an assembled operator's diagonal in place, undone exactly.

A family of linear systems that differ from a cached one only on the diagonal (e.g. the
phonon systems of :mod:`fvqp.models.phonon.problem` with the chip chain's film
absorption rates, :mod:`fvqp.models.bte_chip.coupling`) keeps one matrix, one KSP and the
symbolic part of its factorisation: the new diagonal is written into the matrix (values
only) and the preconditioner is refactored numerically on the next solve. The matrix's
own diagonal is kept, so a shift of zero gives the cached system back bit for bit.
"""

from __future__ import annotations

import numpy as np

from .linear import LinearSolver

__all__ = ["DiagonalShifts"]


class DiagonalShifts:
    """Per cached solver (by a key), its own diagonal and the shift on it."""

    def __init__(self):
        self._diag: dict = {}

    def apply(self, key, solver: LinearSolver, shift: np.ndarray | None) -> LinearSolver:
        """``solver`` with ``shift`` (owned rows) added to its own diagonal, in place;
        None: its own diagonal back (nothing to do if it was never shifted)."""
        if key not in self._diag:
            if shift is None:
                return solver
            base = solver.mat.getDiagonal()
            self._diag[key] = [base, base.duplicate(), False]
        base, work, on = self._diag[key]
        if shift is None:
            if on:
                solver.mat.setDiagonal(base)
                solver.set_operators()
                self._diag[key][2] = False
            return solver
        work.setArray(base.getArray(readonly=True) + shift)
        solver.mat.setDiagonal(work)
        solver.set_operators()
        self._diag[key][2] = True
        return solver

    def release(self) -> None:
        """Free the kept diagonals (the solvers are their owner's to destroy)."""
        for base, work, _ in self._diag.values():
            base.destroy()
            work.destroy()
        self._diag.clear()

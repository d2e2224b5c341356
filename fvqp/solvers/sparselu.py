"""Exact LU of a sparse matrix held by one process: its pattern fixed once, its values
refreshed and refactorised many times (PETSc's LU).

A model preconditioner that is a direct solve of blocks it gathered on one process (the
energy blocks of :mod:`fvqp.models.bte_sphere.precond`) describes the matrix by its
entries' rows and columns; this module builds the sequential AIJ matrix and the
``preonly`` + LU KSP under an options prefix (defaults, then the command line:
``-<prefix>pc_factor_mat_ordering_type rcm``), refactorises on new values (PETSc keeps
the symbolic factorisation of the fixed pattern: numeric factorisation only) and solves.

Invariant: the factorisation has no row interchanges (PETSc's LU pivots on the diagonal),
so the natural ordering of a block-diagonal matrix keeps every block's factors inside
the block: the factors and the solution of a block do not depend on the other blocks or
on which process holds it. A failed factorisation (a zero pivot) is reported
(``numpy.linalg.LinAlgError`` naming the prefix and PETSc's reason), never shifted
silently.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .linear import LinearSolver

__all__ = ["LU_DEFAULTS", "SparseLU"]

#: PETSc options of the LU (without the prefix): no Krylov iteration, natural ordering
#: (block-diagonal matrices keep their blocks apart), no pivot shift (a zero pivot is an
#: error, :class:`SparseLU`)
LU_DEFAULTS = {"ksp_type": "preonly", "pc_type": "lu",
               "pc_factor_mat_ordering_type": "natural", "pc_factor_shift_type": "none"}


def _in_csr_order(rows: np.ndarray, cols: np.ndarray, chunk: int = 1 << 20) -> bool:
    """Whether the entries are strictly ascending by row, then column (checked in
    chunks: no entry-sized temporaries)."""
    for a in range(0, max(len(rows) - 1, 0), chunk):
        r, c = rows[a:a + chunk + 1], cols[a:a + chunk + 1]
        dr = np.diff(r)
        if np.any(dr < 0) or np.any((dr == 0) & (np.diff(c) <= 0)):
            return False
    return True


class SparseLU:
    """``A^{-1} b`` by PETSc's sparse LU of a matrix on this process.

    Parameters
    ----------
    rows, cols : ndarray of int
        Row and column of every entry, ``0 <= rows, cols < n`` (distinct pairs).
    n : int
        Order of the matrix.
    prefix : str
        Options prefix of the KSP (e.g. ``"bte_sphere_eblock_"``).
    options : mapping, optional
        PETSc options (without the prefix) over :data:`LU_DEFAULTS`.

    Notes
    -----
    The entries are given once; :meth:`factor` takes their values in the same order
    (written into the matrix's own CSR values, through positions found here unless the
    entries come in CSR order), :meth:`solve` applies the factors. Cost on the 574
    energy blocks of 320 rows of ``bte_sphere_sn_packet`` (183 680 rows, 1.24 M
    entries, 2.4 M in the factors), one thread: 7.7 ms per numeric factorisation,
    1.5-1.7 ms per solve (LAPACK's band LU of the same blocks, ``k_l = k_u = 8``: 15 ms
    and 4.3 ms — the band stores the zeros inside it).
    """

    def __init__(self, rows: np.ndarray, cols: np.ndarray, n: int, prefix: str,
                 options: Mapping | None = None):
        from petsc4py import PETSc

        rows = np.asarray(rows, dtype=np.int64)
        cols = np.asarray(cols, dtype=np.int64)
        self.n = int(n)
        #: position of every entry (in the order given) in the CSR values; None when
        #: the entries come in CSR order (row, then column)
        self.positions = None
        order = slice(None)
        if not _in_csr_order(rows, cols):
            order = np.lexsort((cols, rows))
            if np.any((np.diff(rows[order]) == 0) & (np.diff(cols[order]) == 0)):
                raise ValueError("SparseLU: an entry is given twice (rows and cols must "
                                 "be distinct pairs)")
            self.positions = np.empty(len(order), dtype=np.int64)
            self.positions[order] = np.arange(len(order))
        self._indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=self.n))]
                                      ).astype(PETSc.IntType)
        self._indices = cols[order].astype(PETSc.IntType)
        #: the matrix's values: PETSc's AIJ matrix uses this array itself (no copy), so
        #: writing it and assembling is all a refactorisation needs
        self._values = np.zeros(len(rows))
        self._solver = None
        if self.n:
            mat = PETSc.Mat().createAIJWithArrays(
                size=(self.n, self.n), comm=PETSc.COMM_SELF,
                csr=(self._indptr, self._indices, self._values))
            self._solver = LinearSolver(mat, prefix, LU_DEFAULTS, options)
        #: numeric factorisations done
        self.factorisations = 0

    @property
    def values(self) -> np.ndarray:
        """The matrix's own values in CSR order (row, then column): a caller that writes
        them in place calls :meth:`factor` without ``data`` (no copy)."""
        return self._values

    def factor(self, data: np.ndarray | None = None) -> None:
        """Factorise the matrix with entry values ``data`` (in the order of ``rows``,
        ``cols``; None: the values already written into :attr:`values`). Raises
        ``numpy.linalg.LinAlgError`` on a zero pivot."""
        if self._solver is None:
            return
        if data is None:
            pass
        elif self.positions is None:
            self._values[:] = data
        else:
            self._values[self.positions] = data
        mat = self._solver.mat
        mat.assemble()  # new values: the matrix's state advances, the PC refactorises
        self._solver.set_operators()
        ksp = self._solver.ksp
        ksp.setUp()
        pc = ksp.getPC()
        reason = int(pc.getFailedReason())
        if reason != 0:
            from petsc4py import PETSc

            names = {v: k for k, v in vars(PETSc.PC.FailedReason).items()
                     if not k.startswith("_")}
            raise np.linalg.LinAlgError(
                f"sparse LU ({ksp.getOptionsPrefix()}): PETSc's factorisation failed "
                f"({names.get(reason, reason)}): a zero pivot means the matrix is "
                "singular at these values")
        self.factorisations += 1

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        """``A^{-1} rhs`` with the last factorisation."""
        if self._solver is None:
            return np.zeros(0)
        return self._solver.solve(np.asarray(rhs, dtype=float))

    def destroy(self) -> None:
        """Free the KSP, the factors and the matrix."""
        if self._solver is not None:
            self._solver.destroy()
            self._solver = None

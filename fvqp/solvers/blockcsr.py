r"""Memory-lean "dense cell blocks + energy-diagonal couplings" matrices, without copies.

Matrices of dense cell blocks coupled diagonally in energy between neighbouring cells
(the QP Schur complement of :mod:`fvqp.models.transport.schur`, the phonon diffusion of
:mod:`fvqp.models.transport.phonon_pc`) have, in the row of cell :math:`c` and bin
:math:`i`, the dense block row :math:`S_c[i, :]` (columns of cell
:math:`c`) and one entry per neighbour cell (column :math:`(b, i)`). At the issue's target
size (53 000 cells, 64 bins) this is 2.5e8 entries (3 GB with its column indices). The
CSR structure is written down directly — the generic COO assembler
(:class:`.nonlinear.SparseAssembler`, which sorts all keys) would need several
times that in temporaries — and handed to PETSc **without a copy**
(``MatCreateSeqAIJWithArrays`` serially, ``MatCreateMPIAIJWithSplitArrays`` on several
ranks): :attr:`CellBlockCSR.data` *is* the matrix's value array, rewritten in place at
every update. Only the factorisation of the preconditioner adds a second copy.

Layout. PETSc's parallel AIJ format splits the local rows into a "diagonal" part
(columns of owned cells, local numbering) and an "off-diagonal" part (columns of ghost
cells, global numbering); :attr:`data` holds both, diagonal part first. In the diagonal
part the row ``(c, i)`` lists the owned neighbours with a lower global number, then the
block of ``c``, then the other owned neighbours; in the off-diagonal part the ghost
neighbours in increasing global number. Every row is sorted by construction and the
value positions of the block and of every face coupling are known in closed form.
"""

from __future__ import annotations

import numpy as np

from ..setops import distinct

__all__ = ["CellBlockCSR"]

#: cells per vectorised block write (positions ~ CELLS N^2 integers)
CELLS = 2048


class _Part:
    """One CSR part (``block``: with the dense block of the row's own cell)."""

    def __init__(self, nb_cell, nb_g, g, n: int, N: int, block: bool, offset: int = 0):
        self.nb_cell, self.nb_g, self.N, self.block = nb_cell, nb_g, N, block
        self.ptr = np.searchsorted(nb_cell, np.arange(n + 1))
        self.low = np.zeros(n, dtype=np.int64)
        if block:  # neighbours before the block: global number below the cell's
            self.low = np.searchsorted(nb_cell * (g.max() + 1) + nb_g,
                                       np.arange(n) * (g.max() + 1) + g[:n])
            self.low -= self.ptr[:-1]
        self.deg = np.diff(self.ptr)
        width = self.deg + (N if block else 0)
        self.rowptr = np.concatenate([[0], np.cumsum(np.repeat(width, N))]).astype(np.int64)
        self.offset = offset
        self.base = g.max() + 1

    @property
    def nnz(self) -> int:
        return int(self.rowptr[-1])

    def block_start(self, cs: np.ndarray) -> np.ndarray:
        """First block position of the rows of cells ``cs``, shape (len(cs), N)."""
        return (self.offset + self.rowptr[cs[:, None] * self.N + np.arange(self.N)]
                + self.low[cs, None])

    def coupling(self, cell: np.ndarray, other_g: np.ndarray) -> np.ndarray:
        """Positions of ``((c, i), (other, i))``, shape (len(cell), N)."""
        k = np.searchsorted(self.nb_cell * self.base + self.nb_g, cell * self.base + other_g)
        slot = k - self.ptr[cell]
        shift = np.where(self.block & (slot >= self.low[cell]), self.N, 0)
        return (self.offset + self.rowptr[cell[:, None] * self.N + np.arange(self.N)]
                + (slot + shift)[:, None])

    def indices(self, g_own: np.ndarray, col_of) -> np.ndarray:
        """Column indices in CSR order; ``col_of(global cell)`` gives the column of bin 0."""
        from petsc4py import PETSc

        N, e = self.N, np.arange(self.N)
        out = np.empty(self.nnz, dtype=PETSc.IntType)
        if self.block:
            for s in range(0, len(g_own), CELLS):
                cs = np.arange(s, min(len(g_own), s + CELLS))
                start = self.block_start(cs) - self.offset
                out[start[:, :, None] + e] = col_of(g_own[cs])[:, None, None] + e
        slot = np.arange(len(self.nb_cell)) - self.ptr[self.nb_cell]
        after = self.block & (slot >= self.low[self.nb_cell])
        pos = (self.rowptr[self.nb_cell[:, None] * N + e] + slot[:, None]
               + np.where(after, N, 0)[:, None])
        out[pos] = col_of(self.nb_g)[:, None] + e
        return out


class CellBlockCSR:
    """CSR structure and values of a dense-block + neighbour-coupling matrix.

    Parameters
    ----------
    cells : fvqp.parallel.Distribution
        Cell distribution (owned cells first in local numbering, ghosts after).
    N : int
        Unknowns per cell.
    pair_a, pair_b : ndarray of int
        Local cells coupled by face transport (either may be a ghost, not both).
    """

    def __init__(self, cells, N: int, pair_a: np.ndarray, pair_b: np.ndarray):
        self.N, n = int(N), cells.local.n_owned
        self.n = n
        g = cells.local_to_global.astype(np.int64)
        self.g = g
        self.lo = int(cells.starts[cells.rank])
        hi = int(cells.starts[cells.rank + 1])
        # neighbour lists of owned cells, sorted by global number, duplicates merged
        r = np.concatenate([pair_a, pair_b])
        c = np.concatenate([pair_b, pair_a])
        own = r < n
        key = distinct(r[own] * (g.max() + 1) + g[c[own]])
        nb_cell, nb_g = key // (g.max() + 1), key % (g.max() + 1)
        inside = (nb_g >= self.lo) & (nb_g < hi)
        self._diag = _Part(nb_cell[inside], nb_g[inside], g, n, self.N, block=True)
        self._off = _Part(nb_cell[~inside], nb_g[~inside], g, n, self.N, block=False,
                          offset=self._diag.nnz)
        #: the matrix values (diagonal part, then off-diagonal part), shared with PETSc
        #: once :meth:`create_matrix` has been called
        self.data = None

    def begin(self) -> None:
        """Zero the values for a new assembly (in place: PETSc holds this array)."""
        if self.data is None:
            self.data = np.zeros(self._diag.nnz + self._off.nnz)
        else:
            self.data[:] = 0.0

    def diagonal_positions(self, cell: np.ndarray) -> np.ndarray:
        """Positions of the entries ``((c, i), (c, i))``, shape (len(cell), N)."""
        return self._diag.block_start(np.asarray(cell)) + np.arange(self.N)

    def coupling_positions(self, cell: np.ndarray, other: np.ndarray) -> np.ndarray:
        """Positions of ``((c, i), (b, i))`` for owned ``c`` and local neighbour ``b``."""
        cell, other = np.asarray(cell), np.asarray(other)
        out = np.empty((len(cell), self.N), dtype=np.int64)
        ghost = other >= self.n
        out[~ghost] = self._diag.coupling(cell[~ghost], self.g[other[~ghost]])
        out[ghost] = self._off.coupling(cell[ghost], self.g[other[ghost]])
        return out

    def set_blocks(self, cs: np.ndarray, blocks: np.ndarray) -> None:
        """Write dense blocks ``(len(cs), N, N)`` of owned cells ``cs``."""
        start = self._diag.block_start(np.asarray(cs))
        self.data[start[:, :, None] + np.arange(self.N)] = blocks

    def create_matrix(self, comm):
        """The PETSc AIJ matrix on :attr:`data` (no copy of values or structure)."""
        from petsc4py import PETSc

        if self._diag.nnz + self._off.nnz > np.iinfo(PETSc.IntType).max:
            raise OverflowError(
                f"{self._diag.nnz + self._off.nnz} matrix entries on one rank exceed "
                f"PETSc's {np.dtype(PETSc.IntType).name} indices; run on more ranks or "
                "with fewer energy bins")
        self.begin()
        N, lo = self.N, self.lo
        g_own = self.g[:self.n]
        d = self._diag
        diag = (d.rowptr.astype(PETSc.IntType), d.indices(g_own, lambda x: (x - lo) * N),
                self.data[:d.nnz])
        size = ((self.n * N, PETSc.DETERMINE), (self.n * N, PETSc.DETERMINE))
        if comm.getSize() == 1:
            csr = diag
        else:
            o = self._off
            csr = (diag, (o.rowptr.astype(PETSc.IntType), o.indices(g_own, lambda x: x * N),
                          self.data[d.nnz:]))
        mat = PETSc.Mat().createAIJWithArrays(size, csr, comm=comm)
        shared = mat.getAttr("__csr__")
        values = shared[2] if comm.getSize() == 1 else shared[0][2]
        if not np.shares_memory(values, self.data):  # a copy would silently freeze values
            raise RuntimeError("PETSc copied the matrix values; in-place updates would be "
                               "lost")
        return mat

    def assemble(self, mat) -> None:
        """Publish the values written into :attr:`data` (PETSc already holds the array:
        only the matrix state changes, so that a preconditioner refactors)."""
        mat.assemble()
        mat.stateIncrease()

r"""Memory-lean assembly of "dense cell blocks + energy-diagonal couplings" matrices.

The QP Schur complement of :mod:`fvqp.models.transport.schur` has, in the row of cell
:math:`c` and bin :math:`i`, the dense block row :math:`S_c[i, :]` (columns of cell
:math:`c`) and one entry per neighbour cell (column :math:`(b, i)`). At the issue's target
size (53 000 cells, 64 bins) this is 2.3e8 entries; the generic COO assembler
(:class:`fvqp.solvers.nonlinear.SparseAssembler`, which sorts all keys) would need several
times that in temporaries. Here the CSR structure is written down directly: in the row
``(c, i)`` the columns are the neighbours with a lower global cell number, then the block
of ``c``, then the other neighbours, so every row is sorted by construction and the value
positions of the block and of every face coupling are known in closed form.
"""

from __future__ import annotations

import numpy as np

__all__ = ["CellBlockCSR"]

#: cells per vectorised block write (positions ~ CELLS N^2 integers)
CELLS = 2048


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
        from petsc4py import PETSc

        self.N, n = int(N), cells.local.n_owned
        self.n = n
        g = cells.local_to_global.astype(np.int64)
        # neighbour lists of owned cells, sorted by global number, duplicates merged
        r = np.concatenate([pair_a, pair_b])
        c = np.concatenate([pair_b, pair_a])
        own = r < n
        key = np.unique(r[own] * (g.max() + 1) + g[c[own]])
        self.nb_cell, nb_g = key // (g.max() + 1), key % (g.max() + 1)
        self.nb_ptr = np.searchsorted(self.nb_cell, np.arange(n + 1))
        deg = np.diff(self.nb_ptr)
        self.low = np.array([np.searchsorted(nb_g[self.nb_ptr[k]:self.nb_ptr[k + 1]], g[k])
                             for k in range(n)], dtype=np.int64)
        self.nb_g = nb_g
        self.g = g
        row_len = np.repeat(self.N + deg, self.N)
        self.rowptr = np.concatenate([[0], np.cumsum(row_len)]).astype(np.int64)
        lo, hi = cells.starts[cells.rank], cells.starts[cells.rank + 1]
        own_nb = np.bincount(self.nb_cell, (nb_g >= lo) & (nb_g < hi), n)
        self.d_nnz = np.repeat(self.N + own_nb, self.N).astype(PETSc.IntType)
        self.o_nnz = np.repeat(deg - own_nb, self.N).astype(PETSc.IntType)
        self._nb_key = (self.nb_cell, nb_g)
        #: values in CSR order; allocated by :meth:`begin`, released after :meth:`assemble`
        self.data = None

    def _indices(self) -> np.ndarray:
        """Global column indices in CSR order (built on demand: ~4 bytes per entry)."""
        from petsc4py import PETSc

        N, n, g, e = self.N, self.n, self.g, np.arange(self.N)
        indices = np.empty(self.rowptr[-1], dtype=PETSc.IntType)
        for s in range(0, n, CELLS):
            cs = np.arange(s, min(n, s + CELLS))
            start = self._block_start(cs)  # (cells, N): first block position per row
            indices[start[:, :, None] + e] = (g[cs, None, None] * N + e)
        slot = np.arange(len(self.nb_cell)) - self.nb_ptr[self.nb_cell]
        after = slot >= self.low[self.nb_cell]
        pos = (self.rowptr[self.nb_cell[:, None] * N + e] + slot[:, None]
               + np.where(after, N, 0)[:, None])
        indices[pos] = self.nb_g[:, None] * N + e
        return indices

    def begin(self) -> None:
        """Allocate zeroed values for a new assembly."""
        self.data = np.zeros(self.rowptr[-1])

    def _block_start(self, cs: np.ndarray) -> np.ndarray:
        return self.rowptr[cs[:, None] * self.N + np.arange(self.N)] + self.low[cs, None]

    def diagonal_positions(self, cell: np.ndarray) -> np.ndarray:
        """Positions of the entries ``((c, i), (c, i))``, shape (len(cell), N)."""
        return self._block_start(cell) + np.arange(self.N)

    def coupling_positions(self, cell: np.ndarray, other: np.ndarray) -> np.ndarray:
        """Positions of ``((c, i), (b, i))`` for owned ``c`` and local neighbour ``b``."""
        nb_cell, nb_g = self._nb_key
        base = self.g.max() + 1
        keys = nb_cell * base + nb_g
        k = np.searchsorted(keys, cell * base + self.g[other])
        slot = k - self.nb_ptr[cell]
        shift = np.where(slot >= self.low[cell], self.N, 0)
        return (self.rowptr[cell[:, None] * self.N + np.arange(self.N)]
                + (slot + shift)[:, None])

    def set_blocks(self, cs: np.ndarray, blocks: np.ndarray) -> None:
        """Write dense blocks ``(len(cs), N, N)`` of owned cells ``cs``."""
        start = self._block_start(cs)
        self.data[start[:, :, None] + np.arange(self.N)] = blocks

    def create_matrix(self, comm):
        from petsc4py import PETSc

        n_own = self.n * self.N
        mat = PETSc.Mat().createAIJ(size=((n_own, None), (n_own, None)), bsize=self.N,
                                    nnz=(self.d_nnz, self.o_nnz), comm=comm)
        mat.setOption(PETSc.Mat.Option.NEW_NONZERO_ALLOCATION_ERR, True)
        mat.setUp()
        return mat

    def assemble(self, mat) -> None:
        """Insert the current values into ``mat`` (structure of :meth:`create_matrix`),
        then release them: PETSc holds its own copy, and the preconditioner factorisation
        that follows needs the memory."""
        from petsc4py import PETSc

        mat.zeroEntries()
        mat.setValuesCSR(self.rowptr.astype(PETSc.IntType), self._indices(), self.data)
        mat.assemble()
        self.data = None

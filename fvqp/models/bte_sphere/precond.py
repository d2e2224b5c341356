r"""The energy-block preconditioner of the spherical BTE, exact on any number of ranks.

The preconditioning matrix of :class:`~.problem.SphereProblem` — the time integrator's
shift times the storage weights minus the Jacobian entries of
:meth:`~.problem.SphereProblem.rhs_jacobian` (streaming, elastic scattering, the diagonal
of the collision Jacobian's self-occupation terms),

.. math:: P = \sigma\,\partial C/\partial x - \partial R/\partial x\big|_{\rm pattern},

never couples two energy bins: the QP unknowns :math:`f_{\cdot j\cdot}` of bin ``j`` over
all radial cells and ordinates form one block, the phonons :math:`n_{\cdot q\cdot}` of
bin ``q`` another (module docstring of :mod:`.problem`). Each block is factorised exactly
over *all* radial cells, and the blocks are shared over the ranks
(:class:`fvqp.parallel.blocktranspose.BlockTranspose`). So ``P^{-1}`` is the same on 1 and
on N ranks, and GMRES takes the same iterations as in a serial run: ``mpiexec -n N``
gives the serial answer to round-off (block Jacobi over the ranks' cells would drop the
streaming coupling across a rank boundary, changing the Krylov iterates at the solver
tolerance). The split itself lives in :mod:`fvqp.parallel`; this class sees only the
stacked blocks.

In a block the unknowns run cell by cell in radial order (``c * width + s``), so the
block is a band matrix: the elastic and angular terms stay in the cell, the streaming
stencil reaches ``s`` cells on each side, hence ``kl, ku < (s + 1) width`` (``step`` and
``diamond``: s = 1, kl = ku = 8 for 8 ordinates; ``limited``: s = 2).
:class:`BandedBlocks` factorises each block by LAPACK's band LU with partial pivoting
(``dgbtrf``; Golub & Van Loan, *Matrix Computations*, 4th ed., Sect. 4.3.5:
:math:`O(m\,k_l(k_l + k_u))` per block of ``m`` rows) and solves the rank's blocks of
one shape by one ``dgbtrs`` call. Measured on the shipped case ``bte_sphere_sn_packet``
(574 blocks of 320 rows, serial): 16-24 ms per factorisation against 82 ms for SuperLU's
sparse LU of the stacked blocks in natural order (scipy ``splu``, the previous
factorisation); solves equal (4.3 against 4.4 ms). A block's factors do not depend on
the rank that holds it; the joint solve of a run of blocks may round differently from a
solve of the block alone (BLAS kernels of other lengths), so 1 and N ranks agree to
round-off (tests/test_bte_sphere_ranks_banded.py).
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import lapack

__all__ = ["BandedBlocks", "EnergyBlockPC", "energy_blocks"]


def energy_blocks(problem) -> tuple[np.ndarray, np.ndarray]:
    """``(block, slot)`` of each per-cell unknown of ``problem``: QP bin ``j`` (block
    ``j``, slot = ordinate), then phonon bin ``q`` (block ``N + q``, slot = its ordinate)."""
    K, N, M, Kp = problem.K, problem.N, problem.M, problem.Kp
    block = [np.repeat(np.arange(N), K)]
    slot = [np.tile(np.arange(K), N)]
    if Kp:
        block.append(N + np.repeat(np.arange(M), Kp))
        slot.append(np.tile(np.arange(Kp), M))
    return np.concatenate(block), np.concatenate(slot)


class BandedBlocks:
    """Band LU of a block-diagonal matrix given by its entries (LAPACK ``dgbtrf`` per
    block, ``dgbtrs`` per run of blocks of one shape; module docstring).

    Parameters
    ----------
    rows, cols : ndarray of int
        Row and column of every entry (distinct), within the blocks.
    offsets : ndarray of int
        Block boundaries: block ``i`` is ``offsets[i]:offsets[i + 1]`` (rows and
        columns).

    Notes
    -----
    Block ``i`` of ``m`` rows with ``k_l`` sub- and ``k_u`` superdiagonals (from its
    entries) is stored in LAPACK's band layout, :math:`a_{ij}` at row
    :math:`k_l + k_u + i - j` of column ``j`` of a ``(2 k_l + k_u + 1, m)`` Fortran array
    (the first :math:`k_l` rows hold the fill of the row interchanges). Consecutive blocks
    of equal ``(m, k_l, k_u)`` share one array, so one ``dgbtrs`` call solves them all:
    a block's factors have no entry outside the block, so the joint triangular solves
    give each block its own solution.
    """

    def __init__(self, rows: np.ndarray, cols: np.ndarray, offsets: np.ndarray):
        offsets = np.asarray(offsets, dtype=np.int64)
        rows, cols = np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)
        nb = len(offsets) - 1
        blk = np.searchsorted(offsets, rows, side="right") - 1
        if np.any(np.searchsorted(offsets, cols, side="right") - 1 != blk):
            raise ValueError("an entry couples two blocks")
        d = rows - cols
        kl = np.zeros(nb, dtype=np.int64)
        ku = np.zeros(nb, dtype=np.int64)
        np.maximum.at(kl, blk, d)
        np.maximum.at(ku, blk, -d)
        m = np.diff(offsets)
        #: runs of consecutive blocks of one shape: (first block, end, kl, ku)
        self.runs: list[tuple[int, int, int, int]] = []
        for b in range(nb):
            if self.runs and self.runs[-1][1] == b and (m[b], kl[b], ku[b]) == (
                    m[self.runs[-1][0]], self.runs[-1][2], self.runs[-1][3]):
                self.runs[-1] = (self.runs[-1][0], b + 1, self.runs[-1][2], self.runs[-1][3])
            else:
                self.runs.append((b, b + 1, int(kl[b]), int(ku[b])))
        run_of = np.zeros(nb, dtype=np.int64)
        ld = np.array([2 * k + u + 1 for _, _, k, u in self.runs], dtype=np.int64)
        cols0 = np.array([offsets[b0] for b0, *_ in self.runs], dtype=np.int64)
        ncol = np.array([offsets[b1] - offsets[b0] for b0, b1, *_ in self.runs],
                        dtype=np.int64)
        base = np.concatenate([[0], np.cumsum(ld * ncol)]).astype(np.int64)
        for q, (b0, b1, _, _) in enumerate(self.runs):
            run_of[b0:b1] = q
        self._buf = np.zeros(int(base[-1]))
        self._views = [self._buf[base[q]:base[q + 1]].reshape((ld[q], ncol[q]), order="F")
                       for q in range(len(self.runs))]
        q = run_of[blk]
        klq = np.array([k for _, _, k, _ in self.runs], dtype=np.int64)
        kuq = np.array([u for _, _, _, u in self.runs], dtype=np.int64)
        #: flat position of every entry in the band storage
        self.positions = base[q] + (cols - cols0[q]) * ld[q] + klq[q] + kuq[q] + d
        self._offsets, self._cols0 = offsets, cols0
        self._piv = [np.zeros(n, dtype=np.int32) for n in ncol]

    def factor(self, data: np.ndarray) -> None:
        """Factorise the blocks with entries ``data`` (in the order of ``rows, cols``)."""
        self._buf.fill(0.0)
        self._buf[self.positions] = data
        off = self._offsets
        for q, (b0, b1, kl, ku) in enumerate(self.runs):
            view, c0 = self._views[q], self._cols0[q]
            for b in range(b0, b1):
                s, e = int(off[b] - c0), int(off[b + 1] - c0)
                lu, piv, info = lapack.dgbtrf(view[:, s:e], kl, ku, overwrite_ab=1)
                if info > 0:
                    raise np.linalg.LinAlgError(
                        f"energy block {b}: zero pivot in column {info - 1} of its band LU")
                if not np.shares_memory(lu, view):
                    view[:, s:e] = lu
                self._piv[q][s:e] = piv + s

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        """``A^{-1} rhs`` of the factorised blocks."""
        out = np.array(rhs, dtype=float)
        for q, (_, _, kl, ku) in enumerate(self.runs):
            c0 = int(self._cols0[q])
            view = self._views[q]
            seg = out[c0:c0 + view.shape[1]]
            seg[:] = lapack.dgbtrs(view, kl, ku, seg, self._piv[q])[0]
        return out


class EnergyBlockPC:
    """The model preconditioner (``update``/``apply``, :class:`fvqp.models.base
    .ModelPreconditioner`) of a :class:`~.problem.SphereProblem`: exact LU of the energy
    blocks of ``P`` (module docstring).

    Parameters
    ----------
    problem : SphereProblem
    transpose : fvqp.parallel.blocktranspose.BlockTranspose
        The regrouping of the problem's unknowns by :func:`energy_blocks`.
    """

    def __init__(self, problem, transpose):
        self.problem, self.tr = problem, transpose
        rows, cols = problem.pattern
        d = np.arange(problem.n * problem.B)
        #: the pattern and the shifted storage diagonal, placed once
        self._entries = ent = transpose.entry_builder(np.concatenate([rows, d]),
                                                      np.concatenate([cols, d]))
        self._lu = BandedBlocks(ent.rows, ent.cols, transpose.offsets)
        self.factorisations = 0

    def update(self, x_local: np.ndarray, shift: float) -> None:
        """Factorise ``P`` at ``x_local`` and shift ``sigma`` (this rank's blocks; in a
        block, cells in radial order: a band matrix, :class:`BandedBlocks`)."""
        p = self.problem
        vals = np.concatenate([-np.asarray(p.rhs_jacobian(x_local)),
                               shift * p.dconserved(x_local[:p.n * p.B])])
        self._lu.factor(self._entries.values(vals))
        self.factorisations += 1

    def apply(self, r_owned: np.ndarray) -> np.ndarray:
        """``z = P^{-1} r`` of the owned rows."""
        s = self.tr.forward(np.asarray(r_owned, dtype=float))
        return self.tr.backward(self._lu.solve(s))

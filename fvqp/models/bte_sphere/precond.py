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

In a block the unknowns run cell by cell in radial order (``c * width + s``): the
elastic and angular terms stay in the cell, the streaming stencil reaches ``s`` cells on
each side (``step``, ``diamond``: s = 1; ``limited``: s = 2). The rank's blocks, stacked,
are factorised by PETSc's sparse LU in this natural order
(:class:`fvqp.solvers.sparselu.SparseLU`: no row interchanges, so no fill leaves a block
and a block's factors and solution are the same on whichever rank holds it; none are
needed: every scheme's blocks equal a pivoting direct solve to round-off down to a
steady state in the diffusive limit, tests/test_bte_sphere_ranks_lu.py).
Measured on the shipped case ``bte_sphere_sn_packet`` (574 blocks of 320 rows, 1.24 M
entries, serial, one thread): 7.7 ms per numeric factorisation and 1.5-1.7 ms per solve,
against 15 ms and 4.3 ms for LAPACK's band LU of the same blocks (``dgbtrf``/``dgbtrs``,
k_l = k_u = 8: the band holds every zero inside it; the path before 2026-11-26) and
82 ms / 4.4 ms for SuperLU (scipy ``splu``, before 2026-11-23).
"""

from __future__ import annotations

import numpy as np

from ...setops import distinct
from ...solvers.sparselu import SparseLU

__all__ = ["EnergyBlockPC", "block_weights", "energy_blocks"]


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


def block_weights(problem, block: np.ndarray) -> np.ndarray:
    """This rank's share of the cost of every energy block (:func:`energy_blocks`):
    the distinct entries of ``P`` in its owned rows of the block plus twice those rows.

    A cost model, from measurements: a sparse LU's factorisation and solves grow with
    the entries, the transposes and the per-row work with the rows. On
    ``bte_sphere_sn_packet`` (blocks of 320 rows) a QP block (angular scattering:
    3 184 entries) took 38 us per factorisation and 3.8 us per solve, a phonon block
    (1 224 entries) 22 and 1.4 us; a run solves ~6.6 times per factorisation (274 / 1 800
    in the whole case), so a QP block costs 2.0 phonon blocks — the model gives 2.05
    (entries alone 2.6: the rank with the phonon blocks took 1.11 s of factorisations
    against 0.91). Summed over the ranks by :class:`fvqp.parallel.blocktranspose
    .BlockTranspose`, which shares the blocks by it."""
    rows, cols = (np.asarray(a, dtype=np.int64) for a in problem.pattern)
    nrow = problem.n * problem.B
    own = rows < nrow
    key = distinct(rows[own] * (int(cols.max()) + 1) + cols[own])
    r = key // (int(cols.max()) + 1)
    nb = int(np.max(block)) + 1
    entries = np.bincount(block[r % problem.B], minlength=nb)
    return entries + 2 * problem.n * np.bincount(block, minlength=nb)


class EnergyBlockPC:
    """The model preconditioner (``update``/``apply``, :class:`fvqp.models.base
    .ModelPreconditioner`) of a :class:`~.problem.SphereProblem`: exact LU of the energy
    blocks of ``P`` (module docstring).

    Parameters
    ----------
    problem : SphereProblem
    transpose : fvqp.parallel.blocktranspose.BlockTranspose
        The regrouping of the problem's unknowns by :func:`energy_blocks`.
    prefix : str
        Options prefix of the LU (:class:`fvqp.solvers.sparselu.SparseLU`; the driver
        passes ``<case prefix>eblock_``).
    options : mapping, optional
        The case's PETSc options of the LU (without the prefix).
    """

    def __init__(self, problem, transpose, prefix: str = "bte_sphere_eblock_",
                 options=None):
        self.problem, self.tr = problem, transpose
        rows, cols = problem.pattern
        k = len(problem.jacobian_constant)
        d = np.arange(problem.n * problem.B)
        # the pattern and the shifted storage diagonal, placed once
        ent = transpose.entry_builder(np.concatenate([rows, d]), np.concatenate([cols, d]))
        self._lu = SparseLU(ent.rows, ent.cols, int(transpose.offsets[-1]), prefix,
                            options)
        if self._lu.positions is not None:  # update() writes the LU's values in place
            raise RuntimeError("EnergyBlockPC: the entry builder's entries are not in CSR "
                               "order, which the in-place update assumes")
        #: the constant part of -P (the linear part) on the LU's entries, summed once
        const = np.zeros(len(rows) + len(d))
        np.negative(problem.jacobian_constant, out=const[:k])
        self._base = ent.values(const)
        #: the entries that change (collision diagonal, limiter, shifted storage), and
        #: where they sit among the LU's entries (both in CSR order)
        self._varying = var = transpose.entry_builder(np.concatenate([rows[k:], d]),
                                                      np.concatenate([cols[k:], d]))
        n = max(int(transpose.offsets[-1]), 1)
        self._at = np.searchsorted(ent.rows * n + ent.cols, var.rows * n + var.cols)
        ent.rows = ent.cols = var.rows = var.cols = None  # the LU keeps the structure
        self.factorisations = 0

    def update(self, x_local: np.ndarray, shift: float) -> None:
        """Factorise ``P`` at ``x_local`` and shift ``sigma`` (this rank's blocks; in a
        block, cells in radial order; module docstring): the constant part's values plus
        those of the entries that change (the linear part is neither recomputed nor sent
        again: 83 % of the entries of ``bte_sphere_sn_packet``; 10.9 ms per update there
        against ~18 ms)."""
        p = self.problem
        jac = np.asarray(p.rhs_jacobian_varying(x_local))
        nd = p.n * p.B
        vals = np.empty(len(jac) + nd)
        np.negative(jac, out=vals[:len(jac)])
        np.multiply(shift, p.dconserved(x_local[:nd]), out=vals[len(jac):])
        data = self._lu.values  # the LU's entries are in CSR order, as ``_base``
        np.copyto(data, self._base)
        data[self._at] += self._varying.values(vals)
        self._lu.factor()
        self.factorisations += 1

    def apply(self, r_owned: np.ndarray) -> np.ndarray:
        """``z = P^{-1} r`` of the owned rows."""
        s = self.tr.forward(np.asarray(r_owned, dtype=float))
        return self.tr.backward(self._lu.solve(s))

    def destroy(self) -> None:
        """Free the LU's PETSc objects."""
        self._lu.destroy()

r"""The energy-block preconditioner of the spherical BTE, exact on any number of ranks.

The preconditioning matrix of :class:`~.problem.SphereProblem` — the time integrator's
shift times the storage weights minus the Jacobian entries of
:meth:`~.problem.SphereProblem.rhs_jacobian` (streaming, elastic scattering, the diagonal
of the collision Jacobian's self-occupation terms),

.. math:: P = \sigma\,\partial C/\partial x - \partial R/\partial x\big|_{\rm pattern},

never couples two energy bins: the QP unknowns :math:`f_{\cdot j\cdot}` of bin ``j`` over
all radial cells and ordinates form one block, the phonons :math:`n_{\cdot q\cdot}` of
bin ``q`` another (module docstring of :mod:`.problem`). Each block is factorised exactly
(sparse LU) over *all* radial cells, and the blocks are shared over the ranks
(:class:`fvqp.parallel.blocktranspose.BlockTranspose`). So ``P^{-1}`` is the same on 1 and
on N ranks, and GMRES takes the same iterations as in a serial run: ``mpiexec -n N``
gives the serial answer to round-off (block Jacobi over the ranks' cells would drop the
streaming coupling across a rank boundary, changing the Krylov iterates at the solver
tolerance). The split itself lives in :mod:`fvqp.parallel`; this class sees only the
stacked blocks.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse.linalg import splu

__all__ = ["EnergyBlockPC", "energy_blocks"]


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
        self._lu = None
        rows, cols = problem.pattern
        d = np.arange(problem.n * problem.B)
        #: the pattern and the shifted storage diagonal, placed once
        self._build = transpose.matrix_builder(np.concatenate([rows, d]),
                                               np.concatenate([cols, d]))
        self.factorisations = 0

    def update(self, x_local: np.ndarray, shift: float) -> None:
        """Factorise ``P`` at ``x_local`` and shift ``sigma`` (this rank's blocks; in a
        block, cells in radial order: a band matrix, factorised in its natural order)."""
        p = self.problem
        vals = np.concatenate([-np.asarray(p.rhs_jacobian(x_local)),
                               shift * p.dconserved(x_local[:p.n * p.B])])
        a = self._build(vals)
        self._lu = splu(a, permc_spec="NATURAL") if a.shape[0] else None
        self.factorisations += 1

    def apply(self, r_owned: np.ndarray) -> np.ndarray:
        """``z = P^{-1} r`` of the owned rows."""
        s = self.tr.forward(np.asarray(r_owned, dtype=float))
        z = self._lu.solve(s) if self._lu is not None else s
        return self.tr.backward(z)

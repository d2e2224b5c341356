r"""Phonon-diffusion solve inside the Schur preconditioner (:mod:`.schur`).

With phonon diffusion between cells the phonon block of :math:`K = \sigma m - J` is
:math:`\tilde D = D + T_{ph}`: the cell-diagonal :math:`D` (collisions, escape, storage
and the sum of the cell's phonon face conductances) plus the phonon couplings between
neighbour cells, diagonal in energy. The preconditioner keeps the QP Schur complement
:math:`S = A + T - BD^{-1}C` of the diagonal :math:`D` (cell-local, cheap) but applies
the phonon blocks with :math:`\tilde D`,

.. math::
    z_f = S^{-1}\big(r_f - B\tilde D^{-1}r_n\big), \qquad
    z_n = \tilde D^{-1}\big(r_n - Cz_f\big),

two sparse solves of :math:`M` decoupled diffusion problems (own PETSc KSP under
``<prefix>schur_ph_``, block Jacobi/ILU by default). Dropping :math:`T_{ph}` altogether
(block Jacobi in the phonons) fails once phonons diffuse farther than a cell per escape
time (a few thousand Krylov iterations on the test network); with :math:`\tilde D` the
only approximation left is :math:`S`.
"""

from __future__ import annotations

import numpy as np

from ...parallel.blocked import BlockDistribution
from ...solvers.blockcsr import CellBlockCSR
from ...solvers.linear import LinearSolver

__all__ = ["PhononDiffusionSolve", "PHONON_DEFAULTS"]

#: default options of the phonon-diffusion solve (under ``<prefix>schur_ph_``)
PHONON_DEFAULTS = {"ksp_type": "preonly", "pc_type": "bjacobi", "sub_pc_type": "ilu"}


class PhononDiffusionSolve:
    """Assemble and solve :math:`\\tilde D z = r` on the owned phonon unknowns.

    Parameters
    ----------
    problem : TransportProblem
    prefix : str
        Options prefix of this solve (e.g. ``<outer>schur_ph_``).
    """

    def __init__(self, problem, prefix: str):
        self.p = problem
        M, n = problem.M, problem.n
        a, b = problem.f_a[problem.ph_pairs], problem.f_b[problem.ph_pairs]
        self.dist = BlockDistribution(problem.cells, M)
        self.csr = CellBlockCSR(problem.cells, M, a, b)
        self.mat = self.csr.create_matrix(self.dist.comm)
        pos = []
        for row, col in ((a, b), (b, a)):  # the (a, b) and (b, a) transport values
            q = np.full((len(row), M), -1, dtype=np.int64)
            own = row < n
            q[own] = self.csr.coupling_positions(row[own], col[own])
            pos.append(q.ravel())
        self._pos = pos
        self.solver = LinearSolver(self.mat, prefix, PHONON_DEFAULTS)

    def update(self, d: np.ndarray) -> None:
        """Assemble with the cell diagonal ``d`` (owned cells, M) and the couplings."""
        p, M = self.p, self.p.M
        self.csr.begin()
        blocks = np.zeros((p.n, M, M))
        k = np.arange(M)
        blocks[:, k, k] = d
        self.csr.set_blocks(np.arange(p.n), blocks)
        vals = p.phonon_transport_values().reshape(4, -1)
        for pos, v in zip(self._pos, (vals[1], vals[3]), strict=True):
            keep = pos >= 0
            np.add.at(self.csr.data, pos[keep], -v[keep])
        self.csr.assemble(self.mat)
        self.solver.set_operators()

    def solve(self, r: np.ndarray) -> np.ndarray:
        """:math:`\\tilde D^{-1} r` for ``r`` shaped (owned cells, M)."""
        return self.solver.solve(np.ascontiguousarray(r, dtype=float).ravel()).reshape(r.shape)

r"""Kinetic equations with the electron–electron (and optionally electron–phonon)
collision integral: Newton–Krylov on the whole (x, ε) system.

The residual is :math:`F(u)=A u-b-V\,\mathcal I_L(f_L)` (free fL rows of superconducting
nodes), with A, b from :func:`fvqp.models.usadel.kinetic.assemble`. The collision integral
couples all energies of a node, so the exact Jacobian is dense in energy; it is applied
matrix-free (``-<prefix>snes_mf_operator``, finite differences of the residual, which is
a cubic polynomial in fL), and preconditioned by the assembled sparse
:math:`A - V\,\mathrm{diag}(\partial\mathcal I_L/\partial f_L)` (the local in + out rate).
The solve is a :class:`fvqp.solvers.NonlinearSolver` on one rank: its options go under the
prefix (default ``usadel_``) and are removed when the run's options session ends;
``setFromOptions`` is called last so the command line wins.

Under ``mpiexec`` the solve is done once, on rank 0, and fL, fT are broadcast
(:meth:`fvqp.parallel.tasks.TaskShare.on_root`); the other ranks wait instead of repeating
it. It is not distributed (yet), although it could be: the preconditioner
:math:`A - V\,\mathrm{diag}` is block-diagonal in energy (the energies of a
:class:`~fvqp.parallel.energies.EnergySplit` block would be factorised where they live,
block Jacobi with one block per rank being the exact serial LU), and the collision integral
couples energies only within a node, so a residual needs fL of every energy at a rank's
nodes — one gather of fL (n_ε × n_nodes values, 0.5 MB on the Fig. 11 grid) and one of the
node-split collision terms per Krylov iteration. Measured on the Fig. 11 grid (801 energies
× 86 nodes, eV = 2Δ0, loaded machine): 3 Newton / 29 GMRES iterations, ≈ 30 residuals of
39 ms (FFT collision integrals), 3 LU builds of 0.21 s and 29 applications of 8 ms:
≈ 1.9 s of a 3.0 s solve would split over the ranks.
"""

from __future__ import annotations

import logging

import numpy as np
import scipy.sparse as sp

from ...parallel.serial import SerialLayout
from ...solvers.nonlinear import NonlinearSolver
from ...solvers.options import normalise_prefix
from ...solvers.result import ConvergenceError
from .collisions import (
    collision_diagonal,
    collision_integral,
    ep_collision_integral,
    ep_kernel_constant,
    ep_rates,
    kernel_constant,
)
from .kinetic import KineticSolution, assemble, solve_linear

log = logging.getLogger(__name__)

DEFAULT_OPTIONS = {
    "snes_mf_operator": None,
    "snes_rtol": 1e-10,
    "snes_stol": 1e-14,
    "snes_max_it": 30,
    "ksp_type": "gmres",
    "ksp_rtol": 1e-10,
    "ksp_gmres_restart": 60,
    "pc_type": "lu",
}


class _Collisional:
    """Residual and preconditioner of the collisional problem on flat vectors."""

    def __init__(self, spec, reservoirs, junctions, gamma_ee, tc, dl_floor, gamma_ph=0.0,
                 t_ph=0.0):
        self.op = assemble(spec, reservoirs, junctions, dl_floor)
        self.K = kernel_constant(gamma_ee, tc)
        self.K_ph, self.t_ph = ep_kernel_constant(gamma_ph, tc), t_ph
        eps = spec.eps
        self.de = float(eps[1] - eps[0])
        if not np.allclose(np.diff(eps), self.de, rtol=1e-9, atol=1e-12):
            raise ValueError("the collision integral needs a uniform energy grid")
        # every free node: superconducting (N, Im F of its Δ) and normal (N ≈ 1, Im F from
        # the proximity effect) parts relax alike (one γ_ee for the network)
        self.nodes = np.flatnonzero(self.op.free_L[0])
        self.N = spec.N[:, self.nodes].T.copy()
        self.R = spec.imF[:, self.nodes].T.copy()
        self.w = self.op.vol[self.nodes][:, None]
        self.iL = self.op.idx(0)[:, self.nodes].T  # (n_nodes_c, n_eps)

    def fL(self, u):
        return u[self.iL]

    def residual(self, u):
        r = self.op.A @ u - self.op.b
        fL = self.fL(u)
        coll = collision_integral(fL, self.N, self.R, self.de, self.K) if self.K else 0.0
        if self.K_ph:
            coll = coll + ep_collision_integral(fL, self.N, self.R, self.de, self.K_ph,
                                                self.t_ph)
        r[self.iL] -= self.w * coll
        return r

    def collision_rows(self, u):
        """:math:`V\\,\\partial\\mathcal I_L/\\partial f_L` (the local in + out rate) on
        the diagonal, as a vector over all unknowns."""
        d = np.zeros(u.size)
        fL = self.fL(u)
        diag = collision_diagonal(fL, self.N, self.R, self.de, self.K) if self.K else 0.0
        if self.K_ph:
            I, O = ep_rates(fL, self.N, self.R, self.de, self.t_ph)
            diag = diag + self.K_ph * (I + O)
        d[self.iL] = self.w * diag
        return d

    def preconditioner(self, u):
        """The preconditioning matrix :math:`A - V\\,\\mathrm{diag}(\\partial\\mathcal
        I_L/\\partial f_L)` (scipy CSR)."""
        return (self.op.A - sp.diags(self.collision_rows(u))).tocsr()

    @property
    def pattern(self):
        """``(rows, cols)`` of the preconditioning matrix: the entries of A, then the
        diagonal (duplicates are summed)."""
        A = self.op.A.tocoo()
        n = A.shape[0]
        return (np.concatenate([A.row, np.arange(n)]), np.concatenate([A.col, np.arange(n)]))

    def preconditioner_values(self, u):
        """Values of :meth:`preconditioner` on :attr:`pattern`."""
        return np.concatenate([self.op.A.tocoo().data, -self.collision_rows(u)])


def solve_inelastic(spec, reservoirs, junctions, gamma_ee: float, tc: float = 1 / 1.764,
                    u0=None, prefix: str = "usadel_", options: dict | None = None,
                    dl_floor: float = 1e-10, gamma_ph: float = 0.0,
                    t_ph: float = 0.0, share=None) -> KineticSolution:
    """Solve Eqs. 9–10 with :math:`\\mathcal I_L` (e–e collisions) by Newton–Krylov (SNES).

    Parameters
    ----------
    spec
        Spectral solution (uniform energy grid symmetric about ε = 0; otherwise a
        ValueError, :func:`~fvqp.models.usadel.observables.require_full_axis`).
    gamma_ee
        γ_ee = ħ/(Δ0 τ_ee) (paper Sec. V).
    gamma_ph, t_ph
        Optional electron–phonon term: γ_ph = ħ/(Δ0 τ0) (Kaplan's τ0) and the phonon
        (bath) temperature k_B T/Δ0.
    u0
        Initial guess ``(fL, fT)``; default the collisionless solution.
    prefix, options
        PETSc options prefix and options (merged over :data:`DEFAULT_OPTIONS`).
    share
        Under ``mpiexec`` (:class:`fvqp.parallel.tasks.TaskShare`, e.g. the run's
        ``EnergySplit``): the solve is done once, on the root rank, and fL, fT broadcast
        (module docstring: why it is not distributed); None: solved here.
    """
    from .observables import require_full_axis

    # the collision integrals couple ε to ε ± ω on both sides of the Fermi level
    require_full_axis(spec.eps, "solve_inelastic")

    def solve():
        prob = _Collisional(spec, reservoirs, junctions, gamma_ee, tc, dl_floor, gamma_ph,
                            t_ph)
        guess = u0
        if guess is None:
            lin = solve_linear(spec, reservoirs, junctions, dl_floor)
            guess = (lin.fL, lin.fT)
        return _newton_krylov(prob, guess, normalise_prefix(prefix),
                              {**DEFAULT_OPTIONS, **(options or {})})

    fL, fT, its, lits = solve() if share is None else share.on_root(solve)
    return KineticSolution(eps=spec.eps, fL=fL, fT=fT, spectral=spec,
                           junctions=list(junctions), reservoirs=list(reservoirs),
                           newton_iterations=int(its), linear_iterations=int(lits))


def _newton_krylov(prob: _Collisional, u0, prefix: str, opts: dict) -> tuple:
    """fL, fT (n_eps, n_nodes), Newton and linear iterations of the SNES solve of
    ``prob`` from ``u0`` = (fL, fT) (:func:`solve_inelastic`)."""
    op = prob.op
    u = np.stack([u0[0], u0[1]], axis=1).ravel().copy()
    solver = NonlinearSolver(SerialLayout(u.size), prob.residual, prob.preconditioner_values,
                             prob.pattern, prefix, opts)
    try:
        # absolute tolerance from the size of the equations' terms (Dirichlet values and
        # tunnel sources in b): a residual that is pure round-off counts as converged
        # (unless snes_atol is given)
        res = solver.solve(u, raise_on_failure=False,
                           atol=None if "snes_atol" in opts else
                           1e-12 * max(float(np.linalg.norm(op.b)), 1e-300))
    finally:
        solver.destroy()
    its, lits = res.iterations, res.linear_iterations
    sol = u.reshape(op.ne, 2, op.n)
    if not res.success:
        raise ConvergenceError(
            f"usadel inelastic Newton did not converge ({res.message}, {its} Newton "
            f"iterations, |F| = {res.residual_norm:.3e}). Fix: look with "
            f"-{prefix}snes_monitor -{prefix}ksp_monitor; more iterations "
            f"(-{prefix}snes_max_it 50) or a smaller bias step of the sweep.", res)
    log.info("usadel inelastic: %d Newton, %d linear iterations", its, lits)
    return sol[:, 0], sol[:, 1], its, lits


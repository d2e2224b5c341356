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

Under ``mpiexec`` the system is distributed over the ranks by blocks of energies
(:class:`fvqp.parallel.energies.EnergyLayout`, the blocks of the run's ``EnergySplit``).
It is one coupled nonlinear system, but its structure splits: the preconditioner
:math:`A - V\,\mathrm{diag}` is block-diagonal in energy, so block Jacobi with one LU per
rank (:data:`DISTRIBUTED`) is exactly the serial LU; the collision integral couples the
energies only within a node, so a residual moves fL of every energy of a block of
collision nodes to each rank (one all-to-all: each rank receives its nodes' values only,
:meth:`~fvqp.parallel.energies.EnergyLayout.to_rows`), each rank evaluates the FFT
integrals of its block of nodes, and these go back to the energies' owners by the inverse
all-to-all (until 2026-11-24 two all-gathers of the whole n_ε × n_nodes table, each after
an exchange of shapes: 1 → 2 ranks 1.64×, now 1.68–1.82×, ``benchmarks/usadel_mpi.py``).
Only the Krylov dot products differ from a serial solve (order of the sums): the same
Newton count, GMRES within one iteration, fL equal to 1.3e-10 (Fig. 11 grid, 801 energies
× 86 nodes, eV = 2Δ0: 3 Newton / 28 GMRES iterations serially, 29 on 2 ranks;
≈ 30 residuals of 39 ms, 3 LU builds of 0.21 s and 29 applications of 8 ms serially, all of
which split over the ranks).
"""

from __future__ import annotations

import logging

import numpy as np
import scipy.sparse as sp

from ...parallel.serial import SerialLayout
from ...solvers.nonlinear import NonlinearSolver
from ...solvers.options import normalise_prefix
from ...solvers.result import ConvergenceError
from ...spectra.gap import BCS_GAP_RATIO
from .collisions import (
    collision_diagonal,
    collision_integral,
    ep_collision_integral,
    ep_kernel_constant,
    ep_rates,
    kernel_constant,
)
from .kinetic import KineticSolution, assemble, solve_linear
from .regrid import FineGrid, is_uniform

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

#: the preconditioner over several ranks: its matrix is block-diagonal in energy, so block
#: Jacobi with one block (LU) per rank is the serial LU
DISTRIBUTED = {"pc_type": "bjacobi", "sub_pc_type": "lu"}


class _Collisional:
    """Residual and preconditioner of the collisional problem on flat vectors: all
    energies, or with a ``layout`` (:class:`fvqp.parallel.energies.EnergyLayout`) the
    rows of this rank's block of energies, whose collision terms need fL of every energy
    at the collision nodes (gathered; each rank evaluates the integrals of its own block
    of nodes, which are gathered in turn)."""

    def __init__(self, spec, reservoirs, junctions, gamma_ee, tc, dl_floor, gamma_ph=0.0,
                 t_ph=0.0, layout=None, spacing=None):
        self.layout = layout
        mine = None if layout is None else layout.energies
        self.op = assemble(spec, reservoirs, junctions, dl_floor, energies=mine)
        self.K = kernel_constant(gamma_ee, tc)
        self.K_ph, self.t_ph = ep_kernel_constant(gamma_ph, tc), t_ph
        eps = spec.eps
        # a graded grid: the integrals on a uniform fine grid, conservatively back (regrid)
        self.fine = None if is_uniform(eps) else FineGrid(eps, t_ref=t_ph, spacing=spacing)
        self.de = float(eps[1] - eps[0]) if self.fine is None else self.fine.de
        # every free node: superconducting (N, Im F of its Δ) and normal (N ≈ 1, Im F from
        # the proximity effect) parts relax alike (one γ_ee for the network)
        self.nodes = np.flatnonzero(self.op.free_L[0])
        self.mine = slice(None) if mine is None else mine  # this rank's energies
        # the nodes whose collision integrals this rank evaluates (all energies)
        self.part = slice(None) if layout is None else layout.split.block(self.nodes.size)
        self.N = spec.N[:, self.nodes].T[self.part].copy()
        self.R = spec.imF[:, self.nodes].T[self.part].copy()
        if self.fine is not None:  # N, Im F interpolated to the fine grid
            self.N, self.R = self.fine.prolong(self.N), self.fine.prolong(self.R)
        self.w = self.op.vol[self.nodes][:, None]
        self.iL = self.op.idx(0)[:, self.nodes].T  # (n_nodes_c, this rank's n_eps)

    def _at_nodes(self, terms, u):
        """``terms(fL)`` on this rank's nodes of every energy, for this rank's energies of
        every collision node (n_nodes_c, n_eps of the block): fL and the terms move
        between the two splits by one all-to-all each
        (:meth:`~fvqp.parallel.energies.EnergyLayout.to_rows`, ``to_energies``)."""
        if self.layout is None:
            return terms(u[self.iL])
        fL = self.layout.to_rows(u[self.iL])
        return self.layout.to_energies(terms(fL), self.nodes.size)

    def _integrals(self, fL):
        if self.fine is not None:
            return self.fine.restrict(self._fine_terms(self.fine.prolong_fL(fL)))
        return self._fine_terms(fL)

    def _fine_terms(self, fL):
        """The collision integrals on the uniform grid of ``fL`` (step ``de``)."""
        coll = collision_integral(fL, self.N, self.R, self.de, self.K) if self.K else 0.0
        if self.K_ph:
            coll = coll + ep_collision_integral(fL, self.N, self.R, self.de, self.K_ph,
                                                self.t_ph)
        return coll

    def _diagonal(self, fL):
        fine = self.fine.prolong_fL(fL) if self.fine is not None else fL
        diag = collision_diagonal(fine, self.N, self.R, self.de, self.K) if self.K else 0.0
        if self.K_ph:
            I, O = ep_rates(fine, self.N, self.R, self.de, self.t_ph)
            diag = diag + self.K_ph * (I + O)
        return diag if self.fine is None else self.fine.restrict_diagonal(diag)

    def residual(self, u):
        r = self.op.A @ u - self.op.b
        r[self.iL] -= self.w * self._at_nodes(self._integrals, u)
        return r

    def collision_rows(self, u):
        """:math:`V\\,\\partial\\mathcal I_L/\\partial f_L` (the local in + out rate) on
        the diagonal, as a vector over all unknowns."""
        d = np.zeros(u.size)
        d[self.iL] = self.w * self._at_nodes(self._diagonal, u)
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


def solve_inelastic(spec, reservoirs, junctions, gamma_ee: float,
                    tc: float = 1.0 / BCS_GAP_RATIO,
                    u0=None, prefix: str = "usadel_", options: dict | None = None,
                    dl_floor: float = 1e-10, gamma_ph: float = 0.0,
                    t_ph: float = 0.0, share=None,
                    collision_spacing: float | None = None) -> KineticSolution:
    """Solve Eqs. 9–10 with :math:`\\mathcal I_L` (e–e collisions) by Newton–Krylov (SNES).

    Parameters
    ----------
    spec
        Spectral solution (energy grid symmetric about ε = 0; otherwise a ValueError,
        :func:`~fvqp.models.usadel.observables.require_full_axis`). On a graded grid
        the collision integrals are evaluated on a uniform fine grid and restricted
        conservatively (:mod:`~fvqp.models.usadel.regrid`, reference equilibrium at
        ``t_ph``).
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
        Under ``mpiexec`` the run's :class:`fvqp.parallel.energies.EnergySplit`: the
        system distributed by its blocks of energies (module docstring), fL, fT gathered
        on every rank; None (or one rank): solved here.
    collision_spacing
        A graded grid: the step of the uniform grid of the collision integrals (default
        its smallest step; :class:`~fvqp.models.usadel.regrid.FineGrid`).
    """
    from .observables import require_full_axis

    # the collision integrals couple ε to ε ± ω on both sides of the Fermi level
    require_full_axis(spec.eps, "solve_inelastic")

    layout = None
    if share is not None and share.size > 1:  # the energies' blocks over the ranks
        from ...parallel.energies import EnergyLayout

        layout = EnergyLayout(share, spec.eps.size, 2 * spec.problem.net.n_nodes)
    prob = _Collisional(spec, reservoirs, junctions, gamma_ee, tc, dl_floor, gamma_ph, t_ph,
                        layout, collision_spacing)
    if u0 is None:
        lin = solve_linear(spec, reservoirs, junctions, dl_floor, split=share)
        u0 = (lin.fL, lin.fT)
    opts = {**DEFAULT_OPTIONS, **(DISTRIBUTED if layout else {}), **(options or {})}
    fL, fT, its, lits = _newton_krylov(prob, u0, normalise_prefix(prefix), opts)
    return KineticSolution(eps=spec.eps, fL=fL, fT=fT, spectral=spec,
                           junctions=list(junctions), reservoirs=list(reservoirs),
                           newton_iterations=int(its), linear_iterations=int(lits))


def _newton_krylov(prob: _Collisional, u0, prefix: str, opts: dict) -> tuple:
    """fL, fT (n_eps, n_nodes), Newton and linear iterations of the SNES solve of
    ``prob`` from ``u0`` = (fL, fT) (:func:`solve_inelastic`), on every rank."""
    op, lay, mine = prob.op, prob.layout, prob.mine
    u = np.stack([u0[0][mine], u0[1][mine]], axis=1).ravel().copy()
    b_norm = float(np.linalg.norm(op.b)) if lay is None else \
        float(np.sqrt(lay.sum(float(np.dot(op.b, op.b)))))
    solver = NonlinearSolver(SerialLayout(u.size) if lay is None else lay, prob.residual,
                             prob.preconditioner_values, prob.pattern, prefix, opts)
    try:
        # absolute tolerance from the size of the equations' terms (Dirichlet values and
        # tunnel sources in b): a residual that is pure round-off counts as converged
        # (unless snes_atol is given)
        res = solver.solve(u, raise_on_failure=False,
                           atol=None if "snes_atol" in opts else
                           1e-12 * max(b_norm, 1e-300))
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
    if lay is None:
        return sol[:, 0], sol[:, 1], its, lits
    return lay.gather(sol[:, 0]), lay.gather(sol[:, 1]), its, lits


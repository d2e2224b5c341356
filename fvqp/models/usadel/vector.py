r"""Phase-biased spectral equation in the unit-vector parametrisation: reaches φ = π.

The retarded Green's function :math:`\check g=\mathbf n\cdot\boldsymbol\tau` is a complex
unit vector, :math:`\mathbf n=(\sin\theta\cos\chi,\ \sin\theta\sin\chi,\ \cos\theta)`,
:math:`\mathbf n\cdot\mathbf n=1` (𝒢 = n_z, ℱ = n_x + i n_y in the θ–χ notation of
:mod:`~fvqp.models.usadel.phase`). The Lagrangian of that module becomes

.. math:: \tfrac12 D(\partial_x\mathbf n)^2 + 2i\tilde\epsilon\,n_z
          - 2|\Delta|(n_x\cos\phi+n_y\sin\phi) + \zeta_0(n_x^2+n_y^2),

and its Euler–Lagrange equations with the constraint (multiplier λ per node),
discretised on the edges of the network (:math:`\sum_e\tfrac12 g_e|\mathbf n_b-\mathbf
n_a|^2`),

.. math:: (L\mathbf n)_i = V_i\big[2i\tilde\epsilon\,\hat z - 2|\Delta_i|\hat e_{\phi_i}
          + 2\zeta_0 P\mathbf n_i\big] - \kappa_i\hat z + 2\lambda_i\mathbf n_i ,\qquad
          \mathbf n_i\cdot\mathbf n_i = 1,

(L the weighted graph Laplacian, P = diag(1, 1, 0), κ_i the inverse-proximity term of
tunnel junctions) are regular everywhere: where sin θ = 0 (the middle of a symmetric SNS
wire at φ = π) n = ẑ and nothing is singular, unlike χ. The discrete pair current
:math:`J_e=g_e\,\hat z\cdot(\mathbf n_a\times\mathbf n_b)` (≈ g sin²θ̄ Δχ) is conserved
exactly at every node with Δ = 0 (ẑ·(n_i × (Ln)_i) = 0 there).

This solver is for the spectral problem (DOS, minigap, spectral supercurrent); it is
second order in x like the θ–χ solver but a different discretisation (they agree to
O(h²)). The kinetic equations use :mod:`~fvqp.models.usadel.phase`, whose edge
fluxes they are built on.

Solution: Newton on (n, λ) with the exact sparse Jacobian, all energies at once (one
sparse LU per iteration, over the energies not yet converged:
:func:`~fvqp.models.usadel.newton.newton_active`), per-energy backtracking. Energies
that fail, or land on the non-retarded branch n → −n (Re n_z < 0 somewhere: seen near
φ = π), are solved at Γ + 1 (directly, or by continuation in the phases 0 → φ) and
continued in the broadening Γ + γ, γ: 1 → 0, which keeps the retarded branch; what
still fails raises :class:`~fvqp.solvers.result.ConvergenceError` naming the energies.
Initial guess: the zero-phase θ of :func:`~fvqp.models.usadel.spectral.solve_spectral`
rotated by the harmonic phase.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ...solvers.result import ConvergenceError
from .bulk import bulk_theta
from .newton import energies_text, newton_active
from .phase import PhaseProblem
from .spectral import solve_spectral
from .triplets import Triplets

log = logging.getLogger(__name__)


def _dirichlet(prob: PhaseProblem, eps, gam):
    """Reservoir nodes and their n (n_eps, n_res, 3): S bulk vector at its phase, N ẑ."""
    nodes = np.array([r.node for r in prob.reservoirs], dtype=int)
    vals = np.zeros((eps.size, nodes.size, 3), dtype=complex)
    for k, r in enumerate(prob.reservoirs):
        if r.kind == "superconductor":
            th = bulk_theta(eps, r.delta, gam, 0.0)
            vals[:, k] = np.stack([np.sin(th) * np.cos(r.phase), np.sin(th) * np.sin(r.phase),
                                   np.cos(th)], axis=1)
        else:
            vals[:, k, 2] = 1.0
    return nodes, vals


class _System:
    """Residual and Jacobian of the discrete equations for one broadening."""

    def __init__(self, prob: PhaseProblem, eps, gam):
        net = prob.net
        self.n, self.ne = net.n_nodes, eps.size
        self.lap = net.laplacian()
        self.vol = net.volume
        self.et = eps + 1j * gam
        self.kap = prob.kappa_nodes if prob.spectral_tunnel else np.zeros(self.n)
        self.dvec = np.stack([prob.delta * np.cos(prob.phase), prob.delta * np.sin(prob.phase),
                              np.zeros(self.n)], axis=1)  # (n, 3)
        self.zeta0 = float(prob.zeta0)
        self.dn, self.dv = _dirichlet(prob, eps, gam)
        free = np.ones(self.n, bool)
        free[self.dn] = False
        self.free = free

    def subset(self, idx) -> _System:
        """The same system for the energies ``idx`` only."""
        sub = copy.copy(self)
        sub.ne, sub.et, sub.dv = len(idx), self.et[idx], self.dv[idx]
        return sub

    def residual(self, u):
        """u: (ne, n, 4) = (n_x, n_y, n_z, λ); residual of the same shape."""
        nv, lam = u[..., :3], u[..., 3]
        Ln = (self.lap @ nv.transpose(1, 0, 2).reshape(self.n, -1)).reshape(
            self.n, self.ne, 3).transpose(1, 0, 2)
        src = np.zeros_like(nv)
        src[..., 2] = 2j * self.et[:, None] * self.vol[None, :] - self.kap[None, :]
        src -= 2 * self.vol[None, :, None] * self.dvec[None, :, :]
        src[..., :2] += 2 * self.zeta0 * self.vol[None, :, None] * nv[..., :2]
        r = np.empty_like(u)
        r[..., :3] = Ln - src - 2 * lam[..., None] * nv
        r[..., 3] = (nv * nv).sum(axis=-1) - 1.0
        r[:, self.dn, :3] = nv[:, self.dn] - self.dv
        r[:, self.dn, 3] = lam[:, self.dn]
        return r

    def jacobian(self, u):
        n, ne = self.n, self.ne
        nv, lam = u[..., :3], u[..., 3]
        base = (np.arange(ne) * 4 * n)[:, None]  # block of energy e; index 4 i + c
        put = Triplets()

        lap = self.lap.tocoo()
        keep = self.free[lap.row]
        li, lj, lv = lap.row[keep], lap.col[keep], lap.data[keep]
        for c in range(3):
            put(base + 4 * li[None, :] + c, base + 4 * lj[None, :] + c,
                np.broadcast_to(lv, (ne, lv.size)))
        fi = np.flatnonzero(self.free)[None, :]
        for c in range(3):
            diag = -2 * lam[:, fi[0]]
            if c < 2:
                diag = diag - 2 * self.zeta0 * self.vol[fi]
            put(base + 4 * fi + c, base + 4 * fi + c, diag)
            put(base + 4 * fi + c, base + 4 * fi + 3, -2 * nv[:, fi[0], c])
            put(base + 4 * fi + 3, base + 4 * fi + c, 2 * nv[:, fi[0], c])
        dn = self.dn[None, :]
        for c in range(4):
            put(base + 4 * dn + c, base + 4 * dn + c, np.ones((ne, dn.size)))
        size = 4 * n * ne
        return put.csr((size, size))


def _newton(prob, eps, u, gam, maxit=40, tol=1e-11):
    """Damped Newton on the energies not yet converged (residual criterion only); returns
    u, converged flags, iterations."""
    S = _System(prob, eps, gam)
    u = u.copy()
    u[:, S.dn, :3] = S.dv
    u[:, S.dn, 3] = 0.0
    shape = u.shape

    def fun(idx, x, jac):
        sub = S.subset(idx)
        ui = x.reshape(idx.size, *shape[1:])
        return sub.residual(ui).reshape(idx.size, -1), sub.jacobian(ui) if jac else None

    x, done, it, _ = newton_active(fun, u.reshape(eps.size, -1), maxit, tol, 0.0, 14)
    return x.reshape(shape), done, it


def _scaled(prob: PhaseProblem, lam: float) -> PhaseProblem:
    """The device with all phases scaled by λ (reservoir phases taken the short way)."""
    from dataclasses import replace as dc_replace

    if lam >= 1.0:
        return prob
    res = _wrapped(prob)
    return dc_replace(prob, reservoirs=[dc_replace(r, phase=lam * r.phase) for r in res],
                      phase=lam * _guess_phase(prob))


def _continue_phase(prob, eps, gam, maxit, tol, steps: int = 8):
    """Continuation in the phases (λφ, λ: 0 -> 1, adaptive steps) from the zero-phase
    solution, which is what makes energies in the closing minigap near φ = π converge."""
    u, ok, it = _newton(_scaled(prob, 0.0), eps, _guess(_scaled(prob, 0.0), eps, gam), gam,
                        maxit, tol)
    if not ok.all():
        return u, ok, it
    lam, dl = 0.0, 1.0 / steps
    while lam < 1.0 and dl > 1.0 / (steps * 512):
        nxt = min(1.0, lam + dl)
        u1, ok1, itk = _newton(_scaled(prob, nxt), eps, u, gam, min(maxit, 15), tol)
        it += itk
        if ok1.all():
            u, lam, dl = u1, nxt, dl * 1.5
        else:
            dl *= 0.5
    return u, np.full(eps.size, lam >= 1.0), it


def _wrapped(prob: PhaseProblem) -> list:
    """Reservoirs with S phases modulo 2π closest to the first S reservoir's."""
    from dataclasses import replace as dc_replace

    p0 = next(r.phase for r in prob.reservoirs if r.kind == "superconductor")
    return [dc_replace(r, phase=r.phase - 2 * np.pi * np.round((r.phase - p0) / (2 * np.pi)))
            if r.kind == "superconductor" else r for r in prob.reservoirs]


def _guess_phase(prob: PhaseProblem) -> np.ndarray:
    """Phase for the initial guess: Δ's phase in superconducting wires, elsewhere the
    harmonic interpolation of the S reservoirs' phases taken modulo 2π closest to the
    first one (n is single valued: a normal wire between phases ±0.55π is the
    −0.9π state, the short way round)."""
    from .phase import harmonic_phase

    return np.where(prob.delta > 0, prob.phase, harmonic_phase(prob.net, _wrapped(prob)))


def _guess(prob: PhaseProblem, eps, gam):
    """Zero-phase θ rotated by the harmonic phase; λ from the projected equation."""
    th = solve_spectral(prob.zero_phase(gam), eps).theta
    ph = _guess_phase(prob)[None, :]
    u = np.zeros((eps.size, prob.net.n_nodes, 4), dtype=complex)
    u[..., 0] = np.sin(th) * np.cos(ph)
    u[..., 1] = np.sin(th) * np.sin(ph)
    u[..., 2] = np.cos(th)
    S = _System(prob, eps, gam)
    r = S.residual(u)  # with λ = 0: r = Ln - src; choose λ to cancel its n-component
    u[..., 3] = 0.5 * (r[..., :3] * u[..., :3]).sum(axis=-1)
    return u


def _physical(u) -> np.ndarray:
    """Per energy: the retarded branch, Re 𝒢 = Re n_z ≥ 0 on every node (n → −n also
    solves the constraint; near φ = π a continuation can jump to it)."""
    return (u[..., 2].real > -1e-8).all(axis=1)


def _continue_gamma(prob, eps, u, maxit, tol):
    """Continuation in the broadening Γ + γ, γ: 1 -> 0 (adaptive), keeping the retarded
    branch (unique at large broadening)."""
    extra, ratio, it = 1.0, 0.5, 0
    while extra > 0.0:
        nxt = extra * ratio if extra * ratio > 1e-6 else 0.0
        u1, ok1, itk = _newton(prob, eps, u, prob.gamma + nxt, min(maxit, 20), tol)
        it += itk
        if ok1.all() and _physical(u1).all():
            u, extra, ratio = u1, nxt, max(ratio**1.5, 1e-3)
        elif ratio > 0.99:
            return u, np.zeros(eps.size, bool), it
        else:
            ratio = ratio**0.5
    return u, np.ones(eps.size, bool), it


def solve_vector(prob: PhaseProblem, eps, maxit: int = 40, tol: float = 1e-11) -> VectorSolution:
    """Solve the phase-biased spectral equation at all energies (any phases, φ = π
    included)."""
    eps = np.asarray(eps, float)
    u, ok, it = _newton(prob, eps, _guess(prob, eps, prob.gamma), prob.gamma, maxit, tol)
    ok &= _physical(u)
    if not ok.all():
        bad = np.flatnonzero(~ok)
        log.info("usadel vector: %d energies continued in the broadening", bad.size)
        e, g1 = eps[bad], prob.gamma + 1.0
        ub, okb, itk = _newton(prob, e, _guess(prob, e, g1), g1, maxit, tol)
        it += itk
        if not (okb & _physical(ub)).all():
            ub, okb, itk = _continue_phase(prob, e, g1, maxit, tol)
            it += itk
        ub, okb, itk = _continue_gamma(prob, e, ub, maxit, tol)
        it += itk
        if not okb.all():
            raise ConvergenceError(
                f"usadel vector Newton failed at {energies_text(e[~okb])}, also after "
                "the continuation in the broadening. Fix: a small Dynes broadening "
                "(Γ ≳ 1e-4 near φ = π).")
        u[bad] = ub
    return VectorSolution(eps=eps, n=u[..., :3], lam=u[..., 3], problem=prob,
                          iterations=it)


@dataclass
class VectorSolution:
    """n (n_eps, n_nodes, 3) and derived spectral quantities."""

    eps: np.ndarray
    n: np.ndarray
    lam: np.ndarray
    problem: PhaseProblem
    iterations: int = 0

    @cached_property
    def N(self) -> np.ndarray:
        """Density of states Re 𝒢 = Re n_z."""
        return self.n[..., 2].real

    @cached_property
    def edge_js(self) -> np.ndarray:
        r"""Spectral supercurrent through every edge (a -> b),
        :math:`g_e\,\mathrm{Im}\,\hat z\cdot(\mathbf n_a\times\mathbf n_b)` (units of
        :attr:`fvqp.models.usadel.phase.PhaseSolution.edge_js`)."""
        net = self.problem.net
        na, nb = self.n[:, net.edge_a], self.n[:, net.edge_b]
        cross = na[..., 0] * nb[..., 1] - na[..., 1] * nb[..., 0]
        return net.conductance[None, :] * cross.imag

    def supercurrent(self, fL) -> np.ndarray:
        """½∫ j_e f̄_L dε per edge (Eq. 6, as :func:`observables.supercurrent`)."""
        from .observables import integrate

        net = self.problem.net
        return 0.5 * integrate(self.edge_js * net.edge_mean(np.asarray(fL)), self.eps)

r"""Retarded Usadel equation with the phase as an unknown: superconducting reservoirs at
different phases (SNS, phase-biased networks) at real energies.

The (θ, χ) parametrisation with complex θ and χ, :math:`\mathcal G=\cos\theta`,
:math:`\mathcal F=\sin\theta\,e^{i\chi}`, :math:`\tilde{\mathcal F}=\sin\theta\,e^{-i\chi}`,
and the order parameter :math:`|\Delta|e^{i\phi}` (units Δ0, ξ; D relative to D_N):

.. math::
   \partial_x(D\partial_x\theta) - D(\partial_x\chi)^2\sin\theta\cos\theta
     + 2i\tilde\epsilon\sin\theta + 2|\Delta|\cos\theta\cos(\chi-\phi)
     - 2\zeta_0\sin\theta\cos\theta &= 0 ,\\
   \partial_x(D\sin^2\theta\,\partial_x\chi) - 2|\Delta|\sin\theta\sin(\chi-\phi) &= 0 ,

the Euler–Lagrange equations of :math:`\tfrac12 D(\theta'^2+\sin^2\theta\,\chi'^2) +
2i\tilde\epsilon\cos\theta - 2|\Delta|\sin\theta\cos(\chi-\phi)+\zeta_0\sin^2\theta`
(uniform limit: Eq. 1 of Ryan et al. 2026; χ = φ with a uniform gradient gives the
orbital depairing of Eq. 7). The spectral supercurrent is
:math:`j_\epsilon=\mathrm{Im}(\sin^2\theta\,\partial_x\chi)` (Eq. 6, App. B), conserved
where Δ = 0.

*Why (θ, χ) and not Riccati*: discretising the Lagrangian on the edges of the network
(vertex-centred finite volumes, :mod:`~fvqp.models.usadel.network`) gives a χ equation in
exact flux form, so the discrete spectral current :math:`g_e\sin^2\bar\theta_e
(\chi_b-\chi_a)` is conserved to round-off at every normal node and at every network node
(Kirchhoff), and the kinetic coupling terms are built from the same edge fluxes. The price:
χ is undefined where sin θ = 0 (exactly φ = π in a symmetric SNS wire, and normal
reservoirs, where χ gets the natural zero-pair-current condition); near φ = π the
Jacobian becomes ill-conditioned. Riccati parametrisation would avoid that; it is not done.

Boundary conditions: superconducting reservoirs fix θ to the bulk value of their gap and
χ to their phase; normal reservoirs fix θ = 0 (χ free: zero pair current into them);
tunnel junctions to normal electrodes add −κ sin θ to the θ equation (inverse proximity,
no term in the χ equation since the pair current into a normal electrode vanishes).

Solution: Newton with the exact sparse (complex symmetric) Jacobian, all energies at once
with per-energy backtracking; the initial guess is the zero-phase solution of
:func:`~fvqp.models.usadel.spectral.solve_spectral` with χ from the linear
current-conservation problem; energies that fail are continued in the reservoir phases
(0 → φ) and, if needed, in the broadening (Γ + γ_k → Γ).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from ...solvers.result import ConvergenceError
from .bulk import bulk_theta
from .network import WireNetwork
from .newton import energies_text, newton_active
from .spectral import (
    SpectralProblem,
    ThetaSolution,
    WireProblem,
    node_values,
    solve_spectral,
)
from .triplets import Triplets

log = logging.getLogger(__name__)


def harmonic_phase(net: WireNetwork, reservoirs) -> np.ndarray:
    """Order-parameter phase on the nodes: the solution of the network's normal-state
    current-conservation problem with the superconducting reservoirs' phases as Dirichlet
    values (exact for a uniform superconducting wire, where the phase is linear)."""
    sres = [r for r in reservoirs if r.kind == "superconductor"]
    if not sres:
        raise ValueError("phase-biased Usadel problem without superconducting reservoirs: "
                         "the phase is undefined (add a superconducting boundary)")
    lap = net.laplacian().tolil()
    b = np.zeros(net.n_nodes)
    for r in sres:
        lap.rows[r.node], lap.data[r.node] = [r.node], [1.0]
        b[r.node] = r.phase
    return spla.spsolve(lap.tocsc(), b)


@dataclass
class PhaseProblem(WireProblem):
    """Data of the phase-biased spectral equation (dimensionless): the fields of
    :class:`~fvqp.models.usadel.spectral.WireProblem` (the reservoirs' ``phase`` used for
    S reservoirs) and

    Attributes
    ----------
    phase : ndarray (n_nodes,), optional
        Phase φ(x) of Δ; default :func:`harmonic_phase` (from the S reservoirs' phases).
    """

    phase: np.ndarray | None = field(default=None, kw_only=True)

    def __post_init__(self):
        super().__post_init__()
        self.phase = node_values(self.net, harmonic_phase(self.net, self.reservoirs)
                                 if self.phase is None else self.phase)

    @property
    def dphi(self) -> np.ndarray:
        """No imposed phase gradient (the gradient is the solution's ∂xχ)."""
        return np.zeros(self.net.n_edges)

    @property
    def zeta(self) -> np.ndarray:
        return node_values(self.net, self.zeta0)

    def zero_phase(self, gamma: float | None = None) -> SpectralProblem:
        """The same device with all phases zero (the initial guess)."""
        return SpectralProblem(self.net, self.delta,
                               gamma=self.gamma if gamma is None else gamma,
                               zeta0=self.zeta0, reservoirs=self.reservoirs,
                               junctions=self.junctions,
                               spectral_tunnel=self.spectral_tunnel)

    def dirichlet(self, eps, gam):
        """θ nodes/values (all reservoirs) and χ nodes/values (S reservoirs)."""
        tn = np.array([r.node for r in self.reservoirs], dtype=int)
        tv = np.zeros((eps.size, tn.size), dtype=complex)
        cn, cv = [], []
        for k, r in enumerate(self.reservoirs):
            if r.kind == "superconductor":
                tv[:, k] = bulk_theta(eps, r.delta, gam, 0.0)
                cn.append(r.node)
                cv.append(r.phase)
        return tn, tv, np.array(cn, dtype=int), np.array(cv, dtype=float)


def _edge_flux(net, th, ch):
    """Edge quantities: g, sin²θ̄_e, sin 2θ̄_e, cos 2θ̄_e, Δχ_e (all energies)."""
    a, b = net.edge_a, net.edge_b
    tb = 0.5 * (th[:, a] + th[:, b])
    return net.conductance, np.sin(tb) ** 2, np.sin(2 * tb), np.cos(2 * tb), \
        ch[:, b] - ch[:, a]


def _residual_jacobian(prob: PhaseProblem, eps, th, ch, gam, dirichlet, lam_phase=1.0,
                       jac=True):
    """Residual (n_eps, 2n) and sparse Jacobian of the discrete (θ, χ) equations."""
    net = prob.net
    n, ne = net.n_nodes, eps.size
    a, b = net.edge_a[None, :], net.edge_b[None, :]
    g, S, S1, C2, dchi = _edge_flux(net, th, ch)
    g = g[None, :]
    et = (eps + 1j * gam)[:, None]
    s, c = np.sin(th), np.cos(th)
    d, vol = prob.delta[None, :], net.volume[None, :]
    kap = prob.kappa_nodes[None, :] if prob.spectral_tunnel else 0.0
    psi = ch - lam_phase * prob.phase[None, :]
    cp, sp_ = np.cos(psi), np.sin(psi)
    Rt = vol * (2j * et * s + 2 * d * c * cp - 2 * prob.zeta0 * s * c) - kap * s
    Rc = -vol * 2 * d * s * sp_
    ft = g * (th[:, net.edge_b] - th[:, net.edge_a])  # θ flux a -> b
    fq = g * dchi**2 * S1 / 4  # (Δχ)² sin 2θ̄ / 4 term, to both ends
    fc = g * S * dchi  # spectral (pair) flux a -> b
    rows = np.arange(ne)[:, None]
    np.add.at(Rt, (rows, a), ft - fq)
    np.add.at(Rt, (rows, b), -ft - fq)
    np.add.at(Rc, (rows, a), fc)
    np.add.at(Rc, (rows, b), -fc)
    tn, tv, cn, cv = dirichlet
    Rt[:, tn] = th[:, tn] - tv
    Rc[:, cn] = ch[:, cn] - lam_phase * cv[None, :]
    R = np.concatenate([Rt, Rc], axis=1)
    if not jac:
        return R, None
    base = (np.arange(ne) * 2 * n)[:, None]
    T, X = base, base + n
    put = Triplets()

    q8 = g * dchi**2 * C2 / 4  # d(fq)/dθ_a = d(fq)/dθ_b
    m = g * dchi * S1 / 2
    gS = g * S
    for row, sg in ((a, 1.0), (b, -1.0)):
        put(T + row, T + a, -sg * g - q8)
        put(T + row, T + b, sg * g - q8)
        put(T + row, X + a, m)
        put(T + row, X + b, -m)
        put(X + row, T + a, sg * m)
        put(X + row, T + b, sg * m)
        put(X + row, X + a, -sg * gS)
        put(X + row, X + b, sg * gS)
    node = np.arange(n)[None, :]
    put(T + node, T + node, vol * (2j * et * c - 2 * d * s * cp - 2 * prob.zeta0
                                   * np.cos(2 * th)) - kap * c)
    off = -vol * 2 * d * c * sp_
    put(T + node, X + node, off)
    put(X + node, T + node, off)
    put(X + node, X + node, -vol * 2 * d * s * cp)
    J = put.csr((2 * n * ne, 2 * n * ne))
    drows = np.concatenate([(base + tn[None, :]).ravel(), (base + n + cn[None, :]).ravel()])
    keep = np.ones(J.shape[0])
    keep[drows] = 0.0
    J = (sp.diags(keep) @ J + sp.diags(1.0 - keep)).tocsr()
    return R, J


def _newton(prob, eps, th, ch, gam, lam_phase=1.0, maxit=40, tol=1e-11):
    """Damped Newton on the energies not yet converged
    (:func:`~fvqp.models.usadel.newton.newton_active`; step tolerance ``tol``·1e-2);
    returns θ, χ, converged flags, iterations, largest residual."""
    dirichlet = prob.dirichlet(eps, gam)
    n = prob.net.n_nodes
    tn, tv, cn, cv = dirichlet
    x = np.concatenate([th, ch], axis=1)
    x[:, tn], x[:, n + cn] = tv, lam_phase * cv[None, :]

    def fun(idx, xs, jac):
        return _residual_jacobian(prob, eps[idx], xs[:, :n], xs[:, n:], gam,
                                  (tn, tv[idx], cn, cv), lam_phase, jac)

    x, done, it, norm = newton_active(fun, x, maxit, tol, tol * 1e-2, 14)
    return x[:, :n], x[:, n:], done, it, float(norm.max())


def _chi_guess(prob: PhaseProblem, theta, lam_phase=1.0):
    """χ from the linear pair-current conservation Σ g sin²θ̄ Δχ = 0 at fixed θ
    (Δ-term linearised about χ = φ), Dirichlet at the S reservoirs; all energies in one
    block-diagonal sparse solve."""
    net = prob.net
    n, ne = net.n_nodes, theta.shape[0]
    _, _, cn, cv = prob.dirichlet(np.zeros(1), prob.gamma)
    _, S, *_ = _edge_flux(net, theta, np.zeros_like(theta))
    w = net.conductance[None, :] * S
    base = (np.arange(ne) * n)[:, None]
    a, b = base + net.edge_a[None, :], base + net.edge_b[None, :]
    m = net.volume[None, :] * 2 * prob.delta[None, :] * np.sin(theta)
    rows = np.concatenate([a, a, b, b, base + np.arange(n)[None, :]], axis=1).ravel()
    cols = np.concatenate([a, b, b, a, base + np.arange(n)[None, :]], axis=1).ravel()
    vals = np.concatenate([-w, w, -w, w, -m], axis=1).ravel()
    A = sp.csr_matrix((vals, (rows, cols)), shape=(ne * n, ne * n))
    rhs = (-m * lam_phase * prob.phase[None, :]).astype(complex)
    drows = (base + cn[None, :]).ravel()
    rhs[:, cn] = lam_phase * cv[None, :]
    keep = np.ones(ne * n)
    keep[drows] = 0.0
    diag = A.diagonal()
    iso = (np.abs(diag) == 0) & (keep > 0)  # nodes without pair coupling: χ = 0
    A = (sp.diags(keep) @ A + sp.diags(1.0 - keep + iso)).tocsc()
    return spla.spsolve(A, rhs.ravel()).reshape(ne, n)


def _continue_phase(prob, eps, gam, maxit, tol, steps):
    """Continuation in the phases (φ -> λφ, λ: 0 -> 1) with adaptive steps."""
    th, ch = _initial(prob, eps, gam, 0.0)
    lam, dl, it = 0.0, 1.0 / steps, 0
    ok, res = np.ones(eps.size, bool), 0.0
    while lam < 1.0 and dl > 1.0 / (steps * 256):
        nxt = min(1.0, lam + dl)
        t1, c1, ok1, itk, res1 = _newton(prob, eps, th, ch, gam, nxt, min(maxit, 15), tol)
        it += itk
        if ok1.all():
            th, ch, lam, res = t1, c1, nxt, res1
            dl *= 1.5
        else:
            dl *= 0.5
    ok[:] = lam >= 1.0
    return th, ch, ok, it, res


def _continue_gamma(prob, eps, th, ch, extra, maxit, tol, stages):
    """Continuation in the broadening Γ + γ, γ: ``extra`` -> 0 (geometric, adaptive),
    which follows the retarded branch (unique at large broadening)."""
    ratio, it, res = 0.5 ** (12.0 / stages), 0, 0.0
    floor = 1e-6 * max(extra, 1.0)
    while extra > 0.0:
        nxt = extra * ratio if extra * ratio > floor else 0.0
        t1, c1, ok, itk, res1 = _newton(prob, eps, th, ch, prob.gamma + nxt, 1.0,
                                        min(maxit, 15), tol)
        it += itk
        if ok.all():
            th, ch, extra, res = t1, c1, nxt, res1
            ratio = max(ratio**1.5, 1e-3)
        elif ratio > 0.999:
            return th, ch, ok, it, res1
        else:
            ratio = ratio**0.5
    return th, ch, np.ones(eps.size, bool), it, res


def _initial(prob, eps, gam, lam_phase=1.0):
    th = solve_spectral(prob.zero_phase(gam), eps).theta
    return th, _chi_guess(prob, th, lam_phase)


def solve_phase(prob: PhaseProblem, eps, guess=None, maxit: int = 40, tol: float = 1e-11,
                phase_steps: int = 8, homotopy_stages: int = 12,
                split=None) -> PhaseSolution:
    """Solve the phase-biased spectral equation at all energies ``eps``.

    ``guess`` = (θ, χ) of a previous solution (same shapes) or None. ``split``
    (:class:`fvqp.parallel.energies.EnergySplit`) shares the energies: given the
    reservoirs' phases the energies are independent systems, so each block of the grid
    gets its initial guess and its Newton solve (active set) where ``split`` puts it, and
    θ, χ are gathered in grid order. The few energies that need the continuation in the
    broadening (and phases) are then continued together on every rank, exactly as in a
    serial solve (the continuation's steps are chosen for all of them at once, so sharing
    them would change the path).
    """
    eps = np.asarray(eps, float)

    def direct(sl):  # initial guess and Newton of the energies ``sl``
        e = eps[sl]
        if e.size == 0:  # a rank without energies (more ranks than energies)
            empty = np.zeros((0, prob.net.n_nodes), complex)
            return empty, empty.copy(), np.zeros(0, bool), 0, 0.0
        th0, ch0 = _initial(prob, e, prob.gamma) if guess is None else \
            (guess[0][sl], guess[1][sl])
        return _newton(prob, e, th0, ch0, prob.gamma, 1.0, maxit, tol)

    if split is not None and split.size > 1:
        parts = split.map(direct, eps.size)
        th, ch, done = (np.concatenate([p[i] for p in parts]) for i in range(3))
        it, res = max(p[3] for p in parts), max(p[4] for p in parts)
    else:
        th, ch, done, it, res = direct(slice(None))
    if not done.all():
        bad = np.flatnonzero(~done)
        log.info("usadel phase: %d energies continued in the broadening", bad.size)
        e = eps[bad]
        g0 = prob.gamma + 1.0
        tb, cb, ok, itk, res_b = _newton(prob, e, *_initial(prob, e, g0), g0, 1.0, maxit,
                                         tol)
        it += itk
        if not ok.all():
            tb, cb, ok, itk, res_b = _continue_phase(prob, e, g0, maxit, tol, phase_steps)
            it += itk
        tb, cb, ok, itk, res_b = _continue_gamma(prob, e, tb, cb, 1.0, maxit, tol,
                                                 homotopy_stages)
        it += itk
        th[bad], ch[bad] = tb, cb
        if not ok.all():
            raise ConvergenceError(
                f"usadel phase Newton failed at {energies_text(e[~ok])}, also after "
                f"the continuation in the broadening; residual {res_b:.2e}. Fix: phase "
                "differences ≤ 0.9π (the (θ, χ) solver cannot reach π), or a small Dynes "
                "broadening.")
        done[bad] = ok
        res = float(np.abs(_residual_jacobian(prob, eps, th, ch, prob.gamma,
                                              prob.dirichlet(eps, prob.gamma),
                                              jac=False)[0]).max())
    return PhaseSolution(eps=eps, theta=th, chi=ch, problem=prob, iterations=it,
                         residual=res)


@dataclass
class PhaseSolution(ThetaSolution):
    r"""θ, χ (n_eps, n_nodes) and the spectral coefficients of the kinetic equations.

    With :math:`s=\sin\theta`, ψ = χ − φ:
    :math:`N=\mathrm{Re}\cos\theta`,
    :math:`\mathcal D_{L,T}=\tfrac12(1+|\cos\theta|^2\mp|s|^2\cosh 2\,\mathrm{Im}\chi)`,
    the anomalous cross coefficient :math:`\mathcal T=\tfrac12|s|^2\sinh 2\,\mathrm{Im}\chi`,
    :math:`\mathcal R_T=2|\Delta|\,\mathrm{Re}(s\cos\psi)` and the edge spectral
    supercurrent :math:`g_e\,\mathrm{Im}(\sin^2\bar\theta_e\,\Delta\chi_e)`; they reduce to
    those of :class:`~fvqp.models.usadel.spectral.SpectralSolution` for real χ = φ.
    """

    #: the phase χ (n_eps, n_nodes); ``problem`` is the :class:`PhaseProblem`
    chi: np.ndarray = field(kw_only=True)

    @cached_property
    def F(self):
        """Pair amplitude in the gauge of Δ: sin θ e^{i(χ−φ)}."""
        return np.sin(self.theta) * np.exp(1j * (self.chi - self.problem.phase[None, :]))

    @cached_property
    def _ch(self):
        return np.cosh(2 * self.chi.imag), np.sinh(2 * self.chi.imag)

    @cached_property
    def DL(self):
        return 0.5 * (1 + np.abs(self.G) ** 2 - np.abs(np.sin(self.theta)) ** 2 * self._ch[0])

    @cached_property
    def DT(self):
        return 0.5 * (1 + np.abs(self.G) ** 2 + np.abs(np.sin(self.theta)) ** 2 * self._ch[0])

    @cached_property
    def cross(self):
        """Node values of the cross coefficient 𝒯 (zero for real χ)."""
        return 0.5 * np.abs(np.sin(self.theta)) ** 2 * self._ch[1]

    @cached_property
    def RT(self):
        psi = self.chi - self.problem.phase[None, :]
        return 2.0 * self.problem.delta * (np.sin(self.theta) * np.cos(psi)).real

    @cached_property
    def imF(self):
        r""":math:`\mathrm{Im}(s\cos\psi)`, the part of the pair amplitude in phase with Δ
        (enters Eq. 8; the quadrature part would set the phase self-consistently)."""
        psi = self.chi - self.problem.phase[None, :]
        return (np.sin(self.theta) * np.cos(psi)).imag

    @cached_property
    def edge_js(self) -> np.ndarray:
        r"""Spectral supercurrent through every edge, :math:`g_e\,\mathrm{Im}(\sin^2
        \bar\theta_e(\chi_b-\chi_a))` ≈ :math:`DA\,j_\epsilon` (units 1/R_ξ · ξ⁰), a -> b."""
        g, S, _, _, dchi = _edge_flux(self.problem.net, self.theta, self.chi)
        return (g[None, :] * S * dchi).imag

    @cached_property
    def node_RL(self) -> np.ndarray:
        r"""Volume-integrated :math:`\mathcal R_L` = discrete divergence of
        :attr:`edge_js` (net spectral supercurrent leaving each node; equals
        :math:`V\,2|\Delta|\mathrm{Im}(s\sin\psi)` at the converged spectral solution)."""
        net = self.problem.net
        out = np.zeros((self.eps.size, net.n_nodes))
        rows = np.arange(self.eps.size)[:, None]
        np.add.at(out, (rows, net.edge_a[None, :]), self.edge_js)
        np.add.at(out, (rows, net.edge_b[None, :]), -self.edge_js)
        return out

    @cached_property
    def jeps(self):
        """Node spectral supercurrent density Im(sin²θ ∂xχ) (mean of the adjacent edges)."""
        net = self.problem.net
        jl = self.edge_js / net.sigma_area[None, :]
        out = np.zeros((self.eps.size, net.n_nodes))
        rows = np.arange(self.eps.size)[:, None]
        np.add.at(out, (rows, net.edge_a[None, :]), jl)
        np.add.at(out, (rows, net.edge_b[None, :]), jl)
        return out / net.degree[None, :]

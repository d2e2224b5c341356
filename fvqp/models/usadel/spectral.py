r"""Retarded Usadel equation on a wire network, every energy at once.

In units of Δ0 and ξ (paper Eq. 2) and the gauge where the order parameter is real and
the phase gradient :math:`\partial_x\phi` of a current-carrying wire is kept explicit,
the θ-parametrisation (:math:`\mathcal G=\cos\theta`, :math:`\mathcal F=\sin\theta`) of
Eq. 1 with a spatial term is

.. math::  \partial_x(D\,\partial_x\theta) + 2i\tilde\epsilon\sin\theta + 2\Delta\cos\theta
           - 2\zeta\sin\theta\cos\theta = 0,\qquad
           \zeta = \zeta_0 + \tfrac12(\partial_x\phi)^2 ,

whose uniform limit is Eq. 1 with the orbital depairing of Eq. 7. It is discretised on the
nodes of :class:`~fvqp.models.usadel.network.WireNetwork` (vertex-centred finite volumes).
Reservoirs fix θ (0 in a normal metal, the bulk value in a superconductor); a tunnel
junction to a normal electrode adds the Kupriyanov–Lukichev term
:math:`-\kappa\sin\theta` at its node (κ = G_T R_ξ).

All energies are solved together: Newton on the block-diagonal system (one block per
energy, a single sparse LU), with a per-energy backtracking line search. Energies that
fail are re-solved by homotopy in the broadening (Γ + γ_k → Γ), which is what makes the
solve robust at the gap edge and at ε → 0 with Γ → 0.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, fields, replace
from functools import cached_property
from typing import Any

import numpy as np
import scipy.sparse as sp

from ...solvers.result import ConvergenceError
from .bulk import bulk_theta
from .network import WireNetwork
from .newton import energies_text, newton_active

log = logging.getLogger(__name__)


def node_values(net: WireNetwork, value) -> np.ndarray:
    """``value`` (a number or one per node) as a new float array on the nodes of ``net``."""
    return np.broadcast_to(np.asarray(value, float), (net.n_nodes,)).copy()


@dataclass
class WireProblem:
    """What the spectral problems of a network share (:class:`SpectralProblem`,
    :class:`~fvqp.models.usadel.phase.PhaseProblem`); every field but ``net`` and
    ``delta`` is keyword-only.

    Attributes
    ----------
    net : WireNetwork
    delta : ndarray (n_nodes,)
        |Δ(x)| on the nodes (a number: the same on every node).
    gamma : float
        Dynes broadening Γ.
    zeta0 : float or ndarray (n_nodes,)
        Depairing parameter besides the phase gradient.
    reservoirs, junctions : list
        :class:`~fvqp.models.usadel.terminals.Reservoir`,
        :class:`~fvqp.models.usadel.terminals.TunnelJunction`.
    spectral_tunnel : bool
        Include the −κ sinθ inverse-proximity term of tunnel junctions.
    """

    net: WireNetwork
    delta: np.ndarray
    gamma: float = field(default=0.0, kw_only=True)
    zeta0: float | np.ndarray = field(default=0.0, kw_only=True)
    reservoirs: list = field(default_factory=list, kw_only=True)
    junctions: list = field(default_factory=list, kw_only=True)
    spectral_tunnel: bool = field(default=True, kw_only=True)

    def __post_init__(self):
        self.delta = node_values(self.net, self.delta)

    @property
    def kappa_nodes(self) -> np.ndarray:
        """κ = G_T R_ξ of the junctions on their nodes (:func:`node_kappa`)."""
        return node_kappa(self.net.n_nodes, self.junctions)


@dataclass
class SpectralProblem(WireProblem):
    """Data of the spectral equation on a network (dimensionless): the fields of
    :class:`WireProblem` and

    Attributes
    ----------
    dphi : ndarray (n_edges,)
        Phase gradient ∂xφ along every edge (a -> b); default 0.
    """

    dphi: np.ndarray | None = field(default=None, kw_only=True)

    def __post_init__(self):
        super().__post_init__()
        self.dphi = np.zeros(self.net.n_edges) if self.dphi is None else \
            np.broadcast_to(np.asarray(self.dphi, float), (self.net.n_edges,)).copy()

    @property
    def zeta(self) -> np.ndarray:
        """Node depairing ζ0 + volume average of D(∂xφ)²/2 over the adjacent edges (Eq. 7;
        D relative to the reference wire)."""
        net = self.net
        half = 0.5 * net.sigma_area * net.length * 0.5 * self.dphi**2
        z = np.zeros(net.n_nodes)
        np.add.at(z, net.edge_a, half)
        np.add.at(z, net.edge_b, half)
        return self.zeta0 + z / net.volume

    def dirichlet(self, eps: np.ndarray):
        """Dirichlet node indices and their θ values, shape (n_eps, n_dir)."""
        nodes = np.array([r.node for r in self.reservoirs], dtype=int)
        vals = np.zeros((eps.size, nodes.size), dtype=complex)
        for k, r in enumerate(self.reservoirs):
            if r.kind == "superconductor":
                vals[:, k] = bulk_theta(eps, r.delta, self.gamma, 0.0)
        return nodes, vals


def node_kappa(n_nodes: int, junctions) -> np.ndarray:
    """κ = G_T R_ξ of the tunnel junctions summed on their nodes (Eq. 11), (n_nodes,)."""
    k = np.zeros(n_nodes)
    for j in junctions:
        k[j.node] += j.kappa
    return k


@dataclass
class ThetaSolution:
    r"""θ(ε, x) of a spectral solve with what every parametrisation shares: the energies,
    the problem, Newton counters, :math:`\mathcal G=\cos\theta` and :math:`N=\mathrm{Re}
    \,\mathcal G` (:class:`SpectralSolution`,
    :class:`~fvqp.models.usadel.phase.PhaseSolution`)."""

    eps: np.ndarray
    theta: np.ndarray
    problem: Any
    iterations: int = 0
    residual: float = 0.0

    @cached_property
    def G(self):
        return np.cos(self.theta)

    def energy_block(self, sl: slice) -> ThetaSolution:
        """This solution at the energies ``eps[sl]`` only: every per-energy field sliced,
        so the coefficients (per energy, computed on first use) are computed for those
        energies alone, e.g. on the rank that owns them
        (:func:`~fvqp.models.usadel.kinetic.assemble`)."""
        ne = self.eps.size
        return replace(self, **{
            f.name: getattr(self, f.name)[sl] for f in fields(self)
            if isinstance(getattr(self, f.name), np.ndarray)
            and getattr(self, f.name).ndim and getattr(self, f.name).shape[0] == ne})

    @cached_property
    def N(self):
        return self.G.real


@dataclass
class SpectralSolution(ThetaSolution):
    r"""θ(ε, x) and the spectral coefficients derived from it (App. B, Eqs. 9–10).

    For complex θ and real Δ:
    :math:`N=\mathrm{Re}\cos\theta`,
    :math:`D_L=\tfrac12(1+|\cos\theta|^2-|\sin\theta|^2)=\mathrm{Re}(\mathcal G)^2-
    \mathrm{Im}(\mathcal F)^2`,
    :math:`D_T=\tfrac12(1+|\cos\theta|^2+|\sin\theta|^2)=\mathrm{Re}(\mathcal G)^2+
    \mathrm{Re}(\mathcal F)^2`,
    :math:`R_T=2\Delta\,\mathrm{Re}\sin\theta` (may be negative in proximity structures),
    :math:`j_\epsilon=\mathrm{Im}\,\mathcal F^2` (Eq. 6).
    """

    @cached_property
    def F(self):
        return np.sin(self.theta)

    @cached_property
    def DL(self):
        return 0.5 * (1 + np.abs(self.G) ** 2 - np.abs(self.F) ** 2)

    @cached_property
    def DT(self):
        return 0.5 * (1 + np.abs(self.G) ** 2 + np.abs(self.F) ** 2)

    @cached_property
    def RT(self):
        return 2.0 * self.problem.delta * self.F.real

    @cached_property
    def jeps(self):
        return (self.F**2).imag

    @cached_property
    def imF(self):
        return self.F.imag


def _assemble(prob: SpectralProblem, eps, th, gam, dir_nodes, dir_vals, lap, kappa, vol, zeta,
              jac=True):
    """Residual (n_eps, n) and block-diagonal Jacobian (None if not ``jac``) of the discrete
    equation."""
    et = (eps + 1j * gam)[:, None]
    s, c = np.sin(th), np.cos(th)
    d = prob.delta[None, :]
    r = (lap @ th.T).T + vol * (2j * et * s + 2 * d * c - 2 * zeta * s * c) - kappa * s
    r[:, dir_nodes] = th[:, dir_nodes] - dir_vals
    if not jac:
        return r, None
    dd = vol * (2j * et * c - 2 * d * s - 2 * zeta * np.cos(2 * th)) - kappa * c
    dd[:, dir_nodes] = 1.0
    ne = eps.size
    J = sp.kron(sp.identity(ne, format="csr"), lap, format="csr") + sp.diags(dd.ravel())
    return r, J


def _newton(prob, eps, th, gam, maxit=40, tol=1e-11):
    """Vectorised damped Newton on the energies not yet converged
    (:func:`~fvqp.models.usadel.newton.newton_active`); returns θ, per-energy convergence
    flags, iterations, largest residual."""
    dir_nodes, dir_vals = prob.dirichlet(eps)
    th, done, it, norm = newton_theta(prob, eps, th, gam, dir_nodes, dir_vals, maxit, tol)
    return th, done, it, float(norm.max())


def newton_theta(prob, eps, th, gam, dir_nodes, dir_vals, maxit: int, tol: float):
    """θ of ``prob`` at the energies ``eps`` with the broadening ``gam`` (a number, or
    one per energy: the Matsubara frequencies of :mod:`~.matsubara`), θ fixed to
    ``dir_vals`` (n_eps, n_dir) on ``dir_nodes``, by
    :func:`~fvqp.models.usadel.newton.newton_active` from ``th``: its θ, per-energy
    convergence flags, iterations and residual norms."""
    net = prob.net
    lap = net.laplacian().tolil()
    for i in dir_nodes:
        lap.rows[i], lap.data[i] = [], []
    lap = lap.tocsr()
    kappa = prob.kappa_nodes[None, :] if prob.spectral_tunnel else 0.0
    vol, zeta = net.volume[None, :], prob.zeta[None, :]
    th = th.copy()
    th[:, dir_nodes] = dir_vals
    per_energy = np.ndim(gam) > 0

    def fun(idx, x, jac):
        return _assemble(prob, eps[idx], x, gam[idx] if per_energy else gam, dir_nodes,
                         dir_vals[idx], lap, kappa, vol, zeta, jac)

    return newton_active(fun, th, maxit, tol, tol, 12)


def solve_spectral(prob: SpectralProblem, eps, theta0=None, maxit: int = 40,
                   tol: float = 1e-11, homotopy_stages: int = 12,
                   split=None) -> SpectralSolution:
    """Solve the spectral equation at all energies ``eps``.

    Parameters
    ----------
    prob
        Problem data.
    eps : array_like
        Energy grid (Δ0).
    theta0 : ndarray, optional
        Initial guess (n_eps, n_nodes); default the local bulk solution.
    split : optional
        Shares the energies (:class:`fvqp.parallel.energies.EnergySplit`): each block of
        the grid is solved on its own (the energies are independent; the active-set
        Newton treats each energy as a solve of its own), θ gathered in grid order.
    """
    eps = np.asarray(eps, float)
    if split is not None and split.size > 1:
        parts = split.map(lambda sl: _solve_block(
            prob, eps[sl], None if theta0 is None else theta0[sl], maxit, tol,
            homotopy_stages), eps.size)
        return SpectralSolution(eps=eps, theta=np.concatenate([p[0] for p in parts]),
                                problem=prob, iterations=max(p[1] for p in parts),
                                residual=max(p[2] for p in parts))
    th, it, res = _solve_block(prob, eps, theta0, maxit, tol, homotopy_stages)
    return SpectralSolution(eps=eps, theta=th, problem=prob, iterations=it, residual=res)


def _solve_block(prob: SpectralProblem, eps, theta0, maxit, tol, homotopy_stages):
    """θ, iterations and residual of the energies ``eps`` (:func:`solve_spectral`)."""
    if eps.size == 0:  # a rank without energies (more ranks than energies)
        return np.zeros((0, prob.net.n_nodes), complex), 0, 0.0
    if theta0 is None:
        theta0 = bulk_theta(eps[:, None], prob.delta[None, :], prob.gamma,
                            prob.zeta[None, :])
    th, done, it, res = _newton(prob, eps, theta0, prob.gamma, maxit, tol)
    if not done.all():
        bad = np.flatnonzero(~done)
        log.info("usadel spectral: %d energies need homotopy in the broadening", bad.size)
        tb = bulk_theta(eps[bad, None], prob.delta[None, :], prob.gamma + 1.0,
                        prob.zeta[None, :])
        for k in range(homotopy_stages + 1):
            g = prob.gamma + (0.5 ** k if k < homotopy_stages else 0.0)
            tb, ok, itk, res_b = _newton(prob, eps[bad], tb, g, maxit, tol)
            it += itk
        th[bad] = tb
        done[bad] = ok
        if not ok.all():
            raise ConvergenceError(
                f"usadel spectral Newton failed at {energies_text(eps[bad][~ok])}, also "
                f"after the homotopy in the broadening; residual {res_b:.2e}. Fix: a small "
                "Dynes broadening (regions.*.dynes, e.g. 1e-3 Δ0) or an energy grid that "
                "does not put a node exactly on the gap edge ([energy] spacing).")
        res = max(res, res_b)
    return th, it, res


def uniform_solution(eps, delta: float = 1.0, gamma: float = 0.0,
                     zeta: float = 0.0) -> SpectralSolution:
    """The bulk solution (Eq. 1) as a :class:`SpectralSolution` on a two-node wire."""
    from .network import uniform_wire

    eps = np.asarray(eps, float)
    prob = SpectralProblem(uniform_wire(1.0, 1), delta, gamma=gamma, zeta0=zeta)
    th = bulk_theta(eps, delta, gamma, zeta)
    return SpectralSolution(eps=eps, theta=np.stack([th, th], axis=1), problem=prob)

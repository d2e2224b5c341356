r"""Equilibrium supercurrent of a phase-biased normal wire (SNS) in the Matsubara
representation: a check of the Usadel normalisation used by the real-energy solver.

With ε → iω (ω > 0) the retarded equation of :mod:`fvqp.models.usadel.spectral` becomes
real: for the wire's normal metal (Δ = 0), with the phase χ(x) now an unknown,

.. math::  \partial_x^2\theta-(\partial_x\chi)^2\sin\theta\cos\theta-2\omega\sin\theta=0,
           \qquad \partial_x(\sin^2\theta\,\partial_x\chi)=0 ,

(lengths in L, ω in E_Th = ħD/L²), with rigid boundary conditions θ = θ_S =
arctan(Δ/ω), χ = ∓φ/2 at the two superconductors. The conserved spectral current
J(ω) = sin²θ ∂xχ gives, at T → 0, :math:`eR_NI=E_\mathrm{Th}\int_0^\infty J\,d\omega`
(the zero-temperature limit of :math:`\pi T\sum_{\omega_n}`). For Δ ≫ E_Th the maximum over
φ is :math:`eR_NI_c = 10.82\,E_\mathrm{Th}` (Dubos et al., PRB 63, 064502 (2001)).

Discretisation as in :mod:`~fvqp.models.usadel.network` (vertex-centred, nodes of a
uniform chain); Newton with the exact sparse Jacobian for all frequencies at once.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from .triplets import Triplets


def _residual_jacobian(th, ch, w, h, thS, phi):
    """Residual (n_w, 2n) and sparse Jacobian of the discrete equations."""
    nw, n = th.shape
    a = np.arange(n - 1)[None, :]
    b = a + 1
    d = np.diff(ch, axis=1) / h  # χ' on edges
    tb = 0.5 * (th[:, 1:] + th[:, :-1])
    s2, sc = np.sin(tb) ** 2, 0.5 * np.sin(2 * tb)
    q = d**2
    qn = np.zeros_like(th)
    qn[:, 1:] += 0.5 * q
    qn[:, :-1] += 0.5 * q
    s, c = np.sin(th), np.cos(th)
    flux_t, flux_c = np.diff(th, axis=1) / h, s2 * d
    R1 = -h * (qn * s * c + 2 * w[:, None] * s)
    R1[:, :-1] += flux_t
    R1[:, 1:] -= flux_t
    R2 = np.zeros_like(th)
    R2[:, :-1] += flux_c
    R2[:, 1:] -= flux_c
    R1[:, 0], R1[:, -1] = th[:, 0] - thS, th[:, -1] - thS
    R2[:, 0], R2[:, -1] = ch[:, 0] + phi / 2, ch[:, -1] - phi / 2
    base = (np.arange(nw) * 2 * n)[:, None]
    T, C = base, base + n  # offsets of the θ and χ blocks
    put = Triplets()

    g = np.full((nw, n - 1), 1.0 / h)
    for row, sgn in ((a, 1.0), (b, -1.0)):  # edge flux enters row a with +, row b with -
        put(T + row, T + b, sgn * g)
        put(T + row, T + a, -sgn * g)
        put(C + row, C + b, sgn * s2 / h)
        put(C + row, C + a, -sgn * s2 / h)
        put(C + row, T + a, sgn * sc * d)
        put(C + row, T + b, sgn * sc * d)
    for row in (a, b):  # -h s c qn with qn containing q_e / 2
        scn = np.take_along_axis(s * c, np.broadcast_to(row, (nw, n - 1)), axis=1)
        put(T + row, C + b, -scn * d)
        put(T + row, C + a, scn * d)
    node = np.arange(n)[None, :]
    put(T + node, T + node, -h * (qn * np.cos(2 * th) + 2 * w[:, None] * c))
    J = put.csr((2 * n * nw, 2 * n * nw))
    dirichlet = np.concatenate([base[:, 0] + k for k in (0, n - 1, n, 2 * n - 1)])
    keep = np.ones(J.shape[0])
    keep[dirichlet] = 0.0
    J = (sp.diags(keep) @ J + sp.diags(1.0 - keep)).tocsr()
    return np.concatenate([R1, R2], axis=1), J


def solve_profiles(phi: float, omegas, n_edges: int = 60, delta_over_eth=np.inf,
                   tol: float = 1e-12, maxit: int = 50):
    """θ(x), χ(x) on the nodes (n_w, n_edges + 1) at phase difference φ."""
    w = np.asarray(omegas, float)
    n = n_edges + 1
    h = 1.0 / n_edges
    x = np.linspace(0, 1, n)
    thS = np.arctan2(delta_over_eth, w)[:, None] if np.isfinite(delta_over_eth) else \
        np.full((w.size, 1), np.pi / 2)
    k = np.sqrt(2 * w)[:, None]  # linearised decay from the contacts as the first guess
    th = thS * np.cosh(k * (x - 0.5)) / np.cosh(k / 2)
    ch = np.broadcast_to(phi * (x - 0.5), (w.size, n)).copy()
    for _ in range(maxit):
        R, J = _residual_jacobian(th, ch, w, h, thS[:, 0], phi)
        du = spla.spsolve(J.tocsc(), -R.ravel()).reshape(w.size, 2 * n)
        du *= np.minimum(1.0, 0.5 / np.maximum(np.abs(du).max(axis=1), 1e-300))[:, None]
        th += du[:, :n]
        ch += du[:, n:]
        if np.abs(du).max() < tol:
            return th, ch
    raise RuntimeError("SNS Matsubara Newton did not converge")


def spectral_current(phi: float, omegas, n_edges: int = 60, delta_over_eth=np.inf
                     ) -> np.ndarray:
    """J(ω) = sin²θ ∂xχ (units E_Th, L) of an SNS wire at phase difference φ."""
    th, ch = solve_profiles(phi, omegas, n_edges, delta_over_eth)
    h = 1.0 / n_edges
    s2 = np.sin(0.5 * (th[:, 1:] + th[:, :-1])) ** 2
    return (s2 * np.diff(ch, axis=1) / h).mean(axis=1)


def critical_current(n_edges: int = 60, phis=None, n_u: int = 64, u_max: float = 10.0):
    """e R_N I_c / E_Th at T → 0 for Δ ≫ E_Th (max over φ of ∫J dω)."""
    from numpy.polynomial.legendre import leggauss

    phis = np.linspace(1.7, 2.4, 8) if phis is None else np.asarray(phis)
    xg, wg = leggauss(n_u)
    u = 0.5 * u_max * (xg + 1)
    wu = 0.5 * u_max * wg
    cur = np.array([np.sum(spectral_current(p, u**2, n_edges) * 2 * u * wu) for p in phis])
    k = int(np.argmax(cur))
    k = min(max(k, 1), phis.size - 2)
    a, b, c = np.polyfit(phis[k - 1:k + 2], cur[k - 1:k + 2], 2)
    return float(c - b * b / (4 * a)), float(-b / (2 * a))


def supercurrent_sum(phi: float, t: float, n_edges: int = 60, delta_over_eth=np.inf,
                     gamma: float = 0.0, omega_max: float = 400.0) -> float:
    r"""Equilibrium :math:`eR_NI/E_\mathrm{Th}=2\pi t\sum_{n\ge0}J(\omega_n+\Gamma)` at
    temperature t (units E_Th), :math:`\omega_n=(2n+1)\pi t`.

    With Γ > 0 this is the exact Matsubara image of the real-energy integral
    :math:`\tfrac12\int j_\epsilon(\epsilon+i\Gamma)\tanh(\epsilon/2t)\,d\epsilon` of a
    Dynes-broadened (ε → ε + iΓ everywhere) retarded solution: closing the contour in the
    upper half plane picks the poles of tanh at ε = iω_n.
    """
    w = (2 * np.arange(int(omega_max / (2 * np.pi * t)) + 1) + 1) * np.pi * t + gamma
    return float(2 * np.pi * t * spectral_current(phi, w, n_edges, delta_over_eth).sum())


# --- Matsubara form of the gap equation (Eq. 8) on a wire network -------------------------

def matsubara_weights(t: float, omega_d: float) -> tuple[np.ndarray, np.ndarray]:
    r"""Fermionic frequencies ω_n = (2n+1)πt and the weights w_n of the cut-off sum.

    :math:`2\pi t\sum_n w_n g(\omega_n)` is the midpoint rule of
    :math:`\int_0^{\omega_D}g\,d\omega` on the cells [2πtn, 2πt(n+1)]: w_n = 1 for the
    cells below ω_D and the fraction of the cell below ω_D for the last one, so the cut-off
    is exactly ω_D at every temperature (a sharp count of ω_n < ω_D would move it by up to
    πt, an error O(λπt/ω_D) in Δ)."""
    if t <= 0:
        raise ValueError("the Matsubara sum needs a temperature t > 0")
    cells = omega_d / (2.0 * np.pi * t)
    n = np.arange(int(np.ceil(cells)))
    return (2 * n + 1) * np.pi * t, np.clip(cells - n, 0.0, 1.0)


def network_theta(prob, omegas, maxit: int = 40, tol: float = 1e-12) -> np.ndarray:
    r"""θ(iω) on the nodes of ``prob`` (a :class:`~.spectral.SpectralProblem`) for every
    ω of ``omegas`` (n_ω, n_nodes): the spectral equation of :mod:`~.spectral` at
    ε̃ = ε + iΓ → iω, i.e. ε = 0 with the broadening ω (add Γ to ω for a Dynes wire).
    On the imaginary axis θ is real (G = cos θ, F = sin θ > 0) and the Newton iteration
    has no gap-edge singularity; reservoirs fix θ to arctan(Δ/ω) (bulk, Eq. 1)."""
    from ...solvers.result import ConvergenceError
    from .bulk import bulk_theta
    from .spectral import newton_theta

    w = np.asarray(omegas, float)
    zero = np.zeros(w.size)
    nodes = np.array([r.node for r in prob.reservoirs], dtype=int)
    vals = np.zeros((w.size, nodes.size), dtype=complex)
    for k, r in enumerate(prob.reservoirs):
        if r.kind == "superconductor":
            vals[:, k] = bulk_theta(zero, r.delta, w, 0.0)
    th = bulk_theta(zero[:, None], prob.delta[None, :], w[:, None], prob.zeta[None, :])
    th, done, _, norm = newton_theta(prob, zero, th, w, nodes, vals, maxit, tol)
    if not done.all():
        raise ConvergenceError(f"usadel Matsubara Newton failed at {np.sum(~done)} "
                               f"frequencies (residual {float(norm.max()):.2e}).")
    return th


def matsubara_gap(prob, t: float, omega_d: float, coupling: float,
                  gamma: float = 0.0) -> np.ndarray:
    r"""The equilibrium right side of the gap equation (Eq. 8) on every node by the
    Matsubara sum

    .. math:: \Delta(x) = \lambda\,2\pi t\sum_n w_n\,
              \mathrm{Re}\,\sin\theta(x, i\omega_n + i\Gamma)

    (weights :func:`matsubara_weights`: the cut-off ω_D on the Matsubara axis), the image
    of :math:`\tfrac\lambda2\int\mathrm{Im}\mathcal F\tanh(\epsilon/2t)\,d\epsilon`
    (contour closed in the upper half plane through the poles of tanh at iω_n, as in
    :func:`supercurrent_sum`). For a bulk BCS superconductor at t → 0 it is
    :math:`\lambda\Delta\,\mathrm{arcsinh}(\omega_D/\Delta)`, so λ = 1/arcsinh ω_D
    (:func:`~.observables.coupling_constant`) gives Δ(0) = Δ0 = 1, and the linearised sum
    the BCS :math:`k_BT_c = (2e^{\gamma_E}/\pi)\,\omega_De^{-1/\lambda}`: Δ0/k_BT_c =
    π e^{−γ_E} = 1.764 up to O((Δ0/ω_D)²) (:func:`critical_temperature`)."""
    w, wt = matsubara_weights(t, omega_d)
    th = network_theta(prob, w + gamma)
    return coupling * 2.0 * np.pi * t * (wt[:, None] * np.sin(th).real).sum(axis=0)


def critical_temperature(coupling: float, omega_d: float, tol: float = 1e-13) -> float:
    r"""t_c = k_BT_c/Δ0 of a bulk superconductor from the linearised Matsubara gap
    equation with the cut-off of :func:`matsubara_gap`,
    :math:`1 = \lambda\,2\pi t_c\sum_n w_n/\omega_n` (bisection in log t; the sum
    decreases monotonically with t)."""
    def excess(t):
        w, wt = matsubara_weights(t, omega_d)
        return coupling * 2.0 * np.pi * t * float(np.sum(wt / w)) - 1.0

    lo, hi = 1e-4, omega_d
    while hi / lo - 1 > tol:
        mid = np.sqrt(lo * hi)
        if excess(mid) > 0:
            lo = mid
        else:
            hi = mid
    return float(np.sqrt(lo * hi))

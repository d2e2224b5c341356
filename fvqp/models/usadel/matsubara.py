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

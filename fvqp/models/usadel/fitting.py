r"""Fits of the analytic charge-imbalance signal (paper Eqs. 20–21, Fig. 10).

:func:`gss_model` is the symmetric nonlocal conductance per detector conductance,
:math:`g_{ss}/G_\mathrm{det}`, of Eq. 21 convolved with the injector's Fermi function
(App. B). :func:`fit_gamma` fits the Dynes Γ at zero supercurrent, :func:`fit_dphi` the
phase gradient at fixed Γ (depairing ζ = (∂xφ)²/2, Eq. 7), and :func:`fit_i0` the current
scale I0 of Eq. 6 to supercurrent-vs-phase-gradient pairs, as in Fig. 10(b).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import least_squares

from .observables import gnl_spectral_eq21, integrate, require_full_axis, thermal_average
from .spectral import uniform_solution
from .terminals import n0


def default_grid(emax: float = 8.0) -> np.ndarray:
    """Energy grid for the convolutions: fine (1e-3) near the gap edges, coarse beyond."""
    fine = np.linspace(0.8, 1.6, 1601)
    pos = np.unique(np.concatenate([np.linspace(0, emax, 1601), fine]))
    return np.concatenate([-pos[::-1], pos[1:]])


def gss_model(v_inj, x: float, kappa: float, t: float, gamma: float, dphi: float = 0.0,
              delta: float = 1.0, eps=None, length=None) -> np.ndarray:
    """Eq. 21 convolved with the injector Fermi function, per G_det, for every bias.

    ``kappa`` is the per-branch κ_I = G_inj R_ξ/2 (App. B); ``length`` = (L1, L2) the
    branches ending at reservoirs (:func:`~.observables.gnl_spectral_eq21`; None: the
    infinite wire of Eq. 21).
    """
    eps = default_grid() if eps is None else eps
    us = uniform_solution(eps, delta, gamma, 0.5 * dphi**2)
    g = gnl_spectral_eq21(us, x, kappa, length)
    return thermal_average(np.nan_to_num(g), eps, v_inj, t)


def fit_gamma(v_inj, gss, x, kappa, t, gamma0: float = 1e-3, dphi: float = 0.0,
              vmax: float = 1.5, eps=None, length=None) -> tuple[float, float]:
    """Fit Γ (log-parametrised) to g_ss(V_inj) for |eV_inj| < ``vmax`` (the paper fits
    only the initial rise below 1.5 Δ, Sec. V). Returns (Γ, its 1σ estimate)."""
    v, y = np.asarray(v_inj), np.asarray(gss)
    m = np.abs(v) < vmax

    def res(p):
        return gss_model(v[m], x, kappa, t, np.exp(p[0]), dphi, eps=eps,
                         length=length) - y[m]

    r = least_squares(res, [np.log(gamma0)], x_scale=1.0, xtol=1e-12, ftol=1e-12)
    return float(np.exp(r.x[0])), _sigma(r) * float(np.exp(r.x[0]))


def fit_dphi(v_inj, gss, x, kappa, t, gamma: float, dphi0: float = 0.1,
             vmax: float = 1.5, eps=None, length=None) -> tuple[float, float]:
    """Fit the phase gradient ∂xφ at fixed Γ (Sec. V, I_s ≠ 0)."""
    v, y = np.asarray(v_inj), np.asarray(gss)
    m = np.abs(v) < vmax

    def res(p):
        return gss_model(v[m], x, kappa, t, gamma, p[0], eps=eps, length=length) - y[m]

    r = least_squares(res, [dphi0], bounds=([0.0], [2.0]), xtol=1e-12, ftol=1e-12)
    return float(r.x[0]), _sigma(r)


def supercurrent_per_i0(dphi, t: float, gamma: float = 0.0, delta: float = 1.0,
                        eps=None, zeta0: float = 0.0) -> np.ndarray:
    """I_s/I0 of a uniform wire (Eq. 6 with the depairing ζ0 + (∂xφ)²/2 of Eq. 7) for
    each ∂xφ."""
    eps = default_grid(30.0) if eps is None else \
        require_full_axis(eps, "supercurrent_per_i0")
    out = []
    for d in np.atleast_1d(dphi):
        us = uniform_solution(eps, delta, gamma, zeta0 + 0.5 * d**2)
        out.append(0.5 * d * integrate(us.jeps[:, 0] * n0(eps, t), eps))
    return np.array(out)


def fit_i0(dphi, i_s, t: float, gamma: float = 0.0) -> float:
    """Least-squares I0 (same unit as ``i_s``) of Eq. 6 through (∂xφ, I_s) pairs."""
    f = supercurrent_per_i0(dphi, t, gamma)
    i_s = np.abs(np.asarray(i_s, float))  # the fitted ∂xφ ≥ 0 carry |I_s|
    return float(np.dot(f, i_s) / np.dot(f, f))


def _sigma(r) -> float:
    J = r.jac
    dof = max(r.fun.size - J.shape[1], 1)
    s2 = 2 * r.cost / dof
    try:
        cov = np.linalg.inv(J.T @ J) * s2
        return float(np.sqrt(cov[0, 0]))
    except np.linalg.LinAlgError:
        return float("nan")

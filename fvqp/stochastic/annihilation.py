"""Pairwise annihilation of localized quasiparticles (Bespalov et al. 2016).

Main text Eqs. (2), (4), (7)-(9) and Supplement Sec. "Annihilation rate":

* :math:`\\bar\\Gamma = 24\\gamma(\\Delta)/(\\nu_0\\Delta)` with the normal-metal
  electron-phonon rate :math:`\\gamma(\\Delta) = (3\\tau_0)^{-1}(\\Delta/k_BT_c)^3`;
* the pair rate :math:`\\Gamma(R) = \\bar\\Gamma r_c^{-3} g(R/r_c)` of two quasiparticles
  in the most probable localized state :math:`p_{LO}` of Eq. (4) with :math:`L = 2r_c`,
  :math:`g(2x) = (16\\pi\\sinh^4x)^{-1}(3 + 2\\sinh^2x - 3\\cosh x\\sinh x/x)`;
* the effective relaxation law Eq. (8) and its stationary solution Eq. (9),
  :math:`Ar_c^6/\\bar\\Gamma = b\\tilde r^{\\beta-3}e^{-\\tilde r}` with
  :math:`c = C_p/(4\\pi\\tilde r^3r_c^3/3)`.

Dimensionless convention of the Monte Carlo: lengths in :math:`r_c`, rates per pair in
:math:`\\bar\\Gamma/r_c^3`, time in :math:`r_c^3/\\bar\\Gamma`, so that the generation
rate per volume is :math:`a = Ar_c^6/\\bar\\Gamma` and concentrations are in
:math:`r_c^{-3}`.
"""

from __future__ import annotations

import numpy as np
from scipy.integrate import quad
from scipy.optimize import brentq

from fvqp.units import E_CHARGE, K_B

__all__ = [
    "BETA_PAPER",
    "B_PAPER",
    "CP_PAPER",
    "CP_SPIN_PAPER",
    "g_kernel",
    "g_small",
    "g_large",
    "kernel_integral",
    "localized_density",
    "ep_rate_at_gap",
    "gamma_bar",
    "gamma_bar_material",
    "mean_field_concentration",
    "r_tilde_stationary",
    "concentration_eq9",
    "relaxation_rate_eq8",
    "fit_beta_b",
]

#: fitted exponent of Eq. (8) (main text after Eq. 9)
BETA_PAPER = 0.41
#: fitted prefactor of Eq. (8)
B_PAPER = 0.008
#: packing coefficient of the spinless bursting-bubbles model (Eq. 1), +- 0.008
CP_PAPER = 0.605
#: packing coefficient with classical spin and no spin flips (Supplement), +- 0.05
CP_SPIN_PAPER = 2.19

# Taylor coefficients of g(x) * pi in powers of x^2 (exact rationals from the series)
_SERIES = np.array([1 / 60, -1 / 504, 1 / 7200, -1 / 133056, 691 / 1981324800])


def g_kernel(x: np.ndarray) -> np.ndarray:
    """Dimensionless pair-rate kernel ``g`` of Eq. (7).

    Evaluated as :math:`g = e^{-x}[3u + (1-u)^2/2 - 3(1-u^2)/(2x)]/(\\pi(1-u)^4)` with
    :math:`u = e^{-x}` (equivalent to Eq. 7, free of overflow), and by its Taylor series
    :math:`1/(60\\pi) - x^2/(504\\pi) + \\dots` below ``x = 0.5`` where the bracket cancels.

    Parameters
    ----------
    x : array_like
        :math:`R/r_c \\ge 0`.

    Returns
    -------
    numpy.ndarray
    """
    x = np.asarray(x, dtype=float)
    xl = np.maximum(x, 0.5)
    u = np.exp(-xl)
    br = 3.0 * u + 0.5 * (1.0 - u) ** 2 - 1.5 * (1.0 - u * u) / xl
    out = u * br / (np.pi * (1.0 - u) ** 4)
    small = x < 0.5
    if np.any(small):
        xs = x[small] ** 2
        ser = _SERIES
        out[small] = (ser[0] + xs * (ser[1] + xs * (ser[2] + xs * (ser[3] + xs * ser[4])))) / np.pi
    return out


def g_small(x: np.ndarray) -> np.ndarray:
    """Small-``x`` limit of Eq. (7), :math:`g \\simeq 1/(60\\pi)`."""
    return np.full_like(np.asarray(x, dtype=float), 1.0 / (60.0 * np.pi))


def g_large(x: np.ndarray) -> np.ndarray:
    """Large-``x`` limit of Eq. (7), :math:`g \\simeq e^{-x}/(2\\pi)`."""
    return np.exp(-np.asarray(x, dtype=float)) / (2.0 * np.pi)


def kernel_integral(cutoff: float = np.inf) -> float:
    r""":math:`\int_{|x|<x_c} g(|x|)\,d^3x`; equals 1 for :math:`x_c = \infty` because
    :math:`\int d^3R\,\Gamma(R) = \bar\Gamma\int p_1\int p_2 = \bar\Gamma` (Eq. 2)."""
    f = lambda x: 4.0 * np.pi * x * x * float(g_kernel(np.array([x]))[0])  # noqa: E731
    return float(quad(f, 0.0, cutoff, limit=200, epsabs=0.0, epsrel=1e-11)[0])


def localized_density(r: np.ndarray, L: float) -> np.ndarray:
    """Most probable localized state, Eq. (4): :math:`f(r/L)/(2\\pi L^3)` with
    :math:`f(x) = \\sinh x/(x\\cosh^3x)` (normalised to one in 3D)."""
    x = np.asarray(r, dtype=float) / L
    xs = np.where(x > 0, x, 1.0)
    e = np.exp(-2.0 * xs)
    sech2 = 4.0 * e / (1.0 + e) ** 2
    f = np.where(x > 0, np.tanh(xs) * sech2 / xs, 1.0)
    return f / (2.0 * np.pi * L**3)


def ep_rate_at_gap(tau0: float, gap_ratio: float) -> float:
    """Normal-metal electron-phonon rate at the gap, :math:`\\gamma(\\Delta) =
    (3\\tau_0)^{-1}(\\Delta/k_BT_c)^3` (Supplement, from Eq. S3) [1/s]."""
    return gap_ratio**3 / (3.0 * tau0)


def gamma_bar(gamma_delta: float, nu0: float, delta: float) -> float:
    """Recombination constant :math:`\\bar\\Gamma = 24\\gamma(\\Delta)/(\\nu_0\\Delta)`
    (main text after Eq. 2).

    Parameters
    ----------
    gamma_delta : float
        :math:`\\gamma(\\Delta)` [1/s].
    nu0 : float
        Single-spin normal density of states [1/(J m^3)].
    delta : float
        Gap [J].

    Returns
    -------
    float
        :math:`\\bar\\Gamma` [m^3/s].
    """
    return 24.0 * gamma_delta / (nu0 * delta)


def gamma_bar_material(material, nu0: float | None = None, delta: float | None = None,
                       tau0: float | None = None) -> float:
    """:math:`\\bar\\Gamma` [m^3/s] from a :class:`fvqp.materials.Material` (``tau0``,
    ``gap_ratio``, ``N0``, ``Tc``), each overridable (SI)."""
    tau0 = material.tau0 if tau0 is None else tau0
    nu0 = material.N0 if nu0 is None else nu0
    delta = material.gap_ratio * K_B * material.Tc if delta is None else delta
    ratio = delta / (K_B * material.Tc)
    return gamma_bar(ep_rate_at_gap(tau0, ratio), nu0, delta)


def gamma_bar_paper_inputs(tau0: float = 400e-9, gap_ratio: float = 1.76,
                           nu0_per_ev_um3: float = 2e10, delta_uev: float = 200.0) -> float:
    """:math:`\\bar\\Gamma` [um^3/s] with the Supplement's Al inputs (default values).

    ``gap_ratio = 1.76`` is the Supplement's printed input (the number it quotes is
    reproduced with it), not fvqp's weak-coupling :data:`fvqp.spectra.gap.BCS_GAP_RATIO`
    (1.7639): :math:`\\bar\\Gamma \\propto (\\Delta/k_BT_c)^3` would move by 0.7 %."""
    nu0 = nu0_per_ev_um3 / E_CHARGE * 1e18
    delta = delta_uev * 1e-6 * E_CHARGE
    return gamma_bar(ep_rate_at_gap(tau0, gap_ratio), nu0, delta) * 1e18


def mean_field_concentration(a: np.ndarray, thickness: float | None = None) -> np.ndarray:
    """Mean-field balance :math:`A = K\\bar\\Gamma c^2`: :math:`c = (a/K)^{1/2}` (units
    :math:`r_c^{-3}`); :math:`K = 1` in bulk, :func:`film_kernel_fraction` in a film of
    the given thickness (units :math:`r_c`)."""
    k = 1.0 if thickness is None else film_kernel_fraction(thickness)
    return np.sqrt(np.asarray(a, dtype=float) / k)


def film_kernel_fraction(thickness: float) -> float:
    r"""Fraction :math:`K(d)` of the pair rate :math:`\bar\Gamma` a particle keeps in a
    film of thickness :math:`d` (walls at :math:`z = 0, d`, uniform across it).

    Averaging :math:`\int d^3R'\,\Gamma(|R - R'|)` over the particle's height and
    restricting the partner to the film,

    .. math::  K(d) = \frac{2}{d}\int_0^d (d - s)\, h(s)\, ds, \qquad
               h(s) = \int_s^\infty 2\pi x\, g(x)\, dx ,

    (:math:`h(s)` is the in-plane integral of :math:`g` at height difference :math:`s`),
    so :math:`K \to 1` for :math:`d \to \infty` (:func:`kernel_integral`) and
    :math:`K \simeq d\,h(0)` for :math:`d \ll 1`.  The mean-field concentration of
    a film is :math:`c = (a/K)^{1/2}`: thin films hold more quasiparticles for the same
    generation rate, because fewer partners are in reach.
    """
    d = float(thickness)
    if not d > 0:
        raise ValueError(f"thickness must be positive, got {thickness!r}")

    def gx(x: float) -> float:
        return float(g_kernel(np.array([x]))[0])

    def h(s: float) -> float:
        return quad(lambda x: 2.0 * np.pi * x * gx(x), s, np.inf, limit=200,
                    epsabs=0.0, epsrel=1e-11)[0]

    val = quad(lambda z: (d - z) * h(z), 0.0, d, limit=200, epsabs=0.0, epsrel=1e-10)[0]
    return 2.0 * val / d


def r_tilde_stationary(a: np.ndarray, beta: float = BETA_PAPER, b: float = B_PAPER) -> np.ndarray:
    """Root :math:`\\tilde r > 3 - \\beta` of Eq. (9), :math:`a = b\\tilde r^{\\beta-3}
    e^{-\\tilde r}` (the right-hand side decreases monotonically there)."""
    a = np.atleast_1d(np.asarray(a, dtype=float))
    lo = max(3.0 - beta, 1e-6)
    out = np.empty_like(a)
    for i, ai in enumerate(a):
        f = lambda r, ai=ai: np.log(b) + (beta - 3.0) * np.log(r) - r - np.log(ai)  # noqa: E731
        if f(lo) < 0:
            out[i] = np.nan  # beyond the validity of Eq. (9) (mean-field side)
            continue
        out[i] = brentq(f, lo, 1e3)
    return out


def concentration_eq9(a: np.ndarray, cp: float = CP_PAPER, beta: float = BETA_PAPER,
                      b: float = B_PAPER) -> np.ndarray:
    """Low-density stationary concentration, Eqs. (1) and (9):
    :math:`c = C_p/(4\\pi\\tilde r^3/3)` [:math:`r_c^{-3}`]."""
    r = r_tilde_stationary(a, beta, b)
    return cp / (4.0 * np.pi / 3.0 * r**3)


def relaxation_rate_eq8(c: np.ndarray, cp: float = CP_PAPER, beta: float = BETA_PAPER,
                        b: float = B_PAPER) -> np.ndarray:
    """Free decay at ``A = 0`` from Eq. (8): :math:`dc/dt = -\\Gamma_{fit}c` with
    :math:`\\Gamma_{fit} = 4\\pi b\\tilde r^\\beta e^{-\\tilde r}/(3C_p)` (units
    :math:`\\bar\\Gamma/r_c^3`); returns :math:`dc/dt` in :math:`\\bar\\Gamma/r_c^6`."""
    c = np.asarray(c, dtype=float)
    r = np.cbrt(3.0 * cp / (4.0 * np.pi * c))
    return -4.0 * np.pi * b / (3.0 * cp) * r**beta * np.exp(-r) * c


def fit_beta_b(a: np.ndarray, c: np.ndarray, cp: float = CP_PAPER,
               sigma_c: np.ndarray | None = None) -> tuple[float, float, np.ndarray]:
    """Fit :math:`\\beta` and ``b`` of Eq. (9) to stationary ``(a, c)`` data.

    With :math:`\\tilde r = (3C_p/4\\pi c)^{1/3}`, Eq. (9) is linear:
    :math:`\\ln a + \\tilde r = \\ln b + (\\beta - 3)\\ln\\tilde r`.

    Parameters
    ----------
    a, c : array_like
        Generation rates and concentrations (units of the module docstring).
    cp : float
        Packing coefficient used to define :math:`\\tilde r`.
    sigma_c : array_like, optional
        Standard errors of ``c`` (weights; :math:`\\sigma_y = \\sigma_c(1/(3c))\\tilde r
        (1 - (\\beta-3)/\\tilde r)` is approximated by :math:`\\tilde r\\sigma_c/(3c)`).

    Returns
    -------
    beta, b : float
    cov : numpy.ndarray
        2x2 covariance of ``(beta, ln b)`` (from the weights, or the residuals if none).
    """
    a = np.asarray(a, dtype=float)
    c = np.asarray(c, dtype=float)
    r = np.cbrt(3.0 * cp / (4.0 * np.pi * c))
    y = np.log(a) + r
    X = np.column_stack([np.log(r), np.ones_like(r)])
    if sigma_c is not None:
        sigma_c = np.asarray(sigma_c, dtype=float)
        if not np.all(np.isfinite(sigma_c) & (sigma_c > 0)):
            sigma_c = None  # e.g. single replicas: fall back to an unweighted fit
    w = np.ones_like(r) if sigma_c is None else 1.0 / (r * sigma_c / (3.0 * c))
    coef, *_ = np.linalg.lstsq(X * w[:, None], y * w, rcond=None)
    res = (y - X @ coef) * w
    dof = max(len(y) - 2, 1)
    s2 = 1.0 if sigma_c is not None else float(res @ res) / dof
    cov = s2 * np.linalg.inv((X * w[:, None]).T @ (X * w[:, None]))
    return float(coef[0] + 3.0), float(np.exp(coef[1])), cov

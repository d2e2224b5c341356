"""Cross-over from polarised to unpolarised clusters (Meyer et al. 2020, SM Sec. III).

Dimensionless variables :math:`a = A/A_c`, :math:`v = V/V_c`, :math:`n = N/N_c` and the
polarisation :math:`p = 1 - 2m/N`.  Eqs. (S7)-(S8) are the exact stationary forms of the
mean-field Eqs. (1)-(2); neglecting the triplet term of (S7) (valid for
:math:`1 - p \\gg 1/N_c`) gives Eqs. (S9), solved here for ``p(a, v)`` and ``n(a, v)``.

Reconstruction: Eq. (S7) is printed as
:math:`AV/(N-m) = 2\\bar\\Gamma m/V - \\bar\\Gamma_t N^2/(V(N-m))`; dividing the stationary
Eq. (1) by ``N - m`` gives a ``+`` sign for the last term.  Eqs. (S9) were re-derived from
(S7) without that term and (S8) and agree with the printed form; the enhancement over the
unpolarised number (Fig. S1c) is :math:`N/(c_0V) = n/(v\\sqrt{2a})`.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import brentq

from fvqp.stochastic.spin_clusters import ClusterParams, fixed_point

__all__ = [
    "crossover_polarization",
    "crossover_number",
    "crossover_map",
    "crossover_a_near_v0",
    "crossover_exact",
]


def _a_of_p(p: np.ndarray, v: float) -> np.ndarray:
    return 2.0 * (1.0 - p**2) * ((1.0 - p) / (2.0 * v * p) - 1.0) ** 2


def crossover_polarization(a: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Polarisation :math:`p(a, v)` from the second of Eqs. (S9).

    :math:`a = 2(1-p^2)[(1-p)/(2vp) - 1]^2` is solved for ``p`` on the physical branch
    :math:`0 < p < p_0 = 1/(1+2v)` (where ``n > 0``), on which ``a`` decreases
    monotonically from infinity to 0.

    Parameters
    ----------
    a, v : array_like
        Dimensionless injection :math:`A/A_c` and volume :math:`V/V_c` (broadcast).

    Returns
    -------
    numpy.ndarray
        Polarisation :math:`p = 1 - 2m/N`.
    """
    a, v = np.broadcast_arrays(np.asarray(a, dtype=float), np.asarray(v, dtype=float))
    out = np.empty(a.shape)
    for idx in np.ndindex(a.shape):
        ai, vi = a[idx], v[idx]
        p0 = 1.0 / (1.0 + 2.0 * vi)
        if ai <= 0.0:
            out[idx] = p0
            continue
        lo = p0 * 1e-15
        out[idx] = brentq(lambda q, ai=ai, vi=vi: _a_of_p(q, vi) - ai, lo, p0, xtol=1e-15,
                          rtol=1e-14)
    return out


def crossover_number(a: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Dimensionless particle number :math:`n = N/N_c = (1-p)/p - 2v`, Eq. (S9).

    Parameters
    ----------
    a, v : array_like
        Dimensionless injection and volume.

    Returns
    -------
    numpy.ndarray
    """
    p = crossover_polarization(a, v)
    return (1.0 - p) / p - 2.0 * np.asarray(v, dtype=float)


def crossover_a_near_v0(p: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Small-injection asymptote Eq. (S10), :math:`a \\approx 8p^2 (1+p)/(1-p) (v_0-v)^2`.

    Parameters
    ----------
    p, v : array_like
        Polarisation and dimensionless volume, with :math:`v_0 = (1-p)/(2p)`.

    Returns
    -------
    numpy.ndarray
    """
    p = np.asarray(p, dtype=float)
    v0 = (1.0 - p) / (2.0 * p)
    return 8.0 * p**2 * (1.0 + p) / (1.0 - p) * (v0 - np.asarray(v, dtype=float)) ** 2


def crossover_exact(params: ClusterParams) -> tuple[float, float]:
    """Polarisation and particle number from the full stationary Eqs. (1)-(2) (S7-S8).

    Parameters
    ----------
    params : ClusterParams
        The cluster; its fixed point :math:`(N_0, m_0)` (:func:`~fvqp.stochastic
        .spin_clusters.fixed_point`) sets ``p`` and ``n``.

    Returns
    -------
    p, n : float
        :math:`p = 1 - 2m_0/N_0` and :math:`n = N_0/N_c`.
    """
    N0, m0 = fixed_point(params)
    return 1.0 - 2.0 * m0 / N0, N0 / params.N_c


def crossover_map(a: np.ndarray, v: np.ndarray) -> dict:
    """Polarisation, particle number and enhancement over an ``(a, v)`` grid (Fig. S1).

    Parameters
    ----------
    a, v : array_like
        1D arrays of dimensionless injection and volume.

    Returns
    -------
    dict
        ``"p"``, ``"n"`` and ``"enhancement"`` (:math:`N/(c_0 V)`), each of shape
        ``(len(v), len(a))``.
    """
    aa, vv = np.meshgrid(np.asarray(a, dtype=float), np.asarray(v, dtype=float))
    p = crossover_polarization(aa, vv)
    n = (1.0 - p) / p - 2.0 * vv
    return {"p": p, "n": n, "enhancement": n / (vv * np.sqrt(2.0 * aa))}

r"""Thermal quasiparticle density :math:`n_{qp}(T, \Delta)` and its quadrature rule.

Split from :mod:`fvqp.spectra.gap` (which re-exports these functions); the
:math:`u = \mathrm{asinh}(\xi/\Delta)` Gauss-Legendre rule is shared with
:mod:`fvqp.spectra.thermal`. Units as in :mod:`fvqp.spectra.gap` (:math:`k_B = 1`).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .thermal_occupations import _out

__all__ = ["thermal_qp_density", "thermal_qp_density_lowT"]

_NQ = 160


@lru_cache(maxsize=4)
def _gauss_legendre(n: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    x, w = np.polynomial.legendre.leggauss(n)
    return 0.5 * (x + 1.0), 0.5 * w


def _u_rule(a: NDArray[np.float64], n: int = _NQ, span: float = 50.0):
    r"""Nodes for :math:`\int_0^\infty d(\xi/T)\,h`, :math:`\xi/T = a\sinh u` (a > 0).

    Returns ``x = a cosh u`` (= E/T), ``s = a (cosh u - 1)`` (= (E-Delta)/T, computed without
    cancellation) and weights ``w`` including the Jacobian :math:`a\cosh u`. The range is
    :math:`u \le \mathrm{acosh}(1+\mathrm{span}/a)`, i.e. :math:`E - \Delta \le 50\,T`
    (neglected tail :math:`< 50^2 e^{-50}` relative).
    """
    a = np.asarray(a, dtype=float)[..., None]
    z, wz = _gauss_legendre(n)
    z_over = span / a
    u_max = np.log1p(z_over + np.sqrt(z_over * (z_over + 2.0)))  # acosh(1 + span/a)
    u = u_max * z
    s = 2.0 * a * np.sinh(0.5 * u) ** 2
    x = a + s
    w = wz * u_max * a * np.cosh(u)
    return x, s, w


def thermal_qp_density(
    T: ArrayLike, delta: ArrayLike, N0: ArrayLike
) -> NDArray[np.float64] | float:
    r"""Thermal quasiparticle density :math:`n_{qp} = 4N_0\int_\Delta^\infty\rho(E)f(E)\,dE`.

    With :math:`\rho\,dE = d\xi` and :math:`\xi = \Delta\sinh u` the integrand is smooth:

    .. math::

        n_{qp} = 4N_0\Delta\,e^{-\Delta/T}\int_0^\infty du\,
          \frac{\cosh u\;e^{-(\Delta/T)(\cosh u - 1)}}{1+e^{-(\Delta/T)\cosh u}}.

    The factor :math:`e^{-\Delta/T}` is applied in log space together with
    :math:`\ln(4N_0\Delta)`, so no premature underflow occurs (the result underflows only if
    :math:`n_{qp}` itself is below the smallest double). The :math:`u` integral uses a
    160-point Gauss-Legendre rule on :math:`E-\Delta \le 50T` (relative error
    :math:`< 10^{-13}`). Exact expansion for comparison:
    :math:`n_{qp} = 4N_0\Delta\sum_{k\ge1}(-1)^{k+1}K_1(k\Delta/T)`.
    Limits: :math:`4N_0T\ln 2` for :math:`\Delta = 0`; 0 for :math:`T = 0`, :math:`\Delta>0`.
    """
    T, d, n0 = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (T, delta, N0)))
    d = np.abs(d)
    out = np.zeros(T.shape)
    normal = (d == 0) & (T > 0)
    out[normal] = 4.0 * n0[normal] * T[normal] * np.log(2.0)
    sc = (d > 0) & (T > 0)
    if np.any(sc):
        a = d[sc] / T[sc]
        x, s, w = _u_rule(a)
        j = np.sum(w * np.exp(-s) / (1.0 + np.exp(-x)), axis=-1) / a  # int cosh u ... du
        with np.errstate(divide="ignore"):
            out[sc] = np.exp(np.log(4.0 * n0[sc] * d[sc]) - a + np.log(j))
    return _out(out)


def thermal_qp_density_lowT(
    T: ArrayLike, delta: ArrayLike, N0: ArrayLike
) -> NDArray[np.float64] | float:
    r"""Low-temperature form :math:`n_{qp} \simeq 2N_0\sqrt{2\pi T\Delta}\,e^{-\Delta/T}`.

    Leading term of :math:`4N_0\Delta K_1(\Delta/T)`; the relative error is
    :math:`3T/(8\Delta) - 15T^2/(128\Delta^2) + O(T^3/\Delta^3)` (Hankel expansion of
    :math:`K_1`) plus Fermi-statistics corrections :math:`O(e^{-\Delta/T})`.
    """
    T, d, n0 = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (T, delta, N0)))
    with np.errstate(divide="ignore", invalid="ignore"):
        val = 2.0 * n0 * np.sqrt(2.0 * np.pi * T * d) * np.exp(-d / np.where(T > 0, T, 1.0))
    return _out(np.where(T > 0, val, 0.0))

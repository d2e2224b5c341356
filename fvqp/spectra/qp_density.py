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

__all__ = ["BIN_THERMAL_TOL", "bin_thermal_error", "bin_thermal_spacing", "thermal_qp_density",
           "thermal_qp_density_lowT"]

_NQ = 160

#: relative error of the thermal QP number on the bins (:func:`bin_thermal_error`) above
#: which the kinetic models warn: 5 %, so that the default spacing kT/4 (2.5 % low, the
#: discrete equilibrium the collisions keep exactly) does not warn on every run, while
#: coarse grids (10 % at 0.7 kT) do
BIN_THERMAL_TOL = 0.05


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


def bin_thermal_error(delta: float, h: float, T: float, span: float = 40.0) -> float:
    r"""Relative error of the thermal QP number on centred bins above the gap.

    The kinetic models' bins start at the gap (:class:`fvqp.spectra.bins.BinGrid`,
    :class:`fvqp.collisions.EnergyGrid`: cells :math:`[\Delta + ih, \Delta + (i+1)h]`)
    and hold the thermal state as the Fermi function at the nodes (point values: the
    collision integrals' detailed balance needs them), times the exact bin averages
    :math:`\bar\rho_i` of the BCS DOS. Returns
    :math:`h\sum_i\bar\rho_i f(E_i)\,/\int_\Delta^\infty\rho f\,dE - 1`: negative and
    growing like :math:`(h/T)^{3/2}` (the gap-edge bin's states sit at its lower edge,
    where :math:`f` is largest): about -1 % at :math:`h = 0.15\,T`, -2.5 % at
    :math:`T/4`, -10 % at :math:`0.7\,T`.

    Parameters
    ----------
    delta, h, T : float
        Gap, bin spacing and temperature (one energy unit, :math:`k_B = 1`), all > 0.
    span : float, optional
        Bins up to :math:`\Delta + \mathrm{span}\,T` (the tail beyond is
        :math:`< e^{-\mathrm{span}}`).

    Returns
    -------
    float
        The relative error (both numbers scaled by :math:`e^{\Delta/T}`: no underflow).
    """
    from .dos import bcs_dos_cell_average

    n = max(2, int(np.ceil(span * T / h)))
    edges = delta + h * np.arange(n + 1)
    e = 0.5 * (edges[:-1] + edges[1:])
    rho = bcs_dos_cell_average(edges, delta)
    grid = h * np.sum(rho * np.exp(-(e - delta) / T) / (1.0 + np.exp(-e / T)))
    x, s, w = _u_rule(np.asarray([delta / T]))
    exact = delta * float(np.sum(w * np.exp(-s) / (1.0 + np.exp(-x)))) / (delta / T)
    return float(grid / exact - 1.0)


def bin_thermal_spacing(delta: float, T: float, tol: float = BIN_THERMAL_TOL) -> float:
    r"""The largest bin spacing whose thermal QP number (:func:`bin_thermal_error`) is
    within ``tol`` (relative) of the exact one, by bisection in :math:`\log h`."""
    lo, hi = 1e-3 * T, 4.0 * T
    for _ in range(40):
        mid = np.sqrt(lo * hi)
        lo, hi = (mid, hi) if abs(bin_thermal_error(delta, mid, T)) <= tol else (lo, mid)
    return float(lo)

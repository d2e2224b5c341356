r"""Electronic thermal conductivity and heat capacity of a BCS superconductor.

Dimension-agnostic (:math:`k_B = 1`, one energy unit for :math:`T`, :math:`\Delta`,
:math:`T_c`); :math:`N_0` is the single-spin density of states. To obtain SI values with
energies in J, multiply heat capacities by :math:`k_B` (J/K) and thermal conductivities by
:math:`k_B` as well.

Thermal conductivity (notes Eqs. 21-23; Bardeen, Rickayzen & Tewordt 1959)
----------------------------------------------------------------------------
For elastic impurity scattering the transport time of a quasiparticle is
:math:`\tau_s = (E/|\xi|)\tau_n` (notes Eq. 19), so :math:`\rho(E)v_s\ell_s = v_F\ell`, and

.. math::

    \kappa_{es} = \frac{4N_0D}{T}\int_\Delta^\infty dE\,E^2\left(-\frac{\partial f}{\partial E}
    \right),\qquad D = v_F\ell/3.

Notes Eq. 23 is written with a prefactor :math:`2N_0v_F\ell/3T` ("two branches"); with
:math:`N_0` per spin both spins must be counted as well, giving :math:`4N_0D/T`. Only then does
the normal limit :math:`\Delta\to0` reproduce Wiedemann-Franz,
:math:`\kappa_n = (4N_0D/T)(\pi^2T^2/6) = (\pi^2/3)(2N_0)DT = L_0T\sigma_n` with
:math:`\sigma_n = 2N_0e^2D`. The ratio is therefore universal:

.. math::

    \frac{\kappa_{es}}{\kappa_n} = \frac{6}{\pi^2}\int_a^\infty x^2\frac{e^x}{(e^x+1)^2}dx
    = \frac{6}{\pi^2}\left[a^2 f(a) + 2a\ln(1+e^{-a}) - 2\,\mathrm{Li}_2(-e^{-a})\right],
    \qquad a = \Delta/T,

the closed form following by parts with :math:`\int_a^\infty x f(x)dx = a\ln(1+e^{-a}) -
\mathrm{Li}_2(-e^{-a})`. For large :math:`a` it equals
:math:`\frac{6}{\pi^2}\sum_{k\ge1}(-1)^{k+1}e^{-ka}(a^2+2a/k+2/k^2)`.

Heat capacity (notes Eqs. 25-27)
--------------------------------
With :math:`\beta\,d\Delta^2/d\beta = -T\,d\Delta^2/dT` (Eq. 27) and
:math:`2\sum_k \to 2N_0\int_{-\infty}^{\infty}d\xi = 4N_0\int_\Delta^\infty\rho\,dE`, Eq. 26
becomes

.. math::

    c = \frac{4N_0}{T}\int_\Delta^\infty dE\,\rho(E)\left(-\frac{\partial f}{\partial E}\right)
        \left[E^2 - \frac{T}{2}\frac{d\Delta^2}{dT}\right]\quad (T<T_c),\qquad
    c_n = \gamma T = \frac{2\pi^2}{3}N_0T\quad (T \ge T_c).

References
----------
.. [1] BoltzPhlow/BTE notes, Eqs. 9, 19-29.
.. [2] J. Bardeen, G. Rickayzen, L. Tewordt, Phys. Rev. 113, 982 (1959).
.. [3] B. Mühlschlegel, Z. Phys. 155, 313 (1959).
.. [4] M. Tinkham, *Introduction to Superconductivity*, 2nd ed., Sec. 3.9 (condensation energy
   :math:`N_0\Delta_0^2/2`, specific-heat jump :math:`12/7\zeta(3)`).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special
from scipy.interpolate import CubicHermiteSpline, CubicSpline

from .gap import (
    BCS_GAP_RATIO,
    ZETA3,
    _s_over_y2,
    _weak_coupling_y,
    bcs_gap,
    dgap_dT,
    dgap_squared_dT,
)
from .qp_density import _gauss_legendre, _u_rule

__all__ = [
    "SOMMERFELD",
    "ElectronicThermo",
    "heat_capacity",
    "heat_capacity_jump",
    "internal_energy",
    "kappa_normal",
    "kappa_ratio",
]

#: :math:`\gamma/N_0 = 2\pi^2/3` (single-spin :math:`N_0`, :math:`k_B=1`)
SOMMERFELD: float = 2.0 * np.pi**2 / 3.0
_SIX_PI2 = 6.0 / np.pi**2


def _out(x: NDArray[np.float64]) -> NDArray[np.float64] | float:
    return float(x) if np.ndim(x) == 0 else x


# --------------------------------------------------------------------------------------
# thermal conductivity
# --------------------------------------------------------------------------------------
def _kappa_ratio_of_a(a: NDArray[np.float64]) -> NDArray[np.float64]:
    r""":math:`\kappa_{es}/\kappa_n` as a function of :math:`a = \Delta/T \ge 0` (may be inf).

    Closed form with :math:`\mathrm{Li}_2(z) = ` ``spence(1 - z)`` for :math:`a \le 2`; the
    alternating series (24 terms, remainder :math:`< e^{-48}` relative) for :math:`a > 2`.
    """
    a = np.asarray(a, dtype=float)
    fin = np.isfinite(a)
    af = np.where(fin, a, 0.0)
    e = np.exp(-af)
    closed = af * af * special.expit(-af) + 2.0 * af * np.log1p(e) - 2.0 * special.spence(1.0 + e)
    k = np.arange(1, 25, dtype=float)
    ak = af[..., None]
    sign = np.where(k % 2 == 1, 1.0, -1.0)
    series = np.sum(sign * np.exp(-k * ak) * (ak * ak + 2.0 * ak / k + 2.0 / k**2), axis=-1)
    val = _SIX_PI2 * np.where(af <= 2.0, closed, series)
    return np.where(fin, np.where(af == 0.0, 1.0, val), 0.0)


def kappa_ratio(T: ArrayLike, delta: ArrayLike) -> NDArray[np.float64] | float:
    r"""BRT ratio :math:`\kappa_{es}/\kappa_n` (notes Eq. 23 normalised to the normal state).

    .. math::

        \frac{\kappa_{es}}{\kappa_n} = \frac{\int_\Delta^\infty E^2(-\partial f/\partial E)\,dE}
        {\pi^2T^2/6},

    evaluated in closed form (module docstring). Limits: 1 for :math:`\Delta = 0`;
    :math:`\frac{6}{\pi^2}(a^2+2a+2)e^{-a}[1 + O(e^{-a})]` for :math:`a = \Delta/T \gg 1`;
    0 for :math:`T = 0 < \Delta`. The normal-state :math:`\kappa_n = L_0T/\rho_n` (see
    :func:`kappa_normal`) is supplied by the caller. Note the prefactor discussion in the module
    docstring: Eq. 23 needs :math:`4N_0D/T` (both spins) to satisfy Wiedemann-Franz.

    Parameters
    ----------
    T : array_like
        Temperature.
    delta : array_like
        Gap at that temperature (e.g. :func:`fvqp.spectra.gap.bcs_gap`).
    """
    T, d = np.broadcast_arrays(np.asarray(T, dtype=float), np.abs(np.asarray(delta, float)))
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(d == 0, 0.0, d / T)
    return _out(_kappa_ratio_of_a(a))


def kappa_normal(T: ArrayLike, N0: ArrayLike, D: ArrayLike) -> NDArray[np.float64] | float:
    r"""Normal-state electronic conductivity :math:`\kappa_n = \frac{\pi^2}{3}(2N_0)DT`.

    Wiedemann-Franz with :math:`\sigma_n = 2N_0e^2D` (Einstein relation, both spins). In SI
    (energies in J) multiply by :math:`k_B` to get W/(m K); equivalently
    :math:`\kappa_n = L_0T/\rho_n`, :math:`L_0 = \pi^2k_B^2/3e^2`.
    """
    return _out(np.pi**2 / 3.0 * 2.0 * np.asarray(N0, float) * np.asarray(D, float)
                * np.asarray(T, float))


# --------------------------------------------------------------------------------------
# heat capacity
# --------------------------------------------------------------------------------------
def _c_superconducting(T: NDArray, delta: NDArray, d2: NDArray) -> NDArray:
    r""":math:`c/N_0 = 4\int_0^\infty d(\xi/T)\,m(x)\,[Tx^2 - \tfrac12 d\Delta^2/dT]`, x = E/T.

    :math:`m(x) = e^{-x}/(1+e^{-x})^2 = T(-\partial f/\partial E)`; evaluated with the
    :math:`\xi = \Delta\sinh u` Gauss-Legendre rule of :mod:`fvqp.spectra.gap`, the factor
    :math:`e^{-\Delta/T}` pulled out.
    """
    a = delta / T
    x, s, w = _u_rule(a)
    m_red = np.exp(-s) / (1.0 + np.exp(-x)) ** 2
    integral = np.sum(w * m_red * (T[..., None] * x * x - 0.5 * d2[..., None]), axis=-1)
    return 4.0 * np.exp(-a) * integral


def heat_capacity(
    T: ArrayLike, Tc: float, N0: ArrayLike, debye_energy: float | None = None
) -> NDArray[np.float64] | float:
    r"""Electronic heat capacity per volume including the gap term (notes Eqs. 26-27).

    .. math::

        c(T) = \frac{4N_0}{T}\int_\Delta^\infty dE\,\rho(E)\left(-\frac{\partial f}{\partial E}
        \right)\left[E^2 - \frac{T}{2}\frac{d\Delta^2}{dT}\right],\quad T < T_c;
        \qquad c = \frac{2\pi^2}{3}N_0T,\quad T \ge T_c.

    :math:`\Delta(T)` and :math:`d\Delta^2/dT` come from :func:`~fvqp.spectra.gap.bcs_gap` and
    :func:`~fvqp.spectra.gap.dgap_squared_dT` (weak coupling) or, with ``debye_energy``, from
    the cutoff gap equation (the energy integral itself is not cut off; states beyond
    :math:`\omega_D \gg T` contribute :math:`O(e^{-\omega_D/T})`). Relative accuracy
    :math:`\sim 10^{-12}` (160-point rule in :math:`\xi = \Delta\sinh u`).

    Checks (tests): jump :math:`c(T_c^-)/\gamma T_c = 1 + 12/7\zeta(3)`; entropy balance
    :math:`\int_0^{T_c}c/T\,dT = \gamma T_c`; energy balance
    :math:`\int_0^{T_c}c\,dT = \gamma T_c^2/2 + N_0\Delta_0^2/2`; low-:math:`T` form
    :math:`c \simeq (N_0\Delta^3/T^2)[K_3(a)+3K_1(a)]
    = 2\sqrt{2\pi}N_0\Delta a^{3/2}e^{-a}[1 + \tfrac{11}{8a} + \tfrac{225}{128a^2} +
    \tfrac{945}{1024a^3} + \dots]`, :math:`a = \Delta/T`.

    Parameters
    ----------
    T : array_like
        Temperature(s).
    Tc : float
        Critical temperature.
    N0 : array_like
        Single-spin DOS (broadcast with ``T``).
    debye_energy : float, optional
        Finite cutoff for the gap equation (default: weak coupling).
    """
    T, n0 = np.broadcast_arrays(np.asarray(T, dtype=float), np.asarray(N0, dtype=float))
    if np.any(T < 0):
        raise ValueError("temperature must be >= 0")
    t = T / float(Tc)
    out = np.array(SOMMERFELD * n0 * T, dtype=float)
    sc = (T > 0) & (t < 1)
    if np.any(sc):
        Ts = T[sc]
        if debye_energy is None:
            delta = np.asarray(bcs_gap(Ts, Tc), dtype=float)
            d2 = np.asarray(dgap_squared_dT(Ts, Tc), dtype=float)
        else:
            delta = np.asarray(bcs_gap(Ts, Tc, debye_energy), dtype=float)
            d2 = 2.0 * delta * np.asarray(dgap_dT(Ts, Tc, debye_energy), dtype=float)
        out[sc] = n0[sc] * _c_superconducting(Ts, np.atleast_1d(delta), np.atleast_1d(d2))
    return _out(out)


def heat_capacity_jump() -> float:
    r"""Weak-coupling jump :math:`\Delta C/C_n = 12/(7\zeta(3)) = 1.4261\ldots`.

    Exact left limit: :math:`c(T_c^-) = 4N_0\cdot\frac12\cdot(-\frac12 d\Delta^2/dT)
    + \gamma T_c` with :math:`d\Delta^2/dT|_{T_c^-} = -8\pi^2T_c/7\zeta(3)`.
    """
    return 12.0 / (7.0 * ZETA3)


def _low_t_energy_and_c(t: NDArray) -> tuple[NDArray, NDArray]:
    r"""Boltzmann/fixed-gap forms per :math:`N_0T_c^2` and :math:`N_0T_c`, :math:`t \ll 1`.

    :math:`U = 2N_0\Delta_0^2[K_0(a)+K_2(a)]`, :math:`c = dU/dT = (N_0\Delta_0^3/T^2)
    [K_3(a)+3K_1(a)]`, :math:`a = \Delta_0/T`; relative error :math:`O(e^{-a})`.
    """
    d0 = BCS_GAP_RATIO
    a = d0 / t
    ea = np.exp(-a)
    u = 2.0 * d0**2 * (special.kve(0, a) + special.kve(2, a)) * ea
    c = d0**3 / t**2 * (special.kve(3, a) + 3.0 * special.kve(1, a)) * ea
    return u, c


def internal_energy(
    T: ArrayLike, Tc: float, N0: ArrayLike, *, n_nodes: int = 400
) -> NDArray[np.float64] | float:
    r"""Internal energy :math:`U(T) - U(0) = \int_0^T c\,dT'` by direct quadrature (reference).

    Weak coupling. Gauss-Legendre with ``n_nodes`` points in :math:`x = \ln(T/T_c)` on
    :math:`[\ln 0.01, \ln t]` plus the Boltzmann form below :math:`0.01\,T_c` (relative weight
    :math:`< 10^{-70}`); above :math:`T_c`, :math:`U(T_c) + \gamma(T^2-T_c^2)/2`.
    :math:`U(T_c) = \gamma T_c^2/2 + N_0\Delta_0^2/2` (no latent heat). Slow; use
    :class:`ElectronicThermo` for repeated evaluation.
    """
    T, n0 = np.broadcast_arrays(np.asarray(T, dtype=float), np.asarray(N0, dtype=float))
    Tc = float(Tc)
    t = np.atleast_1d(T / Tc).ravel()
    t_min = 0.01
    z, wz = _gauss_legendre(n_nodes)
    u_hat = np.empty_like(t)
    for i, ti in enumerate(np.minimum(t, 1.0)):
        if ti <= t_min:
            u_hat[i] = _low_t_energy_and_c(np.array(max(ti, 1e-300)))[0] if ti > 0 else 0.0
            continue
        x0, x1 = np.log(t_min), np.log(ti)
        xs = x0 + (x1 - x0) * z
        ts = np.exp(xs)
        c = np.asarray(heat_capacity(ts, 1.0, 1.0))
        u_hat[i] = _low_t_energy_and_c(np.array(t_min))[0] + (x1 - x0) * np.sum(wz * c * ts)
    u_hat = np.where(t > 1.0, u_hat + 0.5 * SOMMERFELD * (t * t - 1.0), u_hat)
    return _out(u_hat.reshape(np.shape(T)) * n0 * Tc * Tc)


# --------------------------------------------------------------------------------------
# tabulated thermodynamics for heat solvers
# --------------------------------------------------------------------------------------
@lru_cache(maxsize=4)
def _universal_tables(t_min: float, n_grid: int, gl_order: int) -> dict:
    r"""Universal weak-coupling tables on :math:`x = \ln t \in [\ln t_{min}, 0]`.

    Returns Hermite spline of :math:`G = \ln\hat U` (exact nodal derivative
    :math:`G' = \hat c\,t/\hat U`), a cubic spline of :math:`P = (\Delta/T)^2/(-\ln t)` (regular
    at :math:`t = 1`, where :math:`P = 8\pi^2/7\zeta(3)`), and :math:`\hat U(1)`.
    """
    x = np.linspace(np.log(t_min), 0.0, n_grid)
    t = np.exp(x)
    # cumulative energy by GL panels in x
    z, wz = _gauss_legendre(gl_order)
    h = np.diff(x)
    xq = x[:-1, None] + h[:, None] * z[None, :]
    tq = np.exp(xq)
    cq = np.asarray(heat_capacity(tq.ravel(), 1.0, 1.0)).reshape(tq.shape)
    panels = h * np.sum(wz * cq * tq, axis=1)
    u0 = float(_low_t_energy_and_c(np.array(t_min))[0])
    u_hat = u0 + np.concatenate([[0.0], np.cumsum(panels)])
    c_nodes = np.asarray(heat_capacity(t, 1.0, 1.0), dtype=float)
    c_nodes[-1] = SOMMERFELD * (1.0 + heat_capacity_jump())  # exact left limit at Tc
    g = np.log(u_hat)
    dg = c_nodes * t / u_hat
    y = np.empty_like(t)
    y[:-1] = _weak_coupling_y(t[:-1])
    y[-1] = 0.0
    p = np.pi**2 / _s_over_y2(y)
    return {
        "x": x,
        "logU": CubicHermiteSpline(x, g, dg),
        "P": CubicSpline(x, p),
        "U1": float(u_hat[-1]),
    }


class ElectronicThermo:
    r"""Fast weak-coupling :math:`U(T)`, :math:`c(T)`, :math:`\Delta(T)`, :math:`\kappa(T)`.

    Universal tables in :math:`t = T/T_c` are built once per process (about 1 s) and scaled:
    :math:`U = N_0T_c^2\hat U(t)`, :math:`c = N_0T_c\hat c(t)`, :math:`\Delta = T_c\hat\Delta(t)`,
    :math:`\kappa = K\,T\,r(\Delta/T)` with :math:`K = \kappa_n/T` (Wiedemann-Franz,
    :math:`K = L_0/\rho_n` in SI) and :math:`r` = :func:`kappa_ratio` in closed form.

    Construction of the tables, for :math:`t_{min} \le t < 1`:

    * :math:`\hat U(t) = \hat U_B(t_{min}) + \int_{t_{min}}^t\hat c\,dt'`, with
      :func:`heat_capacity` integrated by 8-point Gauss-Legendre panels between the nodes of a
      uniform grid in :math:`x = \ln t` (``n_grid`` nodes); :math:`\hat U_B` is the Boltzmann form
      :math:`2\hat\Delta_0^2[K_0+K_2](\hat\Delta_0/t)` (exact to :math:`e^{-176}`).
    * :math:`\ln\hat U` is interpolated by a cubic Hermite spline in :math:`x` using the exact
      nodal slopes :math:`\hat c\,t/\hat U`; :math:`c` is the derivative **of the same spline**,
      :math:`c = U\,d\ln\hat U/dx/T`, so :math:`c = dU/dT` holds exactly for the interpolants
      (Newton Jacobians of an energy-conserving heat solver are consistent). :math:`\ln\hat U`
      is smooth in :math:`x` even where :math:`U \sim e^{-\Delta_0/T}` is tiny, which gives
      uniform *relative* accuracy.
    * :math:`P = (\Delta/T)^2/(-\ln t)` is tabulated (analytic in :math:`t` up to
      :math:`T_c`, unlike :math:`\Delta\propto\sqrt{1-t}`); :math:`\Delta/T = \sqrt{-xP}`.

    For :math:`t < t_{min}` the Boltzmann fixed-gap forms are used (relative error
    :math:`e^{-\Delta_0/T} < 10^{-76}`); for :math:`t \ge 1` the normal state,
    :math:`U = \hat U(1)N_0T_c^2 + \gamma(T^2-T_c^2)/2`, :math:`c = \gamma T`, :math:`\kappa =
    KT`. :math:`U` is continuous at :math:`T_c` (no latent heat) while :math:`c` jumps by
    :math:`12/7\zeta(3)\,\gamma T_c`. Zero of energy: the superconducting ground state,
    :math:`U(0) = 0`; :math:`\hat U(1) = \pi^2/3 + \hat\Delta_0^2/2` (normal-state energy plus
    condensation energy).

    Accuracy (defaults ``t_min=0.01, n_grid=1201``; verified in the tests against direct
    quadrature): relative error :math:`\le 10^{-8}` for :math:`U`, :math:`\le 10^{-7}` for
    :math:`c`, :math:`\Delta` and :math:`\kappa`, :math:`\le 10^{-6}` for :math:`d\kappa/dT`, for
    :math:`0.02 \le t < 1` (and below, where the asymptotic forms are used).

    Parameters
    ----------
    Tc : float
        Critical temperature.
    N0 : float
        Single-spin DOS.
    kappa_n_over_T : float, optional
        :math:`\kappa_n/T` of the normal state (needed for :meth:`kappa`, :meth:`dkappa_dT`).
    t_min : float
        Lower end of the tabulation.
    n_grid : int
        Number of nodes in :math:`\ln t`.
    """

    def __init__(
        self,
        Tc: float,
        N0: float,
        kappa_n_over_T: float | None = None,
        *,
        t_min: float = 0.01,
        n_grid: int = 1201,
    ) -> None:
        if not (Tc > 0 and N0 > 0):
            raise ValueError("Tc and N0 must be positive")
        if not 0.0 < t_min < 0.05:
            raise ValueError("t_min must lie in (0, 0.05) for the asymptotic branch to be exact")
        self.Tc = float(Tc)
        self.N0 = float(N0)
        self.kappa_n_over_T = None if kappa_n_over_T is None else float(kappa_n_over_T)
        self.t_min = float(t_min)
        self._tab = _universal_tables(self.t_min, int(n_grid), 8)

    # ---- helpers ----------------------------------------------------------------------
    def _split(self, T: ArrayLike) -> tuple[NDArray, NDArray, NDArray, NDArray]:
        T = np.asarray(T, dtype=float)
        if np.any(T < 0):
            raise ValueError("temperature must be >= 0")
        t = T / self.Tc
        low = t < self.t_min
        mid = (t >= self.t_min) & (t < 1.0)
        return t, low, mid, t >= 1.0

    def _energy_and_c_hat(self, t, low, mid, high) -> tuple[NDArray, NDArray]:
        u = np.zeros_like(t)
        c = np.zeros_like(t)
        tl = t[low & (t > 0)]
        if tl.size:
            u[low & (t > 0)], c[low & (t > 0)] = _low_t_energy_and_c(tl)
        x = np.log(t[mid])
        um = np.exp(self._tab["logU"](x))
        u[mid] = um
        c[mid] = um * self._tab["logU"](x, 1) / t[mid]
        th = t[high]
        u[high] = self._tab["U1"] + 0.5 * SOMMERFELD * (th * th - 1.0)
        c[high] = SOMMERFELD * th
        return u, c

    def _a_and_dq(self, t, low, mid) -> tuple[NDArray, NDArray]:
        r""":math:`a = \Delta/T` and :math:`dq/dt`, :math:`q = a^2` (0 in the normal state)."""
        a = np.zeros_like(t)
        dq = np.zeros_like(t)
        tl = t[low & (t > 0)]
        if tl.size:
            d = BCS_GAP_RATIO - np.sqrt(2.0 * np.pi * BCS_GAP_RATIO * tl) * np.exp(
                -BCS_GAP_RATIO / tl)
            a[low & (t > 0)] = d / tl
            dq[low & (t > 0)] = -2.0 * (d / tl) ** 2 / tl
        a[low & (t == 0)] = np.inf
        x = np.log(t[mid])
        p = self._tab["P"](x)
        dp = self._tab["P"](x, 1)
        a[mid] = np.sqrt(-x * p)
        dq[mid] = (-p - x * dp) / t[mid]
        return a, dq

    # ---- public API -------------------------------------------------------------------
    def internal_energy(self, T: ArrayLike) -> NDArray[np.float64] | float:
        """:math:`U(T) - U(0)` per volume (units of :math:`N_0T_c^2`, i.e. energy density)."""
        t, low, mid, high = self._split(T)
        u, _ = self._energy_and_c_hat(t, low, mid, high)
        return _out(u * self.N0 * self.Tc**2)

    def heat_capacity(self, T: ArrayLike) -> NDArray[np.float64] | float:
        """:math:`c = dU/dT` (derivative of the same interpolant as :meth:`internal_energy`)."""
        t, low, mid, high = self._split(T)
        _, c = self._energy_and_c_hat(t, low, mid, high)
        return _out(c * self.N0 * self.Tc)

    def gap(self, T: ArrayLike) -> NDArray[np.float64] | float:
        r"""Weak-coupling :math:`\Delta(T)` from the table (0 for :math:`T \ge T_c`)."""
        t, low, mid, _ = self._split(T)
        a, _ = self._a_and_dq(t, low, mid)
        finite = np.isfinite(a)
        d = np.where(finite, np.where(finite, a, 0.0) * t, BCS_GAP_RATIO)
        return _out(d * self.Tc)

    def kappa_ratio(self, T: ArrayLike) -> NDArray[np.float64] | float:
        r""":math:`\kappa_{es}/\kappa_n` at the equilibrium gap."""
        t, low, mid, _ = self._split(T)
        a, _ = self._a_and_dq(t, low, mid)
        return _out(_kappa_ratio_of_a(a))

    def _K(self) -> float:
        if self.kappa_n_over_T is None:
            raise ValueError("kappa_n_over_T was not given")
        return self.kappa_n_over_T

    def kappa(self, T: ArrayLike) -> NDArray[np.float64] | float:
        r""":math:`\kappa_{es}(T) = (\kappa_n/T)\,T\,r(\Delta/T)`."""
        K = self._K()
        t, low, mid, _ = self._split(T)
        a, _ = self._a_and_dq(t, low, mid)
        return _out(K * t * self.Tc * _kappa_ratio_of_a(a))

    def dkappa_dT(self, T: ArrayLike) -> NDArray[np.float64] | float:
        r""":math:`d\kappa/dT = K[r + t\,dr/dt]`, :math:`dr/dt = -(3/\pi^2)\,a\,m(a)\,dq/dt`.

        :math:`m(a) = e^{-a}/(1+e^{-a})^2`, :math:`q = a^2 = (\Delta/T)^2`. Continuous at
        :math:`T_c` (:math:`dr/dt \propto (1-t)^{1/2} \to 0`).
        """
        K = self._K()
        t, low, mid, _ = self._split(T)
        a, dq = self._a_and_dq(t, low, mid)
        af = np.where(np.isfinite(a), a, 0.0)
        ea = np.exp(-af)
        m = np.where(np.isfinite(a), ea / (1.0 + ea) ** 2, 0.0)
        dr_dt = -3.0 / np.pi**2 * af * m * dq
        return _out(K * (_kappa_ratio_of_a(a) + t * dr_dt))

r"""Equilibrium and non-equilibrium BCS gap and thermal QP density.

The occupation functions (``fermi``, ``bose``, ``minus_dfermi_dE``) live in
:mod:`fvqp.spectra.thermal_occupations` and are re-exported here.

Conventions
-----------
Dimension-agnostic: energies, :math:`\Delta`, :math:`T`, :math:`T_c` and the Debye energy
:math:`\omega_D` are in one consistent energy unit with :math:`k_B = 1`. :math:`N_0` is the
single-spin normal density of states at the Fermi level; densities carry the explicit factor
4 (two spins times two branches / both signs of :math:`\xi`).

Gap equation
------------
Notes Eq. 1 is garbled in the extracted text. It is reconstructed here as the standard BCS
self-consistency condition with an arbitrary (branch-symmetric, isotropic) quasiparticle
distribution :math:`f(E)`:

.. math::

    \frac{1}{\lambda} = \int_0^{\omega_D} d\xi\,\frac{1 - 2 f(E)}{E}
      = \int_\Delta^{\sqrt{\omega_D^2+\Delta^2}} dE\,\frac{\rho(E)\,[1 - 2f(E)]}{E},
    \qquad E = \sqrt{\xi^2+\Delta^2},

with :math:`\lambda = N_0 V` the dimensionless coupling. For a Fermi function
:math:`1 - 2f(E) = \tanh(E/2T)` and the equation reduces to the familiar
:math:`1/\lambda = \int_0^{\omega_D} d\xi\,\tanh(E/2T)/E` (Tinkham, Eq. 3.27).
In the weak-coupling limit :math:`\omega_D/T_c \to \infty` it becomes universal,

.. math::

    \ln\frac{\Delta_0}{\Delta} = 2\int_0^\infty d\xi\,\frac{f(E)}{E},\qquad
    \Delta_0 = \pi e^{-\gamma_E} T_c \approx 1.764\,T_c,

which is solved here in the equivalent Matsubara form (Abrikosov-Gor'kov-Dzyaloshinskii)

.. math::

    \ln\frac{T_c}{T} = 2\pi T \sum_{n \ge 0}\left[\frac{1}{\omega_n}
      - \frac{1}{\sqrt{\omega_n^2+\Delta^2}}\right],\qquad \omega_n = \pi T(2n+1),

because it is regular at :math:`\Delta \to 0` (no cancellation of large logarithms near
:math:`T_c`) and yields :math:`d\Delta/dT` analytically.

References
----------
.. [1] BoltzPhlow/BTE notes, Eqs. 1, 5, 9.
.. [2] J. Bardeen, L. N. Cooper, J. R. Schrieffer, Phys. Rev. 108, 1175 (1957).
.. [3] B. Mühlschlegel, Z. Phys. 155, 313 (1959).
.. [4] M. Tinkham, *Introduction to Superconductivity*, 2nd ed. (1996), Ch. 3.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import integrate, special

from .gap_equation import (
    gap_equation_residual,
    gap_equation_residual_derivative,
    gap_from_distribution,
    solve_gap,
)
from .qp_density import thermal_qp_density, thermal_qp_density_lowT
from .thermal_occupations import _out, bose, fermi, minus_dfermi_dE

__all__ = [
    "BCS_GAP_RATIO",
    "GL_GAP_SLOPE",
    "ZETA3",
    "bcs_gap",
    "bose",
    "GAP_MODELS",
    "coupling_from_tc",
    "dgap_dT",
    "dgap_squared_dT",
    "fermi",
    "gap_equation_residual",
    "gap_equation_residual_derivative",
    "gap_from_distribution",
    "minus_dfermi_dE",
    "thermal_gap",
    "thermal_qp_density",
    "thermal_qp_density_lowT",
]

#: Weak-coupling ratio :math:`\Delta_0/T_c = \pi e^{-\gamma_E} = 1.7638769\ldots`
BCS_GAP_RATIO: float = float(np.pi * np.exp(-np.euler_gamma))
#: :math:`\zeta(3)`
ZETA3: float = float(special.zeta(3.0))
#: Ginzburg-Landau slope :math:`\Delta \simeq \sqrt{8\pi^2/(7\zeta(3))}\,T_c\sqrt{1-T/T_c}`
GL_GAP_SLOPE: float = float(np.sqrt(8.0 * np.pi**2 / (7.0 * ZETA3)))

# --------------------------------------------------------------------------------------
# weak-coupling gap via Matsubara sums
# --------------------------------------------------------------------------------------
_N_MATSUBARA = 64
_K_HEAD = 2.0 * np.arange(_N_MATSUBARA) + 1.0  # k = 2n+1, n < N
_K_TAIL = 2.0 * _N_MATSUBARA  # tail sum over k = K+1, K+3, ... by Euler-Maclaurin


def _s_over_y2(y: NDArray[np.float64]) -> NDArray[np.float64]:
    r"""Regular evaluation of :math:`S(y)/y^2`.

    :math:`S(y) = 2\sum_{n\ge0}\,[1/k - 1/\sqrt{k^2+y^2}]`, :math:`k = 2n+1`, so that the gap
    equation reads :math:`S(\Delta/\pi T) = \ln(T_c/T)`. Terms :math:`n < 64` are summed
    exactly, the rest with the midpoint Euler-Maclaurin formula (step 2, two correction terms,
    truncation error :math:`< 10^{-13}`).
    """
    y = np.asarray(y, dtype=float)
    yy = y[..., None] ** 2
    k = _K_HEAD
    r = np.sqrt(k * k + yy)
    head = np.sum(1.0 / (k * r * (r + k)), axis=-1)
    kt = _K_TAIL
    y2 = y * y
    rk = np.sqrt(kt * kt + y2)
    w = y2 / (2.0 * kt * (rk + kt))
    with np.errstate(divide="ignore", invalid="ignore"):
        log1p_over = np.where(w > 0, np.log1p(w) / w, 1.0)
    integral = log1p_over / (2.0 * kt * (rk + kt))
    f1 = -(rk * rk + rk * kt + kt * kt) / ((rk + kt) * kt**2 * rk**3)
    v = y2 / kt**2
    with np.errstate(divide="ignore", invalid="ignore"):
        pow_over = np.where(v > 0, np.expm1(3.5 * np.log1p(v)) / v, 3.5)
    f3 = (-6.0 * pow_over - 9.0) / (kt**6 * (1.0 + v) ** 3.5)
    tail = 0.5 * (integral + f1 / 6.0 - 7.0 * f3 / 360.0)
    return 2.0 * (head + tail)


def _ds_over_y(y: NDArray[np.float64]) -> NDArray[np.float64]:
    r"""Regular evaluation of :math:`S'(y)/y = 2\sum_n (k^2+y^2)^{-3/2}` (with E-M tail)."""
    y = np.asarray(y, dtype=float)
    r = np.sqrt(_K_HEAD * _K_HEAD + y[..., None] ** 2)
    head = np.sum(r**-3, axis=-1)
    kt = _K_TAIL
    rk = np.sqrt(kt * kt + y * y)
    d_integral = 1.0 / (rk * (rk + kt))
    d_f1 = -3.0 * kt / rk**5
    d_f3 = 45.0 * kt / rk**7 - 105.0 * kt**3 / rk**9
    tail = 0.5 * (d_integral + d_f1 / 6.0 - 7.0 * d_f3 / 360.0)
    return 2.0 * (head + tail)


def _weak_coupling_y(t: NDArray[np.float64]) -> NDArray[np.float64]:
    r"""Solve :math:`S(y) = -\ln t` for :math:`y = \Delta/(\pi T)`, :math:`0 < t < 1`.

    Safeguarded Newton iteration in :math:`w = \ln y^2` on the bracket
    :math:`[\ln(-\ln t / s_1), 2\ln(e^{-\gamma_E}/t)]`, :math:`s_1 = 7\zeta(3)/8`
    (:math:`S(y) \le s_1 y^2` and :math:`\Delta \le \Delta_0`). Steps leaving the bracket are
    replaced by bisection, so convergence is guaranteed; vectorised over ``t``.
    """
    t = np.asarray(t, dtype=float)
    target = -np.log(t)
    s1 = 7.0 * ZETA3 / 8.0
    w_lo = np.log(target / s1)
    w_hi = 2.0 * np.log(np.exp(-np.euler_gamma) / t) + 1e-12
    guess = np.exp(-np.euler_gamma) / t * np.tanh(1.74 * np.sqrt(1.0 / t - 1.0))
    w = np.clip(2.0 * np.log(guess), w_lo, w_hi)
    for _ in range(60):
        y = np.exp(0.5 * w)
        g = y * y * _s_over_y2(y) - target
        dg = 0.5 * y * y * _ds_over_y(y)
        w_lo = np.where(g < 0, w, w_lo)
        w_hi = np.where(g > 0, w, w_hi)
        w_new = w - g / dg
        outside = (w_new <= w_lo) | (w_new >= w_hi) | ~np.isfinite(w_new)
        w_new = np.where(outside, 0.5 * (w_lo + w_hi), w_new)
        step = np.abs(w_new - w)
        w = w_new
        if np.all((step <= 1e-14 * np.maximum(1.0, np.abs(w))) | (g == 0)):
            break
    return np.exp(0.5 * w)


# --------------------------------------------------------------------------------------
# finite Debye cutoff
# --------------------------------------------------------------------------------------
def coupling_from_tc(Tc: float, debye_energy: float) -> float:
    r"""BCS coupling :math:`\lambda = N_0V` that gives :math:`T_c` for cutoff :math:`\omega_D`.

    .. math::

        \frac{1}{\lambda} = \int_0^{\omega_D} d\xi\,\frac{\tanh(\xi/2T_c)}{\xi}
          = \tanh X \ln X - \int_0^X \ln x\,\mathrm{sech}^2 x\,dx,\qquad X = \frac{\omega_D}{2T_c},

    (integration by parts; the log-weighted integral uses QUADPACK's algebraic-log weight).
    For :math:`X \to \infty` this tends to :math:`\ln(2e^{\gamma_E}\omega_D/\pi T_c)`.
    """
    X = 0.5 * float(debye_energy) / float(Tc)
    if X <= 0:
        raise ValueError("Tc and debye_energy must be positive")
    b = min(X, 40.0)  # sech^2 beyond 40 is < 1e-34
    val, _ = integrate.quad(
        lambda x: 1.0 / np.cosh(x) ** 2, 0.0, b, weight="alg-loga", wvar=(0.0, 0.0),
        epsabs=1e-15, epsrel=1e-13, limit=200,
    )
    return 1.0 / (np.tanh(X) * np.log(X) - val)


def _fermi_u_integral(delta: float, T: float, u_max: float) -> float:
    r""":math:`\int_0^{u_{max}} f(\Delta\cosh u)\,du` at temperature ``T``."""
    if T <= 0:
        return 0.0
    if delta > 0:
        u_cut = float(np.arccosh(max(1.0, 60.0 * T / delta)))
        upper = min(u_max, u_cut) if u_cut > 0 else 0.0
    else:
        upper = u_max
    if upper <= 0:
        return 0.0
    val, _ = integrate.quad(
        lambda u: fermi(delta * np.cosh(u), T), 0.0, upper,
        epsabs=1e-14, epsrel=1e-13, limit=400,
    )
    return val


def _cutoff_residual(delta: float, T: float, debye_energy: float, inv_lambda: float) -> float:
    r"""Cutoff residual :math:`\mathrm{asinh}(\omega_D/\Delta) - 2\int_0^{u_D}f\,du - 1/\lambda`."""
    u_d = float(np.arcsinh(debye_energy / delta))
    return u_d - 2.0 * _fermi_u_integral(delta, T, u_d) - inv_lambda


def _cutoff_gap_scalar(T: float, Tc: float, debye_energy: float, inv_lambda: float) -> float:
    r"""Root of :func:`_cutoff_residual` in :math:`[10^{-10}, 1]\Delta_{00}` (one bracket of
    :func:`fvqp.spectra.gap_equation.solve_gap`), 0 above :math:`T_c`."""
    delta00 = debye_energy / np.sinh(inv_lambda)
    if T >= Tc:
        return 0.0
    if T <= 0:
        return float(delta00)
    scan = np.array([[delta00 * (1.0 + 1e-12), 1e-10 * delta00]])

    def r(d: NDArray[np.float64], _cells: NDArray[np.intp]) -> NDArray[np.float64]:
        return np.array([_cutoff_residual(float(d[0]), T, debye_energy, inv_lambda)])

    return float(solve_gap(r, scan, tol=1e-16)[0])


def _cutoff_dgap_dT_scalar(T: float, delta: float, debye_energy: float) -> float:
    r"""Implicit differentiation of the cutoff gap equation, :math:`d\Delta/dT = -R_T/R_\Delta`.

    :math:`R_T = -2\int du\,\partial f/\partial T = -(2/T)\int_0^{\omega_D}d\xi\,(-f'(E))`
    (using :math:`\partial f/\partial T = (E/T)(-\partial f/\partial E)`) and
    :math:`R_\Delta = \Delta\int_0^{\omega_D}d\xi\,[2(-f'(E))/E^2 - \tanh(E/2T)/E^3]`,
    both evaluated in :math:`u` with :math:`\xi = \Delta\sinh u`.
    """
    if delta <= 0 or T <= 0:
        return 0.0
    u_d = float(np.arcsinh(debye_energy / delta))

    def m(e: float) -> float:
        return float(minus_dfermi_dE(e, T))

    def integrand_t(u: float) -> float:
        e = delta * np.cosh(u)
        return m(e) * e

    def integrand_d(u: float) -> float:
        e = delta * np.cosh(u)
        return (2.0 * m(e) / e - np.tanh(e / (2.0 * T)) / (e * e)) * delta * np.cosh(u) / e

    u_cut = min(u_d, float(np.arccosh(max(1.0, 80.0 * T / delta))) + 1.0)
    r_t, _ = integrate.quad(integrand_t, 0.0, u_cut, epsabs=0, epsrel=1e-12, limit=400)
    r_t *= -2.0 / T
    r_d, _ = integrate.quad(integrand_d, 0.0, u_d, epsabs=0, epsrel=1e-12, limit=400)
    r_d *= delta
    return -r_t / r_d


# --------------------------------------------------------------------------------------
# public gap functions
# --------------------------------------------------------------------------------------
def bcs_gap(
    T: ArrayLike, Tc: float, debye_energy: float | None = None
) -> NDArray[np.float64] | float:
    r"""Equilibrium BCS gap :math:`\Delta(T)`.

    Parameters
    ----------
    T : array_like
        Temperature(s) :math:`\ge 0` (same energy unit as ``Tc``).
    Tc : float
        Critical temperature.
    debye_energy : float, optional
        Cutoff :math:`\omega_D`. If ``None`` (default) the universal weak-coupling gap
        (:math:`\omega_D/T_c \to \infty`) is returned; it is solved from the Matsubara form of
        the gap equation (module docstring) by a vectorised safeguarded Newton/bisection on a
        guaranteed bracket, with relative accuracy :math:`\lesssim 10^{-12}`. With a finite
        cutoff the coupling is fixed from ``Tc`` by :func:`coupling_from_tc` and
        :math:`1/\lambda = \int_0^{\omega_D}d\xi\tanh(E/2T)/E` is solved with
        :func:`fvqp.spectra.gap_equation.solve_gap`
        (``quad`` with :math:`\xi = \Delta\sinh u`; relative accuracy :math:`\sim 10^{-10}`).

    Returns
    -------
    float or ndarray
        :math:`\Delta(T)`; 0 for :math:`T \ge T_c`. With a finite cutoff
        :math:`\Delta(0) = \omega_D/\sinh(1/\lambda)`, which tends to :math:`1.764\,T_c` as
        :math:`\omega_D/T_c \to \infty` with :math:`O((T_c/\omega_D)^2)` corrections.
    """
    T = np.asarray(T, dtype=float)
    if np.any(T < 0):
        raise ValueError("temperature must be >= 0")
    Tc = float(Tc)
    if debye_energy is not None:
        inv_lam = 1.0 / coupling_from_tc(Tc, float(debye_energy))
        flat = [_cutoff_gap_scalar(float(x), Tc, float(debye_energy), inv_lam) for x in T.ravel()]
        return _out(np.asarray(flat).reshape(T.shape))
    t = T / Tc
    out = np.zeros_like(t)
    sc = (t > 0) & (t < 1)
    out[t == 0] = BCS_GAP_RATIO * Tc
    if np.any(sc):
        out[sc] = np.pi * T[sc] * _weak_coupling_y(t[sc])
    return _out(out)


#: The two models of the equilibrium gap of a material (:func:`thermal_gap`).
GAP_MODELS: tuple[str, ...] = ("alpha", "delta0")


def thermal_gap(
    T: ArrayLike, Tc: float, gap_ratio: float = BCS_GAP_RATIO, model: str = "alpha"
) -> NDArray[np.float64] | float:
    r"""Equilibrium gap :math:`\Delta(T)` of a material with :math:`\Delta_0 = \alpha T_c`.

    The one :math:`\Delta(T)` of the models. A material is given by its critical
    temperature :math:`T_c` and its gap ratio :math:`\alpha = \Delta_0/k_BT_c` (``gap_ratio``;
    tunnelling data, e.g. 1.70 for Al, 1.90 for Nb), which differs from the weak-coupling
    :math:`\alpha_{BCS} = \pi e^{-\gamma_E} = 1.7639` (:data:`BCS_GAP_RATIO`). One
    weak-coupling BCS gap cannot match both numbers, so there are two models; both use
    :math:`s = \alpha/\alpha_{BCS}` and the weak-coupling gap :math:`\Delta_{BCS}(T; T_c)`
    of :func:`bcs_gap`, and both give :math:`\Delta(0) = \alpha T_c`.

    ``model="alpha"`` (Padamsee, Neighbor & Shiffman, J. Low Temp. Phys. 12, 387 (1973);
    Johnston, Supercond. Sci. Technol. 26, 115011 (2013)): the BCS shape scaled to
    the material's :math:`\Delta_0`,

    .. math:: \Delta_\alpha(T) = s\,\Delta_{BCS}(T; T_c),

    which closes at the material's :math:`T_c` with the BCS (Ginzburg-Landau) slope
    :math:`\Delta_\alpha \simeq s\sqrt{8\pi^2/7\zeta(3)}\,T_c\sqrt{1 - T/T_c}`
    (:data:`GL_GAP_SLOPE`) and is 0 for :math:`T \ge T_c`. Used where the thermodynamics
    must jump at the measured :math:`T_c`: the heat model (:mod:`fvqp.models.heat.properties`:
    heat capacity, conductivity, thermal QP density), the fixed-gap 0D kinetics
    (:mod:`fvqp.models.kinetics0d`), the electrodes of the Usadel junctions.

    ``model="delta0"``: the thermal solution of the weak-coupling gap equation with the
    cut-off eliminated through :math:`\Delta_0` (notes Eq. 1; :mod:`fvqp.spectra.gap_equation`),

    .. math:: \ln\frac{\Delta_0}{\Delta} = 2\int_0^\infty d\xi\,
        \frac{f(E)}{E},\qquad f = \frac{1}{e^{E/T} + 1},\quad E = \sqrt{\xi^2 + \Delta^2},

    i.e. :math:`\Delta_{\delta_0}(T) = \Delta_{BCS}(T; T_c')` with :math:`T_c' = sT_c`
    (the equation is universal in :math:`\Delta_0`). It is the gap of the kinetic models
    whose gap follows ``f`` through that equation (``bte`` and ``transport`` cells,
    ``kinetics0d`` with ``self_consistent_gap``, ``bte_sphere``): a thermal start with
    this gap is stationary. It closes at :math:`T_c' \ne T_c` (Al, :math:`\alpha = 1.70`:
    :math:`T_c' = 0.964\,T_c`, and at :math:`0.9\,T_c` the α model is 21 % above it; Nb, 1.90:
    :math:`T_c' = 1.077\,T_c`). It is continuous: 0 only for :math:`T \ge T_c'`, and for
    :math:`\alpha > \alpha_{BCS}` still positive between :math:`T_c` and :math:`T_c'`
    (the gap equation's solution there). The case checks of the models with this gap
    refuse a bath at or above :math:`\min(T_c, T_c')` (:func:`fvqp.models.spec.
    gap_closes_at`): above :math:`T_c'` the film would be normal (a bte run of Al at
    1.15 K used to finish with a gap of zero everywhere, one of Sn in bte_sphere at 3.66 K
    to divide by it).

    Parameters
    ----------
    T : array_like
        Temperature(s) :math:`\ge 0`, in the energy unit of ``Tc`` (:math:`k_B = 1`).
    Tc : float
        The material's critical temperature.
    gap_ratio : float
        :math:`\alpha = \Delta_0/T_c` (default the weak-coupling value: then the two models
        are :func:`bcs_gap`).
    model : {"alpha", "delta0"}
        Which model (above).

    Returns
    -------
    float or ndarray
        :math:`\Delta(T)` in the unit of ``Tc``; exactly :math:`\alpha T_c` at :math:`T = 0`.

    Examples
    --------
    >>> round(float(thermal_gap(0.0, 1.0, 1.70)), 12)
    1.7
    >>> a, d = (float(thermal_gap(0.9, 1.0, 1.70, m)) for m in GAP_MODELS)
    >>> round(a, 4), round(d, 4), float(thermal_gap(0.97, 1.0, 1.70, "delta0"))  # T > Tc'
    (0.8948, 0.7387, 0.0)
    """
    if model not in GAP_MODELS:
        raise ValueError(f"gap model {model!r}: use one of {GAP_MODELS}")
    T = np.asarray(T, dtype=float)
    s = float(gap_ratio) / BCS_GAP_RATIO
    if model == "alpha":
        out = s * np.asarray(bcs_gap(T, Tc), dtype=float)
    else:
        out = np.asarray(bcs_gap(T, s * float(Tc)), dtype=float)
    return _out(np.where(T == 0, float(gap_ratio) * float(Tc), out))


def dgap_squared_dT(T: ArrayLike, Tc: float) -> NDArray[np.float64] | float:
    r""":math:`d\Delta^2/dT` of the weak-coupling gap (regular up to :math:`T_c^-`).

    From :math:`S(y) = \ln(T_c/T)`, :math:`y = \Delta/\pi T`:

    .. math::

        \frac{d\Delta^2}{dT} = 2\pi^2 T\left[y^2 - \frac{1}{S'(y)/y}\right]
        \xrightarrow{T\to T_c^-} -\frac{8\pi^2}{7\zeta(3)}T_c,

    with :math:`S'(y)/y = 2\sum_n (k^2+y^2)^{-3/2}` evaluated without cancellation.
    Returns 0 for :math:`T \ge T_c` (normal state; the function jumps at :math:`T_c`).
    Exponentially small, :math:`\approx -2\Delta_0\sqrt{2\pi\Delta_0}\,
    (\Delta_0/T^{3/2})\,e^{-\Delta_0/T}`, at low :math:`T`.
    """
    T = np.asarray(T, dtype=float)
    t = T / float(Tc)
    out = np.zeros_like(t)
    sc = (t > 0) & (t < 1)
    if np.any(sc):
        y = _weak_coupling_y(t[sc])
        out[sc] = 2.0 * np.pi**2 * T[sc] * (y * y - 1.0 / _ds_over_y(y))
    return _out(out)


def dgap_dT(
    T: ArrayLike, Tc: float, debye_energy: float | None = None
) -> NDArray[np.float64] | float:
    r"""Temperature derivative :math:`d\Delta/dT` of the equilibrium gap.

    Weak coupling (``debye_energy=None``): analytic implicit differentiation of the Matsubara
    gap equation, :math:`d\Delta/dT = \pi\,[y - 1/S'(y)]`, :math:`y = \Delta/\pi T`. Near
    :math:`T_c` this approaches the Ginzburg-Landau form
    :math:`-\tfrac12\sqrt{8\pi^2/7\zeta(3)}\,(1-T/T_c)^{-1/2}`, i.e. it diverges as
    :math:`T \to T_c^-`; for :math:`T \ge T_c` 0 is returned (normal state). Use
    :func:`dgap_squared_dT` for the regular combination needed by the heat capacity.

    With finite ``debye_energy``: implicit differentiation of the cutoff equation with ``quad``.
    """
    T = np.asarray(T, dtype=float)
    Tc = float(Tc)
    t = T / Tc
    out = np.zeros_like(t)
    sc = (t > 0) & (t < 1)
    if not np.any(sc):
        return _out(out)
    if debye_energy is None:
        y = _weak_coupling_y(t[sc])
        out[sc] = np.pi * (y - 1.0 / (y * _ds_over_y(y)))
        return _out(out)
    delta = np.asarray(bcs_gap(T[sc], Tc, debye_energy)).ravel()
    out[sc] = [
        _cutoff_dgap_dT_scalar(float(x), float(d), float(debye_energy))
        for x, d in zip(T[sc].ravel(), delta, strict=True)
    ]
    return _out(out)

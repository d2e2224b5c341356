"""Spin-polarised clusters of excess quasiparticles: parameters, mean field and analytics.

Implements the deterministic and closed-form parts of

    J. S. Meyer, M. Houzet, Yu. V. Nazarov, "Dynamical spin polarization of excess
    quasiparticles in superconductors", Phys. Rev. Lett. 125, 097006 (2020),

namely the mean-field equations (1)-(2), their stationary solutions (3)-(4) with the
spin-relaxation (SR) and triplet-annihilation (TA) limits and the concentrations (5)-(6),
the Fokker-Planck distribution (7) and its moments (8)-(9) and the Ising-spin variant
(S12)-(S14) of the Supplemental Material (SM).  The cross-over equations (S7)-(S10) are in
:mod:`fvqp.stochastic.crossover`.

The stochastic parts live in :mod:`fvqp.stochastic.master` (master equations S4/S5 and
zero-frequency noise) and :mod:`fvqp.stochastic.fokker_planck` (FiPy solution of S6/S11).

Notation: ``A`` injection rate per unit volume, ``V`` cluster volume, ``gamma`` the singlet
recombination constant :math:`\\bar\\Gamma`, ``gamma_t`` the triplet one
:math:`\\bar\\Gamma_t`, ``tau_s`` the single-spin flip time (``numpy.inf`` allowed).  Any
consistent unit system may be used; ``N`` and ``m`` are pure numbers.

Reconstructed formulas (the text extraction of the paper is partly garbled):

* Eq. (3) is printed as ``m0 = (A V^2 - gamma_t N0) / (2 gamma N0)``; the stationary form of
  Eq. (1) with ``m << N`` gives ``gamma_t N0**2``, which is also the only form that reproduces
  Eq. (4) on substitution into Eq. (2).  We use ``m0 = (A V^2 - gamma_t N0^2) / (2 gamma N0)``.
* The fluctuation time in the TA regime is printed as ``(A gamma_t / V)^(-1/3)`` in one place
  and ``(A gamma_t^2 / V)^(-1/3)`` in another; only the latter is a time and equals
  ``t_f = N0^2 / (A V)``, so it is used in :func:`fluctuation_time`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import root
from scipy.special import gamma as gamma_fn

__all__ = [
    "ClusterParams", "mean_field_rhs", "mean_field_jacobian", "fixed_point",
    "fixed_point_limit", "fixed_point_sr", "fixed_point_ta", "m0_from_n0", "n0_reduced",
    "concentrations_limit", "concentrations_sr", "concentrations_ta",
    "stationary_distribution", "moments_limit", "moments_sr", "moments_ta",
    "distribution_moments", "fluctuation_time", "ising_distribution", "ising_mean_limit",
    "ising_mean_sr", "ising_mean_ta"
]


@dataclass(frozen=True)
class ClusterParams:
    """Parameters of the cluster model of Meyer, Houzet and Nazarov (2020).

    Parameters
    ----------
    A : float
        Quasiparticle injection rate per unit volume.
    V : float
        Cluster volume.
    gamma : float
        Singlet recombination constant :math:`\\bar\\Gamma` (volume / time).
    gamma_t : float
        Spin-independent (triplet) annihilation constant :math:`\\bar\\Gamma_t \\ll \\bar\\Gamma`.
    tau_s : float
        Single-spin flip time; ``numpy.inf`` switches spin relaxation off.
    """

    A: float
    V: float
    gamma: float
    gamma_t: float = 0.0
    tau_s: float = np.inf

    @property
    def injection(self) -> float:
        """Total injection rate :math:`AV`."""
        return self.A * self.V

    @property
    def inv_tau_s(self) -> float:
        """Spin-flip rate :math:`1/\\tau_s` (zero for ``tau_s = inf``)."""
        return 0.0 if np.isinf(self.tau_s) else 1.0 / self.tau_s

    @property
    def V_c(self) -> float:
        """Critical volume :math:`V_c = \\bar\\Gamma \\tau_s` (main text after Eq. 4)."""
        return self.gamma * self.tau_s

    @property
    def A_c(self) -> float:
        """Critical injection :math:`A_c = \\bar\\Gamma/(\\bar\\Gamma_t \\tau_s)^2`."""
        return self.gamma / (self.gamma_t * self.tau_s) ** 2

    @property
    def N_c(self) -> float:
        """Maximal cluster size :math:`N_c = \\bar\\Gamma/\\bar\\Gamma_t`."""
        return self.gamma / self.gamma_t

    @property
    def c0(self) -> float:
        """Unpolarised density :math:`c_0 = (2A/\\bar\\Gamma)^{1/2}`."""
        return float(np.sqrt(2.0 * self.A / self.gamma))

    @property
    def n0_sr(self) -> float:
        """SR-regime most probable number :math:`N_0^{(s)} = (AV\\tau_s/2)^{1/2}` (Eq. 4)."""
        return float(np.sqrt(self.injection * self.tau_s / 2.0))

    @property
    def n0_ta(self) -> float:
        """TA-regime most probable number :math:`N_0^{(t)} = (AV^2/\\bar\\Gamma_t)^{1/3}`, Eq. 4."""
        return float(np.cbrt(self.A * self.V**2 / self.gamma_t))

    @property
    def zeta_s(self) -> float:
        """SR small parameter :math:`\\zeta_s = V/V_c` (Eq. 5)."""
        return self.V / self.V_c

    @property
    def zeta_t(self) -> float:
        """TA small parameter :math:`\\zeta_t = (AV^2/A_c V_c^2)^{1/3}/2` (Eq. 6)."""
        return float(np.cbrt(self.A * self.V**2 / (self.A_c * self.V_c**2)) / 2.0)


def mean_field_rhs(params: ClusterParams, N: np.ndarray, m: np.ndarray) -> tuple:
    """Right-hand sides of the mean-field equations, Eqs. (1)-(2).

    Parameters
    ----------
    params : ClusterParams
        Model parameters.
    N, m : array_like
        Most probable particle number and number of spin flips (broadcast together).

    Returns
    -------
    dN, dm : numpy.ndarray
        :math:`dN/dt` (Eq. 1) and :math:`dm/dt` (Eq. 2).
    """
    p = params
    N = np.asarray(N, dtype=float)
    m = np.asarray(m, dtype=float)
    g, gt, V = p.gamma / p.V, p.gamma_t / p.V, p.V
    dN = p.A * V - 2.0 * g * (N - m) * m - gt * N**2
    dm = (0.5 * p.injection * (1.0 - 1.0 / (N - m)) - g * (N - m) * m - gt * N * m
          + p.inv_tau_s * (N - 2.0 * m))
    return dN, dm


def mean_field_jacobian(params: ClusterParams, N: float, m: float) -> np.ndarray:
    """Jacobian of Eqs. (1)-(2) with respect to ``(N, m)``.

    Parameters
    ----------
    params : ClusterParams
        Model parameters.
    N, m : float
        Point of evaluation.

    Returns
    -------
    numpy.ndarray
        2x2 matrix :math:`\\partial(\\dot N, \\dot m)/\\partial(N, m)`.
    """
    p = params
    g, gt, ts = p.gamma / p.V, p.gamma_t / p.V, p.inv_tau_s
    k = N - m
    half = 0.5 * p.injection / k**2
    return np.array([
        [-2.0 * g * m - 2.0 * gt * N, -2.0 * g * (N - 2.0 * m)],
        [half - g * m - gt * m + ts, -half - g * (N - 2.0 * m) - gt * N - 2.0 * ts],
    ])


def m0_from_n0(params: ClusterParams, N0: np.ndarray) -> np.ndarray:
    """Stationary spin-flip number from Eq. (3) (``m << N``, reconstructed ``N0**2``).

    Parameters
    ----------
    params : ClusterParams
        Model parameters.
    N0 : array_like
        Stationary particle number.

    Returns
    -------
    numpy.ndarray
        :math:`m_0 = (AV^2 - \\bar\\Gamma_t N_0^2)/(2\\bar\\Gamma N_0)`.
    """
    N0 = np.asarray(N0, dtype=float)
    return (params.A * params.V**2 - params.gamma_t * N0**2) / (2.0 * params.gamma * N0)


def n0_reduced(params: ClusterParams) -> float:
    """Positive root of Eq. (4), :math:`AV/N_0 = 2N_0/\\tau_s + \\bar\\Gamma_t N_0^2/V`:
    the stationary :math:`N_0` of ``params`` (its ``A``, ``V``, ``gamma_t``, ``tau_s``)
    between the SR and TA limits.

    Raises
    ------
    ValueError
        If both ``gamma_t`` and ``1/tau_s`` vanish (``N`` grows without bound).
    """
    p = params
    if p.gamma_t <= 0.0 and p.inv_tau_s <= 0.0:
        raise ValueError("no stationary cluster size without spin relaxation or triplet loss")
    # cubic (gamma_t/V) N^3 + (2/tau_s) N^2 - AV = 0 has exactly one positive root
    roots = np.roots([p.gamma_t / p.V, 2.0 * p.inv_tau_s, 0.0, -p.injection])
    real = roots[np.abs(roots.imag) < 1e-9 * np.abs(roots).max()].real
    return float(real[real > 0].max())


def _regime(regime: str) -> str:
    if regime not in ("sr", "ta"):
        raise ValueError(f"unknown regime {regime!r}")
    return regime


_LIMIT_PARAMETERS = """Parameters
----------
params : ClusterParams
    Model parameters.
regime : {"sr", "ta"}
    Spin-relaxation or triplet-annihilation limit."""


def _regime_limit(fn):
    """Decorator of the closed forms ``fn(params, regime)`` of the SR and TA limits: fills
    in the shared parameter section of the docstring (as :mod:`scipy._lib.doccer` does),
    indented as the marker line."""
    marker, doc = "%(limit_parameters)s", fn.__doc__
    if doc is None or marker not in doc:  # python -OO strips docstrings
        return fn
    line = doc[doc.rindex("\n", 0, doc.index(marker)) + 1:doc.index(marker)]
    fn.__doc__ = doc.replace(marker, _LIMIT_PARAMETERS.replace("\n", "\n" + line))
    return fn


def _in_regime(fn, regime: str):
    """``fn(params, regime)`` with the regime fixed: the ``*_sr``/``*_ta`` functions."""
    def limit(params: ClusterParams):
        return fn(params, regime)

    limit.__name__ = limit.__qualname__ = f"{fn.__name__.removesuffix('_limit')}_{regime}"
    limit.__doc__ = f":func:`{fn.__name__}` in the ``{regime!r}`` regime."
    return limit


@_regime_limit
def fixed_point_limit(params: ClusterParams, regime: str) -> tuple[float, float]:
    """Analytic fixed point of Eqs. (3)-(4) in the SR or the TA limit.

    SR (:math:`\\bar\\Gamma_t \\to 0`): :math:`N_0^{(s)}` and
    :math:`m_0^{(s)} = (V/\\bar\\Gamma\\tau_s) N_0^{(s)}`; TA (:math:`\\tau_s \\to \\infty`,
    after Eq. 4): :math:`N_0^{(t)} = (AV^2/\\bar\\Gamma_t)^{1/3}` and
    :math:`m_0^{(t)} = (AV^2\\bar\\Gamma_t^2)^{1/3} N_0^{(t)} / (2\\bar\\Gamma)`.

    %(limit_parameters)s

    Returns
    -------
    N0, m0 : float
    """
    p = params
    if _regime(regime) == "sr":
        n0 = p.n0_sr
        return n0, p.V / (p.gamma * p.tau_s) * n0
    n0 = p.n0_ta
    return n0, float(np.cbrt(p.A * p.V**2 * p.gamma_t**2)) / (2.0 * p.gamma) * n0


fixed_point_sr = _in_regime(fixed_point_limit, "sr")
fixed_point_ta = _in_regime(fixed_point_limit, "ta")


def fixed_point(params: ClusterParams, guess: tuple[float, float] | None = None,
                tol: float = 1e-12) -> tuple[float, float]:
    """Numerical stationary point of the full mean-field equations (1)-(2).

    Solved in the variables ``(log N, log m)`` with :func:`scipy.optimize.root` (hybrid
    method, analytic Jacobian), starting from the reduced solution of Eqs. (3)-(4).

    Parameters
    ----------
    params : ClusterParams
        Model parameters.
    guess : tuple of float, optional
        Starting ``(N, m)``; default from :func:`n0_reduced` and :func:`m0_from_n0`.
    tol : float
        Solver tolerance.

    Returns
    -------
    N0, m0 : float
        Fixed point of Eqs. (1)-(2).

    Raises
    ------
    RuntimeError
        If the root finder does not converge.
    """
    if guess is None:
        n0 = n0_reduced(params)
        m0 = float(m0_from_n0(params, n0))
        guess = (n0, max(m0, 1e-12 * n0))
    scale = np.abs(np.array([params.injection, params.injection]))

    def fun(x: np.ndarray) -> np.ndarray:
        N, m = np.exp(x)
        return np.array(mean_field_rhs(params, N, m), dtype=float) / scale

    def jac(x: np.ndarray) -> np.ndarray:
        N, m = np.exp(x)
        return mean_field_jacobian(params, N, m) * np.array([N, m])[None, :] / scale[:, None]

    sol = root(fun, np.log(np.asarray(guess, dtype=float)), jac=jac, tol=tol)
    if not sol.success:
        raise RuntimeError(f"mean-field fixed point not found: {sol.message}")
    N, m = np.exp(sol.x)
    return float(N), float(m)


@_regime_limit
def concentrations_limit(params: ClusterParams, regime: str) -> tuple[float, float]:
    """Concentrations :math:`N_0/V, m_0/V = (c_0/2)\\zeta^{\\mp 1/2}` of Eq. (5) (SR,
    :math:`\\zeta_s`) or Eq. (6) (TA, :math:`\\zeta_t`).

    %(limit_parameters)s

    Returns
    -------
    n, s : float
    """
    c = params.c0 / 2.0
    z = params.zeta_s if _regime(regime) == "sr" else params.zeta_t
    return c / np.sqrt(z), c * np.sqrt(z)


concentrations_sr = _in_regime(concentrations_limit, "sr")
concentrations_ta = _in_regime(concentrations_limit, "ta")


def _exponent(params: ClusterParams, N: np.ndarray) -> np.ndarray:
    p = params
    return (-2.0 * p.gamma_t / (3.0 * p.A * p.V**2) * N**3
            - 2.0 * p.inv_tau_s / p.injection * N**2)


def stationary_distribution(params: ClusterParams, N: np.ndarray,
                            normalize: bool = True, ising: bool = False) -> np.ndarray:
    """Fokker-Planck stationary distribution, Eq. (7), or its classical variant, Eq. (S12).

    :math:`P(N) = C N^2 \\exp[-2\\bar\\Gamma_t N^3/(3AV^2) - 2N^2/(AV\\tau_s)]`; the Ising
    spins of SM Sec. IV drop the :math:`N^2`.

    Parameters
    ----------
    params : ClusterParams
        Model parameters.
    N : array_like
        Particle numbers (continuous variable, ``N >= 0``).
    normalize : bool
        If true, ``C`` is fixed by :math:`\\int_0^\\infty P\\,dN = 1` (by quadrature of the
        exact moments); otherwise ``C = 1``.
    ising : bool
        The classical distribution (S12).

    Returns
    -------
    numpy.ndarray
        Probability density on ``N``.
    """
    N = np.asarray(N, dtype=float)
    out = np.exp(_exponent(params, N)) if ising else N**2 * np.exp(_exponent(params, N))
    if normalize:
        out = out / distribution_moments(params, (0,), ising=ising)[0]
    return out


def distribution_moments(params: ClusterParams, orders: tuple = (1, 2),
                         ising: bool = False) -> np.ndarray:
    """Raw moments :math:`\\int_0^\\infty N^k P(N) dN` of Eq. (7) (or of Eq. S12).

    For ``orders == (0,)`` the unnormalised integral is returned (the inverse of ``C``);
    otherwise moments of the normalised distribution.

    Parameters
    ----------
    params : ClusterParams
        Model parameters.
    orders : tuple of int
        Moment orders.
    ising : bool
        Use the classical distribution (S12) (no :math:`N^2` prefactor).

    Returns
    -------
    numpy.ndarray
        Moments in the order requested.
    """
    from scipy.integrate import quad

    scale = n0_reduced(params)
    pre = 0 if ising else 2

    def integral(k: int) -> float:
        def f(x: float) -> float:
            return x ** (k + pre) * np.exp(_exponent(params, scale * x))

        return quad(f, 0.0, np.inf, epsabs=0.0, epsrel=1e-12, limit=200)[0] * scale ** (k + pre + 1)

    z = integral(0)
    if tuple(orders) == (0,):
        return np.array([z])
    return np.array([integral(k) / z for k in orders])


@_regime_limit
def moments_limit(params: ClusterParams, regime: str) -> tuple[float, float]:
    """Mean and raw second moment (not the variance) of Eq. (7) in the SR or TA limit.

    SR, Eq. (8): :math:`\\langle N\\rangle = 2N_0/\\sqrt\\pi`,
    :math:`\\langle N^2\\rangle = 3N_0^2/2`; TA, Eq. (9): :math:`\\Gamma(1/3) N_0/18^{1/3}`
    and :math:`2^{4/3}\\pi N_0^2/(3^{5/6}\\Gamma(1/3))`.

    %(limit_parameters)s

    Returns
    -------
    mean, second : float
    """
    if _regime(regime) == "sr":
        n0 = params.n0_sr
        return 2.0 / np.sqrt(np.pi) * n0, 1.5 * n0**2
    n0 = params.n0_ta
    g13 = gamma_fn(1.0 / 3.0)
    second = 2.0 ** (4.0 / 3.0) * np.pi / (3.0 ** (5.0 / 6.0) * g13) * n0**2
    return g13 / 18.0 ** (1.0 / 3.0) * n0, second


moments_sr = _in_regime(moments_limit, "sr")
moments_ta = _in_regime(moments_limit, "ta")


@_regime_limit
def fluctuation_time(params: ClusterParams, regime: str) -> float:
    """Fluctuation time :math:`t_f` entering the noise estimate after Eq. (9).

    SR: :math:`t_f = \\tau_s`; TA: :math:`t_f = (A\\bar\\Gamma_t^2/V)^{-1/3}` (reconstructed,
    equal to :math:`N_0^2/AV`).

    %(limit_parameters)s

    Returns
    -------
    float
    """
    if _regime(regime) == "sr":
        return params.tau_s
    return float(np.cbrt(params.V / (params.A * params.gamma_t**2)))


# --- Ising variant, SM Sec. IV --------------------------------------------------------------


def ising_distribution(params: ClusterParams, N: np.ndarray) -> np.ndarray:
    """Normalised classical (Ising) distribution, Eq. (S12): :func:`stationary_distribution`
    with ``ising=True``."""
    return stationary_distribution(params, N, ising=True)


@_regime_limit
def ising_mean_limit(params: ClusterParams, regime: str) -> float:
    """Classical mean :math:`\\langle N\\rangle_{cl}` of Eq. (S12) in the SR or TA limit.

    SR, Eq. (S13): :math:`(AV\\tau_s/2\\pi)^{1/2}`; TA, Eq. (S14):
    :math:`6^{1/3}\\sqrt\\pi/\\Gamma(1/6)\\,(AV^2/\\bar\\Gamma_t)^{1/3}`.

    %(limit_parameters)s

    Returns
    -------
    float
    """
    if _regime(regime) == "sr":
        return float(np.sqrt(params.injection * params.tau_s / (2.0 * np.pi)))
    return float(6.0 ** (1.0 / 3.0) * np.sqrt(np.pi) / gamma_fn(1.0 / 6.0) * params.n0_ta)


ising_mean_sr = _in_regime(ising_mean_limit, "sr")
ising_mean_ta = _in_regime(ising_mean_limit, "ta")

"""Material estimates and the SQUID flux-noise estimate of Meyer, Houzet, Nazarov (2020).

Main text after Eq. (6) and after Eq. (9), for aluminium (units: um, s):

* :math:`\\bar\\Gamma \\simeq 18\\,\\mathrm{s^{-1}\\mu m^3}` (their Ref. [26]);
* triplet annihilation :math:`\\bar\\Gamma_t \\sim \\alpha_{so}^2 K\\bar\\Gamma \\sim 10^{-4}
  \\bar\\Gamma` (:math:`\\alpha_{so} \\sim 10^{-2}`, least suppressed case ``K = 1``);
* spin flips :math:`1/\\tau_s \\sim \\alpha_{so}^2(\\delta\\epsilon/\\Delta)^{7/2}K/\\tau_0`
  with :math:`\\tau_0 \\sim 400` ns, :math:`\\delta\\epsilon \\simeq 0.1\\Delta`:
  :math:`\\tau_s \\simeq 10` s (the formula gives 12.6 s);
* :math:`V_c = \\bar\\Gamma\\tau_s \\sim 180\\,\\mu m^3`, :math:`N_c = \\bar\\Gamma/
  \\bar\\Gamma_t \\sim 10^4`, :math:`A_c = \\bar\\Gamma/(\\bar\\Gamma_t\\tau_s)^2 \\sim 10^5
  \\,\\mathrm{s^{-1}\\mu m^{-3}}` (with :math:`\\tau_s = 10` s the formula gives
  :math:`5.6\\times10^4`, "~1e5" to the order of magnitude).

Flux noise (Fig. 2 set-up): the spin noise of one component is :math:`S_{spin} \\simeq S_N/3`
and a spin in the SQUID arm threads :math:`\\phi_1 \\simeq 10^{-7}\\Phi_0`, so
:math:`S_\\Phi = \\phi_1^2 S_N(0)/3`; with :math:`N_0 = 10^4` in a :math:`(100\\,nm)^3` trap
(TA regime) the paper finds :math:`t_f \\simeq 0.5\\times10^{-4}` s and
:math:`S_\\Phi \\simeq 10^{-12}\\Phi_0^2/\\mathrm{Hz}`.
"""

from __future__ import annotations

from fvqp.stochastic import master
from fvqp.stochastic.spin_clusters import ClusterParams, fluctuation_time, moments_limit, n0_reduced

__all__ = [
    "GAMMA_BAR_AL",
    "triplet_constant",
    "spin_flip_time",
    "al_cluster_params",
    "noise_coefficient",
    "zero_frequency_noise_estimate",
    "zero_frequency_noise_master",
    "flux_noise",
]

#: :math:`\\bar\\Gamma` of Al used by Meyer et al. [um^3/s]
GAMMA_BAR_AL = 18.0


def triplet_constant(gamma_bar: float, alpha_so: float = 1e-2, K: float = 1.0) -> float:
    """:math:`\\bar\\Gamma_t = \\alpha_{so}^2 K\\bar\\Gamma`."""
    return alpha_so**2 * K * gamma_bar


def spin_flip_time(tau0: float = 400e-9, alpha_so: float = 1e-2,
                   energy_ratio: float = 0.1, K: float = 1.0) -> float:
    """:math:`\\tau_s = \\tau_0/[\\alpha_{so}^2(\\delta\\epsilon/\\Delta)^{7/2}K]` [s]."""
    return tau0 / (alpha_so**2 * energy_ratio**3.5 * K)


def al_cluster_params(A: float, V: float, tau_s: float = 10.0, gamma_bar: float = GAMMA_BAR_AL,
                      alpha_so: float = 1e-2, K: float = 1.0) -> ClusterParams:
    """Cluster parameters for Al in um and s (``A`` in 1/(s um^3), ``V`` in um^3).

    ``tau_s`` defaults to the paper's rounded 10 s (see :func:`spin_flip_time`).
    """
    return ClusterParams(A=A, V=V, gamma=gamma_bar,
                         gamma_t=triplet_constant(gamma_bar, alpha_so, K), tau_s=tau_s)


#: numerical coefficients of S_N(0) / (<<N^2>> t_f) quoted after Eq. (9)
_PAPER_NOISE = {"sr": 0.5, "ta": 0.6}


def noise_coefficient(regime: str) -> float:
    """Paper's :math:`S_N(0)/(\\langle\\langle N^2\\rangle\\rangle t_f)`: 0.5 (SR), 0.6 (TA)."""
    return _PAPER_NOISE[regime]


def _variance(params: ClusterParams, regime: str) -> float:
    mean, second = moments_limit(params, regime)
    return second - mean**2


def zero_frequency_noise_estimate(params: ClusterParams, regime: str) -> float:
    """:math:`S_N(0) = c\\,\\langle\\langle N^2\\rangle\\rangle t_f` with the variance of
    Eqs. (8)/(9), :math:`t_f` of :func:`fluctuation_time` and the paper's ``c``."""
    return noise_coefficient(regime) * _variance(params, regime) * fluctuation_time(params, regime)


def zero_frequency_noise_master(params: ClusterParams, n_max: int | None = None) -> float:
    """:math:`S_N(0)` of the reduced (fully polarised) master equation (S5).

    Parameters
    ----------
    params : ClusterParams
    n_max : int, optional
        Truncation (default: ``3 N_0 + 20`` with :math:`N_0` of Eq. 4; the tail beyond is
        below :math:`e^{-18}` (TA regime; :math:`e^{-18}` of the Gaussian exponent in SR),
        and larger domains only add denormal-number work to the sparse solve).
    """
    if n_max is None:
        n_max = int(3 * n0_reduced(params)) + 20
    Q, s = master.reduced_generator(params, n_max)
    return master.zero_frequency_noise(Q, s)[0]


def flux_noise(params: ClusterParams, phi_per_spin: float = 1e-7, regime: str | None = "ta",
               polarized: bool = True) -> float:
    """Flux noise :math:`S_\\Phi(0) = \\phi_1^2 S_N(0)/3` in units of :math:`\\Phi_0^2`/Hz.

    Parameters
    ----------
    params : ClusterParams
        Cluster parameters (time in s).
    phi_per_spin : float
        Flux of one spin through the loop in :math:`\\Phi_0` (paper: 1e-7 for a 100 nm arm).
    regime : {"sr", "ta"} or None
        Use the paper's estimate in that regime; ``None``: the master equation (S5).
    polarized : bool
        ``False``: independent (unpolarised) spins, whose noise scales with ``N`` instead
        of :math:`N^2` -- :math:`S_N` is replaced by :math:`\\langle N\\rangle t_f`.
    """
    if regime is None:
        S_N = zero_frequency_noise_master(params)
    else:
        S_N = zero_frequency_noise_estimate(params, regime)
    if not polarized:
        mean = moments_limit(params, regime or "ta")[0]
        S_N = mean * fluctuation_time(params, regime or "ta")
    return float(phi_per_spin**2 * S_N / 3.0)


def ta_injection_for_n0(n0: float, V: float, gamma_t: float) -> float:
    """Injection rate giving :math:`N_0^{(t)} = n_0`: :math:`A = n_0^3\\bar\\Gamma_t/V^2`."""
    return float(n0**3 * gamma_t / V**2)


__all__.append("ta_injection_for_n0")

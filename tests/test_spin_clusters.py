"""Mean field, analytic distributions and cross-over of spin-polarised clusters.

Meyer, Houzet, Nazarov, PRL 125, 097006 (2020): Eqs. (1)-(9), (S7)-(S14).
"""

from __future__ import annotations

import numpy as np
import pytest

from fvqp.stochastic import crossover as co
from fvqp.stochastic import spin_clusters as sc


def sr_params(n0: float = 1000.0, ratio: float = 1e4) -> sc.ClusterParams:
    """SR regime: no triplet annihilation, V = V_c / ratio, N0^(s) = n0."""
    tau_s = ratio
    return sc.ClusterParams(A=2.0 * n0**2 / tau_s, V=1.0, gamma=1.0, gamma_t=0.0, tau_s=tau_s)


def ta_params(n0: float = 1000.0, gamma_t: float = 1e-8) -> sc.ClusterParams:
    """TA regime: no spin relaxation, N0^(t) = n0 << N_c = 1 / gamma_t."""
    return sc.ClusterParams(A=gamma_t * n0**3, V=1.0, gamma=1.0, gamma_t=gamma_t, tau_s=np.inf)


@pytest.mark.parametrize("regime", ["sr", "ta"])
def test_fixed_point_matches_analytic(regime):
    """The numerical fixed point of Eqs. (1)-(2) equals the SR / TA limit of Eqs. (3)-(4)
    and is stable."""
    params, limit = {"sr": (sr_params, sc.fixed_point_sr),
                     "ta": (ta_params, sc.fixed_point_ta)}[regime]
    p = params()
    N, m = sc.fixed_point(p)
    N_a, m_a = limit(p)
    assert N == pytest.approx(N_a, rel=2e-3)
    assert m == pytest.approx(m_a, rel=2e-3)
    if regime == "sr":
        assert np.allclose(sc.mean_field_rhs(p, N, m), 0.0, atol=1e-9 * p.injection)
    assert np.all(np.linalg.eigvals(sc.mean_field_jacobian(p, N, m)).real < 0)


def test_fixed_point_mixed_regime_eqs_3_4():
    # SR and TA terms of Eq. (4) comparable: N0 = 1000 solves 2 N/tau_s = gamma_t N^2 / V
    # (A V / N0 = 2e-3 + 2e-3 at N0 = 1000)
    p = sc.ClusterParams(A=4.0, V=1.0, gamma=1.0, gamma_t=2e-9, tau_s=1e6)
    n0 = sc.n0_reduced(p)
    assert 2 * n0 / p.tau_s == pytest.approx(p.gamma_t * n0**2 / p.V, rel=0.5)
    N, m = sc.fixed_point(p)
    assert N == pytest.approx(n0, rel=2e-3)
    assert m == pytest.approx(sc.m0_from_n0(p, N), rel=2e-3)
    assert n0 < min(p.n0_sr, p.n0_ta)


def test_jacobian_matches_finite_differences():
    p = sc.ClusterParams(A=3.0, V=2.0, gamma=1.5, gamma_t=1e-3, tau_s=50.0)
    x = np.array([40.0, 3.0])
    J = sc.mean_field_jacobian(p, *x)
    h = 1e-6
    fd = np.column_stack([(np.array(sc.mean_field_rhs(p, *(x + h * e)))
                           - np.array(sc.mean_field_rhs(p, *(x - h * e)))) / (2 * h)
                          for e in np.eye(2)])
    assert np.allclose(J, fd, rtol=1e-6, atol=1e-8)


def test_concentrations_eqs_5_6_are_fixed_points():
    p = sc.ClusterParams(A=2.0, V=0.5, gamma=1.0, gamma_t=1e-4, tau_s=1e3)
    n, s = sc.concentrations_sr(p)
    N0, m0 = sc.fixed_point_sr(p)
    assert (n * p.V, s * p.V) == pytest.approx((N0, m0), rel=1e-12)
    n, s = sc.concentrations_ta(p)
    N0, m0 = sc.fixed_point_ta(p)
    assert (n * p.V, s * p.V) == pytest.approx((N0, m0), rel=1e-12)


@pytest.mark.parametrize("regime", ["sr", "ta"])
def test_moments_eqs_8_9_from_eq_7(regime):
    p = sr_params(50.0) if regime == "sr" else ta_params(50.0)
    analytic = sc.moments_sr(p) if regime == "sr" else sc.moments_ta(p)
    assert sc.distribution_moments(p) == pytest.approx(analytic, rel=1e-9)
    x = np.linspace(0.0, 6 * 50.0, 20001)
    P = sc.stationary_distribution(p, x)
    assert np.trapezoid(P, x) == pytest.approx(1.0, rel=1e-8)


def test_ising_means_s13_s14_from_s12():
    p = sr_params(50.0)
    assert sc.distribution_moments(p, (1,), ising=True)[0] == pytest.approx(
        sc.ising_mean_sr(p), rel=1e-9)
    p = ta_params(50.0)
    assert sc.distribution_moments(p, (1,), ising=True)[0] == pytest.approx(
        sc.ising_mean_ta(p), rel=1e-9)
    x = np.linspace(0.0, 300.0, 20001)
    assert np.trapezoid(sc.ising_distribution(p, x), x) == pytest.approx(1.0, rel=1e-8)


def test_fluctuation_time_ta_is_n0_squared_over_av():
    p = ta_params(200.0)
    assert sc.fluctuation_time(p, "ta") == pytest.approx(p.n0_ta**2 / p.injection, rel=1e-12)


@pytest.mark.parametrize("a, v", [(0.05, 0.02), (0.5, 0.05), (2.0, 0.1), (0.01, 0.3)])
def test_crossover_s9_matches_full_mean_field(a, v):
    # N_c = 1e6 so that 1 - p >> 1/N_c and N >> 1: (S9) should hold to ~1e-3
    gamma, gamma_t, tau_s = 1.0, 1e-6, 1e3
    Ac, Vc = gamma / (gamma_t * tau_s) ** 2, gamma * tau_s
    p = sc.ClusterParams(A=a * Ac, V=v * Vc, gamma=gamma, gamma_t=gamma_t, tau_s=tau_s)
    pol, n = co.crossover_exact(p)
    assert pol == pytest.approx(co.crossover_polarization(a, v), abs=2e-3)
    assert n == pytest.approx(co.crossover_number(a, v), rel=5e-3)


def test_crossover_s10_asymptote_and_map():
    pol = 0.8
    v0 = (1 - pol) / (2 * pol)
    for dv in (1e-2, 1e-3):
        v = v0 * (1 - dv)
        a = co.crossover_a_near_v0(pol, v)
        assert co.crossover_polarization(a, v) == pytest.approx(pol, abs=2 * dv)
    m = co.crossover_map(np.logspace(-3, 1, 9), np.logspace(-3, 0, 7))
    assert np.all((m["p"] > 0) & (m["p"] < 1))
    assert np.all(np.diff(m["p"], axis=0) < 0) and np.all(np.diff(m["p"], axis=1) < 0)
    assert np.all(np.diff(m["n"], axis=0) > 0) and np.all(np.diff(m["n"], axis=1) > 0)
    assert m["enhancement"][0, 0] > 10 and m["enhancement"][-1, -1] < 2

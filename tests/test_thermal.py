"""Physics tests of fvqp.spectra.thermal (BRT conductivity, heat capacity, tabulated U)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, special

from fvqp.spectra import gap, thermal

TC, N0 = 1.0, 1.0
GAMMA = thermal.SOMMERFELD * N0  # c_n = GAMMA T
D0 = gap.BCS_GAP_RATIO


@pytest.fixture(scope="module")
def thermo():
    return thermal.ElectronicThermo(TC, N0, kappa_n_over_T=2.5)


# ------------------------------------------------------------------ thermal conductivity
@pytest.mark.parametrize("a", [1e-3, 0.5, 1.999, 2.001, 6.0, 40.0])
def test_kappa_ratio_against_quadrature(a):
    """Closed form / series vs direct quadrature of (6/pi^2) int_a^inf x^2 (-f') dx."""
    val, _ = integrate.quad(lambda x: x * x * np.exp(-x) / (1 + np.exp(-x)) ** 2, a, np.inf,
                            epsabs=0, epsrel=1e-13, limit=200)
    T = 0.7
    assert thermal.kappa_ratio(T, a * T) == pytest.approx(6 / np.pi**2 * val, rel=1e-12, abs=0)


def test_kappa_ratio_limits_and_low_T_asymptotics():
    assert thermal.kappa_ratio(0.3, 0.0) == 1.0
    assert thermal.kappa_ratio(0.0, 1.0) == 0.0
    for a in (8.0, 12.0, 16.0):
        lead = 6 / np.pi**2 * (a * a + 2 * a + 2) * np.exp(-a)
        rel = thermal.kappa_ratio(1.0, a) / lead - 1
        # next term of the alternating series: -e^{-a}(a^2 + a + 1/2)/(a^2 + 2a + 2)
        nxt = -np.exp(-a) * (a * a + a + 0.5) / (a * a + 2 * a + 2)
        assert rel == pytest.approx(nxt, rel=3 * np.exp(-a), abs=0)
    r = thermal.kappa_ratio(1.0, np.linspace(0, 20, 50))
    assert np.all(np.diff(r) < 0)


def test_wiedemann_franz_normal_state_prefactor():
    """kappa_n = (pi^2/3)(2 N0) D T equals L0 T / rho_n with rho_n = 1/(2 N0 e^2 D) (SI)."""
    kb, e = 1.380649e-23, 1.602176634e-19
    n0_si, d_si, t_k = 1.077e47, 6.0e-3, 0.3  # Al-like: 1/(J m^3), m^2/s, K
    kappa = thermal.kappa_normal(kb * t_k, n0_si, d_si) * kb  # W/(m K)
    rho = 1 / (2 * n0_si * e**2 * d_si)
    lorenz = np.pi**2 * kb**2 / (3 * e**2)
    assert kappa == pytest.approx(lorenz * t_k / rho, rel=1e-12)


# ------------------------------------------------------------------------ heat capacity
def test_heat_capacity_normal_state_and_jump():
    T = np.array([1.0, 1.2, 3.0])
    assert thermal.heat_capacity(T, TC, N0) == pytest.approx(GAMMA * T, rel=1e-15)
    assert thermal.heat_capacity_jump() == pytest.approx(1.4261, abs=1e-4)
    eps = np.array([1e-3, 1e-4, 1e-5])
    jump = thermal.heat_capacity(1 - eps, TC, N0) / (GAMMA * (1 - eps)) - 1
    err = jump - thermal.heat_capacity_jump()
    assert np.all(np.abs(err) < 3 * eps)
    assert err[0] / err[1] == pytest.approx(10, rel=0.01)  # O(1 - t) approach


def _gl_unit_interval(n: int = 300):
    z, w = np.polynomial.legendre.leggauss(n)
    return 0.5 * (z + 1), 0.5 * w


def test_entropy_balance_tests_gap_term():
    """S_s(Tc) = S_n(Tc): int_0^Tc c/T dT = gamma Tc. Dropping the gap term fails by ~40 %."""
    t, w = _gl_unit_interval()
    c = thermal.heat_capacity(t, TC, N0)
    assert np.sum(w * c / t) == pytest.approx(GAMMA * TC, rel=1e-10)
    delta = gap.bcs_gap(t, TC)
    no_gap_term = N0 * thermal._c_superconducting(t, delta, np.zeros_like(t))
    assert np.sum(w * no_gap_term / t) < 0.75 * GAMMA * TC


def test_energy_balance_condensation_energy():
    """int_0^Tc c dT = U_n(Tc) - U_s(0) = gamma Tc^2/2 + N0 Delta0^2/2 (no latent heat)."""
    t, w = _gl_unit_interval()
    c = thermal.heat_capacity(t, TC, N0)
    assert np.sum(w * c) == pytest.approx(GAMMA * TC**2 / 2 + N0 * D0**2 / 2, rel=1e-10)


@pytest.mark.parametrize("t", [0.02, 0.05, 0.08])
def test_heat_capacity_low_T_bessel_form_and_series(t):
    """c = (N0 D^3/T^2)[K3(a) + 3K1(a)] (1 + O(e^-a)), a = Delta/T, and its Hankel series
    2 sqrt(2 pi) N0 Delta a^{3/2} e^{-a} [1 + 11/(8a) + 225/(128 a^2) + 945/(1024 a^3) + ...]."""
    d = gap.bcs_gap(t, TC)
    a = d / t
    c = thermal.heat_capacity(t, TC, N0)
    bessel = N0 * d**3 / t**2 * (special.kve(3, a) + 3 * special.kve(1, a)) * np.exp(-a)
    assert c == pytest.approx(bessel, rel=max(1e-12, 20 * a**1.5 * np.exp(-a)), abs=0)
    lead = 2 * np.sqrt(2 * np.pi) * N0 * d * a**1.5 * np.exp(-a)
    second = (c / lead - 1 - 11 / (8 * a)) * a * a
    assert (second - 225 / 128) * a == pytest.approx(945 / 1024, abs=0.05)


def test_heat_capacity_with_debye_cutoff_tends_to_weak_coupling():
    t = np.array([0.5, 0.9])
    c_w = thermal.heat_capacity(t, TC, N0)
    c_d = thermal.heat_capacity(t, TC, N0, debye_energy=1e4)
    assert c_d == pytest.approx(c_w, rel=1e-6)


# ------------------------------------------------------------------ tabulated thermo
def test_tabulated_energy_against_direct_quadrature(thermo):
    t = np.array([0.005, 0.02, 0.047, 0.13, 0.41, 0.77, 0.999, 1.0, 1.7])
    direct = thermal.internal_energy(t * TC, TC, N0)
    assert thermo.internal_energy(t * TC) == pytest.approx(direct, rel=1e-8, abs=0)
    assert thermo.internal_energy(TC) == pytest.approx(GAMMA * TC**2 / 2 + N0 * D0**2 / 2,
                                                       rel=1e-12)


def test_tabulated_heat_capacity_and_consistent_derivative(thermo):
    t = np.linspace(0.02, 0.9995, 1500)
    assert thermo.heat_capacity(t) == pytest.approx(thermal.heat_capacity(t, TC, N0), rel=1e-7,
                                                            abs=0)
    # c is the derivative of the tabulated U (same interpolant), checked by fourth-order
    # finite differences: the second-order one is off by h^2 c'''/(6 c) ~ (h Delta/T^2)^2/6
    # = 5.3e-8 at T = 0.03 Tc (c ~ e^(-Delta/T), Delta/T = 59), above rel (hidden by abs)
    u = thermo.internal_energy
    for ti in (0.03, 0.25, 0.6, 0.97):
        h = 1e-5 * ti
        fd = (8 * (u(ti + h) - u(ti - h)) - (u(ti + 2 * h) - u(ti - 2 * h))) / (12 * h)
        assert thermo.heat_capacity(ti) == pytest.approx(fd, rel=1e-8, abs=0)
    # U continuous at Tc, c jumps by 12/(7 zeta3) gamma Tc
    below, above = thermo.internal_energy(TC * (1 - 1e-10)), thermo.internal_energy(TC)
    assert below == pytest.approx(above, rel=1e-9)
    jump = thermo.heat_capacity(TC * (1 - 1e-9)) - thermo.heat_capacity(TC)
    assert jump == pytest.approx(thermal.heat_capacity_jump() * GAMMA * TC, rel=1e-6)


def test_tabulated_gap_and_conductivity(thermo):
    t = np.linspace(0.02, 0.9999, 700)
    d = gap.bcs_gap(t, TC)
    assert thermo.gap(t) == pytest.approx(d, rel=1e-9)
    k = 2.5 * t * thermal.kappa_ratio(t, d)
    assert thermo.kappa(t) == pytest.approx(k, rel=1e-7, abs=0)
    # analytic dkappa/dT with exact dDelta^2/dT
    a = d / t
    dq = gap.dgap_squared_dT(t, TC) / t**2 - 2 * d**2 / t**3
    m = np.exp(-a) / (1 + np.exp(-a)) ** 2
    dk = 2.5 * (thermal.kappa_ratio(t, d) - t * 3 / np.pi**2 * a * m * dq)
    assert thermo.dkappa_dT(t) == pytest.approx(dk, rel=1e-6, abs=0)
    # normal state, continuity at Tc and T = 0
    assert thermo.kappa([1.0, 2.0]) == pytest.approx([2.5, 5.0])
    assert thermo.kappa(TC * (1 - 1e-9)) == pytest.approx(2.5, rel=1e-8)
    assert thermo.kappa(0.0) == 0.0 and thermo.heat_capacity(0.0) == 0.0


def test_tabulation_scales_with_tc_and_n0():
    small = thermal.ElectronicThermo(2.0, 3.0, kappa_n_over_T=1.0)
    T = np.array([0.1, 1.0, 1.9, 2.5])
    assert small.heat_capacity(T) == pytest.approx(thermal.heat_capacity(T, 2.0, 3.0), rel=1e-7,
                                                               abs=0)
    assert small.gap(0.0) == pytest.approx(2.0 * D0)

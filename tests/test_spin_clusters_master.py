"""Master equations (S4), (S5) of Meyer, Houzet, Nazarov (2020): generator, stationary
moments against Eqs. (8)-(9), truncation, time evolution and zero-frequency noise."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from fvqp.stochastic import master as me
from fvqp.stochastic import spin_clusters as sc


def sr_params(n0: float = 50.0, ratio: float = 1e4) -> sc.ClusterParams:
    """SR regime, N0^(s) = n0, V = V_c / ratio, no triplet annihilation."""
    return sc.ClusterParams(A=2.0 * n0**2 / ratio, V=1.0, gamma=1.0, gamma_t=0.0, tau_s=ratio)


def ta_params(n0: float = 80.0, gamma_t: float = 1e-5) -> sc.ClusterParams:
    """TA regime, N0^(t) = n0, no spin relaxation."""
    return sc.ClusterParams(A=gamma_t * n0**3, V=1.0, gamma=1.0, gamma_t=gamma_t, tau_s=np.inf)


@pytest.mark.parametrize("kind", ["full", "full_ising", "reduced", "reduced_ising"])
def test_generator_conserves_probability(kind):
    p = sc.ClusterParams(A=0.5, V=1.0, gamma=1.0, gamma_t=1e-3, tau_s=200.0)
    ising = kind.endswith("ising")
    if kind.startswith("full"):
        Q, s = me.full_generator(p, 120, None if ising else 10, ising=ising)
        assert np.all(s.m <= s.N) and np.array_equal(s.index(s.N, s.m), np.arange(s.size))
    else:
        Q, s = me.reduced_generator(p, 120, ising=ising)
    colsum = np.asarray(Q.sum(axis=0)).ravel()
    assert np.abs(colsum).max() <= 1e-13 * np.abs(Q.diagonal()).max()
    off = (Q - sp.diags(Q.diagonal())).tocoo()
    assert off.data.min() >= 0.0


@pytest.mark.parametrize("model", ["full", "reduced"])
def test_stationary_sr_moments_eq_8(model):
    p = sr_params()
    Q, s = me.full_generator(p, 200, 8) if model == "full" else me.reduced_generator(p, 200)
    P = me.stationary(Q)
    assert P.sum() == pytest.approx(1.0, abs=1e-13) and P.min() >= 0
    assert np.abs(Q @ P).max() < 1e-10 * np.abs(Q.diagonal()).max() * P.max()
    assert me.moments(P, s) == pytest.approx(sc.moments_sr(p), rel=0.01)


def test_stationary_ta_moments_eq_9():
    p = ta_params()
    Q, s = me.full_generator(p, 300, 8)
    P = me.stationary(Q)
    assert me.moments(P, s) == pytest.approx(sc.moments_ta(p), rel=0.01)
    # the spin flips stay few: <m> of the order of m0^(t) << N0
    assert me.moments(P, s, (1,), "m")[0] < 0.01 * p.n0_ta


def test_finite_size_error_decreases_with_n0():
    errs = []
    for n0 in (25.0, 50.0, 100.0):
        p = sr_params(n0)
        Q, s = me.reduced_generator(p, int(4 * n0))
        mean = me.moments(me.stationary(Q), s, (1,))[0]
        errs.append(abs(mean / sc.moments_sr(p)[0] - 1.0))
    assert errs[0] > 1.8 * errs[1] > 3.2 * errs[2]  # ~ 1 / N0


def test_truncation_convergence():
    p = sr_params()
    ref = me.moments(me.stationary(me.full_generator(p, 300, 16)[0]),
                     me.full_generator(p, 300, 16)[1])
    errs = []
    for n_max, m_max in ((100, 2), (150, 4), (200, 8)):
        Q, s = me.full_generator(p, n_max, m_max)
        errs.append(np.abs(me.moments(me.stationary(Q), s) / ref - 1.0).max())
    assert errs[0] > errs[1] > errs[2]
    assert errs[2] < 1e-5


def test_evolution_bdf2_expm_and_relaxation():
    p = sr_params(15.0, ratio=100.0)
    Q, s = me.full_generator(p, 80, 5)
    p0 = np.zeros(s.size)
    p0[s.index(45, 0)] = 1.0
    times = np.array([0.02, 0.1, 0.3]) * p.tau_s
    exact = me.evolve(Q, p0, times, method="expm")
    bdf = me.evolve(Q, p0, times, dt=p.tau_s / 2000)
    assert np.abs(bdf - exact).sum(axis=1).max() < 2e-3
    assert np.allclose(bdf.sum(axis=1), 1.0, atol=1e-12)
    late = me.evolve(Q, p0, [5.0 * p.tau_s], dt=p.tau_s / 200)[0]
    assert np.abs(late - me.stationary(Q)).sum() < 1e-4
    # marginal of N is a distribution on 0..n_max
    assert me.marginal_n(late, s).sum() == pytest.approx(1.0, abs=1e-12)


def test_zero_frequency_noise_sr():
    p = sr_params()
    Q, s = me.full_generator(p, 200, 8)
    S0, var = me.zero_frequency_noise(Q, s)
    mean, second = sc.moments_sr(p)
    # the variance is a difference of nearly equal numbers: the 0.5 % finite-N0 deficit of
    # <N> becomes ~ 6 % here
    assert var == pytest.approx(second - mean**2, rel=0.08)
    # paper: S_N(0) = 0.5 <<N^2>> tau_s (one significant digit); we find 0.489 at N0 = 50
    assert S0 / (var * p.tau_s) == pytest.approx(0.5, rel=0.04)


def test_zero_frequency_noise_ta():
    p = ta_params()
    Q, s = me.full_generator(p, 300, 8)
    S0, var = me.zero_frequency_noise(Q, s)
    # paper: S_N(0) = 0.6 <<N^2>> (A gamma_t^2 / V)^(-1/3); we find 0.567
    assert S0 / (var * sc.fluctuation_time(p, "ta")) == pytest.approx(0.6, rel=0.1)


def test_zero_frequency_noise_matches_correlation_integral():
    p = sr_params(10.0, ratio=100.0)
    Q, s = me.reduced_generator(p, 60)
    P = me.stationary(Q)
    S0, var = me.zero_frequency_noise(Q, s, P)
    N = s.N.astype(float)
    mean = P @ N
    t = np.linspace(0.0, 3.0 * p.tau_s, 301)
    from scipy.sparse.linalg import expm_multiply

    prop = expm_multiply(Q, (N - mean) * P, start=0.0, stop=t[-1], num=t.size, endpoint=True)
    corr = prop @ N
    assert corr[0] == pytest.approx(var, rel=1e-10)
    assert S0 == pytest.approx(2.0 * np.trapezoid(corr, t), rel=2e-3)


def test_ising_reduced_mean_s13():
    p = sr_params(30.0, ratio=1e3)
    Q, s = me.reduced_generator(p, 150, ising=True)
    mean = me.moments(me.stationary(Q), s, (1,))[0]
    assert mean == pytest.approx(sc.ising_mean_sr(p), rel=0.02)


def test_pinned_stationary_solve_equals_bordered_solve():
    """The sparse pinned solve (used for speed) equals the bordered normalised solve, also
    when the pinned start state is very improbable (large N0)."""
    import scipy.sparse.linalg as spla

    for p, n_max in ((sr_params(40.0), 150), (ta_params(60.0), 220)):
        Q, s = me.full_generator(p, n_max, 6)
        P = me.stationary(Q)
        rhs = np.zeros(Q.shape[0])
        rhs[0] = 1.0
        Pb = spla.spsolve(me._bordered(Q), rhs)
        assert np.abs(P - Pb).max() < 1e-10 * P.max()
        assert np.abs(Q @ P).max() < 1e-10 * np.abs(Q.diagonal()).max() * P.max()

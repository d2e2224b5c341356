"""FiPy Fokker-Planck equations (S6), (S11) of Meyer, Houzet, Nazarov (2020) against the
analytic distributions (7), (S12) and the reduced master equation (S5)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import quad

from fvqp.stochastic import master as me
from fvqp.stochastic import spin_clusters as sc
from fvqp.stochastic.fokker_planck import FokkerPlanck1D, drift


def sr_params(n0: float = 50.0, ratio: float = 1e4) -> sc.ClusterParams:
    return sc.ClusterParams(A=2.0 * n0**2 / ratio, V=1.0, gamma=1.0, gamma_t=0.0, tau_s=ratio)


def ta_params(n0: float = 50.0, gamma_t: float = 1e-5) -> sc.ClusterParams:
    return sc.ClusterParams(A=gamma_t * n0**3, V=1.0, gamma=1.0, gamma_t=gamma_t, tau_s=np.inf)


def cell_averages(f, fp: FokkerPlanck1D) -> np.ndarray:
    edges = np.linspace(0.0, fp.length, fp.mesh.numberOfCells + 1)
    return np.array([quad(f, a, b)[0] for a, b in zip(edges[:-1], edges[1:], strict=True)]) / fp.dx


def test_drift_zero_flux_of_eq_7():
    # the stationary flux D P' + u P vanishes for P of Eq. (7)
    p = sc.ClusterParams(A=0.7, V=2.0, gamma=1.0, gamma_t=1e-4, tau_s=300.0)
    x = np.linspace(1.0, 80.0, 50)
    P = sc.stationary_distribution(p, x, normalize=False)
    h = 1e-4
    dP = (sc.stationary_distribution(p, x + h, False)
          - sc.stationary_distribution(p, x - h, False)) / (2 * h)
    assert np.allclose(0.5 * p.injection * dP + drift(p, x) * P, 0.0,
                       atol=1e-6 * np.abs(drift(p, x) * P).max())


@pytest.mark.parametrize("regime", ["sr", "ta"])
def test_stationary_l1_converges_to_eq_7(regime):
    p = sr_params() if regime == "sr" else ta_params()
    errs = []
    for nx in (25, 50, 100):
        fp = FokkerPlanck1D(p, nx, length=250.0)
        P = fp.stationary()
        exact = cell_averages(lambda x: sc.stationary_distribution(p, x), fp)
        errs.append(np.sum(np.abs(P - exact)) * fp.dx)
        assert np.sum(P) * fp.dx == pytest.approx(1.0, abs=1e-12)
    assert errs[0] > 3.0 * errs[1] > 9.0 * errs[2]  # second order
    analytic = sc.moments_sr(p) if regime == "sr" else sc.moments_ta(p)
    assert fp.moments(P) == pytest.approx(analytic, rel=1e-3)


def test_ising_s11_converges_to_s12():
    p = sr_params(30.0, ratio=1e3)
    errs = []
    for nx in (30, 60):
        fp = FokkerPlanck1D(p, nx, length=150.0, ising=True)
        P = fp.stationary()
        exact = cell_averages(lambda x: sc.ising_distribution(p, x), fp)
        errs.append(np.sum(np.abs(P - exact)) * fp.dx)
    assert errs[0] > 3.0 * errs[1]
    assert fp.moments(P, (1,))[0] == pytest.approx(sc.ising_mean_sr(p), rel=2e-3)


def test_transient_matches_reduced_master_equation():
    p = sr_params()
    times = np.array([0.05, 0.25, 1.0]) * p.tau_s
    Q, s = me.reduced_generator(p, 250)
    p0 = np.exp(-0.5 * ((s.N - 100.0) / 5.0) ** 2)
    mean_me = me.evolve(Q, p0 / p0.sum(), times, dt=p.tau_s / 1000) @ s.N
    fp = FokkerPlanck1D(p, 250, length=250.0)
    fp.set_initial(np.exp(-0.5 * ((fp.x - 100.0) / 5.0) ** 2))
    dens = fp.evolve(times, dt=p.tau_s / 200)
    assert np.allclose(dens.sum(axis=1) * fp.dx, 1.0, atol=1e-12)
    # the continuum limit differs from (S5) by O(1/N0) = 1/50
    assert dens @ fp.x * fp.dx == pytest.approx(mean_me, rel=0.01)
    # and relaxes to Eq. (7)
    late = fp.evolve([6.0 * p.tau_s], dt=p.tau_s / 10)[0]
    exact = sc.stationary_distribution(p, fp.x)
    assert np.sum(np.abs(late - exact)) * fp.dx < 2e-3

"""Al estimates and the SQUID flux-noise estimate of Meyer, Houzet, Nazarov (2020)."""

from __future__ import annotations

import pytest

from fvqp.stochastic import estimates as es
from fvqp.stochastic import spin_clusters as sc


def test_al_scales():
    """Gamma_t ~ 1e-4 Gamma_bar, tau_s ~ 10 s, V_c ~ 180 um^3, N_c ~ 1e4, A_c ~ 1e5 /(s um^3)."""
    assert es.triplet_constant(es.GAMMA_BAR_AL) == pytest.approx(1e-4 * 18.0, rel=1e-12)
    tau_s = es.spin_flip_time()
    assert 8.0 < tau_s < 15.0  # 12.6 s, "~10 s"
    p = es.al_cluster_params(A=1.0, V=1.0)
    assert p.V_c == pytest.approx(180.0, rel=1e-12)
    assert p.N_c == pytest.approx(1e4, rel=1e-12)
    assert 3e4 < p.A_c < 3e5  # 5.6e4: "~1e5" to the order of magnitude


def test_flux_noise_squid_setup():
    """TA regime, N0 = 1e4 in a (100 nm)^3 trap: t_f ~ 0.5e-4 s and S_Phi ~ 1e-12 Phi0^2/Hz
    (paper), from the quoted noise coefficient and from the master equation (S5)."""
    V = 1e-3  # um^3
    gt = es.triplet_constant(es.GAMMA_BAR_AL)
    p = es.al_cluster_params(es.ta_injection_for_n0(1e4, V, gt), V)
    assert p.n0_ta == pytest.approx(1e4, rel=1e-10)
    assert p.n0_sr > 100 * p.n0_ta  # deep in the TA regime
    assert sc.fluctuation_time(p, "ta") == pytest.approx(0.55e-4, rel=0.05, abs=0)
    s_est = es.flux_noise(p, 1e-7, "ta")
    s_me = es.flux_noise(p, 1e-7, None)
    assert 0.5e-12 < s_est < 3e-12
    assert s_me == pytest.approx(s_est, rel=0.1, abs=0)  # master equation vs the quoted 0.6
    # unpolarised spins (noise ~ N instead of N^2 at the same t_f): ~0.08 N0 times lower
    s_unpol = es.flux_noise(p, 1e-7, "ta", polarized=False)
    assert s_est / s_unpol == pytest.approx(0.081 * 1e4, rel=0.05)

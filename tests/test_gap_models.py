"""The one equilibrium gap Δ(T) of fvqp, :func:`fvqp.spectra.gap.thermal_gap`, in its two
models (issue 15): the α model (Padamsee et al. 1973: Δ = (α/α_BCS) Δ_BCS(T; Tc), closes
at the material's Tc) and the δ0 model (the thermal solution of the weak-coupling gap
equation ln(Δ0/Δ) = 2∫ f/E dξ with Δ0 = α k_B Tc, closes at Tc' = (α/α_BCS) Tc)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, special

from fvqp.spectra.gap import BCS_GAP_RATIO, GAP_MODELS, GL_GAP_SLOPE, bcs_gap, thermal_gap

RATIOS = (1.60, 1.70, BCS_GAP_RATIO, 1.90, 2.30)  # Zn, Al, weak coupling, Nb, Hg


def _thermal_integral(delta: float, T: float) -> float:
    r""":math:`2\int_0^\infty d\xi f(E)/E = 2\int_0^\infty f(\Delta\cosh u)\,du` by adaptive
    quadrature (:math:`\xi = \Delta\sinh u`), independent of the Matsubara solver."""
    upper = math.acosh(max(1.0, 80.0 * T / delta)) + 1.0
    val, _ = integrate.quad(lambda u: special.expit(-delta * math.cosh(u) / T), 0.0, upper,
                            epsabs=1e-14, epsrel=1e-12, limit=400)
    return 2.0 * val


@pytest.mark.parametrize("ratio", RATIOS)
@pytest.mark.parametrize("model", GAP_MODELS)
def test_zero_temperature_gap_is_the_ratio(model, ratio):
    """Δ(0) = gap_ratio k_B Tc in both models, in any unit of Tc (exactly at T = 0; the
    low-T plateau to e^{-Δ0/T})."""
    for tc in (1.0, 0.37, 9.2):
        assert float(thermal_gap(0.0, tc, ratio, model)) == ratio * tc
        assert float(thermal_gap(0.05 * tc, tc, ratio, model)) == pytest.approx(
            ratio * tc, rel=1e-12, abs=0)


@pytest.mark.parametrize("ratio", RATIOS)
def test_alpha_model_vanishes_at_tc_with_the_bcs_slope(ratio):
    """α model: Δ/Δ0 is the BCS shape; Δ → s √(8π²/7ζ(3)) Tc √(1 - T/Tc) (GL) at Tc⁻
    (correction O(1 - T/Tc)); 0 at and above Tc."""
    s, tc = ratio / BCS_GAP_RATIO, 2.5
    t = np.array([0.1, 0.4, 0.7, 0.9, 0.99])
    shape = np.asarray(thermal_gap(t * tc, tc, ratio, "alpha")) / (ratio * tc)
    assert shape == pytest.approx(np.asarray(bcs_gap(t, 1.0)) / BCS_GAP_RATIO, rel=1e-13)
    for eps in (1e-6, 1e-7):
        gl = s * GL_GAP_SLOPE * tc * math.sqrt(eps)
        assert float(thermal_gap((1 - eps) * tc, tc, ratio, "alpha")) == pytest.approx(
            gl, rel=5 * eps, abs=0)
    assert np.all(np.asarray(thermal_gap(np.array([1.0, 1.0001, 1.5]) * tc, tc, ratio,
                                         "alpha")) == 0.0)


@pytest.mark.parametrize("ratio", RATIOS)
def test_delta0_model_is_the_stationary_gap_of_a_thermal_distribution(ratio):
    """δ0 model: ln(Δ0/Δ) = 2∫dξ f(E)/E with a Fermi f at T, to 1e-10 (independent
    quadrature), from low T to close to its own Tc' = (α/α_BCS) Tc."""
    tc = 1.3
    tcp = ratio / BCS_GAP_RATIO * tc
    for T in np.array([0.15, 0.4, 0.7, 0.9, 0.98]) * tcp:
        delta = float(thermal_gap(T, tc, ratio, "delta0"))
        assert math.log(ratio * tc / delta) == pytest.approx(
            _thermal_integral(delta, T), abs=1e-10)


def test_delta0_model_closes_at_its_own_tc_without_a_jump():
    """δ0 model: continuous, vanishing at Tc' with the GL slope of Tc'; for α > α_BCS (Nb)
    still open at the material's Tc (no clip there, the old discontinuity), for α < α_BCS
    (Al) closed from Tc' = 0.964 Tc on; the α model differs from it by 21 % at 0.9 Tc (Al)."""
    tc = 1.0
    for ratio in (1.70, 1.90):
        tcp = ratio / BCS_GAP_RATIO * tc
        eps = 1e-6
        assert float(thermal_gap((1 - eps) * tcp, tc, ratio, "delta0")) == pytest.approx(
            GL_GAP_SLOPE * tcp * math.sqrt(eps), rel=5 * eps, abs=0)
        assert float(thermal_gap(tcp * (1 + 1e-12), tc, ratio, "delta0")) == 0.0
        T = np.linspace(0.5, 1.2, 1401) * tc  # steps of 5e-4 Tc: jumps < the GL rise
        d = np.asarray(thermal_gap(T, tc, ratio, "delta0"))
        assert np.max(np.abs(np.diff(d))) < GL_GAP_SLOPE * tcp * math.sqrt(1e-3)
    assert float(thermal_gap(tc, tc, 1.90, "delta0")) > 0.3 * tc  # open at the material Tc
    assert float(thermal_gap(0.97 * tc, tc, 1.70, "delta0")) == 0.0
    al = [float(thermal_gap(0.9, 1.0, 1.70, m)) for m in ("alpha", "delta0")]
    assert al[0] / al[1] - 1 == pytest.approx(0.2113, abs=1e-4)


def test_models_agree_at_the_bcs_ratio_and_refuse_unknown_names():
    """With α = α_BCS both models are the weak-coupling BCS gap; a misspelt model raises."""
    t = np.linspace(0.0, 1.1, 23)
    for m in GAP_MODELS:
        assert np.asarray(thermal_gap(t, 1.0, model=m)) == pytest.approx(
            np.asarray(bcs_gap(t, 1.0)), rel=1e-15, abs=0)
    with pytest.raises(ValueError, match="gap model 'bcs'"):
        thermal_gap(0.5, 1.0, model="bcs")

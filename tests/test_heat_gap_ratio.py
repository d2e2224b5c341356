"""The heat model's gap ratio (issue 20 §3): the α model (Padamsee et al. 1973; Johnston
2013) — the BCS shape Δ(T)/Δ0 with Δ0 = gap_ratio k_B Tc — in the heat capacity, the BRT
conductivity and the thermal QP density, and a case's ``gap_ratio`` per region (source
"case override")."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import integrate, special

from conftest import case_variant, last_snapshot, run_fvqp
from fvqp.materials import get_material
from fvqp.models.heat.properties import HeatMaterial
from fvqp.spectra.gap import BCS_GAP_RATIO, ZETA3, bcs_gap, thermal_gap
from fvqp.spectra.thermal import kappa_ratio
from fvqp.units import E_CHARGE, K_B, UnitSystem

AL = get_material("Al")
UNITS = UnitSystem.from_material(AL)  # internal T in Tc, energy densities in N0 (k_B Tc)^2


def _entropy(t: float, gap: float) -> float:
    r"""Quasiparticle entropy per N0 k_B, 4 ∫_0^∞ dξ [ln(1 + e^{-x}) + x f(x)], x = E/t
    (both spins; the normal state gives 2π²t/3 = γT)."""

    def per_state(xi):
        x = math.hypot(xi, gap) / t
        return math.log1p(math.exp(-x)) + x * special.expit(-x)

    return 4.0 * integrate.quad(per_state, 0.0, 60.0 * t + gap, epsabs=0, epsrel=1e-13,
                                limit=400)[0]


@pytest.mark.parametrize("ratio", [1.5, 2.2])
def test_alpha_model_gap_heat_capacity_and_conductivity(ratio):
    m = HeatMaterial(AL.with_overrides(gap_ratio=ratio), UNITS)
    s = ratio / BCS_GAP_RATIO
    t = np.array([0.08, 0.2, 0.5, 0.8, 0.95])
    # the gap: BCS shape, Δ0 = ratio k_B Tc
    assert m.gap(0.0) == pytest.approx(ratio, rel=1e-12, abs=0)
    assert np.allclose(m.gap(t), s * np.asarray(bcs_gap(t, 1.0)), rtol=1e-9, atol=0)
    # ... which is the one Δ(T) of spectra, the α model
    assert np.allclose(m.gap(t), thermal_gap(t, 1.0, ratio, "alpha"), rtol=1e-9, atol=0)
    # c = T dS/dT of the quasiparticle entropy with that gap (an independent quadrature)
    for ti in (0.1, 0.3, 0.6, 0.9):
        h = 1e-4 * ti
        dS = (_entropy(ti + h, s * float(bcs_gap(ti + h, 1.0)))
              - _entropy(ti - h, s * float(bcs_gap(ti - h, 1.0)))) / (2 * h)
        assert float(m.c(ti)) == pytest.approx(ti * dS, rel=2e-6, abs=0)
    # the α model's jump: ΔC/γTc = (12/7ζ(3)) s²
    e = 1e-4
    assert float(m.c(1 - e) / m.c(1 + e)) == pytest.approx(1 + 12 / (7 * ZETA3) * s**2,
                                                           rel=3e-3, abs=0)
    # entropy balance: ∫_0^Tc c/T dT = γTc = 2π²/3 (per N0 k_B), whatever the gap
    S_c = integrate.quad(lambda x: float(m.c(math.exp(x))), math.log(1e-3), 0.0,
                         epsabs=0, epsrel=1e-10, limit=400)[0]
    assert S_c == pytest.approx(2 * math.pi**2 / 3, rel=1e-6, abs=0)
    # BRT conductivity with the scaled gap, and its Kirchhoff potential
    assert np.allclose(m.kappa(t), m.kn * t * kappa_ratio(t, s * bcs_gap(t, 1.0)), rtol=1e-6)
    h = 1e-6 * t
    assert np.allclose((m.phi(t + h) - m.phi(t - h)) / (2 * h), m.kappa(t), rtol=1e-6)
    assert np.allclose((m.U(t + h) - m.U(t - h)) / (2 * h), m.c(t), rtol=1e-6)
    # thermal QP density: 4 N0 Δ Σ (-1)^(k+1) K1(kΔ/T) (exact series)
    d = s * np.asarray(bcs_gap(t, 1.0))
    k = np.arange(1, 60)[:, None]
    series = 4 * d * np.sum((-1.0) ** (k + 1) * special.k1(k * d / t), axis=0)
    assert np.allclose(m.qp_density(t), series, rtol=1e-9, atol=0)


def test_larger_gap_ratio_lowers_conductance_and_qp_density_by_the_bcs_factor():
    """At T << Tc, κ_es/κ_n → (6/π²)(a² + 2a + 2)e^{-a} and n_qp → 2N0 (2πTΔ)^{1/2}
    e^{-Δ/T} with a = Δ/T: raising Δ0 by 10 % lowers both by e^{-0.1 Δ/T} (times the
    powers of Δ)."""
    t = 0.1
    lo = HeatMaterial(AL.with_overrides(gap_ratio=1.7), UNITS)
    hi = HeatMaterial(AL.with_overrides(gap_ratio=1.87), UNITS)
    d_lo, d_hi = float(lo.gap(t)), float(hi.gap(t))
    assert d_hi / d_lo == pytest.approx(1.1, rel=1e-12, abs=0)

    def brt(a):
        return 6 / math.pi**2 * (a * a + 2 * a + 2) * math.exp(-a)

    assert float(hi.kappa(t) / lo.kappa(t)) == pytest.approx(
        brt(d_hi / t) / brt(d_lo / t), rel=1e-5, abs=0)
    boltzmann = math.sqrt(d_hi / d_lo) * math.exp(-(d_hi - d_lo) / t)
    ratio = float(hi.qp_density(t) / lo.qp_density(t))
    assert ratio < 0.2  # e^{-0.1 Δ/T} = e^{-1.7}: the gap dominates
    assert ratio == pytest.approx(boltzmann, rel=3 * t / (8 * d_lo), abs=0)  # 3T/8Δ: K1


def test_case_gap_ratio_is_a_region_override(tmp_path):
    """heat_nis_wire with gap_ratio 2.0 instead of 1.764: recorded as a case override; the
    gap field is 2.0/1.764 times the BCS gap at each cell's temperature; the same Kirchhoff
    potential drop carries the heater's 1 fW (Φ is linear on each side of the heater, so
    Φ(T_max) - Φ(T_bath) does not depend on κ), reached at a higher peak temperature."""
    runs = {}
    for ratio in (1.764, 2.0):
        (tmp_path / str(ratio)).mkdir()
        case = case_variant("heat_nis_wire.toml", tmp_path / str(ratio),
                            **{"gap_ratio = 1.764": f"gap_ratio = {ratio}"})
        out = tmp_path / f"o{ratio}"
        run_fvqp(["run", case, "--output", out])
        s = json.loads((out / "summary.json").read_text())
        assert s["status"] == 0
        wire = s["materials"]["wire"]
        assert "gap_ratio" in wire["overridden"]
        assert wire["constants"]["gap_ratio"]["value"] == ratio
        assert wire["constants"]["gap_ratio"]["source"] == "case override"
        _, mesh = last_snapshot(out, "heat_nis_wire")
        T = np.asarray(mesh.cell_data["temperature"])
        gap = np.asarray(mesh.cell_data["gap"]) * 1e-6 * E_CHARGE  # ueV -> J
        ref = ratio / BCS_GAP_RATIO * np.asarray(bcs_gap(T / 1.74, 1.0)) * K_B * 1.74
        assert np.allclose(gap, ref, rtol=1e-7, atol=0)
        mat = HeatMaterial(AL.with_overrides(Tc=1.74, gap_ratio=ratio,
                                             resistivity=1.58e-7), UNITS)
        Tmax = UNITS.to_internal(s["max_temperature_K"], "temperature")
        Tb = UNITS.to_internal(0.15, "temperature")
        runs[ratio] = (s["max_temperature_K"], float(mat.phi(Tmax) - mat.phi(Tb)))
    (t1, dphi1), (t2, dphi2) = runs[1.764], runs[2.0]
    assert t2 > t1 + 0.01  # a larger gap conducts less: the wire runs hotter
    assert dphi2 == pytest.approx(dphi1, rel=1e-6, abs=0)


def test_case_takes_delta0_and_refuses_the_gap_twice(tmp_path):
    from fvqp.case import CaseError, load_case
    from fvqp.models.base.schema import case_material

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    one = case_variant("heat_nis_wire.toml", tmp_path / "a",
                       **{"gap_ratio = 1.764": 'delta0 = "265 ueV"'})
    mat = case_material(load_case(str(one)).data["regions"]["wire"])
    assert mat.gap_ratio == pytest.approx(265e-6 * E_CHARGE / (K_B * 1.74), rel=1e-12, abs=0)
    both = case_variant("heat_nis_wire.toml", tmp_path / "b",
                        **{"gap_ratio = 1.764": 'gap_ratio = 1.764\ndelta0 = "265 ueV"'})
    with pytest.raises(CaseError, match="regions.wire.delta0: the gap is given twice"):
        load_case(str(both))

"""Material constants set per region/film in a case (issue 20 §3): one mechanism
(``Material.with_overrides``, source "case override"), one schema piece
(``MATERIAL_OVERRIDES``), physics that follows the override, the source in the outputs;
kinetics0d's escape time in units of the thermal pair-breaking time and ``T_N``."""

from __future__ import annotations

import json
import math

import h5py
import numpy as np
import pytest

import fvqp
from conftest import CASES
from fvqp.case import CaseError, load_case
from fvqp.collisions.rates import thermal_pair_breaking_rate
from fvqp.materials import get_material
from fvqp.models.kinetics0d.build import build_model
from fvqp.models.kinetics0d.observables import number_temperature, summary
from fvqp.models.kinetics0d.solve import steady_state
from fvqp.spectra.gap import BCS_GAP_RATIO, thermal_gap
from fvqp.units import E_CHARGE, K_B

#: the shipped 90 GHz resonator case (steady, 1 fW) without its [output] table
RESONATOR = (CASES / "kinetics0d_al_resonator.toml").read_text().split("[output]")[0]


def _case(tmp_path, text: str, name: str = "case.toml") -> str:
    p = tmp_path / name
    p.write_text(text + f'\n[output]\ndirectory = "{tmp_path / "out"}"\n')
    return str(p)


def _film(extra: str, text: str = RESONATOR) -> str:
    return text.replace('thickness = "50 nm"', f'thickness = "50 nm"\n{extra}')


# ---- the mechanism -----------------------------------------------------------------------
def test_with_overrides_marks_exactly_the_changed_numbers():
    al = get_material("Al")
    m = al.with_overrides(Tc=1.3, delta0=200e-6 * E_CHARGE, tau0=500e-9)
    assert m.gap_ratio == pytest.approx(200e-6 * E_CHARGE / (K_B * 1.3), rel=1e-15)
    assert m.delta0 == pytest.approx(200e-6 * E_CHARGE, rel=1e-15, abs=0)
    assert {k for k, s in m.sources.items() if s == "case override"} == \
        {"Tc", "gap_ratio", "tau0"}
    assert m.sources["N0"] == al.sources["N0"] and m.N0 == al.N0
    assert al.tau0 == 438e-9  # the database entry is untouched (frozen)
    with pytest.raises(TypeError, match="not both"):
        al.with_overrides(delta0=1e-23, gap_ratio=1.8)
    with pytest.raises(TypeError, match="unknown material field"):
        al.with_overrides(tau_0=1e-7)


def test_unknown_override_key_is_a_case_error_naming_key_file_and_fix(tmp_path):
    path = _case(tmp_path, _film('tau_0 = "400 ns"'), "typo.toml")
    with pytest.raises(CaseError) as exc:
        load_case(path)
    msg = str(exc.value)
    assert "typo.toml: film.tau_0: unknown key." in msg and "did you mean 'tau0'?" in msg
    # a constant the model does not use is refused too, with the keys it takes
    heat = (CASES / "heat_film_trap.toml").read_text().replace(
        'thickness = "100 nm"', 'thickness = "100 nm"\ntau0 = "400 ns"')
    p = tmp_path / "heat.toml"
    p.write_text(heat.replace("../meshes", str(CASES.parent / "meshes")).split("[output]")[0])
    with pytest.raises(CaseError) as exc:
        load_case(p)
    msg = str(exc.value)
    assert "heat.toml: regions.film.tau0: unknown key. Fix: tau0 is a material constant " \
        "this model does not use here; the constants it takes here: Tc, gap_ratio, delta0, N0, " \
        "resistivity." \
        in msg, msg


def test_gap_given_twice_is_a_case_error(tmp_path):
    with pytest.raises(CaseError, match=r"film.delta0: the gap is given twice.*Fix: keep"):
        load_case(_case(tmp_path, _film('delta0 = "190 ueV"\ngap_ratio = 1.8')))


def test_escape_time_given_twice_is_a_case_error(tmp_path):
    with pytest.raises(CaseError, match="film.escape_time_pb: the escape time is given twice"):
        load_case(_case(tmp_path, _film('escape_time = "1 ns"\nescape_time_pb = 3')))


# ---- physics follows the override -------------------------------------------------------
def test_delta0_override_moves_the_gap_and_is_recorded_as_case_override(tmp_path):
    """A 190 ueV gap (Al database: 1.70 k_B Tc = 175.8 ueV at Tc = 1.2 K): the run's gap
    at the bath is the BCS Delta(T) scaled to it; summary.json records the source."""
    res = fvqp.run_case(_case(tmp_path, _film('delta0 = "190 ueV"\ntau0 = "480 ns"')),
                        output_dir=str(tmp_path / "out"))
    assert res["status"] == 0
    t = 0.12 / 1.2
    assert res["gap_ueV"] == pytest.approx(190.0 * thermal_gap(t, 1.0) / BCS_GAP_RATIO, rel=1e-12)
    with h5py.File(tmp_path / "out" / "kinetics0d.h5") as fh:
        assert fh.attrs["gap_ratio"] == pytest.approx(190e-6 * E_CHARGE / (K_B * 1.2),
                                                      rel=1e-14)
        assert fh.attrs["tau0_s"] == pytest.approx(480e-9, rel=1e-15, abs=0)
    s = json.loads((tmp_path / "out" / "summary.json").read_text())
    film = s["materials"]["film"]
    assert film["material"] == "Al"
    assert film["overridden"] == ["Tc", "gap_ratio", "tau0"]
    tau0 = film["constants"]["tau0"]
    assert (tau0["unit"], tau0["source"]) == ("s", "case override")
    assert tau0["value"] == pytest.approx(480e-9, rel=1e-15, abs=0)
    assert film["constants"]["N0"]["source"].startswith("[derived]")  # database number
    # fvqp info shows it
    from fvqp.post.info import describe
    from fvqp.post.result import open_result

    text = describe(open_result(tmp_path / "out"))
    assert 'materials.film.constants.tau0.source = "case override"' in text, text


def _steady_n_qp(tmp_path, text: str, name: str) -> tuple[float, dict]:
    model, meta = build_model(load_case(_case(tmp_path, text, name)))
    y, _ = steady_state(model, None)
    obs = summary(model, y)
    return obs["n_qp"] * meta["number_unit_per_m3"], obs


def test_tau0_override_scales_the_recombination_limited_qp_density(tmp_path):
    """QP rates are proportional to 1/tau0 (Kaplan et al. 1976, Eqs. 8-9): with the
    phonons held at the bath (escape 1e-4 of the pair-breaking time) the QP equation is
    (1/tau0) C[f] + D = 0, so tau0 -> 1.1 tau0 equals the drive power -> 1.1 P exactly
    (up to the 1e-4 phonon excess), and in the recombination-limited regime
    (N_qp >> N_T, Rothwarf-Taylor N^2 = P eta / (Delta R), R ~ 1/tau0) N_qp grows by
    sqrt(1.1) = 1.0488 (here N_qp = 1850 N_T)."""
    fast = _film("escape_time_pb = 1e-4")
    n0, obs0 = _steady_n_qp(tmp_path, fast, "base.toml")
    n_tau, obs_tau = _steady_n_qp(tmp_path, _film('tau0 = "481.8 ns"', fast), "tau.toml")
    n_pow, _ = _steady_n_qp(tmp_path, fast.replace('power = "1 fW"', 'power = "1.1 fW"'),
                            "power.toml")
    assert obs0["n_qp"] > 100 * obs0["n_qp_thermal"]  # recombination limited
    # measured: equal to round-off (the escape time in tau_pb does not depend on tau0)
    assert n_tau == pytest.approx(n_pow, rel=1e-10, abs=0)
    ratio = n_tau / n0  # measured 1.04834, sqrt(1.1) - 4.5e-4 (N_T, scattering)
    assert ratio == pytest.approx(math.sqrt(1.1), rel=1e-3), ratio


def test_escape_time_in_units_of_the_thermal_pair_breaking_time(tmp_path):
    """escape_time_pb = 3 gives tau_l = 3 tau_pb(T_bath) (the thermal average of the
    phonon pair-breaking rate, fvqp.collisions), the same model as escape_time = that
    time in seconds."""
    model, meta = build_model(load_case(_case(tmp_path, _film("escape_time_pb = 3"))))
    rate = thermal_pair_breaking_rate(model.grid, model.params, model.t_bath, "direct")
    assert meta["tau_esc_over_tau0"] == pytest.approx(3.0 / rate, rel=1e-12)
    assert meta["tau_pb_over_tau0"] == pytest.approx(1.0 / rate, rel=1e-12)
    seconds = meta["tau_esc_over_tau0"] * meta["tau0_s"]
    m2, meta2 = build_model(load_case(_case(tmp_path, _film(f'escape_time = "{seconds!r} s"'),
                                            "seconds.toml")))
    assert meta2["tau_esc_over_tau0"] == pytest.approx(meta["tau_esc_over_tau0"], rel=1e-14)
    assert np.array_equal(m2.escape_rate, model.escape_rate) or np.allclose(
        m2.escape_rate, model.escape_rate, rtol=1e-14, atol=0)


# ---- T_N ----------------------------------------------------------------------------------
def test_number_temperature_of_a_thermal_state_is_its_temperature(tmp_path):
    model, _ = build_model(load_case(_case(tmp_path, RESONATOR)))
    for t in (0.06, 0.1, 0.2, 0.35):
        assert number_temperature(model, model.equilibrium(t)) == pytest.approx(
            t, rel=1e-10, abs=0)


def test_number_temperature_of_the_driven_resonator(tmp_path):
    """The driven film's QP density is that of a thermal film at T_N (measured 1.77
    T_bath): far above T* (1.26 T_bath), since the QPs crowd at the gap edge."""
    model, meta = build_model(load_case(_case(tmp_path, RESONATOR)))
    y, _ = steady_state(model, None)
    obs = summary(model, y)
    f = model.split(y)[0]
    thermal = model.split(model.equilibrium(obs["t_n"]))[0]
    w = model.grid.qp_weights
    assert float(w @ thermal) == pytest.approx(float(w @ f), rel=1e-12)
    assert obs["t_eff"] < obs["t_n"] < 2 * model.t_bath


# ---- bte_sphere ---------------------------------------------------------------------------
def test_sphere_velocity_overrides_set_the_streaming_speeds(tmp_path):
    """fermi_velocity and sound_velocity_L of [sphere] are the QPs' and phonons' speeds
    of the transport operator (um per tau0 of Sn); the packet and grid are unchanged."""
    from fvqp.models.bte_sphere.driver import SphereSimulation

    text = (CASES / "bte_sphere_sn_packet.toml").read_text().split("[output]")[0]
    text = text.replace("cells = 40", "cells = 4").replace("ordinates = 8", "ordinates = 2")
    base = SphereSimulation(load_case(_case(tmp_path, text, "base.toml")))
    over = SphereSimulation(load_case(_case(tmp_path, text.replace(
        'material = "Sn"', 'material = "Sn"\nfermi_velocity = "1.2e6 m/s"\n'
        'sound_velocity_L = "4000 m/s"'), "over.toml")))
    sn = get_material("Sn")
    assert base.params["v_F_um_per_tau0"] == pytest.approx(sn.fermi_velocity * sn.tau0 / 1e-6,
                                                           rel=1e-14)
    assert over.params["v_F_um_per_tau0"] == pytest.approx(1.2e6 * sn.tau0 / 1e-6, rel=1e-14)
    assert over.params["c_s_um_per_tau0"] == pytest.approx(4000 * sn.tau0 / 1e-6, rel=1e-14)
    assert over.amplitude == pytest.approx(base.amplitude, rel=1e-14)
    assert over.region_materials["sphere"].sources["fermi_velocity"] == "case override"


# ---- heat ---------------------------------------------------------------------------------
def test_heat_resistivity_and_n0_overrides_scale_kappa_and_heat_capacity(tmp_path):
    """Wiedemann-Franz kappa_n = L0 T / rho: half the resistivity doubles the BRT
    conductivity at every T; the QP heat capacity is proportional to N0."""
    from fvqp.models.heat.driver import HeatModel, HeatSimulation

    text = (CASES / "heat_film_trap.toml").read_text().split("[output]")[0].replace(
        "../meshes", str(CASES.parent / "meshes"))
    over = text.replace('Tc = "0.9 K"', 'Tc = "0.9 K"\nresistivity = "1.5e-8 Ohm m"\n'
                        'N0 = "2e10 1/(eV um^3)"')

    def build(t: str, name: str):
        case = load_case(_case(tmp_path, t, name))
        return HeatSimulation(case.internal(HeatModel().units(case)))

    a, b = build(text, "base.toml"), build(over, "over.toml")
    names = a.geometry.region_names
    trap_a, trap_b = (s.materials[names.index("trap")] for s in (a, b))
    T = np.linspace(0.1, 0.7, 7)
    assert np.allclose(trap_b.kappa(T), 2 * trap_a.kappa(T), rtol=1e-13, atol=0)
    n0 = 2e10 / E_CHARGE * 1e18
    assert np.allclose(trap_b.c(T), trap_a.c(T) * n0 / get_material("Al").N0, rtol=1e-12,
                       atol=0)
    film_a, film_b = (s.materials[names.index("film")] for s in (a, b))
    assert np.array_equal(film_a.kappa(T), film_b.kappa(T))  # other regions untouched
    m = b.region_materials["trap"]
    assert {k for k, s in m.sources.items() if s == "case override"} == \
        {"Tc", "resistivity", "N0"}


# ---- stochastic -----------------------------------------------------------------------------
def test_concentration_curve_gamma_bar_follows_the_overridden_constants(tmp_path):
    """Gamma_bar = 24 gamma(Delta)/(nu0 Delta), gamma(Delta) = (Delta/k_B Tc)^3/(3 tau0)
    (Bespalov et al. 2016, after Eq. 2 and Eq. S3): 2 tau0 and 1.5 N0 divide it by 3, a
    10 % larger Delta0 multiplies it by 1.21."""
    from fvqp.models.base.schema import case_material
    from fvqp.stochastic.annihilation import gamma_bar_material

    text = (CASES / "stochastic_concentration_curve.toml").read_text().split("[output]")[0]

    def gbar(extra: str, name: str) -> float:
        case = load_case(_case(tmp_path, text.replace(
            'material = "Al"', f'material = "Al"\n{extra}'), name))
        return gamma_bar_material(case_material(case.data["study"]))

    al = get_material("Al")
    g0 = gbar("", "base.toml")
    assert gbar(f'tau0 = "{2 * al.tau0!r} s"\nN0 = "{1.5 * al.N0!r} 1/(J m^3)"',
                "tn.toml") == pytest.approx(g0 / 3, rel=1e-14)
    assert gbar(f'delta0 = "{1.1 * al.delta0!r} J"', "gap.toml") == pytest.approx(
        1.21 * g0, rel=1e-14)

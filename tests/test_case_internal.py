"""The internal case (issue 15 item 3): case values converted to internal units once, from
the schema's declared dimensions and internal kinds."""

from __future__ import annotations

import math
from types import MappingProxyType

import pytest

from conftest import CASES
from fvqp.case import load_case
from fvqp.case.internal import SchemaError, check_schema, internal_values
from fvqp.case.loader import generic_schema
from fvqp.case.schema import Field, ListOf, Section
from fvqp.models import get_model_spec
from fvqp.models.base.schema import SPECTRAL_SOURCE
from fvqp.units import E_CHARGE, HBAR, K_B, UnitSystem, parse_quantity

U = UnitSystem(Tc=1.2, tau0=438e-9, N0=1.72e47)


def test_each_kind_is_divided_by_its_scale_and_si_constants_stay_si():
    schema = Section({
        "t": Field("quantity", dimension="time"),
        "T": Field("quantity", dimension="temperature"),
        "gap": Field("quantity", dimension="energy", internal="energy"),
        "pulse": Field("quantity", dimension="energy", internal="total_energy"),
        "rho": Field("quantity", dimension="resistivity", internal="si"),
        "R": Field("quantity", dimension="resistance"),
        "times": Field("list", item=Field("quantity", dimension="time")),
        "n": Field("int"), "x": Field("float"), "name": Field("str"),
        "petsc": Field("options"),
        "src": ListOf(Section({"P": Field("quantity", dimension="power")})),
    })
    data = {"t": 876e-9, "T": 0.12, "gap": 1.764 * K_B * 1.2, "pulse": 1e-19, "rho": 3e-8,
            "R": 1e4, "times": [438e-9, 1.314e-6], "n": 3, "x": 0.5, "name": "Al",
            "petsc": {"ksp_type": "gmres"}, "src": [{"P": 1e-12}]}
    v = internal_values(data, schema, U)
    assert v["t"] == 876e-9 / 438e-9
    assert v["T"] == 0.12 / 1.2
    assert v["gap"] == pytest.approx(1.764, rel=1e-15)
    e_u = U.N0 * (K_B * 1.2) ** 2 * 1e-18  # N0 (k_B Tc)^2 um^3 [J]
    assert v["pulse"] == pytest.approx(1e-19 / e_u, rel=1e-14)
    assert v["rho"] == 3e-8  # kept in SI
    assert v["R"] == pytest.approx(1e4 * E_CHARGE**2 * U.N0 * 1e-18 / 438e-9, rel=1e-14)
    assert v["times"] == pytest.approx((1.0, 3.0), rel=1e-15, abs=0)
    assert (v["n"], v["x"], v["name"]) == (3, 0.5, "Al")
    assert v["src"][0]["P"] == pytest.approx(1e-12 * 438e-9 / e_u, rel=1e-14)
    # read-only: a driver cannot change what another part of the run reads
    assert isinstance(v, MappingProxyType) and isinstance(v["petsc"], MappingProxyType)
    with pytest.raises(TypeError):
        v["t"] = 0.0


def test_an_energy_must_say_which_energy_it_is():
    f = Field("quantity", dimension="energy")
    with pytest.raises(SchemaError, match="sources.deposit.*total_energy"):
        internal_values({"deposit": 1e-19}, Section({"deposit": f}), U, "sources")
    assert check_schema(Section({"e": f})) != []
    assert check_schema(Section(SPECTRAL_SOURCE)) == []


@pytest.mark.parametrize("model", ["heat", "kinetics0d", "bte_sphere", "stochastic", "phonon",
                                   "transport", "bte"])
def test_the_migrated_models_schemas_convert(model):
    assert check_schema(generic_schema(get_model_spec(model))) == []


def test_derived_internal_scales_are_consistent():
    s = U.scales
    assert s["voltage"] / s["current"] == pytest.approx(s["resistance"], rel=1e-14)
    assert s["conductance"] * s["resistance"] == pytest.approx(1.0, rel=1e-15)
    assert s["resistivity"] == pytest.approx(s["resistance"] * s["length"], rel=1e-15)
    # NIS tunnelling rate per state tau0 / (2 e^2 R_T N0 V) (kinetics0d) = 1 / (2 R V)
    R, V = 2.5e4, 50e-9 * 1e-9
    rate = U.tau0 / (2 * E_CHARGE**2 * R * U.N0 * V)
    assert 1 / (2 * (R / s["resistance"]) * (V / s["volume"])) == pytest.approx(rate,
                                                                               rel=1e-14)
    # a 90 GHz photon: hbar_int 2 pi f_int = h f / k_B Tc
    hbar, f = HBAR / s["action"], 90e9 / s["rate"]
    assert 2 * math.pi * hbar * f == pytest.approx(2 * math.pi * HBAR * 90e9 / (K_B * 1.2),
                                                   rel=1e-14)
    assert s["velocity"] == pytest.approx(1e-6 / 438e-9, rel=1e-15)


def test_density_of_states_and_velocity_units():
    assert parse_quantity("1.72e10 1/(eV um^3)", "density_of_states") == pytest.approx(
        1.72e10 / E_CHARGE * 1e18, rel=1e-15)
    assert parse_quantity("1.077e47 1/(J m^3)", "density_of_states") == 1.077e47
    assert parse_quantity("2.03e6 m/s", "velocity") == 2.03e6
    assert parse_quantity("2.03 km/s", "velocity") == pytest.approx(2030.0, rel=1e-15)


def test_a_heat_case_converted_once_equals_the_hand_conversions():
    case = load_case(CASES / "heat_film_trap.toml")
    from fvqp.models.heat.driver import HeatModel

    u = HeatModel().units(case)
    ic = case.internal(u)
    d, v = case.data, ic.values
    assert (ic.path, ic.digest, ic.name) == (case.path, case.digest, case.name)
    assert v["bath"]["temperature"] == u.to_internal(d["bath"]["temperature"], "temperature")
    assert v["mesh"]["scale"] == u.to_internal(d["mesh"]["scale"], "length")
    trap, src = d["regions"]["trap"], d["sources"][0]
    assert v["regions"]["trap"]["thickness"] == u.to_internal(trap["thickness"], "length")
    assert v["regions"]["trap"]["Tc"] == trap["Tc"] == 0.9  # a material constant: SI
    s = v["sources"][0]
    assert s["power"] == u.to_internal(src["power"], "power")
    assert (s["start"], s["stop"]) == (0.0, u.to_internal(src["stop"], "time"))
    assert v["output"]["times"] == tuple(u.to_internal(t, "time")
                                         for t in d["output"]["times"])
    assert v["time"]["atol"] == u.to_internal(d["time"]["atol"], "temperature")


def test_kinetics0d_drives_from_the_internal_case_equal_the_si_formulas(tmp_path):
    """The drive parameters the 0D model receives equal the SI formulas of its theory
    page: P/(V 4 N0 (k_B Tc)^2/tau0), h f / k_B Tc, tau0/(2 e^2 R_T N0 V), eV/k_B Tc."""
    from fvqp.models.kinetics0d.build import build_model

    text = (CASES / "kinetics0d_al_resonator.toml").read_text().split("[output]")[0]
    text += ('\n[[drives]]\ntype = "tunnel"\nresistance = "20 kOhm"\nbias = "250 uV"\n'
             'temperature = "150 mK"\n')
    p = tmp_path / "nis.toml"
    p.write_text(text)
    model, meta = build_model(load_case(p))
    photon, tunnel = model.drives
    kTc, tau0, n0, vol = meta["kTc_J"], meta["tau0_s"], meta["N0_per_J_m3"], 1000e-12 * 50e-9
    assert meta["volume_m3"] == pytest.approx(vol, rel=1e-14, abs=0)
    assert photon.photon_energy == pytest.approx(2 * math.pi * HBAR * 90e9 / kTc, rel=1e-14)
    assert photon.power == pytest.approx(1e-15 / vol * tau0 / (4 * n0 * kTc**2), rel=1e-14)
    assert tunnel.rate == pytest.approx(tau0 / (2 * E_CHARGE**2 * 20e3 * n0 * vol),
                                        rel=1e-14)
    assert tunnel.bias == pytest.approx(E_CHARGE * 250e-6 / kTc, rel=1e-14)
    assert tunnel.t_normal == pytest.approx(0.15 / 1.2, rel=1e-14)

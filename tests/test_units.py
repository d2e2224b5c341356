"""The SI boundary: quantity strings, dimension checks, and the internal unit system."""

import math

import pytest

from fvqp.units import E_CHARGE, K_B, LORENZ, UnitError, UnitSystem, parse_quantity


@pytest.mark.parametrize("text,dim,si", [
    ("100 mK", "temperature", 0.1), ("6 keV", "energy", 6e3 * E_CHARGE),
    ("150 nm", "length", 150e-9), ("1200 nm^2", "area", 1200e-18), ("1 um^2", "area", 1e-12),
    ("5 cm^2/s", "diffusivity", 5e-4), ("2 ns", "time", 2e-9), ("1 pW", "power", 1e-12),
    ("3.2e-8 Ohm m", "resistivity", 3.2e-8), ("10 uK", "temperature", 1e-5), (0.25, "time", 0.25),
])
def test_parse_quantity_converts_to_si(text, dim, si):
    assert parse_quantity(text, dim) == pytest.approx(si, rel=1e-14, abs=0)


@pytest.mark.parametrize("text,dim,needle", [
    ("0.1 m", "temperature", "is a length"), ("3 furlongs", "length", "unknown unit"),
    ("K 3", "temperature", "cannot read"), (True, "temperature", "boolean"),
])
def test_parse_quantity_rejects_wrong_units(text, dim, needle):
    with pytest.raises(UnitError, match=needle):
        parse_quantity(text, dim)


def test_lorenz_number():
    assert LORENZ == pytest.approx(2.44e-8, rel=2e-3)


def test_unit_system_round_trip_and_scales():
    u = UnitSystem(Tc=1.2, tau0=438e-9, N0=1.07e47)
    assert u.energy == pytest.approx(K_B * 1.2, rel=1e-6, abs=0)
    for kind in u.scales:
        assert u.to_si(u.to_internal(3.7, kind), kind) == pytest.approx(3.7, rel=1e-15)
    s = u.scales
    # consistency of derived units: kappa * (T/L) * area = power
    assert s["thermal_conductivity"] * s["temperature"] / s["length"] * s["area"] == \
        pytest.approx(s["power"], rel=1e-14, abs=0)
    # heat capacity * temperature * volume = energy
    assert s["heat_capacity"] * s["temperature"] * s["volume"] == \
        pytest.approx(s["total_energy"], rel=1e-14, abs=0)
    assert s["diffusivity"] == pytest.approx(s["thermal_conductivity"] / s["heat_capacity"],
                                             rel=1e-6, abs=0)
    assert math.isclose(s["power_density"] * s["time"], s["energy_density"])
    # a number density times an energy is an energy density
    assert s["number_density"] * s["energy"] == pytest.approx(s["energy_density"], rel=1e-14, abs=0)


def test_unit_errors_name_both_dimensions_with_their_articles():
    """The message of a quantity in the wrong dimension reads as English: "unit 'meV' is
    an energy, expected a time" (it said "a energy")."""
    with pytest.raises(UnitError) as exc:
        parse_quantity("0.1 meV", "time")
    assert "is an energy, expected a time" in str(exc.value)
    with pytest.raises(UnitError) as exc:
        parse_quantity("5 ns", "energy", require_unit=True)
    assert "is a time, expected an energy" in str(exc.value)
    with pytest.raises(UnitError, match="^an energy needs a unit"):
        parse_quantity(3.0, "energy", require_unit=True)

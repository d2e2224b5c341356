"""SI prefixes of case-file quantities: atto (``"5 aW"``, detector powers) and tera
(``"1.2 THz"``) besides f p n u m c k M G, without changing what any spelling accepted
before means (``"T"`` alone, tesla, stays an unknown unit)."""

from __future__ import annotations

import tomllib

import pytest

from conftest import CASES
from fvqp import units
from fvqp.units import UnitError, dimension_of, parse_quantity

#: the prefixes fvqp accepted before atto and tera were added
_OLD_PREFIX = {"f": 1e-15, "p": 1e-12, "n": 1e-9, "u": 1e-6, "µ": 1e-6, "μ": 1e-6,
               "m": 1e-3, "c": 1e-2, "k": 1e3, "M": 1e6, "G": 1e9, "": 1.0}
#: every prefix with its value, written out here (not read from fvqp.units)
_EXPECTED = {**_OLD_PREFIX, "a": 1e-18, "T": 1e12}


def _parse_all(strings: set[str]) -> dict[str, tuple[str, float]]:
    """Dimension and SI value of every string whose unit fvqp knows."""
    out = {}
    for s in sorted(strings):
        m = units._QUANTITY.match(s)
        dim = dimension_of(m.group(2)) if m and m.group(2) else None
        if dim is not None:
            out[s] = (dim, parse_quantity(s, dim))
    return out


def _case_strings(node) -> set[str]:
    if isinstance(node, dict):
        return set().union(*map(_case_strings, node.values())) if node else set()
    if isinstance(node, list):
        return set().union(*map(_case_strings, node)) if node else set()
    return {node} if isinstance(node, str) and units._QUANTITY.match(node) else set()


def test_atto_and_tera_parse():
    assert parse_quantity("5 aW", "power", require_unit=True) == pytest.approx(5e-18, rel=1e-15)
    assert parse_quantity("1.2 THz", "frequency") == pytest.approx(1.2e12, rel=1e-15)
    assert parse_quantity("3 aJ", "energy") == pytest.approx(3e-18, rel=1e-15)
    assert parse_quantity("2 TeV", "energy") == pytest.approx(2e12 * units.E_CHARGE, rel=1e-15)
    assert parse_quantity("7 GHz", "frequency") == pytest.approx(7e9, rel=1e-15)
    assert parse_quantity("4 kOhm", "resistance") == 4e3
    assert parse_quantity("1.5 MHz", "frequency") == pytest.approx(1.5e6, rel=1e-15)
    assert dimension_of("aW") == "power" and dimension_of("THz") == "frequency"
    for tesla in ("1 T", "1 mT"):  # a magnetic field is no dimension of fvqp
        assert dimension_of(tesla.split()[1]) is None
        with pytest.raises(UnitError, match="unknown unit"):
            parse_quantity(tesla, "power")


def test_every_prefixed_unit_has_its_value_and_old_spellings_keep_theirs(monkeypatch):
    """Every prefix on every prefixable symbol (squared on the length of an area or a
    diffusivity) has its SI value; every spelling the old prefix table accepted, and
    every quantity string of the shipped cases, keeps its dimension and value."""
    spellings = set()
    for dim, table in units._UNITS.items():
        if dim in units._NO_PREFIX:
            continue
        for sym, fac in table.items():
            for p, val in _EXPECTED.items():
                scale = val**2 if dim in ("area", "diffusivity") else val
                got = parse_quantity(f"2.5 {p}{sym}", dim)
                assert got == pytest.approx(2.5 * scale * fac, rel=1e-14), (p, sym, dim)
                spellings.add(f"2.5 {p}{sym}")
    cases = set()
    for path in sorted(CASES.glob("*.toml")):
        with open(path, "rb") as fh:
            cases |= _case_strings(tomllib.load(fh))
    new = _parse_all(spellings | cases)
    with monkeypatch.context() as mp:
        mp.setattr(units, "_PREFIX", _OLD_PREFIX)
        old = _parse_all(spellings | cases)
    assert len([s for s in old if s in cases]) > 30  # "100 mK", "6 keV", "1 cm^2/s" ...
    assert {s: new[s] for s in old} == old
    assert set(new) - set(old) == {s for s in spellings if s.split()[1][0] in "aT"}

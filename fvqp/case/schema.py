"""A small declarative schema for TOML case files, with errors that name key, file and fix.

Schemas are nested dicts of :class:`Field` (a value), :class:`Section` (a fixed table),
:class:`TableOf` (a table of user-named sub-tables, e.g. ``[regions.absorber]``),
:class:`ListOf` (an array of tables, e.g. ``[[sources]]``) and :class:`Variant` (a table
whose ``type`` key selects its schema, e.g. boundary conditions).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Any

from ..units import UnitError, a_, parse_quantity

_UNITS_HINT = {
    "temperature": 'K (e.g. "100 mK")', "time": 's (e.g. "10 ns")',
    "length": 'm (e.g. "150 nm")', "area": 'm^2 (e.g. "1200 nm^2")',
    "energy": 'J or eV (e.g. "6 keV")', "power": 'W (e.g. "1 pW")', "resistivity": "Ohm m",
    "diffusivity": 'm^2/s (e.g. "5 cm^2/s")', "heat_flux": "W/m^2",
    "current": 'A (e.g. "5 uA")', "voltage": 'V (e.g. "300 uV")',
    "resistance": 'Ohm (e.g. "10 kOhm")', "conductance": 'S (e.g. "0.1 mS")',
    "frequency": 'Hz (e.g. "90 GHz")', "velocity": 'm/s (e.g. "2e6 m/s")',
    "density_of_states": '1/(J m^3) or 1/(eV um^3) (e.g. "1.72e10 1/(eV um^3)")',
}

#: SI symbol of each dimension, for the fix of a value given without a unit
_SI_SYMBOL = {
    "temperature": "K", "time": "s", "length": "m", "area": "m^2", "energy": "J",
    "power": "W", "voltage": "V", "current": "A", "resistance": "Ohm",
    "resistivity": "Ohm m", "conductance": "S", "diffusivity": "m^2/s",
    "heat_flux": "W/m^2", "frequency": "Hz", "velocity": "m/s",
    "density_of_states": "1/(J m^3)",
}


@dataclass
class Field:
    """One value. ``kind`` is str, int, float, bool, quantity, path, list or options.

    ``internal`` says what a quantity becomes in the internal case
    (:mod:`fvqp.case.internal`): a kind of :attr:`fvqp.units.UnitSystem.scales`, or
    ``"si"`` for a value kept in SI (material constants, combined with the database's SI
    values). ``None`` takes the kind of the ``dimension``
    (:data:`fvqp.units.INTERNAL_KIND`); an ``energy`` must say which it is: a QP energy
    scale (``"energy"``, :math:`k_BT_c`) or an amount deposited (``"total_energy"``).
    """

    kind: str
    doc: str = ""
    dimension: str | None = None
    required: bool = False
    default: Any = None
    choices: tuple | None = None
    positive: bool = False
    nonnegative: bool = False
    item: Field | None = None  # for lists
    internal: str | None = None


@dataclass
class Section:
    fields: dict
    doc: str = ""
    required: bool = False


@dataclass
class TableOf:
    schema: Any
    doc: str = ""
    required: bool = False


@dataclass
class ListOf:
    schema: Any
    doc: str = ""


@dataclass
class Variant:
    """A table whose ``key`` (default ``type``) selects one of ``options``' schemas."""

    options: dict
    key: str = "type"
    doc: str = ""


@dataclass
class Errors:
    file: str
    items: list[str] = field(default_factory=list)

    def add(self, path: str, message: str, fix: str = "") -> None:
        self.items.append(f"{self.file}: {path}: {message}" + (f" Fix: {fix}" if fix else ""))


def _kind_name(f: Field) -> str:
    if f.kind == "quantity" and f.dimension == "dimensionless":
        return "a number"
    if f.kind == "quantity":
        return f"{a_(f.dimension)} in {_UNITS_HINT.get(f.dimension, 'SI')}"
    return {"str": "a string", "int": "an integer", "float": "a number", "bool": "true/false",
            "path": "a file path", "list": "a list", "options": "a table"}[f.kind]


def _unit_fix(f: Field, value) -> str:
    """The fix of a quantity that could not be read: its unit, with an example."""
    number = value if isinstance(value, (int, float)) and not isinstance(value, bool) \
        else str(value).strip() if isinstance(value, str) else None
    try:
        bare = number is not None and float(number) == float(number)
    except ValueError:
        bare = False
    sym = _SI_SYMBOL.get(f.dimension)
    if bare and sym:
        example = re.search(r'e\.g\. ("[^"]*")', _UNITS_HINT.get(f.dimension, ""))
        other = f", or another {f.dimension} unit ({example.group(1)})" if example else ""
        return f'add its unit: "{number} {sym}" if the number is in {sym}{other}.'
    return f"write {_kind_name(f)}."


def _check_value(f: Field, value, path: str, err: Errors):
    kind = f.kind
    if kind == "quantity":
        try:
            v = parse_quantity(value, f.dimension, require_unit=True)
        except UnitError as exc:
            err.add(path, f"{value!r}: {exc}.", _unit_fix(f, value))
            return None
    elif kind in ("str", "path"):
        if not isinstance(value, str):
            err.add(path, f"expected {_kind_name(f)}, got {value!r}.", "quote it.")
            return None
        v = value
    elif kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            err.add(path, f"expected an integer, got {value!r}.", "write e.g. 10.")
            return None
        v = value
    elif kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            err.add(path, f"expected a number, got {value!r}.", "write e.g. 1e-3.")
            return None
        v = float(value)
    elif kind == "bool":
        if not isinstance(value, bool):
            err.add(path, f"expected true or false, got {value!r}.", "")
            return None
        v = value
    elif kind == "list":
        if not isinstance(value, list):
            err.add(path, f"expected a list, got {value!r}.", "write [a, b, ...].")
            return None
        v = [_check_value(f.item, x, f"{path}[{i}]", err) for i, x in enumerate(value)]
    elif kind == "options":
        if not isinstance(value, dict):
            err.add(path, f"expected a table, got {value!r}.", "")
            return None
        v = {}
        for k, x in value.items():
            if not isinstance(x, (str, int, float, bool)):
                err.add(f"{path}.{k}", f"PETSc option values are strings, numbers or booleans, "
                        f"got {x!r}.", "")
            v[k] = x
    else:  # pragma: no cover - schema bug
        raise ValueError(kind)
    if f.choices is not None and v not in f.choices:
        err.add(path, f"{value!r} is not one of {', '.join(map(repr, f.choices))}.",
                f"use one of {', '.join(map(str, f.choices))}.")
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        if f.positive and not v > 0:
            err.add(path, f"must be positive, got {value!r}.", "give a value > 0.")
        if f.nonnegative and v < 0:
            err.add(path, f"must not be negative, got {value!r}.", "give a value >= 0.")
    return v


def _unknown(keys, allowed, path: str, err: Errors) -> None:
    from ..materials.database import UNITS as MATERIAL_FIELDS

    for k in keys:
        if k not in allowed:
            close = difflib.get_close_matches(k, list(allowed), n=1)
            hint = f"did you mean {close[0]!r}?" if close else \
                f"allowed keys here: {', '.join(sorted(allowed))}."
            if k in MATERIAL_FIELDS or k == "delta0":  # a constant this model does not read
                taken = [a for a in allowed if a in MATERIAL_FIELDS or a == "delta0"]
                hint = (f"{k} is a material constant this model does not use here; the "
                        f"constants it takes here: {', '.join(taken)}." if taken else
                        f"{k} is a material constant; none can be set here.")
            err.add(f"{path}.{k}" if path else k, "unknown key.", hint)


def validate(data, schema, path: str, err: Errors):
    """Validate ``data`` against ``schema``; returns normalised data (SI floats, defaults)."""
    if isinstance(schema, Field):
        return _check_value(schema, data, path, err)
    if isinstance(schema, Variant):
        if not isinstance(data, dict):
            err.add(path, f"expected a table, got {data!r}.", "")
            return None
        kind = data.get(schema.key)
        if kind not in schema.options:
            err.add(f"{path}.{schema.key}", f"{kind!r} is not a known type." if kind is not None
                    else "missing.", f"set {schema.key} to one of "
                    f"{', '.join(repr(o) for o in schema.options)}.")
            return None
        sub = dict(schema.options[kind].fields)
        sub[schema.key] = Field("str")
        return validate(data, Section(sub), path, err)
    if isinstance(schema, TableOf):
        if not isinstance(data, dict):
            err.add(path, f"expected a table of named tables, got {data!r}.", "")
            return {}
        return {k: validate(v, schema.schema, f"{path}.{k}", err) for k, v in data.items()}
    if isinstance(schema, ListOf):
        if not isinstance(data, list):
            err.add(path, "expected an array of tables.", f"write [[{path}]] blocks.")
            return []
        return [validate(v, schema.schema, f"{path}[{i}]", err) for i, v in enumerate(data)]
    if isinstance(schema, Section):
        if not isinstance(data, dict):
            err.add(path, f"expected a table, got {data!r}.", "")
            return {}
        _unknown(data.keys(), schema.fields, path, err)
        out = {}
        for key, sub in schema.fields.items():
            p = f"{path}.{key}" if path else key
            if key in data:
                out[key] = validate(data[key], sub, p, err)
            elif getattr(sub, "required", False):
                err.add(p, "required key is missing.", f"add it{_doc(sub)}.")
            elif isinstance(sub, Field):
                out[key] = sub.default
            elif isinstance(sub, Section):
                out[key] = validate({}, sub, p, err)
            elif isinstance(sub, (TableOf,)):
                out[key] = {}
            elif isinstance(sub, ListOf):
                out[key] = []
        return out
    raise TypeError(schema)  # pragma: no cover


def _doc(s) -> str:
    d = getattr(s, "doc", "")
    return f" ({d})" if d else ""

r"""The internal case: a validated case's values converted to internal units, once.

A :class:`~fvqp.case.Case` holds SI numbers (:mod:`fvqp.case.schema`). A model computes
in the internal units of :mod:`fvqp.units`; instead of converting value by value in its
driver, it receives an :class:`InternalCase`, built by the run template
(:mod:`fvqp.models.base.template`) from the case, the model's schema and its
:class:`~fvqp.units.UnitSystem`:

* every ``quantity`` field becomes ``value / units.scales[kind]``, the kind being the
  field's ``internal`` or, by default, :data:`fvqp.units.INTERNAL_KIND` of its
  dimension (e.g. a ``time`` in :math:`\tau_0`, a ``length`` in µm, a ``voltage`` as
  :math:`eV/k_BT_c`);
* an ``energy`` field must declare which energy it is (``internal="energy"``: a QP energy
  scale in :math:`k_BT_c`; ``internal="total_energy"``: an amount deposited in the
  device, in :math:`N_0(k_BT_c)^2\,\mu m^3`): the same dimension, two scales;
* ``internal="si"`` keeps a value in SI: the material constants of a region
  (:data:`fvqp.models.base.schema.MATERIAL_OVERRIDES`), which combine with the SI
  numbers of the database into a :class:`fvqp.materials.Material`;
* numbers, strings, flags and dimensionless quantities are unchanged.

The view is read-only (tables are :class:`types.MappingProxyType`, arrays are tuples):
a driver cannot change what another part of the run reads.

Examples
--------
>>> from fvqp.case.schema import Field, Section
>>> from fvqp.units import UnitSystem
>>> u = UnitSystem(Tc=1.2, tau0=438e-9, N0=1.72e47)
>>> schema = Section({"end": Field("quantity", dimension="time"),
...                   "pulse": Field("quantity", dimension="energy",
...                                  internal="total_energy")})
>>> v = internal_values({"end": 876e-9, "pulse": None}, schema, u)
>>> v["end"], v["pulse"]
(2.0, None)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from operator import attrgetter
from types import MappingProxyType
from typing import Any

from ..units import INTERNAL_KIND, UnitSystem
from .schema import Field, ListOf, Section, TableOf, Variant

__all__ = ["InternalCase", "SchemaError", "check_schema", "internal_kind",
           "internal_values"]


class SchemaError(TypeError):
    """A schema whose quantity has no internal kind (a bug of the model's schema)."""


def internal_kind(f: Field, path: str = "") -> str | None:
    """The :attr:`~fvqp.units.UnitSystem.scales` kind of the internal value of ``f``,
    ``"si"`` (kept in SI) or ``None`` (unchanged number); see the module docstring.

    Raises
    ------
    SchemaError
        For an ``energy`` without ``internal``, an unknown kind or dimension.
    """
    if f.internal is not None:
        if f.internal != "si" and f.internal not in _SCALE_KINDS:
            raise SchemaError(f"schema field {path or '?'}: internal={f.internal!r} is not a "
                              f"kind of UnitSystem.scales ({', '.join(sorted(_SCALE_KINDS))})"
                              " nor 'si'")
        return f.internal
    if f.dimension == "energy":
        raise SchemaError(f"schema field {path or '?'}: an energy must say which energy it "
                          "is: internal='energy' (a QP energy scale, k_B Tc) or "
                          "internal='total_energy' (an amount deposited in the device)")
    if f.dimension not in INTERNAL_KIND:
        raise SchemaError(f"schema field {path or '?'}: dimension {f.dimension!r} has no "
                          "internal kind (fvqp.units.INTERNAL_KIND); give internal=...")
    return INTERNAL_KIND[f.dimension]


_SCALE_KINDS = frozenset(UnitSystem(Tc=1.0, tau0=1.0, N0=1.0).scales)


def _convert(f: Field, value: Any, units: UnitSystem, path: str) -> Any:
    if f.kind == "list":
        if value is None:
            return None
        return tuple(_convert(f.item, x, units, f"{path}[{i}]") for i, x in enumerate(value))
    if f.kind == "options":
        return None if value is None else MappingProxyType(dict(value))
    if f.kind != "quantity":
        return value
    kind = internal_kind(f, path)
    if value is None or kind in (None, "si"):
        return value
    return value / units.scales[kind]


def internal_values(data: Any, schema: Any, units: UnitSystem, path: str = "") -> Any:
    """``data`` (validated, SI) with every quantity in internal units, read-only.

    Parameters
    ----------
    data
        Validated case content (:func:`fvqp.case.schema.validate`).
    schema
        The schema it was validated against.
    units : fvqp.units.UnitSystem
    """
    if isinstance(schema, Field):
        return _convert(schema, data, units, path)
    if data is None:
        return None
    if isinstance(schema, Variant):
        sub = dict(schema.options[data[schema.key]].fields)
        sub[schema.key] = Field("str")
        return internal_values(data, Section(sub), units, path)
    if isinstance(schema, TableOf):
        return MappingProxyType({k: internal_values(v, schema.schema, units, f"{path}.{k}")
                                 for k, v in data.items()})
    if isinstance(schema, ListOf):
        return tuple(internal_values(v, schema.schema, units, f"{path}[{i}]")
                     for i, v in enumerate(data))
    if isinstance(schema, Section):
        out = {}
        for k, v in data.items():
            p = f"{path}.{k}" if path else k
            out[k] = internal_values(v, schema.fields[k], units, p) if k in schema.fields \
                else v
        return MappingProxyType(out)
    raise TypeError(schema)  # pragma: no cover - schema bug


def check_schema(schema: Any, path: str = "") -> list[str]:
    """Every quantity of ``schema`` that has no internal kind (``[]`` when the schema can
    be converted); used by the tests of each model's schema."""
    if isinstance(schema, Field):
        if schema.kind == "list" and schema.item is not None:
            return check_schema(schema.item, f"{path}[]")
        if schema.kind != "quantity":
            return []
        try:
            internal_kind(schema, path)
        except SchemaError as exc:
            return [str(exc)]
        return []
    if isinstance(schema, Variant):
        return [m for name, sec in schema.options.items()
                for m in check_schema(sec, f"{path}<{schema.key}={name}>")]
    if isinstance(schema, TableOf):
        return check_schema(schema.schema, f"{path}.<name>")
    if isinstance(schema, ListOf):
        return check_schema(schema.schema, f"{path}[]")
    if isinstance(schema, Section):
        return [m for k, sub in schema.fields.items()
                for m in check_schema(sub, f"{path}.{k}" if path else k)]
    return []


@dataclass(frozen=True)
class InternalCase:
    """A validated case with its values in internal units (module docstring).

    Attributes
    ----------
    case : fvqp.case.Case
        The SI case (file, digest, output directory; ``case.data`` in SI).
    units : fvqp.units.UnitSystem
        The unit system the values are in.
    values : Mapping
        The case's content, quantities in internal units, read-only.
    """

    case: Any
    units: UnitSystem
    values: Mapping

    # the SI case's identity (str), read through from ``case``
    path = property(attrgetter("case.path"), doc="The case file.")
    name = property(attrgetter("case.name"), doc="The case file's name without suffix.")
    model = property(attrgetter("case.model"), doc="The model the case is for.")
    digest = property(attrgetter("case.digest"), doc="Digest of the case and its mesh.")
    output_dir = property(attrgetter("case.output_dir"), doc="Absolute output directory.")
    mesh_path = property(attrgetter("case.mesh_path"), doc="Absolute path of the mesh.")

"""Output fields: declared once with their dimension and unit, converted to SI in one place.

A model's physics computes its fields in internal units (:mod:`fvqp.units`); its
:class:`OutputField` table says what each one is. :func:`to_output` turns internal values
into the declared unit, and the same table gives the ``units`` field data of the VTK
files, so a field's number and its unit label cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...units import E_CHARGE

__all__ = ["OutputField", "to_output", "unit_labels"]

#: (dimension, unit label) -> SI value of one unit of the label
_UNIT_SI = {
    ("dimensionless", "1"): 1.0,
    ("temperature", "K"): 1.0,
    ("energy", "ueV"): E_CHARGE * 1e-6,
    ("energy", "J"): 1.0,
    ("energy_density", "J/m^3"): 1.0,
    ("power_density", "W/m^3"): 1.0,
    ("number_density", "1/um^3"): 1e18,
    ("number_flux", "1/(um^2 s)"): 1e12,
    ("heat_flux", "W/m^2"): 1.0,
}


@dataclass(frozen=True)
class OutputField:
    """One output field.

    Attributes
    ----------
    dimension : str
        A kind of :attr:`fvqp.units.UnitSystem.scales` (``"energy"``,
        ``"number_density"``, ``"heat_flux"`` = energy density × length / time ...),
        ``"number_flux"`` (number density × velocity) or ``"dimensionless"``.
    unit : str
        The unit the field is written in (``"ueV"``, ``"1/um^3"`` ...).
    """

    dimension: str
    unit: str

    def __post_init__(self) -> None:
        if (self.dimension, self.unit) not in _UNIT_SI:
            raise ValueError(f"output unit {self.unit!r} of dimension {self.dimension!r} "
                             f"is not declared; known: {sorted(_UNIT_SI)}")


def _scale(units, dimension: str) -> float:
    """SI value of one internal unit of ``dimension``."""
    if dimension == "dimensionless":
        return 1.0
    if dimension == "number_flux":
        return units.scales["number_density"] * units.length / units.tau0
    return units.scales[dimension]


def to_output(units, values: dict, declared: dict) -> dict:
    """Internal-unit ``values`` -> their declared output units.

    Parameters
    ----------
    units : fvqp.units.UnitSystem
    values : dict
        Field name -> internal values (arrays over the owned cells).
    declared : dict
        Field name -> :class:`OutputField`; every name of ``values`` must be declared.

    Examples
    --------
    >>> from fvqp.units import UnitSystem
    >>> u = UnitSystem(Tc=1.2, tau0=438e-9, N0=1.72e47)
    >>> out = to_output(u, {"T": np.array([0.1])}, {"T": OutputField("temperature", "K")})
    >>> float(out["T"][0])  # 0.1 Tc in kelvin
    0.12
    """
    out = {}
    for name, v in values.items():
        f = declared[name]
        factor = _scale(units, f.dimension) / _UNIT_SI[(f.dimension, f.unit)]
        out[name] = np.asarray(v, dtype=float) * factor
    return out


def unit_labels(declared: dict) -> dict:
    """Field name -> unit label (the VTK files' ``units`` field data)."""
    return {name: f.unit for name, f in declared.items()}

"""The internal unit scheme of fvqp, and the one place where SI is converted.

fvqp computes in dimensionless numbers. A :class:`UnitSystem` is fixed per case by a
*reference material* (default: the material of the first region of the case):

============== ======================================== =========================
quantity       internal unit                            symbol
============== ======================================== =========================
temperature    critical temperature of the reference    :math:`T_u = T_c`
energy         :math:`k_B T_c`                          :math:`E_u`
time           Kaplan's :math:`\\tau_0` of the reference :math:`t_u = \\tau_0`
length         one micrometre                           :math:`L_u = 1\\,\\mu m`
density of     single-spin normal DOS :math:`N_0`       :math:`N_u = N_0`
states
============== ======================================== =========================

Derived units follow: energy density :math:`e_u = N_u E_u^2` (J/m³), power density
:math:`e_u/t_u`, heat capacity per volume :math:`e_u/T_u`, thermal conductivity
:math:`e_u L_u^2/(t_u T_u)`, diffusion constant :math:`L_u^2/t_u`, energy :math:`e_u L_u^3`.

Energies and temperatures share the unit (:math:`k_B = 1`): a temperature of 0.1 means
0.1 T_c and a quasiparticle energy of 1.764 means the BCS gap of the reference material.
Per-material physics (spectra, thermodynamics, collision operators) is written in the
material's own :math:`k_B T_c`; models rescale by the ratios returned from
:meth:`UnitSystem.material_scales`.

The Usadel wire model (:mod:`fvqp.models.usadel`) follows its paper (Ryan et al. 2026,
Sec. II) and computes in the natural units of a diffusive wire, fixed by
:class:`WireScales` below: energies in :math:`\\Delta_0`, lengths in the dirty-limit
coherence length :math:`\\xi=\\sqrt{\\hbar D/\\Delta_0}`, conductances in
:math:`1/R_\\xi` and currents in :math:`I_0=\\Delta_0/eR_\\xi`. They are converted here too.

Case files give every dimensioned value as a string with a unit, e.g. ``"100 mK"``,
``"6 keV"``, ``"150 nm"`` (a bare number only for dimensionless values);
:func:`parse_quantity` checks the dimension (and, for case files, that a unit is given).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

K_B = 1.380649e-23  #: Boltzmann constant [J/K] (exact, SI 2019)
E_CHARGE = 1.602176634e-19  #: elementary charge [C] (exact)
HBAR = 1.054571817e-34  #: reduced Planck constant [J s]
LORENZ = (math.pi**2 / 3.0) * (K_B / E_CHARGE) ** 2  #: Sommerfeld Lorenz number [W Ω/K²]

# ---------------------------------------------------------------------------------------
# Quantity strings
# ---------------------------------------------------------------------------------------

#: SI prefixes of the unit symbols below (case-sensitive: "m" milli, "M" mega). "a" (atto,
#: aW detector powers) and "T" (tera, THz) only ever stand before a symbol: no unit symbol
#: is "a" or "T", so "T" alone (tesla) stays an unknown unit and no accepted spelling
#: changes meaning (tests/test_unit_prefixes.py)
_PREFIX = {
    "a": 1e-18, "f": 1e-15, "p": 1e-12, "n": 1e-9, "u": 1e-6, "µ": 1e-6, "μ": 1e-6,
    "m": 1e-3, "c": 1e-2, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "": 1.0,
}

#: dimension name -> {unit symbol: SI factor}; prefixes are applied to the listed symbols.
_UNITS: dict[str, dict[str, float]] = {
    "temperature": {"K": 1.0},
    "time": {"s": 1.0},
    "length": {"m": 1.0},
    "area": {"m^2": 1.0, "m2": 1.0},
    "energy": {"J": 1.0, "eV": E_CHARGE},
    "power": {"W": 1.0},
    "voltage": {"V": 1.0},
    "current": {"A": 1.0},
    "resistance": {"Ohm": 1.0, "ohm": 1.0, "Ω": 1.0},
    "resistivity": {"Ohm m": 1.0, "ohm m": 1.0, "Ω m": 1.0, "Ohm*m": 1.0},
    "conductance": {"S": 1.0},
    "diffusivity": {"m^2/s": 1.0, "m2/s": 1.0},
    "heat_flux": {"W/m^2": 1.0, "W/m2": 1.0},
    "frequency": {"Hz": 1.0},
    "velocity": {"m/s": 1.0},
    # single-spin density of states of a material (N0); the prefix of "um^3" is on the metre
    "density_of_states": {"1/(J m^3)": 1.0, "1/(J m3)": 1.0, "/J/m^3": 1.0,
                          "1/(eV m^3)": 1.0 / E_CHARGE, "1/(eV um^3)": 1e18 / E_CHARGE,
                          "1/(eV nm^3)": 1e27 / E_CHARGE},
    "dimensionless": {"1": 1.0},
}
#: dimensions whose units are spelled out in full (no SI prefix is applied to them)
_NO_PREFIX = {"density_of_states"}
# the prefix of an area/diffusivity unit applies to the length inside: "um^2" = (1e-6 m)^2
_SQUARED = {"area", "diffusivity", "heat_flux"}

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_QUANTITY = re.compile(rf"^\s*({_NUMBER})\s*(.*?)\s*$")


class UnitError(ValueError):
    """A quantity has the wrong dimension or an unknown unit."""


def _unit_factor(unit: str, dimension: str) -> float | None:
    table = _UNITS[dimension]
    if unit in table:
        return table[unit]
    if dimension in _NO_PREFIX:
        return None
    for sym, fac in table.items():
        if unit.endswith(sym) and unit[: -len(sym)] in _PREFIX:
            p = _PREFIX[unit[: -len(sym)]]
            if dimension in _SQUARED:
                if dimension == "heat_flux":  # W/(prefix m)^2 is not supported: prefix on W
                    return p * fac
                return p**2 * fac
            return p * fac
    # squared-length spellings with the prefix on the length: "um^2/s", "cm^2/s"
    if dimension in ("area", "diffusivity"):
        m = re.fullmatch(r"(\w?)m\^?2(/s)?", unit)
        if m and m.group(1) in _PREFIX and (m.group(2) is not None) == (dimension == "diffusivity"):
            return _PREFIX[m.group(1)] ** 2
    return None


def a_(word: str) -> str:
    """``word`` with its indefinite article, for messages: "an energy", "a time"."""
    return f"{'an' if word[:1].lower() in 'aeiou' else 'a'} {word}"


def dimension_of(unit: str) -> str | None:
    """Return the dimension a unit string belongs to, or None if unknown."""
    for dim in _UNITS:
        if _unit_factor(unit, dim) is not None:
            return dim
    return None


def parse_quantity(value: object, dimension: str, *, require_unit: bool = False) -> float:
    """Convert a case-file value to SI.

    Parameters
    ----------
    value
        A number (already SI) or a string ``"<number> <unit>"`` such as ``"100 mK"``.
    dimension
        Expected dimension, a key of the unit table (``"temperature"``, ``"length"`` ...).
    require_unit
        Refuse a value without a unit (a number, or a string such as ``"250"``) unless
        ``dimension`` is ``"dimensionless"``. Case files are read with ``True``: a bare
        number is ambiguous (kelvin or millikelvin?). Default ``False`` (a number is SI).

    Returns
    -------
    float
        The value in SI units.

    Raises
    ------
    UnitError
        If the string cannot be parsed, the unit is unknown, or it has another dimension.
    """
    if isinstance(value, bool):
        raise UnitError(f"expected {a_(dimension)}, got the boolean {value!r}")
    need_unit = require_unit and dimension != "dimensionless"
    if isinstance(value, (int, float)):
        if need_unit:
            raise UnitError(f"{a_(dimension)} needs a unit")
        return float(value)
    if not isinstance(value, str):
        raise UnitError(f"expected {a_(dimension)} (number or string with unit), got {value!r}")
    m = _QUANTITY.match(value)
    if not m:
        raise UnitError(f"cannot read {value!r} as '<number> <unit>'")
    number, unit = float(m.group(1)), m.group(2)
    if unit == "":
        if need_unit:
            raise UnitError(f"{a_(dimension)} needs a unit")
        return number
    fac = _unit_factor(unit, dimension)
    if fac is None:
        other = dimension_of(unit)
        allowed = ", ".join(_UNITS[dimension])
        if other is not None:
            raise UnitError(f"unit {unit!r} is {a_(other)}, expected {a_(dimension)} ({allowed})")
        raise UnitError(f"unknown unit {unit!r} for {a_(dimension)} (use {allowed} with a prefix)")
    return number * fac


# ---------------------------------------------------------------------------------------
# The internal unit system
# ---------------------------------------------------------------------------------------

#: case-file dimension -> the kind of :attr:`UnitSystem.scales` its internal value is in
#: (``None``: a pure number, unchanged). ``energy`` is deliberately absent: a case energy
#: is either a quasiparticle energy scale (a gap, a bin width, a photon: kind ``energy``,
#: :math:`k_BT_c`) or an amount deposited in a device (a pulse: kind ``total_energy``,
#: :math:`N_0(k_BT_c)^2L_u^3`); each energy :class:`fvqp.case.schema.Field` says which
#: (``internal=...``). Material constants stay SI (``internal="si"``): they are combined
#: with the database's SI values into a :class:`fvqp.materials.Material`.
INTERNAL_KIND: dict[str, str | None] = {
    "temperature": "temperature", "time": "time", "length": "length", "area": "area",
    "power": "power", "voltage": "voltage", "current": "current",
    "resistance": "resistance", "resistivity": "resistivity",
    "conductance": "conductance", "diffusivity": "diffusivity", "heat_flux": "heat_flux",
    "frequency": "rate", "velocity": "velocity", "density_of_states": "dos",
    "dimensionless": None,
}



@dataclass(frozen=True)
class UnitSystem:
    """Scales of the internal dimensionless variables (see the module docstring).

    Parameters
    ----------
    Tc : float
        Reference critical temperature [K].
    tau0 : float
        Reference electron–phonon time τ0 (Kaplan et al. 1976) [s].
    N0 : float
        Reference single-spin density of states [1/(J m³)].
    length : float
        Length unit [m], 1 µm by default.
    """

    Tc: float
    tau0: float
    N0: float
    length: float = 1e-6

    @classmethod
    def from_material(cls, material) -> UnitSystem:
        """Build the unit system of a reference :class:`fvqp.materials.Material`."""
        return cls(Tc=material.Tc, tau0=material.tau0, N0=material.N0)

    # base and derived scales, SI value of one internal unit
    @property
    def energy(self) -> float:
        """k_B Tc [J]."""
        return K_B * self.Tc

    @property
    def scales(self) -> dict[str, float]:
        """SI value of one internal unit for every supported kind of quantity."""
        e = self.energy
        ed = self.N0 * e * e  # energy density J/m^3
        L, t, T = self.length, self.tau0, self.Tc
        return {
            "temperature": T,
            "energy": e,
            "time": t,
            "length": L,
            "area": L * L,
            "volume": L**3,
            "dos": self.N0,
            "energy_density": ed,
            "total_energy": ed * L**3,
            "power": ed * L**3 / t,
            "power_density": ed / t,
            "heat_flux": ed * L / t,
            "heat_capacity": ed / T,
            "thermal_conductivity": ed * L * L / (t * T),
            "diffusivity": L * L / t,
            "rate": 1.0 / t,
            "number_density": self.N0 * e,  # states per m^3 of N0 k_B Tc
            "voltage": e / E_CHARGE,
            # a charge e per internal number of states N0 k_B Tc L^3 per time unit; the
            # rest follows: R_u = V_u/I_u = t_u/(e^2 N0 L^3), so that a tunnel rate per
            # state tau0/(2 e^2 R N0 V) is 1/(2 R V) internally
            "current": E_CHARGE * self.N0 * e * L**3 / t,
            "resistance": t / (E_CHARGE**2 * self.N0 * L**3),
            "conductance": E_CHARGE**2 * self.N0 * L**3 / t,
            "resistivity": t / (E_CHARGE**2 * self.N0 * L**2),
            "velocity": L / t,
            "action": e * t,  # hbar = HBAR / scales["action"] internally
        }

    def internal_kind(self, dimension: str) -> str | None:
        """The kind of :attr:`scales` a case value of ``dimension`` is measured in (see
        :data:`INTERNAL_KIND`)."""
        return INTERNAL_KIND[dimension]

    def to_internal(self, value, kind: str):
        """SI -> internal (works on floats and numpy arrays)."""
        return value / self.scales[kind]

    def to_si(self, value, kind: str):
        """Internal -> SI (works on floats and numpy arrays)."""
        return value * self.scales[kind]

    def material_scales(self, material) -> dict[str, float]:
        """Ratios that rescale a material's own units (k_B Tc_m, N0_m) to this system.

        ``temperature`` multiplies a temperature or energy in units of the material's
        k_B Tc_m; ``energy_density`` multiplies an energy density in N0_m (k_B Tc_m)².
        """
        r_T = material.Tc / self.Tc
        r_N = material.N0 / self.N0
        return {"temperature": r_T, "energy_density": r_N * r_T**2}


# ---------------------------------------------------------------------------------------
# Natural units of a diffusive wire (Usadel model; Ryan et al. 2026, Sec. II, Table 1)
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WireScales:
    r"""Natural units of a diffusive wire (Usadel model): energies in Δ0, lengths in
    ξ = sqrt(ħD/Δ0) (Eq. 2), conductances in 1/R_ξ with R_ξ = ρ_N ξ/A (text after Eq. 6),
    currents in I0 = Δ0/(e R_ξ), temperatures as t = k_B T/Δ0 (Eq. 3).

    Scales of a wire with gap Δ0 [J], diffusion constant D [m²/s], resistivity ρ
    [Ω m] and cross-section A [m²]."""

    delta0: float
    diffusivity: float
    resistivity: float
    area: float

    @classmethod
    def from_resistance(cls, delta0, diffusivity, resistance, length, area) -> WireScales:
        """From the normal-state resistance R of a wire of ``length`` (Table 1 style)."""
        return cls(delta0, diffusivity, resistance * area / length, area)

    @property
    def xi(self) -> float:
        """Dirty-limit coherence length [m] (Eq. 2)."""
        return math.sqrt(HBAR * self.diffusivity / self.delta0)

    @property
    def r_xi(self) -> float:
        """Normal-state resistance of a length ξ [Ω]."""
        return self.resistivity * self.xi / self.area

    @property
    def i0(self) -> float:
        """Current unit I0 = Δ0/(e R_ξ) [A] (Eq. 6)."""
        return self.delta0 / (E_CHARGE * self.r_xi)

    def thermal_length(self, temperature: float) -> float:
        """L_T = sqrt(ħD/k_B T) [m]."""
        return math.sqrt(HBAR * self.diffusivity / (K_B * temperature))

    def t(self, temperature: float) -> float:
        return K_B * temperature / self.delta0

    def kappa(self, conductance: float) -> float:
        """κ = G R_ξ (Eq. 11)."""
        return conductance * self.r_xi

    def bias(self, volts: float) -> float:
        """eV/Δ0."""
        return E_CHARGE * volts / self.delta0

    def energy(self, joules: float) -> float:
        return joules / self.delta0

    def time(self, seconds: float) -> float:
        """t Δ0/ħ (times in units of ħ/Δ0)."""
        return seconds * self.delta0 / HBAR

    def length(self, metres: float) -> float:
        return metres / self.xi

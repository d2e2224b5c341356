r"""Material database: SI parameters of elemental superconductors with per-number sources.

The data live in ``materials.toml`` (this package), one table per element; every quantity is
an inline table ``{value, unit, source}``. The unit string is checked on loading against the
SI unit this module expects, so a unit slip in the data file fails loudly.

Quantities (SI):

=========================  =============  ==================================================
field                      unit           meaning
=========================  =============  ==================================================
``Tc``                     K              critical temperature
``gap_ratio``              1              :math:`\Delta_0/k_BT_c` (BCS: 1.764)
``N0``                     1/(J m³)       single-spin DOS at :math:`E_F` (from Sommerfeld γ)
``debye_temperature``      K              :math:`\Theta_D`
``tau0``                   s              Kaplan :math:`\tau_0` (electron-phonon)
``tau0_phi``               s              Kaplan :math:`\tau_0^\phi` (phonon pair breaking)
``N_ion``                  1/m³           ion density
``sound_velocity_L``       m/s            longitudinal sound velocity
``sound_velocity_T``       m/s            transverse sound velocity
``fermi_velocity``         m/s            Fermi velocity
``resistivity``            Ω m            typical normal-state (film/residual) resistivity
``diffusion_constant``     m²/s           typical normal-state diffusion constant :math:`D_n`
``tau_esc_per_thickness``  s/m            phonon escape time per film thickness
``dynes_gamma``            1              Dynes broadening :math:`\gamma = \Gamma/\Delta_0`
                                          (film dependent; subgap DOS
                                          :math:`N(0) = \gamma/\sqrt{1+\gamma^2}`)
``coupling``               1              BCS coupling :math:`\lambda = N_0V`
                                          (:math:`\Delta_0 = \hbar\omega_D/\sinh(1/\lambda)`)
=========================  =============  ==================================================

Missing data are ``None``. Film-dependent entries (Tc of films, resistivity, :math:`D_n`,
escape times, Dynes :math:`\gamma`) are defaults to be overridden, e.g.
``get_material("Al", Tc=1.25)``, or per region of a case file (``material_overrides``,
source "case override").

References
----------
.. [1] S. B. Kaplan et al., Phys. Rev. B 14, 4854 (1976), Tables I-II.
.. [2] C. Kittel, *Introduction to Solid State Physics*, 8th ed. (2005).
.. [3] BoltzPhlow/BTE notes, Eq. 7 (relation between :math:`\tau_0` and :math:`\tau_0^\phi`).
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from collections.abc import Mapping
from functools import lru_cache
from importlib import resources
from types import MappingProxyType
from typing import Any, ClassVar

from ..units import E_CHARGE, K_B  # the one copy of the physical constants

__all__ = [
    "CASE_OVERRIDE",
    "K_B",
    "DataEntry",
    "Material",
    "UnknownEntryError",
    "UnknownMaterialError",
    "get_material",
    "list_materials",
    "data_entry",
    "load_table",
    "lookup",
    "material_table",
    "parse_entry",
    "quantity",
]


#: source of a number set by a case file (:meth:`Material.with_overrides`)
CASE_OVERRIDE = "case override"
#: source of a number replaced in Python (:meth:`Material.replace`)
USER_OVERRIDE = "user override"


class UnknownEntryError(KeyError):
    """A name that is not in a data file (the message lists the names there)."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class UnknownMaterialError(UnknownEntryError):
    """Raised for a material name that is not in the database (lists the available names)."""


def quantity(unit: str, required: bool = False) -> Any:
    """A number of a data file in the SI ``unit`` its table must give (``None`` when the
    table has none, unless ``required``): a field of a :func:`data_entry` class."""
    if required:
        return dataclasses.field(metadata={"unit": unit})
    return dataclasses.field(default=None, metadata={"unit": unit})


def data_entry(cls: type) -> type:
    """Class decorator: a frozen dataclass whose numbers are declared by :func:`quantity`,
    with ``units`` (field -> unit string, in declaration order) and ``required`` (the
    numbers without a default) read from those declarations."""
    cls = dataclasses.dataclass(frozen=True)(cls)
    qs = [f for f in dataclasses.fields(cls) if "unit" in f.metadata]
    cls.units = MappingProxyType({f.name: f.metadata["unit"] for f in qs})
    cls.required = tuple(f.name for f in qs if f.default is dataclasses.MISSING)
    return cls


@dataclasses.dataclass(frozen=True)
class DataEntry:
    """One table of a data file (:func:`load_table`): its ``name``, the numbers (the
    fields of the subclass declared by :func:`quantity`, SI) and a source per number."""

    #: expected unit string of every number; the numbers a table must give
    units: ClassVar[Mapping[str, str]] = MappingProxyType({})
    required: ClassVar[tuple[str, ...]] = ()
    name: str
    sources: Mapping[str, str] = dataclasses.field(
        default_factory=lambda: MappingProxyType({}), compare=False, repr=False, kw_only=True
    )

    def provenance(self) -> dict[str, dict]:
        """Every number with its unit and source: ``{field: {value, unit, source}}`` (the
        ``materials`` entry of a run's ``summary.json``)."""
        out = {}
        for key, unit in self.units.items():
            v = getattr(self, key)
            if v is not None:
                out[key] = {"value": v, "unit": unit, "source": self.sources.get(key, "")}
        return out

    def _overridden(self, overrides: Mapping[str, Any], source: str) -> Any:
        """Copy with ``overrides`` (fields of ``units``), recorded with ``source``."""
        unknown = set(overrides) - set(self.units) - {"name"}
        if unknown:
            raise TypeError(f"unknown {type(self).__name__.lower()} field(s): "
                            f"{sorted(unknown)}")
        src = dict(self.sources)
        src.update({k: source for k in overrides if k != "name"})
        return dataclasses.replace(self, sources=MappingProxyType(src), **overrides)


def lookup(db: Mapping[str, Any], name: str, error: type[UnknownEntryError],
           what: str) -> Any:
    """The entry of ``db`` named ``name`` (case-insensitive, surrounding blanks ignored),
    else ``error`` listing the names of ``db`` (``what``: "material", "phonon medium")."""
    key = {k.lower(): k for k in db}.get(str(name).strip().lower())
    if key is None:
        raise error(f"unknown {what} {name!r}; available: {', '.join(db)}")
    return db[key]


@data_entry
class Material(DataEntry):
    r"""Parameters of one superconductor, SI units (see module docstring for the table).

    Derived properties: :attr:`kTc`, :attr:`delta0`, :attr:`debye_energy`,
    :attr:`sommerfeld_gamma`, :meth:`diffusion_from_resistivity`. The gap is stored as the
    measured ratio :math:`\Delta_0/k_BT_c`, so overriding ``Tc`` (thin films) rescales
    :math:`\Delta_0` at fixed coupling strength.

    Use :meth:`replace` to override values; overridden fields get the source
    ``"user override"``; a case file's values go through :meth:`with_overrides` (source
    ``"case override"``).
    """

    Tc: float = quantity("K", required=True)
    gap_ratio: float = quantity("1", required=True)
    N0: float = quantity("1/(J m^3)", required=True)
    debye_temperature: float | None = quantity("K")
    tau0: float | None = quantity("s")
    tau0_phi: float | None = quantity("s")
    N_ion: float | None = quantity("1/m^3")
    sound_velocity_L: float | None = quantity("m/s")
    sound_velocity_T: float | None = quantity("m/s")
    fermi_velocity: float | None = quantity("m/s")
    resistivity: float | None = quantity("Ohm m")
    diffusion_constant: float | None = quantity("m^2/s")
    tau_esc_per_thickness: float | None = quantity("s/m")
    dynes_gamma: float | None = quantity("1")
    coupling: float | None = quantity("1")

    # ---- derived quantities -----------------------------------------------------------
    @property
    def kTc(self) -> float:
        """:math:`k_BT_c` [J]."""
        return K_B * self.Tc

    @property
    def delta0(self) -> float:
        r"""Zero-temperature gap :math:`\Delta_0 = \mathrm{gap\_ratio}\cdot k_BT_c` [J]."""
        return self.gap_ratio * self.kTc

    @property
    def debye_energy(self) -> float | None:
        r""":math:`\Omega_D = k_B\Theta_D` [J], or ``None``."""
        return None if self.debye_temperature is None else K_B * self.debye_temperature

    @property
    def sommerfeld_gamma(self) -> float:
        r"""Normal-state :math:`\gamma = (2\pi^2/3)k_B^2N_0` [J/(m³ K²)], :math:`c_n = \gamma T`."""
        return 2.0 * math.pi**2 / 3.0 * K_B**2 * self.N0

    def diffusion_from_resistivity(self, resistivity: float | None = None) -> float | None:
        r"""Einstein relation :math:`D = 1/(2N_0e^2\rho_n)` [m²/s] (both spins: :math:`2N_0`)."""
        rho = self.resistivity if resistivity is None else resistivity
        return None if rho is None else 1.0 / (2.0 * self.N0 * E_CHARGE**2 * rho)

    def replace(self, **overrides: Any) -> Material:
        """Copy with some fields replaced (sources of those fields become ``user override``)."""
        return self._overridden(overrides, USER_OVERRIDE)

    def with_overrides(self, **values: Any) -> Material:
        r"""Copy with the constants a case file sets (SI, fields of :data:`UNITS`); their
        sources become :data:`CASE_OVERRIDE`.

        ``delta0`` [J] may be given instead of ``gap_ratio``: it sets
        :math:`\Delta_0/k_BT_c` with the (possibly overridden) ``Tc``.

        Examples
        --------
        >>> al = get_material("Al").with_overrides(tau0=500e-9)
        >>> al.tau0, al.sources["tau0"]
        (5e-07, 'case override')
        """
        values = dict(values)
        if "delta0" in values:
            if "gap_ratio" in values:
                raise TypeError("give delta0 or gap_ratio, not both")
            tc = values.get("Tc", self.Tc)
            values["gap_ratio"] = values.pop("delta0") / (K_B * tc)
        return self._overridden(values, CASE_OVERRIDE)

    def with_source(self, source: str, **values: Any) -> Material:
        """Copy with fields set by a model's own rule, recorded with ``source`` (e.g. the
        weak-coupling gap ratio a model assumes when the case gives none).

        Examples
        --------
        >>> m = get_material("Al").with_source("BCS weak coupling", gap_ratio=1.764)
        >>> m.gap_ratio, m.sources["gap_ratio"]
        (1.764, 'BCS weak coupling')
        """
        return self._overridden(values, source)



#: expected unit string of every number of a material (from the field declarations)
UNITS: Mapping[str, str] = Material.units
_REQUIRED = Material.required


# ---- loading ---------------------------------------------------------------------------
def parse_entry(cls: type, name: str, table: Mapping[str, Any], units: Mapping[str, str],
                required: tuple[str, ...], file: str) -> Any:
    """One table ``[name]`` of a data file as ``cls(name=..., sources=..., **values)``:
    every quantity an inline table ``{value, unit, source}`` whose unit must equal
    ``units[key]`` and whose source must not be empty; the ``required`` keys must be
    there. Errors name the file, the table and the key (a :class:`ValueError`)."""
    values: dict[str, float] = {}
    sources: dict[str, str] = {}
    for key, item in table.items():
        if key not in units:
            raise ValueError(f"{file} [{name}]: unknown field {key!r}")
        if not isinstance(item, Mapping) or {"value", "unit", "source"} - set(item):
            raise ValueError(f"{file} [{name}].{key}: need {{value, unit, source}}")
        if item["unit"] != units[key]:
            raise ValueError(
                f"{file} [{name}].{key}: unit {item['unit']!r}, expected {units[key]!r}"
            )
        if not str(item["source"]).strip():
            raise ValueError(f"{file} [{name}].{key}: empty source")
        values[key] = float(item["value"])
        sources[key] = str(item["source"])
    missing = [k for k in required if k not in values]
    if missing:
        raise ValueError(f"{file} [{name}]: missing {missing}")
    return cls(name=name, sources=MappingProxyType(sources), **values)


def load_table(file: str, cls: type, units: Mapping[str, str],
               required: tuple[str, ...] = ()) -> Mapping[str, Any]:
    """Every table of the data file ``file`` of this package (``materials.toml``,
    ``substrates.toml``) as an instance of the dataclass ``cls`` (:func:`parse_entry`),
    by name in file order, read-only.

    Examples
    --------
    >>> db = load_table("materials.toml", Material, UNITS, ("Tc", "gap_ratio", "N0"))
    >>> db["Al"].sources["tau0"].startswith("Kaplan")
    True
    """
    text = resources.files("fvqp.materials").joinpath(file).read_text("utf-8")
    raw = tomllib.loads(text)
    return MappingProxyType({name: parse_entry(cls, name, tab, units, required, file)
                             for name, tab in raw.items()})


def _parse_entry(name: str, table: Mapping[str, Any]) -> Material:
    return parse_entry(Material, name, table, UNITS, _REQUIRED, "materials.toml")


@lru_cache(maxsize=1)
def _database() -> Mapping[str, Material]:
    return load_table("materials.toml", Material, UNITS, _REQUIRED)


def list_materials() -> list[str]:
    """Names of the materials in the database (in file order)."""
    return list(_database())


def get_material(name: str, **overrides: Any) -> Material:
    """Material by name (case-insensitive), optionally with overridden fields.

    Parameters
    ----------
    name : str
        Element symbol, e.g. ``"Al"`` or ``"al"``.
    **overrides
        Field values replacing the database ones, e.g. ``Tc=1.25`` for an Al film.

    Raises
    ------
    UnknownMaterialError
        (a :class:`KeyError`) if the name is unknown; the message lists available names.
    """
    mat = lookup(_database(), name, UnknownMaterialError, "material")
    return mat.replace(**overrides) if overrides else mat


def _fmt(x: float | None, scale: float, spec: str) -> str:
    width = int(spec.split(".")[0])
    return "-".rjust(width) if x is None else format(x * scale, spec)


def material_table() -> str:
    """Plain-text table of the database (used by ``fvqp materials``).

    Columns: Tc [K], Δ0 [µeV], Δ0/kTc, N0 [1/(eV µm³)] (single spin), τ0 [ns], τ0^φ [ps],
    D_n [m²/s] (typical, film dependent).
    """
    head = (
        f"{'name':<5}{'Tc[K]':>8}{'D0[ueV]':>9}{'D0/kTc':>8}{'N0[1/(eV um3)]':>16}"
        f"{'tau0[ns]':>10}{'tau0ph[ps]':>11}{'D_n[m2/s]':>11}"
    )
    lines = [head, "-" * len(head)]
    for m in _database().values():
        lines.append(
            f"{m.name:<5}{m.Tc:8.3f}{m.delta0 / E_CHARGE * 1e6:9.1f}{m.gap_ratio:8.3f}"
            f"{_fmt(m.N0, E_CHARGE * 1e-18, '16.3e')}{_fmt(m.tau0, 1e9, '10.3g')}"
            f"{_fmt(m.tau0_phi, 1e12, '11.3g')}{_fmt(m.diffusion_constant, 1.0, '11.2e')}"
        )
    lines.append("N0 single spin; tau0, tau0^phi from Kaplan et al. PRB 14, 4854 (1976);")
    lines.append("sources per number: fvqp.materials.get_material(name).sources")
    return "\n".join(lines)

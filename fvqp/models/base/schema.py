"""Case-schema pieces shared by several models (one copy of each key's meaning): where a
source acts, when it acts, the spectral sources of the kinetic models, and the material
constants a case may override per region (:data:`MATERIAL_OVERRIDES`,
:func:`case_material`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from typing import Any

from ...case.schema import Field, Section

__all__ = ["MATERIAL_OVERRIDES", "PLACEMENT", "POWER_TIMING", "PULSE_TIMING",
           "SPECTRAL_SOURCE", "active_regions", "case_material", "check_material_overrides",
           "check_pulse_or_power", "energy_bins", "initial_temperature", "material_overrides",
           "ordinates_spec", "slices_section", "switch_window"]


def _missing_in_database(field: str) -> str:
    """The hint naming the database materials without a value of ``field`` (read from the
    database, so it stays true when a value is added), or "" when every one has it."""
    from ...materials import get_material, list_materials

    names = [n for n in list_materials() if getattr(get_material(n), field, None) is None]
    return f"; needed where the database has none: {', '.join(names)}" if names else ""


def _constant(doc: str, dimension: str, field: str, nonnegative: bool = False,
              needed: bool = True) -> Field:
    """A material constant in SI; ``needed``: the model needs a value (the hint names the
    database materials without one); otherwise the model has a default (in ``doc``)."""
    hint = _missing_in_database(field) if needed else ""
    return Field("quantity", f"{doc} (default: the database's {field}{hint}; recorded "
                 "as \"case override\")",
                 dimension=dimension, positive=not nonnegative, nonnegative=nonnegative,
                 internal="si")


#: material constants a case may set per region (film, sphere ...), in SI, next to the
#: region's ``material``: key -> Field. They stay SI in the internal case
#: (``internal="si"``) and make the region's :class:`fvqp.materials.Material` by
#: :func:`case_material` (:meth:`~fvqp.materials.Material.with_overrides`: source
#: "case override"). A model takes the keys it uses with :func:`material_overrides`.
MATERIAL_OVERRIDES: dict[str, Field] = {
    "Tc": _constant("critical temperature T_c", "temperature", "Tc"),
    "gap_ratio": Field("quantity", "zero-temperature gap over k_B Tc, Delta0/(k_B Tc) (or "
                       "give delta0; default: the database's gap_ratio; recorded as \"case "
                       "override\")", dimension="dimensionless", positive=True,
                       internal="si"),
    "delta0": _constant("zero-temperature gap Delta0 (sets gap_ratio = Delta0/(k_B Tc) "
                        "with this region's Tc; or give gap_ratio)", "energy", "gap_ratio"),
    "N0": _constant("single-spin normal density of states at the Fermi level",
                    "density_of_states", "N0"),
    "tau0": _constant("Kaplan's electron-phonon time tau0", "time", "tau0"),
    "tau0_phi": _constant("Kaplan's phonon pair-breaking time tau0^phi", "time",
                          "tau0_phi"),
    "debye_temperature": _constant("Debye temperature (omega_D = k_B Theta_D / hbar)",
                                   "temperature", "debye_temperature"),
    "fermi_velocity": _constant("Fermi velocity", "velocity", "fermi_velocity"),
    "resistivity": _constant("normal-state resistivity", "resistivity", "resistivity"),
    "diffusion_constant": _constant("normal-state diffusion constant", "diffusivity",
                                    "diffusion_constant"),
    "sound_velocity_L": _constant("longitudinal sound velocity", "velocity",
                                  "sound_velocity_L"),
    "sound_velocity_T": _constant("transverse sound velocity", "velocity",
                                  "sound_velocity_T"),
    "dynes_gamma": _constant("Dynes broadening gamma = Gamma/Delta0 of the DOS "
                             "(N(0) = gamma/sqrt(1 + gamma^2)); without a value 0 (BCS)",
                             "dimensionless", "dynes_gamma", nonnegative=True, needed=False),
    "coupling": _constant("BCS coupling lambda = N0 V (with Delta0 it fixes the cut-off of "
                          "the gap equation, omega_D = Delta0 sinh(1/lambda); the convention "
                          "of every fvqp model: lambda, not omega_D); without a value the "
                          "model's own cut-off", "dimensionless", "coupling", needed=False),
}


def material_overrides(*keys: str, hints: Mapping[str, str] | None = None
                       ) -> dict[str, Field]:
    """The :data:`MATERIAL_OVERRIDES` a model uses (all of them without ``keys``);
    ``gap_ratio`` and ``delta0`` come together (two ways to give the gap). A key the
    model does not take is an unknown key of its case files (a :class:`CaseError`
    naming the key, the file and the keys allowed). ``hints`` (key -> text) appends what
    the constant does in this model to the shared text (e.g. usadel's ``coupling``:
    "instead of selfconsistency.omega_d"), so a model keeps its own hints."""
    hints = dict(hints or {})
    unknown = (set(keys) | set(hints)) - set(MATERIAL_OVERRIDES)
    if unknown:
        raise KeyError(f"not material constants: {sorted(unknown)}")
    keys = set(keys or MATERIAL_OVERRIDES)
    keys |= {"gap_ratio", "delta0"} if {"gap_ratio", "delta0"} & keys else set()
    return {k: (replace(f, doc=f"{f.doc}; here: {hints[k]}") if k in hints else f)
            for k, f in MATERIAL_OVERRIDES.items() if k in keys}


def case_material(table: Mapping, key: str = "material"):
    """The :class:`fvqp.materials.Material` of a case table (a region, the film, the
    sphere): the database entry named by ``table[key]`` with the table's
    :data:`MATERIAL_OVERRIDES` (SI, in the case and in the internal case alike)."""
    from ...materials import get_material

    mat = get_material(table[key])
    over = {k: table[k] for k in MATERIAL_OVERRIDES if table.get(k) is not None}
    return mat.with_overrides(**over) if over else mat


def check_material_overrides(table: Mapping, path: str, err) -> None:
    """``delta0`` and ``gap_ratio`` both given in the table at ``path`` is an error."""
    if table and table.get("delta0") is not None and table.get("gap_ratio") is not None:
        err.add(f"{path}.delta0", "the gap is given twice (delta0 and gap_ratio).",
                "keep one of delta0 (an energy) or gap_ratio (Delta0 / k_B Tc).")


#: where a ``[[sources]]`` table acts (:func:`fvqp.mesh.sources.placement`)
PLACEMENT = {
    "region": Field("str", "region receiving the source (default: all simulated)"),
    "position": Field("list", "centre of a Gaussian spot [x, y, z] in mesh units",
                      item=Field("float")),
    "radius": Field("quantity", "Gaussian width of the spot", dimension="length",
                    positive=True),
}

#: when a pulse acts (its amount is model specific: ``energy`` or ``deposit``)
PULSE_TIMING = {
    "time": Field("quantity", "centre of the Gaussian pulse", dimension="time", default=0.0,
                  nonnegative=True),
    "duration": Field("quantity", "Gaussian width (sigma) of the pulse", dimension="time",
                      positive=True),
}

def switch_window(what: str = "") -> dict:
    """The keys ``start`` (default 0) and ``stop`` (default never) of a source or drive
    that acts between them; ``what`` names it in the keys' docs ("power")."""
    of = f" of the {what}" if what else ""
    return {
        "start": Field("quantity", f"switch-on time{of}", dimension="time", default=0.0,
                       nonnegative=True),
        "stop": Field("quantity", f"switch-off time{of} (default never)", dimension="time",
                      positive=True),
    }


#: when a steady power acts
POWER_TIMING = switch_window("power")

#: keys of a ``[[sources]]`` table injecting quasiparticles or phonons with a Gaussian
#: spectrum (``transport``, ``bte``): a pulse (``deposit``) or a steady ``power``
SPECTRAL_SOURCE = {
    "energy": Field("quantity", "centre of the injected spectrum", dimension="energy",
                    required=True, positive=True, internal="energy"),
    "width": Field("quantity", "Gaussian width of the spectrum (0: one bin)",
                   dimension="energy", default=0.0, nonnegative=True, internal="energy"),
    "deposit": Field("quantity", "energy of a Gaussian pulse (or give power)",
                     dimension="energy", positive=True, internal="total_energy"),
    **PULSE_TIMING,
    "power": Field("quantity", "steady injected power (instead of a pulse)",
                   dimension="power", positive=True),
    **POWER_TIMING,
    **PLACEMENT,
}


def initial_temperature(what: str) -> Section:
    """The ``[initial]`` section of a model started in equilibrium: a uniform
    ``temperature`` (default: the bath); ``what`` says what it sets."""
    return Section({"temperature": Field("quantity", f"{what} (default: the bath)",
                                         dimension="temperature", positive=True)})


def energy_bins(gap: str, more: str = "") -> dict[str, Field]:
    """``spacing`` and ``e_max`` of the ``[energy]`` section of the models on energy bins
    (``transport``, ``bte``); ``gap``: the gap the default upper edge starts from, in
    words ("gap", "largest gap"); ``more``: what else the default holds."""
    return {
        "spacing": Field("quantity", "energy bin width (default: kT_bath / 4)",
                         dimension="energy", positive=True, internal="energy"),
        "e_max": Field("quantity", f"upper edge of the QP grid (default: {gap} + "
                       f"max(12 kT_bath, source energies + 3 widths){more}; a given "
                       "value must hold every source)", dimension="energy",
                       positive=True, internal="energy"),
    }


def slices_section(doc: str) -> Section:
    """The ``[slices]`` section of the energy-resolved mesh models (``transport``, ``bte``,
    ``phonon``): ``energies``, the energies of the slices written as cell fields (``doc``
    says which occupation and where its grid ends)."""
    return Section({"energies": Field("list", doc, item=Field(
        "quantity", dimension="energy", positive=True, internal="energy"), default=[])})


def check_pulse_or_power(data: dict, err, duration: str = "0.1 ns",
                         radius: str = "5 um") -> None:
    """Each spectral ``[[sources]]`` table is exactly one of a pulse (``deposit`` with a
    ``duration``) or a ``power``; a spot (``position``) needs a ``radius``. ``duration``
    and ``radius`` are the examples the fix suggests."""
    for i, s in enumerate(data.get("sources") or []):
        if not s:
            continue
        if (s.get("deposit") is None) == (s.get("power") is None):
            err.add(f"sources[{i}]", "give exactly one of deposit (a pulse) or power.",
                    f'e.g. deposit = "10 keV", duration = "{duration}".')
        if s.get("deposit") is not None and s.get("duration") is None:
            err.add(f"sources[{i}].duration", "a pulse needs a duration.",
                    f'add duration = "{duration}".')
        if s.get("position") is not None and s.get("radius") is None:
            err.add(f"sources[{i}].radius", "a source with a position needs a radius.",
                    f'add radius = "{radius}".')
    check_steady_timing(data, err)


def check_steady_timing(data: Mapping, err, items: str = "sources",
                        pulse: str = "deposit") -> None:
    """In a steady case (``[time] steady = true``) every table of ``items`` is on at all
    times: a pulse (key ``pulse``), or a power or drive switched on (``start`` > 0) or off
    (``stop``) at a time, has no steady state and is refused (the steady runs dropped the
    pulse, or the whole drive, without a word)."""
    if not (data.get("time") or {}).get("steady"):
        return
    for i, s in enumerate(data.get(items) or []):
        if not s:
            continue
        if pulse and s.get(pulse) is not None:
            err.add(f"{items}[{i}].{pulse}", "a pulse has no steady state: the steady run "
                    "never deposits it.", "give a power (on at all times), or remove "
                    "steady = true and give [time] end.")
        elif s.get("stop") is not None or (s.get("start") or 0.0) > 0.0:
            key = "start" if (s.get("start") or 0.0) > 0.0 else "stop"
            err.add(f"{items}[{i}].{key}", "a power switched on or off at a time has no "
                    "steady state (the steady run takes its value at t = 0).", "remove start/stop "
                    "(on at all times), or remove steady = true and give [time] end.")


def named_boundaries(geo, active) -> list[str]:
    """``required_boundaries`` of the discrete-ordinates models: every named boundary group
    needs a condition; faces in no group (``unlabelled``) take the ``[interfaces] wall``."""
    return [n for n in geo.boundary_names if n != "unlabelled"]


def unlabelled_boundary(geo, active) -> list[str]:
    """``optional_boundaries`` of the same models: a case may give ``unlabelled`` faces a
    condition of their own instead of the wall."""
    return ["unlabelled"] if "unlabelled" in geo.boundary_names else []


def ordinates_spec(film: bool = True) -> dict[str, Any]:
    """The :class:`~fvqp.models.spec.ModelSpec` keywords the discrete-ordinates models
    share (``bte``, ``phonon``, ``bte_chip``): every named boundary group needs a
    condition, ``unlabelled`` faces may have one; the occupations are dimensionless
    (absolute tolerance 1e-11); ``film``: a 2D mesh is a film of a given ``thickness``."""
    out: dict[str, Any] = {"required_boundaries": named_boundaries,
                           "optional_boundaries": unlabelled_boundary,
                           "atol_dimension": "dimensionless", "atol_default": 1e-11}
    if film:
        out.update(dimension_keys={2: ("thickness",)},
                   dimension_doc={"thickness": 'e.g. "100 nm"'})
    return out


def active_regions(data: Mapping, err, key: str, lookup: Callable[[str], Any],
                   unknown: type[Exception], *, needed: str, example: str,
                   unknown_fix: str = "", optional: Callable[[Mapping], Any] | None = None
                   ) -> Iterator[tuple[str, Mapping, Any]]:
    """``(name, table, entry)`` of every active region (``active`` not false) whose
    ``key`` names an entry that ``lookup`` finds (a material, a phonon medium); the
    check loop of the models whose regions need one. A region without ``key`` is the
    error ``regions.<name>.<key>``: "an active region needs ``needed``." with the fix
    "add ``example``, or active = false."; a name ``lookup`` refuses with
    ``unknown`` is the same key's error with the exception's message (it lists the
    names) and ``unknown_fix``. Neither region is yielded; nor is a region without
    ``key`` for which ``optional(table)`` is true (no error: e.g. transport's trap,
    which takes the reference's constants).

    Examples
    --------
    >>> from fvqp.case.schema import Errors
    >>> from fvqp.materials import UnknownMaterialError, get_material
    >>> data = {"regions": {"film": {"material": "Al"}, "cap": {},
    ...                     "substrate": {"active": False}}}
    >>> err = Errors("case.toml")
    >>> [name for name, reg, mat in active_regions(
    ...     data, err, "material", get_material, UnknownMaterialError,
    ...     needed="a material", example='material = "Al"')]
    ['film']
    >>> len(err.items)  # regions.cap.material: an active region needs a material
    1
    """
    for name, reg in data["regions"].items():
        if not reg.get("active", True):
            continue
        if not reg.get(key):
            if optional is not None and optional(reg):
                continue
            err.add(f"regions.{name}.{key}", f"an active region needs {needed}.",
                    f"add {example}, or active = false.")
            continue
        try:
            entry = lookup(reg[key])
        except unknown as exc:
            err.add(f"regions.{name}.{key}", str(exc).strip("'\""), unknown_fix)
            continue
        yield name, reg, entry

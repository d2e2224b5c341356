r"""Quasi-equilibrium heat flow of the quasiparticles of a superconductor on a device mesh.

.. math::  c(T)\,\partial_t T = \nabla\cdot(\kappa_{es}(T)\nabla T) + P(\mathbf x, t)

with the Bardeen–Rickayzen–Tewordt conductivity and the heat capacity of the
superconducting state including the gap term (BoltzPhlow notes Eqs. 21–29), solved in the
conservative form :math:`\partial_t U(T) = \dots` by :mod:`fvqp.solvers.bdf` (time
dependent) or SNES (steady). Outputs include the local gap :math:`\Delta(T(\mathbf x))`.
See ``docs/theory_heat.md``.
"""

from __future__ import annotations

from ...case.schema import Field, Section
from ..base.schema import PLACEMENT, POWER_TIMING, PULSE_TIMING, material_overrides
from ..spec import ModelSpec

_REGION = Section({
    "material": Field("str", "material name from `fvqp materials`"),
    "active": Field("bool", "false leaves the region out (e.g. the substrate)", default=True),
    "thickness": Field("quantity", "film thickness (2D meshes)", dimension="length",
                       positive=True),
    "cross_section": Field("quantity", "wire cross-section (1D meshes)", dimension="area",
                           positive=True),
    # the material constants of the heat model: Tc and the gap ratio (or delta0; the
    # alpha-model gap Delta(T) = gap_ratio/1.764 Delta_BCS(T), properties.py), N0 (heat
    # capacity, QP density) and the resistivity (kappa_n = L0 T / rho, Wiedemann-Franz)
    **material_overrides("Tc", "gap_ratio", "N0", "resistivity"),
})

_BOUNDARIES = {
    "bath": Section({"temperature": Field(
        "quantity", "held temperature; default the bath", dimension="temperature",
        positive=True)}, doc="temperature held fixed"),
    "insulated": Section({}, doc="no heat flux"),
    "heat_flux": Section({"flux": Field("quantity", "heat flux into the device",
                                        dimension="heat_flux", required=True)}),
}

_SOURCES = {
    "pulse": Section({
        "energy": Field("quantity", "deposited energy", dimension="energy", required=True,
                        positive=True, internal="total_energy"),
        **PULSE_TIMING,
        "duration": Field("quantity", "Gaussian width (sigma) of the pulse", dimension="time",
                          required=True, positive=True),
        **PLACEMENT,
    }),
    "power": Section({
        "power": Field("quantity", "absorbed power", dimension="power", required=True),
        **POWER_TIMING,
        **PLACEMENT,
    }),
}

_INITIAL = Section({"temperature": Field("quantity", "uniform initial temperature "
                                         "(default: the bath)", dimension="temperature",
                                         positive=True)})

FIELDS = ("temperature", "gap", "energy_density", "qp_density", "power_density", "region")


#: below this fraction of Tc the electronic heat capacity (~e^(-1.76 Tc/T)) is < 1e-15 of
#: its normal value, quasiparticles are not thermal, and Newton in T fails
MIN_REDUCED_TEMPERATURE = 0.05


def _required_boundaries(geo, active) -> list[str]:
    return list(geo.boundary_names)


def _check(data, err) -> None:
    """Refuse temperatures where the quasi-equilibrium heat model does not apply (below
    ``MIN_REDUCED_TEMPERATURE`` Tc, or a fixed temperature at or above Tc) and regions
    without a normal-state resistivity."""
    from ...materials import UnknownMaterialError
    from ..base.schema import case_material, check_material_overrides, check_steady_timing

    check_steady_timing(data, err, pulse="energy")
    temps = {"bath.temperature": data["bath"]["temperature"]}
    if data["initial"].get("temperature"):
        temps["initial.temperature"] = data["initial"]["temperature"]
    held = dict(temps)
    for name, bc in (data.get("boundaries") or {}).items():
        if bc and bc.get("type") == "bath" and bc.get("temperature"):
            held[f"boundaries.{name}.temperature"] = bc["temperature"]
    for name, reg in data["regions"].items():
        if not reg.get("active", True) or not reg.get("material"):
            continue
        check_material_overrides(reg, f"regions.{name}", err)
        if reg.get("delta0") is not None and reg.get("gap_ratio") is not None:
            continue
        try:
            mat = case_material(reg)
        except UnknownMaterialError:
            continue  # reported by the loader
        Tc = mat.Tc
        if not mat.resistivity:
            err.add(f"regions.{name}.resistivity", f"{mat.name} has no normal-state "
                    "resistivity in the database (it sets the thermal conductivity).",
                    'give resistivity = "3e-8 Ohm m" (the film\'s measured value).')
        for key, T in held.items():
            if T is not None and T >= Tc:
                err.add(key, f"{T:g} K is at or above Tc = {Tc:g} K of {mat.name} (region "
                        f"{name!r}): the heat model describes the quasiparticles of the "
                        "superconducting state (gap, BRT conductivity, quasiparticle density "
                        "are undefined above Tc).",
                        f"give a temperature below {Tc:g} K, or set Tc in "
                        f"[regions.{name}] if this film's critical temperature is higher.")
        for key, T in temps.items():
            if T < MIN_REDUCED_TEMPERATURE * Tc:
                err.add(key, f"{T:g} K is {T / Tc:.3f} Tc of {reg['material']} (region "
                        f"{name!r}); the quasi-equilibrium heat model needs T >= "
                        f"{MIN_REDUCED_TEMPERATURE} Tc in every region: below, the "
                        "quasiparticle heat capacity is exponentially small (< 1e-15 c_n) and "
                        "quasiparticles are not thermal.",
                        f"raise it to >= {MIN_REDUCED_TEMPERATURE * Tc:.3g} K, or model "
                        "this region with the kinetic (energy-resolved) models.")


SPEC = ModelSpec(
    name="heat", region_schema=_REGION, boundary_types=_BOUNDARIES, initial_schema=_INITIAL,
    source_types=_SOURCES, fields=FIELDS, required_boundaries=_required_boundaries,
    atol_dimension="temperature", atol_default=1e-5,
    dimension_keys={1: ("cross_section",), 2: ("thickness",)},
    dimension_doc={"cross_section": 'e.g. "1200 nm^2"', "thickness": 'e.g. "100 nm"'},
    check=_check,
    digest_exempt=("time.end",),  # `fvqp run --resume` may extend a run
)


def run(case, **kwargs):
    """Run a validated heat case; see :func:`fvqp.models.heat.driver.run_heat`."""
    from .driver import run_heat

    return run_heat(case, **kwargs)

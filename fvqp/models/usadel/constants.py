r"""The material constants of the wire regions and the wire units they set.

Every constant the Usadel model reads from a region comes from its
:class:`fvqp.materials.Material`: the database entry of ``material`` with the region's
overrides in SI (:meth:`~fvqp.materials.Material.with_overrides`, source "case override"),
or, for a region without a material, the case's numbers alone. The constants and their
defaults (:func:`region_constants`):

==================  ===========================================================================
Δ0                  ``gap`` (0: a normal metal) or ``delta0`` or ``gap_ratio``·k_B T_c; without
                    them the BCS weak-coupling :math:`\pi e^{-\gamma_E}k_BT_c = 1.764\,k_BT_c`
                    (:data:`fvqp.spectra.gap.BCS_GAP_RATIO`) of the material's
                    (possibly overridden) ``Tc`` — the ratio of Eq. 8 with a cut-off ω_D
                    (source "BCS weak coupling (usadel default)")
ρ, D                ``resistivity`` and ``diffusivity`` (or ``diffusion_constant``; the
                    material's ``resistivity`` and ``diffusion_constant`` when not given)
Γ                   Dynes broadening: ``dynes`` (an energy) or ``dynes_gamma`` (Γ/Δ0) or the
                    material's ``dynes_gamma``, else 0
λ, Θ_D              ``coupling`` (BCS N0V: :math:`\omega_D = \Delta_0\sinh(1/\lambda)`) or
                    ``debye_temperature`` (:math:`\omega_D = k_B\Theta_D`) set the cut-off of
                    the gap equation (Eq. 8) instead of ``[selfconsistency] omega_d``
==================  ===========================================================================

The wire units (:class:`fvqp.units.WireScales`: Δ0, ξ, R_ξ, I0; Ryan et al. 2026 Eq. 2 and
the text after Eq. 6) are those of the first active region; :class:`WireUnits` gives them
the ``scales`` table of :class:`fvqp.units.UnitSystem`, so the case is converted once to
them (:meth:`fvqp.case.Case.internal`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...case import CaseError
from ...materials import Material
from ...spectra.gap import BCS_GAP_RATIO
from ...units import E_CHARGE, HBAR, K_B, WireScales

__all__ = ["RegionConstants", "WireUnits", "region_constants", "wire_units"]

_BCS_SOURCE = "BCS weak coupling (usadel default)"


@dataclass(frozen=True)
class RegionConstants:
    """The SI constants of one region (module docstring); ``material`` records them with
    their sources (``None`` for a region without a material)."""

    delta0: float
    resistivity: float
    diffusivity: float
    dynes: float
    coupling: float | None
    debye_temperature: float | None
    material: Material | None


def _missing(path: str, name: str, key: str, mat: str | None) -> CaseError:
    why = f"material {mat!r} has no {key}" if mat else "the region has no material"
    return CaseError([f"{path}: regions.{name}.{key}: {why}. Fix: give {key} in "
                      f"[regions.{name}] (SI, e.g. {_EXAMPLE[key]})."])


_EXAMPLE = {"resistivity": '"3e-8 Ohm m"', "diffusivity": '"16 cm^2/s"'}


def region_constants(reg: Any, name: str = "", path: str = "") -> RegionConstants:
    """The constants of the region table ``reg`` (SI values, as in the case and the
    internal case alike) with their Material (module docstring)."""
    from ..base.schema import case_material

    given = {k: reg.get(k) for k in ("gap", "delta0", "gap_ratio", "dynes", "dynes_gamma",
                                      "coupling", "debye_temperature", "resistivity",
                                      "diffusivity")}
    if given["diffusivity"] is None:  # the name of the other models' cases
        given["diffusivity"] = reg.get("diffusion_constant")
    mat = None
    if reg.get("material"):
        mat = case_material(reg)
        extra = {"resistivity": given["resistivity"], "diffusion_constant":
                 given["diffusivity"], "dynes_gamma": given["dynes_gamma"],
                 "coupling": given["coupling"]}
        if given["gap"] is not None:
            extra["delta0"] = given["gap"]
        extra = {k: v for k, v in extra.items() if v is not None}
        if extra:
            mat = mat.with_overrides(**extra)
        if given["gap"] is None and given["delta0"] is None and given["gap_ratio"] is None:
            mat = mat.with_source(_BCS_SOURCE, gap_ratio=BCS_GAP_RATIO)
    if given["gap"] is not None:
        delta0 = float(given["gap"])
    elif given["delta0"] is not None:
        delta0 = float(given["delta0"])
    elif mat is None:
        raise CaseError([f"{path}: regions.{name}: needs gap or material. Fix: add "
                         'gap = "265 ueV" or material = "Al".'])
    else:
        delta0 = mat.gap_ratio * K_B * mat.Tc
    rho = given["resistivity"] if given["resistivity"] is not None else \
        (mat.resistivity if mat is not None else None)
    diff = given["diffusivity"] if given["diffusivity"] is not None else \
        (mat.diffusion_constant if mat is not None else None)
    if rho is None:
        raise _missing(path, name, "resistivity", reg.get("material"))
    if diff is None:
        raise _missing(path, name, "diffusivity", reg.get("material"))
    if given["dynes"] is not None:
        dynes = float(given["dynes"])
        if mat is not None:
            mat = mat.with_overrides(dynes_gamma=dynes / delta0 if delta0 > 0 else 0.0)
    else:
        gamma = given["dynes_gamma"] if given["dynes_gamma"] is not None else \
            (mat.dynes_gamma if mat is not None else None)
        dynes = (gamma or 0.0) * delta0
    theta = given["debye_temperature"] if given["debye_temperature"] is not None else \
        (mat.debye_temperature if mat is not None else None)
    coupling = given["coupling"] if given["coupling"] is not None else \
        (mat.coupling if mat is not None else None)
    return RegionConstants(delta0=delta0, resistivity=float(rho), diffusivity=float(diff),
                           dynes=dynes, coupling=coupling, debye_temperature=theta,
                           material=mat)


@dataclass(frozen=True)
class WireUnits:
    """The wire units (:class:`fvqp.units.WireScales`) as a unit system of the internal
    case: :attr:`scales` gives the SI value of one internal unit per kind (energies in Δ0,
    temperatures as k_B T/Δ0, voltages as eV/Δ0, times in ħ/Δ0, lengths in ξ,
    conductances in 1/R_ξ, currents in I0, cross-sections in the first region's A).

    Examples
    --------
    >>> from fvqp.units import E_CHARGE
    >>> u = WireUnits(WireScales(200e-6 * E_CHARGE, 1e-3, 3e-8, 1e-14))
    >>> round(1e-3 / u.scales["voltage"], 12)  # 1 mV = 5 Δ0/e
    5.0
    """

    wire: WireScales

    @property
    def scales(self) -> dict[str, float]:
        sc = self.wire
        return {"energy": sc.delta0, "temperature": sc.delta0 / K_B,
                "voltage": sc.delta0 / E_CHARGE, "time": HBAR / sc.delta0,
                "rate": sc.delta0 / HBAR, "length": sc.xi, "area": sc.area,
                "conductance": 1.0 / sc.r_xi, "resistance": sc.r_xi, "current": sc.i0}


def reference_gap(case, ref_name: str, ref: RegionConstants) -> float:
    """Δ0 of the wire units [J]: the first region's gap, or for a normal first region the
    first superconducting boundary's gap (or 1.764 k_B T_c of the region's material)."""
    if ref.delta0 > 0:
        return ref.delta0
    gaps = [bc["gap"] for bc in (case.data.get("boundaries") or {}).values()
            if bc["type"] == "superconductor" and bc.get("gap")]
    if not gaps and ref.material is not None:  # normal wire, normal reservoirs
        gaps = [BCS_GAP_RATIO * K_B * ref.material.Tc]
    if not gaps:
        raise CaseError([f"{case.path}: regions.{ref_name}.gap: the first region is "
                         "normal (gap 0) and no superconducting boundary has a gap, so "
                         "there is no energy unit Δ0. Fix: give the superconducting "
                         'boundaries gap = "180 ueV".'])
    return float(gaps[0])


def wire_units(case) -> WireUnits:
    """The wire units of an SI case (``run_model(units=...)``): Δ0, D, ρ and A of its
    first active region."""
    regions = {k: v for k, v in case.data["regions"].items() if v.get("active", True)}
    name = next(iter(regions))
    ref = region_constants(regions[name], name, case.path)
    return WireUnits(WireScales(reference_gap(case, name, ref), ref.diffusivity,
                                ref.resistivity, regions[name]["cross_section"]))

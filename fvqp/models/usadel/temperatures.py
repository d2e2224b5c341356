r"""The temperatures of a usadel case at ``fvqp check``: a superconductor at or above its
T_c is refused, and a bath temperature that no result reads is noted (INFO).

The bath temperature is the temperature of the superconducting reservoirs (f_L = tanh,
f_T = 0), the default temperature of every electrode and normal reservoir without its own,
the phonon temperature of the e-ph collisions (``[collisions] tau0``) and the reference of
Eq. 8 (:func:`.driver.build`). A bias sweep (Ryan et al. 2026, Fig. 10 model) with a fixed
gap, no collisions, no supercurrent and normal electrodes that all carry their own
temperature reads none of it: the reservoirs' f_L decouples from f_T (Eqs. 9-10 without
a phase gradient), and in the current of a normal electrode f_L drops out (Eq. 13). The key
is common to every model and required, so that case is noted (log INFO), not refused
(:func:`bath_unused`).

A region of gap Δ0 > 0 is refused in a bath at or above its T_c (its material's, with the
region's ``Tc`` override; without a material the weak-coupling
:math:`\Delta_0/1.764\,k_B` of the model's gap equation): a fixed gap (mode none) and the
reservoirs that take it would otherwise be computed as a superconductor above T_c. An
electrode with a given ``gap`` and a ``material`` is refused at or above the material's
T_c; with ``material`` alone its BCS Δ(T) is 0 there (:func:`.electrode_case.electrode_gap`),
a normal electrode.

A fixed gap (``selfconsistency.mode = "none"``) of a region with a material and no
``gap`` of its own is Δ0, the gap at T = 0, at every bath temperature: where the
material's BCS gap at the bath (:func:`fvqp.spectra.gap.thermal_gap`, the α model of the
electrodes, closing at the material's T_c) is lower by more than 1 % (above 0.37 T_c:
0.44 K for Al) the check warns (:func:`warn_fixed_gap`), naming Δ(T)/Δ0 and the fix
(the gap as ``gap``, or a self-consistent gap). A warning, not a refusal: a fixed gap
below T_c is a valid model (e.g. a gap measured at the operating point), only its default
value is the zero-temperature one.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from .electrode_case import electrode_tables

log = logging.getLogger(__name__)

__all__ = ["FIXED_GAP_TOLERANCE", "bath_unused", "check_temperatures", "region_tc",
           "warn_fixed_gap"]

#: a fixed gap Δ0 of a material's region is warned about where its BCS gap at the bath
#: is lower than Δ0 by more than this fraction (:func:`warn_fixed_gap`)
FIXED_GAP_TOLERANCE = 0.01


def region_tc(reg: Mapping) -> tuple[float, str] | None:
    """(T_c [K], where it comes from) of a superconducting region table (SI), None for a
    normal region (gap 0) or one whose constants are refused elsewhere."""
    from ...spectra.gap import BCS_GAP_RATIO
    from ...units import K_B
    from .constants import region_constants

    try:
        const = region_constants(reg)
    except (LookupError, TypeError, ValueError):  # reported by the region checks
        return None
    if not const.delta0 > 0:
        return None
    if const.material is not None:
        return const.material.Tc, f"of {const.material.name}"
    return const.delta0 / (BCS_GAP_RATIO * K_B), "= Δ0/1.764 k_B of its gap (no material)"


def check_temperatures(data: Mapping, err) -> None:
    """Refuse (into ``err``) a bath at or above the T_c of an active superconducting
    region (:func:`region_tc`) and an electrode with a given gap at or above its
    material's T_c; note (INFO) when the bath temperature enters no result (:func:`bath_unused`)."""
    from ..base.schema import case_material

    if (data.get("paper") or {}).get("figure"):  # the paper's own set-up, bath included
        return
    T = data["bath"]["temperature"]
    refused = False
    for name, reg in (data.get("regions") or {}).items():
        tc = region_tc(reg or {}) if (reg or {}).get("active", True) else None
        if tc is not None and T >= tc[0]:
            refused = True
            err.add("bath.temperature", f"{T:g} K is at or above Tc = {tc[0]:.4g} K "
                    f"(region {name!r}, {tc[1]}): above its Tc the wire and the "
                    "superconducting reservoirs that take its gap are normal, but the run "
                    "would compute them with the gap Δ0.",
                    f"give a bath temperature below {tc[0]:.4g} K, or the film's own Tc "
                    f"(regions.{name}.Tc, with its material), or gap = \"0 ueV\" for a "
                    "normal region.")
    for key, tab in electrode_tables(data):
        if not (tab.get("gap") and tab.get("material")):
            continue
        try:
            tc = case_material(tab).Tc
        except (LookupError, TypeError, ValueError):  # an unknown material: reported
            continue
        t_e = tab.get("temperature") or T
        if t_e >= tc:
            refused = True
            own = "" if tab.get("temperature") else " (the bath's, by default)"
            err.add(f"{key}.gap", f"the electrode's temperature {t_e:g} K{own} is at or "
                    f"above Tc = {tc:g} K of its material {tab['material']}: the given gap "
                    "would make a normal electrode superconducting.",
                    f"give a temperature below {tc:g} K, or remove gap (the material's "
                    "BCS gap is then 0 above Tc: a normal electrode).")
    if not refused:
        warn_fixed_gap(data, err.file)
    why = None if refused else bath_unused(data)
    if why:
        # a note, not a warning: the physics is right (nothing couples to the bath) and
        # the key is required, so a shipped case must not warn on every run
        log.info("%s: bath.temperature: %g K enters no result of this run: %s. Fix: "
                    "nothing if intended (the key is required); for the bath to act, leave "
                    "an electrode's temperature out (it defaults to the bath), or add "
                    "[collisions] tau0 (e-ph relaxation toward the bath) or a self-"
                    "consistent gap (selfconsistency.mode = \"local\").", err.file, T, why)


def warn_fixed_gap(data: Mapping, file: str) -> None:
    """Warn (log WARNING, naming ``file``) when a fixed gap (``selfconsistency.mode =
    "none"``) that the case does not give keeps a region's Δ0 in a bath where its
    material's BCS gap is lower by more than :data:`FIXED_GAP_TOLERANCE` (module
    docstring). Not refused: a fixed gap is a valid model (the fix is one key)."""
    from ...spectra.gap import thermal_gap
    from ...units import E_CHARGE, K_B
    from .constants import region_constants

    if (data.get("selfconsistency") or {}).get("mode", "local") != "none":
        return
    T = data["bath"]["temperature"]
    for name, reg in (data.get("regions") or {}).items():
        if not reg or not reg.get("active", True) or reg.get("gap") is not None \
                or not reg.get("material"):
            continue
        try:
            const = region_constants(reg)
        except (LookupError, TypeError, ValueError):  # reported by the region checks
            continue
        mat = const.material
        if not const.delta0 > 0 or T >= mat.Tc:  # above Tc: refused (check_temperatures)
            continue
        alpha = const.delta0 / (K_B * mat.Tc)
        ratio = float(thermal_gap(T / mat.Tc, 1.0, alpha, "alpha")) / alpha
        if ratio < 1.0 - FIXED_GAP_TOLERANCE:
            ueV = E_CHARGE * 1e-6
            log.warning(
                "%s: bath.temperature: %g K = %.3g Tc of region %r (%s, Tc = %.4g K): the "
                "fixed gap (selfconsistency.mode = \"none\") keeps Δ0 = %.4g ueV, but "
                "the BCS gap at the bath is Δ(T)/Δ0 = %.3f (%.4g ueV). Fix: give the gap "
                "the run should take, gap = \"%.4g ueV\" under [regions.%s], or a "
                "self-consistent gap (selfconsistency.mode = \"local\").",
                file, T, T / mat.Tc, name, mat.name, mat.Tc, const.delta0 / ueV, ratio,
                ratio * const.delta0 / ueV, ratio * const.delta0 / ueV, name)


def bath_unused(data: Mapping) -> str | None:
    """Why no result of the case ``data`` depends on the bath temperature (module
    docstring), or None if one may."""
    sw = data.get("sweep") or {}
    if (data.get("fit") or {}).get("data") or not (sw.get("junction") or
                                                    sw.get("reservoir")):
        return None  # a fit uses it (Eq. 6); a single state reports heat flows (f_L)
    if (data.get("selfconsistency") or {}).get("mode", "local") != "none":
        return None  # Eq. 8 reads f_L
    coll = data.get("collisions") or {}
    if coll.get("gamma_ee") or coll.get("tau0"):
        return None  # collisions couple f_L and f_T (and e-ph relaxes to the bath)
    bcs = {n: bc or {} for n, bc in (data.get("boundaries") or {}).items()}
    if sw.get("supercurrents") or any(bc.get("phase") is not None for bc in bcs.values()) \
            or any((r or {}).get("phase_gradient") for r in data["regions"].values()):
        return None  # a supercurrent couples f_L to f_T (Eqs. 9-10)
    tabs = [t for _, t in electrode_tables(data)]
    if any(t.get("gap") or t.get("material") for t in tabs):
        return None  # a superconducting electrode's current reads f_L
    if any(t.get("temperature") is None
           for _, t in electrode_tables(data, ("normal", "tunnel"))):
        return None  # an electrode or normal reservoir at the bath temperature
    return ("it sets at most the f_L of the superconducting reservoirs, which this bias sweep "
            "(fixed gap, no collisions, no supercurrent, normal electrodes at their own "
            "temperatures) does not read")

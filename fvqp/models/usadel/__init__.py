r"""Usadel wires: spectral and kinetic (fL, fT) equations on 1D wire networks with NIS
and SIS' tunnel junctions, self-consistent Δ(x), electron–electron collisions and nonlocal
conductance.

Physics: Ryan, Beckmann & Chandrasekhar (2026), Secs. II, V and App. B
(``/work/shared/references/ryan2026_nonlocal_tunneling_usadel.txt``). Units inside the
model: Δ0, ξ, R_ξ, I0 (:class:`fvqp.units.WireScales`). See ``docs/theory_usadel.md``.

Modules
-------
constants      the material constants of every region (Material + case overrides) and
               the wire units (Δ0, ξ, R_ξ, I0) the case is converted to once
network        wire networks from 1D meshes (vertex-centred finite volumes)
bulk           uniform Dynes/Abrikosov–Gor'kov solution of Eq. 1
spectral       retarded Usadel equation on the network, all energies at once
phase          the same with the phase χ as unknown (S reservoirs at different phases)
vector         unit-vector spectral solver (reaches a phase difference π; spectral only)
matsubara      Matsubara-axis solvers: SNS supercurrent check; Eq. 8 as a Matsubara sum
               on the network (method matsubara), T_c from the coupling
energygrid     uniform and gap-edge-graded energy grids ([energy] grid)
regrid         collision integrals of a graded grid on a uniform fine grid (conservative)
progress       progress of bias sweeps (the run template's Progress: bar on a terminal,
               log lines otherwise)
terminals      reservoirs and tunnel junctions (Eqs. 3, 11, 12); wire ends (zero flux,
               tunnel) are set up in driver
tunnel         gap-edge-aware energy quadrature of the tunnel terms
electrode      tunnel terms of normal and superconducting electrodes (incoherent QP
               tunnelling, N_e(ε ± eV)), their bias derivative
electrode_case the electrode keys of a case's junctions and tunnel ends
temperatures   what ``fvqp check`` refuses of the temperatures (a superconductor at or
               above its T_c) and a bath temperature that no result reads
kinetic        Eqs. 9–10 without collisions (energies decoupled, one sparse LU)
collisions     e–e collision integral (Bobkova & Bobkov Eq. 16, reconstructed)
inelastic      Eqs. 9–10 with collisions, Newton–Krylov with PETSc SNES
selfconsistent Δ(x) from Eq. 8, bias sweeps
observables    Q*, μ_Q*, tunnel and supercurrents, Eqs. 13–21
fitting        fits of Γ, ∂xφ, I0 with Eq. 21 / Eq. 6 (Fig. 10)
driver         case files -> set-up, sweeps and states (bias sweeps checkpointed)
outputs        HDF5 (energies in µeV), PNG, VTK and summary.json of a run
keys           the key numbers of a run (Δ at the centre, currents, balances)
paper          the App. B set-ups of the paper's figures
figures        the paper's Figs. 10-13 as case runs
triplets       COO accumulator of the spectral Jacobians
"""

from __future__ import annotations

from ...case.schema import Field, Section, TableOf
from ..base.schema import check_material_overrides, material_overrides
from ..spec import ModelSpec
from .electrode_case import ELECTRODE_FIELDS, check_electrodes
from .temperatures import check_temperatures

_REGION = Section({
    "material": Field("str", "material name (materials.toml): the default of every "
                      "material constant below (the gap 1.764 k_B Tc of its Tc)"),
    "active": Field("bool", "false leaves the region out", default=True),
    "cross_section": Field("quantity", "wire cross-section", dimension="area", positive=True),
    "resistivity": Field("quantity", "normal-state resistivity (default: the material's; "
                         "recorded as \"case override\")", dimension="resistivity",
                         positive=True, internal="si"),
    "diffusivity": Field("quantity", "normal-state diffusion constant D_N (default: the "
                         "material's diffusion_constant; recorded as \"case override\")",
                         dimension="diffusivity", positive=True, internal="si"),
    "gap": Field("quantity", "zero-temperature gap Δ0 (or delta0 / gap_ratio; default "
                 "1.764 k_B Tc of the material); 0 makes the region a normal metal",
                 dimension="energy", nonnegative=True, internal="si"),
    "dynes": Field("quantity", "Dynes broadening Γ (or dynes_gamma = Γ/Δ0; default: the "
                   "material's dynes_gamma, else 0)", dimension="energy",
                   nonnegative=True, internal="si"),
    **material_overrides("Tc", "gap_ratio", "debye_temperature", "diffusion_constant",
                         "dynes_gamma", "coupling",
                         hints={"dynes_gamma": "instead of dynes (one Γ per network)",
                                "coupling": "the cut-off of Eq. 8, instead of "
                                "selfconsistency.omega_d"}),
    "depairing": Field("quantity", "depairing energy ζ besides the phase gradient",
                       dimension="energy", default=0.0, nonnegative=True, internal="energy"),
    "phase_gradient": Field("float", "phase gradient ∂xφ in units of 1/ξ along the mesh "
                            "cell orientation (Eq. 7: ζ = (∂xφ)²/2)", default=0.0),
})

_BOUNDARIES = {
    "superconductor": Section({
        "gap": Field("quantity", "reservoir gap (default the wire's Δ0)", dimension="energy",
                     positive=True, internal="energy"),
        "phase": Field("float", "order-parameter phase of the reservoir in rad; setting it "
                       "on any superconducting boundary solves the spectral equation with "
                       "the phase χ as an unknown (phase-biased SNS / networks)"),
    }, doc="clean contact to a superconducting reservoir (fL = tanh, fT = 0)"),
    "normal": Section({
        "bias": Field("quantity", "reservoir voltage", dimension="voltage", default=0.0),
        "temperature": Field("quantity", "reservoir temperature (default bath)",
                             dimension="temperature", positive=True),
    }, doc="clean contact to a normal reservoir (θ = 0, Eq. 12)"),
    "zero_flux": Section({}, doc="open wire end: no spectral, energy or charge current "
                         "through it (∂xθ = ∂x fL = ∂x fT = 0; docs/theory_usadel.md)"),
    "tunnel": Section({
        "conductance": Field("quantity", "normal-state tunnel conductance G_T of the end's "
                             "barrier (each end of an ``unlabelled`` group gets it)",
                             dimension="conductance", required=True, positive=True),
        "bias": Field("quantity", "electrode voltage", dimension="voltage", default=0.0),
        "temperature": Field("quantity", "electrode temperature (default bath)",
                             dimension="temperature", positive=True),
        **ELECTRODE_FIELDS,
    }, doc="wire end closed by a tunnel barrier to a normal (or, with gap/material, a "
           "superconducting) electrode (Kupriyanov–Lukichev/Nazarov condition, Eqs. 11-12; "
           "G_T → 0 is zero_flux)"),
}

_JUNCTION = Section({
    "conductance": Field("quantity", "normal-state tunnel conductance G_T (a segment "
                         "junction: the total, spread uniformly)", dimension="conductance",
                         positive=True),
    "conductance_per_length": Field("float", "segment junctions: normal-state tunnel "
                                    "conductance per length G'_T in S/m", positive=True),
    "bias": Field("quantity", "electrode voltage", dimension="voltage", default=0.0),
    "temperature": Field("quantity", "electrode temperature (default bath)",
                         dimension="temperature", positive=True),
    "in_solve": Field("bool", "include the junction in the kinetic solve (false: a "
                      "non-invasive detector, as in the paper)", default=True),
    **ELECTRODE_FIELDS,
}, doc="tunnel junction to a normal electrode (NIS; with gap/material a superconducting "
       "one, SIS') at a named mesh point, or spread over a named mesh segment "
       "(a physical line group, declared as a region) with a conductance per length "
       "(Eq. 11)")

_SECTIONS = {
    "junctions": TableOf(_JUNCTION, "tunnel junctions, [junctions.<point group>] or "
                         "[junctions.<segment (line group)>]"),
    "energy": Section({
        "spacing": Field("float", "energy-grid spacing in units of Δ0 (the largest "
                         "spacing of a graded grid)", default=0.025, positive=True),
        "grid": Field("str", "uniform steps, or graded: steps that shrink geometrically "
                      "towards the gap edges ±Δ0 down to energy.min_spacing (with "
                      "collisions, their integrals are evaluated on the uniform grid of "
                      "step min_spacing and restricted conserving number and energy)",
                      default="uniform", choices=("uniform", "graded")),
        "min_spacing": Field("float", "smallest step of a graded grid at ±Δ0, in units "
                             "of Δ0", default=0.002, positive=True),
        "max": Field("float", "grid half-width in units of Δ0 (default max(ω_D, bias "
                     "range + 1)); a given value must reach every bias + 10 kT of the "
                     "hottest electrode (else the run is refused)", positive=True),
    }),
    "selfconsistency": Section({
        "mode": Field("str", "Δ(x) from fL on every node (local), Δ constant from fL at "
                      "the probe node (uniform, the paper's App. B), or fixed (none)",
                      default="local", choices=("local", "uniform", "none")),
        "omega_d": Field("float", "Debye cut-off ω_D in units of Δ0 (λ = 1/arcsinh ω_D)",
                         default=10.0, positive=True),
        "coupling": Field("float", "BCS coupling λ (N0V) instead of omega_d: ω_D = "
                          "sinh(1/λ) Δ0, so that the T = 0 bulk gap is Δ0", positive=True),
        "debye_from_material": Field("bool", "ω_D = k_B Θ_D of the first region's material "
                                     "(materials.toml) instead of omega_d; best with "
                                     "method matsubara (Al: ω_D ≈ 200 Δ0)", default=False),
        "method": Field("str", "Eq. 8 on the real axis up to ω_D, or its equilibrium part "
                        "as a Matsubara sum on the network plus the nonequilibrium part "
                        "on the real-axis grid (which then need not reach ω_D)",
                        default="real_axis", choices=("real_axis", "matsubara")),
        "probe": Field("str", "point group whose fL sets Δ in mode uniform"),
        "tolerance": Field("float", "max |ΔΔ|/Δ0", default=1e-7, positive=True),
        "max_iterations": Field("int", "iterations of Eq. 8 per state before the run "
                                "stops with a convergence error", default=60, positive=True),
    }),
    "collisions": Section({
        "gamma_ee": Field("float", "e-e rate γ_ee = ħ/(Δ0 τ_ee), τ_ee the normal-state "
                          "relaxation time at the Fermi level at Tc (a lifetime: use "
                          "2ħ/(Δ0 τ_ee); docs/theory_usadel.md) (0: no collisions)",
                          default=0.0, nonnegative=True),
        "tau0": Field("quantity", "Kaplan's electron-phonon time τ0: adds the e-ph "
                      "collision integral with phonons at the bath temperature",
                      dimension="time", positive=True),
        "spacing": Field("float", "graded energy grids: the step, in units of Δ0, of the "
                         "uniform grid on which the collision integrals are evaluated "
                         "(default energy.min_spacing; coarser is cheaper, the FFT length "
                         "being 2 max/spacing, but samples the coherence peak at that "
                         "step: the open-wire case's energy loss to phonons is 1.2 % off "
                         "at 0.002 and 41 % at 0.01, as on a uniform grid of that step)",
                         positive=True),
    }),
    "sweep": Section({
        "junction": Field("str", "junction whose bias is swept (the injector)"),
        "reservoir": Field("str", "normal boundary whose bias is swept instead of a "
                           "junction (its current into the wire is i_inj)"),
        "start": Field("quantity", "first bias", dimension="voltage"),
        "stop": Field("quantity", "last bias", dimension="voltage"),
        "points": Field("int", "number of biases", default=21, positive=True),
        "detector": Field("str", "junction read out as detector (Eq. 14)"),
        "detector_biases": Field("list", "detector biases", item=Field(
            "quantity", dimension="voltage"), default=[0.0]),
        "supercurrents": Field("list", "supercurrents along the wire (cell orientation); "
                               "each is swept at ±I_s with the phase gradients that carry "
                               "it (Eqs. 6-7), giving g_a, g_s, g_sa, g_ss (Eqs. 16-19)",
                               item=Field("quantity", dimension="current"), default=[]),
    }),
    "fit": Section({
        "data": Field("path", "measured g_ss/(G_inj G_det) (Ω) vs V_inj (V), CSV, relative "
                      "to the case file: column 1 bias, one column per supercurrent; "
                      "giving it makes the run a fit"),
        "injector": Field("str", "injector junction (point group)"),
        "detector": Field("str", "detector junction (point group)"),
        "supercurrents": Field("list", "supercurrent of every g_ss column; the first must "
                               "be 0 (it fixes Γ)", item=Field("quantity",
                                                                 dimension="current"),
                               default=[0.0]),
        "bias_max": Field("float", "fit |eV_inj| < bias_max Δ0 (the initial rise)",
                          default=1.5, positive=True),
        "branches": Field("str", "Eq. 21 with the two branches ending at the reservoirs at "
                          "their mesh distances (mesh) or infinite (as printed)",
                          default="mesh", choices=("mesh", "infinite")),
        "gamma_guess": Field("float", "start value of Γ/Δ0", default=1e-3, positive=True),
    }, doc="fit Γ, ∂xφ and I0 of Eq. 21 / Eq. 6 to measured g_ss (paper Fig. 10)"),
    "paper": Section({
        "figure": Field("str", "reproduce a figure of Ryan et al. (2026) with the model "
                        "set-up of its App. B (the rest of the case is then unused)",
                        choices=("fig10", "fig11", "fig12", "fig13")),
        "v_max": Field("float", "largest |eV_inj|/Δ0", default=5.0, positive=True),
        "points": Field("int", "number of injector biases", default=51, positive=True),
        "spacing": Field("float", "energy spacing / Δ0", default=0.025, positive=True),
        "cells": Field("int", "cells of the half wire (figs. 11, 12)", default=85,
                       positive=True),
        "gamma": Field("float", "Dynes Γ/Δ0", default=0.005, positive=True),
        "gamma_ee": Field("float", "e-e rate γ_ee", default=2e-4, nonnegative=True),
        "supercurrents_uA": Field("list", "supercurrents (µA) of figs. 10, 13",
                                  item=Field("float"), default=[0.0, 5.0, 10.0]),
        "v_det_max": Field("float", "largest |eV_det|/Δ0 (fig. 12)", default=1.5,
                           positive=True),
        "det_points": Field("int", "detector biases (fig. 12)", default=31, positive=True),
    }),
}

#: VTK cell fields: gap (µeV, as every model), μ_Q* (V), charge current along the cell
#: orientation (A, single steady states only), region id (names in the field data
#: ``region_names``); points in metres (outputs.VTK_UNITS).
#: The spectral coefficients N, D_L, D_T, R_T, j_ε of every (ε, x) are in the HDF5 file.
FIELDS = ("gap", "charge_imbalance_potential", "charge_imbalance", "charge_current",
          "region")


def _required_boundaries(geo, active) -> list[str]:
    return list(geo.boundary_names)


#: counts of the schema: (section, key, smallest value, what it counts, example fix)
_COUNTS = (
    ("sweep", "points", 1, "biases of the sweep", "points = 21"),
    ("selfconsistency", "max_iterations", 1, "iterations of Eq. 8 per state",
     "max_iterations = 60"),
    ("paper", "points", 1, "injector biases of the figure", "points = 51"),
    ("paper", "cells", 1, "cells of the half wire", "cells = 85"),
    ("paper", "det_points", 1, "detector biases of Fig. 12", "det_points = 31"),
)


def _check_counts(data, err) -> None:
    """Every count of the schema at least its minimum (zero or negative counts would end
    in a traceback after the run started: ``points = 0`` gives an empty sweep)."""
    for section, key, low, what, fix in _COUNTS:
        v = (data.get(section) or {}).get(key)
        if isinstance(v, int) and v < low:
            err.add(f"{section}.{key}", f"is the number of {what}; it must be at least "
                    f"{low}, got {v}.", f"set e.g. {fix} in [{section}].")
    sw = data.get("sweep") or {}
    if sw.get("detector") and not sw.get("detector_biases"):
        err.add("sweep.detector_biases", "is empty: the detector current is evaluated at "
                "these biases.", 'give at least one, e.g. detector_biases = ["0 V"].')
    pap = data.get("paper") or {}
    fig = pap.get("figure")
    if fig in ("fig10", "fig13") and not pap.get("supercurrents_uA"):
        err.add("paper.supercurrents_uA", f"is empty: {fig} draws one curve per "
                "supercurrent.", "give e.g. supercurrents_uA = [0.0, 5.0, 10.0].")
    elif fig in ("fig10", "fig13") and all(isinstance(c, (int, float))
                                          for c in pap["supercurrents_uA"]):
        from .gradients import CriticalCurrentError, gradient_for_current
        from .paper import BATH, I0_FIT, TABLE1

        top = max(abs(c) for c in pap["supercurrents_uA"])
        try:
            gradient_for_current(top * 1e-6 / I0_FIT, 1.0, 1.0, 1.0, 0.0, TABLE1.t(BATH))
        except CriticalCurrentError as exc:
            i_c = exc.critical * I0_FIT * 1e6
            err.add("paper.supercurrents_uA", f"|I_s| = {top:g} µA exceeds the depairing "
                    f"current of the paper's wire, I_c = {i_c:.2f} µA (Eq. 6 with I0 = "
                    f"{I0_FIT * 1e6:.1f} µA at {BATH * 1e3:.0f} mK): no uniform state "
                    "carries it.",
                    f"give supercurrents with |I_s| <= {int(i_c * 100) / 100:.2f} µA.")
    if fig == "fig12" and pap.get("points") == 1:  # g_sa = dI_det/dV_inj needs two biases
        err.add("paper.points", "fig12 differentiates the detector current in V_inj "
                "(g_sa), which needs at least 2 injector biases, got 1.",
                "set e.g. points = 51 in [paper].")


def _check_energy_grid(data, err) -> None:
    """The energy grid ±max in steps of spacing (driver) must have energies besides 0:
    the Usadel integrals run over the whole axis (Eqs. 4–6, 8, 13, 14); so must the
    grids of the ``[paper]`` figures (paper.py)."""
    pap = data.get("paper") or {}
    fig = pap.get("figure")
    if fig:  # the figures' grids: ±(v_max + 0.5) (fig10), ±ω_D = ±10 (11, 12), ±3 (13)
        half = {"fig10": pap.get("v_max", 5.0) + 0.5, "fig13": 3.0}.get(fig, 10.0)
        if pap.get("spacing", 0.0) > half:
            err.add("paper.spacing", f"{pap['spacing']:g} Δ0 is larger than the half-width "
                    f"{half:g} Δ0 of the {fig} energy grid: the grid would be the single "
                    "energy ε = 0.", "lower paper.spacing (default 0.025).")
    en = data.get("energy") or {}
    de, emax = en.get("spacing"), en.get("max")
    if emax is None:  # the default max is at least ω_D (driver.build)
        emax = (data.get("selfconsistency") or {}).get("omega_d")
        if emax is None or de is None or de <= emax:
            return
        err.add("energy.spacing", f"{de:g} Δ0 is larger than ω_D = {emax:g} Δ0 (the "
                "least default energy.max): the grid could be the single energy ε = 0.",
                "lower energy.spacing (default 0.025) or give energy.max.")
        return
    if de is not None and de > emax:
        err.add("energy.spacing", f"{de:g} Δ0 is larger than energy.max = {emax:g} Δ0: the "
                "grid −max…max in these steps is the single energy ε = 0, on which every "
                "current and μ_Q* vanish.", "lower energy.spacing (default 0.025) below "
                "energy.max.")
    _check_reach(data, err, emax)


def _check_reach(data, err, emax: float) -> None:
    """An ``[energy] max`` that holds every bias and its electrode's Fermi window
    (:func:`.gridreach.tunnel_reach`, in Δ0 of the first region, the wire's unit; the
    default max of :func:`.driver.build` holds it)."""
    import math

    from ...units import E_CHARGE, K_B
    from .constants import region_constants
    from .gridreach import tunnel_reach

    regions = [r for r in data["regions"].values() if r.get("active", True)]
    try:
        delta0 = region_constants(regions[0]).delta0
    except (LookupError, TypeError, ValueError):  # reported by the region checks
        return
    if not delta0 > 0:
        return
    reach, where = tunnel_reach(data, data["bath"]["temperature"], E_CHARGE / delta0,
                                K_B / delta0)
    if emax < reach * (1 - 1e-12):
        up = math.ceil(reach * 1e3 - 1e-9) / 1e3
        err.add("energy.max", f"the grid ends at {emax:g} Δ0 but {where} reaches "
                f"{up:g} Δ0.", f"raise energy.max to {up:g}, or leave it out (the default "
                "holds it).")


def _check(data, err) -> None:
    _check_counts(data, err)
    _check_energy_grid(data, err)
    check_electrodes(data, err)
    en = data.get("energy") or {}
    cs = (data.get("collisions") or {}).get("spacing")
    if cs is not None and en.get("grid") != "graded":
        err.add("collisions.spacing", "sets the collision grid of a graded energy grid; "
                "a uniform grid evaluates the integrals on its own steps.",
                'remove it, or use grid = "graded" in [energy].')
    elif cs is not None and cs > en.get("spacing", 0.025):
        err.add("collisions.spacing", f"{cs:g} Δ0 is coarser than the graded grid's largest "
                f"step energy.spacing = {en.get('spacing', 0.025):g} Δ0.",
                "give a step between energy.min_spacing and energy.spacing.")
    if en.get("grid") == "graded" and en.get("min_spacing", 0.002) > en.get("spacing", 0.025):
        err.add("energy.min_spacing", f"{en['min_spacing']:g} Δ0 is larger than "
                f"energy.spacing = {en.get('spacing', 0.025):g} Δ0 (the largest step).",
                "lower min_spacing below spacing.")
    sw = data.get("sweep") or {}
    if sw.get("junction") and sw.get("reservoir"):
        err.add("sweep.reservoir", "a sweep varies one bias: give junction or reservoir, "
                "not both.", "remove one of them.")
    if sw.get("reservoir"):
        bcs = data.get("boundaries") or {}
        normal = sorted(k for k, b in bcs.items() if (b or {}).get("type") == "normal")
        if (bcs.get(sw["reservoir"]) or {}).get("type") != "normal":
            err.add("sweep.reservoir", f"{sw['reservoir']!r} is not a [boundaries.*] table "
                    f"of type normal (those are {normal}); only a normal reservoir has a "
                    "bias.", "name a normal boundary, or sweep a junction.")
    if (sw.get("junction") or sw.get("reservoir")) and \
            (sw.get("start") is None or sw.get("stop") is None):
        err.add("sweep", "a sweep needs start and stop biases.",
                'add start = "-1 mV" and stop = "1 mV".')
    sc = data.get("selfconsistency") or {}
    if sc.get("coupling") and sc.get("debye_from_material"):
        err.add("selfconsistency.coupling", "and debye_from_material both fix ω_D.",
                "give one of them.")
    if sc.get("debye_from_material"):
        regs = [r for r in (data.get("regions") or {}).values() if r]
        if not regs or not regs[0].get("material"):
            err.add("selfconsistency.debye_from_material", "needs the first region's "
                    "material (its Debye temperature).", 'add material = "Al" to it.')
    bcs = (data.get("boundaries") or {}).values()
    if sc.get("method") == "matsubara" and any((b or {}).get("phase") is not None
                                               for b in bcs):
        err.add("selfconsistency.method", "matsubara is not available with phase-biased "
                "reservoirs (the Matsubara solver has no phase unknown).",
                'use method = "real_axis" or remove the boundaries\' phase.')
    if sc.get("mode") == "uniform" and not sc.get("probe"):
        err.add("selfconsistency.probe", "mode uniform needs the point whose fL sets Δ.",
                'add probe = "junction_b" (the injector in the paper).')
    for name, j in (data.get("junctions") or {}).items():
        if j and (j.get("conductance") is None) == (j.get("conductance_per_length") is None):
            err.add(f"junctions.{name}", "needs exactly one of conductance (a point or the "
                    "total of a segment) and conductance_per_length (a segment).",
                    'add conductance = "20 uS" (or conductance_per_length = 1e-3 for S/m).')
    junctions = data.get("junctions") or {}
    for key in ("junction", "detector"):
        name = sw.get(key)
        if name and name not in junctions:
            err.add(f"sweep.{key}", f"{name!r} is not a [junctions.*] table of the case "
                    f"(there are {sorted(junctions)}).", "name one of them.")
    if sw.get("junction") in junctions and not junctions[sw["junction"]].get("in_solve", True):
        err.add("sweep.junction", f"{sw['junction']!r} has in_solve = false: its bias would "
                "not change the state.", "sweep a junction with in_solve = true.")
    if sw.get("supercurrents"):
        if not sw.get("detector"):
            err.add("sweep.supercurrents", "a supercurrent map needs a detector junction.",
                    'add detector = "junction_b" to [sweep].')
        if any((r or {}).get("phase_gradient") for r in (data.get("regions") or {}).values()):
            err.add("sweep.supercurrents", "excludes a fixed regions.*.phase_gradient (the "
                    "gradients follow from the supercurrents).",
                    "remove phase_gradient from the regions.")
        if any(bc.get("phase") is not None for bc in (data.get("boundaries") or {}).values()):
            err.add("sweep.supercurrents", "cannot be combined with boundary phases (the "
                    "phase is then solved for).", "remove the boundaries' phase.")
    fit = data.get("fit") or {}
    if fit.get("data") and fit["supercurrents"] and fit["supercurrents"][0] != 0:
        err.add("fit.supercurrents", "the first g_ss column must be the one at I_s = 0 "
                "(it fixes Γ, Sec. V).", 'start the list with "0 A" and the data with that '
                "column.")
    if fit.get("data"):
        for key in ("injector", "detector"):
            if not fit.get(key):
                err.add(f"fit.{key}", "required for a fit.", f'add {key} = "junction_a".')
            elif fit[key] not in (data.get("junctions") or {}):
                err.add(f"fit.{key}", f"{fit[key]!r} is not a [junctions.*] table of the "
                        "case.", f"add [junctions.{fit[key]}] or name an existing one.")
    active = [(n, r) for n, r in (data.get("regions") or {}).items()
              if r and r.get("active", True)]
    for key in ("dynes", "dynes_gamma", "depairing", "coupling"):  # one Γ, ζ0, ω_D
        for name, reg in active[1:]:
            if reg.get(key) != active[0][1].get(key):
                err.add(f"regions.{name}.{key}", f"differs from the first region "
                        f"({active[0][0]}); the model has one {key} value for the network.",
                        f"give every region the same {key} (the first region's is used).")
    for name, reg in (data.get("regions") or {}).items():
        _check_region(name, reg or {}, sc, err)
    check_temperatures(data, err)


def _check_region(name: str, reg: dict, sc: dict, err) -> None:
    """The material constants of one region: each given once, and those without a
    material default given (constants.region_constants)."""
    gaps = [k for k in ("gap", "delta0", "gap_ratio") if reg.get(k) is not None]
    if len(gaps) > 1:
        err.add(f"regions.{name}.{gaps[1]}", f"the gap is given twice ({' and '.join(gaps)}).",
                "keep one of gap (an energy), delta0 or gap_ratio (Δ0/k_B Tc).")
    else:
        check_material_overrides(reg, f"regions.{name}", err)
    if reg.get("dynes") is not None and reg.get("dynes_gamma") is not None:
        err.add(f"regions.{name}.dynes_gamma", "the Dynes broadening is given twice (dynes "
                "and dynes_gamma).", "keep one of dynes (Γ, an energy) or dynes_gamma (Γ/Δ0).")
    if reg.get("diffusivity") is not None and reg.get("diffusion_constant") is not None:
        err.add(f"regions.{name}.diffusion_constant", "D_N is given twice (diffusivity and "
                "diffusion_constant).", "keep one of them (the same constant).")
    if reg.get("coupling") is not None and sc.get("coupling"):
        err.add(f"regions.{name}.coupling", "and selfconsistency.coupling both fix ω_D.",
                "give one of them.")
    if not reg.get("material"):
        if reg.get("gap") is None and reg.get("delta0") is None:
            err.add(f"regions.{name}", "needs gap or material.", 'add gap = "265 ueV".')
        for key, ex in (("resistivity", '"3e-8 Ohm m"'), ("diffusivity", '"16 cm^2/s"')):
            if reg.get(key) is None and (key != "diffusivity" or
                                         reg.get("diffusion_constant") is None):
                err.add(f"regions.{name}.{key}", "is required without a material (the "
                        "database default).", f"add {key} = {ex} or a material.")
        for key in ("Tc", "gap_ratio", "debye_temperature"):
            if reg.get(key) is not None:
                err.add(f"regions.{name}.{key}", "overrides a material constant, but the "
                        "region has no material.", 'add material = "Al" or remove it.')


def _check_given(raw, err) -> None:
    """A time-dependent run asked for (``[time] steady = false``, or an ``end``
    without ``steady``): usadel solves for steady states only, and ran them without a
    word. The ``[time]`` and ``[output]`` keys of time steps in a steady case are the
    loader's."""
    t = raw.get("time") if isinstance(raw.get("time"), dict) else {}
    if t.get("steady") is False or ("end" in t and "steady" not in t):
        err.add("time.steady", "usadel solves for steady states only (single states, bias "
                "sweeps, fits): there is no time-dependent run, and the run does not read "
                "[time] beyond steady.", "set steady = true under [time] and remove the "
                "other [time] keys.")


def _check_files(data, case_dir, err) -> None:
    from .fitcase import check_files

    check_files(data, case_dir, err)


SPEC = ModelSpec(
    name="usadel", region_schema=_REGION, boundary_types=_BOUNDARIES, fields=FIELDS,
    required_boundaries=_required_boundaries, sections=_SECTIONS, check=_check,
    check_given=_check_given, check_files=_check_files,
    digest_exempt=("selfconsistency.max_iterations", "output.figures"),
    unused_sections=("units",),  # the wire units of the first region (constants.wire_units)
    dimension_keys={1: ("cross_section",)},
    dimension_doc={"cross_section": 'e.g. "1200 nm^2"'},
)


def run(case, output_dir: str | None = None, resume: bool = False,
        max_steps: int | None = None):
    """Run a validated usadel case; see :func:`fvqp.models.usadel.driver.run`.

    Bias sweeps (``[sweep]``, and the self-consistent sweeps of ``[paper] figure`` fig11
    and fig12) checkpoint every finished bias: ``resume`` continues a killed run,
    ``max_steps`` stops after that many new biases. Single states and the fast figures
    (fig10, fig13) have nothing to resume. Returns a
    :class:`~fvqp.models.base.ModelResult`.
    """
    from ..base import run_model
    from .constants import wire_units

    units = None if (case.data.get("paper") or {}).get("figure") else wire_units
    return run_model("usadel", _run_usadel, case, output_dir, resume=resume,
                     max_steps=max_steps, units=units)


def _run_usadel(case, output_dir: str | None = None, resume: bool = False,
                max_steps: int | None = None) -> dict:
    if (_data(case).get("fit") or {}).get("data"):
        if resume or max_steps is not None:
            raise ValueError(f"{case.path}: a [fit] case takes seconds and is not "
                             "checkpointed. Fix: run it without --resume / --max-steps.")
        from .fitcase import run_fit

        return run_fit(case, output_dir=output_dir)
    if (_data(case).get("paper") or {}).get("figure"):
        from .figures import run_figure

        return run_figure(case, output_dir=output_dir, resume=resume, max_steps=max_steps)
    from . import driver

    return driver.run(case, output_dir=output_dir, resume=resume, max_steps=max_steps)


def _data(case):
    """The values of an SI case or of an internal case (wire units)."""
    return case.values if hasattr(case, "values") else case.data

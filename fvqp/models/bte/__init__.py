r"""Angle-resolved quasiparticle transport on device meshes by discrete ordinates.

The unknown is the QP occupation :math:`f(\mathbf r, E, \Omega)` per cell, energy bin (the
transport model's absolute grid above the gap) and ordinate of an angular quadrature
(in-plane circle for 2D films, Gauss–Legendre x azimuth sphere in 3D). Conservative
upwind streaming :math:`\nabla\cdot(\rho v\,\Omega f)` with :math:`\rho v = v_F` (BCS),
isotropic elastic impurity scattering with mean free path :math:`\ell` per region
(diffusion limit :math:`D = v\ell/2` in 2D, :math:`v\ell/3` in 3D), trap regions with a
trapping rate, and specular, diffuse, absorbing and bath walls. Without collisions the
energies decouple: steady state or fixed-step backward Euler / BDF2 bin by bin, PETSc GMRES
with block-Jacobi LU, ``checkpoint.h5`` per finished bin and every ``checkpoint_every``
steps, ``--resume``. ``[collisions] enabled``: inelastic electron–phonon collisions per
direction (:mod:`fvqp.collisions.angular`, notes Eq. 179) with bath or local phonons; the
whole (cell, energy, ordinate) system is then solved by Newton–Krylov
(:mod:`.inelastic`, :mod:`.coupled`). BCS or Eliashberg (``[spectrum] kind``) spectral
weights. ``[slices] energies`` with the output field ``f_slices``: cell fields
``f_slice_<k>``, the angle average :math:`\bar f` of the bin whose node is nearest to each
energy (the nodes used: ``slice_energies_ueV`` in summary.json). See
``docs/theory_bte_mesh.md``.
"""

from __future__ import annotations

import numpy as np

from ...case.schema import Field, Section
from ..base.schema import SPECTRAL_SOURCE as _SPECTRUM
from ..base.schema import (
    active_regions,
    check_pulse_or_power,
    energy_bins,
    initial_temperature,
    material_overrides,
    ordinates_spec,
    slices_section,
)
from ..spec import ORDINATE_MESH_KEYS, ModelSpec

_REGION = Section({
    # material constants (SI in the internal case, into the region's Material)
    **material_overrides("Tc", "gap_ratio", "N0", "fermi_velocity", "tau0", "tau0_phi",
                         "resistivity", "diffusion_constant"),
    "material": Field("str", "material name from `fvqp materials` (gap, N0, Fermi "
                      "velocity); required for active regions"),
    "active": Field("bool", "false leaves the region out (e.g. the substrate); its faces "
                    "with simulated regions are walls: their boundary group's condition, "
                    "or [interfaces] wall where they have no group", default=True),
    "thickness": Field("quantity", "film thickness (2D meshes)", dimension="length",
                       positive=True),
    "mean_free_path": Field("quantity", "elastic (impurity) mean free path; default from "
                            "the region's diffusion_constant or resistivity, else the "
                            "material's, l = d D / v_F",
                            dimension="length", positive=True),
    "ballistic": Field("bool", "no elastic scattering at all (l = infinity)", default=False),
    "trap_time": Field("quantity", "trapping time of a trap region: QPs relax to the "
                       "bath at the rate 1/trap_time", dimension="time", positive=True),
    "normal": Field("bool", "the material in the normal state (gap 0): a normal-metal "
                    "trap with the material's N0, Fermi velocity and electron-phonon times "
                    "(tau0 and Tc fix the rate E^3/(3 tau0 (k Tc)^3) of a normal electron); "
                    "with [collisions] QPs relax there by electron-phonon collisions",
                    default=False),
})

_BOUNDARIES = {
    "specular": Section({}, doc="mirror reflection (exact for walls aligned with the "
                        "quadrature, particle-conserving on any wall)"),
    "diffuse": Section({}, doc="isotropic (Lambertian) re-emission of the outgoing flux"),
    "absorbing": Section({}, doc="outflow: every QP reaching it leaves, none enter"),
    "bath": Section({
        "temperature": Field("quantity", "temperature of the contact (default: bath); "
                             "a hot contact injects QPs", dimension="temperature",
                             positive=True),
    }, doc="contact to a reservoir: outflow, and thermal QPs f = f_FD(E, T) entering"),
}

_SOURCES = {"quasiparticle": Section({k: v for k, v in _SPECTRUM.items()},
                                     doc="isotropic QP injection with a Gaussian spectrum")}

_INITIAL = initial_temperature("uniform isotropic initial occupation f_FD(E, T)")

_SECTIONS = {
    "interfaces": Section({
        "model": Field("str", "transmission of QPs between regions of different "
                       "superconductors above both gaps (energy kept; below the far "
                       "side's gap: reflected): 'diffuse' (diffuse mismatch, T_ab = "
                       "M_b/(M_a+M_b), isotropic re-emission; exact equilibrium on any "
                       "mesh) or 'specular' (channel-limited, T_ab = min(1, M_b/M_a), "
                       "direction kept, mirror reflection); M = N0 v_F",
                       default="diffuse", choices=("diffuse", "specular")),
        "wall": Field("str", "condition of exterior faces without a boundary group (the "
                      "faces towards regions left out with active = false)",
                      default="diffuse", choices=("diffuse", "specular")),
    }),
    "energy": Section(energy_bins("gap")),
    "angles": Section({
        "directions": Field("int", "2D: number of in-plane ordinates (a multiple of 4 keeps "
                            "axis-aligned walls exactly specular)", default=16),
        "polar": Field("int", "3D: Gauss-Legendre nodes in cos(theta)", default=4),
        "azimuth": Field("int", "3D: uniform azimuths", default=8),
        "output": Field("list", "ordinates whose density (4 N0 int rho f_k) is written as "
                        "field qp_density_dir<k>", item=Field("int"), default=[]),
    }),
    "spectrum": Section({
        "kind": Field("str", "bcs, or eliashberg: states per energy N = rho m and group "
                      "velocity v_F / N from the real-axis Eliashberg solution of the "
                      "material (fvqp.eliashberg; bins start at its gap edge)",
                      default="bcs", choices=("bcs", "eliashberg")),
    }),
    "numerics": Section({
        "preconditioner": Field("str", "GMRES preconditioner: 'block_jacobi' (exact LU of "
                                "each rank's subdomain), 'two_level' (plus an isotropic "
                                "coarse correction solved by GAMG: bounded iterations in "
                                "the thick diffusive limit on many ranks), 'sweep' "
                                "(no factorisation: a transport sweep per ordinate + the "
                                "coarse correction; cost and memory grow like the "
                                "unknowns), 'sweep_only' (collisionless: sweeps without "
                                "the coarse level) or 'auto' (two_level on more than one "
                                "rank)", default="auto",
                                choices=("auto", "block_jacobi", "two_level", "sweep",
                                         "sweep_only")),
        "scheme": Field("str", "spatial scheme of the streaming term: 'upwind' (step, "
                        "first order, positive) or 'linear' (upwind with a least-squares "
                        "linear reconstruction at the faces: second order on smooth "
                        "solutions, not positive, one MPI rank only)", default="upwind",
                        choices=("upwind", "linear")),
    }),
    "collisions": Section({
        "enabled": Field("bool", "inelastic electron-phonon collisions (notes Eq. 179, the "
                         "per-direction operator of fvqp.collisions.angular): the energies "
                         "couple and the whole system is solved by Newton-Krylov",
                         default=False),
        "tau0": Field("quantity", "Kaplan's electron-phonon time tau0 (default: the "
                      "material's)", dimension="time", positive=True),
        "phonons": Field("str", "bath (held at the bath temperature) or local (isotropic "
                         "n(Omega) per cell, no phonon transport, escape to the bath)",
                         default="bath", choices=("bath", "local")),
        "escape_time": Field("quantity", "escape time of local phonons to the bath "
                             "(default: the material's escape time per thickness times "
                             "the thickness on 2D meshes, else none)", dimension="time",
                             positive=True),
        "no_escape": Field("bool", "local phonons never leave (closed system)",
                           default=False),
    }),
    "gap": Section({
        "self_consistent": Field("bool", "transient (backward Euler, fixed steps, any "
                                 "number of ranks, --resume, with or without collisions): "
                                 "the gap of every cell re-solved from its own QPs after "
                                 "each step "
                                 "(fvqp.models.bte.gapdynamics; states keep xi, notes Eqs. "
                                 "55-58); output gap follows it and summary.json reports "
                                 "its min/max", default=False),
        "hold": Field("list", "regions whose gap stays at its bath value",
                      item=Field("str"), default=[]),
        "floor": Field("float", "the QP grid starts at floor x the lowest bath gap: the "
                       "lowest gap the run may reach (a gap below it stops the run)",
                       default=0.8),
        "model": Field("str", "gap equation of the self-consistent gap: 'bcs' (notes Eq. 1, "
                       "weak coupling with the material's Delta_0) or 'eliashberg' (the "
                       "real-axis Eliashberg equations with each cell's own QP and phonon "
                       "occupations, notes Eqs. 180-186, fvqp.eliashberg.cellgap: materials "
                       "with a tabulated coupling lambda and Debye temperature, or held "
                       "regions; 2-4 Eliashberg solves per changed cell and step, 1-6 s "
                       "each, the first at a low bath temperature ~30 s and ~1 GB at "
                       "0.085 Tc: small meshes); the kinetics keep BCS bins at each cell's "
                       "gap edge",
                       default="bcs", choices=("bcs", "eliashberg")),
    }),
    "slices": slices_section("energies of the f(E) slices written as fields f_slice_<k> "
                             "(output field name f_slices): the angle-averaged occupation "
                             "of the energy bin whose node is nearest; each within the "
                             "bins (summary.json slice_energies_ueV: the nodes used)"),
    "sweep": Section({
        "mean_free_paths": Field("list", "steady runs: also solve with these mean free "
                                 "paths (all regions) and with none (ballistic) and report "
                                 "the outflow through every boundary and its ratio to the "
                                 "ballistic one (transmission) in summary.json",
                                 item=Field("quantity", dimension="length", positive=True),
                                 default=[]),
    }),
}

FIELDS = ("qp_density", "qp_excess", "qp_energy_density", "qp_current", "directions",
          "phonon_energy_density", "region", "gap", "f_slices")


def _check(data, err) -> None:
    from ...materials import UnknownMaterialError, get_material

    for name, reg, mat in active_regions(data, err, "material", get_material,
                                         UnknownMaterialError, needed="a material",
                                         example='material = "Al" (see `fvqp materials`)'):
        if not (mat.fermi_velocity or reg.get("fermi_velocity")):
            err.add(f"regions.{name}.fermi_velocity", f"{mat.name} (region {name}) has no "
                    "Fermi velocity in the material database (no trustworthy tabulated "
                    "value), and the bte model needs it for the QP speed and the mean free "
                    "path.", f'give it in the case: [regions.{name}] fermi_velocity = '
                    '"1.0e6 m/s" (your value with its source), or choose a material with '
                    "fermi_velocity (see `fvqp materials`).")
        if not (reg.get("mean_free_path") or reg.get("ballistic") or mat.diffusion_constant
                or mat.resistivity or reg.get("resistivity") or reg.get("diffusion_constant")):
            err.add(f"regions.{name}.mean_free_path", "no mean free path and no diffusion "
                    "constant in the database.", 'give mean_free_path = "1 um".')
    check_pulse_or_power(data, err, duration="10 ps", radius="1 um")
    col = data.get("collisions") or {}
    if col.get("enabled"):
        if (data.get("sweep") or {}).get("mean_free_paths"):
            err.add("sweep.mean_free_paths", "the mean-free-path sweep is not available "
                    "with collisions.", "remove [sweep] or set [collisions] enabled = false.")
        for name, reg in data["regions"].items():
            try:
                mat = get_material(reg["material"])
            except (UnknownMaterialError, KeyError):
                continue
            if not reg.get("active", True):
                continue
            for key in ("tau0", "tau0_phi"):
                if getattr(mat, key) is None and not reg.get(key) and not (
                        key == "tau0" and col.get("tau0")):
                    err.add(f"regions.{name}.{key}", f"{mat.name} (region {name}) has no "
                            f"{key} in the material database; the electron-phonon "
                            "collisions need it.", f'give it in the case: [regions.{name}] '
                            f'{key} = "1 ns" (your value with its source), or choose a '
                            "material with Kaplan times (see `fvqp materials`).")
    t = data.get("time") or {}
    if not t.get("steady") and not t.get("dt_initial"):
        err.add("time.dt_initial", "the transient BTE runs with a fixed step.",
                'add dt_initial = "1 ps" (or steady = true).')
    a = data.get("angles") or {}
    for key, least in (("directions", 2), ("polar", 1), ("azimuth", 2)):
        if a.get(key) is not None and a[key] < least:
            err.add(f"angles.{key}", f"must be at least {least}, got {a[key]}.",
                    f"set {key} >= {least} (default {_SECTIONS['angles'].fields[key].default}).")
    for i, k in enumerate(a.get("output") or []):
        if k is not None and k < 0:
            err.add(f"angles.output[{i}]", f"ordinate index {k} is negative.",
                    "give indices 0, 1, ... of the quadrature's ordinates.")
    _check_gap(data, err)
    _check_self_gap(data, err)
    if not err.items:
        _check_slices(data, err)
        _check_sources_on_grid(data, err)


def _check_slices(data, err) -> None:
    """``[slices] energies`` within the QP bins (:func:`bin_range`) at ``fvqp check``."""
    from ...case.slices import check_slice_energies

    if not (data.get("slices") or {}).get("energies"):
        return
    bounds = bin_range(data)
    if bounds is not None:
        check_slice_energies(data, err, *bounds, "energy bins", below="the bins start at "
                             "the (lowest) gap: there are no QP states below",
                             above="or raise [energy] e_max")


def _check_sources_on_grid(data, err) -> None:
    """Every QP source centred above the gap of its regions
    (:func:`fvqp.models.spec.check_sources_above_gap`) and, with an explicit ``[energy]
    e_max``, its spectrum on the grid (:func:`fvqp.models.spec.check_sources_on_grid`;
    the default grid holds it)."""
    from ..base.schema import case_material
    from ..spec import bath_gap, check_sources_above_gap, check_sources_on_grid

    if (data.get("spectrum") or {}).get("kind", "bcs") == "bcs":
        T = data["bath"]["temperature"]
        check_sources_above_gap(err, data.get("sources"), {
            name: 0.0 if reg.get("normal") else bath_gap(case_material(reg), T)
            for name, reg in data["regions"].items() if reg.get("active", True)})
    if (data.get("energy") or {}).get("e_max") is None:
        return
    bounds = bin_range(data)
    if bounds is not None:
        check_sources_on_grid(err, data.get("sources"), bounds[1])


def bin_range(data) -> tuple[float, float] | None:
    """First and last edge [J] of the QP bins of the validated SI case ``data``, as the run
    builds them (:meth:`.simulation.BTESimulation._spectrum`: the bath gap of every active
    region, ``[energy]`` spacing (default k_BT/4) and ``e_max`` (default 12 k_BT above the
    highest gap, or the top of a source spectrum); self-consistent gap: first edge at
    ``floor`` x the lowest gap). None for the Eliashberg spectrum, whose gap edge needs
    its solve (its slices are checked at the run's start only)."""
    from types import SimpleNamespace

    from ...spectra.bins import BinGrid
    from ...units import K_B
    from ..base.schema import case_material
    from ..spec import bath_gap
    from .simulation import _bin_grid, bin_limits, held_temperatures

    if (data.get("spectrum") or {}).get("kind", "bcs") != "bcs":
        return None
    T = data["bath"]["temperature"]
    gaps = [0.0 if reg.get("normal") else bath_gap(case_material(reg), T)
            for reg in data["regions"].values() if reg.get("active", True)]
    gap = min(gaps)
    h, e_max, _ = bin_limits(data.get("energy") or {}, gap, max(gaps), K_B * T,
                             data.get("sources") or [], False,
                             [K_B * t for t in held_temperatures(data)])
    if (data.get("gap") or {}).get("self_consistent"):
        grid = BinGrid.build(data["gap"]["floor"] * gap, h, e_max)
    else:
        grid = _bin_grid(gap, SimpleNamespace(gap=gaps), h, e_max, None)
    return float(grid.edges[0]), float(grid.edges[-1])


def _check_given(raw, err) -> None:
    """A self-consistent gap's time scheme is written out: the time loop's default
    (``bdf2``) would pick the second-order gap step silently, which is not positive at
    long steps (f may undershoot below 0)."""
    _check_ignored(raw, err)
    t = raw.get("time") or {}
    if (raw.get("gap") or {}).get("self_consistent") and not t.get("steady") \
            and "scheme" not in t:
        err.add("time.scheme", "the self-consistent gap needs an explicit time scheme.",
                'set scheme = "bdf1" (Lie splitting: first order, keeps f >= 0) or '
                '"bdf2" (BDF2 at the extrapolated gaps, corrected once at the gaps of its '
                'result: second order while no cell gap crosses a bin edge; '
                "f may undershoot below 0 at long steps — check the QP balance).")


#: ``[time]`` keys of the error-controlled step (:class:`fvqp.solvers.bdf.BDFOptions`):
#: fixed steps do not read them
ERROR_CONTROL = ("rtol", "newton_tol")

#: ``[time]`` step limits of the Newton steps (:meth:`fvqp.solvers.bdf.BDFIntegrator.step`:
#: dt_max caps every step, fixed ones too, dt_min ends the retries of a failed solve),
#: read with collisions only: the collisionless fixed steps (:mod:`.transient`,
#: :mod:`.gapsteps`) are linear solves of dt_initial, never shortened. ``atol`` is read
#: by every run with collisions or the self-consistent gap (an occupation below zero
#: within it is round-off, :func:`.coupled.undershoot`), by no other fixed-step run.
STEP_LIMITS = ("dt_min", "dt_max")

#: ``[gap]`` keys of the self-consistent gap only (``model`` is checked on its value)
SELF_GAP_KEYS = ("hold", "floor")

#: ``[collisions]`` keys of local phonons only (:func:`.coupled._finish`: their escape)
LOCAL_PHONON_KEYS = ("escape_time", "no_escape")


def _check_ignored(raw, err) -> None:
    """Keys a run would not read, written out (each was dropped without a word): the
    step's error control with fixed steps (``adaptive = false``, or a collisionless
    transient, whose bins march fixed steps of dt_initial), and without collisions also
    the step limits :data:`STEP_LIMITS` and (gaps held) ``atol``, ``[gap]`` keys of the
    self-consistent gap without it, ``[collisions]`` keys with the collisions off (only
    the collision operator reads them, :mod:`.coupled`), the escape of phonons held at the
    bath (``phonons = "bath"``) or kept (``no_escape = true``), and ``[output] times`` of
    a transient on the fixed-step loop (without collisions, or with the self-consistent
    gap: only :func:`.coupled.coupled_transient` stops at them)."""
    from ..spec import check_times_unread

    t = raw.get("time") if isinstance(raw.get("time"), dict) else {}
    col = raw.get("collisions") if isinstance(raw.get("collisions"), dict) else {}
    g = raw.get("gap") if isinstance(raw.get("gap"), dict) else {}
    if not t.get("steady"):
        fixed = "adaptive = false" if t.get("adaptive") is False else \
            "a run without [collisions] enabled" if not col.get("enabled") else ""
        # with collisions the fixed steps are BDFIntegrator's (dt_min, dt_max read) and
        # the undershoot test reads atol, as on the self-consistent gap's loop (.gaprun)
        unread = ERROR_CONTROL if col.get("enabled") else (*ERROR_CONTROL, *STEP_LIMITS) \
            if g.get("self_consistent") else (*ERROR_CONTROL, *STEP_LIMITS, "atol")
        for key in unread if fixed else ():
            if key not in t:
                continue
            if key in STEP_LIMITS:
                err.add(f"time.{key}", f"{fixed} takes fixed steps of dt_initial: each is "
                        "a linear solve per energy bin, never shortened nor retried, and "
                        "the run does not read it.", f"remove {key} (dt_initial sets the "
                        "step; adaptive steps need [collisions] enabled).")
                continue
            err.add(f"time.{key}", f"{fixed} takes fixed steps of dt_initial: no step "
                    "is chosen or tested by the local error, and the run does not read "
                    "it.", f"remove {key}, or set adaptive = true." if col.get("enabled")
                    else f"remove {key} (adaptive steps need [collisions] enabled).")
    if not t.get("steady") and (not col.get("enabled") or g.get("self_consistent")):
        # the snapshots of the fixed-step loop (.transient, .gaprun): [output] every only
        check_times_unread(raw.get("output") if isinstance(raw.get("output"), dict) else {},
                           err, "a run with the self-consistent gap" if g.get(
                               "self_consistent") else "a run without [collisions] enabled")
    if not g.get("self_consistent"):
        for key in SELF_GAP_KEYS:
            if key in g:
                err.add(f"gap.{key}", "the gap is the bath's (self_consistent = false): "
                        "only the self-consistent gap reads it.",
                        f"remove {key}, or set self_consistent = true.")
    if not col.get("enabled"):
        off = "enabled = false" if "enabled" in col else "enabled = false, the default"
        for key in col:
            if key != "enabled":
                err.add(f"collisions.{key}", f"the collisions are off ({off}): {key} sets "
                        "the electron-phonon collisions only, and the run does not read it.",
                        f"remove {key}, or set enabled = true.")
    elif col.get("phonons", "bath") != "local":
        for key in LOCAL_PHONON_KEYS:
            if key in col:
                err.add(f"collisions.{key}", 'phonons = "bath" holds the phonons at the '
                        "bath temperature: only local phonons escape, and the run does not "
                        "read it.", f'remove {key}, or set phonons = "local".')
    elif col.get("no_escape") and "escape_time" in col:
        err.add("collisions.escape_time", "no_escape = true: the local phonons never "
                "leave, and the run does not read the escape time.",
                "remove escape_time, or no_escape.")


def _check_self_gap(data, err) -> None:
    """``[gap] self_consistent`` only where it is implemented (fixed BDF1/BDF2 steps)."""
    g = data.get("gap") or {}
    if not g.get("self_consistent"):
        if g.get("model", "bcs") != "bcs":
            err.add("gap.model", "the gap model applies to the self-consistent gap only.",
                    "set [gap] self_consistent = true, or remove model.")
        return
    t = data.get("time") or {}
    if t.get("steady"):
        err.add("gap.self_consistent", "the self-consistent gap runs in transients only.",
                "set [time] steady = false with end and dt_initial.")
    elif t.get("adaptive", True) and not (data.get("collisions") or {}).get("enabled"):
        # adaptive steps with a gap in every cell: with collisions (.gapcollide); the
        # collisionless steps are fixed (their default adaptive = true was ignored
        # without a word before 2026-11-25)
        err.add("time.adaptive", "a collisionless run with the self-consistent gap takes "
                "fixed steps of dt_initial (adaptive steps need [collisions] enabled).",
                "set adaptive = false (and choose dt_initial), or enable the collisions.")
    if (data.get("numerics") or {}).get("scheme", "upwind") != "upwind":
        err.add("numerics.scheme", "cells of different gaps meet at interfaces that need "
                "the upwind scheme.", 'set scheme = "upwind".')
    if (data.get("spectrum") or {}).get("kind", "bcs") != "bcs":
        # every cell's own Eliashberg spectrum (.cellspectra): Eliashberg gaps, Lie steps
        if g.get("model", "bcs") != "eliashberg":
            err.add("spectrum.kind", "with the self-consistent BCS gap the spectrum is "
                    "BCS; the Eliashberg spectrum of every cell needs the Eliashberg gap.",
                    'set [gap] model = "eliashberg", or kind = "bcs".')
        if t.get("scheme") == "bdf2":
            err.add("spectrum.kind", "every cell's Eliashberg spectrum is known at its "
                    "solved gaps only, not at the extrapolated gaps of BDF2 steps.",
                    'set [time] scheme = "bdf1", or kind = "bcs".')
    if not 0.0 < g.get("floor", 0.8) < 1.0:
        err.add("gap.floor", f"must lie between 0 and 1, got {g.get('floor')}.",
                "e.g. floor = 0.8 (the grid starts at 80 % of the bath gap).")
    if g.get("model", "bcs") == "eliashberg":
        from ...eliashberg import COUPLING
        from .eliashberg_gaps import refusals

        for name, mat in refusals(data):
            err.add("gap.model", f"region {name} ({mat}) has no Eliashberg spectrum "
                    f"alpha2F: no coupling lambda or Debye temperature for {mat} (known: "
                    f"{', '.join(sorted(COUPLING))}).", f'set model = "bcs", hold its gap '
                    f'(hold = ["{name}"]), or use a material with lambda.')
    for i, name in enumerate(g.get("hold") or []):
        if name not in data["regions"]:
            err.add(f"gap.hold[{i}]", f"no region {name!r}.",
                    f"give names of [regions]: {sorted(data['regions'])}.")


def _check_held(data, geo, err) -> None:
    """Every ``bath`` boundary's temperature below the Tc of the active superconductors its
    faces touch (the mesh ``geo``): above it those films have no gap (BCS Delta(T) = 0)
    and the thermal f the boundary would hold on the QP bins above the bath gap has no
    meaning (accepted without a word before 2026-11-26). A contact on the higher-Tc film
    of a multi-material device is judged by that film alone."""
    from ...materials import UnknownMaterialError
    from ..base.schema import case_material
    from ..spec import bath_above_gap

    for bname, bc in (data.get("boundaries") or {}).items():
        if bc.get("type") != "bath" or bc.get("temperature") is None \
                or bname not in geo.group_names:
            continue
        faces = geo.boundary_faces(bname)
        touched = {geo.region_names[r] for r in
                   np.unique(geo.cell_region[geo.inc_cell[geo.face_ptr[faces]]])}
        for name in sorted(touched):
            reg = data["regions"].get(name) or {}
            if not reg.get("material") or reg.get("normal"):
                continue
            try:
                mat = case_material(reg)
            except (UnknownMaterialError, TypeError):
                continue  # reported elsewhere
            if bath_above_gap(err, f"boundaries.{bname}.temperature", mat,
                              reg.get("Tc") or mat.Tc, bc["temperature"],
                              where=f" (region {name}, whose faces boundary {bname} holds)",
                              fix=" for the contact (a normal contact: a region with "
                              "normal = true)"):
                break


def _check_gap(data, err) -> None:
    """Every active superconductor below its Tc and [energy] e_max above its gap; regions
    of different superconductors only where interfaces are modelled."""
    from ...materials import UnknownMaterialError
    from ..base.schema import case_material
    from ..spec import bath_above_gap, bath_gap, ueV

    T = data["bath"]["temperature"]
    e_max = (data.get("energy") or {}).get("e_max")
    props = set()
    for name, reg in data["regions"].items():
        if not reg.get("active", True) or not reg.get("material"):
            continue
        try:  # the region's own gap_ratio/delta0 included: the gap the run will use
            mat = case_material(reg)
        except (UnknownMaterialError, TypeError):
            continue  # reported elsewhere (unknown material; delta0 and gap_ratio both)
        tc = reg.get("Tc") or mat.Tc
        key = f"regions.{name}.Tc" if reg.get("Tc") else "bath.temperature"
        if reg.get("normal"):
            props.add((mat.name + " (normal)", 0.0))
            continue
        if bath_above_gap(err, key, mat, tc, T, where=f" (region {name})"):
            continue
        gap = bath_gap(mat, T, tc)
        props.add((mat.name, tc))
        if e_max is not None and e_max <= gap:
            err.add("energy.e_max", f"{ueV(e_max)} is not above the gap {ueV(gap)} of "
                    f"{mat.name} (region {name}) at the bath: the grid would hold no "
                    "states there.", f"give e_max above {ueV(gap)} (the default is the "
                    "highest gap + 12 kT_bath), or leave it out.")
    if len(props) > 1:
        what = ", ".join(sorted(f"{m} (Tc {t:g} K)" for m, t in props))
        if (data.get("spectrum") or {}).get("kind", "bcs") != "bcs" and \
                not (data.get("gap") or {}).get("self_consistent"):
            # (with the self-consistent gap every cell has its own tables: .cellspectra)
            err.add("spectrum.kind", f"regions of different superconductors ({what}) run "
                    "with the BCS spectrum only, or with every cell's own Eliashberg "
                    "spectrum ([gap] self_consistent = true, model = \"eliashberg\").",
                    'set kind = "bcs", use one material, or the self-consistent gap.')
        if (data.get("numerics") or {}).get("scheme", "upwind") != "upwind":
            err.add("numerics.scheme", f"regions of different superconductors ({what}) "
                    "meet at interfaces that need the upwind scheme.",
                    'set scheme = "upwind", or use one material.')


def check_mesh_dimension(dim: int, err) -> bool:
    """Whether a mesh of dimension ``dim`` suits the bte model; a 1D mesh adds the
    ``mesh.file`` error with its fix to ``err`` (:class:`fvqp.case.schema.Errors`). Called
    by the case check and by :class:`~fvqp.models.bte.simulation.BTESimulation`, which
    also receives sub-cases built by other models."""
    if dim == 1:
        err.add("mesh.file", "the bte model needs a 2D (film) or 3D mesh; this mesh is 1D.",
                "use the transport model for wires, or a 2D/3D mesh.")
        return False
    return True


def _check_mesh(data, geo, err) -> None:
    """A 2D or 3D mesh, [angles] output indices within the quadrature of the mesh, and
    the held boundary temperatures against the films they touch (:func:`_check_held`)."""
    if not check_mesh_dimension(geo.dim, err):
        return
    _check_held(data, geo, err)
    a = data.get("angles") or {}
    if geo.dim == 2:
        n, what = a.get("directions") or 0, f"{a.get('directions')} in-plane directions " \
            "([angles] directions, 2D mesh)"
    else:
        n = (a.get("polar") or 0) * (a.get("azimuth") or 0)
        what = f"{n} = polar x azimuth = {a.get('polar')} x {a.get('azimuth')} ordinates " \
            "(3D mesh)"
    for i, k in enumerate(a.get("output") or []):
        if k is not None and k >= n > 0:
            err.add(f"angles.output[{i}]", f"ordinate {k} does not exist: the quadrature "
                    f"has {what}, numbered 0 to {n - 1}.",
                    f"give indices from 0 to {n - 1}, or raise the number of ordinates.")


SPEC = ModelSpec(
    name="bte", region_schema=_REGION, boundary_types=_BOUNDARIES, initial_schema=_INITIAL,
    source_types=_SOURCES, fields=FIELDS, check=_check, check_given=_check_given,
    check_mesh=_check_mesh, mesh_keys=ORDINATE_MESH_KEYS,
    sections=_SECTIONS, **ordinates_spec(),
)


def run(case, **kwargs):
    """Run a validated bte case; see :func:`fvqp.models.bte.driver.run`."""
    from .driver import run as _run

    return _run(case, **kwargs)

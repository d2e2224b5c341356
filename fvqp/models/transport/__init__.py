r"""Energy-resolved quasiparticle and phonon transport on device meshes.

In every cell the QP distribution :math:`f(E)` and the phonon distribution
:math:`n(\Omega)` on one absolute energy grid (:mod:`fvqp.spectra.bins`), the local gap (fixed per
region or self-consistent from the local ``f``, notes Eq. 1), dirty-limit spectral
diffusion :math:`\partial_t(\rho f) = \nabla\cdot(D_nD_L\nabla f) + \rho S_{qp}[f,n]`,
the phonon collision integral with escape to the bath, normal-metal traps, bath contacts,
NIS tunnel injectors and spectral QP/phonon sources (:mod:`.problem`). Solved implicitly
(BDF1/2 with SNES and the exact Jacobian, or SNES directly for the steady state) over
the distributed state. See ``docs/theory_transport.md``.
"""

from __future__ import annotations

from ...case.schema import Field, Section
from ...solvers.cellblock_ilu import VALUES as CELL_BLOCK_VALUES
from ..base.schema import SPECTRAL_SOURCE as _SPECTRUM
from ..base.schema import (
    active_regions,
    check_material_overrides,
    check_pulse_or_power,
    energy_bins,
    initial_temperature,
    material_overrides,
    slices_section,
)
from ..spec import ModelSpec

_REGION = Section({
    "material": Field("str", "material name from `fvqp materials`"),
    "active": Field("bool", "false leaves the region out (e.g. the substrate)", default=True),
    "trap": Field("bool", "normal-metal absorber: f and n held at the bath", default=False),
    "thickness": Field("quantity", "film thickness (2D meshes)", dimension="length",
                       positive=True),
    "cross_section": Field("quantity", "wire cross-section (1D meshes)", dimension="area",
                           positive=True),
    # the material constants a case may set per region (SI; fvqp.models.base.schema),
    # every one the model reads (regions.region_params): Tc and the gap ratio (gap,
    # Tc ratio of the collision prefactors), N0 (QP weight), tau0 and tau0_phi (the
    # collision prefactors), the normal-state diffusion constant (default: the
    # material's, else from its resistivity)
    **material_overrides("Tc", "gap_ratio", "N0", "tau0", "tau0_phi", "diffusion_constant",
                         "resistivity"),
    "gap": Field("quantity", "fixed gap (default: BCS Delta(T_bath) of the material)",
                 dimension="energy", positive=True, internal="energy"),
    "escape_time": Field("quantity", "phonon escape time to the substrate (default: the "
                         "material's escape time per thickness times the thickness in 2D; "
                         "no escape otherwise)", dimension="time", positive=True),
    "phonon_diffusion_constant": Field(
        "quantity", "energy-independent phonon diffusion constant D_ph = c_s l_ph / 3 "
        "between cells (0: no phonon transport across this region's faces; in a trap: "
        "diffusion into the trap, whose phonons are held at the bath)",
        dimension="diffusivity", default=0.0, nonnegative=True),
})

_BOUNDARIES = {
    "insulating": Section({}, doc="no QP flux"),
    "bath": Section({}, doc="Ohmic contact to a normal reservoir at the bath: f = f_bath "
                    "on the face"),
    "tunnel": Section({
        "resistance": Field("quantity", "normal-state resistance R_T of the junction (the "
                            "whole boundary)", dimension="resistance", required=True,
                            positive=True),
        "bias": Field("quantity", "bias voltage V", dimension="voltage", required=True),
        "temperature": Field("quantity", "normal-electrode temperature (default: bath)",
                             dimension="temperature", positive=True),
    }, doc="NIS tunnel injector/detector"),
}


_SOURCES = {
    "quasiparticle": Section(dict(_SPECTRUM), doc="QP injection with a Gaussian spectrum"),
    "phonon": Section(dict(_SPECTRUM), doc="phonon injection (e.g. the phonons of an "
                      "absorbed particle or photon) with a Gaussian spectrum"),
}

_INITIAL = initial_temperature("uniform initial temperature of QPs and phonons")

_SECTIONS = {
    "energy": Section({
        **energy_bins("largest gap", ", and all but 1e-4 of what every tunnel junction "
                      "injects"),
        "e_min": Field("quantity", "lower edge of the QP grid (default: the smallest gap; "
                       "0.8 of it with a self-consistent gap)", dimension="energy",
                       positive=True, internal="energy"),
    }),
    "gap": Section({
        "self_consistent": Field("bool", "local gap from the local f (gap equation)",
                                 default=False),
        "tolerance": Field("float", "steady state: stop the gap iteration when no gap "
                           "changes by more than this fraction", default=1e-9,
                           positive=True),
        "max_iterations": Field("int", "steady state: gap iterations", default=30),
        "relaxation": Field("float", "steady state: damping of the gap update "
                            "(Delta += relaxation * (Delta_gap_eq - Delta))", default=0.5,
                            positive=True),
    }),
    "numerics": Section({
        "jacobian": Field("str", "Newton's linear systems: 'assembled' (exact Jacobian with "
                          "dense per-cell collision blocks, memory ~ N (N + M) per cell), "
                          "'matrix_free' (exact Jacobian action + sparse transport/diagonal "
                          "preconditioner, memory ~ N + M per cell), 'schur' (exact "
                          "Jacobian action + exact phonon elimination and an inner solve of "
                          "the QP Schur complement, memory ~ N^2 + NM per cell) or 'auto' "
                          "(assembled below 2e7 block entries, else matrix_free for steady "
                          "states and schur for transients)", default="auto",
                          choices=("auto", "assembled", "matrix_free", "schur")),
        "collisions": Field("bool", "electron-phonon collisions (scattering, pair breaking, "
                            "recombination); false leaves pure energy-resolved diffusion "
                            "with the phonons held at the bath", default=True),
    }),
    "slices": slices_section("energies of the f(E) slices written as fields f_slice_<k> "
                             "(output field name f_slices): the occupation of the energy "
                             "bin whose node is nearest (summary.json slice_energies_ueV: "
                             "the nodes used)"),
}

FIELDS = ("qp_density", "qp_excess", "qp_energy_density", "phonon_energy_density", "gap",
          "T_eff", "f_slices", "region")


def _required_boundaries(geo, active) -> list[str]:
    return list(geo.boundary_names)


def _interfaces(geo, active) -> list[str]:
    return list(geo.interface_names)


def _check(data, err) -> None:
    from ...materials import UnknownMaterialError, get_material

    # a trap without material takes N0 and D of the reference
    for name, reg, mat in active_regions(data, err, "material", get_material,
                                         UnknownMaterialError, needed="a material",
                                         example='material = "Al" (or trap = true with a '
                                         "normal metal)", optional=lambda r: r.get("trap")):
        check_material_overrides(reg, f"regions.{name}", err)
        if reg.get("gap") is not None and reg.get("delta0") is not None:
            # the fixed gap wins; delta0 only set gap_ratio = delta0/(k_B Tc) of the
            # phonon prefactor (266 and 300 ueV at Tc = 1.75 K: 1.989) without a word
            err.add(f"regions.{name}.delta0", "the gap is given twice (gap and delta0): "
                    "the run takes the fixed gap, and delta0 only sets the gap ratio "
                    "delta0/(k_B Tc) of the phonon pair-breaking rate and of the gap "
                    "equation, at odds with that gap.",
                    "keep one: gap (a fixed gap) or delta0 (the gap at the bath follows "
                    "from it, BCS).")
        if reg.get("trap"):
            continue
        if not (reg.get("diffusion_constant") or mat.diffusion_constant or mat.resistivity):
            err.add(f"regions.{name}.diffusion_constant",
                    f"{mat.name} has no diffusion constant or resistivity in the database.",
                    'give diffusion_constant = "6e-3 m^2/s".')
        if mat.tau0 is None or mat.tau0_phi is None:
            err.add(f"regions.{name}.material", f"{mat.name} has no tau0/tau0_phi.",
                    "choose a material with Kaplan times (see `fvqp materials`).")
    check_pulse_or_power(data, err)
    _check_energy_grid(data, err)
    _check_condensed(data, err)
    _check_collision_keys(data, err)


#: ``[gap]`` keys of the steady state's self-consistent gap iteration
#: (:func:`.driver._steady`); transients update the gap after every step without them
GAP_ITERATION = ("tolerance", "max_iterations", "relaxation")


def _check_given(raw, err) -> None:
    """``[gap]`` keys of the steady gap iteration (:data:`GAP_ITERATION`) written out where
    no iteration runs: without the self-consistent gap, or in a transient (the run
    dropped them without a word)."""
    g = raw.get("gap") if isinstance(raw.get("gap"), dict) else {}
    steady = (raw.get("time") or {}).get("steady")
    for key in GAP_ITERATION:
        if key not in g:
            continue
        if not g.get("self_consistent"):
            err.add(f"gap.{key}", "the gap is fixed (self_consistent = false): there is "
                    "no gap iteration, and the run does not read it.",
                    f"remove {key}, or set self_consistent = true.")
        elif not steady:
            err.add(f"gap.{key}", "a transient run updates the self-consistent gap after "
                    "every step without iterating: only the steady state's gap iteration "
                    "reads it.", f"remove {key}, or set [time] steady = true.")


#: ``[solver.petsc]`` keys that make PETSc skip Jacobian evaluations or preconditioner
#: set-ups between Newton iterations (any value but 1), and the fvqp key whose ``false``
#: selects such a lag (``snes_lag_preconditioner = 2``,
#: :data:`.solver_config.SCHUR_PETSC`)
SNES_LAGS = ("snes_lag_preconditioner", "snes_lag_jacobian")


#: fvqp's own ``[solver.petsc]`` keys of the Jacobian action's collision part (not PETSc
#: options; ``-<prefix>collision_*`` on the command line wins): their accepted values, the
#: first the run's default (:func:`.solver_config.collision_options`;
#: :class:`.problem.TransportProblem` ``action``, ``spectra``). The state transforms are
#: kept rounded to complex64 by default (``single``: 4.4 KB per cell at 66 bins instead of
#: 8.7). Measured on the absorber burst (13 280 cells x 66 bins x 130 phonon nodes, 6 BDF1
#: steps, schur mode, 2026-11-26): against ``keep`` the same 12 Newton / 45 Krylov
#: iterations, final energy and QP number equal to 3e-13, run peak 1 151 -> 1 087 MB (-4.9
#: KB per cell). The action then carries the float32 rounding of the state's transforms
#: (relative change of the condensed action 2.5e-11 on the 520-cell absorber,
#: ``tests/test_transport_condensed_memory.py``; of the whole Jacobian action 4e-10 on the
#: NIS network of ``tests/test_transport_model.py``); the residual Newton judges stays
#: double.
#: ``collision_precision``: the real precision of the condensed solve's collision actions
#: (:data:`.condensed.SINGLE_ACTION_RTOL`): ``auto`` single in the forced linear solves of
#: inexact Newton that cannot end their Newton solve (:data:`.condensed.
#: SINGLE_ACTION_REACH`), double in the others; ``double`` always; ``single`` always (the
#: last Newton correction then carries the actions' ~1e-7 rounding: absorber burst, 13 280
#: cells, 6 BDF1 steps, 6.7e-11 from a tight reference above 1e-4 of the largest unknown
#: against 1.4e-11, for twice ``auto``'s saving; Newton may converge only linearly where
#: the Jacobian is ill-conditioned, e.g. steady states).
#: ``collision_quiet``: ``bath`` (the default) applies the bath's linear response in the
#: actions of cells within :data:`.quiet.QUIET_TOL` of the bath in a steady solve, in a
#: time step within a tolerance that grows with its time term up to
#: :data:`.quiet.QUIET_TOL_STEP` (:func:`.quiet.tolerance`) (:mod:`.quiet`: a matrix
#: product shared by every such cell of a region and gap instead of the FFT operator),
#: ``off`` the FFT operator in every cell.
#: ``collision_balance``: ``lend`` (the default) balances the active cells' collision
#: work of the condensed actions and of the residual over the ranks by lending pieces of
#: them from busy ranks to less busy ones (:mod:`.lent`, :mod:`fvqp.parallel.lending`:
#: the same bits), ``off`` keeps every cell's work on its owner.
COLLISION_KEYS = {"collision_action": ("linear", "complex_step"),
                  "collision_spectra": ("single", "keep", "recompute"),
                  "collision_precision": ("auto", "double", "single"),
                  "collision_quiet": ("bath", "off"),
                  "collision_balance": ("lend", "off")}
#: ``[solver.petsc]`` keys of the Schur preconditioner checked at load: their accepted
#: values, the first a run's default (``schur_block_values``:
#: :data:`.schur.RUN_BLOCK_VALUES`, :data:`fvqp.solvers.cellblock_ilu.VALUES`)
SCHUR_VALUE_KEYS = {"schur_block_values": ("int16",) + tuple(
    v for v in CELL_BLOCK_VALUES if v != "int16")}


def _check_collision_keys(data, err) -> None:
    """``collision_action``, ``collision_spectra``, ``collision_precision``,
    ``collision_quiet`` and ``schur_block_values`` of ``[solver.petsc]`` name one of their
    values (:data:`COLLISION_KEYS`, :data:`SCHUR_VALUE_KEYS`)."""
    petsc = (data.get("solver") or {}).get("petsc") or {}
    for key, allowed in {**COLLISION_KEYS, **SCHUR_VALUE_KEYS}.items():
        if key in petsc and str(petsc[key]) not in allowed:
            err.add(f"solver.petsc.{key}", f"{key} = {petsc[key]!r} is not one of "
                    f"{', '.join(repr(a) for a in allowed)}.",
                    f"give {key} = {allowed[0]!r} (the default), or leave it out.")


def _off(value) -> bool:
    """A ``[solver.petsc]`` value that turns an option off."""
    return str(value).strip().lower() in ("false", "0", "no", "off", "")


def _check_condensed(data, err) -> None:
    """The condensed Schur solve (``[solver.petsc] schur_condensed``) eliminates the
    phonons cell by cell: it needs a cell-diagonal phonon block, i.e. no phonon diffusion
    between cells (``phonon_diffusion_constant`` of a region). It is an exact solve at the
    point of every Newton iteration (:mod:`.condensed`): PETSc's lags of the
    preconditioner or the Jacobian (:data:`SNES_LAGS` other than 1, or ``schur_lag =
    false``, which selects ``snes_lag_preconditioner = 2``) would hand it a stale point,
    and the Newton step would be solved with the Jacobian of an earlier iterate."""
    petsc = (data.get("solver") or {}).get("petsc") or {}
    value = petsc.get("schur_condensed")
    if value is None or _off(value):
        return
    for key in SNES_LAGS:
        lag = petsc.get(key)
        if lag is not None and str(lag).strip() != "1":
            err.add(f"solver.petsc.{key}", f"{key} = {lag} skips Newton iterations' "
                    "preconditioner set-ups, but schur_condensed = true is an exact "
                    "solve at the point of every Newton iteration (a lagged one would "
                    "solve with an earlier iterate's Jacobian).",
                    f"drop {key} (the condensed solve keeps its inner preconditioner "
                    "across Newton iterations itself, fvqp.solvers.lagged), or drop "
                    "schur_condensed.")
    if "schur_lag" in petsc and _off(petsc["schur_lag"]):
        err.add("solver.petsc.schur_lag", "schur_lag = false lags the preconditioner by "
                "PETSc's snes_lag_preconditioner = 2, but schur_condensed = true is an "
                "exact solve at the point of every Newton iteration.",
                "drop schur_lag (the default keeps the inner preconditioner across "
                "Newton iterations by fvqp.solvers.lagged), or drop schur_condensed.")
    for name, reg in data["regions"].items():
        if reg.get("active", True) and (reg.get("phonon_diffusion_constant") or 0.0) > 0:
            err.add("solver.petsc.schur_condensed", "the condensed solve eliminates the "
                    "phonons cell by cell, but region "
                    f"{name!r} has phonon diffusion between cells "
                    "(phonon_diffusion_constant).",
                    "drop schur_condensed (the Schur preconditioner then handles the "
                    "phonon diffusion), or the region's phonon_diffusion_constant.")
            return


def _region_gaps(data, err=None) -> dict:
    """The bath gaps (J) of the superconducting regions, as the run takes them (the
    region's material with the case's overrides, :func:`.regions.region_material`); a bath
    at or above a region's Tc is reported to ``err`` (if given) and the region left out."""
    from ...materials import UnknownMaterialError
    from ..spec import bath_above_gap, bath_gap, gap_closes_at
    from .regions import region_material

    T = data["bath"]["temperature"]
    gaps = {}
    for name, reg in data["regions"].items():
        if not reg.get("active", True) or reg.get("trap") or not reg.get("material"):
            continue
        try:
            mat = region_material(reg, reg["material"])
        except (UnknownMaterialError, TypeError):
            continue  # reported by _check (unknown material; delta0 and gap_ratio both)
        Tc = mat.Tc
        if reg.get("gap"):
            gaps[name] = reg["gap"]
            if T >= Tc and err is not None:  # a given gap does not make a film
                err.add("bath.temperature", f"{T:g} K is at or above Tc = {Tc:g} K of "
                        f"{mat.name} (region {name!r}), whose gap is given: above its Tc "
                        "the film is normal.", f"give a bath temperature below {Tc:g} K, "
                        "or the film's own Tc (regions.<name>.Tc), or trap = true for a "
                        "normal region.")
        elif T >= gap_closes_at(mat, Tc):
            if err is not None:
                bath_above_gap(err, "bath.temperature", mat, Tc, T,
                               where=f" (region {name!r})",
                               fix=", or trap = true for a normal region")
        else:
            gaps[name] = bath_gap(mat, T, Tc)
    return gaps


def _tunnels_si(data) -> dict:
    """``{boundary: (eV, kT_N)}`` in J of the case's tunnel junctions."""
    from ...units import E_CHARGE, K_B

    T = data["bath"]["temperature"]
    return {name: (E_CHARGE * bc["bias"], K_B * (bc.get("temperature") or T))
            for name, bc in (data.get("boundaries") or {}).items()
            if bc.get("type") == "tunnel"}


def _check_energy_grid(data, err) -> None:
    """The bath below every superconductor's Tc (unless its gap is fixed), and [energy]
    e_max above every gap and e_min at or below the smallest: the grid must hold the gap
    edges of every region. The gaps are the run's: of the region's material with the
    case's overrides (``Tc``, ``gap_ratio`` or ``delta0``; :func:`.regions.region_material`
    as :func:`.regions.region_params` reads them)."""
    from ..spec import ueV

    gaps = _region_gaps(data, err)
    e = data.get("energy") or {}
    if not gaps:
        return
    top = max(gaps, key=gaps.get)
    low = min(gaps, key=gaps.get)
    if e.get("e_max") is not None and e["e_max"] <= gaps[top]:
        err.add("energy.e_max", f"{ueV(e['e_max'])} is not above the gap "
                f"{ueV(gaps[top])} of region {top!r}: the grid would hold no states there.",
                f"give e_max above {ueV(gaps[top])} (the default is the largest gap + "
                "12 kT_bath), or leave it out.")
    if e.get("e_min") is not None:
        if e.get("e_max") is not None and e["e_min"] >= e["e_max"]:
            err.add("energy.e_min", f"{ueV(e['e_min'])} is not below e_max = "
                    f"{ueV(e['e_max'])}.", "give e_min < e_max, or leave e_min out.")
        elif e["e_min"] > gaps[low] * (1 + 1e-12):
            err.add("energy.e_min", f"{ueV(e['e_min'])} is above the gap {ueV(gaps[low])} "
                    f"of region {low!r}: the states at its gap edge would be cut off.",
                    f"give e_min <= {ueV(gaps[low])}, or leave it out (the smallest gap).")
    if not err.items:
        _check_slices(data, err, gaps)


def _grid_si(data, gaps: dict):
    """The QP bins of the run (:func:`.grid.bin_grid`) in J, from the regions' ``gaps``."""
    from ...units import K_B
    from .grid import bin_grid, source_gaps

    sources = data.get("sources") or []
    return bin_grid(data.get("energy") or {}, gaps.values(), K_B * data["bath"]["temperature"],
                    sources, bool((data.get("gap") or {}).get("self_consistent")),
                    list(_tunnels_si(data).values()), source_gaps(sources, gaps))


def _check_injection(data, geo, err) -> None:
    """The energy grid holds what the case injects (checked against the mesh, which says
    which region each tunnel junction sits on): all but
    :data:`fvqp.models.spec.TUNNEL_TAIL` of every tunnel junction's injected QPs and
    their energy (:func:`fvqp.spectra.injection.nis_injection_tail` at the gap of the
    junction's region; a junction biased above the grid would silently inject less
    current), every Gaussian QP source to :data:`fvqp.models.spec.SOURCE_WIDTHS` widths
    above its centre (:func:`fvqp.models.spec.check_sources_on_grid`), and the pairs a
    phonon source's central energy breaks (:func:`.grid.pair_top`; a grid that holds its
    centre but not its tail is reported by the run, :func:`.grid.pair_tail`). Only an
    explicit ``[energy] e_max`` can cut them: the default grid holds them all. Also: QP
    sources centred above the gap of their regions
    (:func:`fvqp.models.spec.check_sources_above_gap`)."""
    from ...spectra.injection import nis_injection_tail, nis_injection_top
    from ...units import E_CHARGE
    from ..spec import (
        SOURCE_WIDTHS,
        TUNNEL_TAIL,
        check_sources_above_gap,
        check_sources_on_grid,
        ueV,
        ueV_at_least,
    )
    from .grid import pair_top, source_gaps

    e_max = (data.get("energy") or {}).get("e_max")
    gaps = _region_gaps(data)
    check_sources_above_gap(err, data.get("sources"), gaps)
    if e_max is None or not gaps:
        return  # the default grid holds both
    top = float(_grid_si(data, gaps).edges[-1])
    for name, (bias, t_n) in _tunnels_si(data).items():
        if name not in geo.group_names:
            continue  # reported by the boundary checks
        # the cells of the junction's faces (exterior, or interior: a junction on a wire)
        on_face = (geo.face_group == geo.group_names.index(name))[geo.inc_face]
        cells = geo.inc_cell[on_face]
        regions = {geo.region_names[r] for r in set(geo.cell_region[cells].tolist())}
        on = [(gaps[r], r) for r in sorted(regions) if r in gaps]
        if not on:
            continue
        tail, delta, region = max((nis_injection_tail(top, d, bias, t_n), d, r)
                                  for d, r in on)
        if tail > TUNNEL_TAIL:
            need = nis_injection_top(delta, bias, t_n, TUNNEL_TAIL)
            err.add("energy.e_max", f"the grid ends at {ueV(top)}, but tunnel junction "
                    f"{name!r} (bias {bias / E_CHARGE * 1e6:.4g} uV) injects {tail:.3g} of "
                    f"its quasiparticles or their energy above it into region {region!r} "
                    f"(gap {ueV(delta)}): they would be lost, and the junction's current "
                    "with them.", f"raise e_max to at least {ueV_at_least(need)} (the grid then "
                    f"holds all but {TUNNEL_TAIL:g} of the injection), or leave it out.")
    check_sources_on_grid(err, data.get("sources"), top)
    sources = data.get("sources") or []
    for i, (s, gap) in enumerate(zip(sources, source_gaps(sources, gaps), strict=True)):
        if s.get("type") == "phonon" and s["energy"] - gap > top * (1 + 1e-12):
            err.add("energy.e_max", f"the grid ends at {ueV(top)}, but phonon source "
                    f"sources[{i}] ({ueV(s['energy'])}) breaks pairs into QPs up to "
                    f"{ueV(s['energy'] - gap)} (its energy less the gap {ueV(gap)}): most of "
                    "its phonons would lose the pairs with a QP at the gap edge (and above "
                    "twice the top find none), and escape instead of making QPs.",
                    f"raise e_max to at least {ueV_at_least(pair_top(s, gap))} (its phonons "
                    f"to {SOURCE_WIDTHS:g} widths), or leave it out (the default grid holds "
                    "them).")


def _check_slices(data, err, gaps: dict) -> None:
    """``[slices] energies`` within the QP bins as the run builds them
    (:func:`.grid.bin_grid`, here in SI from the regions' ``gaps``)."""
    from ...case.slices import check_slice_energies

    if not (data.get("slices") or {}).get("energies"):
        return
    g = _grid_si(data, gaps)
    check_slice_energies(data, err, float(g.edges[0]), float(g.edges[-1]), "energy bins",
                         below="the bins start at the smallest gap: there are no QP "
                         "states below", above="or raise [energy] e_max")


SPEC = ModelSpec(
    name="transport", region_schema=_REGION, boundary_types=_BOUNDARIES,
    initial_schema=_INITIAL, source_types=_SOURCES, fields=FIELDS,
    required_boundaries=_required_boundaries, optional_boundaries=_interfaces,
    atol_dimension="dimensionless",
    atol_default=1e-8, dimension_keys={1: ("cross_section",), 2: ("thickness",)},
    dimension_doc={"cross_section": 'e.g. "1200 nm^2"', "thickness": 'e.g. "100 nm"'},
    check=_check, check_given=_check_given, check_mesh=_check_injection,
    sections=_SECTIONS,
)


def run(case, **kwargs):
    """Run a validated transport case; see :func:`fvqp.models.transport.driver.run`."""
    from .driver import run as _run

    return _run(case, **kwargs)

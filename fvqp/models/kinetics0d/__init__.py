r"""Spatially uniform (0D) energy-resolved kinetics of quasiparticles and phonons.

The Chang-Scalapino / BoltzPhlow kinetic equations (notes Eqs. 31-40) of a thin film on a
substrate, without transport: QP occupation :math:`f(E)` and phonon occupation
:math:`n(\Omega)` on the shared energy grid of :mod:`fvqp.collisions`, driven by photon
absorption, phonon injection or NIS tunnel injection, with phonon escape to the bath.
Steady states by Newton (SNES) with the exact Jacobian, transients by PETSc TS (BDF)
and by the positivity-preserving time-relaxation scheme (Eqs. 46-51). See
``docs/theory_kinetics0d.md``.

Public API
----------
:class:`Kinetics0D` (model), drives :class:`PhotonDrive`, :class:`PhononInjection`,
:class:`TunnelInjection`, solvers :func:`steady_state`, :func:`evolve`, :func:`relax`,
:func:`steady_state_self_consistent` (gap from the gap equation, :mod:`.selfgap`),
observables in :mod:`fvqp.models.kinetics0d.observables`, and the case-file entry point
:func:`run`.
"""

from __future__ import annotations

from ...case.schema import Field, ListOf, Section, Variant
from ..base.schema import check_material_overrides, material_overrides, switch_window
from ..spec import ModelSpec
from .drives import Drive, PhononInjection, PhotonDrive, TunnelInjection
from .model import Kinetics0D
from .relaxation import RelaxationResult, relax, relaxation_step
from .selfgap import self_consistent_gap
from .solve import steady_state, steady_state_self_consistent
from .transient import evolve

__all__ = [
    "SPEC",
    "Drive",
    "Kinetics0D",
    "PhononInjection",
    "PhotonDrive",
    "RelaxationResult",
    "TunnelInjection",
    "evolve",
    "relax",
    "relaxation_step",
    "run",
    "self_consistent_gap",
    "steady_state",
    "steady_state_self_consistent",
]

_WINDOW = switch_window()

_DRIVES = {
    "photon": Section({
        "energy": Field("quantity", "photon energy hbar*omega (or give frequency)",
                        dimension="energy", positive=True, internal="energy"),
        "frequency": Field("quantity", "photon frequency", dimension="frequency",
                           positive=True),
        "power": Field("quantity", "absorbed power in the film", dimension="power",
                       required=True, positive=True),
        **_WINDOW,
    }, doc="photon absorption (pair breaking above 2 Delta, QP heating below)"),
    "phonon": Section({
        "energy": Field("quantity", "centre of the injected phonon spectrum",
                        dimension="energy", required=True, positive=True, internal="energy"),
        "width": Field("quantity", "Gaussian width (0: one grid node)", dimension="energy",
                       default=0.0, nonnegative=True, internal="energy"),
        "power": Field("quantity", "injected phonon power", dimension="power",
                       required=True, positive=True),
        **_WINDOW,
    }, doc="phonon injection with a Gaussian spectrum"),
    "tunnel": Section({
        "resistance": Field("quantity", "junction normal-state resistance R_T",
                            dimension="resistance", required=True, positive=True),
        "bias": Field("quantity", "bias voltage V", dimension="voltage", required=True),
        "temperature": Field("quantity", "normal-electrode temperature (default: bath)",
                             dimension="temperature", positive=True),
        **_WINDOW,
    }, doc="NIS tunnel injection"),
}

_SECTIONS = {
    "film": Section({
        "material": Field("str", "material name from `fvqp materials`", required=True),
        # the film's material constants (SI; source "case override" in the outputs)
        **material_overrides("Tc", "gap_ratio", "N0", "tau0", "tau0_phi"),
        "thickness": Field("quantity", "film thickness", dimension="length", required=True,
                           positive=True),
        "area": Field("quantity", "film area (volume = area * thickness)", dimension="area",
                      default=1e-10, positive=True),
        "escape_time": Field("quantity", "phonon escape time tau_l (default: the "
                             "material's escape time per thickness times the thickness)",
                             dimension="time", positive=True),
        "escape_time_pb": Field("float", "phonon escape time tau_l as a multiple of the "
                                "thermal pair-breaking time tau_pb(T_bath) of the film's "
                                "phonons (instead of escape_time; e.g. 3: tau_l = 3 tau_pb)",
                                positive=True),
        "self_consistent_gap": Field("bool", "Delta follows f through the gap equation "
                                     "(steady states; see docs/theory_kinetics0d.md)",
                                     default=False),
    }, required=True),
    "grid": Section({
        "spacing": Field("quantity", "energy spacing (default kT_bath/15)",
                         dimension="energy", positive=True, internal="energy"),
        "e_max": Field("quantity", "QP energy cut-off (default Delta + max(30 kT_bath, "
                       "photon energy + 10 kT_bath), higher where a drive needs it: a hot "
                       "tunnel electrode, a broad phonon spectrum; a given value must hold "
                       "every drive, see fvqp.models.kinetics0d.gridtop)",
                       dimension="energy", positive=True,
                       internal="energy"),
        "method": Field("str", "collision operator: fft, direct, or auto (direct below "
                        "600 QP cells, where it is exact to round-off pointwise)",
                        default="auto", choices=("auto", "fft", "direct")),
    }),
    "drives": ListOf(Variant(_DRIVES), "drive terms ([[drives]] with type = ...)"),
    "sweep": Section({
        "drive": Field("int", "index of the drive whose power or photon energy is swept",
                       default=0, nonnegative=True),
        "power": Field("list", "absorbed powers of that drive (one steady state each)",
                       item=Field("quantity", dimension="power", positive=True)),
        "photon_energy": Field("list", "photon (or phonon) energies of that drive",
                               item=Field("quantity", dimension="energy", positive=True,
                                          internal="energy")),
        "escape_time": Field("list", "phonon escape times tau_l",
                             item=Field("quantity", dimension="time", positive=True)),
        "escape_time_pb": Field("list", "phonon escape times in thermal pair-breaking "
                                "times", item=Field("float", positive=True)),
        "temperature": Field("list", "bath temperatures",
                             item=Field("quantity", dimension="temperature", positive=True)),
    }, doc="a parameter sweep of steady states: exactly one of the lists, shared over "
           "the MPI ranks (fvqp.models.kinetics0d.sweep)"),
    "solver": Section({
        "prefix": Field("str", "PETSc options prefix of the run: the time stepper reads "
                        "<prefix>ts_..., the steady-state Newton <prefix>snes_...",
                        default="kinetics0d_"),
        "ts": Field("options", "PETSc options of the time stepper (TS, prefix "
                    "<prefix>ts_; transients, and the TS start of a steady state Newton "
                    "cannot reach): ts_*, and snes_*/ksp_*/pc_* of the TS's own Newton",
                    default={}),
        "snes": Field("options", "PETSc options of the steady-state Newton (SNES, prefix "
                      "<prefix>snes_; steady runs and sweeps): snes_max_it, ksp_*, pc_*, "
                      "scaled_ksp_* of its GMRES", default={}),
        "petsc": Field("options", "not read by kinetics0d, which has two PETSc solvers: "
                       "give their options under ts or snes", default={}),
        "continuation": Field("bool", "a steady state that Newton cannot reach from the "
                              "quasi-thermal start nor the bath is continued from a warmer "
                              "bath's before the TS start (fvqp.models.kinetics0d."
                              "continuation: drive-set states far below Tc, e.g. readout "
                              "photons below 2 Delta); false: straight to the TS start",
                              default=True),
    }, doc="PETSc options per solver (fvqp.solvers.options: pushed under the solver's "
           "prefix, setFromOptions last, removed after use)"),
    "relaxation": Section({
        "enabled": Field("bool", "also run the time-relaxation scheme (transient runs)",
                         default=False),
        "order": Field("int", "1 or 2", default=1, choices=(1, 2)),
        "dt": Field("quantity", "fixed time step", dimension="time", positive=True),
    }),
}

_INITIAL = Section({
    "qp_temperature": Field("quantity", "initial QP temperature (default: bath)",
                            dimension="temperature", positive=True),
    "phonon_temperature": Field("quantity", "initial phonon temperature (default: "
                                "bath)", dimension="temperature", positive=True),
})

FIELDS = ("f", "n")


#: examples of the Kaplan times the fix of a missing one suggests
_KAPLAN_EXAMPLES = {"tau0": 'tau0 = "100 ns"', "tau0_phi": 'tau0_phi = "0.1 ns"'}


def _check(data, err) -> None:
    from ...materials import UnknownMaterialError, get_material
    from ..base.schema import case_material, check_steady_timing
    from ..spec import check_bath_and_grid

    # [output] times and the [time] keys of the steps in a steady case: the loader's
    check_steady_timing(data, err, items="drives", pulse="")
    film = data["film"]
    try:
        get_material(film["material"])
    except UnknownMaterialError as exc:
        err.add("film.material", str(exc).strip("'\""), "")
        return
    check_material_overrides(film, "film", err)
    if err.items:
        return
    mat = case_material(film)
    if film.get("escape_time") is not None and film.get("escape_time_pb") is not None:
        err.add("film.escape_time_pb", "the escape time is given twice (escape_time and "
                "escape_time_pb).", "keep one of them.")
    missing = [k for k in ("tau0", "tau0_phi") if getattr(mat, k) is None]
    if missing:
        err.add(f"film.{missing[0]}", f"{mat.name} has no {' and no '.join(missing)} "
                "(Kaplan times) for the collision operators.",
                f"give {' and '.join(missing)} under [film] (e.g. "
                f"{', '.join(_KAPLAN_EXAMPLES[k] for k in missing)}), or choose a material "
                "with them (see `fvqp materials`).")
    if film.get("escape_time") is None and film.get("escape_time_pb") is None \
            and not mat.tau_esc_per_thickness:
        err.add("film.escape_time", f"{mat.name} has no phonon escape time per thickness "
                "in the database.", 'give escape_time = "1 ns".')
    check_bath_and_grid(err, mat, mat.Tc, data["bath"]["temperature"],
                        (data.get("grid") or {}).get("e_max"), "grid.e_max",
                        ", or leave it out (the default).",
                        model="delta0" if data["film"].get("self_consistent_gap")
                        else "alpha")
    if not err.items:
        _check_grid_top(data, mat, err)
    if data["film"].get("self_consistent_gap") and not data.get("time", {}).get("steady"):
        err.add("film.self_consistent_gap", "the self-consistent gap is available for "
                "steady states only (transients keep the bath gap).",
                "set steady = true under [time], or self_consistent_gap = false.")
    _check_sweep(data, err)
    _check_solver(data, err)
    for i, d in enumerate(data.get("drives") or []):
        if d and d.get("type") == "photon" and d.get("energy") is None \
                and d.get("frequency") is None:
            err.add(f"drives[{i}]", "a photon drive needs energy or frequency.",
                    'add energy = "200 ueV" or frequency = "90 GHz".')
        if d and d.get("type") == "photon" and d.get("energy") is not None \
                and d.get("frequency") is not None:  # the frequency was ignored
            err.add(f"drives[{i}].frequency", "the photon energy is given twice (energy "
                    "and frequency).", "keep one of them.")


def _check_grid_top(data, mat, err) -> None:
    """An explicit ``[grid] e_max`` holds every drive's spectrum (:mod:`.gridtop`: a cut
    one is not reported by the run), at every point of a sweep of the photon energy or the
    bath temperature."""
    from ...units import E_CHARGE, HBAR, K_B
    from ..spec import SOURCE_WIDTHS, TUNNEL_TAIL, bath_gap, ueV, ueV_at_least
    from .gridtop import PHOTON_KT, drive_spectra, needed_tops

    e_max = (data.get("grid") or {}).get("e_max")
    if e_max is None:
        return
    sw = data.get("sweep") or {}
    base = [dict(d) for d in data.get("drives") or []]
    points = [(data["bath"]["temperature"], base, "")]
    if sw.get("temperature"):
        points = [(T, base, f" at the sweep's temperature {T:g} K") for T in sw["temperature"]]
    elif sw.get("photon_energy"):
        k = sw.get("drive") or 0
        points = [(data["bath"]["temperature"],
                   [{**d, "energy": e} if i == k else d for i, d in enumerate(base)],
                   f" at the sweep's energy {ueV(e)}") for e in sw["photon_energy"]]
    why = {"photon": lambda e, w: f"photons of {ueV(e)} absorbed by QPs within "
                                  f"{PHOTON_KT:g} kT_bath of the gap edge land above it",
           "phonon": lambda e, w: f"phonons injected up to {ueV(e + SOURCE_WIDTHS * w)} "
                                  f"({SOURCE_WIDTHS:g} widths) lie above its top phonon "
                                  "node, e_max + the gap",
           "tunnel": lambda e, w: f"the tunnel junction injects more than {TUNNEL_TAIL:g} of "
                                  "its QPs or their energy above it (less current than the "
                                  "junction carries)"}
    for T, drives, where in points:
        spectra = drive_spectra(drives, T, hbar=HBAR, volt=E_CHARGE, kelvin=K_B)
        tops = needed_tops(spectra, bath_gap(mat, T, mat.Tc), K_B * T)
        for i, ((kind, e, w, _), need) in enumerate(zip(spectra, tops, strict=True)):
            if e_max < need * (1 - 1e-12):
                err.add("grid.e_max", f"{ueV(e_max)} cuts drives[{i}]{where}: "
                        f"{why[kind](e, w)}; the run would put the drive's energy into the "
                        "wrong states without a word.", f"raise e_max to at least "
                        f"{ueV_at_least(need)}, or leave it out (the default holds every "
                        "drive).")
                return


def _check_solver(data, err) -> None:
    """Each ``[solver]`` options table holds only its own solver's options: ``ts_*``
    names the time stepper, ``scaled_*`` the GMRES inside Newton's linear solve
    (:class:`fvqp.solvers.denselinear.LaggedSchur`); ``petsc`` is ambiguous here."""
    sv = data.get("solver") or {}
    if sv.get("petsc"):
        err.add("solver.petsc", "kinetics0d has two PETSc solvers, the time stepper and "
                "the steady-state Newton, and one options table cannot say which is meant.",
                "move the options to [solver.ts] (transients) or [solver.snes] (steady "
                "states, sweeps).")
    for key in sv.get("snes") or {}:
        if str(key).lstrip("-").startswith("ts_"):
            err.add(f"solver.snes.{key}", "a time-stepper option under the Newton solver's "
                    "options.", "move it to [solver.ts].")
    for key in sv.get("ts") or {}:
        if str(key).lstrip("-").startswith("scaled_"):
            err.add(f"solver.ts.{key}", "an option of the steady-state Newton's GMRES "
                    "under the time stepper's options.", "move it to [solver.snes].")
    if sv.get("snes") and not (data.get("time") or {}).get("steady"):
        err.add("solver.snes", "a transient run has no steady-state Newton solve (the "
                "time stepper's own Newton reads snes_* options from [solver.ts]).",
                "move the options to [solver.ts], or set steady = true under [time].")


def _check_sweep(data, err) -> None:
    """One swept list, a steady run, and a drive to sweep when its key needs one."""
    from .sweep import SWEEP_KEYS

    sw = data.get("sweep") or {}
    given = [k for k in SWEEP_KEYS if sw.get(k) is not None]
    if not given:  # no sweep (the table's drive index alone has a default)
        return
    if len(given) != 1:
        err.add("sweep", f"a sweep needs exactly one list of {', '.join(SWEEP_KEYS)}; "
                f"got {given or 'none'}.", 'e.g. power = ["1e-19 W", "1e-18 W"].')
        return
    if not sw[given[0]]:
        err.add(f"sweep.{given[0]}", "the list of values is empty.", "give at least one.")
    if not data.get("time", {}).get("steady"):
        err.add("sweep", "sweeps are of steady states.", "set steady = true under [time].")
    if data["film"].get("self_consistent_gap"):
        err.add("sweep", "a sweep keeps the bath gap (self_consistent_gap is not swept).",
                "set self_consistent_gap = false.")
    drives = data.get("drives") or []
    if given[0] in ("power", "photon_energy"):
        i = sw.get("drive") or 0
        if i >= len(drives):
            err.add("sweep.drive", f"drive {i} does not exist ({len(drives)} drives).",
                    "give the index of a [[drives]] entry (0 = the first).")
        elif given[0] == "photon_energy" and drives[i].get("type") == "tunnel":
            err.add("sweep.photon_energy", "a tunnel drive has no photon energy.",
                    "sweep a photon or phonon drive, or sweep power.")
    if given[0] in ("escape_time", "escape_time_pb") and (
            data["film"].get("escape_time") is not None
            or data["film"].get("escape_time_pb") is not None):
        err.add(f"sweep.{given[0]}", "the film's escape time is also given under [film].",
                "leave escape_time / escape_time_pb out of [film] when sweeping it.")


#: ``[time]`` keys of the mesh models' BDF steps that the transient's PETSc TS does not
#: read (it adapts its steps to ``rtol``, with absolute tolerances from ``rtol`` and the
#: initial state: :func:`.transient.default_atol`)
TS_UNREAD = ("dt_min", "dt_max", "adaptive", "newton_tol", "atol")


def _check_given(raw, err) -> None:
    """``[output] every`` and ``fields``, written out: the transient records every
    accepted step in ``<case>_series.csv`` and its states (all of f and n) at ``[output]
    times`` (:mod:`.driver`); no run reads ``every`` (its default, 10, is the mesh
    models') or ``fields``. The ``[time]`` keys of a transient that its time stepper does
    not read (:data:`TS_UNREAD`; those of a steady case are the loader's)."""
    from ..spec import check_fields_unread

    out = raw.get("output") if isinstance(raw.get("output"), dict) else {}
    t = raw.get("time") if isinstance(raw.get("time"), dict) else {}
    if not t.get("steady"):
        for key in TS_UNREAD:
            if key in t:
                err.add(f"time.{key}", "the transient's time stepper (PETSc TS) adapts its "
                        "steps to rtol alone (its absolute tolerances follow from rtol and "
                        "the initial state): the run does not read it.",
                        f"remove {key} (the time stepper's own options go under "
                        "[solver.ts], e.g. ts_adapt_dt_max in units of the film's tau0).")
    if "every" in out:
        err.add("output.every", "kinetics0d has no output every N steps: a transient "
                "records every accepted step in <case>_series.csv and its states at "
                "[output] times, and the run does not read every.",
                "remove every (give times = [...] for states at chosen times).")
    check_fields_unread(out, err, "kinetics0d", FIELDS)


SPEC = ModelSpec(
    name="kinetics0d", uses_mesh=False, sections=_SECTIONS, fields=FIELDS,
    initial_schema=_INITIAL, check=_check, check_given=_check_given,
    # `fvqp run --resume` may extend a transient (driver) and change [output] figures
    digest_exempt=("time.end", "output.figures"),
    unused_sections=("units",),  # the film's material sets the units (build.film_units)
)


def run(case, output_dir: str | None = None, resume: bool = False,
        max_steps: int | None = None):
    """Run a validated kinetics0d case; see :func:`fvqp.models.kinetics0d.driver.run`."""
    from ..base import run_model
    from .build import film_units
    from .driver import run as _run

    return run_model("kinetics0d", _run, case, output_dir, resume=resume,
                     max_steps=max_steps, units=film_units, option_tables=_tables(case))


def _tables(case) -> list[tuple[str, dict, str]]:
    """The case's option tables: ``[solver.snes]`` under ``<prefix>snes_`` and
    ``[solver.ts]`` under ``<prefix>ts_``, as :func:`.build.solver_options` gives them to
    the solvers (the tables carry no quantities: the SI case's are the internal ones)."""
    from .build import solver_options

    s = solver_options(getattr(case, "case", case).data)
    return [(s["prefix"], s["options"], "[solver.snes]"),
            (s["ts_prefix"], s["ts_options"], "[solver.ts]")]

"""How the transport model's Newton solves are configured: the PETSc option tables of each
Jacobian mode, the choice of mode for ``[numerics] jacobian = "auto"``, and the model
preconditioner of the Schur mode (a :class:`fvqp.solvers.JacobianConfig`, handed to the
solvers; the physics problem does not carry it).

Modes: ``assembled`` (Newton with the exact Jacobian assembled cell-block by cell-block,
PETSc's additive Schwarz with ILU(0)), ``matrix_free`` (the exact action, algebraic
multigrid on the assembled transport-plus-diagonal matrix), ``schur`` (the exact action,
preconditioned by eliminating the phonons per cell, :mod:`.schur`, lagged by
:mod:`fvqp.solvers.lagged`).
"""

from __future__ import annotations

import logging

import numpy as np

from ...solvers import JacobianConfig
from ...solvers.forcing import KEYS as FORCING_KEYS
from ...solvers.forcing import forcing_options
from ...solvers.lagged import LAG_DEFAULTS, LaggedPreconditioner
from ...solvers.linear import case_option, option_value
from ...solvers.options import FILM_GAMG, normalise_prefix
from . import COLLISION_KEYS
from .schur import RUN_BLOCK_VALUES, SchurPreconditioner

__all__ = ["AUTO_ASSEMBLED_ENTRIES", "CONDENSED_DEFAULT", "DEFAULT_PETSC", "FORCING_DEFAULT",
           "MATRIX_FREE_PETSC", "SCHUR_LAGGED_PETSC", "SCHUR_OUTER_DROP", "SCHUR_PETSC",
           "collision_options", "condensed_applies", "condensed_solve", "jacobian_config",
           "jacobian_mode", "krylov_counts", "assembled_preconditioner", "petsc_options"]

log = logging.getLogger("fvqp.transport")

#: PETSc defaults under the case's prefix ([solver.petsc] and the command line override):
#: Newton with the exact Jacobian; ILU(0) is exact on the dense per-cell collision blocks.
#: The subdomains overlap by one layer of cells (restricted additive Schwarz; on one rank
#: the same ILU(0) of the whole matrix as block Jacobi): block Jacobi cuts the transport
#: between the ranks, Krylov per Newton on the coarse absorber burst (520 cells, 3 BDF1
#: steps) 6.2, 24.7, 25.7, 25.7 at 1, 2, 4, 8 ranks; with the overlap 6.17, 6.17, 8.83,
#: 8.83 (benchmarks/mesh_scaling.py, 2026-11-22). On several ranks each subdomain is
#: eliminated in RCM order of the global face graph (:func:`assembled_preconditioner`): PETSc's
#: sorted subdomains cut the thin films' cell columns in the wrong order; Krylov per
#: Newton on 520 cells 6.00 at 1, 2, 4, 8 ranks (sorted: 6.00, 6.00, 10.33, 10.33), on
#: 11 680 cells 6.17, 6.17, 6.67, 6.58 (sorted: 6.17, 13.17, 32.8, 33.2;
#: benchmarks/transport_ranks.py, 3 BDF1 steps of 0.2 ns, 16 bins, 2026-11-23)
DEFAULT_PETSC = {
    "snes_type": "newtonls", "snes_linesearch_type": "bt", "snes_rtol": 1e-10,
    "snes_stol": 1e-14, "snes_max_it": 40,
    "ksp_type": "gmres", "ksp_rtol": 1e-10, "ksp_atol": 1e-300, "ksp_max_it": 1000,
    "ksp_gmres_restart": 100, "pc_type": "asm", "sub_pc_type": "ilu",
}
#: above this many dense collision-block entries (all cells) 'auto' goes matrix-free
AUTO_ASSEMBLED_ENTRIES = 2e7
#: matrix-free mode: the preconditioning matrix is a diffusion operator per energy plus a
#: diagonal: algebraic multigrid (measured on the film-trap case: 63 Krylov iterations in
#: 5 Newton steps, 16 s, against 96 s for the assembled Jacobian with block ILU; the
#: assembled Jacobian with the coarse level of steady solves: 158 Krylov, 11.8 s).
#: GAMG drops graph edges below 2 % of the coupling (:data:`fvqp.solvers.options.
#: FILM_GAMG`, shared with heat: without it GMRES broke down on the collisionless steady
#: absorber of tests/test_bte_absorber3d.py). Krylov in 3 Newton steps, no threshold /
#: 0.02: coarse absorber breakdown / 53 (54 on 2 ranks), medium absorber (l = 50,
#: 25 um) breakdown / 72, 74, with collisions breakdown / 91; NIS wire 38 / 38, film
#: trap 67 / 57 (2026-11-24)
MATRIX_FREE_PETSC = dict(FILM_GAMG)
#: schur mode: the outer PC is the model's (python) preconditioner (no pc defaults),
#: rebuilt every second Newton iteration (measured on the coarse absorber burst, 64 bins:
#: same 4 Krylov iterations per Newton step, 12.6 -> 8.6 s; the dense cell Jacobians
#: dominate the cost)
SCHUR_OUTER_DROP = ("pc_type", "sub_pc_type")
SCHUR_PETSC = {"snes_lag_preconditioner": 2}
#: schur mode with the lagged preconditioner (fvqp.solvers.lagged, the default; option
#: ``-<prefix>schur_lag 0`` restores the above): PETSc asks for a preconditioner before
#: every linear solve and the lag rule keeps or rebuilds it across Newton iterations and
#: steps. Inexact Newton (``-<prefix>snes_ksp_ew``, Eisenstat-Walker) is not a default:
#: on the coarse absorber burst it halved the Krylov iterations (48 -> 24) but took 18
#: instead of 12 Newton iterations (4.4 against 5.0 CPU s with the double-precision
#: build), and its loose last linear solve leaves an error of ~eta * newton_tol in
#: adaptive BDF steps: 2 ranks and serial then differed by 1.5e-8 (test_transport_runs,
#: 1e-8 required) -- Newton with exact linear solves converges quadratically past it
SCHUR_LAGGED_PETSC = {"snes_lag_preconditioner": 1}
#: the schur mode's Newton systems solved by the condensed solve (:mod:`.condensed`)
#: where it applies (:func:`condensed_applies`) unless ``[solver.petsc]
#: schur_condensed`` (or ``-<prefix>schur_condensed``) says otherwise; ``schur_condensed =
#: false`` keeps the phonon-eliminating preconditioner under an outer GMRES. Default since
#: 2026-11-23: every transport test passed with it at unchanged tolerances (the schur
#: runs: 2 ranks = serial, Krylov per Newton on 2 ranks <= 1.25 x serial, cell storage =
#: AIJ, the condensed burst = the full solve)
CONDENSED_DEFAULT = True
#: the schur mode's residual-tested Newton solves (fixed steps, steady states) solve their
#: first linear system of each step loosely (:mod:`fvqp.solvers.forcing`, rule "first":
#: to 1e-5; adaptive steps keep exact solves) unless ``[solver.petsc] newton_forcing =
#: false`` (or ``-<prefix>newton_forcing 0``); ``"ew"`` for Eisenstat-Walker throughout;
#: the other modes only if a case asks (the assembled path with "ew" on the 520-cell
#: absorber's transient: 197 -> 220 Newton, 2 851 -> 2 337 Krylov, 5 % slower). Absorber
#: burst, 13 280 cells x 66 bins, 6 BDF1 steps (one thread, idle): 12 Newton / 58 Krylov
#: -> 12 / 45, 19.1 -> 16.7-17.4 s of stepping; the unknowns above 1e-4 of the largest as
#: accurate as with exact solves (4.8e-12 from a tight reference), the totals of
#: summary.json to 1e-12
FORCING_DEFAULT = True
#: cell aggregates of the assembled path's coarse level in steady solves:
#: ``max(COARSE_AGGREGATES, COARSE_PER_RANK * ranks)`` (:func:`assembled_preconditioner`,
#: :class:`fvqp.solvers.twolevel.TwoLevelPC`; option ``-<prefix>coarse_aggregates`` for
#: the whole mesh, 0 = one level). A steady state is the infinite-step limit, where
#: one-level Schwarz loses the global coupling -- across the rank cut, and within a rank
#: as well where ILU(0) is far from exact. Krylov counts (2026-11-23, loaded machine):
#: the NIS wire (``cases/transport_nis_wire.toml``, 326 cells x 154 unknowns, 3 Newton)
#: at 1, 2, 4, 8 ranks: one level 16, 144, 341, 416; the default 16, 33, 38, 33 (1.5 /
#: 1.6 s at 2 / 4 ranks, one level 1.4 / 2.4 s); the film trap
#: (``cases/transport_film_trap.toml``, 2 500 cells x 84 unknowns, 5 Newton): one level
#: 2 068 serially (54 s); 16 / 32 / 64 aggregates 234 / 216 / 158 (14.8 / 13.1 / 11.8
#: s), 158 on 2 ranks with 64 (7.9 s; 218 with 32). Coarse unknowns per QP bin only
#: (phonons cell-local), NIS wire at 2 / 8 ranks with 16 per rank: Krylov 37 / 33, peak
#: 386 / 211 MB per rank, wall 1.6 / 2.1 s; with the 110 phonon modes too 32 / 31, 424 /
#: 267 MB, 2.3 / 4.9 s. Transient steps stay one-level (the option adds the level to
#: them): flat without it and not lowered by it -- the coarse absorber (520 cells x 16
#: bins), the 3 BDF1 steps of 20 ns after 10 ns, Krylov per Newton at 1, 2, 4, 8 ranks:
#: one level 21.25, 21.00, -, 21.12; 16 aggregates per rank -, 23.50, 22.50, 20.88; 64
#: aggregates per QP bin 22.38, 22.50 at 1, 2 (benchmarks/transport_ranks.py): what grows
#: with the step there is the ILU(0)'s count. On the 2-D film trap with 3 BDF1 steps the
#: option does pay at long steps: Krylov (wall s) one level / 64 aggregates 267 (15.9) /
#: 132 (13.1) at 20 ns, 70 (11.6) / 63 (11.5) at 1 ns, 21 (7.4) / 20 (7.5) at 0.1 ns
COARSE_AGGREGATES = 64
COARSE_PER_RANK = 16
# Small steady runs stay assembled (with the coarse level above) under ``auto``.
# Matrix-free with algebraic multigrid on the diffusion-plus-diagonal preconditioning
# matrix beats it on both shipped steady cases (Krylov, wall s, peak MB per rank;
# 2026-11-23, load ~1): NIS wire serial 38, 0.96 s, 168 MB against 16, 2.3 s, 582 MB;
# 2 ranks 38, 0.91 s against 33, 1.3 s; film trap serial 67, 7.0 s, 299 MB against
# 158, 12.5 s, 1 245 MB; 2 ranks 58, 4.1 s against 158, 7.0 s; but not on the steady
# absorber with collisions (coarse mesh, 1 pW at 1 meV; whole run, 2026-11-24): 91
# Krylov, 5.7-6.0 s against 370, 4.2-4.3 s, the same peak memory (445 MB). A case may
# choose it. (Until 2026-11-24 its GAMG, without a drop threshold, broke down on the
# collisionless steady absorber: :data:`MATRIX_FREE_PETSC`.)


def jacobian_mode(values, n_cells: int, grid) -> str:
    """The Jacobian mode of a case (``[numerics] jacobian``); ``auto``: assembled below
    :data:`AUTO_ASSEMBLED_ENTRIES` dense collision-block entries (``n_cells`` cells of
    the bin ``grid``), else matrix-free for steady and Schur for transient runs
    (why small steady runs stay assembled: the comment above :func:`jacobian_mode`)."""
    mode = values["numerics"]["jacobian"]
    if mode != "auto":
        return mode
    entries = n_cells * grid.n * (grid.n + 2 * grid.n_ph)
    if entries < AUTO_ASSEMBLED_ENTRIES:
        return "assembled"
    # measured: steady, transport-dominated (film trap) matrix-free 40 s vs schur 68 s;
    # transient burst (coarse absorber, 64 bins) schur 8.6 s vs matrix-free 435 s
    return "matrix_free" if values["time"]["steady"] else "schur"


def jacobian_config(problem, values) -> tuple[JacobianConfig, bool]:
    """How Newton's Jacobian is formed for ``problem`` (its ``jacobian`` mode) and whether
    the Schur preconditioner is lagged across Newton iterations and steps (option
    ``-<prefix>schur_lag``, default on).

    The Schur mode's inner solve takes the ``schur_*`` keys of ``[solver.petsc]`` (prefix
    stripped). Its storage is the float32 cell blocks where they apply (``auto``, the
    default of :data:`.schur.STORAGE`: serial, the default inner solve, no three
    pairwise-neighbour cells), else AIJ; ``aij`` or ``cells`` force one. (The cell
    storage's answers agree with AIJ's:
    every flow to < 1e-14 of its resolution on the absorber burst; the 4e-3 of the
    lead-end flow seen there is a flow far below its resolution, summary.json
    flow_resolution, tests/test_transport_flow_tolerance.py.) Its Newton systems are solved
    by the condensed solve where it applies (:data:`CONDENSED_DEFAULT`,
    :func:`condensed_applies`; ``schur_condensed`` of the case decides otherwise).
    """
    pc, lagged = None, False
    if problem.jacobian == "schur":
        prefix = normalise_prefix(values["solver"]["prefix"])
        inner = {k[len("schur_"):]: v for k, v in values["solver"]["petsc"].items()
                 if k.startswith("schur_")}
        # the lag keys (schur_lag, schur_lag_<k>) configure the lagging, not the inner
        # solve: the case's values, the command line winning
        lagged = case_option(prefix + "schur_lag", inner, "lag", True)
        lag = {k: case_option(prefix + f"schur_lag_{k}", inner, f"lag_{k}", v)
               for k, v in LAG_DEFAULTS.items()}
        inner.setdefault("block_values", RUN_BLOCK_VALUES)  # the case's, else int16
        if "condensed" not in inner and CONDENSED_DEFAULT:
            inner["condensed"] = condensed_applies(problem, values, lagged)
        schur = SchurPreconditioner(problem, prefix, inner)
        if schur.condensed is not None:
            _check_no_snes_lag(prefix)
        pc = LaggedPreconditioner(schur, lag=lagged, logger=log, **lag)
    forcing = forcing_options(normalise_prefix(values["solver"]["prefix"]),
                              values["solver"]["petsc"], FORCING_DEFAULT and pc is not None)
    return JacobianConfig("matrix_free" if problem.matrix_free else "assembled",
                          problem.block_size, pc, forcing), lagged


def collision_options(values) -> tuple[str, str, str, str, str]:
    """``(action, spectra, precision, quiet, balance)`` of the Jacobian action's collision
    part (:class:`.problem.TransportProblem`): the case's ``collision_action``,
    ``collision_spectra``, ``collision_precision``, ``collision_quiet`` and
    ``collision_balance`` of
    ``[solver.petsc]``, the command line's ``-<prefix>collision_*`` winning, else the
    defaults of :data:`COLLISION_KEYS` (keys of fvqp's own, never handed to PETSc)."""
    prefix = normalise_prefix(values["solver"]["prefix"])
    petsc = dict(values["solver"]["petsc"])
    out = []
    for key, allowed in COLLISION_KEYS.items():
        value = case_option(prefix + key, petsc, key, allowed[0])
        if value not in allowed:  # (a case's value is checked at load: the command line)
            raise ValueError(f"-{prefix}{key} {value}: not one of "
                             f"{', '.join(repr(a) for a in allowed)}. Fix: give one of "
                             f"them, or leave the option out (default {allowed[0]!r})")
        out.append(value)
    action, spectra, precision, quiet, balance = out
    return action, spectra, precision, quiet, balance


def condensed_applies(problem, values, lagged: bool) -> bool:
    """Whether the condensed solve (:mod:`.condensed`) can solve this case's Newton systems
    (the default where it applies, :data:`CONDENSED_DEFAULT`): no phonon diffusion between
    cells (the phonon block must be cell-diagonal), the lagged preconditioner on, and no
    PETSc lag of the preconditioner or the Jacobian (``snes_lag_preconditioner``,
    ``snes_lag_jacobian`` other than 1 in ``[solver.petsc]`` or on the command line)."""
    if len(problem.ph_pairs) or not lagged:
        return False
    prefix = normalise_prefix(values["solver"]["prefix"])
    petsc = values["solver"]["petsc"]
    for key in ("snes_lag_preconditioner", "snes_lag_jacobian"):
        if str(petsc.get(key, 1)).strip() != "1" or option_value(prefix + key, 1) != 1:
            return False
    return True


def _check_no_snes_lag(prefix: str) -> None:
    """The condensed solve is exact at the point of every Newton iteration: PETSc's lags
    of the preconditioner or the Jacobian given on the command line are refused here (a
    case file's are refused at load, :func:`fvqp.models.transport._check_condensed`)."""
    for key in ("snes_lag_preconditioner", "snes_lag_jacobian"):
        lag = option_value(prefix + key, 1)
        if lag != 1:
            raise ValueError(f"-{prefix}{key} {lag} with -{prefix}schur_condensed: the "
                             "condensed solve is exact at the point of every Newton "
                             f"iteration; drop -{prefix}{key} (its inner preconditioner "
                             "is kept across Newton iterations by fvqp.solvers.lagged) "
                             f"or set -{prefix}schur_condensed 0")


def condensed_solve(config: JacobianConfig) -> bool:
    """True if the Schur preconditioner of ``config`` is the exact condensed solve of the
    Newton system (:mod:`.condensed`, ``-<prefix>schur_condensed``)."""
    return getattr(getattr(config.preconditioner, "pc", None), "condensed", None) is not None


def petsc_options(case, mode: str = "assembled", lagged: bool = False,
                  condensed: bool = False) -> dict:
    """PETSc options of the outer solve for a Jacobian mode (``[solver.petsc]`` wins; the
    ``schur_*`` keys configure the inner Schur-complement KSP). With the ``condensed``
    Schur solve (an exact solve of the Newton system, :mod:`.condensed`) the outer KSP
    defaults to ``preonly``: an outer GMRES would only allocate its state-length basis
    (~23 KB per cell at 64 bins) to check the solve in 1-2 iterations."""
    d = case.values
    base = {**DEFAULT_PETSC, **(MATRIX_FREE_PETSC if mode == "matrix_free" else {})}
    if mode == "schur":
        base = {k: v for k, v in base.items() if k not in SCHUR_OUTER_DROP}
        base.update(SCHUR_LAGGED_PETSC if lagged else SCHUR_PETSC)
        if condensed and "ksp_type" not in d["solver"]["petsc"]:
            base = {k: v for k, v in base.items() if not k.startswith("ksp_gmres_")}
            base["ksp_type"] = "preonly"
    opts = {**base, **{k: v for k, v in d["solver"]["petsc"].items()
                       if not k.startswith("schur_") and k not in FORCING_KEYS
                       and k not in COLLISION_KEYS}}
    if opts.get("pc_type") not in ("bjacobi", "asm"):  # no sub-solvers: no sub_ defaults
        opts = {k: v for k, v in opts.items()
                if not k.startswith("sub_") or k in d["solver"]["petsc"]}
    return opts


def assembled_preconditioner(nonlinear, problem, values):
    """Configure the assembled Jacobian's preconditioner: on several ranks, give PETSc's
    additive Schwarz (the :data:`DEFAULT_PETSC` PC) this rank's subdomain in reverse
    Cuthill-McKee order of the global face graph
    (:func:`fvqp.parallel.overlap.subdomain_rows`), as the Schur preconditioner's inner
    solve does (:mod:`.schur`): PETSc's own subdomains list their rows by global number,
    and ILU(0) then eliminates the thin films' cell columns in the wrong order where the
    ranks cut them; and add the coarse level on cell aggregates to steady solves
    (:data:`COARSE_AGGREGATES`; option ``-<prefix>coarse_aggregates`` for any solve,
    aggregates of the whole mesh, 0 for one level; the coarse solve
    reads ``-<prefix>coarse_*``, ``-<prefix>coarse_post 1`` applies the one-level PC
    again after the correction). The coarse unknowns are the QP bins of every aggregate,
    and its phonon modes too where phonons diffuse between cells (option
    ``-<prefix>coarse_phonons``): a cell-local phonon mode needs no global correction.

    The subdomain is the owned cells plus ``-<prefix>pc_asm_overlap`` (default 1) layers
    of neighbours; ``-<prefix>asm_subdomains petsc`` leaves the subdomains to PETSc. With
    another PC than ASM or block Jacobi, or another mode nothing changes.

    Returns
    -------
    fvqp.solvers.twolevel.TwoLevelPC or bool
        The two-level PC if a coarse level was added, else True if the subdomain was
        set, False if nothing changed.
    """
    from ...parallel.coarse import aggregate_space
    from ...parallel.overlap import subdomain_rows
    from ...solvers.asm import set_asm_subdomains
    from ...solvers.twolevel import add_coarse_level

    if problem.jacobian != "assembled":
        return False
    prefix = normalise_prefix(values["solver"]["prefix"])
    sub = None
    if problem.cells.size > 1 and option_value(prefix + "asm_subdomains", "rcm") == "rcm":
        layers = option_value(prefix + "pc_asm_overlap", 1)
        sub = subdomain_rows(problem.cells, layers, problem.B)
    size = problem.cells.size
    steady = bool(values["time"]["steady"])
    n_agg = option_value(prefix + "coarse_aggregates",
                         max(COARSE_AGGREGATES, COARSE_PER_RANK * size) if steady else 0)
    ksp = nonlinear.snes.getKSP()
    if n_agg > 0 and ksp.getPC().getType() in ("asm", "bjacobi"):
        # phonon modes get coarse unknowns only where they move between cells
        phonons = option_value(prefix + "coarse_phonons", bool(len(problem.ph_pairs)))
        comps = None if phonons else np.arange(problem.N)
        R, P = aggregate_space(problem.cells, n_agg, problem.B, comps)
        post = bool(option_value(prefix + "coarse_post", False))
        n_coarse = int(problem.cells.sum(float(R.shape[0])))
        log.info("coarse level: %d cell aggregates x %d unknowns per cell, %d coarse "
                 "unknowns (exact LU; -%scoarse_aggregates 0 for one level)", n_agg,
                 problem.B, n_coarse, prefix)
        return add_coarse_level(ksp, R, P, prefix, sub, post,
                                fix=f"one level with -{prefix}coarse_aggregates 0")
    return False if sub is None else set_asm_subdomains(nonlinear, *sub)


def krylov_counts(nonlinear, config: JacobianConfig) -> dict:
    """The summary's Krylov counts from the Newton solver ``nonlinear``
    (:class:`fvqp.solvers.NonlinearSolver`, whose counters a resumed run restores):
    ``linear_iterations``, the iterations that solved Newton's linear systems -- with the
    condensed Schur solve its GMRES iterations on the QP unknowns (the solver counts the
    preconditioner's ``krylov_iterations`` there), with the outer KSP's (``preonly`` by
    default: one per solve, which would make every Krylov-per-Newton figure 1) beside
    them as ``outer_linear_iterations``; else the outer KSP's."""
    out = {"linear_iterations": nonlinear.total_linear_iterations}
    if condensed_solve(config):
        out["outer_linear_iterations"] = nonlinear.total_outer_linear_iterations
    return out

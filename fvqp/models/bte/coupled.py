r"""Runs of the bte model with inelastic collisions (``[collisions] enabled``).

The coupled system of :mod:`.inelastic` is solved as a whole: transients by
:class:`fvqp.solvers.bdf.BDFIntegrator` (BE/BDF2, fixed steps or adaptive per
``[time] adaptive``; flows accumulated with the scheme's own coefficients, so the QP
number and energy balances are exact to the Newton tolerance) through
:func:`fvqp.models.base.run_checkpointed` (VTK snapshots, ``checkpoint.h5`` every
``checkpoint_every`` steps, ``--resume``, ``--max-steps``); steady states by one Newton
solve (:class:`fvqp.solvers.SteadySolver`) from the bath state. Newton's Krylov
operator is the exact Jacobian action, its preconditioner :class:`.inelastic.InelasticPC`.
A failed solve gives status -1 and a message (and :class:`ConvergenceError`).

In transients the preconditioner may be kept across Newton iterations
(:func:`pc_lag`, ``-<prefix>pc_lag none|step|run``; :class:`fvqp.solvers.lagged.
LaggedPreconditioner`: it is rebuilt when the Krylov count of a solve grows past the
first one's + 2, when the BDF shift moves by 2x, or after 40 solves): ``step`` builds it
at the first Newton iteration of every step and keeps it for the step's other
iterations (the default: with sweeps the build — sweep factorisation, coarse
operator — was ~40 % of a step on the absorber, and the Krylov count stays as it was;
with the sparse LU its factorisation was 83 %; a resumed run builds where the
uninterrupted one did, so it continues the same); ``run`` keeps it across steps too
(fewer builds, a few more Krylov iterations; a resumed run then differs at the Krylov
tolerance); ``none`` builds at every Newton iteration (the LU's default before
2026-11-25).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time

import numpy as np

from ...case import CaseError
from ...solvers import JacobianConfig
from ...solvers.forcing import KEYS as FORCING_KEYS
from ...solvers.forcing import ForcingOptions, forcing_options
from ...solvers.linear import option_value
from ...solvers.options import normalise_prefix
from ...solvers.result import ConvergenceError
from ...solvers.twolevel import Escalation
from ...spectra.bins import cell_spectra
from ..base.balance import imbalance, inflows
from .inelastic import COUPLED_PETSC, SWEEP_KRYLOV, InelasticProblem
from .inelastic_pc import (
    COARSE_ESCALATION,
    FINE_CHOICES,
    INEXACT_COARSE,
    InelasticPC,
    coarse_warning,
)

log = logging.getLogger("fvqp.bte")

__all__ = ["PC_LAG", "StepClock", "coupled_problem", "coupled_steady", "coupled_transient",
           "coarse_escalation", "coarse_solve", "coarse_switch", "fine_pc", "forcing",
           "outer_krylov", "pc_lag"]

#: how long the Newton preconditioner of a transient is kept (module docstring)
PC_LAG = ("none", "step", "run")
#: the rebuild rule of a kept preconditioner (LaggedPreconditioner's arguments): a solve
#: more than 2 Krylov iterations above the first after the build, a shift moved by 2x,
#: 40 solves
LAG_RULE = {"growth": 1.0, "shift_factor": 2.0, "max_age": 40}


def coupled_problem(sim) -> InelasticProblem:
    """The :class:`InelasticProblem` of a simulation (internal case values; the
    material's SI times scaled as in the transport model:
    ``qp_scale = (tau_ref / tau0) (Tc_ref / Tc)^3``,
    :math:`c_{ph} = \\tau_{ref}/(\\pi\\Delta_0\\tau_0^\\phi)`), per region where the
    regions are of different media (each cell's own gap, 0 in a normal-metal region,
    :math:`\\tau_0`, :math:`T_c`, :math:`\\tau_0^\\phi` and weight :math:`w_s/w_0`)."""
    d, u, mat = sim.case.values, sim.units, sim.material
    col = d["collisions"]
    if sim.media is not None:
        return _multi_media(sim)
    qp_scale, c_ph = _prefactors(mat, col.get("tau0"), u)
    if d["spectrum"]["kind"] == "eliashberg":
        rho, ados = sim.spectrum.rho, sim.spectrum.ados
    else:
        r, a, _ = cell_spectra(sim.grid, np.array([sim.gap]))
        rho, ados = r[0], a[0]
    return _finish(sim, InelasticProblem, rho, ados, qp_scale, c_ph, None)


def _prefactors(mat, tau0, u) -> tuple[float, float]:
    """``qp_scale`` and ``c_ph`` of a material (:func:`coupled_problem`); ``tau0``: the
    case's ``[collisions] tau0`` (internal) replacing the material's (SI), or None."""
    rT = mat.Tc / u.Tc
    qp_scale = (1.0 / tau0 if tau0 else u.tau0 / mat.tau0) / rT**3
    c_ph = u.tau0 / (math.pi * mat.gap_ratio * rT * mat.tau0_phi)
    return qp_scale, c_ph


def region_prefactors(sim) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``qp_scale``, ``c_ph`` (:func:`_prefactors`) and the state weight relative to the
    reference :math:`w_s/w_0` of every region (a region's own ``tau0`` wins over
    ``[collisions] tau0``)."""
    d, u = sim.case.values, sim.units
    col = d["collisions"]
    nreg = len(sim.region_props)
    qs, cph = np.ones(nreg), np.ones(nreg)
    names = sim.geometry.region_names
    for ri, mat in enumerate(sim.materials):
        if mat is not None:
            own = d["regions"][names[ri]].get("tau0")
            qs[ri], cph[ri] = _prefactors(mat, None if own else col.get("tau0"), u)
    rel = np.array([p[2] for p in sim.region_props], dtype=float) / sim.weight
    return qs, cph, rel


def _multi_media(sim) -> InelasticProblem:
    """Per-cell collision data of a case with several media (one value per region)."""
    reg = sim.dist.local.cell_region[: sim.dist.local.n_owned]
    qs, cph, rel = region_prefactors(sim)
    r, a, _ = cell_spectra(sim.grid, np.asarray(sim.media.gap, dtype=float))
    return _finish(sim, InelasticProblem, r[reg], a[reg], qs[reg], cph[reg], rel[reg])


def _finish(sim, cls, rho, ados, qp_scale, c_ph, rel, base=None,
            escalation: Escalation | None = None) -> InelasticProblem:
    """The collision problem on ``base`` (default ``sim.problem``) with its
    preconditioner; ``escalation``: the switch of the sweep path's global coarse solve
    shared with the problems it replaces (:func:`coarse_escalation`; default a new one)."""
    d, u, mat = sim.case.values, sim.units, sim.material
    col = d["collisions"]
    tau_esc = math.inf
    if col["phonons"] == "local" and not col["no_escape"]:
        if col.get("escape_time"):
            tau_esc = col["escape_time"]
        elif sim.geometry.dim == 2 and mat.tau_esc_per_thickness:
            th = next(iter(d["regions"].values()))["thickness"]
            # the material's escape time per thickness [s/m] in tau0 per um
            tau_esc = mat.tau_esc_per_thickness * (u.length / u.tau0) * th
    prob = cls(sim.problem if base is None else base, rho, ados, qp_scale=qp_scale,
               c_ph=c_ph, t_bath=sim.T_bath,
               phonons=col["phonons"], tau_esc=tau_esc, rel_weight=rel)
    # [numerics] preconditioner: two_level (auto on several ranks) = the global isotropic
    # coarse operator; block_jacobi (auto serially) = the per-cell 0D kinetic blocks
    choice = d["numerics"]["preconditioner"]
    # step 1: LU, or (``preconditioner = "sweep"`` / ``fine_pc = "sweep"``) transport sweeps
    # + the global coarse level solved inexactly (its cost grows like the cells, not like an
    # LU's fill)
    prefix, fine = normalise_prefix(d["solver"]["prefix"]), fine_pc(sim)
    if fine == "sweep":
        _check_rank_split(sim, prefix)
    glob = choice == "two_level" or fine == "sweep" or (choice == "auto" and sim.dist.size > 1)
    inexact = coarse_solve(sim, fine) == "inexact"
    if inexact and escalation is None:
        escalation = coarse_escalation(sim)
    prob.preconditioner = InelasticPC(
        prob, global_coarse=glob, prefix=prefix + COARSE_PREFIX, fine=fine,
        options_prefix=prefix, coarse_options=INEXACT_COARSE if inexact else None,
        coarse_user=coarse_options(sim), coarse_escalate=escalation if inexact else None)
    return prob


#: the global coarse solve's options prefix after the Newton solve's (``bte_icoarse_``)
COARSE_PREFIX = "icoarse_"


def coarse_options(sim) -> dict:
    """The case's options of the global coarse solve: the ``[solver] petsc`` keys that
    start with ``icoarse_`` (``icoarse_ksp_max_it = 100``), without it. They go to the
    coarse level itself, over its defaults: the level is built with the problem, before
    the Newton solve inserts the case's other options, and PETSc's database keeps the
    first value fvqp inserted (the case's ``icoarse_ksp_max_it`` was silently dropped for
    the default's). The command line still wins."""
    petsc = sim.case.values["solver"]["petsc"]
    n = len(COARSE_PREFIX)
    return {k[n:]: v for k, v in petsc.items() if k.startswith(COARSE_PREFIX)}


def coarse_escalation(sim) -> Escalation | None:
    """The switch of the sweep path's global coarse solve from ILU(0) to GAMG on the
    cells after :func:`coarse_switch` iterations (None where it is 0); one per run, shared
    by the collision problems a per-cell-gap run rebuilds."""
    limit = coarse_switch(sim)
    return Escalation(limit, COARSE_ESCALATION[1]) if limit else None


def _fields(sim, prob: InelasticProblem, x: np.ndarray, names) -> dict:
    out = sim.fields(prob.per_bin(x), names)
    if "phonon_energy_density" in names and prob.Mp:
        g = prob.grid
        e = sim.problem.weight * g.h * prob.pweight * (prob.phonons_of(x) @ g.omega**3)
        out["phonon_energy_density"] = sim.units.to_si(e, "energy_density")
    return out


def _balances(prob, tot0, tot1, acc, n_unit, e_unit) -> dict:
    """QP number and energy balances (:mod:`fvqp.models.base.balance`: inflows,
    change = their sum)."""
    nf, ef = inflows(acc, n_unit, kind="N"), inflows(acc, e_unit, kind="E")
    n0, n1 = tot0["N_qp"] * n_unit, tot1["N_qp"] * n_unit
    e0, e1 = (tot0["E_qp"] + tot0["E_ph"]) * e_unit, (tot1["E_qp"] + tot1["E_ph"]) * e_unit
    return {
        "qp_number": {"initial": n0, "final": n1, **nf, "imbalance": imbalance(n0, n1, nf)},
        "phonon_number": {"initial": tot0["N_ph"] * n_unit, "final": tot1["N_ph"] * n_unit,
                          **inflows(acc, n_unit, kind="P")},
        "energy_J": {"initial_qp": tot0["E_qp"] * e_unit, "final_qp": tot1["E_qp"] * e_unit,
                     "initial_ph": tot0["E_ph"] * e_unit, "final_ph": tot1["E_ph"] * e_unit,
                     "inflows": ef, "imbalance": imbalance(e0, e1, ef)},
    }


def _totals(prob, x) -> dict:
    return {k: prob.dist.sum(v) for k, v in prob.totals(x).items()}


def _units(sim) -> tuple[float, float]:
    u = sim.units
    return sim.n_unit, u.scales["total_energy"]


def _jacobian(prob: InelasticProblem, forced: ForcingOptions | None = None
              ) -> JacobianConfig:
    """Exact Jacobian action, preconditioned by :class:`.inelastic.InelasticPC`; the
    forcing terms ``forced`` (:func:`forcing`) or exact linear solves."""
    return JacobianConfig("matrix_free", 1, prob.preconditioner, forced)


def forcing(sim, default: bool = True) -> ForcingOptions | None:
    """Inexact Newton of the collisional runs (:mod:`fvqp.solvers.forcing`): ``newton_forcing``
    (``"first"``; ``"ew"``; false) and ``newton_forcing_first`` / ``newton_forcing_max`` of
    the case's ``[solver] petsc`` or ``-<prefix>newton_forcing*``; without them ``"first"``
    if ``default`` (held gaps), else off (a gap in every cell, :mod:`.gapcollide`). Fixed
    steps' residual-tested solves follow the rule; adaptive steps' correction-tested solves
    are forced only with ``default`` (below). With ``"first"`` the first linear solve of a
    fixed step goes to 1e-5 and the rest to ``ksp_rtol``: on the finer absorber (1.5e6
    unknowns, sweeps, 4 BDF2 steps) 48 -> 37 Krylov, 4.4 -> 3.5 s per step, the final state
    as close to a tight reference (ksp_rtol 1e-13) as exact solves: relative errors 3.3e-13
    / 5.8e-12 / 2.3e-11 above 1e-4 / 1e-6 / 1e-8 of the largest unknown, against 3.4e-13 /
    1.6e-11 / 3.8e-11 exact (``"ew"``: 29 Krylov, but 2.3e-10 / 1.2e-8 / 4.1e-8). With a gap
    in every cell it does not pay: each step's second solve starts from the first's result,
    and its forced first linear solve costs a Newton iteration (shipped case, 25 steps: 77
    -> 90 Newton, 568 -> 499 Krylov, 1.51 -> 1.49 s per step). With ``default`` the adaptive
    steps' correction-tested solves are forced too
    (:class:`~fvqp.solvers.forcing.ForcingOptions` ``correction``: every linear solve to
    1e-5): 10 ns of the finer absorber, adaptive, the same 72 steps and 9 rejections, 164 ->
    186 Newton, 940 -> 574 Krylov, the final state 3.1e-12 from a tight reference (exact
    solves 1.1e-12; forcing only each solve's first linear solve: 185 / 841, 1.2e-12)."""
    d = sim.case.values
    got = forcing_options(normalise_prefix(d["solver"]["prefix"]), d["solver"]["petsc"],
                          default)
    return dataclasses.replace(got, correction=True) if got is not None and default \
        else got


def coarse_switch(sim) -> int:
    """The coarse-solve iterations past which the sweep path's global coarse solve
    switches from ILU(0) to GAMG on the cells (:data:`.inelastic_pc.COARSE_ESCALATION`):
    ``-<prefix>coarse_switch`` on the command line, else ``coarse_switch`` of the case's
    ``[solver] petsc``, else 50; 0 never switches."""
    d = sim.case.values
    prefix = normalise_prefix(d["solver"]["prefix"])
    given = d["solver"]["petsc"].get("coarse_switch", COARSE_ESCALATION[0])
    try:
        value = option_value(prefix + "coarse_switch", int(given))
    except (TypeError, ValueError):
        value = given
    if not isinstance(value, int) or value < 0:
        raise CaseError([f"{sim.case.path}: solver.petsc.coarse_switch (or "
                         f"-{prefix}coarse_switch) = {value!r}: give the coarse-solve "
                         "iterations (a whole number >= 0) after which it switches to "
                         "GAMG (0: never)"])
    return value


def fine_pc(sim) -> str:
    """Step 1 of the Newton preconditioner: ``-<prefix>fine_pc`` on the command line, else
    ``fine_pc`` of the case's ``[solver] petsc``, else ``sweep`` for ``[numerics]
    preconditioner = "sweep"`` and ``lu`` otherwise
    (:data:`.inelastic_pc.FINE_CHOICES`)."""
    d = sim.case.values
    prefix = normalise_prefix(d["solver"]["prefix"])
    choice = d["numerics"]["preconditioner"]
    if choice == "sweep_only":
        raise CaseError([f"{sim.case.path}: numerics.preconditioner = 'sweep_only' has no "
                         "coarse level, which the collision system needs: set it to 'sweep' "
                         "(transport sweeps + the global coarse level)"])
    default = "sweep" if choice == "sweep" else "lu"
    fine = option_value(prefix + "fine_pc",
                        str(d["solver"]["petsc"].get("fine_pc", default)))
    if fine not in FINE_CHOICES:
        raise CaseError([f"{sim.case.path}: solver.petsc.fine_pc (or -{prefix}fine_pc) = "
                         f"{fine!r}: set it to one of {', '.join(FINE_CHOICES)}"])
    return fine


def _check_rank_split(sim, prefix: str) -> None:
    """``sweep_rank_split`` (``-<prefix>sweep_rank_split`` or the case's ``[solver]
    petsc``) is one of :data:`.sweep.RANK_SPLITS` (read by :func:`.sweep.rank_split`)."""
    from .sweep import RANK_SPLITS

    d = sim.case.values
    split = option_value(prefix + "sweep_rank_split",
                         str(d["solver"]["petsc"].get("sweep_rank_split", "bins")))
    if split not in RANK_SPLITS:
        raise CaseError([f"{sim.case.path}: solver.petsc.sweep_rank_split (or "
                         f"-{prefix}sweep_rank_split) = {split!r}: set it to one of "
                         f"{', '.join(RANK_SPLITS)} (bins: the serial sweep split by energy "
                         "bins; stages: stage by stage across the cells)"])


#: how the global coarse level is solved (:func:`coarse_solve`)
COARSE_SOLVES = ("exact", "inexact")


def coarse_solve(sim, fine: str) -> str:
    """How the global isotropic coarse level is solved: ``"exact"`` (a sparse LU, on
    several ranks the redundant LU of the whole coarse matrix,
    :func:`fvqp.solvers.twolevel.exact_defaults`) or ``"inexact"`` (GMRES to 1e-3 with
    ILU(0), :data:`.inelastic_pc.INEXACT_COARSE`, switching to GAMG by
    :func:`coarse_switch`): ``-<prefix>coarse_solve`` on the command line, else
    ``coarse_solve`` of the case's ``[solver] petsc``, else ``inexact`` with transport
    sweeps (``fine`` = ``"sweep"``: an LU's fill grows superlinearly with the cells of a
    3D mesh, 63 % of a step at 3 360 cells x 18 bins) and ``exact`` with the LU.

    ``exact`` pays where the coarse graph is planar: the chip chain's films, one cell
    thick (:mod:`fvqp.models.bte_chip`, its ``[qp] coarse``). There the inexact solves
    took 9-18 ILU(0) iterations each, growing with the film's cells, and left the outer
    FGMRES at 7.4 iterations per Newton step against 4.6 with an exact coarse level
    (``docs/theory_phonon.md``, "The films' coarse level")."""
    d = sim.case.values
    prefix = normalise_prefix(d["solver"]["prefix"])
    default = "inexact" if fine == "sweep" else "exact"
    got = option_value(prefix + "coarse_solve",
                       str(d["solver"]["petsc"].get("coarse_solve", default)))
    if got not in COARSE_SOLVES:
        raise CaseError([f"{sim.case.path}: solver.petsc.coarse_solve (or "
                         f"-{prefix}coarse_solve) = {got!r}: set it to one of "
                         f"{', '.join(COARSE_SOLVES)} (exact: a sparse LU of the global "
                         "coarse level; inexact: GMRES with ILU(0) to 1e-3)"])
    return got


def pc_lag(sim) -> str:
    """How long the transient's Newton preconditioner is kept (:data:`PC_LAG`, module
    docstring): ``-<prefix>pc_lag`` on the command line, else ``pc_lag`` of the case's
    ``[solver] petsc``, else ``step``: with transport sweeps, and since 2026-11-25 with
    the sparse LU too, whose factorisation at every Newton iteration was 83 % of a step
    of the absorber with the gaps held and 45 % with a per-cell gap (:mod:`.gapcollide`:
    two solves per step, each on a rebuilt problem, which share the step's build)."""
    d = sim.case.values
    prefix = normalise_prefix(d["solver"]["prefix"])
    default = "step"
    lag = option_value(prefix + "pc_lag", str(d["solver"]["petsc"].get("pc_lag", default)))
    if lag not in PC_LAG:
        raise CaseError([f"{sim.case.path}: solver.petsc.pc_lag (or -{prefix}pc_lag) = "
                         f"{lag!r}: set it to one of {', '.join(PC_LAG)}"])
    return lag


def _lagged(prob, lag: str):
    """The preconditioner of :func:`coupled_transient`: ``prob.preconditioner`` itself
    (``none``) or kept by the rule :data:`LAG_RULE` (``step``: also rebuilt at the start
    of every step, by the caller's ``invalidate``)."""
    if lag == "none":
        return prob.preconditioner
    from ...solvers.lagged import LaggedPreconditioner

    return LaggedPreconditioner(prob.preconditioner, logger=log, **LAG_RULE)


def _petsc(sim) -> tuple[str, dict]:
    """Prefix and options of the Newton solve (``fine_pc``, ``pc_lag``,
    ``coarse_switch`` and ``coarse_solve`` are read by :func:`fine_pc`, :func:`pc_lag`,
    :func:`coarse_switch` and :func:`coarse_solve`, the ``icoarse_*`` keys by
    :func:`coarse_options`; with sweeps or an inexact coarse solve the outer Krylov is
    FGMRES: the inexact coarse solve varies)."""
    d = sim.case.values
    own = {k: v for k, v in d["solver"]["petsc"].items()
           if k not in ("fine_pc", "pc_lag", "coarse_switch", "coarse_solve")
           and k not in FORCING_KEYS and not k.startswith(COARSE_PREFIX)}
    fine = fine_pc(sim)
    return d["solver"]["prefix"], {**COUPLED_PETSC, **outer_krylov(fine, coarse_solve(sim, fine)),
                                   **own}


def outer_krylov(fine: str | None, coarse: str | None) -> dict:
    """The outer Krylov options over :data:`~.inelastic.COUPLED_PETSC` for the collision
    preconditioner with step 1 ``fine`` (``"sweep"`` or ``"lu"``) and the global coarse
    solve ``coarse`` (``"exact"``, ``"inexact"`` or None): FGMRES
    (:data:`~.inelastic.SWEEP_KRYLOV`) with sweeps or an inexact coarse solve (the
    inexact coarse solve varies between applications), else none. The one rule of the
    ``bte`` model (:func:`_petsc`, from the case) and of the chip's films (from their
    preconditioner)."""
    return dict(SWEEP_KRYLOV) if fine == "sweep" or coarse == "inexact" else {}


def undershoot(sim, low: float, step: int, dt: float, seen: dict | None, order: int,
               t: float) -> dict | None:
    r"""The record of QP occupations below zero (``summary.json``
    ``negative_occupation``: the first step and its end time, the lowest :math:`f` of the
    run and the number of steps with :math:`f < 0`; None while there were none), given
    the lowest occupation ``low`` after the step ``step`` of length ``dt`` ending at
    ``t``, with one WARNING per run at the first such step. BDF2 is not positive: at
    long steps it undershoots after a pulse; the collision layer treats such a bin as
    empty (:meth:`.inelastic.InelasticProblem.own`), so the balances stay exact, but the
    occupations there are not physical. An undershoot within the step's absolute error
    tolerance (``[time] atol``, the occupations' own scale of solver noise: -2e-30 after
    a step without any source) is round-off, not the scheme's, and is not recorded."""
    if low >= -float(sim.case.values["time"]["atol"]):
        return seen
    if seen is None:
        u = sim.units
        log.warning("QP occupations below zero after step %d (min f = %.3g): %s steps of "
                    "%.3g s are too long for this transient (QP number and energy still "
                    "balance, but the occupations there are not physical). Fix: a shorter "
                    "[time] dt_initial%s.", step, low,
                    "BDF2" if order == 2 else "backward-Euler", u.to_si(dt, "time"),
                    ' (or a smaller [time] rtol with adaptive steps) or scheme = "bdf1" '
                    "(positive)" if order == 2 else "")
        return {"first_step": step, "time_s": u.to_si(t, "time"), "min_f": low,
                "steps": 1}
    return {**seen, "min_f": min(seen["min_f"], low), "steps": seen["steps"] + 1}


class StepClock:
    """Wall seconds per step of a run, from the accepted steps (``on_accept`` of
    :func:`fvqp.models.base.run_checkpointed`, which it also forwards to ``then``):
    :meth:`per_step` is the time from the first to the last accepted step over the steps
    between — the set-up and the first step's builds excluded, output and checkpoints
    included — on the slowest rank (the summary's ``step_seconds``; the log lines have a
    one-second resolution)."""

    def __init__(self, then=None):
        self.then, self.marks = then, []

    def accept(self, it) -> None:
        self.mark(it.step_count)
        if self.then is not None:
            self.then()

    def mark(self, step: int) -> None:
        """Step ``step`` was accepted now."""
        self.marks.append((step, time.perf_counter()))

    def per_step(self, dist) -> float | None:
        """Seconds per step (None with fewer than two accepted steps); collective."""
        k = self.marks[-1][0] - self.marks[0][0] if self.marks else 0
        span = dist.max(self.marks[-1][1] - self.marks[0][1] if k > 0 else 0.0)
        return span / k if k > 0 else None


def coupled_transient(sim, writer, out_dir: str, resume: bool, max_steps) -> dict:
    """BE/BDF2 of the coupled system (module docstring)."""
    from ...solvers import BDFIntegrator
    from ..base import bdf_options, run_checkpointed
    from ..base.timeloop import CarriedCounts

    d, u = sim.case.values, sim.units
    prob = coupled_problem(sim)
    t0 = d["initial"].get("temperature")
    f0 = n0 = None
    if t0:  # QPs and local phonons at the initial temperature
        from ...collisions.grid import bose, fermi

        f0, n0 = fermi(sim.grid.e, t0), bose(prob.grid.omega, t0)
    x0 = prob.equilibrium(f0, n0)
    opts, t_end = bdf_options(d["time"], d["time"]["atol"])
    prob.follow_sources = opts.adaptive
    prefix, petsc = _petsc(sim)
    lag = pc_lag(sim)
    kept = _lagged(prob, lag)
    integ = BDFIntegrator(prob, x0, 0.0, prefix, petsc, opts,
                          jacobian=JacobianConfig("matrix_free", 1, kept, forcing(sim)))
    names = d["output"]["fields"]
    tot0 = _totals(prob, x0)
    status, message = 0, ""
    clock = StepClock((lambda: kept.invalidate("step")) if lag == "step" else None)
    counts = CarriedCounts(lambda: {
        "preconditioner_updates": prob.preconditioner.updates,
        "preconditioner_reuses": getattr(kept, "reuses", 0),
        "coarse_solves": prob.preconditioner.coarse_counts()})
    try:
        result, extra = run_checkpointed(
            integ, t_end=t_end, writer=writer, units=u, out_dir=out_dir, digest=sim.case.digest,
            snapshot=lambda it, a, b: _fields(sim, prob, it.x, names),
            extra={"totals": tot0}, resume=resume,
            stop_times=list(d["output"]["times"]),
            every=d["output"]["every"], checkpoint_every=d["output"]["checkpoint_every"],
            max_steps=max_steps, logger=log, on_accept=clock.accept,
            series=lambda it, ex: _lowest(sim, prob, it, ex, opts.order), counts=counts)
        status, message, tot0 = result.status, result.message, extra["totals"]
        negative = extra.get("negative_occupation")
    except ConvergenceError as exc:
        status, message = -1, f"Newton did not converge: {exc}"
        log.error(message)
        result = integ._result(-1, message)
        negative = None
    n_unit, e_unit = _units(sim)
    tot1 = _totals(prob, integ.x)
    pc = prob.preconditioner
    work = counts.total()
    out = {"status": status, "message": message, "steady": False, "collisions": True,
           "phonons": prob.phonons, "adaptive": bool(opts.adaptive), "steps": result.steps,
           "rejected_steps": result.rejected_steps, "failed_solves": result.failed_solves,
           # steps refused because a phonon row's 1 + dt (L - G) <= 0 (inelastic.py;
           # counted on the ranks that saw it)
           "phonon_refusals": int(prob.dist.max(float(prob.phonon_refusals))),
           # steps whose QP number and energy balances were not made exact (weights that
           # do not describe the residual: fvqp.solvers.bdf.BDFIntegrator.conserve)
           "unbalanced_steps": integ.unbalanced,
           "t_end_s": u.to_si(integ.t, "time"),
           "newton_iterations": result.newton_iterations,
           "linear_iterations": result.linear_iterations,
           "preconditioner_updates": work["preconditioner_updates"],
           "preconditioner_reuses": work["preconditioner_reuses"],
           "preconditioner_lag": lag,
           "global_coarse": pc.gc is not None, "coupled_unknowns": int(prob.dist.n_global),
           "fine_preconditioner": pc.fine, "coarse_solve": pc.coarse_solve,
           "sweep_stages": pc.n_stages,
           "step_seconds": clock.per_step(prob.dist),
           # the slowest rank's seconds per part of the preconditioner (InelasticPC)
           "preconditioner_seconds": {k: prob.dist.max(v) for k, v in pc.seconds.items()},
           "coarse_solves": work["coarse_solves"],
           "negative_occupation": negative,
           **_balances(prob, tot0, tot1, integ.accumulated, n_unit, e_unit)}
    warn = coarse_warning(out["coarse_solves"])
    if warn:
        log.warning(warn)
    return out


def _lowest(sim, prob: InelasticProblem, it, extra: dict, order: int) -> dict:
    """The series column ``min_qp_occupation`` (the lowest QP occupation of any cell,
    bin and ordinate after the step) and the run's undershoot record in ``extra``
    (checkpointed with it: :func:`undershoot`); collective."""
    f = prob.split(np.asarray(it.x).reshape(prob.n, prob.S))[0]
    low = -prob.dist.max(-float(np.min(f, initial=np.inf)))
    if it.step_count > 0:
        extra["negative_occupation"] = undershoot(
            sim, low, it.step_count, it.last_h, extra.get("negative_occupation"), order,
            it.t)
    return {"min_qp_occupation": low}


def coupled_steady(sim, writer) -> dict:
    """Steady state of the coupled system: Newton from the bath state."""
    from ...solvers import SteadySolver

    d = sim.case.values
    prob = coupled_problem(sim)
    prefix, petsc = _petsc(sim)
    dist = prob.dist
    inf = math.inf
    # exact solves unless the case names newton_forcing (not measured on steady states)
    solver = SteadySolver(prob, prefix, petsc, _jacobian(prob, forcing(sim, default=False)))
    x0 = prob.equilibrium()
    scale = math.sqrt(dist.sum(float(np.sum((prob.L_oo @ x0) ** 2))))
    xs, res = solver.solve(x0, raise_on_failure=False, atol=1e-12 * max(scale, 1e-300))
    n_unit, e_unit = _units(sim)
    v = dist.create_vec()
    v.setArray(xs)
    rates = {k: dist.sum(r) for k, r in prob.rates(dist.local_array(v), 0.0, inf).items()}
    v.destroy()
    writer.write(0.0, _fields(sim, prob, xs, d["output"]["fields"]))
    conv = sim.units.tau0
    tot = _totals(prob, xs)
    out = {"steady": True, "collisions": True, "phonons": prob.phonons,
           "coupled_unknowns": int(dist.n_global),
           "global_coarse": prob.preconditioner.gc is not None,
           "status": 0 if res.success else -1,
           "message": ("steady state: Newton converged" if res.success else
                       f"steady state: Newton did not converge ({res.message}, "
                       f"|F| = {res.residual_norm:.3e})"),
           "newton_iterations": res.iterations, "linear_iterations": res.linear_iterations,
           "qp_rates_per_s": inflows(rates, n_unit / conv, kind="N"),
           "energy_rates_W": inflows(rates, e_unit / conv, kind="E"),
           "N_qp": tot["N_qp"] * n_unit}
    out["rate_imbalance_per_s"] = sum(out["qp_rates_per_s"].values())
    out["energy_rate_imbalance_W"] = sum(out["energy_rates_W"].values())
    return out


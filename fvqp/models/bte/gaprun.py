r"""The transient of ``[gap] self_consistent = true`` (issue 16 §2).

Every step is a Lie splitting (first order in the step): the kinetic step at the
frozen cell gaps — the collisionless backward-Euler step of :class:`.problem.BTEProblem`,
or with ``[collisions] enabled`` the coupled backward-Euler Newton step of
:class:`.inelastic.InelasticProblem` with every cell's collision DOS at its own gap
(:mod:`.gapsteps`, :mod:`.gapcollide`) — followed by the gap update of
:mod:`.gapdynamics` (the gap of every owned cell re-solved from its own angle-averaged
occupation, :func:`.selfgap.consistent_gaps`; states keep :math:`\xi`, notes Eqs. 55-58;
the ghost cells' gaps exchanged; operators rebuilt). The initial state (``[initial]
temperature`` or the bath) is made self-consistent first. The energy grid starts at
``[gap] floor`` times the lowest bath gap (:class:`.simulation.BTESimulation`); a gap
falling below it, or a gap iteration that does not converge, stops the run with
``status = -1``. Regions in ``[gap] hold`` keep their bath gap; normal regions keep 0.
``[gap] model = "eliashberg"`` takes every free cell's gap from the real-axis Eliashberg
equations with its own occupations (:mod:`.eliashberg_gaps`; summary ``gap_model`` and
the counts ``eliashberg_solves``, ``eliashberg_sweeps``, ``eliashberg_reused``).
With ``[time] scheme = "bdf2"`` the kinetic step is BDF2 at the gaps extrapolated to the
step's end (:mod:`.gapcollide`, ``order=2``), without collisions solved once more at the
self-consistent gaps of that result (:class:`.gapsteps.Collisionless`, ``order=2``: the
extrapolation alone is first order there); second order in the step while no cell's gap
crosses a bin edge. The checkpoint then also holds the previous state, its gaps and the
flows then, so ``--resume`` repeats the uninterrupted steps. BDF2 is not positive: at
long steps it can undershoot to :math:`f < 0` after a pulse (non-physical occupations;
the collision layer treats such a bin as empty, and QP number and energy still balance:
:meth:`.inelastic.InelasticProblem.own`); the first such step is warned once
per run (step, lowest :math:`f`, the fix: a shorter ``[time] dt_initial`` or ``scheme =
"bdf1"``) and ``summary.json`` ``negative_occupation`` records it (None without).

Steps are fixed (``dt_initial``) or, with collisions and ``[time] adaptive = true``,
adaptive: the error control of the held-gap runs on the kinetic step (:mod:`.gapcollide`),
the loop of :func:`fvqp.models.base.fixedstep.march_fixed` with steps of varying length
(series column ``dt_s``, summary ``adaptive``, ``rejected_steps``).

Checkpoints (``checkpoint.h5``, :class:`fvqp.io.bin_checkpoint.BinCheckpoint`, written
atomically every ``[output] checkpoint_every`` steps and at the end of every invocation)
hold the state and the gaps of every cell in file cell order (so a run resumes on any
number of ranks), the step, the fixed :math:`\Delta t` (adaptive: the time, the next
step, the rejections and the predictor's third state), the flows and the gap range of
every snapshot; ``--resume`` continues from them and equals the uninterrupted run, and may
extend ``[time] end`` (:func:`fvqp.models.base.timeloop.extended_steps`). SIGINT/SIGTERM
stop after the current step with a checkpoint (status 1).

Balances, in the convention of the other ``bte`` runs with collisions
(:func:`.coupled._balances`: every flow *into* the system, positive when gained):

* ``qp_number``: initial, final, every boundary, ``traps``, ``sources`` (positive), with
  collisions ``pair_processes`` (pair breaking minus recombination), and ``imbalance`` =
  final - initial - flows. It is that of the kinetic steps (time integrals of the rates
  at every step's new state, exact for backward Euler up to the solver tolerance) plus
  the gap update (exact to round-off: states keep :math:`\xi`).
* ``energy_J``: initial and final energy of the QPs (and of the local phonons), the
  ``inflows`` (boundaries, traps, sources, the phonon bath or escape) and
  ``condensate``, the energy the condensate gave the QPs when the gaps moved (a state
  keeps :math:`\xi`, so its energy follows the gap: :math:`\dot E = (\Delta/E)
  \dot\Delta` for BCS) — in the gap updates, and with BDF2 through the history states
  remapped to the step's gaps, with the scheme's weights (:func:`.gapsteps.carried`) —,
  and ``imbalance`` = final - initial - inflows: the kinetic steps' energy conservation,
  to the solver tolerance.

``<case>_series.csv`` has a row per step (and the initial state): ``time_s``, ``step``,
``qp_number``, the cumulative flows ``qp_number.<flow>`` and ``qp_number.imbalance`` as
above, the same for ``energy_J`` (``energy_J`` the energy of QPs and phonons), and the
cells' gap range ``gap_min_ueV``/``gap_max_ueV``; a progress line (rank 0,
:class:`fvqp.models.base.timeloop.Progress`) at every snapshot and every 5 s.
"""

from __future__ import annotations

import gc
import logging
import math

import numpy as np

from ...io.checkpoint import CheckpointError
from ...spectra import fermi
from ...units import E_CHARGE
from ..base.balance import imbalance, inflows
from ..base.fixedstep import march_fixed
from ..base.timeloop import extended_steps, refuse_earlier_end
from .cellspectra import CellSpectra
from .checkpoint import BinCheckpoint
from .coupled import StepClock, undershoot
from .gapsteps import Collisionless

__all__ = ["GapMarch", "gap_transient"]

_KIND = "selfgap"
#: adaptive steps: retries at a quarter of the step when the gap iteration after it does
#: not converge (fixed steps stop at once: the fix is a shorter dt_initial)
_GAP_RETRIES = 4
log = logging.getLogger("fvqp.bte")


def _stepper(sim):
    t = sim.case.values["time"]
    order = 2 if t.get("scheme") == "bdf2" else 1
    if sim.collisions:
        from .gapcollide import WithCollisions

        return WithCollisions(sim, order=order, adaptive=bool(t.get("adaptive")))
    return Collisionless(sim, order=order)


class GapMarch:
    """The state and step of a self-consistent-gap transient
    (:class:`fvqp.models.base.fixedstep.StepRun`): the kinetic step of the stepper
    (:mod:`.gapsteps`, :mod:`.gapcollide`) and the gap update, the QP flows, the gap range
    of every snapshot and the record of negative occupations.

    A step whose kinetic solve or gap update fails leaves the state, gaps, history and
    flows of the step before it (:meth:`advance`), so the final checkpoint, the summary
    and ``<case>_series.csv`` hold the last good step only.
    """

    def __init__(self, sim, writer, out_dir: str, resume: bool):
        d, u, dist = sim.case.values, sim.units, sim.dist
        self.sim, self.u, self.dist, self.writer = sim, u, dist, writer
        t_end, dt = d["time"]["end"], d["time"]["dt_initial"]
        self.run = run = _stepper(sim)
        #: adaptive steps (collisions only, :mod:`.gapcollide`): the time of the state,
        #: the next step proposed, the last step taken; ``nsteps`` None (not known ahead)
        self.adaptive = bool(getattr(run, "adaptive", False))
        if self.adaptive:
            self.nsteps, self.dt = None, dt
            self.t, self.h = 0.0, dt
        else:
            self.nsteps = max(1, int(math.ceil(t_end / dt - 1e-9)))
            self.dt = t_end / self.nsteps
        self.names = d["output"]["fields"]
        self.clock = StepClock()      # the summary's step_seconds
        self.order = getattr(run, "order", 1)
        self.ck = BinCheckpoint(dist, out_dir, sim.case.digest, run.block)
        self.nu, self.eu = sim.n_unit, u.scales["total_energy"]
        if resume:
            cells, bins, meta = self.ck.load()
            if meta.get("kind") != _KIND:
                raise CheckpointError(f"checkpoint {self.ck.path!r} is not one of a "
                                      "self-consistent gap run. Fix: run with --overwrite "
                                      "instead of --resume (starts anew; the old outputs "
                                      "are replaced).")
            owned = dist.local.cells[: run.n_owned]
            spectra = bins.get("spectra")       # per-cell Eliashberg spectra (tables)
            run.unpack(cells["x"], np.asarray(bins["gaps"])[owned],
                       None if spectra is None else
                       CellSpectra.unstacked(np.asarray(spectra)[owned]))
            self.start = int(meta["step"])
            if meta.get("adaptive", False) != self.adaptive:
                raise CheckpointError(
                    f"checkpoint {self.ck.path!r} was written by a run with [time] "
                    f"adaptive = {str(meta.get('adaptive', False)).lower()}. Fix: resume "
                    "with the same [time] adaptive, or run anew with --overwrite.")
            if self.adaptive:
                self.t, self.h, self.dt = (float(meta["t"]), float(meta["h"]),
                                           float(meta["dt"]))
                run.rejected = int(meta.get("rejected", 0))
                if self.t > t_end * (1 + 1e-12):
                    refuse_earlier_end(f"the checkpoint in {out_dir}",
                                       u.to_si(self.t, "time"), u.to_si(t_end, "time"))
            else:
                self.dt, self.nsteps = extended_steps(float(meta["dt"]), self.start, t_end,
                                                      u, out_dir)
            self.flows, self.its = dict(meta["flows"]), int(meta["its"])
            self.n0, self.gaps = meta["n0"], meta["gaps"]
            run.restore_counters(meta.get("counters", {}))
            self.negative = meta.get("negative_occupation")
            if meta.get("history") is not None:     # BDF2: the previous state and its gaps
                third = {} if "x_prev2" not in cells else {     # adaptive: the predictor's
                    "x2": cells["x_prev2"], "gaps2": np.asarray(bins["gaps_prev2"])[owned]}
                run.restore_history(cells["x_prev"], np.asarray(bins["gaps_prev"])[owned],
                                    meta["history"], **third)
            energy = meta.get("energy")
            run.restore_energy(None if energy is None else energy["stepper"])
            if energy is None:              # a checkpoint of an fvqp without it
                log.warning("checkpoint %s has no energy balance (written by an older "
                            "fvqp): summary.json will have none", self.ck.path)
                self.e0, self.eflows = None, {}
            else:
                self.e0, self.eflows = energy["e0"], dict(energy["flows"])
        else:
            t0 = d["initial"].get("temperature")
            # the thermal state at its own gap (no iteration: gapdynamics.thermal_start)
            run.start(fermi(sim.grid.e, t0 if t0 else sim.T_bath))
            self.start, self.its, self.negative, self.gaps = 0, 0, None, []
            self.n0 = run.number()
            # every flow column from the start (the initial row has them, all zero)
            self.flows = {k: 0.0 for k in run.flow_names()}
            self.e0 = run.energy_parts()
            self.eflows = {k: 0.0 for k in run.flow_names(energy=True)}

    def _gap_failure(self, up, where: str) -> str:
        """The failure of a gap update ``up`` (cause and fix)."""
        floor = self.sim.case.values["gap"]["floor"]
        edge = _ueV(self.sim, self.sim.grid.edges[0])
        if up.below:
            return (f"the self-consistent gap of {up.below} cell(s) fell below the energy "
                    f"grid's first edge ({edge:.4g} ueV = [gap] floor {floor:g} x the bath "
                    f"gap) after {where}: the grid cannot hold it. Fix: lower [gap] floor "
                    "(e.g. 0.5), or a weaker source")
        return (f"the self-consistent gap did not converge after {where} ({up.iterations} "
                f"iterations, last change {up.change:.3g} of Delta_0). Fix: a shorter "
                "[time] dt_initial, or lower [gap] floor")

    def time(self, step: int) -> float:
        """The time of the state after ``step`` (the current one: the fixed-step loop asks
        for the step just taken, or the start)."""
        return self.t if self.adaptive else step * self.dt

    def advance(self, step: int) -> str | None:
        """The kinetic step and the gap update (module docstring); on a failure
        everything is left at step ``step - 1``. Adaptive: from :attr:`t` a step of the
        proposed length :attr:`h` or shorter (error control, the source windows'
        breakpoints and the end), :attr:`dt` the one taken."""
        run, dt = self.run, self.dt
        before = run.snapshot()
        for attempt in range(_GAP_RETRIES + 1):
            if self.adaptive:
                t0, t_end = self.t, self.sim.case.values["time"]["end"]
                stop = min([b for b in run.prob.breakpoints() if b > t0 * (1 + 1e-14)]
                           + [t_end])
                good, inc, n_its = run.step(t0, self.h, stop)
            else:
                good, inc, n_its = run.step((step - 1) * dt, dt)
            self.its += n_its
            if not good:
                run.restore(before)       # the steppers keep their state; made sure here
                if self.adaptive:
                    return ("the kinetic solve did not converge or its step fell below "
                            "[time] dt_min (see the warnings above). Fix: a looser [time] "
                            "rtol, or a smaller dt_min")
                return ("the kinetic solve did not converge (KSP/SNES: see the warnings "
                        "above). Fix: a shorter [time] dt_initial")
            if self.adaptive:
                dt = run.taken
            t1 = t0 + dt if self.adaptive else step * dt
            negative = _undershoot(self.sim, run, step, dt, self.negative, self.order, t1)
            up = run.update()
            if up.converged:
                break
            run.restore(before)
            if not self.adaptive or up.below or attempt == _GAP_RETRIES:
                return self._gap_failure(up, f"the kinetic step {step}")
            # adaptive: the gap iteration after a long step failed; a shorter one
            log.info("the gap iteration did not converge after a step of %.3e s (%d "
                     "iterations): retrying with a quarter of it", self.u.to_si(dt, "time"),
                     up.iterations)
            self.h = dt / 4
            run.rejected += 1
        for k, v in inc.items():
            self.flows[k] = self.flows.get(k, 0.0) + v
        for k, v in run.energy_flows.items():
            self.eflows[k] = self.eflows.get(k, 0.0) + v
        self.negative = negative
        if self.adaptive:
            self.t, self.h, self.dt = t0 + dt, run.h_next, dt
        self.clock.mark(step)
        # every gap update replaces the problems, their solvers and factorisations; what
        # the explicit releases leave in reference cycles (integrator <-> its solver's
        # callbacks) is freed here, not at Python's next full collection, which large
        # arrays do not trigger (the small absorber variant at 9 steps: 1.26 GB peak,
        # 0.60 GB with the releases alone, 0.47 GB flat with this collection)
        gc.collect()
        return None

    def row(self, step: int) -> dict:
        """A row of ``<case>_series.csv`` (every rank: the number and gaps reduce)."""
        n, g, nu = self.run.number(), _gap_range(self.sim, self.run.gaps(), 0.0), self.nu
        qp = inflows(self.flows, nu, outward=True)     # the steppers count outflows
        row = {"time_s": self.u.to_si(self.time(step), "time"), "step": step,
               "qp_number": n * nu, **{f"qp_number.{k}": v for k, v in qp.items()},
               "qp_number.imbalance": imbalance(self.n0 * nu, n * nu, qp)}
        if self.e0 is not None:
            eu = self.eu
            e, e0 = self.run.energy() * eu, sum(self.e0.values()) * eu
            ef = inflows(self.eflows, eu, outward=True)
            row.update({"energy_J": e, **{f"energy_J.{k}": v for k, v in ef.items()},
                        "energy_J.imbalance": imbalance(e0, e, ef)})
        if self.adaptive:   # the step that led here (0 at the start)
            row["dt_s"] = self.u.to_si(self.dt if step > 0 else 0.0, "time")
        return {**row, "gap_min_ueV": g["min_ueV"], "gap_max_ueV": g["max_ueV"]}

    def balances(self) -> dict:
        """``qp_number`` and ``energy_J`` of summary.json (module docstring; every rank)."""
        run, nu = self.run, self.nu
        n1 = run.number()
        qp = inflows(self.flows, nu, outward=True)
        out = {"qp_number": {"initial": self.n0 * nu, "final": n1 * nu, **qp,
                             "imbalance": imbalance(self.n0 * nu, n1 * nu, qp)}}
        if self.e0 is None:
            return out
        eu, e1 = self.eu, run.energy_parts()
        ef = inflows(self.eflows, eu, outward=True)
        e = {"initial_qp": self.e0["qp"] * eu, "final_qp": e1["qp"] * eu}
        if self.sim.collisions:
            e.update(initial_ph=self.e0["phonon"] * eu, final_ph=e1["phonon"] * eu)
        out["energy_J"] = {**e, "inflows": ef, "imbalance": imbalance(
            sum(self.e0.values()) * eu, sum(e1.values()) * eu, ef)}
        return out

    def note(self, row: dict) -> str:
        return (f" N_qp={row['qp_number']:.6e} gap {row['gap_min_ueV']:.4g}-"
                f"{row['gap_max_ueV']:.4g} ueV")

    def write(self, step: int) -> None:
        t_s = self.u.to_si(self.time(step), "time")
        self.writer.write(t_s, self.run.fields(self.names))
        self.gaps.append(_gap_range(self.sim, self.run.gaps(), t_s))

    def save(self, step: int) -> None:
        run, dist = self.run, self.dist
        hist = run.history()
        cells, bins = {"x": run.pack()}, {"gaps": dist.gather(run.gaps())}
        spectra = self.sim.problem.owned_spectra()
        if spectra is not None:
            bins["spectra"] = dist.gather(spectra.stacked())
        if hist is not None:
            cells["x_prev"] = hist["x"]
            bins["gaps_prev"] = dist.gather(hist["gaps"])
            if "x2" in hist:                   # adaptive: the predictor's third state
                cells["x_prev2"] = hist["x2"]
                bins["gaps_prev2"] = dist.gather(hist["gaps2"])
        step_state = {"adaptive": True, "t": self.t, "h": self.h,
                      "rejected": run.rejected} if self.adaptive else {}
        self.ck.save(cells, bins if dist.rank == 0 else {},
                     {"kind": _KIND, "step": step, "dt": self.dt, **step_state,
                      "flows": self.flows,
                      "its": self.its, "n0": self.n0, "gaps": self.gaps,
                      "counters": run.counters(), "negative_occupation": self.negative,
                      "history": None if hist is None else hist["meta"],
                      "energy": None if self.e0 is None else {
                          "e0": self.e0, "flows": self.eflows,
                          "stepper": run.energy_state()}})


def gap_transient(sim, writer, out_dir: str, max_steps: int | None, resume: bool) -> dict:
    """Steps with the self-consistent gap (module docstring) on the shared
    fixed-step loop (:func:`fvqp.models.base.fixedstep.march_fixed`: snapshots every
    ``[output] every`` steps and at the end, series, checkpoints, progress, a clean stop
    on SIGINT/SIGTERM); summary with the QP number balance and the minimum/maximum gap of
    every snapshot."""
    d, u = sim.case.values, sim.units
    m = GapMarch(sim, writer, out_dir, resume)
    end = march_fixed(m, dist=sim.dist, writer=writer, out_dir=out_dir, units=u,
                      resume=resume, max_steps=max_steps, t_end=d["time"]["end"], dt=m.dt,
                      nsteps=m.nsteps,
                      cadence=(d["output"]["every"], d["output"]["checkpoint_every"]),
                      logger=log)
    status, msg, done = end.status, end.message, end.done
    run = m.run
    gaps = m.gaps                 # march_fixed writes the initial snapshot: never empty
    adaptive = {"adaptive": True, "rejected_steps": run.rejected} if m.adaptive else {}
    return {"status": status, "message": msg, "steady": False, "steps": done,
            "t_end_s": u.to_si(m.time(done), "time"), "dt_s": u.to_si(m.dt, "time"),
            **adaptive,
            "linear_iterations": int(m.its), **run.summary(),
            "step_seconds": m.clock.per_step(sim.dist),
            "negative_occupation": m.negative,
            "gap": {"min_ueV": min(g["min_ueV"] for g in gaps),
                    "max_ueV": max(g["max_ueV"] for g in gaps),
                    "grid_first_edge_ueV": _ueV(sim, sim.grid.edges[0]), "snapshots": gaps},
            **m.balances()}


def _undershoot(sim, run, step: int, dt: float, seen: dict | None, order: int,
                t: float) -> dict | None:
    """:func:`.coupled.undershoot` after the kinetic step ``step`` of length ``dt`` ending
    at ``t``, with the lowest QP occupation of the run's bins."""
    low = -sim.dist.max(-float(np.min(sim.problem.directional(run.qp_bins()), initial=0.0)))
    return undershoot(sim, low, step, dt, seen, order, t)


def _ueV(sim, e) -> float:
    return float(sim.units.to_si(e, "energy") / (E_CHARGE * 1e-6))


def _gap_range(sim, g: np.ndarray, t_s: float) -> dict:
    """Min/max superconducting gap of the cells (all ranks) at time ``t_s`` [s], in ueV
    (normal cells left out unless all are normal)."""
    dist, inf = sim.dist, math.inf
    sc = g[g > 0]
    any_sc = dist.max(float(len(sc) > 0)) > 0
    pick = sc if any_sc else g
    lo = -dist.max(-float(np.min(pick, initial=inf)))
    hi = dist.max(float(np.max(pick, initial=-inf)))
    return {"t_s": t_s, "min_ueV": _ueV(sim, lo), "max_ueV": _ueV(sim, hi)}

r"""The transient of ``[gap] self_consistent = true`` (issue 16 §2).

Every fixed step is a Lie splitting (first order in the step): the kinetic step at the
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
long steps it can undershoot to :math:`f < 0` after a pulse (the collision layer clips
the negative partners and the QP balance drifts); the first such step is warned once
per run (step, lowest :math:`f`, the fix: a shorter ``[time] dt_initial`` or ``scheme =
"bdf1"``) and ``summary.json`` ``negative_occupation`` records it (None without).

Checkpoints (``checkpoint.h5``, :class:`fvqp.io.bin_checkpoint.BinCheckpoint`, written
atomically every ``[output] checkpoint_every`` steps and at the end of every invocation)
hold the state and the gaps of every cell in file cell order (so a run resumes on any
number of ranks), the step, the fixed :math:`\Delta t`, the flows and the gap range of
every snapshot; ``--resume`` continues from them and equals the uninterrupted run, and may
extend ``[time] end`` (:func:`fvqp.models.base.timeloop.extended_steps`). SIGINT/SIGTERM
stop after the current step with a checkpoint (status 1).

The QP number balance (``summary.json`` ``qp_number``: every flow *out of* the QPs,
positive when lost — boundaries, traps, ``sources`` (negative), with collisions ``pair``,
recombination minus pair breaking — and ``imbalance`` = final - initial + flows) is that
of the kinetic steps (time integrals of the rates at every step's new state, exact for
backward Euler up to the solver tolerance) plus the gap update (exact to round-off).
``<case>_series.csv`` has a row per step (and the initial state): ``time_s``, ``step``,
``qp_number``, the cumulative flows ``qp_number.<flow>`` and ``qp_number.imbalance`` as
above, and the cells' gap range ``gap_min_ueV``/``gap_max_ueV``; a progress line (rank
0, :class:`fvqp.models.base.timeloop.Progress`) at every snapshot and every 5 s.
"""

from __future__ import annotations

import logging
import math
import os

import numpy as np

from ...io.checkpoint import CheckpointError
from ...io.series import SeriesWriter
from ...spectra import fermi
from ...units import E_CHARGE
from ..base.interrupt import requested_stop
from ..base.timeloop import Progress, after_step, extended_steps
from .checkpoint import BinCheckpoint
from .gapsteps import Collisionless

__all__ = ["gap_transient"]

_KIND = "selfgap"
log = logging.getLogger("fvqp.bte")


def _stepper(sim):
    order = 2 if sim.case.values["time"].get("scheme") == "bdf2" else 1
    if sim.collisions:
        from .gapcollide import WithCollisions

        return WithCollisions(sim, order=order)
    return Collisionless(sim, order=order)


def gap_transient(sim, writer, out_dir: str, max_steps: int | None, resume: bool) -> dict:
    """Fixed steps with the self-consistent gap (module docstring); snapshots every
    ``[output] every`` steps and at the end; summary with the QP number balance and the
    minimum/maximum gap of every snapshot."""
    d, u, dist = sim.case.values, sim.units, sim.dist
    t_end, dt = d["time"]["end"], d["time"]["dt_initial"]
    nsteps = max(1, int(math.ceil(t_end / dt - 1e-9)))
    dt = t_end / nsteps
    names, every = d["output"]["fields"], d["output"]["every"]
    cp_every = d["output"]["checkpoint_every"]
    run = _stepper(sim)
    order = getattr(run, "order", 1)
    ck = BinCheckpoint(dist, out_dir, sim.case.digest, run.block)
    rank0 = dist.rank == 0
    rows = SeriesWriter(os.path.join(out_dir, f"{writer.name}_series.csv"),
                        resume=resume and rank0)
    if resume:
        cells, bins, meta = ck.load()
        if meta.get("kind") != _KIND:
            raise CheckpointError(f"checkpoint {ck.path!r} is not one of a self-consistent "
                                  "gap run. Fix: run without --resume.")
        run.unpack(cells["x"], np.asarray(bins["gaps"])[dist.local.cells[: run.n_owned]])
        step = int(meta["step"])
        dt, nsteps = extended_steps(float(meta["dt"]), step, t_end, u, out_dir)
        flows, its, n0, gaps = meta["flows"], int(meta["its"]), meta["n0"], meta["gaps"]
        run.restore_counters(meta.get("counters", {}))
        negative = meta.get("negative_occupation")
        if meta.get("history") is not None:     # BDF2: the previous state and its gaps
            owned = dist.local.cells[: run.n_owned]
            run.restore_history(cells["x_prev"], np.asarray(bins["gaps_prev"])[owned],
                                meta["history"])
        writer.truncate(u.to_si(step * dt, "time"))
        rows.truncate(u.to_si(step * dt, "time"))
        ok = True
    else:
        t0 = d["initial"].get("temperature")
        up = run.start(fermi(sim.grid.e, t0 if t0 else sim.T_bath))
        ok, step, flows, its, negative = up.converged, 0, {}, 0, None
        n0 = run.number()
        gaps = [_gap_range(sim, run.gaps(), 0.0)]
        writer.write(0.0, run.fields(names))
    nu = sim.n_unit

    def row(s: int) -> dict:
        """A row of ``<case>_series.csv`` (every rank: the number and gaps reduce)."""
        n, g = run.number(), _gap_range(sim, run.gaps(), 0.0)
        qp = {k: v * nu for k, v in flows.items()}
        return {"time_s": u.to_si(s * dt, "time"), "step": s, "qp_number": n * nu,
                **{f"qp_number.{k}": v for k, v in qp.items()},
                "qp_number.imbalance": (n - n0) * nu + sum(qp.values()),
                "gap_min_ueV": g["min_ueV"], "gap_max_ueV": g["max_ueV"]}

    # the initial row waits for the first step: its flow columns are named by the steps
    first = None if resume else row(0)
    progress = Progress(dist, t_end, u, log)
    target = nsteps if max_steps is None else min(nsteps, step + max_steps)

    def save(s: int) -> None:
        hist = run.history()
        cells, bins = {"x": run.pack()}, {"gaps": dist.gather(run.gaps())}
        if hist is not None:
            cells["x_prev"] = hist["x"]
            bins["gaps_prev"] = dist.gather(hist["gaps"])
        ck.save(cells, bins if dist.rank == 0 else {},
                {"kind": _KIND, "step": s, "dt": dt, "flows": flows, "its": its, "n0": n0,
                 "gaps": gaps, "counters": run.counters(), "negative_occupation": negative,
                 "history": None if hist is None else hist["meta"]})

    def write(s: int) -> None:
        t_s = u.to_si(s * dt, "time")
        writer.write(t_s, run.fields(names))
        gaps.append(_gap_range(sim, run.gaps(), t_s))

    status, msg, stopped, change = 0, "", None, 0.0
    while ok and step < target:
        good, inc, n_its = run.step(step * dt, dt)
        its += n_its
        if not good:
            status, msg = -1, f"the solver did not converge at step {step + 1}"
            break
        for k, v in inc.items():
            flows[k] = flows.get(k, 0.0) + v
        negative = _undershoot(sim, run, step + 1, dt, negative, order)
        up = run.update()
        step += 1
        ok, change = up.converged, up.change
        if not ok:
            write(step)
            break
        line = row(step)
        if rank0:
            if first is not None:  # flows are zero at the start
                rows.append({k: first.get(k, 0.0) for k in line})
            rows.append(line)
        first = None
        progress.fixed_step(step, nsteps, dt, step % every == 0 or step == target,
                            f" N_qp={line['qp_number']:.6e} gap {line['gap_min_ueV']:.4g}-"
                            f"{line['gap_max_ueV']:.4g} ueV")
        after_step(step, nsteps, target, (every, cp_every), rows if rank0 else None,
                   lambda s=step: write(s), save)
        stopped = requested_stop(dist)
        if stopped is not None:
            if step % every and step != nsteps:
                write(step)
            break
    progress.close()
    save(step)
    if rank0:
        if first is not None:
            rows.append(first)
        rows.flush()
    if not ok:
        status, msg = -1, (f"the self-consistent gap did not converge at step {step} "
                           f"(last change {change:.3g} Delta0): a gap below the grid's "
                           f"first edge ({d['gap']['floor']:g} x the bath gap)? Fix: lower "
                           "[gap] floor")
    elif status == 0 and step < nsteps:
        why = f"by {stopped}" if stopped else f"after {step} of {nsteps} steps"
        status, msg = 1, f"stopped {why} at step {step}; continue with --resume"
    elif status == 0:
        msg = f"reached t_end in {step} steps with the self-consistent gap"
    n1 = run.number()
    lo = min(g["min_ueV"] for g in gaps)
    hi = max(g["max_ueV"] for g in gaps)
    qp = {k: v * nu for k, v in flows.items()}  # out of the QPs: positive
    return {"status": status, "message": msg, "steady": False, "steps": step,
            "t_end_s": u.to_si(step * dt, "time"), "dt_s": u.to_si(dt, "time"),
            "linear_iterations": int(its), **run.summary(), "negative_occupation": negative,
            "gap": {"min_ueV": lo, "max_ueV": hi, "grid_first_edge_ueV":
                    _ueV(sim, sim.grid.edges[0]), "snapshots": gaps},
            "qp_number": {"initial": n0 * nu, "final": n1 * nu, **qp,
                          "imbalance": (n1 - n0) * nu + sum(qp.values())}}


def _undershoot(sim, run, step: int, dt: float, seen: dict | None, order: int
               ) -> dict | None:
    r"""The record of QP occupations below zero (``summary.json``
    ``negative_occupation``: the first step and its end time, the lowest :math:`f` of the
    run and the number of steps with :math:`f < 0`; None while there were none) after the
    kinetic step ``step`` of length ``dt``, with one WARNING per run at the first such
    step (BDF2 is not positive: at long steps it undershoots after a pulse, the collision
    layer clips the negative partners and the QP balance is off)."""
    low = -sim.dist.max(-float(np.min(sim.problem.directional(run.qp_bins()), initial=0.0)))
    if low >= 0.0:
        return seen
    if seen is None:
        u = sim.units
        log.warning("self-consistent gap: QP occupations below zero after step %d (min f "
                    "= %.3g): %s steps of %.3g s are too long for this transient; the "
                    "collisions clip them and the QP balance is no longer exact. Fix: a "
                    "shorter [time] dt_initial%s.", step, low,
                    "BDF2" if order == 2 else "backward-Euler", u.to_si(dt, "time"),
                    ' or scheme = "bdf1" (positive)' if order == 2 else "")
        return {"first_step": step, "time_s": u.to_si(step * dt, "time"), "min_f": low,
                "steps": 1}
    return {**seen, "min_f": min(seen["min_f"], low), "steps": seen["steps"] + 1}


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

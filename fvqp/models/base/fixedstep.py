"""The fixed-step time loop of the models that march without an adaptive integrator
(``phonon``, ``bte_chip``, ``bte`` with a gap in every cell): one copy of the bookkeeping,
the physics of a step in the model. A run whose steps vary (``nsteps=None``: the per-cell
gap runs' adaptive steps) gives the time of its state (``time(step)``) and the loop runs
until it reaches the end.

A model hands :func:`march_fixed` a :class:`StepRun` — how to take step ``k`` (from
``(k - 1) dt`` to ``k dt``), the series row after it, a snapshot, a checkpoint — and the
loop does the rest, the same for every such model:

* the start: on ``--resume`` the snapshots and series rows after the checkpoint's step
  dropped, else the initial snapshot and series row; the last step of this invocation
  (``--max-steps``);
* the series row of every step (``<case>_series.csv``, rank 0) and the progress line
  (:class:`.timeloop.Progress`, rank 0);
* a snapshot and the series flushed every ``[output] every`` steps and at the end, a
  checkpoint every ``[output] checkpoint_every`` steps (:func:`.timeloop.after_step`);
* a SIGINT (Ctrl-C) or SIGTERM (a batch system's time limit) received during a step stops
  the run after that step on every rank (:func:`.interrupt.requested_stop`, collective),
  as :func:`.timeloop.run_checkpointed` does for the adaptive models: the template's
  :class:`.interrupt.StopSignals` records the signal instead of raising in the middle of
  a solve;
* a checkpoint of the last completed step at the end, whatever ended the loop (the end,
  ``--max-steps``, a signal, a failed step), so nothing done is lost;
* the status and message of the failure rule (:mod:`.result`): 0 at the end, 1 stopped
  (``--max-steps`` or a signal; continue with ``--resume``), -1 with the step's failure.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Protocol

from ...io.series import SeriesWriter
from .interrupt import requested_stop
from .timeloop import Progress, after_step, fixed_step_status

__all__ = ["FixedStepOutcome", "StepRun", "march_fixed"]


class StepRun(Protocol):
    """What a model's fixed-step run provides to :func:`march_fixed` (every method is
    called on every rank, in the same order): ``start``, the step its state is at (0, or
    the checkpoint's), and the methods below."""

    start: int

    def advance(self, step: int) -> str | None:
        """Take step ``step`` (from ``(step - 1) dt`` to ``step dt``); None on success,
        else the failure (cause and fix: it ends the run with status -1). A failed step
        leaves the state of step ``step - 1``."""

    def row(self, step: int) -> dict:
        """The series row after ``step`` (0: the initial state; collective: may reduce
        over the ranks)."""

    def note(self, row: dict) -> str:
        """The model's part of the progress line (e.g. its energy) from ``row``."""

    def write(self, step: int) -> None:
        """Write the snapshot of ``step`` (collective)."""

    def save(self, step: int) -> None:
        """Write the checkpoint of ``step`` (collective)."""

    # optional, for steps of varying length (``nsteps=None`` in :func:`march_fixed`):
    # ``time(step) -> float``, the (internal) time of the state after ``step``, called
    # for the step just taken or the start


@dataclass(frozen=True)
class FixedStepOutcome:
    """How a fixed-step loop ended.

    Attributes
    ----------
    done : int
        The last completed step (the checkpoint's).
    status : int
        0 reached the end, 1 stopped (continue with ``--resume``), -1 failed.
    message : str
        What happened; with a failure its cause and fix.
    stopped_by : str or None
        The signal that stopped the run (``"SIGINT"``, ``"SIGTERM"``), else None.
    series : str
        The path of ``<case>_series.csv``.
    """

    done: int
    status: int
    message: str
    stopped_by: str | None
    series: str


def march_fixed(run: StepRun, *, dist, writer, out_dir: str, units, resume: bool,
                max_steps: int | None, t_end: float, dt: float, nsteps: int,
                cadence: tuple[int, int], logger: logging.Logger) -> FixedStepOutcome:
    """Steps ``run.start + 1`` to the end (or ``--max-steps`` further) of a run of
    ``nsteps`` fixed steps ``dt`` to ``t_end`` (internal units) with the bookkeeping of the
    module docstring. ``nsteps=None``: steps of varying length (adaptive; ``dt`` the
    first) until ``run.time(step)`` reaches ``t_end``.

    Parameters
    ----------
    run : StepRun
    dist : fvqp.parallel.Distribution
        The run's distribution (the stop request is agreed over its ranks).
    writer : fvqp.io.OutputWriter
        The ``.pvd`` series (its ``name`` names ``<case>_series.csv`` in ``out_dir``).
    units : fvqp.units.UnitSystem
    resume : bool
        ``run`` was restored from its checkpoint: outputs after its step are dropped.
    max_steps : int or None
        Steps of this invocation at most (``--max-steps``).
    cadence : (int, int)
        ``([output] every, [output] checkpoint_every)``.
    logger : logging.Logger
        Where the progress lines go (the model's).
    """
    rank0 = dist.rank == 0
    start = run.start
    varying = nsteps is None

    def time_of(step: int) -> float:
        return run.time(step) if varying else step * dt

    def at_end(step: int) -> bool:
        return time_of(step) >= t_end * (1 - 1e-12) if varying else step >= nsteps

    rows = SeriesWriter(os.path.join(out_dir, f"{writer.name}_series.csv"),
                        resume=resume and rank0)
    if resume:
        writer.truncate(units.to_si(time_of(start), "time"))
        rows.truncate(units.to_si(time_of(start), "time"))
    else:
        run.write(0)
        first = run.row(0)
        if rank0:
            rows.append(first)
    cap = nsteps if not varying else None
    if max_steps is not None:
        cap = start + max_steps if cap is None else min(cap, start + max_steps)
    progress = Progress(dist, t_end, units, logger)
    done, failed, why, stopped = start, None, "", None
    every = cadence[0]
    step = start
    while not at_end(step) and (cap is None or step < cap):
        step += 1
        t_before = time_of(step - 1)
        failure = run.advance(step)
        if failure is not None:
            failed, why = step, failure
            break
        done = step
        line = run.row(step)
        if rank0:
            rows.append(line)
        last, final = at_end(step), at_end(step) or step == cap
        if varying:
            progress.fixed_step(step, 0, time_of(step) - t_before, step % every == 0 or final,
                                run.note(line), fraction=time_of(step) / t_end,
                                t=time_of(step))
        else:
            progress.fixed_step(step, nsteps, dt, step % every == 0 or final,
                                run.note(line))
        after_step(step, last, final, cadence, rows if rank0 else None,
                   lambda s=step: run.write(s), run.save)
        stopped = requested_stop(dist)  # SIGINT/SIGTERM: stop here, on every rank
        if stopped is not None:
            break
    progress.close()
    run.save(done)
    if rank0:
        rows.flush()
    of = "" if varying else f" of {nsteps}"
    if stopped is not None and not at_end(done):
        return FixedStepOutcome(done, 1, f"stopped by {stopped} after step {done}{of}; a "
                                "checkpoint was written: continue with "
                                "`fvqp run CASE --resume`", stopped, rows.path)
    status, message = fixed_step_status(done, at_end(done), failed, why, of)
    return FixedStepOutcome(done, status, message, stopped, rows.path)

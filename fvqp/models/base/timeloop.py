"""The time loop shared by the mesh models: BDF steps, snapshots, checkpoints, progress.

A model's driver builds a :class:`~fvqp.solvers.bdf.BDFIntegrator` and calls
:func:`run_checkpointed` with callbacks for its output fields; this module owns the
cadence of ``.pvd`` snapshots and HDF5 checkpoints, the ``<case>_series.csv`` time series
of integral quantities (:mod:`fvqp.io.series`), resuming, and the rank-0 progress report,
so every model checkpoints and resumes the same way.

A resumed run continues from the checkpoint to the case's ``[time] end``, which may be
later than the end of the run that wrote it (a finished run is extended: every run leaves
a checkpoint at its last step); an end before the checkpoint is refused. The checkpoint
must belong to the same case: its digest is the case's without ``[time] end``
(:func:`resumable`, :data:`EXTENDABLE`), one rule applied by the run template
(:class:`~fvqp.models.base.MeshModel`, and :func:`~fvqp.models.base.run_model` for
models whose loop is this one) to every model.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from collections.abc import Callable, Mapping

from ...io.checkpoint import CheckpointError, read_checkpoint, write_checkpoint
from ...io.series import SeriesWriter
from .interrupt import requested_stop

log = logging.getLogger("fvqp.run")

__all__ = ["EXTENDABLE", "Progress", "bdf_options", "flat", "peak_rss_mb", "refuse_earlier_end",
           "restore", "resumable", "run_checkpointed", "save", "si_seconds", "si_time"]


def bdf_options(time_table: Mapping, atol: float):
    """:class:`~fvqp.solvers.bdf.BDFOptions` from the ``[time]`` table of an internal case
    (:class:`fvqp.case.InternalCase`: times in internal units) and the model's absolute
    tolerance in internal units; returns ``(options, t_end)``."""
    from ...solvers import BDFOptions

    tm = time_table
    t_end = tm["end"]

    def opt(key, default):
        return tm[key] if tm.get(key) else default

    return BDFOptions(order=2 if tm["scheme"] == "bdf2" else 1,
                      dt_initial=opt("dt_initial", t_end * 1e-4),
                      dt_min=opt("dt_min", t_end * 1e-14), dt_max=opt("dt_max", math.inf),
                      rtol=tm["rtol"], atol=atol, adaptive=tm["adaptive"],
                      newton_tol=tm.get("newton_tol", 1e-3)), t_end


#: the case keys a resumed run of the time loop may change: a later ``[time] end``
#: extends the run (an earlier one is refused by :func:`run_checkpointed`)
EXTENDABLE = ("time.end", "output.figures")


def resumable(case):
    """``case`` (a :class:`fvqp.case.Case`) with the digest its checkpoints carry: that of
    the validated content without the model's ``digest_exempt`` keys nor
    :data:`EXTENDABLE`, and of the mesh file (as :func:`fvqp.case.load_case` forms it), so
    that ``--resume`` may extend ``[time] end``. A case that is not a
    :class:`~fvqp.case.Case` is returned unchanged."""
    import dataclasses

    from ...case.loader import Case, case_digest
    from .. import get_model_spec

    if not isinstance(case, Case):
        return case
    spec = get_model_spec(case.model)
    return dataclasses.replace(case, digest=case_digest(
        case.data, (*spec.digest_exempt, *EXTENDABLE), case.mesh_path))


#: SI prefixes of times in messages: (scale, unit), largest first
_TIME_UNITS = ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs"), (1e-9, "ns"), (1e-12, "ps"),
               (1e-15, "fs"))


def refuse_earlier_end(where: str, t_s: float, t_end_s: float) -> None:
    """A resumed run whose checkpoint (``where``, at ``t_s`` [s]) lies after the case's
    ``[time] end`` (``t_end_s`` [s]): :class:`CheckpointError` naming both and the fix."""
    raise CheckpointError(
        f"{where} is at t = {t_s:.6e} s, after [time] end = {t_end_s:.6e} s. Fix: give an "
        "end at or after the checkpoint's time (a resumed run can only extend the end), or "
        "run anew with --overwrite.")


def si_time(units) -> Callable[[float], str]:
    """``fmt(t)``: an internal time of ``units`` as an SI string with the unit whose value
    lies in [1, 1000) (``"20 ns"``, ``"1.25 µs"``, ``"0 s"``; below 1 fs in s with an
    exponent), four significant digits; the :attr:`~fvqp.solvers.bdf.BDFIntegrator.
    time_format` the time loop gives the integrator."""

    def fmt(t: float) -> str:
        return si_seconds(units.to_si(t, "time"))

    return fmt


def si_seconds(v: float) -> str:
    """A time ``v`` in s as :func:`si_time` writes it (``"20 ns"``, ``"1.25 µs"``)."""
    a = abs(v)
    if a == 0.0 or not math.isfinite(v):
        return f"{v:g} s"
    for scale, name in _TIME_UNITS:
        if a >= scale * (1 - 5e-5):
            return f"{v / scale:.4g} {name}"
    return f"{v:.4e} s"


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MB (Linux reports kB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def save(integ, path: str, digest: str, extra: dict) -> None:
    """Checkpoint the integrator (arrays gathered in file cell order, rank 0 writes)."""
    dist = integ.problem.dist
    st = integ.state()
    xs = [dist.gather(x) for x in st["x"]]
    if dist.rank == 0:
        meta = {k: st[k] for k in ("t", "h", "last_h", "step_count", "rejected", "failed",
                                   "unbalanced", "newton", "linear", "outer_linear",
                                   "times", "acc")}
        meta["extra"] = extra
        write_checkpoint(path, digest, {f"x{i}": x for i, x in enumerate(xs)}, meta)


def _save(integ, path: str, digest: str, extra: dict, counts: CarriedCounts | None
          ) -> None:
    """:func:`save`, with the carried counters' totals in ``extra`` (every rank)."""
    if counts is not None:
        extra["counters"] = counts.total()
    save(integ, path, digest, extra)


def restore(integ, path: str, digest: str) -> dict:
    """Inverse of :func:`save`; returns the ``extra`` metadata (works on any rank count)."""
    dist = integ.problem.dist
    data = read_checkpoint(path, digest) if dist.rank == 0 else None
    arrays, meta = dist.bcast(data)
    state = dict(meta)
    state["x"] = [dist.scatter(arrays[f"x{i}"]) for i in range(len(meta["times"]))]
    integ.restore(state)
    log.info("resumed from %s at step %d", path, integ.step_count)
    return meta.get("extra", {})


def flat(d: dict, prefix: str = "") -> dict[str, int | float]:
    """``{"energy_J": {"final": x}}`` -> ``{"energy_J.final": x}`` (numbers only)."""
    out: dict[str, float] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(flat(v, f"{prefix}{k}."))
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out[f"{prefix}{k}"] = v
    return out


def _series_row(it, t_prev: float, units, series, extra) -> dict[str, float]:
    """The columns of one row of ``<case>_series.csv`` (every rank: ``series`` may reduce)."""
    row = {"time_s": units.to_si(it.t, "time"),
           "dt_s": units.to_si(it.t - t_prev, "time"), "step": it.step_count,
           "newton_iterations": it.solver.total_iterations,
           "linear_iterations": it.solver.total_linear_iterations,
           "rejected_steps": it.rejected}
    if series is not None:
        row.update(flat(series(it, extra)))
    return row


class _Stopped(Exception):
    """Raised from the step callback when a stop signal was received."""


def add_counts(a: Mapping, b: Mapping) -> dict:
    """The sum of two nested dicts of counts: the keys of either, numbers added, dicts
    summed the same way."""
    out = dict(a)
    for k, v in b.items():
        out[k] = add_counts(out.get(k, {}), v) if isinstance(v, Mapping) else \
            out.get(k, 0) + v
    return out


class CarriedCounts:
    """Work counters a run keeps over ``--resume`` besides the integrator's own (steps,
    Newton and Krylov iterations): ``current()`` gives this invocation's (a nested dict
    of numbers, the same on every rank), :attr:`base` what the checkpoint it resumed from
    had counted, :meth:`total` their sum (:func:`add_counts`).
    :func:`run_checkpointed` stores :meth:`total` in every checkpoint (its metadata's
    ``extra["counters"]``) and restores :attr:`base` from it, so the summary of a resumed
    run counts as an uninterrupted one's."""

    def __init__(self, current: Callable[[], dict]):
        self.current, self.base = current, {}

    def total(self) -> dict:
        return add_counts(self.base, self.current())


def run_checkpointed(integ, *, t_end: float, writer, snapshot: Callable, units,
                     out_dir: str, digest: str, extra: dict, resume: bool,
                     stop_times=(), every: int = 10, checkpoint_every: int = 20,
                     max_steps: int | None = None, on_accept: Callable | None = None,
                     series: Callable | None = None, logger: logging.Logger = log,
                     counts: CarriedCounts | None = None):
    """Integrate to ``t_end`` writing snapshots and checkpoints; returns
    ``(RunResult, extra)``.

    Parameters
    ----------
    integ : BDFIntegrator
    writer : fvqp.io.OutputWriter
    snapshot : callable
        ``snapshot(integ, t0, t1) -> dict`` of SI fields of the owned cells.
    units : fvqp.units.UnitSystem
    extra : dict
        JSON metadata stored with every checkpoint (e.g. initial totals); on resume the
        stored one is returned instead.
    on_accept : callable, optional
        ``on_accept(integ)`` after every accepted step, before output (e.g. a gap update).
        After it and the step's output, a SIGINT/SIGTERM received during the step
        (:mod:`.interrupt`) stops the run: checkpoint, ``status = 1``.
    series : callable, optional
        ``series(integ, extra) -> dict`` of the model's integral quantities in SI (nested
        dicts allowed, e.g. the summary's ``energy_J`` balance; names with their unit),
        called on every rank after every accepted step. They become columns of
        ``<case>_series.csv`` after ``time_s``, ``dt_s`` (the step), ``step``,
        ``newton_iterations``, ``linear_iterations`` and ``rejected_steps`` (cumulative);
        one row per accepted step and one for the initial state (step 0, ``dt_s`` 0).
    logger : logging.Logger
        Where the progress lines go (the model's logger).
    counts : CarriedCounts, optional
        The model's own work counters, kept in the checkpoints and carried over a resume
        (:class:`CarriedCounts`).
    """
    ckpt = os.path.join(out_dir, "checkpoint.h5")
    rank0 = integ.problem.dist.rank == 0
    integ.time_format = si_time(units)  # failed steps and their errors name SI times
    rows = SeriesWriter(os.path.join(out_dir, f"{writer.name}_series.csv"),
                        resume=resume and rank0)
    if resume:
        extra = restore(integ, ckpt, digest)
        if counts is not None:
            counts.base = dict(extra.get("counters", {}))
        if integ.t > t_end * (1 + 1e-14):
            refuse_earlier_end(f"the checkpoint in {out_dir}", units.to_si(integ.t, "time"),
                               units.to_si(t_end, "time"))
        if integ.t < t_end * (1 - 1e-14):
            log.info("resuming at t = %.6e s to [time] end = %.6e s",
                     units.to_si(integ.t, "time"), units.to_si(t_end, "time"))
        if on_accept is not None:  # e.g. the gap of the restored state
            on_accept(integ)
        writer.truncate(units.to_si(integ.t, "time"))
        rows.truncate(units.to_si(integ.t, "time"))
    elif writer.count == 0:
        writer.write(units.to_si(integ.t, "time"), snapshot(integ, integ.t, integ.t))
    if not resume:  # the initial state (all ranks: ``series`` may reduce)
        first = _series_row(integ, integ.t, units, series, extra)
        if rank0:
            rows.append(first)
            rows.flush()
    progress = Progress(integ.problem.dist, t_end, units, logger)

    def on_step(it):
        if on_accept is not None:
            on_accept(it)
        t0 = it.t - it.last_h
        row = _series_row(it, t0, units, series, extra)
        if rank0:
            rows.append(row)
        at_stop = any(abs(it.t - s) <= 1e-12 * max(abs(s), 1e-300) for s in stop_times)
        wrote = it.step_count % every == 0 or at_stop or it.t >= t_end * (1 - 1e-14)
        if wrote:
            writer.write(units.to_si(it.t, "time"), snapshot(it, t0, it.t))
        if it.step_count % checkpoint_every == 0:
            _save(it, ckpt, digest, extra, counts)
        if rank0 and (wrote or it.step_count % checkpoint_every == 0):
            rows.flush()
        progress.update(it, force=wrote)
        sig = requested_stop(it.problem.dist)  # SIGINT/SIGTERM: stop here, on every rank
        if sig is not None and it.t < t_end * (1 - 1e-14):  # at the end: nothing to cut
            raise _Stopped(sig)

    try:
        result = integ.run(t_end, stop_times=stop_times, on_step=on_step,
                           max_steps=max_steps)
    except _Stopped as stop:
        result = integ._result(
            1, f"stopped by {stop.args[0]} at t = {units.to_si(integ.t, 'time'):.6e} s "
            f"after step {integ.step_count}; a checkpoint was written: continue with "
            "`fvqp run CASE --resume`")
    _save(integ, ckpt, digest, extra, counts)
    if rank0:
        rows.flush()
    progress.close()
    return result, extra


class Progress:
    """Progress on rank 0: a tqdm bar on a terminal, INFO lines otherwise (at every
    snapshot and at most every 5 s between them); times in seconds. ``fvqp -q run`` (log
    level WARNING) shows neither."""

    def __init__(self, dist, t_end, units, logger: logging.Logger = log):
        self.rank0, self.t_end, self.u = dist.rank == 0, t_end, units
        self.log = logger
        self.bar = None
        self.last = time.perf_counter()
        if self.rank0 and sys.stderr.isatty() and self.log.isEnabledFor(logging.INFO):
            from tqdm import tqdm

            self.bar = tqdm(total=1.0, unit="of t_end", bar_format="{l_bar}{bar}| {postfix}")

    def update(self, it, force: bool = False) -> None:
        """Report a step: always when ``force`` (a snapshot was written), else every 5 s."""
        if not self.rank0:
            return
        msg = (f"step {it.step_count} t={self.u.to_si(it.t, 'time'):.4e} s "
               f"dt={self.u.to_si(it.last_h, 'time'):.3e} s "
               f"newton={it.solver.total_iterations} |F|={it.solver.snes.getFunctionNorm():.2e} "
               f"rejected={it.rejected}")
        self.show(msg, it.t / self.t_end, force)

    def show(self, msg: str, fraction: float, force: bool = False) -> None:
        """Show ``msg`` with the run's ``fraction`` done: on the bar, or as an INFO line
        when ``force`` and at most every 5 s otherwise (rank 0 only)."""
        if not self.rank0:
            return
        if self.bar is not None:
            self.bar.n = min(1.0, fraction)
            self.bar.set_postfix_str(msg)
        elif force or time.perf_counter() - self.last > 5.0:
            self.log.info(msg)
            self.last = time.perf_counter()

    def fixed_step(self, step: int, nsteps: int, dt: float, force: bool = False,
                   note: str = "", fraction: float | None = None,
                   t: float | None = None) -> None:
        """Report step ``step`` of ``nsteps`` of a fixed-step loop of internal step
        ``dt`` (time ``step dt``, in seconds) with the loop's own ``note`` (e.g. its QP
        number); ``fraction`` done defaults to ``step / nsteps``. ``t``: the (internal)
        time of a loop of steps of varying length (``nsteps`` 0: not known ahead)."""
        if not self.rank0:
            return
        count = f"{step}/{nsteps}" if nsteps else f"{step}"
        time = step * dt if t is None else t
        msg = (f"step {count} t={self.u.to_si(time, 'time'):.4e} s "
               f"dt={self.u.to_si(dt, 'time'):.3e} s{note}")
        self.show(msg, step / max(nsteps, 1) if fraction is None else fraction, force)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


# ---- fixed-step loops (fixedstep.march_fixed: phonon, bte_chip; bte's own loops) --------
def after_step(step: int, last: bool, final: bool, cadence: tuple, rows, write,
               save) -> None:
    """The outputs of a fixed-step loop after ``step``: a snapshot (``write()``) and the
    series rows flushed every ``cadence[0]`` steps and at the run's ``last`` step, a
    checkpoint (``save(step)``) every ``cadence[1]`` steps before the ``final`` one of this
    invocation (``rows`` None on ranks that do not hold the series)."""
    every, cp_every = cadence
    if step % every == 0 or last:
        write()
        if rows is not None:
            rows.flush()
    if step % cp_every == 0 and not final:
        save(step)


def fixed_step_status(done: int, reached: bool, failed, failure: str, of: str = ""
                      ) -> tuple[int, str]:
    """Status and message of a fixed-step run (the failure rule): 0 at the end
    (``reached``), 1 stopped early (``--max-steps``), -1 with ``failure`` (its cause and
    fix) at step ``failed``; the run's checkpoint and outputs then end at step ``done``,
    the last good one. ``of``: the step count's text (e.g. " of 25"; none when the steps
    vary)."""
    status = -1 if failed else (0 if reached else 1)
    return status, {0: f"reached t_end in {done} steps",
                    1: f"stopped after {done}{of} steps (continue with --resume)",
                    -1: f"step {failed}{of} failed: {failure}. The checkpoint and "
                        f"the outputs end at step {done}, the last good one"}[status]


def extended_steps(dt: float, start: int, t_end: float, u, out_dir: str):
    """The step and step count of a resumed run: the checkpoint's step ``dt`` (the
    fixed step of the run that wrote it) to ``t_end``, rounded up to a whole step."""
    t_ck = start * dt
    if t_end < t_ck * (1 - 1e-12):
        raise CheckpointError(
            f"the checkpoint in {out_dir} is at t = {u.to_si(t_ck, 'time'):.6e} s, after "
            f"[time] end = {u.to_si(t_end, 'time'):.6e} s. Fix: give an end at or after "
            "the checkpoint's time (a resumed run can only extend the end), or run anew "
            "with --overwrite.")
    nsteps = start + max(0, int(math.ceil((t_end - t_ck) / dt - 1e-9)))
    if abs(nsteps * dt - t_end) > 1e-9 * dt:
        log.info("resumed run: [time] end %.6e s rounded up to %.6e s (whole steps of "
                 "the checkpoint's %.6e s)", u.to_si(t_end, "time"),
                 u.to_si(nsteps * dt, "time"), u.to_si(dt, "time"))
    return dt, max(nsteps, 1)

r"""Time evolution of the 0D kinetics: PETSc TS with the exact Jacobian (:func:`evolve`) and
its checkpointed form (``fvqp run``, ``--resume``).

The checkpointed run is integrated in *segments* of ``checkpoint_every`` accepted steps.
Every segment is a fresh :class:`~fvqp.solvers.ts.DenseTimeStepper` started from the state, time and
next step size :math:`\Delta t` proposed by the previous segment, and a checkpoint
(``checkpoint.h5``: state, time, :math:`\Delta t`, counters, time series, snapshots) is
written after each segment. The BDF history is therefore restarted (at first order) at
the segment boundaries of *every* run, interrupted or not, which makes a resumed run
repeat exactly the floating-point operations of the uninterrupted one: the resumed end
state equals it to round-off (tested to 1e-12 after SIGKILL). Segment boundaries are at
global step counts that are multiples of ``checkpoint_every``. A ``--max-steps`` stop
elsewhere, inside a segment, keeps the state of that segment's start beside its own
(:attr:`TransientState.boundary`); ``--resume`` then starts from the boundary and
repeats the segment's steps up to the stop — the same operations as the first
invocation, and as the uninterrupted run — before the steps ``--max-steps`` counts, so
a run advanced by any sequence of ``--max-steps`` legs ends in the uninterrupted run's
state, steps and time series (before 2026-11-27 each such stop added a boundary and the
continued run agreed to the TS tolerance only).

Units are internal (times in :math:`\tau_0`).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

import numpy as np

from ...io.checkpoint import read_checkpoint, write_checkpoint
from ...solvers.result import ConvergenceError
from ...solvers.ts import DenseTimeStepper
from .model import Kinetics0D

log = logging.getLogger(__name__)

__all__ = ["TransientState", "evolve", "integrate_checkpointed"]

_SERIES = ("t", "n_qp", "e_qp", "e_ph", "energy")


def evolve(model: Kinetics0D, y0: np.ndarray, t_end: float, *, t0: float = 0.0,
           dt: float = 1e-3, rtol: float = 1e-6, atol: float | None = None,
           prefix: str = "kinetics0d_ts_", options: Mapping[str, object] | None = None,
           monitor: Callable[[float, np.ndarray], None] | None = None,
           max_steps: int = 100000):
    """Integrate with PETSc TS (BDF by default) and the exact Jacobian.

    ``atol`` defaults to ``1e-6 * rtol`` times the largest initial occupation per block
    (f and n). ``monitor(t, y)`` is called after every accepted step. Returns ``(y,
    RunResult)`` (``history["dt_next"]``: the step size TS proposes next, to continue
    the run); raises :class:`ConvergenceError` on failure.
    """
    y0 = np.asarray(y0, dtype=float)
    if atol is None:
        atol = default_atol(model, y0, rtol)
    calls = _Callbacks(model)
    stepper = DenseTimeStepper(model.size, calls.rhs, calls.jacobian, prefix=prefix,
                               options=options)
    stepper.monitors.append(calls.accepted)
    if monitor is not None:
        stepper.monitors.append(monitor)
    try:
        y, res = stepper.integrate(y0, t0, t_end, dt, rtol=rtol, atol=atol,
                                   max_steps=max_steps)
    except ConvergenceError as exc:
        calls.raise_cause(exc)
        raise
    res.history["dt_next"] = float(stepper.ts.getTimeStep())
    return y, res


class _Callbacks:
    """The model's right-hand side and Jacobian for TS, keeping the last exception they
    raised: PETSc sees only a failed evaluation (a domain error of the step, or an error
    code) and petsc4py does not chain the exception, so a failed solve reported "TS ...
    error code 91" and advised "a smaller dt_initial" whatever the cause (e.g. a photon
    drive that no state can absorb). :meth:`raise_cause` names it instead, if it came
    after the last accepted step (one TS overcame by a shorter step is no cause)."""

    def __init__(self, model: Kinetics0D) -> None:
        self.model = model
        self.error: tuple[float, Exception] | None = None

    def _call(self, fn, t: float, y: np.ndarray) -> np.ndarray:
        try:
            return fn(y, t)
        except Exception as exc:
            self.error = (t, exc)
            raise  # TS retries a shorter step (ArithmeticError, ValueError) or stops

    def accepted(self, t: float, y: np.ndarray) -> None:
        """TS monitor: a step was accepted, so an earlier failed evaluation was overcome
        (by a shorter step) and is no cause of a later failure."""
        self.error = None

    def rhs(self, t: float, y: np.ndarray) -> np.ndarray:
        return self._call(self.model.rhs, t, y)

    def jacobian(self, t: float, y: np.ndarray) -> np.ndarray:
        return self._call(self.model.jacobian, t, y)

    def raise_cause(self, exc: ConvergenceError) -> None:
        """After the failed solve ``exc``: raise a :class:`ConvergenceError` naming the
        last exception of an evaluation (chained), if there was one."""
        if self.error is None:
            return
        t, cause = self.error
        msg = str(cause)
        if "Fix:" not in msg:
            msg += (". Fix: the cause above (a smaller time step does not help); check "
                    "the drives and the initial state")
        raise ConvergenceError(
            f"TS failed: the kinetic equations could not be evaluated at t = {t:.4g} tau0 "
            f"({type(cause).__name__}: {msg})", exc.result) from cause


@dataclass
class TransientState:
    """Everything a transient run needs to continue (the content of a checkpoint)."""

    t: float
    y: np.ndarray
    dt: float
    steps: int = 0
    rejected_steps: int = 0
    newton_iterations: int = 0
    series: dict = field(default_factory=lambda: {k: [] for k in _SERIES})
    snap_t: list = field(default_factory=list)
    snap_y: list = field(default_factory=list)
    out_times: list = field(default_factory=list)
    #: energy grid of ``y`` (``layout``, ``n``, ``n_ph``, ``h``; empty in checkpoints
    #: written before the grid was recorded, i.e. on the cell-centred grid)
    grid: dict = field(default_factory=dict)
    #: the state at the start of the segment a ``max_steps`` stop ended inside (None at
    #: a segment boundary): where a resumed run starts (module docstring)
    boundary: TransientState | None = None

    def copy(self) -> TransientState:
        """A copy that later steps of this state do not change (the arrays are never
        changed in place; the lists are copied)."""
        return replace(self, series={k: list(v) for k, v in self.series.items()},
                       snap_t=list(self.snap_t), snap_y=list(self.snap_y),
                       out_times=list(self.out_times), boundary=None)

    def _content(self) -> tuple[dict, dict]:
        arrays = {"y": self.y, **{f"series_{k}": np.asarray(v, float)
                                  for k, v in self.series.items()},
                  "snap_t": np.asarray(self.snap_t, float),
                  "snap_y": np.asarray(self.snap_y, float).reshape(len(self.snap_t),
                                                                   self.y.size)}
        meta = {"t": self.t, "dt": self.dt, "steps": self.steps,
                "rejected_steps": self.rejected_steps,
                "newton_iterations": self.newton_iterations, "out_times": self.out_times,
                "grid": self.grid}
        return arrays, meta

    def save(self, path: str, digest: str) -> None:
        """Write the checkpoint atomically (:func:`fvqp.io.checkpoint.write_checkpoint`),
        with :attr:`boundary` (arrays ``boundary_*``, meta ``boundary``) if set."""
        arrays, meta = self._content()
        if self.boundary is not None:
            b_arrays, b_meta = self.boundary._content()
            arrays.update({f"boundary_{k}": v for k, v in b_arrays.items()})
            meta["boundary"] = b_meta
        write_checkpoint(path, digest, arrays, meta)

    @classmethod
    def _from(cls, arrays: dict, meta: dict) -> TransientState:
        st = cls(t=float(meta["t"]), y=np.asarray(arrays["y"], float), dt=float(meta["dt"]),
                 steps=int(meta["steps"]), rejected_steps=int(meta["rejected_steps"]),
                 newton_iterations=int(meta["newton_iterations"]),
                 out_times=[float(x) for x in meta["out_times"]],
                 grid=dict(meta.get("grid") or {}))
        st.series = {k: [float(x) for x in arrays[f"series_{k}"]] for k in _SERIES}
        st.snap_t = [float(x) for x in arrays["snap_t"]]
        st.snap_y = [np.asarray(r, float) for r in arrays["snap_y"]]
        return st

    @classmethod
    def load(cls, path: str, digest: str) -> TransientState:
        """Read a checkpoint of the same case (digest checked), with its boundary."""
        arrays, meta = read_checkpoint(path, digest)
        st = cls._from(arrays, meta)
        if meta.get("boundary"):
            st.boundary = cls._from({k[len("boundary_"):]: v for k, v in arrays.items()
                                     if k.startswith("boundary_")}, meta["boundary"])
        return st


def _monitor(model: Kinetics0D, st: TransientState):
    nq = model.grid.n

    def record(t: float, y: np.ndarray) -> None:
        s = st.series
        if s["t"] and t <= s["t"][-1]:
            return  # the first call of a segment repeats the last step of the previous one
        s["t"].append(t)
        s["n_qp"].append(float(model.grid.qp_weights @ y[:nq]))
        s["e_qp"].append(float(model.energy_weights[:nq] @ y[:nq]))
        s["e_ph"].append(float(model.energy_weights[nq:] @ y[nq:]))
        s["energy"].append(model.energy(y))
        while st.out_times and t >= st.out_times[0] * (1 - 1e-12):
            st.snap_t.append(st.out_times.pop(0))
            st.snap_y.append(y.copy())

    return record


def integrate_checkpointed(model: Kinetics0D, st: TransientState, t_end: float, *,
                           rtol: float, atol: np.ndarray, checkpoint: str | None,
                           digest: str, every: int, max_steps: int | None = None,
                           prefix: str = "kinetics0d_ts_", options: dict | None = None,
                           time_format: Callable[[float], str] | None = None,
                           on_checkpoint: Callable[[TransientState], None] | None = None
                           ) -> tuple[TransientState, int, str]:
    """Advance ``st`` to ``t_end`` in segments of ``every`` steps, checkpointing each.

    Parameters
    ----------
    model : Kinetics0D
    st : TransientState
        Start (fresh, or loaded from a checkpoint); updated in place and returned.
    t_end, rtol, atol
        End time and TS tolerances (``atol`` a vector fixed for the whole run, so that a
        resumed run uses the same one).
    checkpoint : str or None
        Checkpoint path (``None``: none written).
    digest : str
        Case digest stored in the checkpoint.
    every : int
        Steps per segment (``[output] checkpoint_every``).
    max_steps : int, optional
        Stop after this many steps of this invocation (status 1).
    time_format : callable, optional
        ``time_format(t)``: an internal time as text for the log line (the driver gives
        SI seconds, :func:`fvqp.models.base.timeloop.si_time`); default ``"<t> tau0"``.
    on_checkpoint : callable, optional
        ``on_checkpoint(state)`` after every checkpoint written (the driver rewrites
        ``<case>_series.csv`` from ``state.series``).

    Returns
    -------
    (state, status, message)
        ``status`` 0 (reached ``t_end``) or 1 (``max_steps``).

    Raises
    ------
    ConvergenceError
        TS failed (the last checkpoint is kept).
    """
    every = max(1, int(every))
    fmt = time_format or (lambda t: f"{t:.4g} tau0")
    budget = math.inf if max_steps is None else int(max_steps)
    done, status, message = 0, 0, "reached t_end"
    if st.boundary is not None:
        # a max_steps stop inside a segment: start from the segment's start and repeat
        # its steps up to the stop (not counted in max_steps), as the uninterrupted run
        done = -(st.steps - st.boundary.steps)
        log.info("transient: repeating steps %d to %d from the segment's start (t = %s) "
                 "as the uninterrupted run takes them", st.boundary.steps + 1, st.steps,
                 fmt(st.boundary.t))
        vars(st).update(vars(st.boundary.copy()))
    record = _monitor(model, st)
    while st.t < t_end * (1 - 1e-14):
        if done >= budget:
            status, message = 1, f"stopped after max_steps = {max_steps}"
            break
        n_seg = int(min(every - st.steps % every, budget - done))
        # a segment that max_steps cuts short keeps a copy of its start (only then: a
        # copy holds the series so far)
        cut = n_seg < every - st.steps % every
        start = (st.copy() if st.steps % every == 0 else st.boundary) if cut else None
        y, res = evolve(model, st.y, t_end, t0=st.t, dt=st.dt, rtol=rtol, atol=atol,
                        prefix=prefix, options=options, monitor=record, max_steps=n_seg)
        st.y, st.t, st.dt = y, res.t, float(res.history["dt_next"])
        st.steps += res.steps
        st.rejected_steps += res.rejected_steps
        st.newton_iterations += res.newton_iterations
        done += res.steps
        # inside a segment (a max_steps stop): keep the segment's start for --resume
        st.boundary = start if st.steps % every and st.t < t_end * (1 - 1e-14) else None
        if checkpoint is not None:
            st.save(checkpoint, digest)
            if on_checkpoint is not None:
                on_checkpoint(st)
        if res.status < 0:  # pragma: no cover - evolve raises first
            raise ConvergenceError(res.message, res)
        if res.steps == 0:
            raise ConvergenceError(f"TS made no progress at t = {fmt(st.t)}", res)
    log.info("transient: %s after %d steps (t = %s)", message, st.steps, fmt(st.t))
    return st, status, message


def default_atol(model: Kinetics0D, y0: np.ndarray, rtol: float) -> np.ndarray:
    """Absolute tolerances per block (f, n): ``1e-6 rtol`` times the block's largest
    initial occupation (as :func:`fvqp.models.kinetics0d.evolve`)."""
    nq = model.grid.n
    atol = np.empty(model.size)
    atol[:nq] = 1e-6 * rtol * max(float(np.max(np.abs(y0[:nq]))), 1e-300)
    atol[nq:] = 1e-6 * rtol * max(float(np.max(np.abs(y0[nq:]))), 1e-300)
    return atol


def checkpoint_path(out_dir: str) -> str:
    """``<out_dir>/checkpoint.h5``."""
    return os.path.join(out_dir, "checkpoint.h5")

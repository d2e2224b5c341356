r"""A model preconditioner kept across Newton iterations and time steps while it works.

Building a model preconditioner (e.g. transport's phonon-eliminating one,
:mod:`fvqp.models.transport.schur`) is the most expensive
part of a Newton step at device size: dense collision blocks of every cell, the QP Schur
complement and its factorisation (measured on the 3D absorber: 60-65 % of a step). The
Krylov operator stays the exact Jacobian action, so an *older* preconditioner changes
only how many Krylov iterations a linear solve takes, never the Newton iterate it
converges to (to the Krylov tolerance). :class:`LaggedPreconditioner` therefore keeps a
factorisation until the evidence says it has aged:

* the Krylov iterations of the last linear solve (the preconditioner applications between
  two updates) exceed ``growth`` times those of the first solve after the build, plus 2;
* the shift :math:`\sigma` of :math:`K = \sigma m - J` (the BDF coefficient over the step,
  0 in steady solves) moved by more than a factor ``shift_factor`` (a step cut after a
  failed solve divides the step by 4: always a rebuild);
* it served ``max_age`` linear solves;
* its owner said the build is stale (:meth:`LaggedPreconditioner.invalidate`, e.g. the
  chip chain at the start of every step: reason ``"step"``).

A linear solve that fails with a lagged preconditioner therefore always leads to a
rebuild (its iteration count is the Krylov limit), and the failure itself is reported
by the solver as before (a failed Newton solve, the step retried); nothing stops
silently. Every rebuild is logged with its reason (on the owner's logger). The rule
applies where the solver calls ``update`` (with ``-<prefix>snes_lag_preconditioner 1``:
before every linear solve).

The wrapped preconditioner's protocol (the solver layer knows no model):

* ``update(x_local, shift)``: build at the state ``x_local`` for :math:`K = \sigma m - J`;
  ``apply(r)``: :math:`\approx K^{-1}r` on the owned unknowns (required);
* ``needs_point`` (bool, default False): the preconditioner must see the point and shift
  of the Newton matrix of *every* linear solve, rebuilt or not (e.g. an exact solve of the
  Newton system built on a kept factorisation); :meth:`LaggedPreconditioner.update` calls
  its ``set_point(x_local, shift)`` first, and the wrapper refuses ``lag=False`` (that
  mode leaves the rebuilds, hence the calls, to the solver's own lag);
* ``last_iterations`` (int, default 1): Krylov iterations of its last application, for a
  preconditioner that is itself a Krylov solve; the growth rule counts them;
* ``set_rtol(rtol, reach)`` (optional): the relative tolerance of the coming solve, which
  inexact Newton varies (:mod:`fvqp.solvers.forcing`), and its reach
  (:attr:`fvqp.solvers.forcing.Forcing.reach`, or None); forwarded, and the growth rule
  then counts each solve's iterations scaled to :data:`REFERENCE_DECADES` decades,
  :math:`n\,d_{ref}/\log_{10}(1/\text{rtol})`, so a solve asked for fewer digits does
  not look like a preconditioner that aged (without the scaling, transport's 520-cell
  absorber transient rebuilt 38 times instead of 13, 31 of them for "growth");
* ``counters()`` (optional): a dict ``name -> [calls, CPU seconds]`` of its own work
  (e.g. an inner Krylov solve's iterations and operator applications), merged into
  :attr:`LaggedPreconditioner.cpu` after every application (the run's summary reports
  them).
"""

from __future__ import annotations

import logging
import time

import numpy as np

__all__ = ["LaggedPreconditioner", "LAG_DEFAULTS", "needs_point"]

log = logging.getLogger("fvqp.solvers")

#: defaults of the rebuild rule (options ``-<prefix>schur_lag_growth``,
#: ``-<prefix>schur_lag_shift_factor``, ``-<prefix>schur_lag_max_age``)
LAG_DEFAULTS = {"growth": 2.0, "shift_factor": 2.0, "max_age": 40}
#: decades of residual reduction the growth rule scales iteration counts to when the
#: solves' tolerances vary (``set_rtol``): those of the default Krylov rtol 1e-10
REFERENCE_DECADES = 10.0


def needs_point(pc) -> bool:
    """True if the preconditioner ``pc`` must see the Newton point of every linear solve
    (its ``needs_point`` flag, module docstring)."""
    return bool(getattr(pc, "needs_point", False))


class LaggedPreconditioner:
    """Wraps a model preconditioner (``update(x_local, shift)``, ``apply(r)``) and
    rebuilds it only by the rule of the module docstring.

    Parameters
    ----------
    pc
        The wrapped preconditioner (e.g. :class:`.schur.SchurPreconditioner`).
    growth, shift_factor : float
        Rebuild when the last solve took more than ``growth * fresh + 2`` iterations
        (``fresh``: the first solve after the build), or when the shift left
        ``[built / shift_factor, built * shift_factor]``.
    max_age : int
        Rebuild after this many linear solves with one build.
    lag : bool
        False: rebuild at every update (the solver's own lag decides; counts and CPU
        times are still recorded).
    logger
        Where the rebuilds are logged (default ``fvqp.solvers``; transport passes
        ``fvqp.transport``, the chip chain's films ``fvqp.bte_chip``).
    """

    def __init__(self, pc, growth: float = LAG_DEFAULTS["growth"],
                 shift_factor: float = LAG_DEFAULTS["shift_factor"],
                 max_age: int = LAG_DEFAULTS["max_age"], lag: bool = True,
                 logger: logging.Logger | None = None):
        if not growth >= 1.0 or not shift_factor >= 1.0 or max_age < 1:
            raise ValueError("lag rule: growth >= 1, shift factor >= 1, max_age >= 1 "
                             f"(got {growth}, {shift_factor}, {max_age})")
        self.pc, self.lag = pc, bool(lag)
        if needs_point(pc) and not self.lag:
            raise ValueError(f"{type(pc).__name__} needs the point of the Newton matrix at "
                             "every linear solve (needs_point): wrap it with lag=True (the "
                             "rule of fvqp.solvers.lagged, updated before every solve), "
                             "not lag=False (the solver's own lag would skip solves)")
        self.growth, self.shift_factor, self.max_age = growth, shift_factor, int(max_age)
        self._shift = None  # shift of the current build (None: never built)
        self._fresh = None  # iterations of the first solve after the build
        self._apps = 0.0    # applications since the last update (one linear solve),
        self._scale = 1.0   # scaled to REFERENCE_DECADES when the solve's rtol is known
        self._age = 0       # linear solves served by the current build
        self._stale = None  # reason given by invalidate() (None: none pending)
        self.logger = log if logger is None else logger
        #: builds done and updates answered with the kept build
        self.builds, self.reuses = 0, 0
        #: reasons of the builds (counts), e.g. {"first": 1, "growth": 3}
        self.reasons: dict[str, int] = {}
        #: CPU seconds and calls of builds and applications (benchmark)
        self.cpu = {"pc_build": [0, 0.0], "pc_apply": [0, 0.0]}

    def invalidate(self, reason: str = "step") -> None:
        """Rebuild at the next :meth:`update` (recorded as ``reason`` unless the rule of
        the module docstring names one of its own there), e.g. at the start of a time
        step whose first linear solve must not depend on what earlier steps left."""
        self._stale = str(reason)

    def _reason(self, shift: float) -> str | None:
        """Why the build must be renewed now (None: keep it); clears the pending
        :meth:`invalidate`."""
        why, stale = self._rule(shift), self._stale
        self._stale = None
        return stale if why is None else why

    def _rule(self, shift: float) -> str | None:
        """The rebuild rule of the module docstring (None: it keeps the build)."""
        if self._shift is None:
            return "first"
        if not self.lag:
            return "always"
        last = self._apps
        if self._fresh is None and self._age > 0:
            self._fresh = max(last, 1)
        if self._age >= self.max_age:
            return "age"
        if self._fresh is not None and last > self.growth * self._fresh + 2:
            return "growth"
        old, new = abs(self._shift), abs(shift)
        if (old == 0.0) != (new == 0.0) or (
                old > 0 and not 1.0 / self.shift_factor <= new / old <= self.shift_factor):
            return "shift"
        return None

    def update(self, x_local: np.ndarray, shift: float) -> None:
        """Called before a linear solve: rebuild at ``(x_local, shift)`` or keep the
        build (module docstring)."""
        if needs_point(self.pc):  # e.g. an exact solve at every solve's own point
            self.pc.set_point(x_local, shift)
        reason = self._reason(float(shift))
        last = self._apps
        self._apps = 0.0
        if reason is None:
            self.reuses += 1
            self._age += 1
            return
        if reason not in ("first", "always"):
            self.logger.debug("preconditioner rebuilt (%s): last solve %d iterations, first "
                              "after the build %s, age %d, shift %.4g -> %.4g", reason, last,
                              self._fresh, self._age, self._shift, shift)
        c0 = time.process_time()
        self.pc.update(x_local, shift)
        self._count("pc_build", c0)
        self.builds += 1
        self.reasons[reason] = self.reasons.get(reason, 0) + 1
        self._shift, self._fresh, self._age = float(shift), None, 1

    def set_rtol(self, rtol: float, reach: float | None = None) -> None:
        """The relative tolerance of the coming solve and its reach (module docstring):
        forwarded to the wrapped preconditioner if it takes them; scales the growth
        rule's count."""
        tell = getattr(self.pc, "set_rtol", None)
        if tell is not None:
            tell(rtol, reach)
        decades = -np.log10(rtol) if 0.0 < rtol < 1.0 else REFERENCE_DECADES
        self._scale = REFERENCE_DECADES / max(decades, 1.0)

    def apply(self, r: np.ndarray) -> np.ndarray:
        c0 = time.process_time()
        z = self.pc.apply(r)
        self._applied(c0)
        return z

    def apply_into(self, r: np.ndarray, out: np.ndarray) -> None:
        """:meth:`apply` written into ``out`` (the wrapped preconditioner's own
        ``apply_into`` if it has one: no result array besides ``out``)."""
        c0 = time.process_time()
        into = getattr(self.pc, "apply_into", None)
        if into is None:
            out[...] = self.pc.apply(r)
        else:
            into(r, out)
        self._applied(c0)

    def _applied(self, c0: float) -> None:
        self._count("pc_apply", c0)
        # a preconditioner that is a Krylov solve itself: its iterations count
        self._apps += getattr(self.pc, "last_iterations", 1) * self._scale
        counters = getattr(self.pc, "counters", None)
        if counters is not None:
            self.cpu.update({k: list(v) for k, v in counters().items()})

    def _count(self, what: str, c0: float) -> None:
        entry = self.cpu[what]
        entry[0] += 1
        entry[1] += time.process_time() - c0

    def __getattr__(self, name: str):
        if name == "pc":  # not yet set (copy, unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.pc, name)

"""Progress reports of the long Monte Carlo loops (kinetic Monte Carlo, bursting bubbles)."""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["WallClockReports"]


class WallClockReports:
    """Reports of a run of ``total`` steps about every ``every`` seconds of wall time, or
    after every step for ``every <= 0`` (deterministic, independent of the machine's speed).
    Reports never touch the random stream: a run gives the same numbers without them.

    Parameters
    ----------
    total : int
        Steps (events) of the run.
    progress : callable or None
        ``progress(done, total, sim)``; ``None``: ``log.info(fmt, done, total, *state(sim))``.
    every : float
        Seconds of wall time between reports.
    log, fmt, state : logging.Logger, str, callable
        Logger, format and values (``state(sim)``, a tuple) of the default report.
    """

    def __init__(self, total: int, progress: Callable | None, every: float, log, fmt: str,
                 state: Callable):
        self.total, self.progress, self.every = total, progress, every
        self.log, self.fmt, self.state = log, fmt, state
        self.every_step, self.t_wall = every <= 0.0, time.monotonic()

    def after(self, done: int, sim) -> None:
        """Report after step ``done`` (1-based) if one is due."""
        if self.every_step or time.monotonic() - self.t_wall > self.every:
            self.t_wall = time.monotonic()
            if self.progress is None:
                self.log.info(self.fmt, done, self.total, *self.state(sim))
            else:
                self.progress(done, self.total, sim)

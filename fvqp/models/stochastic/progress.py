"""Progress of a stochastic study: its work units (Monte Carlo runs, parameter points) and
the events inside the current one, on the shared :class:`fvqp.models.base.timeloop.Progress`
(rank 0: a bar on a terminal, INFO lines otherwise, at most every 5 s and at the last
unit)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from ..base.timeloop import Progress

__all__ = ["StudyProgress"]


class StudyProgress:
    """The work-unit hook of a study (:class:`fvqp.io.workunits.WorkUnits` or
    :data:`~fvqp.io.workunits.direct`) with progress reports.

    :meth:`map` hands the units to ``units`` a round (one unit per rank) at a time, so the
    results, the checkpoint after every round, ``--max-steps`` and ``--resume`` are those
    of ``units.map`` on all the units at once; after every round it reports ``unit k/n``.
    :meth:`report` is the Monte Carlo loops' ``progress(done, total, sim)`` callback
    (:class:`fvqp.stochastic.progress.WallClockReports`): the events of the unit rank 0
    computes.

    Parameters
    ----------
    units : WorkUnits or direct
    tasks : fvqp.parallel.tasks.TaskShare
        The ranks (only rank 0 reports; ``size`` units per round).
    logger : logging.Logger

    Attributes
    ----------
    done, total : int
        Units finished (computed or reused) and units asked for so far.
    """

    def __init__(self, units, tasks, logger: logging.Logger):
        self.units, self.size = units, max(int(tasks.size), 1)
        self.progress = Progress(tasks, None, None, logger)
        self.done = self.total = 0
        self._current = ""

    def __call__(self, key: str, compute: Callable[[], dict]) -> dict:
        """One unit (a study of a single unit, e.g. the decay)."""
        return self.map([(key, compute)])[0]

    def map(self, items: Sequence[tuple[str, Callable[[], dict]]]) -> list[dict]:
        """The results of ``units.map(items)``, a round at a time with a report after each."""
        base, n = self.done, len(items)
        self.total = base + n
        out: list[dict] = []
        for start in range(0, n, self.size):
            batch = items[start:start + self.size]
            self._current = batch[0][0]
            out.extend(self.units.map(batch))
            self.done = base + start + len(batch)
            self.progress.show(f"unit {self.done}/{self.total} ({batch[-1][0]}) done",
                               self.done / self.total, force=self.done == self.total)
        return out

    def report(self, done: int, total: int, sim=None) -> None:
        """``done`` of ``total`` events (steps, repeats) of the unit under way."""
        frac = (self.done + done / max(total, 1)) / max(self.total, 1)
        self.progress.show(f"unit {self.done + 1}/{self.total} ({self._current}): "
                           f"{done}/{total}", frac)

    def close(self) -> None:
        self.progress.close()

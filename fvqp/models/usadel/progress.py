"""Progress of a bias sweep: the run template's :class:`~fvqp.models.base.timeloop.Progress`
(a tqdm bar on rank 0 of a terminal, INFO lines otherwise, nothing with ``fvqp -q``) fed
with finished biases instead of time steps.

A thin wrapper: ``Progress`` reports an integrator's step (``update(it)``); a sweep
reports "unit k of n done: text". On a terminal the bar shows the fraction of biases
with the last bias and min Δ; otherwise one INFO line per bias with the elapsed wall time
and the estimated time left.
"""

from __future__ import annotations

import logging
import time
from types import SimpleNamespace

from ..base.timeloop import Progress

__all__ = ["SweepProgress"]


class SweepProgress(Progress):
    """Report the biases of a sweep of ``total`` biases (``label`` names the sweep);
    ``ranks`` (anything with a ``rank``, e.g. the sweep's task share) selects the rank
    that reports (default: this process)."""

    def __init__(self, total: int, label: str, logger: logging.Logger, ranks=None):
        super().__init__(ranks or SimpleNamespace(rank=0), float(total), None, logger)
        self.total, self.label = total, label
        self.start = time.perf_counter()
        if self.bar is not None:
            self.bar.set_description(f"usadel sweep {label}".strip())

    def update(self, k: int, text: str, resumed: bool = False) -> None:  # type: ignore[override]
        """Bias ``k`` (0-based) is done; ``text`` describes it (bias, min Δ, ...)."""
        if not self.rank0:
            return
        done = k + 1
        if self.bar is not None:
            self.bar.n = done / self.total
            self.bar.set_postfix_str(text)
            return
        wall = time.perf_counter() - self.start
        left = wall / done * (self.total - done)
        self.log.info("usadel sweep %s%d/%d (%.0f %%, %.1f s, ~%.0f s left%s): %s",
                      self.label, done, self.total, 100.0 * done / self.total, wall, left,
                      ", from the checkpoint" if resumed else "", text)

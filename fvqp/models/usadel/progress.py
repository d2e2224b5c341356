"""Progress of a bias sweep: a tqdm bar on a terminal, INFO lines otherwise.

Every finished bias is reported: on a terminal (stderr a TTY, log level INFO) as a bar
over the biases with the last bias and min Δ; otherwise (files, pipes, CI) as one INFO
line per bias with the elapsed wall time and the estimated time left. ``fvqp -q run``
(log level WARNING) shows neither. The Usadel model runs in one process, so there is no
rank to select.
"""

from __future__ import annotations

import logging
import sys
import time


class SweepProgress:
    """Report the biases of a sweep of ``total`` biases (``label`` names the sweep)."""

    def __init__(self, total: int, label: str, logger: logging.Logger):
        self.total, self.label, self.log = total, label, logger
        self.start = time.perf_counter()
        self.bar = None
        if sys.stderr.isatty() and logger.isEnabledFor(logging.INFO) and total > 1:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="bias", desc=f"usadel sweep {label}".strip(),
                            leave=False)

    def update(self, k: int, text: str, resumed: bool = False) -> None:
        """Bias ``k`` (0-based) is done; ``text`` describes it (bias, min Δ, ...)."""
        done = k + 1
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix_str(text)
            return
        wall = time.perf_counter() - self.start
        left = wall / done * (self.total - done)
        self.log.info("usadel sweep %s%d/%d (%.0f %%, %.1f s, ~%.0f s left%s): %s",
                      self.label, done, self.total, 100.0 * done / self.total, wall, left,
                      ", from the checkpoint" if resumed else "", text)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

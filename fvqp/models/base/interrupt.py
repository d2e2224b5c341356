"""Stopping a run cleanly on SIGINT (Ctrl-C) or SIGTERM (a batch system's time limit).

A signal does not interrupt a solve: inside PETSc's callbacks an exception would be taken
for a failed residual evaluation (and retried with a smaller step). The handler records
the request instead; the time loop (:func:`.timeloop.run_checkpointed`) checks it after
every accepted step — collectively, so every rank stops at the same step —, writes a
checkpoint and returns ``status = 1`` with the command that continues the run. A second
signal aborts at once (the last checkpoint stays valid: every file is written atomically).
"""

from __future__ import annotations

import logging
import os
import signal
import threading

__all__ = ["StopSignals", "requested_stop"]

log = logging.getLogger("fvqp.run")

_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_active: list[StopSignals] = []


class StopSignals:
    """Context manager: while active, SIGINT/SIGTERM request a clean stop (module
    docstring). Nested uses share the outermost handler; outside the main thread (where
    Python cannot install handlers) it does nothing."""

    def __init__(self) -> None:
        self.received: int = 0
        self._old: dict = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread() and not _active:
            for s in _SIGNALS:
                self._old[s] = signal.signal(s, self._handle)
        _active.append(self)
        return self

    def __exit__(self, *exc) -> None:
        _active.remove(self)
        for s, h in self._old.items():
            signal.signal(s, h)
        self._old.clear()

    def _handle(self, signum: int, frame) -> None:
        if self.received:
            log.error("%s again: aborting now (the last checkpoint is intact).",
                      signal.Signals(signum).name)
            os._exit(128 + signum)
        self.received = signum
        log.warning("%s received: the run stops after the current step and writes a "
                    "checkpoint (send it again to abort at once).",
                    signal.Signals(signum).name)


def requested_stop(dist) -> str | None:
    """The name of the signal that asked the run to stop (on any rank), else None.
    Collective over ``dist``: every rank must call it at the same point."""
    got = _active[0].received if _active else 0
    got = int(dist.max(float(got)))
    return signal.Signals(got).name if got else None

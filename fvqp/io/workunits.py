"""Checkpointing of sweeps by work unit.

A *work unit* is one finished piece of a sweep: one Monte Carlo run of a stochastic study
(one generation rate, one spin-flip time ...), one bias point of a Usadel bias sweep.
:class:`WorkUnits` stores each finished unit's results in ``checkpoint.h5`` of the output
directory (atomically, with the case digest); a run restarted with ``--resume`` reuses the
stored units and computes only the missing ones.  ``max_units`` (the CLI's
``--max-steps``) stops a sweep after that many newly computed units, leaving the
checkpoint.

Units that are independent (separately seeded Monte Carlo runs) resume to exactly the
uninterrupted result.  A continuation sweep (each unit starts from the previous unit's
state) keeps that state as *carry* keys of its unit: ``latest_only`` names the keys that
are kept for the most recently computed unit only (the seed of the next one), so the
checkpoint does not grow with the full state of every unit.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

import numpy as np

from .checkpoint import read_checkpoint, write_checkpoint

__all__ = ["StudyStopped", "WorkUnits", "direct"]

log = logging.getLogger(__name__)

_SEP = "::"


class StudyStopped(Exception):
    """Raised by :class:`WorkUnits` once ``max_units`` new units are done."""


def direct(key: str, compute: Callable[[], dict]) -> dict:
    """Work-unit hook without checkpointing: just ``compute()``."""
    return compute()


class WorkUnits:
    """Completed units of a sweep (see module docstring).

    Parameters
    ----------
    directory : str
        Output directory (holds ``checkpoint.h5``).
    digest : str
        Case digest; a checkpoint of another case is refused.
    resume : bool
        Reuse the units of an existing checkpoint (it must exist).
    max_units : int, optional
        Stop (raise :class:`StudyStopped`) after this many newly computed units.
    latest_only : tuple of str
        Result keys stored for the most recently computed unit only (continuation state).
    """

    def __init__(self, directory: str, digest: str, resume: bool = False,
                 max_units: int | None = None, latest_only: tuple[str, ...] = ()):
        self.path = os.path.join(directory, "checkpoint.h5")
        self.digest = digest
        self.max_units = max_units
        self.latest_only = tuple(latest_only)
        self.computed = 0
        self.reused = 0
        self._done: dict[str, dict] = {}
        if resume:
            arrays, meta = read_checkpoint(self.path, digest)
            for key in meta["units"]:
                pre = key + _SEP
                self._done[key] = {k[len(pre):]: v for k, v in arrays.items()
                                   if k.startswith(pre)}
                self._done[key].update(meta["scalars"].get(key, {}))
            log.info("resuming: %d finished units from %s", len(self._done), self.path)

    def __len__(self) -> int:
        """Number of finished units (stored and newly computed)."""
        return len(self._done)

    def __call__(self, key: str, compute: Callable[[], dict]) -> dict:
        """The results of unit ``key``: stored ones, or ``compute()`` (then stored).

        ``compute`` returns a dict of numbers, strings and arrays.
        """
        if "/" in key or _SEP in key:
            raise ValueError(f"work-unit key {key!r} must not contain '/' or {_SEP!r}")
        if key in self._done:
            self.reused += 1
            return dict(self._done[key])
        if self.max_units is not None and self.computed >= self.max_units:
            raise StudyStopped(f"stopped after {self.computed} units; continue with --resume")
        res = compute()
        for done in self._done.values():  # the continuation state of older units
            for name in self.latest_only:
                done.pop(name, None)
        self._done[key] = dict(res)
        self.computed += 1
        self._write()
        return res

    def _write(self) -> None:
        arrays, scalars = {}, {}
        for key, res in self._done.items():
            for name, v in res.items():
                if isinstance(v, (str, type(None))) or np.ndim(v) == 0:
                    scalars.setdefault(key, {})[name] = _scalar(v)
                else:
                    arrays[f"{key}{_SEP}{name}"] = np.asarray(v)
        write_checkpoint(self.path, self.digest, arrays,
                         {"units": list(self._done), "scalars": scalars})


def _scalar(v):
    """JSON-exact scalar (floats round-trip through ``repr``)."""
    if isinstance(v, (str, type(None), bool, np.bool_)):
        return v if not isinstance(v, np.bool_) else bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    return float(v)

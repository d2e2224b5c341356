"""Checkpointing of the stochastic studies by work unit.

The Monte Carlo studies are sweeps of independent, separately seeded runs (one
concentration per generation rate, one packing coefficient per spin-flip time, the
polarisation trace).  :class:`WorkUnits` stores each finished unit's results in
``checkpoint.h5`` of the output directory (atomically, with the case digest); a run
restarted with ``--resume`` reuses the stored units and computes only the missing ones.
Because every unit draws from its own seed, the resumed study is identical to an
uninterrupted one.  ``max_units`` (the CLI's ``--max-steps``) stops a study after that many
newly computed units, leaving the checkpoint.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

import numpy as np

from ...io.checkpoint import read_checkpoint, write_checkpoint

__all__ = ["StudyStopped", "WorkUnits"]

log = logging.getLogger(__name__)

_SEP = "::"


class StudyStopped(Exception):
    """Raised by :class:`WorkUnits` once ``max_units`` new units are done."""


class WorkUnits:
    """Completed units of a study (see module docstring).

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
    """

    def __init__(self, directory: str, digest: str, resume: bool = False,
                 max_units: int | None = None):
        self.path = os.path.join(directory, "checkpoint.h5")
        self.digest = digest
        self.max_units = max_units
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

    def __call__(self, key: str, compute: Callable[[], dict]) -> dict:
        """The results of unit ``key``: stored ones, or ``compute()`` (then stored).

        ``compute`` returns a dict of numbers, strings and arrays.
        """
        if key in self._done:
            self.reused += 1
            return dict(self._done[key])
        if self.max_units is not None and self.computed >= self.max_units:
            raise StudyStopped(f"stopped after {self.computed} units; continue with --resume")
        res = compute()
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

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

Independent units of one sweep go through :meth:`WorkUnits.map` (or :func:`direct`'s
``map``): with a :class:`fvqp.parallel.tasks.TaskShare` of several ranks they are computed a
round of one unit per rank at a time, every rank gets every result, and the checkpoint
(written by the root rank only) grows after each round.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence

import numpy as np

from .checkpoint import read_checkpoint, write_checkpoint

__all__ = ["StudyStopped", "WorkUnits", "direct"]

log = logging.getLogger(__name__)

_SEP = "::"


class StudyStopped(Exception):
    """Raised by :class:`WorkUnits` once ``max_units`` new units are done."""


class _Direct:
    """Work-unit hook without checkpointing: just ``compute()`` (``map``: one after the
    other)."""

    def __call__(self, key: str, compute: Callable[[], dict]) -> dict:
        return compute()

    def map(self, items: Sequence[tuple[str, Callable[[], dict]]]) -> list[dict]:
        return [compute() for _, compute in items]


#: the hook of a sweep run without a checkpoint
direct = _Direct()


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
    tasks : fvqp.parallel.tasks.TaskShare, optional
        The ranks that share the independent units of :meth:`map`; only its root rank
        writes the checkpoint. Default: this process alone.
    """

    def __init__(self, directory: str, digest: str, resume: bool = False,
                 max_units: int | None = None, latest_only: tuple[str, ...] = (),
                 tasks=None):
        self.path = os.path.join(directory, "checkpoint.h5")
        self.digest = digest
        self.max_units = max_units
        self.latest_only = tuple(latest_only)
        self.tasks = tasks
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
        self._check_key(key)
        if key in self._done:
            self.reused += 1
            return dict(self._done[key])
        if self.max_units is not None and self.computed >= self.max_units:
            raise StudyStopped(f"stopped after {self.computed} units; continue with --resume")
        res = compute()
        self._store(key, res)
        self._write()
        return res

    def map(self, items: Sequence[tuple[str, Callable[[], dict]]]) -> list[dict]:
        """The results of independent units ``(key, compute)``, in order.

        Stored units are reused; the missing ones are computed a round at a time over the
        ranks of ``tasks`` (one unit per rank and round; the checkpoint is written after
        every round). ``max_units`` counts as in :meth:`__call__`: the units within the
        budget are computed and stored, then :class:`StudyStopped` is raised.
        """
        for key, _ in items:
            self._check_key(key)
        missing = [(k, c) for k, c in items if k not in self._done]
        budget = len(missing) if self.max_units is None else max(
            0, min(len(missing), self.max_units - self.computed))
        share = self.tasks
        n_per_round = share.size if share is not None else 1
        for start in range(0, budget, n_per_round):
            batch = missing[start:min(start + n_per_round, budget)]
            results = (share.run_round([c for _, c in batch]) if share is not None
                       else [batch[0][1]()])
            for (key, _), res in zip(batch, results, strict=True):
                self._store(key, res)
            self._write()
        if budget < len(missing):
            raise StudyStopped(f"stopped after {self.computed} units; continue with --resume")
        self.reused += len(items) - len(missing)
        return [dict(self._done[k]) for k, _ in items]

    @staticmethod
    def _check_key(key: str) -> None:
        if "/" in key or _SEP in key:
            raise ValueError(f"work-unit key {key!r} must not contain '/' or {_SEP!r}")

    def _store(self, key: str, res: dict) -> None:
        for done in self._done.values():  # the continuation state of older units
            for name in self.latest_only:
                done.pop(name, None)
        self._done[key] = dict(res)
        self.computed += 1

    def _write(self) -> None:
        if self.tasks is not None and not self.tasks.is_root:
            return
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

"""Per-bin work of a discrete-ordinates run in ``checkpoint.h5`` of the output directory.

The energy bins of the ``bte`` model (without inelastic collisions) and the phonon bands
of the ``phonon`` model are marched or solved one after the other. :class:`BinCheckpoint`
stores the state of that work — the cell arrays of every bin (gathered to rank 0 in file
cell order, so a run may resume on another number of ranks), small per-bin arrays (steps
done, flows, iteration counts) and JSON metadata — atomically with the case digest
(:func:`fvqp.io.checkpoint.write_checkpoint`); a checkpoint of an edited case is refused.
The distribution ``dist`` (:class:`fvqp.parallel.Distribution`) does the gathering, so
this module knows the file and nothing of ranks.
"""

from __future__ import annotations

import logging
import os

import numpy as np

from .checkpoint import CheckpointError, read_checkpoint, write_checkpoint

log = logging.getLogger("fvqp.io")

__all__ = ["BinCheckpoint"]

_CELL = "cell::"


class BinCheckpoint:
    """Save/load per-bin work of one run (module docstring).

    Parameters
    ----------
    dist : fvqp.parallel.Distribution
    directory : str
        Output directory (holds ``checkpoint.h5``).
    digest : str
        Case digest.
    block : int
        Unknowns per cell and bin (ordinates + angle average).
    """

    def __init__(self, dist, directory: str, digest: str, block: int):
        self.dist, self.digest, self.block = dist, digest, block
        self.path = os.path.join(directory, "checkpoint.h5")
        self.writes = 0

    def _to_file(self, x: np.ndarray) -> np.ndarray | None:
        """(nbins, n_owned * block) owned unknowns -> (n_global, nbins, block) on rank 0."""
        x = np.asarray(x)
        nb = x.shape[0]
        owned = x.reshape(nb, -1, self.block).transpose(1, 0, 2)
        return self.dist.gather(np.ascontiguousarray(owned))

    def _from_file(self, full: np.ndarray) -> np.ndarray:
        owned = self.dist.scatter(full)
        return np.ascontiguousarray(owned.transpose(1, 0, 2)).reshape(owned.shape[1], -1)

    def save(self, cells: dict, bins: dict, meta: dict) -> None:
        """Write ``cells`` (name -> owned (nbins, n_owned * block) unknowns), ``bins``
        (name -> small arrays, the same on every rank) and JSON ``meta``. Collective."""
        full = {_CELL + k: self._to_file(v) for k, v in cells.items()}
        if self.dist.rank == 0:
            arrays = {**full, **{k: np.asarray(v) for k, v in bins.items()}}
            write_checkpoint(self.path, self.digest, arrays, meta)
        self.writes += 1

    def load(self) -> tuple[dict, dict, dict]:
        """Inverse of :meth:`save`: (cells, bins, meta) on every rank; raises
        :class:`~fvqp.io.checkpoint.CheckpointError` on every rank if the checkpoint is
        missing or belongs to another case."""
        data, err = None, None
        if self.dist.rank == 0:
            try:
                data = read_checkpoint(self.path, self.digest)
            except CheckpointError as exc:
                err = str(exc)
        err = self.dist.bcast(err)
        if err is not None:
            raise CheckpointError(err)
        arrays, meta = self.dist.bcast(data)
        cells = {k[len(_CELL):]: self._from_file(v) for k, v in arrays.items()
                 if k.startswith(_CELL)}
        bins = {k: v for k, v in arrays.items() if not k.startswith(_CELL)}
        log.info("resuming from %s", self.path)
        return cells, bins, meta

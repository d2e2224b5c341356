"""Checkpoints in HDF5: the full integrator state, written atomically on rank 0.

Arrays are stored in file cell order, so a run may resume on another number of ranks.
A checkpoint records the digest of the case and mesh it belongs to and refuses others.
"""

from __future__ import annotations

import json
import os

import numpy as np

from .atomic import atomic_path


class CheckpointError(RuntimeError):
    """A checkpoint is missing, unreadable, or belongs to another case."""


def write_checkpoint(path: str, digest: str, arrays: dict, meta: dict) -> None:
    """Write ``arrays`` (numpy) and JSON-serialisable ``meta`` to ``path`` atomically."""
    import h5py

    tmp = atomic_path(path)
    with h5py.File(tmp, "w") as h5:
        h5.attrs["digest"] = digest
        h5.attrs["meta"] = json.dumps(meta)
        for k, v in arrays.items():
            h5.create_dataset(k, data=np.asarray(v))
    os.replace(tmp, path)


def read_checkpoint(path: str, digest: str) -> tuple[dict, dict]:
    """Return (arrays, meta); raise :class:`CheckpointError` if it does not fit."""
    import h5py

    if not os.path.isfile(path):
        raise CheckpointError(f"no checkpoint {path!r} to resume from. Fix: run without "
                              "--resume, or point --output at the directory of the killed run.")
    try:
        with h5py.File(path, "r") as h5:
            if h5.attrs["digest"] != digest:
                raise CheckpointError(
                    f"checkpoint {path!r} belongs to another version of the case or mesh "
                    "(digest differs). Fix: run with --overwrite instead of --resume (the "
                    "old outputs are replaced; overwrite=True instead of resume=True in "
                    "Python), or restore the case file and mesh.")
            meta = json.loads(h5.attrs["meta"])
            arrays = {k: h5[k][()] for k in h5.keys()}
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint {path!r}: {exc}") from exc
    return arrays, meta

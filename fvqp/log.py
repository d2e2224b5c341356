"""Logging set-up: INFO from rank 0 only, warnings from every rank (those of the case
check, which every rank does alike, from rank 0 only: :func:`root_reports`)."""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager


def _rank() -> int:
    for var in ("OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK"):
        if var in os.environ:
            return int(os.environ[var])
    return 0


def configure(verbosity: int = 0) -> None:
    """Route fvqp's log to stderr: INFO (or DEBUG with verbosity > 0) on rank 0,
    WARNING and above on the other ranks, prefixed with the rank under MPI."""
    rank = _rank()
    level = logging.DEBUG if verbosity > 0 else logging.INFO if verbosity == 0 else \
        logging.WARNING
    if rank != 0:
        level = max(level, logging.WARNING)
    handler = logging.StreamHandler()
    prefix = f"[rank {rank}] " if rank else ""
    handler.setFormatter(logging.Formatter(f"{prefix}%(asctime)s %(name)s %(levelname)s: "
                                           "%(message)s", "%H:%M:%S"))
    root = logging.getLogger("fvqp")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def is_root() -> bool:
    """This process is rank 0 (or the only one)."""
    return _rank() == 0


@contextmanager
def root_reports():
    """Within: the ``fvqp`` log of the ranks other than 0 keeps errors only. For work
    every rank does alike and rank 0 reports (the case check under ``mpiexec``: each
    rank loads and checks the same case, and its warnings were printed once per rank)."""
    root = logging.getLogger("fvqp")
    level = root.level
    if not is_root():
        root.setLevel(max(level, logging.ERROR))
    try:
        yield
    finally:
        root.setLevel(level)

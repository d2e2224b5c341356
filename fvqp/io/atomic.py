"""Atomic file writes: write to a temporary file in the same directory, then rename."""

from __future__ import annotations

import os
import tempfile


def atomic_write_bytes(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see either the old or the new file."""
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_path(path: str) -> str:
    """A temporary sibling of ``path`` to write to before ``os.replace(tmp, path)``."""
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    return os.path.join(d, f".tmp-{os.getpid()}-{os.path.basename(path)}")


def atomic_savefig(fig, path: str, dpi: int = 110) -> None:
    """Save a matplotlib figure as PNG atomically and close it."""
    import matplotlib.pyplot as plt

    tmp = atomic_path(path)
    try:
        fig.savefig(tmp, dpi=dpi, format="png")
    finally:
        plt.close(fig)
    os.replace(tmp, path)

"""Checkpoints of the bte model: :class:`fvqp.io.bin_checkpoint.BinCheckpoint`.

The class lives in :mod:`fvqp.io.bin_checkpoint` (file formats belong to ``fvqp/io``);
this module keeps the old import path working.
"""

from __future__ import annotations

from ...io.bin_checkpoint import BinCheckpoint

__all__ = ["BinCheckpoint"]

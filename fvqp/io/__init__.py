"""Files: VTK time series for ParaView, HDF5 checkpoints, atomic writes."""

from .checkpoint import CheckpointError, read_checkpoint, write_checkpoint
from .output import OutputWriter

__all__ = ["CheckpointError", "OutputWriter", "read_checkpoint", "write_checkpoint"]

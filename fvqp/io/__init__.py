"""Files: VTK time series for ParaView, HDF5 checkpoints, atomic writes, output locks."""

from .bin_checkpoint import BinCheckpoint
from .checkpoint import CheckpointError, read_checkpoint, write_checkpoint
from .lock import OutputDirError, OutputDirLocked, claim_output_dir
from .output import OutputWriter

__all__ = ["BinCheckpoint", "CheckpointError", "OutputDirError", "OutputDirLocked", "OutputWriter",
           "claim_output_dir", "read_checkpoint", "write_checkpoint"]

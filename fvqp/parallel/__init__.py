"""MPI distribution of mesh cells (the only MPI-aware part of fvqp)."""

from .distribution import Distribution, LocalGeometry, rcb_partition
from .serial import SerialLayout

__all__ = ["Distribution", "LocalGeometry", "SerialLayout", "rcb_partition"]

"""MPI distribution of mesh cells (the only MPI-aware part of fvqp)."""

from .distribution import Distribution, LocalGeometry, rcb_partition

__all__ = ["Distribution", "LocalGeometry", "rcb_partition"]

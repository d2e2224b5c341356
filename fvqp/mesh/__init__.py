"""Device meshes: reading files with named groups, and finite-volume geometry."""

from .geometry import Geometry, build_geometry
from .info import mesh_info
from .reader import MeshError, RawMesh, read_mesh

__all__ = ["Geometry", "MeshError", "RawMesh", "build_geometry", "mesh_info", "read_mesh"]

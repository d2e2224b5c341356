"""Device meshes: reading files with named groups, finite-volume geometry, sources."""

from .geometry import Geometry, build_geometry
from .info import mesh_info
from .reader import MeshError, RawMesh, read_mesh
from .sources import Source, case_sources, placement, profile

__all__ = ["Geometry", "MeshError", "RawMesh", "Source", "build_geometry", "case_sources",
           "mesh_info", "placement", "profile", "read_mesh"]

"""Read device meshes (gmsh .msh v2/v4, VTK .vtu/.vtk) with meshio.

Physical groups name things: groups of top-dimensional cells are *regions*, groups of
facets (one dimension lower) are *boundaries* (or internal *interfaces*), and for 1D
networks physical points name the wire ends and the points where junctions attach.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
from dataclasses import dataclass, field

import numpy as np

from ..setops import distinct

#: meshio cell types by topological dimension
DIM_OF = {
    "vertex": 0, "line": 1, "triangle": 2, "quad": 2,
    "tetra": 3, "hexahedron": 3, "wedge": 3, "pyramid": 3,
}
#: cell data keys that may carry the physical group tag
TAG_KEYS = ("gmsh:physical", "region", "CellEntityIds", "medit:ref")


class MeshError(ValueError):
    """A mesh file cannot be used; the message names the file and the fix."""


@dataclass
class RawMesh:
    """Cells and named groups of a mesh file, before any finite-volume geometry.

    Attributes
    ----------
    path : str
        The file it was read from.
    points : ndarray, shape (n_points, 3)
        Node coordinates in mesh units.
    dim : int
        Topological dimension of the cells (1, 2 or 3).
    blocks : list of (str, ndarray)
        Top-dimensional cells as (meshio cell type, node index array).
    cell_region : ndarray of int
        Region index of every cell (blocks concatenated in order).
    region_names : list of str
    facet_groups : dict of str -> list of ndarray
        Node lists of the named lower-dimensional cells, by group name.
    """

    path: str
    points: np.ndarray
    dim: int
    blocks: list[tuple[str, np.ndarray]]
    cell_region: np.ndarray
    region_names: list[str]
    facet_groups: dict[str, list[np.ndarray]] = field(default_factory=dict)

    @property
    def n_cells(self) -> int:
        return int(self.cell_region.size)

    def subset(self, regions) -> RawMesh:
        """The mesh restricted to the cells of the named regions (region indices kept)."""
        keep_r = np.array([n in set(regions) for n in self.region_names])
        keep = keep_r[self.cell_region]
        blocks, off = [], 0
        for ctype, conn in self.blocks:
            m = keep[off:off + len(conn)]
            if m.any():
                blocks.append((ctype, conn[m]))
            off += len(conn)
        return RawMesh(path=self.path, points=self.points, dim=self.dim, blocks=blocks,
                       cell_region=self.cell_region[keep], region_names=self.region_names,
                       facet_groups=self.facet_groups)


def _group_names(mesh, path: str) -> dict[tuple[int, int], str]:
    names: dict[tuple[int, int], str] = {}
    for name, data in (mesh.field_data or {}).items():
        arr = np.atleast_1d(np.asarray(data)).ravel()
        if arr.size >= 2:
            names[(int(arr[1]), int(arr[0]))] = str(name)
    return names


def _tags(mesh, path: str) -> list[np.ndarray]:
    for key in TAG_KEYS:
        if key in mesh.cell_data:
            return [np.asarray(a).astype(int).ravel() for a in mesh.cell_data[key]]
    raise MeshError(
        f"{path}: the mesh has no physical groups (no cell data {', '.join(TAG_KEYS)}). "
        "Fix: define Physical Surface/Volume/Curve groups in the .geo file for the regions "
        "and boundaries, and re-mesh (gmsh saves only elements of physical groups)."
    )


def read_mesh(path: str | os.PathLike) -> RawMesh:
    """Read a mesh file and its named regions and boundaries.

    Parameters
    ----------
    path
        A gmsh ``.msh`` (v2.2 or v4.x) or VTK ``.vtu``/``.vtk`` file.

    Raises
    ------
    MeshError
        If the file is missing or unreadable, has no cells or no physical groups.
    """
    import meshio

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise MeshError(f"mesh file {path!r} does not exist. Fix: check [mesh] file in the case "
                        "(paths are relative to the case file).")
    chatter = io.StringIO()  # meshio prints to stdout; library code must not
    try:
        with contextlib.redirect_stdout(chatter):
            mesh = meshio.read(path)
    except (Exception, SystemExit) as exc:  # meshio raises many types, even SystemExit
        raise MeshError(f"cannot read mesh file {path!r}: {exc}. Fix: write it as gmsh MSH 2.2/4.1 "
                        "or VTK (.vtu) with physical groups.") from exc
    if chatter.getvalue().strip():
        logging.getLogger(__name__).debug("meshio: %s", chatter.getvalue().strip())
    tags = _tags(mesh, path)
    names = _group_names(mesh, path)
    dims = [DIM_OF.get(b.type, -1) for b in mesh.cells]
    unknown = sorted({b.type for b, d in zip(mesh.cells, dims, strict=True) if d < 0})
    if unknown:
        raise MeshError(f"{path}: unsupported cell types {unknown}; use first-order lines, "
                        "triangles, quads, tetrahedra, hexahedra or wedges.")
    if not dims:
        raise MeshError(f"{path}: the mesh has no cells.")
    dim = max(dims)
    if dim < 1:
        raise MeshError(f"{path}: the mesh has only points.")
    blocks, cell_tag = [], []
    facet_groups: dict[str, list[np.ndarray]] = {}
    for block, d, tag in zip(mesh.cells, dims, tags, strict=True):
        data = np.asarray(block.data, dtype=np.int64)
        if d == dim:
            blocks.append((block.type, data))
            cell_tag.append(tag)
        elif d == dim - 1:
            for t in distinct(tag):
                name = names.get((d, int(t)), f"boundary_{int(t)}")
                facet_groups.setdefault(name, []).append(data[tag == t])
    cell_tag = np.concatenate(cell_tag)
    region_tags = list(distinct(cell_tag))
    region_names = [names.get((dim, int(t)), f"region_{int(t)}") for t in region_tags]
    cell_region = np.searchsorted(np.asarray(region_tags), cell_tag)
    return RawMesh(path=path, points=np.asarray(mesh.points, dtype=float), dim=dim,
                   blocks=blocks, cell_region=cell_region, region_names=region_names,
                   facet_groups=facet_groups)

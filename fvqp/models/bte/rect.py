"""Structured rectangle meshes built in memory (tests, benchmarks, quick studies).

:func:`rectangle` returns a :class:`~fvqp.mesh.RawMesh` of ``nx x ny`` quads on
``[0, lx] x [0, ly]`` (one region ``film``) with the boundary groups ``left``, ``right``,
``bottom``, ``top``, exactly as :func:`fvqp.mesh.read_mesh` would return for a gmsh file.
:func:`rcb_ordered` renumbers the cells of a mesh so that ``P`` contiguous blocks are the
subdomains ``mpiexec -n P`` would get (emulating MPI subdomains with
``-pc_bjacobi_blocks P`` in one process).
"""

from __future__ import annotations

import numpy as np

from ...mesh import RawMesh

__all__ = ["rcb_ordered", "rectangle"]


def rectangle(nx: int, ny: int, lx: float = 1.0, ly: float = 1.0,
              triangles: bool = False) -> RawMesh:
    """Quads (or each quad split into two triangles) on a rectangle."""
    x, y = np.linspace(0, lx, nx + 1), np.linspace(0, ly, ny + 1)
    X, Y = np.meshgrid(x, y, indexing="ij")
    pts = np.stack([X.ravel(), Y.ravel(), np.zeros(X.size)], axis=1)

    def nid(i, j):
        return i * (ny + 1) + j

    i, j = np.meshgrid(np.arange(nx), np.arange(ny), indexing="ij")
    i, j = i.ravel(), j.ravel()
    quads = np.stack([nid(i, j), nid(i + 1, j), nid(i + 1, j + 1), nid(i, j + 1)], axis=1)
    if triangles:
        blocks = [("triangle", np.concatenate([quads[:, [0, 1, 2]], quads[:, [0, 2, 3]]]))]
    else:
        blocks = [("quad", quads)]
    n = len(blocks[0][1])
    ii, jj = np.arange(nx), np.arange(ny)
    groups = {
        "left": [np.stack([nid(0, jj), nid(0, jj + 1)], axis=1)],
        "right": [np.stack([nid(nx, jj), nid(nx, jj + 1)], axis=1)],
        "bottom": [np.stack([nid(ii, 0), nid(ii + 1, 0)], axis=1)],
        "top": [np.stack([nid(ii, ny), nid(ii + 1, ny)], axis=1)],
    }
    return RawMesh(path="<rectangle>", points=pts, dim=2, blocks=blocks,
                   cell_region=np.zeros(n, dtype=np.int64), region_names=["film"],
                   facet_groups=groups)


def rcb_ordered(raw: RawMesh, parts: int) -> RawMesh:
    """Cells of a single-cell-type mesh reordered by recursive coordinate bisection."""
    from ...mesh import build_geometry
    from ...parallel import rcb_partition

    if len(raw.blocks) != 1:
        raise ValueError("rcb_ordered supports meshes with one cell type")
    geo = build_geometry(raw)
    order = np.argsort(rcb_partition(geo.centroid, parts), kind="stable")
    (ctype, conn), = raw.blocks
    return RawMesh(path=raw.path, points=raw.points, dim=raw.dim, blocks=[(ctype, conn[order])],
                   cell_region=raw.cell_region[order], region_names=raw.region_names,
                   facet_groups=raw.facet_groups)

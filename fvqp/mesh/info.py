"""Human-readable summary of a mesh file (``fvqp mesh-info``)."""

from __future__ import annotations

import numpy as np

from .geometry import build_geometry
from .reader import read_mesh


def mesh_info(path: str, scale: float = 1.0) -> str:
    """Regions (cell counts, measure), boundaries and interfaces (face counts) of a mesh.

    Parameters
    ----------
    path
        Mesh file.
    scale
        Length of one mesh unit in µm (measures are printed in µm^dim).
    """
    raw = read_mesh(path)
    geo = build_geometry(raw, scale=scale)
    unit = {1: "µm", 2: "µm²", 3: "µm³"}[geo.dim]
    lines = [f"mesh {path}", f"  dimension {geo.dim}, {geo.n_cells} cells, {geo.n_faces} faces, "
             f"{len(raw.points)} nodes",
             f"  cell types: {_cell_types(raw)}",
             f"  bounding box [µm]: {np.round(geo.points.min(0), 6).tolist()} .. "
             f"{np.round(geo.points.max(0), 6).tolist()}",
             "  regions:"]
    for r, name in enumerate(geo.region_names):
        m = geo.cell_region == r
        lines.append(f"    {name:<24s} {int(m.sum()):>9d} cells  measure {geo.volume[m].sum():.6g} "
                     f"{unit}")
    deg = geo.face_degree
    lines.append("  boundaries (exterior faces):")
    for name in geo.boundary_names:
        g = -1 if name == "unlabelled" else geo.group_names.index(name)
        m = (geo.face_group == g) & (deg == 1)
        lines.append(f"    {name:<24s} {int(m.sum()):>9d} faces")
    if geo.interface_names:
        lines.append("  interfaces / marked points (interior faces):")
        for name in geo.interface_names:
            m = geo.face_group == geo.group_names.index(name)
            lines.append(f"    {name:<24s} {int(m.sum()):>9d} faces")
    if (deg > 2).any():
        lines.append(f"  network nodes (faces shared by >2 cells): {int((deg > 2).sum())}")
    if geo.dim > 1:
        lines.append(f"  max non-orthogonality: {geo.max_nonorthogonality:.2f} deg"
                     + ("  (two-point fluxes lose accuracy above ~5 deg)"
                        if geo.max_nonorthogonality > 5 else ""))
    return "\n".join(lines)


def _cell_types(raw) -> str:
    counts: dict[str, int] = {}
    for t, c in raw.blocks:
        counts[t] = counts.get(t, 0) + len(c)
    return ", ".join(f"{t} ({n})" for t, n in counts.items())

"""Mesh a :class:`~fvqp.mesh.layout.Layout` with gmsh (:func:`build_mesh`).

The layout (its format, parsing and z stack) is :mod:`fvqp.mesh.layout`; the two meshers
are :mod:`fvqp.mesh.layout_boxes` (hexahedra: transfinite boxes of the block grid, for
Manhattan shapes) and :mod:`fvqp.mesh.layout_prisms` (wedges over a triangulated
footprint, for oblique edges). This module chooses between them, writes the gmsh script
``.geo`` next to the ``.msh`` and returns the regions' volumes and the groups' areas.
"""

from __future__ import annotations

import logging
import os

from .layout import Layout, LayoutError, oblique_edge
from .layout_boxes import block_grid, build_boxes
from .layout_prisms import build_prisms

log = logging.getLogger("fvqp.mesh")

__all__ = ["build_mesh"]


def _mesh_kind(layout: Layout) -> str:
    """``"hexahedra"`` or ``"prisms"`` for ``layout`` (its ``cells`` choice)."""
    oblique = [(lay, p, k) for lay in layout.layers for p in lay.polygons + lay.holes
               if (k := oblique_edge(p)) is not None]
    if layout.cells == "prisms" or (oblique and layout.cells == "auto"):
        return "prisms"
    if oblique:
        lay, p, k = oblique[0]
        raise LayoutError(f"{layout.source}: layer {lay.name!r}: edge {p[k].tolist()} -> "
                          f"{p[(k + 1) % len(p)].tolist()} is not parallel to x or y; "
                          "hexahedra need Manhattan shapes. Fix: approximate it by "
                          "axis-parallel steps, or cells = \"prisms\" (wedges; not for "
                          "heat/transport).")
    return "hexahedra"


def build_mesh(layout: Layout, msh: str | os.PathLike) -> dict:
    """Mesh ``layout`` with gmsh: ``<stem>.msh`` (MSH 4.1) and its script ``<stem>.geo``.

    Manhattan layouts get hexahedra (transfinite boxes of the block grid,
    :mod:`fvqp.mesh.layout_boxes`); layouts with oblique edges (or ``cells = "prisms"``)
    get wedges over a triangulated footprint (:mod:`fvqp.mesh.layout_prisms`).

    Parameters
    ----------
    layout : Layout
    msh : path
        The mesh file to write; the gmsh script goes next to it with the suffix ``.geo``.

    Returns
    -------
    dict
        ``regions`` (name -> volume, layout units³, from the geometry), ``groups`` (facet
        group name -> area, layout units²), ``cells`` (number of 3D cells), ``kind``
        (``"hexahedra"`` or ``"prisms"``), ``geo`` and ``msh`` (paths).
    """
    try:
        import gmsh
    except ImportError as exc:  # pragma: no cover - gmsh is a test/mesh dependency
        raise LayoutError("meshing a layout needs the gmsh Python package. Fix: pip install "
                          "'fvqp[mesh]' (gmsh >= 4.11).") from exc
    kind = _mesh_kind(layout)
    g = block_grid(layout) if kind == "hexahedra" else None
    msh = os.path.abspath(os.fspath(msh))
    geo = os.path.splitext(msh)[0] + ".geo"
    os.makedirs(os.path.dirname(msh), exist_ok=True)
    head = (f"// {os.path.basename(geo)} -- written by fvqp.mesh.layout_mesh from "
            f"{layout.source} ({kind}); coordinates in layout units ({layout.unit}).\n"
            f"// Regenerate: gmsh {os.path.basename(geo)} -3 -format msh41 -o "
            f"{os.path.basename(msh)}\nMesh.MshFileVersion = 4.1;\n")
    init = gmsh.isInitialized()
    if not init:
        gmsh.initialize(readConfigFiles=False, interruptible=False)
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        gmsh.model.add(os.path.splitext(os.path.basename(msh))[0])
        if g is not None:
            out = build_boxes(gmsh, layout, g)
            gmsh.write(geo + "_unrolled")
            with open(geo + "_unrolled", encoding="utf-8") as fh:
                body = fh.read()
            os.remove(geo + "_unrolled")
        else:
            out, statements = build_prisms(gmsh, layout)
            body = "\n".join(statements) + "\n"
        with open(geo, "w", encoding="utf-8") as fh:
            fh.write(head + body)
        gmsh.option.setNumber("Mesh.MshFileVersion", 4.1)
        gmsh.model.mesh.generate(3)
        gmsh.write(msh)
        types, tags, _ = gmsh.model.mesh.getElements(3)
        out["cells"] = int(sum(len(t) for t in tags))
    finally:
        gmsh.model.remove()
        if not init:
            gmsh.finalize()
    out.update(geo=geo, msh=msh, kind=kind)
    log.info("layout %s: %d %s, regions %s -> %s", layout.source, out["cells"], kind,
             ", ".join(out["regions"]), msh)
    return out

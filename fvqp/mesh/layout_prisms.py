"""Layouts with oblique edges: a prism (wedge) mesh by extruding a triangulated footprint.

When a layout's shapes are not Manhattan, :func:`fvqp.mesh.layout_mesh.build_mesh` comes here:
every outline (substrate box, layer shapes and holes) is drawn in the plane and the
planar partition is made with OpenCASCADE (``BooleanFragments``); each face of it is
extruded through the stack's z intervals as far as a region occupies it (``Extrude`` with
``Layers``/``Recombine``: triangles become wedges, one layer of cells per film cell), so
films of any thickness get flat cells and neighbouring regions share their faces. The
in-plane cells are triangles of size ``h`` — not K-orthogonal: fine for the
discrete-ordinates ``bte`` model, not for the two-point fluxes of ``heat``/``transport``
(they need the hexahedral path of Manhattan layouts).

The gmsh script (``.geo``) is written as the same OpenCASCADE statements the mesh was
built with, with the entity numbers gmsh gave them, so ``gmsh chip.geo -3`` makes the same
mesh. Physical groups are named as in :mod:`fvqp.mesh.layout`.
"""

from __future__ import annotations

import numpy as np

from .layout import Layout, LayoutError, z_levels

__all__ = ["build_prisms"]


def _fmt(v: float) -> str:
    return repr(float(v))


def _sample_inside(gmsh, tag: int) -> tuple[float, float]:
    """A point inside the plane face ``tag`` (its centre of mass if inside, else a grid
    point of its bounding box)."""
    c = gmsh.model.occ.getCenterOfMass(2, tag)
    if gmsh.model.isInside(2, tag, list(c)):
        return c[0], c[1]
    x0, y0, z0, x1, y1, _ = gmsh.model.getBoundingBox(2, tag)
    for n in (8, 32, 128):
        for x in np.linspace(x0, x1, n + 2)[1:-1]:
            for y in np.linspace(y0, y1, n + 2)[1:-1]:
                if gmsh.model.isInside(2, tag, [x, y, z0]):
                    return x, y
    raise LayoutError(f"no interior point found for face {tag} of the layout's partition")


def build_prisms(gmsh, layout: Layout) -> tuple[dict, list[str]]:
    """Build the extruded geometry and its groups in the current gmsh model.

    Returns
    -------
    (dict, list of str)
        ``regions`` (name -> volume), ``groups`` (facet group -> area), both exact from
        the geometry (layout units), and the ``.geo`` statements that rebuild it.
    """
    from matplotlib.path import Path

    occ = gmsh.model.occ
    src, sub = layout.source, layout.substrate
    z, nz = z_levels(layout)
    zb = z[0]
    lines = ['SetFactory("OpenCASCADE");', "Geometry.OCCBooleanPreserveNumbering = 1;",
             f"Mesh.MeshSizeMax = {_fmt(layout.h)};"]
    gmsh.option.setNumber("Geometry.OCCBooleanPreserveNumbering", 1)
    gmsh.option.setNumber("Mesh.MeshSizeMax", layout.h)
    (bx0, by0), (bx1, by1) = sub.polygons[0].min(axis=0), sub.polygons[0].max(axis=0)
    box = occ.addRectangle(bx0, by0, zb, bx1 - bx0, by1 - by0)
    lines.append(f"Rectangle({box}) = {{{_fmt(bx0)}, {_fmt(by0)}, {_fmt(zb)}, "
                 f"{_fmt(bx1 - bx0)}, {_fmt(by1 - by0)}}};")

    def outline(p: np.ndarray) -> int:
        pts = []
        for x, y in p:
            t = occ.addPoint(x, y, zb)
            lines.append(f"Point({t}) = {{{_fmt(x)}, {_fmt(y)}, {_fmt(zb)}}};")
            pts.append(t)
        seg = []
        for a, b in zip(pts, pts[1:] + pts[:1], strict=True):
            t = occ.addLine(a, b)
            lines.append(f"Line({t}) = {{{a}, {b}}};")
            seg.append(t)
        loop = occ.addCurveLoop(seg)
        lines.append(f"Curve Loop({loop}) = {{{', '.join(map(str, seg))}}};")
        s = occ.addPlaneSurface([loop])
        lines.append(f"Plane Surface({s}) = {{{loop}}};")
        return s

    tools = [outline(p) for lay in layout.layers for p in lay.polygons + lay.holes]
    if tools:
        out, _ = occ.fragment([(2, box)], [(2, s) for s in tools])
        lines.append(f"BooleanFragments{{ Surface{{{box}}}; Delete; }}"
                     f"{{ Surface{{{', '.join(map(str, tools))}}}; Delete; }}")
    else:
        out = [(2, box)]
    occ.synchronize()
    faces = [t for d, t in out if d == 2]
    zc = 0.5 * (z[:-1] + z[1:])
    owner = -np.ones((len(faces), len(zc)), dtype=int)
    for i, f in enumerate(faces):
        pt = np.array([_sample_inside(gmsh, f)])
        for ri, lay in enumerate(layout.regions):
            inside = any(Path(p).contains_point(pt[0]) for p in lay.polygons) and not any(
                Path(p).contains_point(pt[0]) for p in lay.holes)
            for k in np.flatnonzero((zc > lay.z) & (zc < lay.z + lay.thickness)):
                if inside and owner[i, k] >= 0:
                    other = layout.regions[owner[i, k]].name
                    raise LayoutError(f"{src}: layers {other!r} and {lay.name!r} overlap. "
                                      "Fix: stack them (z of the upper = top of the lower) "
                                      "or cut one.")
                if inside:
                    owner[i, k] = ri
    current = dict(enumerate(faces))
    volumes: dict[int, int] = {}
    for k in range(len(zc)):
        occupied = [i for i in range(len(faces)) if owner[i, k] >= 0]
        if k > 0:
            floating = [i for i in occupied if owner[i, k - 1] < 0]
            if floating:
                name = layout.regions[owner[floating[0], k]].name
                raise LayoutError(f"{src}: layer {name!r} overhangs empty space at z = "
                                  f"{z[k]:g}; an extruded mesh needs every layer to rest on "
                                  "the one below. Fix: give it a support or z on a lower "
                                  "layer's top.")
        if not occupied:
            continue
        ex = occ.extrude([(2, current[i]) for i in occupied], 0, 0, z[k + 1] - z[k],
                         numElements=[int(nz[k])], recombine=True)
        lines.append(f"Extrude {{0, 0, {_fmt(z[k + 1] - z[k])}}} {{ Surface{{"
                     f"{', '.join(str(current[i]) for i in occupied)}}}; "
                     f"Layers{{{int(nz[k])}}}; Recombine; }}")
        tops = [ex[j - 1][1] for j, (d, _) in enumerate(ex) if d == 3]
        vols = [t for d, t in ex if d == 3]
        for i, top, v in zip(occupied, tops, vols, strict=True):
            current[i] = top
            volumes[v] = int(owner[i, k])
    occ.synchronize()
    names = [r.name for r in layout.regions]
    regions, groups = {}, {}
    physical = []
    for ri, name in enumerate(names):
        vs = sorted(v for v, r in volumes.items() if r == ri)
        if vs:
            gmsh.model.addPhysicalGroup(3, vs, name=name)
            physical.append(f'Physical Volume("{name}") = {{{", ".join(map(str, vs))}}};')
        regions[name] = float(sum(occ.getMass(3, v) for v in vs))
    tol = 1e-9 * max(bx1 - bx0, by1 - by0, z[-1] - z[0])
    members: dict[str, list[int]] = {}
    for _, s in gmsh.model.getEntities(2):
        up, _ = gmsh.model.getAdjacencies(2, s)
        rs = sorted({volumes[v] for v in up if v in volumes})
        if len(rs) == 2:
            name = f"{names[rs[0]]}_{names[rs[1]]}"
        elif len(rs) == 1 and len([v for v in up if v in volumes]) == 1:
            # a plane face inside the chip's box lies in one of its sides (or its bottom)
            # exactly when its centre of mass does (OCC bounding boxes are padded)
            cx, cy, cz = occ.getCenterOfMass(2, s)
            on_side = min(abs(cx - bx0), abs(cx - bx1), abs(cy - by0), abs(cy - by1)) < tol
            r = names[rs[0]]
            if on_side:
                name = f"{r}_edge"
            elif rs[0] == 0 and abs(cz - zb) < tol:
                name = f"{r}_bottom"
            else:
                name = f"{r}_surface"
        else:
            continue
        members.setdefault(name, []).append(s)
    for name, ss in sorted(members.items()):
        gmsh.model.addPhysicalGroup(2, ss, name=name)
        physical.append(f'Physical Surface("{name}") = {{{", ".join(map(str, ss))}}};')
        groups[name] = float(sum(occ.getMass(2, s) for s in ss))
    return {"regions": regions, "groups": groups}, lines + physical

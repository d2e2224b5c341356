"""Layout to mesh: a gmsh mesh with named physical groups from a layer stack.

A device is described as a substrate block and thin-film layers, each a set of rectangles
or polygons (with holes) with a thickness and a material — the way it is drawn in a
layout editor (TOML, :func:`read_layout`, shapes drawn there or taken from a GDS cell).
:func:`fvqp.mesh.layout_mesh.build_mesh` meshes it with gmsh:

* Manhattan shapes (every edge along x or y): hexahedra — the stack is cut into the
  tensor-product grid of every x, y and z edge of the drawing and every occupied block is
  a transfinite box (:mod:`fvqp.mesh.layout_boxes`): every cell is a box, K-orthogonal as
  the two-point flux schemes of ``heat`` and ``transport`` need;
* oblique edges: wedges over a triangulated footprint (:mod:`fvqp.mesh.layout_prisms`),
  for the discrete-ordinates ``bte`` model.

Both are conforming across regions, and the gmsh script is written as ``.geo`` next to
the ``.msh`` (meshes/README.md: every mesh has its script).

Physical groups (lowercase snake_case, as in ``meshes/README.md``):

* a volume group per region: the substrate and every layer, named as in the layout;
* exterior facets, each in exactly one group: ``<region>_edge`` on the chip's outer
  sides (the bounding box of the drawing: where a lead leaves the device),
  ``<substrate>_bottom`` under the substrate, ``<region>_surface`` elsewhere;
* interior facets between two regions: ``<a>_<b>`` (layout order, substrate first) —
  an interface, or a boundary when one of the two is left out of a case
  (``active = false``).

Layout TOML (lengths in layout units; ``unit`` says what one is)::

    unit = "1 um"
    h = 10.0                       # in-plane cell size (at every edge of the drawing)
    h_max = 40.0                   # optional: cells grow to this inside long intervals
    [substrate]
    name = "substrate"
    material = "Si"
    box = [-150, -150, 150, 150]   # x0, y0, x1, y1
    thickness = 10.0               # below z = 0
    cells = 4                      # cells across the thickness
    [[layer]]
    name = "absorber"
    material = "Ta"
    thickness = 0.3                # from z (default 0, the substrate top) up
    cells = 2
    rectangles = [[-50, -50, 50, 50]]
    polygons = []                  # [[[x, y], ...], ...]
    holes = []                     # rectangles or polygons cut out of the shapes

    # or, from a GDS cell (optional package gdstk), at the top level:
    # gds = "chip.gds"  (relative to the layout file), cell = "TOP"
    # and in a [[layer]]: gds_layer = [1, 0]  (GDS layer, datatype)

A top-level ``cells = "auto"`` (default: hexahedra if every shape is Manhattan, else
prisms), ``"hexahedra"`` (oblique edges refused with the fix) or ``"prisms"`` chooses.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field

import numpy as np

from .reader import MeshError

__all__ = ["Layer", "Layout", "LayoutError", "gds_polygons", "layout_from_dict",
           "oblique_edge", "read_layout", "z_levels"]

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class LayoutError(MeshError):
    """The layout cannot be meshed; the message names the key, the file and the fix."""


@dataclass
class Layer:
    """One region of the stack: rectangles/polygons extruded from ``z`` to ``z + thickness``.

    Attributes
    ----------
    name, material : str
    thickness, z : float
        Layout units (``z`` is the bottom; the substrate top is z = 0).
    polygons : list of ndarray (n, 2)
        Closed outlines (rectangles become 4-point polygons), axis-parallel edges.
    cells : int or None
        Cells across the thickness (default: ``ceil(thickness / h)``).
    holes : list of ndarray (n, 2)
        Outlines cut out of the shapes (a ground plane's openings around islands).
    """

    name: str
    material: str
    thickness: float
    z: float = 0.0
    polygons: list = field(default_factory=list)
    cells: int | None = None
    holes: list = field(default_factory=list)


@dataclass
class Layout:
    """A substrate block and the layers on it.

    Attributes
    ----------
    substrate : Layer
        Its one polygon is the chip outline (a rectangle); it spans ``-thickness .. 0``.
    layers : list of Layer
    h : float
        In-plane cell size (layout units).
    unit : str
        Length of one layout unit (``"1 um"``): the case's ``[mesh] scale``.
    source : str
        Where the layout came from (file name, for messages).
    h_max : float or None
        Largest in-plane cell of a hexahedral mesh (default ``h``: uniform). Above ``h``,
        cells grow geometrically (ratio <= 1.5) from ``h`` at every edge of the drawing to
        at most ``h_max`` inside long intervals, and the substrate's cells (unless it
        gives ``cells``) from ``h`` under the films to ``h_max`` at its bottom.
    cells : str
        ``"hexahedra"`` (Manhattan shapes only), ``"prisms"`` (any shapes: wedges over a
        triangulated footprint, :mod:`fvqp.mesh.layout_prisms`) or ``"auto"`` (hexahedra
        when every shape is Manhattan).
    """

    substrate: Layer
    layers: list[Layer]
    h: float
    unit: str = "1 um"
    source: str = "<layout>"
    cells: str = "auto"
    h_max: float | None = None

    @property
    def regions(self) -> list[Layer]:
        """Substrate first, then the layers in drawing order."""
        return [self.substrate, *self.layers]

    def case_regions(self, model: str = "heat") -> dict:
        """``[regions.*]`` tables of a ``model`` case on the mesh
        (:func:`fvqp.mesh.layout_case.region_tables`: superconducting films by
        ``material``; phonon-only regions by ``medium``; the substrate inactive in the QP
        models)."""
        from .layout_case import region_tables

        return region_tables(self, model)


def _rect(r, where: str, src: str) -> np.ndarray:
    if len(r) != 4:
        raise LayoutError(f"{src}: {where}: {r!r} is not [x0, y0, x1, y1]. Fix: give the "
                          "two opposite corners.")
    x0, y0, x1, y1 = map(float, r)
    if not (x1 > x0 and y1 > y0):
        raise LayoutError(f"{src}: {where}: {r!r} has no area (need x1 > x0, y1 > y0). Fix: "
                          "give the lower-left corner first.")
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])


def _polygon(p, where: str, src: str) -> np.ndarray:
    a = np.asarray(p, dtype=float)
    if a.ndim != 2 or a.shape[1] != 2 or len(a) < 3:
        raise LayoutError(f"{src}: {where}: not a list of at least 3 [x, y] points. Fix: "
                          "give the outline's corners in order.")
    if np.allclose(a[0], a[-1]):
        a = a[:-1]
    return a


def oblique_edge(p: np.ndarray) -> int | None:
    """Index of the first edge of outline ``p`` not parallel to x or y (None: Manhattan)."""
    d = np.roll(p, -1, axis=0) - p
    bad = (np.abs(d[:, 0]) > 0) & (np.abs(d[:, 1]) > 0)
    return int(np.argmax(bad)) if bad.any() else None


def _layer(t: dict, where: str, src: str, substrate: bool = False) -> Layer:
    known = {"name", "material", "thickness", "z", "cells", "rectangles", "polygons", "box",
             "holes"}
    for k in t:
        if k not in known:
            raise LayoutError(f"{src}: {where}.{k}: unknown key. Fix: use "
                              f"{', '.join(sorted(known))}.")
    name = t.get("name", "substrate" if substrate else None)
    if not isinstance(name, str) or not _NAME.match(name):
        raise LayoutError(f"{src}: {where}.name: {name!r} is not a snake_case name. Fix: "
                          'name the region, e.g. name = "absorber".')
    for key in ("material", "thickness"):
        if key not in t:
            raise LayoutError(f"{src}: {where}.{key}: missing. Fix: add {key} = ...")
    thick = float(t["thickness"])
    if not thick > 0:
        raise LayoutError(f"{src}: {where}.thickness: {thick} is not positive.")
    cells = t.get("cells")
    if cells is not None and (int(cells) != cells or cells < 1):
        raise LayoutError(f"{src}: {where}.cells: {cells!r}: a whole number >= 1.")
    if substrate:
        if "box" not in t:
            raise LayoutError(f"{src}: {where}.box: missing. Fix: box = [x0, y0, x1, y1] "
                              "(the chip outline).")
        polys = [_rect(t["box"], f"{where}.box", src)]
        z = -thick
    else:
        polys = [_rect(r, f"{where}.rectangles[{i}]", src)
                 for i, r in enumerate(t.get("rectangles", []))]
        polys += [_polygon(p, f"{where}.polygons[{i}]", src)
                  for i, p in enumerate(t.get("polygons", []))]
        if not polys:
            raise LayoutError(f"{src}: {where}: no rectangles or polygons. Fix: draw the "
                              "layer's shapes.")
        z = float(t.get("z", 0.0))
    holes = [_rect(r, f"{where}.holes[{i}]", src) if len(r) == 4 and np.ndim(r) == 1
             else _polygon(r, f"{where}.holes[{i}]", src)
             for i, r in enumerate(t.get("holes", []))]
    return Layer(name, str(t["material"]), thick, z, polys,
                 None if cells is None else int(cells), holes)


def layout_from_dict(d: dict, source: str = "<layout>", base_dir: str = ".") -> Layout:
    """A :class:`Layout` from the content of a layout TOML (see the module docstring).

    With ``gds = "chip.gds"`` (relative to ``base_dir``) and optionally ``cell = "TOP"``, a
    layer may take its shapes from the GDS cell: ``gds_layer = [layer, datatype]``
    (needs the optional package ``gdstk``; references are flattened).
    """
    for k in d:
        if k not in ("unit", "h", "h_max", "substrate", "layer", "gds", "cell", "cells"):
            raise LayoutError(f"{source}: {k}: unknown key. Fix: use unit, h, h_max, cells, "
                              "gds, cell, [substrate], [[layer]].")
    kind = d.get("cells", "auto")
    if kind not in ("auto", "hexahedra", "prisms"):
        raise LayoutError(f"{source}: cells: {kind!r}. Fix: \"auto\", \"hexahedra\" or "
                          "\"prisms\".")
    if "substrate" not in d:
        raise LayoutError(f"{source}: [substrate]: missing. Fix: add the substrate block.")
    if "h" not in d or not float(d["h"]) > 0:
        raise LayoutError(f"{source}: h: missing or not positive. Fix: h = <in-plane cell "
                          "size in layout units>.")
    tables = [dict(t) for t in d.get("layer", [])]
    if any("gds_layer" in t for t in tables):
        if "gds" not in d:
            raise LayoutError(f"{source}: gds_layer needs a GDS file. Fix: gds = \"chip.gds\".")
        shapes = gds_polygons(os.path.join(base_dir, d["gds"]), d.get("cell"))
        for i, t in enumerate(tables):
            if "gds_layer" in t:
                key = tuple(int(v) for v in t.pop("gds_layer"))
                if key not in shapes:
                    raise LayoutError(f"{source}: layer[{i}].gds_layer: {list(key)} has no "
                                      f"polygons in the cell; its layers: "
                                      f"{sorted(list(k) for k in shapes)}. Fix: name one.")
                t["polygons"] = [*t.get("polygons", []), *shapes[key]]
    sub = _layer(d["substrate"], "substrate", source, substrate=True)
    layers = [_layer(t, f"layer[{i}]", source) for i, t in enumerate(tables)]
    names = [r.name for r in (sub, *layers)]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise LayoutError(f"{source}: region name(s) {sorted(dup)} used twice. Fix: one name "
                          "per layer (draw several shapes in one layer instead).")
    h_max = d.get("h_max")
    if h_max is not None and not float(h_max) >= float(d["h"]):
        raise LayoutError(f"{source}: h_max: {h_max!r} is below h = {d['h']!r}. Fix: h_max "
                          ">= h (or leave it out: uniform cells of size h).")
    return Layout(sub, layers, float(d["h"]), str(d.get("unit", "1 um")), source, kind,
                  None if h_max is None else float(h_max))


def read_layout(path: str | os.PathLike) -> Layout:
    """Read a layout TOML file (module docstring)."""
    import tomllib

    path = os.fspath(path)
    try:
        with open(path, "rb") as fh:
            d = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise LayoutError(f"{path}: cannot read the layout ({exc}). Fix: check the file.") \
            from exc
    return layout_from_dict(d, os.path.basename(path), os.path.dirname(os.path.abspath(path)))


def gds_polygons(path: str | os.PathLike, cell: str | None = None) -> dict:
    """The polygons of a GDS cell by ``(layer, datatype)`` (lists of ``[x, y]`` points in
    the GDS user unit, references flattened); needs the optional package ``gdstk``.

    Parameters
    ----------
    path : path
        The GDS file.
    cell : str or None
        Cell name (None: the single top cell).
    """
    try:
        import gdstk
    except ImportError as exc:
        raise LayoutError("reading GDS needs gdstk (not installed). Fix: pip install gdstk, "
                          "or draw the layers as rectangles/polygons in the TOML.") from exc
    if not os.path.isfile(path):
        raise LayoutError(f"{path}: no such GDS file. Fix: check gds = ... (relative to the "
                          "layout file).")
    lib = gdstk.read_gds(os.fspath(path))
    cells = {c.name: c for c in lib.cells}
    if cell is None:
        top = lib.top_level()
        if len(top) != 1:
            raise LayoutError(f"{path}: {len(top)} top cells "
                              f"({', '.join(c.name for c in top)}). Fix: cell = \"<name>\".")
        c = top[0]
    elif cell in cells:
        c = cells[cell]
    else:
        raise LayoutError(f"{path}: no cell {cell!r}; cells: {', '.join(cells)}. Fix: name "
                          "one of them.")
    out: dict = {}
    for p in c.get_polygons():
        out.setdefault((int(p.layer), int(p.datatype)), []).append(
            np.round(np.asarray(p.points, dtype=float), 9).tolist())
    return out


# ---- the stack ---------------------------------------------------------------------------
def _cells(length: float, size: float) -> int:
    return max(1, math.ceil(length / size - 1e-9))


def z_levels(layout: Layout) -> tuple[np.ndarray, np.ndarray]:
    """The z breaks of the stack (substrate bottom, 0, every layer's bottom and top) and
    the cells of each interval (the finest of the layers covering it: ``thickness /
    cells``, default ``h``)."""
    sub, h = layout.substrate, layout.h
    zs = {-sub.thickness, 0.0}
    for lay in layout.layers:
        if lay.z < 0:
            raise LayoutError(f"{layout.source}: layer {lay.name!r}: z = {lay.z:g} is inside "
                              "the substrate. Fix: z >= 0 (the substrate top is z = 0).")
        zs.update((lay.z, lay.z + lay.thickness))
    z = np.array(sorted(zs))
    zc = 0.5 * (z[:-1] + z[1:])
    dz = np.full(len(z) - 1, np.inf)
    for lay in layout.regions:
        in_z = (zc > lay.z) & (zc < lay.z + lay.thickness)
        dz[in_z] = np.minimum(dz[in_z], lay.thickness / (lay.cells
                                                         or _cells(lay.thickness, h)))
    nz = np.array([_cells(b - a, s) if np.isfinite(s) else 1
                   for a, b, s in zip(z[:-1], z[1:], dz, strict=True)])
    return z, nz

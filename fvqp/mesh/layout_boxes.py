"""Manhattan layouts as hexahedra: the block grid of a layout, meshed as transfinite boxes.

:func:`block_grid` cuts the stack of :class:`fvqp.mesh.layout.Layout` into the
tensor-product grid of every x, y and z edge of the drawing and finds the region of every
block; :func:`build_boxes` builds each occupied block as a transfinite (structured)
gmsh box with the built-in kernel — shared points, lines and faces between neighbours,
so the hexahedral mesh is conforming — and the named physical groups of
:mod:`fvqp.mesh.layout`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .layout import Layout, LayoutError, _cells, z_levels

__all__ = ["BlockGrid", "block_grid", "build_boxes", "graded"]


@dataclass
class BlockGrid:
    """The tensor-product cut of a layout: breaks, cells per interval, region per block.

    Attributes
    ----------
    x, y, z : ndarray
        Breaks (layout units).
    nx, ny, nz : ndarray of int
        Cells per interval.
    rx, ry, rz : ndarray
        gmsh ``Progression`` of each interval along +x, +y, +z: successive cells grow by
        this factor (1: uniform; < 1: fine at the upper end).
    owner : ndarray of int, shape (len(x)-1, len(y)-1, len(z)-1)
        Index into :attr:`Layout.regions` of each block, -1 for empty space.
    """

    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    nx: np.ndarray
    ny: np.ndarray
    nz: np.ndarray
    owner: np.ndarray
    rx: np.ndarray
    ry: np.ndarray
    rz: np.ndarray


def graded(length: float, h: float, h_max: float, r_max: float = 1.5) -> tuple[int, float]:
    """Cells ``n`` and growth ratio ``r`` of an interval fine at one end: the first cell
    ``h``, ``h (r^n - 1)/(r - 1) = length``, the last ``h r^(n-1) <= h_max``, ``r <= r_max``
    (the fewest cells that do it; uniform cells of at most ``h`` if none does).

    Examples
    --------
    >>> n, r = graded(100.0, 1.0, 20.0)   # 100 long, from 1 at one end, cells <= 20
    >>> n, round(r, 4), round((r**n - 1) / (r - 1), 9), round(r ** (n - 1), 2)
    (16, 1.2147, 100.0, 18.5)
    """
    from scipy.optimize import brentq

    if length <= h * (1 + 1e-9):
        return 1, 1.0
    for n in range(max(1, math.ceil(length / h_max - 1e-9)), _cells(length, h) + 1):
        if n * h >= length * (1 - 1e-12):
            return _cells(length, h), 1.0
        def excess(q, n=n):
            return h * (q**n - 1) / (q - 1) - length

        if excess(r_max) < 0:  # n cells growing by at most r_max do not reach
            continue
        r = brentq(excess, 1 + 1e-12, r_max, xtol=1e-15, rtol=1e-14)
        if h * r ** (n - 1) <= h_max * (1 + 1e-9):
            return n, r
    return _cells(length, h), 1.0


def _graded_axis(breaks: np.ndarray, h: float, h_max: float | None):
    """Breaks (long intervals split at their middle), cells and progressions of one
    in-plane axis: fine (``h``) at every original break, up to ``h_max`` in between."""
    if not h_max or h_max <= h:
        n = np.array([_cells(b - a, h) for a, b in zip(breaks[:-1], breaks[1:], strict=True)])
        return breaks, n, np.ones(len(n))
    out, ns, rs = [breaks[0]], [], []
    for a, b in zip(breaks[:-1], breaks[1:], strict=True):
        half = 0.5 * (b - a)
        n, r = graded(half, h, h_max)
        if r == 1.0:
            out.append(b)
            ns.append(_cells(b - a, h))
            rs.append(1.0)
            continue
        out += [a + half, b]
        ns += [n, n]
        rs += [r, 1.0 / r]  # growing away from a, then shrinking towards b
    return np.array(out), np.array(ns), np.array(rs)


def block_grid(layout: Layout) -> BlockGrid:
    """Cut ``layout`` into blocks (:class:`BlockGrid`); overlapping layers and shapes
    outside the chip are :class:`LayoutError`."""
    from matplotlib.path import Path

    src, sub = layout.source, layout.substrate
    (bx0, by0), (bx1, by1) = sub.polygons[0].min(axis=0), sub.polygons[0].max(axis=0)
    xs, ys = {bx0, bx1}, {by0, by1}
    for lay in layout.layers:
        for p in lay.polygons + lay.holes:
            lo, hi = p.min(axis=0), p.max(axis=0)
            if lo[0] < bx0 or lo[1] < by0 or hi[0] > bx1 or hi[1] > by1:
                raise LayoutError(f"{src}: layer {lay.name!r}: a shape reaches outside the "
                                  f"substrate box [{bx0:g}, {by0:g}, {bx1:g}, {by1:g}]. Fix: "
                                  "enlarge the substrate box or clip the shape.")
            xs.update(p[:, 0].tolist())
            ys.update(p[:, 1].tolist())
    z, nz = z_levels(layout)
    h = layout.h
    x, nx, rx = _graded_axis(np.array(sorted(xs)), h, layout.h_max)
    y, ny, ry = _graded_axis(np.array(sorted(ys)), h, layout.h_max)
    rz = np.ones(len(nz))
    if layout.h_max and layout.h_max > h and sub.cells is None:  # fine under the films
        n, r = graded(sub.thickness, h, layout.h_max)
        nz[0], rz[0] = n, 1.0 / r
    owner = -np.ones((len(x) - 1, len(y) - 1, len(z) - 1), dtype=int)
    zc = 0.5 * (z[:-1] + z[1:])
    xc, yc = 0.5 * (x[:-1] + x[1:]), 0.5 * (y[:-1] + y[1:])
    centres = np.array([(a, b) for a in xc for b in yc])
    for ri, lay in enumerate(layout.regions):
        in_z = (zc > lay.z) & (zc < lay.z + lay.thickness)
        inside = np.zeros(len(centres), bool)
        for p in lay.polygons:
            inside |= Path(p).contains_points(centres)
        for p in lay.holes:
            inside &= ~Path(p).contains_points(centres)
        inside = inside.reshape(len(xc), len(yc))
        for k in np.flatnonzero(in_z):
            clash = inside & (owner[:, :, k] >= 0)
            if clash.any():
                other = layout.regions[owner[:, :, k][clash][0]].name
                raise LayoutError(f"{src}: layers {other!r} and {lay.name!r} overlap. Fix: "
                                  "stack them (z of the upper = top of the lower) or cut one.")
            owner[:, :, k][inside] = ri
    return BlockGrid(x, y, z, nx, ny, nz, owner, rx, ry, rz)


def _groups(layout: Layout, g: BlockGrid) -> dict:
    """Physical surface groups: name -> list of faces ``(axis, i, j, k)`` (the face's
    lower corner node and its normal axis)."""
    names = [r.name for r in layout.regions]
    shape = g.owner.shape
    groups: dict[str, list] = {}
    for axis in range(3):
        for idx in np.ndindex(*(n + (1 if a == axis else 0) for a, n in enumerate(shape))):
            lo = list(idx)
            lo[axis] -= 1
            a = g.owner[tuple(lo)] if idx[axis] > 0 else -1
            b = g.owner[idx] if idx[axis] < shape[axis] else -1
            if a == b:
                continue
            if a >= 0 and b >= 0:
                i, j = sorted((a, b))
                name = f"{names[i]}_{names[j]}"
            else:
                r = names[max(a, b)]
                at_edge = axis < 2 and idx[axis] in (0, shape[axis])
                if at_edge:
                    name = f"{r}_edge"
                elif axis == 2 and idx[2] == 0 and max(a, b) == 0:
                    name = f"{r}_bottom"
                else:
                    name = f"{r}_surface"
            groups.setdefault(name, []).append((axis, *idx))
    return groups


def build_boxes(gmsh, layout: Layout, g: BlockGrid) -> dict:
    """Build the boxes of ``g`` in the current gmsh model (see :func:`_build`)."""
    return _build(gmsh, layout, g, _groups(layout, g))


def _build(gmsh, layout: Layout, g: BlockGrid, faces: dict) -> dict:
    """The geometry (built-in kernel), transfinite constraints and physical groups."""
    geo = gmsh.model.geo
    pts: dict = {}
    lines: dict = {}
    surfs: dict = {}
    ncell = (g.nx, g.ny, g.nz)
    ratio = (g.rx, g.ry, g.rz)
    brk = (g.x, g.y, g.z)
    unit = np.eye(3, dtype=int)

    def point(n):
        if n not in pts:
            pts[n] = geo.addPoint(g.x[n[0]], g.y[n[1]], g.z[n[2]])
        return pts[n]

    def line(n, axis):
        key = (axis, *n)
        if key not in lines:
            m = tuple(np.add(n, unit[axis]))
            lines[key] = geo.addLine(point(n), point(m))
            r = float(ratio[axis][n[axis]])
            geo.mesh.setTransfiniteCurve(lines[key], int(ncell[axis][n[axis]]) + 1,
                                         "Progression", r)
        return lines[key]

    def surface(n, axis):
        key = (axis, *n)
        if key not in surfs:
            a, b = [ax for ax in range(3) if ax != axis]
            na, nb = tuple(np.add(n, unit[a])), tuple(np.add(n, unit[b]))
            loop = geo.addCurveLoop([line(n, a), line(na, b), -line(nb, a), -line(n, b)])
            surfs[key] = geo.addPlaneSurface([loop])
            geo.mesh.setTransfiniteSurface(surfs[key])
            geo.mesh.setRecombine(2, surfs[key])
        return surfs[key]

    vols: dict[int, list] = {}
    for idx in zip(*np.nonzero(g.owner >= 0), strict=True):
        n = tuple(int(v) for v in idx)
        fs = [surface(n, ax) for ax in range(3)]
        fs += [surface(tuple(np.add(n, unit[ax])), ax) for ax in range(3)]
        v = geo.addVolume([geo.addSurfaceLoop(fs)])
        geo.mesh.setTransfiniteVolume(v)
        vols.setdefault(int(g.owner[idx]), []).append(v)
    regions, areas = {}, {}
    for ri, lay in enumerate(layout.regions):
        if ri in vols:
            geo.addPhysicalGroup(3, vols[ri], name=lay.name)
        regions[lay.name] = float(sum(
            np.prod([brk[a][i + 1] - brk[a][i] for a, i in enumerate(k)])
            for k in zip(*np.nonzero(g.owner == ri), strict=True)))
    for name, fl in sorted(faces.items()):
        tags = [surface(tuple(f[1:]), f[0]) for f in fl]
        geo.addPhysicalGroup(2, tags, name=name)
        areas[name] = float(sum(np.prod([brk[a][f[1 + a] + 1] - brk[a][f[1 + a]]
                                         for a in range(3) if a != f[0]]) for f in fl))
    geo.synchronize()
    return {"regions": regions, "groups": areas}

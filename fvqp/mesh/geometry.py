r"""Finite-volume geometry of a mesh: cells, faces, and two-point half-transmissibilities.

The core abstraction of fvqp's spatial models is the *incidence* (face f, cell i). Every
incidence carries the geometric half-transmissibility of the two-point flux
approximation (TPFA),

.. math::  \tau_{if} = w_i\, A_f \frac{\mathbf n_f \cdot (\mathbf x_f - \mathbf x_i)}
           {|\mathbf x_f - \mathbf x_i|^2},

with :math:`w_i` the extrusion width of the cell's region (the cross-section of a 1D wire,
the thickness of a 2D film, 1 in 3D). A face with two incidences is an ordinary interior
face; a face with one is on the boundary; a face with three or more is a node where several
wires of a 1D network meet. For a flux :math:`F = g_{if}(u_f - u_i)` per incidence,
eliminating the face value with flux conservation gives the pairwise (star–mesh)
conductances :math:`g_{ij} = g_i g_j / \sum_k g_k`, which for two cells is the usual
harmonic combination. TPFA is consistent (second order) on K-orthogonal meshes — the
structured quad/hex meshes in ``meshes/``; :attr:`Geometry.max_nonorthogonality` reports
the worst angle between a face normal and the line joining the cell centres.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..setops import distinct
from .reader import MeshError, RawMesh

#: local faces of each cell type (meshio / VTK node ordering)
FACES = {
    "line": [[0], [1]],
    "triangle": [[0, 1], [1, 2], [2, 0]],
    "quad": [[0, 1], [1, 2], [2, 3], [3, 0]],
    "tetra": [[0, 2, 1], [0, 1, 3], [1, 2, 3], [0, 3, 2]],
    "hexahedron": [[0, 3, 2, 1], [4, 5, 6, 7], [0, 1, 5, 4], [1, 2, 6, 5], [2, 3, 7, 6],
                   [3, 0, 4, 7]],
    "wedge": [[0, 2, 1], [3, 4, 5], [0, 1, 4, 3], [1, 2, 5, 4], [2, 0, 3, 5]],
}


@dataclass
class Geometry:
    """Cells, faces and incidences of a mesh, in internal length units (µm).

    Attributes
    ----------
    dim : int
    volume, centroid : ndarray
        Cell measure (times extrusion width) and centre, shape (n_cells,), (n_cells, 3).
    cell_region : ndarray of int
    region_names : list of str
    face_area, face_centroid, face_normal : ndarray
        Unit normal oriented outward from the face's first incident cell; area without
        extrusion width (a point face has area 1).
    face_group : ndarray of int
        Index into ``group_names`` or -1.
    inc_face, inc_cell, inc_tau : ndarray
        Incidences sorted by face: face index, cell index, half-transmissibility.
    face_ptr : ndarray
        ``inc_*[face_ptr[f]:face_ptr[f+1]]`` are the incidences of face f.
    widths : ndarray or None
        Extrusion width of each region (thickness of a 2D, cross-section of a 1D mesh;
        1 in 3D), the factor in :attr:`volume`.
    """

    dim: int
    volume: np.ndarray
    centroid: np.ndarray
    cell_region: np.ndarray
    region_names: list[str]
    face_area: np.ndarray
    face_centroid: np.ndarray
    face_normal: np.ndarray
    face_group: np.ndarray
    group_names: list[str]
    face_ptr: np.ndarray
    inc_face: np.ndarray
    inc_cell: np.ndarray
    inc_tau: np.ndarray
    max_nonorthogonality: float
    cell_nodes: list[tuple[str, np.ndarray]]
    points: np.ndarray
    widths: np.ndarray | None = None

    @property
    def n_cells(self) -> int:
        return int(self.volume.size)

    @property
    def n_faces(self) -> int:
        return int(self.face_area.size)

    @property
    def face_degree(self) -> np.ndarray:
        return np.diff(self.face_ptr)

    def boundary_faces(self, name: str | None = None) -> np.ndarray:
        """Faces with a single incident cell (optionally only those of group ``name``)."""
        mask = self.face_degree == 1
        if name is not None:
            mask &= self.face_group == self.group_names.index(name)
        return np.flatnonzero(mask)

    @property
    def boundary_names(self) -> list[str]:
        """Groups owning at least one exterior face; ``unlabelled`` if some have none."""
        ext = self.face_degree == 1
        used = distinct(self.face_group[ext])
        names = [self.group_names[g] for g in used if g >= 0]
        if (used < 0).any():
            names.append("unlabelled")
        return names

    @property
    def interface_names(self) -> list[str]:
        """Groups of interior faces only (internal interfaces, junction points)."""
        return [n for n in self.group_names if n not in self.boundary_names]


def _polygon(p: np.ndarray):
    """Vector area and centroid of polygons p (n, k, 3) by a fan about the node mean."""
    c0 = p.mean(axis=1)
    q = np.roll(p, -1, axis=1)
    tri = 0.5 * np.cross(p - c0[:, None], q - c0[:, None])
    a = tri.sum(axis=1)
    w = np.linalg.norm(tri, axis=2)
    tc = (p + q + c0[:, None]) / 3.0
    wsum = w.sum(axis=1)
    cen = np.einsum("nk,nkd->nd", w, tc) / np.where(wsum > 0, wsum, 1)[:, None]
    return a, cen


def _cell_measure(ctype: str, p: np.ndarray, dim: int):
    """Measure and centroid of cells of one type, p shape (n, k, 3)."""
    if dim == 1:
        return np.linalg.norm(p[:, 1] - p[:, 0], axis=1), p.mean(axis=1)
    if dim == 2:
        a, cen = _polygon(p)
        return np.abs(a[:, 2]), cen
    c0 = p.mean(axis=1)
    vol = np.zeros(len(p))
    mom = np.zeros((len(p), 3))
    for f in FACES[ctype]:
        pf = p[:, f]
        cf = pf.mean(axis=1)
        for k in range(len(f)):
            a, b = pf[:, k], pf[:, (k + 1) % len(f)]
            v = np.abs(np.einsum("nd,nd->n", a - c0, np.cross(b - c0, cf - c0))) / 6.0
            vol += v
            mom += v[:, None] * (c0 + cf + a + b) / 4.0
    return vol, mom / vol[:, None]


def _face_shape(nodes: np.ndarray, pts: np.ndarray, dim: int, cell_c: np.ndarray):
    """Area, centroid and unit normal of faces given by node lists (m, k)."""
    p = pts[nodes]
    if dim == 1:
        n = p[:, 0] - cell_c
        nn = np.linalg.norm(n, axis=1)
        return np.ones(len(p)), p[:, 0], n / nn[:, None]
    if dim == 2:
        t = p[:, 1] - p[:, 0]
        L = np.linalg.norm(t, axis=1)
        n = np.stack([t[:, 1], -t[:, 0], np.zeros(len(t))], axis=1) / L[:, None]
        return L, p.mean(axis=1), n
    a, cen = _polygon(p)
    A = np.linalg.norm(a, axis=1)
    return A, cen, a / A[:, None]


def build_geometry(raw: RawMesh, scale: float = 1.0, widths: np.ndarray | None = None,
                   strict: bool = True) -> Geometry:
    """Compute the finite-volume geometry of a mesh.

    Parameters
    ----------
    raw
        Mesh as read by :func:`fvqp.mesh.read_mesh`.
    scale
        Length of one mesh unit in internal units (µm); 1 for meshes drawn in µm.
    widths
        Extrusion width per region (cross-section in µm² for 1D, thickness in µm for 2D);
        ones by default.
    strict
        Raise if a named facet is not a face of any cell (a non-conforming mesh). False
        for a mesh restricted to some regions (:meth:`RawMesh.subset`), where facets of
        the left-out regions are skipped.
    """
    dim = raw.dim
    pts = raw.points * scale
    if dim == 2 and np.ptp(pts[:, 2]) > 1e-12 * max(np.ptp(pts[:, :2]), 1e-300):
        raise MeshError(f"{raw.path}: 2D meshes must lie in the xy-plane.")
    nreg = len(raw.region_names)
    widths = np.ones(nreg) if widths is None else np.asarray(widths, dtype=float)
    vols, cents, face_nodes, face_cell = [], [], [], []
    offset = 0
    for ctype, conn in raw.blocks:
        if ctype not in FACES:
            raise MeshError(f"{raw.path}: cell type {ctype!r} is not supported by the FV layer.")
        v, c = _cell_measure(ctype, pts[conn], dim)
        if np.any(v <= 0):
            raise MeshError(f"{raw.path}: {int(np.sum(v <= 0))} {ctype} cells have zero volume.")
        vols.append(v)
        cents.append(c)
        for f in FACES[ctype]:
            face_nodes.append(conn[:, f])
            face_cell.append(offset + np.arange(len(conn)))
        offset += len(conn)
    volume = np.concatenate(vols) * widths[raw.cell_region]
    centroid = np.concatenate(cents)
    # group faces of equal node sets; faces with 3 and 4 nodes are kept apart by padding
    k = max(f.shape[1] for f in face_nodes)
    padded = np.concatenate([np.pad(f, ((0, 0), (k - f.shape[1], 0)), constant_values=-1)
                             for f in face_nodes])  # cyclic node order kept for the shape
    inc_cell_all = np.concatenate(face_cell)
    _, first_inc, inv = np.unique(np.sort(padded, axis=1), axis=0, return_index=True,
                                  return_inverse=True)
    uniq = padded[first_inc]
    inv = inv.ravel()
    order = np.argsort(inv, kind="stable")
    inc_face, inc_cell = inv[order], inc_cell_all[order]
    nf = len(uniq)
    face_ptr = np.zeros(nf + 1, dtype=np.int64)
    np.add.at(face_ptr, inc_face + 1, 1)
    face_ptr = np.cumsum(face_ptr)
    first = inc_cell[face_ptr[:-1]]
    if not (uniq < 0).any():
        area, fcen, fnorm = _face_shape(uniq, pts, dim, centroid[first])
    else:  # mixed face sizes (wedges): do it per size
        area, fcen, fnorm = np.zeros(nf), np.zeros((nf, 3)), np.zeros((nf, 3))
        sizes = (uniq >= 0).sum(axis=1)
        for s in np.unique(sizes):
            m = sizes == s
            a, c, n = _face_shape(uniq[m][:, k - s:], pts, dim, centroid[first[m]])
            area[m], fcen[m], fnorm[m] = a, c, n
    # orient normals outward from the first cell
    flip = np.einsum("nd,nd->n", fcen - centroid[first], fnorm) < 0
    fnorm[flip] *= -1
    # half-transmissibilities tau_if = w A (n . d) / |d|^2, d = x_f - x_i (outward sign)
    d = fcen[inc_face] - centroid[inc_cell]
    nd = np.abs(np.einsum("nd,nd->n", d, fnorm[inc_face]))
    dd = np.einsum("nd,nd->n", d, d)
    inc_tau = widths[raw.cell_region[inc_cell]] * area[inc_face] * nd / dd
    cosang = np.clip(nd / np.sqrt(dd), 0, 1)
    nonortho = float(np.degrees(np.arccos(cosang.min()))) if dim > 1 else 0.0
    # named facet groups
    group_names = sorted(raw.facet_groups)
    face_group = np.full(nf, -1, dtype=np.int64)
    key_index = {tuple(np.sort(r[r >= 0])): i for i, r in enumerate(uniq)}
    for gi, name in enumerate(group_names):
        for arr in raw.facet_groups[name]:
            for row in np.sort(arr, axis=1):
                fi = key_index.get(tuple(row))
                if fi is None and not strict:
                    continue
                if fi is None:
                    raise MeshError(f"{raw.path}: a facet of group {name!r} is not a face of "
                                    "any cell (non-conforming mesh?).")
                face_group[fi] = gi
    return Geometry(dim=dim, volume=volume, centroid=centroid, cell_region=raw.cell_region,
                    region_names=list(raw.region_names), face_area=area, face_centroid=fcen,
                    face_normal=fnorm, face_group=face_group, group_names=group_names,
                    face_ptr=face_ptr, inc_face=inc_face, inc_cell=inc_cell, inc_tau=inc_tau,
                    max_nonorthogonality=nonortho, cell_nodes=raw.blocks, points=pts,
                    widths=widths)

#!/usr/bin/env python3
"""Verify every gmsh mesh (*.msh) below meshes/ for use with fvqp's two-point
flux finite-volume scheme.

Usage:  python meshes/check_meshes.py [-v] [file.msh ...]
        (no file arguments: every *.msh below the folder of this script)

Checks per file (meshio.read based; geometry units are micrometres):
  * top-dimensional cells are line / quad / hexahedron only (no tri/tet);
  * every top-dimensional cell belongs to exactly one region group
    (physical group of the top dimension), no duplicated cells;
  * every exterior facet (facet of exactly one top-dimensional cell) belongs
    to exactly one boundary group (physical group of dimension top-1);
    facet groups are either all-exterior ("boundary") or all-interior
    ("interface"/marker); a facet-group element must be a facet of the mesh;
  * no duplicate nodes (coincident coordinates), no orphan nodes, the mesh is
    one connected piece (=> conforming at region interfaces);
  * positive cell measure (length / area / volume, hexahedron volume and
    corner Jacobians > 0) and orthogonality (max |cos| between the edges at
    every quad/hex corner < 1e-6, i.e. K-orthogonal for isotropic K);
  * physical names are lowercase snake_case;
  * optional expected region measures / cell counts (EXPECTED below).
Prints a table; exits with status 1 if any check fails.
"""
import contextlib
import glob
import io
import os
import re
import sys

import meshio
import numpy as np

try:
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree
except ImportError:  # pragma: no cover
    cKDTree = None

DIM = {"vertex": 0, "line": 1, "triangle": 2, "quad": 2, "tetra": 3,
       "hexahedron": 3, "wedge": 3, "pyramid": 3}
ALLOWED_TOP = {1: "line", 2: "quad", 3: "hexahedron"}
# folders of meshes for models without two-point fluxes (the discrete-ordinates BTE, whose
# upwind fluxes need no K-orthogonality): triangles allowed, no corner-angle check
UNSTRUCTURED = {"constriction": {2: "triangle"}}
FACET_TYPE = {1: "vertex", 2: "line", 3: "quad"}
# local facets (meshio / VTK node ordering)
FACETS = {
    "line": [(0,), (1,)],
    "triangle": [(0, 1), (1, 2), (2, 0)],
    "quad": [(0, 1), (1, 2), (2, 3), (3, 0)],
    "hexahedron": [(0, 3, 2, 1), (4, 5, 6, 7), (0, 1, 5, 4),
                   (1, 2, 6, 5), (2, 3, 7, 6), (3, 0, 4, 7)],
}
NAME_RE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
ORTHO_TOL = 1e-6
DUP_TOL = 1e-7  # um

# Expected region measures (um, um^2, um^3) and optional cell-count ranges.
EXPECTED = {
    "nis_wire.msh": {"measure": {"wire": 11.0}},
    "wire_network.msh": {"measure": {"wire_1": 2.0, "wire_2": 3.0, "wire_3": 4.0}},
    "film_trap_coarse.msh": {"measure": {"film": 7500.0, "trap": 2500.0}},
    "film_trap_fine.msh": {"measure": {"film": 7500.0, "trap": 2500.0}},
    "absorber3d_coarse.msh": {"measure": {"absorber": 3000.0, "lead": 100.0,
                                          "substrate": 900000.0},
                              "cells": (3000, 8000)},
    "absorber3d_medium.msh": {"measure": {"absorber": 3000.0, "lead": 100.0,
                                          "substrate": 900000.0},
                              "cells": (8000, 30000)},
    "absorber3d_fine.msh": {"measure": {"absorber": 3000.0, "lead": 100.0,
                                        "substrate": 900000.0},
                            "cells": (30000, 10**9)},
    "cube_4.msh": {"measure": {"domain": 1.0}, "cells": (64, 64)},
    "cube_8.msh": {"measure": {"domain": 1.0}, "cells": (512, 512)},
    "cube_16.msh": {"measure": {"domain": 1.0}, "cells": (4096, 4096)},
    "cube_32.msh": {"measure": {"domain": 1.0}, "cells": (32768, 32768)},
}
for _n in (2, 8, 16, 32, 64):
    EXPECTED[f"square_{_n}.msh"] = {"measure": {"domain": 1.0}, "cells": (_n * _n,) * 2}
EXPECTED["square_16_v2.msh"] = EXPECTED["square_16.msh"]
EXPECTED["square_graded_16.msh"] = {"measure": {"domain": 1.0}, "cells": (256, 256)}
for _n in (16, 32, 64, 128):
    EXPECTED[f"line_{_n}.msh"] = {"measure": {"domain": 1.0}, "cells": (_n, _n)}

# 2x2x2 Gauss points (exact for the trilinear-map Jacobian determinant)
_g = 1.0 / np.sqrt(3.0)
GAUSS = np.array([[a, b, c] for a in (-_g, _g) for b in (-_g, _g) for c in (-_g, _g)])
HEX_REF = np.array([[-1, -1, -1], [1, -1, -1], [1, 1, -1], [-1, 1, -1],
                    [-1, -1, 1], [1, -1, 1], [1, 1, 1], [-1, 1, 1]], float)


def msh_version(path):
    with open(path, "rb") as f:
        f.readline()
        return f.readline().split()[0].decode()


def hex_jacobians(P, xi):
    """det J at reference points xi (m,3) for hexes P (n,8,3) -> (n,m)."""
    out = []
    for p in xi:
        # dN/dxi for trilinear shape functions
        s = HEX_REF
        dN = np.empty((8, 3))
        dN[:, 0] = s[:, 0] * (1 + s[:, 1] * p[1]) * (1 + s[:, 2] * p[2]) / 8
        dN[:, 1] = s[:, 1] * (1 + s[:, 0] * p[0]) * (1 + s[:, 2] * p[2]) / 8
        dN[:, 2] = s[:, 2] * (1 + s[:, 0] * p[0]) * (1 + s[:, 1] * p[1]) / 8
        J = np.einsum("nki,kj->nij", P, dN)  # (n,3,3): columns d x/d xi_j
        out.append(np.linalg.det(J))
    return np.stack(out, axis=1)


def corner_cos(P, ctype):
    """max |cos| between edges meeting at the corners."""
    if ctype == "quad":
        worst = 0.0
        for c in range(4):
            a = P[:, (c + 1) % 4] - P[:, c]
            b = P[:, (c - 1) % 4] - P[:, c]
            norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
            cos = np.einsum("ij,ij->i", a, b) / norms
            worst = max(worst, np.abs(cos).max())
        return worst
    if ctype == "hexahedron":
        nb = {}
        for i, si in enumerate(HEX_REF):
            nb[i] = [j for j, sj in enumerate(HEX_REF) if np.abs(si - sj).sum() == 2]
        worst = 0.0
        for c in range(8):
            e = [P[:, j] - P[:, c] for j in nb[c]]
            e = [v / np.linalg.norm(v, axis=1)[:, None] for v in e]
            for a, b in ((0, 1), (0, 2), (1, 2)):
                worst = max(worst, np.abs(np.einsum("ij,ij->i", e[a], e[b])).max())
        return worst
    return 0.0


def measures(P, ctype):
    if ctype == "line":
        return np.linalg.norm(P[:, 1] - P[:, 0], axis=1)
    if ctype == "quad":
        # signed area from the normal component along the mean normal (+z for planar xy meshes)
        a = np.cross(P[:, 1] - P[:, 0], P[:, 3] - P[:, 0])
        b = np.cross(P[:, 3] - P[:, 2], P[:, 1] - P[:, 2])
        n = a + b
        ref = np.array([0.0, 0.0, 1.0])
        if np.allclose(P[:, :, 2], P[0, 0, 2]):
            return 0.5 * (n @ ref)
        return 0.5 * np.linalg.norm(n, axis=1)
    if ctype == "hexahedron":
        return hex_jacobians(P, GAUSS).sum(axis=1)  # weights 1, detJ already scaled (ref vol 8)
    if ctype == "triangle":  # signed area (+z normal for planar xy meshes)
        n = np.cross(P[:, 1] - P[:, 0], P[:, 2] - P[:, 0])
        if np.allclose(P[:, :, 2], P[0, 0, 2]):
            return 0.5 * n[:, 2]
        return 0.5 * np.linalg.norm(n, axis=1)
    raise ValueError(ctype)


def check_file(path, verbose=False):
    fails, notes = [], []
    with contextlib.redirect_stdout(io.StringIO()):  # meshio prints stray blank lines
        m = meshio.read(path)
    ver = msh_version(path)
    names = {int(v[0]) * 10 + int(v[1]): k for k, v in m.field_data.items()}  # (tag,dim)->name
    for k in m.field_data:
        if not NAME_RE.match(k):
            fails.append(f"physical name '{k}' not lowercase snake_case")
    tdim = max(DIM[c.type] for c in m.cells)

    # ---- group membership per cell block ------------------------------------
    named_sets = {k: v for k, v in m.cell_sets.items()
                  if not k.startswith("gmsh:") and k in m.field_data}
    phys = m.cell_data.get("gmsh:physical")
    blocks = []  # (type, dim, conn, [set of names per cell])
    for ib, cb in enumerate(m.cells):
        n = len(cb.data)
        memb = [set() for _ in range(n)]
        if named_sets:
            for name, sets in named_sets.items():
                idx = sets[ib]
                if idx is not None:
                    for i in np.asarray(idx, dtype=int):
                        memb[i].add(name)
        elif phys is not None:
            d = DIM[cb.type]
            for i, t in enumerate(phys[ib]):
                nm = names.get(int(t) * 10 + d)
                if nm is not None:
                    memb[i].add(nm)
        blocks.append((cb.type, DIM[cb.type], np.asarray(cb.data), memb))

    # merge identical cells (MSH 2.2 repeats elements that are in several groups)
    def gather(dim):
        conn, types, memb = [], [], []
        for t, d, c, mb in blocks:
            if d == dim:
                conn.append(c)
                types += [t] * len(c)
                memb += mb
        return conn, types, memb

    conn_t, types_t, memb_t = gather(tdim)
    folder = os.path.basename(os.path.dirname(os.path.abspath(path)))
    allowed = UNSTRUCTURED.get(folder, {}).get(tdim, ALLOWED_TOP[tdim])
    bad_types = sorted(set(types_t) - {allowed})
    if bad_types:
        raise ValueError(f"top-dim cell types not allowed: {bad_types} (only {allowed})")
    ctype = allowed
    if len(set(types_t)) != 1:
        raise ValueError(f"mixed top-dim cell types {sorted(set(types_t))}")
    T = np.concatenate(conn_t)
    keyT = np.sort(T, axis=1)
    uk, inv, cnt = np.unique(keyT, axis=0, return_inverse=True, return_counts=True)
    inv = inv.ravel()
    # merge memberships of duplicated cells
    cell_groups = [set() for _ in range(len(uk))]
    for i, mb in enumerate(memb_t):
        cell_groups[inv[i]] |= mb
    if (cnt > 1).any():
        notes.append(f"{int((cnt > 1).sum())} top-dim cells stored more than once")
    first = np.zeros(len(uk), dtype=int)
    first[inv[::-1]] = np.arange(len(inv))[::-1]
    T = T[first]
    types_t = [types_t[i] for i in first]
    ncells = len(T)
    nreg = np.array([len(g) for g in cell_groups])
    if (nreg != 1).any():
        fails.append(f"{int((nreg == 0).sum())} cells in no region, "
                     f"{int((nreg > 1).sum())} in >1 region")
    region_names = sorted(set().union(*cell_groups)) if ncells else []
    region_of = np.array([min(g) if g else "" for g in cell_groups])

    # ---- nodes ---------------------------------------------------------------
    X = m.points
    used = np.zeros(len(X), bool)
    used[T.ravel()] = True
    if not used.all():
        fails.append(f"{int((~used).sum())} nodes not used by any top-dim cell")
    if cKDTree is not None:
        pairs = cKDTree(X).query_pairs(DUP_TOL)
        if pairs:
            fails.append(f"{len(pairs)} pairs of duplicate (coincident) nodes")
        A = coo_matrix((np.ones(T.size), (np.repeat(np.arange(ncells), T.shape[1]), T.ravel())),
                       shape=(ncells, len(X))).tocsr()
        ncomp, _ = connected_components(A @ A.T, directed=False)
        if ncomp != 1:
            fails.append(f"mesh has {ncomp} disconnected pieces")
    else:
        notes.append("scipy missing: duplicate-node/connectivity checks skipped")

    # ---- geometry: measure, orientation, orthogonality ------------------------
    P = X[T]
    meas = measures(P, ctype)
    if (meas <= 0).any():
        fails.append(f"{int((meas <= 0).sum())} cells with non-positive measure")
    if ctype == "hexahedron":
        cj = hex_jacobians(P, HEX_REF)
        if (cj <= 0).any():
            bad = int((cj <= 0).any(axis=1).sum())
            fails.append(f"{bad} hexes with non-positive corner Jacobian")
    ortho = corner_cos(P, ctype)
    if ortho > ORTHO_TOL:
        fails.append(f"non-orthogonal cells: max |cos(corner angle)| = {ortho:.2e}")
    reg_meas = {r: float(meas[region_of == r].sum()) for r in region_names}
    reg_cnt = {r: int((region_of == r).sum()) for r in region_names}

    # ---- facets ----------------------------------------------------------------
    loc = FACETS[ctype]
    F = np.concatenate([np.sort(T[:, list(f)], axis=1) for f in loc])
    ufac, fcnt = np.unique(F, axis=0, return_counts=True)
    if (fcnt > 2).any() and tdim > 1:
        fails.append(f"{int((fcnt > 2).sum())} facets shared by >2 cells (non-manifold)")
    ext = ufac[fcnt == 1]
    fconn, ftypes, fmemb = gather(tdim - 1)
    fac_groups = {}
    grp_facets = {}
    i0 = 0
    for c in fconn:
        ks = np.sort(c, axis=1)
        for j, k in enumerate(map(tuple, ks)):
            g = fmemb[i0 + j]
            if g:
                fac_groups.setdefault(k, set()).update(g)
                for name in g:
                    grp_facets.setdefault(name, set()).add(k)
        i0 += len(c)
    ext_set = set(map(tuple, ext))
    all_fac = set(map(tuple, ufac))
    nb = np.array([len(fac_groups.get(k, ())) for k in map(tuple, ext)])
    if (nb != 1).any():
        fails.append(f"exterior facets: {int((nb == 0).sum())} in no boundary group, "
                     f"{int((nb > 1).sum())} in >1 group")
    boundaries, interfaces = {}, {}
    for name, ks in grp_facets.items():
        if not ks <= all_fac:
            fails.append(f"group '{name}': {len(ks - all_fac)} elements are not facets of the mesh")
        n_ext = len(ks & ext_set)
        if n_ext == len(ks):
            boundaries[name] = len(ks)
        elif n_ext == 0:
            interfaces[name] = len(ks)
        else:
            fails.append(f"group '{name}' mixes exterior ({n_ext}) and interior facets")
    # groups of lower dimension / empty
    other = {k: int(v[1]) for k, v in m.field_data.items()
             if int(v[1]) < tdim - 1 or (int(v[1]) == tdim - 1 and k not in grp_facets)
             or (int(v[1]) == tdim and k not in region_names)}
    for k in other:
        fails.append(f"physical group '{k}' (dim {other[k]}) is empty or below facet dimension")

    # ---- expectations ------------------------------------------------------------
    exp = EXPECTED.get(os.path.basename(path), {})
    for r, v in exp.get("measure", {}).items():
        got = reg_meas.get(r)
        if got is None or abs(got - v) > 1e-6 * max(1.0, v):
            fails.append(f"region '{r}' measure {got} != expected {v}")
    if "cells" in exp:
        lo, hi = exp["cells"]
        if not lo <= ncells <= hi:
            fails.append(f"cell count {ncells} outside expected [{lo}, {hi}]")

    info = dict(nodes=len(X), cells=ncells, ctype=ctype, regions=reg_cnt, region_measure=reg_meas,
                boundaries=boundaries, interfaces=interfaces, ortho=ortho,
                hmin=float(meas.min()), hmax=float(meas.max()), n_ext=len(ext))
    return m, ver, tdim, info, fails, notes


def check_vtu(path):
    """A .vtu converted from a sibling .msh must carry the same cells and
    gmsh:physical tags (names are not expected to survive)."""
    fails = []
    src = path[:-4] + ".msh"
    with contextlib.redirect_stdout(io.StringIO()):
        r = meshio.read(path)
        m = meshio.read(src) if os.path.exists(src) else None
    if "gmsh:physical" not in r.cell_data:
        fails.append("no gmsh:physical cell data")
    elif m is not None:
        pr = {}
        for c, t in zip(r.cells, r.cell_data["gmsh:physical"], strict=False):
            pr.setdefault(c.type, []).append(t)
        pm = {}
        for c, t in zip(m.cells, m.cell_data["gmsh:physical"], strict=False):
            pm.setdefault(c.type, []).append(t)
        for k in set(pr) | set(pm):
            x = np.concatenate(pm.get(k, [np.array([], int)]))
            y = np.concatenate(pr.get(k, [np.array([], int)]))
            if not np.array_equal(x, y):
                fails.append(f"{k}: gmsh:physical differs from {os.path.basename(src)}")
        if not np.allclose(r.points, m.points):
            fails.append("points differ from .msh")
    ncell = sum(len(c) for c in r.cells)
    return r, ncell, fails


def main(argv):
    verbose = "-v" in argv
    files = [a for a in argv if not a.startswith("-")]
    here = os.path.dirname(os.path.abspath(__file__))
    if not files:
        files = sorted(glob.glob(os.path.join(here, "**", "*.msh"), recursive=True))
        files += sorted(glob.glob(os.path.join(here, "**", "*.vtu"), recursive=True))
    if not files:
        print("no .msh files found")
        return 1
    nfail = 0
    hdr = (f"{'file':42s} {'fmt':>4s} {'dim':>3s} {'type':>10s} {'nodes':>7s} {'cells':>7s} "
           f"{'ext.fac':>7s} {'max|cos|':>8s}  status")
    print(hdr)
    print("-" * len(hdr))
    details = []
    for f in files:
        rel = os.path.relpath(f, here)
        if f.endswith(".vtu"):
            try:
                r, ncell, fails = check_vtu(f)
            except Exception as exc:  # noqa: BLE001
                fails, r, ncell = [repr(exc)], None, 0
            nfail += bool(fails)
            print(f"{rel:42s} {'vtu':>4s} {'':>3s} {'(all)':>10s} {len(r.points) if r else 0:>7d} "
                  f"{ncell:>7d} {'':>7s} {'':>8s}  {'OK' if not fails else 'FAIL'}")
            details.append((rel, None, fails, [f"cell_data: {sorted(r.cell_data) if r else []}; "
                                               f"field_data: {r.field_data if r else None}"]))
            continue
        try:
            m, ver, tdim, info, fails, notes = check_file(f, verbose)
        except Exception as exc:  # noqa: BLE001
            print(f"{rel:42s} ERROR: {exc!r}")
            nfail += 1
            continue
        status = "OK" if not fails else "FAIL"
        nfail += bool(fails)
        print(f"{rel:42s} {ver:>4s} {tdim:>3d} {info['ctype']:>10s} {info['nodes']:>7d} "
              f"{info['cells']:>7d} {info['n_ext']:>7d} {info['ortho']:8.1e}  {status}")
        details.append((rel, info, fails, notes))
    print()
    for rel, info, fails, notes in details:
        if info is None:
            print(f"{rel}:")
            for n in notes:
                print(f"   note: {n}")
            for x in fails:
                print(f"   FAIL: {x}")
            continue
        reg = ", ".join(f"{k}={v} ({info['region_measure'][k]:.6g})"
                        for k, v in info["regions"].items())
        print(f"{rel}:")
        print(f"   regions    (cells, measure): {reg}")
        facets = ", ".join(f"{k}={v}" for k, v in info["boundaries"].items())
        print("   boundaries (facets): " + facets)
        if info["interfaces"]:
            groups = ", ".join(f"{k}={v}" for k, v in info["interfaces"].items())
            print("   interior facet groups: " + groups)
        if verbose:
            print(f"   cell measure range: [{info['hmin']:.4g}, {info['hmax']:.4g}]")
        for n in notes:
            print(f"   note: {n}")
        for x in fails:
            print(f"   FAIL: {x}")
    print()
    print(f"{len(files)} files checked, {nfail} failed")
    return 1 if nfail else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

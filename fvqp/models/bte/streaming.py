r"""Upwind streaming operator of the discrete-ordinates equations on unstructured cells.

For ordinate :math:`\Omega_k` the streaming term of cell :math:`i` is written in
conservative form as a sum of face fluxes (step/upwind finite volumes, Lewis & Miller
1984 Ch. 4):

.. math::
    \int_{V_i}\nabla\cdot(v\,\Omega_k f_k)\,dV \approx v\sum_{f\in\partial i}
    (\Omega_k\cdot n_{f})\,A_f w_f\, f_{k,\mathrm{up}(f)},

with :math:`n_f` the unit normal pointing out of cell :math:`i`, :math:`A_f` the face
area, :math:`w_f` the extrusion width (film thickness in 2D; the smaller of the two
regions' widths on an interface, 1 in 3D), and :math:`f_{k,\mathrm{up}}` the value of the
upwind cell (:math:`\Omega_k\cdot n_f > 0`: cell :math:`i`). Every interior face carries
one flux used with opposite signs by its two cells, so particles are conserved to
round-off. The scheme is first order in space.

``scheme="linear"`` replaces :math:`f_{k,\mathrm{up}}` by the upwind cell's value
reconstructed at the face centroid with its least-squares gradient
(:mod:`.reconstruction`): second order on smooth solutions, still one flux per face
(conservative), unlimited (linear but not positive, not asymptotic-preserving), one rank
only. Outgoing boundary faces use the reconstructed value too, and the wall conditions
below act on that reconstructed outgoing flux.

Boundary faces take the incoming values (:math:`\Omega_k\cdot n < 0`) from the condition
of their group:

* ``inflow`` (absorbing, bath): a given :math:`f_{in}` (0 for an absorbing wall), a
  right-hand side :math:`|\Omega_k\cdot n|A w f_{in}`;
* ``specular``: the particle flux of every outgoing ordinate is delivered to the incoming
  ordinate nearest to its mirror image (:meth:`Quadrature.mirror_targets`):
  :math:`w_k|\mu_k| f_k^{in} = \sum_{r\to k} w_r\mu_r f_r` — exact specular
  reflection on walls aligned with the quadrature, exactly conservative on any wall;
* ``diffuse``: isotropic re-emission of the outgoing flux,
  :math:`f^{in}_k = \sum_{r\,out} w_r\mu_r f_r / \sum_{k'\,in} w_{k'}|\mu_{k'}|`.

Unknowns are laid out ``c * (K + 1) + k`` (cell ``c``, ordinate ``k``; slot ``K`` is the
angle average of :mod:`.problem`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from .quadrature import GRAZING, Quadrature
from .reconstruction import expand, face_corrections, lsq_gradient

__all__ = ["FACE_KINDS", "SCHEMES", "Streaming", "build_streaming"]

#: boundary condition kinds understood by :func:`build_streaming`
FACE_KINDS = ("inflow", "specular", "diffuse")
#: spatial schemes: step upwind (first order) or upwind with linear reconstruction
SCHEMES = ("upwind", "linear")


@dataclass
class Streaming:
    """Streaming operator (per unit speed) of the owned rows of one rank.

    Attributes
    ----------
    matrix : scipy.sparse.csr_matrix, shape (n_owned (K+1), n_local (K+1))
        :math:`\\sum_f (\\Omega_k\\cdot n_f) A_f w_f f_{up}` including reflections.
    inflow : dict
        Group name -> ndarray (n_owned (K+1),): right-hand side per unit :math:`f_{in}`.
    outflow : dict
        Group name -> ndarray (n_owned (K+1),): :math:`w_k\\mu_k A w` of outgoing
        ordinates (dot with f: particle flux per unit speed leaving through the group).
    influx : dict
        Group name -> ndarray (n_owned (K+1),): :math:`w_k|\\mu_k| A w` of incoming
        ordinates of inflow groups (times :math:`f_{in}`: flux entering).
    """

    matrix: sp.csr_matrix
    inflow: dict = field(default_factory=dict)
    outflow: dict = field(default_factory=dict)
    influx: dict = field(default_factory=dict)


def build_streaming(loc, normals: np.ndarray, widths: np.ndarray, quad: Quadrature,
                    kinds: dict[str, str], scheme: str = "upwind") -> Streaming:
    """Assemble the streaming operator of the owned cells of ``loc``.

    Parameters
    ----------
    loc : fvqp.parallel.LocalGeometry
    normals : ndarray, shape (n_local_faces, 3)
        Unit normals of the local faces, outward from each face's first incident cell.
    widths : ndarray
        Extrusion width per region.
    quad : Quadrature
    kinds : dict
        Boundary group name -> one of :data:`FACE_KINDS` (every boundary group present).
    scheme : str
        ``upwind`` (step, first order) or ``linear`` (the upwind cell's value
        reconstructed at the face centroid with the least-squares gradient of
        :mod:`.reconstruction`; serial only: a ghost cell's neighbours are not local).
    """
    if scheme not in SCHEMES:
        raise ValueError(f"unknown spatial scheme {scheme!r} (expected one of {SCHEMES})")
    linear = scheme == "linear"
    if linear and loc.n_local > loc.n_owned:
        raise ValueError("the 'linear' discrete-ordinates scheme runs on one rank only "
                         "(its gradients need the neighbours of ghost cells)")
    K, B = quad.n, quad.n + 1
    n_own = loc.n_owned
    deg = loc.face_degree
    if np.any(deg > 2):
        raise ValueError("faces shared by more than two cells (1D junctions) are not "
                         "supported by the discrete-ordinates model")
    ptr = loc.face_ptr
    wc = widths[loc.cell_region]
    rows, cols, vals = [], [], []

    def add(r, c, v):
        rows.append(np.ravel(r))
        cols.append(np.ravel(c))
        vals.append(np.ravel(v))

    def add_face(r, corr, e, cell, k, v):
        """Row r gets v times the face value of ordinate k of the upwind cell: the cell
        value (upwind) plus, for ``linear``, its reconstruction correction (entry e)."""
        add(r, np.ravel(cell) * B + np.ravel(k), v)
        if linear:
            add(*expand(corr, e, r, k, v, B))

    grads = lsq_gradient(loc) if linear else None

    kk = np.arange(K)
    # ---- interior faces ---------------------------------------------------------------
    fi = np.flatnonzero(deg == 2)
    a, b = loc.inc_cell[ptr[fi]], loc.inc_cell[ptr[fi] + 1]
    aw = loc.face_area[fi] * np.minimum(wc[a], wc[b])
    g = (normals[fi] @ quad.omega.T) * aw[:, None]  # (F, K)
    pos = g > 0
    up = np.where(pos, a[:, None], b[:, None])      # upwind cell
    dn = np.where(pos, b[:, None], a[:, None])      # downwind cell
    ga = np.abs(g)
    ia, ib = up * B + kk, dn * B + kk
    nf = len(fi)
    corr = (face_corrections(loc, grads, np.concatenate([fi, fi]), np.concatenate([a, b]))
            if linear else None)
    ent = np.where(pos, np.arange(nf)[:, None], nf + np.arange(nf)[:, None])
    kf = np.broadcast_to(kk, pos.shape)
    m = up < n_own
    add_face(ia[m], corr, ent[m], up[m], kf[m], ga[m])    # outflow of the upwind cell
    m = dn < n_own
    add_face(ib[m], corr, ent[m], up[m], kf[m], -ga[m])   # inflow of the downwind cell
    # ---- boundary faces ---------------------------------------------------------------
    out = Streaming(matrix=None)
    bf = np.flatnonzero(deg == 1)
    c = loc.inc_cell[ptr[bf]]
    aw = loc.face_area[bf] * wc[c]
    mu = normals[bf] @ quad.omega.T
    g = mu * aw[:, None]
    is_out, is_in = mu > GRAZING, mu < -GRAZING
    idx = c[:, None] * B + kk
    corr = face_corrections(loc, grads, bf, c) if linear else None
    ent = np.broadcast_to(np.arange(len(bf))[:, None], mu.shape)
    kf = np.broadcast_to(kk, mu.shape)
    cf = np.broadcast_to(c[:, None], mu.shape)
    add_face(idx[is_out], corr, ent[is_out], cf[is_out], kf[is_out], g[is_out])
    names = [loc.group_names[i] if i >= 0 else "unlabelled" for i in loc.face_group[bf]]
    names = np.array(names, dtype=object)
    for name in np.unique(names) if len(names) else []:
        kind = kinds.get(name)
        if kind not in FACE_KINDS:
            raise ValueError(f"boundary {name!r} has no discrete-ordinates condition "
                             f"(got {kind!r}; expected one of {FACE_KINDS})")
        sel = names == name
        es = np.flatnonzero(sel)  # boundary-face entries of the group
        cs, gs = c[sel], g[sel]
        o, i_ = is_out[sel], is_in[sel]
        w = quad.weights
        flux_out = np.zeros((len(cs), B))
        flux_out[:, :K] = np.where(o, w * gs, 0.0)
        out.outflow[name] = _scatter(cs, flux_out, n_own, B)
        if linear:  # the flux leaving is that of the reconstructed face values
            fo, ro = np.nonzero(o)
            _, cl, vl = expand(corr, es[fo], fo, ro, (w * gs)[fo, ro], B)
            np.add.at(out.outflow[name], cl, vl)
        if kind == "inflow":
            rhs = np.zeros((len(cs), B))
            rhs[:, :K] = np.where(i_, -gs, 0.0)
            out.inflow[name] = _scatter(cs, rhs, n_own, B)
            flux_in = np.zeros((len(cs), B))
            flux_in[:, :K] = np.where(i_, -w * gs, 0.0)
            out.influx[name] = _scatter(cs, flux_in, n_own, B)
        elif kind == "specular":
            target, _ = quad.mirror_targets(normals[bf[sel]])
            fr, rr = np.nonzero(o)
            tk = target[fr, rr]
            # w_t |mu_t| f_t^in = w_r mu_r f_r: row (c, t) gets -A w w_r mu_r / w_t at (c, r)
            add_face(cs[fr] * B + tk, corr, es[fr], cs[fr], rr, -gs[fr, rr] * w[rr] / w[tk])
        else:  # diffuse
            w_in = np.sum(np.where(i_, -w * gs, 0.0), axis=1) / aw[sel]  # sum w|mu|
            f_, kin, rout = _pairs(i_, o)
            add_face(cs[f_] * B + kin, corr, es[f_], cs[f_], rout,
                     gs[f_, kin] * w[rout] * gs[f_, rout] / (aw[sel][f_] * w_in[f_]))
    for name, kind in kinds.items():  # groups without faces on this rank: zero rows,
        zero = np.zeros(n_own * B)     # so that every rank reduces the same groups
        out.outflow.setdefault(name, zero)
        if kind == "inflow":
            out.inflow.setdefault(name, zero)
            out.influx.setdefault(name, zero)
    r = np.concatenate(rows) if rows else np.zeros(0, int)
    cc = np.concatenate(cols) if cols else np.zeros(0, int)
    v = np.concatenate(vals) if vals else np.zeros(0)
    out.matrix = sp.csr_matrix((v, (r, cc)), shape=(n_own * B, loc.n_local * B))
    out.matrix.sum_duplicates()
    return out


def _scatter(cells: np.ndarray, values: np.ndarray, n_own: int, B: int) -> np.ndarray:
    """Sum per-face rows ``values`` (F, B) into a vector over owned unknowns."""
    vec = np.zeros(n_own * B)
    np.add.at(vec, (cells[:, None] * B + np.arange(B)).ravel(), values.ravel())
    return vec


def _pairs(is_in: np.ndarray, is_out: np.ndarray):
    """All (face, incoming k, outgoing r) triples."""
    f, k, r = np.nonzero(is_in[:, :, None] & is_out[:, None, :])
    return f, k, r

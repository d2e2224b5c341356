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

Interfaces between regions of different superconductors (``interface`` faces of
:func:`build_streaming`) are left out of :attr:`Streaming.matrix`; their operator depends on
the energy bin and is assembled per bin by :func:`interface_matrix` (see
``docs/theory_bte_mesh.md``, "Interfaces between superconductors"): of the flux an
ordinate carries out of side :math:`a`, the fraction :math:`T_{ab}` enters side :math:`b`
(``specular``: in the same direction; ``diffuse``: re-emitted isotropically into
:math:`b`) and :math:`1-T_{ab}` is reflected back into :math:`a` (mirror ordinate, or
isotropically), so every interface face conserves particles (and, the bin being the same
on both sides, energy) exactly.

Unknowns are laid out ``c * (K + 1) + k`` (cell ``c``, ordinate ``k``; slot ``K`` is the
angle average of :mod:`.problem`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from .quadrature import GRAZING, Quadrature
from .reconstruction import expand, face_corrections, lsq_gradient

__all__ = ["FACE_KINDS", "INTERFACE_MODELS", "SCHEMES", "InterfaceEntries", "InterfaceFaces",
           "Streaming", "build_streaming", "interface_entries", "interface_matrix"]

#: boundary condition kinds understood by :func:`build_streaming`
FACE_KINDS = ("inflow", "specular", "diffuse")
#: spatial schemes: step upwind (first order) or upwind with linear reconstruction
SCHEMES = ("upwind", "linear")
#: transmission models of interfaces between superconductors
INTERFACE_MODELS = ("specular", "diffuse")


@dataclass
class InterfaceFaces:
    r"""Interior faces between regions of different superconductors on one rank.

    Attributes
    ----------
    a, b : ndarray of int, shape (F,)
        Local cells on the two sides (the normal points from ``a`` to ``b``).
    g : ndarray, shape (F, K)
        :math:`(\Omega_k\cdot n)A w` per ordinate.
    aw : ndarray, shape (F,)
        Face area times extrusion width.
    mirror_a, mirror_b : ndarray of int, shape (F, K)
        Mirror ordinate in ``a`` (``b``) of every ordinate leaving ``a`` (``b``), -1 else.
    """

    a: np.ndarray
    b: np.ndarray
    g: np.ndarray
    aw: np.ndarray
    mirror_a: np.ndarray
    mirror_b: np.ndarray

    def subset(self, sel: np.ndarray) -> InterfaceFaces:
        """The faces selected by the mask or indices ``sel``."""
        return InterfaceFaces(self.a[sel], self.b[sel], self.g[sel], self.aw[sel],
                              self.mirror_a[sel], self.mirror_b[sel])


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
    interfaces: InterfaceFaces | None = None


def build_streaming(loc, normals: np.ndarray, widths: np.ndarray, quad: Quadrature,
                    kinds: dict[str, str], scheme: str = "upwind",
                    interface: np.ndarray | None = None) -> Streaming:
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
    interface : ndarray of bool, shape (R, R), or callable, optional
        Region pairs whose common faces are interfaces between different
        superconductors: left out of the matrix and returned as
        :attr:`Streaming.interfaces` (for :func:`interface_matrix`); upwind scheme only.
        A callable ``interface(ra, rb)`` answers per face (region arrays of the two
        sides), for many regions (a per-cell gap: up to one per cell).
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
    itf = None
    ra, rb = loc.cell_region[a], loc.cell_region[b]
    cut = None if interface is None else (
        np.asarray(interface(ra, rb), dtype=bool) if callable(interface)
        else np.asarray(interface, dtype=bool)[ra, rb])
    if cut is not None and np.any(cut):
        if linear:
            raise ValueError("interfaces between different superconductors need the "
                             "'upwind' scheme")
        fx = fi[cut]
        ax, bx = a[cut], b[cut]
        awx = loc.face_area[fx] * np.minimum(wc[ax], wc[bx])
        nx = normals[fx]
        itf = InterfaceFaces(a=ax, b=bx, g=(nx @ quad.omega.T) * awx[:, None], aw=awx,
                             mirror_a=quad.mirror_targets(nx)[0],
                             mirror_b=quad.mirror_targets(-nx)[0])
        fi, a, b = fi[~cut], a[~cut], b[~cut]
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
    out = Streaming(matrix=None, interfaces=itf)
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
    out.matrix = owned_csr(rows, cols, vals, n_own * B, loc.n_local * B)
    return out


@dataclass
class InterfaceEntries:
    r"""The entries of :func:`interface_matrix` with the bin left out: entry ``e`` is
    :math:`c_e\,v_{s(e)}\,\tau_{t(e)}`, a geometric coefficient times a flux speed of
    one side of its face and a transmission factor (:math:`T`, :math:`1 - T` or 1).

    Attributes
    ----------
    rows, cols : ndarray of int
        Owned rows and local columns (repeated entries are summed).
    coef : ndarray
        :math:`c_e`.
    speed : ndarray of int
        Index into ``concatenate([va, vb])`` (length 2F).
    trans : ndarray of int
        Index into :meth:`factors` ``(tab, tba)`` (length 4F + 1; ``4F``: the factor 1).
    n_faces : int
        F.
    """

    rows: np.ndarray
    cols: np.ndarray
    coef: np.ndarray
    speed: np.ndarray
    trans: np.ndarray
    n_faces: int

    @staticmethod
    def factors(tab: np.ndarray, tba: np.ndarray) -> np.ndarray:
        """``[T_ab, T_ba, 1 - T_ab, 1 - T_ba, 1]`` per face, (4F + 1,)."""
        return np.concatenate([tab, tba, 1.0 - tab, 1.0 - tba, [1.0]])

    def values(self, va: np.ndarray, vb: np.ndarray, tab: np.ndarray,
               tba: np.ndarray) -> np.ndarray:
        """The entries' values for one bin (the arguments of :func:`interface_matrix`)."""
        return (self.coef * np.concatenate([va, vb])[self.speed]
                * self.factors(tab, tba)[self.trans])


def interface_entries(itf: InterfaceFaces, w: np.ndarray, n_own: int,
                      model: str) -> InterfaceEntries:
    r"""The entries of the interface operator (:func:`interface_matrix`), independent of
    the energy bin: built once per set of faces, evaluated per bin with
    :meth:`InterfaceEntries.values`.

    Of the particle flux :math:`v_a w_r\,g_r f_r` of an ordinate :math:`r` leaving side
    :math:`a` (:math:`g_r = (\Omega_r\cdot n)Aw > 0`) the fraction :math:`T_{ab}` enters
    :math:`b` and :math:`1 - T_{ab}` is reflected into :math:`a`:

    * ``specular``: transmitted into the same ordinate,
      :math:`v_b f^{in}_{b,r} = T_{ab}v_af_r`; reflected into the mirror ordinate
      :math:`t`, :math:`w_t|g_t|\,v_a f^{in}_{a,t} = (1-T_{ab})w_rg_rv_af_r`;
    * ``diffuse``: both parts re-emitted isotropically over the ordinates entering the
      receiving side, :math:`v f^{in}_k = \sum_r w_rg_rv_af_r(\ldots)/\sum_{k'}w_{k'}|g_{k'}|`.

    The quadrature-weighted column sums vanish: every face conserves particles exactly.
    """
    if model not in INTERFACE_MODELS:
        raise ValueError(f"unknown interface model {model!r} (expected {INTERFACE_MODELS})")
    B = len(w) + 1
    F = len(itf.a)
    rows, cols, coef, speed, trans = [], [], [], [], []

    def add(r, c, v, s, t):
        rows.append(r)
        cols.append(c)
        coef.append(v)
        speed.append(s)
        trans.append(t)

    aw = itf.aw
    for side, (src, dst, g, mirror) in enumerate(((itf.a, itf.b, itf.g, itf.mirror_a),
                                                  (itf.b, itf.a, -itf.g, itf.mirror_b))):
        out = g > GRAZING * aw[:, None]     # leaving src, entering dst
        inn = g < -GRAZING * aw[:, None]    # entering src
        f_, r_ = np.nonzero(out)
        gf = g[f_, r_]
        own_s, own_d = src[f_] < n_own, dst[f_] < n_own
        s_ = side * F + f_                  # the speed of src
        t_, u_ = side * F + f_, (2 + side) * F + f_   # T and 1 - T of src -> dst
        one = np.full(len(f_), 4 * F)
        add((src[f_] * B + r_)[own_s], (src[f_] * B + r_)[own_s], gf[own_s], s_[own_s],
            one[own_s])                     # outflow of src
        if model == "specular":
            add((dst[f_] * B + r_)[own_d], (src[f_] * B + r_)[own_d], -gf[own_d],
                s_[own_d], t_[own_d])
            tk = mirror[f_, r_]
            add((src[f_] * B + tk)[own_s], (src[f_] * B + r_)[own_s],
                (-gf * w[r_] / w[tk])[own_s], s_[own_s], u_[own_s])
        else:
            wout = np.sum(np.where(out, w * g, 0.0), axis=1)    # sum over entering dst
            win = np.sum(np.where(inn, -w * g, 0.0), axis=1)    # sum over entering src
            # transmitted: (f, k entering dst = out, r leaving src = out)
            f2, k2, r2 = np.nonzero(out[:, :, None] & out[:, None, :])
            m = dst[f2] < n_own
            add((dst[f2] * B + k2)[m], (src[f2] * B + r2)[m],
                (-g[f2, k2] * w[r2] * g[f2, r2] / wout[f2])[m], (side * F + f2)[m],
                (side * F + f2)[m])
            f3, k3, r3 = np.nonzero(inn[:, :, None] & out[:, None, :])
            m = src[f3] < n_own
            add((src[f3] * B + k3)[m], (src[f3] * B + r3)[m],
                (g[f3, k3] * w[r3] * g[f3, r3] / win[f3])[m], (side * F + f3)[m],
                ((2 + side) * F + f3)[m])
    cat = [np.concatenate(x) if x else np.zeros(0, int) for x in (rows, cols, speed, trans)]
    return InterfaceEntries(cat[0], cat[1], np.concatenate(coef) if coef else np.zeros(0),
                            cat[2], cat[3], F)


def interface_matrix(itf: InterfaceFaces, w: np.ndarray, n_own: int, n_local: int,
                     va: np.ndarray, vb: np.ndarray, tab: np.ndarray, tba: np.ndarray,
                     model: str) -> sp.csr_matrix:
    r"""Operator of the interface faces for one energy bin (owned rows): the entries of
    :func:`interface_entries` (the model, derived there) at the bin's speeds and
    transmissions.

    Parameters
    ----------
    itf : InterfaceFaces
    w : ndarray, shape (K,)
        Quadrature weights.
    n_own, n_local : int
        Owned and local cells.
    va, vb : ndarray, shape (F,)
        Flux speed per unit occupation on the two sides (:math:`w_s N v/(w_0 v)`, 0 where
        the side has no states in this bin).
    tab, tba : ndarray, shape (F,)
        Transmission probabilities :math:`a\to b` and :math:`b\to a`.
    model : str
        One of :data:`INTERFACE_MODELS`.
    """
    e = interface_entries(itf, w, n_own, model)
    B = len(w) + 1
    return owned_csr([e.rows], [e.cols], [e.values(va, vb, tab, tba)], n_own * B,
                     n_local * B)


def owned_csr(rows: list[np.ndarray], cols: list[np.ndarray], vals: list[np.ndarray],
              n_rows: int, n_cols: int) -> sp.csr_matrix:
    """The ``(n_rows, n_cols)`` CSR matrix (owned rows, local columns) of the entries
    gathered face group by face group (lists of index and value arrays; repeated entries
    summed)."""
    r = np.concatenate(rows) if rows else np.zeros(0, int)
    c = np.concatenate(cols) if cols else np.zeros(0, int)
    v = np.concatenate(vals) if vals else np.zeros(0)
    mat = sp.csr_matrix((v, (r, c)), shape=(n_rows, n_cols))
    mat.sum_duplicates()
    return mat


def _scatter(cells: np.ndarray, values: np.ndarray, n_own: int, B: int) -> np.ndarray:
    """Sum per-face rows ``values`` (F, B) into a vector over owned unknowns."""
    vec = np.zeros(n_own * B)
    np.add.at(vec, (cells[:, None] * B + np.arange(B)).ravel(), values.ravel())
    return vec


def _pairs(is_in: np.ndarray, is_out: np.ndarray):
    """All (face, incoming k, outgoing r) triples."""
    f, k, r = np.nonzero(is_in[:, :, None] & is_out[:, None, :])
    return f, k, r

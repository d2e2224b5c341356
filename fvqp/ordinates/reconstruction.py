r"""Linear reconstruction of cell values at face centroids (least-squares gradients).

The ``linear`` spatial scheme of :mod:`.streaming` evaluates the upwind cell's value at
the face centroid :math:`x_f` as

.. math::
    f_{u}(x_f) = f_u + (x_f - x_u)\cdot G_u,\qquad
    G_u = M_u^{+}\sum_{n\in N(u)} (x_n - x_u)(f_n - f_u),\quad
    M_u = \sum_{n\in N(u)} (x_n - x_u)(x_n - x_u)^T,

the unweighted least-squares gradient over the face neighbours :math:`N(u)` of the cell
(Barth & Jespersen 1989; Blazek, *Computational Fluid Dynamics*, 2015, §5.3.4). It is
exact for linear fields wherever :math:`M_u` is regular, so the face values are second
order on smooth solutions. Boundary data do not enter the gradient (cells on a wall use
their one-sided interior stencil). A cell whose face neighbours do not span the mesh
dimension (a corner triangle with one neighbour) uses its face neighbours and theirs
instead; :math:`M^{+}` is the pseudo-inverse (the extrusion direction of films is absent).

No limiter: the map is linear (the per-bin systems stay linear) but not monotone, so
negative occupations can appear near steep fronts. The gradient weights depend on the
geometry only, so one sparse operator serves every ordinate and energy bin.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["expand", "face_corrections", "lsq_gradient"]

#: relative singular-value cut of the per-cell least-squares pseudo-inverse
RCOND = 1e-10


def lsq_gradient(loc) -> list[sp.csr_matrix]:
    """Least-squares gradient operators of the local cells, one per coordinate.

    Parameters
    ----------
    loc : fvqp.parallel.LocalGeometry
        Every neighbour of every local cell must be local (serial runs).

    Returns
    -------
    list of scipy.sparse.csr_matrix, shape (n_local, n_local)
        ``G[d] @ f`` is the d-th gradient component per cell.
    """
    n = loc.n_local
    ptr, deg = loc.face_ptr, loc.face_degree
    fi = np.flatnonzero(deg == 2)
    a, b = loc.inc_cell[ptr[fi]], loc.inc_cell[ptr[fi] + 1]
    c, nb = np.concatenate([a, b]), np.concatenate([b, a])
    x = np.asarray(loc.centroid, float)
    m = _moments(x, c, nb, n)
    bad = _deficient(m, loc.dim)
    if bad.any():  # e.g. corner triangles: add the face neighbours' face neighbours
        adj = sp.csr_matrix((np.ones(len(c)), (c, nb)), shape=(n, n))
        two = (adj @ adj + adj).tocsr()
        two.setdiag(0)
        two.eliminate_zeros()
        rows = sp.diags(bad.astype(float)) @ two
        c2, nb2 = rows.nonzero()
        keep = ~bad[c]
        c, nb = np.concatenate([c[keep], c2]), np.concatenate([nb[keep], nb2])
        m = _moments(x, c, nb, n)
    d = x[nb] - x[c]                                    # (P, 3)
    minv = np.linalg.pinv(m, rcond=RCOND, hermitian=True)
    w = np.einsum("pij,pj->pi", minv[c], d)             # weight of f_nb - f_c
    out = []
    for k in range(3):
        g = sp.csr_matrix((np.concatenate([w[:, k], -w[:, k]]),
                           (np.concatenate([c, c]), np.concatenate([nb, c]))), shape=(n, n))
        g.sum_duplicates()
        out.append(g)
    return out


def _moments(x: np.ndarray, c: np.ndarray, nb: np.ndarray, n: int) -> np.ndarray:
    """Per-cell second moments :math:`M_c = \\sum (x_n - x_c)(x_n - x_c)^T` (n, 3, 3)."""
    d = x[nb] - x[c]
    m = np.zeros((n, 3, 3))
    np.add.at(m, c, d[:, :, None] * d[:, None, :])
    return m


def _deficient(m: np.ndarray, dim: int) -> np.ndarray:
    """Cells whose stencil does not span ``dim`` directions."""
    ev = np.linalg.eigvalsh(m)                          # ascending
    return ev[:, 3 - dim] <= RCOND * np.maximum(ev[:, -1], np.finfo(float).tiny)


def face_corrections(loc, grads: list[sp.csr_matrix], faces: np.ndarray,
                     cells: np.ndarray) -> sp.csr_matrix:
    r"""Rows :math:`(x_f - x_c)\cdot G_c` for (local face, cell) pairs.

    Row ``i`` applied to cell values gives the correction :math:`f_c(x_f) - f_c` of cell
    ``cells[i]`` at the centroid of local face ``faces[i]``; its coefficients sum to 0
    (a uniform field is reconstructed exactly).
    """
    dx = np.asarray(loc.face_centroid, float)[faces] - np.asarray(loc.centroid, float)[cells]
    r = sp.csr_matrix((len(cells), loc.n_local))
    for k in range(3):
        if np.any(dx[:, k]):
            r = r + sp.diags(dx[:, k]) @ grads[k][cells]
    r = r.tocsr()
    r.sum_duplicates()
    return r


def expand(corr: sp.csr_matrix, entry: np.ndarray, rows: np.ndarray, ords: np.ndarray,
           coef: np.ndarray, B: int):
    """COO triples of ``coef * corr[entry]`` placed in ``rows`` at ordinate ``ords``.

    For every flux term ``coef`` multiplying the value of ordinate ``ords`` of the upwind
    cell at face entry ``entry`` of ``corr``, the reconstruction adds ``coef * corr[entry,
    j]`` at column ``j * B + ords`` of row ``rows``.
    """
    entry, rows = np.ravel(entry), np.ravel(rows)
    ords, coef = np.ravel(ords), np.ravel(coef)
    cnt = np.diff(corr.indptr)[entry]
    start = np.repeat(corr.indptr[entry], cnt)
    offs = np.arange(cnt.sum()) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    pos = start + offs
    return (np.repeat(rows, cnt), corr.indices[pos] * B + np.repeat(ords, cnt),
            np.repeat(coef, cnt) * corr.data[pos])

r"""The certificate that lets a stale phonon solution be accepted: the ordinate rows of
a bin system dominate their off-diagonal entries by at least their time term.

A phonon bin's transient system (:meth:`.problem.PhononProblem.local_matrix`, and
:meth:`~.problem.PhononProblem.group_matrix` for bins solved together) has, per cell
:math:`c`, the ordinate rows :math:`k < K` and one angle-average row
:math:`s_c(\bar n_c - \sum_k w_kn_{ck}) = 0` with the quadrature weights
:math:`w_k \ge 0`, :math:`\sum_kw_k = 1`. Eliminating the averages by their rows,
:math:`\bar n = Wn`, leaves the ordinate system :math:`A_r = A_{oo} + A_{oa}W`. If every
row of it is strictly diagonally dominant with

.. math::  m_i = a_{ii} - \sum_{j\ne i}|a_{ij}| \;\ge\; S_c\,a

(:math:`S_c = V_cg_j`, :math:`a` the time coefficient: upwind streaming, reflections,
interface transmissions and isotope scattering to the angle average feed a row from other
unknowns with non-negative weights and conserve phonons — an equilibrium is stationary,
so their parts of a row sum to 0 — and bulk decay and the bath only add to the
diagonal), then :math:`A_r` is an H-matrix whose comparison matrix
:math:`\mathcal M(A_r)` (diagonal :math:`|a_{ii}|`, off-diagonal :math:`-|a_{ij}|`) is a
non-singular M-matrix with :math:`\mathcal M(A_r)\mathbf 1 = m > 0`, so
:math:`|A_r^{-1}| \le \mathcal M(A_r)^{-1}` (Ostrowski; Berman & Plemmons,
*Nonnegative Matrices in the Mathematical Sciences*, ch. 6) and for every :math:`r`

.. math::  \|A_r^{-1}r\|_\infty \le \max_i |r_i|/m_i :

with :math:`\gamma = \max_i|r_i|/m_i`, :math:`|A_r^{-1}r| \le \mathcal M(A_r)^{-1}|r| \le
\gamma\,\mathcal M(A_r)^{-1}m = \gamma\mathbf 1`. The averages, convex combinations of
ordinates, obey the same bound. A per-cell rate :math:`\rho_c` added to the ordinate
diagonal (the chip chain's film absorption minus emission) moves the margins to
:math:`S_c(a + \rho_c)`, positive where the chain's positivity check
(:math:`1 + \Delta t\,\rho_c > 0`, :math:`a = 1/\Delta t`) holds.

The chip chain (:mod:`fvqp.models.bte_chip.coupling`) uses the bound to accept the last
phonon solution for new film rates when its residual — non-zero only in film cells —
provably moves no occupation by more than the coupled iteration's tolerance, instead of
solving every bin again to confirm it. :func:`certify` checks the margins on the
assembled rows, so the bound is used only where it holds: first from the entries'
magnitudes before the averages are eliminated (one pass over the entries; an upper bound
of the eliminated rows' off-diagonal sums, equal to them where the entries a column
collects share a sign, as in every system measured), and on the eliminated rows only
where that refuses. Once per system of a run; in the chip chain's set-up 0.60 -> 0.13 s
per bin system at 20 640 cells x 24 ordinates (profiled; 2026-11-29,
docs/theory_phonon.md).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["certify"]

#: entries per piece of :func:`_bounded_margins` (its temporaries stay in the cache)
_CHUNK = 1 << 18


def certify(m: sp.csr_matrix, n: int, K: int, members: int, weights: np.ndarray,
            time_term: np.ndarray) -> bool:
    r"""Whether the owned rows ``m`` of a bin system (local columns: owned then ghost
    cells, unknown ``c (members B) + i B + k``, ``B = K + 1``, ``k = K`` the angle
    average) have the margins of the module docstring on this rank.

    Parameters
    ----------
    m : scipy.sparse.csr_matrix
        (n members B, n_local members B) owned rows, local columns.
    n, K, members : int
        Owned cells, ordinates, bins solved together.
    weights : numpy.ndarray
        (K,) the quadrature's weights; the average rows must be
        :math:`s(\bar n - \sum_kw_kn_k)` with these (checked).
    time_term : numpy.ndarray
        (n, members) :math:`S_ca` of every cell and bin: the least margin, less the
        row's round-off (1e-12 of the sum of its entries' magnitudes; the bound's
        relative error then is below 1e-12 (1 + a_ii / (S_c a)), e.g. 1e-10 at a step
        a phonon crosses 100 cells in).

    Returns
    -------
    bool
        This rank's rows only: callers combine ranks (every rank must agree before a
        stale solution is accepted).
    """
    B = K + 1
    mB = members * B
    if m.shape[0] != n * mB or m.shape[1] % mB or len(weights) != K:
        return False
    if n == 0:
        return True
    w = np.asarray(weights, dtype=float)
    if np.any(w < 0) or abs(w.sum() - 1.0) > 1e-12:
        return False
    m = m.tocsr()
    within = np.arange(m.shape[0]) % B
    ordinate, average = np.flatnonzero(within < K), np.flatnonzero(within == K)
    # the average rows: s (n-bar - sum_k w_k n_k) of their own cell and bin, s > 0
    avg = m[average].tocoo()
    rows_g = average[avg.row]
    diag = avg.col == rows_g
    s = np.bincount(avg.row[diag], weights=avg.data[diag], minlength=len(average))
    if np.any(s <= 0):
        return False
    off = ~diag
    k = avg.col[off] - (rows_g[off] - K)
    if np.any((k < 0) | (k >= K)):
        return False                       # an average row reaching another cell or bin
    want = -s[avg.row[off]] * w[k]
    if not np.allclose(avg.data[off], want, rtol=1e-12, atol=0):
        return False
    cell, i = ordinate // mB, (ordinate % mB) // B
    floor = np.asarray(time_term, dtype=float).reshape(n, members)[cell, i]
    # first the margins from the entries' magnitudes, summed before the averages are
    # eliminated: |a + b| <= |a| + |b| makes this off-diagonal sum an upper bound of the
    # eliminated rows' (equal when the entries a column collects share a sign, as
    # upwind streaming, reflections, transmissions and scattering give), so rows that
    # pass here pass below (the slack's magnitude moves the same way); only a refusal
    # is checked on the eliminated rows themselves
    d, off = _bounded_margins(m, B, K, w)
    d, off = d[ordinate], off[ordinate]
    if np.all(d - off >= floor - 1e-12 * (d + off)):
        return True
    # eliminate every local average (owned and ghost): column (c, i, K) -> w_k (c, i, k)
    n_cols = m.shape[1]
    cols_all = np.arange(n_cols)
    is_avg = cols_all % B == K
    a_cols = cols_all[is_avg]
    e_rows = np.concatenate([cols_all[~is_avg], np.repeat(a_cols, K)])
    e_cols = np.concatenate([cols_all[~is_avg],
                             ((a_cols - K)[:, None] + np.arange(K)).ravel()])
    e_vals = np.concatenate([np.ones(int((~is_avg).sum())), np.tile(w, len(a_cols))])
    E = sp.csr_matrix((e_vals, (e_rows, e_cols)), shape=(n_cols, n_cols))
    red = (m[ordinate] @ E).tocoo()
    own_col = ordinate[red.row]
    dmask = red.col == own_col
    nr = len(ordinate)
    dvals = np.bincount(red.row[dmask], weights=red.data[dmask], minlength=nr)
    offsum = np.bincount(red.row[~dmask], weights=np.abs(red.data[~dmask]), minlength=nr)
    mag = dvals + offsum
    return bool(np.all(dvals - offsum >= floor - 1e-12 * mag))


def _bounded_margins(m: sp.csr_matrix, B: int, K: int, w: np.ndarray):
    r"""Per row of ``m`` (ordinate rows meaningful; layout of :func:`certify`): the
    diagonal :math:`d_i` of the rows with the averages eliminated (:math:`\bar n = Wn`)
    and an upper bound of their off-diagonal magnitudes, without forming them: an
    ordinate column's :math:`|a_{ij}|`, an average column's :math:`|a_{ia}|\sum_kw_k`
    (the part :math:`a_{ia}w_{k_i}` of the row's own average on its diagonal). One pass
    over the entries, against a sparse product with :math:`K` entries per average
    column; in pieces of about :data:`_CHUNK` entries, whose temporaries stay in the
    cache (one bin at 78 710 cells x 24 ordinates, 2.1e7 entries: 0.40 s, against
    0.88 s in one piece)."""
    nr = m.shape[0]
    d, off = np.zeros(nr), np.zeros(nr)
    it = m.indices.dtype                           # local numbers: int32 for scipy's
    wsum = float(w.sum())
    step = max(B, (_CHUNK // max(1, m.nnz // max(nr, 1))) // B * B)
    for r0 in range(0, nr, step):                  # rows in pieces: temporaries in cache
        r1 = min(nr, r0 + step)
        lo, hi = m.indptr[r0], m.indptr[r1]
        rows = np.repeat(np.arange(r0, r1, dtype=it), np.diff(m.indptr[r0:r1 + 1]))
        rb = rows % it.type(B)
        sel = rb < K                               # the ordinate rows' entries
        r, c, v, k = rows[sel] - r0, m.indices[lo:hi][sel], m.data[lo:hi][sel], rb[sel]
        av = np.abs(v)
        is_avg = c % B == K
        own = is_avg & (c - K == r + r0 - k)       # the row's own cell and bin
        diag = c == r + r0
        plain = ~is_avg & ~diag
        n = r1 - r0
        d[r0:r1] = (np.bincount(r[diag], weights=v[diag], minlength=n)
                    + np.bincount(r[own], weights=v[own] * w[k[own]], minlength=n))
        off[r0:r1] = (np.bincount(r[plain], weights=av[plain], minlength=n)
                      + np.bincount(r[own], weights=av[own] * (wsum - w[k[own]]),
                                    minlength=n)
                      + wsum * np.bincount(r[is_avg & ~own], weights=av[is_avg & ~own],
                                           minlength=n))
    return d, off

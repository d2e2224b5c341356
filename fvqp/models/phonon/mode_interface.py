r"""Interface faces with mode conversion between branches (``interface = "amm_modes"``).

The per-branch operator (:func:`fvqp.ordinates.angular_interface_matrix`) keeps every
branch in itself. Here the branches of one energy (``m`` of them, e.g. L and T) are
solved together, and a face has ``2m`` *channels* :math:`c = (s, \beta)` (side
:math:`s\in\{a, b\}`, branch :math:`\beta`). Of the flux :math:`G_cw_r|g_r|n_r` an
ordinate :math:`r` carries out of side :math:`s` in branch :math:`\beta`
(:math:`G_c = g_cv_c` the flux per occupation) the fraction :math:`E_{c\to c'}(\mu_r)`
goes into channel :math:`c'` (:mod:`.modes`, :math:`\sum_{c'}E_{c\to c'} = 1`):

* same channel (reflection in the same branch): the mirror ordinate (``specular``) or
  re-emitted with the shape :math:`w_t|g_t|E_{c\to c}(\mu_t)` (``diffuse``);
* every other channel (converted reflection, transmission): re-emitted over the
  ordinates :math:`k` entering side :math:`s'` in proportion to
  :math:`w_k|g_k|E_{c'\to c}(\mu_k)` — the angular distribution that the channel
  produces from an isotropic field (reciprocity, :math:`E_{c\to c'}(p) = E_{c'\to c}(p)`
  at one horizontal slowness :math:`p`), as the per-branch AMM re-emits its
  transmitted flux.

Every face conserves the transported quantity exactly (the fractions sum to one and each
re-emission shape is normalised). *Detailed balance on the quadrature*: with
:math:`S_{c\to c'} = G_c\sum_{r\,\mathrm{out}\,s}w_r|g_r|E_{c\to c'}(\mu_r)`, one
occupation in every channel is stationary, ordinate by ordinate, when
:math:`S_{c\to c'} = S_{c'\to c}` for every pair (continuum: :math:`G_c\mu\,d\mu\propto
p\,dp` for every channel, :math:`G\propto w_\beta/v^2`, so the reciprocity of the
energy fractions makes the two equal). On the quadrature :math:`E(\mu_r)` at the
ordinate's own :math:`\mu` breaks this badly (a channel open only near normal incidence,
e.g. Si T -> sapphire L for :math:`\mu > 0.897`, is missed by every node on one side and
not on the other); so each ordinate carries the average of :math:`E` over *its band* of
:math:`\mu` (:func:`ordinate_bands`: the band of the continuum that carries the same
share of an isotropic flux), and the sums :math:`S` are the isotropic-incidence
averages exactly, up to the band quadrature (:func:`channel_fractions`). What remains
(measured <= 6e-11 up to 16 x 16 ordinates) is removed: both
fractions of each pair :math:`c\ne c'` are scaled to :math:`\min(S_{c\to c'},
S_{c'\to c})` and the same-channel reflection takes the rest,
:math:`E_{c\to c} = 1 - \sum_{c'\ne c}E_{c\to c'}` (non-negative: only scaled down). The
re-emission sums run over the ordinates *entering* a side and the fluxes over those
*leaving* it: the two sets have the same :math:`|g|` and weights on a centrally
symmetric quadrature (even azimuth counts; :func:`fvqp.ordinates.sphere`,
:func:`~fvqp.ordinates.circle`).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ...ordinates.angular_interface import REFLECTIONS
from ...ordinates.quadrature import GRAZING
from ...ordinates.streaming import InterfaceFaces, owned_csr
from .modes import band_average, branch_coefficients

__all__ = ["channel_fractions", "mode_fractions", "mode_interface_matrix", "ordinate_bands"]


def ordinate_bands(mu: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""The band of :math:`\mu` each ordinate stands for on each face.

    On a face the ordinates, in increasing :math:`|\mu_k| = |\hat\Omega_k\cdot n|`,
    carry the shares :math:`w_k|\mu_k|/\sum w|\mu|` of an isotropic flux; ordinate
    :math:`k` stands for the band :math:`[\mu_{lo}, \mu_{hi}]` of the continuum that
    carries the same share, :math:`\mu_{lo}^2` and :math:`\mu_{hi}^2` the cumulative
    shares before and after it (the continuum flux through :math:`[0, \mu]` is
    :math:`\mu^2` of the whole), ordinates of equal :math:`|\mu|` sharing one band.
    Fractions averaged over these bands (:func:`.modes.band_average`) sum over the
    ordinates to the isotropic-incidence averages exactly, so the discrete channel
    fluxes are reciprocal without scaling (up to the band quadrature).

    Parameters
    ----------
    mu : ndarray, shape (F, K)
        :math:`|\mu_k|` per face.
    w : ndarray, shape (K,)

    Returns
    -------
    lo, hi : ndarray, shape (F, K)
        Band edges (grazing ordinates: an empty band at 0).
    """
    lo, hi = np.zeros_like(mu), np.zeros_like(mu)
    rows, inv = np.unique(np.round(mu, 12), axis=0, return_inverse=True)
    for i, row in enumerate(rows):
        share = np.where(row > GRAZING, w * row, 0.0)
        vals, grp = np.unique(row, return_inverse=True)        # groups of equal |mu|
        cum = np.cumsum(np.bincount(grp, weights=share, minlength=len(vals)))
        cum /= cum[-1]
        before = np.concatenate([[0.0], cum[:-1]])
        sel = inv.ravel() == i
        lo[sel] = np.sqrt(before[grp])
        hi[sel] = np.sqrt(np.minimum(cum[grp], 1.0))
    return lo, hi


def channel_fractions(itf: InterfaceFaces, w: np.ndarray, side: tuple, vl: np.ndarray,
                      vt: np.ndarray, rho: np.ndarray, average: str = "band") -> np.ndarray:
    r"""Unscaled energy fractions of the L/T channels of every interface face.

    Parameters
    ----------
    itf : InterfaceFaces
    w : ndarray, shape (K,)
    side : tuple of ndarray
        Region of the ``a`` and ``b`` cell of every face.
    vl, vt, rho : ndarray, shape (R,)
        Longitudinal, transverse velocities and densities per region.
    average : str
        ``"band"``: each ordinate's fractions averaged over its band of :math:`\mu`
        (:func:`ordinate_bands`, :func:`.modes.band_average`); ``"point"``: at its
        :math:`|\mu_k|` (:func:`.modes.branch_coefficients`).

    Returns
    -------
    E : ndarray, shape (4, F, K, 4)
        :math:`E_{c\to c'}` by :math:`|\mu_k|`, channel ``c = 2 s + beta`` (side ``s``: 0 =
        ``a``; branch ``beta``: 0 = L, 1 = T).
    """
    mu = np.abs(itf.g) / itf.aw[:, None]
    E = np.zeros((4,) + mu.shape + (4,))
    lo, hi = ordinate_bands(mu, w)
    for s in (0, 1):
        rs, ro = side[s], side[1 - s]
        for r1, r2 in {(int(x), int(y)) for x, y in zip(rs, ro, strict=True)}:
            sel = (rs == r1) & (ro == r2)
            media = (rho[r1], vl[r1], vt[r1], rho[r2], vl[r2], vt[r2])
            for beta, br in enumerate("LT"):                    # R_L, R_T, T_L, T_T
                e = (band_average(lo[sel], hi[sel], br, *media) if average == "band"
                     else branch_coefficients(mu[sel], br, *media))
                E[2 * s + beta][sel] = e[..., [0, 1, 2, 3] if s == 0 else [2, 3, 0, 1]]
    return E


def mode_fractions(itf: InterfaceFaces, w: np.ndarray, G: np.ndarray,
                   E: np.ndarray) -> tuple[np.ndarray, float]:
    r"""The fractions scaled to detailed balance on the quadrature (module docstring).

    Parameters
    ----------
    itf : InterfaceFaces
    w : ndarray, shape (K,)
    G : ndarray, shape (2m, F)
        Flux per occupation (per unit :math:`|g|`) of every channel ``c = s m + beta``
        (``s = 0``: side ``a``).
    E : ndarray, shape (2m, F, K, 2m)
        :math:`E_{c\to c'}(|\mu_k|)` for every ordinate by :math:`|\mu_k|` (rows sum to 1).

    Returns
    -------
    E : ndarray, shape (2m, F, K, 2m)
        Scaled fractions, rows summing to one.
    worst : float
        Largest relative change of a converted/transmitted fraction by the scaling.
    """
    C = E.shape[0]
    m = C // 2
    absg = np.abs(itf.g)
    leaving = [itf.g > GRAZING * itf.aw[:, None], itf.g < -GRAZING * itf.aw[:, None]]
    S = np.zeros((C, C, len(itf.a)))
    for c in range(C):
        wg = np.where(leaving[c // m], w * absg, 0.0)                   # (F, K)
        S[c] = G[c][None, :] * np.einsum("fk,fkd->df", wg, E[c])
    E = E.copy()
    worst = 0.0
    for c in range(C):
        for d in range(C):
            if d == c:
                continue
            s = np.minimum(S[c, d], S[d, c])
            f = np.divide(s, S[c, d], out=np.zeros_like(s), where=S[c, d] > 0)
            if np.any(S[c, d] > 0):
                worst = max(worst, float(np.max(np.abs(f[S[c, d] > 0] - 1.0))))
            E[c, :, :, d] *= f[:, None]
        others = [d for d in range(C) if d != c]
        E[c, :, :, c] = 1.0 - E[c][:, :, others].sum(axis=2)
    return E, worst


def mode_interface_matrix(itf: InterfaceFaces, w: np.ndarray, n_own: int, n_local: int,
                          G: np.ndarray, E: np.ndarray,
                          reflection: str = "specular") -> sp.csr_matrix:
    r"""Operator of the interface faces for the ``m`` branches of one energy.

    Unknowns ``c * (m B) + beta * B + k`` (cell ``c``, branch ``beta``, ordinate ``k``;
    ``B = K + 1``, slot ``K`` the angle average); owned rows, local columns.

    Parameters
    ----------
    itf : InterfaceFaces
    w : ndarray, shape (K,)
    n_own, n_local : int
    G : ndarray, shape (2m, F)
        Flux per occupation of every channel (:func:`mode_fractions`).
    E : ndarray, shape (2m, F, K, 2m)
        Fractions scaled by :func:`mode_fractions`.
    reflection : str
        Same-channel reflection: ``specular`` (mirror ordinate) or ``diffuse``.
    """
    if reflection not in REFLECTIONS:
        raise ValueError(f"unknown reflection {reflection!r} (expected {REFLECTIONS})")
    C = E.shape[0]
    m = C // 2
    K = len(w)
    B = K + 1
    mB = m * B
    rows, cols, vals = [], [], []
    cells = (itf.a, itf.b)
    sign = (1.0, -1.0)
    mirror = (itf.mirror_a, itf.mirror_b)
    aw = itf.aw[:, None]

    def add(r, c, v, keep):
        rows.append(r[keep])
        cols.append(c[keep])
        vals.append(v[keep])

    for c in range(C):
        s, beta = divmod(c, m)
        g = sign[s] * itf.g                       # > 0: leaving side s
        out = g > GRAZING * aw
        f_, r_ = np.nonzero(out)
        src = cells[s][f_]
        col = src * mB + beta * B + r_
        flux = g[f_, r_] * G[c][f_]              # per unit occupation and weight
        add(col, col, flux, src < n_own)         # outflow
        for d in range(C):
            sd, bd = divmod(d, m)
            if d == c and reflection == "specular":
                tk = mirror[s][f_, r_]
                add(src * mB + beta * B + tk, col,
                    -flux * E[c][f_, r_, c] * w[r_] / w[tk], src < n_own)
                continue
            # re-emitted into the ordinates k entering side sd with w_k |g_k| E_{d->c}
            into = g < -GRAZING * aw if sd == s else out      # entering side sd
            shape = np.where(into, np.abs(g) * E[d][:, :, c], 0.0)        # (F, K)
            den = np.sum(w * shape, axis=1)
            f3, k3, r3 = np.nonzero(into[:, :, None] & out[:, None, :])
            v = -shape[f3, k3] * w[r3] * g[f3, r3] * G[c][f3] * E[c][f3, r3, d]
            v = np.divide(v, den[f3], out=np.zeros_like(v), where=den[f3] > 0)
            dst = cells[sd][f3]
            add(dst * mB + bd * B + k3, cells[s][f3] * mB + beta * B + r3, v, dst < n_own)
    return owned_csr(rows, cols, vals, n_own * mB, n_local * mB)

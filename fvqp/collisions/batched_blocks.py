r"""Dense Jacobian blocks of the batched collision operator by gathers on the kinematics.

The same exact derivatives as :func:`fvqp.collisions.batched.batched_jacobian` (the
formulas of :mod:`fvqp.collisions.jacobian`, notes Eqs. 35-40), returned as the four
blocks :math:`\partial S_{qp}/\partial f` (``ff``, N x N), :math:`\partial S_{qp}/\partial
n` (``fn``, N x M), :math:`\partial S_{ph}/\partial f` (``nf``, M x N) and the diagonal
:math:`\partial S_{ph}/\partial n` (``nn``, M) of every cell, without the dense
``(N + M)^2`` matrix. The QP-phonon blocks use the kinematics directly: QP ``i`` meets
phonon ``k`` (:math:`\Omega_k = kh`) only through the scattering partners
:math:`j = i \pm k` and the pair partner :math:`j = k - m - 1 - i`, so every block entry is
a sum of at most three terms gathered on a fixed ``(N, M)`` index pattern (no scatter-add);
``ff`` is dense (every QP pair has a phonon).

Used to build the transport model's Schur preconditioner
(:mod:`fvqp.models.transport.schur`), where the blocks are needed once per
(lagged) build for a few hundred cells at a time.
"""

from __future__ import annotations

import numpy as np

from .batched import _pair_weight_padded

__all__ = ["batched_blocks", "qp_block"]


def _pattern(nq: int, nph: int, m: int):
    """Partners of QP ``i`` (rows) and phonon node ``k = kk + 1`` (columns): index
    arrays clipped into range and their validity masks (up, down, pair)."""
    i = np.arange(nq)[:, None]
    k = np.arange(1, nph + 1)[None, :]
    out = []
    for j in (i + k, i - k, k - m - 1 - i):
        valid = (j >= 0) & (j < nq)
        out.append((np.where(valid, j, 0), valid))
    return out


def qp_block(f: np.ndarray, n: np.ndarray, rho: np.ndarray, ados: np.ndarray, *,
             h: float, m: int, qp_scale=1.0, pair_weight=None) -> np.ndarray:
    r"""The QP-QP block ``ff`` (C, N, N) of :func:`batched_blocks` alone (a fifth of its
    cost at N = 18, M = 40: the models with bath phonons need no other block)."""
    C = f.shape[0]
    dt = np.result_type(f, n, rho, ados)
    f, n, rho, ados = (np.asarray(x, dtype=dt) for x in (f, n, rho, ados))
    nph = n.shape[1]
    w2 = ((h * np.arange(nph + 1)) ** 2).astype(dt)
    npad = np.concatenate([np.zeros((C, 1), dt), n], axis=1)
    pref = np.divide(dt.type(h), rho, out=np.zeros(rho.shape, dt), where=rho > 0)
    pref *= np.asarray(qp_scale, dtype=dt).reshape(-1, 1)
    rw_all = _pair_weight_padded(pair_weight, C, nph, nph).astype(dt)
    return _qp_block(f, npad, rho, ados, pref, w2, rw_all, m)


def _qp_block(f, npad, rho, ados, pref, w2, rw_all, m) -> np.ndarray:
    """The dense QP-QP block (scattering and pair terms; as
    :func:`fvqp.collisions.batched.batched_jacobian`)."""
    dt = f.dtype
    nq, nph = f.shape[1], npad.shape[1] - 1
    ii, jj = np.meshgrid(np.arange(nq), np.arange(nq), indexing="ij")
    fi, fj = f[:, :, None], f[:, None, :]
    diag = np.arange(nq)
    rr = rho[:, :, None] * rho[:, None, :]
    aa = ados[:, :, None] * ados[:, None, :]
    pi = pref[:, :, None]
    k = np.abs(jj - ii)
    valid = (k >= 1) & (k <= nph)
    kc = np.where(valid, k, 0)
    w = w2[kc] * np.where(valid, rr - aa, dt.type(0))
    nk = npad[:, kc]
    up = jj > ii
    p_in = np.where(up, 1.0 + nk, nk)
    p_out = np.where(up, nk, 1.0 + nk)
    ff = pi * w * ((1.0 - fi) * p_in + fi * p_out)
    ff[:, diag, diag] -= pref * np.sum(w * (fj * p_in + (1.0 - fj) * p_out), axis=2)
    k = ii + jj + m + 1
    valid = k <= nph
    kc = np.where(valid, k, 0)
    v = w2[kc] * np.where(valid, rw_all[:, kc] * (rr + aa), dt.type(0))
    nk = npad[:, kc]
    ff -= pi * v * (fi * (1.0 + nk) + (1.0 - fi) * nk)
    ff[:, diag, diag] -= pref * np.sum(v * (fj * (1.0 + nk) + (1.0 - fj) * nk), axis=2)
    return ff


def batched_blocks(f: np.ndarray, n: np.ndarray, rho: np.ndarray, ados: np.ndarray, *,
                   h: float, m: int, qp_scale=1.0, c_ph=1.0, pair_weight=None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    r"""The exact Jacobian blocks ``ff (C, N, N), fn (C, N, M), nf (C, M, N), nn (C, M)``
    of :func:`fvqp.collisions.batched.batched_terms` (``qp``, ``ph``); arguments as
    there (real ``f``, ``n``)."""
    C, nq = f.shape
    nph = n.shape[1]
    dt = np.result_type(f, n, rho, ados)  # float32 in: float32 blocks (preconditioners)
    f, n, rho, ados = (np.asarray(x, dtype=dt) for x in (f, n, rho, ados))
    w2 = ((h * np.arange(nph + 1)) ** 2).astype(dt)
    npad = np.concatenate([np.zeros((C, 1), dt), n], axis=1)
    has = rho > 0
    pref = np.divide(dt.type(h), rho, out=np.zeros(rho.shape, dt), where=has)
    pref *= np.asarray(qp_scale, dtype=dt).reshape(-1, 1)
    cph = np.asarray(c_ph, dtype=dt).reshape(-1, 1, 1)
    h = dt.type(h)
    rw_all = _pair_weight_padded(pair_weight, C, nph, nph).astype(dt)  # (C or 1, M + 1)

    ff = _qp_block(f, npad, rho, ados, pref, w2, rw_all, m)

    # ---- QP-phonon blocks by gathers on the (N, M) partner pattern ----
    (ju, vu), (jd, vd), (jp, vp) = ((j, v.astype(dt)) for j, v in _pattern(nq, nph, m))
    r_i, a_i, f_i = rho[:, :, None], ados[:, :, None], f[:, :, None]
    nk = n[:, None, :]                       # n at phonon kk, broadcast over i
    wk = w2[None, None, 1:]                   # Omega_k^2
    rw = rw_all[:, None, 1:]                  # pair weights r_k
    fu, fd, fp = f[:, ju], f[:, jd], f[:, jp]
    ku = (r_i * rho[:, ju] - a_i * ados[:, ju]) * vu   # scattering kernel, i < j = i + k
    kd = (r_i * rho[:, jd] - a_i * ados[:, jd]) * vd   # j = i - k
    kp = rw * (r_i * rho[:, jp] + a_i * ados[:, jp]) * vp  # pair kernel, j = k - m - 1 - i
    pair = f_i * fp - (1.0 - f_i) * (1.0 - fp)
    fn = pref[:, :, None] * wk * (ku * (fu - f_i) + kd * (fd - f_i) - kp * pair)
    s = 2.0 * cph * h
    nf = s * (ku * (-fu * (1.0 + nk) - (1.0 - fu) * nk)
              + kd * ((1.0 - fd) * (1.0 + nk) + fd * nk)) \
        + 2.0 * (cph * h) * kp * (fp * (1.0 + nk) + (1.0 - fp) * nk)
    nn = np.sum(s * ku * (fu - f_i) + (cph * h) * kp * pair, axis=1)
    return ff, fn, np.ascontiguousarray(nf.transpose(0, 2, 1)), nn

r"""Exact Jacobian action of the batched collision operator, linearised in real arithmetic.

Every collision term of :func:`fvqp.collisions.batched.batched_terms` (notes Eqs. 35-40,
FFT form Eqs. 41-45) is an *outer* occupation factor times an *inner* correlation sum,

.. math::
    S^{qp}_i = s_i h\big[(1-f_i)X^{in}_i - f_iX^{out}_i + (1-f_i)X^{pb}_i - f_iX^{rec}_i\big],
    \qquad
    S^{ph}_k = c_{ph}h\big[2(1+n_k)G^{sc}_k - 2n_kL^{sc}_k + (1+n_k)G^{pr}_k - n_kL^{pr}_k\big],

where each inner sum is a correlation or convolution of two factors linear in
:math:`(f, n)` (e.g. :math:`X^{in} = (\rho f)\star(W(1+n)) + \dots`). The directional
derivative along :math:`(v, u)` is therefore, by the product rule,

.. math::
    \delta S^{qp}_i = g^f_iv_i + s_ih\big[(1-f_i)\,\delta X^{in}_i - \dots\big], \qquad
    g^f_i = -s_ih\,(X^{in}_i + X^{out}_i + X^{pb}_i + X^{rec}_i),

and likewise :math:`g^n_k = c_{ph}h(2G^{sc}_k - 2L^{sc}_k + G^{pr}_k - L^{pr}_k)` for the
phonon rows; every :math:`\delta X` is the same correlation with one factor replaced by
its (linear) perturbation, e.g. :math:`\delta(\rho f) = \rho v`,
:math:`\delta(\rho(1-f)) = -\rho v`, :math:`\delta(W(1+n)) = \delta(Wn) = Wu`. This is the
exact Jacobian action (to round-off, as the complex step of the same operator,
:func:`fvqp.collisions.batched.collision_jacobian_blocks`) at a fraction of its cost:
the outer derivatives :math:`g = (g^f, g^n)` depend on the state only and are computed
once per linearisation point (:func:`outer_derivative`; :math:`N + M` numbers per
cell), and an action then takes 4 forward transforms of the perturbation, 8 of the state
and 12 inverse ones, all real (the complex step of :mod:`.batched` takes 16 forward and
24 inverse transforms of real/imaginary pairs, :class:`fvqp.collisions.batched._Dual`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft as sfft

from .batched import _phonon_factors

__all__ = ["batched_jvp", "inner_jvp", "linearisation_spectra", "outer_derivative"]


@dataclass
class _State:
    """Spectra of the state factors of one batch of cells (module docstring)."""

    L: int
    nq: int
    r: np.ndarray      # ados / rho (0 without states)
    qs: np.ndarray     # qp_scale * (rho > 0), shape (C, 1 or N)
    RF: np.ndarray     # transforms of rho f, ados f, rho (1-f), ados (1-f)
    AF: np.ndarray
    RFF: np.ndarray
    AFF: np.ndarray
    s_in: np.ndarray   # P1r + P0 (scattering in), P0r + P1 (scattering out)
    s_out: np.ndarray
    Q1: np.ndarray     # pair factors W(1+n), W n at the pair phonon of (i, j)
    Q0: np.ndarray


def _state(f, n, rho, ados, h, m, qp_scale, pair_weight) -> _State:
    nq = f.shape[1]
    L = sfft.next_fast_len(2 * nq + 1, real=True)
    fwd = lambda x: sfft.rfft(x, n=L, axis=-1)  # noqa: E731
    has = rho > 0
    r = np.divide(ados, rho, out=np.zeros(rho.shape), where=has)
    RF, AF, RFF, AFF = (fwd(x) for x in (rho * f, ados * f, rho * (1.0 - f),
                                          ados * (1.0 - f)))
    p1, p0, q1, q0 = _phonon_factors(n, h, m, nq, pair_weight)
    P1, P0, Q1, Q0 = (fwd(x) for x in (p1, p0, q1, q0))
    qs = np.asarray(qp_scale, dtype=float).reshape(-1, 1) * has
    return _State(L, nq, r, qs, RF, AF, RFF, AFF, np.conj(P1) + P0, np.conj(P0) + P1,
                  Q1, Q0)


def _phonon_rows(nph: int, nq: int, m: int, sc: tuple, pair: tuple, pair_weight,
                 c: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Scatter the inner phonon sums (correlations of length nq, pair convolutions) onto
    the phonon nodes: scattering partners for k < N, pairs from node m on."""
    gs, ls = np.zeros((c, nph)), np.zeros((c, nph))
    gp, lp = np.zeros((c, nph)), np.zeros((c, nph))
    kmax = min(nph, nq - 1)
    gs[:, :kmax] = sc[0][:, 1:kmax + 1]
    ls[:, :kmax] = sc[1][:, 1:kmax + 1]
    ns = min(2 * nq - 1, nph - m)
    if ns > 0:
        gp[:, m:m + ns] = pair[0][:, :ns]
        lp[:, m:m + ns] = pair[1][:, :ns]
    if pair_weight is not None:
        rk = np.asarray(pair_weight, dtype=float)
        gp, lp = gp * rk, lp * rk
    return gs, ls, gp, lp


def outer_derivative(f: np.ndarray, n: np.ndarray, rho: np.ndarray, ados: np.ndarray, *,
                     h: float, m: int, qp_scale=1.0, c_ph=1.0, pair_weight=None
                     ) -> tuple[np.ndarray, np.ndarray]:
    r"""The diagonal part :math:`g^f, g^n` of the collision Jacobian that comes from the
    outer occupation factors (module docstring), shapes (C, N) and (C, M); arguments as
    for :func:`fvqp.collisions.batched.batched_terms` (real ``f``, ``n``)."""
    f, n = np.atleast_2d(f), np.atleast_2d(n)
    rho, ados = np.broadcast_to(rho, f.shape), np.broadcast_to(ados, f.shape)
    s = _state(f, n, rho, ados, h, m, qp_scale, pair_weight)
    L, nq = s.L, s.nq
    inv = lambda x, size=nq: sfft.irfft(x, n=L, axis=-1)[..., :size]  # noqa: E731
    r = s.r
    x_in = inv(s.RF * s.s_in) - r * inv(s.AF * s.s_in)
    x_out = inv(s.RFF * s.s_out) - r * inv(s.AFF * s.s_out)
    x_rec = inv(np.conj(s.RF) * s.Q1) + r * inv(np.conj(s.AF) * s.Q1)
    x_pb = inv(np.conj(s.RFF) * s.Q0) + r * inv(np.conj(s.AFF) * s.Q0)
    gf = -(s.qs * h) * (x_in + x_out + x_rec + x_pb)
    nph = n.shape[1]
    ns = max(1, min(2 * nq - 1, nph - m))
    sc = (inv(np.conj(s.RFF) * s.RF - np.conj(s.AFF) * s.AF),
          inv(np.conj(s.RF) * s.RFF - np.conj(s.AF) * s.AFF))
    pair = (inv(s.RF * s.RF + s.AF * s.AF, ns), inv(s.RFF * s.RFF + s.AFF * s.AFF, ns))
    gs, ls, gp, lp = _phonon_rows(nph, nq, m, sc, pair, pair_weight, f.shape[0])
    cph = np.asarray(c_ph, dtype=float).reshape(-1, 1)
    gn = cph * h * (2.0 * (gs - ls) + gp - lp)
    return gf, gn


def linearisation_spectra(f: np.ndarray, n: np.ndarray, rho: np.ndarray, ados: np.ndarray,
                          *, h: float, m: int, qp_scale=1.0, pair_weight=None) -> _State:
    r"""The transforms of the state factors at ``(f, n)`` (8 forward transforms; module
    docstring): pass them to :func:`batched_jvp` (``spectra``) for every direction at the
    same linearisation point, so an action transforms only the perturbation (4 forward,
    8 inverse transforms). Memory: 8 complex arrays of :math:`\lfloor L/2\rfloor + 1`
    values per cell, :math:`L \ge 2N + 1`."""
    f, n = np.atleast_2d(f), np.atleast_2d(n)
    rho, ados = np.broadcast_to(rho, f.shape), np.broadcast_to(ados, f.shape)
    return _state(f, n, rho, ados, h, m, qp_scale, pair_weight)


def batched_jvp(f: np.ndarray, n: np.ndarray, rho: np.ndarray, ados: np.ndarray,
                v: np.ndarray, u: np.ndarray, *, h: float, m: int, qp_scale=1.0, c_ph=1.0,
                pair_weight=None, outer: tuple | None = None, spectra: _State | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    r"""Exact directional derivative of the net collision rates
    (``qp``, ``ph`` of :func:`fvqp.collisions.batched.batched_terms`) at ``(f, n)`` along
    ``(v, u)``.

    The inner sums enter the QP rows only through
    :math:`(1-f_i)(\delta X^{in}+\delta X^{pb})_i - f_i(\delta X^{out}+\delta X^{rec})_i`
    and each :math:`\delta X` is :math:`\mathcal F^{-1}[\dots] - r\,\mathcal F^{-1}[\dots]`
    (:math:`r = \tilde\rho/\rho`), so by linearity of the inverse transform the QP rows
    take 4 inverse transforms (sums of spectra) and the phonon rows 4: 8 in all, done in
    one batched call, with 4 forward transforms of the perturbation (also one call).

    Parameters
    ----------
    f, rho, ados, v : ndarray, shape (C, N)
    n, u : ndarray, shape (C, M)
    h, m, qp_scale, c_ph, pair_weight
        As for :func:`fvqp.collisions.batched.batched_terms`.
    outer : tuple of ndarray, optional
        :func:`outer_derivative` at ``(f, n)`` (computed here if None): pass it when the
        same state is linearised for many directions (Krylov iterations).
    spectra : optional
        :func:`linearisation_spectra` at ``(f, n)`` (computed here if None).

    Returns
    -------
    dqp, dph : ndarray, shapes (C, N), (C, M)
    """
    f, n = np.atleast_2d(f), np.atleast_2d(n)
    rho, ados = np.broadcast_to(rho, f.shape), np.broadcast_to(ados, f.shape)
    if outer is None:
        outer = outer_derivative(f, n, rho, ados, h=h, m=m, qp_scale=qp_scale, c_ph=c_ph,
                                 pair_weight=pair_weight)
    s = spectra if spectra is not None else _state(f, n, rho, ados, h, m, qp_scale,
                                                   pair_weight)
    d_in_pb, d_out_rec, gs, ls, gp, lp = inner_jvp(s, rho, ados, v, u, h=h, m=m,
                                                   nph=n.shape[1], pair_weight=pair_weight)
    qh = s.qs * h
    dqp = outer[0] * v + qh * ((1.0 - f) * d_in_pb - f * d_out_rec)
    cph = np.asarray(c_ph, dtype=float).reshape(-1, 1)
    dph = outer[1] * u + cph * h * (2.0 * ((1.0 + n) * gs - n * ls)
                                    + (1.0 + n) * gp - n * lp)
    return dqp, dph


def inner_jvp(s: _State, rho: np.ndarray, ados: np.ndarray, v: np.ndarray, u: np.ndarray,
              *, h: float, m: int, nph: int, pair_weight=None) -> tuple[np.ndarray, ...]:
    r"""Directional derivatives of the inner sums along ``(v, u)`` at the state of the
    spectra ``s`` (:func:`linearisation_spectra`): the derivatives of the *rates* without
    the outer occupation factors (module docstring).

    Returns
    -------
    d_in_pb, d_out_rec : ndarray, shape (C, N)
        :math:`\delta(X^{in} + X^{pb})`, :math:`\delta(X^{out} + X^{rec})` (QP rates per
        unit :math:`q_sh`, :math:`q_s` = ``qp_scale`` where :math:`\rho > 0`, else 0).
    gs, ls, gp, lp : ndarray, shape (C, M), or None
        :math:`\delta G^{sc}, \delta L^{sc}, \delta G^{pr}, \delta L^{pr}` on the phonon
        nodes (phonon rates per unit :math:`c_{ph}h`); None for ``u = None`` (phonons
        held at the bath: no phonon perturbation and no phonon rows, 2 forward and 4
        inverse transforms instead of 4 and 8).
    """
    L, nq = s.L, s.nq
    c = v.shape[0]
    if u is None:
        spec = _qp_perturbation(s, rho, ados, v, L)
    else:
        spec = _full_perturbation(s, rho, ados, v, u, h, m, nq, L, pair_weight)
    x = sfft.irfft(spec, n=L, axis=-1)
    del spec
    r = s.r
    d_in_pb = x[0, :, :nq] - r * x[1, :, :nq]
    d_out_rec = x[2, :, :nq] - r * x[3, :, :nq]
    if u is None:
        return d_in_pb, d_out_rec, None, None, None, None
    ns = max(1, min(2 * nq - 1, nph - m))
    gs, ls, gp, lp = _phonon_rows(nph, nq, m, (x[4, :, :nq], x[5, :, :nq]),
                                  (x[6, :, :ns], x[7, :, :ns]), pair_weight, c)
    return d_in_pb, d_out_rec, gs, ls, gp, lp


def _full_perturbation(s, rho, ados, v, u, h, m, nq, L, pair_weight) -> np.ndarray:
    """Spectra of the 8 inner sums' derivatives along a QP and phonon perturbation."""
    c = v.shape[0]
    _, dp, _, dq = _phonon_factors(u, h, m, nq, pair_weight)  # W u: d p1 = d p0, d q1 = d q0
    # the 4 forward transforms of the perturbation in one call
    pert = np.zeros((4, c, max(nq, dq.shape[1])))
    pert[0, :, :nq] = rho * v
    pert[1, :, :nq] = ados * v
    pert[2, :, :dp.shape[1]] = dp
    pert[3, :, :dq.shape[1]] = dq
    dRF, dAF, dP, dQ = sfft.rfft(pert, n=L, axis=-1)
    del pert
    dS = np.conj(dP) + dP  # d s_in = d s_out
    cRF, cAF, cRFF, cAFF = (np.conj(x) for x in (s.RF, s.AF, s.RFF, s.AFF))
    cdRF, cdAF = np.conj(dRF), np.conj(dAF)
    # spectra of the 8 inner sums (module docstring; d(rho (1-f)) = -dRF), one inverse call
    spec = np.empty((8, c, L // 2 + 1), dtype=complex)
    spec[0] = dRF * s.s_in + s.RF * dS + cRFF * dQ - cdRF * s.Q0    # in + pb, rho part
    spec[1] = dAF * s.s_in + s.AF * dS - cAFF * dQ + cdAF * s.Q0    # in + pb, -r part
    spec[2] = s.RFF * dS - dRF * s.s_out + cdRF * s.Q1 + cRF * dQ   # out + rec, rho part
    spec[3] = s.AFF * dS - dAF * s.s_out - cdAF * s.Q1 - cAF * dQ   # out + rec, -r part
    spec[4] = cRFF * dRF - cdRF * s.RF - cAFF * dAF + cdAF * s.AF   # scattering gain
    spec[5] = cdRF * s.RFF - cRF * dRF - cdAF * s.AFF + cAF * dAF   # scattering loss
    spec[6] = 2.0 * (s.RF * dRF + s.AF * dAF)                       # pair gain
    spec[7] = -2.0 * (s.RFF * dRF + s.AFF * dAF)                    # pair loss
    del cRF, cAF, cRFF, cAFF, cdRF, cdAF, dRF, dAF, dP, dQ, dS
    return spec


def _qp_perturbation(s, rho, ados, v, L) -> np.ndarray:
    """The QP sums' spectra (the first 4) with the phonons held (bath): 2 forward
    transforms, the terms of the phonon perturbation dropped."""
    c = v.shape[0]
    pert = np.empty((2, c, v.shape[1]))
    np.multiply(rho, v, out=pert[0])
    np.multiply(ados, v, out=pert[1])
    dRF, dAF = sfft.rfft(pert, n=L, axis=-1)
    cdRF, cdAF = np.conj(dRF), np.conj(dAF)
    spec = np.empty((4, c, L // 2 + 1), dtype=complex)
    spec[0] = dRF * s.s_in - cdRF * s.Q0
    spec[1] = dAF * s.s_in + cdAF * s.Q0
    spec[2] = cdRF * s.Q1 - dRF * s.s_out
    spec[3] = -(dAF * s.s_out + cdAF * s.Q1)
    return spec

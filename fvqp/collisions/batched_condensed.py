r"""The QP rows of the collision Jacobian action with the phonons condensed out, in the
transforms of one action (:mod:`fvqp.models.transport.condensed`).

With the phonon block of the Newton matrix diagonal (:mod:`.batched_jvp`: every phonon
term is an outer factor :math:`n_k` or :math:`1 + n_k` times a sum over QP states), the
condensed direction of a QP perturbation :math:`v` is :math:`w = \gamma\odot\delta
S^{ph}(v, 0)` with a per-mode gain :math:`\gamma` (for the transport model
:math:`\gamma = m^n/D`, zero for phonons held at the bath), and the QP rows wanted are
:math:`\delta S^{qp}(v, w)`. The phonon rows of :math:`\delta S(v, 0)` need only the
transforms of :math:`\rho v, \tilde\rho v` (spectra 4-7 of
:func:`fvqp.collisions.batched_jvp.inner_jvp`), and the QP rows of :math:`(v, w)` those
and the transforms of the pair factors of :math:`w` (spectra 0-3): 4 forward and 8
inverse transforms in all, as one action of the whole state
(:func:`fvqp.collisions.batched_jvp.batched_jvp`), instead of two actions.
"""

from __future__ import annotations

import numpy as np
import scipy.fft as sfft

from .batched import _pair_weight_padded
from .batched_jvp import _phonon_rows

__all__ = ["condensed_qp_jvp"]


def condensed_qp_jvp(s, f: np.ndarray, n: np.ndarray, rho: np.ndarray, ados: np.ndarray,
                     v: np.ndarray, gain: np.ndarray, outer_f: np.ndarray, *, h: float,
                     m: int, c_ph=1.0, pair_weight=None, w0: np.ndarray | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
    r""":math:`\delta S^{qp}(v, w)` and :math:`w = \gamma\odot\delta S^{ph}(v, 0) + w_0` at
    the state of the spectra ``s`` (module docstring).

    Parameters
    ----------
    s
        :func:`fvqp.collisions.batched_jvp.linearisation_spectra` at ``(f, n)``.
    f, rho, ados, v : ndarray, shape (C, N)
    n, gain : ndarray, shape (C, M)
        The phonon state and the gain :math:`\gamma`.
    outer_f : ndarray, shape (C, N)
        The QP outer derivatives :math:`g^f`
        (:func:`fvqp.collisions.batched_jvp.outer_derivative`).
    h, m, c_ph, pair_weight
        As for :func:`fvqp.collisions.batched.batched_terms`.
    w0 : ndarray, shape (C, M), optional
        A phonon direction added to :math:`w` (e.g. :math:`D^{-1}r_n` of the condensed
        right-hand side, with ``v = 0``).

    Returns
    -------
    dqp : ndarray, shape (C, N)
    w : ndarray, shape (C, M)
    """
    L, nq = s.L, s.nq
    c, nph = v.shape[0], n.shape[1]
    pert = np.empty((2, c, nq))
    np.multiply(rho, v, out=pert[0])
    np.multiply(ados, v, out=pert[1])
    dRF, dAF = sfft.rfft(pert, n=L, axis=-1)
    del pert
    cdRF, cdAF = np.conj(dRF), np.conj(dAF)
    # phonon rows of (v, 0): the scattering and pair sums (spectra 4-7 of inner_jvp)
    spec = np.empty((4, c, L // 2 + 1), dtype=complex)
    spec[0] = np.conj(s.RFF) * dRF - cdRF * s.RF - np.conj(s.AFF) * dAF + cdAF * s.AF
    spec[1] = cdRF * s.RFF - np.conj(s.RF) * dRF - cdAF * s.AFF + np.conj(s.AF) * dAF
    spec[2] = 2.0 * (s.RF * dRF + s.AF * dAF)
    spec[3] = -2.0 * (s.RFF * dRF + s.AFF * dAF)
    x = sfft.irfft(spec, n=L, axis=-1)
    ns = max(1, min(2 * nq - 1, nph - m))
    gs, ls, gp, lp = _phonon_rows(nph, nq, m, (x[0, :, :nq], x[1, :, :nq]),
                                  (x[2, :, :ns], x[3, :, :ns]), pair_weight, c)
    del x
    cph = np.asarray(c_ph, dtype=float).reshape(-1, 1)
    w = cph * h * (2.0 * ((1.0 + n) * gs - n * ls) + (1.0 + n) * gp - n * lp)
    w *= gain
    if w0 is not None:
        w += w0
    # QP rows of (v, w) (spectra 0-3 of inner_jvp)
    dp, dq = _direction_factors(w, h, m, nq, pair_weight)
    pert = np.zeros((2, c, max(nq, dq.shape[1])))
    pert[0, :, :dp.shape[1]] = dp
    pert[1, :, :dq.shape[1]] = dq
    dP, dQ = sfft.rfft(pert, n=L, axis=-1)
    del pert
    dS = np.conj(dP) + dP
    spec[0] = dRF * s.s_in + s.RF * dS + np.conj(s.RFF) * dQ - cdRF * s.Q0
    spec[1] = dAF * s.s_in + s.AF * dS - np.conj(s.AFF) * dQ + cdAF * s.Q0
    spec[2] = s.RFF * dS - dRF * s.s_out + cdRF * s.Q1 + np.conj(s.RF) * dQ
    spec[3] = s.AFF * dS - dAF * s.s_out - cdAF * s.Q1 - np.conj(s.AF) * dQ
    x = sfft.irfft(spec, n=L, axis=-1)
    del spec
    r = s.r
    d_in_pb = x[0, :, :nq] - r * x[1, :, :nq]
    d_out_rec = x[2, :, :nq] - r * x[3, :, :nq]
    dqp = outer_f * v + (s.qs * h) * ((1.0 - f) * d_in_pb - f * d_out_rec)
    return dqp, w


def _direction_factors(u: np.ndarray, h: float, m: int, nq: int, pair_weight=None
                       ) -> tuple[np.ndarray, np.ndarray]:
    """The perturbations of the phonon factors along a phonon direction ``u``: ``W u``
    on k = 0..N-1 and the pair array ``r W u`` (the ``p0``, ``q0`` of
    :func:`fvqp.collisions.batched._phonon_factors` of ``u``, without the other two)."""
    c, M = u.shape
    size = max(nq, 2 * nq - 1 + m + 1)
    top = min(M, size)
    wu = np.zeros((c, size + 1))
    wu[:, 1:top + 1] = u[:, :top] * (h * np.arange(1, top + 1)) ** 2
    s = slice(m + 1, m + 2 * nq)
    r = _pair_weight_padded(pair_weight, c, M, size)
    return wu[:, :nq], r[:, s] * wu[:, s]

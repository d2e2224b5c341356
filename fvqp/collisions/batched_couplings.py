r"""The QP-phonon coupling blocks of the batched collision Jacobian, applied by FFTs.

The blocks :math:`\partial S_{qp}/\partial n` (N x M) and :math:`\partial S_{ph}/\partial f`
(M x N) of every cell are the parts of the exact action
(:func:`fvqp.collisions.batched_jvp.batched_jvp`, notes Eqs. 35-45) along a phonon
direction :math:`(0, u)` and a QP direction :math:`(v, 0)`. Neither needs the outer
derivatives (they sit on the diagonal of the QP-QP and phonon-phonon blocks), and both
need only the transforms of the four state factors :math:`\rho f, \tilde\rho f,
\rho(1-f), \tilde\rho(1-f)` (:math:`\tilde\rho` the anomalous DOS):

.. math::
    \Big(\frac{\partial S^{qp}}{\partial n}u\Big)_i = s_ih\big[(1-f_i)(\delta X^{in}+\delta
    X^{pb})_i - f_i(\delta X^{out}+\delta X^{rec})_i\big]_{v=0},

with :math:`\delta X = \mathcal F^{-1}[\dots]-r\,\mathcal F^{-1}[\dots]` as in
:func:`~fvqp.collisions.batched_jvp.batched_jvp`: 2 forward transforms of the
perturbation and 4 inverse ones per product, against :math:`NM` stored values per block
and cell. :class:`CouplingSpectra` keeps the four state spectra of a set of cells
(:math:`4(\lfloor L/2\rfloor + 1)` complex values per cell, :math:`L \ge 2N+1`; in
``complex64`` for a single-precision preconditioner: 2.2 KB per cell at N = 66 against
67 KB for the two blocks in ``float32``).
"""

from __future__ import annotations

import numpy as np
import scipy.fft as sfft

from .batched import _phonon_factors
from .batched_jvp import _phonon_rows

__all__ = ["CouplingSpectra"]


class CouplingSpectra:
    r"""Transforms of the state factors of ``n`` cells, kept to apply the coupling blocks.

    Parameters
    ----------
    n_cells, nq : int
        Cells and QP bins.
    h : float
        Bin width (phonon node spacing).
    m : int
        Pair offset (:class:`fvqp.collisions.batched.batched_terms`).
    dtype : numpy dtype
        ``float32`` (transforms in single precision, spectra ``complex64``) or
        ``float64``.
    """

    def __init__(self, n_cells: int, nq: int, *, h: float, m: int, dtype=np.float32):
        self.nq, self.h, self.m = nq, h, m
        self.dtype = np.dtype(dtype)
        self.L = sfft.next_fast_len(2 * nq + 1, real=True)
        cdt = np.result_type(self.dtype, np.complex64)
        #: rho f, ados f, rho (1-f), ados (1-f) transformed, per cell (n, 4, L/2 + 1)
        self.spec = np.empty((n_cells, 4, self.L // 2 + 1), dtype=cdt)

    def set(self, sl: slice, f: np.ndarray, rho: np.ndarray, ados: np.ndarray) -> None:
        """The spectra of the cells ``sl`` at the QP occupations ``f`` (C, N)."""
        dt = self.dtype
        x = np.stack([rho * f, ados * f, rho * (1.0 - f), ados * (1.0 - f)], axis=1)
        self.spec[sl] = sfft.rfft(x.astype(dt), n=self.L, axis=-1)

    def qp_from_phonons(self, sl: slice, f: np.ndarray, rho: np.ndarray, ados: np.ndarray,
                        u: np.ndarray, qp_scale=1.0) -> np.ndarray:
        r""":math:`(\partial S^{qp}/\partial n)\,u` of the cells ``sl`` (state ``f`` as
        set); ``u`` (C, M). Returns (C, N) in :attr:`dtype`."""
        dt, nq, L = self.dtype, self.nq, self.L
        _, dp, _, dq = _phonon_factors(u.astype(dt), self.h, self.m, nq)
        pert = np.zeros((2, len(u), dq.shape[1]), dt)
        pert[0, :, :dp.shape[1]] = dp
        pert[1] = dq
        dP, dQ = sfft.rfft(pert, n=L, axis=-1)
        dS = 2.0 * dP.real  # conj(dP) + dP
        RF, AF, RFF, AFF = (self.spec[sl, k] for k in range(4))
        spec = np.empty((4, len(u), L // 2 + 1), dtype=self.spec.dtype)
        spec[0] = RF * dS + np.conj(RFF) * dQ     # in + pb, rho part
        spec[1] = AF * dS - np.conj(AFF) * dQ     # in + pb, -r part
        spec[2] = RFF * dS + np.conj(RF) * dQ     # out + rec, rho part
        spec[3] = AFF * dS - np.conj(AF) * dQ     # out + rec, -r part
        x = sfft.irfft(spec, n=L, axis=-1)[..., :nq]
        has = rho > 0
        r = np.divide(ados, rho, out=np.zeros(rho.shape), where=has).astype(dt)
        qh = (np.asarray(qp_scale, dtype=float).reshape(-1, 1) * has * self.h).astype(dt)
        f = f.astype(dt)
        return qh * ((1.0 - f) * (x[0] - r * x[1]) - f * (x[2] - r * x[3]))

    def phonons_from_qp(self, sl: slice, n: np.ndarray, rho: np.ndarray, ados: np.ndarray,
                        v: np.ndarray, c_ph=1.0) -> np.ndarray:
        r""":math:`(\partial S^{ph}/\partial f)\,v` of the cells ``sl`` (state spectra as
        set, phonon occupations ``n`` (C, M)); ``v`` (C, N). Returns (C, M)."""
        dt, nq, L = self.dtype, self.nq, self.L
        c, nph = n.shape
        dRF, dAF = sfft.rfft(np.stack([rho * v, ados * v]).astype(dt), n=L, axis=-1)
        cdRF, cdAF = np.conj(dRF), np.conj(dAF)
        RF, AF, RFF, AFF = (self.spec[sl, k] for k in range(4))
        spec = np.empty((4, c, L // 2 + 1), dtype=self.spec.dtype)
        spec[0] = np.conj(RFF) * dRF - cdRF * RF - np.conj(AFF) * dAF + cdAF * AF
        spec[1] = cdRF * RFF - np.conj(RF) * dRF - cdAF * AFF + np.conj(AF) * dAF
        spec[2] = 2.0 * (RF * dRF + AF * dAF)
        spec[3] = -2.0 * (RFF * dRF + AFF * dAF)
        x = sfft.irfft(spec, n=L, axis=-1)
        ns = max(1, min(2 * nq - 1, nph - self.m))
        gs, ls, gp, lp = _phonon_rows(nph, nq, self.m, (x[0, :, :nq], x[1, :, :nq]),
                                      (x[2, :, :ns], x[3, :, :ns]), None, c)
        n = n.astype(dt)
        cph = np.asarray(c_ph, dtype=float).reshape(-1, 1).astype(dt)
        return cph * self.h * (2.0 * ((1.0 + n) * gs - n * ls) + (1.0 + n) * gp - n * lp)

r"""The discrete collision operator for many cells at once (spatial models).

Same discrete operator as :mod:`fvqp.collisions.direct` / :mod:`fvqp.collisions.fft`
(notes Eqs. 35-40, FFT form Eqs. 41-45), evaluated for a batch of ``C`` cells that share
the energy *nodes* but each have their own density of states, occupations and material
prefactors:

* arrays ``f, rho, ados`` of shape ``(C, N)`` on the QP nodes
  :math:`E_i = (m/2 + i + 1/2)h` and ``n`` of shape ``(C, M)`` on the phonon nodes
  :math:`\Omega_k = kh`; the kinematics :math:`E_i + \Omega_k = E_{i+k}`,
  :math:`E_i + E_j = \Omega_{i+j+m+1}` hold for any ``m`` (here ``m = 2 j_0`` with
  :math:`E_{lo} = j_0 h` the lower edge of the first QP cell, which may lie *below* a
  cell's gap: bins without states have ``rho = ados = 0`` and give zero QP terms);
* per-cell prefactors: the QP terms are multiplied by ``qp_scale`` (``1`` in the
  material's own units :math:`k_BT_c, \tau_0`; :math:`(\tau_{ref}/\tau_0)
  (T_{c,ref}/T_c)^3` in reference units) and the phonon terms use ``c_ph`` per cell
  (:math:`c_{ph} = \tau_{ref}/(\pi\Delta_0\tau_0^\phi)` with :math:`\Delta_0` in
  reference energy units).  The conserved energy per cell is then
  :math:`\sum_i h\bar\rho_iE_if_i + \beta\sum_k h\Omega_k^3 n_k` with
  :math:`\beta = \text{qp\_scale}/(2c_{ph})` (the 0D identity of
  :mod:`fvqp.collisions.kernels` scaled by ``qp_scale``).

Every double sum is a discrete correlation or convolution; correlations are written as
convolutions with index-reversed arrays (:math:`(a\star b)_i = \sum_k a_kb_{i+k} =
(\tilde a * b)_i`, :math:`\tilde a_{L-k} = a_k`), so the evaluation is *analytic* in
``(f, n)`` and complex-step differentiation through it is exact
(:func:`collision_jacobian_blocks`).  The transform length is ``L >= 2N``; no circular
wrap-around reaches an output (module :mod:`fvqp.collisions.fft` explains the terms).
"""

from __future__ import annotations

import numpy as np
import scipy.fft as sfft

from .kernels import CollisionTerms

__all__ = ["BatchedTerms", "batched_jacobian", "batched_terms", "collision_jacobian_blocks"]


#: Gain/loss terms of a batch of cells: the 0D container with 2D arrays, QP arrays of shape
#: ``(C, N)`` and phonon arrays ``(C, M)`` (rates in the reference time unit).
BatchedTerms = CollisionTerms


class _Dual:
    """Spectrum of a complex-step input: transforms of the real and imaginary parts kept
    apart, so FFT round-off of the (large) real part never leaks into the (tiny)
    imaginary part -- complex-step derivatives stay exact to round-off."""

    __slots__ = ("im", "re")

    def __init__(self, re: np.ndarray, im: np.ndarray):
        self.re, self.im = re, im

    def __add__(self, o: _Dual) -> _Dual:
        return _Dual(self.re + o.re, self.im + o.im)

    def __sub__(self, o: _Dual) -> _Dual:
        return _Dual(self.re - o.re, self.im - o.im)

    def __mul__(self, o: _Dual) -> _Dual:
        return _Dual(self.re * o.re - self.im * o.im, self.re * o.im + self.im * o.re)

    def conj(self) -> _Dual:
        return _Dual(np.conj(self.re), np.conj(self.im))


class _Transforms:
    """Zero-padded real transforms of one length; :class:`_Dual` for complex input."""

    def __init__(self, length: int, complex_: bool):
        self.L, self.cplx = length, complex_

    def fwd(self, x: np.ndarray):
        if self.cplx:
            return _Dual(sfft.rfft(x.real, n=self.L, axis=-1),
                         sfft.rfft(x.imag, n=self.L, axis=-1))
        return sfft.rfft(x, n=self.L, axis=-1)

    @staticmethod
    def rev(spec):
        """Transform of the index-reversed array :math:`\\tilde x_{(L-k) \\bmod L} = x_k`
        (for real data, reversal is conjugation of the spectrum)."""
        return spec.conj() if isinstance(spec, _Dual) else np.conj(spec)

    def inv(self, spec, size: int) -> np.ndarray:
        if isinstance(spec, _Dual):
            return (sfft.irfft(spec.re, n=self.L, axis=-1)[..., :size]
                    + 1j * sfft.irfft(spec.im, n=self.L, axis=-1)[..., :size])
        return sfft.irfft(spec, n=self.L, axis=-1)[..., :size]


def _pair_weight_padded(pair_weight, c: int, M: int, size: int) -> np.ndarray:
    """Pair-kernel factors :math:`r_k` (``None``: ones) on ``k = 0..size``, shape (C or 1,
    size + 1)."""
    out = np.ones((c if pair_weight is not None and np.ndim(pair_weight) == 2 else 1,
                   size + 1))
    if pair_weight is not None:
        r = np.atleast_2d(np.asarray(pair_weight, dtype=float))
        if r.shape[-1] != M:
            raise ValueError(f"pair_weight must have {M} entries per cell, got {r.shape}")
        top = min(M, size)
        out[:, 1:top + 1] = r[:, :top]
    return out


def _phonon_factors(n: np.ndarray, h: float, m: int, nq: int, pair_weight=None
                    ) -> tuple[np.ndarray, ...]:
    """``p1 = W(1+n), p0 = W n`` (index k = 0..N-1) and the pair arrays ``q1, q0``
    (``q_s = r_{s+m+1} p_{s+m+1}``, s = 0..2N-2), with :math:`W = \\Omega_k^2` and the
    pair-kernel factors ``r`` (``pair_weight``, default ones)."""
    c, M = n.shape
    size = max(nq, 2 * nq - 1 + m + 1)
    npad = np.zeros((c, size + 1), dtype=n.dtype)
    top = min(M, size)
    npad[:, 1:top + 1] = n[:, :top]
    w2 = (h * np.arange(size + 1)) ** 2
    valid = np.zeros(size + 1)
    valid[1:M + 1] = 1.0
    p1 = w2 * valid * (1.0 + npad)
    p0 = w2 * valid * npad
    r = _pair_weight_padded(pair_weight, c, M, size)
    s = slice(m + 1, m + 2 * nq)
    return p1[:, :nq], p0[:, :nq], (r * p1)[:, s], (r * p0)[:, s]


def batched_terms(f: np.ndarray, n: np.ndarray, rho: np.ndarray, ados: np.ndarray, *,
                  h: float, m: int, qp_scale=1.0, c_ph=1.0, pair_weight=None,
                  outer: bool = False):
    r"""Gain/loss terms of the collision integrals of ``C`` cells.

    Parameters
    ----------
    f, rho, ados : ndarray, shape (C, N)
        QP occupation and cell-averaged normal/anomalous DOS (zero in bins without
        states).  ``f`` and ``n`` may be complex (complex-step differentiation).
    n : ndarray, shape (C, M)
        Phonon occupation at :math:`\Omega_k = kh`, ``k = 1..M``.
    h : float
        Energy spacing.
    m : int
        Pair-kinematics offset: :math:`E_i + E_j = \Omega_{i+j+m+1}`.
    qp_scale, c_ph : float or ndarray, shape (C,)
        Per-cell prefactors of the QP and phonon terms (module docstring).
    pair_weight : ndarray, shape (M,) or (C, M), optional
        Factor :math:`r_k` of the pair kernel at phonon node ``k`` (default ones).  An
        :class:`~fvqp.collisions.EnergyGrid` in the vertex layout is reproduced with
        ``m = grid.pair_offset - 1`` and ``pair_weight = grid.pair_weight``.

    outer : bool
        Also return the outer-factor derivatives ``(g_f, g_n)`` of the net rates
        (:func:`fvqp.collisions.batched_jvp.outer_derivative`, from the inner sums computed
        here anyway).

    Returns
    -------
    BatchedTerms, or (BatchedTerms, (g_f, g_n)) with ``outer``
    """
    f, n = np.atleast_2d(f), np.atleast_2d(n)
    rho, ados = np.broadcast_to(rho, f.shape), np.broadcast_to(ados, f.shape)
    nq = f.shape[1]
    nph = n.shape[1]
    cplx = np.iscomplexobj(f) or np.iscomplexobj(n)
    tr = _Transforms(sfft.next_fast_len(2 * nq + 1, real=True), cplx)
    has = rho > 0
    r = np.divide(ados, rho, out=np.zeros(rho.shape), where=has)
    rf, af, rF, aF = rho * f, ados * f, rho * (1.0 - f), ados * (1.0 - f)
    RF, AF, RFF, AFF = (tr.fwd(x) for x in (rf, af, rF, aF))
    RFr, AFr = tr.rev(RF), tr.rev(AF)
    RFFr, AFFr = tr.rev(RFF), tr.rev(AFF)
    p1, p0, q1, q0 = _phonon_factors(n, h, m, nq, pair_weight)
    P1, P0 = tr.fwd(p1), tr.fwd(p0)
    P1r, P0r = tr.rev(P1), tr.rev(P0)
    Q1, Q0 = tr.fwd(q1), tr.fwd(q0)
    inv = tr.inv
    qs = np.asarray(qp_scale, dtype=float).reshape(-1, 1) * has
    s_in = P1r + P0
    s_out = P0r + P1
    x_in = inv(RF * s_in, nq) - r * inv(AF * s_in, nq)
    x_out = inv(RFF * s_out, nq) - r * inv(AFF * s_out, nq)
    x_rec = inv(RFr * Q1, nq) + r * inv(AFr * Q1, nq)
    x_pb = inv(RFFr * Q0, nq) + r * inv(AFFr * Q0, nq)
    sc_in = h * (1.0 - f) * x_in
    sc_out = h * f * x_out
    rec = h * f * x_rec
    pb = h * (1.0 - f) * x_pb
    cph = np.asarray(c_ph, dtype=float).reshape(-1, 1)
    kmax = min(nph, nq - 1)  # scattering partners exist only for k < N
    ph_sc_gain = np.zeros(n.shape, dtype=np.result_type(f, n))
    ph_sc_loss = np.zeros_like(ph_sc_gain)
    corr_in = inv(RFFr * RF - AFFr * AF, nq)  # sum_i rF_i rf_{i+k} - aF_i af_{i+k}
    corr_out = inv(RFr * RFF - AFr * AFF, nq)
    ph_sc_gain[:, :kmax] = corr_in[:, 1:kmax + 1]
    ph_sc_loss[:, :kmax] = corr_out[:, 1:kmax + 1]
    ph_pair_gain = np.zeros_like(ph_sc_gain)
    ph_pair_loss = np.zeros_like(ph_sc_gain)
    lo = m  # k - m - 1 = s  ->  phonon index (k - 1) = s + m
    ns = min(2 * nq - 1, nph - lo)
    if ns > 0:
        conv_rec = inv(RF * RF + AF * AF, ns)
        conv_pb = inv(RFF * RFF + AFF * AFF, ns)
        ph_pair_gain[:, lo:lo + ns] = conv_rec
        ph_pair_loss[:, lo:lo + ns] = conv_pb
    if pair_weight is not None:
        rk = np.asarray(pair_weight, dtype=float)
        ph_pair_gain = ph_pair_gain * rk
        ph_pair_loss = ph_pair_loss * rk
    # no clipping of round-off negatives: the QP terms are not clipped either, and the
    # phonon terms must mirror them exactly for energy conservation (also when an
    # occupation undershoots zero slightly, e.g. in BDF2 steps)
    terms = BatchedTerms(
        qp_sc_in=qs * sc_in, qp_sc_out=qs * sc_out, qp_rec=qs * rec, qp_pb=qs * pb,
        ph_sc_in=2.0 * cph * h * (1.0 + n) * ph_sc_gain,
        ph_sc_out=2.0 * cph * h * n * ph_sc_loss,
        ph_rec=cph * h * (1.0 + n) * ph_pair_gain,
        ph_pb=cph * h * n * ph_pair_loss,
    )
    if not outer:
        return terms
    g_f = -(qs * h) * (x_in + x_out + x_rec + x_pb)
    g_n = cph * h * (2.0 * (ph_sc_gain - ph_sc_loss) + ph_pair_gain - ph_pair_loss)
    return terms, (g_f, g_n)


def collision_jacobian_blocks(f: np.ndarray, n: np.ndarray, rate, step: float = 1e-30
                              ) -> np.ndarray:
    r"""Dense per-cell Jacobians of ``rate(f, n) -> (dfdt, dndt)`` by complex step.

    Cells are independent, so perturbing unknown ``j`` of *every* cell at once gives
    column ``j`` of all the per-cell blocks in one batched evaluation:
    :math:`J_{:,j} = \operatorname{Im} R(y + i\epsilon e_j)/\epsilon`, exact to
    round-off (no subtractive cancellation).  ``rate`` must be analytic in ``(f, n)``.

    Returns
    -------
    ndarray, shape (C, N + M, N + M)
        Rows/columns ordered ``(f, n)``.
    """
    c, nq = f.shape
    nph = n.shape[1]
    k = nq + nph
    jac = np.empty((c, k, k))
    fc = f.astype(complex)
    nc = n.astype(complex)
    for j in range(k):
        if j < nq:
            fc[:, j] += 1j * step
        else:
            nc[:, j - nq] += 1j * step
        df, dn = rate(fc, nc)
        jac[:, :nq, j] = df.imag / step
        jac[:, nq:, j] = dn.imag / step
        if j < nq:
            fc[:, j] = f[:, j]
        else:
            nc[:, j - nq] = n[:, j - nq]
    return jac


def _bincount_blocks(c: int, shape: tuple[int, int], rows: np.ndarray, cols: np.ndarray,
                     vals: np.ndarray) -> np.ndarray:
    """Per-cell dense matrices with ``vals[c, p]`` summed into ``(rows[p], cols[p])``."""
    size = shape[0] * shape[1]
    idx = (np.arange(c)[:, None] * size + (rows * shape[1] + cols)[None, :]).ravel()
    return np.bincount(idx, weights=vals.ravel(), minlength=c * size).reshape((c,) + shape)


def batched_jacobian(f: np.ndarray, n: np.ndarray, rho: np.ndarray, ados: np.ndarray, *,
                     h: float, m: int, qp_scale=1.0, c_ph=1.0, pair_weight=None
                     ) -> np.ndarray:
    r"""Exact dense Jacobians of :func:`batched_terms` (``qp``, ``ph``) for every cell.

    The formulas of :mod:`fvqp.collisions.jacobian` evaluated for a batch of cells with
    per-cell DOS and prefactors (``O(C N (N + M))`` work, no FFT); arguments as for
    :func:`batched_terms` (including ``pair_weight``).

    Returns
    -------
    ndarray, shape (C, N + M, N + M)
        Rows/columns ordered ``(f, n)``.
    """
    C, nq = f.shape
    nph = n.shape[1]
    w2 = (h * np.arange(nph + 1)) ** 2
    npad = np.concatenate([np.zeros((C, 1)), n], axis=1)
    has = rho > 0
    pref = np.divide(h, rho, out=np.zeros(rho.shape), where=has)
    pref *= np.asarray(qp_scale, dtype=float).reshape(-1, 1)
    cph = np.asarray(c_ph, dtype=float).reshape(-1, 1)
    ii, jj = np.meshgrid(np.arange(nq), np.arange(nq), indexing="ij")
    fi, fj = f[:, :, None], f[:, None, :]
    diag = np.arange(nq)
    ff = np.zeros((C, nq, nq))
    fn = np.zeros((C, nq, nph))
    nf = np.zeros((C, nph, nq))
    nn = np.zeros((C, nph))
    rr = rho[:, :, None] * rho[:, None, :]
    aa = ados[:, :, None] * ados[:, None, :]
    pi = pref[:, :, None]

    # scattering
    k = np.abs(jj - ii)
    valid = (k >= 1) & (k <= nph)
    kc = np.where(valid, k, 0)
    kern = np.where(valid, rr - aa, 0.0)
    w = w2[kc] * kern
    nk = npad[:, kc]
    up = jj > ii
    p_in = np.where(up, 1.0 + nk, nk)
    p_out = np.where(up, nk, 1.0 + nk)
    ff += pi * w * ((1.0 - fi) * p_in + fi * p_out)
    ff[:, diag, diag] -= pref * np.sum(w * (fj * p_in + (1.0 - fj) * p_out), axis=2)
    sel = valid.ravel()
    vals = (pi * w * (fj - fi)).reshape(C, -1)[:, sel]
    fn += _bincount_blocks(C, (nq, nph), ii.ravel()[sel], kc.ravel()[sel] - 1, vals)
    sel = (valid & up).ravel()
    kk, i_, j_ = kc.ravel()[sel] - 1, ii.ravel()[sel], jj.ravel()[sel]
    kij = kern.reshape(C, -1)[:, sel]
    nkk = nk.reshape(C, -1)[:, sel]
    f_i, f_j = f[:, i_], f[:, j_]
    s = 2.0 * cph * h
    nf += _bincount_blocks(C, (nph, nq), kk, i_, s * kij * (-f_j * (1.0 + nkk)
                                                              - (1.0 - f_j) * nkk))
    nf += _bincount_blocks(C, (nph, nq), kk, j_, s * kij * ((1.0 - f_i) * (1.0 + nkk)
                                                              + f_i * nkk))
    nn += _bincount_blocks(C, (1, nph), np.zeros_like(kk), kk, s * kij * (f_j - f_i))[:, 0]

    # pair processes
    k = ii + jj + m + 1
    valid = k <= nph
    kc = np.where(valid, k, 0)
    rw = _pair_weight_padded(pair_weight, C, nph, nph)[:, kc]  # (C or 1, N, N)
    kern = np.where(valid, rw * (rr + aa), 0.0)
    v = w2[kc] * kern
    nk = npad[:, kc]
    ff -= pi * v * (fi * (1.0 + nk) + (1.0 - fi) * nk)
    ff[:, diag, diag] -= pref * np.sum(v * (fj * (1.0 + nk) + (1.0 - fj) * nk), axis=2)
    sel = valid.ravel()
    vals = (pi * v * (fi * fj - (1.0 - fi) * (1.0 - fj))).reshape(C, -1)[:, sel]
    fn -= _bincount_blocks(C, (nq, nph), ii.ravel()[sel], kc.ravel()[sel] - 1, vals)
    kk, i_, j_ = kc.ravel()[sel] - 1, ii.ravel()[sel], jj.ravel()[sel]
    kij = kern.reshape(C, -1)[:, sel]
    nkk = nk.reshape(C, -1)[:, sel]
    f_i, f_j = f[:, i_], f[:, j_]
    s = cph * h
    nf += _bincount_blocks(C, (nph, nq), kk, i_, s * kij * (f_j * (1.0 + nkk)
                                                              + (1.0 - f_j) * nkk))
    nf += _bincount_blocks(C, (nph, nq), kk, j_, s * kij * (f_i * (1.0 + nkk)
                                                              + (1.0 - f_i) * nkk))
    nn += _bincount_blocks(C, (1, nph), np.zeros_like(kk), kk,
                           s * kij * (f_i * f_j - (1.0 - f_i) * (1.0 - f_j)))[:, 0]
    out = np.zeros((C, nq + nph, nq + nph))
    out[:, :nq, :nq] = ff
    out[:, :nq, nq:] = fn
    out[:, nq:, :nq] = nf
    idx = np.arange(nph)
    out[:, nq + idx, nq + idx] = nn
    return out

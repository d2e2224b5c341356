r"""Exact Jacobian of the discrete collision operator (dense blocks) and its JVP.

With the notation of :mod:`fvqp.collisions.direct` (``W_ij = Omega_k^2 K^-_ij``,
``k = |i-j|``; ``V_ij = r_k Omega_k^2 K^+_ij``, ``k = i+j+s`` with the grid's
``pair_offset`` ``s`` and ``pair_weight`` ``r``; ``P_ij`` the phonon factor
of the transition ``j -> i``), the derivatives are

.. math::
    \frac{\partial S^{sc}_i}{\partial f_l} &= \frac{h}{\bar\rho_i}\Big[W_{il}\big((1-f_i)P_{il}
        + f_iP_{li}\big) - \delta_{il}\sum_j W_{ij}\big(f_jP_{ij} + (1-f_j)P_{ji}\big)\Big],\\
    \frac{\partial S^{sc}_i}{\partial n_k} &= \frac{h}{\bar\rho_i}
        \sum_{j = i\pm k} W_{ij}(f_j - f_i), \\
    \frac{\partial S^{pair}_i}{\partial f_l} &= -\frac{h}{\bar\rho_i}\Big[V_{il}\big(f_i(1+n)
        + (1-f_i)n\big) + \delta_{il}\sum_j V_{ij}\big(f_j(1+n) + (1-f_j)n\big)\Big], \\
    \frac{\partial S^{pair}_i}{\partial n_k} &= -\frac{h}{\bar\rho_i}
        V_{ij}\big(f_if_j - (1-f_i)(1-f_j)\big)\big|_{j = k-m-1-i},

and analogously for the phonon rows (``dS_ph/dn`` is diagonal).  ``fvqp.collisions.jvp``
(:func:`fvqp.collisions.fft.jvp_fft`) gives the same linear map matrix-free in
O(N log N) for Newton-Krylov solvers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .grid import EnergyGrid
from .kernels import PROCESSES, CollisionParams, check_inputs, pair_layout

__all__ = ["JacobianBlocks", "jacobian"]


@dataclass(frozen=True)
class JacobianBlocks:
    r"""Dense Jacobian blocks of :math:`(S_{qp}, S_{ph})` w.r.t. :math:`(f, n)`.

    Attributes
    ----------
    ff : ndarray, shape (N, N)
        :math:`\partial S_{qp}/\partial f`.
    fn : ndarray, shape (N, M)
        :math:`\partial S_{qp}/\partial n`.
    nf : ndarray, shape (M, N)
        :math:`\partial S_{ph}/\partial f`.
    nn : ndarray, shape (M, M)
        :math:`\partial S_{ph}/\partial n` (diagonal).
    """

    ff: np.ndarray
    fn: np.ndarray
    nf: np.ndarray
    nn: np.ndarray

    def matvec(self, df: np.ndarray, dn: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Apply the Jacobian to ``(df, dn)``."""
        return self.ff @ df + self.fn @ dn, self.nf @ df + self.nn @ dn

    def dense(self) -> np.ndarray:
        """Assembled ``(N + M) x (N + M)`` matrix ordered ``(f, n)``."""
        return np.block([[self.ff, self.fn], [self.nf, self.nn]])


def _scatter_add(shape: tuple[int, int], rows: np.ndarray, cols: np.ndarray,
                 vals: np.ndarray) -> np.ndarray:
    """Dense matrix with ``vals`` summed into ``(rows, cols)``."""
    flat = np.bincount(rows * shape[1] + cols, weights=vals, minlength=shape[0] * shape[1])
    return flat.reshape(shape)


def jacobian(
    f: np.ndarray,
    n: np.ndarray,
    grid: EnergyGrid,
    params: CollisionParams,
    processes: Sequence[str] = PROCESSES,
) -> JacobianBlocks:
    """Exact dense Jacobian of the discrete operator at ``(f, n)`` (O(N^2) memory).

    Parameters
    ----------
    f, n : ndarray
        Linearisation point (real).
    grid, params, processes
        As for :func:`~fvqp.collisions.direct.collision_terms_direct`.
    """
    procs, f, n = check_inputs(f, n, grid, processes)
    nq, nph, h = grid.n, grid.n_ph, grid.h
    c = params.phonon_prefactor
    rho, ados = grid.dos, grid.ados
    w2 = np.concatenate(([0.0], grid.omega**2))
    offset, pair_weight, _ = pair_layout(grid)
    rw = np.concatenate(([0.0], pair_weight))  # r_k of the pair kernel (grid.py)
    npad = np.concatenate(([0.0], n))
    pref = h / rho
    ii, jj = np.meshgrid(np.arange(nq), np.arange(nq), indexing="ij")
    fi, fj = f[:, None], f[None, :]
    diag = np.arange(nq)

    ff = np.zeros((nq, nq))
    fn = np.zeros((nq, nph))
    nf = np.zeros((nph, nq))
    nn = np.zeros(nph)

    if "scattering" in procs:
        k = np.abs(jj - ii)
        valid = (k >= 1) & (k <= nph)
        kc = np.where(valid, k, 0)
        kern = np.where(valid, np.outer(rho, rho) - np.outer(ados, ados), 0.0)
        w = w2[kc] * kern
        nk = npad[kc]
        up = jj > ii
        p_in = np.where(up, 1.0 + nk, nk)
        p_out = np.where(up, nk, 1.0 + nk)
        ff += pref[:, None] * w * ((1.0 - fi) * p_in + fi * p_out)
        ff[diag, diag] -= pref * np.sum(w * (fj * p_in + (1.0 - fj) * p_out), axis=1)
        sel = valid
        fn += _scatter_add(
            (nq, nph), ii[sel], kc[sel] - 1, (pref[:, None] * w * (fj - fi))[sel]
        )
        # phonon rows: pairs (i, j = i + k) with j > i
        sel = valid & up
        kk, i_, j_ = kc[sel] - 1, ii[sel], jj[sel]
        kij, nkk = kern[sel], nk[sel]
        f_i, f_j = f[i_], f[j_]
        s = 2.0 * c * h
        nf += _scatter_add((nph, nq), kk, i_, s * kij * (-f_j * (1.0 + nkk) - (1.0 - f_j) * nkk))
        nf += _scatter_add((nph, nq), kk, j_, s * kij * ((1.0 - f_i) * (1.0 + nkk) + f_i * nkk))
        nn += np.bincount(kk, weights=s * kij * (f_j - f_i), minlength=nph)

    if "pair" in procs:
        k = ii + jj + offset
        valid = k <= nph
        kc = np.where(valid, k, 0)
        kern = np.where(valid, rw[kc] * (np.outer(rho, rho) + np.outer(ados, ados)), 0.0)
        v = w2[kc] * kern
        nk = npad[kc]
        ff -= pref[:, None] * v * (fi * (1.0 + nk) + (1.0 - fi) * nk)
        ff[diag, diag] -= pref * np.sum(v * (fj * (1.0 + nk) + (1.0 - fj) * nk), axis=1)
        sel = valid
        fn -= _scatter_add(
            (nq, nph), ii[sel], kc[sel] - 1,
            (pref[:, None] * v * (fi * fj - (1.0 - fi) * (1.0 - fj)))[sel],
        )
        kk, i_, j_ = kc[sel] - 1, ii[sel], jj[sel]
        kij, nkk = kern[sel], nk[sel]
        f_i, f_j = f[i_], f[j_]
        s = c * h
        # ordered pairs (i, j): d/df_i and d/df_j of f_i f_j (1+n) - (1-f_i)(1-f_j) n
        nf += _scatter_add((nph, nq), kk, i_, s * kij * (f_j * (1.0 + nkk) + (1.0 - f_j) * nkk))
        nf += _scatter_add((nph, nq), kk, j_, s * kij * (f_i * (1.0 + nkk) + (1.0 - f_i) * nkk))
        nn += np.bincount(
            kk, weights=s * kij * (f_i * f_j - (1.0 - f_i) * (1.0 - f_j)), minlength=nph
        )

    return JacobianBlocks(ff=ff, fn=fn, nf=nf, nn=np.diag(nn))


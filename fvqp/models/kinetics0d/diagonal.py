r"""The diagonal of the 0D kinetics' exact Jacobian in :math:`O(N\log N)`, for preconditioning.

With the notation of :mod:`fvqp.collisions.jacobian` (``W_ij = Omega_k^2 K^-_ij``,
``k = |i-j|``; ``V_ij = r_k Omega_k^2 K^+_ij``, ``k = i+j+s``;
:math:`K^\mp_{ij} = \bar\rho_i\bar\rho_j \mp \bar a_i\bar a_j`), the QP diagonal is

.. math::
    \frac{\partial S_{qp,i}}{\partial f_i} = -\frac{h}{\bar\rho_i}\Big[
        \sum_{j>i} W_{ij}(n_k + f_j) + \sum_{j<i} W_{ij}(1 + n_k - f_j)
        + \sum_j V_{ij}(n_k + f_j) + V_{ii}(n_{2i+s} + f_i)\Big]

(the scattering terms have no :math:`j = i` entry, ``k >= 1``; the pair term with
:math:`l = i` of the off-diagonal formula adds the last one). The sums over ``j`` are
products of Toeplitz (scattering, functions of ``i - j``) and Hankel (pair, functions of
``i + j``) matrices with vectors, :math:`\sum_j K_{ij}g_{ij}x_j =
\bar\rho_i(G\bar\rho x)_i \mp \bar a_i(G\bar a x)_i`, done by FFT
(:func:`scipy.linalg.matmul_toeplitz`). The phonon diagonal is exact from two residuals:
the phonon rows are affine in :math:`n_k` and independent of the other :math:`n_l`, so
:math:`d_k = \dot n_k(f, n + 1) - \dot n_k(f, n)` (escape included). Tested against the
diagonal of the dense Jacobian.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import matmul_toeplitz

from ...collisions.kernels import pair_layout
from .model import Kinetics0D

__all__ = ["jacobian_diagonal"]


def _toeplitz(col: np.ndarray, row: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``T @ x`` for the Toeplitz matrix with first column ``col`` and first row ``row``
    (FFT; ``x`` may hold several columns)."""
    return matmul_toeplitz((col, row), x, check_finite=False)


def _qp_diagonal(model: Kinetics0D, f: np.ndarray, n: np.ndarray) -> np.ndarray:
    """:math:`\\partial S_{qp,i}/\\partial f_i` of the collision operator (module docstring)."""
    g = model.grid
    nq, nph, h = g.n, g.n_ph, g.h
    rho, ados = g.dos, g.ados
    offset, pair_weight, _ = pair_layout(g)
    # functions of k = 0 .. 2 nq + offset (zero where k = 0 or k > nph)
    kmax = 2 * nq + offset + 1
    w2 = np.zeros(kmax)
    nk = np.zeros(kmax)
    rw = np.zeros(kmax)
    top = min(nph, kmax - 1)
    w2[1:top + 1] = g.omega[:top] ** 2
    nk[1:top + 1] = n[:top]
    rw[1:top + 1] = pair_weight[:top]
    x = np.stack((rho, rho * f, ados, ados * f), axis=1)
    # scattering: above the diagonal (j > i) W (n_k + f_j), below W (1 + n_k - f_j)
    up_n, lo_n = w2[:nq] * nk[:nq], w2[:nq] * (1.0 + nk[:nq])
    t1 = _toeplitz(lo_n, up_n, x[:, [0, 2]])            # sum_j w2 (n or 1 + n) x_j
    t2 = _toeplitz(-w2[:nq], w2[:nq], x[:, [1, 3]])     # sum_j (+-) w2 f_j x_j
    sc = rho * (t1[:, 0] + t2[:, 0]) - ados * (t1[:, 1] + t2[:, 1])
    # pair: Hankel in i + j, H[i, j] = g[i + j + s]: a Toeplitz matrix on reversed x
    gp = (w2 * rw)[offset:offset + 2 * nq]
    hank_col, hank_row = gp[nq - 1:2 * nq - 1], gp[nq - 1::-1]
    xr = x[::-1]
    hn = _toeplitz(hank_col * nk[offset + nq - 1:offset + 2 * nq - 1],
                   hank_row * nk[offset:offset + nq][::-1], xr[:, [0, 2]])
    hf = _toeplitz(hank_col, hank_row, xr[:, [1, 3]])
    pair = rho * (hn[:, 0] + hf[:, 0]) + ados * (hn[:, 1] + hf[:, 1])
    k2 = 2 * np.arange(nq) + offset
    pair += (w2 * rw)[k2] * (rho**2 + ados**2) * (nk[k2] + f)
    return -(h / rho) * (sc + pair)


def jacobian_diagonal(model: Kinetics0D, y: np.ndarray, t: float = 0.0) -> np.ndarray:
    r"""Diagonal of :meth:`Kinetics0D.jacobian` at ``y`` without forming it (module
    docstring): QPs by FFT products, phonons from :math:`\dot n(f, n+1) - \dot n(f, n)`,
    drives from :meth:`~fvqp.models.kinetics0d.drives.Drive.jacobian_qp_diagonal`."""
    f, n = model.split(np.asarray(y, dtype=float))
    dq = _qp_diagonal(model, f, n)
    for d in model.drives:
        if d.active(t):
            dq = dq + d.jacobian_qp_diagonal(f, n)
    nq = model.grid.n
    dn = model.rhs(model.join(f, n + 1.0), t)[nq:] - model.rhs(model.join(f, n), t)[nq:]
    return np.concatenate((dq, dn))

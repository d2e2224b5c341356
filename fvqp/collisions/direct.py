r"""O(N^2) reference implementation of the discrete collision operator.

Every term of the notes' Eqs. 35-40 is evaluated as an explicit double sum (vectorised
with numpy broadcasting over blocks of rows), using the kernel
:math:`K^\mp_{ij} = \bar\rho_i\bar\rho_j \mp \bar a_i\bar a_j` and the grid kinematics
described in :mod:`fvqp.collisions.kernels`.  Complex ``f, n`` are accepted (used for
complex-step differentiation in the tests).

QP side, for cell ``i`` (partner ``j``; scattering phonon ``k = |i - j|``; pair phonon
``k = i + j + s`` with the grid's pair offset ``s`` = ``m + 1``, or ``m`` in the vertex
layout; pair kernels carry the node factor :math:`r_k` = ``grid.pair_weight``, and
:math:`\Omega_k^2` is the node's phonon states :math:`g_k`,
:func:`~fvqp.collisions.kernels.phonon_states`; see :mod:`fvqp.collisions.grid`):

.. math::
    \text{sc\_in}_i &= \frac{h}{\bar\rho_i}(1-f_i)\sum_{j\ne i}\Omega_k^2 K^-_{ij}
        f_j\,P_{ij}, \qquad P_{ij} = 1 + n_k\ (j > i),\ n_k\ (j < i), \\
    \text{sc\_out}_i &= \frac{h}{\bar\rho_i} f_i\sum_{j\ne i}\Omega_k^2 K^-_{ij}
        (1-f_j)\,P_{ji}, \\
    \text{rec}_i &= \frac{h}{\bar\rho_i} f_i \sum_j r_k\Omega_k^2 K^+_{ij} f_j (1+n_k),
    \qquad
    \text{pb}_i = \frac{h}{\bar\rho_i}(1-f_i)\sum_j r_k\Omega_k^2K^+_{ij}(1-f_j)n_k.

Phonon side, for node ``k``:

.. math::
    \text{ph\_sc\_in}_k &= 2c_{ph}h(1+n_k)\sum_i K^-_{i,i+k} f_{i+k}(1-f_i), \qquad
    \text{ph\_sc\_out}_k = 2c_{ph}h\,n_k\sum_i K^-_{i,i+k} f_i(1-f_{i+k}), \\
    \text{ph\_rec}_k &= c_{ph}h\,r_k(1+n_k)\sum_{i+j=k-s}K^+_{ij}f_if_j, \qquad
    \text{ph\_pb}_k = c_{ph}h\,r_k n_k\sum_{i+j=k-s}K^+_{ij}(1-f_i)(1-f_j).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .grid import EnergyGrid
from .kernels import (
    PROCESSES,
    CollisionParams,
    CollisionTerms,
    check_inputs,
    pair_layout,
    phonon_states,
)

__all__ = ["collision_terms_direct"]

#: The processes written out below, independently of the table: the notes' Eqs. 35-40.
_WRITTEN = ("scattering", "pair")
_BLOCK_ELEMENTS = 1 << 21  # elements per broadcast block (memory bound)


def _padded(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Phonon array with an inert ``k = 0`` entry prepended."""
    out = np.zeros(values.shape[0] + 1, dtype=dtype)
    out[1:] = values
    return out


def collision_terms_direct(
    f: np.ndarray,
    n: np.ndarray,
    grid: EnergyGrid,
    params: CollisionParams,
    processes: Sequence[str] = PROCESSES,
) -> CollisionTerms:
    """Gain/loss terms of the discrete operator by explicit double sums.

    Parameters
    ----------
    f : ndarray, shape (grid.n,)
        QP occupation at the QP nodes (real or complex).
    n : ndarray, shape (grid.n_ph,)
        Phonon occupation at :math:`\\Omega_k = k h`, ``k = 1..n_ph``.
    grid : EnergyGrid
    params : CollisionParams
    processes : sequence of str
        Subset of ``("scattering", "pair")``; omitted groups give zero arrays.

    Returns
    -------
    CollisionTerms
    """
    procs, f, n = check_inputs(f, n, grid, processes, allow_complex=True)
    other = [p for p in procs if p not in _WRITTEN]
    if other:
        raise NotImplementedError(
            f"process(es) {other} of the table (fvqp.collisions.processes) have no "
            f"independent double sum here (this reference writes out {_WRITTEN} only); "
            "use method='fft', generated from the table, or add the sums here")
    dtype = np.result_type(f, n)
    nq, nph, h = grid.n, grid.n_ph, grid.h
    s, pair_weight, _ = pair_layout(grid)
    c = params.phonon_prefactor
    rho, ados = grid.dos, grid.ados
    w2 = _padded(phonon_states(grid), np.float64)  # g_k (Omega_k^2 but at 2 Delta, vertex)
    rw = _padded(pair_weight, np.float64)  # r_k of the pair kernel
    npad = _padded(n, dtype)
    zq = [np.zeros(nq, dtype=dtype) for _ in range(4)]
    zp = [np.zeros(nph, dtype=dtype) for _ in range(4)]
    qp_sc_in, qp_sc_out, qp_rec, qp_pb = zq
    ph_sc_in, ph_sc_out, ph_rec, ph_pb = zp

    jq = np.arange(nq)
    rows = max(1, _BLOCK_ELEMENTS // max(nq, 1))

    # ---------------------------------------------------------------- QP equations
    for i0 in range(0, nq, rows):
        i = np.arange(i0, min(nq, i0 + rows))[:, None]
        fi, fj = f[i], f[None, :]
        pref = h / rho[i[:, 0]]
        if "scattering" in procs:
            k = np.abs(jq[None, :] - i)
            valid = (k >= 1) & (k <= nph)
            kc = np.where(valid, k, 0)
            w = np.where(valid, w2[kc] * (rho[i] * rho[None, :] - ados[i] * ados[None, :]), 0.0)
            nk = npad[kc]
            up = jq[None, :] > i
            p_in = np.where(up, 1.0 + nk, nk)  # phonon factor of the transition j -> i
            p_out = np.where(up, nk, 1.0 + nk)  # phonon factor of the transition i -> j
            qp_sc_in[i0 : i0 + len(pref)] = pref * (1.0 - fi[:, 0]) * np.sum(w * p_in * fj, 1)
            qp_sc_out[i0 : i0 + len(pref)] = pref * fi[:, 0] * np.sum(w * p_out * (1.0 - fj), 1)
        if "pair" in procs:
            k = i + jq[None, :] + s
            valid = k <= nph
            kc = np.where(valid, k, 0)
            v = np.where(valid, rw[kc] * w2[kc]
                         * (rho[i] * rho[None, :] + ados[i] * ados[None, :]), 0.0)
            nk = npad[kc]
            qp_rec[i0 : i0 + len(pref)] = pref * fi[:, 0] * np.sum(v * (1.0 + nk) * fj, 1)
            qp_pb[i0 : i0 + len(pref)] = pref * (1.0 - fi[:, 0]) * np.sum(
                v * nk * (1.0 - fj), 1
            )

    # ------------------------------------------------------------ phonon equations
    for k0 in range(1, nph + 1, rows):
        k = np.arange(k0, min(nph + 1, k0 + rows))[:, None]
        sl = slice(k0 - 1, k0 - 1 + k.shape[0])
        nk = n[sl]
        fi = f[None, :]
        if "scattering" in procs:
            j = jq[None, :] + k
            valid = j < nq
            jc = np.where(valid, j, 0)
            kern = np.where(valid, rho[None, :] * rho[jc] - ados[None, :] * ados[jc], 0.0)
            fj = f[jc]
            ph_sc_in[sl] = 2.0 * c * h * (1.0 + nk) * np.sum(kern * fj * (1.0 - fi), 1)
            ph_sc_out[sl] = 2.0 * c * h * nk * np.sum(kern * fi * (1.0 - fj), 1)
        if "pair" in procs:
            j = k - s - jq[None, :]
            valid = (j >= 0) & (j < nq)
            jc = np.where(valid, j, 0)
            kern = np.where(valid, rho[None, :] * rho[jc] + ados[None, :] * ados[jc], 0.0)
            fj = f[jc]
            rk = pair_weight[sl]
            ph_rec[sl] = c * h * rk * (1.0 + nk) * np.sum(kern * fi * fj, 1)
            ph_pb[sl] = c * h * rk * nk * np.sum(kern * (1.0 - fi) * (1.0 - fj), 1)

    return CollisionTerms(
        qp_sc_in=qp_sc_in,
        qp_sc_out=qp_sc_out,
        qp_rec=qp_rec,
        qp_pb=qp_pb,
        ph_sc_in=ph_sc_in,
        ph_sc_out=ph_sc_out,
        ph_rec=ph_rec,
        ph_pb=ph_pb,
    )

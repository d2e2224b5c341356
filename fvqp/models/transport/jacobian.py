r"""Jacobian entries of the transport model: the fixed COO pattern, its values
(dense per-cell collision blocks or their diagonal, plus the energy-diagonal transport
couplings between cells), and the single-precision cell blocks of
:math:`K = \sigma\,\mathrm{diag}(m) - \partial\,\text{rhs}/\partial y` that the
phonon-eliminating preconditioner (:mod:`.schur`) condenses.

The collision blocks come from the batched operator (:mod:`fvqp.collisions.batched`,
:mod:`fvqp.collisions.correlation_blocks`); transport couples a bin only to the same bin of
the neighbour cells (:mod:`.faces`). :class:`JacobianAssembly` is a part of
:class:`fvqp.models.transport.problem.TransportProblem`.
"""

from __future__ import annotations

import numpy as np

from ...collisions.batched import batched_blocks, batched_jacobian, batched_terms
from .linearisation import cells

__all__ = ["JacobianAssembly", "BLOCK_CHUNK"]

#: cells per batch of dense cell blocks in :meth:`JacobianAssembly.rhs_jacobian`
#: (memory ~ BLOCK_CHUNK B^2 doubles)
BLOCK_CHUNK = 512


class JacobianAssembly:
    """Jacobian pattern and values of :class:`TransportProblem`."""

    def _pattern(self):
        N, M, B, n = self.N, self.M, self.B, self.n
        if self.jacobian == "schur":  # the model preconditioner assembles its own matrix
            self._blk, self._keep = (np.zeros(0, int),) * 2, np.zeros(0, bool)
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        k = np.arange(B)
        if self.matrix_free:  # preconditioner: the diagonal of every cell block
            blk_r, blk_c = k, k
        else:
            blk_r = np.concatenate([np.repeat(np.arange(N), B), N + np.arange(M),
                                    np.repeat(N + np.arange(M), N)])
            blk_c = np.concatenate([np.tile(k, N), N + np.arange(M),
                                    np.tile(np.arange(N), M)])
        self._blk = (blk_r, blk_c)
        r, c = self.block_pattern(B, blk_r, blk_c)
        self._keep = r < n * B
        return r[self._keep], c[self._keep]

    def block_pattern(self, bs: int, blk_r: np.ndarray, blk_c: np.ndarray):
        """COO pattern (local indices, ``bs`` unknowns per cell, QPs first): the entries
        ``(blk_r, blk_c)`` of every owned cell, then the transport entries in the order of
        :meth:`transport_values` (rows of ghost cells included; drop ``rows >= n bs``)."""
        base = np.arange(self.n) * bs
        rows = [(base[:, None] + blk_r[None, :]).ravel()]
        cols = [(base[:, None] + blk_c[None, :]).ravel()]
        e = np.arange(self.N)
        ia = (self.f_a[:, None] * bs + e).ravel()
        ib = (self.f_b[:, None] * bs + e).ravel()
        rows += [ia, ia, ib, ib]
        cols += [ia, ib, ib, ia]
        bi = (self.b_cell[:, None] * bs + e).ravel()
        rows.append(bi)
        cols.append(bi)
        if bs == self.B:  # phonon transport (same order: aa, ab, bb, ba)
            k = self.N + np.arange(self.M)
            pa = (self.f_a[self.ph_pairs, None] * bs + k).ravel()
            pb = (self.f_b[self.ph_pairs, None] * bs + k).ravel()
            rows += [pa, pa, pb, pb]
            cols += [pa, pb, pb, pa]
        return np.concatenate(rows), np.concatenate(cols)

    def rhs_jacobian(self, xl: np.ndarray, t0: float, t1: float) -> np.ndarray:
        """d rhs / d y as values on :attr:`pattern`."""
        B, n = self.B, self.n
        y = xl.reshape(-1, B)
        br, bc = self._blk
        blocks = np.empty((n, len(br)))
        for s in range(0, n, BLOCK_CHUNK):
            sl = slice(s, min(n, s + BLOCK_CHUNK))
            if self.matrix_free:
                blocks[sl] = self._diagonal(y, sl)
            else:
                blocks[sl] = self.cell_blocks(y, sl)[:, br, bc]
        return np.concatenate([blocks.ravel(), self.transport_values(),
                               self.phonon_transport_values()])[self._keep]

    def cell_blocks(self, y: np.ndarray, sl: slice) -> np.ndarray:
        """Dense d rhs / d y of the cells ``sl`` within each cell, shape (cells, B, B):
        collisions, phonon escape and algebraic rows, without transport. Phonon rows
        couple to their own phonon only (the phonon-phonon part is diagonal)."""
        N, M, B = self.N, self.M, self.B
        c = sl.stop - sl.start
        if self.collisions:
            J = batched_jacobian(y[sl, :N], y[sl, N:], self.rho[sl], self.ados[sl],
                                 h=self.grid.h, m=self.grid.m,
                                 qp_scale=self.p["qp_scale"][sl], c_ph=self.p["c_ph"][sl])
        else:
            J = np.zeros((c, B, B))
        mass = np.concatenate([self.m_f[sl], self.m_n[sl]], axis=1)
        J *= mass[:, :, None]
        k = np.arange(M)
        J[:, N + k, N + k] -= self.m_n[sl] / self.p["tau_esc"][sl, None]
        alg = np.concatenate([self.alg_f[sl], np.broadcast_to(
            self.ph_fixed[sl, None], (c, M))], axis=1)
        J[alg] = 0.0
        d = np.arange(B)
        J[:, d, d] -= np.where(alg, self.kappa[sl], 0.0)
        return J

    def cell_step_blocks(self, y: np.ndarray, sl: slice | np.ndarray, shift: float,
                         dtype=np.float32) -> tuple[np.ndarray, ...]:
        r"""The cell-local blocks of :math:`K = \sigma\,\mathrm{diag}(m) - \partial\,
        \text{rhs}/\partial y` of the cells ``sl`` (a slice or an index array;
        collisions, escape, storage, algebraic rows; no transport) in ``dtype``:
        ``K_ff (c, N, N)``, ``K_fn (c, N, M)``, ``K_nf (c, M, N)`` and the diagonal
        phonon block ``d (c, M)`` — the entries of :meth:`cell_blocks` without the dense
        :math:`(N + M)^2` matrix (:func:`fvqp.collisions.batched.batched_blocks`)."""
        N, M = self.N, self.M
        c = cells(sl)
        mf, mn = self.m_f[sl].astype(dtype), self.m_n[sl].astype(dtype)
        if self.collisions:
            # K = -m J: the storage factors and the sign go into the rows as they are
            # formed (:func:`~fvqp.collisions.correlation_blocks.collision_blocks`
            # ``row_scale``), no pass over the blocks
            kff, kfn, knf, nn = batched_blocks(
                y[sl, :N].astype(dtype), y[sl, N:].astype(dtype),
                self.rho[sl].astype(dtype), self.ados[sl].astype(dtype), h=self.grid.h,
                m=self.grid.m, qp_scale=self.p["qp_scale"][sl], c_ph=self.p["c_ph"][sl],
                row_scale=(-mf, -mn))
        else:
            kff, kfn = np.zeros((c, N, N), dtype), np.zeros((c, N, M), dtype)
            knf, nn = np.zeros((c, M, N), dtype), np.zeros((c, M), dtype)
        alg_f, fixed = self.alg_f[sl], self.ph_fixed[sl]
        i = np.arange(N)
        kff[:, i, i] += shift * mf
        kff[alg_f] = 0.0
        kfn[alg_f] = 0.0
        kff[:, i, i] += np.where(alg_f, self.kappa[sl], 0.0).astype(dtype)
        knf[fixed] = 0.0
        d = shift * self.m_n[sl] + nn + self.m_n[sl] / self.p["tau_esc"][
            sl, None] - np.where(fixed[:, None], 0.0, self.ph_diag[sl])
        d = np.where(fixed[:, None], self.kappa[sl], d)
        return kff, kfn, knf, d.astype(dtype)

    def transport_values(self) -> np.ndarray:
        """d rhs / d f of face transport and boundary exchange, in the order of the
        transport part of the patterns: (a, a), (a, b), (b, b), (b, a) per face pair and
        energy, then the boundary diagonal. Rows of algebraic bins stay clean."""
        G = self.G
        nf = np.where(self.alg_f[self.f_a], 0.0, 1.0)
        nb = np.where(self.alg_f[self.f_b], 0.0, 1.0)
        bd = np.where(self.alg_f[self.b_cell], 0.0, -self.b_G)
        return np.concatenate([(-G * nf).ravel(), (G * nf).ravel(), (-G * nb).ravel(),
                               (G * nb).ravel(), bd.ravel()])

    def phonon_transport_values(self) -> np.ndarray:
        """d rhs / d n of phonon transport between cells, in the order of the phonon part
        of the pattern: (a, a), (a, b), (b, b), (b, a) per phonon face pair and mode. Rows
        of cells whose phonons are held at the bath stay clean."""
        G = self.G_ph
        na = np.where(self.ph_fixed[self.f_a[self.ph_pairs]], 0.0, 1.0)[:, None]
        nb = np.where(self.ph_fixed[self.f_b[self.ph_pairs]], 0.0, 1.0)[:, None]
        return np.concatenate([(-G * na).ravel(), (G * na).ravel(), (-G * nb).ravel(),
                               (G * nb).ravel()])

    def _diagonal(self, y: np.ndarray, sl: slice) -> np.ndarray:
        """Diagonal of d rhs / d y of the cells ``sl`` (preconditioner of the matrix-free
        mode): every collision term is an outer occupation factor (f, 1 - f, n, 1 + n)
        times a sum, whose derivative dominates the diagonal."""
        N = self.N
        f, ph = y[sl, :N], y[sl, N:]
        if self.collisions:
            t = batched_terms(f, ph, self.rho[sl], self.ados[sl], h=self.grid.h,
                              m=self.grid.m, qp_scale=self.p["qp_scale"][sl],
                              c_ph=self.p["c_ph"][sl])
            dq = -_ratio(t.qp_sc_in + t.qp_pb, 1.0 - f) - _ratio(t.qp_sc_out + t.qp_rec, f)
            dp = _ratio(t.ph_sc_in + t.ph_rec, 1.0 + ph) - _ratio(t.ph_sc_out + t.ph_pb, ph)
        else:
            dq, dp = np.zeros_like(f), np.zeros_like(ph)
        d = np.concatenate([self.m_f[sl] * dq, self.m_n[sl] * (
            dp - 1.0 / self.p["tau_esc"][sl, None])], axis=1)
        alg = np.concatenate([self.alg_f[sl], np.broadcast_to(
            self.ph_fixed[sl, None], ph.shape)], axis=1)
        return np.where(alg, -self.kappa[sl], d)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` with 0 where ``den`` vanishes (an empty occupation factor)."""
    return np.divide(num, den, out=np.zeros_like(num), where=np.abs(den) > 1e-300)

r"""How the phonon-eliminating preconditioner (:mod:`.schur`) applies its coupling blocks
:math:`B = K_{fn}` and :math:`C = K_{nf}` (option ``-<prefix>schur_couplings``): by FFTs
from the state spectra of the build point (``fft``, the default), from stored float32
blocks :math:`BD^{-1}`, :math:`D^{-1}C` (``stored``) or through the exact Jacobian action
(``action``). A part of :class:`.schur.SchurPreconditioner`.
"""

from __future__ import annotations

import numpy as np

from .quiet import shift_span

__all__ = ["SchurCouplings", "COUPLING_CHUNK"]

#: cells per batch of the FFT couplings (``-<prefix>schur_couplings fft``)
COUPLING_CHUNK = 512


class SchurCouplings:
    """The coupling applications of :class:`.schur.SchurPreconditioner`."""

    def _coupling(self, w: np.ndarray, to_qp: bool) -> np.ndarray:
        """``B w`` (phonon vector -> QP rows, ``to_qp``) or ``C w`` (QP vector -> phonon
        rows) of :math:`K` by the exact Jacobian action: :math:`K_{fn} = -J_{fn}`,
        :math:`K_{nf} = -J_{nf}` (transport and escape do not couple f and n)."""
        p = self.p
        N, B, n = p.N, p.B, p.n
        v = np.zeros((n, B))
        if to_qp:
            v[:, N:] = w
        else:
            v[:, :N] = w
        if self._v is None:
            self._v = p.dist.create_vec()
        self._v.setArray(v.ravel())
        # the build's shift as the span: the quiet cells' tolerance of its step (.quiet)
        jv = p.rhs_jvp(self.x_local, p.dist.local_array(self._v),
                       *shift_span(self.build_shift)).reshape(n, B)
        return -(jv[:, :N] if to_qp else jv[:, N:])

    def _fft_coupling(self, w: np.ndarray, to_qp: bool) -> np.ndarray:
        """``B w`` (``to_qp``) or ``C w`` of :math:`K` by FFTs from the spectra of the
        build point (:attr:`spectra`), batch by batch: :math:`K_{fn} = -m_f\\,\\partial
        S^{qp}/\\partial n` (algebraic QP rows 0), :math:`K_{nf} = -m_n\\,\\partial
        S^{ph}/\\partial f` (rows of phonons held at the bath 0), as
        :meth:`TransportProblem.cell_step_blocks`."""
        p, N, n = self.p, self.p.N, self.p.n
        y = self._y
        out = np.zeros((n, N if to_qp else p.M))
        if self.spectra is None:  # no collisions: no coupling
            return out
        for s in range(0, n, COUPLING_CHUNK):
            sl = slice(s, min(n, s + COUPLING_CHUNK))
            if to_qp:
                out[sl] = -p.m_f[sl] * self.spectra.qp_from_phonons(
                    sl, y[sl, :N], p.rho[sl], p.ados[sl], w[sl], p.p["qp_scale"][sl])
            else:
                out[sl] = -p.m_n[sl] * self.spectra.phonons_from_qp(
                    sl, y[sl, N:], p.rho[sl], p.ados[sl], w[sl], p.p["c_ph"][sl])
        if to_qp:
            out[p.alg_f[:n]] = 0.0
        else:
            out[p.ph_fixed[:n]] = 0.0
        return out

    def _b_inv_d(self, w: np.ndarray) -> np.ndarray:
        """:math:`B D^{-1} w` for phonon-row vectors ``w``."""
        if self.couplings == "fft":
            return self._fft_coupling(self.inv_d * w, to_qp=True)
        if self.bd is None:
            return self._coupling(self.inv_d * w, to_qp=True)
        return np.einsum("cij,cj->ci", self.bd, w.astype(np.float32))

    def _inv_d_c(self, z: np.ndarray) -> np.ndarray:
        """:math:`D^{-1} C z` for QP-row vectors ``z``."""
        if self.couplings == "fft":
            return self.inv_d * self._fft_coupling(z, to_qp=False)
        if self.dc is None:
            return self.inv_d * self._coupling(z, to_qp=False)
        return np.einsum("cij,cj->ci", self.dc, z.astype(np.float32))

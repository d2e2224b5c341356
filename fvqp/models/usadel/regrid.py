r"""The collision integrals of a graded energy grid, evaluated on a uniform fine grid.

The e–e and e–ph collision integrals (:mod:`~.collisions`) are correlations in energy,
:math:`A(\omega)=\int d\epsilon'\rho(\epsilon',\epsilon'+\omega)f_{\epsilon'}
(1-f_{\epsilon'+\omega})`, which need ε' + ω on the grid for every pair of nodes: a
uniform grid, on which they are FFT correlations. A graded grid (fine steps at the gap
edges, :mod:`~.energygrid`) keeps its unknowns; the integrals are evaluated on the
uniform grid of step ``h`` ≤ the smallest graded step spanning the same interval
[−E, E], and brought back:

* *to the fine grid* (prolongation P, linear interpolation between graded nodes): N and
  Im F, and the *deviation* of fL from the equilibrium :math:`n_0=\tanh(\epsilon/2t)` at
  the reference temperature (the bath), :math:`f_L^u = n_0(\epsilon_u) + P(f_L-n_0)`;
  an equilibrium fL at that temperature is the exact Fermi function on the fine grid,
  where the discrete integrals vanish identically (detailed balance, pointwise), so the
  graded-grid integral vanishes to round-off;
* *back* (restriction :math:`R=W^{-1}P^{\mathsf T}h`, W the trapezoid weights of the
  graded nodes, :func:`~.tunnel.cell_widths`): since linear interpolation reproduces 1
  and ε exactly (:math:`\sum_g P_{ug}=1`, :math:`\sum_gP_{ug}\epsilon_g=\epsilon_u`),

  .. math:: \sum_g w_g\,(R I)_g = \sum_u h\,I_u,\qquad
            \sum_g w_g\epsilon_g\,(R I)_g = \sum_u h\,\epsilon_u I_u ,

  so the number and the energy the fine-grid integral conserves (to round-off, the
  uniform rule) are conserved on the graded grid under its own trapezoid rule (the rule
  of :func:`~.observables.energy_balance` on a graded grid).

The price is the interpolation error of P between graded nodes (second order in the
graded step, where fL and N are smooth) and FFTs of the fine grid's length (a few
thousand energies per node, milliseconds). The preconditioner's diagonal is the diagonal
of :math:`R\,\mathrm{diag}(D_u)\,P`.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .terminals import n0
from .tunnel import cell_widths

__all__ = ["FineGrid", "is_uniform"]


def is_uniform(eps, rtol: float = 1e-9) -> bool:
    """True if the steps of ``eps`` are equal (to ``rtol`` of the step)."""
    h = np.diff(np.asarray(eps, float))
    return bool(np.allclose(h, h[0], rtol=rtol, atol=1e-12))


class FineGrid:
    """Transfer between a graded grid ``eps`` (symmetric, ends ±E) and the uniform grid
    of step ``h`` ≤ ``spacing`` (default the smallest graded step) on [−E, E].

    Attributes
    ----------
    eps, fine : ndarray
        The graded and the fine energies (Δ0).
    de : float
        The fine step.
    """

    def __init__(self, eps, t_ref: float = 0.0, spacing: float | None = None):
        self.eps = np.asarray(eps, float)
        emax = float(self.eps[-1])
        h = float(np.diff(self.eps).min()) if spacing is None else float(spacing)
        m = int(np.ceil(emax / h - 1e-9))
        self.de = emax / m
        self.fine = np.arange(-m, m + 1) * self.de
        k = np.clip(np.searchsorted(self.eps, self.fine, side="right") - 1, 0,
                    self.eps.size - 2)
        s = (self.fine - self.eps[k]) / (self.eps[k + 1] - self.eps[k])
        rows = np.arange(self.fine.size)
        shape = (self.fine.size, self.eps.size)
        #: prolongation (n_fine, n_graded): linear interpolation
        self.P = sp.csr_matrix((np.concatenate([1.0 - s, s]),
                                (np.concatenate([rows, rows]), np.concatenate([k, k + 1]))),
                               shape=shape)
        w = cell_widths(self.eps)
        #: restriction (n_graded, n_fine) = W⁻¹ Pᵀ h
        self.R = sp.csr_matrix(sp.diags(self.de / w) @ self.P.T)
        self._R2 = sp.csr_matrix(sp.diags(self.de / w) @ self.P.multiply(self.P).T)
        self.ref, self.ref_fine = n0(self.eps, t_ref), n0(self.fine, t_ref)

    def prolong(self, a) -> np.ndarray:
        """``a`` (..., n_graded) linearly interpolated to the fine grid (..., n_fine)."""
        return _apply(self.P, a)

    def prolong_fL(self, fL) -> np.ndarray:
        """fL on the fine grid: the equilibrium n0 there plus the interpolated deviation."""
        return self.ref_fine + self.prolong(fL - self.ref)

    def restrict(self, y) -> np.ndarray:
        """A collision integral ``y`` (..., n_fine) on the graded grid (conserving
        Σ w·1·y and Σ w·ε·y, module docstring)."""
        return _apply(self.R, y)

    def restrict_diagonal(self, d) -> np.ndarray:
        """The diagonal of R diag(d) P for a diagonal ``d`` (..., n_fine) on the fine
        grid: the graded grid's preconditioner diagonal."""
        return _apply(self._R2, d)


def _apply(M, a) -> np.ndarray:
    """The sparse ``M`` applied along the last axis of ``a`` (1D or 2D)."""
    return np.asarray((M @ np.asarray(a).T).T)

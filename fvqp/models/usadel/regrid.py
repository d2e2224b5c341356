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
* *back* (restriction :math:`R=W^{-1}M`, W the trapezoid weights of the graded nodes,
  :func:`~.tunnel.cell_widths`, and :math:`M_{gu}=\int d\epsilon\,\phi_g\chi_u` the
  exact overlap of the graded hat functions :math:`\phi_g` and the fine hat functions
  :math:`\chi_u`, a Galerkin (L² projection with lumped graded mass) restriction;
  :func:`overlap` integrates it exactly on the union of both grids, Simpson per
  segment, a product of two linears being quadratic). Since both hat families are
  partitions of unity, :math:`\sum_u M_{gu}=\int\phi_g=w_g` and
  :math:`\sum_g M_{gu}=\int\chi_u=h_u` (the fine trapezoid weights, h/2 at the ends):

  .. math:: (W^{-1}M\,1)_g = 1,\qquad \sum_g M_{gu} = h_u,\qquad
            \sum_g \epsilon_g M_{gu} = \int\epsilon\,\chi_u = h_u\epsilon_u
            \ (u\ne\text{ends}).

  The fine-grid integrals conserve the plain sums :math:`\sum_u h I_u`,
  :math:`\sum_u h\epsilon_u I_u` (:mod:`~.collisions`, h at the end nodes too), and
  their end values are not small (the window's edge). Both
  :math:`R\,1=1` everywhere and :math:`\sum_g w_g R_{gu}=h` for every u are impossible
  (summing over g and u gives 2E and 2E + h), so each fine column gets its missing
  mass :math:`h-\sum_gM_{gu}` and moment :math:`h\epsilon_u-\sum_g\epsilon_gM_{gu}` on
  the two graded nodes around :math:`\epsilon_u`, :math:`R=W^{-1}(M+C)`: h/2 and
  :math:`h\epsilon_u-\int\epsilon\chi_u` on the two outermost nodes at the ends,
  round-off elsewhere (the fine nodes' floating-point positions, ≈ 1e-13 of h):

  .. math:: (R\,1)_g = 1\ (g\text{ not among the two outermost nodes per end}),\qquad
            \sum_g w_g\,(R I)_g = \sum_u h\,I_u,\qquad
            \sum_g w_g\epsilon_g\,(R I)_g = \sum_u h\,\epsilon_u I_u ,

  so the number and the energy the fine-grid integral conserves (to round-off) are
  conserved on the graded grid under its own trapezoid rule (the rule of
  :func:`~.observables.energy_balance`), and a constant is restricted to itself at
  every graded node away from ±E, whatever the fine step (the former
  :math:`W^{-1}P^{\mathsf T}h` gave R·1 ∈ [0.91, 1.09] near ±Δ0 at the default step and
  0–5 at a coarser ``[collisions] spacing``, with graded nodes of zero integral). At the
  two outermost nodes R·1 − 1 is O(h/δ_end), δ_end the end graded step (measured
  +0.045 and −0.0004 at the default step, +0.24 and −0.009 at spacing 0.01, on the
  default graded grid), where fL is the bath's.

The price is the interpolation error of P between graded nodes (second order in the
graded step, where fL and N are smooth) and FFTs of the fine grid's length (a few
thousand energies per node, milliseconds). The preconditioner's diagonal is the diagonal
of :math:`R\,\mathrm{diag}(D_u)\,P`, i.e. :math:`(R\circ P^{\mathsf T})\,D`.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .terminals import n0
from .tunnel import cell_widths

__all__ = ["FineGrid", "is_uniform", "overlap"]


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
        rows = np.arange(self.fine.size)
        shape = (self.fine.size, self.eps.size)
        #: prolongation (n_fine, n_graded): linear interpolation
        self.P = sp.csr_matrix((np.concatenate(_hats(self.eps, k, self.fine)),
                                (np.concatenate([rows, rows]), np.concatenate([k, k + 1]))),
                               shape=shape)
        w = cell_widths(self.eps)
        #: overlap (n_graded, n_fine) ∫φ_g χ_u of the graded and the fine hat functions
        self.M = overlap(self.eps, self.fine)
        #: restriction (n_graded, n_fine) = W⁻¹ (M + C), C the columns' correction
        self.R = sp.csr_matrix(sp.diags(1.0 / w) @ (self.M + self._column_correction()))
        self._R2 = sp.csr_matrix(self.R.multiply(self.P.T))
        self.ref, self.ref_fine = n0(self.eps, t_ref), n0(self.fine, t_ref)

    def _column_correction(self) -> sp.csr_matrix:
        """C: each fine column's missing mass h − Σ_g M_gu and moment h ε_u − Σ_g ε_g M_gu
        put on the two graded nodes around ε_u (module docstring): the half cells at the
        ends, and elsewhere the round-off of the fine nodes' floating-point positions
        (≈ 1e-13 of h), so that Σ w R and Σ w ε R are those of the uniform rule exactly."""
        e, u = self.eps, self.fine
        ge = np.clip(np.searchsorted(e, u, side="right") - 1, 0, e.size - 2)
        dm = self.de - np.asarray(self.M.sum(axis=0)).ravel()
        dmu = self.de * u - np.asarray(self.M.T @ e).ravel()
        an = (dmu - e[ge] * dm) / (e[ge + 1] - e[ge])
        cols = np.arange(u.size)
        return sp.csr_matrix((np.concatenate([dm - an, an]),
                              (np.concatenate([ge, ge + 1]), np.concatenate([cols, cols]))),
                             shape=self.M.shape)

    def prolong(self, a) -> np.ndarray:
        """``a`` (..., n_graded) linearly interpolated to the fine grid (..., n_fine)."""
        return _apply(self.P, a)

    def prolong_fL(self, fL) -> np.ndarray:
        """fL on the fine grid: the equilibrium n0 there plus the interpolated deviation."""
        return self.ref_fine + self.prolong(fL - self.ref)

    def restrict(self, y) -> np.ndarray:
        """A collision integral ``y`` (..., n_fine) on the graded grid: keeps Σ h y and
        Σ h ε y as Σ w (Ry), Σ w ε (Ry), and constants away from ±E (module docstring)."""
        return _apply(self.R, y)

    def restrict_diagonal(self, d) -> np.ndarray:
        """The diagonal of R diag(d) P for a diagonal ``d`` (..., n_fine) on the fine
        grid: the graded grid's preconditioner diagonal."""
        return _apply(self._R2, d)


def _hats(nodes: np.ndarray, k: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, ...]:
    """The two hat functions of ``nodes`` nonzero on interval ``k`` (left, right) at x."""
    s = (x - nodes[k]) / (nodes[k + 1] - nodes[k])
    return 1.0 - s, s


def overlap(eps, fine) -> sp.csr_matrix:
    r"""The exact overlap :math:`M_{gu}=\int d\epsilon\,\phi_g(\epsilon)\chi_u(\epsilon)`
    of the hat functions φ_g of ``eps`` and χ_u of ``fine`` (both sorted, same ends).

    On each segment [a, b] of the union of the two grids both hats are linear, their
    product quadratic, so Simpson's rule :math:`\tfrac{b-a}{6}(p_aq_a+4p_mq_m+p_bq_b)` is
    exact. Row sums are the trapezoid weights of ``eps``, column sums those of ``fine``.

    Returns
    -------
    scipy.sparse.csr_matrix
        (len(eps), len(fine)), at most four entries per union segment.
    """
    eps, fine = np.asarray(eps, float), np.asarray(fine, float)
    u = np.union1d(eps, fine)
    a, b = u[:-1], u[1:]
    mid = 0.5 * (a + b)
    kg = np.clip(np.searchsorted(eps, mid) - 1, 0, eps.size - 2)
    kf = np.clip(np.searchsorted(fine, mid) - 1, 0, fine.size - 2)
    wts = ((b - a) / 6.0, 4.0 * (b - a) / 6.0, (b - a) / 6.0)
    G = [_hats(eps, kg, x) for x in (a, mid, b)]
    F = [_hats(fine, kf, x) for x in (a, mid, b)]
    rows, cols, vals = [], [], []
    for i in (0, 1):
        for j in (0, 1):
            rows.append(kg + i)
            cols.append(kf + j)
            vals.append(sum(w * g[i] * f[j] for w, g, f in zip(wts, G, F, strict=True)))
    return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                         shape=(eps.size, fine.size))


def _apply(M, a) -> np.ndarray:
    """The sparse ``M`` applied along the last axis of ``a`` (1D or 2D)."""
    return np.asarray((M @ np.asarray(a).T).T)

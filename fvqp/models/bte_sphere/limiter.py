r"""Positivity-preserving limited diamond differencing of the radial faces (``"limited"``).

Radial face value of ordinate ``k`` at face ``f`` (between the upwind cell ``U`` and the
downwind cell ``D``; ``UU`` the cell upwind of ``U``):

.. math::
    \psi_f = \psi_U + \tfrac12 g_U,\qquad g_U = \theta\,\delta_d,\qquad
    \delta_d = \psi_D - \psi_U,\ \delta_u = \psi_U - \psi_{UU},

    \theta = \theta_0 + (1 - \theta_0)\,w,\qquad
    \theta_0 = \min\Big(1, \frac{c\,|\delta_u|}{|\delta_d|}\Big),\qquad
    c = \begin{cases}\kappa = 2 & \delta_d\delta_u \ge 0 \text{ (monotone)}\\
                     a_U = A_u/A_d & \delta_d\delta_u < 0 \text{ (U an extremum)}\end{cases}

with :math:`a_U` the ratio of the upwind and downwind face areas of cell ``U``
(:math:`|\mu|` cancels), and the relaxation
:math:`w = (1 - |\delta_d|/\eta\psi_U)^2` for :math:`|\delta_d| < \eta\psi_U`,
:math:`\psi_U > 0` (else 0), :math:`\eta = 10^{-3}` (:data:`ETA`). :math:`\theta = 1` is
the *diamond* (two-cell mean) face value of :mod:`.discretisation`, :math:`\theta = 0` the
*step* (upwind) one. The limiter acts (a) where ``U`` is an extremum along the
characteristic and :math:`|\delta_d| > a_U|\delta_u|` — the only case where diamond can
create a new minimum — and (b) where the data jump by more than :math:`\kappa` per cell
(this keeps :math:`g` continuous when :math:`\delta_u` changes sign, as TVD limiters do);
the relaxation (c) switches it off where the differences are tiny against a positive
:math:`\psi_U` (they cannot make :math:`f` negative; without it round-off-level wiggles of
a thermal background switch branches and slow Newton down: 36 → 23 iterations on the
benchmark's first two steps). A cell without an upwind cell (cell 0 for :math:`\mu > 0`:
:math:`A_u = 0`; the last cell for :math:`\mu < 0`, fed by the boundary value) uses
:math:`\theta_0 = 1` if :math:`\delta_d < 0` and :math:`0` otherwise. At :math:`r = R`
the face value is the upwind one (outflow) or the boundary value (inflow), as for
diamond. One value per face: conservation is exact.

**Positivity** (backward Euler, streaming + elastic scattering; Harten's incremental-form
argument, J. Comput. Phys. 49, 357 (1983), for the spherical stencil). With the
Lewis-Miller angular term, the row of cell ``i`` (upwind face ``u``, downwind face ``d``)
reads :math:`|\mu|A_d(\psi_d - \psi_i) - |\mu|A_u(\psi_u - \psi_i)
+ (\Delta A/w_k)\alpha_{k-1/2}(\psi_{ik} - \psi_{i,k-1})` + scattering. In every case
:math:`g_U = \theta_U(\psi_i - \psi_U)` with :math:`\theta_U \in [0, 1]`, so
:math:`\psi_u - \psi_i = -(1 - \theta_U/2)(\psi_i - \psi_U)`. Suppose the global minimum
:math:`\psi_i < 0`: then :math:`\delta_u \le 0 \le \delta_d` at ``i``, :math:`w = 0`
(:math:`\psi_i < 0`), hence :math:`0 \le g_i \le a_i|\delta_u|` and the row is
:math:`\le |\mu|A_u|\delta_u|\,[\tfrac12 - (1 - \theta_U/2)] \le 0`; the angular and
scattering terms are :math:`\le 0` there too, so
:math:`\psi_i^{n+1} \ge \psi_i^n \ge 0`, a contradiction (boundary values
:math:`\ge 0`). The argument uses only the solution itself, so it holds for the
non-linear scheme. Not for BDF2 (not positivity preserving for any spatial scheme).

**Accuracy.** Where the solution is monotone and smooth, :math:`\delta_d/\delta_u =
1 + O(\Delta r) < \kappa`: diamond (second order). At a smooth extremum
:math:`\delta_d = -\delta_u + O(\Delta r^2)` and :math:`a_U = 1 - O(\Delta r/r)`, so the
limited value differs from diamond by :math:`O(\Delta r^2)`. In the thick diffusion
limit the angular flux is nearly isotropic and monotone: the faces are diamond faces,
which have the correct limit (Larsen, Morel & Miller, J. Comput. Phys. 69, 283 (1987)).
The scheme is the classic compromise of transport codes between diamond (accurate,
asymptotic-preserving, not positive) and step (positive, first order) — Lathrop,
J. Comput. Phys. 4, 475 (1969); Lewis & Miller, *Computational Methods of Neutron
Transport* (1984), Sect. 4-4 (negative-flux fix-ups) — in a form without cell-face
unknowns that needs no sweep: unlike the set-to-zero fix-up it changes a face value only
as much as positivity needs, and it is exactly conservative.

**Newton.** The map is piecewise smooth (piecewise linear except in the relaxation
band). :meth:`FaceLimiter.branch` returns :math:`g` and its derivatives at the current
state; they give the residual, the exact Jacobian action (away from switching
surfaces) and the assembled Jacobian for the preconditioner (exact within a branch).
A face value depends on three cells, a row on five: the radial distribution needs two
ghost layers (:func:`.discretisation.radial_distribution` ``halo=2``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .discretisation import Ordinates, RadialMesh

__all__ = ["ETA", "KAPPA", "Branch", "FaceLimiter"]

#: bound of the limited slope on monotone data, |g| <= KAPPA |delta_u| (as in TVD limiters)
KAPPA = 2.0
#: no limiting where |delta_d| << ETA psi_U (psi_U > 0): such differences cannot make
#: f negative; smooth switch-on up to |delta_d| = ETA psi_U
ETA = 1e-3


@dataclass
class Branch:
    """Limited face slopes ``g`` and their derivatives ``cd`` = dg/d(delta_d), ``cu`` =
    dg/d(delta_u), ``cp`` = dg/d(psi_U) at fixed differences, per face, bin and ordinate
    (arrays of shape ``(faces, bins, K)``)."""

    g: np.ndarray
    cd: np.ndarray
    cu: np.ndarray
    cp: np.ndarray


class FaceLimiter:
    r"""Limited face corrections :math:`G_f = g_U/2` on the faces of the owned cells.

    Parameters
    ----------
    mesh, ords
    cells : ndarray of int
        Global radial index of every local cell (owned first, then ghosts); two ghost
        layers on each side of the owned block.
    n_owned : int
    """

    def __init__(self, mesh: RadialMesh, ords: Ordinates, cells: np.ndarray, n_owned: int):
        self.mesh, self.ords, self.n_owned = mesh, ords, n_owned
        I_, K = mesh.n, ords.k
        loc = np.full(I_ + 4, -1, dtype=np.int64)
        loc[np.asarray(cells) + 2] = np.arange(len(cells))  # offset 2: index -2..I+1
        own = np.asarray(cells[:n_owned])
        if n_owned and np.any(np.diff(np.sort(own)) != 1):
            raise ValueError("the owned radial cells must be contiguous")
        s, e = (int(own.min()), int(own.max()) + 1) if n_owned else (0, 0)
        # interior faces touching an owned cell (face f joins cells f-1 and f)
        faces = np.arange(max(s, 1), min(e, I_ - 1) + 1)
        self.faces = faces
        A = mesh.areas
        pos = ords.mu > 0
        f = faces[:, None]
        U = np.where(pos, f - 1, f)
        D = np.where(pos, f, f - 1)
        UU = np.where(pos, f - 2, f + 1)
        self.has_uu = (UU >= 0) & (UU < I_)
        a_up = np.where(pos, A[np.maximum(f - 1, 0)], A[np.minimum(f + 1, I_)])
        self.a = np.where(self.has_uu, a_up / A[f], 0.0)
        for name, idx in (("U", U), ("D", D)):
            li = loc[idx + 2]
            if np.any(li < 0):
                raise ValueError(f"limited scheme: cell {name} of a face is not local "
                                 "(needs two ghost layers)")
            setattr(self, name, li)
        li = np.where(self.has_uu, loc[np.clip(UU, -2, I_ + 1) + 2], -1)
        if np.any(self.has_uu & (li < 0)):
            raise ValueError("limited scheme: the cell upwind of a face is not local "
                             "(needs two ghost layers)")
        self.UU = np.where(self.has_uu, li, self.U)  # dummy (coefficient 0) if absent
        self.kk = np.arange(K)
        # rows: owned cell f-1 (outer face, sign -mu A_f) and cell f (inner face, +mu A_f)
        lo, hi = loc[faces - 1 + 2], loc[faces + 2]
        self.row_out = np.where((lo >= 0) & (lo < n_owned), lo, -1)
        self.row_in = np.where((hi >= 0) & (hi < n_owned), hi, -1)
        self.flux = ords.mu[None, :] * A[faces][:, None]  # mu_k A_f, (F, K)

    # ---- branch and face corrections ------------------------------------------------
    def _diffs(self, psi: np.ndarray):
        k = self.kk[None, None, :]
        j = np.arange(psi.shape[1])[None, :, None]
        pu = psi[self.U[:, None, :], j, k]
        dd = psi[self.D[:, None, :], j, k] - pu
        du = pu - psi[self.UU[:, None, :], j, k]
        return dd, du, pu

    def branch(self, psi: np.ndarray) -> Branch:
        r"""Limited slopes and their derivatives for local occupations ``psi`` of shape
        ``(n_local, bins, K)``: :math:`g = \theta_{eff}\,\delta_d` (module docstring)."""
        dd, du, pu = self._diffs(psi)
        s = np.sign(dd * du)
        c = np.where(s >= 0, KAPPA, self.a[:, None, :])
        has = self.has_uu[:, None, :]
        fin = dd != 0
        add = np.abs(np.where(fin, dd, 1.0))
        t = np.where(fin, c * np.abs(du) / add, 0.0)
        th = np.where(fin, np.minimum(t, 1.0), 1.0)  # theta = min(1, t)
        dth = np.where(fin & (t < 1.0), 1.0, 0.0)
        th = np.where(has, th, (dd < 0).astype(float))  # no upwind cell: diamond or step
        dth = np.where(has, dth, 0.0)
        # relaxation: differences small against psi_U > 0 cannot undershoot -> diamond
        pos = pu > 0
        rho = np.where(pos, np.abs(dd) / (ETA * np.where(pos, pu, 1.0)), np.inf)
        near = rho < 1.0
        w = np.where(near, (1.0 - np.where(near, rho, 0.0)) ** 2, 0.0)
        dw = np.where(near, -2.0 * (1.0 - np.where(near, rho, 0.0)), 0.0)
        rho = np.where(near, rho, 0.0)
        g = dd * (th + (1.0 - th) * w)
        cd = th + (1.0 - th) * w - t * dth * (1.0 - w) + (1.0 - th) * dw * rho
        cu = dth * (1.0 - w) * c * s
        cp = -(1.0 - th) * dw * rho * dd / np.where(pos, pu, 1.0)
        return Branch(g, cd, cu, cp)

    def rows(self, br: Branch, psi: np.ndarray | None = None) -> np.ndarray:
        r"""Correction to :math:`-L\psi` of the owned cells relative to the step scheme,
        shape ``(n_owned, bins, K)`` (multiply by the species' flux coefficient): its value
        (``psi`` None) or, for ``psi = v``, the Jacobian action on ``v``."""
        if psi is None:
            G = 0.5 * br.g
        else:
            dd, du, pu = self._diffs(psi)
            G = 0.5 * (br.cd * dd + br.cu * du + br.cp * pu)
        G = G * self.flux[:, None, :]
        out = np.zeros((self.n_owned,) + G.shape[1:], dtype=G.dtype)
        m = self.row_out >= 0  # each face has one outer and one inner cell: unique rows
        out[self.row_out[m]] -= G[m]
        m = self.row_in >= 0
        out[self.row_in[m]] += G[m]
        return out

    # ---- assembled form -------------------------------------------------------------
    def coo(self, nbins: int, block: int, offset: int):
        """``(rows, cols)`` of the correction's Jacobian in a system with ``block``
        unknowns per cell, this species starting at ``offset`` (index ``j K + k``)."""
        K = len(self.kk)
        j = np.arange(nbins)[None, :, None]
        k = self.kk[None, None, :]
        rows, cols = [], []
        for rc in (self.row_out, self.row_in):
            m = rc >= 0
            for col in (self.D, self.U, self.UU):
                r = rc[m][:, None, None] * block + offset + j * K + k
                c = col[m][:, None, :] * block + offset + j * K + k
                rows.append(np.broadcast_to(r, c.shape).ravel())
                cols.append(c.ravel())
        cat = (np.concatenate(rows), np.concatenate(cols)) if rows else \
            (np.zeros(0, np.int64), np.zeros(0, np.int64))
        return cat

    def values(self, br: Branch, coef: np.ndarray) -> np.ndarray:
        """Jacobian values on :meth:`coo` (``coef`` per bin and ordinate, (bins, K))."""
        fl = self.flux[:, None, :] * coef[None]
        dD, dU, dUU = 0.5 * br.cd, 0.5 * (br.cu - br.cd + br.cp), -0.5 * br.cu
        out = []
        for rc, sgn in ((self.row_out, -1.0), (self.row_in, 1.0)):
            m = rc >= 0
            for d in (dD, dU, dUU):
                out.append((sgn * fl[m] * d[m]).ravel())
        return np.concatenate(out) if out else np.zeros(0)

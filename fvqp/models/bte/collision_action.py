r"""The exact Jacobian action of the collision rows of :mod:`.inelastic` at one state.

Newton evaluates the residual at an iterate and then many Jacobian actions there (one per
Krylov iteration and two per preconditioner application); the collision part of every
action was a complex step through the whole rows (:meth:`.inelastic.InelasticProblem.
collision_rows`: 16 forward and 24 inverse FFTs of real/imaginary pairs, and complex
arithmetic over every (cell, bin, ordinate)). :class:`Linearisation` holds what the
state determines once — the rates, the spectra of the state factors
(:class:`fvqp.collisions.angular.RatesLinearisation`), the clip masks of the partners and
the per-ordinate coefficients — so an action transforms only the perturbation of the
angle averages (2 forward and 4 inverse real FFTs with bath phonons, 4 and 8 with local
ones, each one batched call over all cells) and forms the rows by products. It equals the
complex step to round-off (``tests/test_bte_collision_speed.py``); the complex step stays
available as ``InelasticProblem.jvp_mode = "complex_step"`` (the reference of the test
and of ``benchmarks/bte_collisions.py``).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from ...collisions.angular import RatesLinearisation

__all__ = ["CollisionRows", "Linearisation"]


class CollisionRows(Protocol):
    """What :class:`Linearisation` reads of its problem (:class:`.inelastic.
    InelasticProblem` satisfies it): the layout — ``n`` owned cells, ``S`` unknowns a
    cell, of which the first ``nq = N B`` are the QPs' (``N`` bins, ``B = K + 1``: ``K``
    ordinates and the angle average) and ``Mp`` local phonon bins —, the collision DOS
    ``rho2``/``ados2``, the grid, the rate scales, the row weights ``V``, ``crow`` and
    ``storage``, and the state's rates and clipped partners."""

    n: int
    S: int
    nq: int
    N: int
    B: int
    K: int
    Mp: int
    grid: object
    rho2: np.ndarray
    ados2: np.ndarray
    qp_scale: float
    c_ph: float
    V: np.ndarray
    crow: np.ndarray
    storage: np.ndarray

    def split(self, y: np.ndarray) -> tuple: ...

    def partners(self, y: np.ndarray) -> tuple: ...

    def own(self, y: np.ndarray) -> tuple: ...

    def collision_rates(self, y: np.ndarray): ...


class Linearisation:
    r"""The collision rows of a :class:`CollisionRows` problem at one real state ``y``: the
    rates, and (:meth:`prepare`, on the first action) what their exact derivative needs.

    With :math:`w_j = V\rho_j(w_s/w_0)` and the partners :math:`\phi^+, n^+` of
    :func:`physical` (derivative 1 inside :math:`[0, 1]` resp. :math:`n \ge 0`, 0 where
    clipped), the rows :math:`w_j[(1 - f'_{jk})A_j - f'_{jk}B_j]` and
    :math:`\beta\Omega^2V[(1 + n^+)G - n^+L]` (own occupations :math:`f' = f + \phi^+ -
    \phi`, :meth:`.inelastic.InelasticProblem.own`; :math:`v'_{jk} = v_{jk}` and
    :math:`u' = u` inside, :math:`v_{jk} - v_\phi` and 0 where clipped) have the action

    .. math::
        \delta I_{jk} = -w_j(A_j + B_j)v'_{jk} + w_j\,\delta A_j
            - w_jf'_{jk}(\delta A_j + \delta B_j), \qquad
        \delta I^{ph}_q = \beta\Omega_q^2V[(G_q - L_q)u'_q + (1 + n^+_q)\delta G_q
            - n^+_q\delta L_q],

    the :math:`\delta A, \delta B, \delta G, \delta L` along the partners'
    perturbation from :class:`fvqp.collisions.angular.RatesLinearisation` (real FFTs of
    the perturbation only), the rest products with arrays cached here: the same numbers
    as the complex step through :meth:`.inelastic.InelasticProblem.collision_rows` to
    round-off.
    """

    def __init__(self, prob: CollisionRows, y: np.ndarray):
        self.p, self.y = prob, np.array(y, dtype=float, copy=True)
        self.rates = prob.collision_rates(self.y)
        self.rl = None

    def prepare(self) -> None:
        if self.rl is not None:
            return
        p, y, r = self.p, self.y, self.rates
        _, phi, nb = p.split(y)
        self.phi_on = (phi >= 0.0) & (phi <= 1.0)
        self.clipped = not self.phi_on.all()      # own f' = f + phi+ - phi moves somewhere
        pphi, pnb = p.partners(y)
        f, _ = p.own(y)         # shifted with the clipped partners (InelasticProblem.own)
        self.rl = RatesLinearisation(pphi, np.ascontiguousarray(pnb), p.rho2, p.ados2,
                                     h=p.grid.h, m=p.grid.m, qp_scale=p.qp_scale,
                                     c_ph=p.c_ph)
        self.wq = p.V[:, None] * p.crow                              # (n, N)
        self.diag = (self.wq * (r.qp_in + r.qp_out))[:, :, None]     # (n, N, 1)
        self.wf = self.wq[:, :, None] * f                            # (n, N, K)
        if p.Mp:
            self.n_on = nb >= 0.0
            sp_ = p.storage.reshape(p.n, p.S)[:, p.nq:]              # beta Omega^2 V
            self.pdiag = sp_ * (r.ph_gain - r.ph_loss)
            self.pn1, self.pn0 = sp_ * (1.0 + pnb), sp_ * pnb

    def action(self, v_owned: np.ndarray) -> np.ndarray:
        """:math:`(\\partial\\,\\text{collision rows}/\\partial x)\\,v` (owned rows)."""
        p = self.p
        n, S, K = p.n, p.S, p.K
        v = np.asarray(v_owned, dtype=float).reshape(n, S)
        q = v[:, : p.nq].reshape(n, p.N, p.B)
        dphi = np.where(self.phi_on, q[:, :, K], 0.0)
        u = v[:, p.nq:] if p.Mp else None
        du = np.where(self.n_on, u, 0.0) if p.Mp else None
        d_in, d_out, d_gain, d_loss = self.rl.derivative(dphi, du)
        out = np.zeros((n, S))
        ok = out[:, : p.nq].reshape(n, p.N, p.B)[:, :, :K]
        np.multiply(self.wf, (d_in + d_out)[:, :, None], out=ok)     # in place: one
        ok += self.diag * q[:, :, :K]                                 # temporary
        if self.clipped:            # own f' = f + phi+ - phi: -v_phi where clipped
            ok -= self.diag * np.where(self.phi_on, 0.0, q[:, :, K])[:, :, None]
        np.subtract((self.wq * d_in)[:, :, None], ok, out=ok)
        if p.Mp:
            out[:, p.nq:] = self.pdiag * du + self.pn1 * d_gain - self.pn0 * d_loss
        return out.ravel()

r"""One time step of the chip chain: QP collisions in the films, then phonon transport.

The state is the QP unknowns of the films (:class:`fvqp.models.bte.inelastic.
InelasticProblem` with local phonons and no escape, on the films' distribution) and the
phonon occupation :math:`n_{c,j,k}` of every cell (:class:`fvqp.models.phonon.problem.
PhononProblem`, on the whole mesh). The phonon nodes are the same,
:math:`\Omega_q = (q+1)h` (the collision layer's grid ``grid.omega``; the phonon model is
built with ``grid = (h, n_ph)``), and in a film region the phonon model's states per
energy and volume are the collision layer's phonon storage,
:math:`g_f(\Omega) = w\,(w_s/w_0)\beta\,\Omega^2` with
:math:`\beta = \text{qp\_scale}/2c_{ph}`, so a film cell's phonon energy is the same
number in both (notes Eqs. 39–40). A step :math:`t\to t+\Delta t` (Lie splitting,
``docs/theory_phonon.md``):

1. the film cells' local phonons are set to the angle average :math:`\bar n` of the
   transported field; one backward-Euler Newton step of the QP + local-phonon system
   (transport of QPs in the films, elastic scattering, collisions; no escape term):
   QP energy + local phonon energy is conserved to the Newton tolerance;
2. every ordinate :math:`n_k` of the film cell's transported field takes the same BE
   step of Eq. 40 with the emission and absorption rates :math:`G, L` of the new QP
   state — QPs emit isotropically into every direction and absorb from each in
   proportion to its occupation, :math:`n_k^* = (n_k + \Delta tG)/(1 + \Delta t(L -
   G))` (positive while :math:`1 + \Delta t(L - G) > 0`, which an inverted QP
   distribution with a long step can violate — not checked yet; for an isotropic field
   exactly the local phonons' step) — plus the
   isotropic remainder that makes the angle average change by exactly the local
   phonons' :math:`\Delta\bar n`: the film cell's phonon energy changes by exactly
   theirs (an isotropic increment :math:`\Delta\bar n` alone, the simplest
   conservative choice, drives directions with few phonons negative when absorption is
   fast: a ballistic beam crossing a film);
3. one backward-Euler step of the phonon transport (all cells, bins highest first):
   streaming, interfaces, walls, bulk processes, deposits.

Energy QPs + phonons is therefore conserved to the linear and Newton tolerances; the
splitting error is :math:`O(\Delta t)` per unit time (first order, like the BE steps).
"""

from __future__ import annotations

import dataclasses
import logging
import math

import numpy as np

from ...solvers import BDFIntegrator, JacobianConfig
from ...solvers.bdf import BDFOptions

log = logging.getLogger("fvqp.bte_chip")

__all__ = ["ChipChain"]


class ChipChain:
    """The coupled step (module docstring) on every rank.

    Parameters
    ----------
    qp : fvqp.models.bte.inelastic.InelasticProblem
        QPs + local phonons of the films (``phonons = "local"``, no escape).
    ph : fvqp.models.phonon.problem.PhononProblem
        Phonons of every region; film states and nodes as the collision layer's.
    exchange : fvqp.parallel.exchange.SubsetExchange
        Side ``a``: the owned cells of ``qp``; side ``b``: those of ``ph``.
    dt : float
        Fixed step (internal time).
    prefix : str
        PETSc prefix of the QP Newton solves.
    petsc : dict
        Their options.
    """

    def __init__(self, qp, ph, exchange, dt: float, prefix: str, petsc: dict):
        self.qp, self.ph, self.ex, self.dt = qp, ph, exchange, float(dt)
        if qp.M != ph.N or not np.allclose(qp.grid.omega, ph.omega, rtol=1e-14, atol=0):
            raise ValueError("the phonon nodes of the two models differ")
        self.nq = qp.nq
        opts = BDFOptions(order=1, dt_initial=self.dt, adaptive=False)
        self.integ = BDFIntegrator(qp, qp.equilibrium(), 0.0, prefix, petsc, opts,
                                   jacobian=JacobianConfig("matrix_free", 1,
                                                           qp.preconditioner))
        self.newton = self.linear = 0
        self._labs = None

    # ---- the phonon state seen by the films ---------------------------------------------
    def film_mean(self, xp: np.ndarray) -> np.ndarray:
        r""":math:`\bar n` (n_qp_owned, M) of the film cells, from the phonon state."""
        return self.ex.b_to_a(np.ascontiguousarray(self.ph.mean(xp).T))

    def with_film_phonons(self, xq: np.ndarray, xp: np.ndarray) -> np.ndarray:
        """QP state with its local phonons replaced by the transported :math:`\\bar n`."""
        y = np.array(xq, dtype=float).reshape(self.qp.n, self.qp.S)
        y[:, self.nq:] = self.film_mean(xp)
        return y.ravel()

    def _atol_factor(self, y: np.ndarray) -> float:
        r"""Newton's absolute tolerance, as the factor of the storage-term norm
        :math:`\|C/\Delta t\|` that :class:`~fvqp.solvers.BDFIntegrator` multiplies:
        at least 1e-12 of it, and above the round-off floor of the residual,
        :math:`2\cdot10^{-16}(\||L||x|\| + \|\rho V(A + B)\|)` — the sizes of the terms
        that cancel in it (QP streaming across 100 nm film cells, in- and out-scattering;
        measured floor 2e-11 against 1e-16 x 3e5 on the small chip). Without it, once a
        burst has filled a film, ``snes_rtol`` of a small initial residual lies below the
        floor and the steps fail (line search) and are retried in quarters."""
        qp, d = self.qp, self.qp.dist
        if self._labs is None:
            self._labs = abs(qp.L)
        xl = d.ghosted(y)
        r = qp.collision_rates(y.reshape(qp.n, qp.S))
        terms = d.sum(float(np.sum((self._labs @ np.abs(xl)) ** 2)))
        terms += d.sum(float(np.sum((qp.V[:, None] * qp.crow * (r.qp_in + r.qp_out)) ** 2)))
        store = math.sqrt(d.sum(float(np.sum((qp.conserved(y) / self.dt) ** 2))))
        return max(1e-12, 2e-16 * math.sqrt(terms) / store) if store > 0 else 1e-12

    def zero_flows(self, xq: np.ndarray) -> dict:
        """The QP flows accumulated by :meth:`step` (``N:pair``, ``E:...``), all 0."""
        return {k: 0.0 for k in self.qp.rates(self.qp.dist.ghosted(xq), 0.0, self.dt)}

    # ---- one step -----------------------------------------------------------------------
    def step(self, xq: np.ndarray, xp: np.ndarray, t: float, acc: dict):
        """Advance ``(xq, xp)`` from ``t`` by ``dt``; returns the new states, the QP
        flows accumulated since the start (``acc`` updated), the phonon energy flows of
        the step (internal energy, into the system positive for sources) and the phonon
        KSP results."""
        qp, ph, integ = self.qp, self.ph, self.integ
        y = self.with_film_phonons(xq, xp)
        before = y.reshape(qp.n, qp.S)[:, self.nq:].copy()
        integ.history = [(t, y, qp.conserved(y), dict(acc))]
        integ.t = t
        integ.opts = dataclasses.replace(integ.opts, atol_factor=self._atol_factor(y))
        t1 = t + self.dt
        n0, l0 = integ.solver.total_iterations, integ.solver.total_linear_iterations
        while integ.t < t1 * (1 - 1e-14):
            integ.step(t1)
        self.newton += integ.solver.total_iterations - n0
        self.linear += integ.solver.total_linear_iterations - l0
        xq1 = integ.x.copy()
        y1 = xq1.reshape(qp.n, qp.S)
        r = qp.collision_rates(y1)                      # G, L at the new state (BE)
        dn = y1[:, self.nq:] - before                                    # (n_qp, M)
        # per film cell and node: dt G, dt (L - G), the change of the angle average
        moved = self.ex.a_to_b(np.stack([self.dt * r.ph_gain,
                                         self.dt * (r.ph_loss - r.ph_gain), dn], axis=2))
        xm = self.directions_after(xp, moved)
        a = 1.0 / self.dt
        hist = xm[:, :, : ph.K] / self.dt
        xp1, res = ph.sweep(a, hist=hist, src=ph.source_rates(t, t1), x0=xm.reshape(ph.N, -1))
        flows = {k: self.dt * v for k, v in ph.energy_rates(xp1, t, t1).items()}
        return xq1, xp1, integ.accumulated, flows, res

    def directions_after(self, xp: np.ndarray, moved: np.ndarray) -> np.ndarray:
        r"""The phonon state after the collision step, (N, n_ph, B): per ordinate the BE
        step of Eq. 40 with the rates :math:`G, L` of the new QP state,
        :math:`n_k^* = (n_k + \Delta t\,G)/(1 + \Delta t(L - G))` (emission isotropic,
        absorption from every direction in proportion to its occupation), plus the
        isotropic remainder that makes the angle average change by exactly the local
        phonons' :math:`\Delta\bar n` (the Newton residual: energy conserved to
        round-off). ``moved`` (n_ph, M, 3): :math:`\Delta tG`, :math:`\Delta t(L-G)`,
        :math:`\Delta\bar n` (0 outside the films)."""
        ph = self.ph
        x = xp.reshape(ph.N, ph.n, ph.B)
        gdt, ldt, dn = (np.ascontiguousarray(moved[:, :, i].T) for i in range(3))
        nk = (x[:, :, : ph.K] + gdt[:, :, None]) / (1.0 + ldt[:, :, None])
        rest = dn - (nk @ ph.quad.weights - x[:, :, : ph.K] @ ph.quad.weights)
        out = np.empty_like(x)
        out[:, :, : ph.K] = nk + rest[:, :, None]
        out[:, :, ph.K] = x[:, :, ph.K] + dn
        return out

    # ---- observables (internal units, global sums) --------------------------------------
    def energies(self, xq: np.ndarray, xp: np.ndarray) -> dict:
        """QP energy and number (films) and phonon energy (all cells)."""
        tq = self.qp.totals(xq)
        d = self.qp.dist
        return {"E_qp": d.sum(tq["E_qp"]), "N_qp": d.sum(tq["N_qp"]),
                "E_ph": self.ph.energy(xp)}

    def qp_number_by_region(self, xq: np.ndarray, nregions: int) -> np.ndarray:
        """QP number of every region (global), internal units."""
        qp = self.qp
        f, _, _ = qp.split(xq.reshape(qp.n, qp.S))
        c = qp.base.weight * qp.grid.h
        per_cell = c * (qp.V[:, None] * qp.rho_cells * (f @ qp.w)).sum(axis=1)
        reg = qp.base.loc.cell_region[: qp.n]
        out = np.bincount(reg, weights=per_cell, minlength=nregions)
        return np.array([qp.dist.sum(v) for v in out])

r"""The two parts of a step with the self-consistent gap (``[gap] self_consistent``).

A step of :mod:`.gaprun` is a Lie splitting: first the kinetics at the frozen cell gaps
:math:`\Delta_c` over :math:`[t, t + \Delta t]`, then the gap update at fixed state
(:mod:`.gapdynamics`: every cell's gap re-solved from its own :math:`\bar f`, states
keeping :math:`\xi`, :func:`.gapshift.shift_gap`; operators rebuilt at the new gaps).
This module holds the state of a run and its two kinds of kinetic step:

* :class:`Collisionless` — the per-bin backward-Euler step of
  :class:`.problem.BTEProblem` (energies independent);
* ``WithCollisions`` (:mod:`.gapcollide`) — the coupled backward-Euler Newton step of
  :class:`.inelastic.InelasticProblem` with the collision DOS :math:`\bar\rho,\bar a` of
  every cell's own gap.

Both keep the state on the owned cells, give the QP flows of the step (time integrals of
the rates at the step's new state: exact for backward Euler up to the solver tolerance)
and its energy flows (:attr:`GapStepper.energy_flows`), and pack the state per cell for
the checkpoint (:class:`fvqp.io.bin_checkpoint.
BinCheckpoint` with one "bin" of ``block`` unknowns per cell).
"""

from __future__ import annotations

import numpy as np

from .eliashberg_gaps import gap_model
from .gapdynamics import (
    consistent_state,
    extrapolated_gaps,
    gap_update,
    per_bin,
    per_cell,
    rebuilt,
    thermal_start,
)
from .gapshift import shift_gap
from .selfgap import GapUpdate

__all__ = ["Collisionless", "GapStepper", "carried", "delta0_of", "gap_summary",
           "held_of"]

#: tolerance of the gap iteration, relative to the material's zero-temperature gap
GAP_TOL = 1e-12


def carried(now: tuple[float, float], prev: tuple[float, float] | None,
            coef: tuple[float, float, float] = (1.5, -2.0, 0.5)) -> float:
    r"""The condensate's energy :math:`c` carried into a kinetic step by its history
    remaps (docs/theory_bte_mesh.md, "Energy balance with the gap").

    ``now = (c_n, d_n)``: the cumulative condensate energy :math:`c_n` given to the QPs
    up to the step's start and :math:`\delta_n = E^*(x_n^*) - E(x_n)`, the energy change
    of the start state remapped to the gaps the step is taken at; ``prev``: the same of
    the state before it (BDF2) or None (backward Euler). A step of the BDF family
    :math:`a_0C_{n+1} + a_1C_n + a_2C_{n-1} = \Delta t\,R` (equal steps; BDF2:
    :math:`\tfrac32, -2, \tfrac12`; ``coef``: the weights of a step of another length,
    :func:`fvqp.solvers.bdf.bdf2_coefficients`) on remapped history states keeps
    :math:`E - A - c` where :math:`A` are its accumulated energy flows if
    :math:`c_{n+1} = -[a_1(c_n + \delta_n) + a_2(c_{n-1} + \delta_{n-1})]/a_0`: the
    remaps' energy enters with the scheme's own weights, as the flows do. Backward Euler:
    :math:`c_n + \delta_n`."""
    if prev is None:
        return now[0] + now[1]
    a0, a1, a2 = coef
    return -(a1 * (now[0] + now[1]) + a2 * (prev[0] + prev[1])) / a0


def gap_summary(model) -> dict:
    """Summary entries of the gap model: ``gap_model`` and, for Eliashberg, its solves,
    sweeps and cached edges (all ranks)."""
    return {"gap_model": "bcs"} if model is None else {"gap_model": "eliashberg",
                                                       **model.counters()}


def delta0_of(sim) -> np.ndarray:
    """Zero-temperature gap of every owned cell's material (internal; 0: normal)."""
    u, loc = sim.units, sim.dist.local
    reg = sim.case.values["regions"]
    d0 = [0.0 if m is None or reg[name].get("normal") else m.gap_ratio * m.Tc / u.Tc
          for name, m in zip(sim.geometry.region_names, sim.materials, strict=True)]
    return np.array(d0)[loc.cell_region[: loc.n_owned]]


def held_of(sim) -> np.ndarray:
    """Owned cells of the regions in ``[gap] hold`` (their gap stays at the bath's)."""
    names = set(sim.case.values["gap"]["hold"])
    held = np.array([n in names for n in sim.geometry.region_names])
    return held[sim.dist.local.cell_region[: sim.dist.local.n_owned]]


class GapStepper:
    """What both kinds of step share: the simulation, the gap iteration's tolerance, the
    time order (1: Lie splitting, 2: BDF2) with its corrections and the previous step,
    the owned cells' zero-temperature gaps, the held cells and the gap model (BCS: None,
    or :mod:`.eliashberg_gaps`)."""

    def __init__(self, sim, tol: float = GAP_TOL, order: int = 1, corrections: int = 1):
        if order not in (1, 2):
            raise ValueError(f"order must be 1 (Lie splitting) or 2 (BDF2), got {order}")
        self.sim, self.tol, self.order = sim, tol, order
        #: order 2: re-solves of the step at the self-consistent gaps of its result (0:
        #: at the extrapolated gaps only, first order in the gap)
        self.corrections = int(corrections)
        #: order 2: the previous step (None: the next step is backward Euler)
        self._prev: tuple | None = None
        self.delta0, self.held = delta0_of(sim), held_of(sim)
        self.model = gap_model(sim, self.delta0, self.held)
        #: energy of the current state (all ranks, QPs and local phonons) and the
        #: cumulative energy the condensate gave the QPs (remaps of gap changes); order 2:
        #: the same of the previous state (:func:`carried`)
        self.e_now, self.c_now = 0.0, 0.0
        self.e_prev: tuple[float, float] | None = None
        #: energy flows *out of* the system in the last step (``condensate``: energy the
        #: QPs gave back to the condensate in its remaps, the kinetic step's share)
        self.energy_flows: dict[str, float] = {}

    def energy_parts(self) -> dict[str, float]:
        """Energies of the current state (all ranks): ``qp`` and (local) ``phonon``."""
        raise NotImplementedError

    def energy(self) -> float:
        """Energy of the current state (all ranks): QPs and local phonons."""
        return float(sum(self.energy_parts().values()))

    def _updated(self, e_before: float) -> float:
        """After a gap update: the energy it gave the QPs (their remap), added to
        :attr:`c_now` and to the step's ``condensate`` flow (out: minus it)."""
        e = self.energy()
        gain = e - e_before
        self.e_now, self.c_now = e, self.c_now + gain
        self.energy_flows["condensate"] = self.energy_flows.get("condensate", 0.0) - gain
        return gain

    def energy_state(self) -> dict:
        """What the energy bookkeeping needs on resume (JSON): :attr:`c_now` and, order
        2, the previous state's energy and condensate."""
        return {"c_now": self.c_now, "e_prev": self.e_prev}

    def restore_energy(self, meta: dict | None) -> None:
        """Inverse of :meth:`energy_state` (after the state and history are restored)."""
        self.e_now = self.energy()
        meta = meta or {}
        self.c_now = float(meta.get("c_now", 0.0))
        ep = meta.get("e_prev")
        self.e_prev = None if ep is None else (float(ep[0]), float(ep[1]))

    def gaps(self) -> np.ndarray:
        """Gaps of the owned cells."""
        return self.sim.problem.cell_gaps()

    def snapshot(self) -> tuple:
        """What :meth:`restore` needs to put the run back where it is now: references to
        the state and the history (steps replace them, never write into them) and a copy
        of the owned cells' gaps."""
        raise NotImplementedError

    def restore(self, snap: tuple) -> None:
        """Back to :meth:`snapshot`'s state, gaps and history (problems rebuilt at the
        gaps): a failed step leaves the run at the step before it."""
        raise NotImplementedError

    def flow_names(self, energy: bool = False) -> list[str]:
        """The names of the QP flows a step returns (the series' columns from step 0);
        ``energy``: those of :attr:`energy_flows`."""
        raise NotImplementedError


class Collisionless(GapStepper):
    r"""State and steps of a collisionless run (module docstring).

    ``sim.problem`` is kept at the current cell gaps; ``x`` is its per-bin state
    (N, n_owned B). ``order=2``: BDF2 steps of every bin (:meth:`.problem.BTEProblem.step`,
    the sources integrated exactly by :meth:`~.problem.BTEProblem.step_source`, BDF2 on
    :math:`C - \int S`) with both history states remapped in :math:`\xi` to the gaps
    :math:`\Delta^*` the step is taken at, the other flows accumulated with the BDF2
    weights, so the QP balance stays exact; the first step and a step of another length
    are backward Euler. :math:`\Delta^*` is predicted by extrapolation,
    :math:`2\Delta^n - \Delta^{n-1}`, and ``corrections`` times corrected: the step is
    repeated at the self-consistent gaps of its result (:func:`.gapdynamics.
    consistent_state`). Without a correction (``corrections=0``) the step is first order:
    the gap update then remaps the result by :math:`\Delta^{n+1} - \Delta^* = O(\Delta
    t^2)`, mostly against the direction of the history's remaps, and the :math:`\xi` remap
    is upwind (one-sided in the shift), so that remap does not cancel against the history's
    and leaves :math:`O(\Delta t^2)` per step (docs/theory_bte_mesh.md, "Second order in
    time"); one correction leaves :math:`O(\Delta t^3)` (order 2;
    ``tests/test_bte_selfgap_order.py``) for twice the kinetic solves per step."""

    def __init__(self, sim, tol: float = GAP_TOL, order: int = 1, corrections: int = 1):
        super().__init__(sim, tol, order, corrections)
        #: order 2 (``_prev``): (t, state, owned gaps, flow increments) of the step's start
        p = sim.problem
        self.block, self.n_owned = p.N * p.B, p.n
        self.x: np.ndarray | None = None

    def start(self, f0: np.ndarray) -> GapUpdate:
        """The isotropic thermal state ``f0`` (N,) at its self-consistent gaps
        (:func:`.gapdynamics.thermal_start`)."""
        self.sim.problem, self.x, up = thermal_start(self.sim.problem, f0, self.delta0,
                                                     held=self.held, model=self.model)
        self.e_now, self.c_now, self.e_prev = self.energy(), 0.0, None
        return up

    def energy_parts(self) -> dict[str, float]:
        return {"qp": self.sim.problem.energy(self.x), "phonon": 0.0}

    def step(self, t: float, dt: float) -> tuple[bool, dict, int]:
        """One kinetic step at frozen gaps (backward Euler, or BDF2 at the predicted and
        corrected gaps: class docstring): (success, QP flow increments out of the system
        — :meth:`.problem.BTEProblem.rates` times ``dt`` —, Krylov iterations, of all the
        step's solves); the state advances only on success."""
        p = self.sim.problem
        now = (t, self.x, self.gaps().copy())
        prev = self._prev
        if prev is not None and abs((t - prev[0]) - dt) > 1e-12 * dt:
            prev = None                       # another step length: backward Euler
        if prev is None:
            xn, res = p.step(self.x, None, t, dt)
            its = int(sum(r.iterations for r in res))
            c_kin = carried((self.c_now, 0.0), None)       # no remap before the step
        else:
            xn, res, p, e_star = self._bdf2(now, prev, dt, None)
            its = int(sum(r.iterations for r in res))
            for _ in range(self.corrections):
                if not all(r.success for r in res):
                    break
                root = consistent_state(p, xn, self.delta0, held=self.held, tol=self.tol,
                                        model=self.model)
                if not root.converged:        # the update reports it
                    break
                xn, res, p, e_star = self._bdf2(now, prev, dt, root.delta)
                its += int(sum(r.iterations for r in res))
            ep = self.e_prev if self.e_prev is not None else (e_star[1], self.c_now)
            c_kin = carried((self.c_now, e_star[0] - self.e_now),
                            (ep[1], e_star[1] - ep[0]))
        if not all(r.success for r in res):
            if prev is not None:              # back to the step's start
                self.sim.problem = rebuilt(p, now[2])
            return False, {}, its
        inc = {k: v * dt for k, v in p.rates(xn, t, t + dt).items()}
        einc = {k: v * dt for k, v in p.rates(xn, t, t + dt, energy=True).items()}
        if prev is not None:                  # the BDF2 weights; sources exact
            inc = {k: v if k == "sources" else (v + 0.5 * prev[3].get(k, 0.0)) / 1.5
                   for k, v in inc.items()}
            einc = {k: v if k == "sources" else (v + 0.5 * prev[3].get("E:" + k, 0.0))
                    / 1.5 for k, v in einc.items()}
        self.x = xn
        if self.order == 2:
            self._prev = (*now, {**inc, **{"E:" + k: v for k, v in einc.items()}})
            self.e_prev = (self.e_now, self.c_now)
        self.energy_flows = {**einc, "condensate": self.c_now - c_kin}
        self.e_now, self.c_now = p.energy(xn), c_kin
        return True, inc, its

    def _bdf2(self, now: tuple, prev: tuple, dt: float, star: np.ndarray | None):
        """One BDF2 step of every bin at the owned gaps ``star`` (None: extrapolated,
        :func:`.gapdynamics.extrapolated_gaps`) with both history states remapped to them:
        ``(x, KSP results, problem at those gaps, the energies of the two remapped
        history states)``; ``sim.problem`` becomes it."""
        p = self.sim.problem
        t, x0, g0 = now
        x1, g1 = prev[1], prev[2]
        if star is None:
            star = extrapolated_gaps(g0, g1, self.delta0, self.held, float(p.grid.edges[0]))
        q = self.sim.problem = rebuilt(p, star)
        f0 = per_bin(q, shift_gap(per_cell(q, x0), q.grid, g0, star))
        f1 = per_bin(q, shift_gap(per_cell(q, x1), q.grid, g1, star))
        xn, res = q.step(f0, f1, t, dt)   # equal steps: t1 = t - dt
        return xn, res, q, (q.energy(f0), q.energy(f1))

    def update(self) -> GapUpdate:
        """The gap update of the current state (collective); its energy change is the
        condensate's (:meth:`GapStepper._updated`)."""
        e = self.e_now
        self.sim.problem, self.x, up = gap_update(self.sim.problem, self.x, self.delta0,
                                                  held=self.held, tol=self.tol,
                                                  model=self.model)
        if up.converged:
            self._updated(e)
        return up

    def snapshot(self) -> tuple:
        return (self.x, self.gaps().copy(), self._prev, self.sim.problem.owned_spectra(),
                (self.e_now, self.c_now, self.e_prev))

    def restore(self, snap: tuple) -> None:
        x, gaps, self._prev, spectra, (self.e_now, self.c_now, self.e_prev) = snap
        self.sim.problem = rebuilt(self.sim.problem, gaps, spectra)
        self.x = x

    def flow_names(self, energy: bool = False) -> list[str]:
        names = list(self.sim.problem.rates(self.x, 0.0, 1.0))
        return [*names, "condensate"] if energy else names

    def qp_bins(self) -> np.ndarray:
        """The QP state in the per-bin layout of ``sim.problem`` (N, n_owned B)."""
        return self.x

    def number(self) -> float:
        """Total QP number (internal, all ranks)."""
        return self.sim.problem.number(self.x)

    def fields(self, names) -> dict:
        return self.sim.fields(self.x, names)

    def pack(self) -> np.ndarray:
        """The state as (1, n_owned ``block``), cell by cell."""
        return per_cell(self.sim.problem, self.x).reshape(1, -1)

    def unpack(self, packed: np.ndarray, gaps: np.ndarray, spectra=None) -> None:
        """Inverse of :meth:`pack` with the owned cells' gaps and, with per-cell spectra,
        their tables (problem rebuilt there)."""
        p = self.sim.problem = rebuilt(self.sim.problem, gaps, spectra)
        self.x = per_bin(p, np.asarray(packed).reshape(p.n, p.N, p.B))

    def history(self) -> dict | None:
        """Order 2: the previous state (1, n_owned ``block``), its owned gaps and (JSON)
        its time and the last step's flows, for the checkpoint; None without."""
        if self._prev is None:
            return None
        t1, x1, g1, inc = self._prev
        return {"x": per_cell(self.sim.problem, x1).reshape(1, -1), "gaps": g1,
                "meta": {"t": t1, "inc": inc}}

    def restore_history(self, x: np.ndarray, gaps: np.ndarray, meta: dict) -> None:
        """Inverse of :meth:`history` (``gaps`` of the owned cells)."""
        p = self.sim.problem
        self._prev = (float(meta["t"]), per_bin(p, np.asarray(x).reshape(p.n, p.N, p.B)),
                      np.asarray(gaps, dtype=float), dict(meta["inc"]))

    def counters(self) -> dict:
        """Iteration counts kept in the checkpoint (none beyond the run's)."""
        return {}

    def restore_counters(self, counts: dict) -> None:
        """Inverse of :meth:`counters`."""

    def summary(self) -> dict:
        """Extra summary entries of this kind of step (the Eliashberg solves)."""
        return gap_summary(self.model)

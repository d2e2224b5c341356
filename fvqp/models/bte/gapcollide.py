r"""Steps with inelastic collisions and the self-consistent gap (``[gap] self_consistent``
with ``[collisions] enabled``).

The kinetic part of a step of :mod:`.gaprun` is one backward-Euler Newton step of the
coupled (cell, energy, ordinate[, phonon]) system of :class:`.inelastic.InelasticProblem`
(:class:`fvqp.solvers.bdf.BDFIntegrator`, order 1, the fixed step; its preconditioner
:class:`.inelastic.InelasticPC`) built at the frozen cell gaps :math:`\Delta_c`: transport
with every cell's storage :math:`\bar\rho(\Delta_c)` and flux :math:`v_F\bar D_L(\Delta_c)`
(:mod:`.media`), collisions with every cell's own collision DOS
:math:`\bar\rho(\Delta_c)` and coherence weight :math:`\bar a(\Delta_c)` (exact bin
averages, :func:`fvqp.spectra.bins.cell_spectra`) on the absolute bin grid (its pair
offsets do not depend on the gap). The gap update follows (:mod:`.gapdynamics`: the QP
occupations remapped in :math:`\xi`; the phonon occupations do not depend on the gap and
stay), and the collision problem is rebuilt at the new gaps. At the frozen gaps the
collision operator keeps detailed balance exactly, so a thermal state at the bath
temperature with its self-consistent gap (:func:`.gapdynamics.thermal_start`) is a
fixed point of both parts (the gap iteration keeps an already self-consistent gap
exactly, :func:`.selfgap.consistent_gaps`).

QP flows of a step: the integrator's accumulated rates (``N:`` keys of
:meth:`.inelastic.InelasticProblem.rates`: into the QPs), returned as flows *out of*
the QPs (sign flipped, the prefix dropped; ``pair`` = recombination − pair breaking).

Second order (``order=2``): the kinetic step is BDF2 (:class:`fvqp.solvers.bdf.
BDFIntegrator`, its exact integration of the explicit sources included) at the gaps
extrapolated to the step's end, :math:`\Delta^* = 2\Delta^n - \Delta^{n-1}` per cell
(:math:`\Delta(t_{n+1}) + O(\Delta t^2)`; held and normal cells keep theirs; clipped to
the grid's first edge and :math:`\Delta_0`), with both history states remapped in
:math:`\xi` to :math:`\Delta^*` (:func:`.gapshift.shift_gap`: a state keeps its
:math:`\xi` and occupation, so the BDF2 history is the same states counted on the bins of
:math:`\Delta^*`; the phonons stay) and the accumulated flows carried on, so the QP
number balance stays exact. The step is then solved once more (``corrections = 1``,
the default) at the self-consistent gaps of its own result
(:func:`.gapdynamics.consistent_state`), as in :class:`.gapsteps.Collisionless`: with the
extrapolated gaps alone the gap update's upwind remap by :math:`O(\Delta t^2)` leaves
the gap first order (measured 1.20 on a narrow pulse); the gap update that follows moves
the state by :math:`O(\Delta t^3)`. The first step, and the first after a
source breakpoint, is the backward-Euler one. With the gaps written as
:math:`\Delta = \mathcal G[f]`, this is the extrapolated (IMEX-like) BDF2 of
:math:`\partial_t(\rho f) = R(f, \Delta)`: second order in the step.

Adaptive steps (``[time] adaptive = true``, ``adaptive=True``): the first solve of a step
is one step of :meth:`fvqp.solvers.bdf.BDFIntegrator.step` with the error control of the
held-gap runs — the Milne estimate against the polynomial through the last three
accepted states (two after a start or a source breakpoint; all remapped in :math:`\xi` to
the gaps the step is taken at), rejections and retries at a shorter step, the next step
proposed from the estimate, the source windows followed (``max_dt``, breakpoints) —;
the extrapolation of the gaps, the BDF2 weights of the correction solve and of the
condensate's energy (:func:`.gapsteps.carried`) take the step ratio
:math:`w = h_{n+1}/h_n`. The correction solve repeats the accepted step length.

Newton preconditioner: ``pc_lag`` (:func:`.coupled.pc_lag`; default ``step``) —
built once per step by the problem current then and carried over (:class:`_Carried`)
to the step's further Newton iterations and to its second solve on the problem rebuilt
at the self-consistent gaps; ``none`` builds at every Newton iteration, ``run`` keeps
the build across steps while the Krylov counts allow. The Krylov operator is always the
current problem's exact Jacobian action: the answer does not depend on the choice
beyond the Krylov tolerance.
"""

from __future__ import annotations

import dataclasses
import logging
import math

import numpy as np

from ...solvers import JacobianConfig
from ...solvers.bdf import bdf2_coefficients, planned_step
from ...solvers.result import ConvergenceError
from ..base.timeloop import add_counts
from .coupled import (
    LAG_RULE,
    _finish,
    _petsc,
    coarse_escalation,
    forcing,
    pc_lag,
    region_prefactors,
)
from .gapdynamics import (
    consistent_state,
    extrapolated_gaps,
    gap_update,
    rebuilt,
    thermal_start,
)
from .gapshift import shift_gap
from .gapsteps import GAP_TOL, GapStepper, carried, gap_summary
from .inelastic import InelasticProblem
from .inelastic_pc import coarse_warning
from .selfgap import GapUpdate

__all__ = ["WithCollisions"]

log = logging.getLogger("fvqp.bte")


class _FrozenGaps:
    """The :class:`.problem.BTEProblem` at frozen cell gaps as the transport base of an
    :class:`.inelastic.InelasticProblem`: everything delegated, the per-cell media
    included; ``cell_gap`` reads ``None`` because the collision DOS of every cell's gap is
    handed over explicitly (``rho``, ``ados`` per owned cell)."""

    cell_gap = None

    def __init__(self, base):
        self._base = base

    def __getattr__(self, name):
        return getattr(self._base, name)


class _Carried:
    r"""The Newton preconditioner of the collision problem that is current when it is
    built (:meth:`update`), applied (:meth:`apply`) until the next build — across the
    problems that the gap updates and the BDF2 correction put in its place, whose
    operators differ from the built one's by the gaps' change (~1e-4 on the absorber).
    The Krylov operator is always the current problem's exact Jacobian action, so only
    the Krylov count depends on which build is applied (:mod:`fvqp.solvers.lagged`,
    which decides when to build). It keeps the problem of its build alive (not
    released by :meth:`WithCollisions._collisions`) until a newer build or
    :meth:`drop`."""

    def __init__(self, release):
        self.release = release   # release(problem): what replaced problems get
        self.current = None      # the problem whose preconditioner the next build makes
        self.built = None        # the problem whose preconditioner is applied

    def update(self, x_local: np.ndarray, shift: float) -> None:
        self.current.preconditioner.update(x_local, shift)
        old, self.built = self.built, self.current
        if old is not None and old is not self.built:
            self.release(old)

    def apply(self, r: np.ndarray) -> np.ndarray:
        return self.built.preconditioner.apply(r)

    def holds(self, prob) -> bool:
        """Whether ``prob`` is the problem of the build (its release is deferred)."""
        return prob is not None and prob is self.built

    def drop(self) -> None:
        """Forget the build (the caller invalidates the lag first); its problem is
        released unless it is the current one."""
        old, self.built = self.built, None
        if old is not None and old is not self.current:
            self.release(old)


class WithCollisions(GapStepper):
    """State (owned unknowns of the coupled layout) and steps of a run with collisions
    (module docstring)."""

    def __init__(self, sim, tol: float = GAP_TOL, order: int = 1, corrections: int = 1,
                 adaptive: bool = False):
        from ...collisions.grid import bose

        super().__init__(sim, tol, order, corrections)
        #: adaptive steps (module docstring): the step taken by the last :meth:`step`,
        #: the one proposed for the next, the rejected attempts so far, and the state
        #: before ``_prev`` (t, state, owned gaps) for the predictor
        self.adaptive = bool(adaptive)
        self.taken: float | None = None
        self.h_next: float | None = None
        self.rejected = 0
        self._past2: tuple | None = None
        #: order 2: the accumulated flows now (``_prev``: the previous step's t, state,
        #: owned gaps and accumulated flows; None: the next step is backward Euler)
        self._acc: dict | None = None
        reg = sim.dist.local.cell_region[: sim.dist.local.n_owned]
        qs, cph, rel = region_prefactors(sim)
        self._pref = (qs[reg], cph[reg], rel[reg])
        #: the released problems' preconditioner counters (:func:`_pc_counts`) and what
        #: the last solve's preconditioner was (fine level, global coarse, sweep stages)
        self._pc_done: dict = {}
        #: the preconditioner work of the invocations before a resume
        #: (:meth:`restore_counters`)
        self._pc_base: dict = {}
        self._pc_kind: dict = {}
        #: how long a Newton preconditioner is kept (:func:`.coupled.pc_lag`): ``none``
        #: builds at every Newton iteration; ``step`` once per time step, kept for its
        #: further iterations and its second solve at the self-consistent gaps; ``run``
        #: across steps and gap updates while the Krylov counts allow
        self.lag = pc_lag(sim)
        self._carried = _Carried(self._release)
        #: the switch of the global coarse solve to GAMG, shared by every collision problem
        #: of the run (one per gap update: each would otherwise pay one long ILU(0) solve)
        self._escalation = coarse_escalation(sim)   # used with sweeps only (_finish)
        self._kept = None
        if self.lag != "none":
            from ...solvers.lagged import LaggedPreconditioner

            self._kept = LaggedPreconditioner(self._carried, logger=log, **LAG_RULE)
        self._bose = bose
        self.prob = self._collisions()
        self.block, self.n_owned = self.prob.S, self.prob.n
        if self.model is not None and self.prob.Mp:   # the local phonons in Eqs. 180-181
            self.model.phonons = lambda: None if self.y is None else (
                self.prob.grid.omega, self.prob.phonons_of(self.y))
        self.y: np.ndarray | None = None
        self.newton = self.linear = self.failed = 0
        #: steps whose exact QP balances were refused (:meth:`BDFIntegrator.conserve`)
        self.unbalanced = 0
        #: energies of the two history states remapped to the gaps of the last solve
        self._e_star: tuple[float, float] | None = None

    def energy_parts(self, y: np.ndarray | None = None) -> dict[str, float]:
        """Energies of the state ``y`` (default the current one) on the current problem."""
        t = self.prob.totals(self.y if y is None else y)
        return {"qp": self.sim.dist.sum(t["E_qp"]), "phonon": self.sim.dist.sum(t["E_ph"])}

    # ---- the problem at the current gaps -------------------------------------------------
    def _collisions(self) -> InelasticProblem:
        """The collision problem at the current gaps (the previous one released, its
        preconditioner's counters kept)."""
        old = getattr(self, "prob", None)
        if old is not None and not self._carried.holds(old):   # else at the next build
            self._release(old)
        p = self.sim.problem
        rho, ados = p.collision_spectra()
        qs, cph, rel = self._pref
        prob = _finish(self.sim, InelasticProblem, rho, ados, qs, cph, rel,
                       base=_FrozenGaps(p), escalation=self._escalation)
        prob.follow_sources = getattr(self, "adaptive", False)   # land on source windows
        return prob

    def _release(self, prob: InelasticProblem) -> None:
        """Release a replaced collision problem, its preconditioner's counters kept (and
        not referenced any more: freed at once)."""
        self._pc_done = _pc_counts(prob.preconditioner, self._pc_done)
        prob.release()
        if self._carried.current is prob:
            self._carried.current = None

    def _set_qps(self, xq: np.ndarray) -> None:
        """Put the per-bin QP state ``xq`` (N, n B) into ``y`` and rebuild the problem."""
        p, q = self.sim.problem, self.prob
        y = self.y.reshape(q.n, q.S).copy()
        y[:, : q.nq] = xq.reshape(p.N, p.n, p.B).transpose(1, 0, 2).reshape(p.n, -1)
        self.prob = self._collisions()
        self.y = y.ravel()

    # ---- the stepper interface of .gaprun ------------------------------------------------
    def start(self, f0: np.ndarray) -> GapUpdate:
        """The thermal state ``f0`` (N,) at its self-consistent gaps (local phonons at
        the same temperature: ``[initial] temperature`` or the bath)."""
        d = self.sim.case.values
        t0 = d["initial"].get("temperature") or self.sim.T_bath
        local = self.model is not None and self.prob.Mp
        if local:   # the Eliashberg gaps see the start's phonons as tabulated later on
            om = self.prob.grid.omega
            nb = np.broadcast_to(self._bose(om, t0), (self.prob.n, len(om)))
            reading, self.model.phonons = self.model.phonons, lambda: (om, nb)
        self.sim.problem, xq, up = thermal_start(self.sim.problem, f0, self.delta0,
                                                 held=self.held, model=self.model)
        if local:
            self.model.phonons = reading
        self.prob = self._collisions()
        self.y = self.prob.equilibrium(f0, self._bose(self.prob.grid.omega, t0))
        self._set_qps(xq)
        self.e_now, self.c_now, self.e_prev = self.energy(), 0.0, None
        return up

    def step(self, t: float, dt: float, t_stop: float | None = None
             ) -> tuple[bool, dict, int]:
        """One Newton step at frozen gaps — backward Euler, or BDF2 at the extrapolated
        gaps corrected ``corrections`` times to the self-consistent gaps of its result
        (module docstring) —: (success, QP flows out of the system, Krylov iterations of
        all the step's solves). Adaptive: ``dt`` is the proposed step, the one taken (not
        beyond ``t_stop``) is :attr:`taken`, the next proposal :attr:`h_next`."""
        now = (t, self.y, self.gaps().copy())
        bdf2 = self.order == 2 and self._prev is not None
        if self.lag == "step":
            self._kept.invalidate("step")
        if t_stop is not None:   # the step the integrator tries first: the gaps' target
            dt_max = self.sim.case.values["time"].get("dt_max") or math.inf
            dt = planned_step(min(dt, dt_max, self.prob.max_dt(t, self._prev is not None)),
                              t_stop - t)
        if bdf2:
            self._extrapolate(dt / (t - self._prev[0]))
        ok, integ, acc0 = self._solve(now, dt, bdf2, t_stop)
        if ok and self.adaptive:
            dt, self.h_next = integ.t - t, integ.h
        self.taken = dt if ok else None
        linear = integ.solver.total_linear_iterations
        for _ in range(self.corrections if bdf2 else 0):
            if not ok:
                break
            self.y = integ.x.copy()           # the result (the Eliashberg local phonons)
            root = consistent_state(self.sim.problem, self.prob.per_bin(integ.x),
                                    self.delta0, held=self.held, tol=self.tol,
                                    model=self.model)
            if not root.converged:            # the gap update reports it
                break
            integ.solver.destroy()
            # Newton starts from the result on the corrected gaps (its QPs remapped, its
            # phonons), not from the predictor: one iteration fewer per step
            guess = integ.x.reshape(self.prob.n, self.prob.S).copy()
            guess[:, : self.prob.nq] = root.f.reshape(self.prob.n, -1)
            self._at(root.delta, self._qp_shift(now[1], now[2], root.delta))
            ok, integ, acc0 = self._solve(now, dt, bdf2, guess=guess.ravel())
            linear += integ.solver.total_linear_iterations
        flows = {}
        if ok:
            self.y = integ.x.copy()
            acc = integ.accumulated
            flows = {k[2:]: acc0.get(k, 0.0) - v for k, v in acc.items()
                     if k.startswith("N:")}
            if bdf2:                          # the history's remaps (module docstring)
                ep = self.e_prev if self.e_prev is not None else (self._e_star[1],
                                                                  self.c_now)
                c_kin = carried((self.c_now, self._e_star[0] - self.e_now),
                                (ep[1], self._e_star[1] - ep[0]),
                                bdf2_coefficients(dt / (t - self._prev[0])))
            else:
                c_kin = carried((self.c_now, 0.0), None)
            self.energy_flows = {**{k[2:]: acc0.get(k, 0.0) - v for k, v in acc.items()
                                    if k.startswith("E:")}, "condensate": self.c_now - c_kin}
            if self.order == 2 or self.adaptive:
                landed = any(abs(t + dt - b) <= 1e-12 * max(abs(b), dt)
                             for b in self.prob.breakpoints())
                # adaptive: the predictor's third state (forgotten at a breakpoint, as
                # the held-gap integrator's restart does)
                self._past2 = None if landed or self._prev is None else self._prev[:3]
                self._prev, self._acc = (None, None) if landed else ((*now, acc0), acc)
                self.e_prev = None if landed else (self.e_now, self.c_now)
            self.e_now, self.c_now = self.energy(), c_kin
        elif bdf2:  # back to the step's start (its gaps and state)
            self._at(now[2], now[1])
        integ.solver.destroy()
        if self.lag == "step":      # the next step builds its own
            self._carried.drop()
        return ok, flows, linear

    def _solve(self, now: tuple, dt: float, bdf2: bool, t_stop: float | None = None,
               guess: np.ndarray | None = None):
        """The kinetic step from ``now`` at the current problem's gaps (BDF2: the history
        remapped to them): ``(success, integrator, accumulated flows at the start)``; the
        counters are added up. With ``t_stop`` (adaptive runs' first solve): one
        adaptive step of proposed length ``dt``, not beyond ``t_stop``; ``guess``:
        Newton's start (owned unknowns) instead of the predictor."""
        from ...solvers import BDFIntegrator
        from ..base import bdf_options

        d, t = self.sim.case.values, now[0]
        opts, _ = bdf_options(d["time"], d["time"]["atol"])
        adaptive = t_stop is not None
        opts = dataclasses.replace(opts, order=2 if bdf2 else 1, adaptive=adaptive,
                                   dt_initial=dt)
        prefix, petsc = _petsc(self.sim)
        self._carried.current = self.prob
        pc = self.prob.preconditioner if self._kept is None else self._kept
        integ = BDFIntegrator(self.prob, self.y, t, prefix, petsc, opts,
                              jacobian=JacobianConfig("matrix_free", 1, pc,
                                                      forcing(self.sim, default=False)))
        if bdf2 or (adaptive and self._prev is not None):
            self._history(integ, now, dt, predictor=adaptive)
        integ.guess = guess
        acc0 = integ.accumulated           # BDF2: the flows carried on; else zeros
        try:
            if adaptive:
                integ.step(t_stop)
                ok = True
            else:
                ok = integ.run(t + dt).status == 0
        except ConvergenceError:
            ok = False
        self.newton += integ.solver.total_iterations
        self.linear += integ.solver.total_linear_iterations
        self.failed += integ.failed
        self.unbalanced += integ.unbalanced
        self.rejected += integ.rejected
        built = self._carried.built if self._kept is not None else self.prob
        pc = (built or self.prob).preconditioner
        self._pc_kind = {"fine_preconditioner": pc.fine, "global_coarse": pc.gc is not None,
                         "coarse_solve": pc.coarse_solve, "sweep_stages": pc.n_stages,
                         "preconditioner_lag": self.lag}
        return ok, integ, acc0

    # ---- order 2 -------------------------------------------------------------------------
    def _qp_shift(self, y: np.ndarray, old: np.ndarray, new: np.ndarray) -> np.ndarray:
        """``y`` (owned coupled unknowns) with its QP occupations remapped in xi from the
        owned cells' gaps ``old`` to ``new`` (phonons kept)."""
        q = self.prob
        out = y.reshape(q.n, q.S).copy()
        f = out[:, : q.nq].reshape(q.n, q.N, q.B)
        out[:, : q.nq] = shift_gap(f, q.grid, old, new).reshape(q.n, -1)
        return out.ravel()

    def _at(self, gaps: np.ndarray, y: np.ndarray, spectra=None) -> None:
        """Problems rebuilt at the owned cells' ``gaps`` (and per-cell ``spectra``, if
        the run has them), state ``y`` (on them)."""
        self.sim.problem = rebuilt(self.sim.problem, gaps, spectra)
        self.prob = self._collisions()
        self.y = y

    def _extrapolate(self, ratio: float = 1.0) -> None:
        """The problem at the gaps extrapolated ``ratio`` times the last step ahead, the
        current state remapped to them."""
        g = self.gaps().copy()
        star = extrapolated_gaps(g, self._prev[2], self.delta0, self.held,
                                 float(self.sim.problem.grid.edges[0]), ratio)
        self._at(star, self._qp_shift(self.y, g, star))

    def _history(self, integ, now: tuple, dt: float, predictor: bool = False) -> None:
        """The BDF2 history of ``integ``: the states at t_n (``now``) and t_(n-1), both
        counted on the bins of the current (extrapolated) gaps, with their accumulated
        flows; ``predictor`` (adaptive): also the state before them, for the error
        estimate's quadratic predictor (its flows are never read)."""
        (t0, y0, g0), (t1, y1, g1, a1) = now, self._prev
        star = self.gaps()
        xs = [self._qp_shift(y0, g0, star), self._qp_shift(y1, g1, star)]
        self._e_star = tuple(sum(self.energy_parts(x).values()) for x in xs)
        times, acc = [t0, t1], [self._acc, a1]
        if predictor and self._past2 is not None:
            t2, y2, g2 = self._past2
            xs.append(self._qp_shift(y2, g2, star))
            times.append(t2)
            acc.append(a1)
        if predictor:      # the bins below a cell's gap as the solve pins them
            xs = [self.prob.pinned(x) for x in xs]
        integ.restore({"t": t0, "h": dt, "last_h": t0 - t1, "step_count": 0,
                       "rejected": 0, "failed": 0, "times": times, "x": xs, "acc": acc})

    def history(self) -> dict | None:
        """Order 2: what the next BDF2 step needs besides the state — the previous
        state (1, n_owned ``block``) and its owned cells' gaps, and (JSON) its time and
        the accumulated flows then and now — for the checkpoint; None without."""
        if self._prev is None:
            return None
        t1, y1, g1, a1 = self._prev
        out = {"x": y1.reshape(1, -1), "gaps": g1,
               "meta": {"t": t1, "acc": a1, "acc_now": self._acc}}
        if self._past2 is not None:           # adaptive: the predictor's third state
            t2, y2, g2 = self._past2
            out.update(x2=y2.reshape(1, -1), gaps2=g2)
            out["meta"]["t2"] = t2
        return out

    def restore_history(self, x: np.ndarray, gaps: np.ndarray, meta: dict,
                        x2: np.ndarray | None = None, gaps2: np.ndarray | None = None
                        ) -> None:
        """Inverse of :meth:`history` (``gaps`` of the owned cells)."""
        self._prev = (float(meta["t"]), np.asarray(x, dtype=float).ravel().copy(),
                      np.asarray(gaps, dtype=float), dict(meta["acc"]))
        self._acc = dict(meta["acc_now"])
        self._past2 = None if x2 is None else (
            float(meta["t2"]), np.asarray(x2, dtype=float).ravel().copy(),
            np.asarray(gaps2, dtype=float))

    def update(self) -> GapUpdate:
        """The gap update of the QPs (collective); phonons stay; its energy change is the
        condensate's (:meth:`.gapsteps.GapStepper._updated`)."""
        e = self.e_now
        xq = self.prob.per_bin(self.y)
        self.sim.problem, xq, up = gap_update(self.sim.problem, xq, self.delta0,
                                              held=self.held, tol=self.tol, model=self.model)
        self._set_qps(xq)
        if up.converged:
            self._updated(e)
        return up

    def snapshot(self) -> tuple:
        return (self.y, self.gaps().copy(), self._prev, self._acc,
                self.sim.problem.owned_spectra(), (self.e_now, self.c_now, self.e_prev),
                self._past2)

    def restore(self, snap: tuple) -> None:
        y, gaps, self._prev, self._acc, spectra, energy, self._past2 = snap
        self._at(gaps, y, spectra)
        self.e_now, self.c_now, self.e_prev = energy

    def flow_names(self, energy: bool = False) -> list[str]:
        head = "E:" if energy else "N:"
        names = [k[2:] for k in self.prob.rates(self.y, 0.0, 1.0) if k.startswith(head)]
        return [*names, "condensate"] if energy else names

    def qp_bins(self) -> np.ndarray:
        """The QP occupations in the per-bin layout of ``sim.problem`` (N, n_owned B)."""
        return self.prob.per_bin(self.y)

    def number(self) -> float:
        return self.sim.dist.sum(self.prob.totals(self.y)["N_qp"])

    def fields(self, names) -> dict:
        from .coupled import _fields

        return _fields(self.sim, self.prob, self.y, names)

    def pack(self) -> np.ndarray:
        return self.y.reshape(1, -1)

    def unpack(self, packed: np.ndarray, gaps: np.ndarray, spectra=None) -> None:
        self.sim.problem = rebuilt(self.sim.problem, gaps, spectra)
        self.prob = self._collisions()
        self.y = np.asarray(packed, dtype=float).ravel().copy()

    def counters(self) -> dict:
        return {"newton": self.newton, "linear": self.linear, "failed": self.failed,
                "unbalanced": self.unbalanced, "pc": self._pc_work()}

    def restore_counters(self, counts: dict) -> None:
        self.newton = int(counts.get("newton", 0))
        self.linear = int(counts.get("linear", 0))
        self.failed = int(counts.get("failed", 0))
        self.unbalanced = int(counts.get("unbalanced", 0))
        self._pc_base = dict(counts.get("pc", {}))

    def _pc_done_now(self) -> dict:
        """The preconditioner counters of this invocation (:func:`_pc_counts` of the
        released problems, the current one and a build still applied)."""
        done = _pc_counts(self.prob.preconditioner, self._pc_done)
        built = self._carried.built
        if built is not None and built is not self.prob:     # a build still applied
            done = _pc_counts(built.preconditioner, done)
        return done

    def _pc_work(self, done: dict | None = None) -> dict:
        """Builds, reuses and global coarse solves of the whole run: this invocation's
        (``done``, default :meth:`_pc_done_now`) and those the checkpoint carried over a
        resume (``preconditioner_seconds`` are this invocation's)."""
        done = self._pc_done_now() if done is None else done
        now = {"preconditioner_updates": int(done.get("updates", 0)),
               "preconditioner_reuses": getattr(self._kept, "reuses", 0),
               "coarse_solves": done.get("coarse", {"solves": 0, "iterations": 0,
                                                    "unconverged": 0})}
        return add_counts(self._pc_base, now)

    def summary(self) -> dict:
        """The stepper's part of ``summary.json`` (collective): the gap model, Newton
        counts, the kind of the preconditioner of the last solve, its lag and, over all
        the run's collision problems, its builds (``updates``), the Newton iterations
        that reused a build and the global coarse solves (over a resume too,
        :meth:`_pc_work`), and the slowest rank's seconds per part in this invocation
        (keys of the held-gap coupled runs, :mod:`.coupled`)."""
        dist = self.prob.dist
        done = self._pc_done_now()
        work = self._pc_work(done)
        coarse = work["coarse_solves"]
        warn = coarse_warning(coarse)
        if warn:
            log.warning(warn)
        return {**gap_summary(self.model), "collisions": True, "phonons": self.prob.phonons,
                "time_order": self.order,
                "newton_iterations": self.newton, "failed_solves": self.failed,
                "unbalanced_steps": self.unbalanced,
                "coupled_unknowns": int(dist.n_global), **self._pc_kind,
                "preconditioner_updates": work["preconditioner_updates"],
                "preconditioner_reuses": work["preconditioner_reuses"],
                "preconditioner_seconds": {k: dist.max(v) for k, v in
                                           done.get("seconds", {}).items()},
                "coarse_solves": coarse}


def _pc_counts(pc, done: dict) -> dict:
    """``done`` (``updates``, ``seconds`` per part) plus the counters of the
    preconditioner ``pc`` (:class:`.inelastic_pc.InelasticPC`; None: released)."""
    if pc is None:
        return done
    sec = dict(done.get("seconds", {}))
    for k, v in pc.seconds.items():
        sec[k] = sec.get(k, 0.0) + v
    coarse = dict(done.get("coarse", {}))
    for k, v in pc.coarse_counts().items():
        coarse[k] = coarse.get(k, 0) + v
    return {"updates": done.get("updates", 0) + pc.updates, "seconds": sec,
            "coarse": coarse}


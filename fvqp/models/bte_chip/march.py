r"""The time loop of the chip chain: series, snapshots, checkpoint, balances.

Every step is :meth:`.coupling.ChipChain.step`, of the fixed ``[time] dt_initial`` or, with
``[time] adaptive = true``, of a length chosen by backward Euler's local error
(:mod:`.adaptive`; series column ``dt_s``; the checkpoint also holds the time, the next
step, the predictor's state and the error floors' scales). Per step a row of
``<case>_series.csv``: QP energy ``E_qp_J``, phonon energy ``E_phonon_J``, cumulative
phonon energy flows into the chip (:mod:`fvqp.models.base.balance`: ``sources_J`` the
deposit, positive; ``boundary:<group>_J`` through a bath boundary, negative when energy
leaves), ``imbalance_J`` (:math:`E - E_0 -` flows), the QP number of every film region
``N_qp:<region>`` and its excess over the start ``dN_qp:<region>``, and the cumulative
pair-process QP number ``N_pair``. ``checkpoint.h5`` (every ``[output]
checkpoint_every`` steps and at the end) holds both states in file cell order (the QP
unknowns of a film cell carried on the phonon distribution; with ``[time] scheme =
"bdf2"`` also those of the step before, its QP flows and phonon flow increments, so
the next step is BDF2 as in the uninterrupted run; the phonon systems switched to the
long GMRES restart, :meth:`fvqp.models.phonon.bins.BinSweeps.solver_state`), so
``--resume`` continues on any number of ranks; ``--max-steps`` stops early (status 1).

``summary.json``: ``energy_J`` (initial/final QP and phonon energy, flows),
``energy_imbalance_J``, ``E_deposited_J``, ``qp_number`` (initial, final, pair processes,
imbalance: the QP number changes only by pair processes), ``arrival_s`` per film region
(the time its excess QP number first reaches half of its largest value: the delay of the
correlated burst) and ``peak_excess`` per film region, iteration counts (adaptive:
``rejected_steps``, ``failed_solves``, ``dt_range_s``; the counts include the attempts
that were retried; ``bdf2_fallback_steps``: BDF2 steps taken as backward Euler,
``bdf2_limited_steps``: BDF2 steps whose start was limited to nonnegative ordinates,
:meth:`.coupling.ChipChain._bdf2_start`), the QP
preconditioner's step 1, builds, reuses, rebuild reasons and CPU seconds
(``qp_preconditioner_*``, bte films; :func:`preconditioner_counts`).
"""

from __future__ import annotations

import logging
import math

import numpy as np

from ...io.bin_checkpoint import BinCheckpoint
from ...io.series import read_series
from ...solvers.bdf import planned_step, step_factor
from ...solvers.lagged import LaggedPreconditioner
from ..base.balance import imbalance, inflows
from ..base.fixedstep import march_fixed
from ..base.timeloop import si_time
from ..phonon.problem import flow_name
from .adaptive import GROW, StepControl
from .coupling import ChipStepError, Previous

log = logging.getLogger("fvqp.bte_chip")

__all__ = ["ChipMarch", "march"]


def _pack(sim, xq: np.ndarray, xp: np.ndarray, tag: str = "") -> dict:
    """Both states as (bins, n_ph_owned B) arrays of the phonon distribution (keys
    ``x<tag>``, ``q<tag>``)."""
    p, q = sim.psim.problem, sim.qps
    S, B = q.S, p.B
    nb = -(-S // B)
    yq = np.zeros((q.n, nb * B))
    yq[:, :S] = xq.reshape(q.n, S)
    on_p = sim.exchange.a_to_b(yq)                                     # (n_ph, nb B)
    qpart = on_p.reshape(p.n, nb, B).transpose(1, 0, 2).reshape(nb, -1)
    return {f"x{tag}": xp, f"q{tag}": np.ascontiguousarray(qpart)}


def _unpack(sim, cells: dict, tag: str = ""):
    p, q = sim.psim.problem, sim.qps
    S, B = q.S, p.B
    nb = -(-S // B)
    on_p = cells[f"q{tag}"].reshape(nb, p.n, B).transpose(1, 0, 2).reshape(p.n, nb * B)
    xq = sim.exchange.b_to_a(on_p)[:, :S].ravel()
    return xq, cells[f"x{tag}"]


class ChipMarch:
    """The state and step of the chip chain (:class:`fvqp.models.base.fixedstep.StepRun`):
    both states, the phonon flows and the QP pair processes accumulated per step."""

    def __init__(self, sim, writer, ck, resume: bool):
        self.sim, self.writer, self.ck = sim, writer, ck
        self.chain, self.u, self.dt = sim.chain, sim.units, sim.dt
        self.p = p = sim.psim.problem
        self.names = sim.case.values["output"]["fields"]
        self.eu, self.nu = self.u.scales["total_energy"], sim.qps.n_unit
        self.regions = regions = sim.geometry.region_names
        self.film_idx = [regions.index(n) for n in sim.films]
        chain = self.chain
        tm = sim.case.values["time"]
        #: adaptive steps (module docstring): the time of the state, the next step tried,
        #: the last step taken and the state before it (the predictor), rejections
        self.adaptive = bool(tm.get("adaptive"))
        self.control = StepControl.from_case(tm, self.dt) if self.adaptive else None
        if self.adaptive:
            self.control.peaks.update(self._deposit_scales())
            # every step's phonon systems are those of 1/dt_initial with the difference
            # on the diagonal, in this run and in any resumed one (bit for bit)
            self.p.time_reference = 1.0 / self.dt
            chain.whole_steps = True   # a failed QP Newton step shortens the chain's step
        self.t, self.h, self.h_prev, self.back = 0.0, self.dt, None, None
        #: adaptive BDF2 (``[time] scheme = "bdf2"``): the state before :attr:`back` and
        #: the step between them (the error estimate's parabola), and the QP flows at
        #: :attr:`back` with the flow increments of the last step (the BDF2 step)
        self.back2, self.h_prev2, self.back_flows = None, None, None
        if resume:
            cells, _, meta = ck.load()
            self.xq, self.xp = _unpack(sim, cells)
            if self.adaptive:
                self.t, self.h, self.h_prev = meta["t"], meta["h"], meta["h_prev"]
                self.back = _unpack(sim, cells, "back") if meta["has_back"] else None
                if meta.get("has_back2"):
                    self.back2 = _unpack(sim, cells, "back2")
                    self.h_prev2 = meta["h_prev2"]
                if meta.get("back_flows") is not None:
                    self.back_flows = tuple(meta["back_flows"])
                self.control.restore(meta["control"])
            self.start, self.flows, self.acc = int(meta["step"]), meta["flows"], meta["acc"]
            self.tot0, self.nreg0 = meta["tot0"], np.array(meta["nreg0"])
            self.its = meta["its"]
            chain.newton, chain.linear = meta["newton"], meta["linear"]
            chain.iterations = meta.get("coupled", 0)
            chain.predictor_sweeps = meta.get("start_sweeps", 0)
            chain.skipped_sweeps = meta.get("skipped_sweeps", 0)
            chain.bdf2_fallbacks = meta.get("bdf2_fallbacks", 0)
            chain.bdf2_limited = meta.get("bdf2_limited", 0)
            chain.integ.unbalanced = meta.get("qp_unbalanced", 0)
            p.restore_solver_state(meta.get("phonon_solvers"))
            self.prev = Previous(*_unpack(sim, cells, "prev"), meta["acc_prev"],
                                 meta["inc_prev"]) if meta.get("has_prev") else None
        else:
            xq, self.xp = sim.initial()
            self.xq = chain.with_film_phonons(xq, self.xp)
            self.start, self.its, self.prev = 0, [], None
            self.flows = {k: 0.0 for k in p.energy_rates(self.xp, 0.0, self.dt)}
            self.acc = chain.zero_flows(self.xq)
            self.tot0 = chain.energies(self.xq, self.xp)
            self.nreg0 = chain.qp_number_by_region(self.xq, regions)
        self.failure = ("the phonon KSP did not converge (see the warnings above). "
                        "Fix: a shorter [time] dt_initial")

    def label(self, k: str) -> str:
        return flow_name(k, self.regions)

    def inflows(self) -> dict:
        """The accumulated energy flows [J] of the chip (QPs + phonons) in the convention
        of :mod:`fvqp.models.base.balance`: the deposit positive, what leaves through a
        bath boundary or into an absorbing region negative (the phonon problem's rates
        count out of the system)."""
        return {self.label(k): v for k, v in inflows(self.flows, self.eu,
                                                     outward=True).items()}

    def time(self, step: int) -> float:
        """The (internal) time of the state after ``step`` (the current one)."""
        return self.t if self.adaptive else step * self.dt

    def advance(self, step: int) -> str | None:
        if self.adaptive:
            return self._adaptive(step)
        before = Previous(self.xq, self.xp, self.acc, {})
        try:
            xq, xp, acc, inc, res = self.chain.step(self.xq, self.xp, (step - 1) * self.dt,
                                                    self.acc, self.prev)
        except ChipStepError as exc:
            return str(exc)
        self.its.append(int(sum(r.iterations for r in res)))
        if not all(r.success for r in res):
            return self.failure
        self.xq, self.xp, self.acc = xq, xp, acc
        before.inc, self.prev = inc, before
        for k, v in inc.items():
            self.flows[k] = self.flows.get(k, 0.0) + v
        return None

    def _adaptive(self, step: int) -> str | None:
        """One accepted step of adaptive length (:mod:`.adaptive`): from :attr:`t`, the
        proposal :attr:`h` or shorter (the error test, ``dt_max``, the sources' windows
        and breakpoints, the end), retried until it passes; the state is left at step
        ``step - 1`` on a failure."""
        c, chain, ph = self.control, self.chain, self.p
        t0, t_end = self.t, self.sim.case.values["time"]["end"]
        stop = min([b for b in ph.breakpoints() if b > t0 * (1 + 1e-14)] + [t_end])
        its = 0
        while True:
            h = planned_step(min(self.h, c.dt_max, c.ceiling,
                                 ph.max_dt(t0, self.back is not None)), stop - t0)
            if h < c.dt_min:
                self.its.append(its)
                return (f"the adaptive step fell below [time] dt_min = "
                        f"{self.u.to_si(c.dt_min, 'time'):.3g} s at t = "
                        f"{self.u.to_si(t0, 'time'):.6g} s ({c.failed} failed, "
                        f"{c.rejected} rejected attempts in the run). Fix: for attempts "
                        "rejected by the error test a looser [time] rtol; failed ones "
                        "are logged above with their cause; or a smaller dt_min")
            held = chain.unconverged, chain.worst
            why, solver = None, True
            # BDF2 once two steps have passed since the start or a breakpoint (the
            # error estimate's parabola needs three states); else backward Euler
            prev = Previous(*self.back, *self.back_flows, self.h_prev) \
                if self.back2 is not None and chain.scheme == "bdf2" else None
            try:
                xq, xp, acc, inc, res = chain.step(self.xq, self.xp, t0, self.acc, prev,
                                                   dt=h)
            except ChipStepError as exc:
                why, solver = str(exc), exc.solver
            else:
                its += int(sum(r.iterations for r in res))
                if not all(r.success for r in res):
                    why = "a phonon KSP did not converge"
                elif chain.unconverged > held[0]:
                    why = "the coupled iteration did not converge"
            if why is not None:  # retried shorter: not an unconverged step of the run
                chain.unconverged, chain.worst = held
                c.failed += 1
                if solver:  # a solver that fails at this length: a ceiling (.adaptive)
                    c.solver_failed(h)
                log.info("t = %s: a step of %.3e s failed (%s); retrying with a quarter",
                         chain.time_label(t0), self.u.to_si(h, "time"), why)
                self.h = h / 4
                continue
            known = self.back is not None
            order = 2 if chain.last_bdf2 else 1
            err = c.error(self._blocks(xq, xp, order), h, (self.h_prev, self.h_prev2)[
                :order]) if known else 0.0
            if err <= 1.0:
                break
            c.rejected += 1
            self.h = h * step_factor(err, order, 1.0)
        self.its.append(its)
        if chain.scheme == "bdf2":   # the BDF2 history (backward Euler keeps no more)
            self.back2, self.h_prev2 = (self.back, self.h_prev) if known else (None, None)
            self.back_flows = (self.acc, inc)
        self.back = (self.xq, self.xp)
        self.xq, self.xp, self.acc = xq, xp, acc
        for k, v in inc.items():
            self.flows[k] = self.flows.get(k, 0.0) + v
        end = h >= (stop - t0) * (1 - 1e-12)
        self.t, self.h_prev = (stop if end else t0 + h), h
        c.taken(h)
        if end and stop < t_end:
            # a breakpoint: no predictor (nor BDF2 history) across a source's switch
            self.back = self.back2 = None
        if known:
            self.h = h * step_factor(err, order, GROW)
        return None

    def _deposit_scales(self) -> dict:
        r"""The starting values of the error floors' scales (:mod:`.adaptive`) from the
        deposits (energy :math:`E`): per phonon node the occupation of the cell that
        makes the most (:meth:`fvqp.models.phonon.problem.PhononProblem.
        deposit_occupations`), and the QP occupation that holds :math:`E` spread evenly
        over the films' QP states (:math:`E/E_{qp}(f = 1)`)."""
        q, p = self.sim.qps, self.p
        energy = sum(getattr(s.profile, "energy", None) or 0.0 for s in p.sources)
        ones = np.zeros((q.n, q.S))
        ones[:, :q.nq] = 1.0
        full = q.dist.sum(self.chain.qp.totals(ones.ravel())["E_qp"])
        return {0: np.array([energy / full if full > 0 else 0.0]),
                1: p.deposit_occupations()}

    def _blocks(self, xq: np.ndarray, xp: np.ndarray, order: int = 1) -> list:
        """The kinds of unknowns of the error test (:meth:`.adaptive.StepControl.error`):
        the films' QP occupations (one floor) and the phonon occupations per energy
        node, each as (new, states): the states now, before and (``order`` 2) the one
        before that."""
        q, p = self.sim.qps, self.p

        def occ(x):
            return x.reshape(q.n, q.S)[:, :q.nq].reshape(1, -1)

        past = [(self.xq, self.xp), self.back, self.back2][:order + 1]
        return [(q.dist, occ(xq), [occ(a) for a, _ in past]),
                (p.dist, xp.reshape(p.N, -1), [b.reshape(p.N, -1) for _, b in past])]

    def row(self, step: int) -> dict:
        regions, eu, nu, tot0 = self.regions, self.eu, self.nu, self.tot0
        tot = self.chain.energies(self.xq, self.xp)
        nr = self.chain.qp_number_by_region(self.xq, regions)
        out = {"time_s": self.u.to_si(self.time(step), "time"), "step": step,
               "E_qp_J": tot["E_qp"] * eu, "E_phonon_J": tot["E_ph"] * eu}
        if self.adaptive:  # the step that ended here (0 for the start)
            out["dt_s"] = self.u.to_si(self.h_prev if step > 0 else 0.0, "time")
        gained = self.inflows()
        out.update({f"{k}_J": v for k, v in gained.items()})
        out["imbalance_J"] = imbalance((tot0["E_qp"] + tot0["E_ph"]) * eu,
                                       (tot["E_qp"] + tot["E_ph"]) * eu, gained)
        for ri in self.film_idx:
            out[f"N_qp:{regions[ri]}"] = nr[ri] * nu
            out[f"dN_qp:{regions[ri]}"] = (nr[ri] - self.nreg0[ri]) * nu
        out["N_pair"] = self.acc.get("N:pair", 0.0) * nu
        self._n_qp = tot["N_qp"] * nu  # for the progress line (not a series column)
        return out

    def note(self, row: dict) -> str:
        return f" N_qp={self._n_qp:.6e} energy imbalance {row['imbalance_J']:.3e} J"

    def write(self, step: int) -> None:
        self.writer.write(self.u.to_si(self.time(step), "time"),
                          self.sim.fields(self.xq, self.xp, self.names))

    def save(self, step: int) -> None:
        sim, chain, prev = self.sim, self.chain, self.prev
        cells, extra = _pack(sim, self.xq, self.xp), {}
        if prev is not None and chain.scheme == "bdf2":  # the step before, for BDF2
            cells.update(_pack(sim, prev.xq, prev.xp, "prev"))
            extra = {"has_prev": True, "acc_prev": prev.acc, "inc_prev": prev.inc}
        if self.adaptive:  # the time, the steps and the predictor's state
            extra.update(t=self.t, h=self.h, h_prev=self.h_prev,
                         has_back=self.back is not None, control=self.control.state(),
                         has_back2=self.back2 is not None, h_prev2=self.h_prev2,
                         back_flows=None if self.back_flows is None
                         else list(self.back_flows))
            if self.back is not None:
                cells.update(_pack(sim, *self.back, "back"))
            if self.back2 is not None:
                cells.update(_pack(sim, *self.back2, "back2"))
        self.ck.save(cells, {},
                     {"step": step, "flows": self.flows, "acc": self.acc, "tot0": self.tot0,
                      "nreg0": [float(v) for v in self.nreg0], "its": self.its,
                      "newton": chain.newton, "linear": chain.linear,
                      "coupled": chain.iterations,
                      "start_sweeps": chain.predictor_sweeps,
                      "skipped_sweeps": chain.skipped_sweeps,
                      "bdf2_fallbacks": chain.bdf2_fallbacks,
                      "bdf2_limited": chain.bdf2_limited,
                      "qp_unbalanced": chain.integ.unbalanced,
                      "phonon_solvers": self.p.solver_state(), **extra})


def march(sim, writer, out_dir: str, max_steps=None, resume: bool = False) -> dict:
    """Fixed steps from the start (or the checkpoint) to ``[time] end`` (module
    docstring) on the shared fixed-step loop (:func:`fvqp.models.base.fixedstep.
    march_fixed`: a SIGINT/SIGTERM stops the run after a step with a checkpoint)."""
    d, u, chain = sim.case.values, sim.units, sim.chain
    p = sim.psim.problem
    dt = sim.dt
    t_end = d["time"]["end"]
    nsteps = max(1, int(math.ceil(t_end / dt - 1e-9)))
    ck = BinCheckpoint(sim.dist, out_dir, sim.case.digest, p.B)
    chain.integ.time_format = si_time(u)  # the QP integrator's failures name SI times
    m = ChipMarch(sim, writer, ck, resume)
    end = march_fixed(m, dist=sim.dist, writer=writer, out_dir=out_dir, units=u,
                      resume=resume, max_steps=max_steps, t_end=t_end, dt=dt,
                      nsteps=None if m.adaptive else nsteps,
                      cadence=(d["output"]["every"], d["output"]["checkpoint_every"]),
                      logger=log)
    p.release()
    done, msg = end.done, end.message
    tot0, nreg0, regions, eu, nu = m.tot0, m.nreg0, m.regions, m.eu, m.nu
    tot1 = chain.energies(m.xq, m.xp)
    nr1 = chain.qp_number_by_region(m.xq, regions)
    if chain.unconverged:  # reported, not silent (energy and QP number stay exact)
        msg += (f"; the coupled iteration stopped at [chain] max_iterations = "
                f"{chain.max_iterations} above rtol = {chain.rtol:g} in {chain.unconverged} "
                f"steps (worst mismatch {chain.worst:.2g} of the film occupation): fix: raise "
                "[chain] max_iterations or use a smaller [time] dt_initial")
    named = m.inflows()
    bursts = sim.dist.bcast(bursts_of(end.series, sim.films) if sim.dist.rank == 0
                            else None)
    e0, e1 = (tot0["E_qp"] + tot0["E_ph"]) * eu, (tot1["E_qp"] + tot1["E_ph"]) * eu
    e_imb = imbalance(e0, e1, named)
    npair = m.acc.get("N:pair", 0.0)
    steps = {"adaptive": m.adaptive}
    if m.adaptive:
        c = m.control
        steps.update(rejected_steps=c.rejected, failed_solves=c.failed,
                     dt_range_s=[u.to_si(c.shortest, "time") if done else None,
                                 u.to_si(c.longest, "time") if done else None],
                     dt_ceiling_s=u.to_si(c.ceiling, "time") if math.isfinite(c.ceiling)
                     else None,
                     rtol=c.rtol, error_floor=c.floor)
    return {"status": end.status, "message": msg, "steady": False, "steps": done,
            **preconditioner_counts(chain.films.jacobian.preconditioner), **steps,
            "t_end_s": u.to_si(m.time(done), "time"), "dt_s": u.to_si(dt, "time"),
            "phonon_linear_iterations": int(sum(m.its)),
            **{f"phonon_{k}": v for k, v in p.solver_counts().items()},
            "qp_newton_iterations": chain.newton, "qp_linear_iterations": chain.linear,
            "coupling": chain.coupling, "coupled_iterations": chain.iterations,
            "coupled_start_sweeps": chain.predictor_sweeps,
            "coupled_sweeps_saved": chain.skipped_sweeps,
            "coupled_worst_mismatch": chain.worst,
            "coupled_unconverged_steps": chain.unconverged,
            "bdf2_fallback_steps": chain.bdf2_fallbacks,
            # QP steps whose balances were not made exact (fvqp.solvers.bdf.conserve)
            "qp_unbalanced_steps": chain.integ.unbalanced,
            "bdf2_limited_steps": chain.bdf2_limited,
            "E_deposited_J": named.get("sources", 0.0),
            "energy_J": {"initial_qp": tot0["E_qp"] * eu, "final_qp": tot1["E_qp"] * eu,
                         "initial_phonon": tot0["E_ph"] * eu,
                         "final_phonon": tot1["E_ph"] * eu, **named, "imbalance": e_imb},
            "energy_imbalance_J": e_imb,
            "qp_number": {"initial": tot0["N_qp"] * nu, "final": tot1["N_qp"] * nu,
                          "pair_processes": npair * nu,
                          "imbalance": (tot1["N_qp"] - tot0["N_qp"] - npair) * nu},
            "qp_excess_by_region": {regions[ri]: float(nr1[ri] - nreg0[ri]) * nu
                                    for ri in m.film_idx}, **bursts}


def preconditioner_counts(pc) -> dict:
    """Step 1 of the QP Newton's lagged preconditioner (``"sweep"`` or ``"lu"``,
    :mod:`fvqp.models.bte.inelastic_pc`), how its global coarse level is solved
    (``"exact"``, ``"inexact"``, None without one: ``[qp] coarse``) with its solves and
    their Krylov iterations, its builds, reuses and rebuild reasons
    (:class:`~fvqp.solvers.lagged.LaggedPreconditioner`; this invocation's,
    a resumed run counts from its start), and their CPU seconds; ``{}`` without one."""
    if not isinstance(pc, LaggedPreconditioner):
        return {}
    inner = pc.pc
    kind = getattr(inner, "coarse_solve", None)
    coarse = {} if kind is None else {"qp_preconditioner_coarse": kind,
                                      "qp_coarse_solves": inner.coarse_counts()}
    return {"qp_preconditioner_fine": getattr(inner, "fine", None), **coarse,
            "qp_preconditioner_builds": pc.builds, "qp_preconditioner_reuses": pc.reuses,
            "qp_preconditioner_rebuild_reasons": dict(pc.reasons),
            "qp_preconditioner_cpu_s": {k: v[1] for k, v in pc.cpu.items()}}


def bursts_of(path: str, films) -> dict:
    """``arrival_s`` (first time the excess QP number of a film reaches half its largest
    value in the series: the delay of the burst) and ``peak_excess`` per film."""
    header, data = read_series(path)
    if not data:
        return {"arrival_s": {}, "peak_excess": {}}
    a = np.array(data)
    t = a[:, header.index("time_s")]
    arr, peak = {}, {}
    for n in films:
        dn = a[:, header.index(f"dN_qp:{n}")]
        top = float(dn.max())
        peak[n] = top
        arr[n] = float(t[np.argmax(dn >= 0.5 * top)]) if top > 0 else math.nan
    return {"arrival_s": arr, "peak_excess": peak}

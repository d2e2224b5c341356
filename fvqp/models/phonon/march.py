r"""The phonon model's transient: fixed BE/BDF2 steps of all bins (highest first) on the
shared fixed-step loop (:func:`fvqp.models.base.fixedstep.march_fixed`: snapshots,
series, checkpoints, progress, a clean stop on SIGINT/SIGTERM).

Snapshots every ``[output] every`` steps, one series row per step (phonon energy, the
energy flows through each bath or absorbing boundary, into each absorbing region and from
the sources — J, cumulative, into the phonons positive as every balance of
:mod:`fvqp.models.base.balance` —, imbalance), ``checkpoint.h5`` every ``[output]
checkpoint_every`` steps and at the end (:class:`fvqp.io.bin_checkpoint.BinCheckpoint`:
states in file cell order, so a run resumes on any number of ranks); ``resume`` continues
from it (snapshots and series rows after it are rewritten), ``max_steps`` stops this
invocation early (status 1).

``[time] end`` is left out of the case digest (``digest_exempt``), so a resumed run may
extend a finished one: it continues with the checkpoint's step :math:`\Delta t` to the new
end (rounded up to a whole step), and gives the run that went there at once; an end
before the checkpoint is refused (:class:`~fvqp.io.checkpoint.CheckpointError` with the
fix).

BDF2 is applied to :math:`E - Q(t)` (:math:`Q` the deposited amount, exact step integrals
of the profile), so the storage receives exactly the deposit (a BE first step would
otherwise add half its deposit again); the boundary and absorption flows accumulate with
the scheme's own weights, so the energy balance is exact for BDF2 too.
"""

from __future__ import annotations

import logging
import math

from ...spectra import bose
from ..base.balance import imbalance, inflows
from ..base.fixedstep import march_fixed
from ..base.timeloop import extended_steps
from .problem import flow_name

log = logging.getLogger("fvqp.phonon")

__all__ = ["PhononMarch", "march"]


class PhononMarch:
    """The state and step of a phonon transient (:class:`fvqp.models.base.fixedstep.
    StepRun`): all bins by one sweep per step, the energy flows accumulated with the
    scheme's weights."""

    def __init__(self, sim, writer, ck, dt: float, resume: bool, out_dir: str):
        p, d, u = sim.problem, sim.case.values, sim.units
        self.sim, self.p, self.u, self.writer, self.ck = sim, p, u, writer, ck
        self.names = d["output"]["fields"]
        self.bdf2 = d["time"]["scheme"] == "bdf2"
        self.eu = sim.e_unit
        self.regions = sim.geometry.region_names
        if resume:
            cells, _, meta = ck.load()
            self.x, self.start = cells["x"], int(meta["step"])
            self.dt, self.nsteps = extended_steps(meta.get("dt", dt), self.start,
                                                  d["time"]["end"], u, out_dir)
            self.prev = cells["prev"] if meta["has_prev"] else None
            self.flows, self.inc = meta["flows"], meta["inc"]
            self.its, self.E0 = meta["its"], meta["E0"]
            p.restore_solver_state(meta.get("solvers"))   # the switched restarts
            self.src_prev = p.source_rates((self.start - 1) * self.dt,
                                           self.start * self.dt) if self.start else None
        else:
            t0 = d["initial"].get("temperature")
            occ = bose(p.omega, t0) if t0 else p.n_bath
            self.x, self.prev, self.src_prev, self.start = p.equilibrium(occ), None, None, 0
            self.dt, self.nsteps = dt, max(1, int(math.ceil(d["time"]["end"] / dt - 1e-9)))
            self.E0 = p.energy(self.x)
            self.flows = {k: 0.0 for k in p.energy_rates(self.x, 0.0, dt)}
            self.inc, self.its = {}, []

    def _label(self, k: str) -> str:
        return flow_name(k, self.regions)

    def advance(self, step: int) -> str | None:
        p, dt = self.p, self.dt
        t = (step - 1) * dt
        fo = p.directional(self.x)
        be = self.prev is None or not self.bdf2
        if be:
            a, hist = 1.0 / dt, fo / dt
        else:
            a, hist = 1.5 / dt, (2.0 * fo - 0.5 * p.directional(self.prev)) / dt
        src = p.source_rates(t, t + dt)
        # BDF2 acts on E - Q(t): the source enters as 1.5 s(n+1) - 0.5 s(n)
        s_eff = src if be else 1.5 * src - 0.5 * self.src_prev
        xn, res = p.sweep(a, hist=hist, src=s_eff, x0=self.x)
        self.its.append(int(sum(r.iterations for r in res)))
        if not all(r.success for r in res):
            return ("the KSP of a bin did not converge (see the warnings above). Fix: a "
                    "shorter [time] dt_initial, or a larger -phonon_ksp_max_it")
        for k, val in p.energy_rates(xn, t, t + dt).items():
            if be or k == "sources":
                self.inc[k] = dt * val
            else:
                self.inc[k] = (dt * val + 0.5 * self.inc.get(k, 0.0)) / 1.5
            self.flows[k] = self.flows.get(k, 0.0) + self.inc[k]
        self.prev, self.x, self.src_prev = self.x, xn, src
        return None

    def row(self, step: int) -> dict:
        u, eu, dt = self.u, self.eu, self.dt
        E = self.p.energy(self.x)
        out = {"time_s": u.to_si(step * dt, "time"),
               "dt_s": u.to_si(dt if step else 0.0, "time"),
               "step": step, "linear_iterations": int(sum(self.its)), "E_phonon_J": E * eu}
        gained = self.inflows()
        out.update({f"{k}_J": v for k, v in gained.items()})
        out["imbalance_J"] = imbalance(self.E0 * eu, E * eu, gained)
        return out

    def inflows(self) -> dict:
        """The accumulated energy flows [J] in the convention of
        :mod:`fvqp.models.base.balance` (into the phonons: the deposit positive, what
        leaves through a bath boundary or into an absorbing region negative; the
        problem's rates count out of the system)."""
        return {self._label(k): v for k, v in inflows(self.flows, self.eu,
                                                      outward=True).items()}

    def note(self, row: dict) -> str:
        return f" E_phonon={row['E_phonon_J']:.6e} J"

    def write(self, step: int) -> None:
        self.writer.write(self.u.to_si(step * self.dt, "time"),
                          self.sim.fields(self.x, self.names))

    def save(self, step: int) -> None:
        self.ck.save({"x": self.x, "prev": self.x if self.prev is None else self.prev}, {},
                     {"step": step, "dt": self.dt, "has_prev": self.prev is not None,
                      "flows": self.flows, "inc": self.inc, "its": self.its, "E0": self.E0,
                      "solvers": self.p.solver_state()})


def march(sim, writer, out_dir: str, max_steps=None, resume: bool = False) -> dict:
    """Fixed-step BE/BDF2 of all bins to ``[time] end`` (module docstring); returns the
    summary entries. Progress on rank 0 (:class:`~fvqp.models.base.timeloop.Progress`):
    step, time in s and the phonon energy at every snapshot and at most every 5 s
    between them."""
    from ...io.bin_checkpoint import BinCheckpoint

    p, d, u = sim.problem, sim.case.values, sim.units
    t_end, dt = d["time"]["end"], d["time"]["dt_initial"]
    dt = t_end / max(1, int(math.ceil(t_end / dt - 1e-9)))
    ck = BinCheckpoint(sim.dist, out_dir, sim.case.digest, p.B)
    m = PhononMarch(sim, writer, ck, dt, resume, out_dir)
    dt = m.dt
    end = march_fixed(m, dist=sim.dist, writer=writer, out_dir=out_dir, units=u,
                      resume=resume, max_steps=max_steps, t_end=t_end, dt=dt,
                      nsteps=m.nsteps,
                      cadence=(d["output"]["every"], d["output"]["checkpoint_every"]),
                      logger=log)
    p.release()
    E1, eu = p.energy(m.x), m.eu
    named = m.inflows()
    e_imb = imbalance(m.E0 * eu, E1 * eu, named)
    return {"status": end.status, "message": end.message, "steady": False,
            "steps": end.done, "t_end_s": u.to_si(end.done * dt, "time"),
            "dt_s": u.to_si(dt, "time"), "linear_iterations": int(sum(m.its)),
            "max_linear_iterations": int(max(m.its or [0])),
            "restart_switches": p.restart_switches, "E_phonon_J": E1 * eu,
            "energy_J": {"initial": m.E0 * eu, "final": E1 * eu, **named,
                         "imbalance": e_imb},
            "energy_imbalance_J": e_imb}

r"""Collisionless transients of the ``bte`` model: fixed-step backward Euler / BDF2 bin by
bin (one LU factorisation per bin in memory at a time), checkpoints per bin and every
``checkpoint_every`` steps, ``--resume``, ``--max-steps``; the snapshots and the
``<case>_series.csv`` time series (QP number and its cumulative flows per step, summed
over the bins) are assembled afterwards."""

from __future__ import annotations

import logging
import math
import os

import numpy as np

from ...io.checkpoint import CheckpointError
from ...io.series import SeriesWriter
from ...spectra import fermi
from ..base.balance import imbalance, inflows
from ..base.interrupt import requested_stop
from ..base.timeloop import Progress, extended_steps
from .checkpoint import BinCheckpoint

__all__ = ["transient"]

log = logging.getLogger("fvqp.bte")


def transient(sim, writer, max_steps, ck: BinCheckpoint, resume: bool) -> dict:
    r"""Fixed-step BE/BDF2, one energy bin after the other (they are independent without
    inelastic collisions: one LU factorisation per bin in memory at a time); snapshots
    every ``[output] every`` steps and at the end are assembled afterwards.

    Checkpoints (:class:`.checkpoint.BinCheckpoint`) after every finished bin and every
    ``[output] checkpoint_every`` steps within a bin hold every bin's state, step, flows
    and the snapshots reached; ``--resume`` continues each bin from its step. ``max_steps``
    marches every bin at most that many steps further (status 1, checkpoint left). A
    SIGINT/SIGTERM (:mod:`fvqp.models.base.interrupt`) stops the march after the current
    step of the current bin, with a checkpoint (status 1; the summary's ``steps`` is the
    step every bin has reached).

    ``[time] end`` is out of the case digest (:func:`fvqp.models.base.timeloop.resumable`):
    a resumed run may extend it, continuing with the checkpoint's step :math:`\Delta t`
    to the new end rounded up to a whole step (phonon's ``march`` rule; an end before
    the checkpoint is refused), and gives the snapshots of the run that went there at
    once."""
    p, d = sim.problem, sim.case.values
    t_end, dt = d["time"]["end"], d["time"]["dt_initial"]
    nsteps = max(1, int(math.ceil(t_end / dt - 1e-9)))
    dt = t_end / nsteps
    t0 = d["initial"].get("temperature")
    x0 = p.equilibrium(fermi(sim.grid.e, t0 if t0 else sim.T_bath))
    names, every = d["output"]["fields"], d["output"]["every"]
    cp_every = d["output"]["checkpoint_every"]
    bdf2 = d["time"]["scheme"] == "bdf2"
    if resume:  # the checkpoint's step to the (possibly extended) end
        st = _TransientState.load(ck)
        dt, nsteps = extended_steps(st.dt or dt, max(b["step"] for b in st.bins), t_end,
                                     sim.units, ck.path)
        st.dt = dt
        st.rekeep(_snapshot_steps(every, nsteps), ck)
    else:
        st = _TransientState.fresh(x0, _snapshot_steps(every, nsteps), dt)
    keep = list(st.snaps)
    active = [b["step"] for b in st.bins if b["failed"] is None]
    first = min(active) if active else nsteps
    target = nsteps if max_steps is None else min(nsteps, first + max_steps)
    progress, nbins = Progress(sim.dist, t_end, sim.units, log), sim.grid.n
    stopped = None  # the signal that stopped the run (SIGINT/SIGTERM, .interrupt)
    for j in range(nbins):
        b = st.bins[j]
        if b["failed"] is not None or b["step"] >= target:
            continue

        def on_step(step, x, prev, flows, its, j=j, b=b):
            st.x[j], st.prev[j] = x, prev
            if step in st.snaps:
                st.snaps[step][j] = x
            b.update(step=step, flows=dict(flows), its_sum=b["its_sum"] + its[-1],
                     its_max=max(b["its_max"], its[-1]), increments=dict(p.last_increments))
            nj = p.number(x, bins=j)
            b.setdefault("series", []).append({_N: nj, **flows})
            progress.fixed_step(step, nsteps, dt, step == target,
                                f" bin {j + 1}/{nbins} N_qp(bin)={nj * sim.n_unit:.6e}",
                                (j + step / max(target, 1)) / nbins)
            if step % cp_every == 0 and step < target:
                st.save(ck)
            nonlocal stopped
            stopped = requested_stop(sim.dist)  # collective: every rank marches bin j
            return stopped is not None

        r = p.march(j, st.x[j].copy(), dt, target, bdf2, start=b["step"],
                    prev=st.prev[j].copy() if b["step"] > 0 else None, flows=b["flows"],
                    on_step=on_step, increments=b.get("increments"))
        if r["failed"] is not None:
            b["failed"] = r["failed"]
            b["its_sum"] += r["iterations"][-1]
            b["its_max"] = max(b["its_max"], r["iterations"][-1])
        st.save(ck)
        if stopped is not None:  # every bin continues from its own step on --resume
            break
    progress.close()
    out = _transient_output(sim, writer, st, x0, names, keep, dt, nsteps, target)
    if stopped is not None and out["status"] == 1:
        out["message"] = (f"stopped by {stopped} in bin {j + 1} of {nbins} (every bin up "
                          f"to step {out['steps']} of {nsteps}); a checkpoint was written: "
                          "continue with `fvqp run CASE --resume`")
    if sim.dist.rank == 0:
        _write_series(os.path.join(os.path.dirname(ck.path), f"{writer.name}_series.csv"),
                      st.bins, out["steps"], out["qp_number"]["initial"] / sim.n_unit,
                      sim.units, dt, sim.n_unit)
    return out


#: the key of a bin's QP number in its per-step series entries (the others are flows)
_N = "N"


def _write_series(path: str, bins: list, done: int, n0: float, u, dt: float,
                  nu: float) -> None:
    """``<case>_series.csv`` from every bin's per-step QP number and cumulative flows:
    rows for steps 0 to ``done`` (those every bin has; checkpoints of older runs lack
    them), ``qp_number``, ``qp_number.<flow>`` (into the system, positive when gained, as
    ``summary.json``) and ``qp_number.imbalance`` = number - initial - flows, in QPs."""
    have = min([done] + [len(b.get("series", [])) for b in bins])
    rows = SeriesWriter(path)
    keys = sorted({k for b in bins for e in b.get("series", [])[:1] for k in e if k != _N})
    rows.append({"time_s": 0.0, "step": 0, "qp_number": n0 * nu,
                 **{f"qp_number.{k}": 0.0 for k in inflows(dict.fromkeys(keys, 0.0))},
                 "qp_number.imbalance": 0.0})
    for s in range(1, have + 1):
        es = [b["series"][s - 1] for b in bins]
        n = sum(e[_N] for e in es)
        fl = {k: sum(e.get(k, 0.0) for e in es) for k in keys}
        rows.append({"time_s": u.to_si(s * dt, "time"), "step": s, "qp_number": n * nu,
                     **{f"qp_number.{k}": v for k, v in inflows(fl, nu, outward=True).items()},
                     "qp_number.imbalance": (n - n0 + sum(fl.values())) * nu})
    rows.flush()


def _transient_output(sim, writer, st, x0, names, keep, dt, nsteps, target) -> dict:
    """Snapshots (all rewritten, also after a resume) and the transient summary."""
    p, u = sim.problem, sim.units
    failed = [(j, b["failed"]) for j, b in enumerate(st.bins) if b["failed"] is not None]
    done = min([target] + [b["step"] for b in st.bins])
    writer.write(0.0, sim.fields(x0, names))
    for s in keep:
        if s <= done:
            writer.write(u.to_si(s * dt, "time"), sim.fields(st.snaps[s], names))
    # the state of the last step, where every bin is at it (a stop signal leaves the bins
    # at different steps: no snapshot of mixed times)
    if done not in keep and done > 0 and all(b["step"] == done for b in st.bins):
        writer.write(u.to_si(done * dt, "time"), sim.fields(st.x, names))
    flows: dict = {}
    eflows: dict = {}          # every bin's particle flows at its node energy
    for e_j, b in zip(p.grid.e, st.bins, strict=True):
        for k, v in b["flows"].items():
            flows[k] = flows.get(k, 0.0) + v
            eflows[k] = eflows.get(k, 0.0) + e_j * v
    n0, n1 = p.number(x0), p.number(st.x)
    e0, e1 = p.energy(x0), p.energy(st.x)
    status = -1 if failed else (0 if done == nsteps else 1)
    msg = {0: f"reached t_end in {done} steps",
           1: f"stopped after {done} of {nsteps} steps (continue with --resume)",
           -1: f"KSP did not converge (bin, step): {failed}"}[status]
    nu, eu = sim.n_unit, u.scales["total_energy"]
    qin = inflows(flows, nu, outward=True)     # the convention of ..base.balance
    ein = inflows(eflows, eu, outward=True)
    return {"status": status, "message": msg, "steady": False, "steps": done,
            "t_end_s": u.to_si(done * dt, "time"), "dt_s": u.to_si(dt, "time"),
            "linear_iterations": int(sum(b["its_sum"] for b in st.bins)),
            "max_linear_iterations": int(max(b["its_max"] for b in st.bins)),
            "checkpoints_written": st.writes,
            "qp_number": {"initial": n0 * nu, "final": n1 * nu, **qin,
                          "imbalance": imbalance(n0 * nu, n1 * nu, qin)},
            "energy_J": {"initial_qp": e0 * eu, "final_qp": e1 * eu, "inflows": ein,
                         "imbalance": imbalance(e0 * eu, e1 * eu, ein)}}


def _snapshot_steps(every: int, nsteps: int) -> list[int]:
    """Steps written as snapshots: every ``every`` and the last."""
    return sorted(set(range(every, nsteps + 1, every)) | {nsteps})


class _TransientState:
    """Every bin's current and previous state, snapshots and bookkeeping, and the fixed
    step ``dt`` (``None`` in checkpoints written before it was stored)."""

    def __init__(self, x, prev, snaps, bins, dt=None, writes=0):
        self.x, self.prev, self.snaps, self.bins = x, prev, snaps, bins
        self.dt, self.writes = dt, writes

    @classmethod
    def fresh(cls, x0, keep, dt):
        bins = [{"step": 0, "failed": None, "its_sum": 0, "its_max": 0, "flows": {}}
                for _ in range(x0.shape[0])]
        return cls(x0.copy(), x0.copy(), {s: np.zeros_like(x0) for s in keep}, bins, dt)

    @classmethod
    def load(cls, ck):
        cells, _, meta = ck.load()
        if meta.get("kind") != "transient":
            raise CheckpointError(f"checkpoint {ck.path!r} is not one of this transient run. "
                                  "Fix: run with --overwrite instead of "
                                  "--resume (starts anew; the old outputs are replaced).")
        snaps = {s: cells[f"snap{s}"] for s in meta["keep"]}
        return cls(cells["x"], cells["prev"], snaps, meta["bins"], meta.get("dt"))

    def rekeep(self, keep, ck) -> None:
        """The snapshot steps of the (possibly extended) run: those reached are kept, the
        old last step is dropped unless it is one of ``keep``."""
        reached = max(b["step"] for b in self.bins)
        missing = [s for s in keep if s <= reached and s not in self.snaps]
        if missing:
            raise CheckpointError(f"checkpoint {ck.path!r} lacks the snapshots of steps "
                                  f"{missing} ([output] every changed?). Fix: keep the "
                                  "case's [output] every, or run anew with --overwrite.")
        self.snaps = {s: self.snaps.get(s, np.zeros_like(self.x)) for s in keep}

    def save(self, ck):
        cells = {"x": self.x, "prev": self.prev,
                 **{f"snap{s}": v for s, v in self.snaps.items()}}
        ck.save(cells, {}, {"kind": "transient", "keep": list(self.snaps),
                            "bins": self.bins, "dt": self.dt})
        self.writes += 1

r"""The collisionless transient of ``[gap] self_consistent = true`` (issue 16 §2).

Every backward-Euler step of :class:`.problem.BTEProblem` at the frozen cell gaps is
followed by the gap update of :mod:`.gapdynamics` (the gap of every cell re-solved from
its own angle-averaged occupation, :func:`.selfgap.consistent_gaps`, states keeping
:math:`\xi`, notes Eqs. 55-58): a Lie splitting, first order in the step. The initial
state (``[initial] temperature`` or the bath) is made self-consistent first. The energy
grid starts at ``[gap] floor`` times the lowest bath gap (:class:`.simulation.BTESimulation`);
a gap falling below it, or a gap iteration that does not converge, stops the run with
``status = -1``. Regions in ``[gap] hold`` keep their bath gap; normal regions keep 0.

The QP number balance is that of the step (flows: time integrals of
:meth:`.problem.BTEProblem.rates` at the step's new state, exact for backward Euler up to
the KSP tolerance) plus the gap update (exact to round-off). One rank; no ``--resume``
yet (no checkpoint of the cell gaps).
"""

from __future__ import annotations

import math

import numpy as np

from ...case.loader import CaseError
from ...spectra import fermi
from ...units import E_CHARGE
from .gapdynamics import self_consistent_start

__all__ = ["gap_transient"]


def _delta0(sim) -> np.ndarray:
    """Zero-temperature gap of every owned cell's material (internal; 0: normal)."""
    u, loc = sim.units, sim.dist.local
    reg = sim.case.values["regions"]
    d0 = [0.0 if m is None or reg[name].get("normal") else m.gap_ratio * m.Tc / u.Tc
          for name, m in zip(sim.geometry.region_names, sim.materials, strict=True)]
    return np.array(d0)[loc.cell_region[: loc.n_owned]]


def _held(sim) -> np.ndarray:
    names = set(sim.case.values["gap"]["hold"])
    held = np.array([n in names for n in sim.geometry.region_names])
    return held[sim.dist.local.cell_region[: sim.dist.local.n_owned]]


def gap_transient(sim, writer, max_steps: int | None, resume: bool) -> dict:
    """Fixed backward-Euler steps with the self-consistent gap (module docstring);
    snapshots every ``[output] every`` steps and at the end; summary with the QP number
    balance and the minimum/maximum gap of every snapshot."""
    d, u = sim.case.values, sim.units
    if sim.dist.size > 1:
        raise CaseError([f"{sim.case.path}: gap.self_consistent: the self-consistent gap "
                         f"runs on one MPI rank only (got {sim.dist.size}); fix: run "
                         "without mpiexec, or set self_consistent = false."])
    if resume:
        raise CaseError([f"{sim.case.path}: gap.self_consistent: --resume is not "
                         "available yet (the cell gaps are not checkpointed); fix: run "
                         "again without --resume."])
    t_end, dt = d["time"]["end"], d["time"]["dt_initial"]
    nsteps = max(1, int(math.ceil(t_end / dt - 1e-9)))
    dt = t_end / nsteps
    target = nsteps if max_steps is None else min(nsteps, max_steps)
    names, every = d["output"]["fields"], d["output"]["every"]
    tol = 1e-12
    delta0, held = _delta0(sim), _held(sim)
    p = sim.problem
    t0 = d["initial"].get("temperature")
    x = p.equilibrium(fermi(sim.grid.e, t0 if t0 else sim.T_bath))
    p, x, up = self_consistent_start(p, x, delta0, held=held, tol=tol)
    sim.problem = p
    gaps = [_gap_range(sim, p, 0.0)]
    writer.write(0.0, sim.fields(x, names))
    n0 = p.number(x)
    flows: dict = {}
    its, status, msg, step = 0, 0, "", 0
    while up.converged and step < target:
        t = step * dt
        xn, res = p.step(x, None, t, dt)
        its += sum(r.iterations for r in res)
        if not all(r.success for r in res):
            status, msg = -1, f"KSP did not converge at step {step + 1}"
            break
        for k, v in p.rates(xn, t, t + dt).items():
            flows[k] = flows.get(k, 0.0) + v * dt
        p, x, up = self_consistent_start(p, xn, delta0, held=held, tol=tol)
        sim.problem = p
        step += 1
        if step % every == 0 or step == target or not up.converged:
            writer.write(u.to_si(step * dt, "time"), sim.fields(x, names))
            gaps.append(_gap_range(sim, p, u.to_si(step * dt, "time")))
    if not up.converged:
        status, msg = -1, (f"the self-consistent gap did not converge at step {step} "
                           f"(last change {up.change:.3g} Delta0): a gap below the grid's "
                           f"first edge ({d['gap']['floor']:g} x the bath gap)? Fix: lower "
                           "[gap] floor")
    elif status == 0 and step < nsteps:
        status, msg = 1, f"stopped after {step} of {nsteps} steps"
    elif status == 0:
        msg = f"reached t_end in {step} steps with the self-consistent gap"
    n1, nu = p.number(x), sim.n_unit
    lo = min(g["min_ueV"] for g in gaps)
    hi = max(g["max_ueV"] for g in gaps)
    return {"status": status, "message": msg, "steady": False, "steps": step,
            "t_end_s": u.to_si(step * dt, "time"), "dt_s": u.to_si(dt, "time"),
            "linear_iterations": int(its),
            "gap": {"min_ueV": lo, "max_ueV": hi, "grid_first_edge_ueV":
                    _ueV(sim, sim.grid.edges[0]), "snapshots": gaps},
            "qp_number": {"initial": n0 * nu, "final": n1 * nu,
                          **{k: v * nu for k, v in flows.items()},
                          "imbalance": (n1 - n0 + sum(flows.values())) * nu}}


def _ueV(sim, e) -> float:
    return float(sim.units.to_si(e, "energy") / (E_CHARGE * 1e-6))


def _gap_range(sim, p, t_s: float) -> dict:
    """Min/max superconducting gap of the cells at time ``t_s`` [s], in ueV (normal cells
    left out unless all are normal)."""
    g = p.cell_gaps()
    g = g[g > 0] if np.any(g > 0) else g
    return {"t_s": t_s, "min_ueV": _ueV(sim, float(np.min(g))),
            "max_ueV": _ueV(sim, float(np.max(g)))}

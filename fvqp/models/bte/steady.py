r"""Collisionless steady states of the ``bte`` model: bin by bin (the energies decouple
without inelastic collisions), a checkpoint after every bin, and the ``[sweep]`` of mean
free paths (rate per boundary and transmission against the ballistic run); rates in the
convention of :mod:`fvqp.models.base.balance` (into the system: a drain's is negative)."""

from __future__ import annotations

import numpy as np

from ...io.checkpoint import CheckpointError
from ..base.balance import inflows
from .checkpoint import BinCheckpoint

__all__ = ["steady"]


def _solve_info(res) -> dict:
    """Totals of the KSP outcomes ``res`` ([reason, iterations, residual] per bin)."""
    its = [int(r[1]) for r in res]
    bad = [j for j, r in enumerate(res) if r[0] <= 0]
    return {"linear_iterations": int(sum(its)), "max_linear_iterations": int(max(its)),
            "failed_bins": bad}


class _Budget:
    """At most ``limit`` bin solves in this invocation (``--max-steps`` of steady runs)."""

    def __init__(self, limit):
        self.limit, self.used = limit, 0

    def take(self) -> bool:
        if self.limit is not None and self.used >= self.limit:
            return False
        self.used += 1
        return True


def steady(sim, writer, max_steps, ck: BinCheckpoint, resume: bool) -> dict:
    """Steady state bin by bin (and the ``[sweep]`` runs); a checkpoint after every bin,
    ``--resume`` solves only the missing bins; ``max_steps`` caps the bin solves of this
    invocation (status 1, checkpoint left)."""
    p, d = sim.problem, sim.case.values
    sweep = d["sweep"]["mean_free_paths"]
    nst = 1 + (len(sweep) + 1 if sweep else 0)
    if resume:
        cells, _, meta = ck.load()
        if meta.get("kind") != "steady" or len(meta["stages"]) != nst:
            raise CheckpointError(f"checkpoint {ck.path!r} is not one of this steady run. "
                                  "Fix: run with --overwrite instead of "
                                  "--resume (starts anew; the old outputs are replaced).")
        x, stages = cells["x"], meta["stages"]
    else:
        x = p.equilibrium(np.zeros(p.N))
        stages = [{"done": 0, "res": [], "rates": {}} for _ in range(nst)]
    budget, n = _Budget(max_steps), len(sim.inv_mfp)
    mfps = [None, *sweep]
    complete = True
    for i, stage in enumerate(stages):
        if stage["done"] == p.N:
            continue
        if i == 0:
            prob = p
        else:
            m = mfps[i - 1]
            prob = sim.make_problem(np.zeros(n) if m is None else np.full(n, 1.0 / m))
        src = prob.source_rates(0.0, np.inf)
        for j in range(stage["done"], p.N):
            if not budget.take():
                complete = False
                break
            xj, r = prob.solve(j, 0.0, prob.rhs(j, src=src[:, j]))
            stage["res"].append([r.reason, r.iterations, r.residual_norm])
            if i == 0:
                x[j] = xj
            else:
                for k, v in prob.rates(xj, bins=[j]).items():
                    stage["rates"][k] = stage["rates"].get(k, 0.0) + v
            stage["done"] = j + 1
            ck.save({"x": x}, {}, {"kind": "steady", "stages": stages})
        prob.release()
        if not complete:
            break
    if not complete:
        done = sum(st["done"] for st in stages)
        return {"steady": True, "status": 1, "bins_solved": done,
                "message": f"stopped after {done} of {nst * p.N} bin solves "
                           "(continue with --resume)"}
    info = _solve_info(stages[0]["res"])
    writer.write(0.0, sim.fields(x, d["output"]["fields"]))
    rates = sim.rates_si(x)
    ok = not info["failed_bins"]
    out = {"steady": True, **info, "qp_rates_per_s": rates,
           "rate_imbalance_per_s": sum(rates.values()), "N_qp": p.number(x) * sim.n_unit}
    if sweep:
        out["sweep"], bad = _sweep(sim, mfps, stages[1:])
        ok = ok and not bad
    out["status"] = 0 if ok else -1
    out["message"] = ("steady state: all bins converged" if ok else
                      "steady state: a KSP solve did not converge (see failed_bins/sweep)")
    return out


def _sweep(sim, mfps: list, stages: list) -> tuple[dict, bool]:
    """Steady states for every mean free path of ``[sweep]`` (all regions) and the
    ballistic one (``stages``: their per-bin solves, rates summed over bins): net rate
    per boundary (into the system, :mod:`fvqp.models.base.balance`: an outflow is
    negative) and transmission = outflow / ballistic outflow, through the boundaries the
    ballistic run leaves by."""
    conv = sim.n_unit / sim.units.tau0
    runs, bad = [], False
    for m, stage in zip(mfps, stages, strict=True):
        info = _solve_info(stage["res"])
        bad = bad or bool(info["failed_bins"])
        r = inflows(dict(sorted(stage["rates"].items())), conv, outward=True)
        runs.append({"mean_free_path_m": None if m is None else sim.units.to_si(m, "length"),
                     "qp_rates_per_s": r, **info})
    ball = runs[0]["qp_rates_per_s"]
    for run_ in runs:
        run_["transmission"] = {k: (v / ball[k] if ball[k] else None)
                                for k, v in run_["qp_rates_per_s"].items()
                                if k.startswith("boundary:") and ball[k] < 0}
    return {"ballistic": runs[0], "runs": runs[1:]}, bad

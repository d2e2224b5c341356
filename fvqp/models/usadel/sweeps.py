r"""Bias sweeps of a case over supercurrents: the g_nl(V_inj, V_det, I_s) map (Eqs. 15–19).

For every supercurrent :math:`I_s` of ``[sweep] supercurrents`` the phase gradients that
carry it (:mod:`.gradients`, Eqs. 6–7) are imposed with both signs and the injector bias
is swept (:class:`~.selfconsistent.BiasSweep`, every bias a checkpointed unit labelled
``is<k><p|m>_``). The sweeps are independent: under ``mpiexec -n P`` P of them run side by
side, one per rank, a round of one bias each at a time (:func:`supercurrent_map`). From the
detector currents

.. math:: g_{nl} = \frac{dI_\mathrm{det}}{dV_\mathrm{inj}}\ \text{(Eq. 15)},\quad
          g_{a,s} = \tfrac12\,[g_{nl}(I_s) \mp g_{nl}(-I_s)]\ \text{(Eqs. 16–17)},

and, on a bias grid symmetric about 0, the bias-odd / bias-even parts
:math:`g_{sa}, g_{ss}` of :math:`g_s` (Eqs. 18–19).
"""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np

from ...io.workunits import WorkUnits
from .gradients import CriticalCurrentError, edge_gradients
from .observables import split_bias, split_supercurrent
from .progress import SweepProgress
from .selfconsistent import BiasSweep

log = logging.getLogger(__name__)


def symmetric(v) -> bool:
    """Whether the bias grid ``v`` is symmetric about 0 (relative tolerance)."""
    v = np.asarray(v, float)
    return v.size > 1 and np.allclose(v, -v[::-1], rtol=0, atol=1e-9 * np.abs(v).max())


def gradients(setup, currents_i0, t: float, tasks=None) -> list:
    """Per-edge ∂xφ for every I_s/I0 (:func:`~.gradients.edge_gradients`), all computed
    before any sweep runs (an impossible current is refused at once, on every rank).
    ``tasks`` (:class:`fvqp.parallel.tasks.TaskShare`) shares the currents over the ranks,
    one per rank and round (each root search of Eq. 6 integrates the bulk supercurrent
    many times)."""
    prob = setup.problem

    def one(cur):
        def task():
            try:
                return edge_gradients(prob.net, prob.delta, prob.gamma, t, cur, prob.zeta0)
            except CriticalCurrentError as exc:  # re-raised on every rank below
                return ("critical", str(exc), exc.critical)
            except ValueError as exc:
                return ("value", str(exc), None)
        return task

    if tasks is None:
        out = [one(c)() for c in currents_i0]
    else:
        out = []
        for r in tasks.rounds(len(currents_i0)):
            out += tasks.run_round([one(currents_i0[i]) for i in r])
    for g in out:
        if isinstance(g, tuple):
            kind, message, critical = g
            raise CriticalCurrentError(message, critical) if kind == "critical" else \
                ValueError(message)
    return out


def supercurrent_map(setup, junction: str, biases, detector, grads, units,
                     lanes: int = 1) -> dict:
    """Sweeps of ``junction`` at ±∂xφ for every per-edge gradient of ``grads``
    (:func:`gradients`; an all-zero gradient, I_s = 0, is swept once).

    The sweeps are independent (each a continuation in the bias of its own): they run
    ``lanes`` at a time side by side, one bias of each per round of work units
    (``units.map``, :class:`fvqp.io.workunits.WorkUnits` with a
    :class:`fvqp.parallel.tasks.TaskShare` of ``lanes`` ranks: sweep ``p`` of a group on
    rank ``p``, with all its energies there; a lone sweep keeps its energies shared,
    ``setup.split``). Every sweep's units and continuation state are those of the sweep run
    alone, so the map does not depend on ``lanes`` (checkpoints: :class:`SweepUnits`).

    Returns ``dphi_max`` (n_I), ``i_det`` (n_I, 2, n_V, n_Vdet) for +I_s / −I_s, ``g_det``
    (same shape, exact dI_det/dV_inj of a linear problem, else None), the arrays of the
    first sweep (``first``; its ``spectral`` is None when the sweeps ran side by side: the
    caller solves it again on every rank) and the iteration counts.
    """
    prob = setup.problem
    sweeps = []  # (k, sign tag, BiasSweep) in the order of the map
    for k, grad in enumerate(grads):
        for sgn, tag in ((1.0, "p"), (-1.0, "m")):
            if not np.any(grad) and sgn < 0:
                continue  # ±0 is the same state
            s = replace(setup, problem=replace(prob, dphi=sgn * grad))
            sweeps.append((k, tag, s))
    side_by_side = lanes > 1 and len(sweeps) > 1
    runs = [BiasSweep(replace(s, split=None) if side_by_side else s, junction, biases,
                      detector, label=f"is{k}{tag}_") for k, tag, s in sweeps]
    _run_side_by_side(runs, units, lanes if side_by_side else 1, setup.split)
    res = {(k, tag): run.result() for (k, tag, _), run in zip(sweeps, runs, strict=True)}
    if side_by_side:  # the last spectral solution is on one rank only: solve it anew
        res[sweeps[0][:2]]["spectral"] = None
    out = {"dphi_max": [], "i_det": [], "g_det": [], "iterations": [],
           "first": res[sweeps[0][:2]]}
    for k, grad in enumerate(grads):
        pair = [res[(k, "p")], res.get((k, "m"), res[(k, "p")])]
        out["iterations"].extend(int(i) for sw in pair[:1 + bool(np.any(grad))]
                                 for i in np.atleast_1d(sw["iterations"]))
        out["dphi_max"].append(float(np.abs(grad).max()))
        out["i_det"].append(np.stack([sw["i_det"] for sw in pair]))
        out["g_det"].append(np.stack([sw["g_det"] for sw in pair]))
    out["dphi_max"] = np.array(out["dphi_max"])
    out["i_det"] = np.array(out["i_det"])
    g = np.array(out["g_det"])
    out["g_det"] = g if g.size else None  # exact slopes of a linear problem
    return out


def _run_side_by_side(runs: list, units, lanes: int, ranks) -> None:
    """Every unit of the :class:`~.selfconsistent.BiasSweep` ``runs``: groups of
    ``lanes`` sweeps, one bias of each sweep of the group per round (``units.map``; a
    plain hook ``units(key, compute)`` runs them one after the other)."""
    total = sum(r.size for r in runs)
    progress = SweepProgress(total, "supercurrent map ", log, ranks=ranks)
    n = 0
    for g in range(0, len(runs), lanes):
        group = runs[g:g + lanes]
        while True:
            todo = [r for r in group if r.done < r.size]
            if not todo:
                break
            items = [(r.key(r.done), lambda r=r, k=r.done: r.compute(k)) for r in todo]
            results = units.map(items) if hasattr(units, "map") else \
                [units(key, c) for key, c in items]
            for r, res in zip(todo, results, strict=True):
                k = r.done
                r.take(k, res)
                progress.update(n, f"{r.label}{r.describe(k)}")
                n += 1
    progress.close()


class SweepUnits(WorkUnits):
    """:class:`~fvqp.io.workunits.WorkUnits` of sweeps run side by side: the continuation
    state (``latest_only`` keys) is kept for the latest unit *of every sweep* (the key's
    label before ``bias<k>``), not only for the latest unit of all, so each sweep of a
    stopped map resumes from its own last state. A map of one sweep stores exactly what
    :class:`WorkUnits` stores."""

    def _store(self, key: str, res: dict) -> None:
        sweep = _label(key)
        for other, done in self._done.items():
            if _label(other) == sweep:
                for name in self.latest_only:
                    done.pop(name, None)
        self._done[key] = dict(res)
        self.computed += 1


def _label(key: str) -> str:
    """The sweep of a unit key ``<label>bias<k>``: its label."""
    return key.rpartition("bias")[0]


def decompose(i_det, v, g=None) -> dict:
    """g_nl (Eq. 15: ``g`` if given — the exact slopes of a linear problem — else central
    differences of ``i_det`` in V_inj, axis −2), g_a and g_s (Eqs. 16–17) over the ±I_s
    axis (1), and g_sa, g_ss (Eqs. 18–19) when ``v`` is symmetric about 0."""
    if g is None:
        if np.size(v) < 2:  # one bias of a nonlinear problem: no derivative
            return {}
        g = np.gradient(i_det, v, axis=-2)
    out = {"g_nl": g}
    out["g_a"], out["g_s"] = split_supercurrent(g[:, 0], g[:, 1])
    if symmetric(v):
        out["g_sa"], out["g_ss"] = split_bias(out["g_s"], axis=1)
    return out

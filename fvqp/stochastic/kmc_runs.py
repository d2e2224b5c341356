"""Monte Carlo experiments of Bespalov et al. (2016) with :class:`AnnihilationKMC`.

* :func:`stationary_concentration` -- stationary ``c(a)`` with error bars from independent
  replicas (Fig. 3 / Fig. S1 of the Supplement);
* :func:`concentration_curve` -- a sweep over ``a`` (cross-over from Eq. 9 to the mean
  field :math:`c = a^{1/2}`);
* :func:`relaxation` -- free decay at ``a = 0`` from a stationary state (Fig. S2), the
  instantaneous rate :math:`dc/dt = -2\\Gamma_{tot}/L^3` (Eq. S7) binned in ``c``.

Units of :mod:`fvqp.stochastic.annihilation` (:math:`r_c`, :math:`r_c^3/\\bar\\Gamma`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np

from fvqp.stochastic.annihilation import concentration_eq9, mean_field_concentration
from fvqp.stochastic.cells import Box
from fvqp.stochastic.kmc import AnnihilationKMC, default_cutoff, localized_kernel

__all__ = [
    "estimate_concentration",
    "box_side",
    "make_box",
    "stationary_concentration",
    "concentration_curve",
    "relaxation",
]

log = logging.getLogger(__name__)


def estimate_concentration(a: float, thickness: float | None = None) -> float:
    """Rough stationary concentration: the larger of Eq. (9) and the mean field (of a
    film of the given thickness, if any)."""
    c9 = float(concentration_eq9(a)[0])
    return max(np.nan_to_num(c9, nan=0.0), float(mean_field_concentration(a, thickness)))


def make_box(geometry: str, L: float, thickness: float | None = None) -> Box:
    """``"cube"`` (periodic, side ``L``), ``"film"`` (periodic ``L x L``, walls ``thickness``
    apart) or ``"closed"`` (walls on every side)."""
    if geometry == "cube":
        return Box.cube(L)
    if geometry == "film":
        if thickness is None:
            raise ValueError("a film needs its thickness")
        return Box.film(L, thickness)
    if geometry == "closed":
        return Box.closed(L)
    raise ValueError(f"unknown geometry {geometry!r}; choose cube, film or closed")


def box_side(a: float, n_target: int, cutoff: float) -> float:
    """Side of the box holding about ``n_target`` particles (at least ``2 cutoff``)."""
    return max((n_target / estimate_concentration(a)) ** (1.0 / 3.0), 2.0 * cutoff)


def _one_run(a: float, box: Box, cutoff: float, burn: int, sample: int, seed,
             progress: Callable | None, c_est: float) -> dict:
    sim = AnnihilationKMC(box, a, localized_kernel(cutoff), seed=seed)
    sim.populate(int(round(c_est * box.volume)))
    sim.run(burn, progress=progress)
    res = sim.run(sample, progress=progress)
    V = box.volume
    return {"c": res["mean_n"] / V, "var_n": res["mean_n2"] - res["mean_n"] ** 2,
            "c_steps": res["step_mean_n"] / V,
            "n": res["mean_n"], "events": burn + sample}


def stationary_concentration(a: float, n_target: int = 300, replicas: int = 4,
                             burn: float = 5.0, sample: float = 20.0, seed: int = 0,
                             cutoff: float | None = None, L: float | None = None,
                             progress: Callable | None = None, geometry: str = "cube",
                             thickness: float | None = None) -> dict:
    """Stationary concentration at generation rate ``a`` from independent replicas.

    Parameters
    ----------
    a : float
        :math:`Ar_c^6/\\bar\\Gamma`.
    n_target : int
        Expected number of particles in the box (sets ``L``).
    replicas : int
        Independent runs (seeds ``seed, seed+1, ...`` via :class:`numpy.random.SeedSequence`).
    burn, sample : float
        Events discarded / averaged, in units of ``n_target``.
    cutoff : float, optional
        Kernel range (default :func:`default_cutoff`).
    L : float, optional
        Box side (default :func:`box_side`; for a film the in-plane side, chosen for
        ``n_target`` particles and at least twice the cutoff).
    geometry : {"cube", "film", "closed"}
        Box shape (:func:`make_box`); ``thickness`` (units :math:`r_c`) for a film.

    Returns
    -------
    dict
        ``c`` (mean over replicas of the time averages), ``c_err`` (standard error),
        ``c_runs``, ``c_steps`` (average over steps instead of time), ``L``,
        ``cutoff``, ``n_mean``, ``events``.
    """
    film = thickness if geometry == "film" else None
    c_est = estimate_concentration(a, film)
    cutoff = default_cutoff(c_est, a) if cutoff is None else float(cutoff)
    if L is None:
        L = (max((n_target / (c_est * film)) ** 0.5, 2.0 * cutoff) if film is not None
             else box_side(a, n_target, cutoff))
    box = make_box(geometry, float(L), thickness)
    n_est = c_est * box.volume
    seeds = np.random.SeedSequence(seed).spawn(replicas)
    runs = [_one_run(a, box, cutoff, int(burn * n_est), int(sample * n_est),
                     np.random.default_rng(s), progress, c_est) for s in seeds]
    c = np.array([r["c"] for r in runs])
    err = float(c.std(ddof=1) / np.sqrt(len(c))) if len(c) > 1 else float("nan")
    c_steps = float(np.mean([r["c_steps"] for r in runs]))
    return {"a": a, "c": float(c.mean()), "c_err": err, "c_runs": c, "c_steps": c_steps,
            "L": L,
            "cutoff": cutoff, "n_mean": float(np.mean([r["n"] for r in runs])),
            "events": int(sum(r["events"] for r in runs))}


def concentration_curve(a_values: np.ndarray, progress: Callable | None = None,
                        **kw) -> dict:
    """:func:`stationary_concentration` over ``a_values``; arrays ``a, c, c_err, L``."""
    out = {"a": [], "c": [], "c_err": [], "L": [], "cutoff": [], "n_mean": []}
    for i, a in enumerate(np.asarray(a_values, dtype=float)):
        r = stationary_concentration(float(a), progress=progress, **kw)
        log.info("c(A): point %d/%d a = %.3g: c = %.4g +- %.2g r_c^-3 (N = %.0f)",
                 i + 1, len(a_values), a, r["c"], r["c_err"], r["n_mean"])
        for k in out:
            out[k].append(r[k])
    return {k: np.asarray(v) for k, v in out.items()}


def relaxation(a0: float = 6e-6, L: float = 80.0, n_start: int = 1000, repeats: int = 4,
               n_min: int = 10, bins: int = 20, seed: int = 0, cutoff: float | None = None,
               burn: float = 5.0, progress: Callable | None = None) -> dict:
    """Free relaxation at ``a = 0`` (Supplement, Fig. S2).

    Each repeat equilibrates at ``a0``, switches generation off and records, from the
    first time ``N <= n_start`` until ``N < n_min``, the concentration and
    :math:`dc/dt = -2\\Gamma_{tot}/L^3` (Eq. S7) at every step; the records are averaged
    in logarithmic bins of ``c``. ``progress(k, repeats, sim)`` after repeat ``k`` (else a
    log line).

    Returns
    -------
    dict
        ``c`` (bin means), ``dcdt`` (mean), ``dcdt_std`` (standard deviation over the
        records), ``count`` per bin, and ``t``/``c_t`` (the time trace of the first
        repeat).
    """
    c_est = estimate_concentration(a0)
    cutoff = default_cutoff(c_est, a0) if cutoff is None else float(cutoff)
    V = L**3
    cs, rates, trace_t, trace_c = [], [], [], []
    for k, s in enumerate(np.random.SeedSequence(seed).spawn(repeats)):
        sim = AnnihilationKMC(L, a0, localized_kernel(cutoff), seed=np.random.default_rng(s))
        sim.populate(int(round(c_est * V)))
        sim.run(int(burn * c_est * V))
        sim.a = 0.0
        t0 = None
        while sim.n >= max(n_min, 2):
            if sim.n <= n_start:
                if t0 is None:
                    t0 = sim.time
                cs.append(sim.n / V)
                rates.append(-2.0 * sim.annihilation_rate() / V)
                if k == 0:
                    trace_t.append(sim.time - t0)
                    trace_c.append(sim.n / V)
            if sim.step() == 0:
                break
        if progress is None:
            log.info("relaxation: repeat %d/%d done", k + 1, repeats)
        else:
            progress(k + 1, repeats, sim)
    cs, rates = np.asarray(cs), np.asarray(rates)
    edges = np.geomspace(cs.min(), cs.max() * (1 + 1e-12), bins + 1)
    idx = np.clip(np.digitize(cs, edges) - 1, 0, bins - 1)
    count = np.bincount(idx, minlength=bins)
    ok = count > 0
    mean_c = np.bincount(idx, cs, bins)[ok] / count[ok]
    mean_r = np.bincount(idx, rates, bins)[ok] / count[ok]
    sq = np.bincount(idx, rates**2, bins)[ok] / count[ok]
    return {"c": mean_c, "dcdt": mean_r, "dcdt_std": np.sqrt(np.maximum(sq - mean_r**2, 0)),
            "count": count[ok], "t": np.asarray(trace_t), "c_t": np.asarray(trace_c),
            "a0": a0, "L": L, "cutoff": cutoff}

r"""Sources on a mesh: a deposited energy pulse or a steady power, in a region or a
Gaussian spot (the ``[[sources]]`` tables of every mesh model).

A source is a spatial weight :math:`w_i` (summing to one over the mesh) times a time
profile. The power handed to a time step :math:`[t_0, t_1]` is the *exact average* of
the profile over the step, so a pulse shorter than the step still deposits all of its
energy, and the deposited energy is exact for backward Euler.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping

import numpy as np
from scipy.special import ndtr, ndtri

log = logging.getLogger("fvqp.sources")

#: a pulse with more than this fraction of its energy before t = 0 is warned about (the
#: deposit actually made is in every run's energy balance; 1 % catches a pulse placed at
#: or near t = 0, not one placed 3 widths late on purpose)
EARLY_FRACTION = 1e-2

#: a pulse's window: +- WINDOW_SIGMAS sigma about its centre (breakpoints at both ends,
#: 1e-9 of its energy outside). Steps whose local error is not estimated (fixed steps, an
#: adaptive run's first step and its first after a breakpoint) are at most
#: WINDOW_RESOLUTION * sigma inside it; steps whose error is estimated hold at most
#: WINDOW_FRACTION of its energy, the share of a WINDOW_RESOLUTION * sigma step centred on
#: its peak (0.197 for 0.5 sigma): as short at the peak, longer in the tails
#: (:meth:`PulseProfile.max_dt`)
WINDOW_SIGMAS = 6.0
WINDOW_RESOLUTION = 0.5
WINDOW_FRACTION = float(ndtr(WINDOW_RESOLUTION / 2) - ndtr(-WINDOW_RESOLUTION / 2))


class PulseProfile:
    """Energy ``energy`` deposited with a Gaussian time profile (centre, width sigma)."""

    def __init__(self, energy: float, centre: float, sigma: float):
        self.energy, self.centre, self.sigma = energy, centre, sigma

    def amount(self, t0: float, t1: float) -> float:
        """Energy deposited in [t0, t1]."""
        z0, z1 = (t0 - self.centre) / self.sigma, (t1 - self.centre) / self.sigma
        return self.energy * float(ndtr(z1) - ndtr(z0))

    def steady_rate(self) -> float:
        return 0.0

    def breakpoints(self) -> list[float]:
        a = self.centre - WINDOW_SIGMAS * self.sigma
        return [b for b in (a, self.centre + WINDOW_SIGMAS * self.sigma) if b > 0]

    def max_dt(self, t: float, checked: bool = True) -> float:
        r"""The longest step from ``t`` that resolves the pulse. ``checked``: the step's
        local error is estimated (an adaptive step with a known past).

        A checked step deposits at most :data:`WINDOW_FRACTION` of the energy:
        :math:`h = \sigma\,[\Phi^{-1}(\Phi(z_0) + F) - z_0]`, :math:`z_0 = (t - t_c)/\sigma`,
        unlimited once less than :math:`F` is left. Its share of the deposit is bounded,
        not its length: ~0.5σ at the peak, ~5σ from the window's start to 0.85σ before
        the peak, whose tail holds 0.2 of the energy; whether the response allows that is
        the error test's to say. An unchecked step (nothing would see a response smeared
        over it) is at most 0.5σ within the window, as every step was before 2026-11-28.
        On the layout chip to 1 µs (a 1 ns pulse at 5 ns, adaptive backward Euler) 61 → 51
        steps at rtol 0.1, 38 → 22 at rtol 1, for the same errors against a converged run
        (docs/theory_phonon.md, "The deposit's steps"). The deposited energy is exact
        either way (the step averages of :meth:`amount`)."""
        z0 = (t - self.centre) / self.sigma
        if not checked:   # the window from its start (landed on: z0 = -6 to round-off)
            inside = -WINDOW_SIGMAS * (1 + 1e-12) <= z0 < WINDOW_SIGMAS * (1 - 1e-12)
            return WINDOW_RESOLUTION * self.sigma if inside else math.inf
        reach = float(ndtr(z0)) + WINDOW_FRACTION
        if reach >= 1.0:
            return math.inf
        return self.sigma * (float(ndtri(reach)) - z0)


class PowerProfile:
    """Constant power ``power`` switched on in [start, stop)."""

    def __init__(self, power: float, start: float = 0.0, stop: float = math.inf):
        self.power, self.start, self.stop = power, start, stop

    def amount(self, t0: float, t1: float) -> float:
        return self.power * max(0.0, min(t1, self.stop) - max(t0, self.start))

    def steady_rate(self) -> float:
        return self.power if math.isinf(self.stop) else 0.0

    def breakpoints(self) -> list[float]:
        return [b for b in (self.start, self.stop) if 0 < b < math.inf]

    def max_dt(self, t: float, checked: bool = True) -> float:
        return math.inf


class Source:
    """A time profile distributed over the owned cells with weights ``weights``."""

    def __init__(self, weights: np.ndarray, profile):
        self.weights, self.profile = weights, profile

    def power(self, t0: float, t1: float) -> np.ndarray:
        """Step-averaged power per owned cell; ``t1 = inf`` asks for the steady value."""
        if math.isinf(t1):
            return self.weights * self.profile.steady_rate()
        return self.weights * (self.profile.amount(t0, t1) / (t1 - t0))

    def breakpoints(self) -> list[float]:
        return self.profile.breakpoints()

    def max_dt(self, t: float, checked: bool = True) -> float:
        return self.profile.max_dt(t, checked)


def spatial_weights(dist, volume_owned: np.ndarray, in_regions: np.ndarray,
                    centroid_owned: np.ndarray, position=None, radius=None) -> np.ndarray:
    """Weights summing to one over all ranks: by volume in the selected cells, optionally
    times a Gaussian ``exp(-|x-x0|²/2r²)`` about ``position``. The Gaussian is taken
    relative to the nearest selected cell centre (the common factor cancels in the
    normalisation), so a radius much below the cells' size puts the source into the
    nearest cell(s) instead of underflowing to "covers no cell" (a 0.1 um spot in 25 um
    cells)."""
    w = np.where(in_regions, volume_owned, 0.0)
    if position is not None:
        d2 = np.sum((centroid_owned - np.asarray(position)[None, :]) ** 2, axis=1)
        sel = d2[in_regions]
        d2_min = -dist.max(-float(sel.min()) if sel.size else -math.inf)
        if math.isfinite(d2_min):
            w = w * np.exp(-0.5 * (d2 - d2_min) / radius**2)
    total = dist.sum(w.sum())
    if not total > 0:
        raise ValueError("the source covers no cell of the mesh (check its region, "
                         "position and radius)")
    return w / total


def placement(dist, geometry, spec: Mapping, mesh_scale: float) -> np.ndarray:
    """Spatial weights of a case-file source (``region``, ``position``, ``radius`` keys)
    over the owned cells: by volume in the region (default: all simulated cells),
    optionally times a Gaussian spot; positions are in mesh units.

    Parameters
    ----------
    spec : Mapping
        The source's table of an :class:`fvqp.case.InternalCase` (``radius`` in µm).
    mesh_scale : float
        ``[mesh] scale`` of the internal case (one mesh unit in µm).
    """
    loc = dist.local
    n = loc.n_owned
    names = geometry.region_names
    if spec.get("region"):
        if spec["region"] not in names:
            raise ValueError(f"source region {spec['region']!r} is not a simulated region "
                             f"({', '.join(names)})")
        sel = loc.cell_region[:n] == names.index(spec["region"])
    else:
        sel = np.ones(n, dtype=bool)
    pos = spec.get("position")
    if pos is not None:
        pos = np.array(list(pos) + [0.0] * (3 - len(pos))) * mesh_scale
    radius = spec.get("radius") or None
    if pos is not None and radius is None:
        raise ValueError("a source with a position needs a radius")
    return spatial_weights(dist, loc.volume[:n], sel, loc.centroid[:n], pos, radius)


def profile(energy: float | None = None, centre: float = 0.0, duration: float | None = None,
            power: float | None = None, start: float = 0.0, stop: float | None = None):
    """Pulse (``energy`` deposited around ``centre`` with width ``duration``) or power
    (switched on in [start, stop), ``stop`` None: never off) profile; internal units."""
    if energy is not None:
        return PulseProfile(energy, centre, duration)
    return PowerProfile(power, start, stop or math.inf)


def _end(data: Mapping) -> float | None:
    """The end time of a transient case (internal), None for a steady one."""
    t = data.get("time") or {}
    return None if t.get("steady") or t.get("end") is None else float(t["end"])


def _after_end(data: Mapping, s: Mapping) -> float:
    """The fraction of a Gaussian pulse ``s`` deposited after the run's end (0 for a
    steady case: its sources are refused there, :func:`fvqp.models.base.schema.
    check_pulse_or_power`)."""
    end = _end(data)
    if end is None:
        return 0.0
    if not s["duration"]:
        return 1.0 if s["time"] >= end else 0.0
    return float(ndtr((s["time"] - end) / s["duration"]))


def case_sources(dist, geometry, data: Mapping, amount_key: str = "deposit"
                 ) -> list[tuple[Mapping, np.ndarray, object]]:
    """``(spec, weights, profile)`` of every ``[[sources]]`` table of a case.

    A table with ``amount_key`` (the deposited energy: ``"energy"`` for heat pulses,
    ``"deposit"`` for the kinetic models; declared ``internal="total_energy"`` in the
    schema) is a pulse around ``time`` with width ``duration``; otherwise it is a
    ``power`` switched on in ``[start, stop)``. ``data``: the values of an
    :class:`fvqp.case.InternalCase` (converted once, from the schema's declared
    dimensions); weights and profiles are internal.
    """
    out = []
    for k, s in enumerate(data.get("sources") or []):
        w = placement(dist, geometry, s, data["mesh"]["scale"])
        if s.get(amount_key) is not None:
            prof = profile(energy=s[amount_key], centre=s["time"], duration=s["duration"])
            early = float(ndtr(-s["time"] / s["duration"])) if s["duration"] else 0.0
            if early > EARLY_FRACTION and dist.rank == 0:
                log.warning("sources[%d]: the pulse is centred %.3g widths (duration) after "
                            "t = 0, so %.3g of its %s is deposited before the run starts "
                            "and never enters it. Fix: give time = at least 5 x duration.",
                            k, s["time"] / s["duration"], early, amount_key)
            late = _after_end(data, s)
            if late > EARLY_FRACTION and dist.rank == 0:
                log.warning("sources[%d]: %.3g of the pulse's %s comes after the run's end "
                            "(time.end) and never enters it. Fix: give time.end at least "
                            "time + 5 x duration, or an earlier time.", k, late, amount_key)
        else:
            prof = profile(power=s["power"], start=s["start"], stop=s.get("stop"))
            end = _end(data)
            if end is not None and s["start"] >= end and dist.rank == 0:
                log.warning("sources[%d]: the power is switched on (start) at or after the "
                            "run's end (time.end): it never enters the run. Fix: an "
                            "earlier start, or a later end.", k)
        out.append((s, w, prof))
    return out


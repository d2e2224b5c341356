r"""Energy grids of the Usadel model: uniform, or graded towards the gap edges.

Every grid is symmetric about ε = 0 and contains it (the observables are
:math:`\tfrac12\int_{-\infty}^{\infty}`, Eqs. 4–6, 8, 13, 14). The integrals of the model
are the trapezoid rule on the grid nodes (:func:`~.observables.integrate`, the cell
weights :func:`~.tunnel.cell_widths`), which holds for any node spacing; the tunnel
charge terms integrate the bulk DOS inside every cell on a fine sub-grid
(:mod:`~.tunnel`), so a coarse cell next to the gap edge costs no accuracy there.

A *graded* grid (case ``[energy] grid = "graded"``) puts its smallest steps, ``h_min``,
at the gap edges ±ε_g and lets the step grow linearly with the distance from the edge,

.. math::  h(\epsilon) = \min\big(h_\mathrm{max},\; h_\mathrm{min} + (r-1)
           \,|\,|\epsilon|-\epsilon_g|\big),

which is a geometric progression of ratio r next to the edge, up to the uniform step
``h_max`` far from it: the coherence peak :math:`N\sim\sqrt{\Delta/2|\epsilon-\Delta|}`
and the steep Fermi tails near it are resolved at the cost of a few extra nodes. The
e–e and e–ph collision integrals are correlations on uniform steps: on a graded grid
they are evaluated on the uniform grid of step ``h_min`` and restricted back conserving
number and energy (:mod:`~.regrid`).
"""

from __future__ import annotations

import numpy as np


def uniform_grid(spacing: float, emax: float) -> np.ndarray:
    """Energies −E…E in steps of ``spacing`` (E = ⌊emax/spacing⌋ spacing), 0 included."""
    n = int(np.floor(emax / spacing))
    return np.arange(-n, n + 1) * spacing


def _march(start: float, stop: float, step) -> list:
    """Points from ``start`` towards ``stop`` (excluded) with local steps ``step(e)``; the
    last interval is merged into the previous one if it would be shorter than half a
    step."""
    pts, e, sgn = [], start, np.sign(stop - start)
    while True:
        h = step(e)
        if sgn * (stop - (e + sgn * h)) < 0.5 * h:
            break
        e = e + sgn * h
        pts.append(e)
    return pts


def graded_grid(h_max: float, h_min: float, emax: float, edge: float = 1.0,
                ratio: float = 1.15) -> np.ndarray:
    """Symmetric grid on [−emax, emax] with steps ``h_min`` at ±``edge`` growing with
    ratio ``ratio`` to ``h_max`` (module docstring); 0 and ±edge are nodes.

    Parameters
    ----------
    h_max, h_min : float
        Largest and smallest step (units Δ0), ``h_min <= h_max``.
    emax : float
        Half-width; the grid ends at exactly ±emax.
    edge : float
        Gap edge ε_g (> 0, < emax) where the steps are smallest.
    """
    if not 0 < h_min <= h_max:
        raise ValueError(f"graded grid: need 0 < h_min <= h_max, got {h_min}, {h_max}")
    if not 0 < edge < emax:
        return uniform_grid(h_max, emax)

    def step(e):
        return min(h_max, h_min + (ratio - 1.0) * abs(e - edge))

    pos = [0.0] + _march(edge, 0.0, step)[::-1] + [edge] + _march(edge, emax, step) + [emax]
    pos = np.unique(np.asarray(pos))
    return np.concatenate([-pos[:0:-1], pos])

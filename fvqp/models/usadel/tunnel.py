r"""Gap-edge-aware energy quadrature of the tunnel charge terms (paper Eqs. 11, 13, 14).

The model's energy integrals are the trapezoid rule on the energy nodes ε_k (weights
w_k, cells C_k between the midpoints). With a Dynes broadening Γ ≪ δε a node at the gap
edge samples :math:`N\simeq\sqrt{\Delta/2\Gamma}`, and the point rule
:math:`w_kN(\epsilon_k)f(\epsilon_k)` makes the tunnel integrals depend on Γ/δε (+23 % in
∫N for Γ = 10⁻⁴Δ, δε = 0.01Δ; an NIS current +70 % for Γ = 10⁻³Δ, δε = 0.05Δ).

The tunnel term of the charge mode (Eq. 11 for fT) at a junction node is instead

.. math::  \kappa\big[S_k - \hat N_k f_{T,k}\big],\qquad
           \hat N_k=\frac1{w_k}\int_{C_k}N\,d\epsilon,\quad
           S_k=\frac1{w_k}\int_{C_k}N f_T^{(N)}\,d\epsilon ,

with the electrode's analytic :math:`f_T^{(N)}` (Eq. 12) integrated against N inside the
cell, so the injection :math:`\sum_k w_kS_k=\int N f_T^{(N)}` is exact whatever Γ/δε.
The tunnel currents (Eqs. 13–14) are :math:`\tfrac\kappa2\sum_kw_k(S_k-\hat N_kf_{T,k})`,
the same terms with the same weights, so the charge balance of the kinetic equations stays
exact at round-off, energy by energy. The other spectral coefficients keep their node
values (the kinetic response is exact per energy; cell averages of coefficients that
enter nonlinearly, e.g. N²/D_T, are biased by Jensen's inequality: measured worse μ_Q*).

The energy mode (fL) keeps the point values N(ε_k) f_L^{(N)}(ε_k): below the edge D_L ≈ 0
(the Dynes tail is nearly localised), and a node just below the edge that received the
cell's share of the peak would pin fL to the electrode's distribution there; with the
self-consistent gap (Eq. 8) of Fig. 11 that biased Δ(V) at first order in δε
(−0.006 at δε = 1/40, Γ = 0.005), while the point rule converges at second order.

N at the junction node is split as :math:`N = N_0 + (N - N_0)`, :math:`N_0` the bulk DOS
(Eq. 1, :func:`~fvqp.models.usadel.bulk.bulk_theta`) of the node's own Δ, Γ, ζ, which
carries the gap-edge peak and is integrated on a fine grid (every cell subdivided in
:data:`N_SUB`, graded geometrically towards ±ε_g down to 10⁻²Γ and towards the electrode's
Fermi steps ±eV down to 10⁻²k_BT); the remainder (proximity, inverse proximity: zero in a
uniform wire) is taken constant over the cell at its node value. Nodes with Δ = 0 keep
point values. For a uniform Dynes wire :math:`\int_{C_k}N = \mathrm{Re}\sqrt{(\epsilon+
i\Gamma)^2-\Delta^2}\,\big|_{C_k}` (tested).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .bulk import bulk_gap_edge, bulk_theta
from .terminals import dn0_dv, electrode_distribution

#: uniform sub-intervals of every energy cell on the fine grid
N_SUB = 16
#: geometric points on each side of a gap edge / Fermi step
N_GRADE = 300


def cell_bounds(eps: np.ndarray) -> np.ndarray:
    """Bounds of the energy cells: midpoints between nodes, clipped to the grid."""
    eps = np.asarray(eps, float)
    return np.concatenate([eps[:1], 0.5 * (eps[1:] + eps[:-1]), eps[-1:]])


def cell_widths(eps: np.ndarray) -> np.ndarray:
    """Trapezoid weights w_k of the energy nodes (Σ w_k y_k is the model's trapezoid)."""
    return np.diff(cell_bounds(eps))


def graded_points(points, scale: float, span: float) -> np.ndarray:
    """``points`` and :data:`N_GRADE` geometric offsets from ``scale`` to ``span`` on
    both sides of each (fine-grid points at gap edges and Fermi steps)."""
    off = np.geomspace(scale, max(span, 2 * scale), N_GRADE)
    p = np.asarray(points, float)[:, None]
    return np.concatenate([p.ravel(), (p + off).ravel(), (p - off).ravel()])


def _bulk_dos(e, delta, gamma, zeta) -> np.ndarray:
    return np.cos(bulk_theta(e, delta, gamma, zeta)).real


@dataclass
class _NodeGrid:
    """Cells and fine grid of one junction node, with the bulk DOS N_0 on the grid."""

    bounds: np.ndarray
    weights: np.ndarray  # trapezoid weights w_k
    fine: np.ndarray
    dos: np.ndarray
    rest: np.ndarray  # N - N_0 at the energy nodes
    ref: tuple

    def with_points(self, extra: np.ndarray):
        lo, hi = self.bounds[0], self.bounds[-1]
        extra = np.unique(extra[(extra > lo) & (extra < hi)])
        extra = extra[~np.isin(extra, self.fine)]
        if extra.size == 0:
            return self.fine, self.dos
        f = np.concatenate([self.fine, extra])
        d = np.concatenate([self.dos, _bulk_dos(extra, *self.ref)])
        order = np.argsort(f, kind="stable")
        return f[order], d[order]

    def average(self, g=None, extra=()) -> np.ndarray:
        r""":math:`\frac1{w_k}\int_{C_k}N g\,d\epsilon` (g = None: g = 1), N_0 on the fine
        grid (trapezoid) and the remainder at the node value."""
        f, d = self.with_points(np.asarray(extra, float))
        y = np.ones_like(f) if g is None else g(f)
        idx = np.searchsorted(f, self.bounds)
        h = np.diff(f)

        def cum(v):
            return np.concatenate([[0.0], np.cumsum(0.5 * (v[1:] + v[:-1]) * h)])

        c0, c1 = np.diff(cum(d * y)[idx]), np.diff(cum(y)[idx])
        return (c0 + self.rest * c1) / self.weights


def node_grid(spec, node: int) -> _NodeGrid | None:
    """The node's cells and fine grid with the bulk DOS N_0 on it (cached on ``spec``);
    None for a normal node."""
    cache = spec.__dict__.setdefault("_tunnel_grids", {})
    if node in cache:
        return cache[node]
    prob = spec.problem
    delta = float(prob.delta[node])
    if delta <= 0:
        cache[node] = None
        return None
    eps = np.asarray(spec.eps, float)
    zeta = float(np.broadcast_to(np.asarray(prob.zeta, float), prob.delta.shape)[node])
    ref = (delta, float(prob.gamma), zeta)
    eg = bulk_gap_edge(delta, zeta)
    b = cell_bounds(eps)
    w = np.diff(b)
    t = np.linspace(0.0, 1.0, N_SUB + 1)[:-1]
    pts = [(b[:-1, None] + np.diff(b)[:, None] * t[None, :]).ravel(), b, eps]
    if eg > 0:
        pts.append(graded_points([eg, -eg], 1e-2 * max(prob.gamma, 1e-9), 4.0 * w.max()))
    fine = np.unique(np.concatenate(pts))
    fine = fine[(fine >= b[0]) & (fine <= b[-1])]
    grid = _NodeGrid(bounds=b, weights=w, fine=fine, dos=_bulk_dos(fine, *ref),
                     rest=spec.N[:, node] - _bulk_dos(eps, *ref), ref=ref)
    cache[node] = grid
    return grid


def node_dos(spec, node: int) -> np.ndarray:
    r""":math:`\hat N_k` at ``node`` (n_eps,), the DOS weight of the charge-mode tunnel
    term."""
    cache = spec.__dict__.setdefault("_tunnel_dos", {})
    if node not in cache:
        grid = node_grid(spec, node)
        cache[node] = spec.N[:, node] if grid is None else grid.average()
    return cache[node]


def _source(spec, node, bias, temperature, fun) -> np.ndarray:
    grid = node_grid(spec, node)
    if grid is None:  # normal node: point values
        return spec.N[:, node] * fun(np.asarray(spec.eps, float))
    v = float(bias)
    extra = graded_points([v, -v], 1e-2 * max(float(temperature), 1e-9),
                    4.0 * float(grid.weights.max()))
    return grid.average(fun, extra)


def charge_source_at(spec, node: int, bias: float, temperature: float) -> np.ndarray:
    r""":math:`S_k` of a normal electrode at ``node`` (f_T of Eq. 12), cached; also for a
    detector that is not in the solve (Eq. 14)."""
    cache = spec.__dict__.setdefault("_tunnel_sources", {})
    key = (int(node), float(bias), float(temperature))
    if key not in cache:
        cache[key] = _source(spec, node, bias, temperature,
                             lambda e: electrode_distribution(e, bias, temperature)[1])
    return cache[key]


def charge_source(spec, junction) -> np.ndarray:
    """:func:`charge_source_at` of a :class:`~.terminals.TunnelJunction`."""
    return charge_source_at(spec, junction.node, junction.bias, junction.temperature)


def charge_source_dv(spec, junction) -> np.ndarray:
    r"""The same with :math:`\partial_V f_T^{(N)}` (for g_nl, Eq. 15)."""
    return _source(spec, junction.node, junction.bias, junction.temperature,
                   lambda e: dn0_dv(e, junction.bias, junction.temperature)[1])

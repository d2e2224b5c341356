r"""Optional self-consistent gap: :math:`\Delta` follows ``f`` through the gap equation.

Gap equation
------------
The BCS gap equation with a non-thermal occupation (notes Eq. 1, written there with the
thermal factor; for a general distribution :math:`\tanh(E/2T) \to 1 - 2f(E)`),
:math:`1/\lambda = \int_0^{\omega_D} d\xi\,(1 - 2f)/E`, with the cut-off eliminated
through the zero-temperature gap :math:`\Delta_0` (weak coupling,
:math:`\omega_D \gg \Delta`) reads

.. math:: \ln\frac{\Delta_0}{\Delta} = 2\int_0^\infty d\xi\,\frac{f}{\sqrt{\xi^2+\Delta^2}}.

``f`` is the occupation of the Bogoliubov states, labelled by :math:`\xi` (the number of
states per :math:`d\xi` is fixed, :math:`N_0`); QP cell ``i`` of a grid with gap
:math:`\Delta_g` covers :math:`\xi \in [\xi_i, \xi_{i+1}]`, :math:`\xi = \sqrt{E^2 -
\Delta_g^2}` at the cell edges (and :math:`h\bar\rho_i = \xi_{i+1} - \xi_i`). For
piecewise-constant ``f`` in :math:`\xi` the integral is exact for any trial
:math:`\Delta`:

.. math:: \ln\frac{\Delta_0}{\Delta} = 2\sum_i f_i\Big[\operatorname{asinh}
    \frac{\xi_{i+1}}{\Delta} - \operatorname{asinh}\frac{\xi_i}{\Delta}\Big]

(at :math:`\Delta = \Delta_g` the bracket is :math:`h\bar a_i/\Delta`, the anomalous DOS
of the grid). :math:`\Delta_0` is the material's ``gap_ratio`` (in kTc), so in
equilibrium :math:`\Delta(T)` is the weak-coupling BCS gap with that :math:`\Delta_0`
(:func:`fvqp.spectra.gap.thermal_gap` ``(t, 1.0, delta0, "delta0")``).

The grid depends on the gap
---------------------------
The collision grid needs :math:`2\Delta = mh` (:mod:`fvqp.collisions.grid`). A new gap
therefore means a new grid: :meth:`Kinetics0D.with_gap` keeps ``m``, the number of QP
cells and of phonon nodes and rescales :math:`h = 2\Delta/m` (so the cut-offs scale
with :math:`\Delta`). States are carried over by :func:`remap`: ``f`` conservatively in
:math:`\xi` (the QP number :math:`\int f\,d\xi` is kept exactly while the grids overlap;
the energy is not: the condensate takes the difference), ``n`` conservatively in the
phonon number :math:`\int\Omega^2 n\,d\Omega` (piecewise constant on the cells
:math:`[(k-\frac12)h, (k+\frac12)h]`).

Steady states (:func:`.solve.steady_state_self_consistent`) iterate on the scalar :math:`\Delta`:
every iterate solves the kinetic equations by Newton on the grid of the current gap and
then the gap equation for the resulting ``f`` (secant steps on
:math:`\Delta\mapsto\Delta_{gap}[f_{ss}(\Delta)] - \Delta`), until the gap is
self-consistent to ``tol``; the remapped state is only the next Newton guess, so the
final state is exact on the final grid.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from ...collisions import EnergyGrid
from ...spectra.gap_equation import weak_coupling_gaps, weak_coupling_residual
from .model import Kinetics0D

__all__ = [
    "gap_equation",
    "remap",
    "self_consistent_gap",
    "xi_weights",
]


def _xi_edges(grid: EnergyGrid) -> np.ndarray:
    x = grid.x_edges  # E - Delta at the cell edges (either layout)
    return np.sqrt(x * (x + 2.0 * grid.delta))


def xi_weights(grid: EnergyGrid, delta: np.ndarray, derivative: bool = False
               ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    r"""Integration rule of the gap equation on the 0D grid (module docstring): ``f``
    constant on the :math:`\xi` cells of ``grid``,
    :math:`W_i = \operatorname{asinh}(\xi_{i+1}/\Delta) - \operatorname{asinh}(\xi_i/\Delta)`,
    shape (k, N) for trial gaps ``delta`` (k,); with ``derivative``, also
    :math:`dW_i/d\Delta = -[\xi/(\Delta\sqrt{\xi^2+\Delta^2})]_{\xi_i}^{\xi_{i+1}}`."""
    d = np.asarray(delta, dtype=float)[:, None]
    xi = _xi_edges(grid)[None, :]
    w = np.diff(np.arcsinh(xi / d), axis=1)
    if not derivative:
        return w
    return w, -np.diff(xi / (d * np.sqrt(xi * xi + d * d)), axis=1)


def gap_equation(delta: float, f: np.ndarray, grid: EnergyGrid, delta0: float) -> float:
    r"""Residual :math:`\ln(\Delta_0/\Delta) - 2\sum_i f_i[\operatorname{asinh}]_i`
    (module docstring) of the occupation ``f`` on ``grid`` at the trial gap ``delta``."""
    return float(weak_coupling_residual(np.array([delta]), np.asarray(f)[None, :],
                                        np.array([delta0]), partial(xi_weights, grid))[0])


def self_consistent_gap(f: np.ndarray, grid: EnergyGrid, delta0: float) -> float:
    r"""The largest root :math:`\Delta \in (0, \Delta_0]` of :func:`gap_equation`.

    The one gap-equation solver (:func:`fvqp.spectra.gap_equation.weak_coupling_gaps`)
    with the rule :func:`xi_weights`: the residual is negative at :math:`\Delta_0` (any
    ``f >= 0``), scanned downwards on a log grid (121 points to :math:`10^{-6}\Delta_0`)
    to the first sign change and polished to :math:`10^{-15}\Delta_0`.
    Returns 0 if there is no superconducting solution.
    """
    if gap_equation(delta0, f, grid, delta0) > 0:  # pragma: no cover - f < 0
        raise ValueError("occupation with negative entries")
    d = weak_coupling_gaps(np.asarray(f, dtype=float)[None, :], np.array([float(delta0)]),
                           partial(xi_weights, grid), np.logspace(0.0, -6.0, 121))
    return float(d[0])


def _overlap(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Overlap lengths of the intervals ``a[i]..a[i+1]`` with ``b[j]..b[j+1]``, (i, j)."""
    lo = np.maximum(a[:-1, None], b[None, :-1])
    hi = np.minimum(a[1:, None], b[None, 1:])
    return np.maximum(hi - lo, 0.0)


def remap(y: np.ndarray, old: Kinetics0D, new: Kinetics0D) -> np.ndarray:
    """Carry a state from ``old``'s grid to ``new``'s (module docstring)."""
    f, n = old.split(y)
    xo, xn = _xi_edges(old.grid), _xi_edges(new.grid)
    f_new = (f @ _overlap(xo, xn)) / np.diff(xn)
    ho, hn = old.grid.h, new.grid.h
    eo = ho * (np.arange(old.grid.n_ph + 1) + 0.5)
    en = hn * (np.arange(new.grid.n_ph + 1) + 0.5)
    eo[0] = en[0] = 0.0
    cube = lambda e: e**3 / 3.0  # noqa: E731 - int Omega^2
    w_old = n * np.diff(cube(eo))  # phonon number per old cell (times 1/beta)
    lo = np.maximum(eo[:-1, None], en[None, :-1])
    hi = np.minimum(eo[1:, None], en[None, 1:])
    frac = np.where(hi > lo, (cube(hi) - cube(lo)), 0.0) / np.diff(cube(eo))[:, None]
    n_new = (w_old @ frac) / np.diff(cube(en))
    # beyond the old range: bath occupation
    outside = en[1:] > eo[-1]
    n_new[outside] = np.maximum(n_new[outside], new.n_bath[outside])
    return new.join(np.clip(f_new, 0.0, 1.0), n_new)

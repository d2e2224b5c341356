r"""The gap of every cell from its own quasiparticles (issue 16 §2).

Gap equation (notes Eq. 1 with :math:`\tanh(E/2T) \to 1 - 2f`, the cut-off eliminated
through the cell material's zero-temperature gap :math:`\Delta_0`, weak coupling):

.. math:: \ln\frac{\Delta_0}{\Delta} = 2\int_\Delta^\infty
    \frac{\bar f(E)}{\sqrt{E^2 - \Delta^2}}\,dE ,

:math:`\bar f` the angle average (:math:`\phi`) of the cell. The one solver
(:func:`fvqp.spectra.bins.gaps`, the rule of :mod:`fvqp.spectra.bins` for ``f`` constant on
every absolute bin) is reused, vectorised over cells. Normal cells (:math:`\Delta_0 = 0`)
keep 0; cells of regions whose gap is held keep their gap.

Self-consistency with the state. The occupations of a cell live on the bins of its
current gap :math:`\Delta_c` (storage :math:`\bar\rho(\Delta_c)`); a new gap moves every
state's energy at fixed :math:`\xi` (:mod:`.gapshift`). The self-consistent gap of a state
is therefore the root of

.. math:: F(\Delta) = \mathcal G\big[S_{\Delta_c\to\Delta}f\big] - \Delta,

:math:`\mathcal G` the gap equation's root for the bins' occupations and :math:`S` the
remap of :func:`.gapshift.shift_gap` (at :math:`\Delta = \Delta_c` the bin rule and the
:math:`\xi` rule of ``kinetics0d`` coincide, so the two models share the root).
:func:`consistent_gaps` brackets it per cell between the grid's first edge
(:math:`F \ge 0` unless the gap would leave the grid) and :math:`\Delta_0`
(:math:`F \le 0` for :math:`f \ge 0`) and closes the bracket by the Illinois variant of
regula falsi, all cells at once, until :math:`|F|` or the bracket is at most
``tol`` :math:`\cdot\Delta_0` (a cell whose current gap already meets that keeps it
exactly, so a self-consistent state is not remapped at all), and reports non-convergence
instead of raising (the plain fixed-point iteration :math:`\Delta_{k+1} = \mathcal G[S f]`
cycled in a hot spot).

Units: the grid's (internal energies).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ...spectra.bins import BinGrid, gaps
from .gapshift import shift_gap

log = logging.getLogger("fvqp.bte")

__all__ = ["GapUpdate", "consistent_gaps", "local_gaps"]


def local_gaps(phi: np.ndarray, grid: BinGrid, delta0: np.ndarray,
               held: np.ndarray | None = None, current: np.ndarray | None = None
               ) -> np.ndarray:
    r"""Gap of every cell from its angle-averaged occupation ``phi`` (C, N) on the bins.

    ``delta0`` (C,): the material's zero-temperature gap (0: normal cell, gap 0);
    ``held`` (C,) bool: cells whose gap is held at ``current`` (C,)."""
    d = gaps(np.asarray(phi, dtype=float), grid, np.asarray(delta0, dtype=float))
    if held is not None and np.any(held):
        d = np.where(held, np.asarray(current, dtype=float), d)
    return d


@dataclass(frozen=True)
class GapUpdate:
    """Result of :func:`consistent_gaps`: the gaps, the state remapped onto them, the
    iterations, whether the tolerance was met, the last change (relative to
    :math:`\\Delta_0`) and the number of cells whose root lies below the energy grid's
    first edge (not converged: the grid cannot hold it)."""

    delta: np.ndarray
    f: np.ndarray
    iterations: int
    converged: bool
    change: float
    below: int = 0
    #: the owned cells' spectra at the new gaps (:class:`.cellspectra.CellSpectra`) when
    #: they are not a function of the gap alone (None: BCS)
    spectra: object = None


def consistent_gaps(f: np.ndarray, grid: BinGrid, delta: np.ndarray, delta0: np.ndarray,
                    average: Callable[[np.ndarray], np.ndarray], *,
                    held: np.ndarray | None = None, tol: float = 1e-12,
                    max_iterations: int = 60) -> GapUpdate:
    r"""Self-consistent gaps of a state (module docstring).

    Parameters
    ----------
    f : ndarray, shape (C, N, ...)
        Occupations on the bins of the current gaps ``delta`` (trailing axes: ordinates).
    grid : BinGrid
    delta, delta0 : ndarray, shape (C,)
        Current gaps and the materials' zero-temperature gaps (0: normal).
    average : callable
        ``average(f) -> phi`` (C, N), the angle average of a state like ``f``.
    held : ndarray of bool, shape (C,), optional
        Cells whose gap is held at ``delta``.
    tol : float
        Stop when :math:`|F(\Delta)| = |\mathcal G[S f] - \Delta|` or the bracket is at
        most ``tol`` times :math:`\Delta_0` in every cell.
    max_iterations : int

    Returns
    -------
    GapUpdate
        ``converged = False`` (logged as a warning) when ``max_iterations`` did not reach
        ``tol`` or a root lies below the grid's first edge; the last iterate is returned.
    """
    fa_ = np.asarray(f, dtype=float)
    d_c = np.asarray(delta, dtype=float)
    d0 = np.asarray(delta0, dtype=float)
    out = np.where(d0 > 0, d_c, 0.0)
    cells = np.flatnonzero((d0 > 0) if held is None else (d0 > 0) & ~np.asarray(held))

    def resid(x: np.ndarray) -> np.ndarray:
        fx = shift_gap(fa_[cells], grid, d_c[cells], x)
        return gaps(average(fx), grid, d0[cells]) - x

    if len(cells):  # cells already self-consistent keep their gap exactly (no remap)
        cells = cells[np.abs(resid(d_c[cells])) > tol * d0[cells]]
    iterations, change, ok, low = 0, 0.0, True, np.zeros(0, dtype=bool)
    if len(cells):
        # F(Delta_0) <= 0 for any f >= 0; F(first edge) >= 0 unless the root is below it
        a, b = np.full(len(cells), float(grid.edges[0])), d0[cells].copy()
        fa, fb = resid(a), resid(b)
        low = fa < 0
        fa = np.where(low, 0.0, fa)
        scale = d0[cells]
        x, side = b.copy(), np.zeros(len(cells))
        for it in range(1, max_iterations + 1):       # Illinois (regula falsi)
            den = fa - fb
            x = np.where(den > 0, (b * fa - a * fb) / np.where(den > 0, den, 1.0),
                         0.5 * (a + b))
            fx = resid(x)
            right = fx > 0                               # root in (x, b]
            fb = np.where(right & (side == 1), 0.5 * fb, fb)
            fa = np.where(~right & (side == -1), 0.5 * fa, fa)
            a, fa = np.where(right, x, a), np.where(right, fx, fa)
            b, fb = np.where(right, b, x), np.where(right, fb, fx)
            side = np.where(right, 1.0, -1.0)
            iterations = it
            change = float(np.max(np.minimum(np.abs(fx), b - a) / scale, initial=0.0))
            if change <= tol:
                break
        ok = change <= tol and not np.any(low)
        out[cells] = x
    if not ok:
        log.warning("self-consistent gap not converged in %d iterations (last change %.3g "
                    "of Delta_0, tolerance %.3g%s)", iterations, change, tol,
                    "; a gap below the grid's first edge: start the grid lower"
                    if len(cells) and np.any(low) else "")
    below = int(np.sum(low)) if len(cells) else 0
    return GapUpdate(out, shift_gap(fa_, grid, d_c, out), iterations, ok, change, below)

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
is therefore the fixed point

.. math:: \Delta^* = \mathcal G\big[S_{\Delta_c\to\Delta^*}f\big],

:math:`\mathcal G` the gap equation's root for the bins' occupations and :math:`S` the
remap of :func:`.gapshift.shift_gap` (at :math:`\Delta = \Delta_c` the bin rule and the
:math:`\xi` rule of ``kinetics0d`` coincide, so the two models share the fixed point).
:func:`consistent_gaps` iterates :math:`\Delta_{k+1} = \mathcal G[S_{\Delta_c\to\Delta_k}f]`
until :math:`\max|\Delta_{k+1} - \Delta_k| \le \text{tol}\cdot\Delta_0` (a contraction: the
gap's response to its own shift is weak; 7–10 iterations to 1e-13 in the tests) and
reports non-convergence instead of raising.

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
    iterations, whether the tolerance was met and the last change (relative to
    :math:`\\Delta_0`)."""

    delta: np.ndarray
    f: np.ndarray
    iterations: int
    converged: bool
    change: float


def consistent_gaps(f: np.ndarray, grid: BinGrid, delta: np.ndarray, delta0: np.ndarray,
                    average: Callable[[np.ndarray], np.ndarray], *,
                    held: np.ndarray | None = None, tol: float = 1e-12,
                    max_iterations: int = 50) -> GapUpdate:
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
        Stop when the gaps change by at most ``tol`` times :math:`\Delta_0`.
    max_iterations : int

    Returns
    -------
    GapUpdate
        ``converged = False`` (logged as a warning) when ``max_iterations`` did not reach
        ``tol``; the last iterate is returned.
    """
    d_c = np.asarray(delta, dtype=float)
    d0 = np.asarray(delta0, dtype=float)
    scale = np.where(d0 > 0, d0, 1.0)
    d, fk, change = d_c.copy(), np.asarray(f, dtype=float), np.inf
    for it in range(1, max_iterations + 1):
        new = local_gaps(average(fk), grid, d0, held, d_c)
        change = float(np.max(np.abs(new - d) / scale, initial=0.0))
        d = new
        fk = shift_gap(f, grid, d_c, d)
        if change <= tol:
            return GapUpdate(d, fk, it, True, change)
    log.warning("self-consistent gap not converged in %d iterations (last change %.3g "
                "of Delta_0, tolerance %.3g)", max_iterations, change, tol)
    return GapUpdate(d, fk, max_iterations, False, change)

r"""The absolute energy-bin grid of the mesh kinetic models (``transport``, ``bte``) and the
local spectral weights of a cell.

Every cell shares one *absolute* energy grid, so the diffusion of quasiparticles between
cells is diagonal in energy even where the gap varies in space:

* QP bins :math:`[a_i, a_i + h]`, :math:`a_i = (j_0 + i)h`, nodes
  :math:`E_i = (j_0 + i + 1/2)h`, ``i = 0..N-1``; phonon nodes :math:`\Omega_k = kh`,
  ``k = 1..M``.  Then :math:`E_i + \Omega_k = E_{i+k}` and
  :math:`E_i + E_j = \Omega_{i+j+2j_0+1}`: the collision integrals of every cell are the
  discrete correlations of :mod:`fvqp.collisions.batched` with ``m = 2 j_0``, whatever
  the cell's gap.
* A cell with gap :math:`\Delta \ge a_0` has the *exact bin averages* of the BCS
  densities of states over :math:`[a_i, a_i + h] \cap [\Delta, \infty)`
  (notes Eq. 34; the one closed form :func:`fvqp.spectra.dos.dos_cell_integrals`):
  bins below the gap have no states, the bin containing the gap carries
  the integrable edge singularity.  With :math:`s(E) = \sqrt{E^2 - \Delta^2}` and
  :math:`l = \max(a, \Delta)`, :math:`b = a + h`:

  .. math::
      \bar\rho = \frac{s(b) - s(l)}{h},\qquad
      \bar a = \frac{\Delta}{h}\ln\frac{b + s(b)}{l + s(l)},\qquad
      \bar D_L = \frac{b - l}{h},

  :math:`\bar D_L` being the bin average of the BCS spectral diffusion coefficient
  :math:`D_L = \Theta(E - \Delta)` (ryan2026 Eqs. 9-10 in the BCS limit).
* The local gap follows the local distribution through the BCS gap equation with the
  cut-off eliminated (notes Eq. 1):
  :math:`\ln(\Delta_0/\Delta) = 2\int_\Delta^\infty f(E)/\sqrt{E^2 - \Delta^2}\,dE`, with
  ``f`` constant on each bin and zero above the grid.

Units: the reference :math:`k_BT_c` of :mod:`fvqp.units`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial

import numpy as np

from .dos import dos_cell_integrals
from .energy_grid import UniformEnergyGrid
from .gap_equation import weak_coupling_gaps

__all__ = ["BinGrid", "bin_weights", "cell_spectra", "gaps"]


@dataclass(frozen=True)
class BinGrid(UniformEnergyGrid):
    """Absolute QP/phonon grid: spacing ``h``, first QP bin edge ``j0 h``, ``N`` QP bins,
    ``M`` phonon nodes: the centred view of
    :class:`fvqp.spectra.energy_grid.UniformEnergyGrid` with ``edge_index = j0`` (nodes
    :attr:`e`, bin edges :attr:`edges`, phonon nodes :attr:`omega`, :attr:`e_max`)."""

    h: float
    j0: int
    n: int
    n_ph: int

    @classmethod
    def build(cls, delta_min: float, h: float, e_max: float, omega_max: float | None = None
              ) -> BinGrid:
        """Grid whose first bin starts exactly at ``delta_min`` (the smallest gap).

        The spacing is rounded to ``delta_min / round(delta_min / h)``; ``N`` bins reach
        ``e_max`` and ``M`` phonon nodes reach ``omega_max`` (default ``e_max``).
        """
        if delta_min <= 0 or h <= 0 or e_max <= delta_min:
            raise ValueError("need 0 < delta_min < e_max and h > 0")
        j0 = max(1, int(round(delta_min / h)))
        h = delta_min / j0
        n = max(2, int(math.ceil((e_max - delta_min) / h - 1e-9)))
        w = e_max if omega_max is None else omega_max
        return cls(h=h, j0=j0, n=n, n_ph=max(1, int(math.ceil(w / h - 1e-9))))

    @property
    def edge_index(self) -> float:
        """First QP bin edge in units of ``h``: ``j0``."""
        return self.j0

    @property
    def m(self) -> int:
        """Pair-kinematics offset of :func:`fvqp.collisions.batched.batched_terms`."""
        return 2 * self.j0


def cell_spectra(grid: BinGrid, delta: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Bin-averaged :math:`\bar\rho, \bar a, \bar D_L` of cells with gaps ``delta``.

    Parameters
    ----------
    grid : BinGrid
    delta : ndarray, shape (C,)
        Local gaps; ``0`` gives the normal-metal values (1, 0, 1).

    Returns
    -------
    rho, ados, dl : ndarray, shape (C, N)
    """
    d = np.asarray(delta, dtype=float)[:, None]
    a, b = grid.edges[None, :-1], grid.edges[None, 1:]
    lo = np.maximum(a, d)
    has = (b - d) > 1e-9 * grid.h  # a sliver of a bin (round-off) counts as empty
    width = np.where(has, b - lo, 0.0)
    rho, ados = dos_cell_integrals(lo - d, width, d, per=grid.h)
    dl = np.where(d <= a, 1.0, width / grid.h)  # exactly 1 on bins fully above the gap
    return rho, ados, dl


def bin_weights(grid: BinGrid, delta: np.ndarray, derivative: bool = False
                ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    r"""Integration rule of the gap equation on the bins (module docstring): for ``f``
    constant on every bin :math:`[a_i, b_i]`,
    :math:`W_i = \operatorname{acosh}(b_i/\Delta) - \operatorname{acosh}(\max(a_i,
    \Delta)/\Delta) = \int_{bin} dE/\sqrt{E^2 - \Delta^2}` (0 below the gap), shape
    (k, N) for trial gaps ``delta`` (k,); with ``derivative``, also
    :math:`dW_i/d\Delta = -b_i/(\Delta s(b_i)) + a_i/(\Delta s(a_i))` (terms only for
    edges above the gap), :math:`s(E) = \sqrt{E^2 - \Delta^2}`."""
    dd = np.asarray(delta, dtype=float)[:, None]
    a, b = grid.edges[None, :-1], grid.edges[None, 1:]
    lo = np.maximum(a, dd)
    w = np.arccosh(np.maximum(b / dd, 1.0)) - np.arccosh(lo / dd)
    if not derivative:
        return w
    with np.errstate(divide="ignore", invalid="ignore"):
        tb = np.where(b > dd, b / (dd * np.sqrt((b - dd) * (b + dd))), 0.0)
        ta = np.where(a > dd, a / (dd * np.sqrt((a - dd) * (a + dd))), 0.0)
    return w, ta - tb


def gaps(f_cells: np.ndarray, grid: BinGrid, delta0: np.ndarray, *, derivative: bool = False,
         tol: float = 1e-15) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    r"""Self-consistent gaps of cells with QP distributions ``f_cells`` (module docstring).

    The one gap-equation solver (:func:`fvqp.spectra.gap_equation.weak_coupling_gaps`)
    with the bin rule :func:`bin_weights`, on the bracket :math:`[10^{-6}\Delta_0,
    \Delta_0]` of every cell at once; cells whose gap equation has no positive root there
    (``f`` too large: the film turned normal) get ``0``.

    Parameters
    ----------
    f_cells : ndarray, shape (C, N)
        QP occupation of the bins of every cell.
    grid : BinGrid
    delta0 : ndarray, shape (C,)
        Zero-temperature gap of each cell's material (the coupling of the weak-coupling
        gap equation, reference energy units); ``0`` for normal cells.
    derivative : bool
        Also return :math:`\partial\Delta/\partial f`, shape (C, N):
        :math:`2W_i(\Delta)/R'(\Delta)` (implicit differentiation,
        :mod:`fvqp.spectra.gap_equation`), 0 in normal cells.
    tol : float
        Root tolerance relative to :math:`\Delta_0`.

    Examples
    --------
    >>> import numpy as np
    >>> g = BinGrid.build(1.0, 0.01, 12.0)
    >>> d, dd = gaps(np.zeros((1, g.n)), g, np.array([1.764]), derivative=True)
    >>> float(d[0]), bool(np.all(dd <= 0) and dd[0, -1] < 0)  # T = 0 gap; QPs lower it
    (1.764, True)
    """
    f = np.asarray(f_cells, dtype=float)
    d0 = np.asarray(delta0, dtype=float)
    out = np.zeros(len(d0))
    sens = np.zeros(f.shape)
    sc = d0 > 0
    if np.any(sc):
        res = weak_coupling_gaps(f[sc], d0[sc], partial(bin_weights, grid), (1.0, 1e-6),
                                 tol=tol, derivative=derivative)
        if derivative:
            out[sc], sens[sc] = res
        else:
            out[sc] = res
    return (out, sens) if derivative else out


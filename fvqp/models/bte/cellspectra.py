r"""The spectrum of every cell as tables on the bins (``[spectrum] kind = "eliashberg"``
with the self-consistent Eliashberg gap, issue 16 §2).

With a gap that follows the QPs, the BCS spectrum of a cell is a function of its gap
alone (:func:`fvqp.spectra.bins.cell_spectra`). With the Eliashberg self-energies of the
cell's own occupations (:mod:`.eliashberg_gaps`), the spectrum is that of the cell's own
real-axis solution: :class:`CellSpectra` holds, per cell and bin of the absolute grid,

* ``states`` :math:`\bar N_j`: states per unit energy, :math:`N = \rho m/Z_1(0)` (notes
  Eq. 178, :mod:`fvqp.models.bte_sphere.spectral`: :math:`m = Z_1 +
  \varepsilon\partial_\varepsilon Z_1 - (\varphi/\rho)\partial_\varepsilon\phi_1`, in
  the units of the material's :math:`N_0` and Kaplan's :math:`\tau_0`, which hold
  :math:`Z_1(0) = 1 + \lambda`), the storage weight of :math:`f`;
* ``rho``, ``ados``: the DOS :math:`\rho` and anomalous DOS :math:`\varphi` of the
  collision kernel (notes Eqs. 166-167, 177, 179);

each a bin average over the whole bin width (zero below the cell's gap edge), so that
:math:`h\bar N_j` is the number of states of bin :math:`j` (per :math:`N_0` of the
region). The number flux per energy stays :math:`Nv = N_0v_F` above the edge whatever the
spectrum (group velocity :math:`v = v_F/N`), so the flux speed and the interfaces keep
their dependence on the gap edge alone (:mod:`.media`).

*States keep* :math:`\xi`. The label of a state is :math:`\xi`, and the states below
energy :math:`E` number :math:`\xi(E) = \int_{\Delta}^{E}N\,d\varepsilon`; on the bins,
the :math:`\xi` of the bin edges are the partial sums :math:`\sum_{i<j}h\bar N_i`
(:meth:`CellSpectra.edges`; for BCS, :math:`N = \rho` and these are
:func:`.gapshift.state_edges`, :math:`\sqrt{E^2 - \Delta^2}`). When the spectrum of a
cell changes (its gap edge, and the shape of its :math:`N`), every state keeps its
:math:`\xi` and its occupation (:func:`.gapshift.shift_states` between the two sets of
edges): the QP number :math:`\sum_jh\bar N_jf_j` is conserved to round-off, and the
energy of the states moves as the spectrum prescribes (for BCS,
:math:`\dot E = (\Delta/E)\dot\Delta`).

Units: internal energies (those of the grid).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...spectra.bins import BinGrid, cell_spectra

__all__ = ["CellSpectra", "eliashberg_tables"]


@dataclass(frozen=True)
class CellSpectra:
    """Per-cell bin tables (module docstring), each of shape (C, N)."""

    states: np.ndarray
    rho: np.ndarray
    ados: np.ndarray

    @classmethod
    def bcs(cls, grid: BinGrid, gaps: np.ndarray) -> CellSpectra:
        """The BCS tables of cells with ``gaps`` (0: normal metal): ``states = rho``."""
        rho, ados, _ = cell_spectra(grid, np.asarray(gaps, dtype=float))
        return cls(rho.copy(), rho, ados)

    def edges(self, grid: BinGrid) -> np.ndarray:
        r""":math:`\xi` of every bin edge, (C, N + 1): the partial sums of
        :math:`h\bar N_j` (0 at and below the gap edge)."""
        w = np.diff(grid.edges)[None, :] * self.states
        return np.concatenate([np.zeros((len(w), 1)), np.cumsum(w, axis=1)], axis=1)

    def take(self, cells) -> CellSpectra:
        """The tables of ``cells`` (an index or a mask)."""
        return CellSpectra(self.states[cells], self.rho[cells], self.ados[cells])

    def stacked(self) -> np.ndarray:
        """(C, 3 N): states, rho, ados side by side (ghost exchange, checkpoints)."""
        return np.concatenate([self.states, self.rho, self.ados], axis=1)

    @classmethod
    def unstacked(cls, a: np.ndarray) -> CellSpectra:
        """Inverse of :meth:`stacked`."""
        a = np.asarray(a, dtype=float)
        n = a.shape[1] // 3
        return cls(a[:, :n].copy(), a[:, n:2 * n].copy(), a[:, 2 * n:].copy())


def eliashberg_tables(solution, edges: np.ndarray, gap: float
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""``states``, ``rho``, ``ados`` (N,) of one cell from its real-axis Eliashberg
    ``solution`` (:class:`fvqp.eliashberg.solution.EliashbergSolution`) on the bins
    ``edges`` (N + 1,) with the cell's gap edge ``gap`` (all in the solution's
    :math:`k_BT_c`).

    On the part :math:`[\max(a_j, \Delta), b_j]` of every bin above the edge,
    :meth:`~fvqp.eliashberg.solution.EliashbergSolution.on_grid` gives the exact averages
    of :math:`\rho` and :math:`\varphi` (:math:`\Delta(\varepsilon)` frozen at the part's
    middle) and of :math:`m`; these are scaled to the whole bin by the part's share of
    it, and ``states`` is :math:`\bar\rho\,\bar m/Z_1(0)` (the convention of
    :func:`fvqp.models.bte_sphere.spectral.eliashberg_spectrum`: :math:`N_0` and
    :math:`\tau_0` already hold :math:`Z_1(0)`,
    :attr:`~fvqp.eliashberg.solution.EliashbergSolution.z0`). Bins below the edge
    have no states (the sub-gap states of a complex :math:`\Delta` are left out, as in the
    held Eliashberg spectrum)."""
    edges = np.asarray(edges, dtype=float)
    n = len(edges) - 1
    out = np.zeros((3, n))
    live = np.flatnonzero(edges[1:] - gap > 1e-9 * (edges[1] - edges[0]))
    if not len(live):
        return out[0], out[1], out[2]
    j0 = int(live[0])
    part = edges[j0:].copy()
    part[0] = max(part[0], gap)
    mid = 0.5 * (part[:-1] + part[1:])
    d = solution.on_grid(mid, edges=part)
    share = np.diff(part) / np.diff(edges[j0:])
    out[1, j0:] = d["rho"] * share
    out[2, j0:] = d["ados"] * share
    out[0, j0:] = d["rho"] * d["renorm"] * share / solution.z0
    return out[0], out[1], out[2]

r"""The one uniform energy grid: nodes, cells and phonon nodes of every kinetic model.

fvqp's three energy grids are views of this geometry (issue 15, item 2):

========================================  ==================  ===============  ============
grid                                      first QP edge / h    layout           phonons
========================================  ==================  ===============  ============
:class:`fvqp.collisions.EnergyGrid`       :math:`m/2`          centred, vertex  :math:`kh`
(0D kinetics, collisions; its gap         (:math:`2\Delta =
:math:`\Delta` is the first edge)         mh`)
:class:`fvqp.spectra.bins.BinGrid`        :math:`j_0`          centred          :math:`kh`
(``transport``, ``bte``: absolute bins)
:class:`fvqp.eliashberg.selfenergy.       0                    vertex           none
RealAxisGrid` (half line
:math:`\epsilon_j = jh`)
========================================  ==================  ===============  ============

With a uniform spacing :math:`h`, QP cells start at :math:`a_0 = jh` (``edge_index``
:math:`j`, an integer or a half-integer) and

* ``"centred"``: cells :math:`[a_0 + ih, a_0 + (i+1)h]`, nodes at their centres
  :math:`E_i = (j + i + \tfrac12)h`;
* ``"vertex"``: a half cell :math:`[a_0, a_0 + h/2]` whose node is the first edge, then
  cells :math:`[E_i - h/2, E_i + h/2]`, nodes :math:`E_i = (j + i)h`;
* phonon nodes :math:`\Omega_k = kh`, ``k = 1..M``.

Then :math:`E_i + \Omega_k = E_{i+k}` and :math:`E_i + E_j = \Omega_{i+j+s}` exactly,
with the pair offset :math:`s = 2j + 1` (centred) or :math:`2j` (vertex): the collision
integrals of the notes (Eqs. 35-45) become discrete correlations on every view
(:mod:`fvqp.collisions.grid` explains the layouts and the pair threshold).

Node energies are formed as ``h * (j + i + shift)`` in every view (the integers and
half-integers are exact in floating point), so two views of the same grid have the same
nodes to the last bit (``tests/test_energy_grid.py``).
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

__all__ = ["LAYOUTS", "UniformEnergyGrid"]

#: QP node layouts: cell centres (default) or cell vertices with a node at the first edge.
LAYOUTS: tuple[str, ...] = ("centred", "vertex")


class UniformEnergyGrid:
    """Geometry of a uniform energy grid (module docstring), shared by the grid views.

    A view provides ``h`` (spacing), ``n`` (QP cells), ``n_ph`` (phonon nodes), ``layout``
    and :attr:`edge_index` (first QP edge in units of ``h``); everything else follows.
    """

    h: float
    n: int
    n_ph: int
    layout: str = "centred"

    @property
    def edge_index(self) -> float:
        """First QP cell edge in units of ``h`` (integer or half-integer)."""
        raise NotImplementedError

    @cached_property
    def _edge_steps(self) -> np.ndarray:
        """QP cell edges minus the first one, in units of ``h`` (exact)."""
        if self.layout == "centred":
            return np.arange(self.n + 1, dtype=float)
        return np.concatenate(([0.0], np.arange(self.n) + 0.5))

    @cached_property
    def x_edges(self) -> np.ndarray:
        """QP cell edges relative to the first one (exact multiples of ``h/2``),
        length ``n + 1``."""
        if self.layout == "centred":
            return self.h * np.arange(self.n + 1)
        return self.h * np.concatenate(([0.0], np.arange(self.n) + 0.5))

    @cached_property
    def e(self) -> np.ndarray:
        """QP node energies :math:`E_i = (j + i + 1/2)h` (centred) or :math:`(j + i)h`
        (vertex)."""
        shift = 0.5 if self.layout == "centred" else 0.0
        return self.h * (self.edge_index + np.arange(self.n) + shift)

    @cached_property
    def edges(self) -> np.ndarray:
        """Absolute QP cell edges, length ``n + 1``."""
        return self.h * (self.edge_index + self._edge_steps)

    @cached_property
    def omega(self) -> np.ndarray:
        """Phonon node energies :math:`\\Omega_k = kh`, ``k = 1 .. M``."""
        return self.h * np.arange(1, self.n_ph + 1)

    @property
    def e_max(self) -> float:
        """Upper edge of the last QP cell."""
        return float(self.edges[-1])

    @property
    def omega_max(self) -> float:
        """Largest phonon node energy."""
        return self.n_ph * self.h

    @property
    def pair_offset(self) -> int:
        """``s`` of the pair kinematics :math:`E_i + E_j = \\Omega_{i+j+s}`: ``2j + 1``
        (centred layout) or ``2j`` (vertex layout)."""
        return int(round(2.0 * self.edge_index)) + (1 if self.layout == "centred" else 0)

r"""Shared quasiparticle/phonon energy grid with cell-averaged densities of states.

Units: energies in :math:`k_B T_c` (``k_B = 1``).

Grid layout
-----------
The collision integrals of the notes (Eqs. 35-40) couple a quasiparticle (QP) at
:math:`E` to a QP at :math:`E \pm \Omega` (scattering) or at :math:`\Omega - E`
(recombination / pair breaking).  For them to become *discrete* correlations and
convolutions (Eqs. 41-45) every such combination of grid energies must again be a grid
energy.  With a uniform spacing :math:`h` this is achieved by

* QP cells :math:`[\Delta + i h, \Delta + (i+1) h]`, ``i = 0 .. N-1``; the gap edge is
  the lower edge of cell 0 and the node (representative energy) of cell ``i`` is the
  centre :math:`E_i = \Delta + (i + 1/2) h`;
* phonon nodes :math:`\Omega_k = k h`, ``k = 1 .. M`` (cells
  :math:`[(k - 1/2) h, (k + 1/2) h]`; ``k = 0`` carries no weight because of the
  :math:`\Omega^2` phase-space factor);
* the constraint :math:`2\Delta = m h` with integer ``m``.

Then :math:`E_i + \Omega_k = E_{i+k}` (scattering) and
:math:`E_i + E_j = \Omega_{i+j+m+1}` (pair processes) exactly.  Phonon nodes are put
on integer multiples of ``h`` (rather than on the centres of ``[j h, (j+1) h]``)
because with QP nodes on cell centres the sum of two centres is a cell edge; the
shifted choice is the one that closes both the scattering and the pair kinematics.
:meth:`EnergyGrid.build` rounds a requested spacing to the nearest ``h = 2 Delta / m``.

Vertex layout and the pair threshold (``layout="vertex"``)
---------------------------------------------------------
In the cell-centred layout above no pair of QP nodes sums to :math:`2\Delta`: the phonon
node ``m`` at exactly :math:`2\Delta` (whose cell :math:`[2\Delta - h/2, 2\Delta + h/2]`
lies half above the threshold) carries no pair processes, and the strip
:math:`2\Delta < \Omega < 2\Delta + h` is lumped onto node ``m + 1``.  Rates averaged over
a thermal phonon population, whose weight :math:`e^{-\Omega/T}` changes by
:math:`e^{-h/T}` per node, therefore converge only as :math:`h^{0.75..1.5}` (for Al at
0.1 K the thermal pair-breaking rate is 6% off at :math:`h = \Delta/100`).

``layout="vertex"`` puts the QP nodes on :math:`E_i = \Delta + i h` with cells
:math:`[\Delta, \Delta + h/2]` (``i = 0``, a half cell whose node is the gap edge) and
:math:`[E_i - h/2, E_i + h/2]` (``i >= 1``).  Then :math:`E_i + \Omega_k = E_{i+k}` and
:math:`E_i + E_j = \Omega_{i+j+m}` exactly: the pair offset (:attr:`EnergyGrid.pair_offset`)
is ``m`` instead of ``m + 1`` and the node at exactly :math:`2\Delta` carries pair
processes (with the gap-edge pair ``(0, 0)``).  ``dos``/``ados`` stay "states per
``h``" (:math:`\int_{cell}\rho\,dE / h`, exact), so ``h * dos`` is the number of states of
a cell in both layouts and the kernels are unchanged.

The remaining threshold error is the lumping of the pair phase space of a diagonal band
of cells onto one phonon node: near :math:`2\Delta` the band is cut by the gap edges
(the tent of a band is not symmetric), so the band sums converge only as
:math:`h^{3/2}`.  The vertex layout therefore also scales the pair kernel of every
complete band by the factor :attr:`EnergyGrid.pair_weight` that makes the phonon pair
rate at every node exact (notes Eq. 40, :math:`T = 0`):

.. math::
    r_k\,h\sum_{i+j=k-m} (\bar\rho_i\bar\rho_j + \bar a_i\bar a_j)
    = \Phi(\Omega_k) \equiv \int_\Delta^{\Omega_k - \Delta}
    \frac{E E' + \Delta^2}{\sqrt{E^2-\Delta^2}\sqrt{E'^2-\Delta^2}}\,dE
    = 2c\,\mathrm{E}(\kappa) - \frac{2\Omega\Delta}{c}\,\mathrm{K}(\kappa),

:math:`E' = \Omega - E`, :math:`c = \Omega/2 + \Delta`,
:math:`\kappa = (\Omega - 2\Delta)/(\Omega + 2\Delta)` (complete elliptic integrals; with
:math:`E = \Omega/2 + u` the integral is
:math:`2\int_0^b (\Omega^2/4 + \Delta^2 - u^2)\,du/\sqrt{(b^2-u^2)(c^2-u^2)}`,
:math:`b = \Omega/2 - \Delta`; :func:`pair_phase_space`).  At the threshold node the rate
is the right-hand limit :math:`\Phi(2\Delta^+) = \pi\Delta` (Kaplan et al. 1976:
:math:`1/\tau_{pb}(2\Delta^+) = (\Delta/\Delta_0)/\tau_0^\phi`), because that node holds
the phonon states above the threshold only (below).  Bands cut by the QP cut-off
(``k - m >= n``) keep ``r_k = 1``.  Any positive symmetric pair kernel with exact
kinematics keeps energy and QP-number conservation and discrete detailed balance exact,
so this only changes the accuracy: phonon pair rates (hence the recombination spectrum
of thermal QPs) are exact at the nodes and thermal averages such as
:math:`1/\tau_{pb}(T)` converge as :math:`h^2` (1e-4 relative at :math:`h = \Delta/100`
for Al at 0.1 K; tested against an independent quadrature in
``tests/test_pair_breaking_threshold.py``).

The phonon states of the node at :math:`2\Delta`.  Its cell
:math:`[2\Delta - h/2, 2\Delta + h/2]` lies half below the threshold, but every phonon
that recombination puts on it (the gap-edge pair ``(0, 0)``) lies above, and so do all
phonons that can break pairs.  The node therefore holds the states of
:math:`[2\Delta, 2\Delta + h/2]` only: :attr:`EnergyGrid.phonon_states`
:math:`g_k = \Omega_k^2` but :math:`g_m = \Omega_m^2/2`, the weight of a phonon node in
every collision sum (scattering and pair kernels: :math:`g_k` and :math:`r_kg_k` in place
of :math:`\Omega_k^2`, :mod:`fvqp.collisions.kernels`) and in the phonon number and
energy; the phonon rates per phonon keep no :math:`\Omega^2` (it cancels), so node ``m``
breaks pairs at :math:`\Phi(2\Delta^+)` per phonon while the recombination into it,
:math:`r_mg_m` times the band, is the exact emission into the upper half cell.  With the
whole cell and the mean rate :math:`\Phi(2\Delta^+)/2` (before) the recombination phonons
were re-broken at half their rate: the phonon trapping was too weak by an O(h) fraction
(the weak-drive Al film of ``cases/kinetics0d_al_weak_drive.toml``: trapping factor 13 %
and N_qp 8.5 % low at 4 ueV; ``tests/test_kinetics0d_trapping_threshold.py``).  The
states :math:`[2\Delta - h/2, 2\Delta]` take part in no process (an O(h) sliver of the
scattering phase space: giving it to node ``m - 1`` instead moved that N_qp by -0.1 %).
The remaining error of N_qp there is ~:math:`h^{1.4}` (+2.7 % at 4 ueV, +0.4 % at 1 ueV),
that of the gap-edge cells (Resolution requirements below; 4 ueV is :math:`T/1.7`: the
recombination constant is 5 % low, the thermal QP number 4 % high).  Where the phonons
escape fast it is no longer partly cancelled by the trapping deficit (same film with
0.05 ns escape: +2.6 % at 4 ueV against +1.3 % before).

The vertex layout is used by the 0D kinetics (:mod:`fvqp.models.kinetics0d`); the spatial
models keep the cell-centred layout (their bins follow local gaps, so the threshold is
not on a node there anyway; :math:`g_k = \Omega_k^2` there, bit for bit the operator of
the :math:`\Omega^2` weight), which :func:`fvqp.collisions.batched.batched_terms`
reproduces with ``m = pair_offset - 1``, ``pair_weight`` and ``ph_states`` =
:attr:`EnergyGrid.phonon_states`.  Dynes broadening is refused in the vertex
layout (the node rates above are those of the BCS DOS).

Gap-edge singularity
--------------------
:math:`\rho(E) = E / \sqrt{E^2 - \Delta^2}` (notes Eq. 34) diverges as
:math:`(E - \Delta)^{-1/2}`.  Point values at the nodes would mis-weight the first cells
by O(1); instead we use exact *cell averages* from the antiderivatives

.. math::
    \int \rho\, dE = \sqrt{E^2 - \Delta^2}, \qquad
    \int \frac{\Delta\,\rho}{E}\, dE = \Delta \operatorname{arccosh}(E / \Delta),

for the normal (:math:`\rho`) and the anomalous (:math:`a = \Delta \rho / E`, which
carries the coherence factor, :math:`\rho\rho'(1 \mp \Delta^2/EE') = \rho\rho' \mp a a'`)
densities of states.  Both are evaluated in cancellation-free form from the cell ends
relative to the gap, :math:`E - \Delta = x_i` (exact multiples of ``h/2``), by the one
copy :func:`fvqp.spectra.dos.dos_cell_integrals`.  With Dynes
broadening, :math:`z = E + i\Gamma`,
:math:`\rho = \mathrm{Re}\, z/\sqrt{z^2 - \Delta^2}` and
:math:`a = \mathrm{Re}\, \Delta/\sqrt{z^2 - \Delta^2}`; the same antiderivatives hold in
the complex plane (``sqrt(z - Delta) * sqrt(z + Delta)`` is analytic for
``Im z > 0``), so the cell averages are again exact (checked against adaptive
quadrature in the tests).  The Dynes sub-gap states (weight ~ Gamma) are *not* on the
grid: the QP grid starts at Delta.

Resolution requirements
-----------------------
Because the DOS is integrated exactly cell by cell, the only discretisation error is
that of treating ``f`` and ``n`` as constant per cell and using node energies in the
kinematic factors :math:`\Omega^2` and in the occupation factors.  Practical guidance:

* ``h <~ T / 20``: thermal QPs live in a layer of width ~T above Delta and thermal
  phonons at :math:`\Omega \sim T`.  The first cell represents the rho-weighted average
  over :math:`[\Delta, \Delta + h]`, so the gap-edge scattering rate
  (:math:`\propto \int \Omega^{5/2} n\,d\Omega`) differs from its value at
  :math:`E = \Delta` by ``O(h/T)`` (1.4% at ``h = T/20``, 0.7% at ``T/40``), the
  recombination rate by 0.2% / 0.05%; away from the edge the error is ~``h^1.5``
  (< 1e-3 relative at ``h = 0.005`` for smooth distributions at T = 0.5);
* the product of cell averages distributes the pair phase space of a phonon over a
  tent of width ``2h`` around :math:`\Omega_k`; the node ``k = m + 1``
  (:math:`\Omega = 2\Delta + h`) also collects the whole strip
  :math:`2\Delta < \Omega < 2\Delta + h`, so its individual pair-breaking rate is ~27%
  high (5% for ``k = m + 2``, 0.4% for ``k = m + 10``) while integrated quantities
  stay exact; resolve spectral features near
  :math:`2\Delta` with several cells, or use ``layout="vertex"`` (exact node rates);
* Dynes broadening: cell averages are exact for any ``h``; ``h <~ Gamma`` is only needed
  if the shape of the broadened peak matters;
* ``E_max``: transitions leaving the grid are dropped on both sides (conservation stays
  exact), so ``f`` and ``n`` must be negligible near the cut-off (``E_max - Delta >~ 30 T``
  for thermal tails).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from ..spectra.dos import dos_cell_integrals
from ..spectra.energy_grid import LAYOUTS, UniformEnergyGrid
from ..spectra.thermal_occupations import bose, fermi

__all__ = [
    "LAYOUTS",
    "EnergyGrid",
    "bose",
    "equilibrium",
    "fermi",
    "pair_phase_space",
]

_INTEGER_TOL = 1e-9


@dataclass(frozen=True)
class EnergyGrid(UniformEnergyGrid):
    r"""Uniform energy grid shared by QPs and phonons (see module docstring): the view of
    :class:`fvqp.spectra.energy_grid.UniformEnergyGrid` whose first QP edge is the gap,
    ``edge_index = m/2``, with the cell averages of the DOS at that gap.

    Parameters
    ----------
    delta : float
        Gap :math:`\Delta` in units of kTc (an input; e.g. from
        :func:`fvqp.spectra.gap.thermal_gap`).
    h : float
        Spacing; ``2 * delta / h`` must be an integer (``m``).
    n : int
        Number of QP cells; QP energies cover :math:`[\Delta, E_{max}]`,
        :math:`E_{max} = \Delta + n h`.
    n_ph : int, optional
        Number of phonon nodes :math:`\Omega_k = k h`, ``k = 1 .. n_ph``.  Default:
        ``n + m // 2`` so that :math:`\Omega_{max} \approx E_{max}`.  Phonons above
        :math:`E_{max} - \Delta` only couple through pair breaking; phonons above
        :math:`2 E_{max}` would not couple at all.
    gamma : float, optional
        Dynes broadening :math:`\Gamma` (kTc units), 0 for the pure BCS DOS.
    layout : {"centred", "vertex"}, optional
        QP nodes at the cell centres :math:`\Delta + (i + 1/2)h` (default) or at
        :math:`\Delta + ih` with a half cell at the gap edge and exact pair rates at the
        phonon nodes, including the node at :math:`2\Delta` (module docstring).

    Attributes
    ----------
    m : int
        ``2 delta / h``; phonon node ``m`` sits exactly at :math:`2\Delta`.
    e, omega : ndarray
        QP node energies :math:`E_i` and phonon node energies :math:`\Omega_k`.
    dos, ados : ndarray
        Cell averages of the normal and anomalous DOS (see module docstring).
    """

    delta: float
    h: float
    n: int
    n_ph: int = field(default=-1)
    gamma: float = 0.0
    layout: str = "centred"

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}, got {self.layout!r}")
        if not (np.isfinite(self.delta) and self.delta > 0):
            raise ValueError(f"delta must be positive and finite, got {self.delta!r}")
        if not (np.isfinite(self.h) and self.h > 0):
            raise ValueError(f"h must be positive and finite, got {self.h!r}")
        ratio = 2.0 * self.delta / self.h
        if abs(ratio - round(ratio)) > _INTEGER_TOL * max(1.0, ratio) or round(ratio) < 1:
            raise ValueError(
                f"2*delta/h = {ratio!r} must be a positive integer "
                "(use EnergyGrid.build to round the spacing)"
            )
        if int(self.n) != self.n or self.n < 2:
            raise ValueError(f"n must be an integer >= 2, got {self.n!r}")
        if self.n_ph == -1:
            object.__setattr__(self, "n_ph", int(self.n) + int(round(ratio)) // 2)
        if int(self.n_ph) != self.n_ph or self.n_ph < 1:
            raise ValueError(f"n_ph must be an integer >= 1, got {self.n_ph!r}")
        if not (np.isfinite(self.gamma) and self.gamma >= 0):
            raise ValueError(f"gamma must be >= 0, got {self.gamma!r}")
        if self.layout == "vertex" and self.gamma > 0:
            raise ValueError("layout='vertex' implements the BCS pair threshold only; use "
                             "layout='centred' with Dynes broadening (gamma > 0)")
        object.__setattr__(self, "n", int(self.n))
        object.__setattr__(self, "n_ph", int(self.n_ph))

    @classmethod
    def build(
        cls,
        delta: float,
        h: float,
        e_max: float,
        *,
        omega_max: float | None = None,
        gamma: float = 0.0,
        layout: str = "centred",
    ) -> EnergyGrid:
        r"""Grid with spacing rounded so that ``2 delta / h`` is an integer.

        Parameters
        ----------
        delta : float
            Gap (kTc).
        h : float
            Requested spacing; the actual one is ``2 delta / round(2 delta / h)``.
        e_max : float
            QP cut-off; ``n = ceil((e_max - delta) / h)`` cells (centred layout) or
            ``ceil((e_max - delta) / h + 1/2)`` (vertex layout), so that the last cell
            edge is at or above ``e_max``.
        omega_max : float, optional
            Phonon cut-off (default ``e_max``).
        gamma : float, optional
            Dynes broadening.
        layout : {"centred", "vertex"}, optional
            QP node layout (class docstring).
        """
        if e_max <= delta:
            raise ValueError("e_max must exceed delta")
        m = max(1, int(round(2.0 * delta / h)))
        h_act = 2.0 * delta / m
        half = 0.5 if layout == "vertex" else 0.0
        n = max(2, int(math.ceil((e_max - delta) / h_act + half - 1e-9)))
        if omega_max is None:
            n_ph = -1
        else:
            n_ph = max(1, int(math.ceil(omega_max / h_act - 1e-9)))
        return cls(delta=delta, h=h_act, n=n, n_ph=n_ph, gamma=gamma, layout=layout)

    # ------------------------------------------------------------------ nodes
    @cached_property
    def m(self) -> int:
        """Index of the phonon node at :math:`2\\Delta` (``2 delta = m h``)."""
        return int(round(2.0 * self.delta / self.h))

    @property
    def edge_index(self) -> float:
        r"""First QP edge in units of ``h``: :math:`\Delta/h = m/2`."""
        return 0.5 * self.m

    @property
    def e_edges(self) -> np.ndarray:
        r"""QP cell edges :math:`\Delta + i h`, ``i = 0 .. N`` (vertex layout:
        :math:`\Delta`, then :math:`\Delta + (i - 1/2) h`): the shared :attr:`edges`."""
        return self.edges

    # ------------------------------------------------------------ DOS averages
    @cached_property
    def _dos_pair(self) -> tuple[np.ndarray, np.ndarray]:
        x = self.x_edges  # E - Delta at the cell edges, exact multiples of h/2
        return dos_cell_integrals(x[:-1], np.diff(x), self.delta, self.gamma, per=self.h)

    @property
    def dos(self) -> np.ndarray:
        """Cell average of the normal DOS :math:`\\rho` (Eq. 34), length ``n``
        (:math:`\\int_{cell}\\rho\\,dE/h`: the half gap-edge cell of the vertex layout is
        divided by ``h`` too)."""
        return self._dos_pair[0]

    @property
    def ados(self) -> np.ndarray:
        """Cell average of the anomalous DOS :math:`a = \\Delta\\rho/E`, length ``n``
        (per ``h`` as :attr:`dos`)."""
        return self._dos_pair[1]

    @cached_property
    def pair_weight(self) -> np.ndarray:
        r"""Factor :math:`r_k` of the pair kernel at phonon node ``k`` (index ``k - 1``),
        length ``n_ph``: ones in the centred layout; in the vertex layout the ratio of the
        exact pair phase space :math:`\Phi(\Omega_k)` (:math:`\pi\Delta` at
        :math:`2\Delta`, whose node holds the states above the threshold only,
        :attr:`phonon_states`) to the band sum of the cell products (module docstring), 1 for
        bands cut by the QP cut-off and below :math:`2\Delta`."""
        r = np.ones(self.n_ph)
        if self.layout == "centred":
            return r
        band = self.h * (np.convolve(self.dos, self.dos) + np.convolve(self.ados, self.ados))
        p = np.arange(min(self.n, self.n_ph - self.m + 1))  # complete bands k = m + p
        if p.size == 0:
            return r
        target = pair_phase_space(self.h * (self.m + p), self.delta)
        # the node at 2 Delta holds the phonons of [2 Delta, 2 Delta + h/2] only
        # (phonon_states): each breaks pairs at the right-hand limit
        target[0] = math.pi * self.delta
        r[self.m - 1 + p] = target / band[p]
        return r

    @cached_property
    def phonon_states(self) -> np.ndarray:
        r"""Phonon states of node ``k`` per ``h`` (index ``k - 1``, length ``n_ph``), the
        weight :math:`g_k` of the phonon node in the collision sums and in the phonon
        number and energy: :math:`\Omega_k^2`, except :math:`\Omega_m^2/2` at
        :math:`\Omega_m = 2\Delta` in the vertex layout, whose node holds the phonons
        of :math:`[2\Delta, 2\Delta + h/2]` only (module docstring)."""
        g = self.omega**2
        if self.layout == "vertex" and self.m <= self.n_ph:
            g[self.m - 1] *= 0.5
        return g

    @cached_property
    def pair_cell_fraction(self) -> np.ndarray:
        r"""Fraction of the states (:attr:`phonon_states`) of phonon node ``k`` that can
        break pairs: 1 from the first pair node on (in the vertex layout the node at
        :math:`2\Delta`, whose states all lie above the threshold), 0 below (length
        ``n_ph``). Use it as the weight of the phonon *number* in averages over
        pair-breaking phonons."""
        k = np.arange(1, self.n_ph + 1)
        return (k >= self.pair_offset).astype(float)

    @cached_property
    def qp_weights(self) -> np.ndarray:
        """QP states per cell, :math:`h\\bar\\rho_i` (units of :math:`4N_0 k T_c`)."""
        return self.h * self.dos


def pair_phase_space(omega: np.ndarray | float, delta: float) -> np.ndarray:
    r"""Pair phase space :math:`\Phi(\Omega) = \int_\Delta^{\Omega-\Delta}
    \rho(E)\rho(E')(1 + \Delta^2/EE')\,dE`, :math:`E' = \Omega - E` (BCS; notes Eq. 40
    at :math:`T = 0` without :math:`c_{ph}`), in closed form
    :math:`2c\,\mathrm{E}(\kappa) - (2\Omega\Delta/c)\,\mathrm{K}(\kappa)`,
    :math:`c = \Omega/2 + \Delta`, :math:`\kappa = (\Omega - 2\Delta)/(\Omega + 2\Delta)`
    (module docstring); 0 for :math:`\Omega \le 2\Delta`, :math:`\pi\Delta` at
    :math:`2\Delta^+`, :math:`\to \Omega` for :math:`\Omega \gg \Delta`."""
    from scipy import special

    om = np.asarray(omega, dtype=float)
    c = 0.5 * om + delta
    kappa = np.clip((om - 2.0 * delta) / (om + 2.0 * delta), 0.0, 1.0)
    k2 = kappa * kappa
    val = 2.0 * c * special.ellipe(k2) - 2.0 * om * delta * special.ellipk(k2) / c
    return np.where(om > 2.0 * delta, val, 0.0)


# ---------------------------------------------------------------- thermal helpers
# ``fermi`` and ``bose`` are the one copy of :mod:`fvqp.spectra.thermal_occupations`
# (re-exported here for the collision-layer callers).
def equilibrium(grid: EnergyGrid, t: float) -> tuple[np.ndarray, np.ndarray]:
    """Thermal ``(f, n)`` at temperature ``t`` on the grid nodes."""
    return fermi(grid.e, t), bose(grid.omega, t)


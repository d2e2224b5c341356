r"""Discrete electron-phonon kernels, prefactor bookkeeping and conserved functionals.

Continuum equations
-------------------
Dimensionless variables: energies in :math:`k_B T_c`, time in :math:`\tau_0`.  The QP
collision integral (notes Eqs. 35-37) then has prefactor 1 (the :math:`1/(\tau_0 T_c^3)`
of the notes), while the phonon collision integral (Eqs. 39-40) has prefactor

.. math::
    c_{ph} \equiv \frac{\tau_0}{\pi\,\Delta_0\,\tau_0^{\phi}}
    \qquad (\Delta_0 \text{ in units of } k_B T_c),

times 2 for scattering and 1 for pair breaking / recombination.  ``c_ph`` is the single
dimensionless parameter of the coupled operator (:class:`CollisionParams`).

Derivation of the energy bookkeeping (notes Eqs. 2-10)
------------------------------------------------------
Write :math:`K^\mp(E,E') = \rho(E)\rho(E')(1 \mp \Delta^2/EE')` and define the net
emission rate density of the transition :math:`E+\Omega \to E` and the net recombination
rate density of the pair :math:`(E, E')`:

.. math::
    G(E,\Omega) = \Omega^2 K^-(E, E+\Omega)\,
        [f'(1-f)(1+n) - f(1-f')n], \qquad f' = f(E+\Omega),

    R(E,E') = \Omega^2 K^+(E,E')\,[f f'(1+n) - (1-f)(1-f')n], \qquad \Omega = E + E'.

Eqs. 35-37 read :math:`\rho(E)\,\dot f(E) = \int d\Omega\,[G(E,\Omega) -
G(E-\Omega,\Omega)] - \int dE' R(E,E')` and Eqs. 39-40 read
:math:`\Omega^2 \dot n(\Omega) = c_{ph}[2\int dE\, G(E,\Omega) +
\int_{E+E'=\Omega} dE\, R(E,\Omega-E)]`.
With :math:`E_{qp} = 4N_0\int E\rho f\,dE` (Eq. 9) and
:math:`E_{ph} = (9N_{ion}/\Omega_D^3)\int\Omega^3 n\,d\Omega` (Eq. 10), after the shift
:math:`E \to E - \Omega` of Eqs. 2-3 and the symmetrisation :math:`E \leftrightarrow E'`
of Eq. 8 (the split :math:`4N_0 = 2N_0 + 2N_0`),

.. math::
    \dot E_{qp} = -4N_0 (k T_c)^2\,\frac{1}{\tau_0}
        \Big[\iint \Omega\, G + \tfrac12 \iint \Omega\, R\Big], \qquad
    \dot E_{ph} = \frac{9 N_{ion}}{\Omega_D^3}(k T_c)^4\,
        \frac{c_{ph}}{\tau_0}\Big[2\iint \Omega\, G + \iint \Omega\, R\Big].

Both brackets are proportional to :math:`[\iint\Omega G + \frac12\iint\Omega R]`, so
:math:`\dot E_{qp} + \dot E_{ph} = 0` iff
:math:`2 c_{ph}\,\beta = 1` with the phonon-to-QP energy-scale ratio

.. math::
    \beta \equiv \frac{9 N_{ion} (k T_c)^2}{4 N_0 \Omega_D^3}
    = \frac{\pi \Delta_0 \tau_0^\phi}{2\tau_0} = \frac{1}{2 c_{ph}},

which is exactly the prefactor relation Eq. 7,
:math:`4N_0/(\tau_0 (kT_c)^3) = 18 N_{ion}/(\pi\tau_0^\phi\Delta_0\Omega_D^3)`.
Hence, in units of :math:`4N_0 (kT_c)^2` for energies and :math:`4N_0 kT_c` for numbers,

.. math::
    e_{qp} = \int E\rho f\,dE, \quad e_{ph} = \beta\int\Omega^3 n\,d\Omega, \quad
    N_{qp} = \int\rho f\,dE, \quad N_{ph} = \beta\int\Omega^2 n\,d\Omega,

:math:`\dot e_{qp} + \dot e_{ph} = 0`, and the pair processes give
:math:`\dot N_{qp} = -2\,\dot N_{ph}|_{pair}` (scattering conserves :math:`N_{qp}`).
Sanity check (Al, :math:`\tau_0 = 438` ns, :math:`\tau_0^\phi = 0.26` ns):
:math:`c_{ph} \approx 304`, :math:`\beta \approx 1.6\times 10^{-3}`, matching
:math:`9N_{ion}(kT_c)^2/(4N_0\Omega_D^3)` with :math:`N_0 = 1.72\times10^{10}`
/eV/µm³, :math:`N_{ion} = 6.0\times10^{10}` /µm³, :math:`\Omega_D = 36.9` meV.

Discrete operator
-----------------
On the grid of :mod:`~fvqp.collisions.grid` the double integrals become double sums
over cell pairs with the *same* symmetric kernel on both sides,

.. math::
    K^\mp_{ij} = \bar\rho_i\bar\rho_j \mp \bar a_i \bar a_j \qquad
    (\bar a = \text{cell average of } \Delta\rho/E),

i.e. the exact cell average of :math:`K^\mp` for piecewise-constant occupations, and
product-form occupation factors at the nodes:

.. math::
    G_{ik} &= h^2\Omega_k^2 K^-_{i,i+k}\,
        [f_{i+k}(1-f_i)(1+n_k) - f_i(1-f_{i+k})n_k], \\
    R_{ij} &= h^2\Omega_{k}^2 K^+_{ij}\,
        [f_i f_j(1+n_k) - (1-f_i)(1-f_j)n_k], \quad k = i + j + m + 1, \\
    h\bar\rho_i\,\dot f_i &= \textstyle\sum_k G_{ik} - \sum_k G_{i-k,k} - \sum_j R_{ij}, \\
    h\,\Omega_k^2\,\dot n_k &= c_{ph}\big[\textstyle 2\sum_i G_{ik}
        + \sum_{i+j=k-m-1} R_{ij}\big].

Here :math:`\Omega_k^2` stands for the phonon states of node ``k``, :math:`g_k`
(:func:`phonon_states`: :math:`\Omega_k^2`, but :math:`\Omega_m^2/2` at :math:`2\Delta` in
the vertex layout, :mod:`~fvqp.collisions.grid`), also in the conserved functionals
below; the phonon rows keep none of it (it cancels), so the identities hold for any
positive :math:`g_k`.  Transitions leaving the grid are omitted on both sides.
Summation by parts gives, for
*any* ``f, n`` (to round-off),
:math:`\sum_i h\bar\rho_i E_i \dot f_i + \beta\sum_k h\Omega_k^3\dot n_k = 0`
(because :math:`E_{i+k} - E_i = \Omega_k` and :math:`E_i + E_j = \Omega_{i+j+m+1}`
exactly), :math:`\sum_i h\bar\rho_i\dot f_i|_{sc} = 0` and
:math:`\sum_i h\bar\rho_i\dot f_i|_{pair} = -2\beta\sum_k h\Omega_k^2\dot n_k|_{pair}`.
Each bracket vanishes for thermal ``f, n`` (discrete detailed balance), separately for
scattering and for recombination vs pair breaking.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .grid import EnergyGrid
from .processes import PROCESSES as _TABLE

__all__ = [
    "PROCESSES",
    "CollisionParams",
    "CollisionTerms",
    "check_inputs",
    "pair_layout",
    "ph_energy",
    "ph_number",
    "phonon_states",
    "qp_energy",
    "qp_number",
    "total_energy",
]

#: Names of the processes of the table (:data:`fvqp.collisions.processes.PROCESSES`), by
#: which a selection is made: QP-phonon scattering (Eqs. 35, 39) and pair processes
#: (recombination Eq. 36 + pair breaking Eq. 37, and their phonon counterpart in Eq. 40).
PROCESSES: tuple[str, ...] = tuple(p.name for p in _TABLE)


@dataclass(frozen=True)
class CollisionParams:
    r"""Dimensionless prefactor of the phonon collision integral.

    Parameters
    ----------
    phonon_prefactor : float
        :math:`c_{ph} = \tau_0 / (\pi \Delta_0 \tau_0^\phi)` with :math:`\Delta_0` in
        units of kTc (notes Eqs. 7, 39-40).  The QP prefactor is 1 in these units.
    """

    phonon_prefactor: float

    def __post_init__(self) -> None:
        if not (np.isfinite(self.phonon_prefactor) and self.phonon_prefactor > 0):
            raise ValueError("phonon_prefactor must be positive and finite")

    @classmethod
    def from_times(cls, tau0_over_tau0ph: float, delta0: float) -> CollisionParams:
        r"""Build from :math:`\tau_0/\tau_0^\phi` and :math:`\Delta_0/k T_c`."""
        if tau0_over_tau0ph <= 0 or delta0 <= 0:
            raise ValueError("tau0_over_tau0ph and delta0 must be positive")
        return cls(tau0_over_tau0ph / (math.pi * delta0))

    @property
    def phonon_weight(self) -> float:
        r""":math:`\beta = 1/(2 c_{ph}) = 9N_{ion}(kT_c)^2/(4N_0\Omega_D^3)`."""
        return 0.5 / self.phonon_prefactor


@dataclass(frozen=True)
class CollisionTerms:
    r"""Gain/loss parts of the discrete collision integrals (all non-negative for
    physical ``0 <= f <= 1``, ``n >= 0``; rates in :math:`1/\tau_0`).

    QP arrays have length ``grid.n``, phonon arrays ``grid.n_ph``.

    Attributes
    ----------
    qp_sc_in, qp_sc_out
        Scattering into / out of QP cell ``i`` (Eq. 35: terms 1+3 / 2+4).
    qp_rec, qp_pb
        Recombination loss (Eq. 36) and pair-breaking gain (Eq. 37).
    ph_sc_in, ph_sc_out
        Phonon emission gain / absorption loss by QP scattering (Eq. 39).
    ph_rec, ph_pb
        Phonon gain by recombination / loss by pair breaking (Eq. 40, second bracket).
    """

    qp_sc_in: np.ndarray
    qp_sc_out: np.ndarray
    qp_rec: np.ndarray
    qp_pb: np.ndarray
    ph_sc_in: np.ndarray
    ph_sc_out: np.ndarray
    ph_rec: np.ndarray
    ph_pb: np.ndarray

    @property
    def qp_gain(self) -> np.ndarray:
        """All QP gain terms (scattering in, pair breaking)."""
        return self.qp_sc_in + self.qp_pb

    @property
    def qp_loss(self) -> np.ndarray:
        """All QP loss terms (scattering out, recombination)."""
        return self.qp_sc_out + self.qp_rec

    @property
    def qp_scattering(self) -> np.ndarray:
        """Net scattering part of :math:`\\dot f`."""
        return self.qp_sc_in - self.qp_sc_out

    @property
    def qp_pair(self) -> np.ndarray:
        """Net pair-breaking minus recombination part of :math:`\\dot f`."""
        return self.qp_pb - self.qp_rec

    @property
    def qp(self) -> np.ndarray:
        """Total :math:`S_{qp} = \\dot f` (Eq. 32)."""
        return self.qp_scattering + self.qp_pair

    @property
    def ph_scattering(self) -> np.ndarray:
        """Net scattering part of :math:`\\dot n`."""
        return self.ph_sc_in - self.ph_sc_out

    @property
    def ph_pair(self) -> np.ndarray:
        """Net recombination minus pair-breaking part of :math:`\\dot n`."""
        return self.ph_rec - self.ph_pb

    @property
    def ph(self) -> np.ndarray:
        """Total :math:`S_{ph} = \\dot n` (Eqs. 39-40)."""
        return self.ph_scattering + self.ph_pair


def check_inputs(
    f: np.ndarray, n: np.ndarray, grid: EnergyGrid, processes: Sequence[str] = PROCESSES,
    *, allow_complex: bool = False
) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    """Validate a selection of process groups (subset of :data:`PROCESSES`) and the shapes
    (and dtypes) of the distributions on ``grid``: ``(processes, f, n)``."""
    procs = tuple(processes)
    bad = [p for p in procs if p not in PROCESSES]
    if bad:
        raise ValueError(f"unknown process(es) {bad}; choose from {PROCESSES}")
    f = np.asarray(f)
    n = np.asarray(n)
    if f.shape != (grid.n,):
        raise ValueError(f"f must have shape ({grid.n},), got {f.shape}")
    if n.shape != (grid.n_ph,):
        raise ValueError(f"n must have shape ({grid.n_ph},), got {n.shape}")
    if not allow_complex and (np.iscomplexobj(f) or np.iscomplexobj(n)):
        raise TypeError("complex distributions are only supported by the direct method")
    dtype = np.result_type(f, n, np.float64)
    return procs, f.astype(dtype, copy=False), n.astype(dtype, copy=False)


def pair_layout(grid) -> tuple[int, np.ndarray, float]:
    r"""Pair kinematics of a grid: offset ``s`` of :math:`E_i + E_j = \Omega_{i+j+s}`, the
    pair-kernel factors :math:`r_k` (length ``n_ph``) and :math:`E_0 - \Delta`.

    :class:`~fvqp.collisions.EnergyGrid` provides them (``pair_offset``, ``pair_weight``;
    :mod:`fvqp.collisions.grid`); grid-like objects without them (duck-typed test grids,
    the cell-centred bins of the spatial models) are cell-centred: ``(m + 1, ones, h/2)``.
    """
    s = getattr(grid, "pair_offset", None)
    if s is None:
        return int(grid.m) + 1, np.ones(grid.n_ph), 0.5 * grid.h
    return int(s), np.asarray(grid.pair_weight, dtype=float), float(grid.e[0] - grid.delta)


def phonon_states(grid) -> np.ndarray:
    r"""Phonon states per ``h`` of the nodes, :math:`g_k` (length ``n_ph``): the weight of
    a phonon node in the collision sums and in :func:`ph_number`, :func:`ph_energy`.
    :attr:`~fvqp.collisions.EnergyGrid.phonon_states` (:math:`\Omega_m^2/2` at
    :math:`2\Delta` in the vertex layout, :mod:`fvqp.collisions.grid`); grid-like objects
    without it are cell-centred: :math:`\Omega_k^2`."""
    g = getattr(grid, "phonon_states", None)
    return grid.omega**2 if g is None else np.asarray(g, dtype=float)


# ------------------------------------------------------------ conserved functionals
def qp_number(f: np.ndarray, grid: EnergyGrid) -> float:
    r"""QP number :math:`\sum_i h\bar\rho_i f_i` (units of :math:`4 N_0 k T_c`)."""
    return np.dot(grid.qp_weights, f)


def qp_energy(f: np.ndarray, grid: EnergyGrid) -> float:
    r"""QP energy :math:`\sum_i h\bar\rho_i E_i f_i` (Eq. 9; units :math:`4N_0(kT_c)^2`)."""
    return np.dot(grid.qp_weights * grid.e, f)


def ph_number(n: np.ndarray, grid: EnergyGrid, params: CollisionParams) -> float:
    r"""Phonon number :math:`\beta\sum_k hg_kn_k` (units of :math:`4 N_0 k T_c`;
    :math:`g_k` = :func:`phonon_states`, :math:`\Omega_k^2` but at :math:`2\Delta` in the
    vertex layout)."""
    return params.phonon_weight * np.dot(grid.h * phonon_states(grid), n)


def ph_energy(n: np.ndarray, grid: EnergyGrid, params: CollisionParams) -> float:
    r"""Phonon energy :math:`\beta\sum_k hg_k\Omega_k n_k` (Eq. 10; units
    :math:`4N_0(kT_c)^2`; :math:`g_k` as in :func:`ph_number`)."""
    w3 = grid.omega**3 * (phonon_states(grid) / grid.omega**2)  # Omega^3 unless vertex
    return params.phonon_weight * np.dot(grid.h * w3, n)


def total_energy(
    f: np.ndarray, n: np.ndarray, grid: EnergyGrid, params: CollisionParams
) -> float:
    """Discrete conserved energy ``qp_energy + ph_energy``."""
    return qp_energy(f, grid) + ph_energy(n, grid, params)

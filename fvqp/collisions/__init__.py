r"""Electron-phonon collision operators for QPs and phonons in a BCS superconductor.

Energy-space core of the kinetic equations of the notes (Eqs. 30-45): the discrete
QP collision integral :math:`S_{qp}[f, n]` (scattering, recombination, pair breaking;
Eqs. 35-37) and the phonon collision integral :math:`S_{ph}[n, f]` (Eqs. 39-40) on a
shared uniform energy grid, with

* exact discrete energy conservation and QP-number bookkeeping (same kernel on both
  sides, summation by parts; see :mod:`fvqp.collisions.kernels` for the derivation of
  the single phonon parameter :math:`c_{ph} = \tau_0/(\pi\Delta_0\tau_0^\phi)` and
  of the phonon energy weight :math:`\beta = 1/(2c_{ph})`);
* two implementations of the same discrete operator: ``direct`` (O(N^2) reference)
  and ``fft`` (O(N log N), scipy.fft correlations, Eqs. 41-45);
* the exact dense Jacobian and an FFT Jacobian-vector product.

Units: energies in :math:`k_B T_c`, times in :math:`\tau_0`; QP numbers/energies in
units of :math:`4N_0 k T_c` / :math:`4N_0 (k T_c)^2`.

Example
-------
>>> from fvqp.collisions import EnergyGrid, CollisionParams, equilibrium
>>> from fvqp.spectra.gap import thermal_gap
>>> from fvqp.collisions import collision_rhs
>>> grid = EnergyGrid.build(thermal_gap(0.3, 1.0), h=0.01, e_max=6.0)
>>> params = CollisionParams.from_times(tau0_over_tau0ph=438 / 0.26, delta0=1.764)
>>> f, n = equilibrium(grid, 0.3)
>>> dfdt, dndt = collision_rhs(f, n, grid, params)
"""

from .direct import collision_terms_direct
from .fft import collision_terms_fft, jvp_fft
from .fft import jvp_fft as jvp  # the exact Jacobian action, O(N log N)
from .grid import (
    LAYOUTS,
    EnergyGrid,
    bose,
    equilibrium,
    fermi,
    pair_phase_space,
)
from .jacobian import JacobianBlocks, jacobian
from .kernels import (
    PROCESSES,
    CollisionParams,
    CollisionTerms,
    ph_energy,
    ph_number,
    qp_energy,
    qp_number,
    total_energy,
)
from .rates import (
    kaplan_recombination_rate,
    kaplan_scattering_rate_gap_edge,
    mean_pair_breaking_rate,
    pair_breaking_rate_continuum,
    ph_loss_rates,
    qp_loss_rates,
    thermal_pair_breaking_rate,
)
from .rhs import METHODS, collision_rhs, collision_terms

__all__ = [
    "LAYOUTS",
    "METHODS",
    "PROCESSES",
    "CollisionParams",
    "CollisionTerms",
    "EnergyGrid",
    "JacobianBlocks",
    "bose",
    "collision_rhs",
    "collision_terms",
    "collision_terms_direct",
    "collision_terms_fft",
    "equilibrium",
    "fermi",
    "jacobian",
    "jvp",
    "jvp_fft",
    "kaplan_recombination_rate",
    "kaplan_scattering_rate_gap_edge",
    "mean_pair_breaking_rate",
    "pair_breaking_rate_continuum",
    "pair_phase_space",
    "ph_energy",
    "ph_loss_rates",
    "ph_number",
    "qp_energy",
    "qp_loss_rates",
    "qp_number",
    "thermal_pair_breaking_rate",
    "total_energy",
]

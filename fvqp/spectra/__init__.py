r"""Dimension-agnostic BCS spectra and equilibrium thermodynamics.

All energies, gaps, broadenings and temperatures are in one consistent energy unit with
:math:`k_B = 1`; :math:`N_0` is the single-spin normal density of states.

* :mod:`.dos` -- BCS/Dynes densities of states, exact cell averages.
* :mod:`.thermal_occupations` -- the one Fermi and Bose function (overflow-safe,
  ``T = 0`` limits), :math:`-\partial f/\partial E`, exact Fermi cell averages.
* :mod:`.gap` -- the equilibrium gap: weak-coupling BCS :math:`\Delta(T)` and the one
  :math:`\Delta(T)` of the models, ``thermal_gap`` (α and δ0 models).
* :mod:`.qp_density` -- thermal quasiparticle density (re-exported by :mod:`.gap`).
* :mod:`.gap_equation` -- the one root finder of the gap equation with a
  non-equilibrium ``f`` (vectorised over cells; callers supply their integration rule).
* :mod:`.energy_grid` -- the one uniform energy grid (layouts, nodes, phonon nodes) of
  which ``collisions.EnergyGrid``, ``bins.BinGrid`` and ``eliashberg.RealAxisGrid`` are
  views.
* :mod:`.bins` -- the absolute bins of the mesh models, their DOS averages and gaps.
* :mod:`.thermal` -- BRT thermal conductivity, heat capacity, tabulated :math:`U(T)`.
* :mod:`.injection` -- how far up in energy injected QPs reach (NIS tunnel injection,
  Gaussian sources): what an energy grid must hold.
"""

from .dos import (
    bcs_dos,
    bcs_dos_cell_average,
    bcs_dos_cell_integral,
    dynes_dos,
)
from .gap import (
    BCS_GAP_RATIO,
    GL_GAP_SLOPE,
    bcs_gap,
    coupling_from_tc,
    dgap_dT,
    dgap_squared_dT,
    gap_equation_residual,
    gap_equation_residual_derivative,
    gap_from_distribution,
    thermal_gap,
    thermal_qp_density,
    thermal_qp_density_lowT,
)
from .thermal import (
    SOMMERFELD,
    ElectronicThermo,
    heat_capacity,
    heat_capacity_jump,
    internal_energy,
    kappa_normal,
    kappa_ratio,
)
from .thermal_occupations import bose, fermi, fermi_cell_average, fermi_temperature, minus_dfermi_dE

__all__ = [
    "BCS_GAP_RATIO",
    "GL_GAP_SLOPE",
    "SOMMERFELD",
    "ElectronicThermo",
    "bcs_dos",
    "bcs_dos_cell_average",
    "bcs_dos_cell_integral",
    "bcs_gap",
    "bose",
    "coupling_from_tc",
    "dgap_dT",
    "dgap_squared_dT",
    "dynes_dos",
    "fermi",
    "fermi_cell_average",
    "fermi_temperature",
    "gap_equation_residual",
    "gap_equation_residual_derivative",
    "gap_from_distribution",
    "heat_capacity",
    "heat_capacity_jump",
    "internal_energy",
    "kappa_normal",
    "kappa_ratio",
    "minus_dfermi_dE",
    "thermal_gap",
    "thermal_qp_density",
    "thermal_qp_density_lowT",
]

r"""Real-axis Eliashberg self-energies :math:`Z(\epsilon)`, :math:`\phi(\epsilon)` (issue 7.2).

Notes (BoltzPhlow BTE notes) Section 3.1, Eqs. 180-186; the outputs feed the
Boltzmann equation of Eqs. 178-179 (DOS :math:`\rho`, anomalous DOS :math:`\varphi`,
renormalisation factor :math:`m`). Energies in :math:`k_BT_c` of the material.

Example
-------
>>> import numpy as np
>>> from fvqp.eliashberg import solve_eliashberg
>>> sol = solve_eliashberg("Al", n=2**13, emax=2184.0)   # T = 0; grid to 1.2 omega_c
>>> round(sol.delta0, 2), round(sol.delta0_mev, 3)       # Delta0 / k_B Tc, Delta0 in meV
(1.77, 0.179)
>>> rho = sol.on_grid(np.array([1.0, 2.0, 3.0]))["rho"]  # DOS below and above the edge
>>> bool(rho[0] == 0.0 and rho[1] > rho[2] > 1.0)
True

Modules: :mod:`~fvqp.eliashberg.alpha2f` (spectra), :mod:`~fvqp.eliashberg.hilbert`
(FFT Hilbert/Kramers-Kronig), :mod:`~fvqp.eliashberg.spectral` (DOS, branch),
:mod:`~fvqp.eliashberg.selfenergy` (Eqs. 180-186), :mod:`~fvqp.eliashberg.occupations`
(non-equilibrium :math:`f_e`, :math:`n_b` in Eqs. 180-181), :mod:`~fvqp.eliashberg.solve`
(fixed point), :mod:`~fvqp.eliashberg.matsubara` (linearised :math:`T_c`,
:math:`\mu^*` calibration, non-linear imaginary-axis reference solver),
:mod:`~fvqp.eliashberg.cellgap` (the gap edge of a cell from its own tabulated
occupations, warm-started per cell: ``[gap] model = "eliashberg"`` of ``bte``).
Theory: ``docs/theory_eliashberg.md``.
"""

from .alpha2f import Alpha2F
from .hilbert import hilbert_halfline, hilbert_pv_dense, hilbert_uniform, kramers_kronig
from .matsubara import (
    calibrate_mu_star,
    critical_temperature,
    matsubara_eigenvalue,
    solve_matsubara,
)
from .occupations import Occupations
from .params import COUPLING, K_B_MEV, EliashbergParams
from .solution import EliashbergConvergenceError, EliashbergSolution
from .solve import solve_eliashberg, solve_real_axis

__all__ = [
    "COUPLING",
    "K_B_MEV",
    "Alpha2F",
    "EliashbergConvergenceError",
    "EliashbergParams",
    "Occupations",
    "EliashbergSolution",
    "calibrate_mu_star",
    "critical_temperature",
    "hilbert_halfline",
    "hilbert_pv_dense",
    "hilbert_uniform",
    "kramers_kronig",
    "matsubara_eigenvalue",
    "solve_eliashberg",
    "solve_matsubara",
    "solve_real_axis",
]

r"""Spectral input of the spherical BTE: DOS, coherence factor and renormalisation per bin.

What Eq. 178 implies (notes Section 2.4)
----------------------------------------
Eq. 178 is Eq. 170 divided by :math:`\rho` with the gradient terms of :math:`Z_1,
\phi_1` dropped (spherical symmetry, last bullets of Section 2.4):

.. math::
    m(\varepsilon)\,\partial_t f + \vec v_F\cdot\nabla_r f = I_{179}\{f\},\qquad
    m = Z_1 + \varepsilon\,\partial_\varepsilon Z_1
        - \frac{\varphi}{\rho}\,\partial_\varepsilon\phi_1 ,

with :math:`\rho = \mathrm{Re}[\varepsilon Z/\sqrt{(\varepsilon Z)^2 - \phi^2}]` and
:math:`\varphi = \mathrm{Re}[\phi/\sqrt{(\varepsilon Z)^2 - \phi^2}]` (Eqs. 166-167).
The factor multiplying :math:`\partial_t f` has a transparent meaning: with
:math:`\xi^2 = (\varepsilon Z)^2 - \phi^2` (real self-energies),

.. math::
    \frac{d\xi}{d\varepsilon} = \frac{\varepsilon Z\,(Z + \varepsilon Z') - \phi\phi'}{\xi}
    = \rho\,(Z + \varepsilon Z') - \varphi\,\phi' = \rho\, m \equiv N(\varepsilon),

i.e. :math:`\rho m` is the number of states per unit energy in units of the
normal-state :math:`N_0^{band}` of the band, including the mass renormalisation
(:math:`\to 1 + \lambda` in the normal state). fvqp's :math:`N_0` (from the Sommerfeld
:math:`\gamma`) is the dressed :math:`N_0^{band}Z_1(0)` and its time unit, Kaplan's
:math:`\tau_0`, holds the same :math:`Z_1(0) = 1 + \lambda` (Kaplan et al. 1976,
Eq. 8), so in these units the states per energy are :math:`N = \rho m/Z_1(0)`
(:attr:`fvqp.eliashberg.solution.EliashbergSolution.z0`): 1 in the normal state far
below the phonon energies, and the collision side :math:`\rho I_{179}` below is the
:math:`\tau_0`-normalised operator of :mod:`fvqp.collisions`. For BCS (:math:`Z = 1`,
:math:`\phi = \Delta`) :math:`m = 1`, :math:`N = \rho`. The group velocity of these states
is :math:`v = d\varepsilon/dp = v_F\,d\varepsilon/d\xi = v_F/N` (BCS:
:math:`v_F\sqrt{1 - \Delta^2/\varepsilon^2}`), so the number *flux* per unit energy is
:math:`N v = v_F` whatever the spectrum. The conservative equation solved by
:mod:`fvqp.models.bte_sphere` is therefore

.. math::
    \partial_t\big(N f\big) + \nabla\cdot\big(v_F\,\hat p\,f\big)
        = \rho\,I_{179}\{f\} + \frac{v_F}{\ell}\,(\bar f - f),

which is Eq. 178 multiplied by :math:`\rho` *except* for the streaming coefficient:
Eq. 178 taken literally gives the flux :math:`\rho v_F f`, i.e. QPs at the gap edge
moving at :math:`v_F`, which contradicts the Bogoliubov group velocity; we use the
group velocity (flux :math:`v_F f`). The collision side :math:`\rho I_{179}` is what the
discrete operator of :mod:`fvqp.collisions` conserves (its kernel carries
:math:`\rho\rho'\mp\varphi\varphi'`, Eq. 177): the collision part of
:math:`\partial_t\sum_j h N_jE_jf_j` is :math:`\sum_j h\rho_jE_jI_j`, which is exactly
minus the phonon energy change, so QP + phonon energy
:math:`\sum hNEf + \beta\sum h\Omega^3 n` is conserved to round-off for any
:math:`m` (with dynamic phonons), and :math:`m\,\partial_t f = I_{179}` of Eq. 178
holds in every bin.

Elastic impurity scattering (notes Eqs. 17-19): rate :math:`v/\ell` with the
energy-independent mean free path :math:`\ell = v_F\tau_n`, so :math:`N\,(v/\ell) =
v_F/\ell` and the diffusion constant is :math:`D = v\ell/3`.

Grid and the energy boundary conditions
---------------------------------------
The QP bins are those of :class:`fvqp.collisions.EnergyGrid`, cells
:math:`[\Delta + ih, \Delta + (i+1)h]` above the gap with exact cell averages of the
BCS DOS: the occupation at :math:`\varepsilon = 0` (:math:`f = 1/2`, the Fermi surface)
lies inside the gap where there are no states, so it never enters (states below
:math:`\Delta` are absent, and Eq. 179's :math:`f(-\varepsilon) = 1 - f(\varepsilon)`
is already used by the pair terms); :math:`f \to 0` at :math:`\varepsilon \to \infty`
is the grid cut-off :math:`E_{max}` (transitions leaving the grid are dropped on both
sides, which keeps conservation exact; ``E_max`` must sit many :math:`k_BT` above the
packet).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...collisions.grid import EnergyGrid

__all__ = ["Spectrum", "bcs_spectrum", "eliashberg_spectrum"]


@dataclass(frozen=True)
class Spectrum:
    r"""Per-bin spectral weights on an :class:`~fvqp.collisions.EnergyGrid`.

    Attributes
    ----------
    grid : EnergyGrid
    rho, ados : ndarray
        Cell averages of :math:`\rho` and :math:`\varphi` (the coherence-factor weight;
        :math:`\Delta\rho/\varepsilon` for BCS).
    renorm : ndarray
        :math:`m(\varepsilon)` of Eq. 178 (1 for BCS).
    gap : float
    """

    grid: EnergyGrid
    rho: np.ndarray
    ados: np.ndarray
    renorm: np.ndarray
    gap: float
    kind: str = "bcs"
    #: :math:`Z_1(0) = 1 + \lambda` already in fvqp's :math:`N_0` and :math:`\tau_0`
    #: (module docstring; 1 for BCS)
    z0: float = 1.0

    @property
    def states(self) -> np.ndarray:
        r"""States per unit energy :math:`N = \rho m/Z_1(0)` (storage weight of ``f``,
        module docstring)."""
        return self.rho * self.renorm / self.z0


def bcs_spectrum(grid: EnergyGrid) -> Spectrum:
    """BCS weights: the grid's exact cell averages, ``renorm = 1``."""
    return Spectrum(grid, grid.dos.copy(), grid.ados.copy(), np.ones(grid.n), grid.delta)


def eliashberg_spectrum(material, t_over_tc: float, h: float, e_max: float,
                        **kwargs) -> Spectrum:
    r"""Weights from the real-axis Eliashberg solution (:mod:`fvqp.eliashberg`, notes
    Eqs. 180-186) of ``material`` at :math:`T/T_c`.

    The grid starts at the Eliashberg gap edge :math:`\Delta_0` (``sol.delta0``,
    rounded so that ``2 Delta / h`` is an integer as the collision kinematics need);
    ``rho``, ``ados`` (:math:`\varphi`) and ``renorm`` (:math:`m` of Eq. 178) are the
    solution's exact cell averages on the bins (``on_grid`` with edges). Other keywords go
    to :func:`fvqp.eliashberg.solve_eliashberg`.
    """
    from ...eliashberg import solve_eliashberg  # issue 7 part 2 (another package)

    sol = solve_eliashberg(material, temperature=t_over_tc, **kwargs)
    if not sol.success or sol.delta0 <= 0:
        raise ValueError(f"the Eliashberg solution failed or has no gap: {sol.message}")
    grid = EnergyGrid.build(sol.delta0, h, e_max)
    d = sol.on_grid(grid.e, edges=grid.e_edges)
    spec = Spectrum(grid, np.asarray(d["rho"], float), np.asarray(d["ados"], float),
                    np.asarray(d["renorm"], float), float(sol.delta0), kind="eliashberg",
                    z0=sol.z0)
    if np.any(spec.states <= 0):
        raise ValueError("the Eliashberg spectrum has bins without states above the gap "
                         "edge; use a finer [spectrum] spacing.")
    return spec

r"""Phonon media: substrates and film metals (SI units, one source per number).

The data live in ``substrates.toml`` (this package), one table per medium; every quantity
is an inline table ``{value, unit, source}`` whose unit is checked on loading (as in
:mod:`fvqp.materials.database`).

=====================  ========  ===========================================================
field                  unit      meaning
=====================  ========  ===========================================================
``density``            kg/m³     mass density :math:`\varrho`
``sound_velocity_L``   m/s       isotropic longitudinal sound velocity :math:`v_L`
``sound_velocity_T``   m/s       isotropic transverse sound velocity :math:`v_T`
``debye_temperature``  K         :math:`\Theta_D`
``isotope_A``          s³        isotope scattering :math:`1/\tau_I = A\nu^4` (Tamura 1983)
``anharmonic_B``       s⁴        anharmonic decay :math:`1/\tau_A = B\nu^5` (Tamura 1985)
``anharmonic_TT_``     1         of the L decays, the fraction L → T + T (the rest L → L + T;
``fraction``                     Tamura 1985's isotropic-model channel rates, via G4CMP)
=====================  ========  ===========================================================

with :math:`\nu = \Omega/h` the phonon frequency in Hz. Missing data are ``None``.

Derived (one effective acoustic branch, ``docs/theory_phonon.md``): the Debye-averaged
velocity :math:`3/v_D^3 = 1/v_L^3 + 2/v_T^3` (the one that gives the exact low-frequency
density of states of the three branches, :math:`g(\Omega) = 3\Omega^2/(2\pi^2\hbar^3v_D^3)`)
and the acoustic impedance :math:`Z = \varrho v_D`.

References
----------
.. [1] S. Tamura, Phys. Rev. B 27, 858 (1983) (isotope scattering, Ge).
.. [2] S. Tamura, Phys. Rev. B 31, 2574 (1985) (spontaneous LA decay, isotropic model).
.. [3] C. Kittel, *Introduction to Solid State Physics*, 8th ed. (2005), Ch. 5 Table 1.
.. [4] G4CMP crystal configuration files (``CrystalMaps/<X>/config.txt``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import lru_cache

from ..units import HBAR
from .database import (
    CASE_OVERRIDE,
    DataEntry,
    UnknownEntryError,
    data_entry,
    load_table,
    lookup,
    quantity,
)

__all__ = ["PhononMedium", "UnknownMediumError", "get_medium"]


class UnknownMediumError(UnknownEntryError):
    """A phonon medium that is not in ``substrates.toml`` (the message lists them)."""


@data_entry
class PhononMedium(DataEntry):
    """Acoustic parameters of one medium, SI (module docstring)."""

    density: float = quantity("kg/m^3", required=True)
    sound_velocity_L: float = quantity("m/s", required=True)
    sound_velocity_T: float = quantity("m/s", required=True)
    debye_temperature: float | None = quantity("K")
    isotope_A: float | None = quantity("s^3")
    anharmonic_B: float | None = quantity("s^4")
    anharmonic_TT_fraction: float | None = quantity("1")
    anharmonic_beta: float | None = quantity("Pa")
    anharmonic_gamma: float | None = quantity("Pa")

    @property
    def debye_velocity(self) -> float:
        r"""Debye average :math:`v_D = (3/(v_L^{-3} + 2v_T^{-3}))^{1/3}` [m/s]."""
        return (3.0 / (self.sound_velocity_L**-3 + 2.0 * self.sound_velocity_T**-3)) ** (1 / 3)

    @property
    def impedance(self) -> float:
        r"""Acoustic impedance :math:`Z = \varrho v_D` [kg/(m² s)] of the effective branch."""
        return self.density * self.debye_velocity

    def isotope_rate(self, omega: float) -> float:
        r""":math:`A\nu^4` [1/s] at phonon energy ``omega`` [J] (0 without data)."""
        return (self.isotope_A or 0.0) * (omega / (2 * math.pi * HBAR)) ** 4

    def decay_rate(self, omega: float) -> float:
        r""":math:`B\nu^5` [1/s] at phonon energy ``omega`` [J] (0 without data)."""
        return (self.anharmonic_B or 0.0) * (omega / (2 * math.pi * HBAR)) ** 5

    @property
    def decay_channels(self) -> tuple[float, float] | None:
        r"""(:math:`f_{TT}`, :math:`f_{LT} = 1 - f_{TT}`): the fractions of L decays into
        T + T and into L + T (None without data)."""
        f = self.anharmonic_TT_fraction
        return None if f is None else (f, 1.0 - f)

    @property
    def lame(self) -> tuple[float, float]:
        r"""The Lame constants of the isotropic medium, :math:`\lambda = \varrho(v_L^2 -
        2v_T^2)`, :math:`\mu = \varrho v_T^2` [Pa] (from its density and velocities)."""
        mu = self.density * self.sound_velocity_T**2
        return self.density * self.sound_velocity_L**2 - 2.0 * mu, mu

    def replace(self, **values) -> PhononMedium:
        """Copy with fields replaced (their source becomes ``"case override"``)."""
        return self._overridden(values, CASE_OVERRIDE)


@lru_cache(maxsize=1)
def _database() -> Mapping[str, PhononMedium]:
    return load_table("substrates.toml", PhononMedium, PhononMedium.units,
                      PhononMedium.required)


def get_medium(name: str) -> PhononMedium:
    """Phonon medium by name (case-insensitive), e.g. ``"Si"``, ``"Al2O3"``, ``"Al"``."""
    return lookup(_database(), name, UnknownMediumError, "phonon medium")

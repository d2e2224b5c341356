r"""Inputs of the Eliashberg solvers: :math:`\alpha^2F`, :math:`\mu^*`, :math:`\omega_c`, units.

Energies are in :math:`k_BT_c` of the material (fvqp convention, ``docs/units.md``);
:meth:`EliashbergParams.from_mev` takes physical inputs (meV, K) and
:meth:`EliashbergParams.from_material` reads :math:`T_c` and :math:`\Theta_D` from
:mod:`fvqp.materials` and :math:`\lambda` from :data:`COUPLING` below (the material
database has no :math:`\lambda`). Without an explicit :math:`\mu^*` it is calibrated so
that the linearised Matsubara-axis Eliashberg equations give the measured :math:`T_c`
(:func:`fvqp.eliashberg.matsubara.calibrate_mu_star`; not McMillan/Allen-Dynes, which
are fits for real spectra).

The Debye-like :math:`\alpha^2F = \lambda(\Omega/\Omega_D)^2` with
:math:`\Omega_D = k_B\Theta_D` is the model of the notes (Section 3.1); it is a
stand-in for measured tunnelling spectra (not available offline), so the absolute
strong-coupling corrections are only indicative (e.g. for Pb).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType

from ..materials import Material, get_material
from ..units import E_CHARGE, K_B
from .alpha2f import Alpha2F
from .matsubara import calibrate_mu_star

__all__ = ["COUPLING", "EliashbergParams", "K_B_MEV"]

K_B_MEV: float = K_B / E_CHARGE * 1e3  #: Boltzmann constant [meV/K] (from fvqp.units)

#: electron-phonon coupling constants lambda (not in fvqp/materials; defined here)
COUPLING = MappingProxyType(
    {
        "Al": (0.43, "Carbotte, Rev. Mod. Phys. 62, 1027 (1990), Table IV [not re-checked]"),
        "Sn": (0.72, "Carbotte, Rev. Mod. Phys. 62, 1027 (1990), Table IV [not re-checked]"),
        "Pb": (1.55, "Carbotte, Rev. Mod. Phys. 62, 1027 (1990), Table IV [not re-checked]"),
    }
)


@lru_cache(maxsize=32)
def _mu_star_cached(lam: float, omega_d: float, omega_c: float, tc: float) -> float:
    return calibrate_mu_star(Alpha2F.debye(lam, omega_d), omega_c, tc)


@dataclass(frozen=True)
class EliashbergParams:
    r"""Model parameters in units of :math:`k_BT_c` of the material.

    Parameters
    ----------
    a2f : Alpha2F
        Spectral function (energies in :math:`k_BT_c`).
    mu_star : float
        Coulomb pseudopotential :math:`\mu^*(\omega_c)`.
    omega_c : float
        Coulomb cut-off :math:`\omega_c` (energy unit as ``a2f``).
    tc_kelvin : float or None
        :math:`T_c` in K defining the energy unit (for conversion to meV), if known.
    coulomb : {"matsubara", "real"}
        Form of the Coulomb term on the real axis (:mod:`fvqp.eliashberg.selfenergy`):
        ``"matsubara"`` (default) uses the imaginary-axis sharp cut-off that defines
        the calibrated :math:`\mu^*`; ``"real"`` the traditional real-axis form
        :math:`-\mu^*\int_0^{\omega_c}\tanh(\epsilon/2T)\varphi`, which with the same
        :math:`\mu^*` gives a 1.5 % smaller :math:`\Delta_0` for Al.
    sources : mapping
        Provenance of the numbers.
    """

    a2f: Alpha2F
    mu_star: float
    omega_c: float
    tc_kelvin: float | None = None
    coulomb: str = "matsubara"
    sources: dict = field(default_factory=dict, compare=False)

    @property
    def lam(self) -> float:
        return self.a2f.lam

    @property
    def energy_unit_mev(self) -> float | None:
        r""":math:`k_BT_c` in meV (``None`` if :math:`T_c` unknown)."""
        return None if self.tc_kelvin is None else K_B_MEV * self.tc_kelvin

    @classmethod
    def from_mev(
        cls,
        lam: float,
        omega_d_mev: float,
        tc_kelvin: float,
        mu_star: float | None = None,
        omega_c_mev: float | None = None,
    ) -> EliashbergParams:
        r"""Debye model from physical inputs: λ, :math:`\Omega_D` [meV], :math:`T_c` [K].

        ``omega_c_mev`` defaults to :math:`5\Omega_D`; ``mu_star=None`` calibrates
        :math:`\mu^*` on ``tc_kelvin``.
        """
        unit = K_B_MEV * tc_kelvin
        omega_d = omega_d_mev / unit
        omega_c = (5.0 * omega_d_mev if omega_c_mev is None else omega_c_mev) / unit
        src = {"lambda": "user", "omega_d": "user", "tc": "user"}
        if mu_star is None:
            mu_star = _mu_star_cached(float(lam), float(omega_d), float(omega_c), 1.0)
            src["mu_star"] = "calibrated on T_c (linearised Matsubara Eliashberg)"
        else:
            src["mu_star"] = "user"
        return cls(Alpha2F.debye(lam, omega_d), float(mu_star), omega_c, tc_kelvin, sources=src)

    @classmethod
    def from_material(
        cls,
        material: str | Material,
        lam: float | None = None,
        mu_star: float | None = None,
        omega_c_factor: float = 5.0,
    ) -> EliashbergParams:
        r"""Debye model of a database material (:math:`T_c`, :math:`\Theta_D` from fvqp.materials).

        :math:`\lambda` from :data:`COUPLING` unless given; :math:`\omega_c` =
        ``omega_c_factor`` :math:`\times\Omega_D`.
        """
        mat = get_material(material) if isinstance(material, str) else material
        if mat.debye_temperature is None:
            raise ValueError(f"{mat.name}: no Debye temperature in the material database")
        if lam is None:
            if mat.name not in COUPLING:
                raise ValueError(
                    f"{mat.name}: no lambda tabulated (known: {sorted(COUPLING)}); pass lam="
                )
            lam, lam_src = COUPLING[mat.name]
        else:
            lam_src = "user"
        omega_d_mev = K_B_MEV * mat.debye_temperature
        out = cls.from_mev(lam, omega_d_mev, mat.Tc, mu_star, omega_c_factor * omega_d_mev)
        out.sources.update(
            {
                "lambda": lam_src,
                "tc": mat.sources.get("Tc", ""),
                "omega_d": mat.sources.get("debye_temperature", ""),
                "material": mat.name,
            }
        )
        return out

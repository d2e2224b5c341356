r"""Heat-model material functions in internal units: U, c, Φ, κ, dκ/dT, Δ, n_qp of T.

U, c = dU/dT and Δ come from :class:`fvqp.spectra.thermal.ElectronicThermo` (weak-coupling
BCS tables in :math:`t = T/T_c`, c the derivative of the same interpolant as U). The flux
needs the *Kirchhoff potential* :math:`\Phi(T) = \int_0^T\kappa_{es}\,dT'` with
:math:`\kappa = d\Phi/dT` exactly (so Newton's Jacobian is exact for the Kirchhoff fluxes
of :mod:`fvqp.models.heat.problem`). It is tabulated here the same way: Gauss–Legendre
panels of the BRT :math:`\kappa_{es}(t) = \kappa_n(T_c)\,t\,r(t)` in :math:`x=\ln t`, a
cubic Hermite spline of :math:`\ln\hat\Phi(x)` with the exact nodal slopes
:math:`\hat\kappa t/\hat\Phi`, and :math:`\kappa`, :math:`d\kappa/dT` taken from that spline.
Above :math:`T_c`, :math:`\kappa = L_0T/\rho_n`; :math:`\Phi` is continuous at :math:`T_c`.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy.interpolate import CubicHermiteSpline

from ...spectra.gap import thermal_qp_density
from ...spectra.thermal import ElectronicThermo
from ...units import LORENZ, UnitSystem

T_MIN, N_GRID, GL_ORDER = 0.01, 1201, 8
DELTA0 = 1.7638769  # weak-coupling pi exp(-gamma_E)


@functools.lru_cache(maxsize=1)
def kirchhoff_table():
    """Hermite spline of ln Φ̂(ln t) on [ln T_MIN, 0] for κ_n(Tc) = Tc = 1, and Φ̂(1)."""
    thermo = ElectronicThermo(1.0, 1.0, kappa_n_over_T=1.0)
    x = np.linspace(np.log(T_MIN), 0.0, N_GRID)
    g, w = np.polynomial.legendre.leggauss(GL_ORDER)
    g, w = 0.5 * (g + 1.0), 0.5 * w

    def panels(edges):
        h = np.diff(edges)
        tq = np.exp(edges[:-1, None] + h[:, None] * g[None, :])
        return h * np.sum(w * np.asarray(thermo.kappa(tq.ravel())).reshape(tq.shape) * tq, 1)

    # below T_MIN: kappa < e^-170 relative; integrate from t = 1e-3 where it underflows to 0
    phi0 = float(np.sum(panels(np.linspace(np.log(1e-3), x[0], 200))))
    phi = phi0 + np.concatenate([[0.0], np.cumsum(panels(x))])
    kap = np.asarray(thermo.kappa(np.exp(x)))
    kap[-1] = 1.0  # r(Tc) = 1 exactly
    spline = CubicHermiteSpline(x, np.log(phi), kap * np.exp(x) / phi)
    return spline, float(phi[0]), float(phi[-1])


def _kirchhoff(t: np.ndarray):
    """Φ̂, κ̂ = dΦ̂/dt, dκ̂/dt for κ_n(Tc) = Tc = 1 (consistent derivatives)."""
    spline, phi_min, phi1 = kirchhoff_table()
    t = np.asarray(t, dtype=float)
    phi, kap, dkap = np.zeros_like(t), np.zeros_like(t), np.zeros_like(t)
    mid = (t >= T_MIN) & (t < 1.0)
    x = np.log(t[mid])
    G1, G2 = spline(x, 1), spline(x, 2)
    p = np.exp(spline(x))
    phi[mid], kap[mid] = p, p * G1 / t[mid]
    dkap[mid] = p * (G1 * G1 + G2 - G1) / t[mid] ** 2
    low = (t > 0) & (t < T_MIN)  # Φ = Φ_min exp(-Δ0 (1/t - 1/t_min)): consistent tail
    tl = t[low]
    p = phi_min * np.exp(-DELTA0 * (1.0 / tl - 1.0 / T_MIN))
    phi[low], kap[low] = p, p * DELTA0 / tl**2
    dkap[low] = kap[low] * (DELTA0 / tl**2 - 2.0 / tl)
    hi = t >= 1.0
    phi[hi], kap[hi], dkap[hi] = phi1 + 0.5 * (t[hi] ** 2 - 1.0), t[hi], 1.0
    return phi, kap, dkap


class HeatMaterial:
    """U, c, Φ, κ, dκ/dT, Δ and n_qp of one material, as functions of internal temperature.

    Parameters
    ----------
    material : fvqp.materials.Material
        With the region's overrides (a case's ``resistivity`` sets κ_n = L0 T/ρ_n,
        :func:`fvqp.models.base.schema.case_material`).
    units : fvqp.units.UnitSystem
    """

    def __init__(self, material, units: UnitSystem):
        self.material = material
        rho = material.resistivity
        if rho is None or not rho > 0:
            raise ValueError(f"material {material.name} has no resistivity in the database; "
                             "give resistivity in its [regions.*] table")
        s = units.material_scales(material)
        self.rT = s["temperature"]  # Tc_m / Tc_ref: internal temperature of the material's Tc
        self.thermo = ElectronicThermo(self.rT, s["energy_density"] / self.rT**2)
        # kappa_n(Tc_m) = L0 Tc_m / rho in internal units
        self.kn = units.to_internal(LORENZ * material.Tc / rho, "thermal_conductivity")
        self.n_scale = units.material_scales(material)["energy_density"] / self.rT

    def U(self, T):
        """Internal energy per volume, zero in the ground state."""
        return np.asarray(self.thermo.internal_energy(np.maximum(T, 0.0)))

    def c(self, T):
        """Heat capacity per volume, dU/dT of the same interpolant."""
        return np.asarray(self.thermo.heat_capacity(np.maximum(T, 0.0)))

    def phi(self, T):
        """Kirchhoff potential Φ(T) = ∫_0^T κ dT'."""
        return self.kn * self.rT * _kirchhoff(np.asarray(T) / self.rT)[0]

    def kappa(self, T):
        """BRT thermal conductivity κ_es(T) = dΦ/dT."""
        return self.kn * _kirchhoff(np.asarray(T) / self.rT)[1]

    def dkappa(self, T):
        """dκ/dT (used at faces between two materials)."""
        return self.kn / self.rT * _kirchhoff(np.asarray(T) / self.rT)[2]

    def gap(self, T):
        """BCS gap Δ(T) in internal energy units."""
        return np.asarray(self.thermo.gap(np.maximum(T, 0.0)))

    def qp_density(self, T):
        """Thermal quasiparticle density 4N0∫ρf dE, internal units (NaN above Tc)."""
        T = np.asarray(T, dtype=float)
        n = np.asarray(thermal_qp_density(T / self.rT, self.gap(T) / self.rT, 1.0))
        return np.where(T < self.rT, self.n_scale * n, np.nan)

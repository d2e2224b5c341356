r"""Heat-model material functions in internal units: U, c, Φ, κ, dκ/dT, Δ, n_qp of T.

The gap is the α model's (Padamsee, Neighbor & Shiffman, J. Low Temp. Phys. 12, 387
(1973); Johnston, Supercond. Sci. Technol. 26, 115011 (2013), arXiv:1304.2275;
:func:`fvqp.spectra.gap.thermal_gap` ``model="alpha"``, which says why heat takes it): the
weak-coupling BCS shape :math:`\Delta(T)/\Delta_0` with
the material's :math:`\Delta_0 = \alpha k_BT_c` (``gap_ratio`` :math:`\alpha`; a case may
set it, or ``delta0``, per region), i.e. :math:`\Delta(T) = s\,\Delta_{BCS}(T)`,
:math:`s = \alpha/\alpha_{BCS}`, :math:`\alpha_{BCS} = \pi e^{-\gamma_E} = 1.764`. The
quasiparticle heat capacity (notes Eqs. 25-27), BRT conductivity (notes Eq. 23) and thermal
QP density take that gap, so :math:`c` jumps at :math:`T_c` by
:math:`\Delta C/\gamma T_c = (12/7\zeta(3))\,s^2` (the α model's jump, Johnston 2013),
and the Boltzmann tails go as :math:`e^{-\alpha T_c/T}`.

U and Φ are tabulated once per :math:`s` in :math:`x = \ln(T/T_c)`: Gauss–Legendre
panels of :math:`\hat c(t)` (:func:`fvqp.spectra.thermal` quadrature of the gap term with
:math:`d\Delta^2/dT = s^2 d\Delta_{BCS}^2/dT`) and of the BRT
:math:`\hat\kappa(t) = t\,r(\Delta/T)` give the *internal energy*
:math:`\hat U = \int_0^t\hat c\,dt'` and the *Kirchhoff potential*
:math:`\hat\Phi = \int_0^t\hat\kappa\,dt'`; cubic Hermite splines of :math:`\ln\hat U(x)`,
:math:`\ln\hat\Phi(x)` with the exact nodal slopes :math:`\hat c t/\hat U`,
:math:`\hat\kappa t/\hat\Phi`, and :math:`c`, :math:`\kappa`, :math:`d\kappa/dT` taken from
those splines (so :math:`c = dU/dT` and :math:`\kappa = d\Phi/dT` exactly: Newton's
Jacobian is exact for the Kirchhoff fluxes of :mod:`fvqp.models.heat.problem`). Below
:math:`t_{min} = 0.01` the Boltzmann fixed-gap forms (:math:`e^{-\alpha/t} < 10^{-69}`);
above :math:`T_c` the normal state, :math:`c = \gamma T`, :math:`\kappa = L_0T/\rho`, U and
Φ continuous at :math:`T_c`.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy import special
from scipy.interpolate import CubicHermiteSpline, CubicSpline

from ...spectra.gap import BCS_GAP_RATIO, dgap_squared_dT, thermal_gap, thermal_qp_density
from ...spectra.thermal import (
    SOMMERFELD,
    _c_superconducting,
    heat_capacity_jump,
    kappa_ratio,
)
from ...units import LORENZ, UnitSystem

T_MIN, N_GRID, GL_ORDER = 0.01, 1201, 8


def _boltzmann(t: np.ndarray, d0: float) -> tuple[np.ndarray, np.ndarray]:
    r"""Fixed-gap Boltzmann forms per :math:`N_0T_c^2`, :math:`N_0T_c` (:math:`t \ll 1`):
    :math:`\hat U = 2d_0^2[K_0(a)+K_2(a)]`, :math:`\hat c = d\hat U/dt = (d_0^3/t^2)
    [K_3(a)+3K_1(a)]`, :math:`a = d_0/t` (notes Eq. 26 with :math:`f \to e^{-E/T}`)."""
    a = d0 / t
    ea = np.exp(-a)
    return (2.0 * d0**2 * (special.kve(0, a) + special.kve(2, a)) * ea,
            d0**3 / t**2 * (special.kve(3, a) + 3.0 * special.kve(1, a)) * ea)


def _log_spline(x: np.ndarray, rate: np.ndarray, panels: np.ndarray, start: float):
    """Hermite spline of ln F(x), F = start + the cumulative ``panels``, F' t = rate t."""
    F = start + np.concatenate([[0.0], np.cumsum(panels)])
    return CubicHermiteSpline(x, np.log(F), rate * np.exp(x) / F), float(F[-1])


def _gl_nodes(edges: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes t (per panel of ``edges`` in x = ln t), weights, panel widths."""
    g, w = np.polynomial.legendre.leggauss(GL_ORDER)
    h = np.diff(edges)
    return np.exp(edges[:-1, None] + h[:, None] * (0.5 * (g + 1.0))[None, :]), 0.5 * w, h


@functools.lru_cache(maxsize=1)
def _bcs_nodes() -> dict:
    r"""The weak-coupling :math:`\Delta_{BCS}` and :math:`d\Delta_{BCS}^2/dt` (:math:`T_c = 1`,
    :mod:`fvqp.spectra.gap`) at the table's grid in :math:`x = \ln t` and at the
    Gauss-Legendre nodes of its panels (the gap equation solved once per process, whatever
    the gap ratios), and a cubic spline of :math:`\Delta_{BCS}^2(x)` (smooth up to
    :math:`T_c`, where it vanishes linearly) for the gap of every cell."""
    x = np.linspace(np.log(T_MIN), 0.0, N_GRID)
    tq, w, h = _gl_nodes(x)
    t = np.concatenate([np.exp(x[:-1]), tq.ravel()])
    gap, d2 = np.asarray(thermal_gap(t, 1.0)), np.asarray(dgap_squared_dT(t, 1.0))
    n = x.size - 1
    return {"x": x, "tq": tq, "w": w, "h": h, "gap": gap[:n], "d2": d2[:n],
            "gap_q": gap[n:].reshape(tq.shape), "d2_q": d2[n:].reshape(tq.shape),
            "gap2": CubicSpline(x, np.append(gap[:n] ** 2, 0.0))}


@functools.lru_cache(maxsize=8)
def thermo_tables(s: float = 1.0) -> dict:
    r"""U and Φ tables of the gap :math:`s\Delta_{BCS}(t)` for :math:`N_0 = T_c =
    \kappa_n(T_c) = 1` (module docstring): splines ``logU``, ``logPhi`` on
    :math:`[\ln t_{min}, 0]`, their values at :math:`t_{min}` and at :math:`T_c`."""
    nodes = _bcs_nodes()
    x, tq, w, h = nodes["x"], nodes["tq"], nodes["w"], nodes["h"]
    d0 = s * BCS_GAP_RATIO
    t = np.exp(x[:-1])

    def c_hat(t, gap, d2):
        return _c_superconducting(t, s * gap, s * s * d2)

    def kappa_hat(t, gap):
        return t * np.asarray(kappa_ratio(t, s * gap))

    def panels(values):
        return h * np.sum(w * values * tq, 1)

    c = np.append(c_hat(t, nodes["gap"], nodes["d2"]),
                  SOMMERFELD * (1.0 + heat_capacity_jump() * s * s))  # exact at Tc-
    kap = np.append(kappa_hat(t, nodes["gap"]), 1.0)  # r(Tc) = 1 exactly
    u_min = float(_boltzmann(np.array(T_MIN), d0)[0])
    logU, u1 = _log_spline(x, c, panels(c_hat(tq, nodes["gap_q"], nodes["d2_q"])), u_min)
    # below T_MIN (gap d0 to e^-176): kappa < e^-170 relative; from t = 1e-3, where it
    # underflows to 0
    tt, wt, ht = _gl_nodes(np.linspace(np.log(1e-3), x[0], 200))
    phi_min = float(np.sum(ht * np.sum(wt * kappa_hat(tt, BCS_GAP_RATIO) * tt, 1)))
    logPhi, phi1 = _log_spline(x, kap, panels(kappa_hat(tq, nodes["gap_q"])), phi_min)
    return {"logU": logU, "U_min": u_min, "U1": u1, "d0": d0,
            "logPhi": logPhi, "Phi_min": phi_min, "Phi1": phi1}


def _bcs_gap_hat(t: np.ndarray) -> np.ndarray:
    """Δ_BCS(t) for Tc = 1 (:func:`~fvqp.spectra.gap.thermal_gap` with the BCS ratio) from
    the spline of Δ² (Δ0 below t_min, 0 from Tc on; to 1e-9, tests/test_heat_gap_ratio.py)."""
    t, low, mid, _ = _split(t)
    out = np.where(low | (t == 0), BCS_GAP_RATIO, 0.0)
    out[mid] = np.sqrt(np.maximum(_bcs_nodes()["gap2"](np.log(t[mid])), 0.0))
    return out


def _split(t: np.ndarray):
    t = np.asarray(t, dtype=float)
    return t, (t > 0) & (t < T_MIN), (t >= T_MIN) & (t < 1.0), t >= 1.0


def _from_log_spline(spline, t: np.ndarray, order: int = 1):
    """F, dF/dt (and d²F/dt² with ``order`` 2) of a Hermite spline of ln F(ln t)."""
    x = np.log(t)
    G1, F = spline(x, 1), np.exp(spline(x))
    out = [F, F * G1 / t]
    if order == 2:
        out.append(F * (G1 * G1 + spline(x, 2) - G1) / t**2)
    return out


def _energy(t, s: float):
    """Û, ĉ = dÛ/dt for N0 = Tc = 1 (consistent derivatives)."""
    tab = thermo_tables(s)
    t, low, mid, hi = _split(t)
    u, c = np.zeros_like(t), np.zeros_like(t)
    u[mid], c[mid] = _from_log_spline(tab["logU"], t[mid])
    u[low], c[low] = _boltzmann(t[low], tab["d0"])
    u[hi], c[hi] = tab["U1"] + 0.5 * SOMMERFELD * (t[hi] ** 2 - 1.0), SOMMERFELD * t[hi]
    return u, c


def _kirchhoff(t, s: float = 1.0):
    """Φ̂, κ̂ = dΦ̂/dt, dκ̂/dt for κ_n(Tc) = Tc = 1 (consistent derivatives)."""
    tab = thermo_tables(s)
    t, low, mid, hi = _split(t)
    phi, kap, dkap = np.zeros_like(t), np.zeros_like(t), np.zeros_like(t)
    phi[mid], kap[mid], dkap[mid] = _from_log_spline(tab["logPhi"], t[mid], 2)
    tl, d0 = t[low], tab["d0"]  # Φ = Φ_min exp(-d0 (1/t - 1/t_min)): consistent tail
    p = tab["Phi_min"] * np.exp(-d0 * (1.0 / tl - 1.0 / T_MIN))
    phi[low], kap[low] = p, p * d0 / tl**2
    dkap[low] = kap[low] * (d0 / tl**2 - 2.0 / tl)
    phi[hi], kap[hi], dkap[hi] = tab["Phi1"] + 0.5 * (t[hi] ** 2 - 1.0), t[hi], 1.0
    return phi, kap, dkap


class HeatMaterial:
    """U, c, Φ, κ, dκ/dT, Δ and n_qp of one material, as functions of internal temperature.

    Parameters
    ----------
    material : fvqp.materials.Material
        With the region's overrides (:func:`fvqp.models.base.schema.case_material`): the
        case's ``Tc``, ``gap_ratio`` (or ``delta0``: the α-model gap, module docstring),
        ``N0`` (U, c, n_qp) and ``resistivity`` (κ_n = L0 T/ρ_n) replace the database's.
    units : fvqp.units.UnitSystem
    """

    def __init__(self, material, units: UnitSystem):
        self.material = material
        rho = material.resistivity
        if rho is None or not rho > 0:
            raise ValueError(f"material {material.name} has no resistivity in the database; "
                             "give resistivity in its [regions.*] table")
        sc = units.material_scales(material)
        self.rT = sc["temperature"]  # Tc_m / Tc_ref: internal temperature of the material's Tc
        #: the α model's gap scale alpha / alpha_BCS
        self.s = float(material.gap_ratio) / BCS_GAP_RATIO
        self.u_scale = sc["energy_density"]  # N0_m (k_B Tc_m)^2 in internal units
        # kappa_n(Tc_m) = L0 Tc_m / rho in internal units
        self.kn = units.to_internal(LORENZ * material.Tc / rho, "thermal_conductivity")
        self.n_scale = sc["energy_density"] / self.rT

    def _t(self, T):
        return np.maximum(np.asarray(T, dtype=float), 0.0) / self.rT

    def U(self, T):
        """Internal energy per volume, zero in the ground state."""
        return self.u_scale * _energy(self._t(T), self.s)[0]

    def c(self, T):
        """Heat capacity per volume, dU/dT of the same interpolant."""
        return self.u_scale / self.rT * _energy(self._t(T), self.s)[1]

    def phi(self, T):
        """Kirchhoff potential Φ(T) = ∫_0^T κ dT'."""
        return self.kn * self.rT * _kirchhoff(np.asarray(T) / self.rT, self.s)[0]

    def kappa(self, T):
        """BRT thermal conductivity κ_es(T) = dΦ/dT."""
        return self.kn * _kirchhoff(np.asarray(T) / self.rT, self.s)[1]

    def dkappa(self, T):
        """dκ/dT (used at faces between two materials)."""
        return self.kn / self.rT * _kirchhoff(np.asarray(T) / self.rT, self.s)[2]

    def gap(self, T):
        """The α-model gap s Δ_BCS(T) (:func:`~fvqp.spectra.gap.thermal_gap`
        ``model="alpha"``, interpolated) in internal energy units."""
        return self.s * self.rT * _bcs_gap_hat(self._t(T))

    def qp_density(self, T):
        """Thermal quasiparticle density 4N0∫ρf dE, internal units (NaN above Tc)."""
        T = np.asarray(T, dtype=float)
        n = np.asarray(thermal_qp_density(T / self.rT, self.gap(T) / self.rT, 1.0))
        return np.where(T < self.rT, self.n_scale * n, np.nan)

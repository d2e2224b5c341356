r"""Per-region parameters, boundary conditions and sources of the transport model
(:class:`fvqp.models.transport.problem.TransportProblem`), in internal units."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ...materials import Material
from ...spectra.gap import BCS_GAP_RATIO, thermal_gap
from ...units import UnitSystem
from ..base.schema import case_material

__all__ = ["RegionParams", "Boundary", "SpectralSource", "region_material", "region_params",
           "trap_phonon_density"]


@dataclass
class RegionParams:
    r"""Material parameters of one region in internal units.

    Attributes
    ----------
    qp_scale, c_ph : float
        Collision prefactors (:mod:`fvqp.collisions.batched`).
    weight : float
        :math:`w = 4N_0/N_{0,ref}` (states per unit of the reference DOS).
    diffusion : float
        Normal-state diffusion constant :math:`D_n`.
    delta0 : float
        Zero-temperature gap (self-consistent mode); 0 for a normal metal. Default (and
        of ``gap``): the weak-coupling BCS ratio :math:`\pi e^{-\gamma} = 1.7639` (units
        of :math:`k_BT_c`, :data:`fvqp.spectra.gap.BCS_GAP_RATIO`).
    gap : float
        Fixed gap (used unless self-consistent).
    tau_esc : float
        Phonon escape time (``inf``: no escape).
    phonon_diffusion : float
        Energy-independent phonon diffusion constant :math:`D_{ph}` (0: no phonon
        transport across the faces of this region's cells).
    trap : bool
        Normal-metal absorber held at the bath distribution.
    """

    qp_scale: float = 1.0
    c_ph: float = 1.0
    weight: float = 4.0
    diffusion: float = 1.0
    delta0: float = BCS_GAP_RATIO
    gap: float = BCS_GAP_RATIO
    tau_esc: float = math.inf
    phonon_diffusion: float = 0.0
    trap: bool = False

    @property
    def beta(self) -> float:
        return self.qp_scale / (2.0 * self.c_ph)


@dataclass
class Boundary:
    """QP boundary condition: ``kind`` = ``"insulating"``, ``"bath"`` (Ohmic contact to a
    normal reservoir at the bath) or ``"tunnel"`` (NIS junction: ``rate`` =
    :math:`2\\tau_0/(e^2R_TN_{0,ref}L^3)` per unit area fraction, bias :math:`eV`,
    normal-electrode temperature)."""

    kind: str
    rate: float = 0.0
    bias: float = 0.0
    temperature: float = 0.0


@dataclass
class SpectralSource:
    """Particles injected per unit time: ``profile.amount(t0, t1)`` energy split over
    owned cells by ``weights`` (sum 1 over all ranks) and over bins by a Gaussian
    spectrum (``kind`` = ``"quasiparticle"`` or ``"phonon"``)."""

    kind: str
    weights: np.ndarray
    profile: object
    energy: float
    width: float = 0.0
    spectrum: np.ndarray = field(default=None, repr=False)  # (n_owned, N or M)

    def power(self, t0: float, t1: float) -> float:
        if math.isinf(t1):
            return self.profile.steady_rate()
        return self.profile.amount(t0, t1) / (t1 - t0)


def region_material(reg, ref: str) -> Material:
    """The material of a region with the case's overrides (``Tc``,
    ``diffusion_constant``); a trap without ``material`` takes the reference material."""
    return case_material(reg if reg.get("material") else {**reg, "material": ref})


def region_params(mat: Material, reg, u: UnitSystem, t_bath_si: float, dim: int
                  ) -> RegionParams:
    r"""Internal-unit parameters of one region (material ``m``, ratio
    :math:`r = T_{c,m}/T_{c,ref}`): QP collision prefactor
    :math:`(\tau_{0,ref}/\tau_{0,m})\,r^{-3}`, phonon prefactor
    :math:`c_{ph} = \tau_{0,ref}/(\pi\Delta_{0,m}\tau^\phi_{0,m})` (:math:`\Delta_{0,m}` in
    reference units), state weight :math:`4N_{0,m}/N_{0,ref}`.

    Parameters
    ----------
    mat : fvqp.materials.Material
        The region's material (SI constants, the case's overrides applied).
    reg : Mapping
        The region's table of the internal case (``gap``, ``escape_time``, ``thickness``,
        ``phonon_diffusion_constant`` in internal units).
    u : fvqp.units.UnitSystem
    t_bath_si : float
        Bath temperature [K] (the reduced temperature :math:`T/T_{c,m}` of the BCS gap).
    dim : int
        Mesh dimension (2: the escape time per thickness applies).
    """
    s = u.scales
    rT = mat.Tc / u.Tc
    D = mat.diffusion_constant
    if (D is None or (reg.get("resistivity") and not reg.get("diffusion_constant"))) \
            and mat.resistivity:  # a region's own resistivity wins over the database D
        D = mat.diffusion_from_resistivity(mat.resistivity)
    weight = 4.0 * mat.N0 / u.N0
    d_ph = reg.get("phonon_diffusion_constant") or 0.0
    if reg.get("trap"):
        return RegionParams(weight=weight, diffusion=(D or 0.0) / s["diffusivity"],
                            delta0=0.0, gap=0.0, trap=True, phonon_diffusion=d_ph)
    delta0 = mat.gap_ratio * rT
    gap = reg["gap"] if reg.get("gap") else \
        float(thermal_gap(t_bath_si / mat.Tc, 1.0, mat.gap_ratio, "delta0")) * rT
    if reg.get("escape_time"):
        tau_esc = reg["escape_time"]
    elif dim == 2 and mat.tau_esc_per_thickness and reg.get("thickness"):
        tau_esc = mat.tau_esc_per_thickness * s["length"] / s["time"] * reg["thickness"]
    else:
        tau_esc = math.inf
    return RegionParams(qp_scale=(u.tau0 / mat.tau0) / rT**3,
                        c_ph=u.tau0 / (math.pi * delta0 * mat.tau0_phi), weight=weight,
                        diffusion=D / s["diffusivity"], delta0=delta0, gap=gap,
                        tau_esc=tau_esc, phonon_diffusion=d_ph)


def trap_phonon_density(params: list) -> None:
    """Give traps the phonon density of states (``qp_scale / 2 c_ph``) of the first
    superconducting region: a trap's phonons are held at the bath, so this only sets its
    half-cell phonon conductance (phonon diffusion into the trap)."""
    sc = [p for p in params if p is not None and not p.trap]
    for p in params:
        if p is not None and p.trap and sc:
            p.qp_scale, p.c_ph = sc[0].qp_scale, sc[0].c_ph

r"""Per-region parameters, boundary conditions and sources of the transport model
(:class:`fvqp.models.transport.problem.TransportProblem`), in internal units."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ...spectra.gap import BCS_GAP_RATIO

__all__ = ["RegionParams", "Boundary", "SpectralSource"]


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

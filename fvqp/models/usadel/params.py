r"""SI device parameters -> the model's dimensionless units (paper Sec. II, Table 1).

Energies in :math:`\Delta_0`, lengths in :math:`\xi=\sqrt{\hbar D_N/\Delta_0}` (Eq. 2),
conductances in :math:`1/R_\xi` with :math:`R_\xi=\rho_N\xi/A` (text after Eq. 6),
currents in :math:`I_0=\Delta_0/eR_\xi`, temperatures as :math:`t=k_BT/\Delta_0` (Eq. 3).
The physical constants are those of :mod:`fvqp.units`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ...units import E_CHARGE, HBAR, K_B


@dataclass(frozen=True)
class WireScales:
    """Scales of a wire with gap Δ0 [J], diffusion constant D [m²/s], resistivity ρ
    [Ω m] and cross-section A [m²]."""

    delta0: float
    diffusivity: float
    resistivity: float
    area: float

    @classmethod
    def from_resistance(cls, delta0, diffusivity, resistance, length, area) -> WireScales:
        """From the normal-state resistance R of a wire of ``length`` (Table 1 style)."""
        return cls(delta0, diffusivity, resistance * area / length, area)

    @property
    def xi(self) -> float:
        """Dirty-limit coherence length [m] (Eq. 2)."""
        return math.sqrt(HBAR * self.diffusivity / self.delta0)

    @property
    def r_xi(self) -> float:
        """Normal-state resistance of a length ξ [Ω]."""
        return self.resistivity * self.xi / self.area

    @property
    def i0(self) -> float:
        """Current unit I0 = Δ0/(e R_ξ) [A] (Eq. 6)."""
        return self.delta0 / (E_CHARGE * self.r_xi)

    def thermal_length(self, temperature: float) -> float:
        """L_T = sqrt(ħD/k_B T) [m]."""
        return math.sqrt(HBAR * self.diffusivity / (K_B * temperature))

    def t(self, temperature: float) -> float:
        return K_B * temperature / self.delta0

    def kappa(self, conductance: float) -> float:
        """κ = G R_ξ (Eq. 11)."""
        return conductance * self.r_xi

    def bias(self, volts: float) -> float:
        """eV/Δ0."""
        return E_CHARGE * volts / self.delta0

    def energy(self, joules: float) -> float:
        return joules / self.delta0

    def length(self, metres: float) -> float:
        return metres / self.xi

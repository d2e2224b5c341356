"""Localized tail states below the gap edge (Bespalov, Houzet, Meyer, Nazarov 2016).

    A. Bespalov, M. Houzet, J. S. Meyer, Yu. V. Nazarov, "How many quasiparticles can be
    in a superconductor?", Phys. Rev. Lett. 117, 117002 (2016), main text Eqs. (3)-(6).

Point-correlated gap fluctuations of strength :math:`F = a_1(\\delta\\Delta)^2/(\\Delta^2
\\xi_0^3)` produce a tail of localized states below the smeared gap edge
:math:`E_g = \\Delta - \\varepsilon_g`.  At a distance :math:`\\varepsilon` below the edge
a state has the size :math:`L(\\varepsilon) = \\xi_0[2\\Delta/(3\\varepsilon)]^{1/4}`; the
tail scale is :math:`\\varepsilon_T = F^{4/5}\\Delta`, :math:`L_T = L(\\varepsilon_T)`.
A relaxing quasiparticle stops at :math:`\\varepsilon_c`, where the number ``N`` of
overlapping deeper states (Eq. 5) drops to one; its radius is
:math:`r_c = L(\\varepsilon_c)/2` (Eq. 6).

Any consistent units may be used (energies in one unit, ``nu0`` in 1/(energy length^3),
``xi0`` in length); :func:`coherence_length` and :func:`pairs_per_coherence_volume` take SI.

Reconstruction notes (the text extraction is garbled in places):

* :math:`\\nu_T = a_2\\nu_0\\sqrt{\\varepsilon_T\\Delta}/\\varepsilon_g` (after Eq. 3), which
  makes :math:`N_T = (4/5)\\nu_T\\varepsilon_T L_T^3 = c\\,g\\,(\\varepsilon_T^3\\Delta)^{1/4}
  /\\varepsilon_g` with :math:`c = (4/5)a_2(2/3)^{3/4}/\\pi` and
  :math:`g = \\pi\\nu_0\\Delta\\xi_0^3`, the printed ":math:`N_T\\sim g\\,
  \\sqrt[4]{\\varepsilon_T^3\\Delta}/\\varepsilon_g`".
* The constants :math:`a_1 \\simeq 0.045`, :math:`a_2 \\simeq 0.79` are the decimal values
  of the main text (their closed forms in Ref. [29] are not legible in the extraction).
* ``nu0`` is the single-spin normal density of states (the paper's
  :math:`2\\times10^{10}\\,\\mathrm{eV^{-1}\\mu m^{-3}}` for Al).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq
from scipy.special import gamma as gamma_fn
from scipy.special import gammaincc

from fvqp.units import HBAR

__all__ = [
    "A1",
    "A2",
    "TailStates",
    "coherence_length",
    "pairs_per_coherence_volume",
]

#: :math:`a_1` of the fluctuation strength :math:`F` (main text, Ref. [29])
A1 = 0.045
#: :math:`a_2` of the tail density of states, Eq. (3)
A2 = 0.79


def coherence_length(diffusion_constant: float, delta: float) -> float:
    """Diffusive coherence length :math:`\\xi_0 = (\\hbar D/\\Delta)^{1/2}` [m].

    Parameters
    ----------
    diffusion_constant : float
        Normal-state diffusion constant ``D`` [m^2/s].
    delta : float
        Gap :math:`\\Delta` [J].
    """
    return float(np.sqrt(HBAR * diffusion_constant / delta))


def pairs_per_coherence_volume(nu0: float, delta: float, xi0: float) -> float:
    """Number of Cooper pairs in a cube of side :math:`\\xi_0`, :math:`g = \\pi\\nu_0\\Delta
    \\xi_0^3` (after Eq. 5).

    Parameters
    ----------
    nu0 : float
        Single-spin normal density of states [1/(J m^3)] (or any consistent unit).
    delta : float
        Gap [J].
    xi0 : float
        Coherence length [m].
    """
    return float(np.pi * nu0 * delta * xi0**3)


@dataclass(frozen=True)
class TailStates:
    """Tail of localized states, Eqs. (3)-(6).

    Parameters
    ----------
    delta : float
        Gap :math:`\\Delta`.
    eps_T : float
        Tail energy scale :math:`\\varepsilon_T = F^{4/5}\\Delta` (same unit as ``delta``).
    eps_g : float
        Smearing of the gap edge :math:`\\varepsilon_g` (:math:`\\varepsilon_T \\lesssim
        \\varepsilon_g \\lesssim \\Delta`).
    nu0 : float
        Single-spin normal density of states (1/(energy length^3)).
    xi0 : float
        Coherence length :math:`\\xi_0 = (D/\\Delta)^{1/2}`.
    """

    delta: float
    eps_T: float
    eps_g: float
    nu0: float
    xi0: float

    @classmethod
    def from_fluctuations(cls, delta: float, delta_fluct: float, eps_g: float, nu0: float,
                          xi0: float) -> TailStates:
        """Build from the fluctuation amplitude :math:`\\delta\\Delta`
        (:math:`\\langle\\langle\\Delta(r)\\Delta(r')\\rangle\\rangle = (\\delta\\Delta)^2
        \\delta(r-r')`, units energy x length^{3/2})."""
        F = A1 * delta_fluct**2 / (delta**2 * xi0**3)
        return cls(delta=delta, eps_T=F**0.8 * delta, eps_g=eps_g, nu0=nu0, xi0=xi0)

    @property
    def F(self) -> float:
        """Dimensionless fluctuation strength, :math:`F = (\\varepsilon_T/\\Delta)^{5/4}`."""
        return (self.eps_T / self.delta) ** 1.25

    @property
    def g(self) -> float:
        """:math:`g = \\pi\\nu_0\\Delta\\xi_0^3`."""
        return float(np.pi * self.nu0 * self.delta * self.xi0**3)

    def size(self, eps: np.ndarray) -> np.ndarray:
        """State size :math:`L(\\varepsilon) = \\xi_0[2\\Delta/(3\\varepsilon)]^{1/4}`."""
        return self.xi0 * (2.0 * self.delta / (3.0 * np.asarray(eps, dtype=float))) ** 0.25

    @property
    def L_T(self) -> float:
        """:math:`L_T = L(\\varepsilon_T) \\approx 0.90\\,\\xi_0/F^{1/5}`."""
        return float(self.size(self.eps_T))

    @property
    def nu_T(self) -> float:
        """Tail DOS scale :math:`\\nu_T = a_2\\nu_0\\sqrt{\\varepsilon_T\\Delta}/\\varepsilon_g`."""
        return float(A2 * self.nu0 * np.sqrt(self.eps_T * self.delta) / self.eps_g)

    def dos(self, eps: np.ndarray) -> np.ndarray:
        """Tail density of states, Eq. (3), valid at
        :math:`\\varepsilon_T \\ll \\varepsilon \\ll \\varepsilon_g`."""
        x = np.asarray(eps, dtype=float) / self.eps_T
        return self.nu_T * x**1.125 * np.exp(-(x**1.25))

    @property
    def N_T(self) -> float:
        """:math:`N_T = (4/5)\\nu_T\\varepsilon_T L_T^3` (after Eq. 5)."""
        return 0.8 * self.nu_T * self.eps_T * self.L_T**3

    def overlapping_states(self, eps: np.ndarray, exact: bool = False) -> np.ndarray:
        """Number of deeper states overlapping a state at ``eps``, Eq. (5).

        ``exact=False``: asymptotic form :math:`N_T(\\varepsilon/\\varepsilon_T)^{1/8}
        e^{-(\\varepsilon/\\varepsilon_T)^{5/4}}`; ``exact=True``: :math:`L^3(\\varepsilon)
        \\int_\\varepsilon^\\infty\\nu` with the DOS of Eq. (3) (an incomplete gamma
        function).
        """
        x = np.asarray(eps, dtype=float) / self.eps_T
        if not exact:
            return self.N_T * x**0.125 * np.exp(-(x**1.25))
        # int_x^inf t^(9/8) exp(-t^(5/4)) dt = (4/5) Gamma(17/10, x^(5/4))
        s = 1.7
        tail = 0.8 * gamma_fn(s) * gammaincc(s, x**1.25)
        return self.size(eps) ** 3 * self.nu_T * self.eps_T * tail

    def eps_c(self, exact: bool = False) -> float:
        """Energy where relaxation stops, :math:`N(\\varepsilon_c) = 1`.

        ``exact=False``: :math:`\\varepsilon_c = \\varepsilon_T(\\ln N_T)^{4/5}` (text
        before Eq. 6); ``exact=True``: root of the asymptotic Eq. (5) (with its
        :math:`(\\varepsilon/\\varepsilon_T)^{1/8}` prefactor) beyond its maximum at
        :math:`\\varepsilon = 10^{-4/5}\\varepsilon_T`.

        Raises
        ------
        ValueError
            If :math:`N_T \\le 1` (no overlapping tail: the estimate does not apply).
        """
        if self.N_T <= 1.0:
            raise ValueError(f"N_T = {self.N_T:.3g} <= 1: tail states do not overlap")
        if not exact:
            return float(self.eps_T * np.log(self.N_T) ** 0.8)
        lo = 10.0**-0.8 * self.eps_T
        hi = self.eps_T * (np.log(self.N_T) + 10.0) ** 0.8
        fun = lambda e: float(np.log(self.overlapping_states(e, exact=False)))  # noqa: E731
        return float(brentq(fun, lo, hi, xtol=1e-14 * self.eps_T))

    def r_c(self, exact: bool = False) -> float:
        """Radius of the localized quasiparticle :math:`r_c = L(\\varepsilon_c)/2` (Eq. 6)."""
        return float(self.size(self.eps_c(exact=exact)) / 2.0)

    def r_c_eq6(self) -> float:
        """Closed form Eq. (6): :math:`0.45\\,\\xi_0(\\varepsilon_T/\\Delta)^{-1/4}
        (\\ln N_T)^{-1/5}` (the prefactor is :math:`(2/3)^{1/4}/2 = 0.4518`)."""
        pre = (2.0 / 3.0) ** 0.25 / 2.0
        return float(pre * self.xi0 * (self.eps_T / self.delta) ** -0.25
                     * np.log(self.N_T) ** -0.2)

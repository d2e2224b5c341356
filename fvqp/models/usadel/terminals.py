"""Terminals of a wire network: reservoirs (Dirichlet nodes) and NIS tunnel junctions.

All quantities dimensionless: energies and biases (eV) in Δ0, temperatures in Δ0/k_B,
tunnel conductances as κ = G_T R_ξ (paper Eq. 11).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def n0(eps, t):
    """Equilibrium :math:`n_0(\\epsilon)=\\tanh(\\epsilon/2t)` (paper Eq. 3); t = 0 allowed."""
    eps = np.asarray(eps, float)
    if t <= 0:
        return np.sign(eps)
    return np.tanh(eps / (2.0 * t))


def electrode_distribution(eps, bias: float, t: float):
    """fL, fT of a normal electrode at bias V and temperature t (paper Eq. 12)."""
    a, b = n0(eps + bias, t), n0(eps - bias, t)
    return 0.5 * (a + b), 0.5 * (a - b)


def dn0_dv(eps, bias: float, t: float):
    """d/dV of (fL, fT) of Eq. 12 (for conductances by the chain rule)."""
    def d(x):
        if t <= 0:
            raise ValueError("dn0/dV at t = 0 is a delta function; use t > 0")
        return 0.5 / t / np.cosh(x / (2 * t)) ** 2
    a, b = d(eps + bias), d(eps - bias)
    return 0.5 * (a - b), 0.5 * (a + b)


@dataclass
class Reservoir:
    """A clean contact to a bulk reservoir at a network end node.

    ``kind`` is ``"normal"`` (θ = 0, fL/fT of Eq. 12 at ``bias``) or ``"superconductor"``
    (bulk θ with gap ``delta``, fL = n0, fT = 0: an S reservoir is at the potential of the
    condensate).
    """

    name: str
    node: int
    kind: str = "superconductor"
    delta: float = 1.0
    bias: float = 0.0
    temperature: float = 0.0

    def distribution(self, eps):
        if self.kind == "normal":
            return electrode_distribution(eps, self.bias, self.temperature)
        return n0(eps, self.temperature), np.zeros_like(np.asarray(eps, float))


@dataclass
class TunnelJunction:
    """An NIS tunnel junction from a normal electrode to a network node (paper Eq. 11).

    ``kappa`` = G_T R_ξ. ``bias`` and ``temperature`` are those of the electrode.
    """

    name: str
    node: int
    kappa: float
    bias: float = 0.0
    temperature: float = 0.0

    def distribution(self, eps):
        return electrode_distribution(eps, self.bias, self.temperature)

"""Terminals of a wire network: reservoirs (Dirichlet nodes) and tunnel junctions to normal
(NIS) or superconducting (SIS', :mod:`~.electrode`) electrodes.

All quantities dimensionless: energies and biases (eV) in Δ0, temperatures in Δ0/k_B,
tunnel conductances as κ = G_T R_ξ (paper Eq. 11).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...spectra.thermal_occupations import minus_dfermi_dE


def n0(eps, t):
    """Equilibrium :math:`n_0(\\epsilon)=\\tanh(\\epsilon/2t)` (paper Eq. 3); t = 0 allowed.

    :math:`n_0 = 1 - 2f(\\epsilon)` with :math:`f` the Fermi function
    (:func:`fvqp.spectra.fermi`), evaluated as the tanh: it keeps full relative precision
    near :math:`\\epsilon = 0`, where :math:`1 - 2f` cancels (:math:`f \\to 1/2`: an
    absolute error of 3e-16, measured 7e-15 relative on a 0.01 Δ0 grid at t = 0.5 and
    unbounded for a bias-shifted ε ± eV near 0), and saturates at ±1 without overflow;
    at t = 0 it is sign(ε), the same step as ``fermi``'s (½ at ε = 0).
    """
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
    def d(x):  # 0.5 / t / cosh^2(x / 2t) = 2 (-df/dE), without overflow at low t
        if t <= 0:
            raise ValueError("dn0/dV at t = 0 is a delta function; use t > 0")
        return 2.0 * minus_dfermi_dE(x, t)
    a, b = d(eps + bias), d(eps - bias)
    return 0.5 * (a - b), 0.5 * (a + b)


@dataclass
class Reservoir:
    """A clean contact to a bulk reservoir at a network end node.

    ``kind`` is ``"normal"`` (θ = 0, fL/fT of Eq. 12 at ``bias``) or ``"superconductor"``
    (bulk θ with gap ``delta``, fL = n0, fT = 0: an S reservoir is at the potential of the
    condensate). ``phase`` (rad) is the reservoir's order-parameter phase; it is used by
    the phase-biased solver (:mod:`~fvqp.models.usadel.phase`) only.
    """

    name: str
    node: int
    kind: str = "superconductor"
    delta: float = 1.0
    bias: float = 0.0
    temperature: float = 0.0
    phase: float = 0.0

    def distribution(self, eps):
        if self.kind == "normal":
            return electrode_distribution(eps, self.bias, self.temperature)
        return n0(eps, self.temperature), np.zeros_like(np.asarray(eps, float))


@dataclass
class TunnelJunction:
    """A tunnel junction from an electrode to a network node (paper Eq. 11).

    ``kappa`` = G_T R_ξ. ``bias`` and ``temperature`` are those of the electrode, whose
    distribution is Eq. 12. ``gap`` and ``gamma`` (units Δ0) are the electrode's gap Δ_e
    and Dynes broadening γ_e: 0 is the normal electrode (NIS) of the paper; Δ_e > 0 a
    superconducting electrode in the incoherent quasiparticle-tunnelling approximation
    (:mod:`~fvqp.models.usadel.electrode`).
    """

    name: str
    node: int
    kappa: float
    bias: float = 0.0
    temperature: float = 0.0
    gap: float = 0.0
    gamma: float = 0.0

    def distribution(self, eps):
        return electrode_distribution(eps, self.bias, self.temperature)


def segment_junctions(net, edges, kappa_per_length: float, name: str, bias: float = 0.0,
                      temperature: float = 0.0) -> list[TunnelJunction]:
    r"""A tunnel contact spread along the mesh edges ``edges`` (indices or boolean mask)
    with conductance per length κ' = G'_T R_ξ ξ (units 1/(R_ξ ξ)), as point junctions on the
    segment's nodes.

    In the vertex-centred scheme the distributed source :math:`\kappa' N(f^{(N)}-f)` of
    Eq. 11 integrated over a node's control volume is :math:`\kappa_i N_i(f^{(N)}-f_i)`
    with :math:`\kappa_i=\kappa'\ell_i`, :math:`\ell_i` the part of the segment in the
    control volume (half of each adjacent segment edge); Σ κ_i = κ' × segment length
    exactly. All parts carry the same ``name`` (tunnel currents are summed by name)."""
    e = np.flatnonzero(np.asarray(edges)) if np.asarray(edges).dtype == bool else \
        np.asarray(edges, dtype=int)
    if e.size == 0:
        raise ValueError(f"segment junction {name!r} has no mesh edges")
    ell = np.zeros(net.n_nodes)
    np.add.at(ell, net.edge_a[e], 0.5 * net.length[e])
    np.add.at(ell, net.edge_b[e], 0.5 * net.length[e])
    return [TunnelJunction(name, int(i), kappa_per_length * float(ell[i]), bias, temperature)
            for i in np.flatnonzero(ell > 0)]

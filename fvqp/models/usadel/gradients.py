r"""Phase gradients that carry a given supercurrent (paper Eqs. 6–7).

A supercurrent :math:`I_s` along a wire fixes the phase gradient of each of its
superconducting regions: with the depairing :math:`\zeta = \zeta_0 + D(\partial_x\phi)^2/2`
of Eq. 7 (D relative to the reference wire) the uniform-wire supercurrent of Eq. 6 is

.. math:: \frac{I_s}{I_0} = \frac{(\sigma A)}{2}\,\partial_x\phi\int j_\epsilon(\zeta)
          \,n_0(\epsilon)\,d\epsilon
          = (\sigma A)\,\frac{s(\sqrt D\,\partial_x\phi)}{\sqrt D},

:math:`s(q)` the function :func:`~.fitting.supercurrent_per_i0` of a reference wire
(σA and D relative to the reference wire, :class:`~.network.WireNetwork`). It rises,
reaches the depairing critical current and falls; the gradient of a current below the
maximum is the root on the rising branch (the stable state), found by Brent's method.
Normal regions (Δ = 0) carry no imposed gradient.

Orientation: a positive I_s is a charge current flowing along the wire coordinate (the
distance from the end with the smallest ``x_um`` of the outputs); on each edge it is
:func:`~.observables.charge_current` (mesh cell orientation) times the edge's direction
along that coordinate. Eq. 6 is written with the opposite orientation of ∂xφ, so a
positive current along an edge has ∂xφ < 0 there.
The gradient uses the region's Δ of the case (not a self-consistent Δ under injection).
"""

from __future__ import annotations

import numpy as np

from .fitting import supercurrent_per_i0


class CriticalCurrentError(ValueError):
    """The requested supercurrent exceeds the depairing critical current (``critical``,
    units I0)."""

    def __init__(self, message: str, critical: float):
        super().__init__(message)
        self.critical = critical


def gradient_for_current(i_over_i0: float, sigma_area: float, diffusion: float,
                         delta: float, gamma: float, t: float, zeta0: float = 0.0) -> float:
    """|∂xφ| (1/ξ) of a uniform wire carrying |I_s|/I0 = ``abs(i_over_i0)`` by Eq. 6,
    signed like ``i_over_i0`` (Eq. 6's own orientation)."""
    from scipy.optimize import brentq, minimize_scalar

    def cur(d):
        q = np.sqrt(diffusion) * d
        return sigma_area * float(supercurrent_per_i0([q], t, gamma, delta,
                                                      zeta0=zeta0)[0]) / np.sqrt(diffusion)

    top = minimize_scalar(lambda d: -cur(d), bounds=(0.0, 1.6 * np.sqrt(delta / diffusion)),
                          method="bounded", options={"xatol": 1e-4})
    target = abs(i_over_i0)
    if target > -top.fun:
        raise CriticalCurrentError(
            f"I_s/I0 = {target:.4g} exceeds the depairing critical current {-top.fun:.4g} "
            "of the wire (Eq. 6 with Eq. 7)", -top.fun)
    if target == 0:
        return 0.0
    d = brentq(lambda x: cur(x) - target, 0.0, top.x, xtol=1e-12, rtol=1e-10)
    return d if i_over_i0 >= 0 else -d


def edge_gradients(net, node_delta, gamma: float, t: float, i_over_i0: float,
                   zeta0: float = 0.0) -> np.ndarray:
    """Per-edge ∂xφ of every superconducting region of ``net`` for a charge supercurrent
    I_s/I0 along the mesh cell orientation (one value per region: its Δ, σA and D).

    Only for a single wire (no node where more than two wires meet: one I_s in every
    branch would break Kirchhoff's law there)."""
    if net.network_nodes().size:
        raise ValueError("a supercurrent along the wire needs a single wire (no nodes where "
                         "more than two wires meet)")
    out = np.zeros(net.n_edges)
    along = _along_wire(net)  # +1 where the cell orientation follows the wire coordinate
    nd = np.asarray(node_delta, float)
    delta_e = np.minimum(nd[net.edge_a], nd[net.edge_b])  # 0 on edges touching N parts
    keys = np.stack([net.edge_region, net.sigma_area, net.diffusion, delta_e], axis=1)
    uniq, inv = np.unique(keys, axis=0, return_inverse=True)
    for k, (_, sa, dr, dl) in enumerate(uniq):
        if dl > 0 and i_over_i0 != 0:  # minus: Eq. 6's orientation (module docstring)
            e = inv.ravel() == k
            out[e] = -along[e] * gradient_for_current(i_over_i0, sa, dr, dl, gamma, t, zeta0)
    return out


def _along_wire(net) -> np.ndarray:
    """±1 per edge: whether a → b runs along the wire coordinate, the distance along the
    wire from the end with the smallest ``arclength`` (x_um of the outputs)."""
    ends = np.flatnonzero(net.degree == 1)
    start = int(ends[np.argmin(net.arclength()[ends])]) if ends.size else 0
    s = net.distances(start)
    return np.sign(s[net.edge_b] - s[net.edge_a])

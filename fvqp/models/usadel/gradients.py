r"""Phase gradients that carry a given supercurrent (paper Eqs. 6–7).

A supercurrent :math:`I_s` along a wire fixes the phase gradient of each of its
superconducting regions: with the depairing :math:`\zeta = D(\partial_x\phi)^2/2` of
Eq. 7 (D relative to the reference wire) the uniform-wire supercurrent of Eq. 6 is

.. math:: \frac{I_s}{I_0} = \frac{(\sigma A)}{2}\,\partial_x\phi\int j_\epsilon(\zeta)
          \,n_0(\epsilon)\,d\epsilon
          = (\sigma A)\,\frac{s(\sqrt D\,\partial_x\phi)}{\sqrt D},

:math:`s(q)` the function :func:`~.fitting.supercurrent_per_i0` of a reference wire
(σA and D relative to the reference wire, :class:`~.network.WireNetwork`). It rises,
reaches the depairing critical current and falls; the gradient of a current below the
maximum is the root on the rising branch (the stable state), found by Brent's method.
Normal regions (Δ = 0) carry no imposed gradient.
"""

from __future__ import annotations

import numpy as np

from .fitting import supercurrent_per_i0


def gradient_for_current(i_over_i0: float, sigma_area: float, diffusion: float,
                         delta: float, gamma: float, t: float) -> float:
    """∂xφ (1/ξ) of a uniform wire carrying ``i_over_i0`` = I_s/I0 (either sign)."""
    from scipy.optimize import brentq, minimize_scalar

    def cur(d):
        q = np.sqrt(diffusion) * d
        return sigma_area * float(supercurrent_per_i0([q], t, gamma, delta)[0]) / \
            np.sqrt(diffusion)

    top = minimize_scalar(lambda d: -cur(d), bounds=(0.0, 1.6 * np.sqrt(delta / diffusion)),
                          method="bounded", options={"xatol": 1e-4})
    target = abs(i_over_i0)
    if target > -top.fun:
        raise ValueError(f"I_s/I0 = {target:.4g} exceeds the depairing critical current "
                         f"{-top.fun:.4g} of the wire (Eq. 6 with Eq. 7)")
    if target == 0:
        return 0.0
    d = brentq(lambda x: cur(x) - target, 0.0, top.x, xtol=1e-12, rtol=1e-10)
    return d if i_over_i0 >= 0 else -d


def edge_gradients(net, node_delta, gamma: float, t: float, i_over_i0: float) -> np.ndarray:
    """Per-edge ∂xφ of every superconducting region of ``net`` for a supercurrent I_s/I0
    along the mesh cell orientation (one value per region: its Δ, σA and D)."""
    out = np.zeros(net.n_edges)
    nd = np.asarray(node_delta, float)
    delta_e = np.minimum(nd[net.edge_a], nd[net.edge_b])  # 0 on edges touching N parts
    keys = np.stack([net.edge_region, net.sigma_area, net.diffusion, delta_e], axis=1)
    uniq, inv = np.unique(keys, axis=0, return_inverse=True)
    for k, (_, sa, dr, dl) in enumerate(uniq):
        if dl > 0 and i_over_i0 != 0:
            out[inv.ravel() == k] = gradient_for_current(i_over_i0, sa, dr, dl, gamma, t)
    return out

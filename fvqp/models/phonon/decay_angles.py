r"""Directions of the anharmonic decay products (``[phonons] decay_angles``).

In Tamura's isotropic model (linear dispersion per branch, Phys. Rev. B 31, 2574 (1985))
an L phonon of wave vector :math:`\mathbf k` (:math:`k = \Omega/v_L`) splits into two
phonons with :math:`\Omega = \Omega_1 + \Omega_2` and :math:`\mathbf k = \mathbf k_1 +
\mathbf k_2`, :math:`k_i = \Omega_i/v_i`. The three lengths fix the angle between a
product and its parent,

.. math:: \cos\theta_1 = \frac{k^2 + k_1^2 - k_2^2}{2kk_1},

and isotropy leaves the product's azimuth about :math:`\mathbf k` uniform: the product
lies on a cone of half-angle :math:`\theta_1` around the parent's direction. With
:math:`\delta = v_L/v_T` and :math:`x` the product's share of :math:`\Omega`
(lengths in units of :math:`k`):

* L product of L → L + T: :math:`k_1 = x`, :math:`k_2 = \delta(1 - x)`;
* T product of L → L + T: :math:`k_1 = \delta x`, :math:`k_2 = 1 - x`;
* T product of L → T + T: :math:`k_1 = \delta x`, :math:`k_2 = \delta(1 - x)`.

:math:`|\cos\theta_1| \le 1` is exactly the kinematic support of the channel's energy
spectrum (:mod:`.branches`): the products of a decay at the support's end are collinear.
The L + T channel's L product goes forward (:math:`\theta_1 \to 0` as :math:`x \to 1`);
for Si (:math:`\delta = 1.56`) a T + T product at :math:`x = 1/2` leaves at
:math:`\theta_1 = 50°`, so the decays keep a forward memory of the parent's direction
that isotropic emission discards.

**On discrete ordinates.** The cone of a parent in ordinate :math:`k'` is sampled at
:data:`AZIMUTHS` azimuths (2D quadratures: the two in-plane directions at
:math:`\pm\theta_1`), each sample given to the nearest ordinate: a column of
probabilities :math:`A_{kk'}`. The joint matrix :math:`P_{kk'} = A_{kk'}w_{k'}`
(column sums :math:`w_{k'}`) is made symmetric, :math:`\tfrac12(P + P^T)`, and scaled
symmetrically, :math:`D P D`, until its row and column sums are :math:`w` (Sinkhorn's
balancing, to :data:`BALANCE_TOL`). The kernel :math:`M_{kk'} = P_{kk'}/(w_kw_{k'})`
then has

.. math:: \sum_kw_kM_{kk'} = 1,\qquad \sum_{k'}w_{k'}M_{kk'} = 1,

the first: every decay gives its phonons in full (number and energy exact), the second:
an isotropic excess gives isotropic products (exact). Kernels are tabulated at
:data:`COS_NODES` cosines on [-1, 1] and interpolated linearly in :math:`\cos\theta_1`
(a convex mixture keeps both sums). The mean direction :math:`\sum_kw_kM_{kk'}
\boldsymbol\Omega_k` approximates :math:`\cos\theta_1\boldsymbol\Omega_{k'}` to the
resolution of the quadrature (tests/test_phonon_decay_angles.py gives the figures).

Each (product bin, parent bin) pair collects its channels' contributions over the
Gauss nodes of :func:`.branches.pair_nodes` (the spectrum within the pair's energy
interval), so its kernel is the spectrum-weighted mixture of the cones of every product
energy the bin holds. The decay gain of bin :math:`q` in cell :math:`c`, ordinate
:math:`k`, is then

.. math:: V g_{j'}\gamma^A_{j'}\,p_{qj'}\sum_{k'}M^{(qj')}_{kk'}w_{k'}
    (n_{j'k'} - n_{B,j'})

instead of the isotropic :math:`Vg_{j'}\gamma^A_{j'}p_{qj'}(\bar n_{j'} - n_{B,j'})`
(:meth:`.problem.PhononProblem.decay_gain`).
"""

from __future__ import annotations

import numpy as np

from ...ordinates import Quadrature
from .branches import lt_support, pair_nodes, tt_support

__all__ = ["ANGLES", "AZIMUTHS", "BALANCE_TOL", "COS_NODES", "ConeTable", "cone_cosine",
           "cone_kernel", "product_kernels"]

#: the values of ``[phonons] decay_angles``
ANGLES = ("kinematic", "isotropic")
#: azimuths sampled on each cone (3D quadratures)
AZIMUTHS = 256
#: cosines of the tabulated cone kernels, uniform on [-1, 1]
COS_NODES = 129
#: relative tolerance of the balanced row and column sums
BALANCE_TOL = 1e-14


def cone_cosine(product: str, x, delta: float) -> np.ndarray:
    r""":math:`\cos\theta_1` between a product of energy fraction ``x`` and its parent L
    phonon (module docstring), clipped to [-1, 1] (nodes at the support's ends).

    Parameters
    ----------
    product : {"lt_l", "lt_t", "tt"}
        The L product of L → L + T, its T product, or a T product of L → T + T.
    x : array_like
        The product's share of the parent's energy, in (0, 1).
    delta : float
        :math:`v_L/v_T` of the medium.
    """
    x = np.asarray(x, dtype=float)
    if product == "lt_t":    # k1 = delta x, k2 = 1 - x, divided through by x: 1/delta at 0
        c = (2.0 + (delta * delta - 1.0) * x) / (2.0 * delta)
    else:
        k1, k2 = {"lt_l": (x, delta * (1.0 - x)), "tt": (delta * x, delta * (1.0 - x))}[product]
        c = (1.0 + k1 * k1 - k2 * k2) / (2.0 * k1)
    return np.clip(c, -1.0, 1.0)


def _frames(quad: Quadrature) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors orthogonal to every ordinate and to each other (2D: the in-plane
    normal and zero)."""
    om = quad.omega
    if quad.dim == 2:
        return np.stack([-om[:, 1], om[:, 0], np.zeros(len(om))], axis=1), np.zeros_like(om)
    ref = np.where(np.abs(om[:, 2:3]) < 0.9, [[0.0, 0.0, 1.0]], [[1.0, 0.0, 0.0]])
    e1 = np.cross(om, ref)
    e1 /= np.linalg.norm(e1, axis=1, keepdims=True)
    return e1, np.cross(om, e1)


def _balanced(P: np.ndarray, w: np.ndarray) -> np.ndarray:
    r"""The symmetric :math:`DSD` with row (and column) sums ``w``, :math:`S =
    \tfrac12(P + P^T)` (Sinkhorn's balancing, symmetric form :math:`d \leftarrow
    \sqrt{d\,w/(Sd)}`); raises if it does not reach :data:`BALANCE_TOL`."""
    S = 0.5 * (P + P.T)
    d = np.ones(len(w))
    for _ in range(20000):
        r = d * (S @ d)
        if np.max(np.abs(r - w) / w) < BALANCE_TOL:
            return d[:, None] * S * d[None, :]
        d = np.sqrt(d * w / (S @ d))
    raise RuntimeError("the decay-angle kernel could not be balanced on this quadrature "
                       f"(row sums off by {np.max(np.abs(r - w) / w):.1e}); choose more "
                       "[angles] azimuths or set [phonons] decay_angles = \"isotropic\"")


def cone_kernel(quad: Quadrature, cos: float, azimuths: int = AZIMUTHS) -> np.ndarray:
    r"""The kernel :math:`M_{kk'}` (K, K) of emission on the cone of half-angle
    :math:`\arccos(\cos)` around each ordinate :math:`k'` (module docstring):
    non-negative, :math:`\sum_kw_kM_{kk'} = \sum_{k'}w_{k'}M_{kk'} = 1`,
    :math:`M = M^T`."""
    om, w = quad.omega, quad.weights
    K = len(w)
    s = np.sqrt(max(0.0, 1.0 - cos * cos))
    e1, e2 = _frames(quad)
    phi = np.array([0.0, np.pi]) if quad.dim == 2 else \
        (np.arange(azimuths) + 0.5) * 2.0 * np.pi / azimuths
    d = (cos * om[:, None, :] + s * (np.cos(phi)[None, :, None] * e1[:, None, :]
                                     + np.sin(phi)[None, :, None] * e2[:, None, :]))
    near = np.argmax(d @ om.T, axis=-1)                              # (K', samples)
    A = np.zeros((K, K))
    np.add.at(A, (near.ravel(), np.repeat(np.arange(K), len(phi))), 1.0 / len(phi))
    return _balanced(A * w[None, :], w) / np.outer(w, w)


class ConeTable:
    """Cone kernels of one quadrature at :data:`COS_NODES` cosines, mixed linearly in
    :math:`\\cos\\theta_1` (:meth:`weights`, :meth:`mix`)."""

    def __init__(self, quad: Quadrature, nodes: int = COS_NODES):
        self.cos = np.linspace(-1.0, 1.0, nodes)
        self.kernels = np.stack([cone_kernel(quad, c) for c in self.cos])

    def weights(self, cos: np.ndarray, weight: np.ndarray) -> np.ndarray:
        """Weights over the tabulated cosines (nodes,) of a mixture of cones at ``cos``
        with weights ``weight`` (linear interpolation; the total is ``weight.sum()``)."""
        cos, weight = np.ravel(cos), np.ravel(weight)
        t = (cos + 1.0) / (self.cos[1] - self.cos[0])
        lo = np.clip(np.floor(t).astype(int), 0, len(self.cos) - 2)
        f = t - lo
        out = np.zeros(len(self.cos))
        np.add.at(out, lo, weight * (1.0 - f))
        np.add.at(out, lo + 1, weight * f)
        return out

    def mix(self, a: np.ndarray) -> np.ndarray:
        """Kernels (Q, K, K) of the normalised mixtures of rows ``a`` (Q, nodes)."""
        a = a / a.sum(axis=1, keepdims=True)
        return np.einsum("qm,mkl->qkl", a, self.kernels)


def product_kernels(table: ConeTable, ne: int, delta: float, tt_fraction: float,
                    lt_spectrum, tt_spectrum) -> dict:
    r"""Per decaying L bin :math:`j' = 1..ne-1`: ``(bins, phonons, kernels)`` — the
    product bins :math:`q` (Q,) of the stacked L (``q < ne``) and T (``q \ge ne``) bins,
    the phonons each receives per decay (Q,; the column of
    :func:`.branches.decay_products` with the kinematic pair weights) and each one's
    kernel (Q, K, K): the spectrum-weighted mixture of the cones of its channels' products
    (module docstring). ``lt_spectrum``, ``tt_spectrum``: callables of the energy
    fraction :math:`x` (:func:`.branches.lt_spectrum`, :func:`.branches.tt_spectrum`
    with the medium's constants); ``tt_fraction``: :math:`f_{TT}`."""
    out = {}
    for j in range(1, ne):
        acc: dict[int, np.ndarray] = {}

        def add(q: int, cos: np.ndarray, weight: np.ndarray, acc=acc) -> None:
            if weight.sum() > 0:
                acc[q] = acc.get(q, 0.0) + table.weights(cos, weight)

        x, wl = pair_nodes(j, lt_spectrum, lt_support(delta))     # x: the L product's
        wl = (1.0 - tt_fraction) * wl
        for i in range(j):                                        # pair i + 1
            add(i, cone_cosine("lt_l", x[i], delta), wl[i])               # L in bin i
            add(ne + j - 1 - i, cone_cosine("lt_t", 1.0 - x[i], delta), wl[i])   # T
        if tt_fraction > 0:
            x, wt = pair_nodes(j, tt_spectrum, tt_support(delta))
            wt = tt_fraction * wt
            for i in range(j):
                add(ne + i, cone_cosine("tt", x[i], delta), wt[i])
                add(ne + j - 1 - i, cone_cosine("tt", 1.0 - x[i], delta), wt[i])
        bins = np.array(sorted(acc))
        a = np.stack([acc[q] for q in bins])
        out[j] = (bins, a.sum(axis=1), table.mix(a))
    return out

r"""Interface faces with an angle-dependent transmission (acoustic mismatch).

:func:`fvqp.ordinates.streaming.interface_matrix` transmits the same fraction
:math:`T_{ab}` of every ordinate. Here each side :math:`s` has its own transmission
:math:`T_s(\mu)` of an ordinate leaving it at :math:`\mu = |\Omega_k\cdot n|` (e.g. the
acoustic-mismatch law with Snell's refraction), and the face (``docs/theory_phonon.md``,
"Interfaces"):

* reflects :math:`1 - T_a(\mu_r)` of the flux :math:`G_a w_r|g_r| f_r` of an ordinate
  :math:`r` leaving side :math:`a` — ``specular``: into its mirror ordinate;
  ``diffuse``: re-emitted over the ordinates :math:`t` entering :math:`a` in proportion to
  :math:`w_t|g_t|(1 - T_a(\mu_t))`;
* transmits :math:`T_a(\mu_r)` of it into :math:`b`, re-emitted over the ordinates
  :math:`k` entering :math:`b` in proportion to :math:`w_k|g_k|T_b(\mu_k)` — the angular
  distribution that refraction gives for an isotropic incident field (reciprocity).

Every face conserves the transported quantity exactly (quadrature-weighted column sums
vanish) for any :math:`T`. An isotropic equal occupation on both sides is stationary
exactly when the *reciprocity condition* holds on the quadrature,

.. math::
    G_a\sum_{r\,\mathrm{out}\,a} w_r|g_r|T_a(\mu_r) = G_b\sum_{k\,\mathrm{out}\,b}
    w_k|g_k|T_b(\mu_k),

(``diffuse`` reflection on any face; ``specular`` where the mirror map is exact) — the
caller scales :math:`T_a, T_b` so that it holds (:func:`reciprocal_scaling`).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .quadrature import GRAZING
from .streaming import InterfaceFaces, owned_csr

__all__ = ["REFLECTIONS", "angular_interface_matrix", "reciprocal_scaling"]

#: how the reflected part is sent back
REFLECTIONS = ("specular", "diffuse")


def reciprocal_scaling(itf: InterfaceFaces, w: np.ndarray, ga: np.ndarray, gb: np.ndarray,
                       ta: np.ndarray, tb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""Transmissions scaled to the common value of the two sides' transmitted fluxes.

    With :math:`S_s = G_s\sum w|g|T_s` over the ordinates leaving side :math:`s`, both
    sides are scaled by :math:`\bar S/S_s`, :math:`\bar S = \min(S_a, S_b)`, so the
    reciprocity condition of the module docstring holds to round-off and no transmission
    exceeds its unscaled value (a :math:`T > 1` would make the reflected part negative);
    the factors tend to 1 as the quadrature resolves :math:`T(\mu)` (they are reported by
    the caller).

    Parameters
    ----------
    itf : InterfaceFaces
    w : ndarray, shape (K,)
    ga, gb : ndarray, shape (F,)
        Flux per unit occupation and per unit :math:`|g|` on each side.
    ta, tb : ndarray, shape (F, K)
        Transmission of each ordinate when it leaves ``a`` (``b``), by :math:`|\mu|`.

    Returns
    -------
    ta, tb : ndarray, shape (F, K)
    """
    out_a, out_b = itf.g > 0, itf.g < 0
    sa = ga * np.sum(np.where(out_a, w * np.abs(itf.g) * ta, 0.0), axis=1)
    sb = gb * np.sum(np.where(out_b, w * np.abs(itf.g) * tb, 0.0), axis=1)
    s = np.minimum(sa, sb)
    fa = np.divide(s, sa, out=np.zeros_like(s), where=sa > 0)
    fb = np.divide(s, sb, out=np.zeros_like(s), where=sb > 0)
    return ta * fa[:, None], tb * fb[:, None]


def angular_interface_matrix(itf: InterfaceFaces, w: np.ndarray, n_own: int, n_local: int,
                             ga: np.ndarray, gb: np.ndarray, ta: np.ndarray, tb: np.ndarray,
                             reflection: str = "specular") -> sp.csr_matrix:
    r"""Operator of the interface faces (owned rows, unknowns ``c * (K+1) + k``).

    Parameters
    ----------
    itf : InterfaceFaces
        From :func:`fvqp.ordinates.build_streaming` with ``interface=``.
    w : ndarray, shape (K,)
        Quadrature weights.
    n_own, n_local : int
    ga, gb : ndarray, shape (F,)
        Flux speed per unit occupation of the two sides.
    ta, tb : ndarray, shape (F, K)
        :math:`T_a(|\mu_k|)`, :math:`T_b(|\mu_k|)` for every ordinate (only the entries of
        ordinates leaving, resp. entering, a side are used).
    reflection : str
        ``specular`` or ``diffuse`` (module docstring).
    """
    if reflection not in REFLECTIONS:
        raise ValueError(f"unknown reflection {reflection!r} (expected {REFLECTIONS})")
    B = len(w) + 1
    rows, cols, vals = [], [], []

    def add(r, c, v, m):
        rows.append(r[m])
        cols.append(c[m])
        vals.append(v[m])

    aw = itf.aw[:, None]
    for src, dst, g, gs, ts, td, mirror in (
            (itf.a, itf.b, itf.g, ga, ta, tb, itf.mirror_a),
            (itf.b, itf.a, -itf.g, gb, tb, ta, itf.mirror_b)):
        out = g > GRAZING * aw        # leaving src = entering dst
        inn = g < -GRAZING * aw       # entering src
        f_, r_ = np.nonzero(out)
        flux = g[f_, r_] * gs[f_]     # per unit occupation and weight
        col = src[f_] * B + r_
        own_s = src[f_] < n_own
        add(col, col, flux, own_s)    # outflow of src
        # reflection
        refl = flux * (1.0 - ts[f_, r_])
        if reflection == "specular":
            tk = mirror[f_, r_]
            add(src[f_] * B + tk, col, -refl * w[r_] / w[tk], own_s)
        else:
            shape = np.where(inn, -g * (1.0 - ts), 0.0)                 # |g_t|(1 - T_s)
            den = np.sum(w * shape, axis=1)
            f3, t3, r3 = np.nonzero(inn[:, :, None] & out[:, None, :])
            v = -shape[f3, t3] * w[r3] * g[f3, r3] * gs[f3] * (1.0 - ts[f3, r3])
            v = np.divide(v, den[f3], out=np.zeros_like(v), where=den[f3] > 0)
            add(src[f3] * B + t3, src[f3] * B + r3, v, src[f3] < n_own)
        # transmission, re-emitted into dst with the shape w_k |g_k| T_dst(mu_k)
        shape = np.where(out, g * td, 0.0)
        den = np.sum(w * shape, axis=1)
        f2, k2, r2 = np.nonzero(out[:, :, None] & out[:, None, :])
        v = -shape[f2, k2] * w[r2] * g[f2, r2] * gs[f2] * ts[f2, r2]
        v = np.divide(v, den[f2], out=np.zeros_like(v), where=den[f2] > 0)
        add(dst[f2] * B + k2, src[f2] * B + r2, v, dst[f2] < n_own)
    return owned_csr(rows, cols, vals, n_own * B, n_local * B)

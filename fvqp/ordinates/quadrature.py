r"""Angular quadratures for discrete ordinates, and their reflection maps.

A quadrature is a set of unit directions :math:`\Omega_k` with positive weights
:math:`w_k`, :math:`\sum_k w_k = 1`, so that the *angle average* of a direction-dependent
occupation is :math:`\bar f = \sum_k w_k f_k` (Lewis & Miller 1984, Ch. 4).

* 2D films (:func:`circle`): ``K`` in-plane directions at uniform azimuths
  :math:`\varphi_k = (k + 1/2)\,2\pi/K`, :math:`w_k = 1/K` — the trapezoidal rule on the
  circle, exact for trigonometric polynomials of degree :math:`< K`. The half-step offset
  keeps every direction off axis-aligned walls (no grazing ordinate) when ``K`` is a
  multiple of 4.
* 3D (:func:`sphere`): the product of ``n_polar`` Gauss–Legendre nodes in
  :math:`\mu = \cos\theta` and ``n_azimuth`` uniform azimuths,
  :math:`w = w^{GL}_i/(2 n_\varphi) > 0`; exact for spherical harmonics of degree
  :math:`\le \min(2n_\mu - 1, n_\varphi - 1)`.

Reflection (:meth:`Quadrature.mirror_targets`): an outgoing ordinate :math:`r`
(:math:`\Omega_r\cdot n > 0`) is sent to the incoming ordinate nearest to its mirror
image :math:`\Omega_r - 2(\Omega_r\cdot n)\,n`. The *particle flux* of :math:`r` is
delivered there, so reflection conserves particles exactly on any wall; on walls whose
mirror images are ordinates (2D: walls at angles that are multiples of :math:`\pi/K`,
among them axis-aligned walls for ``K`` a multiple of 4; 3D: walls normal to x, y or z
for even ``n_azimuth`` multiples of 4) the map is a bijection with equal weights and
equal :math:`|\Omega\cdot n|`, i.e. exact specular reflection.

References
----------
E. E. Lewis and W. F. Miller, *Computational Methods of Neutron Transport* (Wiley, 1984).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Quadrature", "circle", "sphere"]

#: |Omega . n| below this counts as grazing (no flux through the face)
GRAZING = 1e-12


@dataclass(frozen=True)
class Quadrature:
    """Directions ``omega`` (K, 3) and weights ``weights`` (K,) summing to one."""

    omega: np.ndarray
    weights: np.ndarray
    dim: int

    @property
    def n(self) -> int:
        return int(self.weights.size)

    @property
    def diffusion_factor(self) -> float:
        r""":math:`\sum_k w_k \Omega_{k,x}^2` = 1/2 (circle) or 1/3 (sphere): the
        diffusion constant is :math:`D = v\ell\,\sum_k w_k\Omega_{k,x}^2`."""
        return float(np.sum(self.weights * self.omega[:, 0] ** 2))

    def mirror_targets(self, normals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Incoming ordinate receiving each outgoing ordinate on walls with ``normals``.

        Parameters
        ----------
        normals : ndarray, shape (F, 3)
            Outward unit normals.

        Returns
        -------
        target : ndarray of int, shape (F, K)
            For outgoing ``r`` (``Omega_r . n > 0``) the incoming ordinate nearest to the
            mirror image of ``Omega_r``; -1 for ordinates that are not outgoing.
        exact : ndarray of bool, shape (F,)
            The map is exact specular reflection on that wall (module docstring).
        """
        n = np.asarray(normals, dtype=float)
        mu = n @ self.omega.T  # (F, K)
        mirror = self.omega[None, :, :] - 2.0 * mu[:, :, None] * n[:, None, :]
        score = np.einsum("fkd,jd->fkj", mirror, self.omega)  # cos angle(mirror_k, Omega_j)
        score = np.where((mu < -GRAZING)[:, None, :], score, -np.inf)
        target = np.argmax(score, axis=2)
        out = mu > GRAZING
        target = np.where(out, target, -1)
        best = np.take_along_axis(score, np.maximum(target, 0)[:, :, None], axis=2)[..., 0]
        hit = np.where(out, best > 1.0 - 1e-10, True)
        cnt = np.zeros(mu.shape, dtype=int)
        rows = np.repeat(np.arange(len(n)), self.n)
        np.add.at(cnt, (rows[out.ravel()], target.ravel()[out.ravel()]), 1)
        bijective = np.all(cnt == (mu < -GRAZING), axis=1)
        exact = hit.all(axis=1) & bijective
        return target, exact


def circle(n: int) -> Quadrature:
    """``n`` uniform in-plane azimuths offset by half a step (module docstring)."""
    if n < 2:
        raise ValueError("need at least 2 directions")
    phi = (np.arange(n) + 0.5) * 2.0 * np.pi / n
    om = np.stack([np.cos(phi), np.sin(phi), np.zeros(n)], axis=1)
    return Quadrature(om, np.full(n, 1.0 / n), 2)


def sphere(n_polar: int, n_azimuth: int) -> Quadrature:
    """Product Gauss–Legendre (``n_polar`` in cos theta) x uniform azimuth quadrature."""
    if n_polar < 1 or n_azimuth < 2:
        raise ValueError("need n_polar >= 1 and n_azimuth >= 2")
    mu, wmu = np.polynomial.legendre.leggauss(n_polar)
    phi = (np.arange(n_azimuth) + 0.5) * 2.0 * np.pi / n_azimuth
    M, P = np.meshgrid(mu, phi, indexing="ij")
    s = np.sqrt(1.0 - M**2)
    om = np.stack([s * np.cos(P), s * np.sin(P), M], axis=-1).reshape(-1, 3)
    w = (wmu[:, None] / (2.0 * n_azimuth) * np.ones((1, n_azimuth))).ravel()
    return Quadrature(om, w, 3)

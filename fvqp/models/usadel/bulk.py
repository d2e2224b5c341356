r"""Uniform (bulk) solution of the retarded Usadel equation, paper Eq. 1.

In the θ-parametrisation :math:`\mathcal G=\cos\theta`, :math:`\mathcal F=\sin\theta`,
Eq. 1 reads

.. math::  i\tilde\epsilon\sin\theta + \Delta\cos\theta - \zeta\sin\theta\cos\theta = 0,
           \qquad \tilde\epsilon = \epsilon + i\Gamma ,

(energies in :math:`\Delta_0`). For ζ = 0 the solution is the Dynes form
:math:`\mathcal G=-i\tilde\epsilon/\sqrt{\Delta^2-\tilde\epsilon^2}`,
:math:`\mathcal F=\Delta/\sqrt{\Delta^2-\tilde\epsilon^2}` (principal root, Re G > 0). With
depairing (Abrikosov–Gor'kov) the physical root is followed by homotopy in the broadening:
start from a broadening Γ+1 where the root is unique and close to the Dynes form, and
lower it geometrically to Γ with a vectorised Newton step at every stage.
"""

from __future__ import annotations

import numpy as np


def dynes_theta(eps, delta, gamma) -> np.ndarray:
    """θ of the Dynes/BCS solution (ζ = 0), vectorised; θ = -i log(G + iF)."""
    # a 1e-14 floor on the broadening keeps ε = Δ, Γ = 0 finite (no effect otherwise)
    et = np.asarray(eps, dtype=complex) + 1j * np.maximum(np.asarray(gamma, float), 1e-14)
    s = np.sqrt(np.asarray(delta, dtype=complex) ** 2 - et**2)
    G = -1j * et / s
    F = delta / s
    return -1j * np.log(G + 1j * F)


def _residual(th, et, delta, zeta):
    s, c = np.sin(th), np.cos(th)
    r = 1j * et * s + delta * c - zeta * s * c
    dr = 1j * et * c - delta * s - zeta * np.cos(2 * th)
    return r, dr


def bulk_theta(eps, delta=1.0, gamma=0.0, zeta=0.0, stages: int = 40,
               tol: float = 1e-13, maxit: int = 50) -> np.ndarray:
    """θ(ε) of a uniform superconductor with Dynes Γ and depairing ζ (Eq. 1).

    Parameters
    ----------
    eps : array_like
        Energies (units Δ0); ``delta``, ``gamma``, ``zeta`` broadcast against it.

    Returns
    -------
    ndarray of complex
        θ with Re cos θ ≥ 0 (positive density of states).
    """
    eps, delta, gamma, zeta = np.broadcast_arrays(
        np.asarray(eps, float), np.asarray(delta, float), np.asarray(gamma, float),
        np.asarray(zeta, float))
    if not np.any(zeta):
        return dynes_theta(eps, delta, gamma)
    # solve each distinct (ε, Δ, Γ, ζ) once (wires are mostly uniform)
    keys = np.stack([eps.ravel(), delta.ravel(), gamma.ravel(), zeta.ravel()], axis=1)
    uniq, inv = np.unique(keys, axis=0, return_inverse=True)
    e, d, g0, z = uniq.T
    th = dynes_theta(e, d, g0 + 1.0 + z)
    for k in range(stages + 1):
        last = k == stages
        et = e + 1j * (g0 + (0.0 if last else (1.0 + z) * 0.7**k))
        for _ in range(maxit if last else 3):
            r, dr = _residual(th, et, d, z)
            step = r / dr
            th = th - step
            if np.max(np.abs(step)) < tol:
                break
    return th[inv.ravel()].reshape(eps.shape)


def bulk_gap_edge(delta: float, zeta: float) -> float:
    """Abrikosov–Gor'kov spectral gap :math:`\\epsilon_g=\\Delta(1-(\\zeta/\\Delta)^{2/3})^{3/2}`
    (zero for ζ ≥ Δ, the gapless regime)."""
    r = zeta / delta
    return float(delta * max(1.0 - r ** (2.0 / 3.0), 0.0) ** 1.5)

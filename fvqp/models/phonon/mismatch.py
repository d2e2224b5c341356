r"""Phonon transmission across interfaces: acoustic and diffuse mismatch.

One effective acoustic branch per medium (velocity :math:`v`, impedance
:math:`Z = \varrho v`). Acoustic mismatch (Little 1959; Swartz & Pohl, Rev. Mod. Phys.
61, 605 (1989), Eq. 3 with one mode): a phonon leaving medium :math:`a` at
:math:`\mu_a = \cos\theta_a` is refracted by Snell's law
:math:`\sin\theta_b/v_b = \sin\theta_a/v_a` and transmits the energy fraction

.. math::
    T_{ab}(\mu_a) = \frac{4Z_aZ_b\,\mu_a\mu_b}{(Z_b\mu_a + Z_a\mu_b)^2},\qquad
    \mu_b = \sqrt{1 - (v_b/v_a)^2(1-\mu_a^2)},

zero beyond the critical angle (:math:`(v_b/v_a)^2(1-\mu_a^2) > 1`). At normal incidence
:math:`T = 4Z_aZ_b/(Z_a+Z_b)^2`. :math:`T_{ab}(\mu_a) = T_{ba}(\mu_b)` for corresponding
angles and :math:`\mu_a d\mu_a/v_a^2 = \mu_b d\mu_b/v_b^2`, so the transmitted fluxes of two
media at one temperature balance (reciprocity, ``docs/theory_phonon.md``). The
hemispherical (isotropic-incidence) energy transmission in 3D is

.. math:: \tau_{ab} = 2\int_0^1 T_{ab}(\mu)\,\mu\,d\mu

(:func:`amm_average`; in 2D, in-plane directions: :math:`\int_0^{\pi/2}T(\cos\varphi)
\cos\varphi\,d\varphi`). Diffuse mismatch (Swartz & Pohl Eq. 20 for one branch):
:math:`\tau_{ab} = G_b/(G_a + G_b)` with :math:`G \propto 1/v^2` the phonon flux per unit
occupation (:func:`dmm_transmission`).
"""

from __future__ import annotations

import numpy as np
from scipy.integrate import quad

__all__ = ["amm_average", "amm_transmission", "dmm_transmission", "film_escape_time"]


def amm_transmission(mu, z_a: float, z_b: float, v_a: float, v_b: float) -> np.ndarray:
    r"""Acoustic-mismatch energy transmission :math:`T_{ab}(\mu_a)` (module docstring).

    Parameters
    ----------
    mu : array_like
        :math:`|\cos\theta_a|` of the incident phonon in medium ``a``.
    z_a, z_b : float
        Acoustic impedances :math:`\varrho v` (any common unit).
    v_a, v_b : float
        Sound velocities (any common unit).
    """
    mu = np.abs(np.asarray(mu, dtype=float))
    s2 = (v_b / v_a) ** 2 * (1.0 - mu**2)
    mu_b = np.sqrt(np.clip(1.0 - s2, 0.0, None))
    den = (z_b * mu + z_a * mu_b) ** 2
    t = np.divide(4.0 * z_a * z_b * mu * mu_b, den, out=np.zeros_like(mu), where=den > 0)
    return np.where(s2 < 1.0, t, 0.0)


def amm_average(z_a: float, z_b: float, v_a: float, v_b: float, dim: int = 3) -> float:
    r"""Isotropic-incidence energy transmission :math:`\tau_{ab}` (module docstring),
    by adaptive quadrature with the critical angle as a break point."""
    pts = []
    if v_b > v_a:
        pts = [float(np.sqrt(1.0 - (v_a / v_b) ** 2))]
    if dim == 3:
        val, _ = quad(lambda m: 2.0 * m * float(amm_transmission(m, z_a, z_b, v_a, v_b)),
                      0.0, 1.0, points=pts or None, epsabs=0, epsrel=1e-13, limit=200)
        return val
    pts_phi = [float(np.arccos(p)) for p in pts]
    val, _ = quad(lambda p: np.cos(p) * float(amm_transmission(np.cos(p), z_a, z_b, v_a,
                                                                v_b)),
                  0.0, np.pi / 2, points=pts_phi or None, epsabs=0, epsrel=1e-13, limit=200)
    return val


def dmm_transmission(g_a, g_b):
    r"""Diffuse-mismatch transmission :math:`G_b/(G_a+G_b)` from side ``a`` (reciprocal:
    :math:`G_a\tau_{ab} = G_b\tau_{ba}`)."""
    return g_b / (g_a + g_b)


def film_escape_time(film, substrate, thickness: float, model: str = "amm") -> float:
    r"""Escape time :math:`\tau_l` [s] of phonons from an isotropic film into a substrate
    that does not return them: :math:`\tau_l = 4d/(v_f\bar\tau_{fs})` (3D), the film's
    storage :math:`g_fd` over the isotropic flux :math:`g_fv_f\bar\tau_{fs}/4` per area.

    Parameters
    ----------
    film, substrate : fvqp.materials.PhononMedium
    thickness : float
        Film thickness [m].
    model : str
        ``amm`` (:func:`amm_average`), ``dmm`` (:func:`dmm_transmission` with
        :math:`G\propto1/v_D^2`) or ``amm_modes`` (L and T branches with mode conversion,
        :func:`fvqp.models.phonon.modes.branch_average`: each branch :math:`\beta` escapes
        into both substrate branches with :math:`\bar\tau_\beta = \tau_{\beta\to L} +
        \tau_{\beta\to T}`, and :math:`\tau_l = 4d\sum_\beta g_\beta/\sum_\beta
        g_\beta v_\beta\bar\tau_\beta`, :math:`g_\beta\propto w_\beta/v_\beta^3`,
        :math:`w_L = 1`, :math:`w_T = 2`).
    """
    vf, vs = film.debye_velocity, substrate.debye_velocity
    if model == "amm_modes":
        from .modes import branch_average

        media = (film.density, film.sound_velocity_L, film.sound_velocity_T,
                 substrate.density, substrate.sound_velocity_L, substrate.sound_velocity_T)
        store = flow = 0.0
        for br, wb, vb in (("L", 1.0, film.sound_velocity_L),
                           ("T", 2.0, film.sound_velocity_T)):
            g = wb / vb**3
            store += g
            flow += g * vb * float(np.sum(branch_average(br, *media)[2:]))
        return 4.0 * thickness * store / flow
    if model == "amm":
        tau = amm_average(film.impedance, substrate.impedance, vf, vs)
    elif model == "dmm":
        tau = float(dmm_transmission(vf**-2, vs**-2))
    else:
        raise ValueError(f"unknown interface model {model!r}")
    return 4.0 * thickness / (vf * tau)

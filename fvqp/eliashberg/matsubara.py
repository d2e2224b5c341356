r"""Linearised Eliashberg equations on the Matsubara axis: :math:`T_c` and :math:`\mu^*`.

At :math:`T_c` the gap equation linearises (Allen & Mitrović 1983, Eqs. 4.1-4.4;
Bergmann & Rainer, Z. Phys. 263, 59 (1973)). With :math:`\omega_n=\pi T(2n+1)` and
:math:`\lambda(\nu)=2\int\Omega\alpha^2F/(\Omega^2+\nu^2)d\Omega`,

.. math::
   Z_n = 1 + \frac{\pi T}{\omega_n}\Big[\lambda(0) + 2\sum_{k=1}^{n}\lambda(2\pi Tk)\Big],
   \qquad
   Z_n\Delta_n = \pi T\sum_{m\ge0}\big[\lambda(\omega_n-\omega_m)+\lambda(\omega_n+\omega_m)
   - 2\mu^*\theta(\omega_c-\omega_m)\big]\frac{\Delta_m}{\omega_m},

(the :math:`Z_n` sum is exact, the :math:`m<0` half folded with
:math:`\Delta_{-m-1}=\Delta_m`). :math:`T_c` is where the largest eigenvalue
:math:`\eta(T)` of the right-hand side operator (divided by :math:`Z_n`) equals 1.

Cut-offs: the Coulomb sum stops at :math:`\omega_c` (the definition of :math:`\mu^*`,
the same :math:`\omega_c` as the real-axis term
:math:`-\mu^*\int_0^{\omega_c}\tanh(\epsilon/2T)\varphi`, whose Matsubara image is the
sharp cut-off to :math:`O(T/\omega_c)`); the phonon sum is *not* cut at
:math:`\omega_c` on the real axis (the Kramers-Kronig integral runs to infinity), so
here it runs to ``phonon_factor`` :math:`\times\omega_c` (default 4; for Al with a
Debye spectrum and :math:`\omega_c=5\Omega_D` the calibrated :math:`\mu^*` is
0.138632 / 0.138519 / 0.138492 / 0.138485 for factors 2 / 4 / 8 / 16).

:func:`calibrate_mu_star` returns the :math:`\mu^*` for which the model (given
:math:`\alpha^2F`, :math:`\omega_c`) has the measured :math:`T_c`: with energies in
:math:`k_BT_c` this is :math:`\eta(T=1;\mu^*)=1`. The Coulomb term is rank one,
:math:`A = A_{ph} - 2\mu^* u c^T`, so :math:`\det(1-A)=0` gives
:math:`\mu^* = -1/(2c^T(1-A_{ph})^{-1}u)` with one linear solve; the result is
checked to make 1 the *largest* eigenvalue.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import brentq
from scipy.sparse.linalg import LinearOperator, eigs

from ..spectra.gap import BCS_GAP_RATIO
from .alpha2f import Alpha2F

__all__ = [
    "matsubara_eigenvalue",
    "critical_temperature",
    "calibrate_mu_star",
    "solve_matsubara",
]


def _operator(
    a2f: Alpha2F, mu_star: float, omega_c: float, temperature: float, phonon_factor: float
) -> np.ndarray:
    t = float(temperature)
    n_ph = max(int(np.ceil(phonon_factor * omega_c / (2 * np.pi * t))), 4)
    if n_ph > 12000:
        raise ValueError(
            f"T = {t:g} needs {n_ph} Matsubara frequencies up to {phonon_factor:g} omega_c: "
            "too low a temperature for the dense linearised solver"
        )
    n = np.arange(n_ph)
    wn = np.pi * t * (2 * n + 1)
    lam_k = a2f.matsubara_lambda(2 * np.pi * t * np.arange(2 * n_ph + 1))
    z = 1.0 + np.pi * t / wn * (lam_k[0] + 2.0 * np.concatenate([[0.0], np.cumsum(lam_k[1:n_ph])]))
    diff = np.abs(n[:, None] - n[None, :])
    ker = lam_k[diff] + lam_k[n[:, None] + n[None, :] + 1]
    ker -= 2.0 * mu_star * (wn < omega_c)[None, :]
    return ker * (np.pi * t / wn)[None, :] / z[:, None]


def matsubara_eigenvalue(
    a2f: Alpha2F,
    mu_star: float,
    omega_c: float,
    temperature: float,
    phonon_factor: float = 4.0,
) -> float:
    r"""Largest (real) eigenvalue :math:`\eta` of the linearised gap operator at :math:`T`.

    :math:`\eta>1`: the normal state is unstable (:math:`T<T_c`).
    """
    a = _operator(a2f, mu_star, omega_c, temperature, phonon_factor)
    if a.shape[0] <= 400:
        return float(np.max(np.linalg.eigvals(a).real))
    op = LinearOperator(a.shape, matvec=lambda v: a @ v, dtype=float)
    vals = eigs(op, k=1, which="LR", return_eigenvectors=False, tol=1e-12, maxiter=5000)
    return float(vals.real.max())


def critical_temperature(
    a2f: Alpha2F,
    mu_star: float,
    omega_c: float,
    t_bracket: tuple[float, float] | None = None,
    phonon_factor: float = 4.0,
    rtol: float = 1e-6,
) -> float:
    r""":math:`T_c` (same unit as the energies of ``a2f``) from :math:`\eta(T_c)=1`."""

    def g(log_t: float) -> float:
        return matsubara_eigenvalue(a2f, mu_star, omega_c, np.exp(log_t), phonon_factor) - 1.0

    if t_bracket is None:
        wmax = a2f.omega_max
        t_bracket = (1e-4 * wmax, 0.5 * wmax)
    lo, hi = np.log(t_bracket[0]), np.log(t_bracket[1])
    if g(lo) < 0:
        raise ValueError(f"no superconductivity above T = {t_bracket[0]:g} (eta < 1)")
    if g(hi) > 0:
        raise ValueError(f"T_c above the bracket end {t_bracket[1]:g}")
    return float(np.exp(brentq(g, lo, hi, rtol=rtol)))


def calibrate_mu_star(
    a2f: Alpha2F,
    omega_c: float,
    tc: float = 1.0,
    phonon_factor: float = 4.0,
) -> float:
    r""":math:`\mu^*` (with cut-off :math:`\omega_c`) that gives :math:`T_c` = ``tc``.

    Raises
    ------
    ValueError
        If even :math:`\mu^*=0` gives :math:`T_c<` ``tc`` (coupling too weak), or the
        rank-one root is not the leading eigenvalue.
    """
    a_ph = _operator(a2f, 0.0, omega_c, tc, phonon_factor)
    diff = _operator(a2f, 1.0, omega_c, tc, phonon_factor) - a_ph
    # A(mu) = A_ph + mu * outer(u, r): the Coulomb part is rank one
    r = diff[0]
    u = diff[:, 0] / diff[0, 0]
    x = np.linalg.solve(np.eye(a_ph.shape[0]) - a_ph, u)
    mu = 1.0 / float(r @ x)  # det(1 - A_ph - mu u r^T) = 0  <=>  mu r^T (1 - A_ph)^-1 u = 1
    if np.linalg.eigvals(a_ph).real.max() < 1.0 if a_ph.shape[0] <= 400 else (
        matsubara_eigenvalue(a2f, 0.0, omega_c, tc, phonon_factor) < 1.0
    ):
        raise ValueError(
            f"lambda = {a2f.lam:.3g} is too weak for T_c = {tc:g} even with mu* = 0"
        )
    eta = matsubara_eigenvalue(a2f, mu, omega_c, tc, phonon_factor)
    if mu < 0 or abs(eta - 1.0) > 1e-6:
        raise ValueError(
            f"mu* calibration failed: mu* = {mu:g} gives a leading eigenvalue {eta:g} != 1"
        )
    return mu


def solve_matsubara(
    a2f: Alpha2F,
    mu_star: float,
    omega_c: float,
    temperature: float,
    phonon_factor: float = 8.0,
    delta_guess: float = BCS_GAP_RATIO,
    tol: float = 1e-11,
    maxiter: int = 2000,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Non-linear isotropic Eliashberg equations on the Matsubara axis (T > 0).

    .. math::
       Z_n = 1+\frac{\pi T}{\omega_n}\sum_m\lambda(\omega_n-\omega_m)
             \frac{\omega_m}{\sqrt{\omega_m^2+\Delta_m^2}},\qquad
       Z_n\Delta_n = \pi T\sum_m\big[\lambda(\omega_n-\omega_m)-\mu^*
             \theta(\omega_c-|\omega_m|)\big]\frac{\Delta_m}{\sqrt{\omega_m^2+\Delta_m^2}},

    (Allen & Mitrović 1983, Eqs. 3.31-3.32), sums folded onto :math:`m\ge0`, truncated at
    ``phonon_factor`` :math:`\times\omega_c` (the :math:`Z_n` sum uses the exact
    telescoped normal-state part plus the truncated gap correction). An independent
    reference for the real-axis solution continued to :math:`i\omega_n`.

    Returns
    -------
    (omega_n, Z_n, Delta_n) for ``n >= 0``.
    """
    t = float(temperature)
    n_ph = max(int(np.ceil(phonon_factor * omega_c / (2 * np.pi * t))), 4)
    n = np.arange(n_ph)
    wn = np.pi * t * (2 * n + 1)
    lam_k = a2f.matsubara_lambda(2 * np.pi * t * np.arange(2 * n_ph + 1))
    z_normal = 1.0 + np.pi * t / wn * (
        lam_k[0] + 2.0 * np.concatenate([[0.0], np.cumsum(lam_k[1:n_ph])])
    )
    k_plus = lam_k[np.abs(n[:, None] - n[None, :])]
    k_minus = lam_k[n[:, None] + n[None, :] + 1]
    coul = 2.0 * mu_star * (wn < omega_c)
    delta = np.full(n_ph, float(delta_guess))
    for _ in range(maxiter):
        root = np.sqrt(wn**2 + delta**2)
        # Z: normal part exact; the gap reduces omega_m/root below 1
        dz = (np.pi * t / wn) * ((k_plus - k_minus) @ (wn / root - 1.0))
        z = z_normal + dz
        gap_sum = np.pi * t * ((k_plus + k_minus) @ (delta / root) - coul @ (delta / root))
        new = gap_sum / z
        if np.max(np.abs(new - delta)) < tol:
            return wn, z, new
        delta = 0.5 * (delta + new)
    raise RuntimeError(f"Matsubara Eliashberg iteration did not converge in {maxiter} steps")

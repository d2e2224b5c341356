r"""Relaxation rates from the discrete operator and Kaplan et al. (1976) limits.

The loss terms of the operator are linear in the occupation of the decaying particle
(for fixed partner distributions), so the rates below are the exact linearisation
coefficients of those terms: :math:`1/\tau_s(E_i) = \text{sc\_out}_i / f_i`,
:math:`1/\tau_r(E_i) = \text{rec}_i / f_i` (Kaplan's definitions: the rate at which a QP
at :math:`E` scatters / recombines with a thermal background), and for phonons
:math:`1/\tau_{pb}(\Omega_k) = \text{ph\_pb}_k / n_k`.

Low-temperature limits (times in :math:`\tau_0`, energies in :math:`kT_c`), derived from
Eqs. 35-36 for a QP at the gap edge with thermal ``f, n`` and :math:`T \ll \Delta`:

* recombination: :math:`U^+(\Delta, E') \simeq 2\rho(E')`, :math:`\Omega^2 \simeq 4\Delta^2`,
  :math:`\rho(E') \simeq \sqrt{\Delta/2(E'-\Delta)}`, :math:`f \simeq e^{-E'/T}` give
  :math:`1/\tau_r = \sqrt{\pi}\,(2\Delta)^{5/2}\sqrt{T}\,e^{-\Delta/T}`
  (Kaplan et al. 1976);
* scattering: only absorption, :math:`U^-(\Delta, \Delta+\Omega) =
  \sqrt{\Omega/(2\Delta+\Omega)} \simeq \sqrt{\Omega/2\Delta}`, so
  :math:`1/\tau_s(\Delta) = \int\Omega^{5/2} n\,d\Omega/\sqrt{2\Delta}
  = \Gamma(7/2)\zeta(7/2)\,T^{7/2}/\sqrt{2\Delta}` (the :math:`T^{7/2}` law of Kaplan
  et al.; relative corrections are O(T/Delta));
* phonon pair breaking at T = 0 just above :math:`2\Delta`:
  :math:`\int_\Delta^{\Omega-\Delta} K^+(E,\Omega-E)\,dE \to \pi\Delta`, i.e.
  :math:`1/\tau_{pb}(2\Delta^+) = \pi\Delta\,c_{ph} = (\Delta/\Delta_0)/\tau_0^\phi`.

Thermal pair-breaking time
--------------------------
The pair-breaking rate per phonon averaged over the phonons that can break pairs
(Kaplan et al. 1976; the Rothwarf-Taylor :math:`B` of a state,
:func:`mean_pair_breaking_rate`),

.. math::
    \frac{1}{\tau_{pb}} = \frac{\int_{2\Delta}^\infty \Omega^2 n(\Omega)\,
    \Gamma_{pb}(\Omega)\,d\Omega}{\int_{2\Delta}^\infty \Omega^2 n(\Omega)\,d\Omega},
    \qquad \Gamma_{pb}(\Omega) = c_{ph}\int_\Delta^{\Omega-\Delta} K^+(E, \Omega - E)
    (1 - f)(1 - f')\,dE \quad \text{(notes Eq. 40)},

is on the grid :math:`\sum_k g_k\,\mathrm{ph\_pb}_k/\sum_k\theta_kg_k n_k` with the
phonon states :math:`g_k` (:func:`~fvqp.collisions.kernels.phonon_states`; the node at
:math:`2\Delta` of the vertex layout holds the states above the threshold only) and
:math:`\theta_k` = ``grid.pair_cell_fraction`` (1 on the nodes that break pairs).  In
the vertex layout (exact node rates, :mod:`fvqp.collisions.grid`) it converges as
:math:`h^2`.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import integrate, special

from .grid import EnergyGrid
from .kernels import CollisionParams, phonon_states
from .rhs import collision_terms

__all__ = [
    "kaplan_recombination_rate",
    "kaplan_scattering_rate_gap_edge",
    "mean_pair_breaking_rate",
    "pair_breaking_rate_continuum",
    "ph_loss_rates",
    "qp_loss_rates",
    "thermal_pair_breaking_rate",
]


def _safe_ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.full(num.shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def qp_loss_rates(
    f: np.ndarray, n: np.ndarray, grid: EnergyGrid, params: CollisionParams,
    method: str = "fft",
    tilt: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """QP out-scattering and recombination rates ``(1/tau_s, 1/tau_r)`` per QP node.

    NaN where ``f == 0``.  ``method``/``tilt`` as for
    :func:`~fvqp.collisions.rhs.collision_terms`.
    """
    t = collision_terms(f, n, grid, params, method=method, tilt=tilt)
    f = np.asarray(f, dtype=float)
    return _safe_ratio(t.qp_sc_out, f), _safe_ratio(t.qp_rec, f)


def ph_loss_rates(
    f: np.ndarray, n: np.ndarray, grid: EnergyGrid, params: CollisionParams,
    method: str = "fft",
    tilt: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Phonon absorption (scattering) and pair-breaking rates per phonon node.

    NaN where ``n == 0``.  ``method``/``tilt`` as for
    :func:`~fvqp.collisions.rhs.collision_terms`.
    """
    t = collision_terms(f, n, grid, params, method=method, tilt=tilt)
    n = np.asarray(n, dtype=float)
    return _safe_ratio(t.ph_sc_out, n), _safe_ratio(t.ph_pb, n)


def kaplan_recombination_rate(delta: float, t: float) -> float:
    r""":math:`1/\tau_r = \sqrt{\pi}(2\Delta)^{5/2}\sqrt{T}e^{-\Delta/T}` (units 1/tau_0)."""
    return math.sqrt(math.pi) * (2.0 * delta) ** 2.5 * math.sqrt(t) * math.exp(-delta / t)


def kaplan_scattering_rate_gap_edge(delta: float, t: float) -> float:
    r""":math:`1/\tau_s(\Delta) = \Gamma(7/2)\zeta(7/2)\,T^{7/2}/\sqrt{2\Delta}` (1/tau_0)."""
    return special.gamma(3.5) * special.zeta(3.5) * t**3.5 / math.sqrt(2.0 * delta)


def pair_breaking_rate_continuum(
    omega: float, delta: float, params: CollisionParams
) -> float:
    r"""T = 0 phonon pair-breaking rate of Eq. 40, :math:`c_{ph}\int_\Delta^{\Omega-\Delta}
    \rho\rho'(1 + \Delta^2/EE')\,dE` (continuum, BCS DOS; 1/tau_0)."""
    if omega <= 2.0 * delta:
        return 0.0
    a, b = delta, omega - delta

    def smooth(e: float) -> float:
        # K^+ * sqrt((E - a)(b - E)) is smooth on [a, b]
        e2 = omega - e
        return (e * e2 + delta**2) / math.sqrt((e + delta) * (e2 + delta))

    val, _ = integrate.quad(smooth, a, b, weight="alg", wvar=(-0.5, -0.5),
                            epsabs=0.0, epsrel=1e-12, limit=200)
    return params.phonon_prefactor * val


def mean_pair_breaking_rate(
    f: np.ndarray, n: np.ndarray, grid: EnergyGrid, params: CollisionParams,
    method: str = "fft",
    tilt: float = 0.0,
) -> float:
    r"""Pair-breaking rate per phonon averaged over the pair-breaking phonons of ``(f, n)``,
    :math:`\sum_k g_k\,\mathrm{ph\_pb}_k / \sum_k \theta_kg_k n_k` (module docstring;
    :math:`g_k` the phonon states, :math:`\theta_k` = ``grid.pair_cell_fraction``), in
    :math:`1/\tau_0`.

    ``method``/``tilt`` as for :func:`~fvqp.collisions.rhs.collision_terms`.
    """
    t = collision_terms(f, n, grid, params, processes=("pair",), method=method, tilt=tilt)
    w = phonon_states(grid)
    den = float(np.sum(grid.pair_cell_fraction * w * np.asarray(n, dtype=float)))
    if not den > 0:
        raise ValueError("no phonons above 2 Delta: the mean pair-breaking rate is undefined")
    return float(np.sum(w * t.ph_pb)) / den


def thermal_pair_breaking_rate(
    grid: EnergyGrid, params: CollisionParams, t: float, method: str = "fft"
) -> float:
    r"""Thermal pair-breaking rate :math:`1/\tau_{pb}(T)` (module docstring) of the thermal
    QPs and phonons at temperature ``t`` (kTc), in :math:`1/\tau_0`."""
    from .grid import equilibrium

    f, n = equilibrium(grid, t)
    # ph_pb_k = n_k * (O(1) sum), so FFT round-off is relative to each node: no tilt needed
    return mean_pair_breaking_rate(f, n, grid, params, method=method)

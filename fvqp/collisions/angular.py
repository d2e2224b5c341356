r"""The electron-phonon collision operator for angle-resolved distributions.

The Boltzmann transport models (spherical :mod:`fvqp.models.bte_sphere`, discrete
ordinates on meshes) carry a QP occupation :math:`f_k = f(\varepsilon, \hat p_k)` and
optionally a phonon occupation :math:`n_k = n(\Omega, \hat q_k)` per discrete direction
``k`` (quadrature weights :math:`w_k`, normalised so that the angle average is
:math:`\bar f = \sum_k w_k f_k / W`, :math:`W = \sum_k w_k`; ``W = 2`` for Gauss-Legendre
in :math:`\mu`, :math:`4\pi` on the sphere).

Approximation (notes Eq. 179, "the phonon momentum is small")
-------------------------------------------------------------
In Eq. 179 the partner state of a QP at :math:`(\varepsilon, \hat p)` enters through the
average :math:`\langle\cdots\rangle_{\hat p'}` over the directions of
:math:`\hat p' = \hat p - \vec q/p_F`; because :math:`q \ll p_F` the QP direction is
hardly changed by a collision, but the phonon direction is uncorrelated with it (the
:math:`\vec q` of a phonon of energy :math:`\Omega` points anywhere on the sphere
:math:`|\vec p - \vec q| = p_F`). We therefore evaluate, per direction ``k``,

* the QP operator with the occupation *of the state itself* (the factors
  :math:`f`, :math:`1 - f` that multiply each gain/loss sum in
  :class:`~fvqp.collisions.kernels.CollisionTerms`) equal to :math:`f_k`, and the
  *partner* occupations (inside the sums: the QP at :math:`\varepsilon \pm \Omega` or
  :math:`\Omega - \varepsilon` and the phonon) replaced by the angle averages
  :math:`\bar f`, :math:`\bar n`:

  .. math::
      I^{qp}_k = (1 - f_k)\,[A + D](\bar f, \bar n) - f_k\,[B + C](\bar f, \bar n),

  with ``A`` (scattering in), ``B`` (scattering out), ``C`` (recombination) and
  ``D`` (pair breaking) the rates of the isotropic discrete operator
  (:mod:`fvqp.collisions.batched`, notes Eqs. 35-37);
* the phonon operator per phonon direction with its own :math:`n_k` in the linear
  factors :math:`(1 + n)`, :math:`n` and the QP sums from :math:`\bar f`
  (notes Eqs. 39-40):
  :math:`I^{ph}_k = (1 + n_k)\,G(\bar f) - n_k\,L(\bar f)`.

Because every term is *linear* in the self occupation,
:math:`\sum_k w_k I^{qp}_k / W = I^{qp}_{iso}(\bar f, \bar n)` and
:math:`\sum_k w_k I^{ph}_k / W = I^{ph}_{iso}(\bar n, \bar f)` exactly: the angle-averaged
collision terms are the isotropic discrete operator of the averages, so the discrete
energy :math:`\sum_i h\bar\rho_iE_i\bar f_i + \beta\sum_q h\Omega_q^3\bar n_q` is conserved
to round-off and the QP number changes only by pair processes (exactly twice the phonon
number change, :mod:`fvqp.collisions.kernels`). An isotropic thermal state is a zero of
every :math:`I_k` (detailed balance of the isotropic operator). The rates are computed
once per cell from the averages (``O(N log N)``) and applied to all directions
(``O(N K)``).

The identities hold for *any* ``f, n`` (also slightly negative occupations left by a
BDF2 step): FFT round-off in the phonon sums is not clipped at zero, which would break
them.

The evaluation is analytic in ``(f, n)`` (complex input allowed), so complex-step
differentiation through it is exact (Jacobian actions of the transport models).

Units as in :mod:`fvqp.collisions.batched` (energies :math:`k_BT_c`, rates
:math:`1/\tau_0`).

Example
-------
>>> import numpy as np
>>> from fvqp.collisions import EnergyGrid, equilibrium
>>> from fvqp.spectra.gap import thermal_gap
>>> from fvqp.collisions.angular import angular_terms
>>> g = EnergyGrid.build(thermal_gap(0.3, 1.0), h=0.05, e_max=5.0)
>>> f0, n0 = equilibrium(g, 0.3)
>>> w = np.array([1.0, 1.0])                       # two ordinates, sum 2
>>> f = np.stack([f0, f0])[None]                   # (cells, K, N)
>>> t = angular_terms(f, n0[None], g.dos[None], g.ados[None], w, h=g.h, m=g.m)
>>> bool(np.allclose(t.qp, 0.0, atol=1e-12))
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .correlations import EACH, QP_SIDES, SIDES, Perturbation, State, evaluate

__all__ = ["AngularRates", "AngularTerms", "RatesLinearisation", "angle_average",
           "angular_rates", "angular_terms"]


def angle_average(x: np.ndarray, weights: np.ndarray) -> np.ndarray:
    r""":math:`\bar x = \sum_k w_k x_k / \sum_k w_k` over axis 1 of ``x`` (shape (C, K, ...))."""
    w = np.asarray(weights, dtype=float)
    return np.moveaxis(x, 1, -1) @ (w / w.sum())


@dataclass(frozen=True)
class AngularRates:
    r"""Rates of the isotropic operator evaluated at the angle averages (per cell).

    QP arrays shape (C, N), phonon arrays (C, M); rates in :math:`1/\tau_0`.

    Attributes
    ----------
    qp_in : ndarray
        :math:`A + D`: gain per unit empty self state (scattering in + pair breaking),
        :math:`I^{qp} = (1 - f)\,\text{qp\_in} - f\,\text{qp\_out}`.
    qp_out : ndarray
        :math:`B + C`: loss per unit occupied self state (scattering out + recombination).
    ph_gain, ph_loss : ndarray
        Phonon emission (scattering + recombination) per unit :math:`1 + n` and
        absorption (scattering + pair breaking) per unit :math:`n`:
        :math:`I^{ph} = (1 + n)\,\text{ph\_gain} - n\,\text{ph\_loss}`.
    qp_pair_in, qp_pair_out, ph_pair_gain, ph_pair_loss : ndarray
        The pair-process parts of the above (for QP-number bookkeeping).
    """

    qp_in: np.ndarray
    qp_out: np.ndarray
    ph_gain: np.ndarray
    ph_loss: np.ndarray
    qp_pair_in: np.ndarray
    qp_pair_out: np.ndarray
    ph_pair_gain: np.ndarray
    ph_pair_loss: np.ndarray


def angular_rates(fbar: np.ndarray, nbar: np.ndarray, rho: np.ndarray, ados: np.ndarray, *,
                  h: float, m: int, qp_scale=1.0, c_ph=1.0, pair_weight=None
                  ) -> AngularRates:
    r"""Rates of the discrete operator of :mod:`fvqp.collisions.batched` at ``(fbar, nbar)``.

    The rates of the process table (:mod:`fvqp.collisions.processes`, evaluated by
    :func:`fvqp.collisions.correlations.evaluate`, as :func:`~fvqp.collisions.batched.
    batched_terms`) without the outer self-occupation factors, so
    ``(1 - f) * qp_in - f * qp_out`` at ``f = fbar`` reproduces
    ``batched_terms(fbar, nbar, ...).qp`` to round-off (tested).

    Parameters
    ----------
    fbar, rho, ados : ndarray, shape (C, N)
        Angle-averaged QP occupation and cell-averaged normal/anomalous DOS.
    nbar : ndarray, shape (C, M)
        Angle-averaged phonon occupation.
    h, m, qp_scale, c_ph, pair_weight
        As for :func:`~fvqp.collisions.batched.batched_terms`.
    """
    f, n = np.atleast_2d(fbar), np.atleast_2d(nbar)
    rho, ados = np.broadcast_to(rho, f.shape), np.broadcast_to(ados, f.shape)
    st = State.build(f, n, rho, ados, h=h, m=m, qp_scale=qp_scale, pair_weight=pair_weight)
    # no clipping of slightly negative sums (unlike an operator that clips): BDF2 steps
    # may leave tiny negative occupations, and clipping the phonon sums but not the QP
    # ones would break the exact energy bookkeeping
    r = evaluate(st, EACH, c_ph=c_ph)
    return AngularRates(qp_in=r["qp_sc_in"] + r["qp_pb"], qp_out=r["qp_sc_out"] + r["qp_rec"],
                        ph_gain=r["ph_sc_in"] + r["ph_rec"],
                        ph_loss=r["ph_sc_out"] + r["ph_pb"],
                        qp_pair_in=r["qp_pb"], qp_pair_out=r["qp_rec"],
                        ph_pair_gain=r["ph_rec"], ph_pair_loss=r["ph_pb"])


class RatesLinearisation:
    r"""The rates of :func:`angular_rates` linearised at ``(fbar, nbar)``: their exact
    directional derivatives in real arithmetic (the product rule through the FFT
    correlations of the process table, :func:`fvqp.collisions.correlations.evaluate`).

    The transforms of the state (8 forward) are taken once here; every derivative then
    takes 4 forward transforms of the perturbation and 8 inverse ones, each group in one
    batched call over all cells, against 16 forward and 24 inverse transforms of the
    complex step through :func:`angular_rates` (real and imaginary parts transformed
    apart, :class:`fvqp.collisions.correlations._Dual`). Equal to that complex step to
    round-off (``tests/test_bte_collision_speed.py``).

    Parameters
    ----------
    fbar, nbar, rho, ados, h, m, qp_scale, c_ph
        As for :func:`angular_rates` (real ``fbar``, ``nbar``; no ``pair_weight``).
    """

    def __init__(self, fbar: np.ndarray, nbar: np.ndarray, rho: np.ndarray,
                 ados: np.ndarray, *, h: float, m: int, qp_scale=1.0, c_ph=1.0):
        f, n = np.atleast_2d(fbar), np.atleast_2d(nbar)
        self.rho = np.broadcast_to(rho, f.shape)
        self.ados = np.broadcast_to(ados, f.shape)
        self.spectra = State.build(f, n, self.rho, self.ados, h=h, m=m,
                                   qp_scale=qp_scale)
        self.c_ph = c_ph

    def derivative(self, dfbar: np.ndarray, dnbar: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        r""":math:`(\delta\,\text{qp\_in}, \delta\,\text{qp\_out},
        \delta\,\text{ph\_gain}, \delta\,\text{ph\_loss})` along
        ``(dfbar (C, N), dnbar (C, M))`` (:class:`AngularRates`); ``dnbar = None``:
        phonons held (bath), the phonon rates' derivatives are not formed (None)."""
        pert = Perturbation(self.spectra, self.rho, self.ados, dfbar, dnbar)
        if dnbar is None:
            d = evaluate(self.spectra, QP_SIDES, perturbation=pert)
            return d["qp_gain"], d["qp_loss"], None, None
        d = evaluate(self.spectra, SIDES, c_ph=self.c_ph, perturbation=pert)
        return d["qp_gain"], d["qp_loss"], d["ph_gain"], d["ph_loss"]


@dataclass(frozen=True)
class AngularTerms:
    r"""Per-direction collision terms.

    Attributes
    ----------
    qp : ndarray, shape (C, K, N)
        :math:`\dot f_k` of every QP direction.
    ph : ndarray, shape (C, Kp, M)
        :math:`\dot n_k` of every phonon direction (``Kp = 1``: isotropic phonons).
    qp_pair : ndarray, shape (C, K, N)
        Pair-breaking minus recombination part of ``qp``.
    rates : AngularRates
    """

    qp: np.ndarray
    ph: np.ndarray
    qp_pair: np.ndarray
    rates: AngularRates


def angular_terms(f: np.ndarray, n: np.ndarray, rho: np.ndarray, ados: np.ndarray,
                  weights: np.ndarray, *, h: float, m: int, qp_scale=1.0, c_ph=1.0,
                  ph_weights: np.ndarray | None = None, pair_weight=None) -> AngularTerms:
    r"""Collision terms of angle-resolved QPs (and phonons) in ``C`` cells.

    Parameters
    ----------
    f : ndarray, shape (C, K, N)
        QP occupation per cell, direction and energy bin.
    n : ndarray, shape (C, M) or (C, Kp, M)
        Phonon occupation: isotropic (2D) or per phonon direction (3D, weights
        ``ph_weights``, default ``weights``).
    rho, ados : ndarray, shape (C, N)
        Cell-averaged normal/anomalous DOS.
    weights : ndarray, shape (K,)
        Angular quadrature weights of the QP directions (any normalisation).
    h, m, qp_scale, c_ph, pair_weight
        As for :func:`~fvqp.collisions.batched.batched_terms`.
    ph_weights : ndarray, shape (Kp,), optional

    Returns
    -------
    AngularTerms
        ``qp`` of shape (C, K, N); ``ph`` of shape (C, Kp, M) (``Kp = 1`` for 2D ``n``).
    """
    n3 = n if n.ndim == 3 else n[:, None, :]
    wp = weights if ph_weights is None else ph_weights
    fbar = angle_average(f, weights)
    nbar = angle_average(n3, wp) if n3.shape[1] > 1 else n3[:, 0]
    r = angular_rates(fbar, nbar, rho, ados, h=h, m=m, qp_scale=qp_scale, c_ph=c_ph,
                      pair_weight=pair_weight)
    qp = (1.0 - f) * r.qp_in[:, None, :] - f * r.qp_out[:, None, :]
    ph = (1.0 + n3) * r.ph_gain[:, None, :] - n3 * r.ph_loss[:, None, :]
    pair = (1.0 - f) * r.qp_pair_in[:, None, :] - f * r.qp_pair_out[:, None, :]
    return AngularTerms(qp=qp, ph=ph, qp_pair=pair, rates=r)

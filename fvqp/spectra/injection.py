r"""How far up in energy injected quasiparticles reach: the tails of the injection spectra
that an energy grid must hold.

A model's QP grid stops at its ``e_max``; a source whose spectrum reaches above it is cut
there, and a run that cuts one says nothing about it by itself: an NIS junction biased
above the grid injects less current than it would (its injection is a physical rate per
state, not normalised), a photon drive normalised to its power breaks pairs and excites
QPs into the wrong states. This module gives the fraction of a source's QPs (or of their
energy) above an energy, and the energy below which all but a given fraction lie, so that
case validation can refuse a grid that cuts a source and default grids can hold it.

NIS tunnel injection into an empty BCS superconductor (gap :math:`\Delta`) from a normal
electrode at temperature :math:`T_N` and bias :math:`V`, branch-averaged as the models
treat it (:mod:`fvqp.models.kinetics0d.drives`, transport's tunnel boundaries): the QP
number injected per unit energy is :math:`\Gamma\rho(E)\,b(E)`,
:math:`b(E) = \tfrac12[f_0(E - eV) + f_0(E + eV)]` the electrode's occupation seen by
the QPs, :math:`(1 - f_L)/2` of Ryan et al. (2026) Eq. 12 (``../shared/references/
ryan2026_nonlocal_tunneling_usadel.txt``; their tunnel term, Eq. 11, is a rate per state
times the occupation difference), and :math:`\rho(E) = E/\sqrt{E^2 - \Delta^2}`. With
:math:`E = \Delta\cosh u`, :math:`\rho\,dE = E\,du`, so

.. math::
    \mathcal N(E_1) = \int_{u_1}^\infty E\,b(E)\,du, \qquad
    \mathcal E(E_1) = \int_{u_1}^\infty E^2\,b(E)\,du,
    \qquad E_1 = \Delta\cosh u_1,

are smooth integrals (no edge singularity); the *tail above* :math:`E_1` is
:math:`\max(\mathcal N(E_1)/\mathcal N(\Delta), \mathcal E(E_1)/\mathcal E(\Delta))`.
At :math:`T_N \to 0` and :math:`eV > \Delta` the number tail is
:math:`1 - \sqrt{(E_1^2 - \Delta^2)/(e^2V^2 - \Delta^2)}` (tested).

All energies and temperatures in one unit, :math:`k_B = 1`.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import integrate, optimize

from .thermal_occupations import fermi

__all__ = ["gaussian_line", "gaussian_tail", "nis_injection_fractions", "nis_injection_tail",
           "nis_injection_top", "tail_top"]

#: where the electrode's Fermi tail is taken as ended: :math:`f_0(50) = 2\cdot10^{-22}`
_TAIL_KT = 50.0


def _b(E: float, bias: float, t_n: float) -> float:
    return 0.5 * (fermi(E - bias, t_n) + fermi(E + bias, t_n))


def _moments(e1: float, delta: float, bias: float, t_n: float) -> tuple[float, float]:
    """:math:`\\mathcal N(E_1)`, :math:`\\mathcal E(E_1)` of the module docstring."""
    bias, t_n = abs(float(bias)), float(t_n)
    top = max(bias, delta, e1) + _TAIL_KT * max(t_n, 1e-300)
    if e1 >= top:
        return 0.0, 0.0
    if delta > 0:
        u1 = math.acosh(max(e1 / delta, 1.0))
        u_top = math.acosh(top / delta)
        knee = [math.acosh(bias / delta)] if delta < bias < top and bias > e1 else []
        pts = [u for u in knee if u1 < u < u_top] or None

        def moment(k: int) -> float:
            def g(u):
                e = delta * math.cosh(u)
                return e ** (k + 1) * _b(e, bias, t_n)
            return integrate.quad(g, u1, u_top, points=pts, limit=200,
                                  epsabs=0.0, epsrel=1e-10)[0]
    else:
        pts = [bias] if e1 < bias < top else None

        def moment(k: int) -> float:
            return integrate.quad(lambda e: e ** k * _b(e, bias, t_n), e1, top, points=pts,
                                  limit=200, epsabs=0.0, epsrel=1e-10)[0]
    return moment(0), moment(1)


def nis_injection_fractions(e1: float, delta: float, bias: float, t_n: float
                            ) -> tuple[float, float]:
    r"""Fractions of the QPs and of their energy that an NIS junction injects into an
    empty BCS superconductor above the energy ``e1``: :math:`\mathcal N(E_1)/\mathcal
    N(\Delta)`, :math:`\mathcal E(E_1)/\mathcal E(\Delta)` (module docstring).

    Parameters
    ----------
    e1 : float
        Energy (the grid's top).
    delta : float
        Gap of the superconductor (0: a normal metal, :math:`\rho = 1`).
    bias : float
        :math:`eV` (its sign does not matter).
    t_n : float
        Temperature of the normal electrode (> 0).

    Returns
    -------
    (float, float)
        Each in [0, 1]; ``(1, 1)`` if ``e1`` is at or below the gap.
    """
    if e1 <= delta:
        return 1.0, 1.0
    n0, w0 = _moments(delta, delta, bias, t_n)
    n1, w1 = _moments(e1, delta, bias, t_n)
    if not (n0 > 0 and w0 > 0):
        return 0.0, 0.0
    return float(min(1.0, n1 / n0)), float(min(1.0, w1 / w0))


def nis_injection_tail(e1: float, delta: float, bias: float, t_n: float) -> float:
    """The larger of the two fractions of :func:`nis_injection_fractions`."""
    return max(nis_injection_fractions(e1, delta, bias, t_n))


def tail_top(tail, lo: float, hi: float, fraction: float) -> float:
    """The smallest energy ``e`` in ``[lo, hi]`` with ``tail(e) <= fraction`` for a
    decreasing ``tail`` (bisection on the energy to 1e-9 of ``hi``); ``hi`` if even
    ``tail(hi)`` is above ``fraction``."""
    if tail(lo) <= fraction:
        return lo
    if tail(hi) > fraction:
        return hi
    return float(optimize.brentq(lambda e: tail(e) - fraction, lo, hi,
                                 xtol=1e-9 * abs(hi), rtol=1e-12))


def nis_injection_top(delta: float, bias: float, t_n: float, fraction: float) -> float:
    """The energy above which a fraction ``fraction`` of an NIS junction's injected QPs
    or of their energy lie (:func:`nis_injection_tail`): the lowest grid top that holds
    the rest."""
    hi = max(abs(bias), delta) + _TAIL_KT * t_n
    return tail_top(lambda e: nis_injection_tail(e, delta, bias, t_n), delta, hi, fraction)


#: exponent below which a Gaussian line's peak node is taken as 1 (:func:`gaussian_line`):
#: :math:`e^{-700} \approx 10^{-304}`, near the smallest normal double
_UNDERFLOW = -700.0


def gaussian_line(x: np.ndarray, centre: float, width: float) -> np.ndarray:
    r"""The profile :math:`\exp(-(x - E_0)^2/2\sigma^2)` of a Gaussian source on the nodes
    ``x`` (any scale: callers normalise it), or a single line (``width`` 0: 1 at the node
    nearest to ``centre``, 0 elsewhere).

    A line narrower than the node spacing whose centre lies between nodes would
    underflow to zero on every node (:math:`\sigma` = 0.01 µeV between 40 µeV bins:
    :math:`e^{-2\cdot 10^6}`), and its normalisation became 0/0 or "no states to fill".
    When even the largest value would fall below :math:`e^{-700}`, the profile is taken
    relative to its nearest node (its exponent shifted by the largest one: the node
    nearest to the centre gets 1), which tends to the single line as
    :math:`\sigma/h \to 0`. Otherwise the values are the plain formula's, bit for bit.
    """
    x = np.asarray(x, dtype=float)
    if width <= 0:
        out = np.zeros(x.shape)
        out[int(np.argmin(np.abs(x - centre)))] = 1.0
        return out
    z = -0.5 * ((x - centre) / width) ** 2
    top = float(np.max(z)) if z.size else 0.0
    return np.exp(z - top) if top < _UNDERFLOW else np.exp(z)


def gaussian_tail(e1: float, centre: float, width: float) -> float:
    r"""Fraction of a Gaussian spectrum :math:`\exp(-(E - E_0)^2/2\sigma^2)` above
    ``e1`` (a single line, ``width`` 0: 1 if it lies above ``e1``, else 0)."""
    if width <= 0:
        return 1.0 if centre > e1 else 0.0
    from scipy.special import ndtr

    return float(ndtr(-(e1 - centre) / width))


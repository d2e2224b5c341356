r"""Thermal occupations: the one Fermi and Bose function of fvqp.

Every model and operator takes :math:`f(E) = 1/(e^{E/T}+1)` and
:math:`n(\Omega) = 1/(e^{\Omega/T}-1)` from here (issue 15, item 2). All functions are
vectorised (NumPy broadcasting of energy and temperature), overflow-safe for any
:math:`E/T`, and define the :math:`T = 0` limit; a 0-d input returns a ``float``.

Energies and temperatures are in one unit with :math:`k_B = 1`.

References
----------
.. [1] BoltzPhlow/BTE notes, Eqs. 29, 35-40 (thermal occupations of QPs and phonons).
.. [2] M. Tinkham, *Introduction to Superconductivity*, 2nd ed. (1996), Eq. 3.27
   (:math:`1 - 2f(E) = \tanh(E/2T)`).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special

__all__ = ["bose", "fermi", "fermi_cell_average", "minus_dfermi_dE"]


def _out(x: NDArray[np.float64]) -> NDArray[np.float64] | float:
    return float(x) if np.ndim(x) == 0 else x


def _reduced(E: ArrayLike, T: ArrayLike) -> tuple[NDArray, NDArray, NDArray]:
    """Broadcast ``E``, ``T``; the mask ``T > 0`` and :math:`x = E/T` (0 where ``T = 0``)."""
    e, t = np.broadcast_arrays(np.asarray(E, dtype=float), np.asarray(T, dtype=float))
    if np.any(t < 0):
        raise ValueError("temperature must be >= 0")
    hot = t > 0
    x = np.where(hot, e / np.where(hot, t, 1.0), 0.0)
    return e, hot, x


def fermi(E: ArrayLike, T: ArrayLike) -> NDArray[np.float64] | float:
    r"""Fermi function :math:`f(E) = 1/(e^{E/T}+1)`, overflow-safe.

    Evaluated as :math:`\mathrm{expit}(-E/T)`, accurate to round-off relative to
    :math:`f` for every :math:`E/T` (the tail :math:`e^{-E/T}` is not cut off). For
    :math:`T = 0` the step function :math:`\Theta(-E)` is returned (1/2 at :math:`E = 0`).

    Examples
    --------
    >>> fermi(0.0, 1.0), fermi(0.0, 0.0), fermi(-1.0, 0.0)
    (0.5, 0.5, 1.0)
    >>> bool(abs(fermi(700.0, 1.0) / np.exp(-700.0) - 1.0) < 1e-14)
    True
    """
    if isinstance(E, float) and isinstance(T, float) and T > 0.0:
        # scalar fast path (a quad integrand calls this once per point): the same
        # expit(-E/T) as below, without the broadcasting (~20x cheaper per call)
        return float(special.expit(-(E / T)))
    e, hot, x = _reduced(E, T)
    step = np.where(e < 0, 1.0, np.where(e > 0, 0.0, 0.5))
    return _out(np.where(hot, special.expit(-x), step))


def bose(W: ArrayLike, T: ArrayLike) -> NDArray[np.float64] | float:
    r"""Bose function :math:`n(\Omega) = 1/(e^{\Omega/T}-1)`, overflow-safe.

    Evaluated as :math:`e^{-x}/(1-e^{-x})` with ``expm1`` for :math:`x = \Omega/T > 0` and
    via :math:`n(-x) = -1 - n(x)` for negative arguments (phonon absorption,
    :math:`\Omega < 0`). :math:`n(0) = +\infty`. At :math:`T = 0`: 0 for
    :math:`\Omega > 0` and :math:`-1` for :math:`\Omega < 0`.

    Examples
    --------
    >>> bose(1.0, 0.0), bose(-1.0, 0.0), bose(0.0, 1.0)
    (0.0, -1.0, inf)
    >>> bool(abs(bose(-2.0, 1.0) + 1.0 + bose(2.0, 1.0)) < 1e-16)
    True
    """
    w, hot, x = _reduced(W, T)
    ax = np.abs(x)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        n_pos = np.exp(-ax) / -np.expm1(-ax)
    n = np.where(x >= 0, n_pos, -1.0 - n_pos)
    cold = np.where(w > 0, 0.0, np.where(w < 0, -1.0, np.inf))
    return _out(np.where(hot, n, cold))


def minus_dfermi_dE(E: ArrayLike, T: ArrayLike) -> NDArray[np.float64] | float:
    r""":math:`-\partial f/\partial E = f(1-f)/T = \frac{1}{4T}\,\mathrm{sech}^2\frac{E}{2T}`
    (notes Eq. 29).

    Evaluated as :math:`e^{-|x|}/[T(1+e^{-|x|})^2]`, :math:`x = E/T`, which never overflows.
    At :math:`T = 0` the distribution :math:`\delta(E)` is not representable: 0 is returned
    for :math:`E \ne 0` and ``inf`` at :math:`E = 0`.
    """
    e, hot, x = _reduced(E, T)
    t = np.broadcast_to(np.asarray(T, dtype=float), e.shape)
    ex = np.exp(-np.abs(x))
    with np.errstate(divide="ignore", invalid="ignore"):
        val = ex / (np.where(hot, t, 1.0) * (1.0 + ex) ** 2)
    return _out(np.where(hot, val, np.where(e == 0, np.inf, 0.0)))


def fermi_cell_average(x: ArrayLike, h: float, temperature: float) -> NDArray[np.float64]:
    r"""Exact average of :func:`fermi` over the cells :math:`[x - h/2, x + h/2]`, ``T >= 0``.

    From the antiderivative :math:`\int f\,dx = -T\ln(1 + e^{-x/T})`, on
    :math:`[a, b] = [x - h/2, x + h/2]`,

    .. math:: \bar f = \frac{T}{h}\left[\ln(1 + e^{-a/T}) - \ln(1 + e^{-b/T})\right]
        = 1 - \frac{T}{h}\left[\ln(1 + e^{b/T}) - \ln(1 + e^{a/T})\right],

    the first form for :math:`x \ge 0` and the second (:math:`1 - \bar f(-x)`) for
    :math:`x < 0`, so neither tail cancels (``logaddexp``, overflow-free; each form alone
    loses :math:`\sim 10^{-15}` absolute in one tail, where :math:`\bar f` may be
    :math:`10^{-35}`). At :math:`T = 0` the average of the step :math:`\Theta(-x)`,
    :math:`\mathrm{clip}(h/2 - x, 0, h)/h`.

    Examples
    --------
    >>> fermi_cell_average(np.array([-1.0, 0.0, 1.0]), 0.5, 0.0).tolist()
    [1.0, 0.5, 0.0]
    """
    a = np.asarray(x, dtype=float) - 0.5 * h
    b = a + h
    if temperature <= 0.0:
        return np.clip(-a, 0.0, h) / h
    t = temperature
    upper = t * (np.logaddexp(0.0, -a / t) - np.logaddexp(0.0, -b / t)) / h
    lower = ((b - a) - t * (np.logaddexp(0.0, b / t) - np.logaddexp(0.0, a / t))) / h
    return np.where(np.asarray(x) < 0, lower, upper)

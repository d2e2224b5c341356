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

__all__ = ["bose", "fermi", "fermi_cell_average", "fermi_temperature", "minus_dfermi_dE"]


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


def fermi_temperature(weights: ArrayLike, E: ArrayLike, n: ArrayLike, t_lo: float,
                      t_hi: float, rtol: float = 1e-14, max_iter: int = 100
                      ) -> NDArray[np.float64]:
    r"""The temperature :math:`T` of every row with :math:`\sum_iw_if(E_i, T) = n`.

    The number :math:`F(s) = \sum_iw_if(E_i, e^s)` of positive weights and energies is
    increasing in :math:`s = \ln T`, and :math:`\ln F` is close to linear in
    :math:`1/T` (:math:`F \propto e^{-E_1/T}` at low :math:`T`), so Newton's method on
    :math:`G(s) = \ln F(s) - \ln n`, :math:`G' = \sum_iw_if_i(1 - f_i)E_i/(TF)`, kept
    inside a bracket (bisection where a step leaves it, the bracket narrowed by the sign
    of every evaluation) converges for every row, quadratically near the root: ~7
    evaluations per row after the two at the bracket's ends, instead of the 60 of a
    bisection to the same precision. A number outside :math:`[F(\ln t_{lo}),
    F(\ln t_{hi})]` gives the nearer bound (as the bisection did).

    Parameters
    ----------
    weights : ndarray, shape (C, N)
        States per bin of every row (non-negative).
    E : ndarray, shape (N,)
        Bin energies (positive; same unit as the temperatures, :math:`k_B = 1`).
    n : ndarray, shape (C,)
        The target numbers.
    t_lo, t_hi : float
        The bracket, :math:`0 < t_{lo} < t_{hi}`.
    rtol : float
        Stop where the bracket or the Newton step in :math:`\ln T` is below this.
    max_iter : int
        Newton/bisection evaluations at most (bisection alone needs
        :math:`\log_2(\ln(t_{hi}/t_{lo})/\text{rtol})` ~ 50).

    Returns
    -------
    ndarray, shape (C,)

    Examples
    --------
    >>> e = np.linspace(0.5, 5.0, 40)
    >>> w = np.ones((2, 40))
    >>> n = (w * fermi(e, np.array([[0.3], [0.7]]))).sum(axis=1)
    >>> bool(np.allclose(fermi_temperature(w, e, n, 1e-3, 50.0), [0.3, 0.7], rtol=1e-13))
    True
    """
    w = np.asarray(weights, dtype=float)
    e = np.asarray(E, dtype=float)
    target = np.asarray(n, dtype=float)
    lo = np.full(len(target), np.log(t_lo))
    hi = np.full(len(target), np.log(t_hi))

    def number(rows, s_: np.ndarray, slope: bool = True):
        """F of ``rows`` at ``s_``, and dF/ds with ``slope``."""
        t = np.exp(s_)[:, None]
        f = fermi(e[None, :], t)
        wf = w[rows] * f
        if not slope:
            return wf.sum(axis=1)
        return wf.sum(axis=1), (wf * (1.0 - f) * e[None, :]).sum(axis=1) / t[:, 0]

    rows = slice(None)
    s = np.where(target <= number(rows, lo, slope=False), lo, np.nan)
    s = np.where(target >= number(rows, hi, slope=False), hi, s)
    active = np.flatnonzero(np.isnan(s))
    s[active] = 0.5 * (lo[active] + hi[active])
    log_n = np.log(target[active])
    for _ in range(max_iter):
        if not len(active):
            break
        sa = s[active]
        F, dF = number(active, sa)
        with np.errstate(divide="ignore"):  # F = 0 (underflow): g = -inf, bisection
            g = np.log(F) - log_n
        below = g < 0
        la = lo[active] = np.where(below, sa, lo[active])
        ha = hi[active] = np.where(below, hi[active], sa)
        with np.errstate(divide="ignore", invalid="ignore"):
            step = -g * F / dF
        # converged: a Newton step at round-off (it may sit on the bracket's end the
        # evaluation just moved, so it is tested before the safeguard) or a tiny bracket
        done = (np.abs(step) <= rtol) | (ha - la <= rtol)
        new = sa + step
        inside = np.isfinite(new) & (new > la) & (new < ha)
        new = np.where(inside | done, new, 0.5 * (la + ha))
        s[active] = np.where(np.isfinite(new), new, sa)
        active, log_n = active[~done], log_n[~done]
    return np.exp(s)

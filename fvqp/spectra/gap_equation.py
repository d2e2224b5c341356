r"""The one solver of the BCS gap equation with a non-equilibrium distribution.

Every self-consistent gap of fvqp is a root of notes Eq. 1 with the thermal factor
replaced by :math:`1 - 2f` for an arbitrary (branch-symmetric, isotropic) occupation
:math:`f` of the Bogoliubov states,

.. math::

    R(\Delta) = \int_0^{\omega_D} d\xi\,\frac{1 - 2f(E)}{E} - \frac{1}{\lambda} = 0,
    \qquad E = \sqrt{\xi^2 + \Delta^2},

or, with the cut-off eliminated through the zero-temperature gap
:math:`\Delta_0 = 2\omega_De^{-1/\lambda}` (weak coupling, :math:`\omega_D \gg \Delta`),

.. math::

    R(\Delta) = \ln\frac{\Delta_0}{\Delta} - 2\int_0^\infty\frac{f\,d\xi}{\sqrt{\xi^2+\Delta^2}}
    = \ln\frac{\Delta_0}{\Delta} - 2\sum_i f_i\,W_i(\Delta) = 0 .

The callers differ only in their *integration rule*, the weights :math:`W_i(\Delta)` of
the cells of their energy grid:

* mesh kinetic models (:func:`fvqp.spectra.bins.gaps`): ``f`` constant on fixed
  energy bins :math:`[a_i, b_i]`,
  :math:`W_i = \mathrm{acosh}(b_i/\Delta) - \mathrm{acosh}(\max(a_i, \Delta)/\Delta)`;
* 0D kinetics (:func:`fvqp.models.kinetics0d.selfgap.self_consistent_gap`): ``f``
  constant on fixed :math:`\xi` cells,
  :math:`W_i = \mathrm{asinh}(\xi_{i+1}/\Delta) - \mathrm{asinh}(\xi_i/\Delta)`;
* finite cut-off, piecewise-linear ``f`` (:func:`fvqp.spectra.gap.gap_from_distribution`):
  the full residual :math:`R` is handed to :func:`solve_gap` directly.

Root selection. For :math:`f \ge 0`, :math:`R < 0` above the :math:`T = 0` gap, so every
root lies below it. The residual is scanned downwards on the caller's points (e.g.
log-spaced from :math:`\Delta_0`) to the first sign change and that bracket is polished:
the **largest** root is returned (strong drives can give several roots; the largest is the
stable superconducting branch), 0 where there is none (the cell turned normal).

Linear response. At a root, :math:`\partial R/\partial f_i = -2W_i` and implicit
differentiation gives the sensitivity of the gap to the distribution,

.. math::

    \frac{\partial\Delta}{\partial f_i} = \frac{2W_i(\Delta)}{R'(\Delta)},\qquad
    R'(\Delta) = -\frac{1}{\Delta} - 2\sum_j f_j\,W_j'(\Delta),

(:func:`weak_coupling_gaps` with ``derivative=True``; :math:`R' < 0` at the largest root of
a decreasing residual, so adding quasiparticles lowers the gap).

References
----------
.. [1] BoltzPhlow/BTE notes, Eq. 1 (``/work/shared/references/boltzphlow_bte_notes.txt``).
.. [2] M. Tinkham, *Introduction to Superconductivity*, 2nd ed. (1996), Eqs. 3.27-3.30.
.. [3] J.-J. Chang and D. J. Scalapino, J. Low Temp. Phys. 31, 1 (1978) (gap equation with
   a non-equilibrium distribution).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import integrate

from .thermal_occupations import _out

__all__ = [
    "gap_equation_residual",
    "gap_equation_residual_derivative",
    "gap_from_distribution",
    "solve_gap",
    "weak_coupling_gaps",
    "weak_coupling_residual",
]

Distribution = Callable[[NDArray[np.float64]], ArrayLike] | tuple[ArrayLike, ArrayLike]
#: ``residual(delta, cells) -> R``: residuals of the cells ``cells`` (int array) at the
#: trial gaps ``delta`` (same length)
Residual = Callable[[NDArray[np.float64], NDArray[np.intp]], NDArray[np.float64]]
#: ``weights(delta) -> W`` (k, N) and ``weights(delta, True) -> (W, dW/dDelta)`` for trial
#: gaps ``delta`` (k,)
Weights = Callable[..., NDArray[np.float64] | tuple[NDArray[np.float64], NDArray[np.float64]]]


def solve_gap(residual: Residual, scan: ArrayLike, *, tol: float = 1e-15,
              max_iter: int = 200) -> NDArray[np.float64]:
    r"""Largest root of the gap-equation residual of every cell (module docstring).

    Parameters
    ----------
    residual : callable
        ``residual(delta, cells) -> R``: the residuals of the cells with indices ``cells``
        at the trial gaps ``delta`` (both shape (k,)); cells are independent and only the
        cells still searching are evaluated.
    scan : array_like, shape (C, S)
        Decreasing trial gaps of every cell; ``scan[:, 0]`` is the largest admissible gap
        (e.g. :math:`\Delta_0`).
    tol : float
        Root tolerance relative to ``scan[:, 0]`` (plus 4 ulp of the root).
    max_iter : int
        Iterations of the bracketing solve.

    Returns
    -------
    ndarray, shape (C,)
        The largest root in ``(scan[:, -1], scan[:, 0]]``; ``scan[:, 0]`` where
        :math:`R > 0` there already; 0 where :math:`R \le 0` at every scan point.

    Notes
    -----
    The bracket of the first sign change is polished by the Illinois variant of regula
    falsi (superlinear; the bracket always shrinks), vectorised over cells. As in Brent's
    method a step is at least half the tolerance away from the bracket's ends, so a root
    within round-off of an end (a gap at :math:`\Delta_0` when ``f`` is exponentially
    small) is closed in one step instead of by bisection. The result is the root to
    round-off, whichever scalar root finder a caller used before (``brentq``, bisection).
    """
    pts = np.asarray(scan, dtype=float)
    if pts.ndim != 2:
        raise ValueError("scan must have shape (cells, points)")
    c = pts.shape[0]
    every = np.arange(c)
    first = np.asarray(residual(pts[:, 0], every), dtype=float)
    out = np.zeros(c)
    lo, glo = np.zeros(c), np.zeros(c)
    hi, ghi = pts[:, 0].copy(), first.copy()
    found = first > 0  # R > 0 at the top: the top is returned
    out[found] = pts[found, 0]
    top = found.copy()
    for k in range(1, pts.shape[1]):
        idx = np.nonzero(~found)[0]
        if idx.size == 0:
            break
        g = np.asarray(residual(pts[idx, k], idx), dtype=float)
        pos = g > 0
        new, stay = idx[pos], idx[~pos]
        lo[new], glo[new] = pts[new, k], g[pos]
        hi[stay], ghi[stay] = pts[stay, k], g[~pos]
        found[new] = True
    act = found & ~top
    out[act & (ghi == 0)] = hi[act & (ghi == 0)]
    act &= ghi != 0
    side = np.zeros(c, dtype=int)  # endpoint replaced last time: -1 lo, +1 hi
    eps4 = 4.0 * np.finfo(float).eps
    for _ in range(max_iter):
        idx = np.nonzero(act)[0]
        if idx.size == 0:
            break
        a, b, ga, gb = lo[idx], hi[idx], glo[idx], ghi[idx]
        tolx = tol * pts[idx, 0] + eps4 * b
        conv = (b - a) <= tolx
        out[idx[conv]] = np.where(np.abs(ga[conv]) < np.abs(gb[conv]), a[conv], b[conv])
        act[idx[conv]] = False
        keep = ~conv
        idx, a, b, ga, gb, tolx = idx[keep], a[keep], b[keep], ga[keep], gb[keep], tolx[keep]
        if idx.size == 0:
            break
        with np.errstate(divide="ignore", invalid="ignore"):
            x = b - gb * (b - a) / (gb - ga)
        x = np.where(np.isfinite(x), x, 0.5 * (a + b))
        x = np.clip(x, a + 0.5 * tolx, b - 0.5 * tolx)
        gx = np.asarray(residual(x, idx), dtype=float)
        zero = gx == 0
        out[idx[zero]] = x[zero]
        act[idx[zero]] = False
        left, right = gx > 0, gx < 0  # x replaces lo (same sign as glo) or hi
        sd = side[idx]
        gb = np.where(left & (sd == -1), 0.5 * gb, gb)
        ga = np.where(right & (sd == 1), 0.5 * ga, ga)
        lo[idx], glo[idx] = np.where(left, x, a), np.where(left, gx, ga)
        hi[idx], ghi[idx] = np.where(right, x, b), np.where(right, gx, gb)
        side[idx] = np.where(left, -1, np.where(right, 1, sd))
    else:  # pragma: no cover - the bracket shrinks superlinearly
        raise ArithmeticError("gap equation: bracketing solve did not converge")
    return out


def weak_coupling_residual(delta: ArrayLike, f: ArrayLike, delta0: ArrayLike,
                           weights: Weights) -> NDArray[np.float64]:
    r""":math:`R(\Delta) = \ln(\Delta_0/\Delta) - 2\sum_i f_iW_i(\Delta)` of every cell
    (module docstring), ``delta``, ``delta0`` shape (C,), ``f`` shape (C, N)."""
    d = np.asarray(delta, dtype=float)
    return np.log(np.asarray(delta0, dtype=float) / d) - 2.0 * np.sum(f * weights(d), axis=1)


def weak_coupling_gaps(
    f: ArrayLike, delta0: ArrayLike, weights: Weights, scan_ratios: ArrayLike, *,
    tol: float = 1e-15, derivative: bool = False,
) -> NDArray[np.float64] | tuple[NDArray[np.float64], NDArray[np.float64]]:
    r"""Self-consistent gaps of cells with distributions ``f`` for a given integration rule.

    Parameters
    ----------
    f : array_like, shape (C, N)
        Occupation of the N cells of each cell's energy grid.
    delta0 : array_like, shape (C,)
        Zero-temperature gaps :math:`\Delta_0 > 0` (the coupling of each material).
    weights : callable
        The rule: ``weights(delta) -> W`` and ``weights(delta, True) -> (W, dW/dDelta)``,
        shape (k, N) for trial gaps ``delta`` of shape (k,) (module docstring).
    scan_ratios : array_like, shape (S,)
        Decreasing scan points :math:`\Delta/\Delta_0`, starting at 1.
    tol : float
        Root tolerance relative to :math:`\Delta_0`.
    derivative : bool
        Also return :math:`\partial\Delta/\partial f`, shape (C, N) (0 for normal cells).

    Returns
    -------
    delta : ndarray, shape (C,)
        The largest root, 0 where there is none.
    ddelta_df : ndarray, shape (C, N)
        Only with ``derivative=True``.
    """
    f = np.asarray(f, dtype=float)
    d0 = np.asarray(delta0, dtype=float)
    scan = d0[:, None] * np.asarray(scan_ratios, dtype=float)[None, :]

    def residual(d: NDArray[np.float64], cells: NDArray[np.intp]) -> NDArray[np.float64]:
        return weak_coupling_residual(d, f[cells], d0[cells], weights)

    delta = solve_gap(residual, scan, tol=tol)
    if not derivative:
        return delta
    sens = np.zeros(f.shape)
    sc = delta > 0
    if np.any(sc):
        w, dw = weights(delta[sc], True)
        dr = -1.0 / delta[sc] - 2.0 * np.sum(f[sc] * dw, axis=1)
        sens[sc] = 2.0 * w / dr[:, None]
    return delta, sens


# --------------------------------------------------------------------------------------
# finite cut-off, piecewise-linear or callable f (the rule of fvqp.spectra.gap)
# --------------------------------------------------------------------------------------
def _grid_residual_and_derivative(
    delta: NDArray[np.float64],
    E_grid: NDArray[np.float64],
    f_vals: NDArray[np.float64],
    debye_energy: float,
    inv_lambda: float,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    r"""Exact residual and derivative for piecewise-linear :math:`f` (see
    :func:`gap_equation_residual`)."""
    d = np.asarray(delta, dtype=float)[..., None]
    e_d = np.sqrt(debye_energy**2 + d * d)
    # cells: grid cells plus one f = 0 cell from grid top to E_D
    lo = np.concatenate([E_grid[:-1], E_grid[-1:]])
    hi_base = np.concatenate([E_grid[1:], [np.inf]])
    slope = np.concatenate([np.diff(f_vals) / np.diff(E_grid), [0.0]])
    icpt = np.concatenate([f_vals[:-1] - slope[:-1] * E_grid[:-1], [0.0]])
    lo_c = np.clip(lo, d, e_d)
    hi_c = np.clip(hi_base, d, e_d)
    # energies below the first grid point: f = f_vals[0] (constant) from Delta to E_grid[0]
    lo_c = np.concatenate([d, lo_c], axis=-1)
    hi_c = np.concatenate([np.clip(E_grid[:1], d, e_d), hi_c], axis=-1)
    a = np.concatenate([[f_vals[0]], icpt])
    b = np.concatenate([[0.0], slope])
    lo_c, hi_c = np.broadcast_arrays(lo_c, hi_c)
    dd = np.broadcast_to(d, lo_c.shape)
    x_lo, x_hi = lo_c / dd, hi_c / dd
    acosh_diff = np.arccosh(x_hi) - np.arccosh(x_lo)
    sq_diff = np.sqrt((hi_c - dd) * (hi_c + dd)) - np.sqrt((lo_c - dd) * (lo_c + dd))
    integral_f = np.sum(a * acosh_diff + b * sq_diff, axis=-1)
    u_d = np.arcsinh(debye_energy / d[..., 0])
    residual = u_d - 2.0 * integral_f - inv_lambda
    # derivative: -(1/Delta) sum_cells (1 - 2 a_i) [sqrt(1 - Delta^2/E^2)]
    s_hi = np.sqrt(1.0 - 1.0 / (x_hi * x_hi))
    s_lo = np.sqrt(1.0 - 1.0 / (x_lo * x_lo))
    full = np.sqrt(1.0 - 1.0 / (e_d[..., 0] / d[..., 0]) ** 2)
    deriv = -(full - 2.0 * np.sum(a * (s_hi - s_lo), axis=-1)) / d[..., 0]
    # Leibniz term from the jump f_top -> 0 at the fixed energy E_top (moves in xi with Delta)
    e_top, f_top = E_grid[-1], f_vals[-1]
    d0 = d[..., 0]
    inside = (e_top > d0) & (e_top < e_d[..., 0])
    with np.errstate(divide="ignore", invalid="ignore"):
        jump = 2.0 * f_top * d0 / (e_top * np.sqrt((e_top - d0) * (e_top + d0)))
    deriv = deriv + np.where(inside, jump, 0.0)
    return residual, deriv


def _prepare_distribution(
    f: Distribution,
) -> tuple[Callable[..., NDArray] | None, NDArray | None, NDArray | None]:
    if callable(f):
        return f, None, None
    E_grid, f_vals = (np.asarray(v, dtype=float) for v in f)
    if E_grid.ndim != 1 or E_grid.shape != f_vals.shape or E_grid.size < 2:
        raise ValueError("(E_grid, f_values) must be 1-D arrays of equal length >= 2")
    if np.any(np.diff(E_grid) <= 0):
        raise ValueError("E_grid must be strictly increasing")
    return None, E_grid, f_vals


def _callable_residual(delta: float, f: Callable, debye_energy: float, inv_lambda: float) -> float:
    u_d = float(np.arcsinh(debye_energy / delta))
    val, _ = integrate.quad(
        lambda u: float(np.asarray(f(np.asarray(delta * np.cosh(u))))), 0.0, u_d,
        epsabs=1e-13, epsrel=1e-12, limit=500,
    )
    return u_d - 2.0 * val - inv_lambda


def gap_equation_residual(
    delta: ArrayLike, f: Distribution, debye_energy: float, coupling: float
) -> NDArray[np.float64] | float:
    r"""Residual of the non-equilibrium gap equation (reconstructed notes Eq. 1).

    .. math::

        R(\Delta) = \int_0^{\omega_D} d\xi\,\frac{1-2f(E)}{E} - \frac{1}{\lambda}
        = \operatorname{asinh}\frac{\omega_D}{\Delta}
          - 2\int_\Delta^{E_D}\frac{f(E)\,dE}{\sqrt{E^2-\Delta^2}} - \frac{1}{\lambda},

    :math:`E_D = \sqrt{\omega_D^2+\Delta^2}`. A self-consistent gap satisfies :math:`R = 0`.

    Parameters
    ----------
    delta : array_like
        Trial gap(s) :math:`> 0`.
    f : callable or (E_grid, f_values)
        Quasiparticle distution (branch-symmetric). A callable ``f(E)`` is integrated with
        ``quad`` in :math:`E = \Delta\cosh u`. A tabulated pair is interpolated **linearly**;
        below the first grid energy :math:`f` is held at its first value; **above the grid's top
        energy** :math:`f = 0` (no quasiparticles beyond the grid). For tabulated :math:`f` the
        integral is done exactly cell by cell,
        :math:`\int (a+bE)/\sqrt{E^2-\Delta^2}\,dE = a\,\mathrm{acosh}(E/\Delta) +
        b\sqrt{E^2-\Delta^2}`, so there is no quadrature error.
    debye_energy : float
        Cutoff :math:`\omega_D`.
    coupling : float
        :math:`\lambda = N_0 V` (e.g. from :func:`coupling_from_tc`).
    """
    inv_lambda = 1.0 / float(coupling)
    fc, E_grid, f_vals = _prepare_distribution(f)
    d = np.asarray(delta, dtype=float)
    if fc is not None:
        wd = float(debye_energy)
        vals = [_callable_residual(float(x), fc, wd, inv_lambda) for x in d.ravel()]
        return _out(np.asarray(vals).reshape(d.shape))
    res, _ = _grid_residual_and_derivative(d, E_grid, f_vals, float(debye_energy), inv_lambda)
    return _out(res)


def gap_equation_residual_derivative(
    delta: ArrayLike, f: Distribution, debye_energy: float, coupling: float
) -> NDArray[np.float64] | float:
    r""":math:`dR/d\Delta` of :func:`gap_equation_residual` (for Newton solvers).

    Differentiating under the :math:`\xi` integral (fixed limits) gives

    .. math::

        \frac{dR}{d\Delta} = \Delta\int_\Delta^{E_D}\frac{dE}{\sqrt{E^2-\Delta^2}}
        \frac{d}{dE}\left[\frac{1-2f(E)}{E}\right].

    For piecewise-linear :math:`f = a_i + b_iE` the slope terms cancel exactly and
    :math:`dR/d\Delta = -\Delta^{-1}\sum_i(1-2a_i)\,[\sqrt{1-\Delta^2/E^2}]_{E_i}^{E_{i+1}}`
    (cells clipped to :math:`[\Delta, E_D]`). For a callable :math:`f` a central difference of
    the ``quad`` residual with step :math:`10^{-5}\Delta` is used (relative accuracy
    :math:`\sim 10^{-7}`).
    """
    inv_lambda = 1.0 / float(coupling)
    fc, E_grid, f_vals = _prepare_distribution(f)
    d = np.asarray(delta, dtype=float)
    if fc is not None:
        out = []
        for x in d.ravel():
            h = 1e-5 * x
            rp = _callable_residual(x + h, fc, float(debye_energy), inv_lambda)
            rm = _callable_residual(x - h, fc, float(debye_energy), inv_lambda)
            out.append((rp - rm) / (2.0 * h))
        return _out(np.asarray(out).reshape(d.shape))
    _, der = _grid_residual_and_derivative(d, E_grid, f_vals, float(debye_energy), inv_lambda)
    return _out(der)


def gap_from_distribution(
    f: Distribution, debye_energy: float, coupling: float, *, n_scan: int = 64
) -> float:
    r"""Self-consistent gap for a given (possibly non-thermal) distribution :math:`f(E)`.

    Solves :math:`R(\Delta) = 0` (:func:`gap_equation_residual`) with :func:`solve_gap`.
    Since :math:`f \ge 0`, :math:`R(\Delta) < 0` for
    :math:`\Delta > \Delta_{00} = \omega_D/\sinh(1/\lambda)` (the :math:`T = 0` gap), so all
    roots lie in :math:`(0, \Delta_{00}]`. The residual is scanned on ``n_scan`` log-spaced
    points from :math:`\Delta_{00}` down to :math:`10^{-8}\Delta_{00}` and the **largest**
    root is polished to :math:`10^{-15}\Delta_{00}` (strongly driven distributions can give
    several roots; the largest is the stable superconducting branch). If no sign change is
    found, there is no non-trivial solution and 0 is returned.

    Parameters
    ----------
    f : callable or (E_grid, f_values)
        Distribution, see :func:`gap_equation_residual` (tabulated: linear interpolation,
        :math:`f = 0` above the grid).
    debye_energy : float
        Cutoff :math:`\omega_D`.
    coupling : float
        :math:`\lambda`.

    Returns
    -------
    float
        :math:`\Delta \ge 0`.
    """
    inv_lambda = 1.0 / float(coupling)
    delta00 = float(debye_energy) / np.sinh(inv_lambda)
    scan = delta00 * np.logspace(0.0, -8.0, n_scan)
    scan[0] *= 1.0 + 1e-12
    _prepare_distribution(f)  # validate once

    def r(d: NDArray[np.float64], _cells: NDArray[np.intp]) -> NDArray[np.float64]:
        return np.atleast_1d(gap_equation_residual(d, f, debye_energy, coupling))

    d = float(solve_gap(r, scan[None, :])[0])
    return float(delta00) if d == scan[0] else d

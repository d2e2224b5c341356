"""The one gap-equation solver (fvqp.spectra.gap_equation) and its integration rules.

Checks against independent scalar root finding (scipy brentq on the same residual),
root selection, the sensitivity dDelta/df against finite differences, and that the bin
rule (mesh models) and the xi rule (0D kinetics) are the same integral of notes Eq. 1.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize

from fvqp.collisions import EnergyGrid
from fvqp.models.kinetics0d.selfgap import xi_weights
from fvqp.spectra import fermi
from fvqp.spectra.bins import BinGrid, bin_weights, gaps
from fvqp.spectra.gap import thermal_gap
from fvqp.spectra.gap_equation import solve_gap, weak_coupling_residual

DELTA0 = 1.764


def _distributions(grid: BinGrid) -> tuple[np.ndarray, np.ndarray]:
    """Thermal and driven (thermal + a bump at 3 Delta0) occupations, and their Delta0."""
    t = np.array([0.1, 0.4, 0.7, 0.9, 0.3, 0.3])
    f = np.asarray(fermi(grid.e[None, :], t[:, None]))
    f[4] += 0.02 * np.exp(-((grid.e - 3.0 * DELTA0) / 0.5) ** 2)
    f[5] += 0.2 * np.exp(-((grid.e - 1.1 * DELTA0) / 0.2) ** 2)
    return f, np.array([DELTA0, DELTA0, DELTA0, DELTA0, 1.9, DELTA0])


def test_gaps_equal_independent_brentq_roots() -> None:
    """Every cell's gap is the root of its own residual, found by scalar brentq to 1e-15."""
    grid = BinGrid.build(1.0, 0.01, 14.0)
    f, d0 = _distributions(grid)
    got = gaps(f, grid, d0)
    for c in range(len(d0)):
        def r(d: float, c: int = c) -> float:
            return float(weak_coupling_residual(np.array([d]), f[c:c + 1], d0[c:c + 1],
                                                lambda x: bin_weights(grid, x))[0])
        ref = optimize.brentq(r, 1e-6 * d0[c], d0[c], xtol=1e-15 * d0[c], rtol=1e-15)
        assert got[c] == pytest.approx(ref, rel=2e-15, abs=0)
    # thermal cells: the weak-coupling BCS gap, to the discretisation of f on h = 0.01
    assert got[1] == pytest.approx(thermal_gap(0.4, 1.0, DELTA0, "delta0"), rel=2e-4, abs=0)
    # the transport model's tolerance
    assert gaps(f, grid, d0, tol=1e-13) == pytest.approx(got, rel=1e-13, abs=0)


def test_normal_cells_and_driven_to_normal() -> None:
    """delta0 = 0 cells and cells whose f admits no gap get 0: f = 0.9 on [0.01, 100]
    makes R = ln(D0/D) - 1.8 acosh(100/D) (+ the saturated ln 1e4 below 0.01) negative
    on the whole bracket [1e-6, 1] D0."""
    grid = BinGrid.build(0.01, 0.01, 100.0)
    f = np.vstack([np.zeros(grid.n), np.full(grid.n, 0.9), np.zeros(grid.n)])
    d = gaps(f, grid, np.array([DELTA0, DELTA0, 0.0]))
    assert d.tolist() == [DELTA0, 0.0, 0.0]


def test_solve_gap_takes_the_largest_root() -> None:
    """Three roots 0.3, 0.6, 0.9 of a decreasing-at-the-top residual: 0.9 is returned;
    no positive value: 0; positive at the top: the top."""
    roots = np.array([0.3, 0.6, 0.9])

    def r(d: np.ndarray, cells: np.ndarray) -> np.ndarray:
        sign = np.array([1.0, -1.0, 1.0])[cells]
        return -np.prod(d[:, None] - roots[None, :], axis=1) * sign

    scan = np.logspace(0.0, -3.0, 40)[None, :].repeat(3, axis=0)
    d = solve_gap(r, scan)
    assert d[0] == pytest.approx(0.9, rel=1e-15, abs=0)
    assert d[1] == 1.0
    scan2 = np.array([[0.25, 0.1]])
    assert solve_gap(lambda x, cells: -np.ones_like(x), scan2).tolist() == [0.0]


def test_gap_sensitivity_matches_finite_differences() -> None:
    """dDelta/df_i = 2 W_i / R'(Delta) against second-order one-sided differences of the
    solved gap (added QPs only: f stays >= 0, so the gap stays below its cap Delta0)."""
    grid = BinGrid.build(1.0, 0.05, 10.0)
    f, d0 = _distributions(grid)
    d, sens = gaps(f, grid, d0, derivative=True)
    rng = np.random.default_rng(7)
    for _ in range(3):
        v = rng.random(f.shape) * (grid.e > 1.2 * DELTA0)  # bins above every gap
        eps = 1e-6
        d1 = gaps(f + eps * v, grid, d0)
        d2 = gaps(f + 2.0 * eps * v, grid, d0)
        fd = (-3.0 * d + 4.0 * d1 - d2) / (2.0 * eps)
        np.testing.assert_allclose(np.sum(sens * v, axis=1), fd, rtol=1e-7, atol=0)
    assert np.all(sens <= 0.0)  # more QPs, smaller gap


def test_bin_and_xi_rules_are_one_integral() -> None:
    """At the grid's own gap the E bins of the centred EnergyGrid are its xi cells: both
    rules give the same weights (acosh(b/D) - acosh(a/D) = asinh(xi_b/D) - asinh(xi_a/D));
    their analytic derivatives (used for dDelta/df) match differences of the weights."""
    eg = EnergyGrid.build(DELTA0 / 1.2, 0.01, 10.0)
    bg = BinGrid(h=eg.h, j0=eg.m // 2, n=eg.n, n_ph=eg.n_ph)
    assert eg.m % 2 == 0
    np.testing.assert_allclose(bg.edges, eg.e_edges, rtol=1e-15, atol=0)
    wb = bin_weights(bg, np.array([eg.delta]))
    wx = xi_weights(eg, np.array([eg.delta]))
    np.testing.assert_allclose(wb, wx, rtol=1e-12, atol=1e-15)
    # the analytic dW/dDelta of both rules against differences of their weights, at a
    # trial gap off the bin edges (the bin rule has a kink where Delta crosses an edge)
    delta, h = 0.9 * eg.delta, 1e-6
    for rule, grid in ((bin_weights, bg), (xi_weights, eg)):
        _, dw = rule(grid, np.array([delta]), True)
        wp = rule(grid, np.array([delta + h]))
        wm = rule(grid, np.array([delta - h]))
        np.testing.assert_allclose(dw, (wp - wm) / (2 * h), rtol=1e-6, atol=1e-9)

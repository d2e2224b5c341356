"""The gap of every bte cell from its own QPs (issue 16 §2, fvqp/models/bte/selfgap.py):
the self-consistent gap of a state with injected QPs equals kinetics0d's self-consistent
gap of the same distribution (the [film] self_consistent_gap rule) and an independent
quadrature of the gap equation, to the grid's accuracy (converging with the spacing); a
thermal state gives the BCS Delta(T); held and normal cells keep their gaps; the iteration
converges to its tolerance or says it did not."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.optimize import brentq

from fvqp.collisions import EnergyGrid
from fvqp.models.bte.gapshift import state_edges
from fvqp.models.bte.selfgap import consistent_gaps, local_gaps
from fvqp.models.kinetics0d.selfgap import self_consistent_gap
from fvqp.spectra import fermi
from fvqp.spectra.gap import thermal_gap

D0, T = 1.764, 0.45            # kTc units: the material's Delta_0, the temperature
D_T = thermal_gap(T, 1.0, D0, "delta0")           # the cell's gap before the injection


def _f_of_xi(xi, amp):
    """Thermal QPs at D_T plus injected ones at E = 2.6 (a state labelled by xi)."""
    e = np.hypot(xi, D_T)
    return fermi(e, T) + amp * np.exp(-0.5 * ((e - 2.6) / 0.15) ** 2)


def _xi_average(x, amp):
    """Averages of ``_f_of_xi`` over the xi intervals ``[x_j, x_{j+1}]`` (Gauss, 12 nodes;
    0 for empty intervals)."""
    t, w = np.polynomial.legendre.leggauss(12)
    a, b = x[:-1, None], x[1:, None]
    vals = _f_of_xi(0.5 * (a + b) + 0.5 * (b - a) * t[None, :], amp)
    return np.where(b[:, 0] > a[:, 0], 0.5 * (vals @ w), 0.0)


def _exact_gap(amp):
    """Root of ln(D0/D) = 2 int_0^inf f(xi) / sqrt(xi^2 + D^2) dxi by quadrature."""
    def r(d):
        return np.log(D0 / d) - 2 * quad(lambda x: _f_of_xi(x, amp) / np.hypot(x, d), 0,
                                         40 * T + 5, limit=400, points=[np.sqrt(2.6**2 -
                                                                                D_T**2)])[0]
    return brentq(r, 0.2 * D0, D0, xtol=1e-14)


def _bte_gap(h, amp):
    from fvqp.spectra.bins import BinGrid

    g = BinGrid.build(0.6 * D0, h, 40 * T + 5)
    f = _xi_average(state_edges(g, np.array([D_T]))[0], amp)[None]
    up = consistent_gaps(f, g, np.array([D_T]), np.array([D0]), lambda y: y, tol=1e-13)
    assert up.converged and up.iterations <= 15     # measured 7-8
    return float(up.delta[0]), up


def test_thermal_state_gives_the_bcs_gap():
    """f_FD(T) on the bins of the BCS gap: the self-consistent gap is Delta(T) (2e-6 at
    h = 0.01; measured 2.6e-7)."""
    d, up = _bte_gap(0.01, 0.0)
    assert d == pytest.approx(D_T, rel=2e-6, abs=0)


def test_injected_qps_reproduce_kinetics0d_self_consistent_gap():
    """Injected QPs (+0.15 at 2.6 kTc) lower the gap by 6 %: the bte cell's
    self-consistent gap (bins of the absolute grid, remapped as the gap moves) equals
    kinetics0d's (its xi rule on its own grid, the same distribution; measured 7e-7,
    2.8e-7, 2.4e-8 at h = 0.04, 0.02, 0.01) and the quadrature root (1.9e-6, 1e-9,
    4.6e-8) to 1e-6 at h = 0.02 and 0.01."""
    exact = _exact_gap(0.15)
    assert exact < 0.95 * D_T                             # a real suppression
    for h in (0.02, 0.01):
        d, _ = _bte_gap(h, 0.15)
        g0 = EnergyGrid.build(D_T, h, 40 * T + 5)
        x = np.concatenate([[0.0], np.sqrt(np.maximum(g0.x_edges[1:] * (g0.x_edges[1:]
                                                                        + 2 * D_T), 0))])
        k0 = self_consistent_gap(_xi_average(x, 0.15), g0, D0)
        assert d == pytest.approx(k0, rel=1e-6, abs=0)
        assert d == pytest.approx(exact, rel=1e-6, abs=0)


def test_held_and_normal_cells_keep_their_gaps():
    """Three cells, the same hot state: a free cell's gap drops, a held one keeps its
    gap exactly, a normal cell (Delta_0 = 0) keeps 0."""
    from fvqp.spectra.bins import BinGrid

    g = BinGrid.build(0.6 * D0, 0.02, 40 * T + 5)
    f1 = _xi_average(state_edges(g, np.array([D_T]))[0], 0.15)
    f = np.stack([f1, f1, f1])
    d = local_gaps(f, g, np.array([D0, D0, 0.0]), held=np.array([False, True, False]),
                   current=np.array([D_T, D_T, 0.0]))
    assert d[0] < 0.97 * D_T
    assert d[1] == D_T and d[2] == 0.0


def test_non_convergence_is_reported(caplog):
    """One iteration allowed, a gap far from its fixed point: not converged, warned."""
    from fvqp.spectra.bins import BinGrid

    g = BinGrid.build(0.6 * D0, 0.02, 40 * T + 5)
    f = _xi_average(state_edges(g, np.array([D_T]))[0], 0.15)[None]
    with caplog.at_level(logging.WARNING, logger="fvqp.bte"):
        up = consistent_gaps(f, g, np.array([D_T]), np.array([D0]), lambda y: y,
                             tol=1e-13, max_iterations=1)
    assert not up.converged and up.change > 1e-3
    assert "not converged" in caplog.text

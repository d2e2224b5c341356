"""Phase-biased spectral solver in the unit-vector parametrisation (vector.py): SNS wire
up to and through φ = π, where the θ–χ solver (phase.py) is singular."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from fvqp.models.usadel.network import uniform_wire
from fvqp.models.usadel.observables import integrate
from fvqp.models.usadel.phase import PhaseProblem, solve_phase
from fvqp.models.usadel.terminals import Reservoir
from fvqp.models.usadel.vector import solve_vector

BIG = 1e5  # reservoir gap in E_Th (Δ ≫ E_Th)


def _sns(n, phi, gamma):
    """Normal wire of length 1 (energies in E_Th) between S reservoirs at ∓φ/2."""
    net = uniform_wire(1.0, n, x0=0.0)
    res = [Reservoir("l", 0, "superconductor", delta=BIG, phase=-phi / 2),
           Reservoir("r", n, "superconductor", delta=BIG, phase=phi / 2)]
    return PhaseProblem(net, np.zeros(n + 1), gamma=gamma, reservoirs=res)


EPS = np.concatenate([np.arange(0.0, 20.0, 0.25), np.geomspace(20.0, 300.0, 60)[1:]])


def _current(solver, n, phi, t=1.0, gamma=0.1):
    """e R_N I / E_Th = ½∫ j_ε tanh(ε/2t) over the whole axis (twice ε > 0)."""
    s = solver(_sns(n, phi, gamma), EPS)
    return float(integrate(s.edge_js.mean(axis=1) * np.tanh(EPS / (2 * t)), EPS))


def test_vector_solver_agrees_with_theta_chi_below_pi():
    """φ = 2, t = E_Th, Γ = 0.1: the vector solver's current converges at second order
    (20/40/80 cells: difference ratio 4.05) and its Richardson value agrees with that of
    the θ–χ solver (a different O(h²) discretisation) to 3e-5 (measured 6.5e-6:
    9.94211 vs 9.94205)."""
    v = [_current(solve_vector, n, 2.0) for n in (20, 40, 80)]
    assert (v[0] - v[1]) / (v[1] - v[2]) == pytest.approx(4.0, abs=0.15)
    rich_v = (4 * v[2] - v[1]) / 3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        c = [_current(solve_phase, n, 2.0) for n in (20, 40)]
    rich_c = (4 * c[1] - c[0]) / 3
    assert rich_v == pytest.approx(rich_c, rel=3e-5)


def test_phi_pi_dos_is_gapless_and_analytic():
    """φ = π (Γ = 1e-4): the pair amplitude vanishes in the middle (N = 1 exactly, no
    spectral supercurrent), and for ε → 0 the solution is n = (0, sin α, cos α) with α
    linear (Laplace), i.e. N(x) = sin(πx/L): gapless everywhere (Zhou et al. 1998)
    (measured 3.7e-6 at ε = 0.01 E_Th). The minigap in the middle closes linearly: it lies
    between 0.6 and 0.75 E_Th at 0.9π (θ–χ solver: 0.68) and between 0.3 and 0.45 at
    0.95π."""
    n = 40
    s = solve_vector(_sns(n, np.pi, 1e-4), np.array([0.01]))
    x = np.linspace(0.0, 1.0, n + 1)
    assert np.abs(s.N[0] - np.sin(np.pi * x)).max() < 2e-5
    assert abs(s.N[0, n // 2] - 1.0) < 1e-12
    assert np.abs(s.edge_js).max() < 1e-10
    for phi, lo, hi in ((0.9, 0.6, 0.75), (0.95, 0.3, 0.45)):
        N = solve_vector(_sns(n, phi * np.pi, 1e-4), np.array([lo, hi])).N[:, n // 2]
        assert N[0] < 2e-3 and N[1] > 1.0


def test_supercurrent_vanishes_at_0_and_pi_and_is_odd_about_pi():
    """I(φ) at t = E_Th, Γ = 0.1 (20 cells): I(0) = I(π) = 0, I(π + δ) = −I(π − δ)
    (δ = 0.1π, to 1e-10), I(0.9π) > 0."""
    i0, ipi = _current(solve_vector, 20, 0.0), _current(solve_vector, 20, np.pi)
    below, above = _current(solve_vector, 20, 0.9 * np.pi), _current(solve_vector, 20,
                                                                     1.1 * np.pi)
    assert below > 4.0  # measured 4.357
    assert abs(i0) < 1e-12 * below and abs(ipi) < 1e-12 * below
    assert above == pytest.approx(-below, rel=1e-10)

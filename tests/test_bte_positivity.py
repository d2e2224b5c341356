"""Positivity of the bte collision steps and the Delta = 0 operator at pair offset m = 0
(issue 16 §1, the normal-trap bug).

Pinned here: the angle-resolved collision rates on a normal-metal grid from the Fermi
level (nodes (i + 1/2) h, pair kinematics E_i + E_j = Omega_{i+j+1}, m = 0) equal a direct
double sum over partners (scattering with Omega = |E_i - E_j|, e-h pair creation and
annihilation with coherence factor 1 at Delta = 0; round-off); backward-Euler steps much
longer than the normal metal's relaxation time, from a non-negative state, stay
non-negative (they reached -3.8 before the partner sums were evaluated at the physical
occupations) and keep the number and energy balances."""

from __future__ import annotations

import numpy as np
import pytest
from test_bte_normal_trap import CLOSED, NO_SOURCE, _setup, hot_state

from fvqp.collisions.angular import angular_rates
from fvqp.models.bte.inelastic import COUPLED_PETSC, physical
from fvqp.solvers import BDFIntegrator, BDFOptions, JacobianConfig


def _direct_rates(f, n, h, m):
    """QP gain ``A + D`` and loss ``B + C`` of one cell with rho = 1, a = 0 (Delta = 0),
    as explicit double sums: partner ``j`` at ``E_j``, scattering phonon
    ``Omega_{|i-j|}`` (emission (1 + n) downwards, absorption n upwards), pair phonon
    ``Omega_{i+j+m+1}`` (recombination f_j (1 + n), pair breaking (1 - f_j) n), kernel
    weight Omega^2 h."""
    nq, nph = len(f), len(n)
    gain, loss = np.zeros(nq), np.zeros(nq)
    for i in range(nq):
        for j in range(nq):
            k = abs(i - j)
            if j != i and k <= nph:
                w = h * (k * h) ** 2
                down = j < i       # partner below: i emits going to j, j absorbs to i
                gain[i] += w * f[j] * (n[k - 1] if down else 1.0 + n[k - 1])
                loss[i] += w * (1.0 - f[j]) * (1.0 + n[k - 1] if down else n[k - 1])
            k = i + j + m + 1
            if k <= nph:
                w = h * (k * h) ** 2
                gain[i] += w * (1.0 - f[j]) * n[k - 1]
                loss[i] += w * f[j] * (1.0 + n[k - 1])
    return gain, loss


@pytest.mark.parametrize("m", [0, 2])
def test_normal_metal_rates_equal_the_direct_double_sum(m):
    """Random occupations on a Delta = 0 grid: the FFT rates of the bte collision layer
    equal the direct double sum to round-off (1e-13 of the largest rate), with the grid
    from the Fermi level (m = 0) and from one spacing (m = 2)."""
    rng = np.random.default_rng(7)
    nq, nph, h = 14, 33, 0.19
    f, n = rng.uniform(0.0, 1.0, nq), rng.uniform(0.0, 2.0, nph)
    r = angular_rates(f[None], n[None], np.ones((1, nq)), np.zeros((1, nq)), h=h, m=m)
    gain, loss = _direct_rates(f, n, h, m)
    scale = max(gain.max(), loss.max())
    assert np.abs(r.qp_in[0] - gain).max() < 1e-13 * scale
    assert np.abs(r.qp_out[0] - loss).max() < 1e-13 * scale


def test_physical_partners_are_the_identity_on_physical_states():
    """The clipped partner occupations: unchanged in [0, 1] (also the imaginary part of a
    complex step), clipped outside."""
    x = np.array([-0.3, 0.0, 0.4, 1.0, 1.7]) + 1e-30j * np.array([1, 1, 1, 1, 1])
    y = physical(x, 1.0)
    np.testing.assert_array_equal(y.real, [0.0, 0.0, 0.4, 1.0, 1.0])
    np.testing.assert_array_equal(y.imag, [0.0, 1e-30, 1e-30, 1e-30, 0.0])
    np.testing.assert_array_equal(physical(np.array([-2.0, 3.0])), [0.0, 3.0])


def test_long_backward_euler_steps_stay_non_negative(tmp_path):
    """Closed Sn | Al | normal-trap device, hot QPs (+0.5 at 1.08 Delta_Sn) in the Sn,
    three backward-Euler steps of 0.44 ns (the normal metal relaxes near the Fermi level
    in far less): every occupation stays >= 0 (it reached -3.8 when BDF's predictor
    started Newton at f < 0 and it found a non-physical root), and the QP energy change
    still equals the energy given to the phonon bath (1e-9 of the excess: Newton to
    10x the residual's round-off floor at the equilibrium)."""
    sim, prob = _setup(tmp_path, **NO_SOURCE, **CLOSED)
    x0, _ = hot_state(sim, prob, 0.5)
    assert x0.min() >= 0.0
    t0 = prob.totals(x0)
    excess = t0["E_qp"] - prob.totals(prob.equilibrium())["E_qp"]
    atol = 10.0 * float(np.linalg.norm(prob.rhs(prob.equilibrium())))
    it = BDFIntegrator(prob, x0, 0.0, "bte_pos_test_",
                       {**COUPLED_PETSC, "snes_rtol": 1e-14, "snes_atol": atol},
                       BDFOptions(order=1, dt_initial=1.0, adaptive=False),
                       jacobian=JacobianConfig("matrix_free", 1, prob.preconditioner))
    assert it.run(3.0).status == 0
    assert it.x.reshape(prob.n, prob.S)[:, : prob.nq].min() >= 0.0
    d_e = prob.totals(it.x)["E_qp"] - t0["E_qp"]
    acc = it.accumulated
    assert acc["E:phonon_bath"] < -0.01 * excess
    assert abs(d_e - acc["E:phonon_bath"]) < 1e-9 * excess

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


def test_inverted_qps_long_steps_keep_phonons_non_negative(caplog):
    """One 1 nm cell fed on every side by an inverted QP distribution (f = 0.9 at
    Delta + 0.8, inflow walls: the QPs stay inverted whatever the phonons do), local
    phonons with fast rates (c_ph = 6: G - L = 2.0 at the start), backward-Euler steps of
    5 (1 + dt (L - G) = -9.1). Without the step check Newton found the negative phonon
    root (measured: n down to -7.0e3, the energy change -3.0e-6 against +2.4e-6 through
    the walls: the partner sums see n+ = 0). With it the steps are refused and quartered
    (the log says so, failed_solves counts them) until they resolve the phonon growth:
    every occupation >= 0 (n up to 4e4), and the QP + phonon energy change (1.5e-4) and the
    QP number change equal the flows through the walls and the pair processes (1e-9)."""
    from fvqp.collisions.grid import fermi
    from fvqp.mesh import build_geometry
    from fvqp.models.bte.inelastic import InelasticProblem
    from fvqp.models.bte.problem import BTEProblem
    from fvqp.models.bte.rect import rectangle
    from fvqp.ordinates.quadrature import circle
    from fvqp.parallel import Distribution
    from fvqp.spectra.bins import BinGrid, cell_spectra

    gap, t_bath, dt = 1.7, 0.3, 5.0
    g = BinGrid.build(gap, 0.1, gap + 1.6, omega_max=2 * gap + 1.6)
    fb = fermi(g.e, t_bath)
    inv = np.minimum(fb + 0.9 * np.exp(-0.5 * ((g.e - gap - 0.8) / 0.15) ** 2), 1.0)
    walls = ("left", "right", "bottom", "top")
    dist = Distribution(build_geometry(rectangle(1, 1, 1e-3, 1e-3)))
    base = BTEProblem(dist, circle(8), g, gap, 1.0, 1.0, np.ones(1), np.array([0.1]),
                      np.array([0.0]), dict.fromkeys(walls, "inflow"),
                      dict.fromkeys(walls, inv), fb, [], prefix="bte_inv_bins_")
    rho, ados, _ = cell_spectra(g, np.array([gap]))
    p = InelasticProblem(base, rho[0], ados[0], qp_scale=1.0, c_ph=6.0, t_bath=t_bath,
                         phonons="local")
    x0 = p.equilibrium(inv)
    r = p.collision_rates(x0.reshape(p.n, p.S))
    assert np.min(1.0 + dt * (r.ph_loss - r.ph_gain)) < -9.0     # the step cannot hold
    t0 = p.totals(x0)
    it = BDFIntegrator(p, x0, 0.0, "bte_inv_test_", dict(COUPLED_PETSC),
                       BDFOptions(order=1, dt_initial=dt, adaptive=False),
                       jacobian=JacobianConfig("matrix_free", 1, p.preconditioner))
    with caplog.at_level("INFO", logger="fvqp.bte"):
        res = it.run(3 * dt)
    assert res.status == 0, res.message
    assert res.failed_solves > 0 and p.phonon_refusals > 0
    assert "step refused, retried shorter" in caplog.text
    y = it.x.reshape(p.n, p.S)
    assert y[:, p.nq:].min() >= 0.0 and y[:, : p.nq].min() >= 0.0
    assert y[:, p.nq:].max() > 1e3                 # the phonons grew (stimulated emission)
    t1 = p.totals(it.x)
    acc = it.accumulated
    d_e = t1["E_qp"] + t1["E_ph"] - t0["E_qp"] - t0["E_ph"]
    flows = sum(v for k, v in acc.items() if k.startswith("E:"))
    assert abs(d_e) > 1e-5
    assert d_e == pytest.approx(flows, rel=1e-9, abs=0)
    d_n = t1["N_qp"] - t0["N_qp"]
    n_flows = sum(v for k, v in acc.items() if k.startswith("N:"))
    assert d_n == pytest.approx(n_flows, rel=1e-9, abs=0)


def test_bdf2_undershoot_keeps_qp_number_and_energy(tmp_path):
    """BDF2 is not positivity-preserving: long steps of the absorber (5 ns, the burst
    decaying) undershoot nearly empty bins below 0, where the collision sums' partners
    are clipped (:func:`physical`). The own occupations are shifted with them
    (``InelasticProblem.own``), so the collisions still keep QP number and energy: the
    QP-number and energy balances close to round-off (measured: 3e-6 QPs of 6.1e6 in 20
    such steps to 100 ns; with the own occupations unclipped 1.5e3 QPs created here and
    3.8e4 in those 100 ns), as with
    backward Euler. (The exact Jacobian action at clipped states equals the complex step:
    tests/test_bte_collision_speed.py.)"""
    from conftest import case_variant, run_fvqp

    case = case_variant("bte_absorber3d.toml", tmp_path, **{
        'spacing = "50 ueV"': 'spacing = "100 ueV"',
        "self_consistent = true": "self_consistent = false",
        'end = "2.5 ns"': 'end = "20 ns"', 'dt_initial = "0.1 ns"': 'dt_initial = "5 ns"',
        'time = "0.6 ns"': 'time = "5.6 ns"', "every = 2": "every = 100"})
    out = tmp_path / "out"
    proc = run_fvqp(["run", case, "--output", out])
    assert (proc.stdout + proc.stderr).count("occupations below zero") == 1
    import json

    s = json.loads((out / "summary.json").read_text())
    assert s["status"] == 0 and s["steps"] == 4
    q, e = s["qp_number"], s["energy_J"]
    assert abs(q["imbalance"]) < 1e-10 * q["sources"]
    assert abs(e["imbalance"]) < 1e-10 * e["inflows"]["sources"]
    # the undershoot happened, and the run says so (summary, series column, one warning)
    neg = s["negative_occupation"]
    assert neg is not None and neg["min_f"] < 0 and 1 <= neg["first_step"] <= 4
    import numpy as np

    rows = np.genfromtxt(out / "bte_absorber3d_series.csv", delimiter=",", names=True)
    assert rows["min_qp_occupation"].min() == pytest.approx(neg["min_f"], rel=1e-12)
    assert rows["min_qp_occupation"][0] >= 0.0


def test_round_off_below_zero_is_not_an_undershoot(caplog):
    """An occupation a few 1e-30 below zero after a step without any source is round-off
    within the step's absolute tolerance, not the scheme's undershoot: no record and no
    warning telling the user to shorten the step; one beyond atol is both."""
    import logging
    from types import SimpleNamespace

    from fvqp.models.bte.coupled import undershoot

    sim = SimpleNamespace(case=SimpleNamespace(values={"time": {"atol": 1e-11}}),
                          units=SimpleNamespace(to_si=lambda v, dim: v))
    with caplog.at_level(logging.WARNING, logger="fvqp"):
        assert undershoot(sim, -2.13e-30, 1, 0.1, None, 2, 0.1) is None
        assert not caplog.records
        rec = undershoot(sim, -3e-11, 2, 0.1, None, 2, 0.2)
    assert rec == {"first_step": 2, "time_s": 0.2, "min_f": -3e-11, "steps": 1}
    assert len(caplog.records) == 1 and "below zero after step 2" in caplog.records[0].message

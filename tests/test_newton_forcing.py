"""Inexact Newton (:mod:`fvqp.solvers.forcing`): the forcing terms' rule, the Krylov
tolerance each linear solve of a PETSc SNES actually gets, and transport's condensed
Schur path with forcing (its default) against exact linear solves: the same answers,
fewer Krylov iterations."""

from __future__ import annotations

import json
import math

import h5py
import numpy as np
import pytest
from test_transport_ranks_krylov import SHORT

from conftest import case_variant, run_fvqp
from fvqp.solvers.forcing import DEFAULTS, Forcing, ForcingOptions, forcing_options


def test_forcing_rule_eisenstat_walker_choice_2_with_floor_and_bounds():
    """eta_0; gamma (ratio)^alpha; the safeguard when gamma eta_prev^alpha > 0.1; never
    below the configured rtol, never above eta_max; never below zeta tau / |F|; exact
    solves (the configured rtol) in a Newton solve without a residual test."""
    o = ForcingOptions(rule="ew", first=0.5, max=0.9, gamma=0.9, alpha=2.0, floor=0.1)
    f = Forcing(o, rtol_min=1e-10)
    f.start(1e-300)
    assert f.rtol(1.0) == 0.5
    # ratio 1e-3: 0.9e-6, but the safeguard 0.9 * 0.5^2 = 0.225 > 0.1 holds it up
    assert f.rtol(1e-3) == pytest.approx(0.225, rel=1e-14)
    # then 0.9 * 0.225^2 = 0.0456 < 0.1: the ratio's value, ratio 1e-2 -> 9e-5
    assert f.rtol(1e-5) == pytest.approx(0.9e-4, rel=1e-14)
    assert f.rtol(1e-12) == 1e-10  # 0.9e-14: clipped to the configured rtol
    g = Forcing(ForcingOptions(rule="ew", first=0.1, max=0.5), rtol_min=1e-10)
    g.start(1e-300)
    g.rtol(1.0)
    assert g.rtol(0.99) == 0.5  # a stalled Newton (0.9 * 0.99^2): at most eta_max
    d = Forcing(ForcingOptions(rule="ew"), rtol_min=1e-10)
    d.start(target=1e-9)  # a residual test at 1e-9
    assert d.rtol(1.0) == DEFAULTS.first
    assert d.rtol(1e-4) == pytest.approx(0.1 * 1e-9 / 1e-4, rel=1e-14)  # floor 1e-6
    assert d.rtol(2e-10) == DEFAULTS.max  # below tau already: eta_max, not > 1
    assert d.current == DEFAULTS.max
    d.start(target=None)  # a correction-tested Newton solve
    assert d.rtol(1.0) == d.rtol(1e-3) == 1e-10
    first = Forcing(DEFAULTS, rtol_min=1e-10)  # the default rule: the first solve only
    assert DEFAULTS.rule == "first"
    first.start(target=1e-12)
    assert [first.rtol(x) for x in (1.0, 1e-4, 1e-9)] == [DEFAULTS.first, 1e-10, 1e-10]


def test_forcing_keys_with_command_line_winning_and_bad_values_named():
    from petsc4py import PETSc

    from fvqp.solvers import options_session

    with options_session():
        assert forcing_options("t_", {}, default=False) is None
        assert forcing_options("t_", {}, default=True) == DEFAULTS
        got = forcing_options("t_", {"newton_forcing": True, "newton_forcing_first": 1e-3},
                              default=False)
        assert got == ForcingOptions(first=1e-3)
        assert forcing_options("t_", {"newton_forcing": "ew"}, default=False) == \
            ForcingOptions(rule="ew")
        assert forcing_options("t_", {"newton_forcing": False}, default=True) is None
        PETSc.Options().setValue("-t_newton_forcing", "0")  # the command line wins
        try:
            assert forcing_options("t_", {"newton_forcing": True}, default=True) is None
        finally:
            PETSc.Options().delValue("-t_newton_forcing")
        with pytest.raises(ValueError, match="newton_forcing_first.*Fix"):
            forcing_options("t_", {"newton_forcing_first": 2.0}, default=True)
        with pytest.raises(ValueError, match="rule 'newtn'.*Fix"):
            forcing_options("t_", {"newton_forcing": "newtn"}, default=True)


def _bratu(dist, prefix, forcing):
    """-u'' = 2 exp(u) on (0, 1) (Bratu, below its fold at 3.51), u = 0 at both ends:
    Newton from zero converges in a few iterations; Jacobi-preconditioned GMRES needs
    many, so the linear tolerances show in the counts."""
    from fvqp.solvers import NonlinearSolver

    n = dist.local.n_owned
    h = 1.0 / (n + 1)

    def residual(x):
        u = np.concatenate([[0.0], x[:n], [0.0]])
        return (2 * u[1:-1] - u[:-2] - u[2:]) / h**2 - 2.0 * np.exp(u[1:-1])

    def jacobian(x):
        diag = 2.0 / h**2 - 2.0 * np.exp(x[:n])
        return np.concatenate([diag, np.full(n - 1, -1.0 / h**2),
                               np.full(n - 1, -1.0 / h**2)])

    i = np.arange(n)
    pat = (np.concatenate([i, i[1:], i[:-1]]), np.concatenate([i, i[:-1], i[1:]]))
    opts = {"snes_rtol": 1e-12, "snes_atol": 1e-300, "ksp_type": "gmres",
            "ksp_gmres_restart": 200, "ksp_rtol": 1e-12, "pc_type": "jacobi"}
    return NonlinearSolver(dist, residual, jacobian, pat, prefix, opts, forcing=forcing)


def test_snes_linear_solves_get_the_forcing_terms_and_the_same_solution():
    """Each linear solve's KSP rtol is the rule's value for the residual norm SNES
    monitors (recomputed here from the monitored norms), the solution equals the
    exact-solve one to the residual tolerance, with fewer Krylov iterations."""
    from fvqp.parallel import SerialLayout
    from fvqp.solvers import options_session

    dist = SerialLayout(200)
    ew = ForcingOptions(rule="ew")
    with options_session():
        exact = _bratu(dist, "bx_", None)
        x_exact = np.zeros(200)
        r_exact = exact.solve(x_exact)
        inexact = _bratu(dist, "bf_", ew)
        norms, rtols = [], []
        inexact.snes.setMonitor(lambda snes, it, fnorm: norms.append(fnorm))
        ksp = inexact.snes.getKSP()
        ksp.setMonitor(lambda k, it, rnorm: rtols.append(k.getTolerances()[0])
                       if it == 0 else None)
        x = np.zeros(200)
        r = inexact.solve(x)
        exact.destroy()
        inexact.destroy()
    assert r_exact.success and r.success
    rule = Forcing(ew, rtol_min=1e-12)
    rule.start(target=1e-12 * norms[0])
    expected = [rule.rtol(fn) for fn in norms[:len(rtols)]]
    assert len(rtols) == r.iterations >= 3
    assert np.allclose(rtols, expected, rtol=1e-12), (rtols, expected)
    assert rtols[0] == ew.first and max(rtols) <= ew.max
    # the same answer to the residual test's accuracy (|F| <= 1e-12 |F0|, cond ~ 1e4)
    assert np.max(np.abs(x - x_exact)) < 1e-7 * np.max(np.abs(x_exact))
    assert r.residual_norm <= 1e-12 * norms[0]
    assert r.linear_iterations < 0.8 * r_exact.linear_iterations, (
        r.linear_iterations, r_exact.linear_iterations)


def _burst(tmp_path, extra: str):
    """The coarse absorber, 64.25 ueV bins, the burst at t = 0 and 3 BDF1 steps of
    0.2 ns, the schur mode with its defaults (condensed solve, forcing of the first
    linear solve of each Newton solve): summary, final state, the run's output."""
    tmp_path.mkdir(exist_ok=True)
    case = case_variant("transport_absorber3d.toml", tmp_path,
                        **{**SHORT, 'time = "1 ns"': 'time = "0 ns"'})
    case.write_text(case.read_text() + '\n[numerics]\njacobian = "schur"\n'
                    + (f"[solver.petsc]\n{extra}" if extra else ""))
    proc = run_fvqp(["run", case, "--output", tmp_path / "o"])
    with h5py.File(tmp_path / "o" / "checkpoint.h5", "r") as fh:
        x = fh["x0"][...]
    return json.loads((tmp_path / "o" / "summary.json").read_text()), x, proc


def test_transport_condensed_burst_inexact_equals_exact_with_fewer_krylov(tmp_path):
    """Forcing (default) against ``newton_forcing = false`` (a case key that must reach
    the solver, not PETSc): the same Newton count, at most 0.85x the Krylov iterations
    (measured 12 Newton; 39 -> 30 Krylov), the final states equal in every unknown above
    1e-4 of the largest to 1e-11 and above 1e-6 to 1e-9 (measured 2.1e-13, 2.2e-11; both
    runs are 1.2e-11 and 3.6e-10 from a tight-tolerance reference there), the totals to
    1e-9 of the burst's QPs and energy, the imbalances within 1e-10 of them."""
    exact, x_exact, _ = _burst(tmp_path / "exact", "newton_forcing = false\n")
    inexact, x, proc = _burst(tmp_path / "inexact", "")
    assert exact["status"] == 0 and inexact["status"] == 0
    assert "not used" not in proc.stdout + proc.stderr  # no unused-options list
    assert inexact["newton_iterations"] == exact["newton_iterations"]
    assert inexact["linear_iterations"] <= 0.85 * exact["linear_iterations"], (
        inexact["linear_iterations"], exact["linear_iterations"])
    big = np.max(np.abs(x_exact))
    rel = np.abs(x - x_exact) / np.maximum(np.abs(x_exact), 1e-300)
    for above, bar in ((1e-4, 1e-11), (1e-6, 1e-9)):
        assert np.max(rel[np.abs(x_exact) > above * big]) < bar, above
    # scales: the QPs the burst made (final number) and the energy deposited
    for key, scale_key, keys in (("qp_number", "final", ("final", "pair_processes")),
                                 ("energy_J", "deposited", ("final", "escape"))):
        scale = exact[key][scale_key]
        assert scale > 0
        for k in keys:
            assert math.isclose(inexact[key][k], exact[key][k], rel_tol=0,
                                abs_tol=1e-9 * scale), (key, k)
        assert abs(inexact[key]["imbalance"]) < 1e-10 * scale, key

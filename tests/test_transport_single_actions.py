"""Issue 18 §1: inexact Newton's forced linear solves apply the condensed Schur
complement with the collision part's perturbation transforms in single precision
(:data:`fvqp.models.transport.condensed.SINGLE_ACTION_RTOL`,
:meth:`fvqp.collisions.correlations.State.perturbed_in`); the exact solves that end
every Newton solve stay double, so a run's answer is that of double-precision actions."""

import numpy as np
import pytest
import test_transport_condensed as _cond

from conftest import case_variant

#: the 520-cell absorber at a perturbed state
absorber = _cond.absorber


def test_single_precision_action_is_the_double_one_to_float32_rounding(absorber):
    """The condensed Schur action with single-precision perturbations equals the double
    one to the collision part's float32 rounding (within 1e-8 of its largest value;
    measured 4.4e-10: the storage and transport terms dominate it), and is not it (it
    ran in single precision: the double path gives the same bits, a difference of 0);
    the algebraic rows are not touched (they agree exactly)."""
    p, xl = absorber
    pc = _cond._condensed_pc(p, xl, "h1single_", "cells")
    c = pc.condensed
    v = np.random.default_rng(11).standard_normal((p.n, p.N))
    vl = pc.dist.ghosted(v.ravel()).reshape(-1, p.N)
    double = p.schur_action(xl, vl, c.shift, c.d)[0]
    single = p.schur_action(xl, vl, c.shift, c.d, precision=np.float32)[0]
    scale = np.max(np.abs(double))
    diff = np.abs(single - double)
    assert np.max(diff) <= 1e-8 * scale
    assert np.max(diff) >= 1e-12 * scale
    algebraic = p.alg_f[:p.n]
    assert np.any(algebraic)
    assert np.array_equal(single[algebraic], double[algebraic])


def _fixed_burst(tmp_path, name: str, dt: str, extra: str = "",
                 pulse: str = "0.6 ns") -> dict:
    """:func:`test_transport_condensed._burst` with the condensed solve in fixed BDF1
    steps of ``dt``, the pulse at ``pulse`` (inexact Newton forces the residual-tested
    solves of fixed steps only; ``extra``: lines of ``[solver.petsc]``)."""
    return _cond._burst(tmp_path, name, _cond.CONDENSED + extra,
                        **{'time = "1 ns"': f'time = "{pulse}"',
                           'dt_initial = "10 ps"': f'dt_initial = "{dt}"',
                           "rtol = 1e-3": 'rtol = 1e-3\nadaptive = false\nscheme = "bdf1"'})


def test_forced_solves_in_single_precision_keep_the_answer(tmp_path):
    """Three fixed 0.2 ns BDF1 steps into the absorber burst (condensed solve): the
    forced first solves in single precision (``collision_precision = "auto"``, the
    default) against every solve in double (``"double"``): the same Newton and Krylov
    counts (measured 6 / 15), final energies and QP number equal to 1e-12 (measured
    4e-16, 2e-16), energy conserved to 1e-13 of the early deposit by both (measured
    2.8e-14 both, their Newton tolerance); the default ran the condensed actions of its
    first solves in single precision (measured 6 of 15), ``"double"`` none."""
    default = _fixed_burst(tmp_path, "auto", "0.2 ns")
    double = _fixed_burst(tmp_path, "double", "0.2 ns", 'collision_precision = "double"\n')
    for k in ("newton_iterations", "linear_iterations"):
        assert default[k] == double[k], k
    calls, dcalls = default["cpu_calls"], double["cpu_calls"]
    assert 0 < calls["condensed_action_single"] < calls["condensed_action"]
    assert dcalls["condensed_action_single"] == 0
    e, ed = default["energy_J"], double["energy_J"]
    for k in ("final", "escape"):
        assert e[k] == pytest.approx(ed[k], rel=1e-12, abs=0), k
    assert default["N_qp"] == pytest.approx(double["N_qp"], rel=1e-12, abs=0)
    for s in (e, ed):
        assert abs(s["imbalance"]) <= 1e-13 * s["deposited"]


def test_newton_solves_near_their_test_keep_double_actions(tmp_path):
    """Three fixed 10 ps steps long before the pulse (at 1 ns): the Newton solves start
    close to their absolute test, where a forced solve in double precision may end one in
    a single iteration (measured: the second step, residual 1.1e-7 -> 1.9e-16); single-precision
    actions there cost an iteration (6 Newton iterations instead of 5 before the reach
    rule, ``SINGLE_ACTION_REACH``). The default keeps those solves in double: the same
    Newton count as ``"double"``."""
    default = _fixed_burst(tmp_path, "auto", "10 ps", pulse="1 ns")
    double = _fixed_burst(tmp_path, "double", "10 ps", 'collision_precision = "double"\n',
                          pulse="1 ns")
    assert default["newton_iterations"] == double["newton_iterations"]


def test_single_precision_everywhere_when_asked(tmp_path):
    """``collision_precision = "single"``: every condensed action in single precision
    (measured 15 of 15), the same Newton count through the burst's 0.2 ns steps, and the
    answer within 1e-9 of double actions' (measured 7e-14 in the QP number, 5e-14 in the
    final energy: the last Newton correction carries the actions' rounding)."""
    single = _fixed_burst(tmp_path, "single", "0.2 ns", 'collision_precision = "single"\n')
    double = _fixed_burst(tmp_path, "double", "0.2 ns", 'collision_precision = "double"\n')
    calls = single["cpu_calls"]
    assert calls["condensed_action_single"] == calls["condensed_action"] > 0
    assert single["newton_iterations"] == double["newton_iterations"]
    assert single["N_qp"] == pytest.approx(double["N_qp"], rel=1e-9, abs=0)
    assert single["energy_J"]["final"] == pytest.approx(double["energy_J"]["final"],
                                                        rel=1e-9, abs=0)


def test_unknown_collision_precision_is_refused(tmp_path):
    from fvqp.case.loader import CaseError, load_case

    case = case_variant("transport_absorber3d.toml", tmp_path)
    case.write_text(case.read_text() + '\n[solver.petsc]\ncollision_precision = "half"\n')
    with pytest.raises(CaseError, match="collision_precision"):
        load_case(case)

"""Adaptive steps with a gap in every cell (fvqp/models/bte/gapcollide.py, gaprun.py;
``[time] adaptive = true`` with collisions): the uniform Al film under 20 nW of QP
injection (cases/bte_selfgap_uniform.toml: collisions, local phonons, BDF2 here) for
10 ns. The adaptive runs converge, as rtol shrinks, to the limit of the fixed-step runs
(their Richardson extrapolation, second order), with the QP-number and energy balances
closed across steps of varying length (the BDF2 weights of the condensate's energy take
the step ratio), and a run stopped and resumed takes the uninterrupted steps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import fvqp.api as fa

CASES = Path(__file__).resolve().parents[1] / "cases"


def _case(dt: str, adaptive: bool, rtol: float = 1e-3) -> str:
    text = (CASES / "bte_selfgap_uniform.toml").read_text()
    step = (f"adaptive = true\nrtol = {rtol}\natol = 1e-12" if adaptive
            else "adaptive = false")
    for old, new in (('end = "80 ns"', 'end = "10 ns"'),
                     ('dt_initial = "2 ns"', f'dt_initial = "{dt}"'),
                     ('scheme = "bdf1"', 'scheme = "bdf2"'),
                     ("adaptive = false", step), ("every = 5", "every = 1000")):
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


def _run(tmp_path, name: str, text: str, **kw):
    r = fa.run(text, base_dir=CASES, name=name, output_dir=tmp_path / name, **kw)
    return r.result


def test_adaptive_steps_converge_to_the_fixed_step_limit(tmp_path):
    """QPs after 10 ns: fixed BDF2 steps of 0.2 and 0.1 ns (second order: their
    difference shrinks 4.0x per halving, measured 351 / 86 / 21 QPs from 0.4 to 0.05
    ns: the limit by Richardson) against adaptive steps at rtol 1e-3 and 1e-4 (atol
    1e-12: the occupations are ~1e-6 and below; the first step 0.01 ns). Measured: the
    adaptive runs 2.3e-3 and 7.1e-4 of the QPs off the limit (1.8e-4 at 1e-5) in 51 and
    96 steps (191). Balances across steps of varying length: QP number to 1e-10 of the
    QPs, energy to 1e-10 of the energy injected (measured 5e-14; with the equal-step
    BDF2 weights for the condensate's energy 1.6e-5)."""
    fixed = {dt: _run(tmp_path, f"fixed_{dt}", _case(f"{dt} ns", False))
             for dt in (0.2, 0.1)}
    n2, n1 = (fixed[dt]["qp_number"]["final"] for dt in (0.2, 0.1))
    limit = n1 + (n1 - n2) / 3.0
    assert abs(n1 - n2) < 2e-4 * n1                     # close to the limit already
    err = {}
    for rtol in (1e-3, 1e-4):
        s = _run(tmp_path, f"adaptive_{rtol}", _case("0.01 ns", True, rtol))
        assert s["status"] == 0 and s["adaptive"] and s["t_end_s"] == pytest.approx(1e-8)
        q, e = s["qp_number"], s["energy_J"]
        assert abs(q["imbalance"]) <= 1e-10 * q["final"]
        assert abs(e["imbalance"]) <= 1e-10 * abs(e["inflows"]["sources"])
        assert abs(e["inflows"]["condensate"]) > 1e3 * abs(e["imbalance"])  # it acts
        err[rtol] = (abs(q["final"] - limit) / limit, s["steps"], s["rejected_steps"])
    (e3, k3, _), (e4, k4, _) = err[1e-3], err[1e-4]
    # the error follows the tolerance: within a few rtol, shrinking with it
    assert e3 < 5e-3 and e4 < e3 / 2.5 and k4 > k3, err


def test_adaptive_resume_equals_uninterrupted(tmp_path):
    """Stopped after 9 of its steps (``--max-steps``) and resumed, an adaptive run takes
    the uninterrupted steps: same step count, rejections, Newton iterations, times of the
    series and QP numbers to 1e-12 (the checkpoint holds the time, the next step, and
    the predictor's third state)."""
    text = _case("0.05 ns", True)
    whole = fa.run(text, base_dir=CASES, name="whole", output_dir=tmp_path / "whole")
    part = tmp_path / "part"
    s1 = _run(tmp_path, "part", text, max_steps=9)
    assert s1["status"] == 1 and s1["steps"] == 9
    again = fa.run(text, base_dir=CASES, name="part", output_dir=part, resume=True)
    a, b = whole.result, again.result
    assert b["status"] == 0
    for k in ("steps", "rejected_steps", "newton_iterations"):
        assert b[k] == a[k], k
    assert b["qp_number"]["final"] == pytest.approx(a["qp_number"]["final"], rel=1e-12)
    assert b["energy_J"]["imbalance"] == pytest.approx(a["energy_J"]["imbalance"],
                                                       rel=1e-6, abs=1e-30)
    sa, sb = (r.series["qp_number"] for r in (whole, again))
    assert len(sa.times) == a["steps"] + 1 and np.all(np.diff(sa.times) > 0)
    np.testing.assert_allclose(sb.times, sa.times, rtol=1e-12, atol=0)
    np.testing.assert_allclose(sb.values, sa.values, rtol=1e-12, atol=0)
    # the steps vary (the series' dt_s column: the step that led to each row)
    dt = whole.series["dt_s"].values[1:]
    assert dt.max() > 5 * dt.min()


def test_a_gap_iteration_that_fails_after_a_step_is_retried_shorter(tmp_path, monkeypatch):
    """Adaptive runs retry a step whose gap iteration does not converge at a quarter of
    it (fixed runs stop: their fix is a shorter dt_initial). The 4th gap update is made
    to fail once: the run still reaches the end, with one more rejected step, a step a
    quarter of the one that failed, and the QPs of the undisturbed run to the step
    control's tolerance."""
    import dataclasses

    from fvqp.models.bte import gapcollide

    text = _case("0.05 ns", True)
    base = fa.run(text, base_dir=CASES, name="plain", output_dir=tmp_path / "plain")
    plain = base.result
    real = gapcollide.WithCollisions.update
    calls = {"n": 0}

    def flaky(self):
        up = real(self)
        calls["n"] += 1
        if calls["n"] == 4:         # the gap update after step 4
            return dataclasses.replace(up, converged=False)
        return up

    monkeypatch.setattr(gapcollide.WithCollisions, "update", flaky)
    r = fa.run(text, base_dir=CASES, name="flaky", output_dir=tmp_path / "flaky")
    s = r.result
    assert s["status"] == 0 and s["t_end_s"] == pytest.approx(1e-8)
    assert s["rejected_steps"] == plain["rejected_steps"] + 1
    dt, dt0 = r.series["dt_s"].values, base.series["dt_s"].values
    np.testing.assert_array_equal(dt[:4], dt0[:4])     # the same steps before
    assert dt[4] == pytest.approx(dt0[4] / 4, rel=1e-12)
    assert s["qp_number"]["final"] == pytest.approx(plain["qp_number"]["final"], rel=1e-2)


def test_adaptive_two_ranks_equal_serial(tmp_path):
    """``mpiexec -n 2``: the same adaptive steps (the error norm, the source windows and
    the step decisions are collective) and the serial QPs, gaps and balances to 1e-8."""
    from conftest import serial_and_two_ranks

    case = tmp_path / "bte_selfgap_uniform.toml"
    case.write_text(_case("0.05 ns", True).replace(
        'file = "../meshes/', f'file = "{CASES.parent}/meshes/'))
    sa, sb = serial_and_two_ranks(case, tmp_path)
    assert sa["status"] == 0 and sa["adaptive"]
    for k in ("steps", "rejected_steps"):
        assert sb[k] == sa[k], k
    for k in ("final", "sources", "pair_processes"):
        assert sb["qp_number"][k] == pytest.approx(sa["qp_number"][k], rel=1e-8, abs=0), k
    assert sb["gap"]["min_ueV"] == pytest.approx(sa["gap"]["min_ueV"], rel=1e-8, abs=0)

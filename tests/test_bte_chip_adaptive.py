"""Adaptive steps of the chip chain (``[time] adaptive = true``,
:mod:`fvqp.models.bte_chip.adaptive`): the steps follow backward Euler's local error, so
the error of a run falls with ``rtol`` as the controller predicts; the balances stay exact;
steps end on the deposit's window and resolve it (none holds more than 0.197 of it);
resume = uninterrupted and 2 ranks = serial with steps of varying length; every step's
phonon systems are those of 1/dt_initial with the difference on the diagonal; failed
attempts (the chain's, the QP Newton step's) are retried at a quarter, with a ceiling
after a solver's failure; the case checks."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest

from conftest import case_variant, run_fvqp
from fvqp.case.loader import CaseError, load_case

CLOSED = re.search(r'CLOSED = """(.*?)"""',
                   (Path(__file__).parent / "test_bte_chip.py").read_text(), re.S).group(1)
#: the closed chip of tests/test_bte_chip.py to 20 ns (its deposit's window, 6 widths of
#: 1 ns about 5 ns, ends at 11 ns), output at the end only
LONG = (CLOSED.replace('end = "10 ns"', 'end = "20 ns"')
        .replace("every = 5", "every = 1000"))


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _run(write_case, tmp_path, name: str, time_keys: str, nproc: int = 1,
         extra=()) -> tuple[dict, list]:
    case = write_case(LONG.replace('dt_initial = "1 ns"', time_keys), f"{name}.toml")
    run_fvqp(["run", case, "--output", tmp_path / name, *extra], nproc=nproc)
    s = json.loads((tmp_path / name / "summary.json").read_text())
    return s, _rows(tmp_path / name / f"{name}_series.csv")


def _window_rule(t: np.ndarray, dt: np.ndarray) -> None:
    """The steps through the deposit (1 ns wide at 5 ns; window 0 to 11 ns, its end a
    step's end): the first (no error estimate) at most half a width, every later one
    holding at most :data:`fvqp.mesh.sources.WINDOW_FRACTION` of the energy (the share
    of a half-width step at the peak, :meth:`fvqp.mesh.sources.PulseProfile.max_dt`;
    before 2026-11-28 every step in the window was at most half a width)."""
    from scipy.special import ndtr

    from fvqp.mesh.sources import WINDOW_FRACTION

    assert dt[1] <= 0.5e-9 * (1 + 1e-12)
    inside = t[1:] <= 11e-9 * (1 + 1e-12)
    z1, z0 = (t[1:] - 5e-9) / 1e-9, (t[1:] - dt[1:] - 5e-9) / 1e-9
    assert np.all((ndtr(z1) - ndtr(z0))[inside] <= WINDOW_FRACTION * (1 + 1e-9))
    assert np.any(np.abs(t - 11e-9) < 1e-18)


def _at(rows, t: float) -> float:
    """The upper film's QP number in the row at time ``t`` (which must be a step end)."""
    hit = [float(r["N_qp:upper"]) for r in rows if abs(float(r["time_s"]) - t) < 1e-18]
    assert len(hit) == 1, f"no step ends at {t}"
    return hit[0]


def test_the_error_falls_with_rtol_as_the_control_predicts(write_case, tmp_path):
    """The closed chip (deposit at 5 ns, 1 ns wide) to 20 ns. Reference: the Richardson
    limit of fixed steps of 0.25 and 0.125 ns (backward Euler is first order: measured
    at 40 ns the same limit as from 0.125 and 0.0625 ns to 2e-5). With the local error
    per step held at rtol, a step is ~ sqrt(rtol) and so is the error of the run: rtol
    1e-2 -> 1e-3 divides it by ~sqrt(10) = 3.16 (measured 3.05 at 11 ns and 2.88 at
    20 ns; in a run to 40 ns 3.2 at the end, and 1e-3 -> 1e-4 3.2 and 3.2), and at
    rtol = 1e-2 the QP number is within 2 % of the limit (measured 1.5 % at 11 ns,
    0.48 % at 20 ns). The deposit's window ends a step (11 ns), the steps inside it
    hold at most 0.197 of the deposit (the first at most half its width), and at rtol
    1e-2 they grow well past that after it;
    energy and QP pairs balance to 1e-10 as with fixed steps."""
    fixed = [_run(write_case, tmp_path, f"fixed{k}", f'dt_initial = "{dt}"')
             for k, dt in enumerate(("0.25 ns", "0.125 ns"))]
    ad = [_run(write_case, tmp_path, f"ad{k}",
               f'dt_initial = "1 ns"\nadaptive = true\nrtol = {r}')
          for k, r in enumerate(("1e-2", "1e-3"))]
    for t in (11e-9, 20e-9):
        n1, n2 = (_at(rows, t) for _, rows in fixed)
        limit = 2 * n2 - n1
        e1, e2 = (abs(_at(rows, t) - limit) for _, rows in ad)
        assert 2.2 < e1 / e2 < 4.5, (t, e1, e2)
        assert e1 < 2e-2 * limit
    for s, rows in ad:
        assert s["status"] == 0 and s["adaptive"] is True
        dep = s["E_deposited_J"]
        assert abs(s["energy_imbalance_J"]) < 1e-10 * dep
        assert abs(s["qp_number"]["imbalance"]) < 1e-10 * s["qp_number"]["final"]
        t = np.array([float(r["time_s"]) for r in rows])
        dt = np.array([float(r["dt_s"]) for r in rows])
        assert np.allclose(np.diff(t), dt[1:], rtol=1e-12, atol=0)
        _window_rule(t, dt)
        assert s["dt_range_s"][1] == pytest.approx(dt.max(), rel=1e-12)
    assert ad[1][0]["steps"] > 2 * ad[0][0]["steps"]
    assert max(float(r["dt_s"]) for r in ad[0][1]) > 1.5 * 0.5e-9   # measured 0.95 ns


def test_adaptive_bdf2_is_more_accurate_at_the_same_tolerance(write_case, tmp_path):
    """The closed chip to 20 ns, adaptive steps at rtol 1e-2 with BDF2 against backward
    Euler, both against the Richardson limit of fixed backward-Euler steps of 0.25 and
    0.125 ns (as above): BDF2's upper-film QP number is closer by at least 2x at 11
    and 20 ns (measured 5.1x and 3.1x: 0.30 % and 0.16 % of the limit against 1.5 %
    and 0.48 %) in at most 0.8x the steps (measured 37 against 61; the first two steps
    are backward Euler by design, no later one fell back or was limited here), energy
    and QP pairs balance to 1e-10 in every row, and the deposit's window still holds
    each step to 0.197 of the deposit (:func:`_window_rule`)."""
    fixed = [_run(write_case, tmp_path, f"fixed{k}", f'dt_initial = "{dt}"')
             for k, dt in enumerate(("0.25 ns", "0.125 ns"))]
    ad = {sch: _run(write_case, tmp_path, sch, 'dt_initial = "1 ns"\nadaptive = true\n'
                    f'rtol = 1e-2\nscheme = "{sch}"') for sch in ("bdf1", "bdf2")}
    for t in (11e-9, 20e-9):
        n1, n2 = (_at(rows, t) for _, rows in fixed)
        limit = 2 * n2 - n1
        e1, e2 = (abs(_at(ad[sch][1], t) - limit) for sch in ("bdf1", "bdf2"))
        assert e2 < e1 / 2, (t, e1, e2)
    s, rows = ad["bdf2"]
    assert s["steps"] <= 0.8 * ad["bdf1"][0]["steps"]
    assert s["status"] == 0 and s["coupled_unconverged_steps"] == 0
    dep = s["E_deposited_J"]
    assert all(abs(float(r["imbalance_J"])) < 1e-10 * dep for r in rows)
    assert abs(s["qp_number"]["imbalance"]) < 1e-10 * s["qp_number"]["final"]
    t = np.array([float(r["time_s"]) for r in rows])
    dt = np.array([float(r["dt_s"]) for r in rows])
    _window_rule(t, dt)


def test_the_estimates_are_the_local_errors_of_their_schemes():
    """:func:`fvqp.solvers.bdf.milne_estimate` on steps of unequal length: the
    parabola through three states reproduces a quadratic at the next time, and for
    u' = 3t^2 (u = t^3, whose third derivative is constant) one variable-step BDF2 step
    from exact states has exactly the error the estimate gives; likewise backward Euler
    for u = t^2 with the line through two states (a wrong error constant, e.g. BDF2's
    equal-step 2/11 at unequal steps, is off by O(1))."""
    from fvqp.solvers.bdf import milne_estimate as estimate

    t, h, hp, hpp = 1.3, 0.7, 0.2, 0.1
    weights, c = estimate(h, (hp, hpp))
    times = (t, t - hp, t - hp - hpp)

    def quad(x):
        return 3 - 2 * x + 5 * x * x

    assert sum(w * quad(x) for w, x in zip(weights, times, strict=True)) == \
        pytest.approx(quad(t + h), rel=1e-13)
    w = h / hp   # BDF2: (1+2w)/(1+w) u1 - (1+w) u0 + w^2/(1+w) u_1 = h u'(t + h)
    u1 = ((1 + w) * (t ** 3) - w * w / (1 + w) * (t - hp) ** 3 + h * 3 * (t + h) ** 2) \
        / ((1 + 2 * w) / (1 + w))
    pred = sum(wk * x ** 3 for wk, x in zip(weights, times, strict=True))
    assert c * (u1 - pred) == pytest.approx(u1 - (t + h) ** 3, rel=1e-10)
    assert c > 1.5 * 2 / 11   # measured 0.283
    weights, c = estimate(h, (hp,))
    u1 = t * t + h * 2 * (t + h)   # backward Euler for u' = 2t
    pred = sum(wk * x * x for wk, x in zip(weights, times[:2], strict=True))
    assert c * (u1 - pred) == pytest.approx(u1 - (t + h) ** 2, rel=1e-10)


@pytest.mark.parametrize("film, scheme", [("bte", "bdf1"), ("transport", "bdf1"),
                                          ("bte", "bdf2")])
def test_adaptive_steps_resume_exactly_and_two_ranks_equal_serial(write_case, tmp_path,
                                                                   film, scheme):
    """The closed chip to 20 ns with adaptive steps (rtol 1e-2), with bte and with
    diffusive transport films, and with BDF2 (the checkpoint also holds the state
    before the predictor's, the step between them and the last step's flows): stopped
    after 7 steps
    (checkpoint every 3) and resumed, every row — time, step length, energies, QP
    number — equals the uninterrupted run's (the checkpoint holds the time, the
    next step, the predictor's state and the error floors; every step's phonon systems
    are those of 1/dt_initial with the difference on the diagonal, so a resumed run
    solves the same systems): bit for bit (measured). On 2 ranks the same steps, and
    every row within 1e-8 of its column's largest value (the first rows' QP numbers,
    1e-7 of the later ones, differ by the solver tolerance: 5e-7 of the 7e-5 QPs after
    the first step, measured)."""
    keys = f'dt_initial = "1 ns"\nadaptive = true\nrtol = 1e-2\nscheme = "{scheme}"'
    keys += f'\n[qp]\nmodel = "{film}"'
    sa, ra = _run(write_case, tmp_path, "s", keys)
    sb, rb = _run(write_case, tmp_path, "p", keys, nproc=2)
    case = tmp_path / "r.toml"
    case.write_text((tmp_path / "s.toml").read_text())
    first = run_fvqp(["run", case, "--output", tmp_path / "r", "--max-steps", "7"],
                     check=False)
    s1 = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert s1["status"] == 1 and s1["steps"] == 7, first.stderr
    run_fvqp(["run", case, "--output", tmp_path / "r", "--resume"])
    sr = json.loads((tmp_path / "r" / "summary.json").read_text())
    rr = _rows(tmp_path / "r" / "r_series.csv")
    assert sb["ranks"] == 2 and sr["status"] == 0 and sb["status"] == 0
    assert sr["steps"] == sb["steps"] == sa["steps"]
    assert sr["rejected_steps"] == sa["rejected_steps"]
    assert all(float(a[k]) == float(b[k]) for a, b in zip(ra, rr, strict=True) for k in a)
    assert sr["qp_number"]["final"] == sa["qp_number"]["final"]
    assert sb["qp_number"]["final"] == pytest.approx(sa["qp_number"]["final"], rel=1e-8,
                                                     abs=0)
    assert len(rb) == len(ra) == sa["steps"] + 1
    for k in ("time_s", "dt_s", "E_qp_J", "E_phonon_J", "N_qp:upper"):
        top = max(abs(float(a[k])) for a in ra)
        for a, b in zip(ra, rb, strict=True):
            assert float(b[k]) == pytest.approx(float(a[k]), rel=1e-8, abs=1e-8 * top), k


def test_a_new_step_length_is_the_kept_system_with_a_shifted_diagonal(tmp_path):
    """The small chip's phonon sweeps with a time reference a_0 = 1/dt (adaptive steps:
    ``PhononProblem.time_reference``) at a_0 and at a = 0.3 a_0: one system per bin,
    the second sweep on a_0's matrix with a - a_0 added to the film rates on its
    ordinates' diagonal. Its states equal a sweep at a on a system built for a to 1e-10
    of the largest occupation (measured 9e-15; the Krylov tolerance is 1e-13; a wrong
    shift, e.g. without the cells' phonon storage, is off by O(1))."""
    from fvqp.models.bte_chip.driver import ChipSimulation

    case = case_variant("bte_chip_deposit.toml", tmp_path,
                        **{"chip_layout/chip.msh": "chip_small/chip_small.msh"})

    def sweep(sim, a):
        ph = sim.psim.problem
        x = ph.equilibrium(ph.n_bath)
        extra = np.zeros((ph.N, ph.n))
        extra[:, ph.reg[: ph.n] != sim.geometry.region_names.index("substrate")] = 0.3 * a
        src = np.zeros((ph.n, ph.N))
        src[: 5] = 1e-3 * ph.omega.max()
        xs, res = ph.sweep(a, hist=ph.directional(x) * a, src=src, x0=x, extra=extra)
        assert all(r.success for r in res)
        return xs

    sim = ChipSimulation(load_case(case))
    ph = sim.psim.problem
    dt = sim.dt
    ph.time_reference = 1.0 / dt
    sweep(sim, 1.0 / dt)
    folded = sweep(sim, 0.3 / dt)
    assert len(ph._systems._vals) == ph.N
    ph.release()
    fresh = ChipSimulation(load_case(case))
    direct = sweep(fresh, 0.3 / dt)
    assert np.abs(folded - direct).max() <= 1e-10 * np.abs(direct).max()
    fresh.psim.problem.release()


@pytest.mark.parametrize("keys, where, says", [
    ('adaptive = true\n[chain]\ncoupling = "split"', "time.adaptive", "coupled"),
    ("error_floor = 1e-3", "time.error_floor", "adaptive = true"),
    ("rtol = 1e-3", "time.rtol", "fixed steps"),
])
def test_case_checks_of_adaptive_steps(write_case, keys, where, says):
    """Adaptive steps with the Lie splitting (the estimate is that of the coupled
    chain), and the adaptive keys of a fixed-step run are refused, naming the key and
    the fix."""
    case = write_case(CLOSED.replace('dt_initial = "1 ns"', f'dt_initial = "1 ns"\n{keys}'),
                      "checks.toml")
    with pytest.raises(CaseError) as exc:
        load_case(case)
    text = str(exc.value)
    assert where in text and says in text, text


def test_a_failed_step_is_retried_at_a_quarter_and_dt_min_ends_the_run(
        write_case, tmp_path, monkeypatch):
    """A step the chain cannot take (here: ChipStepError, as when 1 + dt (L - G) <= 0) is
    retried at a quarter of its length, not the end of the run: the first attempt (0.5
    ns, the deposit window's limit) fails once, the first step taken is 0.125 ns, the run
    ends with status 0 and ``failed_solves`` 1, and the failure is not counted as an
    unconverged step. If every attempt fails, the run stops once the retries fall below
    ``[time] dt_min`` (status -1, the message names dt_min and the fix), keeping the
    start."""
    from fvqp import run_case
    from fvqp.models.bte_chip import coupling

    real = coupling.ChipChain.step
    seen = {"n": 0, "always": False}

    def step(self, *args, **kw):
        seen["n"] += 1
        if seen["always"] or seen["n"] == 1:
            raise coupling.ChipStepError("refused by the test")
        return real(self, *args, **kw)

    monkeypatch.setattr(coupling.ChipChain, "step", step)
    text = CLOSED.replace('end = "10 ns"', 'end = "2 ns"')
    case = write_case(text.replace('dt_initial = "1 ns"',
                                   'dt_initial = "1 ns"\nadaptive = true\ndt_min = "0.01 ns"'),
                      "retry.toml")
    s = run_case(case, output_dir=tmp_path / "a")
    rows = _rows(tmp_path / "a" / "retry_series.csv")
    assert s["status"] == 0 and s["failed_solves"] == 1
    assert s["coupled_unconverged_steps"] == 0
    assert s["dt_ceiling_s"] is None     # not a solver's failure: no ceiling
    assert float(rows[1]["dt_s"]) == pytest.approx(0.125e-9, rel=1e-12)
    assert float(rows[-1]["time_s"]) == pytest.approx(2e-9, rel=1e-12)
    seen["always"] = True
    s = run_case(case, output_dir=tmp_path / "b")
    assert s["status"] == -1 and s["steps"] == 0
    assert "dt_min" in s["message"] and "Fix" in s["message"], s["message"]
    assert s["failed_solves"] == 3     # 0.5, 0.125, 0.03125 ns; 0.0078 ns < dt_min: not tried


def test_a_failed_qp_newton_step_shortens_the_chain_step(write_case, tmp_path,
                                                          monkeypatch):
    """With adaptive steps a QP Newton step that fails (here its first attempt raises, as
    DIVERGED_LINEAR_SOLVE did on the layout chip at 84 ns steps) fails the chain step,
    which is retried at a quarter: no QP sub-steps inside a chain step (with fixed steps
    the QP integrator cuts its step into quarters, and the coupled step is no longer one
    backward-Euler step of the chain; on the layout chip to 1 us that took 19 minutes
    without an end, repeating 84 ns attempts). Every QP Newton attempt has the length of
    a chain step of the series, or of the failed 0.5 ns attempt; the k-th step after it
    is at most half the failed one times 1.1^k (the ceiling after a solver's failure)."""
    from fvqp import run_case
    from fvqp.solvers.bdf import BDFIntegrator
    from fvqp.solvers.result import ConvergenceError

    real = BDFIntegrator._attempt
    lengths = []

    def attempt(self, h):
        lengths.append(h)
        if len(lengths) == 1:
            raise ConvergenceError("refused by the test")
        return real(self, h)

    monkeypatch.setattr(BDFIntegrator, "_attempt", attempt)
    text = CLOSED.replace('end = "10 ns"', 'end = "2 ns"')
    case = write_case(text.replace('dt_initial = "1 ns"', 'dt_initial = "1 ns"\nadaptive = true'),
                      "qpfail.toml")
    s = run_case(case, output_dir=tmp_path / "a")
    rows = _rows(tmp_path / "a" / "qpfail_series.csv")
    assert s["status"] == 0 and s["failed_solves"] == 1
    assert float(rows[1]["dt_s"]) == pytest.approx(0.125e-9, rel=1e-12)
    # a solver failed at 0.5 ns: the later steps at most half of it, rising by 10 % a step
    dts = [float(r["dt_s"]) for r in rows[1:]]
    assert all(d <= 0.25e-9 * 1.1 ** k * (1 + 1e-12) for k, d in enumerate(dts))
    assert max(dts) > 0.25e-9          # it rose (measured 0.5 ns, the window's limit)
    assert s["dt_ceiling_s"] == pytest.approx(0.25e-9 * 1.1 ** len(dts), rel=1e-12)
    unit = lengths[0] / 0.5e-9          # internal time per second, from the first attempt
    steps = [float(r["dt_s"]) * unit for r in rows[1:]] + [lengths[0]]
    assert all(min(abs(h - d) for d in steps) <= 1e-9 * h for h in lengths)

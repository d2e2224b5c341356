"""Second order in time for the self-consistent gap with collisions
(fvqp/models/bte/gapcollide.py ``WithCollisions(order=2)``): BDF2 of the kinetics at the
gaps extrapolated to the step's end, both history states remapped in xi to them, then the
gap update — against the first-order Lie splitting on the QP pulse of
``cases/bte_selfgap_pulse.toml`` (uniform Al film, 2 x 2 cells, 20 ueV bins), stepped
in-process through the stepper interface of fvqp/models/bte/gaprun.py."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import case_variant, mpi_env
from fvqp.case import load_case
from fvqp.models.bte.driver import BTESimulation
from fvqp.models.bte.gapcollide import WithCollisions
from fvqp.spectra import fermi
from fvqp.units import E_CHARGE

END_NS = 6.0          # rise, peak (4 ns) and the start of the recovery


def _run(tmp_path, order: int, dt_ns: float) -> tuple[np.ndarray, float, float]:
    """Gap [ueV] and QP number at every 0.25 ns, the QP balance's imbalance and the
    injected number."""
    d = tmp_path / f"o{order}_{dt_ns}"
    d.mkdir()
    case = case_variant("bte_selfgap_pulse.toml", d, **{
        'spacing = "10 ueV"': 'spacing = "20 ueV"', 'end = "15 ns"': f'end = "{END_NS} ns"'})
    sim = BTESimulation(load_case(case))
    u, ev = sim.units, E_CHARGE * 1e-6
    run = WithCollisions(sim, order=order)
    run.start(fermi(sim.grid.e, sim.T_bath))
    n0, flows = run.number(), {}
    dt = u.to_internal(dt_ns * 1e-9, "time")
    every = int(round(0.25 / dt_ns))
    rows = []
    for k in range(int(round(END_NS / dt_ns))):
        ok, inc, _ = run.step(k * dt, dt)
        assert ok
        for key, v in inc.items():
            flows[key] = flows.get(key, 0.0) + v
        assert run.update().converged
        assert np.ptp(run.gaps()) < 1e-12                 # the cells stay alike
        if (k + 1) % every == 0:
            rows.append((u.to_si(run.gaps()[0], "energy") / ev, run.number() * sim.n_unit))
    imbalance = (run.number() - n0 + sum(flows.values())) * sim.n_unit
    return np.array(rows).T, imbalance, -flows["sources"] * sim.n_unit


def test_extrapolated_bdf2_is_second_order(tmp_path):
    """BDF2 steps of 0.25, 0.125 and 0.0625 ns to 6 ns: the largest change over the run
    from dt to dt/2 falls by 3.75 for the gap (order 1.91) and by 3.65 for N_qp (1.87).
    At 0.125 ns the BDF2 gap is within 0.0071 ueV of the 0.0625 ns one, the Lie
    splitting's (the same step) 0.114 ueV away (16 x; N_qp 2.8e3 against 4.6e4 of
    2.5e6). The QP number balance of the BDF2 steps closes to 1e-9 of the 3.3e6 injected
    QPs (measured <= 3e-5 QPs: the history remap conserves the number, the flows are
    carried with the BDF2 weights). Steps of 0.5 ns (2.5 phonon escape times) undershoot
    to f < 0 (-2.5e-6) after the pulse, where the collision partners are clipped and the
    balance is off by 2e-3: BDF2 is not positive, the Lie splitting's backward Euler is."""
    bdf2, lie = {}, {}
    for dt in (0.25, 0.125, 0.0625):
        bdf2[dt], imb, injected = _run(tmp_path, 2, dt)
        assert abs(imb) < 1e-9 * injected
    lie[0.125], _, _ = _run(tmp_path, 1, 0.125)
    worst = lambda a: np.max(np.abs(a), axis=1)  # noqa: E731 - per quantity
    r2 = worst(bdf2[0.25] - bdf2[0.125]) / worst(bdf2[0.125] - bdf2[0.0625])
    assert np.all(np.log2(r2) >= 1.8), np.log2(r2)
    # at the same step the BDF2 error is a small fraction of the Lie splitting's
    assert np.all(worst(bdf2[0.125] - bdf2[0.0625]) < 0.1 * worst(lie[0.125] - bdf2[0.0625]))
    assert bdf2[0.0625][0].min() == pytest.approx(165.8, abs=0.1, rel=0)


_STEPS = """
import json, sys
import numpy as np
from fvqp.case import load_case
from fvqp.models.bte.driver import BTESimulation
from fvqp.models.bte.gapcollide import WithCollisions
from fvqp.spectra import fermi
sim = BTESimulation(load_case(sys.argv[1]))
run = WithCollisions(sim, order=2)
run.start(fermi(sim.grid.e, sim.T_bath))
dt = sim.units.to_internal(0.25e-9, "time")
out = []
for k in range(16):
    assert run.step(k * dt, dt)[0] and run.update().converged
    g = sim.dist.gather(run.gaps())
    out.append([float(np.min(g)) if g is not None else 0.0, run.number()])
if sim.dist.rank == 0:
    print("RESULT", json.dumps(out))
"""


def test_bdf2_steps_on_two_ranks_equal_serial(tmp_path):
    """16 BDF2 steps of 0.25 ns (the pulse's rise and peak) under ``mpiexec -n 2`` (two
    cells per rank: the history remapped on the owned cells, the ghost gaps of the
    extrapolated gaps exchanged) equal the serial steps: gap and QP number to 1e-8
    (measured 1.2e-14)."""
    case = case_variant("bte_selfgap_pulse.toml", tmp_path,
                        **{'spacing = "10 ueV"': 'spacing = "20 ueV"'})
    res = []
    for pre in ([], ["mpiexec", "-n", "2"]):
        proc = subprocess.run([*pre, sys.executable, "-c", _STEPS, str(case)],
                              capture_output=True, text=True, env=mpi_env(), timeout=1200)
        assert proc.returncode == 0, proc.stderr
        line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT"))
        res.append(np.array(json.loads(line.split(" ", 1)[1])))
    assert res[0][-1, 0] < res[0][0, 0]                     # the gap moved
    assert np.max(np.abs(res[1] - res[0]) / np.abs(res[0])) < 1e-8


def test_bdf2_through_the_run_loop_resumes_exactly(tmp_path):
    """``[time] scheme = "bdf2"`` with ``[collisions]`` in the run loop
    (fvqp/models/bte/gaprun.py picks the order-2 stepper; the checkpoint holds the
    previous state, its gaps and the accumulated flows): 16 steps of 0.25 ns give the gap
    of the stepper above at 4 ns (165.7996 ueV with the step corrected once at the gaps of
    its result; at 0.125, 0.0625, 0.03125 ns: 165.8056, 165.8082, 165.8090 — the
    extrapolated step alone gave 165.7964 at 0.25 ns, further off; Lie: 165.99), and a
    run stopped after 7
    steps and resumed equals the uninterrupted one (gaps of every snapshot and the QP
    balance to 1e-12; measured 3e-16, 7e-15)."""
    from fvqp.api import run_case

    case = case_variant("bte_selfgap_pulse.toml", tmp_path, **{
        'spacing = "10 ueV"': 'spacing = "20 ueV"', 'end = "15 ns"': 'end = "4 ns"',
        'scheme = "bdf1"': 'scheme = "bdf2"'})
    full = run_case(case, output_dir=str(tmp_path / "full"))
    assert full["status"] == 0 and full["time_order"] == 2
    assert run_case(case, output_dir=str(tmp_path / "cut"), max_steps=7)["status"] == 1
    cut = run_case(case, output_dir=str(tmp_path / "cut"), resume=True)
    assert cut["status"] == 0 and cut["steps"] == full["steps"] == 16
    ga = np.array([g["min_ueV"] for g in full["gap"]["snapshots"]])
    gb = np.array([g["min_ueV"] for g in cut["gap"]["snapshots"]])
    assert ga[-1] == pytest.approx(165.7996, abs=1e-3, rel=0)
    assert np.max(np.abs(ga - gb)) < 1e-12 * ga[0]
    for k in ("final", "sources", "pair_processes"):
        assert cut["qp_number"][k] == pytest.approx(full["qp_number"][k], rel=1e-12, abs=0)
    assert abs(full["qp_number"]["imbalance"]) < 1e-9 * full["qp_number"]["final"]
    _same_energy(full, cut)
    # the work counters continue over the resume (the preconditioner's builds, reuses
    # and global coarse solves counted the resumed part only before 2026-11-26)
    for k in ("newton_iterations", "preconditioner_updates", "preconditioner_reuses",
              "coarse_solves"):
        assert cut[k] == full[k], k
    assert full["preconditioner_updates"] > 7


def _same_energy(full: dict, cut: dict) -> None:
    """The energy balance of a resumed run equals the uninterrupted one's (1e-12 of the
    injected energy: the checkpoint holds the condensate's history, the BDF2 recurrence
    of fvqp/models/bte/gapsteps.py ``carried``) and closes (1e-11)."""
    ea, eb = full["energy_J"], cut["energy_J"]
    dep = ea["inflows"]["sources"]
    assert dep > 0 and ea["inflows"]["condensate"] < 0      # the gap fell: QPs gave energy
    for k in ("final_qp", *ea["inflows"]):
        va, vb = (ea[k], eb[k]) if k in ea else (ea["inflows"][k], eb["inflows"][k])
        assert vb == pytest.approx(va, rel=0, abs=1e-12 * dep), k
    assert abs(ea["imbalance"]) < 1e-11 * dep and abs(eb["imbalance"]) < 1e-11 * dep


def test_collisionless_bdf2_keeps_the_balance_and_resumes(tmp_path):
    """The collisionless hot spot of ``cases/bte_selfgap.toml`` with ``scheme = "bdf2"``
    (fvqp/models/bte/gapsteps.py ``Collisionless(order=2)``: BDF2 of every bin at the
    extrapolated gaps, the pulse integrated exactly, the wall flows with the BDF2 weights):
    the QP number balance closes to 1e-12 of the 7.6e6 QPs (measured 6e-16), and a run
    stopped after 5 of 12 steps and resumed equals the uninterrupted one (gap range of
    every snapshot, QP balance: 1e-12). Measured, not asserted: the step is now corrected
    once at the self-consistent gaps of its result (second order on a smooth problem,
    tests/test_bte_selfgap_order.py); on this hot spot the cells' gaps cross a bin edge
    (a square-root kink in the bins' state counts), and the orders from 5 to 0.156 ps are
    1.14, 1.93, 1.58, 1.40 (before the correction 1.2, 1.5, 1.15, 1.14), see
    docs/theory_bte_mesh.md "Second order without collisions"."""
    from fvqp.api import run_case

    case = case_variant("bte_selfgap.toml", tmp_path, **{'scheme = "bdf1"': 'scheme = "bdf2"'})
    full = run_case(case, output_dir=str(tmp_path / "full"))
    assert full["status"] == 0 and full["steps"] == 12
    q = full["qp_number"]
    assert abs(q["imbalance"]) < 1e-12 * q["final"]
    assert run_case(case, output_dir=str(tmp_path / "cut"), max_steps=5)["status"] == 1
    cut = run_case(case, output_dir=str(tmp_path / "cut"), resume=True)
    assert cut["status"] == 0
    for a, b in zip(full["gap"]["snapshots"], cut["gap"]["snapshots"], strict=True):
        assert abs(a["min_ueV"] - b["min_ueV"]) < 1e-12 * a["max_ueV"]
        assert abs(a["max_ueV"] - b["max_ueV"]) < 1e-12 * a["max_ueV"]
    for k in ("final", "sources"):
        assert cut["qp_number"][k] == pytest.approx(q[k], rel=1e-12, abs=0)
    _same_energy(full, cut)
    (tmp_path / "lie").mkdir()
    lie = run_case(case_variant("bte_selfgap.toml", tmp_path / "lie"),
                   output_dir=str(tmp_path / "lie" / "out"))
    # another scheme indeed: the lowest gap is 164.898 ueV (BDF2), 165.109 ueV (Lie)
    assert abs(lie["gap"]["min_ueV"] - full["gap"]["min_ueV"]) > 0.05


def test_long_bdf2_steps_report_the_undershoot_and_short_ones_do_not(tmp_path, caplog):
    """The pulse of ``cases/bte_selfgap_pulse.toml`` (20 ueV bins) with
    ``scheme = "bdf2"`` through the run loop (fvqp/models/bte/gaprun.py): steps of 0.5 ns
    to 7 ns undershoot to f < 0 from step 12 on, which is warned once per run however
    many steps undershoot (step, min f, the fix) and recorded in summary.json
    ``negative_occupation``; the QP balance stays exact through the undershoot (the
    collision rows' own occupations move with the clipped partners,
    ``InelasticProblem.own``; measured 3e-7 of 3.3e6 injected QPs, min f -3.3e-5 at step
    12 and -8.5e-5 over the run; before 2026-11-25 the balance drifted, 6.2e3 QPs by
    8 ns, while the collisions, not conserving, pulled the undershoot up to -2.5e-6);
    steps of 0.25 ns to 6 ns stay non-negative (no record, no warning; balance 1e-7
    QPs)."""
    import logging

    from fvqp.api import run_case

    res = {}
    for dt in ("0.5", "0.25"):
        d = tmp_path / dt
        d.mkdir()
        case = case_variant("bte_selfgap_pulse.toml", d, **{
            'spacing = "10 ueV"': 'spacing = "20 ueV"',
            'end = "15 ns"': 'end = "7 ns"' if dt == "0.5" else 'end = "6 ns"',
            'dt_initial = "0.25 ns"': f'dt_initial = "{dt} ns"',
            'scheme = "bdf1"': 'scheme = "bdf2"'})
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="fvqp"):
            res[dt] = run_case(case, output_dir=str(d / "out"))
        warned = [r.getMessage() for r in caplog.records
                  if "occupations below zero" in r.getMessage()]
        assert res[dt]["status"] == 0
        if dt == "0.5":
            neg = res[dt]["negative_occupation"]
            assert neg is not None and neg["first_step"] == 12 and neg["steps"] >= 2
            assert neg["min_f"] < -1e-7
            assert neg["time_s"] == pytest.approx(6e-9, rel=1e-12, abs=0)
            assert len(warned) == 1
            assert "step 12" in warned[0] and "dt_initial" in warned[0] and "bdf1" in warned[0]
        else:
            assert res[dt]["negative_occupation"] is None and not warned
        q = res[dt]["qp_number"]
        assert abs(q["imbalance"]) < 1e-10 * q["sources"]


def test_the_correction_solve_starts_from_the_first_result(tmp_path, monkeypatch):
    """With collisions, a BDF2 step's second solve (at the self-consistent gaps of its
    first result) starts Newton from that result remapped to them, not from the
    predictor: the uniform film under injection, 50 steps of 0.2 ns, takes fewer Newton
    iterations (measured 176 against 199) for the same QPs (measured 4e-17)."""
    from test_bte_selfgap_adaptive import _case, _run

    from fvqp.models.bte import gapcollide

    fast = _run(tmp_path, "guess", _case("0.2 ns", False))
    solve = gapcollide.WithCollisions._solve

    def from_predictor(self, now, dt, bdf2, t_stop=None, guess=None):
        return solve(self, now, dt, bdf2, t_stop)

    monkeypatch.setattr(gapcollide.WithCollisions, "_solve", from_predictor)
    slow = _run(tmp_path, "predictor", _case("0.2 ns", False))
    assert fast["steps"] == slow["steps"] == 50
    assert fast["newton_iterations"] < slow["newton_iterations"] - 10
    assert fast["qp_number"]["final"] == pytest.approx(slow["qp_number"]["final"],
                                                       rel=1e-12, abs=0)

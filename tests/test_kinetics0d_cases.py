"""End-to-end runs of the kinetics0d case files (``fvqp run`` path) and their HDF5 output."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest

import fvqp
from fvqp.collisions import bose, fermi

CASES = os.path.join(os.path.dirname(__file__), "..", "cases")


def _case(name: str) -> str:
    return os.path.join(CASES, name)


def test_resonator_case_steady_state_physics(tmp_path) -> None:
    summary = fvqp.run_case(_case("kinetics0d_al_resonator.toml"), output_dir=str(tmp_path))
    assert summary["status"] == 0
    with h5py.File(tmp_path / "kinetics0d.h5") as fh:
        a = dict(fh.attrs)
        e, w = fh["grid/e"][:], fh["grid/qp_weights"][:]
        omega = fh["grid/omega"][:]
        f, n = fh["state/f"][:], fh["state/n"][:]
        ob = dict(fh["observables"].attrs)
    assert a["unit_energy"] == "k_B Tc" and a["material"] == "Al"
    t_b = a["t_bath_over_Tc"]
    assert t_b == pytest.approx(0.12 / 1.2)
    # the stored distributions are driven above the bath (phonons: up to a 1e-6 dip of the
    # lowest modes, absorbed by the slightly inverted QP population at the gap edge)
    assert np.all(f >= fermi(e, t_b))
    assert np.all(n >= bose(omega, t_b) * (1 - 1e-5))
    assert n[omega > 2 * a["delta_over_kTc"]][0] > 1e3 * bose(2 * a["delta_over_kTc"], t_b)
    assert np.all((f >= 0) & (f <= 1))
    # observables are consistent with the stored state
    assert ob["n_qp"] == pytest.approx(float(w @ f), rel=1e-12)
    assert ob["n_qp"] > 100 * ob["n_qp_thermal"]
    assert ob["n_qp_SI"] == pytest.approx(ob["n_qp"] * a["number_unit_per_m3"], rel=1e-12)
    # absorbed power is the case's 1 fW, and it all escapes
    assert ob["power_absorbed_SI"] == pytest.approx(1e-15, rel=1e-9, abs=0)
    # limited by round-off in n - n_B of the thermal low-energy phonons (n ~ 20, P tiny)
    assert ob["power_relative_mismatch"] < 1e-8
    # quasi-thermal QPs hotter than the bath, chemical potential below the gap
    assert t_b < ob["t_eff"] < 3 * t_b
    assert 0 < ob["mu"] < a["delta_over_kTc"]
    # 90 GHz is just above 2 Delta: one QP pair per photon and the QPs relax by emitting
    # sub-gap phonons only, so eta_pb = 2 Delta / hw (on the grid's photon energy) up to
    # that small loss (Guruswamy et al. 2014 definition)
    hw = 2 * np.pi * 1.054571817e-34 * 90e9 / a["kTc_J"]
    ratio = ob["eta_pb"] / (2 * a["delta_over_kTc"] / hw)
    assert 0.99 < ratio < 1.001, ratio  # measured 0.9984
    assert os.path.getsize(tmp_path / "kinetics0d_al_resonator_steady.png") > 10_000


def test_relaxation_case_via_cli(tmp_path) -> None:
    from conftest import HANG_TIMEOUT

    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(fvqp.__file__)))
    proc = subprocess.run([sys.executable, "-m", "fvqp", "run",
                           _case("kinetics0d_al_relaxation.toml"), "--output",
                           str(tmp_path)], capture_output=True, text=True, env=env,
                          timeout=HANG_TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    with h5py.File(tmp_path / "kinetics0d.h5") as fh:
        ts = {k: fh["timeseries"][k][:] for k in ("t", "n_qp", "energy")}
        snap_t = fh["timeseries/snapshot_t"][:]
        snap_f = fh["timeseries/snapshot_f"][:]
        e = fh["grid/e"][:]
        t_b = fh.attrs["t_bath_over_Tc"]
        f_end = fh["state/f"][:]
    # no drive: total energy only leaves (escape), and the QP number decays
    assert np.all(np.diff(ts["energy"]) <= 1e-12 * ts["energy"][0])
    assert ts["n_qp"][-1] < 0.5 * ts["n_qp"][0]
    assert len(snap_t) == 6 and np.all(np.diff(snap_t) > 0)
    # the high-energy tail cools first: f(E_max) falls by orders of magnitude
    assert snap_f[-1, -1] < 1e-3 * snap_f[0, -1]
    assert np.all(f_end >= fermi(e, t_b) * (1 - 1e-6))


@pytest.mark.slow
def test_relaxation_scheme_through_fvqp_run(tmp_path) -> None:
    """[relaxation] via `fvqp run`: the time-relaxation run (fixed dt = 0.05 ns, Eqs.
    46-51) over the TS interval of the hot-QP case ends at the TS state (rtol 1e-7) to its
    own O(dt^order) error, keeps 0 <= f <= 1, and second order is closer than first
    (measured max |f_r - f_TS| / max f: 3.2e-5 and 1.3e-5)."""
    from conftest import run_fvqp

    base = open(_case("kinetics0d_al_relaxation.toml")).read()
    base = base.replace('end = "200 us"', 'end = "5 ns"').replace("rtol = 1e-4", "rtol = 1e-7")
    base = base.split("[output]")[0]
    res = {}
    for order in (1, 2):
        p = tmp_path / f"r{order}.toml"
        p.write_text(base + f'[relaxation]\nenabled = true\norder = {order}\ndt = "0.05 ns"\n')
        run_fvqp(["run", p, "--output", tmp_path / f"o{order}"])
        _, s = _final(tmp_path / f"o{order}")
        r = s["relaxation"]
        assert r["steps"] == 100 and r["dt_over_tau0"] == pytest.approx(0.05 / 438, rel=1e-12)
        assert r["min_value"] > 0 and r["max_f"] <= 1
        with h5py.File(tmp_path / f"o{order}" / "kinetics0d.h5") as fh:
            f_r, f_ts = fh["relaxation/f"][:], fh["state/f"][:]
            w = fh["grid/qp_weights"][:]
        assert np.max(np.abs(f_r - f_ts)) <= r["max_abs_diff_vs_ts"]  # summary is f and n
        assert abs(w @ (f_r - f_ts)) / (w @ f_ts) == pytest.approx(r["n_qp_rel_diff_vs_ts"],
                                                                  rel=1e-9)
        res[order] = np.max(np.abs(f_r - f_ts)) / np.max(f_ts)
    assert res[2] < 2e-5 and res[1] < 5e-5
    assert res[2] < 0.5 * res[1], res


def test_gap_suppression_case_is_self_consistent(tmp_path) -> None:
    """[film] self_consistent_gap: the stored f solves the gap equation at the stored
    Delta, and the suppression agrees with Owen & Scalapino (1972),
    ln(Delta_bath/Delta) ~ 2 dN_qp/Delta (N in 4 N0 kTc; exact for QPs at the gap edge,
    smaller by O(T*/Delta) for the hot driven QPs: measured ratio 0.93)."""
    from fvqp.collisions import EnergyGrid
    from fvqp.models.kinetics0d.selfgap import gap_equation
    from fvqp.spectra.gap import thermal_gap

    s = fvqp.run_case(_case("kinetics0d_al_gap_suppression.toml"), output_dir=str(tmp_path))
    with h5py.File(tmp_path / "kinetics0d.h5") as fh:
        a = dict(fh.attrs)
        f, w = fh["state/f"][:], fh["grid/qp_weights"][:]
        ob = dict(fh["observables"].attrs)
    d, d_b = a["delta_over_kTc"], a["delta_bath_over_kTc"]
    # weak coupling, Delta0 (the delta0 model of the self-consistent gap)
    assert d_b == pytest.approx(thermal_gap(0.1, 1.0, 1.70, "delta0"), rel=1e-12)
    assert a["grid_layout"] == "vertex"  # a phonon node at 2 Delta (fvqp.collisions.grid)
    grid = EnergyGrid(delta=d, h=a["h_over_kTc"], n=f.size, layout=a["grid_layout"])
    assert np.allclose(w, grid.qp_weights, rtol=1e-12)
    assert abs(gap_equation(d, f, grid, a["gap_ratio"])) < 1e-13
    assert s["gap_suppression"] == pytest.approx(1 - d / d_b, rel=1e-12)
    assert s["gap_suppression"] > 0.01  # a strong drive: > 1% (measured 1.6%)
    os_ratio = math.log(d_b / d) / (2 * (ob["n_qp"] - ob["n_qp_thermal"]) / d)
    assert 0.85 < os_ratio < 1.0, os_ratio
    assert s["residual_norm"] < 1e-10 and ob["power_relative_mismatch"] < 1e-9


def test_self_consistent_gap_needs_a_steady_state(tmp_path) -> None:
    from fvqp.case import CaseError, load_case

    text = open(_case("kinetics0d_al_gap_suppression.toml")).read().replace(
        "steady = true", 'end = "1 us"')
    p = tmp_path / "k.toml"
    p.write_text(text)
    with pytest.raises(CaseError, match="self_consistent_gap"):
        load_case(str(p))


def _final(out) -> tuple[np.ndarray, dict]:
    import json

    with h5py.File(out / "kinetics0d.h5") as fh:
        y = np.concatenate((fh["state/f"][:], fh["state/n"][:]))
        t = fh["timeseries/t"][:]
    return y, {**json.loads((out / "summary.json").read_text()), "series_t": t}


@pytest.mark.slow
def test_resume_after_sigkill_equals_uninterrupted_run(tmp_path) -> None:
    """Kill a transient run with SIGKILL right after its second checkpoint (step 40 of
    more, see test_max_steps_then_resume_equals_uninterrupted; a kill after a wall-clock
    delay could come after the end of the run on a loaded machine); --resume must end in
    the uninterrupted run's state (segmented TS, see fvqp.models.kinetics0d.transient)."""
    import signal

    from conftest import run_fvqp, run_fvqp_killed

    case = _case("kinetics0d_al_relaxation.toml")
    ref, out = tmp_path / "ref", tmp_path / "killed"
    run_fvqp(["run", case, "--output", ref])
    proc = run_fvqp_killed(["run", case, "--output", out], after_checkpoints=2)
    assert proc.returncode == -signal.SIGKILL, proc.stderr  # really killed mid-run
    assert not (out / "summary.json").exists()
    run_fvqp(["run", case, "--output", out, "--resume"])
    (ya, sa), (yb, sb) = _final(ref), _final(out)
    assert np.allclose(ya, yb, rtol=1e-12, atol=0)
    for key in ("steps", "rejected_steps", "newton_iterations"):
        assert sa[key] == sb[key]
    assert np.array_equal(sa["series_t"], sb["series_t"])  # no duplicated/missing entries
    assert sa["observables"]["n_qp"] == pytest.approx(sb["observables"]["n_qp"], rel=1e-12)


def _in_legs(tmp_path, legs: list[int]) -> tuple:
    """The relaxation case (checkpoint_every = 20) run once, and in legs of ``--max-steps``
    (each after the first with --resume) then --resume to the end: the two final states,
    their summaries, and the step count after each leg (status 1 at every stop)."""
    from conftest import run_fvqp

    case = _case("kinetics0d_al_relaxation.toml")
    run_fvqp(["run", case, "--output", tmp_path / "ref"])
    part, after = tmp_path / "part", []
    for i, n in enumerate(legs):
        run_fvqp(["run", case, "--output", part, "--max-steps", str(n)]
                 + (["--resume"] if i else []))
        _, s = _final(part)
        assert s["status"] == 1
        after.append(s["steps"])
    run_fvqp(["run", case, "--output", part, "--resume"])
    (ya, sa), (yb, sb) = _final(tmp_path / "ref"), _final(part)
    assert sb["status"] == 0 and sb["steps"] == sa["steps"] > after[-1]
    assert np.allclose(ya, yb, rtol=1e-12, atol=0)
    assert np.array_equal(sa["series_t"], sb["series_t"])
    return sa, sb, after


def test_max_steps_then_resume_equals_uninterrupted(tmp_path) -> None:
    """--max-steps at a checkpoint boundary (a multiple of checkpoint_every = 20), then
    --resume: same steps, same state, same time series as one run."""
    assert _in_legs(tmp_path, [40])[2] == [40]


def test_resume_refused_for_steady_and_missing_checkpoint(tmp_path) -> None:
    """Steady runs have nothing to resume; a transient resume without a checkpoint must
    fail loudly (exit 2), not restart silently."""
    from conftest import run_fvqp

    p = run_fvqp(["run", _case("kinetics0d_al_resonator.toml"), "--output", tmp_path / "s",
                  "--resume"], check=False)
    assert p.returncode == 2 and "no checkpoint to resume" in p.stderr
    p = run_fvqp(["run", _case("kinetics0d_al_relaxation.toml"), "--output", tmp_path / "t",
                  "--resume"], check=False)
    assert p.returncode == 2 and "no checkpoint" in p.stderr


def test_resume_refused_for_a_checkpoint_on_the_old_grid(tmp_path) -> None:
    """A checkpoint written before the vertex grid (no grid in its metadata: a state on the
    cell-centred nodes) is not continued on the new grid: exit 2 naming the grid."""
    import json

    from conftest import run_fvqp

    case = _case("kinetics0d_al_relaxation.toml")
    out = tmp_path / "part"
    run_fvqp(["run", case, "--output", out, "--max-steps", "20"])
    ckpt = out / "checkpoint.h5"
    with h5py.File(ckpt, "r+") as fh:
        meta = json.loads(fh.attrs["meta"])
        assert meta["grid"]["layout"] == "vertex"
        del meta["grid"]
        fh.attrs["meta"] = json.dumps(meta)
    p = run_fvqp(["run", case, "--output", out, "--resume"], check=False)
    assert p.returncode == 2 and "another energy grid" in p.stderr, p.stderr


def test_max_steps_inside_a_segment_then_resume_equals_uninterrupted(tmp_path) -> None:
    """--max-steps 27, then --max-steps 5 (both stops inside a segment of
    checkpoint_every = 20 steps, the second leg shorter than the 7 steps it repeats),
    then --resume to the end: the uninterrupted run's state to 1e-12, its steps,
    rejected steps, Newton iterations and time series. Before, each such stop started a
    new BDF history at the stop, and the continued run agreed to the TS tolerance only
    (240 steps instead of 237)."""
    sa, sb, after = _in_legs(tmp_path, [27, 5])
    assert after == [27, 32]
    for key in ("rejected_steps", "newton_iterations"):
        assert sa[key] == sb[key]

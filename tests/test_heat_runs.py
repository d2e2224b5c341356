"""End-to-end heat runs: energy balance, CLI output read back, resume, MPI = serial."""

import json
import os
import re
import signal

import numpy as np
import pytest

from conftest import CASES, heat_film_trap, last_snapshot, run_fvqp, run_fvqp_killed

FILM = heat_film_trap("200 mK", "300 nm", 'type = "insulated"') + """[[sources]]
type = "pulse"
energy = "20 keV"
time = "5 ns"
duration = "1 ns"
position = [40.0, 25.0, 0.0]
radius = "4 um"
[time]
end = "{end}"
dt_initial = "0.1 ns"
rtol = 1e-3
[output]
every = 1000
checkpoint_every = {ck}
"""


def test_energy_is_conserved_including_the_bath_flux(write_case, tmp_path):
    from fvqp import run_case

    case = write_case(FILM.format(end="3 us", ck=1000))
    s = run_case(case, output_dir=str(tmp_path / "out"))
    e = s["energy_J"]
    deposited = e["deposited"]
    # the 20 keV Gaussian pulse (centre 5 ns, sigma 1 ns) over [0, t_end], accumulated by
    # the second-order BDF2 recursion from step averages: exact up to O(h^2) (measured
    # 9e-6 of the deposit; backward Euler would be exact). abs=0: SI joules are < 1e-12
    from scipy.special import ndtr

    nominal = 20e3 * 1.602176634e-19 * (1.0 - ndtr(-5.0))
    assert deposited == pytest.approx(nominal, rel=1e-4, abs=0)
    out = -e["boundary:trap_end"]
    assert out > 1e-3 * deposited  # heat has reached the bath
    stored = e["final"] - e["initial"]
    # deposited = stored + flowed out, to the Newton tolerance
    assert abs(deposited - stored - out) < 1e-9 * deposited, e
    assert abs(e["imbalance"]) < 1e-9 * deposited
    assert s["status"] == 0 and s["steps"] > 10
    # the trap's Tc = 0.9 K is the case's, recorded with its source (issue 20 §3)
    trap = s["materials"]["trap"]
    assert trap["overridden"] == ["Tc"] and s["materials"]["film"]["overridden"] == []
    assert trap["constants"]["Tc"] == {"value": 0.9, "unit": "K", "source": "case override"}


def test_absorber_case_from_the_cli_writes_a_pvd_pyvista_opens(tmp_path):
    out = tmp_path / "abs"
    run_fvqp(["run", CASES / "heat_absorber3d.toml", "--output", out])
    times, grid = last_snapshot(str(out), "heat_absorber3d")
    assert times[0] == 0.0 and times[-1] == pytest.approx(2e-6, rel=1e-6, abs=0)
    for t in (1e-8, 1e-7, 1e-6):  # requested output times are hit exactly
        assert any(abs(x - t) < 1e-15 for x in times)
    assert grid.n_cells == 480 + 40  # absorber + lead (substrate left out)
    T, gap = grid.cell_data["temperature"], grid.cell_data["gap"]
    assert np.all(T >= 0.25 - 1e-6)  # never below the bath
    # the gap field is the BCS gap of the local temperature (Ta pad: ~690 ueV when cold)
    assert gap.max() == pytest.approx(1.764 * 1.380649e-23 * 4.48 / 1.602176634e-25, rel=0.03)
    summary = json.loads((out / "summary.json").read_text())
    e = summary["energy_J"]
    assert abs(e["imbalance"]) < 1e-8 * e["deposited"]
    with open(out / "vtu" / os.listdir(out / "vtu")[0]) as fh:
        assert 'units="K"' in fh.read()


def _final_temperature(out, name):
    import pyvista as pv

    _, grid = last_snapshot(out, name)
    c = np.asarray(pv.wrap(grid).cell_centers().points)
    order = np.lexsort(c.T[::-1])
    return np.asarray(grid.cell_data["temperature"])[order]


@pytest.mark.slow
def test_resume_after_sigkill_gives_the_same_answer(write_case, tmp_path):
    case = write_case(FILM.format(end="400 ns", ck=3))
    ref = tmp_path / "ref"
    run_fvqp(["run", case, "--output", ref])
    out = tmp_path / "killed"
    # killed right after its second checkpoint (step 6 of many), not after a wall-clock
    # delay that a loaded machine could stretch past the end of the run
    proc = run_fvqp_killed(["run", case, "--output", out], after_checkpoints=2)
    assert proc.returncode == -signal.SIGKILL, proc.stderr  # really killed mid-run
    assert not (out / "summary.json").exists()
    run_fvqp(["run", case, "--output", out, "--resume"])
    a, b = _final_temperature(str(ref), "heat_test"), _final_temperature(str(out), "heat_test")
    assert np.allclose(a, b, rtol=1e-12, atol=0)
    s_ref = json.loads((ref / "summary.json").read_text())
    s_res = json.loads((out / "summary.json").read_text())
    assert s_res["steps"] == s_ref["steps"]
    assert s_res["energy_J"]["deposited"] == pytest.approx(s_ref["energy_J"]["deposited"],
                                                          rel=1e-13, abs=0)


def test_max_steps_then_resume_equals_uninterrupted(write_case, tmp_path):
    case = write_case(FILM.format(end="100 ns", ck=5))
    run_fvqp(["run", case, "--output", tmp_path / "ref"])
    run_fvqp(["run", case, "--output", tmp_path / "part", "--max-steps", "7"])
    assert json.loads((tmp_path / "part" / "summary.json").read_text())["status"] == 1
    run_fvqp(["run", case, "--output", tmp_path / "part", "--resume"])
    a = _final_temperature(str(tmp_path / "ref"), "heat_test")
    b = _final_temperature(str(tmp_path / "part"), "heat_test")
    assert np.allclose(a, b, rtol=1e-12, atol=0)  # same steps, same answer to round-off
    s_ref = json.loads((tmp_path / "ref" / "summary.json").read_text())
    s_part = json.loads((tmp_path / "part" / "summary.json").read_text())
    for key in ("steps", "rejected_steps", "newton_iterations"):
        assert s_part[key] == s_ref[key]
    import pyvista as pv

    r1 = pv.get_reader(str(tmp_path / "ref" / "heat_test.pvd")).time_values
    r2 = pv.get_reader(str(tmp_path / "part" / "heat_test.pvd")).time_values
    assert r1 == r2  # the time series has no duplicated or missing snapshots


def test_command_line_petsc_options_reach_snes_and_failure_is_reported(write_case, tmp_path):
    case = write_case(FILM.format(end="20 ns", ck=100))
    p = run_fvqp(["run", case, "--output", tmp_path / "o", "-heat_snes_max_it", "0"],
                 check=False)
    assert p.returncode == 3
    assert "not converged" in p.stderr and "dt_min" in p.stderr
    p = run_fvqp(["run", case, "--output", tmp_path / "m", "-heat_snes_monitor"])
    assert "SNES Function norm" in p.stdout


@pytest.mark.mpi
def test_two_ranks_equal_serial(write_case, tmp_path):
    case = write_case(FILM.format(end="100 ns", ck=1000).replace(
        '[output]', '[solver.petsc]\nsnes_rtol = 1e-13\nksp_rtol = 1e-14\n[output]'))
    run_fvqp(["run", case, "--output", tmp_path / "s"])
    par = run_fvqp(["run", case, "--output", tmp_path / "p"], nproc=2)
    assert (tmp_path / "p" / "vtu" / "heat_test_00001.pvtu").exists()
    # progress comes from rank 0 only: every line is a full report (step, time, residual)
    # without a rank prefix, no step is reported twice (a second rank would repeat each
    # line), and the last line is the final snapshot's. How many lines the wall-clock
    # throttle of the reporter adds depends on the machine's load and is not checked.
    progress = [line for line in par.stderr.splitlines() if "fvqp.heat INFO: step" in line]
    assert progress and not any("[rank " in line for line in progress)
    assert all("|F|=" in line and " dt=" in line for line in progress)
    steps = [int(re.search(r"INFO: step (\d+) t=", line).group(1)) for line in progress]
    assert np.all(np.diff(steps) > 0)  # no step reported twice, in order
    assert [("t=1.0000e-07 s" in line) for line in progress].count(True) == 1
    assert "t=1.0000e-07 s" in progress[-1]
    a = _final_temperature(str(tmp_path / "s"), "heat_test")
    b = _final_temperature(str(tmp_path / "p"), "heat_test")
    assert np.allclose(a, b, rtol=1e-8, atol=0)
    ss = json.loads((tmp_path / "s" / "summary.json").read_text())
    sp = json.loads((tmp_path / "p" / "summary.json").read_text())
    assert sp["ranks"] == 2 and sp["steps"] == ss["steps"]
    assert steps[-1] == sp["steps"]  # the final line reports the last step
    assert sp["energy_J"]["final"] == pytest.approx(ss["energy_J"]["final"], rel=1e-8, abs=0)


@pytest.mark.mpi
def test_steady_state_two_ranks_equal_serial(write_case, tmp_path):
    steady = FILM.format(end="1 ns", ck=10).replace("[time]\nend = \"1 ns\"",
                                                    "[time]\nsteady = true") \
        .replace('type = "pulse"\nenergy = "20 keV"\ntime = "5 ns"\nduration = "1 ns"',
                 'type = "power"\npower = "2 pW"').replace(
        '[output]', '[solver.petsc]\nsnes_rtol = 1e-13\nksp_rtol = 1e-14\n[output]') \
        .replace("every = 1000\n", "").replace("checkpoint_every = 10\n", "") \
        .replace('dt_initial = "0.1 ns"\nrtol = 1e-3\n', "")
    # (no time steps to take, write or checkpoint: refused when steady)
    case = write_case(steady)
    s = json.loads(run_fvqp(["run", case, "--output", tmp_path / "s"]) and
                   (tmp_path / "s" / "summary.json").read_text())
    run_fvqp(["run", case, "--output", tmp_path / "p"], nproc=2)
    p = json.loads((tmp_path / "p" / "summary.json").read_text())
    # steady power balance: all injected power leaves through the bath boundary
    assert s["power_W"]["boundary:trap_end"] == pytest.approx(-2e-12, rel=1e-9, abs=0)
    assert p["max_temperature_K"] == pytest.approx(s["max_temperature_K"], rel=1e-8)
    a = _final_temperature(str(tmp_path / "s"), "heat_test")
    b = _final_temperature(str(tmp_path / "p"), "heat_test")
    assert np.allclose(a, b, rtol=1e-8, atol=0)

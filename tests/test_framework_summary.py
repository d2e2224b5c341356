"""The run template of the models without a mesh (:func:`fvqp.models.base.run_model`,
issue 15 item 5) writes ``summary.json`` for every status: a failed usadel or kinetics0d
run leaves its own summary (status -1, the message naming the cause and the fix, wall
time, peak memory), never none and never the stale summary of an earlier run in the same
directory."""

from __future__ import annotations

import functools
import json

from conftest import CASES

STALE = {"model": "usadel", "status": 0, "message": "an earlier run", "stale_entry": 1}


def _stale_dir(tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    (out / "summary.json").write_text(json.dumps(STALE))
    return out


def test_failed_usadel_run_replaces_a_stale_summary(tmp_path):
    """Δ self-consistency cut at one iteration ([selfconsistency] max_iterations = 1) on
    the NIS wire (2 biases, coarse grid, Eq. 8 cut at 4 Δ0 as the grid): status -1;
    summary.json is this run's (status, message with the fix, wall time and peak
    memory), the earlier one's entries gone."""
    from fvqp.api import run_case

    text = (CASES / "usadel_nis_wire.toml").read_text().replace(
        "../meshes", str(CASES.parent / "meshes"))
    text = text.replace("points = 31", "points = 2").replace("spacing = 0.01",
                                                             "spacing = 0.02")
    text = text.replace('mode = "none"', 'mode = "uniform"\nprobe = "junction_a"\n'
                        "omega_d = 4.0\nmax_iterations = 1")
    case = tmp_path / "usadel_capped.toml"
    case.write_text(text)
    out = _stale_dir(tmp_path)
    res = run_case(case, output_dir=str(out))
    assert res.status == -1 and not res.success
    s = json.loads((out / "summary.json").read_text())
    assert s["status"] == -1 and s["model"] == "usadel" and "stale_entry" not in s
    assert s["message"] == res.message
    assert "did not converge in 1 iterations" in s["message"]
    assert "Fix: raise [selfconsistency] max_iterations" in s["message"]
    assert s["wall_time_s"] > 0 and s["peak_rss_MB_per_rank"] > 0
    assert "summary.json" in res.outputs


def test_failed_kinetics0d_run_writes_its_summary_and_exits_3(tmp_path, monkeypatch,
                                                              capsys):
    """The self-consistent gap of the strongly driven film (coarse grid) cut at one
    outer iteration: the driver's ConvergenceError becomes status -1 and exit code 3
    (not a traceback), and summary.json is the failed run's."""
    from fvqp.cli import main
    from fvqp.models.kinetics0d import driver

    monkeypatch.setattr(driver, "steady_state_self_consistent", functools.partial(
        driver.steady_state_self_consistent, max_iter=1))
    text = (CASES / "kinetics0d_al_gap_suppression.toml").read_text()
    text = text.replace('spacing = "6 ueV"', 'spacing = "12 ueV"')
    case = tmp_path / "k0_gap.toml"
    case.write_text(text)
    out = _stale_dir(tmp_path)
    assert main(["run", str(case), "--output", str(out)]) == 3
    s = json.loads((out / "summary.json").read_text())
    assert s["status"] == -1 and s["model"] == "kinetics0d" and "stale_entry" not in s
    assert "self-consistent gap not converged: after 1 iterations" in s["message"]
    assert "Fix: lower the [[drives]] power" in s["message"]
    assert s["wall_time_s"] > 0 and s["peak_rss_MB_per_rank"] > 0
    assert "Traceback" not in capsys.readouterr().err


def test_successful_0d_summary_keeps_its_entries(tmp_path):
    """A finished kinetics0d run: summary.json holds the model's entries (status 0, the
    keys, observables, output, figure) and the template's wall time and peak memory, the
    same as the returned result."""
    from fvqp.api import run_case

    case = tmp_path / "k0_weak.toml"
    case.write_text((CASES / "kinetics0d_al_weak_drive.toml").read_text())
    res = run_case(case, output_dir=str(tmp_path / "w"))
    s = json.loads((tmp_path / "w" / "summary.json").read_text())
    assert s["status"] == 0 == res.status
    assert set(s) == set(res.summary)
    for key in ("keys", "observables", "observables_SI", "gap_ueV", "output", "figure",
                "materials", "newton_iterations"):
        assert s[key] == json.loads(json.dumps(res.summary[key], default=float)), key
    assert s["wall_time_s"] > 0 and s["peak_rss_MB_per_rank"] > 0
    assert res.counters["newton_iterations"] == s["newton_iterations"] > 0

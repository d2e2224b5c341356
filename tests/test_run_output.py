"""What a run of a mesh model leaves for the user: region names in the VTK files (ParaView
and pyvista show names, not ids), shown by `fvqp info`."""

from __future__ import annotations

import tomllib

import numpy as np
import pytest

from conftest import case_variant, run_fvqp
from fvqp.mesh import read_mesh


def _mesh_names(case) -> list[str]:
    data = tomllib.loads(case.read_text())
    return read_mesh(data["mesh"]["file"]).region_names


def _snapshots(out, name):
    import pyvista as pv

    reader = pv.get_reader(str(out / f"{name}.pvd"))
    grids = []
    for t in reader.time_values:
        reader.set_active_time_value(t)
        grids.append(reader.read()[0])
    return grids


# one fast steady case of each mesh model (they share the writer of the run template)
@pytest.mark.parametrize("name", ["heat_nis_wire", "transport_nis_wire", "bte_gapstep"])
def test_every_mesh_model_writes_region_names_shown_by_info(name, tmp_path):
    case = case_variant(f"{name}.toml", tmp_path)
    out = tmp_path / "out"
    run_fvqp(["run", case, "--output", out])
    names = _mesh_names(case)
    grids = _snapshots(out, name)
    assert grids
    for grid in grids:
        assert list(grid.field_data["region_names"]) == names
    region = np.asarray(grids[-1].cell_data["region"]).astype(int)
    lines = run_fvqp(["info", out]).stdout.splitlines()
    for r in np.unique(region):
        count = int(np.sum(region == r))
        assert any(ln.split()[:5] == [names[r], "id", str(r), str(count), "cells,"]
                   for ln in lines), (names[r], count, lines)


@pytest.mark.mpi
def test_region_names_in_the_pieces_of_a_two_rank_run(tmp_path):
    import pyvista as pv

    from fvqp.io.vtk import field_strings

    case = case_variant("heat_nis_wire.toml", tmp_path)
    out = tmp_path / "out"
    run_fvqp(["run", case, "--output", out], nproc=2)
    names = _mesh_names(case)
    pvtu = sorted((out / "vtu").glob("*.pvtu"))[-1]
    pieces = sorted((out / "vtu").glob(f"{pvtu.stem}_p*.vtu"))
    assert len(pieces) == 2
    for piece in pieces:  # VTK takes a .pvtu's field data from its pieces
        assert field_strings(str(piece)) == {"region_names": names}
    assert list(pv.read(pvtu).field_data["region_names"]) == names


def _csv(path):
    from fvqp.io.series import read_series

    header, rows = read_series(str(path))
    return header, np.array(rows)


@pytest.fixture(scope="module")
def film_trap(tmp_path_factory):
    """The shipped heat_film_trap case, run as it is (a few seconds)."""
    tmp = tmp_path_factory.mktemp("film")
    case = case_variant("heat_film_trap.toml", tmp)
    out = tmp / "out"
    run_fvqp(["run", case, "--output", out])
    return case, out


def test_film_trap_writes_its_heating_and_a_series_row_per_step(film_trap):
    import json

    _, out = film_trap
    s = json.loads((out / "summary.json").read_text())
    assert s["status"] == 0
    times = [g.field_data["TIME"][0] for g in _snapshots(out, "heat_film_trap")]
    heating = [t for t in times if 0 < t <= 200e-9 * (1 + 1e-12)]
    assert len(times) >= 20 and len(heating) >= 10  # the 200 ns of heating, not 2 pictures
    header, rows = _csv(out / "heat_film_trap_series.csv")
    col = {h: rows[:, k] for k, h in enumerate(header)}
    assert header[:6] == ["time_s", "dt_s", "step", "newton_iterations",
                          "linear_iterations", "rejected_steps"]
    # one row per accepted step, and the initial state
    assert len(rows) == s["steps"] + 1
    assert np.array_equal(col["step"], np.arange(s["steps"] + 1))
    assert col["time_s"][0] == 0.0 and col["time_s"][-1] == pytest.approx(s["t_end_s"],
                                                                         rel=1e-12, abs=0)
    assert np.all(np.diff(col["time_s"]) > 0)
    assert np.allclose(np.diff(col["time_s"]), col["dt_s"][1:], rtol=1e-9, atol=0)
    assert col["newton_iterations"][-1] == s["newton_iterations"]
    # the hottest cell: at the end (max_temperature_K) and its peak over the run, during
    # the heating (the film cools after the source stops at 200 ns)
    assert col["max_temperature_K"][-1] == pytest.approx(s["max_temperature_K"], rel=1e-12,
                                                         abs=0)
    assert s["peak_temperature_K"] == pytest.approx(np.max(col["max_temperature_K"]),
                                                    rel=1e-12, abs=0)
    k_peak = int(np.argmax(col["max_temperature_K"]))
    assert s["peak_temperature_K"] > s["max_temperature_K"] > col["max_temperature_K"][0]
    assert 0 < col["time_s"][k_peak] <= 200e-9 * (1 + 1e-12)
    assert col["linear_iterations"][-1] == s["linear_iterations"]
    # the energy columns end at summary.json's balance
    for key, value in s["energy_J"].items():
        assert col[f"energy_J.{key}"][-1] == pytest.approx(value, rel=1e-12, abs=1e-40), key
    # the deposited energy grows while the source heats; the balance closes at every step
    # to round-off of the stored energy
    dep = col["energy_J.deposited"]
    during = col["time_s"] <= 200e-9 * (1 + 1e-12)
    assert np.all(np.diff(dep[during]) > 0) and dep[-1] > 0
    assert np.max(np.abs(col["energy_J.imbalance"])) < 1e-10 * col["energy_J.initial"][0]
    stored = col["energy_J.final"] - col["energy_J.initial"]
    flows = sum(col[h] for h in header if h.startswith("energy_J.") and h not in
                ("energy_J.initial", "energy_J.final", "energy_J.imbalance"))
    assert np.allclose(stored - flows, col["energy_J.imbalance"], rtol=0,
                       atol=1e-12 * col["energy_J.initial"][0])


def test_series_of_a_resumed_run_equals_the_uninterrupted_one(film_trap, tmp_path):
    case, full = film_trap
    part = tmp_path / "part"
    run_fvqp(["run", case, "--output", part, "--max-steps", "9"])
    header, rows = _csv(part / "heat_film_trap_series.csv")
    assert len(rows) == 10  # steps 0..9
    run_fvqp(["run", case, "--output", part, "--resume"])
    h_full, r_full = _csv(full / "heat_film_trap_series.csv")
    h_part, r_part = _csv(part / "heat_film_trap_series.csv")
    assert h_part == h_full and r_part.shape == r_full.shape
    # counters exactly; energies to round-off of the stored energy (a restored run
    # repeats the same steps, its sums may differ in the last bits)
    counters = [h_full.index(c) for c in ("step", "newton_iterations", "linear_iterations",
                                          "rejected_steps")]
    assert np.array_equal(r_part[:, counters], r_full[:, counters])
    scale = r_full[0, h_full.index("energy_J.initial")]
    bad = ~np.isclose(r_part, r_full, rtol=1e-9, atol=1e-12 * scale)
    assert not bad.any(), [(i, h_full[j], r_full[i, j], r_part[i, j])
                           for i, j in zip(*np.nonzero(bad), strict=True)][:5]
    # the run's peak temperature survives the restart (kept in the checkpoint)
    import json

    peaks = [json.loads((d / "summary.json").read_text())["peak_temperature_K"]
             for d in (full, part)]
    assert peaks[1] == pytest.approx(peaks[0], rel=1e-12, abs=0)


def test_transport_series_ends_at_the_summary_balances(tmp_path):
    import json

    name = "transport_absorber3d"
    case = case_variant(f"{name}.toml", tmp_path, **{
        'end = "2 us"': 'end = "3 ns"',
        'times = ["2 ns", "10 ns", "100 ns", "1 us"]': 'times = ["2 ns"]'})
    out = tmp_path / "out"
    run_fvqp(["run", case, "--output", out])
    s = json.loads((out / "summary.json").read_text())
    header, rows = _csv(out / f"{name}_series.csv")
    col = {h: rows[:, k] for k, h in enumerate(header)}
    assert len(rows) == s["steps"] + 1
    for table in ("energy_J", "qp_number"):
        for key, value in s[table].items():
            assert col[f"{table}.{key}"][-1] == pytest.approx(value, rel=1e-12, abs=1e-40), key
    assert col["qp_number.pair_processes"][-1] > 0  # the burst made QPs by pair breaking


def test_steady_newton_progress_lines_and_quiet(tmp_path):
    import json

    case = case_variant("heat_nis_wire.toml", tmp_path)
    proc = run_fvqp(["run", case, "--output", tmp_path / "a"])
    s = json.loads((tmp_path / "a" / "summary.json").read_text())
    n, lin = s["newton_iterations"], s["linear_iterations"]
    assert "Newton 0: |F| = " in proc.stderr
    # the monitor's last line is the converged iterate, with the run's Krylov count
    assert f"Newton {n}: |F| = {s['residual_norm']:.3e} (relative " in proc.stderr
    assert f"), {lin} Krylov iterations" in proc.stderr
    quiet = run_fvqp(["-q", "run", case, "--output", tmp_path / "b"])
    assert "Newton" not in quiet.stderr and "INFO" not in quiet.stderr


def test_transient_progress_lines_give_times_in_seconds(film_trap, tmp_path):
    case, _ = film_trap
    proc = run_fvqp(["run", case, "--output", tmp_path / "out"])
    # a progress line at every snapshot (not a terminal: log lines); 10 ns is an output time
    lines = [ln for ln in proc.stderr.splitlines() if " t=1.0000e-08 s dt=" in ln]
    assert lines, proc.stderr
    assert " step " in lines[0] and " newton=" in lines[0]


# ---- the fixed-step loops of bte and bte_chip talk in SI and write their series ----------
def _progress(stderr: str, model: str, head: str) -> list[str]:
    """The progress log lines of ``model`` that start with ``head`` (not a terminal)."""
    return [ln for ln in stderr.splitlines() if f"fvqp.{model} INFO: {head}" in ln]


def _series_ends_at_summary(out, name, steps):
    """The series has a row per step from 0 and its last row is the summary's final
    state; returns (header, rows, summary)."""
    import json

    s = json.loads((out / "summary.json").read_text())
    header, a = _csv(out / f"{name}_series.csv")
    assert list(a[:, header.index("step")]) == list(range(steps + 1))
    assert a[-1, header.index("time_s")] == pytest.approx(s["t_end_s"], rel=1e-12, abs=0)
    return header, a, s


def test_collisionless_bte_transient_progress_and_series(tmp_path):
    """bte_film_pulse (collisionless, bin by bin), 10 steps of 2 ps: a progress line at
    the end of every bin in seconds; ``bte_film_pulse_series.csv`` has the QP number of
    every step, its last equal to summary.json's final number and its flows and
    imbalance to the summary's (1e-12: the same sums in another order)."""
    case = case_variant("bte_film_pulse.toml", tmp_path, **{'end = "100 ps"': 'end = "20 ps"'})
    out = tmp_path / "out"
    proc = run_fvqp(["run", case, "--output", out])
    lines = _progress(proc.stderr, "bte", "step 10/10 t=2.0000e-11 s dt=2.000e-12 s bin ")
    assert lines, proc.stderr
    header, a, s = _series_ends_at_summary(out, "bte_film_pulse", 10)
    qp = s["qp_number"]
    assert a[-1, header.index("qp_number")] == pytest.approx(qp["final"], rel=1e-12, abs=0)
    assert a[0, header.index("qp_number")] == pytest.approx(qp["initial"], rel=1e-12, abs=0)
    for k in ("sources", "traps"):
        assert a[-1, header.index(f"qp_number.{k}")] == pytest.approx(qp[k], rel=1e-12,
                                                                       abs=0)
    assert qp["sources"] > 0  # the pulse injected QPs, and the series shows them arrive
    n = a[:, header.index("qp_number")]
    assert n[5] > n[0] + 0.1 * (n[-1] - n[0])
    # every row balances: number - initial + flows (1e-12 of the injected number)
    assert np.max(np.abs(a[:, header.index("qp_number.imbalance")])) < 1e-12 * qp["sources"]


def test_selfgap_progress_series_and_resume(tmp_path):
    """bte_selfgap_uniform, 10 steps of 2 ns: progress lines in seconds with the gap;
    ``<case>_series.csv`` ends at summary.json's final QP number (1e-12) with the flows
    of the summary, its gap range inside the summary's; a run stopped after 4 steps and
    resumed writes the same series (1e-12)."""
    case = case_variant("bte_selfgap_uniform.toml", tmp_path,
                        **{'end = "80 ns"': 'end = "20 ns"'})
    out = tmp_path / "out"
    proc = run_fvqp(["run", case, "--output", out])
    assert _progress(proc.stderr, "bte", "step 5/10 t=1.0000e-08 s dt=2.000e-09 s N_qp="), \
        proc.stderr
    header, a, s = _series_ends_at_summary(out, "bte_selfgap_uniform", 10)
    qp = s["qp_number"]
    assert a[-1, header.index("qp_number")] == pytest.approx(qp["final"], rel=1e-12, abs=0)
    for k in ("sources", "pair_processes", "imbalance"):
        assert a[-1, header.index(f"qp_number.{k}")] == pytest.approx(
            qp[k], rel=1e-9, abs=1e-12 * qp["final"])
    lo, hi = a[:, header.index("gap_min_ueV")], a[:, header.index("gap_max_ueV")]
    assert s["gap"]["min_ueV"] == pytest.approx(lo.min(), rel=1e-12, abs=0)
    assert hi[-1] < hi[0]  # the injected QPs lowered the gap
    part = tmp_path / "part"
    run_fvqp(["run", case, "--output", part, "--max-steps", "4"])
    run_fvqp(["run", case, "--output", part, "--resume"])
    h2, b = _csv(part / "bte_selfgap_uniform_series.csv")
    assert h2 == header
    np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12 * qp["final"])


def test_bte_chip_progress_in_seconds_and_series_number(tmp_path):
    """bte_chip_deposit on the small chip, 5 steps of 5 ns: the progress line of the last
    step in seconds with the energy imbalance; the series' film QP numbers sum to
    summary.json's final number (1e-12)."""
    case = case_variant("bte_chip_deposit.toml", tmp_path,
                        **{"chip_layout/chip.msh": "chip_small/chip_small.msh",
                           'end = "300 ns"': 'end = "25 ns"'})
    out = tmp_path / "o"
    proc = run_fvqp(["run", case, "--output", out])
    lines = _progress(proc.stderr, "bte_chip", "step 5/5 t=2.5000e-08 s dt=5.000e-09 s N_qp=")
    assert lines and " energy imbalance " in lines[0], proc.stderr
    header, a, s = _series_ends_at_summary(out, "bte_chip_deposit", 5)
    films = [i for i, h in enumerate(header) if h.startswith("N_qp:")]
    assert len(films) == 3
    assert a[-1, films].sum() == pytest.approx(s["qp_number"]["final"], rel=1e-12, abs=0)

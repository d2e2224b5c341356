"""bte checkpoints: a stopped (``--max-steps``) or killed run resumed with ``--resume``
equals the uninterrupted run to 1e-12 (VTK series and summary), for the transient (BDF2,
checkpoints inside a bin and after every bin) and the steady bin-by-bin solves with a
mean-free-path sweep; a checkpoint of an edited case is refused."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import case_variant as _variant
from conftest import run_fvqp

PULSE = {'end = "100 ps"': 'end = "12 ps"', "directions = 16": "directions = 4",
         'spacing = "40 ueV"': 'spacing = "60 ueV"',
         "every = 5": "every = 2\ncheckpoint_every = 4", 'scheme = "bdf1"': 'scheme = "bdf2"'}
FIELDS = ("qp_density", "qp_current_x", "qp_current_y", "qp_energy_density")


def _series(out, name):
    import pyvista as pv

    reader = pv.get_reader(str(out / f"{name}.pvd"))
    times = list(reader.time_values)
    snaps = []
    for t in times:
        reader.set_active_time_value(t)
        m = reader.read()[0]
        snaps.append({f: np.asarray(m.cell_data[f]) for f in FIELDS})
    return times, snaps


def _same_series(a, b, name):
    ta, sa = _series(a, name)
    tb, sb = _series(b, name)
    assert tb == pytest.approx(ta, rel=1e-12, abs=0) and len(ta) == len(tb)
    for x, y in zip(sa, sb, strict=True):
        for f in FIELDS:
            assert np.max(np.abs(x[f] - y[f])) <= 1e-12 * max(np.max(np.abs(x[f])), 1e-300), f


def _summary(out):
    return json.loads((out / "summary.json").read_text())


def _same_numbers(a: dict, b: dict):
    assert b.keys() == a.keys()
    for k, v in a.items():
        # absolute scale: the larger of the initial and final numbers (an initial vacuum
        # has 0; the imbalance itself is round-off and compares on that scale)
        scale = max(abs(a["initial"]), abs(a["final"]))
        assert b[k] == pytest.approx(v, rel=1e-12, abs=1e-12 * scale), k


@pytest.mark.slow
def test_transient_stop_resume_and_kill_resume_equal_uninterrupted(tmp_path, monkeypatch):
    """BDF2 pulse, 6 steps, 3 bins: (a) uninterrupted; (b) --max-steps 4 (status 1, VTK
    up to 8 ps, checkpoint) then --resume; (c) killed in bin 1 right after its step-4
    checkpoint, then resumed (needs BDF2's previous state). (b), (c) equal (a) to 1e-12;
    a resume of the edited case is refused."""
    case = _variant("bte_film_pulse.toml", tmp_path, **PULSE)
    name = "bte_film_pulse"
    run_fvqp(["run", case, "--output", tmp_path / "a"])
    sa = _summary(tmp_path / "a")
    assert sa["status"] == 0 and sa["steps"] == 6 and sa["energy_bins"] >= 3
    # (b) stopped + resumed
    run_fvqp(["run", case, "--output", tmp_path / "b", "--max-steps", "4"])
    sb = _summary(tmp_path / "b")
    assert sb["status"] == 1 and sb["steps"] == 4
    assert (tmp_path / "b" / "checkpoint.h5").is_file()
    tb, _ = _series(tmp_path / "b", name)
    assert tb == pytest.approx([0.0, 4e-12, 8e-12], rel=1e-12, abs=0)
    run_fvqp(["run", case, "--output", tmp_path / "b", "--resume"])
    sb = _summary(tmp_path / "b")
    assert sb["status"] == 0 and sb["steps"] == 6
    _same_series(tmp_path / "a", tmp_path / "b", name)
    _same_numbers(sa["qp_number"], sb["qp_number"])
    assert sb["linear_iterations"] == sa["linear_iterations"]
    # (c) killed mid-bin (in process), resumed
    from fvqp.api import run_case
    from fvqp.models.bte import checkpoint as ckmod

    class Killed(Exception):
        pass

    orig = ckmod.BinCheckpoint.save

    def save_then_die(self, *args):
        orig(self, *args)
        if self.writes == 3:  # bin 0: step 4, end; bin 1: step 4
            raise Killed

    monkeypatch.setattr(ckmod.BinCheckpoint, "save", save_then_die)
    with pytest.raises(Killed):
        run_case(case, output_dir=str(tmp_path / "c"))
    monkeypatch.setattr(ckmod.BinCheckpoint, "save", orig)
    run_case(case, output_dir=str(tmp_path / "c"), resume=True)
    sc = _summary(tmp_path / "c")
    assert sc["status"] == 0 and sc["steps"] == 6
    _same_series(tmp_path / "a", tmp_path / "c", name)
    _same_numbers(sa["qp_number"], sc["qp_number"])
    # an edited case does not resume from this checkpoint
    case.write_text(case.read_text().replace('trap_time = "50 ps"', 'trap_time = "40 ps"'))
    proc = run_fvqp(["run", case, "--output", tmp_path / "c", "--resume"], check=False)
    assert proc.returncode != 0
    assert "another version of the case" in proc.stdout + proc.stderr


def test_collisionless_march_stops_on_sigterm_and_resumes(tmp_path):
    """The collisionless per-bin march receives SIGTERM (a batch system's time limit)
    right after its 3rd checkpoint (bin 0 at step 4 and at its end, bin 1 at step 4): it
    stops after that step of bin 1 (status 1, ``stopped_by``, exit 128 + 15, the
    ``--resume`` hint), with no snapshot of mixed times (bin 0 at step 6, bin 1 at 4, bin
    2 at 0: the summary's ``steps`` is 0, the step every bin has reached); ``--resume``
    continues every bin from its own step to the uninterrupted run (VTK series and QP
    numbers to 1e-12). Before, this loop kept Python's default handling: the process
    died at the signal (exit -15)."""
    import signal

    from conftest import run_fvqp_killed

    case = _variant("bte_film_pulse.toml", tmp_path, **PULSE)
    name = "bte_film_pulse"
    run_fvqp(["run", case, "--output", tmp_path / "a"])
    sa = _summary(tmp_path / "a")
    assert sa["status"] == 0 and sa["steps"] == 6 and sa["energy_bins"] >= 3
    p = run_fvqp_killed(["run", case, "--output", tmp_path / "b"], after_checkpoints=3,
                        sig=signal.SIGTERM)
    assert p.returncode == 128 + signal.SIGTERM, p.stderr
    assert "stopped by SIGTERM in bin 2 of" in p.stderr and "--resume" in p.stderr
    sb = _summary(tmp_path / "b")
    assert sb["status"] == 1 and sb["stopped_by"] == "SIGTERM" and sb["steps"] == 0
    tb, _ = _series(tmp_path / "b", name)
    assert tb == [0.0]
    run_fvqp(["run", case, "--output", tmp_path / "b", "--resume"])
    sb = _summary(tmp_path / "b")
    assert sb["status"] == 0 and sb["steps"] == 6
    _same_series(tmp_path / "a", tmp_path / "b", name)
    _same_numbers(sa["qp_number"], sb["qp_number"])


def test_steady_sweep_stop_resume_equal_uninterrupted(tmp_path):
    """Constriction, steady + sweep (ballistic, 1 um) = 3 x N bin solves: stopped after 5
    solves (status 1), resumed twice (the second time across a stage boundary), the
    rates, transmissions and VTK equal the uninterrupted run to 1e-12."""
    case = _variant("bte_constriction.toml", tmp_path, **{
        'mean_free_paths = ["0.3 um", "1 um", "3 um", "10 um"]': 'mean_free_paths = ["1 um"]',
        "directions = 16": "directions = 8", 'spacing = "10 ueV"': 'spacing = "40 ueV"'})
    run_fvqp(["run", case, "--output", tmp_path / "a"])
    sa = _summary(tmp_path / "a")
    nb = sa["energy_bins"]
    assert sa["status"] == 0 and nb >= 4
    run_fvqp(["run", case, "--output", tmp_path / "b", "--max-steps", "5"])
    s1 = _summary(tmp_path / "b")
    assert s1["status"] == 1 and s1["bins_solved"] == 5
    run_fvqp(["run", case, "--output", tmp_path / "b", "--resume", "--max-steps",
              str(nb)])
    assert _summary(tmp_path / "b")["bins_solved"] == 5 + nb
    run_fvqp(["run", case, "--output", tmp_path / "b", "--resume"])
    sb = _summary(tmp_path / "b")
    assert sb["status"] == 0
    for key in ("qp_rates_per_s",):
        for k, v in sa[key].items():
            assert sb[key][k] == pytest.approx(v, rel=1e-12, abs=1e-12 * abs(
                sa[key]["boundary:drain"])), k
    for ra, rb in zip([sa["sweep"]["ballistic"], *sa["sweep"]["runs"]],
                      [sb["sweep"]["ballistic"], *sb["sweep"]["runs"]], strict=True):
        for k, v in ra["qp_rates_per_s"].items():
            assert rb["qp_rates_per_s"][k] == pytest.approx(v, rel=1e-12, abs=1e-3), k
        assert rb["transmission"] == pytest.approx(ra["transmission"], rel=1e-12)
    _same_series(tmp_path / "a", tmp_path / "b", "bte_constriction")


@pytest.mark.mpi
@pytest.mark.slow
def test_transient_stop_and_resume_on_two_ranks(tmp_path):
    """`mpiexec -n 2`: stopped after 2 steps (checkpoint gathered in file cell order) and
    resumed on 2 ranks (scattered back): equals the serial uninterrupted run to 1e-8
    (the serial-vs-MPI tolerance of the GMRES solves)."""
    case = _variant("bte_film_pulse.toml", tmp_path, **PULSE)
    name = "bte_film_pulse"
    run_fvqp(["run", case, "--output", tmp_path / "a"])
    run_fvqp(["run", case, "--output", tmp_path / "p", "--max-steps", "2"], nproc=2)
    assert _summary(tmp_path / "p")["status"] == 1
    run_fvqp(["run", case, "--output", tmp_path / "p", "--resume"], nproc=2)
    sa, sp = _summary(tmp_path / "a"), _summary(tmp_path / "p")
    assert sp["status"] == 0 and sp["ranks"] == 2 and sp["steps"] == 6
    assert sp["qp_number"]["final"] == pytest.approx(sa["qp_number"]["final"], rel=1e-8)
    ta, a = _series_sorted(tmp_path / "a", name)
    tb, b = _series_sorted(tmp_path / "p", name)
    assert tb == pytest.approx(ta, rel=1e-12, abs=0) and len(ta) == 4
    for x, y in zip(a, b, strict=True):
        for f in FIELDS:
            assert np.max(np.abs(x[f] - y[f])) <= 1e-8 * np.max(np.abs(x[f])) + 1e-300, f


def _series_sorted(out, name):
    """Like :func:`_series`, cells sorted by centre (the MPI pieces come rank by rank)."""
    import pyvista as pv

    reader = pv.get_reader(str(out / f"{name}.pvd"))
    times, snaps = list(reader.time_values), []
    for t in times:
        reader.set_active_time_value(t)
        m = reader.read()
        m = m.combine() if hasattr(m, "combine") else m[0]
        c = np.asarray(m.cell_centers().points)
        o = np.lexsort(c.T[::-1])
        snaps.append({f: np.asarray(m.cell_data[f])[o] for f in FIELDS})
    return times, snaps


def test_transient_resume_extends_the_end(tmp_path):
    """BDF2 pulse run to 6 ps (3 steps; its last snapshot at step 3 is not one of the
    12 ps run's every-2 snapshots), then ``--resume`` with ``[time] end = 12 ps``: VTK
    series and QP numbers equal the run that went to 12 ps at once (1e-12); an end before
    the checkpoint is refused naming the fix."""
    case = _variant("bte_film_pulse.toml", tmp_path, **PULSE)
    name = "bte_film_pulse"
    run_fvqp(["run", case, "--output", tmp_path / "a"])
    sa = _summary(tmp_path / "a")
    assert sa["status"] == 0 and sa["steps"] == 6
    text = case.read_text()
    case.write_text(text.replace('end = "12 ps"', 'end = "6 ps"'))
    run_fvqp(["run", case, "--output", tmp_path / "b"])
    s1 = _summary(tmp_path / "b")
    assert s1["status"] == 0 and s1["steps"] == 3
    case.write_text(text)
    run_fvqp(["run", case, "--output", tmp_path / "b", "--resume"])
    sb = _summary(tmp_path / "b")
    assert sb["status"] == 0 and sb["steps"] == 6
    assert sb["t_end_s"] == pytest.approx(sa["t_end_s"], rel=1e-12, abs=0)
    _same_series(tmp_path / "a", tmp_path / "b", name)
    _same_numbers(sa["qp_number"], sb["qp_number"])
    case.write_text(text.replace('end = "12 ps"', 'end = "4 ps"'))
    proc = run_fvqp(["run", case, "--output", tmp_path / "b", "--resume"], check=False)
    assert proc.returncode != 0
    assert "give an end at or after" in proc.stdout + proc.stderr

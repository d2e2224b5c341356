"""``fvqp run --overwrite`` leaves the output directory with the new run's outputs only and
never deletes a file fvqp did not write (the manifest ``.fvqp_outputs.json``,
:mod:`fvqp.io.manifest`); the advice of a refused ``--resume`` names a command that works.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from conftest import CASES, case_variant, run_fvqp, run_fvqp_killed

MANIFEST_NAME = ".fvqp_outputs.json"  # fvqp.io.manifest.MANIFEST_NAME


def _files(out: Path) -> dict[str, tuple[int, bytes]]:
    """Every file below ``out`` (without the manifest): mtime and content."""
    return {str(p.relative_to(out)): (p.stat().st_mtime_ns, p.read_bytes())
            for p in out.rglob("*") if p.is_file() and p.name != MANIFEST_NAME}


def _film(tmp_path) -> Path:
    """heat_film_trap: a transient run with a checkpoint and a snapshot every step."""
    return case_variant("heat_film_trap.toml", tmp_path, **{
        'end = "2 us"': 'end = "20 ns"', "every = 20": "every = 1\ncheckpoint_every = 1",
        'directory = "../output/heat_film_trap"': 'directory = "unused"'})


def test_overwrite_with_another_case_leaves_only_its_outputs(tmp_path):
    """heat_nis_wire, then transport_nis_wire --overwrite into the same directory: no file
    of the first case is left (before: its .pvd, .vtu and .png stayed, and `fvqp info`
    refused "several .pvd series"); the one .pvd opens with pyvista and holds the
    transport fields; the case file and notes the user keeps there are untouched."""
    import pyvista as pv

    out = tmp_path / "out"
    run_fvqp(["-q", "run", CASES / "heat_nis_wire.toml", "-o", out])
    assert (out / "heat_nis_wire.pvd").is_file()
    (out / "notes.txt").write_text("my notes")
    (out / "my_case.toml").write_text((CASES / "heat_nis_wire.toml").read_text())
    kept = {k: v for k, v in _files(out).items() if k in ("notes.txt", "my_case.toml")}
    plotted = run_fvqp(["plot", out, "--field", "temperature"]).stdout.split()
    assert plotted and all(Path(p).is_file() for p in plotted)  # recorded by `fvqp plot`
    run_fvqp(["-q", "run", CASES / "transport_nis_wire.toml", "-o", out, "--overwrite"])
    assert not [p for p in plotted if Path(p).exists()]
    files = _files(out)
    assert not [f for f in files if "heat_nis_wire" in f], sorted(files)
    assert {k: files[k] for k in kept} == kept
    assert sorted(out.glob("*.pvd")) == [out / "transport_nis_wire.pvd"]
    written = json.loads((out / MANIFEST_NAME).read_text())["files"]
    assert sorted(set(files) - set(kept)) == written
    grid = pv.get_reader(str(out / "transport_nis_wire.pvd")).read()[0]
    assert "qp_excess" in grid.cell_data and "temperature" not in grid.cell_data
    assert grid.n_cells == 326
    assert json.loads((out / "summary.json").read_text())["model"] == "transport"
    info = run_fvqp(["info", out])
    assert "series   transport_nis_wire.pvd" in info.stdout


def test_overwrite_refuses_outputs_no_fvqp_run_wrote(tmp_path):
    """A .pvd series fvqp did not write (by hand, another program): --overwrite would mix
    the new run with it and must not delete it: refused naming it, nothing changed."""
    out = tmp_path / "out"
    (out / "vtu").mkdir(parents=True)
    (out / "other.pvd").write_text("<VTKFile/>")
    (out / "vtu" / "other_00000.vtu").write_text("<VTKFile/>")
    before = _files(out)
    p = run_fvqp(["-q", "run", CASES / "heat_nis_wire.toml", "-o", out, "--overwrite"],
                 check=False)
    assert p.returncode == 2, p.stderr
    assert "other.pvd" in p.stderr and os.path.join("vtu", "other_00000.vtu") in p.stderr
    assert "move or delete" in p.stderr and "--output" in p.stderr
    assert _files(out) == before and not (out / "summary.json").exists()


def test_overwrite_after_a_killed_run_deletes_its_snapshots(tmp_path):
    """A run SIGKILLed after its third snapshot never finished its manifest; --overwrite
    with one step still deletes all its files (before: its later snapshots stayed next
    to the new series)."""
    case, out = _film(tmp_path), tmp_path / "out"
    killed = run_fvqp_killed(["-q", "run", case, "-o", out], after_checkpoints=3)
    assert killed.returncode < 0, killed.stderr
    assert (out / "vtu" / "heat_film_trap_00003.vtu").is_file()
    run_fvqp(["-q", "run", case, "-o", out, "--overwrite", "--max-steps", 1])
    vtu = sorted(p.name for p in (out / "vtu").iterdir())
    assert vtu == ["heat_film_trap_00000.vtu", "heat_film_trap_00001.vtu"]
    assert json.loads((out / "summary.json").read_text())["steps"] == 1


def test_advice_of_a_refused_resume_works_when_followed(tmp_path):
    """The case was edited after the checkpoint: --resume is refused and the advice says
    to run with --overwrite instead of --resume; doing exactly that runs (before: "run
    without --resume", which is refused over the checkpoint)."""
    case, out = _film(tmp_path), tmp_path / "out"
    run_fvqp(["-q", "run", case, "-o", out, "--max-steps", 1])
    case.write_text(case.read_text().replace('temperature = "250 mK"',
                                             'temperature = "260 mK"'))
    args = ["-q", "run", case, "-o", out, "--resume", "--max-steps", 1]
    refused = run_fvqp(args, check=False)
    assert refused.returncode == 2
    assert "Fix: run with --overwrite instead of --resume" in refused.stderr
    followed = run_fvqp([("--overwrite" if a == "--resume" else a) for a in args],
                        check=False)
    assert followed.returncode == 0, followed.stderr
    assert json.loads((out / "summary.json").read_text())["steps"] == 1


def test_files_added_to_the_manifest_are_deleted_by_overwrite(tmp_path):
    """A figure drawn into a run's directory after the run (as `fvqp plot` does) and
    added with fvqp.io.manifest.add_outputs is deleted by --overwrite like the run's own
    outputs; a path outside the directory is never recorded."""
    from fvqp import run_case
    from fvqp.io.manifest import add_outputs

    out, elsewhere = tmp_path / "out", tmp_path / "keep.png"
    assert run_case(CASES / "heat_nis_wire.toml", output_dir=str(out))["status"] == 0
    late = out / "heat_nis_wire_gap_steady.png"
    late.write_bytes(b"png")
    elsewhere.write_bytes(b"png")
    add_outputs(str(out), [late, elsewhere])
    assert run_case(CASES / "heat_nis_wire.toml", output_dir=str(out),
                    overwrite=True)["status"] == 0
    assert not late.exists() and elsewhere.read_bytes() == b"png"
    assert "keep.png" not in (out / MANIFEST_NAME).read_text()


def test_files_a_user_edits_during_a_run_stay_the_users(tmp_path):
    """Only files of the kinds fvqp writes count as a run's outputs: notes or a case file
    edited in the directory while a run wrote it are not the run's, and --overwrite keeps
    them (a run's own new .vtu is recorded)."""
    from fvqp.io.manifest import finish_run, start_run

    (tmp_path / "notes.txt").write_text("before")
    start_run(str(tmp_path))
    (tmp_path / "notes.txt").write_text("edited during the run")
    (tmp_path / "case.toml").write_text("model = 'heat'")
    (tmp_path / "run_00000.vtu").write_text("<VTKFile/>")
    finish_run(str(tmp_path))
    assert json.loads((tmp_path / MANIFEST_NAME).read_text())["files"] == ["run_00000.vtu"]


def test_a_fresh_run_over_an_earlier_runs_outputs_is_refused(tmp_path):
    """A run without --overwrite or --resume into a directory holding the outputs of an
    earlier fvqp run (no checkpoint: a steady case) is refused, naming them and the fix,
    and changes nothing (before: another case's series stayed beside the new one, and
    `fvqp info` refused "several .pvd series"); with --overwrite it runs."""
    out = tmp_path / "out"
    run_fvqp(["-q", "run", CASES / "heat_nis_wire.toml", "-o", out])
    assert not (out / "checkpoint.h5").exists()
    before = _files(out)
    for case in ("transport_nis_wire.toml", "heat_nis_wire.toml"):
        p = run_fvqp(["-q", "run", CASES / case, "-o", out], check=False)
        assert p.returncode == 2, p.stderr
        assert "heat_nis_wire.pvd" in p.stderr and "earlier fvqp run" in p.stderr
        assert "--overwrite" in p.stderr and "--output" in p.stderr
        assert _files(out) == before
    run_fvqp(["-q", "run", CASES / "transport_nis_wire.toml", "-o", out, "--overwrite"])
    assert sorted(out.glob("*.pvd")) == [out / "transport_nis_wire.pvd"]

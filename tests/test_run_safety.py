"""Runs that cannot overwrite each other or a killed run (issue 19, items 6-8, 10, 12).

* one run per output directory: a second run is refused naming the first run's PID and
  host; the lock of a killed run is taken over with a warning (also under MPI);
* a mistyped fvqp flag (``-resume``, ``--max-step 5``) is refused, not handed to PETSc; a
  fresh run never replaces an earlier run's checkpoint without ``--overwrite``;
* output files get the usual mode ``0o666 & ~umask``;
* an output path that is a file, or a directory that cannot be written, is refused
  before anything is solved; ``--max-steps`` below 1 is refused by the parser.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import CASES, ROOT, case_variant, mpi_env, run_fvqp

NIS_WIRE = CASES / "heat_nis_wire.toml"  # steady heat run on a 1D wire: quick
HANG = 1500.0  # s; only against a hung child process, never a speed requirement

# A real `fvqp run` that stops after its first checkpoint: it waits for a line on stdin
# ("wait"), or SIGKILLs itself ("die"), so the tests need no timing.
_PAUSED_RUN = """
import os, signal, sys

import fvqp.io.checkpoint as ck

_write, _mode, _done = ck.write_checkpoint, sys.argv[1], []


def _write_then_pause(*args, **kwargs):
    _write(*args, **kwargs)
    if not _done:
        _done.append(1)
        print("checkpoint", flush=True)
        if _mode == "die":
            os.kill(os.getpid(), signal.SIGKILL)
        sys.stdin.readline()


ck.write_checkpoint = _write_then_pause
for mod in list(sys.modules.values()):  # modules that imported the name already
    if getattr(mod, "write_checkpoint", None) is _write:
        mod.write_checkpoint = _write_then_pause
from fvqp.cli import main

sys.exit(main(sys.argv[2:]))
"""

# holds the lock of an output directory until stdin closes
_HOLD_LOCK = """
import sys

from fvqp.io.lock import lock_output_dir

with lock_output_dir(sys.argv[1]):
    print("locked", flush=True)
    sys.stdin.read()
"""


def _film(tmp_path) -> Path:
    """heat_film_trap: a transient run with a checkpoint and a snapshot every step."""
    return case_variant("heat_film_trap.toml", tmp_path, **{
        'end = "2 us"': 'end = "20 ns"', "every = 20": "every = 1\ncheckpoint_every = 1",
        'directory = "../output/heat_film_trap"': 'directory = "unused"'})


def _main(args) -> int:
    from fvqp.cli import main

    return main([str(a) for a in args])


def _refused(args, capsys) -> str:
    """stderr of a command line the parser refuses (exit status 2)."""
    with pytest.raises(SystemExit) as exc:
        _main(args)
    assert exc.value.code == 2
    return capsys.readouterr().err


def _popen(script: str, *args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", script, *map(str, args)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=mpi_env(), cwd=ROOT)


# --- item 6: one run per output directory ------------------------------------------------


def test_second_run_into_the_directory_of_a_running_one_is_refused(tmp_path, capsys):
    """A real run, paused after its first checkpoint, holds its directory: a second run
    (CLI and API) is refused with the first run's PID and host and writes nothing; the
    first run then finishes normally and releases the lock."""
    from fvqp import run_case
    from fvqp.io import OutputDirLocked

    case, out = _film(tmp_path), tmp_path / "out"
    first = _popen(_PAUSED_RUN, "wait", "run", case, "--output", out, "--max-steps", 3)
    try:
        assert first.stdout.readline().strip() == "checkpoint", first.stderr.read()
        before = sorted(p.name for p in out.rglob("*"))
        assert _main(["run", case, "--output", out, "--overwrite"]) == 2
        err = capsys.readouterr().err
        assert f"PID {first.pid} on host {socket.gethostname()}" in err
        assert "in use by another fvqp run" in err and "--output" in err
        with pytest.raises(OutputDirLocked, match=f"PID {first.pid} "):
            run_case(NIS_WIRE, output_dir=str(out))
        assert sorted(p.name for p in out.rglob("*")) == before
        first.stdin.write("\n")
        first.stdin.flush()
        assert first.wait(timeout=HANG) == 0, first.stderr.read()
    finally:
        if first.poll() is None:
            first.kill()
        first.communicate()
    assert json.loads((out / "summary.json").read_text())["status"] == 1
    assert not (out / ".fvqp.lock").exists()


def test_lock_of_a_killed_run_is_taken_over_with_a_warning(tmp_path, capsys):
    """SIGKILL leaves the lock file behind; --resume takes it over (warning naming the
    dead run) and finishes; the lock file is gone afterwards."""
    case, out = _film(tmp_path), tmp_path / "out"
    killed = _popen(_PAUSED_RUN, "die", "run", case, "--output", out, "--max-steps", 3)
    out_text, err_text = killed.communicate(timeout=HANG)
    assert killed.returncode < 0 and "checkpoint" in out_text, err_text
    assert (out / ".fvqp.lock").exists()
    assert _main(["run", case, "--output", out, "--resume", "--max-steps", 1]) == 0
    err = capsys.readouterr().err
    assert "stale lock" in err and f"PID {killed.pid} on host {socket.gethostname()}" in err
    assert not (out / ".fvqp.lock").exists()


def test_lock_file_naming_a_live_process_refuses_even_without_flock(tmp_path, capsys):
    """On a file system where flock does nothing, the lock file's PID still protects
    the directory on the same host; a dead PID there is stale."""
    out = tmp_path / "out"
    out.mkdir()
    live = _popen("import sys; sys.stdin.read()")
    try:
        (out / ".fvqp.lock").write_text(json.dumps(
            {"pid": live.pid, "host": socket.gethostname(), "started": "earlier"}))
        assert _main(["run", NIS_WIRE, "--output", out]) == 2
        assert f"PID {live.pid} on host" in capsys.readouterr().err
        assert not (out / "summary.json").exists()
    finally:
        live.communicate(input="")
    assert _main(["run", NIS_WIRE, "--output", out]) == 0  # its process has ended
    assert f"PID {live.pid}" in capsys.readouterr().err
    assert not (out / ".fvqp.lock").exists()


def test_held_lock_refuses_a_second_holder_and_is_released(tmp_path):
    from fvqp.io.lock import OutputDirLocked, lock_output_dir

    holder = _popen(_HOLD_LOCK, tmp_path)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(OutputDirLocked, match=f"PID {holder.pid} "), \
                lock_output_dir(str(tmp_path)):
            pass
    finally:
        holder.communicate(input="")
    assert holder.returncode == 0 and not (tmp_path / ".fvqp.lock").exists()
    with lock_output_dir(str(tmp_path)) as path:
        assert json.loads(Path(path).read_text())["pid"] == os.getpid()


@pytest.mark.mpi
def test_two_rank_run_is_refused_on_every_rank_and_locks_once(tmp_path):
    """`mpiexec -n 2 fvqp run`: a held directory stops both ranks (exit 2, no hang); a
    free one is locked by rank 0 only (a second lock would refuse the run)."""
    out = tmp_path / "out"
    out.mkdir()
    holder = _popen(_HOLD_LOCK, out)
    try:
        assert holder.stdout.readline().strip() == "locked"
        p = run_fvqp(["run", NIS_WIRE, "--output", out], nproc=2, check=False)
        assert p.returncode == 2 and f"PID {holder.pid} " in p.stderr
    finally:
        holder.communicate(input="")
    p = run_fvqp(["run", NIS_WIRE, "--output", out], nproc=2)
    assert json.loads((out / "summary.json").read_text())["status"] == 0
    assert not (out / ".fvqp.lock").exists()


# --- item 7: mistyped flags, checkpoint overwrite ----------------------------------------


@pytest.mark.parametrize("typo, right", [
    (["-resume"], "--resume"), (["--max-step", "5"], "--max-steps"),
    (["--overwite"], "--overwrite"), (["-max_steps", "5"], "--max-steps"),
    (["--output=x", "--resum"], "--resume"), (["-overwrite"], "--overwrite"),
    (["-maxsteps", "5"], "--max-steps"), (["-output", "o"], "--output")])
def test_mistyped_fvqp_flags_are_refused_not_passed_to_petsc(typo, right, capsys):
    err = _refused(["run", NIS_WIRE, *typo], capsys)
    assert f"did you mean {right}?" in err


def test_unknown_double_dash_option_is_refused(capsys):
    err = _refused(["run", NIS_WIRE, "--heat_snes_monitor"], capsys)
    assert "'--heat_snes_monitor'" in err and "single dash" in err


def test_petsc_options_still_reach_petsc():
    from fvqp.cli import _split_petsc

    petsc = ["-heat_snes_monitor", "-heat_ksp_type", "preonly", "-help", "-version",
             "-log_view", "-options_left", "-info", "-malloc_debug", "-on_error_abort",
             "-ksp_view", "-pc_type", "lu", "-snes_max_it", "0", "-ts_max_steps", "3",
             "-heat_ts_max_steps", "4", "-ksp_max_it", "9", "-ts_max_time", "1",
             "-ts_monitor", "-snes_converged_reason", "-max_it", "2", "-options_view"]
    own, rest = _split_petsc(["-vv", "run", "c.toml", *petsc, "--max-steps", "2"])
    assert rest == petsc and own == ["-vv", "run", "c.toml", "--max-steps", "2"]


def test_fresh_run_never_overwrites_a_checkpoint(tmp_path, capsys):
    """A run stopped with a checkpoint; a fresh run into its directory (a forgotten or
    mistyped --resume) is refused and leaves the checkpoint as it was; --resume continues
    it, --overwrite starts anew; both flags together are refused."""
    case, out = _film(tmp_path), tmp_path / "out"
    assert _main(["run", case, "--output", out, "--max-steps", 2]) == 0
    ckpt = out / "checkpoint.h5"
    saved = ckpt.read_bytes()
    capsys.readouterr()
    assert _main(["run", case, "--output", out]) == 2
    err = capsys.readouterr().err
    assert str(out) in err and "checkpoint.h5" in err
    assert "--resume" in err and "--overwrite" in err
    assert "did you mean --resume?" in _refused(["run", case, "--output", out, "-resume"],
                                                capsys)
    assert ckpt.read_bytes() == saved
    err = _refused(["run", case, "--output", out, "--resume", "--overwrite"], capsys)
    assert "not allowed with argument" in err
    assert _main(["run", case, "--output", out, "--resume", "--max-steps", 1]) == 0
    assert json.loads((out / "summary.json").read_text())["steps"] == 3
    assert _main(["run", case, "--output", out, "--overwrite", "--max-steps", 1]) == 0
    assert json.loads((out / "summary.json").read_text())["steps"] == 1
    assert not (out / ".fvqp.lock").exists()


def test_run_case_refuses_to_overwrite_a_checkpoint_unless_asked(tmp_path):
    from fvqp import run_case
    from fvqp.io import OutputDirError

    case, out = _film(tmp_path), tmp_path / "out"
    assert run_case(case, output_dir=str(out), max_steps=1)["status"] == 1
    saved = (out / "checkpoint.h5").read_bytes()
    with pytest.raises(OutputDirError, match="--overwrite"):
        run_case(case, output_dir=str(out))
    assert (out / "checkpoint.h5").read_bytes() == saved
    with pytest.raises(ValueError, match="resume and overwrite"):
        run_case(case, output_dir=str(out), resume=True, overwrite=True)
    assert run_case(case, output_dir=str(out), overwrite=True, max_steps=2)["steps"] == 2


# --- item 8: file modes ------------------------------------------------------------------


def _modes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): stat.S_IMODE(p.stat().st_mode)
            for p in root.rglob("*") if p.is_file()}


def test_run_outputs_respect_the_umask(tmp_path):
    case, out = _film(tmp_path), tmp_path / "out"
    old = os.umask(0o022)
    try:
        assert _main(["run", case, "--output", out, "--max-steps", 2]) == 0
    finally:
        os.umask(old)
    modes = _modes(out)
    assert {"summary.json", "checkpoint.h5", "heat_film_trap.pvd",
            os.path.join("vtu", "heat_film_trap_00002.vtu")} <= set(modes)
    assert {name: oct(m) for name, m in modes.items() if m != 0o644} == {}


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640), (0o002, 0o664)])
def test_every_writer_respects_the_umask(tmp_path, umask, mode):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from fvqp.io.atomic import atomic_savefig, atomic_write_bytes
    from fvqp.io.checkpoint import write_checkpoint
    from fvqp.io.vtk import write_pvd, write_pvtu, write_vtu

    old = os.umask(umask)
    try:
        atomic_write_bytes(str(tmp_path / "summary.json"), b"{}")
        pts = np.array([[0.0, 0, 0], [1, 0, 0]])
        write_vtu(str(tmp_path / "a.vtu"), pts, [("line", np.array([[0, 1]]))],
                  {"T": np.array([1.0])}, {"T": "K"})
        write_pvtu(str(tmp_path / "a.pvtu"), ["a.vtu"], ["T"], {"T": "K"})
        write_pvd(str(tmp_path / "a.pvd"), [(0.0, "a.vtu")])
        write_checkpoint(str(tmp_path / "checkpoint.h5"), "d", {"x": np.zeros(2)}, {})
        atomic_savefig(plt.figure(figsize=(1, 1)), str(tmp_path / "a.png"))
    finally:
        os.umask(old)
    modes = _modes(tmp_path)
    assert len(modes) == 6
    assert {name: oct(m) for name, m in modes.items() if m != mode} == {}


# --- item 10: output paths ---------------------------------------------------------------


def test_output_path_that_is_a_file_is_refused_before_the_run(tmp_path, capsys):
    f = tmp_path / "results"
    f.write_text("notes")
    for out in (f, f / "sub"):
        assert _main(["run", NIS_WIRE, "--output", out]) == 2
        err = capsys.readouterr().err
        assert str(f) in err and "is an existing file, not a directory" in err
        assert "--output" in err and "Traceback" not in err
    assert f.read_text() == "notes"


def _unwritable_dir(tmp_path) -> Path:
    """A directory this process cannot create files in (root ignores the mode bits: then
    a sysfs directory, which refuses new files even to root)."""
    d = tmp_path / "read_only"
    d.mkdir()
    d.chmod(0o555)
    if not os.access(d, os.W_OK):
        return d
    d = Path("/sys/kernel")
    try:
        os.close(os.open(d / ".fvqp-probe", os.O_CREAT | os.O_WRONLY))
    except OSError:
        return d
    os.unlink(d / ".fvqp-probe")
    pytest.skip("no directory this process cannot write to")


def test_unwritable_output_directory_is_refused_before_the_run(tmp_path, capsys):
    d = _unwritable_dir(tmp_path)
    for out in (d, d / "new_run"):
        assert _main(["run", NIS_WIRE, "--output", out]) == 2
        err = capsys.readouterr().err
        assert f"cannot write to the output directory '{out}'" in err
        assert "writable directory with --output" in err and "Traceback" not in err
    assert not (d / "new_run").exists()


# --- item 12: --max-steps ------------------------------------------------------------------


@pytest.mark.parametrize("value, why", [("-3", "give at least 1"), ("0", "give at least 1"),
                                        ("2.5", "not a whole number")])
def test_max_steps_below_one_is_refused_by_the_parser(value, why, capsys):
    err = _refused(["run", NIS_WIRE, "--max-steps", value], capsys)
    assert "--max-steps" in err and why in err


def test_run_case_refuses_max_steps_below_one(tmp_path):
    from fvqp import run_case

    for bad in (0, -3):
        with pytest.raises(ValueError, match="max_steps"):
            run_case(NIS_WIRE, output_dir=str(tmp_path / "o"), max_steps=bad)
    assert not (tmp_path / "o").exists()


def test_refused_run_does_not_list_its_petsc_options_as_unused(tmp_path):
    """A run refused for bad input (here: a fresh run into a directory holding a
    checkpoint) never read the command line's PETSc options: the error is the last word,
    not PETSc's "WARNING! There are options you set that were not used!" list of them
    (measured before: "Option left: name:-heat_ksp_type value: gmres"). A run that does
    start still lists an option nobody reads (the spelling check stays)."""
    case, out = _film(tmp_path), tmp_path / "out"
    run_fvqp(["run", case, "--output", out, "--max-steps", 1])
    refused = run_fvqp(["run", case, "--output", out, "-heat_ksp_type", "gmres"],
                       check=False, timeout=HANG)
    assert refused.returncode == 2
    assert "checkpoint.h5" in refused.stderr and "--overwrite" in refused.stderr
    assert "not used" not in refused.stderr + refused.stdout
    assert "Option left" not in refused.stderr + refused.stdout
    typo = run_fvqp(["run", case, "--output", out, "--overwrite", "--max-steps", 1,
                     "-heat_ksp_typo", "gmres"], check=False, timeout=HANG)
    assert typo.returncode == 0
    assert "Option left: name:-heat_ksp_typo" in typo.stderr + typo.stdout

"""The output directory of a run: checked, locked and guarded before any solve starts.

:func:`claim_output_dir` is entered around every model run (``fvqp run`` and
:func:`fvqp.api.run_case`). On rank 0 it

1. refuses an output path that is a file, or a directory that cannot be created or
   written to (:class:`OutputDirError`);
2. locks the directory with ``.fvqp.lock`` (an exclusive ``flock`` held for the whole run,
   with the PID, host and start time of the run inside): a second run into the same
   directory is refused with :class:`OutputDirLocked`, naming the first run. A lock left
   by a killed run (its ``flock`` died with it) is taken over with a warning;
3. refuses a fresh run into a directory that holds a checkpoint (``checkpoint.h5``) of an
   earlier run, or outputs an earlier fvqp run recorded there (its snapshots, series,
   figures, summary: the manifest ``.fvqp_outputs.json``, :mod:`fvqp.io.manifest`), unless
   ``overwrite`` or ``resume``: the new run would overwrite some of them and leave the
   rest beside its own (another case's series, a longer run's later snapshots);
4. with ``overwrite``, deletes every file that earlier fvqp runs wrote into the directory
   (their checkpoint, snapshots, series, figures, summary: the manifest
   ``.fvqp_outputs.json``, :mod:`fvqp.io.manifest`), so that it then holds the new run's
   outputs only. Files no fvqp run wrote are never deleted: if some of them are of a
   kind a run writes (``.pvd``, ``.vtu``, ``.png``, ``.csv``, ``.h5``, ``.json`` ...),
   which would be mixed up with the new run's, the run is refused naming them; others
   (the case file, a mesh, notes) are left where they are;
5. records in the manifest what this run writes (before the solve and after it).

Under MPI every rank enters it; only rank 0 touches the file system and the others learn
the outcome by a broadcast, so all ranks raise the same error or all run.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import json
import logging
import os
import socket
from collections.abc import Iterator
from typing import Any

log = logging.getLogger("fvqp.io")

__all__ = ["CHECKPOINT_FILES", "LOCK_NAME", "OutputDirError", "OutputDirLocked",
           "claim_output_dir", "lock_output_dir"]

#: name of the lock file in the output directory
LOCK_NAME = ".fvqp.lock"
#: files of the output directory from which ``--resume`` continues a run (every model
#: checkpoints into ``checkpoint.h5``: the time loops, the sweep work units, bte bins)
CHECKPOINT_FILES = ("checkpoint.h5",)


class OutputDirError(RuntimeError):
    """The output directory cannot be used for this run (nothing has been solved)."""


class OutputDirLocked(OutputDirError):
    """Another fvqp run holds the lock of the output directory."""


def _holder_text(info: dict) -> str:
    return (f"PID {info.get('pid', '?')} on host {info.get('host', '?')}, started "
            f"{info.get('started', '?')}")


def _read_info(fd: int) -> dict:
    try:
        raw = os.pread(fd, 65536, 0)
        info = json.loads(raw.decode("utf-8")) if raw.strip() else {}
    except (OSError, ValueError):
        return {"pid": "?", "host": "?", "started": "? (unreadable lock file)"}
    return info if isinstance(info, dict) else {}


def _pid_alive(pid: Any) -> bool:
    """Whether process ``pid`` of this host exists (a zombie counts as alive)."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, belongs to another user
        return True
    return True


def _not_writable(directory: str, exc: OSError) -> OutputDirError:
    return OutputDirError(
        f"cannot write to the output directory {directory!r} ({exc.strerror or exc}). "
        "Fix: give a writable directory with --output (or [output] directory in the case "
        "file), or change the directory's permissions.")


def prepare_output_dir(directory: str) -> None:
    """Create ``directory`` if needed; :class:`OutputDirError` if it is a file or cannot be
    created (its writability is tested by creating the lock file)."""
    directory = os.path.abspath(directory)
    parent = directory
    while not os.path.lexists(parent) and os.path.dirname(parent) != parent:
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        what = "the output path" if parent == directory else f"{parent!r}, a parent of it,"
        raise OutputDirError(
            f"output directory {directory!r}: {what} is an existing file, not a directory. "
            "Fix: choose another --output (or [output] directory in the case file), or "
            "move the file away.")
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        raise _not_writable(directory, exc) from exc


@contextlib.contextmanager
def lock_output_dir(directory: str) -> Iterator[str]:
    """Hold the lock of an existing output directory (this process only, no MPI).

    Yields the lock file's path; raises :class:`OutputDirLocked` if another live run
    holds it and :class:`OutputDirError` if the directory is not writable.
    """
    fd = _acquire(directory)
    try:
        yield os.path.join(directory, LOCK_NAME)
    finally:
        _release(directory, fd)


def _acquire(directory: str) -> int:
    path = os.path.join(directory, LOCK_NAME)
    host = socket.gethostname()
    for _ in range(20):
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise _not_writable(directory, exc) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            info = _read_info(fd)
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise _not_writable(directory, exc) from exc
            raise OutputDirLocked(_locked_message(directory, path, info)) from None
        try:  # the file we locked may have been removed by a run releasing it: retry
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if not same:
            os.close(fd)
            continue
        old = _read_info(fd)
        if old:
            pid = old.get("pid")
            if old.get("host") == host and pid != os.getpid() and _pid_alive(pid):
                # the flock is free but the named process runs: a file system without
                # flock, or a reused PID; refuse rather than mix two runs' outputs
                os.close(fd)
                raise OutputDirLocked(_locked_message(directory, path, old))
            gone = "the process is gone" if old.get("host") == host else \
                "its lock is no longer held"
            log.warning("taking over the stale lock %s of an fvqp run that ended without "
                        "releasing it (%s; %s)", path, _holder_text(old), gone)
        info = {"pid": os.getpid(), "host": host,
                "started": datetime.datetime.now().isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode("utf-8"), 0)
        os.fsync(fd)
        return fd
    raise OutputDirLocked(f"could not lock the output directory {directory!r}: its lock "
                          f"file {path!r} keeps being replaced. Fix: make sure no other fvqp "
                          "run uses this directory, or give this run another --output.")


def _locked_message(directory: str, path: str, info: dict) -> str:
    return (f"output directory {directory!r} is in use by another fvqp run "
            f"({_holder_text(info)}; lock file {path!r}). Fix: wait until that run has "
            "finished, or give this run another --output; if no fvqp run uses the "
            "directory any more (e.g. its host is down), delete the lock file.")


def _release(directory: str, fd: int) -> None:
    path = os.path.join(directory, LOCK_NAME)
    try:
        if os.path.samestat(os.fstat(fd), os.stat(path)):
            os.unlink(path)  # before the flock goes, so no one locks a removed file
    except OSError:
        pass
    finally:
        os.close(fd)


def _guard_checkpoint(directory: str, resume: bool, overwrite: bool) -> None:
    for name in CHECKPOINT_FILES:
        path = os.path.join(directory, name)
        if resume or overwrite or not os.path.lexists(path):
            continue
        raise OutputDirError(
            f"output directory {directory!r} holds the checkpoint {name} of an earlier "
            "run, which a fresh run would overwrite. Fix: continue that run with "
            "--resume, start anew with --overwrite (deletes the earlier run's outputs), "
            "or give this run another --output (in Python: run_case(..., resume=True) or "
            "overwrite=True).")


def _first(files: list[str], k: int = 5) -> str:
    """The first ``k`` of ``files`` for a message, and how many more."""
    more = f" and {len(files) - k} more" if len(files) > k else ""
    return ", ".join(files[:k]) + more


def _guard_outputs(directory: str) -> None:
    """Item 3 of the module docstring for the outputs of earlier runs (the checkpoint is
    :func:`_guard_checkpoint`'s)."""
    from .manifest import earlier_outputs, listing

    earlier = sorted(earlier_outputs(directory, listing(directory)))
    if earlier:
        raise OutputDirError(
            f"output directory {directory!r} holds {len(earlier)} output file(s) of an "
            f"earlier fvqp run ({_first(earlier)}), which a fresh run would "
            "partly overwrite and partly leave beside its own. Fix: start anew with "
            "--overwrite (deletes them first), or give this run another --output (in "
            "Python: run_case(..., overwrite=True) or output_dir=...).")


def _overwrite(directory: str) -> None:
    """Delete the files earlier fvqp runs wrote into ``directory`` (item 4 of the module
    docstring); :class:`OutputDirError` naming the files of a run's kinds that no fvqp
    run wrote there (nothing is deleted then)."""
    from .manifest import OUTPUT_SUFFIXES, earlier_outputs, listing, remove_outputs

    now = listing(directory)
    owned = earlier_outputs(directory, now, CHECKPOINT_FILES)
    alien = sorted(f for f in now if f not in owned and f.endswith(OUTPUT_SUFFIXES))
    if alien:
        raise OutputDirError(
            f"output directory {directory!r} holds {len(alien)} output file(s) that no "
            f"fvqp run recorded there ({_first(alien)}): written by hand, by "
            "another program or by an fvqp without the output manifest .fvqp_outputs.json. "
            "--overwrite deletes only what fvqp runs wrote, and the new run's outputs "
            "would be mixed up with these. Fix: move or delete those files, or give this "
            "run another --output (in Python: output_dir=...).")
    try:
        remove_outputs(directory, owned)
    except OSError as exc:
        raise _not_writable(directory, exc) from exc
    if owned:
        log.info("--overwrite: deleted %d file(s) of the earlier run(s) in %s",
                 len(owned), directory)


@contextlib.contextmanager
def claim_output_dir(directory: str, *, resume: bool = False, overwrite: bool = False,
                     comm=None) -> Iterator[None]:
    """Check, lock and guard ``directory`` for one run (see the module docstring).

    Parameters
    ----------
    directory : str
        The run's output directory.
    resume : bool
        The run continues from the directory's checkpoint.
    overwrite : bool
        Start anew: the files earlier fvqp runs wrote into the directory (their
        checkpoint included) are deleted first.
    comm : petsc4py.PETSc.Comm, optional
        Communicator of the run; rank 0 does the work and broadcasts the outcome
        (:func:`fvqp.parallel.distribution.bcast_object`).

    Raises
    ------
    OutputDirError
        The path is a file, the directory is not writable, it holds a checkpoint and
        neither ``resume`` nor ``overwrite`` is set, or ``overwrite`` is set and it holds
        output files no fvqp run wrote (on every rank).
    OutputDirLocked
        Another fvqp run holds the directory's lock (on every rank).
    """
    from ..parallel.distribution import bcast_object, comm_rank
    from .manifest import finish_run, start_run

    rank = comm_rank(comm)
    fd, outcome = None, None
    if rank == 0:
        try:
            prepare_output_dir(directory)
            fd = _acquire(directory)
            _guard_checkpoint(directory, resume, overwrite)
            if not (resume or overwrite):
                _guard_outputs(directory)
            if overwrite:
                _overwrite(directory)
            try:
                start_run(directory, CHECKPOINT_FILES)
            except OSError as exc:
                raise _not_writable(directory, exc) from exc
        except OutputDirError as exc:
            outcome = (type(exc).__name__, str(exc))
            if fd is not None:
                _release(directory, fd)
                fd = None
    outcome = bcast_object(comm, outcome)
    if outcome is not None:
        cls = OutputDirLocked if outcome[0] == OutputDirLocked.__name__ else OutputDirError
        raise cls(outcome[1])
    try:
        yield
    finally:
        if fd is not None:
            try:
                finish_run(directory)
            except OSError as exc:  # the run's own outcome (or exception) comes first
                log.warning("could not record the outputs of the run in %s (%s): a later "
                            "--overwrite may refuse to delete them", directory, exc)
            _release(directory, fd)

"""What fvqp runs wrote into an output directory: the manifest ``.fvqp_outputs.json``.

``--overwrite`` deletes exactly the files that earlier fvqp runs wrote into the output
directory, so that the directory then holds the new run's outputs only and never loses a
file fvqp did not write (:func:`fvqp.io.lock.claim_output_dir`). A run records them on
rank 0 under the directory's lock:

* :func:`start_run` (before the solve) lists the files earlier runs wrote that are still
  there under ``files`` and the size and modification time of every file of the
  directory under ``running``;
* :func:`finish_run` (after the run, also one that failed or was stopped) adds the files
  that are new or changed since then and drops ``running``.

A run killed before :func:`finish_run` leaves ``running``: :func:`earlier_outputs` then
counts every file new or changed since that run started as the run's. Only files of the
kinds fvqp writes (:data:`OUTPUT_SUFFIXES`, its temporary files) are ever counted: a case
file or notes edited in the directory during a run stay the user's. fvqp's temporary
files (``.tmp-*``, :mod:`fvqp.io.atomic`) of a killed run are its own too. Files fvqp
writes into a run's directory later (``fvqp plot``'s PNGs) are added by
:func:`add_outputs`.
"""

from __future__ import annotations

import datetime
import json
import os

from .atomic import atomic_write_bytes

__all__ = ["MANIFEST_NAME", "OUTPUT_SUFFIXES", "add_outputs", "earlier_outputs",
           "finish_run", "listing", "remove_outputs", "start_run"]

#: name of the manifest in the output directory
MANIFEST_NAME = ".fvqp_outputs.json"
#: kinds of the files a run writes (snapshots, series, figures, HDF5 results, summary): a
#: file of these kinds that no fvqp run wrote would be taken for an output of the run
OUTPUT_SUFFIXES = (".pvd", ".vtu", ".pvtu", ".png", ".csv", ".h5", ".json")
_NOT_OUTPUTS = (MANIFEST_NAME, ".fvqp.lock")  # the lock: fvqp.io.lock.LOCK_NAME


def listing(directory: str) -> dict[str, list[int]]:
    """Every file below ``directory`` (relative path -> [mtime in ns, size]), without the
    manifest and the lock; symbolic links are listed, not followed."""
    out = {}
    for root, _dirs, files in os.walk(directory):
        for name in files:
            path = os.path.join(root, name)
            rel = os.path.relpath(path, directory)
            if rel in _NOT_OUTPUTS:
                continue
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                continue
            out[rel] = [st.st_mtime_ns, st.st_size]
    return out


def _read(directory: str) -> dict:
    try:
        with open(os.path.join(directory, MANIFEST_NAME), encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write(directory: str, data: dict) -> None:
    atomic_write_bytes(os.path.join(directory, MANIFEST_NAME),
                       json.dumps(data, indent=1, sort_keys=True).encode("utf-8"))


def _is_output(rel: str) -> bool:
    """A file of a kind fvqp writes (:data:`OUTPUT_SUFFIXES`) or one of its temporary
    files: only these can be taken for a run's outputs (a case file or notes edited in the
    directory during a run are not the run's, and never deleted)."""
    return rel.endswith(OUTPUT_SUFFIXES) or os.path.basename(rel).startswith(".tmp-")


def _changed(now: dict[str, list[int]], before: dict) -> set[str]:
    return {f for f, st in now.items() if before.get(f) != st and _is_output(f)}


def earlier_outputs(directory: str, now: dict[str, list[int]],
                    always: tuple[str, ...] = ()) -> set[str]:
    """The files of ``now`` (:func:`listing`) that earlier fvqp runs wrote: those of the
    manifest, those new or changed since a run started that was killed before it
    finished its manifest, fvqp's temporary files and the names in ``always`` (the
    checkpoint, :data:`fvqp.io.lock.CHECKPOINT_FILES`)."""
    data = _read(directory)
    owned = {f for f in data.get("files", []) if isinstance(f, str)}
    running = data.get("running")
    if isinstance(running, dict) and isinstance(running.get("before"), dict):
        owned |= _changed(now, running["before"])
    owned |= {f for f in now if os.path.basename(f).startswith(".tmp-") or f in always}
    return owned & set(now)


def remove_outputs(directory: str, files: set[str]) -> None:
    """Delete ``files`` (relative to ``directory``), then the folders below it that this
    left empty (``vtu/``)."""
    folders = set()
    for rel in files:
        os.unlink(os.path.join(directory, rel))
        folders.add(os.path.dirname(rel))
    for rel in sorted(folders, key=len, reverse=True):
        while rel:
            try:
                os.rmdir(os.path.join(directory, rel))
            except OSError:  # not empty: it holds another file
                break
            rel = os.path.dirname(rel)


def start_run(directory: str, always: tuple[str, ...] = ()) -> None:
    """Record, before a run starts, which files of ``directory`` earlier runs wrote and
    the state of all of them (the module docstring)."""
    now = listing(directory)
    _write(directory, {
        "files": sorted(earlier_outputs(directory, now, always)),
        "running": {"pid": os.getpid(),
                    "started": datetime.datetime.now().isoformat(timespec="seconds"),
                    "before": now}})


def finish_run(directory: str) -> None:
    """Record, after a run, the files it wrote: those new or changed since
    :func:`start_run`."""
    data = _read(directory)
    running = data.get("running")
    if not isinstance(running, dict):
        return
    now = listing(directory)
    written = _changed(now, running.get("before") or {})
    files = {f for f in data.get("files", []) if isinstance(f, str)} | written
    _write(directory, {"files": sorted(files & set(now))})


def add_outputs(directory: str, paths) -> None:
    """Add files fvqp wrote into the output ``directory`` of a run after it ended (e.g.
    the PNGs of ``fvqp plot``) to its manifest, so that ``--overwrite`` deletes them too;
    paths outside ``directory`` are ignored."""
    directory = os.path.abspath(directory)
    rel = {os.path.relpath(os.path.abspath(p), directory) for p in paths}
    rel = {r for r in rel if not r.startswith(os.pardir) and not os.path.isabs(r)}
    if not rel:
        return
    data = _read(directory)
    data["files"] = sorted({f for f in data.get("files", []) if isinstance(f, str)} | rel)
    _write(directory, data)

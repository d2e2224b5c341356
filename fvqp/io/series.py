"""The ``<case>_series.csv`` time series of a run's integral quantities.

One row per accepted time step (plus the initial state, step 0), one column per quantity,
SI units in the column names (``time_s``, ``energy_J.final``). The file is rewritten
atomically (:mod:`fvqp.io.atomic`) whenever the time loop writes a snapshot or a
checkpoint and at the end of the run, so a reader never sees half a row; a resumed run
keeps the rows up to the checkpoint it continues from.

A model whose time is not in seconds (the stochastic model's reduced units) declares its
columns: comment lines ``# <column> [<unit>]: <what it is>`` above the header name each
column's unit and meaning (read back by :func:`series_units`; ``pandas.read_csv(path,
comment="#")`` skips them, and :func:`read_series` does).
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
from collections.abc import Mapping

import numpy as np

from .atomic import atomic_write_bytes

__all__ = ["SeriesWriter", "read_series", "series_comments", "series_units"]

_NOTE = re.compile(r"^#\s*(\S+)\s+\[([^\]]*)\]:")


def read_series(path: str) -> tuple[list[str], list[list[float]]]:
    """Header and rows (floats) of a series file (comment lines ``#`` skipped); empty if
    there is none."""
    if not os.path.isfile(path):
        return [], []
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(line for line in fh if not line.startswith("#")))
    if not rows:
        return [], []
    return rows[0], [[float(v) for v in r] for r in rows[1:]]


def series_comments(path: str) -> list[str]:
    """The comment lines above the header of a series file, without ``#`` (empty for a
    file without them: the mesh models' SI names say the unit)."""
    if not os.path.isfile(path):
        return []
    out = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if not line.startswith("#"):
                break
            out.append(line[1:].strip())
    return out


def series_units(path: str) -> dict[str, str]:
    """Column -> unit label declared by the comment lines ``# <column> [<unit>]: ...`` of
    a series file (:func:`series_comments`; ``[-]``, a pure number or a count: ``""``)."""
    found = (_NOTE.match("# " + c) for c in series_comments(path))
    units = {m.group(1): m.group(2).strip() for m in found if m}
    return {k: "" if u == "-" else u for k, u in units.items()}


def _number(v) -> int | float:
    """Counters stay integers in the file (``12``, not ``12.0``)."""
    if isinstance(v, bool):
        return int(v)
    return int(v) if isinstance(v, (int, np.integer)) else float(v)


class SeriesWriter:
    """Rows of integral quantities, written as a CSV file (on the rank that holds it).

    Parameters
    ----------
    path : str
        The ``.csv`` file.
    resume : bool
        Keep the rows of an existing file (continuing a run); see :meth:`truncate`.
    columns : mapping, optional
        Column -> ``(unit, description)``, written as the comment lines
        ``# <column> [<unit>]: <description>`` above the header (module docstring;
        ``[-]`` for a pure number or a count).
    title : str, optional
        A first comment line saying what the series is.
    """

    def __init__(self, path: str, resume: bool = False,
                 columns: Mapping[str, tuple[str, str]] | None = None,
                 title: str | None = None):
        self.path = path
        self.header, self.rows = read_series(path) if resume else ([], [])
        self.notes = ([f"# {title}"] if title else []) + [
            f"# {k} [{unit or '-'}]: {what}" for k, (unit, what) in (columns or {}).items()]

    def truncate(self, time_s: float) -> None:
        """Forget rows later than ``time_s`` (written after the checkpoint a run resumes
        from; the resumed run computes them again)."""
        if "time_s" in self.header:
            k = self.header.index("time_s")
            self.rows = [r for r in self.rows if r[k] <= time_s * (1 + 1e-12)]

    def append(self, values: dict[str, float]) -> None:
        """Add a row; the columns are those of the first row (later new names are
        ignored, missing ones written as ``nan``)."""
        if not self.header:
            self.header = list(values)
        self.rows.append([_number(values.get(k, math.nan)) for k in self.header])

    def flush(self) -> None:
        """Write the file atomically."""
        buf = io.StringIO()
        buf.writelines(line + "\n" for line in self.notes)
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(self.header)
        w.writerows([repr(v) for v in r] for r in self.rows)
        atomic_write_bytes(self.path, buf.getvalue().encode("utf-8"))

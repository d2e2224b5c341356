"""The pictures every finished mesh-model run writes (``[output] figures``, default on).

Called once by the run template (:meth:`fvqp.models.base.MeshModel.run`) on rank 0 after
the snapshots, the series file and the summary are final; a model with its own loop can
call :func:`run_figures` the same way. It draws little, so that runs (and the test suite)
stay cheap: the run's main field at the last snapshot (``<case>_<field>_<time>.png``, with
a cut through its peak for 3D devices, ``..._clip.png``), for transients the field's
integrals per region over the snapshots (``<case>_timeseries.png``, at most
:data:`MAX_SNAPSHOTS` of them) and the time loop's
``<case>_series.csv`` (``<case>_series.png``); ``fvqp plot`` draws the rest. Rendering is
off-screen pyvista and matplotlib's Agg; every PNG is written atomically.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

__all__ = ["MAX_SNAPSHOTS", "main_field", "run_figures"]

log = logging.getLogger("fvqp.post")

#: the run's time-series picture reads at most this many snapshots (evenly spread, the
#: first and the last included): its cost stays bounded on runs that write a snapshot
#: every step (``fvqp plot`` reads them all)
MAX_SNAPSHOTS = 60


def main_field(written: Sequence[str], preferred: Sequence[str] = ()) -> str | None:
    """The field a run's picture shows: the first of ``preferred`` the run wrote, else
    the first written field other than ``region``; None if there is none."""
    for f in preferred:
        if f in written:
            return f
    return next((f for f in written if f != "region"), None)


def run_figures(out_dir: str | Path, summary: Mapping | None = None,
                preferred: Sequence[str] = ()) -> list[Path]:
    """Draw the main pictures of the result directory ``out_dir`` (module docstring).

    Parameters
    ----------
    out_dir : str or Path
        The run's output directory (its ``.pvd`` series and ``<case>_series.csv``).
    summary : Mapping, optional
        The run's summary (default: its ``summary.json``); ``steady`` names the picture
        ``..._steady.png``.
    preferred : sequence of str
        The model's main fields in order of preference (:func:`main_field`).

    Returns
    -------
    list of Path
        The PNGs written (none for a directory without snapshots).
    """
    from .commands import _quiet_vtk
    from .plot import plot_result
    from .result import open_result

    res = open_result(out_dir)
    if summary is not None:
        res.summary = dict(summary)
    field = main_field(res.fields, preferred) if res.is_mesh else None
    if field is None:
        return []
    if len(res.series) > MAX_SNAPSHOTS:
        keep = np.unique(np.linspace(0, len(res.series) - 1, MAX_SNAPSHOTS).round())
        res.series = [res.series[int(k)] for k in keep]
    _quiet_vtk()
    pngs = plot_result(res, fields=[field])
    log.info("figures: %s", ", ".join(p.name for p in pngs))
    return pngs

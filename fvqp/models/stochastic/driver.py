"""Case-file driver of the stochastic model: run the study, write HDF5 + PNG + summary.

Outputs (in the output directory, each written atomically): ``<case>_<what>.h5``
(datasets of the study, attributes: units, the validated ``[study]`` table, case digest,
fvqp version), its figure ``<case>_<what>.png`` (``<what>`` names the figure of the study,
:data:`.figures.FIGURE_NAMES`: e.g. ``stochastic_relaxation_decay_rate.png``) and
``summary.json``; a time-dependent study (``relaxation``) also its time trace as
``<case>_series.csv`` (:class:`fvqp.io.series.SeriesWriter`, the mesh models' writer: the
columns' units in its comment lines, time in the study's reduced unit and, when the case
gives the scale, in s) and its picture ``<case>_series.png``
(:func:`fvqp.post.csvplot.plot_series_csv`). ``[output] figures = false``: no PNG, the
other files the same (``fvqp plot`` draws both PNGs from them afterwards).
"""

from __future__ import annotations

import json
import logging
import os

import numpy as np

from ...io.atomic import atomic_path
from ...io.workunits import StudyStopped, WorkUnits
from ...parallel.tasks import TaskShare
from ..base.template import wants_figures
from .figures import draw, figure_stem
from .progress import StudyProgress
from .studies import STUDIES

__all__ = ["run"]

log = logging.getLogger(__name__)


def _attr(v):
    if v is None:
        return "none"
    if isinstance(v, (list, tuple)):
        return np.asarray(v, dtype=float)
    return v


def run(case, output_dir: str | None = None, resume: bool = False,
        max_steps: int | None = None) -> dict:
    """Run a stochastic case; returns the summary (written to ``summary.json``, with the
    wall time and peak memory, by :func:`fvqp.models.base.run_model`).

    The Monte Carlo studies checkpoint after every finished unit (one generation rate,
    one spin-flip time ...; :mod:`fvqp.io.workunits`): ``resume`` continues a killed run from
    ``checkpoint.h5`` and gives the same result as an uninterrupted run, ``max_steps``
    stops after that many new units (status 1, checkpoint left). Under ``mpiexec -n P``
    the independent units of a study are shared over the ranks (one unit per rank and
    round, :class:`fvqp.parallel.tasks.TaskShare`; the results equal the serial ones
    exactly, each unit carrying its own seed) and rank 0 writes the files.
    """
    out_dir = output_dir or case.output_dir
    os.makedirs(out_dir, exist_ok=True)
    st = case.data["study"]
    kind = st["type"]
    log.info("stochastic %s: study %s", case.name, kind)
    tasks = TaskShare()
    units = WorkUnits(out_dir, case.digest, resume=resume, max_units=max_steps, tasks=tasks)
    progress = StudyProgress(units, tasks, log)
    try:
        res = STUDIES[kind](st, progress)
    except StudyStopped as stop:
        progress.close()
        log.info("stochastic %s: %s", case.name, stop)
        return {"model": "stochastic", "study": kind, "case": case.path, "status": 1,
                "message": str(stop), "units_computed": units.computed,
                "checkpoint": units.path}
    progress.close()
    h5 = os.path.join(out_dir, figure_stem(case.name, kind) + ".h5")
    if kind == "concentration_curve" and st.get("gamma_bar") is None:
        from ..base.schema import case_material
        from ..base.template import materials_entry

        res.summary["materials"] = materials_entry({"study": case_material(st)})
    figures = wants_figures(case)
    summary = {"model": "stochastic", "study": kind, "case": case.path, "status": 0,
               "message": f"{kind} done", **res.summary, "output": h5,
               **({"figure": h5[:-3] + ".png"} if figures else {}),
               "units_computed": units.computed,
               **({"series": _series_path(out_dir, case.name)} if res.series else {}),
               "units_resumed": units.reused, "units_total": progress.total,
               "ranks": tasks.size, "keys": list(res.keys)}
    if tasks.is_root:
        _write(case, out_dir, h5, kind, st, res, figures)
    # summary.json and the end-of-run report with the study's key numbers ("keys") are
    # the run template's (run_model)
    return summary


def _write(case, out_dir: str, h5: str, kind: str, st: dict, res, figures: bool) -> None:
    """``<case>_<what>.h5`` and, with ``figures``, ``<case>_<what>.png`` of a finished
    study (atomic)."""
    import h5py

    from ... import __version__

    title = case.data.get("title") or case.name  # the figure's (fvqp plot redraws it)
    tmp = atomic_path(h5)
    with h5py.File(tmp, "w") as fh:
        fh.attrs["model"] = "stochastic"
        fh.attrs["study"] = kind
        fh.attrs["case_digest"] = case.digest
        fh.attrs["title"] = title
        fh.attrs["fvqp_version"] = __version__
        for k, v in res.attrs.items():
            fh.attrs[k] = _attr(v)
        g = fh.create_group("study")
        for k, v in st.items():
            g.attrs[k] = _attr(v)
        dg = fh.create_group("data")
        for k, v in res.datasets.items():
            dg[k] = np.asarray(v)
        fh.attrs["summary_json"] = json.dumps(res.summary, default=float)
    os.replace(tmp, h5)
    if figures:
        draw(h5[:-3] + ".png", res.figure, res.datasets, res.summary, title)
    if res.series is not None:
        _write_series(_series_path(out_dir, case.name), res.series, title, figures)


def _series_path(out_dir: str, name: str) -> str:
    return os.path.join(out_dir, f"{name}_series.csv")


def _write_series(csv: str, series, title: str, figures: bool) -> None:
    """``<case>_series.csv`` of a study's time trace and, with ``figures``, its picture
    ``<case>_series.png`` (both atomic)."""
    from ...io.series import SeriesWriter
    from ...post.csvplot import plot_series_csv

    rows = SeriesWriter(csv, columns=series.units, title=series.title)
    cols = series.columns
    rows.header = list(cols)  # also for a trace without rows
    for i in range(len(next(iter(cols.values())))):
        rows.append({k: v[i].item() for k, v in cols.items()})
    rows.flush()
    if figures:
        plot_series_csv(csv, csv[:-4] + ".png", f"{title}: time series")

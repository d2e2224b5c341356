"""Every picture of a result directory (what ``fvqp plot`` writes).

Mesh models: one off-screen pyvista picture per field and chosen snapshot
(``<case>_<field>_<time>.png``), for 3D devices also a cut through the field's peak
(``..._clip.png``), and for time series the integral quantities versus time
(``<case>_timeseries.png``, :mod:`fvqp.post.series`); the energy slices ``f_slice_<k>`` of
transport and bte and ``n_slice_<k>`` of phonon are titled with their energies. Every result
with a time loop: its ``<case>_series.csv`` versus time (``<case>_series.png``,
:mod:`fvqp.post.csvplot`).
HDF5 results (also those of a mesh model, bte_sphere): the models' own figures, drawn
again from the file by the function the run drew them with (each model's ``redraw``,
:data:`REDRAW`: stochastic's studies, kinetics0d's steady, transient and sweep figures,
bte_sphere's relaxation figure, Usadel's state, fit and paper figures; PNGs of results
written before their files named their case are copied when ``output`` is elsewhere)
and the time series stored in their ``timeseries``/``series`` groups
(``<name>_timeseries.png``) unless a ``<case>_series.csv`` holds the integral quantities
(then drawn from it, in SI).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np

from .csvplot import _SCALES, plot_series_csv, time_axis
from .render import render_field
from .result import Result, ResultError
from .series import TimeSeries, mesh_dimension, time_series

__all__ = ["plot_result", "plot_time_series", "time_label"]

def time_label(t: float) -> str:
    """A file-name friendly time: ``10ns``, ``2p5us``, ``0s``."""
    if t == 0:
        return "0s"
    scale, unit = next(((s, u) for s, u in _SCALES if abs(t) >= s), _SCALES[-1])
    return f"{t / scale:.4g}{unit}".replace(".", "p").replace("+", "")


def plot_time_series(series: TimeSeries, png: str | Path, title: str) -> Path:
    """Plot each quantity of ``series`` against time, one panel per quantity, one line
    per region; returns ``png``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..io.atomic import atomic_savefig

    qs = series.quantities
    ncol = 2 if len(qs) > 1 else 1
    nrow = max(1, -(-len(qs) // ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(5.5 * ncol, 3.2 * nrow), squeeze=False)
    if series.time_unit == "s":
        scale, unit = time_axis(float(np.max(np.abs(series.time))) if len(series.time) else 0.)
    else:
        scale, unit = 1.0, series.time_unit
    for ax, q in zip(axes.ravel(), qs, strict=False):
        for region, v in q.values.items():
            ax.plot(series.time / scale, v, ".-", ms=3, lw=1, label=region)
        vals = np.concatenate([v[np.isfinite(v)] for v in q.values.values()])
        if len(vals) and vals.min() > 0 and vals.max() > 1e3 * vals.min():
            ax.set_yscale("log")
        ax.set_xlabel(f"t [{unit}]")
        ax.set_ylabel(q.label)
        if len(q.values) > 1:
            ax.legend(fontsize=7)
    for ax in axes.ravel()[len(qs):]:
        ax.set_visible(False)
    fig.suptitle(title)
    fig.tight_layout()
    png = Path(png)
    png.parent.mkdir(parents=True, exist_ok=True)
    atomic_savefig(fig, str(png))
    plt.close(fig)
    return png


def _snapshot_indices(result: Result, times: list[float] | None) -> list[int]:
    if not times:
        return [len(result.series) - 1]
    return list(dict.fromkeys(result.snapshot_index(t) for t in times))


def _field_title(result: Result, field: str) -> str:
    """``f_slice_1 (f at E = 400 ueV)`` for a QP energy slice (transport, bte),
    ``n_slice_0 (n at Omega = 750 ueV)`` for a phonon one (phonon), else the field's name."""
    m = re.fullmatch(r"([fn])_slice_(\d+)", field)
    energies = result.summary.get("slice_energies_ueV") or []
    if m and int(m.group(2)) < len(energies):
        what = "f at E" if m.group(1) == "f" else "n at Omega"
        return f"{field} ({what} = {energies[int(m.group(2))]:.4g} ueV)"
    return field


def _plot_mesh(result: Result, out: Path, times, fields, clip) -> list[Path]:
    names = fields or [f for f in result.fields if f != "region"]
    unknown = [f for f in names if f not in result.units]
    if unknown:
        raise ResultError(f"no field {', '.join(map(repr, unknown))} in {result.pvd.name} "
                          f"(fields: {', '.join(result.fields)})")
    steady = bool(result.summary.get("steady")) and len(result.series) == 1
    written = []
    for k in _snapshot_indices(result, times):
        t = result.series[k][0]
        grid = result.read_snapshot(k)
        cut = mesh_dimension(grid) == 3 if clip is None else clip
        label = "steady" if steady else time_label(t)
        when = "steady state" if steady else f"t = {t:.4g} s"
        for f in names:
            unit = result.units.get(f, "")
            base = out / f"{result.name}_{f}_{label}"
            title = f"{result.name}: {_field_title(result, f)}, {when}"
            written.append(render_field(grid, f, unit, f"{base}.png", title))
            if cut:
                written.append(render_field(grid, f, unit, f"{base}_clip.png", title,
                                            clip=True))
    if len(result.series) > 1:
        ts = time_series(result, names)
        if ts.quantities:
            written.append(plot_time_series(ts, out / f"{result.name}_timeseries.png",
                                            f"{result.name}: integral quantities per region"))
    return written


def _h5_time_series(path: Path) -> tuple[TimeSeries, str] | None:
    """The ``timeseries``/``series`` group of an HDF5 result (``t`` and 1D datasets of the
    same length) and the group's ``units`` note, or None."""
    import h5py

    from .series import Quantity

    with h5py.File(path, "r") as fh:
        for gname in ("timeseries", "series"):
            g = fh.get(gname)
            if not isinstance(g, h5py.Group) or "t" not in g:
                continue
            t = np.asarray(g["t"], dtype=float)
            unit = g.attrs.get("units", "")
            unit = unit.decode() if isinstance(unit, bytes) else str(unit)
            qs = []
            for k, ds in g.items():
                if k == "t" or not isinstance(ds, h5py.Dataset) or ds.shape != t.shape \
                        or ds.dtype.kind not in "fiu":
                    continue
                qs.append(Quantity(k, "", "", {"all": np.asarray(ds, dtype=float)}))
            m = re.search(r"\bt in ([^;,)]+)", unit)
            t_unit = m.group(1).strip() if m else "s"
            if len(t) > 1 and qs:
                return TimeSeries(t, qs, time_unit=t_unit), unit
    return None


def _csv_quantities(result: Result) -> bool:
    """True if a ``<case>_series.csv`` of the directory holds integral quantities (not only
    the time loop's work columns)."""
    from .arrays import csv_series
    from .csvplot import panels

    return any(panels(csv_series(c)) for c in result.path.glob("*_series.csv"))


def _summary_figures(result: Result) -> set[str]:
    """The model's own figure named by the summary (``figure``: a PNG the run drew from the
    solved model, e.g. bte_sphere's ``<case>_relaxation.png``)."""
    fig = result.summary.get("figure")
    return {Path(fig).name} if isinstance(fig, str) else set()


#: the module of each model whose ``redraw(h5_path, out_dir)`` draws its own figure again
#: from one of its HDF5 results (the function the run drew it with; None for another file)
REDRAW = {"kinetics0d": "outputs", "usadel": "outputs", "bte_sphere": "figure",
          "stochastic": "figures"}


def _model_figure(path: Path, out: Path) -> Path | None:
    """The model's own figure of the HDF5 result ``path``, drawn again into ``out`` by
    the model's ``redraw`` (:data:`REDRAW`); None for a file of no such model."""
    import importlib

    import h5py

    with h5py.File(path, "r") as fh:
        model = fh.attrs.get("model")
    if model not in REDRAW:
        return None
    return importlib.import_module(f"fvqp.models.{model}.{REDRAW[model]}").redraw(path, out)


def _plot_h5(result: Result, out: Path, own: set[str] | None = None) -> list[Path]:
    """The HDF5 results' figures and time series; ``own``: the only PNGs of the directory
    to copy (default: all that this call did not draw)."""

    written = []
    for path in result.h5:
        png = _model_figure(path, out)
        if png is not None:
            written.append(png)
        # a run that writes its integral quantities to <case>_series.csv (drawn in SI by
        # plot_result) is not drawn again from the HDF5 group on the model's own time axis
        found = None if _csv_quantities(result) else _h5_time_series(path)
        if found is not None:
            ts, unit = found
            title = f"{path.stem}: time series" + (f" ({unit})" if unit else "")
            written.append(plot_time_series(ts, out / f"{path.stem}_timeseries.png", title))
    for png in result.pngs:  # the figures the run drew (need the solved model to redraw)
        if png.name in {p.name for p in written} or png.stem.endswith(("_timeseries",
                                                                         "_series")) \
                or (own is not None and png.name not in own):
            continue
        if out.resolve() != result.path.resolve():
            shutil.copy2(png, out / png.name)
        written.append(out / png.name)
    return written


def plot_result(result: Result, output: str | Path | None = None,
                times: list[float] | None = None, fields: list[str] | None = None,
                clip: bool | None = None) -> list[Path]:
    """Write the pictures of a result directory.

    Parameters
    ----------
    result : Result
    output : str or Path, optional
        Directory for the PNGs (default: the result directory).
    times : list of float, optional
        Snapshot times in s (the nearest snapshot of each is drawn; default: the last).
    fields : list of str, optional
        Cell fields of a mesh result (default: all but ``region``).
    clip : bool, optional
        Also draw a cut through each field's peak (default: for 3D meshes).

    Returns
    -------
    list of Path
        The PNG files, in the order written.

    Raises
    ------
    ResultError
        If a field does not exist or there is nothing to plot.
    """
    out = Path(output) if output is not None else result.path
    out.mkdir(parents=True, exist_ok=True)
    if result.is_mesh:  # and the HDF5 results of a mesh model (bte_sphere: its series)
        written = _plot_mesh(result, out, times, fields, clip)
        written += _plot_h5(result, out, own=_summary_figures(result))
    elif result.pvd is not None:
        raise ResultError(f"{result.pvd} has no snapshots yet")
    else:
        written = _plot_h5(result, out)
    for csv in sorted(result.path.glob("*_series.csv")):
        png = plot_series_csv(csv, out / f"{csv.stem}.png",
                              f"{csv.stem[:-len('_series')]}: time series ({csv.name})")
        if png is not None:
            written.append(png)
    if not written:
        raise ResultError(f"{result.path}: nothing to plot (no snapshots, no figures)")
    return written

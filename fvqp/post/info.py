"""The text of ``fvqp info RESULT``: fields with units, times, regions, series, summary,
files."""

from __future__ import annotations

import json

import numpy as np

from ..setops import distinct
from .result import Result
from .series import cell_measure, mesh_dimension, region_label, region_names

__all__ = ["describe", "flatten"]

_MEASURE = {1: ("length", "m"), 2: ("area", "m^2"), 3: ("volume", "m^3")}


def flatten(d: dict, prefix: str = "") -> list[tuple[str, object]]:
    """``(dotted.key, value)`` pairs of a nested dict (lists kept as values)."""
    out: list[tuple[str, object]] = []
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.extend(flatten(v, key + "."))
        else:
            out.append((key, v))
    return out


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, (list, tuple)):
        if len(v) > 8:
            return f"[{len(v)} values: {_fmt(v[0])} ... {_fmt(v[-1])}]"
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    return json.dumps(v) if isinstance(v, str) else str(v)


def _times(times: list[float]) -> str:
    def fmt(ts: list[float]) -> str:
        return ", ".join(f"{t:.6g}" for t in ts)

    text = fmt(times) if len(times) <= 12 else f"{fmt(times[:6])}, ..., {fmt(times[-6:])}"
    return f"{len(times)} snapshot{'s' * (len(times) != 1)} [s]: {text}"


def _mesh_lines(result: Result) -> list[str]:
    lines = [f"series   {result.pvd.name}", "fields   (cell data, SI units)"]
    grid = result.read_snapshot(len(result.series) - 1)
    width = max((len(f) for f in result.units), default=0)
    for name, unit in result.units.items():
        shape = np.shape(grid.cell_data[name]) if name in grid.cell_data else ()
        kind = f"  (vector, {shape[1]} components)" if len(shape) == 2 else ""
        lines.append(f"  {name:<{width}}  {unit or '-'}{kind}")
    lines.append(f"times    {_times(result.times)}")
    if "axes" in grid.field_data:  # not a device: a grid on other axes (bte_sphere's r, E)
        from .render import axis_label

        lo, hi = grid.bounds[0::2], grid.bounds[1::2]
        for k, label in enumerate(np.asarray(grid.field_data["axes"]).ravel()[:2]):
            name, fac = axis_label(str(label))
            lines.append(f"{'grid' if k == 0 else '':<8} {name}: {lo[k] * fac:.6g} to "
                         f"{hi[k] * fac:.6g}")
        lines.append(f"         {grid.n_cells} cells")
        return lines
    dim = mesh_dimension(grid)
    lo, hi = np.array(grid.bounds[0::2]), np.array(grid.bounds[1::2])
    ext = " x ".join(f"{x:.4g}" for x in (hi - lo) * 1e6)
    lines.append(f"mesh     {grid.n_cells} cells, {dim}D, extent {ext} um")
    vol = cell_measure(grid)
    what, unit = _MEASURE[dim]
    if "region" not in grid.cell_data:
        lines.append("regions  (no 'region' field written)")
        lines.append(f"  all  {grid.n_cells} cells, {what} {vol.sum():.6g} {unit}")
        return lines
    names = region_names(grid)
    reg = np.asarray(grid.cell_data["region"])
    lines.append("regions  (name, id = value of the 'region' field)" if names else
                 "regions  (ids of the 'region' field; no region names written)")
    rows = [(region_label(int(r), names), int(r), reg == r) for r in distinct(reg)]
    width = max(len(label) for label, _, _ in rows)
    for label, r, m in rows:
        ident = f"id {r}  " if names else ""
        lines.append(f"  {label:<{width}}  {ident}{int(m.sum())} cells, "
                     f"{what} {vol[m].sum():.6g} {unit}")
    if names:
        rest = [n for k, n in enumerate(names) if k not in {r for _, r, _ in rows}]
        if rest:
            lines.append("  not simulated: " + ", ".join(rest))
    return lines


def _unit_map(unit: object) -> dict[str, str] | None:
    """A group's ``units`` attribute that is a JSON table ``{"dataset path": unit}`` (the
    Usadel model's), else None."""
    if not isinstance(unit, str) or not unit.startswith("{"):
        return None
    try:
        table = json.loads(unit)
    except ValueError:
        return None
    return table if isinstance(table, dict) else None


def _h5_lines(result: Result) -> list[str]:
    """Each HDF5 result: its groups and datasets with shape and unit (a group's ``units``
    note as written, or, for a JSON table of units per dataset, each dataset's own)."""
    import h5py

    lines = []
    for path in result.h5:
        lines.append(f"data     {path.name}")
        with h5py.File(path, "r") as fh:
            items: list[tuple[str, object]] = [("/", fh)]
            fh.visititems(lambda name, obj, found=items: found.append((name, obj)))
            per_dataset: dict[str, str] = {}
            for name, obj in items:
                unit = obj.attrs.get("units", obj.attrs.get("unit"))
                unit = unit.decode() if isinstance(unit, bytes) else unit
                table = _unit_map(unit)
                if table is not None and isinstance(obj, h5py.Group):
                    base = "" if name == "/" else f"{name.strip('/')}/"
                    per_dataset.update({base + k: str(v) for k, v in table.items()
                                        if base + k not in per_dataset})
                    continue
                unit = per_dataset.get(name, unit)
                note = f"  ({unit})" if unit is not None else ""
                if isinstance(obj, h5py.Dataset):
                    lines.append(f"  {name}  {obj.dtype} {obj.shape}{note}")
                elif note:
                    lines.append(f"  {name.rstrip('/')}/{note}")
    return lines


def _csv_lines(result: Result) -> list[str]:
    """Each ``<case>_series.csv``: its rows, comment lines, and every column with its unit
    (declared in the file, else from its name's suffix) and range."""
    from ..io.series import read_series, series_comments, series_units
    from ..models.base.result import unit_of_key

    lines = []
    for csv in sorted(result.path.glob("*_series.csv")):
        header, rows = read_series(str(csv))
        lines.append(f"series   {csv.name}: {len(rows)} row{'s' * (len(rows) != 1)}")
        notes = series_comments(str(csv))
        lines += [f"  # {c}" for c in notes]
        declared = series_units(str(csv))
        units = [declared.get(h, unit_of_key(h.split(".")[0])) or "-" for h in header]
        width = max((len(h) for h in header), default=0)
        uwidth = max((len(u) for u in units), default=0)
        data = np.array(rows, dtype=float).reshape(len(rows), len(header))
        for k, (name, unit) in enumerate(zip(header, units, strict=True)):
            span = f"  {data[:, k].min():.6g} ... {data[:, k].max():.6g}" if rows else ""
            lines.append(f"  {name:<{width}}  {unit:<{uwidth}}{span}".rstrip())
    return lines


#: what the other files of a result directory are, by suffix or name
_OTHER = {"checkpoint.h5": "restart data: fvqp run --resume", ".vtu": "VTK cells: ParaView, "
          "pyvista", ".pvtu": "VTK cells: ParaView, pyvista"}


def _other_files(result: Result) -> list[str]:
    """The files of the directory that the lines above do not describe."""
    shown = {p.name for p in (*result.h5, *result.pngs)} | {"summary.json"}
    shown |= {p.name for p in result.path.glob("*_series.csv")}
    if result.pvd is not None:
        shown.add(result.pvd.name)
    rest = sorted(p.name for p in result.path.iterdir() if p.is_file() and p.name not in shown)
    notes = [_OTHER.get(n) or _OTHER.get("." + n.rsplit(".", 1)[-1]) for n in rest]
    return [f"{n} ({what})" if what else n for n, what in zip(rest, notes, strict=True)]


def describe(result: Result) -> str:
    """A readable account of a result directory (what ``fvqp info`` prints).

    Parameters
    ----------
    result : Result

    Returns
    -------
    str
        The directory; for mesh models the fields with their SI units (as stored in the
        snapshots; vector fields with their number of components), the snapshot times,
        the mesh and its regions (name from the field data ``region_names``, id, cells and
        volume per value of the ``region`` field); for HDF5
        results their datasets (with stored units); each ``<case>_series.csv`` (rows, its
        comment lines, columns with unit and range); the run's ``summary.json``,
        flattened; the PNG figures present; the other files (checkpoint, a single
        ``.vtu``).
    """
    s = result.summary
    lines = [f"result   {result.path}"]
    if "model" in s:
        lines.append(f"model    {s['model']}")
    if "status" in s:
        lines.append(f"status   {s['status']}: {s.get('message', '')}")
    if result.is_mesh:
        lines += _mesh_lines(result)
    elif result.pvd is not None:
        lines.append(f"series   {result.pvd.name} (no snapshots yet)")
    lines += _h5_lines(result)
    lines += _csv_lines(result)
    if s:
        lines.append("summary  (summary.json)")
        lines += [f"  {k} = {_fmt(v)}" for k, v in flatten(s)]
    else:
        lines.append("summary  none (the run has not finished)")
    if result.pngs:
        lines.append("figures  " + ", ".join(p.name for p in result.pngs))
    other = _other_files(result)
    if other:
        lines.append("other    " + ", ".join(other))
    return "\n".join(lines)

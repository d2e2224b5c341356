"""Integral quantities of a mesh result versus time, per region.

A field whose unit is a density per volume (``J/m^3``, ``1/um^3``, ``W/m^3``) on a 3D mesh is
integrated over each region (energy in J, number of quasiparticles, power in W); any other
field, and every field of a 1D/2D mesh (whose densities are per unit volume of a wire or
film of a given cross-section or thickness that the output does not carry), is reported as
its volume-weighted mean and its maximum over the region, in the field's own unit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from ..setops import distinct
from .result import Result

__all__ = ["Quantity", "TimeSeries", "cell_measure", "extruded_widths", "mesh_dimension",
           "region_label", "region_masks", "region_names", "time_series"]

#: VTK cell type -> topological dimension (the types :mod:`fvqp.io.vtk` writes).
CELL_DIM = {3: 1, 5: 2, 9: 2, 10: 3, 12: 3, 13: 3}
_PER_VOLUME = re.compile(r"^(.*)/(u?m)\^3$")


@dataclass
class Quantity:
    """One integral quantity: per region, one value per snapshot.

    Attributes
    ----------
    field : str
        The cell field it is computed from.
    kind : str
        ``"total"`` (integral over the region), ``"mean"`` (volume-weighted) or ``"max"``.
    unit : str
        SI unit label of the values (``""`` for a pure number).
    values : dict
        Region label -> array over the snapshots.
    """

    field: str
    kind: str
    unit: str
    values: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """Axis label: ``"∫ energy_density dV [J]"``, ``"max temperature [K]"``."""
        name = f"∫ {self.field} dV" if self.kind == "total" else f"{self.kind} {self.field}"
        return name.strip() + (f" [{self.unit}]" if self.unit else "")


@dataclass
class TimeSeries:
    """Integral quantities of a result over its snapshots.

    Attributes
    ----------
    time : ndarray
        Snapshot times.
    quantities : list of Quantity
    time_unit : str
        Unit of ``time`` (``"s"``, or a model's own unit such as ``"tau0"``).
    """

    time: np.ndarray
    quantities: list[Quantity]
    time_unit: str = "s"


def mesh_dimension(grid) -> int:
    """Topological dimension (1, 2 or 3) of the highest-dimensional cells of ``grid``."""
    types = np.unique(np.asarray(grid.celltypes))
    return max((CELL_DIM.get(int(t), 0) for t in types), default=0)


def cell_measure(grid) -> np.ndarray:
    """Length, area or volume of each cell (m, m², m³ for a grid in metres)."""
    dim = mesh_dimension(grid)
    sizes = grid.compute_cell_sizes(length=dim == 1, area=dim == 2, volume=dim == 3)
    key = {1: "Length", 2: "Area", 3: "Volume"}[dim]
    return np.abs(np.asarray(sizes.cell_data[key], dtype=float))


def _integrand(unit: str, dim: int) -> tuple[str, float] | None:
    """(unit of the integral, factor from unit × m³) of a per-volume unit on a 3D mesh."""
    m = _PER_VOLUME.match(unit)
    if dim != 3 or m is None:
        return None
    num = m.group(1)
    return ("" if num == "1" else num), (1e18 if m.group(2) == "um" else 1.0)


def extruded_widths(grid, widths: dict) -> np.ndarray | None:
    """The extrusion width of every cell of a 1D/2D ``grid`` (m² or m) from the region ->
    width table of the run's summary.json (``region_cross_section_m2`` or
    ``region_thickness_m``, written by the run template); None if a cell's region has
    none."""
    names = region_names(grid)
    ids = (np.asarray(grid.cell_data["region"]).astype(int) if "region" in grid.cell_data
           else np.zeros(grid.n_cells, int))
    w = np.array([widths.get(region_label(int(r), names), np.nan) for r in ids], dtype=float)
    return None if np.any(~np.isfinite(w)) else w


def region_names(grid) -> list[str]:
    """Names of the region ids (``region_names[k]`` is region ``k``) from the field data
    the writer stores (:mod:`fvqp.io.vtk`); empty for files written without them."""
    if "region_names" not in grid.field_data:
        return []
    return [str(n) for n in np.asarray(grid.field_data["region_names"]).ravel()]


def region_label(region_id: int, names: list[str]) -> str:
    """``"absorber"`` for a named region id, else ``"region <id>"``."""
    return names[region_id] if 0 <= region_id < len(names) else f"region {region_id}"


def region_masks(grid) -> dict[str, np.ndarray]:
    """Cell masks per region, labelled with the region's name (``region <id>`` for files
    written without ``region_names``); the whole mesh (``all``) when there is no region
    field, or a single region without a name."""
    n = grid.n_cells
    if "region" not in grid.cell_data:
        return {"all": np.ones(n, dtype=bool)}
    reg = np.asarray(grid.cell_data["region"])
    ids = distinct(reg)
    names = region_names(grid)
    if len(ids) == 1 and not names:
        return {"all": np.ones(n, dtype=bool)}
    return {region_label(int(r), names): reg == r for r in ids}


def time_series(result: Result, fields: list[str] | None = None) -> TimeSeries:
    """Integral quantities of ``fields`` (default: all but ``region``) at every snapshot.

    Parameters
    ----------
    result : Result
        A mesh result (:attr:`Result.is_mesh`).
    fields : list of str, optional

    Returns
    -------
    TimeSeries
    """
    names = [f for f in (fields or result.fields) if f != "region"]
    quantities: dict[tuple[str, str], Quantity] = {}
    summ = getattr(result, "summary", None) or {}
    ext = summ.get("region_thickness_m") or summ.get("region_cross_section_m2")
    for k in range(len(result.series)):
        grid = result.read_snapshot(k)
        dim = mesh_dimension(grid)
        vol = cell_measure(grid)
        if dim < 3 and ext:  # thickness (2D) or cross-section (1D) of every region
            width = extruded_widths(grid, ext)
            if width is not None:
                vol, dim = vol * width, 3
        masks = region_masks(grid)
        for name in names:
            if name not in grid.cell_data:
                continue
            v = np.asarray(grid.cell_data[name], dtype=float)
            if v.ndim != 1:
                continue
            unit = result.units.get(name, "")
            total = _integrand(unit, dim)
            kinds = {"total": total[0]} if total else {"mean": unit, "max": unit}
            for kind, qunit in kinds.items():
                q = quantities.setdefault((name, kind), Quantity(name, kind, qunit))
                for label, m in masks.items():
                    if kind == "total":
                        x = float(np.sum(v[m] * vol[m])) * total[1]
                    elif kind == "mean":
                        x = float(np.sum(v[m] * vol[m]) / np.sum(vol[m]))
                    else:
                        x = float(np.max(v[m]))
                    arr = q.values.setdefault(label, np.full(len(result.series), np.nan))
                    arr[k] = x
    return TimeSeries(np.array(result.times), list(quantities.values()))

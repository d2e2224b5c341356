"""Results as SI arrays with their units: the data classes of the Python API.

A result directory written by ``fvqp run`` (:mod:`fvqp.post.result`) is read into plain
data classes whose arrays are in SI base units (m, s, J, K, W, 1/m^3 ...), whatever unit
the files use (the VTK snapshots write densities per µm³ and energies in µeV, the 0D
model's HDF5 file reduced units):

* :class:`Field` — a cell field of a mesh model at every snapshot (``values[t, cell]``),
  with the snapshot times, cell centres, cell measures and region of every cell;
* :class:`Series` — a quantity versus time (the ``<case>_series.csv`` of the time loop,
  the 0D model's and the sphere model's HDF5 time series);
* :class:`Quantity` — one number of the run's summary with its unit.

:func:`read_arrays` returns all three for a result directory.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..models.base.result import unit_of_key
from ..units import E_CHARGE
from .result import Result, ResultError
from .series import cell_measure, region_label, region_names

__all__ = ["Arrays", "Data", "Field", "Quantity", "Series", "csv_series", "h5_arrays",
           "read_arrays", "si_unit", "summary_quantities"]

#: unit label as written in fvqp's files -> (SI label, SI value of one unit of the label)
_TO_SI = {
    "ueV": ("J", E_CHARGE * 1e-6), "meV": ("J", E_CHARGE * 1e-3), "eV": ("J", E_CHARGE),
    "1/um^3": ("1/m^3", 1e18), "1/(um^2 s)": ("1/(m^2 s)", 1e12), "um": ("m", 1e-6),
    "mV": ("V", 1e-3), "uV": ("V", 1e-6), "ns": ("s", 1e-9), "us": ("s", 1e-6),
    "mK": ("K", 1e-3), "pW": ("W", 1e-12), "fW": ("W", 1e-15),
}

def si_unit(unit: str) -> tuple[str, float]:
    """SI label and factor of a unit label of fvqp's files.

    Examples
    --------
    >>> si_unit("ueV")[0], si_unit("1/um^3")
    ('J', ('1/m^3', 1e+18))
    >>> si_unit("K")
    ('K', 1.0)
    """
    return _TO_SI.get(unit, (unit, 1.0))


@dataclass
class Field:
    """A cell field of a mesh model at every written snapshot, in SI.

    Attributes
    ----------
    name : str
        Field name as in the case's ``[output] fields`` (``"n_qp"``, ``"temperature"``).
    unit : str
        SI unit of :attr:`values` (``"1/m^3"``, ``"K"``, ``"J"`` ...).
    values : ndarray, shape (n_times, n_cells) or (n_times, n_cells, k)
        The field per snapshot and cell (vector fields such as ``phonon_energy_flux``
        have a trailing axis of their k = 3 components).
    times : ndarray, shape (n_times,)
        Snapshot times [s].
    centres : ndarray, shape (n_cells, 3)
        Cell centres [m].
    measure : ndarray, shape (n_cells,)
        Cell length, area or volume [m, m², m³] (1D, 2D, 3D mesh).
    region : ndarray of str, shape (n_cells,)
        Region name of every cell.
    """

    name: str
    unit: str
    values: np.ndarray
    times: np.ndarray
    centres: np.ndarray
    measure: np.ndarray
    region: np.ndarray

    def __repr__(self) -> str:
        shape = " x ".join(str(n) for n in self.values.shape[1:])
        return (f"Field({self.name!r} [{self.unit}], {len(self.times)} times x {shape} "
                f"cells, regions {sorted(set(self.region.tolist()))})")

    def at(self, time: float) -> np.ndarray:
        """The snapshot nearest to ``time`` [s]."""
        return self.values[int(np.argmin(np.abs(self.times - time)))]

    def integral(self, region: str | None = None) -> np.ndarray:
        """∫ field dV over a region (all cells if None) at every snapshot, in
        ``unit × m³`` (e.g. a number of quasiparticles for a density in 1/m³), shape
        (n_times,), or (n_times, k) for a vector field (each component); on 1D/2D
        meshes the measure is a length or an area (multiply by the cross-section or the
        thickness yourself)."""
        m = np.ones(len(self.region), bool) if region is None else self.region == region
        if not m.any():
            raise KeyError(f"no region {region!r}; regions: {sorted(set(self.region))}")
        return np.einsum("tc...,c->t...", self.values[:, m], self.measure[m])


@dataclass
class Series:
    """A quantity versus time, in SI.

    Attributes
    ----------
    name : str
        Column name (``"energy_J.final"``) or dataset name (``"n_qp"``).
    unit : str
        SI unit of :attr:`values` (``""`` for a pure number or a count; a model's reduced
        unit, such as ``"1/r_c^3"``, for a column its series file declares so).
    times : ndarray
        In :attr:`time_unit`.
    values : ndarray
    time_unit : str
        ``"s"``, or the reduced unit of a series without an SI time (the stochastic
        model's ``"r_c^3/Gamma_bar"`` when the case gives no ``r_c``).
    """

    name: str
    unit: str
    times: np.ndarray
    values: np.ndarray
    time_unit: str = "s"

    def __repr__(self) -> str:
        last = f", last {self.values[-1]:.6g}" if len(self.values) else ""
        return f"Series({self.name!r} [{self.unit}], {len(self.times)} points{last})"


@dataclass
class Quantity:
    """A number of the run's summary with its SI unit (``""``: a pure number/count)."""

    value: float
    unit: str


@dataclass
class Arrays:
    """What :func:`read_arrays` found (each may be empty)."""

    fields: dict[str, Field] = field(default_factory=dict)
    series: dict[str, Series] = field(default_factory=dict)
    quantities: dict[str, Quantity] = field(default_factory=dict)


def summary_quantities(summary: dict, prefix: str = "") -> dict[str, Quantity]:
    """The numbers of a summary with their unit, in SI, keyed by their dotted path.

    The unit comes from the key's suffix (``max_temperature_K``, ``energy_J.deposited``,
    ``gap_min_ueV`` → J); keys without a unit suffix are pure numbers or counts (``""``).

    Examples
    --------
    >>> q = summary_quantities({"energy_J": {"deposited": 1e-19}, "gap_min_ueV": 180.0})
    >>> q["energy_J.deposited"], q["gap_min_ueV"].unit
    (Quantity(value=1e-19, unit='J'), 'J')
    """
    out: dict[str, Quantity] = {}
    for k, v in summary.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            unit = unit_of_key(k)
            for kk, q in summary_quantities(v, f"{key}.").items():
                if unit and not q.unit:  # {"energy_J": {"final": x}}: x in J
                    lab, fac = si_unit(unit)
                    q = Quantity(q.value * fac, lab)
                out[kk] = q
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            lab, fac = si_unit(unit_of_key(k))
            out[key] = Quantity(float(v) * fac, lab)
    return out


def _mesh_fields(result: Result) -> dict[str, Field]:
    grids = [result.read_snapshot(k) for k in range(len(result.series))]
    g0 = grids[0]
    names = region_names(g0)
    reg = np.asarray(g0.cell_data["region"]) if "region" in g0.cell_data \
        else np.zeros(g0.n_cells, int)
    labels = np.array([region_label(int(r), names) for r in reg])
    centres = np.asarray(g0.cell_centers().points, dtype=float)
    measure = cell_measure(g0)
    times = np.array(result.times, dtype=float)
    orders = [_same_cells(centres, g, result.series[k][1]) for k, g in enumerate(grids)]
    out = {}
    for name, unit in result.units.items():
        if name == "region" or any(name not in g.cell_data for g in grids):
            continue
        lab, fac = si_unit(unit)
        vals = np.stack([np.asarray(g.cell_data[name], dtype=float)[o]
                         for g, o in zip(grids, orders, strict=True)]) * fac
        out[name] = Field(name, lab, vals, times, centres, measure, labels)
    return out


def _same_cells(centres: np.ndarray, grid, path) -> np.ndarray:
    """Indices putting ``grid``'s cells in the order of the first snapshot's ``centres``.

    A run resumed on another number of ranks writes its later snapshots as other pieces
    (each rank's owned cells), so the cell order of a ``.pvtu`` can change within one
    series; the cells are matched by their centres (identity when the order is the same).
    """
    c = np.asarray(grid.cell_centers().points, dtype=float)
    if c.shape == centres.shape and np.array_equal(c, centres):
        return np.arange(len(c))
    if c.shape != centres.shape:
        raise ResultError(f"{path}: {len(c)} cells, the series' first snapshot has "
                          f"{len(centres)}: not one mesh")
    a, b = np.lexsort(centres.T[::-1]), np.lexsort(c.T[::-1])  # same points: same centres
    order = np.empty(len(c), dtype=int)
    order[a] = b
    scale = float(np.max(np.ptp(centres, axis=0))) or 1.0
    if not np.allclose(c[order], centres, rtol=0, atol=1e-12 * scale):
        raise ResultError(f"{path}: its cells are not those of the series' first snapshot "
                          "(another mesh?)")
    return order


def csv_series(path: Path) -> dict[str, Series]:
    """The columns of a ``<case>_series.csv`` (:mod:`fvqp.io.series`) as series over its
    time axis; empty without rows.

    The axis is ``time_s`` if there is one, else the first ``time_*`` column in the unit
    its comment line declares (:func:`fvqp.io.series.series_units`); the other ``time_*``
    columns are axes, not quantities. A column's unit is the one declared in the file,
    else that of its name's suffix; values are converted to SI where the unit is one of
    fvqp's file units (:func:`si_unit`).
    """
    from ..io.series import read_series, series_units

    header, rows = read_series(str(path))
    times = [h for h in header if h.startswith("time_")]
    if not times or not rows:
        return {}
    declared = series_units(str(path))
    axis = "time_s" if "time_s" in times else times[0]
    t_unit = "s" if axis == "time_s" else declared.get(axis, "")
    a = np.array(rows, dtype=float)
    t = a[:, header.index(axis)]
    out = {}
    for j, name in enumerate(header):
        if name in times:
            continue
        unit = declared.get(name, unit_of_key(name.split(".")[0]))
        lab, fac = si_unit(unit)
        out[name] = Series(name, lab, t, a[:, j] * fac, t_unit)
    return out


#: the 0D model's time series (reduced units) -> (meta attribute of its SI scale, SI unit)
_K0D = {"n_qp": ("number_unit_per_m3", "1/m^3"), "e_qp": ("energy_unit_J_per_m3", "J/m^3"),
        "e_ph": ("energy_unit_J_per_m3", "J/m^3"),
        "n_qp_thermal": ("number_unit_per_m3", "1/m^3")}


def _h5_series(path: Path) -> dict[str, Series]:
    """Time series of an HDF5 result in SI: the 0D model's ``timeseries`` (t in τ0,
    densities in 4N0kTc, converted with the file's own scales) and the sphere model's
    ``series`` (SI already: t in s, energies in J, numbers of QPs)."""
    import h5py

    out: dict[str, Series] = {}
    with h5py.File(path, "r") as fh:
        g = fh.get("timeseries")
        if isinstance(g, h5py.Group) and "t" in g and "tau0_s" in fh.attrs:
            t = np.asarray(g["t"], float) * float(fh.attrs["tau0_s"])
            for k, ds in g.items():
                if k in _K0D and ds.shape == g["t"].shape:
                    scale, unit = _K0D[k]
                    out[k] = Series(k, unit, t, np.asarray(ds, float) * float(fh.attrs[scale]))
        g = fh.get("series")
        if isinstance(g, h5py.Group) and "t" in g \
                and "t in s" in str(g.attrs.get("units", "")):
            t = np.asarray(g["t"], float)
            for k, ds in g.items():
                if k != "t" and ds.shape == t.shape and ds.dtype.kind in "fiu":
                    lab, fac = si_unit(unit_of_key(k))  # E_escaped_J: J; n_qp: a number
                    out[k] = Series(k, lab, t, np.asarray(ds, float) * fac)
    return out


#: the 0D model's grid and state (energies in k_B Tc) -> (name, SI unit, scaled by kTc)
_K0D_ARRAYS = {"grid/e": ("energy", "J", True), "grid/omega": ("phonon_energy", "J", True),
               "grid/dos": ("dos", "", False), "state/f": ("f", "", False),
               "state/n": ("n", "", False), "state/f_bath": ("f_bath", "", False),
               "state/n_bath": ("n_bath", "", False)}


def h5_arrays(path: Path) -> dict[str, tuple[np.ndarray, str]]:
    """The datasets of an HDF5 result that carry a unit, in SI: the Usadel model's
    (``units`` attribute: ``{"gap_ueV": "ueV", "x_um": "um" ...}``) and the 0D model's
    energy grid and distributions (QP energies ``energy`` and phonon energies
    ``phonon_energy`` in J, the occupations ``f``, ``n`` and the bath's ``f_bath``,
    ``n_bath`` on them, the reduced DOS ``dos``)."""
    import h5py

    out = {}
    with h5py.File(path, "r") as fh:
        if "kTc_J" in fh.attrs and "grid" in fh and "state" in fh:
            ktc = float(fh.attrs["kTc_J"])
            for key, (name, unit, scaled) in _K0D_ARRAYS.items():
                if key in fh:
                    out[name] = (np.asarray(fh[key], float) * (ktc if scaled else 1.0), unit)
            return out
        units = fh.attrs.get("units")
        if not isinstance(units, (str, bytes)) or not str(units).startswith("{"):
            return out
        for k, unit in json.loads(units).items():
            if k in fh and isinstance(fh[k], h5py.Dataset):
                lab, fac = si_unit(re.split(r"\s", unit)[0])
                out[k] = (np.asarray(fh[k], float) * fac, lab)
    return out


def read_arrays(result: Result) -> Arrays:
    """Fields, time series and summary numbers of a result directory, in SI.

    Parameters
    ----------
    result : Result
        From :func:`fvqp.post.open_result`.

    Returns
    -------
    Arrays
        ``fields`` (mesh models), ``series`` (the time loop's CSV file, the 0D and sphere
        models' HDF5 series) and ``quantities`` (the summary's numbers).
    """
    arrays = Arrays(quantities=summary_quantities(result.summary))
    if result.is_mesh:
        arrays.fields = _mesh_fields(result)
    for csv in sorted(result.path.glob("*_series.csv")):
        arrays.series.update(csv_series(csv))
    for h5 in result.h5:
        arrays.series.update(_h5_series(h5))
    return arrays


@dataclass
class Data:
    """A dataset of an HDF5 result with its unit, in SI (Usadel: ``gap_ueV``, ``x_um``;
    kinetics0d: ``energy``, ``f`` ...)."""

    name: str
    unit: str
    values: np.ndarray

    def __repr__(self) -> str:
        return f"Data({self.name!r} [{self.unit}], shape {self.values.shape})"

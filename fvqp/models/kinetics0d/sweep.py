r"""Parameter sweeps of kinetics0d steady states, shared over MPI ranks (issue 18 item 3).

A case with a ``[sweep]`` table gives one of the keys ``power`` (of drive ``drive``),
``photon_energy`` (of that drive), ``escape_time``, ``escape_time_pb`` or
``temperature`` (the bath) as a list of values (SI with units; ``escape_time_pb`` a
plain number). Every value is one independent *work unit*: the steady state of the case
with that value (:func:`fvqp.models.kinetics0d.solve.steady_state` from its default
start), reduced to the sweep table's scalars: the QP density :math:`N_{qp}`, the
effective temperature and chemical potential :math:`T^*`, :math:`\mu^*`, the
pair-breaking efficiency :math:`\eta_{pb}` and the gap :math:`\Delta`.

The units go through :meth:`fvqp.io.workunits.WorkUnits.map` with a
:class:`fvqp.parallel.tasks.TaskShare`: under ``mpiexec -n P`` a round of ``P`` points at
a time, one per rank, every rank gets every result, and rank 0 writes the checkpoint after
every round and the outputs at the end. A point's result does not depend on the rank that
computed it, so the table equals the serial one. ``--max-steps K`` stops after ``K`` newly
computed points (status 1, checkpoint kept); ``--resume`` reuses the stored points.

Outputs: ``kinetics0d_sweep.h5`` (one dataset per column, its unit as an attribute),
``kinetics0d_sweep.csv`` (the same table), the figure ``<case>_vs_<key>.png`` (unless
``[output] figures = false``) and ``summary.json``. Energies (:math:`\mu^*`,
:math:`\Delta`) in µeV, as every model's.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import logging
import os
import time
from collections.abc import Mapping

import numpy as np

from ...io.atomic import atomic_path, atomic_savefig, atomic_write_bytes
from ...io.workunits import StudyStopped, WorkUnits
from ...parallel.tasks import TaskShare
from ...solvers.result import ConvergenceError
from ...units import E_CHARGE
from ..base.template import wants_figures

log = logging.getLogger(__name__)

__all__ = ["COLUMNS", "SWEEP_KEYS", "has_sweep", "run_sweep", "sweep_point"]

#: the sweepable keys: where the value goes in the case
SWEEP_KEYS = ("power", "photon_energy", "escape_time", "escape_time_pb", "temperature")

#: the table's columns after the swept value: name -> unit
COLUMNS = {"n_qp": "1/um^3", "t_star": "K", "mu_star": "ueV", "eta_pb": "",
           "delta": "ueV", "newton_iterations": ""}


def _thaw(value):
    """Plain dicts and lists of a read-only case mapping."""
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_thaw(v) for v in value]
    return value


def has_sweep(values: Mapping) -> bool:
    """Whether the case sweeps a parameter (one of :data:`SWEEP_KEYS` given)."""
    sw = values.get("sweep") or {}
    return any(sw.get(k) is not None for k in SWEEP_KEYS)


def swept(values: Mapping) -> tuple[str, list]:
    """``(key, internal values)`` of the case's ``[sweep]`` table."""
    sw = values["sweep"]
    key = next(k for k in SWEEP_KEYS if sw.get(k) is not None)
    return key, list(sw[key])


def point_values(values: Mapping, key: str, value: float) -> dict:
    """The case's internal values with the swept ``key`` set to ``value``."""
    v = _thaw(values)
    v.pop("sweep", None)
    drive = values["sweep"]["drive"]
    if key == "power":
        v["drives"][drive]["power"] = value
    elif key == "photon_energy":
        v["drives"][drive]["energy"] = value
        v["drives"][drive]["frequency"] = None
    elif key == "escape_time":
        v["film"]["escape_time"], v["film"]["escape_time_pb"] = value, None
    elif key == "escape_time_pb":
        v["film"]["escape_time_pb"], v["film"]["escape_time"] = value, None
    else:
        v["bath"]["temperature"] = value
    return v


def sweep_point(case, key: str, value: float, index: int | None = None) -> dict:
    """Steady state of one sweep point (an :class:`fvqp.case.InternalCase`), reduced to
    the table's columns (SI). A steady state that does not balance its drive
    (:func:`.observables.unbalanced_drive`), or one the grid's top shapes
    (:func:`.observables.cut_by_grid_top`), raises ConvergenceError naming the point
    (``index``: in SI)."""
    from .build import build_model, solver_options
    from .observables import cut_by_grid_top, unbalanced_drive
    from .observables import summary as observables
    from .outputs import output_values
    from .solve import steady_state

    point = dataclasses.replace(case, values=point_values(case.values, key, value))
    model, meta = build_model(point)
    y, res = steady_state(model, **solver_options(case.values))
    obs = observables(model, y)
    why = unbalanced_drive(model, obs, point.units.energy / (E_CHARGE * 1e-6),
                           meta["power_unit_W_per_m3"] * meta["volume_m3"])
    why = why or cut_by_grid_top(model, [(0.0, y)], point.units.energy / (E_CHARGE * 1e-6),
                                 case_file=os.path.basename(case.path))
    if why is not None:  # the sweep stops here, naming the point
        where = f"{key} = {value!r} (internal units)"
        if index is not None:
            where = "{} = {:.6g} {}".format(key, *_si_value(case, key, index))
        raise ConvergenceError(f"sweep point {where}: {why}")
    out = output_values(point.units, {"n_qp": obs["n_qp"], "t_eff": obs["t_eff"],
                                      "mu": obs["mu"], "delta": model.grid.delta})
    return {"n_qp": float(out["n_qp"]), "t_star": float(out["t_eff"]),
            "mu_star": float(out["mu"]), "eta_pb": obs.get("eta_pb", float("nan")),
            "delta": float(out["delta"]), "newton_iterations": int(res.iterations)}


def _si_value(case, key: str, index: int) -> tuple[float, str]:
    """The value and unit of sweep point ``index`` (from the SI case; a photon energy in
    ueV)."""
    v = float(case.case.data["sweep"][key][index])
    if key == "photon_energy":  # energies in ueV, as every model writes them
        return v / (E_CHARGE * 1e-6), "ueV"
    unit = {"power": "W", "escape_time": "s", "escape_time_pb": "", "temperature": "K"}[key]
    return v, unit


def run_sweep(case, out_dir: str, resume: bool = False, max_steps: int | None = None
              ) -> dict:
    """Run the sweep of an internal case (module docstring); returns the summary
    (:func:`fvqp.models.base.run_model` writes it, with the wall time)."""
    key, vals = swept(case.values)
    tasks = TaskShare()
    if tasks.is_root:
        os.makedirs(out_dir, exist_ok=True)
    units = WorkUnits(out_dir, case.digest, resume=resume, max_units=max_steps, tasks=tasks)
    items = [(f"point{i:04d}", (lambda x=x, i=i: sweep_point(case, key, x, i)))
             for i, x in enumerate(vals)]
    x_si = [_si_value(case, key, i) for i in range(len(vals))]
    log.info("kinetics0d sweep of %s over %d values on %d rank(s)", key, len(vals),
             tasks.size)
    summary: dict = {"model": "kinetics0d", "case": case.path, "sweep": key,
                     "points": len(vals), "ranks": tasks.size}
    t0 = time.perf_counter()
    try:
        rows = _map_reporting(units, items, tasks, key, x_si)
    except StudyStopped as stop:
        summary.update(status=1, message=str(stop), units_computed=units.computed,
                       checkpoint=units.path)
        return summary
    unit = x_si[0][1]
    table = {key: np.array([x for x, _ in x_si])}
    for c in COLUMNS:
        table[c] = np.array([r[c] for r in rows])
    summary.update(status=0, message=f"sweep of {key}: {len(vals)} steady states "
                   f"({units.computed} computed, {units.reused} reused)",
                   units_computed=units.computed, units_reused=units.reused,
                   table={k: v.tolist() for k, v in table.items()},
                   units={key: unit, **COLUMNS})
    t1 = time.perf_counter()
    if tasks.is_root:
        _write(out_dir, table, key, unit, case)
        summary["output"] = os.path.join(out_dir, "kinetics0d_sweep.h5")
    # where the sweep's wall time goes (rank 0): the points (shared over the ranks, with
    # the rounds' gathers and checkpoints) and the outputs (table, CSV, figure: rank 0)
    summary["time_units_s"] = t1 - t0
    summary["time_outputs_s"] = time.perf_counter() - t1
    summary["keys"] = _key_ranges(table)
    return summary  # the key numbers are logged once, by ModelResult.report (run_model)


def _key_ranges(table: dict) -> dict[str, float]:
    """The sweep's key numbers: the range of N_qp (µm⁻³), T* (K) and eta_pb (where a
    drive is on) over its points."""
    out = {}
    for col, name in (("n_qp", "N_qp_per_um3"), ("t_star", "T_star_K"), ("eta_pb", "eta_pb")):
        v = table[col][np.isfinite(table[col])]
        if v.size:
            out[f"{name}_min"], out[f"{name}_max"] = float(v.min()), float(v.max())
    return out


def _map_reporting(units: WorkUnits, items: list, tasks: TaskShare, key: str,
                   x_si: list) -> list[dict]:
    """``units.map(items)`` a round (one point per rank) at a time, with one INFO line
    per finished point on rank 0 (its swept value and the table's N_qp, T*, eta_pb),
    as the Usadel sweeps report their biases; the points, checkpoints and ``--max-steps``
    budget are those of one ``map`` call."""
    rows: list[dict] = []
    n = len(items)
    for lo in range(0, n, max(1, tasks.size)):
        batch = items[lo:lo + max(1, tasks.size)]
        reused = units.reused
        rows += units.map(batch)
        if not tasks.is_root:
            continue
        stored = units.reused - reused == len(batch)
        for i in range(lo, lo + len(batch)):
            x, unit = x_si[i]
            r = rows[i]
            log.info("kinetics0d sweep %d/%d: %s = %.4g%s: N_qp = %.4g /µm³, T* = %.4g K, "
                     "eta_pb = %.4g%s", i + 1, n, key, x, f" {unit}" if unit else "",
                     r["n_qp"], r["t_star"], r["eta_pb"],
                     " (from the checkpoint)" if stored else "")
    return rows


def _write(out_dir: str, table: dict, key: str, unit: str, case) -> None:
    """The sweep table as HDF5 and CSV, and its figure unless ``[output] figures = false``
    (rank 0)."""
    import h5py

    units = {key: unit, **COLUMNS}
    h5 = os.path.join(out_dir, "kinetics0d_sweep.h5")
    tmp = atomic_path(h5)
    with h5py.File(tmp, "w") as fh:
        fh.attrs["swept"] = key
        fh.attrs["case_digest"] = case.digest
        fh.attrs["model"] = "kinetics0d"  # fvqp plot redraws the figure from this file
        fh.attrs["case_name"] = case.name
        fh.attrs["title"] = case.values.get("title") or case.name
        for k, v in table.items():
            fh[k] = v
            fh[k].attrs["unit"] = units[k]
    os.replace(tmp, h5)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow([f"{k} [{units[k]}]" if units[k] else k for k in table])
    for i in range(len(table[key])):
        w.writerow([repr(float(table[k][i])) for k in table])
    atomic_write_bytes(os.path.join(out_dir, "kinetics0d_sweep.csv"), buf.getvalue().encode())
    if wants_figures(case):  # [output] figures = false: the table only (fvqp plot draws it)
        sweep_figure(os.path.join(out_dir, sweep_figure_name(case.name, key)), h5)


def sweep_figure_name(case_name: str, key: str) -> str:
    """The file name of a sweep's figure, ``<case>_vs_<key>.png``."""
    return f"{case_name}_vs_{key}.png"


def sweep_figure(path: str, h5_path: str) -> None:
    """N_qp, T*, mu* and eta_pb versus the swept value, drawn from the sweep's
    ``kinetics0d_sweep.h5`` (the run and ``fvqp plot`` the same way)."""
    import h5py
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with h5py.File(h5_path, "r") as fh:
        key = str(fh.attrs["swept"])
        title = str(fh.attrs.get("title", "")) or str(fh.attrs.get("case_name", ""))
        unit = str(fh[key].attrs.get("unit", ""))
        table = {k: np.asarray(fh[k]) for k in (key, "n_qp", "t_star", "mu_star", "eta_pb")}
    x = table[key]
    fig, axes = plt.subplots(2, 2, figsize=(9, 6), sharex=True)
    for ax, (col, label) in zip(axes.flat, (("n_qp", "N_qp (µm⁻³)"), ("t_star", "T* (K)"),
                                            ("mu_star", "µ* (µeV)"), ("eta_pb", "eta_pb")),
                                strict=True):
        ax.plot(x, table[col], "o-")
        ax.set_ylabel(label)
        if np.all(x > 0) and x.max() / x.min() > 20:
            ax.set_xscale("log")
        if col == "n_qp":
            ax.set_yscale("log")
    for ax in axes[1]:
        ax.set_xlabel(f"{key} ({unit})" if unit else key)
    fig.suptitle(title)
    fig.tight_layout()
    atomic_savefig(fig, path, dpi=110)

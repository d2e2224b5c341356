r"""What a kinetics0d run shows: its numbers in declared output units, the
``<case>_series.csv`` time series, the figure and the end-of-run key numbers.

The model computes in the film's internal units (energies in :math:`k_BT_c`, times in
:math:`\tau_0`, QP numbers per volume in :math:`4N_0k_BT_c`: two spins times two
branches, notes Eq. 9). Every number a user reads is converted here, once, from the
declared dimension of :data:`OUTPUTS` (:func:`fvqp.models.base.outputs.to_output`) into
the unit family of the mesh models: times in s, QP densities in µm⁻³, energies (grid,
gap, chemical potential) in µeV, energy densities in J/m³, temperatures in K. The HDF5
file keeps the internal values with their units named in its attributes.

Outputs of a run in its directory (``<case>`` the case file's name):

* ``<case>_steady.png`` / ``<case>_transient.png``: :math:`f(E)` and :math:`n(\Omega)`
  (final, bath, snapshots; energies in µeV) and, for a transient, :math:`N_{qp}(t)`;
* ``<case>_series.csv`` (transients): one row per accepted TS step and the initial
  state, ``time_s``, ``dt_s`` (the step), ``step``, the QP density ``n_qp_per_um3`` and
  the QP, phonon and
  total energies in the film ``E_qp_J``, ``E_ph_J``, ``E_total_J``
  (:class:`fvqp.io.series.SeriesWriter`, the mesh models' layout); rewritten from the
  checkpointed series after every checkpoint and at the end, so a resumed run's file
  equals the uninterrupted run's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ...io.atomic import atomic_savefig
from ...io.series import SeriesWriter
from ..base.outputs import OutputField, to_output

__all__ = ["OUTPUTS", "QP_DENSITY_FACTOR", "figure", "figure_name", "key_numbers",
           "output_values", "redraw", "write_series"]

#: the collision module counts densities in units of 4 N0 (two spins x two branches,
#: notes Eq. 9); UnitSystem's number and energy density units are N0 k_B Tc, N0 (k_B Tc)^2
QP_DENSITY_FACTOR = 4.0

#: internal quantity -> its output unit (the model's value times :data:`_PER_STATE`
#: is in the :class:`fvqp.units.UnitSystem` unit of the dimension)
OUTPUTS: dict[str, OutputField] = {
    "n_qp": OutputField("number_density", "1/um^3"),
    "n_qp_thermal": OutputField("number_density", "1/um^3"),
    "e_qp": OutputField("energy_density", "J/m^3"),
    "e_ph": OutputField("energy_density", "J/m^3"),
    "energy": OutputField("energy_density", "J/m^3"),
    "e": OutputField("energy", "ueV"),
    "omega": OutputField("energy", "ueV"),
    "delta": OutputField("energy", "ueV"),
    "mu": OutputField("energy", "ueV"),
    "t_eff": OutputField("temperature", "K"),
    "t_n": OutputField("temperature", "K"),
}

#: quantities counted per 4 N0 (:data:`QP_DENSITY_FACTOR`)
_PER_STATE = {"n_qp", "n_qp_thermal", "e_qp", "e_ph", "energy"}


def output_values(units, values: Mapping[str, object]) -> dict[str, np.ndarray]:
    """Internal values of :data:`OUTPUTS` names -> their output units (``units``: the
    run's :class:`fvqp.units.UnitSystem`, :func:`fvqp.models.kinetics0d.build.film_units`).

    Examples
    --------
    >>> from fvqp.units import UnitSystem
    >>> u = UnitSystem(Tc=1.2, tau0=438e-9, N0=1.72e47)
    >>> out = output_values(u, {"t_eff": 0.1, "delta": 1.764})
    >>> round(float(out["t_eff"]), 12), round(float(out["delta"]), 2)  # K, ueV
    (0.12, 182.41)
    """
    scaled = {k: np.asarray(v, float) * (QP_DENSITY_FACTOR if k in _PER_STATE else 1.0)
              for k, v in values.items()}
    return to_output(units, scaled, {k: OUTPUTS[k] for k in scaled})


def series_columns(units, series: Mapping[str, list], volume_m3: float) -> dict:
    """The columns of ``<case>_series.csv`` from a transient's recorded series
    (:class:`~fvqp.models.kinetics0d.transient.TransientState` ``series``, internal)."""
    t = np.asarray(series["t"], float)
    out = output_values(units, {k: series[k] for k in ("n_qp", "e_qp", "e_ph", "energy")})
    time_s = t * units.scales["time"]
    return {"time_s": time_s, "dt_s": np.diff(time_s, prepend=time_s[:1]),
            "step": np.arange(t.size),
            "n_qp_per_um3": out["n_qp"], "E_qp_J": out["e_qp"] * volume_m3,
            "E_ph_J": out["e_ph"] * volume_m3, "E_total_J": out["energy"] * volume_m3}


def write_series(path: str, units, series: Mapping[str, list], volume_m3: float) -> None:
    """Write ``<case>_series.csv`` (atomically) from the recorded series."""
    cols = series_columns(units, series, volume_m3)
    rows = SeriesWriter(path)
    for i in range(len(cols["time_s"])):
        rows.append({k: (int(v[i]) if k == "step" else float(v[i])) for k, v in cols.items()})
    rows.flush()


def key_numbers(units, obs: Mapping[str, float], delta: float, t_end: float | None
                ) -> dict[str, float]:
    r"""The run's key numbers (``summary["keys"]`` and the final log line): the QP
    density :math:`N_{qp}` (µm⁻³), the effective temperature :math:`T^*` and the number
    temperature :math:`T_N` (K), the gap :math:`\Delta` (µeV), the pair-breaking
    efficiency :math:`\eta_{pb}` where a drive is on, and the end time (s) of a
    transient."""
    out = output_values(units, {"n_qp": obs["n_qp"], "t_eff": obs["t_eff"],
                                "t_n": obs["t_n"], "delta": delta})
    keys = {"N_qp_per_um3": float(out["n_qp"]), "T_star_K": float(out["t_eff"]),
            "T_N_K": float(out["t_n"]), "delta_ueV": float(out["delta"])}
    if "eta_pb" in obs:
        keys["eta_pb"] = float(obs["eta_pb"])
    if t_end is not None:
        keys["t_end_s"] = float(t_end * units.scales["time"])
    return keys


def _positive(a: np.ndarray) -> np.ndarray:
    return np.maximum(a, 1e-300)


def figure_name(case_name: str, steady: bool) -> str:
    """The file name of a run's figure: ``<case>_steady.png`` or ``<case>_transient.png``."""
    return f"{case_name}_{'steady' if steady else 'transient'}.png"


def figure(path: str, h5_path: str, series_csv: str | None = None) -> None:
    """f(E) and n(Omega) with E, Omega in µeV (final, bath and the snapshots, labelled
    with their SI times) and, with ``series_csv`` (a transient's ``<case>_series.csv``),
    the QP density (µm⁻³) versus time (s), drawn from the files the run wrote: the
    run's ``kinetics0d.h5`` (grid, state, bath, ``timeseries`` snapshots) and its series.
    The run and ``fvqp plot`` draw it the same way, so the redrawn figure is the run's."""
    import h5py
    import matplotlib

    from ...io.series import read_series
    from ..base.timeloop import si_seconds

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with h5py.File(h5_path, "r") as fh:
        e, om = np.asarray(fh["grid/e_ueV"]), np.asarray(fh["grid/omega_ueV"])
        st = fh["state"]
        f, n, fb, nb = (np.asarray(st[k]) for k in ("f", "n", "f_bath", "n_bath"))
        tau0 = float(fh.attrs["tau0_s"])
        title = str(fh.attrs.get("title", "")) or str(fh.attrs.get("case_name", ""))
        ts = fh.get("timeseries")
        snaps = [] if ts is None or "snapshot_t" not in ts else list(zip(
            np.asarray(ts["snapshot_t"]) * tau0, np.asarray(ts["snapshot_f"]),
            np.asarray(ts["snapshot_n"]), strict=True))
    header, rows = read_series(series_csv) if series_csv else ([], [])
    panels = 3 if rows else 2
    fig, axes = plt.subplots(1, panels, figsize=(5 * panels, 4))
    a1, a2 = axes[0], axes[1]
    for t, fs, ns in snaps:
        a1.semilogy(e, _positive(fs), lw=0.8, label=f"t = {si_seconds(t)}")
        a2.semilogy(om, _positive(ns), lw=0.8)
    a1.semilogy(e, _positive(f), "k", lw=1.5, label="final")
    a1.semilogy(e, _positive(fb), "k--", lw=1, label="bath")
    a2.semilogy(om, _positive(n), "k", lw=1.5)
    a2.semilogy(om, _positive(nb), "k--", lw=1)
    a1.set_ylim(max(1e-30, float(np.min(fb[fb > 0])) / 10), 2)
    a2.set_ylim(max(1e-30, float(np.min(nb[nb > 0])) / 10), None)
    a1.set_xlabel("E (µeV)")
    a1.set_ylabel("f(E)")
    a2.set_xlabel("Ω (µeV)")
    a2.set_ylabel("n(Ω)")
    a1.legend(fontsize=7)
    if rows:
        cols = np.asarray(rows, float).T
        t, nq = cols[header.index("time_s")], cols[header.index("n_qp_per_um3")]
        keep = t > 0  # a log time axis: the initial state is the first marker's left
        a3 = axes[2]
        a3.semilogx(t[keep], nq[keep], ".-", ms=3, lw=1)
        if np.nanmax(nq) > 10 * np.nanmin(nq):  # decades of recombination: a log axis
            a3.set_yscale("log")
        if not math.isnan(float(nq[0])):
            a3.axhline(float(nq[0]), color="0.6", ls=":", lw=1, label="t = 0")
            a3.legend(fontsize=7)
        a3.set_xlabel("t (s)")
        a3.set_ylabel("N_qp (µm⁻³)")
    fig.suptitle(title)
    fig.tight_layout()
    atomic_savefig(fig, path, dpi=120)


def redraw(h5_path: str | Path, out_dir: str | Path) -> Path | None:
    """The figure of ``kinetics0d.h5`` (with ``<case>_series.csv`` beside it for a
    transient) or of ``kinetics0d_sweep.h5`` drawn again into ``out_dir`` (``fvqp plot``,
    :mod:`fvqp.post.plot`); None for a file that does not name its case (written before
    2026-11-27)."""
    import h5py

    from .sweep import sweep_figure, sweep_figure_name

    h5_path, out_dir = Path(h5_path), Path(out_dir)
    with h5py.File(h5_path, "r") as fh:
        name, swept = fh.attrs.get("case_name"), fh.attrs.get("swept")
        steady = bool(fh.attrs.get("steady", True))
    if name is None:
        return None
    if swept is not None:
        png = out_dir / sweep_figure_name(str(name), str(swept))
        sweep_figure(str(png), str(h5_path))
        return png
    png = out_dir / figure_name(str(name), steady)
    csv = h5_path.parent / f"{name}_series.csv"
    figure(str(png), str(h5_path), None if steady or not csv.is_file() else str(csv))
    return png

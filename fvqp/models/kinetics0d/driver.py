r"""Case-file driver of the 0D kinetics: the case as a model (:mod:`.build`: SI ->
internal units, drives, grid), solve, HDF5 + figure.

Outputs (in the output directory): ``kinetics0d.h5`` (grid, DOS, final ``f``/``n``,
bath distributions, time series and snapshots of transient runs, scalar observables in
SI and internal units, metadata: units, parameters, case digest), the figure
``<case>_steady.png`` or ``<case>_transient.png`` (unless ``[output] figures = false``;
``summary.json`` ``figure`` names it), the time series ``<case>_series.csv``
of a transient (:mod:`fvqp.models.kinetics0d.outputs`: energies in µeV, densities in
µm⁻³, times in s) and ``summary.json`` (with ``keys``: N_qp, T*, T_N, Delta, eta_pb).

PETSc options: ``[solver] ts`` reach the time stepper only (prefix ``<prefix>ts_``),
``[solver] snes`` the steady-state Newton only (prefix ``<prefix>snes_``), see
:func:`.build.solver_options`.
"""

from __future__ import annotations

import logging
import os

import numpy as np

from ...case.internal import InternalCase
from ...collisions import bose, fermi
from ...io.atomic import atomic_path
from ...units import E_CHARGE
from ..base.schema import case_material
from ..base.template import materials_entry, wants_figures
from ..base.timeloop import refuse_earlier_end, si_time
from .build import build_model, film_units, solver_options
from .model import Kinetics0D
from .observables import cut_by_grid_top
from .observables import summary as observables
from .outputs import figure, figure_name, key_numbers, write_series
from .relaxation import relax
from .solve import steady_state, steady_state_self_consistent
from .transient import (
    TransientState,
    checkpoint_path,
    default_atol,
    integrate_checkpointed,
)

log = logging.getLogger(__name__)

__all__ = ["run"]


def _initial(model: Kinetics0D, case, steady: bool = False) -> np.ndarray | None:
    """The ``[initial]`` state (``case``: an :class:`fvqp.case.InternalCase`); ``None``
    for a steady run without ``[initial]`` temperatures (then :func:`steady_state` starts
    from its quasi-thermal estimate)."""
    ini = case.values.get("initial") or {}
    if steady and not (ini.get("qp_temperature") or ini.get("phonon_temperature")):
        return None
    tq = ini.get("qp_temperature") or model.t_bath
    tp = ini.get("phonon_temperature") or model.t_bath
    return model.join(fermi(model.grid.e, tq), bose(model.grid.omega, tp))


def _si(obs: dict, meta: dict) -> dict:
    out = {}
    conv = {"n_qp": meta["number_unit_per_m3"], "n_qp_thermal": meta["number_unit_per_m3"],
            "e_qp": meta["energy_unit_J_per_m3"], "e_ph": meta["energy_unit_J_per_m3"],
            "power_absorbed": meta["power_unit_W_per_m3"] * meta["volume_m3"],
            "power_escaped": meta["power_unit_W_per_m3"] * meta["volume_m3"],
            "t_eff": meta["Tc_K"], "t_n": meta["Tc_K"],
            "mu": meta["kTc_J"] / (E_CHARGE * 1e-6),
            "rate_scattering": 1 / meta["tau0_s"], "rate_recombination": 1 / meta["tau0_s"]}
    units = {"n_qp": "1/m^3", "n_qp_thermal": "1/m^3", "e_qp": "J/m^3", "e_ph": "J/m^3",
             "power_absorbed": "W", "power_escaped": "W", "t_eff": "K", "t_n": "K",
             "mu": "ueV",
             "rate_scattering": "1/s", "rate_recombination": "1/s"}
    for k, v in obs.items():
        if k in conv:  # mu in ueV (the gap's unit family) is named so, not "_SI"
            out[k + ("_ueV" if units[k] == "ueV" else "_SI")] = (v * conv[k], units[k])
    return out


def run(case, output_dir: str | None = None, resume: bool = False,
        max_steps: int | None = None) -> dict:
    """Run a kinetics0d case; returns a summary dict (written to ``summary.json``, with
    the wall time and peak memory, by :func:`fvqp.models.base.run_model`).

    Transient runs are integrated in checkpointed segments
    (:mod:`fvqp.models.kinetics0d.transient`); ``resume=True`` continues from
    ``checkpoint.h5`` in the output directory and ends in the same state as the
    uninterrupted run (to round-off); with a later ``[time] end`` than the checkpoint's
    run it extends that run (``[time] end`` is not part of the checkpoint's case digest,
    ``SPEC.digest_exempt``; an earlier end than the checkpoint's time is refused). Log
    lines give times in SI. ``max_steps`` stops a transient run (status 1, with
    a checkpoint) after that many TS steps of this invocation. Steady runs have nothing
    to resume and refuse ``resume``.
    """
    import h5py

    from ...io.checkpoint import CheckpointError

    if not isinstance(case, InternalCase):
        case = case.internal(film_units(case))
    out_dir = output_dir or case.output_dir
    d = case.values
    tc = d["time"]
    from .sweep import has_sweep, run_sweep

    if has_sweep(d):  # independent steady states shared over the ranks
        return run_sweep(case, out_dir, resume=resume, max_steps=max_steps)
    if resume and tc["steady"]:
        raise CheckpointError("a steady-state kinetics0d run has no checkpoint to resume. "
                              "Fix: run the case again without --resume.")
    os.makedirs(out_dir, exist_ok=True)
    model, meta = build_model(case)
    solvers = solver_options(d)
    y0 = _initial(model, case, steady=tc["steady"])
    summary: dict = {"model": "kinetics0d", "case": case.path}
    tr = None
    if tc["steady"] and d["film"].get("self_consistent_gap"):
        delta_bath = model.grid.delta
        model, y, info = steady_state_self_consistent(
            model, meta["gap_ratio"], y0, **solvers)
        meta.update(delta_over_kTc=model.grid.delta, h_over_kTc=model.grid.h,
                    delta_bath_over_kTc=delta_bath, self_consistent_gap=True)
        summary.update(status=0, message="self-consistent steady state",
                       newton_iterations=info["newton_iterations"],
                       gap_iterations=info["iterations"], start=info["start"],
                       delta_over_kTc=model.grid.delta, delta_bath_over_kTc=delta_bath,
                       gap_suppression=1.0 - model.grid.delta / delta_bath,
                       residual_norm=float(np.linalg.norm(model.rhs(y))))
        t_final = 0.0
    elif tc["steady"]:
        y, res = steady_state(model, y0, **solvers)
        summary.update(status=0, message=res.message, newton_iterations=res.iterations,
                       residual_norm=res.residual_norm, start=res.start)
        t_final = 0.0
    else:
        tr, y = _transient(model, meta, case, out_dir, y0, solvers, resume, max_steps,
                           summary)
        t_final = tr.t
    obs = observables(model, y, t_final)
    summary["observables"] = obs
    if tc["steady"]:
        from .observables import unbalanced_drive

        why = unbalanced_drive(model, obs, meta["kTc_J"] / (E_CHARGE * 1e-6),
                               meta["power_unit_W_per_m3"] * meta["volume_m3"])
        if why is not None:  # reported, never a silent "converged"
            log.error("kinetics0d: %s", why)
            summary.update(status=-1, message=why)
    states = [(t_final, y)] if tr is None else [*zip(tr.snap_t, tr.snap_y, strict=True),
                                                 (t_final, y)]
    cut = cut_by_grid_top(model, states, meta["kTc_J"] / (E_CHARGE * 1e-6),
                          si_time(case.units), os.path.basename(case.path))
    if cut is not None and summary.get("status") == 0:  # a state the grid's top shaped
        log.error("kinetics0d: %s", cut)
        summary.update(status=-1, message=cut)
    summary["observables_SI"] = {k: v[0] for k, v in _si(obs, meta).items()}
    summary["observables_SI_units"] = {k: v[1] for k, v in _si(obs, meta).items()}
    summary["gap_ueV"] = model.grid.delta * meta["kTc_J"] / (E_CHARGE * 1e-6)
    summary["materials"] = materials_entry({"film": case_material(d["film"])})
    h5 = os.path.join(out_dir, "kinetics0d.h5")
    h5_tmp = atomic_path(h5)  # renamed into place once complete
    with h5py.File(h5_tmp, "w") as fh:
        for k, v in meta.items():
            fh.attrs[k] = v
        fh.attrs["case_digest"] = case.digest
        fh.attrs["model"] = "kinetics0d"  # fvqp plot redraws the figure from this file
        fh.attrs["case_name"] = case.name
        fh.attrs["title"] = d.get("title") or case.name
        fh.attrs["steady"] = bool(tc["steady"])
        gr = fh.create_group("grid")
        gr["e"], gr["omega"] = model.grid.e, model.grid.omega
        gr["dos"], gr["ados"] = model.grid.dos, model.grid.ados
        gr["qp_weights"] = model.grid.qp_weights
        gr["e_edges"] = model.grid.e_edges
        gr["e_ueV"] = model.grid.e * meta["kTc_J"] / (E_CHARGE * 1e-6)
        gr["omega_ueV"] = model.grid.omega * meta["kTc_J"] / (E_CHARGE * 1e-6)
        gr.attrs["units"] = ("e, omega, e_edges in k_B Tc (e_ueV, omega_ueV: the same in "
                             "ueV); qp_weights in units of 4 N0 k_B Tc")
        gr.attrs["layout"] = (f"{model.grid.layout}: QP nodes e (first cell edge at the gap); "
                              "dos, ados per h (qp_weights = h dos)")
        f, n = model.split(y)
        st = fh.create_group("state")
        st["f"], st["n"] = f, n
        st["f_bath"], st["n_bath"] = model.split(model.equilibrium())
        st.attrs["t"] = t_final
        ob = fh.create_group("observables")
        for k, v in obs.items():
            ob.attrs[k] = v
        for k, (v, unit) in _si(obs, meta).items():
            ob.attrs[k] = v
            ob.attrs[k + "_unit"] = unit
        if tr is not None:
            _write_series(fh, model, tr)
        if "relaxation" in summary:
            rg = fh.create_group("relaxation")
            rg["f"], rg["n"] = model.split(summary.pop("_relaxation_state"))
            rg.attrs.update(summary["relaxation"])
    os.replace(h5_tmp, h5)
    summary["output"] = h5
    if wants_figures(case):  # [output] figures = false: no PNG (fvqp plot draws it)
        png = os.path.join(out_dir, figure_name(case.name, tc["steady"]))
        figure(png, h5, None if tr is None else os.path.join(out_dir,
                                                              f"{case.name}_series.csv"))
        summary["figure"] = png
    summary["keys"] = key_numbers(case.units, obs, model.grid.delta,
                                  None if tr is None else t_final)
    return summary  # its key numbers are logged once, by ModelResult.report (run_model)


def _transient(model: Kinetics0D, meta: dict, case, out_dir: str, y0: np.ndarray,
               solvers: dict, resume: bool, max_steps: int | None,
               summary: dict) -> tuple[TransientState, np.ndarray]:
    """Checkpointed TS run (and the optional time-relaxation run), its
    ``<case>_series.csv``; fills ``summary``. TS options: ``[solver] ts`` under
    ``<prefix>ts_`` (``solvers``: :func:`solver_options`)."""
    d = case.values
    tc = d["time"]
    t_end = tc["end"]
    ckpt = checkpoint_path(out_dir)
    g = model.grid
    grid = {"layout": g.layout, "n": g.n, "n_ph": g.n_ph, "h": g.h}
    fmt = si_time(case.units)  # log lines in SI ("45.66 µs")
    if resume:
        from ...io.checkpoint import CheckpointError

        st = TransientState.load(ckpt, case.digest)
        old = {"layout": "centred (before the vertex grid)"} if not st.grid else st.grid
        if old.get("layout") != g.layout or any(
                not np.isclose(old.get(k, np.nan), grid[k], rtol=1e-12, atol=0)
                for k in ("n", "n_ph", "h")):
            raise CheckpointError(
                f"checkpoint {ckpt} holds a state on another energy grid ({old}) than this "
                f"version builds for the case ({grid}; kinetics0d uses the vertex grid, "
                "fvqp.collisions.grid). Fix: run the case again with --overwrite instead of "
                "--resume (starts anew; the old outputs are replaced).")
        if st.t > t_end * (1 + 1e-14):
            refuse_earlier_end(f"the checkpoint {ckpt}", st.t * meta["tau0_s"],
                               t_end * meta["tau0_s"])
        log.info("resumed from %s at t = %s (%.4g tau0, step %d) to [time] end = %s",
                 ckpt, fmt(st.t), st.t, st.steps, fmt(t_end))
    else:
        st = TransientState(t=0.0, y=y0.copy(), dt=tc["dt_initial"] or 1e-3,
                            out_times=sorted(d["output"]["times"]),
                            grid=grid)
    opts = {"ts_bdf_order": 1 if tc["scheme"] == "bdf1" else 2, **solvers["ts_options"]}
    csv = os.path.join(out_dir, f"{case.name}_series.csv")

    def series(state: TransientState) -> None:  # after every checkpoint and at the end
        write_series(csv, case.units, state.series, meta["volume_m3"])

    st, status, message = integrate_checkpointed(
        model, st, t_end, rtol=tc["rtol"], atol=default_atol(model, y0, tc["rtol"]),
        checkpoint=ckpt, digest=case.digest, every=d["output"]["checkpoint_every"],
        max_steps=max_steps, prefix=solvers["ts_prefix"], options=opts, time_format=fmt,
        on_checkpoint=series)
    series(st)
    summary.update(status=status, message=message, steps=st.steps,
                   rejected_steps=st.rejected_steps,
                   newton_iterations=st.newton_iterations)
    rel = d["relaxation"]
    if rel["enabled"] and status == 0:
        summary["relaxation"], summary["_relaxation_state"] = _relaxation(
            model, y0, st.y, t_end, rel)
    return st, st.y


def _relaxation(model: Kinetics0D, y0: np.ndarray, y_ts: np.ndarray, t_end: float,
                rel) -> tuple[dict, np.ndarray]:
    """Time-relaxation run (Eqs. 46-51) over the same interval, compared with TS
    (``rel``: the internal ``[relaxation]`` table, times in tau0)."""
    dt_r = rel.get("dt") or 0.05
    y_r, rr = relax(model, y0, dt_r, t_end=t_end, order=rel["order"])
    nq = model.grid.n
    w = model.grid.qp_weights
    info = {"order": rel["order"], "dt_over_tau0": dt_r, "steps": rr.steps,
            "limited": rr.limited, "wall_time_s": rr.wall_time,
            "max_abs_diff_vs_ts": float(np.max(np.abs(y_r - y_ts))),
            "n_qp_rel_diff_vs_ts": float(abs(w @ (y_r[:nq] - y_ts[:nq])) / (w @ y_ts[:nq])),
            "min_value": float(np.min(y_r)), "max_f": float(np.max(y_r[:nq]))}
    return info, y_r


def _write_series(fh, model: Kinetics0D, st: TransientState) -> None:
    ts = fh.create_group("timeseries")
    for k, v in st.series.items():
        ts[k] = np.asarray(v)
    ts.attrs["units"] = "t in tau0; n_qp in 4 N0 kTc; energies in 4 N0 (kTc)^2"
    if st.snap_t:
        ts["snapshot_t"] = np.array(st.snap_t)
        ts["snapshot_f"] = np.array([model.split(y)[0] for y in st.snap_y])
        ts["snapshot_n"] = np.array([model.split(y)[1] for y in st.snap_y])

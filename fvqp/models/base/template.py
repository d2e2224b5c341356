"""One run template for the mesh models.

    case → units → mesh → distribution → sources   (:meth:`MeshModel.build`)
         → integrator (steady Newton or BDF steps) (:meth:`MeshModel.steady` /
           :meth:`MeshModel.transient`, with :func:`.timeloop.run_checkpointed`)
         → writer → checkpoint → figures → summary  (here)

A mesh model subclasses :class:`MeshModel` and writes its physics: how a case becomes a
simulation (problem, sources, initial state), its declared output fields
(:class:`~fvqp.models.base.outputs.OutputField`, internal values converted to SI here)
and what a steady or transient run reports. The template owns the output directory, the
``.pvd`` writer, the PETSc options session (options fvqp inserted are removed when the
run ends), the failure rule (:mod:`.result`), the pictures of a finished run (rank 0,
``[output] figures``, :func:`draw_figures`), ``summary.json`` and the result.
:func:`run_model` is the same contract for the models without a mesh: it too writes
``summary.json`` (:func:`write_summary`) for every status, a failed run included.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import time
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np

from ...heap import give_back_freed_memory
from ...io.atomic import atomic_write_bytes
from ...io.output import OutputWriter
from ...parallel.tasks import TaskShare
from ...solvers.options import case_option_reads, declare_case_options, options_session
from ...solvers.result import ConvergenceError
from ...units import UnitSystem
from .interrupt import StopSignals, requested_stop
from .outputs import OutputField, to_output, unit_labels
from .result import ModelResult
from .timeloop import peak_rss_mb, resumable

__all__ = ["MeshModel", "RunContext", "draw_figures", "materials_entry", "reference_units",
           "run_model", "wants_figures", "write_summary"]


@dataclass
class RunContext:
    """What a steady or transient run of a mesh model works with.

    Attributes
    ----------
    case : fvqp.case.Case
    out_dir : str
    writer : fvqp.io.OutputWriter
        The ``.pvd`` series; :meth:`write` converts internal fields before writing.
    resume : bool
    max_steps : int or None
    declared : dict
        Field name -> :class:`OutputField` of this run.
    units : fvqp.units.UnitSystem
    """

    case: object
    out_dir: str
    writer: OutputWriter
    resume: bool
    max_steps: int | None
    declared: dict
    units: object

    def si(self, fields: dict) -> dict:
        """Internal-unit fields -> their declared SI units."""
        return to_output(self.units, fields, self.declared)

    def write(self, t: float, fields: dict) -> None:
        """Write a snapshot at internal time ``t`` of internal-unit ``fields``."""
        self.writer.write(self.units.to_si(t, "time"), self.si(fields))


class MeshModel:
    """Base class of the mesh models (module docstring): subclasses set :attr:`name`,
    :attr:`outputs` and implement :meth:`build`, :meth:`steady`, :meth:`transient`.

    Attributes
    ----------
    name : str
        Registry name; the logger is ``fvqp.<name>``.
    outputs : dict
        Field name -> :class:`OutputField` of the fields the model can write.
    """

    name: str = ""
    outputs: dict[str, OutputField] = {}
    #: summary entries shown in the end-of-run report (besides status, balances, work)
    key_numbers: tuple = ()
    #: the fields the run's picture shows, in order of preference (the first one the run
    #: wrote; default: its first written field), :func:`fvqp.post.figures.run_figures`
    figure_fields: tuple = ()

    @property
    def log(self) -> logging.Logger:
        return logging.getLogger(f"fvqp.{self.name}")

    # ---- the physics of a model ------------------------------------------------------
    def units(self, case):
        """The :class:`~fvqp.units.UnitSystem` of a case. A model that returns one here
        receives in :meth:`build` the case converted once to those units (an
        :class:`fvqp.case.InternalCase`); ``None`` (the default) hands :meth:`build` the
        SI :class:`fvqp.case.Case`."""
        return None

    def build(self, case, comm=None):
        """The simulation of a case (``dist``, ``units``, ``geometry`` attributes; an
        optional ``region_materials``, region name -> :class:`fvqp.materials.Material`,
        is recorded in ``summary.json``, :func:`materials_entry`). ``case`` is an
        :class:`fvqp.case.InternalCase` when :meth:`units` gives a unit system."""
        raise NotImplementedError

    def option_tables(self, case) -> list[tuple[str, dict, str]]:
        """The case's PETSc option tables as ``(prefix, options, table)``
        (:func:`case_option_tables`: ``[solver.petsc]`` under ``[solver] prefix``); a
        model with other tables returns them too. Their keys that no solver of the run
        read are reported at its end (:func:`report_unread_options`)."""
        return case_option_tables(case)

    def declared(self, sim) -> dict[str, OutputField]:
        """Output fields of this run (default :attr:`outputs`; cases may add fields)."""
        return dict(self.outputs)

    def steady(self, sim, ctx: RunContext) -> dict:
        """Solve the steady state, write it, return the summary entries."""
        raise NotImplementedError

    def transient(self, sim, ctx: RunContext) -> dict:
        """Integrate in time (snapshots, checkpoints), return the summary entries."""
        raise NotImplementedError

    def describe(self, sim) -> dict:
        """Extra summary entries (grids, material numbers ...)."""
        return {}

    def stoppable(self, sim) -> bool:
        """Whether the run's loop stops cleanly on SIGINT/SIGTERM (:mod:`.interrupt`:
        :func:`.timeloop.run_checkpointed`, :func:`.fixedstep.march_fixed` and bte's own
        loops check :func:`.interrupt.requested_stop` after every step); a model whose
        loop does not returns False and keeps Python's default handling."""
        return True

    def keeps_snapshots(self, sim) -> bool:
        """Whether a resumed run keeps the snapshots already written."""
        return True

    # ---- the template ----------------------------------------------------------------
    def run(self, case, output_dir: str | None = None, resume: bool = False,
            max_steps: int | None = None, comm=None) -> ModelResult:
        """Run a validated case; returns the :class:`ModelResult` (also written to
        ``summary.json``).

        Parameters
        ----------
        case : fvqp.case.Case
        output_dir : str, optional
            Overrides the case's ``[output] directory``.
        resume : bool
            Continue from the checkpoint in the output directory.
        max_steps : int, optional
            Stop (status 1, checkpoint left) after this many steps of this invocation.
        comm : optional
            Communicator of the run (default: PETSc's world).
        """
        with options_session():
            for table in self.option_tables(case):
                declare_case_options(*table)
            return self._run(case, output_dir, resume, max_steps, comm)

    def _run(self, case, output_dir, resume, max_steps, comm) -> ModelResult:
        start = time.perf_counter()
        case = resumable(case)  # checkpoints without [time] end: --resume may extend it
        u = self.units(case)
        sim = self.build(case if u is None else case.internal(u), comm)
        out_dir = output_dir or case.output_dir
        dist, u = sim.dist, sim.units
        if dist.rank == 0:
            os.makedirs(out_dir, exist_ok=True)
        declared = self.declared(sim)
        writer = OutputWriter(out_dir, case.name, dist, sim.geometry.points * u.length,
                              sim.geometry.cell_nodes, unit_labels(declared),
                              resume=resume and self.keeps_snapshots(sim),
                              region_names=sim.geometry.region_names)
        ctx = RunContext(case, out_dir, writer, resume, max_steps, declared, u)
        with StopSignals() if self.stoppable(sim) else nullcontext():
            try:
                summary = (self.steady(sim, ctx) if case.data["time"]["steady"]
                           else self.transient(sim, ctx))
            except ConvergenceError as exc:  # the failure rule: a status, not a traceback
                summary = {"status": -1, "message": f"not converged: {exc}"}
            sig = requested_stop(dist)
        if sig is not None:  # status 1: the CLI exits with 128 + the signal's number
            _record_stop(summary, sig)
        summary.setdefault("model", self.name)
        report_unread_options(summary, case, self.log if dist.rank == 0 else None,
                              dist.max_array)
        summary.update({"wall_time_s": time.perf_counter() - start,
                        "n_cells": int(dist.n_global), "ranks": dist.size,
                        "peak_rss_MB_per_rank": dist.max(peak_rss_mb())})
        summary.update(self.describe(sim))
        summary.update(extrusion(sim.geometry, u))
        if getattr(sim, "region_materials", None):
            summary["materials"] = materials_entry(sim.region_materials)
        if dist.rank == 0 and summary["status"] == 0 and wants_figures(case):
            give_back_freed_memory()  # the figures do not stack on the run's heap
            summary["figures"] = draw_figures(out_dir, summary, self.figure_fields,
                                              self.log)
        if dist.rank == 0:
            write_summary(out_dir, summary)
        (self.log.info if summary["status"] >= 0 else self.log.error)(
            "done: %s", summary["message"])
        result = ModelResult.from_summary(self.name, summary,
                                          out_dir if dist.rank == 0 else None)
        if dist.rank == 0:
            self.log.info("%s", result.report(self.key_numbers))
        return result


def case_option_tables(case) -> list[tuple[str, dict, str]]:
    """The case's ``[solver.petsc]`` under its ``[solver] prefix`` as ``(prefix, options,
    table)`` (none if the case has no such table or it is empty)."""
    data = getattr(getattr(case, "case", case), "data", None) or {}
    sv = data.get("solver") or {}
    if sv.get("prefix") is None or not sv.get("petsc"):
        return []
    return [(sv["prefix"], dict(sv["petsc"]), "[solver.petsc]")]


def report_unread_options(summary: dict, case, log: logging.Logger | None,
                          read_anywhere=None) -> None:
    """The declared case options that no solver of the run read on any rank
    (:func:`fvqp.solvers.options.case_option_reads`: a misspelt key, an option of a
    solver this case does not build, or one a solver never saw): listed in the summary as
    ``unread_options`` and in one warning (``log``; None on the ranks that do not log)
    that names the case file, the keys and the fix. The run's status is kept: its
    solvers ran with their defaults in place of those keys. ``read_anywhere``: the
    entry-wise maximum over the ranks of an array of 0/1 flags (collective; None on one
    rank): an option read on one rank only (the solver of a work unit) was read."""
    reads = case_option_reads()
    flags = np.array([float(read) for _, read in reads])
    if read_anywhere is not None:
        flags = read_anywhere(flags)
    unread = [entry for (entry, _), read in zip(reads, flags, strict=True) if not read]
    if not unread:
        return
    summary["unread_options"] = [f"{table} {key}" for table, key in unread]
    if log is not None:
        keys = ", ".join(f"{table} {key}" for table, key in unread)
        log.warning("%s: %s %s read by no solver of this run, which used their defaults "
                    "instead (a misspelt key, or not an option of the solvers this case "
                    "builds). Fix: correct or remove %s; -help on the command line lists "
                    "the options every solver reads", getattr(case, "path", "the case"),
                    keys, "was" if len(unread) == 1 else "were",
                    "it" if len(unread) == 1 else "them")


def _record_stop(summary: dict, sig: str) -> None:
    """``stopped_by`` of a run that received SIGINT/SIGTERM; when the run was complete
    anyway (status 0: the signal arrived during its last step, or during a steady solve,
    which is never cut) the message says that nothing was cut short (the CLI then exits
    0, not 128 + the signal)."""
    summary["stopped_by"] = sig
    if summary.get("status") == 0:
        summary["message"] = (f"{summary.get('message', '')} ({sig} received during the "
                              "last step or solve, which the run completed: nothing was "
                              "cut short)").lstrip()


def wants_figures(case) -> bool:
    """Whether a finished run draws its pictures: ``[output] figures`` (default true) of
    ``case``, a :class:`fvqp.case.Case` or an :class:`fvqp.case.internal.InternalCase`
    (the key has no dimension: the same value in both)."""
    data = case.data if hasattr(case, "data") else case.values
    return bool(data.get("output", {}).get("figures", True))


def draw_figures(out_dir: str, summary: dict, fields: tuple = (),
                 logger: logging.Logger | None = None) -> list[str]:
    """The run's main pictures (:func:`fvqp.post.figures.run_figures`: the main field at
    the last snapshot, the time series), called on rank 0 once the outputs are final;
    returns their file names (the ``figures`` entry of ``summary.json``). The pictures
    are not results: a rendering that fails is logged as a warning with its cause and the
    run keeps its status."""
    from ...post.figures import run_figures

    try:
        return [p.name for p in run_figures(out_dir, summary, fields)]
    except Exception as exc:  # noqa: BLE001 - VTK/matplotlib raise many kinds
        (logger or logging.getLogger("fvqp")).warning(
            "no figures (%s: %s); draw them with `fvqp plot %s`", type(exc).__name__, exc,
            out_dir)
        return []


def reference_units(data) -> UnitSystem:
    """The unit system of a mesh case (:mod:`fvqp.units`): of ``[units]
    reference_material``, else of the material of the first simulated region (database
    values: the units are a scale, the results in SI do not depend on them)."""
    from ...materials import get_material

    regions = data["regions"]
    active = [n for n, r in regions.items() if r.get("active", True)]
    ref = data["units"].get("reference_material") or regions[active[0]]["material"]
    return UnitSystem.from_material(get_material(ref))


def materials_entry(materials) -> dict:
    """The ``materials`` entry of ``summary.json`` (and ``fvqp info``): per region (or
    film, sphere) the material's name, every number with unit and source
    (:meth:`fvqp.materials.Material.provenance`), and the constants the case set
    (``overridden``: source "case override")."""
    from ...materials.database import CASE_OVERRIDE

    out = {}
    for region, mat in materials.items():
        if mat is None:
            continue
        constants = mat.provenance()
        out[region] = {"material": mat.name, "constants": constants,
                       "overridden": sorted(k for k, v in constants.items()
                                            if v["source"] == CASE_OVERRIDE)}
    return out


def run_model(name: str, run, case, output_dir: str | None = None, *,
              stoppable: bool = False, units=None, option_tables=None,
              **kwargs) -> ModelResult:
    """The run template's contract for models that are not mesh models (0D kinetics,
    Usadel networks, stochastic studies, the sphere): ``run(case, output_dir=...,
    **kwargs) -> summary dict`` inside an options session, a
    :class:`~fvqp.solvers.ConvergenceError` turned into ``status = -1`` with its message
    (the failure rule of :mod:`.result`), the summary completed with the run's wall time
    (``wall_time_s``, from this call) and the largest peak memory of its ranks
    (``peak_rss_MB_per_rank``), written to ``<output>/summary.json`` on rank 0
    (:func:`write_summary`, for every status: a failed or stopped run replaces the
    summary of an earlier run in the same directory) and wrapped in a
    :class:`ModelResult`. Bad input (:class:`fvqp.case.CaseError`) and other exceptions
    propagate and write nothing.

    ``stoppable``: the model's loop is :func:`.timeloop.run_checkpointed`, which stops
    cleanly on SIGINT/SIGTERM (:mod:`.interrupt`); other models keep Python's default
    handling (a KeyboardInterrupt; their sweeps keep every finished unit).
    ``units``: ``units(case) -> UnitSystem``; then ``run`` receives the case converted
    once to those units (:class:`fvqp.case.InternalCase`) instead of the SI case. A
    ``stoppable`` model's checkpoints leave ``[time] end`` out of the case digest
    (:func:`.timeloop.resumable`): ``--resume`` may extend the run. ``kwargs`` go to
    ``run``; a ``comm`` among them is the run's communicator (default: PETSc's world).
    ``option_tables``: the case's PETSc option tables (default
    :func:`case_option_tables`), whose keys no solver read are reported at the end
    (:func:`report_unread_options`).
    """
    start = time.perf_counter()
    log = logging.getLogger(f"fvqp.{name}")
    out_dir = output_dir or getattr(case, "output_dir", None)
    ranks = TaskShare(kwargs.get("comm"))
    if stoppable:
        case = resumable(case)
    if units is not None:
        case = case.internal(units(case))
    tables = case_option_tables(case) if option_tables is None else option_tables
    with options_session(), (StopSignals() if stoppable else nullcontext()) as stop:
        for table in tables:
            declare_case_options(*table)
        try:
            summary = dict(run(case, output_dir=output_dir, **kwargs))
        except ConvergenceError as exc:
            log.error("not converged: %s", exc)
            summary = {"status": -1, "message": f"not converged: {exc}"}
        if stop is not None and stop.received:
            _record_stop(summary, signal.Signals(stop.received).name)
        report_unread_options(summary, case, log if ranks.is_root else None,
                              lambda f: np.max(ranks.run_round([lambda: f] * ranks.size),
                                               axis=0))
    summary.setdefault("model", name)
    summary["wall_time_s"] = time.perf_counter() - start
    # one task per rank: every rank's peak, gathered on every rank
    summary["peak_rss_MB_per_rank"] = max(ranks.run_round([peak_rss_mb] * ranks.size))
    if ranks.is_root and out_dir:
        os.makedirs(out_dir, exist_ok=True)
        write_summary(out_dir, summary)
    result = ModelResult.from_summary(name, summary, out_dir)
    log.info("%s", result.report())
    return result


def write_summary(out_dir: str, summary: dict) -> None:
    """Write ``<out_dir>/summary.json`` atomically (:func:`fvqp.io.atomic.
    atomic_write_bytes`: a reader sees the previous summary or this one, never a part);
    numpy scalars are written as floats. Called on rank 0 by both run templates."""
    atomic_write_bytes(os.path.join(out_dir, "summary.json"),
                       json.dumps(summary, indent=2, default=float).encode())


def extrusion(geometry, units) -> dict:
    """The thickness of every region of a 2D mesh (``region_thickness_m``) or its
    cross-section on a 1D mesh (``region_cross_section_m2``), SI, so that per-volume fields
    of its snapshots can be integrated over regions (:func:`fvqp.post.series.time_series`);
    empty for a 3D mesh."""
    w = getattr(geometry, "widths", None)
    if geometry.dim >= 3 or w is None:
        return {}
    k = 3 - geometry.dim
    key = "region_thickness_m" if k == 1 else "region_cross_section_m2"
    return {key: {n: float(x) * units.length**k
                  for n, x in zip(geometry.region_names, w, strict=True)}}

r"""The transport model's physics on the run template (:class:`fvqp.models.base.MeshModel`):
how a case becomes a :class:`TransportProblem`, its Jacobian configuration, output fields,
steady and transient runs.

The driver receives the case in internal units (:class:`fvqp.case.InternalCase`, built
once by the run template in the units of :func:`transport_units`): energies in
:math:`k_BT_{c,ref}`, times in :math:`\tau_{0,ref}`, lengths in µm, particle numbers in
:math:`N_{0,ref}k_BT_{c,ref}\,\mu m^3`; only the material constants (SI, with the case's
per-region overrides, :func:`fvqp.models.base.schema.case_material`) are scaled here.
Per region (material ``m``, ratio :math:`r = T_{c,m}/T_{c,ref}`):

* the collision prefactors, state weight, diffusion constant and gaps of
  :func:`.regions.region_params`;
* tunnel rate per state :math:`2\tau_{0,ref}/(e^2R_TN_{0,ref}L^3)`, i.e. :math:`2/R_T` with
  the internal resistance (``UnitSystem.scales["resistance"]``), shared among the faces of
  the junction in proportion to their area (kinetics0d's :math:`\Gamma_T` per volume).
"""

from __future__ import annotations

import logging
import math
import time

import numpy as np

from ...materials import get_material
from ...mesh import case_sources
from ...solvers import BDFIntegrator, SteadySolver
from ...solvers.lagged import LaggedPreconditioner
from ...spectra import fermi_temperature
from ...spectra.bins import BinGrid
from ...units import E_CHARGE, UnitSystem
from ..base import MeshModel, OutputField, bdf_options, run_checkpointed, to_output
from ..base.balance import inflows
from ..base.meshstage import CaseMesh
from . import SPEC
from .problem import TransportProblem
from .regions import Boundary, SpectralSource, region_material, region_params, trap_phonon_density
from .solver_config import (
    assembled_preconditioner,
    collision_options,
    condensed_solve,
    jacobian_config,
    jacobian_mode,
    krylov_counts,
)
from .solver_config import petsc_options as _petsc
from .summary import balances_si, flow_resolution_si, number_unit

log = logging.getLogger("fvqp.transport")

#: a phonon source with more of its phonons than this above the grid's top + the gap is
#: reported (:meth:`TransportSimulation._warn_pair_tail`)
PAIR_TAIL_WARN = 1e-3

#: output fields: dimension and unit (``f_slice_<k>`` added per case, dimensionless)
OUTPUTS = {"qp_density": OutputField("number_density", "1/um^3"),
           "qp_excess": OutputField("number_density", "1/um^3"),
           "qp_energy_density": OutputField("energy_density", "J/m^3"),
           "phonon_energy_density": OutputField("energy_density", "J/m^3"),
           "gap": OutputField("energy", "ueV"), "T_eff": OutputField("temperature", "K"),
           "region": OutputField("dimensionless", "1")}

__all__ = ["TransportModel", "TransportSimulation", "run", "transport_units"]


def transport_units(data) -> UnitSystem:
    """The unit system of a transport case (SI ``case.data``): of ``[units]
    reference_material``, else of the material of the first simulated region that is not
    a trap (a trap may be a normal metal, or have no material at all)."""
    regions = data["regions"]
    active = [n for n, r in regions.items() if r.get("active", True)]
    sc_regions = [n for n in active if not regions[n].get("trap")]
    ref = data["units"].get("reference_material") or regions[sc_regions[0]]["material"]
    return UnitSystem.from_material(get_material(ref))


class TransportSimulation:
    """The transport model of one case, assembled on every rank.

    Parameters
    ----------
    case : fvqp.case.InternalCase or fvqp.case.Case
        The case in the internal units of :func:`transport_units` (built once by the run
        template); an SI case (scripts, tests) is converted here the same way.
    comm : petsc4py communicator, optional
    """

    def __init__(self, case, comm=None):
        if not hasattr(case, "values"):  # an SI case: convert it once
            case = case.internal(transport_units(case.data))
        self.case, d = case, case.values
        self.units = u = case.units
        regions = d["regions"]
        mesh = CaseMesh.read(case, SPEC.dimension_keys)
        raw, widths = mesh.raw, mesh.widths
        sc_regions = [n for n in mesh.active if not regions[n].get("trap")]
        ref = d["units"].get("reference_material") or regions[sc_regions[0]]["material"]
        self.T_bath = d["bath"]["temperature"]
        params = [None] * len(raw.region_names)
        #: region name -> Material (with the case's overrides; recorded in summary.json)
        self.region_materials = {}
        for ri, name in enumerate(raw.region_names):
            reg = regions[name]
            mat = region_material(reg, ref)
            if reg.get("material"):
                self.region_materials[name] = mat
            # the BCS gap's reduced temperature T/Tc_m with the material's SI Tc
            params[ri] = region_params(mat, reg, u, case.case.data["bath"]["temperature"],
                                       raw.dim)
        trap_phonon_density(params)
        self.params = params
        # the superconducting regions' gaps by name (the grid's sources and their regions)
        gaps = {n: p.gap for n, p in zip(raw.region_names, params, strict=True)
                if not p.trap}
        self.geometry, self.dist = mesh.distribute(d["mesh"]["scale"], comm)
        self.self_consistent = d["gap"]["self_consistent"]
        problem_bcs = self._boundaries()
        self.grid = self._grid(gaps, problem_bcs)
        self._check_slices()
        self._warn_pair_tail(gaps)
        action, spectra, precision, quiet, balance = collision_options(d)
        self.problem = TransportProblem(self.dist, self.grid, params, widths, problem_bcs,
                                        self._sources(), self.T_bath, self.self_consistent,
                                        collisions=d["numerics"]["collisions"],
                                        jacobian=jacobian_mode(d, self.geometry.n_cells,
                                                               self.grid),
                                        action=action, spectra=spectra,
                                        precision=precision, quiet=quiet,
                                        balance=balance)
        #: how Newton's Jacobian is formed (a solver configuration, not physics) and
        #: whether the schur preconditioner is lagged across Newton iterations and steps
        self.jacobian, self.lagged = jacobian_config(self.problem, d)
        #: the schur preconditioner is the exact condensed solve (outer KSP preonly)
        self.condensed = condensed_solve(self.jacobian)
        self._t_initial = d["initial"].get("temperature") or None
        if self.self_consistent:
            self.problem.update_gap(self.local(self.x0))

    def petsc_options(self) -> dict:
        """PETSc options of the outer Newton solve (:func:`.solver_config.petsc_options`
        for this case's Jacobian configuration)."""
        return _petsc(self.case, self.problem.jacobian, self.lagged, self.condensed)

    @property
    def x0(self) -> np.ndarray:
        """Owned unknowns of the initial state (equilibrium at ``[initial] temperature``),
        made on request: the integrator keeps its own copy, so no second state-length
        array lives through the run (issue 18 §1)."""
        return self.problem.equilibrium(self._t_initial)

    def local(self, x_owned: np.ndarray) -> np.ndarray:
        """Owned + ghost unknowns of owned values."""
        v = self.problem.dist.create_vec()
        v.setArray(x_owned)
        out = self.problem.dist.local_array(v)
        v.destroy()
        return out

    # ---- set-up pieces ------------------------------------------------------------------
    def _grid(self, gaps: dict, bcs: dict) -> BinGrid:
        """The QP bins (:func:`.grid.bin_grid`) for the regions' ``gaps`` (name -> gap)
        and the tunnel junctions of the boundary conditions ``bcs``."""
        from .grid import bin_grid, source_gaps

        d = self.case.values
        tunnels = [(b.bias, b.temperature) for b in bcs.values() if b.kind == "tunnel"]
        sources = d.get("sources") or []
        return bin_grid(d["energy"], gaps.values(), self.T_bath, sources,
                        self.self_consistent, tunnels, source_gaps(sources, gaps))

    def _boundaries(self) -> dict:
        d = self.case.values
        out = {}
        for name, bc in (d.get("boundaries") or {}).items():
            if bc["type"] == "tunnel":
                # 2 tau0 / (e^2 R_T N0 L^3) with R_T in UnitSystem.scales["resistance"]
                out[name] = Boundary("tunnel", rate=2.0 / bc["resistance"], bias=bc["bias"],
                                     temperature=bc.get("temperature") or self.T_bath)
            else:
                out[name] = Boundary(bc["type"])
        for name in self.geometry.boundary_names:
            out.setdefault(name, Boundary("insulating"))
        return out

    def _sources(self) -> list[SpectralSource]:
        return [SpectralSource(s["type"], w, prof, s["energy"], s["width"])
                for s, w, prof in case_sources(self.dist, self.geometry, self.case.values)]

    # ---- observables ----------------------------------------------------------------------
    def cell_observables(self, x_owned: np.ndarray) -> dict:
        """Per owned cell, internal units: QP density and excess, energy densities, gap,
        effective temperature (the T whose Fermi function gives the same QP density)."""
        p, g = self.problem, self.grid
        n = p.n
        y = x_owned.reshape(n, p.B)
        f, ph = y[:, :p.N], y[:, p.N:]
        vol = p.loc.volume[:n, None]
        nf = p.m_f[:n] / vol
        nq = np.sum(nf * f, axis=1)
        out = {"qp_density": nq,
               "qp_excess": np.sum(nf * (f - p.f_bath), axis=1),
               "qp_energy_density": np.sum(nf * f * g.e, axis=1),
               "phonon_energy_density": np.sum(p.m_n[:n] / vol * ph * g.omega, axis=1),
               "gap": p.delta[:n].copy()}
        out["T_eff"] = np.where(p.trap[:n], self.T_bath,  # traps hold the bath
                                fermi_temperature(nf, g.e, nq, 1e-2 * self.T_bath, 50.0))
        return out

    def fields(self, x_owned: np.ndarray, names) -> dict:
        """Output fields of the owned cells in SI (:data:`OUTPUTS`)."""
        return to_output(self.units, self.internal_fields(x_owned, names),
                         self.declared_outputs())

    def internal_fields(self, x_owned: np.ndarray, names) -> dict:
        """Output fields of the owned cells in internal units."""
        p = self.problem
        obs = self.cell_observables(x_owned)
        out = {k: obs[k] for k in OUTPUTS if k in names and k in obs}
        if "f_slices" in names:
            y = x_owned.reshape(p.n, p.B)
            for k, i in enumerate(self.slice_bins()):
                out[f"f_slice_{k}"] = y[:, i].copy()
        if "region" in names:
            out["region"] = p.loc.cell_region[:p.n].astype(float)
        return out

    def declared_outputs(self) -> dict:
        """:data:`OUTPUTS` plus this case's ``f_slice_<k>`` fields."""
        return {**OUTPUTS, **{f"f_slice_{k}": OutputField("dimensionless", "1")
                              for k in range(len(self.slice_energies()))}}

    def _warn_pair_tail(self, gaps: dict) -> None:
        """A warning (rank 0) for each phonon source of which more than
        :data:`PAIR_TAIL_WARN` of the phonons lie above the grid's top + the gap of its
        regions (:func:`.grid.pair_tail`: they lose the pairs with a gap-edge QP and
        escape more than they should); a grid that cuts the source's centre is refused
        at ``fvqp check``."""
        import os

        from ..spec import ueV, ueV_at_least
        from .grid import pair_tail, pair_top, source_gaps

        sources = self.case.values.get("sources") or []
        top = float(self.grid.edges[-1])
        for i, (s, gap) in enumerate(zip(sources, source_gaps(sources, gaps), strict=True)):
            frac = pair_tail(s, gap, top) if s["type"] == "phonon" else 0.0
            if frac > PAIR_TAIL_WARN and self.dist.rank == 0:
                need = self.units.to_si(pair_top(s, gap), "energy")
                log.warning("%s: energy.e_max: %.3g of the phonons of sources[%d] lie above "
                            "the grid's top plus the gap (%s): they lose the pairs with a "
                            "QP at the gap edge and escape more than they should (fewer "
                            "QPs). Fix: raise e_max to at least %s, or leave it out.",
                            os.path.basename(self.case.path), frac, i,
                            ueV(self.units.to_si(top + gap, "energy")), ueV_at_least(need))

    def _check_slices(self) -> None:
        """Every ``[slices] energies`` entry within the QP bins (first to last edge), else
        a :class:`~fvqp.case.loader.CaseError` naming the key, the file, the range and the
        fix (as bte and phonon do; the nearest bin of an energy outside would be a bin
        far from it)."""
        import os

        from ...case.loader import CaseError
        from ...case.schema import Errors
        from ...case.slices import check_slice_energies

        err = Errors(os.path.basename(self.case.path))
        lo, hi = (self.units.to_si(float(x), "energy")
                  for x in (self.grid.edges[0], self.grid.edges[-1]))
        check_slice_energies(self.case.case.data, err, lo, hi, "energy bins",
                             below="the bins start at the smallest gap: there are no QP "
                             "states below", above="or raise [energy] e_max")
        if err.items:
            raise CaseError(err.items)

    def slice_bins(self) -> list[int]:
        """The QP bin nearest each ``[slices] energies`` entry."""
        return [int(np.argmin(np.abs(self.grid.e - e)))
                for e in self.case.values["slices"]["energies"]]

    def slice_energies(self) -> list[float]:
        """Node energies (internal) of the slices' bins :meth:`slice_bins` (as ``bte`` and
        ``phonon``: the summary reports the energies used, not the requested ones)."""
        return [float(self.grid.e[i]) for i in self.slice_bins()]

    def totals(self, x_owned: np.ndarray) -> dict:
        """Global QP number, QP energy, phonon energy (internal units)."""
        part = self.problem.totals(x_owned)
        return {k: self.dist.sum(v) for k, v in part.items()}


class TransportModel(MeshModel):
    """The transport model on the run template."""

    name = "transport"
    outputs = OUTPUTS
    key_numbers = ("N_qp", "t_end_s", "power_imbalance_W")
    figure_fields = ("qp_excess", "qp_density")  # the picture of a run

    def units(self, case) -> UnitSystem:
        return transport_units(case.data)

    def build(self, case, comm=None) -> TransportSimulation:
        return TransportSimulation(case, comm)

    def declared(self, sim: TransportSimulation) -> dict:
        return sim.declared_outputs()

    def steady(self, sim: TransportSimulation, ctx) -> dict:
        return _steady(sim, ctx.writer)

    def transient(self, sim: TransportSimulation, ctx) -> dict:
        return _transient(sim, ctx.writer, ctx.out_dir, ctx.resume, ctx.max_steps)

    def describe(self, sim: TransportSimulation) -> dict:
        g, u = sim.grid, sim.units
        ueV = E_CHARGE * 1e-6
        schur = getattr(sim.jacobian.preconditioner, "pc", None)
        storage = {"schur_storage": schur.storage} if hasattr(schur, "storage") else {}
        if storage.get("schur_storage") == "cells":  # and how the cell blocks are kept
            storage["schur_block_values"] = schur.block_values
        return {"jacobian": sim.problem.jacobian,   # the mode `auto` chose
                **storage,                          # the storage `auto` chose
                "energy_grid": {"qp_bins": g.n, "phonon_nodes": g.n_ph,
                                "spacing_ueV": u.to_si(g.h, "energy") / ueV,
                                "e_min_ueV": u.to_si(g.edges[0], "energy") / ueV,
                                "e_max_ueV": u.to_si(g.e_max, "energy") / ueV},
                "slice_energies_ueV": [u.to_si(e, "energy") / ueV
                                       for e in sim.slice_energies()]}


def run(case, output_dir: str | None = None, resume: bool = False,
        max_steps: int | None = None, comm=None):
    """Run a transport case; returns the :class:`~fvqp.models.base.ModelResult` (also
    written to ``summary.json``)."""
    return TransportModel().run(case, output_dir, resume, max_steps, comm)


def _steady(sim, writer) -> dict:
    p, case = sim.problem, sim.case
    d = case.values
    solver = SteadySolver(p, d["solver"]["prefix"], sim.petsc_options(), sim.jacobian)
    assembled_preconditioner(solver.nonlinear, p, d)
    x = p.dist.create_vec()
    x.setArray(sim.x0)
    its = 0
    gap_iterations, change = 0, 0.0
    while True:
        scale = math.sqrt(sim.dist.sum(float(np.sum(p.rhs(sim.local(x.getArray()), 0.0,
                                                          math.inf) ** 2)))) or 1.0
        res = solver.nonlinear.solve(x, atol=1e-13 * scale)
        its += res.iterations
        if not sim.self_consistent:
            break
        change = sim.dist.max(p.update_gap(p.dist.local_array(x), d["gap"]["relaxation"]))
        gap_iterations += 1
        d0 = max(pp.delta0 for pp in sim.params)
        if change <= d["gap"]["tolerance"] * d0:
            break
        if gap_iterations >= d["gap"]["max_iterations"]:
            from ...solvers.result import ConvergenceError

            raise ConvergenceError(
                f"the self-consistent gap did not converge in {gap_iterations} iterations "
                f"(last change {change:.3e} kTc_ref); raise [gap] max_iterations or "
                "tolerance.")
    xo = x.getArray().copy()
    rates = {k: sim.dist.sum(v) for k, v in p.rates(p.dist.local_array(x), 0.0,
                                                    math.inf).items()}
    writer.write(0.0, sim.fields(xo, d["output"]["fields"]))
    u = sim.units
    power = inflows(rates, u.scales["power"], kind="E")
    number = inflows(rates, number_unit(u) / u.tau0, kind="N")
    tot = sim.totals(xo)
    return {"status": 0, "message": f"steady state: {res.message}", "steady": True,
            "newton_iterations": its, **krylov_counts(solver.nonlinear, sim.jacobian),
            "gap_iterations": gap_iterations, "residual_norm": res.residual_norm,
            "power_W": power, "power_imbalance_W": sum(power.values()),
            "qp_rates_per_s": number,
            "N_qp": tot["N_qp"] * number_unit(u)}


def _transient(sim, writer, out_dir, resume, max_steps) -> dict:
    case, u, p = sim.case, sim.units, sim.problem
    d = case.values
    opts, t_end = bdf_options(d["time"], d["time"]["atol"])  # an occupation
    totals0 = sim.totals(sim.x0)
    p.flow_tolerance = (opts.atol, opts.rtol)  # the flows' resolution beside the flows
    integ = BDFIntegrator(p, sim.x0, 0.0, d["solver"]["prefix"],
                          sim.petsc_options(), opts, jacobian=sim.jacobian)
    assembled_preconditioner(integ.solver, p, d)
    names = d["output"]["fields"]

    def on_accept(it):
        if sim.self_consistent:
            p.update_gap(sim.local(it.x))

    t_start = time.perf_counter()
    result, extra = run_checkpointed(
        integ, t_end=t_end, writer=writer, snapshot=lambda it, t0, t1: sim.fields(it.x, names),
        units=u, out_dir=out_dir, digest=case.digest, extra={"totals": totals0},
        resume=resume, stop_times=list(d["output"]["times"]),
        every=d["output"]["every"], checkpoint_every=d["output"]["checkpoint_every"],
        max_steps=max_steps, on_accept=on_accept, logger=log,
        series=lambda it, extra: balances_si(sim, extra["totals"], sim.totals(it.x),
                                           it.accumulated))
    stepping = time.perf_counter() - t_start
    tot1 = sim.totals(integ.x)
    pc = sim.jacobian.preconditioner
    lag = {"preconditioner_builds": pc.builds, "preconditioner_reuses": pc.reuses,
           "preconditioner_rebuild_reasons": dict(pc.reasons)} \
        if isinstance(pc, LaggedPreconditioner) else {}
    balances = balances_si(sim, extra["totals"], tot1, integ.accumulated)
    cpu = {**p.cpu, **getattr(pc, "cpu", {})}
    lag["cpu_s"] = {k: v[1] for k, v in cpu.items()}
    lag["cpu_calls"] = {k: v[0] for k, v in cpu.items()}
    return {"status": result.status, "message": result.message, "time_stepping_s": stepping,
            **lag,
            "t_end_s": u.to_si(integ.t, "time"), "steps": result.steps,
            "rejected_steps": result.rejected_steps, "failed_solves": result.failed_solves,
            "newton_iterations": result.newton_iterations,
            **krylov_counts(integ.solver, sim.jacobian),
            "N_qp": tot1["N_qp"] * number_unit(u),  # a key number, as in steady runs
            **balances,
            "flow_resolution": flow_resolution_si(sim, integ.accumulated, balances, opts)}

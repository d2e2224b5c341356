"""The heat model's physics on the run template (:class:`fvqp.models.base.MeshModel`):
how a case becomes a :class:`HeatProblem`, its output fields, steady and transient runs."""

from __future__ import annotations

import logging
import math

import numpy as np

from ...mesh import Source, case_sources
from ...solvers import BDFIntegrator, SteadySolver
from ...solvers.options import FILM_GAMG
from ...units import UnitSystem
from ..base import MeshModel, OutputField, bdf_options, run_checkpointed, to_output
from ..base.meshstage import CaseMesh
from ..base.schema import case_material
from ..base.template import reference_units
from . import SPEC
from .problem import BoundaryCondition, HeatProblem
from .properties import HeatMaterial

log = logging.getLogger("fvqp.heat")

#: PETSc defaults under the case's prefix; [solver.petsc] and the command line override.
#: The preconditioner is algebraic multigrid (GAMG, smoothed aggregation: PETSc's own
#: two-level/multilevel method, the coarse space that keeps Krylov counts independent of
#: the ranks). A time step of the burst is diffusion dominated (3D absorber at 0.2 ns
#: steps: heat capacity / dt is 0.5-15 % of the diagonal), so a one-level block Jacobi
#: loses the coupling across the rank cut: Krylov per Newton with block Jacobi/ILU(0)
#: 5.1, 13.1, 16.5, 22.8 at 1, 2, 4, 8 ranks (coarse absorber, 520 cells) and 5.8, 10.5,
#: 44.9, 47.5 (fine, 11 680 cells). GAMG with the strength threshold 0.02 (thin films:
#: drops the weak in-plane couplings of the flat cells from the aggregation graph):
#: 9.97, 9.97, 10.0, 9.97 (coarse) and 10.0 at 1 and 8 ranks (fine); without the
#: threshold 23-28 (benchmarks/mesh_scaling.py, 2026-11-22; tests/test_rank_scaling.py).
#: The ILU options below apply when a case asks for ``pc_type = "bjacobi"`` or ``"asm"``.
DEFAULT_PETSC = {
    "snes_type": "newtonls", "snes_linesearch_type": "bt", "snes_rtol": 1e-10,
    "snes_stol": 1e-12, "snes_max_it": 30,
    "ksp_type": "gmres", "ksp_rtol": 1e-12, "ksp_atol": 1e-300, "ksp_max_it": 2000,
    **FILM_GAMG,
    # aggregate anew at every setup: with the interpolation reused, a resumed run (its
    # first setup at the restored state) took other Krylov paths than the uninterrupted
    # run (linear iterations 2424 vs 1164 after 42 steps of heat_film_trap)
    "pc_gamg_reuse_interpolation": False,
    "sub_pc_type": "ilu",
    # far below Tc heat capacities are ~e^(-Delta/T): pivots of 1e-35 are genuine, not zero
    "sub_pc_factor_zeropivot": 0.0,
}
#: steady problems are pure diffusion with exponentially varying kappa: algebraic multigrid
#: converges where ILU-GMRES stalls (measured: 16 vs > 500 iterations on the film case)
STEADY_PETSC = {"pc_type": "gamg"}
#: output fields: dimension and unit (converted from internal units by the template)
OUTPUTS = {"temperature": OutputField("temperature", "K"),
           "gap": OutputField("energy", "ueV"),
           "energy_density": OutputField("energy_density", "J/m^3"),
           "qp_density": OutputField("number_density", "1/um^3"),
           "power_density": OutputField("power_density", "W/m^3"),
           "region": OutputField("dimensionless", "1")}


class HeatSimulation:
    """The heat model of one case, assembled and ready to run (on every rank).

    Parameters
    ----------
    case : fvqp.case.InternalCase
        The case in the internal units of :func:`fvqp.models.base.template.reference_units`
        (built once by the run template).
    comm : petsc4py communicator, optional
    """

    def __init__(self, case, comm=None):
        self.case = case
        self.units = u = case.units
        v = case.values
        mesh = CaseMesh.read(case, SPEC.dimension_keys)
        raw, widths = mesh.raw, mesh.widths
        self.materials = [None] * len(raw.region_names)
        #: region name -> Material (with the case's overrides; recorded in summary.json)
        self.region_materials = {}
        for ri, name in enumerate(raw.region_names):
            if name in mesh.active:
                mat = self.region_materials[name] = case_material(v["regions"][name])
                self.materials[ri] = HeatMaterial(mat, u)
        self.geometry, self.dist = mesh.distribute(v["mesh"]["scale"], comm)
        self.raw = raw
        self.T_bath = v["bath"]["temperature"]
        bcs = {}
        for name, bc in (v.get("boundaries") or {}).items():
            bcs[name] = BoundaryCondition(kind=bc["type"],
                                          temperature=bc.get("temperature") or self.T_bath,
                                          flux=bc.get("flux") or 0.0)
        self.problem = HeatProblem(self.dist, self.materials, widths, bcs, self._sources())
        self.T0 = np.full(self.dist.local.n_owned,
                          v["initial"].get("temperature") or self.T_bath)

    def _sources(self) -> list[Source]:
        return [Source(w, prof) for _, w, prof in case_sources(
            self.dist, self.geometry, self.case.values, amount_key="energy")]

    # ---- fields ------------------------------------------------------------------------
    def fields(self, T_owned: np.ndarray, t0: float, t1: float, names) -> dict:
        """Output fields of the owned cells in SI (:data:`OUTPUTS`)."""
        return to_output(self.units, self.internal_fields(T_owned, t0, t1, names), OUTPUTS)

    def internal_fields(self, T_owned: np.ndarray, t0: float, t1: float, names) -> dict:
        """Output fields of the owned cells in internal units."""
        n = self.dist.local.n_owned
        reg = self.dist.local.cell_region[:n]
        out = {}
        if "temperature" in names:
            out["temperature"] = T_owned
        per = {"gap": "gap", "energy_density": "U", "qp_density": "qp_density"}
        for f, attr in per.items():
            if f in names:
                v = np.zeros(n)
                for r, m in enumerate(self.materials):
                    if m is not None and np.any(reg == r):
                        v[reg == r] = getattr(m, attr)(T_owned[reg == r])
                out[f] = v
        if "power_density" in names:
            p = sum((s.power(t0, t1) for s in self.problem.sources), np.zeros(n))
            out["power_density"] = p / self.dist.local.volume[:n]
        if "region" in names:
            out["region"] = reg.astype(float)
        return out

    def total_energy(self, T_owned: np.ndarray) -> float:
        """Energy stored in the quasiparticle system (internal units), all ranks."""
        return self.dist.sum(self.problem.conserved(T_owned).sum())


class HeatModel(MeshModel):
    """The heat model on the run template."""

    name = "heat"
    outputs = OUTPUTS
    key_numbers = ("max_temperature_K", "peak_temperature_K", "t_end_s")

    def units(self, case) -> UnitSystem:
        return reference_units(case.data)

    def build(self, case, comm=None) -> HeatSimulation:
        return HeatSimulation(case, comm)

    def steady(self, sim: HeatSimulation, ctx) -> dict:
        return _steady(sim, _petsc(sim.case), ctx.writer, ctx.case.data["output"]["fields"])

    def transient(self, sim: HeatSimulation, ctx) -> dict:
        return _transient(sim, sim.case, ctx.out_dir, _petsc(sim.case), ctx.writer,
                          ctx.case.data["output"]["fields"], ctx.resume, ctx.max_steps)


def _petsc(case) -> dict:
    """PETSc options under the case's prefix: defaults, then ``[solver.petsc]``."""
    d = case.values
    petsc = {**DEFAULT_PETSC, **(STEADY_PETSC if d["time"]["steady"] else {}),
             **d["solver"]["petsc"]}
    if petsc.get("pc_type") not in ("bjacobi", "asm"):  # no sub-solvers: no sub_ defaults
        petsc = {k: v for k, v in petsc.items()
                 if not k.startswith("sub_") or k in d["solver"]["petsc"]}
    if petsc.get("pc_type") != "gamg":  # no GAMG: no pc_gamg_ defaults
        petsc = {k: v for k, v in petsc.items()
                 if not k.startswith("pc_gamg_") or k in d["solver"]["petsc"]}
    return petsc


def run_heat(case, output_dir: str | None = None, resume: bool = False,
             max_steps: int | None = None, comm=None):
    """Run a heat case; returns the :class:`~fvqp.models.base.ModelResult` (also written
    to ``summary.json``); see :meth:`fvqp.models.base.MeshModel.run`."""
    return HeatModel().run(case, output_dir, resume, max_steps, comm)


def _steady(sim, petsc, writer, names) -> dict:
    p, dist = sim.problem, sim.dist
    n = dist.local.n_owned
    solver = SteadySolver(p, sim.case.values["solver"]["prefix"], petsc)
    # the residual's natural scale: the power driving the steady state (sources, fluxes)
    src = sum((np.abs(s.power(0.0, math.inf)) for s in p.sources), np.zeros(n))
    drive = np.sum(src**2) + np.sum((p.b_val * p.b_area)[p.b_kind == 1] ** 2)
    scale = math.sqrt(dist.sum(drive)) or 1.0
    T, res = solver.solve(sim.T0, atol=1e-12 * scale)
    x = dist.create_vec()
    x.setArray(T)
    xl = dist.local_array(x)
    x.destroy()
    rates = {k: dist.sum(v) for k, v in p.rates(xl, 0.0, math.inf).items()}
    writer.write(0.0, sim.fields(T, 0.0, math.inf, names))
    flows = {k: sim.units.to_si(v, "power") for k, v in rates.items()}
    log.info("steady state: %s in %d Newton / %d Krylov iterations; power balance %s",
             res.message, res.iterations, res.linear_iterations, flows)
    return {"status": 0, "message": f"steady state: {res.message}", "steady": True,
            "newton_iterations": res.iterations, "linear_iterations": res.linear_iterations,
            "residual_norm": res.residual_norm, "power_W": flows,
            "max_temperature_K": float(sim.units.to_si(dist.max(T.max()), "temperature"))}


def _transient(sim, case, out_dir, petsc, writer, names, resume, max_steps) -> dict:
    d, u, dist = case.values, sim.units, sim.dist
    opts, t_end = bdf_options(d["time"], d["time"]["atol"])
    dt0 = opts.dt_initial
    integ = BDFIntegrator(sim.problem, sim.T0, 0.0, d["solver"]["prefix"], petsc, opts)

    def snapshot(it, t0, t1):
        return sim.fields(it.x, t0, t1 if t1 > t0 else t0 + dt0, names)

    def series(it, extra):  # the energy balance of summary.json and the hottest cell,
        # after every step; the run's peak is kept in the checkpointed ``extra``
        tmax = float(u.to_si(dist.max(it.x.max()), "temperature"))
        extra["peak_temperature_K"] = max(extra.get("peak_temperature_K", tmax), tmax)
        return {"energy_J": _energy_balance(sim, float(extra["E0"]), it),
                "max_temperature_K": tmax}

    result, extra = run_checkpointed(
        integ, t_end=t_end, writer=writer, snapshot=snapshot, units=u, out_dir=out_dir,
        digest=case.digest, extra={"E0": sim.total_energy(sim.T0)}, resume=resume,
        stop_times=list(d["output"]["times"]),
        every=d["output"]["every"], checkpoint_every=d["output"]["checkpoint_every"],
        max_steps=max_steps, series=series, logger=log)
    return {"status": result.status, "message": result.message,
            "t_end_s": u.to_si(integ.t, "time"), "steps": result.steps,
            "rejected_steps": result.rejected_steps, "failed_solves": result.failed_solves,
            "newton_iterations": result.newton_iterations,
            "linear_iterations": result.linear_iterations,
            "energy_J": _energy_balance(sim, float(extra["E0"]), integ),
            "max_temperature_K": float(u.to_si(dist.max(integ.x.max()), "temperature")),
            # the hottest cell over the run (at the initial state and every step's end)
            "peak_temperature_K": extra.get("peak_temperature_K")}


def _energy_balance(sim, E0: float, integ) -> dict:
    """Energy [J]: initial, stored now (``final``), the accumulated flows, imbalance."""
    u = sim.units
    E = sim.total_energy(integ.x)
    acc = integ.accumulated
    return {"initial": u.to_si(E0, "total_energy"), "final": u.to_si(E, "total_energy"),
            **{k: u.to_si(v, "total_energy") for k, v in acc.items()},
            "imbalance": u.to_si((E - E0) - sum(acc.values()), "total_energy")}

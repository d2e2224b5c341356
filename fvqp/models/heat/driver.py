"""From a validated case to a finished heat run: build, solve, write, checkpoint, resume."""

from __future__ import annotations

import json
import logging
import math
import os
import time

import numpy as np

from ...io.atomic import atomic_write_bytes
from ...io.output import OutputWriter
from ...materials import get_material
from ...mesh import build_geometry, read_mesh
from ...parallel import Distribution
from ...solvers import BDFIntegrator, NonlinearSolver
from ...units import E_CHARGE, UnitSystem
from ..runloop import bdf_options, peak_rss_mb, run_checkpointed
from .problem import BoundaryCondition, HeatProblem
from .properties import HeatMaterial
from .sources import Source, placement, profile

log = logging.getLogger("fvqp.heat")

#: PETSc defaults under the case's prefix; [solver.petsc] and the command line override.
DEFAULT_PETSC = {
    "snes_type": "newtonls", "snes_linesearch_type": "bt", "snes_rtol": 1e-10,
    "snes_stol": 1e-12, "snes_max_it": 30,
    "ksp_type": "gmres", "ksp_rtol": 1e-12, "ksp_atol": 1e-300, "ksp_max_it": 2000,
    "pc_type": "bjacobi", "sub_pc_type": "ilu",
    # far below Tc heat capacities are ~e^(-Delta/T): pivots of 1e-35 are genuine, not zero
    "sub_pc_factor_zeropivot": 0.0,
}
#: steady problems are pure diffusion with exponentially varying kappa: algebraic multigrid
#: converges where ILU-GMRES stalls (measured: 16 vs > 500 iterations on the film case)
STEADY_PETSC = {"pc_type": "gamg"}
UNITS_SI = {"temperature": "K", "gap": "ueV", "energy_density": "J/m^3",
            "qp_density": "1/um^3", "power_density": "W/m^3", "region": "1"}


class HeatSimulation:
    """The heat model of one case, assembled and ready to run (on every rank).

    Parameters
    ----------
    case : fvqp.case.Case
    comm : petsc4py communicator, optional
    """

    def __init__(self, case, comm=None):
        self.case = case
        d = case.data
        regions = d["regions"]
        active = [n for n, r in regions.items() if r.get("active", True)]
        ref = d["units"].get("reference_material") or regions[active[0]]["material"]
        self.units = UnitSystem.from_material(get_material(ref))
        u = self.units
        raw = read_mesh(case.mesh_path).subset(active)
        widths = np.ones(len(raw.region_names))
        self.materials = [None] * len(raw.region_names)
        for ri, name in enumerate(raw.region_names):
            if name not in active:
                continue
            reg = regions[name]
            kind = {1: ("cross_section", "area"), 2: ("thickness", "length")}.get(raw.dim)
            if kind:
                widths[ri] = u.to_internal(reg[kind[0]], kind[1])
            over = {"Tc": reg["Tc"]} if reg.get("Tc") else {}
            mat = get_material(reg["material"], **over)
            self.materials[ri] = HeatMaterial(mat, u, reg.get("resistivity"))
        scale = d["mesh"]["scale"] / u.length
        self.geometry = build_geometry(raw, scale=scale, widths=widths, strict=False)
        self.raw = raw
        self.dist = Distribution(self.geometry, comm)
        self.T_bath = u.to_internal(d["bath"]["temperature"], "temperature")
        bcs = {}
        for name, bc in (d.get("boundaries") or {}).items():
            Tb = bc.get("temperature") or d["bath"]["temperature"]
            bcs[name] = BoundaryCondition(
                kind=bc["type"], temperature=u.to_internal(Tb, "temperature"),
                flux=u.to_internal(bc.get("flux") or 0.0, "heat_flux"))
        self.problem = HeatProblem(self.dist, self.materials, widths, bcs, self._sources())
        T0 = d["initial"].get("temperature") or d["bath"]["temperature"]
        self.T0 = np.full(self.dist.local.n_owned, u.to_internal(T0, "temperature"))

    def _sources(self) -> list[Source]:
        u, out = self.units, []
        for s in self.case.data.get("sources") or []:
            w = placement(self.dist, self.geometry, u, s, self.case.data["mesh"]["scale"])
            if s["type"] == "pulse":
                prof = profile(u, energy=s["energy"], centre=s["time"], duration=s["duration"])
            else:
                prof = profile(u, power=s["power"], start=s["start"], stop=s.get("stop"))
            out.append(Source(w, prof))
        return out

    # ---- fields ------------------------------------------------------------------------
    def fields(self, T_owned: np.ndarray, t0: float, t1: float, names) -> dict:
        """Output fields in SI (see :data:`UNITS_SI`)."""
        u, n = self.units, self.dist.local.n_owned
        reg = self.dist.local.cell_region[:n]
        out = {}
        if "temperature" in names:
            out["temperature"] = u.to_si(T_owned, "temperature")
        per = {"gap": "gap", "energy_density": "U", "qp_density": "qp_density"}
        for f, attr in per.items():
            if f in names:
                v = np.zeros(n)
                for r, m in enumerate(self.materials):
                    if m is not None and np.any(reg == r):
                        v[reg == r] = getattr(m, attr)(T_owned[reg == r])
                out[f] = v
        if "gap" in out:
            out["gap"] = u.to_si(out["gap"], "energy") / (E_CHARGE * 1e-6)  # J -> µeV
        if "energy_density" in out:
            out["energy_density"] = u.to_si(out["energy_density"], "energy_density")
        if "qp_density" in out:  # 1/m^3 -> 1/µm^3
            out["qp_density"] = u.to_si(out["qp_density"], "number_density") * 1e-18
        if "power_density" in names:
            p = sum((s.power(t0, t1) for s in self.problem.sources), np.zeros(n))
            out["power_density"] = u.to_si(p / self.dist.local.volume[:n], "power_density")
        if "region" in names:
            out["region"] = reg.astype(float)
        return out

    def total_energy(self, T_owned: np.ndarray) -> float:
        """Energy stored in the quasiparticle system (internal units), all ranks."""
        return self.dist.sum(self.problem.conserved(T_owned).sum())


def run_heat(case, output_dir: str | None = None, resume: bool = False,
             max_steps: int | None = None, comm=None) -> dict:
    """Run a heat case; returns a summary dict (also written to ``summary.json``).

    Parameters
    ----------
    case : fvqp.case.Case
    output_dir : str, optional
        Overrides the case's output directory.
    resume : bool
        Continue from ``checkpoint.h5`` in the output directory.
    max_steps : int, optional
        Stop (with a checkpoint) after this many time steps of this invocation.
    """
    sim = HeatSimulation(case, comm)
    out_dir = output_dir or case.output_dir
    d = case.data
    dist, u = sim.dist, sim.units
    prefix = d["solver"]["prefix"]
    steady = d["time"]["steady"]
    petsc = {**DEFAULT_PETSC, **(STEADY_PETSC if steady else {}), **d["solver"]["petsc"]}
    if petsc.get("pc_type") not in ("bjacobi", "asm"):  # no sub-solvers: no sub_ defaults
        petsc = {k: v for k, v in petsc.items()
                 if not k.startswith("sub_") or k in d["solver"]["petsc"]}
    names = d["output"]["fields"]
    if dist.rank == 0:
        os.makedirs(out_dir, exist_ok=True)
    writer = OutputWriter(out_dir, case.name, dist, sim.geometry.points * u.length,
                          sim.geometry.cell_nodes, UNITS_SI, resume=resume)
    t_start = time.perf_counter()
    if steady:
        summary = _steady(sim, prefix, petsc, writer, names)
    else:
        summary = _transient(sim, case, out_dir, prefix, petsc, writer, names, resume,
                             max_steps)
    summary["wall_time_s"] = time.perf_counter() - t_start
    summary["n_cells"] = int(dist.n_global)
    summary["ranks"] = dist.size
    summary["peak_rss_MB_per_rank"] = dist.max(peak_rss_mb())
    if dist.rank == 0:
        atomic_write_bytes(os.path.join(out_dir, "summary.json"),
                           json.dumps(summary, indent=2).encode())
    log.info("done: %s", summary["message"])
    return summary


def _steady(sim, prefix, petsc, writer, names) -> dict:
    p, dist = sim.problem, sim.dist
    n = dist.local.n_owned

    def residual(xl):
        return -p.rhs(xl, 0.0, math.inf)

    def jacobian(xl):
        return -p.rhs_jacobian(xl, 0.0, math.inf)

    solver = NonlinearSolver(dist, residual, jacobian, p.pattern, prefix, petsc)
    x = dist.create_vec()
    x.setArray(sim.T0)
    # the residual's natural scale: the power driving the steady state (sources, fluxes)
    src = sum((np.abs(s.power(0.0, math.inf)) for s in p.sources), np.zeros(n))
    drive = np.sum(src**2) + np.sum((p.b_val * p.b_area)[p.b_kind == 1] ** 2)
    scale = math.sqrt(dist.sum(drive)) or 1.0
    res = solver.solve(x, atol=1e-12 * scale)
    T = x.getArray()[:n].copy()
    xl = dist.local_array(x)
    rates = {k: dist.sum(v) for k, v in p.rates(xl, 0.0, math.inf).items()}
    writer.write(0.0, sim.fields(T, 0.0, math.inf, names))
    flows = {k: sim.units.to_si(v, "power") for k, v in rates.items()}
    log.info("steady state: %s in %d Newton / %d Krylov iterations; power balance %s",
             res.message, res.iterations, res.linear_iterations, flows)
    return {"status": 0, "message": f"steady state: {res.message}", "steady": True,
            "newton_iterations": res.iterations, "linear_iterations": res.linear_iterations,
            "residual_norm": res.residual_norm, "power_W": flows,
            "max_temperature_K": float(sim.units.to_si(dist.max(T.max()), "temperature"))}


def _transient(sim, case, out_dir, prefix, petsc, writer, names, resume, max_steps) -> dict:
    d, u, dist = case.data, sim.units, sim.dist
    opts, t_end = bdf_options(d["time"], u, u.to_internal(d["time"]["atol"], "temperature"))
    dt0 = opts.dt_initial
    integ = BDFIntegrator(sim.problem, sim.T0, 0.0, prefix, petsc, opts)

    def snapshot(it, t0, t1):
        return sim.fields(it.x, t0, t1 if t1 > t0 else t0 + dt0, names)

    result, extra = run_checkpointed(
        integ, t_end=t_end, writer=writer, snapshot=snapshot, units=u, out_dir=out_dir,
        digest=case.digest, extra={"E0": sim.total_energy(sim.T0)}, resume=resume,
        stop_times=[u.to_internal(t, "time") for t in d["output"]["times"]],
        every=d["output"]["every"], checkpoint_every=d["output"]["checkpoint_every"],
        max_steps=max_steps, logger=log)
    E0 = float(extra["E0"])
    E = sim.total_energy(integ.x)
    acc = integ.accumulated
    flows = {k: u.to_si(v, "total_energy") for k, v in acc.items()}
    imbalance = (E - E0) - sum(acc.values())
    return {"status": result.status, "message": result.message,
            "t_end_s": u.to_si(integ.t, "time"), "steps": result.steps,
            "rejected_steps": result.rejected_steps, "failed_solves": result.failed_solves,
            "newton_iterations": result.newton_iterations,
            "linear_iterations": result.linear_iterations,
            "energy_J": {"initial": u.to_si(E0, "total_energy"),
                         "final": u.to_si(E, "total_energy"), **flows,
                         "imbalance": u.to_si(imbalance, "total_energy")},
            "max_temperature_K": float(u.to_si(dist.max(integ.x.max()), "temperature"))}

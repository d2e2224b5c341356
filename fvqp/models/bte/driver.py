r"""From a validated ``bte`` case to a finished run: build, solve, write.

SI -> internal conversions (:mod:`fvqp.units`): energies in :math:`k_BT_{c,ref}`, times in
:math:`\tau_{0,ref}`, lengths in µm, so the Fermi velocity becomes
:math:`v_F\tau_0/1\,\mu m`; particle numbers in :math:`N_{0,ref}k_BT_{c,ref}\,\mu m^3`,
the state weight is :math:`4N_0/N_{0,ref}`. The gap is the BCS gap of the material at the
bath temperature and must be the same in every region (the streaming between regions of
different gaps — Andreev reflection, gap-edge refraction — is not modelled); the mean
free path defaults to :math:`\ell = d\,D/v_F` from the material's diffusion constant.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time

import numpy as np

from ...collisions.grid import bcs_gap
from ...io.atomic import atomic_write_bytes
from ...io.output import OutputWriter
from ...materials import get_material
from ...mesh import build_geometry, read_mesh
from ...parallel import Distribution
from ...solvers.result import ConvergenceError
from ...units import UnitSystem
from ..heat.sources import placement, profile
from ..runloop import peak_rss_mb
from ..transport.spectral import TransportGrid
from .problem import BTEProblem, Source
from .quadrature import circle, sphere

log = logging.getLogger("fvqp.bte")

UNITS_SI = {"qp_density": "1/um^3", "qp_excess": "1/um^3", "qp_energy_density": "J/m^3",
            "qp_current_x": "1/(um^2 s)", "qp_current_y": "1/(um^2 s)",
            "qp_current_z": "1/(um^2 s)", "region": "1"}
KIND = {"specular": "specular", "diffuse": "diffuse", "absorbing": "inflow",
        "bath": "inflow"}

__all__ = ["BTESimulation", "run"]


def fermi(e: np.ndarray, t: float) -> np.ndarray:
    return 0.5 * (1.0 - np.tanh(0.5 * np.asarray(e) / t))


class BTESimulation:
    """The bte model of one case, assembled on every rank."""

    def __init__(self, case, comm=None):
        self.case, d = case, case.data
        regions = d["regions"]
        ref = d["units"].get("reference_material") or next(iter(regions.values()))["material"]
        self.units = u = UnitSystem.from_material(get_material(ref))
        raw = read_mesh(case.mesh_path)
        if raw.dim == 1:
            raise ValueError("the bte model needs a 2D (film) or 3D mesh")
        self.T_bath = u.to_internal(d["bath"]["temperature"], "temperature")
        nreg = len(raw.region_names)
        widths, inv_mfp, trap = np.ones(nreg), np.zeros(nreg), np.zeros(nreg)
        props = []
        for ri, name in enumerate(raw.region_names):
            reg = regions[name]
            mat = get_material(reg["material"])
            if raw.dim == 2:
                widths[ri] = u.to_internal(reg["thickness"], "length")
            v_f = mat.fermi_velocity * u.tau0 / u.length
            if reg.get("ballistic"):
                inv_mfp[ri] = 0.0
            elif reg.get("mean_free_path"):
                inv_mfp[ri] = 1.0 / u.to_internal(reg["mean_free_path"], "length")
            else:
                D = mat.diffusion_constant or mat.diffusion_from_resistivity(mat.resistivity)
                inv_mfp[ri] = mat.fermi_velocity / (raw.dim * D) * u.length
            if reg.get("trap_time"):
                trap[ri] = 1.0 / u.to_internal(reg["trap_time"], "time")
            gap = bcs_gap(d["bath"]["temperature"] / mat.Tc, mat.gap_ratio) * mat.Tc / u.Tc
            props.append((gap, v_f, 4.0 * mat.N0 / u.N0))
        p0 = np.array(props[0])
        if any(np.any(np.abs(np.array(p) - p0) > 1e-9 * np.abs(p0)) for p in props):
            raise ValueError("every region of a bte case needs the same gap, Fermi velocity "
                             "and density of states (one material); interfaces between "
                             "different superconductors are not modelled")
        self.gap, self.v_f, self.weight = props[0]
        self.geometry = build_geometry(raw, scale=d["mesh"]["scale"] / u.length,
                                       widths=widths)
        self.dist = Distribution(self.geometry, comm)
        a = d["angles"]
        self.quad = circle(a["directions"]) if raw.dim == 2 else sphere(a["polar"], a["azimuth"])
        self.grid = self._grid()
        self.kinds, self.f_in = self._boundaries()
        self.f_bath = fermi(self.grid.e, self.T_bath)
        self.widths, self.trap, self.inv_mfp = widths, trap, inv_mfp
        self.problem = self.make_problem(inv_mfp)

    def make_problem(self, inv_mfp: np.ndarray) -> BTEProblem:
        """The discrete-ordinates problem with inverse mean free paths ``inv_mfp`` per
        region (the case's, or those of a sweep)."""
        d = self.case.data
        return BTEProblem(self.dist, self.quad, self.grid, self.gap, self.v_f, self.weight,
                          self.widths, inv_mfp, self.trap, self.kinds, self.f_in,
                          self.f_bath, self._sources(), prefix=d["solver"]["prefix"],
                          petsc=d["solver"]["petsc"],
                          preconditioner=d["numerics"]["preconditioner"])

    def _grid(self) -> TransportGrid:
        d, u = self.case.data, self.units
        e = d["energy"]
        h = u.to_internal(e["spacing"], "energy") if e.get("spacing") else self.T_bath / 4
        top = 12 * self.T_bath
        for s in d.get("sources") or []:
            top = max(top, u.to_internal(s["energy"] + 3 * s["width"], "energy") - self.gap)
        e_max = u.to_internal(e["e_max"], "energy") if e.get("e_max") else self.gap + top
        return TransportGrid.build(self.gap, h, e_max)

    def _boundaries(self) -> tuple[dict, dict]:
        d, u = self.case.data, self.units
        kinds, f_in = {}, {}
        for name, bc in (d.get("boundaries") or {}).items():
            kinds[name] = KIND[bc["type"]]
            if bc["type"] == "absorbing":
                f_in[name] = np.zeros(self.grid.n)
            elif bc["type"] == "bath":
                t = bc.get("temperature") or d["bath"]["temperature"]
                f_in[name] = fermi(self.grid.e, u.to_internal(t, "temperature"))
        return kinds, f_in

    def _sources(self) -> list[Source]:
        """QP sources: power / deposit profiles of :mod:`fvqp.models.heat.sources`; the
        spectrum is the transport model's (Gaussian times the DOS, normalised so that
        :math:`\\sum_j E_j s_j = 1`: particles per unit injected energy)."""
        from ..transport.spectral import cell_spectra

        u, g, out = self.units, self.grid, []
        rho = cell_spectra(g, np.array([self.gap]))[0][0]
        for s in self.case.data.get("sources") or []:
            w = placement(self.dist, self.geometry, u, s, self.case.data["mesh"]["scale"])
            if s.get("deposit") is not None:
                prof = profile(u, energy=s["deposit"], centre=s["time"], duration=s["duration"])
            else:
                prof = profile(u, power=s["power"], start=s["start"], stop=s.get("stop"))
            e0, wd = u.to_internal(s["energy"], "energy"), u.to_internal(s["width"], "energy")
            if wd > 0:
                shape = np.exp(-0.5 * ((g.e - e0) / wd) ** 2) * rho
            else:
                shape = np.zeros(g.n)
                shape[int(np.argmin(np.abs(g.e - e0)))] = 1.0
            spec = shape / float(shape @ g.e)

            def rate(t0, t1, prof=prof):
                return prof.steady_rate() if math.isinf(t1) else prof.amount(t0, t1) / (t1 - t0)

            out.append(Source(w, spec, rate))
        return out

    # ---- outputs ------------------------------------------------------------------------
    @property
    def n_unit(self) -> float:
        """One internal particle number in particles."""
        return self.units.scales["number_density"] * self.units.length**3

    def fields(self, x: np.ndarray, names) -> dict:
        """Owned-cell output fields in SI (:data:`UNITS_SI`)."""
        u, p = self.units, self.problem
        obs = p.fields(x)
        dens = u.to_si(1.0, "number_density") * 1e-18
        out = {}
        if "qp_density" in names:
            out["qp_density"] = obs["qp_density"] * dens
        if "qp_excess" in names:
            eq = p.weight * p.grid.h * float(p.rho @ self.f_bath)
            out["qp_excess"] = (obs["qp_density"] - eq) * dens
        if "qp_energy_density" in names:
            out["qp_energy_density"] = u.to_si(obs["qp_energy_density"], "energy_density")
        if "qp_current" in names:
            cur = obs["qp_current"] * dens * u.length * 1e6 / u.tau0  # 1/(um^2 s)
            for i, ax in enumerate("xyz"):
                out[f"qp_current_{ax}"] = cur[:, i]
        if "directions" in names:
            fk = p.directional(x)
            for k in self.case.data["angles"]["output"]:
                out[f"qp_density_dir{k}"] = p.weight * p.grid.h * (p.rho @ fk[:, :, k]) * dens
        if "region" in names:
            out["region"] = p.loc.cell_region[: p.n].astype(float)
        return out

    def rates_si(self, x: np.ndarray, t0: float = 0.0, t1: float = math.inf) -> dict:
        """Particle rates [1/s]: net outflow per boundary, trap loss, -injection."""
        r = self.problem.rates(x, t0, t1)
        return {k: v * self.n_unit / self.units.tau0 for k, v in r.items()}


def run(case, output_dir: str | None = None, resume: bool = False,
        max_steps: int | None = None, comm=None) -> dict:
    """Run a bte case; returns the summary (also written to ``summary.json``)."""
    if resume:
        raise ValueError("the bte model has no checkpoints to resume from; rerun the case")
    sim = BTESimulation(case, comm)
    out_dir = output_dir or case.output_dir
    d, dist, u = case.data, sim.dist, sim.units
    if dist.rank == 0:
        os.makedirs(out_dir, exist_ok=True)
    units = dict(UNITS_SI)
    units.update({f"qp_density_dir{k}": "1/um^3" for k in d["angles"]["output"]})
    writer = OutputWriter(out_dir, case.name, dist, sim.geometry.points * u.length,
                          sim.geometry.cell_nodes, units)
    start = time.perf_counter()
    summary = _steady(sim, writer) if d["time"]["steady"] else _transient(sim, writer,
                                                                         max_steps)
    g, p = sim.grid, sim.problem
    mfp = [u.to_si(1 / s, "length") if s > 0 else None for s in sim.inv_mfp]
    summary.update({
        "wall_time_s": time.perf_counter() - start, "n_cells": int(dist.n_global),
        "ranks": dist.size, "peak_rss_MB_per_rank": dist.max(peak_rss_mb()),
        "unknowns": int(dist.n_global * g.n * p.B), "energy_bins": g.n,
        "ordinates": p.K, "mean_free_path_m": dict(zip(sim.geometry.region_names, mfp,
                                                       strict=True)),
        "fermi_velocity_m_per_s": sim.v_f * u.length / u.tau0,
        "gap_ueV": u.to_si(sim.gap, "energy") / 1.602176634e-25,
    })
    if dist.rank == 0:
        atomic_write_bytes(os.path.join(out_dir, "summary.json"),
                           json.dumps(summary, indent=2).encode())
    log.info("done: %s", summary["message"])
    if summary["status"] < 0:
        raise ConvergenceError(summary["message"])
    return summary


def _solve_info(res) -> dict:
    its = [r.iterations for r in res]
    bad = [j for j, r in enumerate(res) if not r.success]
    return {"linear_iterations": int(sum(its)), "max_linear_iterations": int(max(its)),
            "failed_bins": bad}


def _steady(sim, writer) -> dict:
    p, d = sim.problem, sim.case.data
    x, res = p.steady()
    info = _solve_info(res)
    writer.write(0.0, sim.fields(x, d["output"]["fields"]))
    rates = sim.rates_si(x)
    p.release()
    ok = not info["failed_bins"]
    out = {"steady": True, **info, "qp_rates_per_s": rates,
           "rate_imbalance_per_s": sum(rates.values()), "N_qp": p.number(x) * sim.n_unit}
    sweep = d["sweep"]["mean_free_paths"]
    if sweep:
        out["sweep"], bad = _sweep(sim, sweep)
        ok = ok and not bad
    out["status"] = 0 if ok else -1
    out["message"] = ("steady state: all bins converged" if ok else
                      "steady state: a KSP solve did not converge (see failed_bins/sweep)")
    return out


def _sweep(sim, mfps: list) -> tuple[dict, bool]:
    """Steady states for every mean free path of ``[sweep]`` (all regions) and the
    ballistic one: net outflow per boundary and transmission = outflow / ballistic."""
    u, n = sim.units, len(sim.inv_mfp)
    runs, bad = [], False
    for m in [None, *mfps]:
        inv = np.zeros(n) if m is None else np.full(n, 1.0 / u.to_internal(m, "length"))
        p = sim.make_problem(inv)
        x, res = p.steady()
        info = _solve_info(res)
        bad = bad or bool(info["failed_bins"])
        r = {k: v * sim.n_unit / u.tau0 for k, v in p.rates(x).items()}
        runs.append({"mean_free_path_m": m, "qp_rates_per_s": r, **info})
        p.release()
    ball = runs[0]["qp_rates_per_s"]
    for run_ in runs:
        run_["transmission"] = {k: (v / ball[k] if ball[k] else None)
                                for k, v in run_["qp_rates_per_s"].items()
                                if k.startswith("boundary:") and ball[k] > 0}
    return {"ballistic": runs[0], "runs": runs[1:]}, bad


def _transient(sim, writer, max_steps) -> dict:
    """Fixed-step BE/BDF2, one energy bin after the other (they are independent without
    inelastic collisions: one LU factorisation per bin in memory at a time); snapshots
    every ``[output] every`` steps and at the end are assembled afterwards."""
    p, d, u = sim.problem, sim.case.data, sim.units
    t_end = u.to_internal(d["time"]["end"], "time")
    dt = u.to_internal(d["time"]["dt_initial"], "time")
    nsteps = max(1, int(math.ceil(t_end / dt - 1e-9)))
    dt = t_end / nsteps
    limit = nsteps if max_steps is None else min(nsteps, max_steps)
    t0 = d["initial"].get("temperature")
    x0 = p.equilibrium(fermi(sim.grid.e, u.to_internal(t0, "temperature") if t0
                             else sim.T_bath))
    names, every = d["output"]["fields"], d["output"]["every"]
    keep = sorted({s for s in range(every, limit + 1, every)} | {limit})
    snaps = {s: np.zeros_like(x0) for s in keep}
    flows: dict = {}
    lits, maxit, failed, done = 0, 0, [], limit
    bdf2 = d["time"]["scheme"] == "bdf2"
    for j in range(sim.grid.n):
        r = p.march(j, x0[j], dt, limit, bdf2, keep)
        lits += int(sum(r["iterations"]))
        maxit = max([maxit, *r["iterations"]])
        for s, xs in r["states"].items():
            snaps[s][j] = xs
        for k, v in r["flows"].items():
            flows[k] = flows.get(k, 0.0) + v
        if r["failed"] is not None:
            failed.append((j, r["failed"]))
            done = min(done, r["steps"])
    writer.write(0.0, sim.fields(x0, names))
    for s in keep:
        if s <= done:
            writer.write(u.to_si(s * dt, "time"), sim.fields(snaps[s], names))
    x1 = snaps[keep[-1]]
    n0, n1 = p.number(x0), p.number(x1)
    status = -1 if failed else (0 if limit == nsteps else 1)
    msg = {0: f"reached t_end in {limit} steps", 1: f"stopped after {limit} steps",
           -1: f"KSP did not converge (bin, step): {failed}"}[status]
    nu = sim.n_unit
    return {"status": status, "message": msg, "steady": False, "steps": done,
            "t_end_s": u.to_si(done * dt, "time"), "dt_s": u.to_si(dt, "time"),
            "linear_iterations": lits, "max_linear_iterations": maxit,
            "qp_number": {"initial": n0 * nu, "final": n1 * nu,
                          **{k: v * nu for k, v in flows.items()},
                          "imbalance": (n1 - n0 + sum(flows.values())) * nu}}

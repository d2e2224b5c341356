r"""From a validated ``bte_sphere`` case to a finished run: SI -> internal, run, outputs.

Internal units of the sphere's material (:mod:`fvqp.units`): energies in
:math:`k_BT_c`, times in :math:`\tau_0`, lengths in µm, numbers of QPs/phonons in
:math:`N_0k_BT_c\,\mu m^3` (state weight ``4 = 4N_0/N_0``, notes Eq. 9). Conversions:
velocities :math:`v\,\tau_0/1\,\mu m`; :math:`c_{ph} = \tau_0/(\pi\Delta_0\tau_0^\phi)`;
the gap is the BCS :math:`\Delta(T_{bath})` scaled to the material's
:math:`\Delta_0/k_BT_c`.

Initial state (notes Section 2.4): thermal at the bath plus an isotropic Gaussian packet
:math:`A\,e^{-(\varepsilon-\varepsilon_0)^2/2\sigma^2}e^{-r^2/2a^2}` whose amplitude
``A`` gives the requested excess energy (``deposit``).

Outputs (output directory): ``<case>.pvd`` with ``vtu/`` (the (r, E) fields per
snapshot in SI, :mod:`.vtkseries`), ``bte_sphere.h5`` (grid; snapshots of the angle-averaged
:math:`\bar f(r,\varepsilon,t)`, of ``f`` at the ordinates nearest to ``write_mu`` and of
:math:`\bar n(r,\Omega,t)`; time series of the energy that left through ``r = R`` (QPs,
phonons), energy exchanged with the phonon bath, QP and phonon energies, QP number),
``<case>_relaxation.png`` (energy balance, energy relaxation at the centre, spreading;
not with ``[output] figures = false``),
``summary.json`` (balances; the key numbers named in its ``keys`` are shown at the end of
the run), ``checkpoint.h5``. Every file is written atomically (:mod:`fvqp.io.atomic`).
"""

from __future__ import annotations

import json
import logging
import math
import os
import time

import numpy as np

from ...case.internal import InternalCase
from ...collisions.grid import EnergyGrid
from ...io.atomic import atomic_path
from ...solvers import BDFIntegrator, JacobianConfig
from ...spectra.gap import thermal_gap
from ...spectra.injection import gaussian_line
from ...units import E_CHARGE, UnitSystem
from ..base import bdf_options, run_checkpointed
from ..base.balance import imbalance, inflows
from ..base.schema import case_material
from ..base.template import materials_entry, wants_figures
from ..spec import warn_thermal_bins
from .discretisation import Ordinates, RadialMesh
from .figure import figure_name, relaxation_figure
from .problem import SphereProblem
from .spectral import bcs_spectrum, eliashberg_spectrum
from .vtkseries import SphereSeries

log = logging.getLogger("fvqp.bte_sphere")

__all__ = ["DEFAULT_PETSC", "SphereSimulation", "run", "solver_setup"]

#: Newton with the exact Jacobian action (matrix-free shell); the preconditioning matrix
#: (streaming + elastic scattering + collision diagonal) is block diagonal in energy and
#: is factorised exactly per energy block over all cells (:func:`solver_setup`); the
#: ``pc_*`` entries are PETSc's preconditioner for a case that names its own ``pc_type``
DEFAULT_PETSC = {
    "snes_type": "newtonls", "snes_linesearch_type": "bt", "snes_rtol": 1e-10,
    "snes_stol": 1e-14, "snes_max_it": 40,
    "ksp_type": "gmres", "ksp_rtol": 1e-10, "ksp_atol": 1e-300, "ksp_max_it": 500,
    "ksp_gmres_restart": 100, "pc_type": "bjacobi", "sub_pc_type": "lu",
    "sub_pc_factor_mat_ordering_type": "rcm",
}
#: the PETSc options of :data:`DEFAULT_PETSC` that choose PETSc's preconditioner (left
#: out with the energy-block preconditioner, :func:`solver_setup`)
PETSC_PC = ("pc_type", "sub_pc_type", "sub_pc_factor_mat_ordering_type")


def solver_setup(problem: SphereProblem, case_petsc: dict, prefix: str = "bte_sphere_"
                 ) -> tuple[dict, JacobianConfig]:
    """PETSc options and Jacobian configuration of a run.

    The preconditioner is :class:`.precond.EnergyBlockPC` on every number of ranks: the
    exact inverse of the preconditioning matrix, energy block by energy block over all
    radial cells (PETSc's sparse LU of the stacked blocks, under ``<prefix>eblock_``;
    the blocks shared over the ranks by cost, :class:`fvqp.parallel.blocktranspose
    .BlockTranspose`), so ``mpiexec -n N`` gives the serial answer to round-off; PETSc's
    block Jacobi over the ranks' cells would drop the coupling across rank boundaries.
    Serially it is also faster than PETSc's LU of the assembled matrix (the default
    before 2026-11-26): 3 BDF2 steps of 50 x 50 x 8 / 200 x 200 x 16 unknowns 0.103 /
    4.48 s against 0.118 / 5.04 s, 6 steps of the shipped case 1.03 against 1.10 s, the
    same Newton and Krylov counts (``benchmarks/bte_sphere.py``). A case whose
    ``[solver.petsc]`` sets ``pc_type`` gets PETSc's preconditioner on the assembled
    matrix instead. The case's ``eblock_*`` keys configure the blocks' LU (``[solver.petsc]
    eblock_pc_factor_mat_ordering_type = "rcm"``; on the command line
    ``-<prefix>eblock_...``).
    """
    from ...parallel.blocktranspose import BlockTranspose
    from .precond import EnergyBlockPC, block_weights, energy_blocks

    if "pc_type" in case_petsc:
        return {**DEFAULT_PETSC, **case_petsc}, JacobianConfig("matrix_free")
    lu = {k[len("eblock_"):]: v for k, v in case_petsc.items() if k.startswith("eblock_")}
    case_petsc = {k: v for k, v in case_petsc.items() if not k.startswith("eblock_")}
    block, slot = energy_blocks(problem)
    tr = BlockTranspose(problem.rcell, problem.n, problem.mesh.n, block, slot,
                        problem.dist.comm, weights=block_weights(problem, block))
    opts = {k: v for k, v in DEFAULT_PETSC.items() if k not in PETSC_PC}
    pc = EnergyBlockPC(problem, tr, prefix + "eblock_", options=lu)
    return {**opts, **case_petsc}, JacobianConfig("matrix_free", preconditioner=pc)


def sphere_units(case) -> UnitSystem:
    """The internal units of a ``bte_sphere`` case: those of the sphere's material with
    the case's overrides (energies in its k_B Tc, times in its tau0, lengths in um)."""
    return UnitSystem.from_material(case_material(case.data["sphere"]))


class SphereSimulation:
    """The spherical BTE of one case, assembled on every rank.

    Parameters
    ----------
    case : fvqp.case.InternalCase or fvqp.case.Case
        The case in :func:`sphere_units` (as the run template hands it); an SI case is
        converted here.
    """

    def __init__(self, case, comm=None):
        if not isinstance(case, InternalCase):
            case = case.internal(sphere_units(case))
        self.case, d = case, case.values
        sp, ph = d["sphere"], d["phonons"]
        self.mat = mat = case_material(sp)
        #: recorded in summary.json (fvqp.models.base.template.materials_entry)
        self.region_materials = {"sphere": mat}
        self.units = u = case.units
        self.T_bath = d["bath"]["temperature"]
        ini = d["initial"]
        self.eps0, self.sigma = ini["energy"], ini["width"]
        # the thermal solution of the gap equation (kTc units)
        delta = float(thermal_gap(self.T_bath, 1.0, mat.gap_ratio, "delta0"))
        sg = d["spectrum"]
        h = sg.get("spacing") or self.T_bath / 4
        e_max = sg.get("e_max") or self.eps0 + 5 * self.sigma + 10 * self.T_bath
        if sg["kind"] == "eliashberg":
            spectrum = eliashberg_spectrum(mat, self.T_bath, h, e_max)
            grid = spectrum.grid
        else:
            grid = EnergyGrid.build(delta, h, e_max)
            spectrum = bcs_spectrum(grid)
        self.spectrum = spectrum
        radius = sp["radius"]
        self.mesh = RadialMesh.uniform(radius, sp["cells"])
        self.ords = Ordinates.gauss_legendre(d["angles"]["ordinates"])
        v_f = mat.fermi_velocity / u.scales["velocity"]  # a material constant, SI
        mfp = sp.get("mean_free_path") or math.inf
        c_s = (mat.sound_velocity_L or 0.0) / u.scales["velocity"]
        tau_esc = ph.get("escape_time") or math.inf
        self.problem = SphereProblem(
            self.mesh, self.ords, spectrum, v_f=v_f, mfp=mfp, t_bath=self.T_bath,
            c_ph=u.tau0 / (math.pi * mat.gap_ratio * mat.tau0_phi), phonons=ph["mode"],
            c_s=c_s, tau_esc=tau_esc, outer_qp=sp["surface"], outer_ph=ph["surface"],
            scheme=sp["scheme"], comm=comm)
        self.dist = self.problem.dist
        #: totals of the bath's equilibrium (all ranks): the balances' reference and the
        #: thermal QP number the bins hold, for the thermal-bins check
        self.eq_totals = self.totals(self.problem.equilibrium())
        if sg["kind"] == "bcs":
            count = self.eq_totals["N_qp"] * u.scales["number_density"] * u.length**3
            if not self.dist.rank:
                warn_thermal_bins(case, "spectrum.spacing", grid.delta, grid.h,
                                  self.T_bath, grid.m * grid.h, count=count)
        self.params = {"v_F_um_per_tau0": v_f, "mean_free_path_um": mfp, "c_s_um_per_tau0": c_s,
                       "radius_um": radius, "gap_kTc": grid.delta, "h_kTc": grid.h,
                       "e_max_kTc": grid.e_max, "T_bath_kTc": self.T_bath,
                       "tau0_s": u.tau0, "kTc_J": u.energy,
                       "c_ph": self.problem.c_ph, "spectrum": spectrum.kind}
        self.x0 = self._initial(ini["radius"], ini["deposit"])
        self.mu_sel = sorted({int(np.argmin(np.abs(self.ords.mu - m)))
                              for m in d["angles"]["write_mu"]})

    def _initial(self, a: float, energy: float) -> np.ndarray:
        """Bath + Gaussian packet with the requested excess energy (internal units)."""
        p, g = self.problem, self.spectrum.grid
        x = p.equilibrium().reshape(p.n, p.B)
        shape_e = gaussian_line(g.e, self.eps0, self.sigma)  # narrow: its nearest node
        shape_r = np.exp(-0.5 * (p.mesh.centres[p.rcell[:p.n]] / a) ** 2)
        unit = self.dist.sum(float(np.sum(p.weight * p.V[:p.n] * shape_r))) \
            * float(np.sum(g.h * self.spectrum.states * g.e * shape_e))
        if unit <= 0:
            raise ValueError("the QP packet has no states on the energy grid: check "
                             "[initial] energy/width against [spectrum] e_max.")
        amp = energy / unit
        peak = float(np.max(p.f_bath + amp * shape_e))
        if peak > 1.0:
            raise ValueError(
                f"the packet needs occupations up to {peak:.3g} > 1: the deposit is too "
                "large for the packet's volume and width. Fix: lower [initial] deposit or "
                "widen [initial] radius/width.")
        x[:, :p.nq] += np.repeat(amp * shape_r[:, None] * shape_e[None, :], p.K, axis=1)
        self.amplitude = amp
        return x.ravel()

    def totals(self, x_owned: np.ndarray) -> dict:
        return {k: self.dist.sum(v) for k, v in self.problem.totals(x_owned).items()}

    def snapshot(self, x_owned: np.ndarray) -> dict:
        """Per owned cell arrays: angle average, selected ordinates, phonons."""
        p = self.problem
        fb, nb = p.angle_averaged(x_owned)
        y = x_owned.reshape(p.n, p.B)[:, :p.nq].reshape(p.n, p.N, p.K)
        out = {"f": fb, "f_mu": y[:, :, self.mu_sel]}
        if nb is not None:
            out["n"] = nb
        return out


class SnapshotStore:
    """Snapshots and time series gathered on rank 0 and rewritten atomically into the
    results file at every snapshot (the ``writer`` of :func:`fvqp.models.base
    .run_checkpointed`); on resume, entries after the checkpoint are dropped."""

    def __init__(self, sim: SphereSimulation, path: str, resume: bool):
        self.sim, self.path = sim, path
        #: the case's name (the time loop writes ``<name>_series.csv`` beside)
        self.name = sim.case.name
        self.rank0 = sim.dist.rank == 0
        self.snaps: dict[str, list] = {"t": []}
        self.series: dict[str, list] = {"t": []}
        #: the (r, E) fields as a .pvd series (rank 0; :mod:`.vtkseries`)
        self.vtk = None
        if self.rank0:
            g, p = sim.spectrum.grid, sim.problem
            self.vtk = SphereSeries(os.path.dirname(path), self.name,
                                    sim.mesh.edges * sim.units.length, g.e, g.h,
                                    sim.spectrum.states, p.weight, p.f_bath, sim.units,
                                    resume=resume)
        if resume and self.rank0 and os.path.isfile(path):
            self._load()
        self.count = sim.dist.bcast(len(self.snaps["t"]))

    def _load(self) -> None:
        import h5py

        with h5py.File(self.path, "r") as fh:
            for grp, store in (("snapshots", self.snaps), ("series", self.series)):
                for k in fh[grp]:
                    store[k] = list(fh[grp][k][()])

    def truncate(self, time_si: float) -> None:
        for store in (self.snaps, self.series):
            keep = [i for i, t in enumerate(store["t"]) if t <= time_si * (1 + 1e-12)]
            for k in store:
                store[k] = [store[k][i] for i in keep]
        if self.vtk is not None:
            self.vtk.truncate(time_si)
        self.count = self.sim.dist.bcast(len(self.snaps["t"]))

    def record(self, t_si: float, values: dict) -> None:
        """One row of the time series (global scalars); a repeated time (the restored
        state of a resumed run) is not recorded twice."""
        if self.series["t"] and abs(self.series["t"][-1] - t_si) <= 1e-14 * abs(t_si):
            return
        self.series["t"].append(t_si)
        for k, v in values.items():
            self.series.setdefault(k, []).append(v)

    def write(self, time_si: float, fields: dict) -> None:
        cells = self.sim.problem.cells
        full = {k: cells.gather(v) for k, v in fields.items()}
        if self.rank0:
            self.snaps["t"].append(time_si)
            for k, v in full.items():
                self.snaps.setdefault(k, []).append(v)
            self.vtk.write(time_si, full["f"])
            self.flush()
        self.count += 1

    def flush(self) -> None:
        """Rewrite the results file (rank 0)."""
        if not self.rank0:
            return
        import h5py

        sim, u = self.sim, self.sim.units
        tmp = atomic_path(self.path)
        with h5py.File(tmp, "w") as fh:
            fh.attrs["case_digest"] = sim.case.digest
            fh.attrs["params"] = json.dumps(sim.params)
            # fvqp plot redraws the relaxation figure from this file (.figure)
            fh.attrs["model"], fh.attrs["case_name"] = "bte_sphere", self.name
            g = fh.create_group("grid")
            g["r_centres_m"] = sim.mesh.centres * u.length
            g["r_edges_m"] = sim.mesh.edges * u.length
            g["energy_ueV"] = sim.spectrum.grid.e * u.energy / (E_CHARGE * 1e-6)
            g["omega_ueV"] = sim.spectrum.grid.omega * u.energy / (E_CHARGE * 1e-6)
            g["mu"], g["weights"] = sim.ords.mu, sim.ords.w
            g["mu_written"] = sim.ords.mu[sim.mu_sel]
            g["rho"], g["renorm"] = sim.spectrum.rho, sim.spectrum.renorm
            g["f_bath"] = sim.problem.f_bath
            g["state_weights"] = sim.spectrum.grid.h * sim.spectrum.states  # QPs per f
            g["n_bath"] = sim.problem.n_bath
            s = fh.create_group("snapshots")
            s.attrs["layout"] = ("t [s]; f [t, r, energy] angle average; f_mu [t, r, "
                                 "energy, mu_written]; n [t, r, omega] angle average")
            for k, v in self.snaps.items():
                s[k] = np.asarray(v)
            e = fh.create_group("series")
            e.attrs["units"] = "t in s, energies in J, numbers of QPs"
            for k, v in self.series.items():
                e[k] = np.asarray(v)
        os.replace(tmp, self.path)


def run(case, output_dir: str | None = None, resume: bool = False,
        max_steps: int | None = None, comm=None) -> dict:
    """Run a ``bte_sphere`` case; returns the summary (written to ``summary.json`` with
    the wall time and peak memory by :func:`fvqp.models.base.run_model`)."""
    sim = SphereSimulation(case, comm)
    case = sim.case  # the internal case
    d, u, p, dist = case.values, sim.units, sim.problem, sim.dist
    out_dir = output_dir or case.output_dir
    if dist.rank == 0:
        os.makedirs(out_dir, exist_ok=True)
    store = SnapshotStore(sim, os.path.join(out_dir, "bte_sphere.h5"), resume)
    opts, t_end = bdf_options(d["time"], d["time"]["atol"])
    petsc, jac = solver_setup(p, d["solver"]["petsc"], prefix=d["solver"]["prefix"])
    integ = BDFIntegrator(p, sim.x0, 0.0, d["solver"]["prefix"], petsc, opts, jacobian=jac)
    tot0 = sim.totals(sim.x0)
    eq = sim.eq_totals
    unit_e, unit_n = u.scales["total_energy"], u.scales["number_density"] * u.length**3

    def quantities(it, extra=None) -> dict:
        """The integral quantities in SI (the HDF5 ``series`` group and the columns of
        ``<case>_series.csv``)."""
        tot, acc = sim.totals(it.x), it.accumulated
        row = {"E_qp_J": tot["E_qp"] * unit_e, "E_ph_J": tot["E_ph"] * unit_e,
               "N_qp": tot["N_qp"] * unit_n,
               "E_excess_qp_J": (tot["E_qp"] - eq["E_qp"]) * unit_e}
        for k, v in acc.items():
            if k.startswith("E:"):
                row[f"E_in_{k[2:]}_J"] = v * unit_e
        row["E_escaped_J"] = -(acc.get("E:surface_qp", 0.0) + acc.get("E:surface_ph", 0.0)) \
            * unit_e
        return row

    def record(it):
        store.record(u.to_si(it.t, "time"), quantities(it))

    t0 = time.perf_counter()
    if not resume:
        record(integ)
    result, extra = run_checkpointed(
        integ, t_end=t_end, writer=store, units=u, out_dir=out_dir, digest=case.digest,
        snapshot=lambda it, a, b: sim.snapshot(it.x), extra={"totals": tot0},
        resume=resume, stop_times=list(d["output"]["times"]),
        every=d["output"]["every"], checkpoint_every=d["output"]["checkpoint_every"],
        max_steps=max_steps, on_accept=record, series=quantities, logger=log)
    stepping = time.perf_counter() - t0
    store.flush()
    tot1, acc = sim.totals(integ.x), integ.accumulated
    summary = {"model": "bte_sphere", "status": result.status, "message": result.message,
               "t_end_s": u.to_si(integ.t, "time"), "steps": result.steps,
               "rejected_steps": result.rejected_steps,
               "failed_solves": result.failed_solves,
               "newton_iterations": result.newton_iterations,
               "linear_iterations": result.linear_iterations,
               "time_stepping_s": stepping, "ranks": dist.size,
               "unknowns": int(p.dist.n_global),
               "parameters": sim.params, "packet_amplitude": sim.amplitude,
               "materials": materials_entry(sim.region_materials),
               **_balances(extra["totals"], tot1, eq, acc, unit_e, unit_n)}
    summary.update(_key_numbers(summary))
    if wants_figures(case):  # [output] figures = false: no PNG (fvqp plot draws it)
        summary["figure"] = os.path.join(out_dir, figure_name(case.name))
        if dist.rank == 0:
            relaxation_figure(summary["figure"], store.path)
    return summary


def _key_numbers(summary: dict) -> dict:
    """The run's key numbers (top-level summary entries, named in ``keys``): the QP
    number and the excess energies at the end, the fraction of the deposit that left
    through r = R, the energy and QP-number imbalances."""
    e, n = summary["energy_J"], summary["qp_number"]
    dep = e["deposited_excess"]
    keys = {"t_end_s": summary["t_end_s"], "N_qp_final": n["final"],
            "E_excess_qp_final_J": e["left_excess_qp"],
            "E_excess_ph_final_J": e["left_excess_ph"], "E_escaped_J": e["escaped"],
            "escaped_fraction": e["escaped"] / dep if dep else None,
            "energy_imbalance_J": e["imbalance"], "qp_number_imbalance": n["imbalance"]}
    return {**keys, "keys": list(keys)}


def _balances(tot0, tot1, eq, acc, unit_e, unit_n) -> dict:
    """Energy [J] and QP-number balances (:mod:`fvqp.models.base.balance`: inflows,
    change = their sum)."""
    e_flows, n_flows = inflows(acc, unit_e, kind="E"), inflows(acc, unit_n, kind="N")
    e0, e1 = (tot0["E_qp"] + tot0["E_ph"]) * unit_e, (tot1["E_qp"] + tot1["E_ph"]) * unit_e
    n0, n1 = tot0["N_qp"] * unit_n, tot1["N_qp"] * unit_n
    return {
        "energy_J": {"initial": e0, "final": e1,
                     "deposited_excess": (tot0["E_qp"] - eq["E_qp"]) * unit_e,
                     "left_excess_qp": (tot1["E_qp"] - eq["E_qp"]) * unit_e,
                     "left_excess_ph": (tot1["E_ph"] - eq["E_ph"]) * unit_e,
                     "inflows": e_flows,
                     "escaped": -(e_flows.get("surface_qp", 0.0)
                                  + e_flows.get("surface_ph", 0.0)),
                     "imbalance": imbalance(e0, e1, e_flows)},
        "qp_number": {"initial": n0, "final": n1, "inflows": n_flows,
                      "imbalance": imbalance(n0, n1, n_flows)},
    }

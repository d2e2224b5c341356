r"""The transport model's physics on the run template (:class:`fvqp.models.base.MeshModel`):
how a case becomes a :class:`TransportProblem`, its Jacobian configuration, output fields,
steady and transient runs.

The driver receives the case in internal units (:class:`fvqp.case.InternalCase`, built
once by the run template in the units of :func:`transport_units`): energies in
:math:`k_BT_{c,ref}`, times in :math:`\tau_{0,ref}`, lengths in µm, particle numbers in
:math:`N_{0,ref}k_BT_{c,ref}\,\mu m^3`; only the material constants (SI, with the case's
per-region overrides, :func:`fvqp.models.base.schema.case_material`) are scaled here.
Per region (material ``m``, ratio :math:`r = T_{c,m}/T_{c,ref}`):

* QP collision prefactor :math:`(\tau_{0,ref}/\tau_{0,m})\,r^{-3}`, phonon prefactor
  :math:`c_{ph} = \tau_{0,ref}/(\pi\Delta_{0,m}\tau^\phi_{0,m})` (:math:`\Delta_{0,m}` in
  reference units), state weight :math:`4N_{0,m}/N_{0,ref}`;
* tunnel rate per state :math:`2\tau_{0,ref}/(e^2R_TN_{0,ref}L^3)`, i.e. :math:`2/R_T` with
  the internal resistance (``UnitSystem.scales["resistance"]``), shared among the faces of
  the junction in proportion to their area (kinetics0d's :math:`\Gamma_T` per volume).
"""

from __future__ import annotations

import logging
import math
import time

import numpy as np

from ...materials import Material, get_material
from ...mesh import build_geometry, case_sources, read_mesh
from ...parallel import Distribution
from ...solvers import BDFIntegrator, JacobianConfig, SteadySolver
from ...solvers.linear import option_value
from ...solvers.options import normalise_prefix
from ...spectra import fermi
from ...spectra.bins import BinGrid
from ...spectra.gap import thermal_gap
from ...units import E_CHARGE, UnitSystem
from ..base import MeshModel, OutputField, bdf_options, run_checkpointed, to_output
from ..base.schema import case_material
from .lagged import LAG_DEFAULTS, LaggedPreconditioner
from .problem import TransportProblem
from .regions import Boundary, RegionParams, SpectralSource
from .schur import SchurPreconditioner
from .summary import balances_si, flow_resolution_si, number_unit

log = logging.getLogger("fvqp.transport")

#: PETSc defaults under the case's prefix ([solver.petsc] and the command line override):
#: Newton with the exact Jacobian; ILU(0) is exact on the dense per-cell collision blocks.
#: The subdomains overlap by one layer of cells (restricted additive Schwarz; on one rank
#: the same ILU(0) of the whole matrix as block Jacobi): block Jacobi cuts the transport
#: between the ranks, Krylov per Newton on the coarse absorber burst (520 cells, 3 BDF1
#: steps) 6.2, 24.7, 25.7, 25.7 at 1, 2, 4, 8 ranks; with the overlap 6.17, 6.17, 8.83,
#: 8.83 (benchmarks/mesh_scaling.py, 2026-11-22)
DEFAULT_PETSC = {
    "snes_type": "newtonls", "snes_linesearch_type": "bt", "snes_rtol": 1e-10,
    "snes_stol": 1e-14, "snes_max_it": 40,
    "ksp_type": "gmres", "ksp_rtol": 1e-10, "ksp_atol": 1e-300, "ksp_max_it": 1000,
    "ksp_gmres_restart": 100, "pc_type": "asm", "sub_pc_type": "ilu",
}
#: above this many dense collision-block entries (all cells) 'auto' goes matrix-free
AUTO_ASSEMBLED_ENTRIES = 2e7
#: matrix-free mode: the preconditioning matrix is a diffusion operator per energy plus a
#: diagonal: algebraic multigrid (measured on the film-trap case: 63 Krylov iterations in
#: 5 Newton steps, 16 s, against 96 s for the assembled Jacobian with block ILU)
MATRIX_FREE_PETSC = {"pc_type": "gamg"}
#: schur mode: the outer PC is the model's (python) preconditioner (no pc defaults),
#: rebuilt every second Newton iteration (measured on the coarse absorber burst, 64 bins:
#: same 4 Krylov iterations per Newton step, 12.6 -> 8.6 s; the dense cell Jacobians
#: dominate the cost)
SCHUR_OUTER_DROP = ("pc_type", "sub_pc_type")
SCHUR_PETSC = {"snes_lag_preconditioner": 2}
#: schur mode with the lagged preconditioner (.lagged, the default; option
#: ``-<prefix>schur_lag 0`` restores the above): PETSc asks for a preconditioner before
#: every linear solve and the lag rule keeps or rebuilds it across Newton iterations and
#: steps. Inexact Newton (``-<prefix>snes_ksp_ew``, Eisenstat-Walker) is not a default:
#: on the coarse absorber burst it halved the Krylov iterations (48 -> 24) but took 18
#: instead of 12 Newton iterations (4.4 against 5.0 CPU s with the double-precision
#: build), and its loose last linear solve leaves an error of ~eta * newton_tol in
#: adaptive BDF steps: 2 ranks and serial then differed by 1.5e-8 (test_transport_runs,
#: 1e-8 required) -- Newton with exact linear solves converges quadratically past it
SCHUR_LAGGED_PETSC = {"snes_lag_preconditioner": 1}
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


def region_material(reg, ref: str) -> Material:
    """The material of a region with the case's overrides (``Tc``,
    ``diffusion_constant``); a trap without ``material`` takes the reference material."""
    return case_material(reg if reg.get("material") else {**reg, "material": ref})


def region_params(mat: Material, reg, u: UnitSystem, t_bath_si: float, dim: int
                  ) -> RegionParams:
    """Internal-unit parameters of one region (module docstring).

    Parameters
    ----------
    mat : fvqp.materials.Material
        The region's material (SI constants, the case's overrides applied).
    reg : Mapping
        The region's table of the internal case (``gap``, ``escape_time``, ``thickness``,
        ``phonon_diffusion_constant`` in internal units).
    u : fvqp.units.UnitSystem
    t_bath_si : float
        Bath temperature [K] (the reduced temperature :math:`T/T_{c,m}` of the BCS gap).
    dim : int
        Mesh dimension (2: the escape time per thickness applies).
    """
    s = u.scales
    rT = mat.Tc / u.Tc
    D = mat.diffusion_constant
    if (D is None or (reg.get("resistivity") and not reg.get("diffusion_constant"))) \
            and mat.resistivity:  # a region's own resistivity wins over the database D
        D = mat.diffusion_from_resistivity(mat.resistivity)
    weight = 4.0 * mat.N0 / u.N0
    d_ph = reg.get("phonon_diffusion_constant") or 0.0
    if reg.get("trap"):
        return RegionParams(weight=weight, diffusion=(D or 0.0) / s["diffusivity"],
                            delta0=0.0, gap=0.0, trap=True, phonon_diffusion=d_ph)
    delta0 = mat.gap_ratio * rT
    gap = reg["gap"] if reg.get("gap") else \
        float(thermal_gap(t_bath_si / mat.Tc, 1.0, mat.gap_ratio, "delta0")) * rT
    if reg.get("escape_time"):
        tau_esc = reg["escape_time"]
    elif dim == 2 and mat.tau_esc_per_thickness and reg.get("thickness"):
        tau_esc = mat.tau_esc_per_thickness * s["length"] / s["time"] * reg["thickness"]
    else:
        tau_esc = math.inf
    return RegionParams(qp_scale=(u.tau0 / mat.tau0) / rT**3,
                        c_ph=u.tau0 / (math.pi * delta0 * mat.tau0_phi), weight=weight,
                        diffusion=D / s["diffusivity"], delta0=delta0, gap=gap,
                        tau_esc=tau_esc, phonon_diffusion=d_ph)


def _trap_phonon_density(params: list) -> None:
    """Give traps the phonon density of states (``qp_scale / 2 c_ph``) of the first
    superconducting region: a trap's phonons are held at the bath, so this only sets its
    half-cell phonon conductance (phonon diffusion into the trap)."""
    sc = [p for p in params if p is not None and not p.trap]
    for p in params:
        if p is not None and p.trap and sc:
            p.qp_scale, p.c_ph = sc[0].qp_scale, sc[0].c_ph


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
        active = [n for n, r in regions.items() if r.get("active", True)]
        sc_regions = [n for n in active if not regions[n].get("trap")]
        ref = d["units"].get("reference_material") or regions[sc_regions[0]]["material"]
        raw = read_mesh(case.mesh_path).subset(active)
        self.T_bath = d["bath"]["temperature"]
        widths = np.ones(len(raw.region_names))
        params = [None] * len(raw.region_names)
        #: region name -> Material (with the case's overrides; recorded in summary.json)
        self.region_materials = {}
        for ri, name in enumerate(raw.region_names):
            reg = regions[name]
            width = {1: "cross_section", 2: "thickness"}.get(raw.dim)
            if width:
                widths[ri] = reg[width]
            mat = region_material(reg, ref)
            if reg.get("material"):
                self.region_materials[name] = mat
            # the BCS gap's reduced temperature T/Tc_m with the material's SI Tc
            params[ri] = region_params(mat, reg, u, case.case.data["bath"]["temperature"],
                                       raw.dim)
        _trap_phonon_density(params)
        self.params = params
        self.geometry = build_geometry(raw, scale=d["mesh"]["scale"], widths=widths,
                                       strict=False)
        self.dist = Distribution(self.geometry, comm)
        self.self_consistent = d["gap"]["self_consistent"]
        self.grid = self._grid(params)
        self._check_slices()
        problem_bcs = self._boundaries()
        self.problem = TransportProblem(self.dist, self.grid, params, widths, problem_bcs,
                                        self._sources(), self.T_bath, self.self_consistent,
                                        collisions=d["numerics"]["collisions"],
                                        jacobian=self._jacobian_mode(),
                                        action=option_value(
                                            normalise_prefix(d["solver"]["prefix"])
                                            + "collision_action", "linear"))
        pc = None
        #: schur preconditioner lagged across Newton iterations and steps (.lagged)
        self.lagged = False
        if self.problem.jacobian == "schur":
            prefix = normalise_prefix(d["solver"]["prefix"])
            inner = {k[len("schur_"):]: v for k, v in d["solver"]["petsc"].items()
                     if k.startswith("schur_")}
            # AIJ unless the case asks for the float32 cell blocks ("cells", or "auto":
            # where they apply): the cell storage saves ~45 KB/cell but costs ~1.3x the
            # preconditioner CPU, so it is opt-in. (Its answers agree with AIJ's: every
            # flow to < 1e-14 of its resolution on the absorber burst; the 4e-3 of the
            # lead-end flow seen there is a flow far below its resolution, summary.json
            # flow_resolution, tests/test_transport_flow_tolerance.py)
            inner.setdefault("storage", "aij")
            self.lagged = option_value(prefix + "schur_lag", True)
            pc = LaggedPreconditioner(
                SchurPreconditioner(self.problem, prefix, inner), lag=self.lagged,
                **{k: option_value(prefix + f"schur_lag_{k}", v)
                   for k, v in LAG_DEFAULTS.items()})
        #: how Newton's Jacobian is formed (a solver configuration, not physics)
        self.jacobian = JacobianConfig(
            "matrix_free" if self.problem.matrix_free else "assembled",
            self.problem.block_size, pc)
        self._t_initial = d["initial"].get("temperature") or None
        if self.self_consistent:
            self.problem.update_gap(self.local(self.x0))

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
    def _grid(self, params) -> BinGrid:
        from .grid import bin_grid

        d = self.case.values
        return bin_grid(d["energy"], [p.gap for p in params if not p.trap], self.T_bath,
                        d.get("sources") or [], self.self_consistent)

    def _jacobian_mode(self) -> str:
        mode = self.case.values["numerics"]["jacobian"]
        if mode != "auto":
            return mode
        g = self.grid
        entries = self.geometry.n_cells * g.n * (g.n + 2 * g.n_ph)
        if entries < AUTO_ASSEMBLED_ENTRIES:
            return "assembled"
        # measured: steady, transport-dominated (film trap) matrix-free 40 s vs schur 68 s;
        # transient burst (coarse absorber, 64 bins) schur 8.6 s vs matrix-free 435 s
        return "matrix_free" if self.case.values["time"]["steady"] else "schur"

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
                                _effective_temperature(nf, g.e, nq, self.T_bath))
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


def _effective_temperature(nf: np.ndarray, e: np.ndarray, nq: np.ndarray, t_ref: float
                           ) -> np.ndarray:
    """Bisection in log T for every cell: sum_i nf_i fermi(E_i, T) = nq."""
    lo = np.full(len(nq), math.log(t_ref * 1e-2))
    hi = np.full(len(nq), math.log(50.0))
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        n_mid = np.sum(nf * fermi(e[None, :], np.exp(mid)[:, None]), axis=1)
        below = n_mid < nq
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    return np.exp(0.5 * (lo + hi))


def _petsc(case, mode: str = "assembled", lagged: bool = False) -> dict:
    """PETSc options of the outer solve for a Jacobian mode (``[solver.petsc]`` wins; the
    ``schur_*`` keys configure the inner Schur-complement KSP)."""
    d = case.values
    base = {**DEFAULT_PETSC, **(MATRIX_FREE_PETSC if mode == "matrix_free" else {})}
    if mode == "schur":
        base = {k: v for k, v in base.items() if k not in SCHUR_OUTER_DROP}
        base.update(SCHUR_LAGGED_PETSC if lagged else SCHUR_PETSC)
    opts = {**base, **{k: v for k, v in d["solver"]["petsc"].items()
                       if not k.startswith("schur_")}}
    if opts.get("pc_type") not in ("bjacobi", "asm"):  # no sub-solvers: no sub_ defaults
        opts = {k: v for k, v in opts.items()
                if not k.startswith("sub_") or k in d["solver"]["petsc"]}
    return opts


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
        return {"energy_grid": {"qp_bins": g.n, "phonon_nodes": g.n_ph,
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
    solver = SteadySolver(p, d["solver"]["prefix"], _petsc(case, p.jacobian, sim.lagged),
                          sim.jacobian)
    x = p.dist.create_vec()
    x.setArray(sim.x0)
    its = lits = 0
    gap_iterations, change = 0, 0.0
    while True:
        scale = math.sqrt(sim.dist.sum(float(np.sum(p.rhs(sim.local(x.getArray()), 0.0,
                                                          math.inf) ** 2)))) or 1.0
        res = solver.nonlinear.solve(x, atol=1e-13 * scale)
        its, lits = its + res.iterations, lits + res.linear_iterations
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
    power = {k[2:]: u.to_si(v, "power") for k, v in rates.items() if k.startswith("E:")}
    n_unit = number_unit(u) / u.tau0
    number = {k[2:]: v * n_unit for k, v in rates.items() if k.startswith("N:")}
    tot = sim.totals(xo)
    return {"status": 0, "message": f"steady state: {res.message}", "steady": True,
            "newton_iterations": its, "linear_iterations": lits,
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
                          _petsc(case, p.jacobian, sim.lagged), opts, jacobian=sim.jacobian)
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
            "linear_iterations": result.linear_iterations,
            "N_qp": tot1["N_qp"] * number_unit(u),  # a key number, as in steady runs
            **balances,
            "flow_resolution": flow_resolution_si(sim, integ.accumulated, balances, opts)}

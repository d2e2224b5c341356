"""Case file -> device -> sweep -> HDF5, PNG, VTK and summary.json.

The validated case is converted once into the model's units (Δ0, ξ, R_ξ, I0): the run
template hands over an internal case (:meth:`fvqp.case.Case.internal`) whose unit system
is :class:`.constants.WireUnits`; the region constants come from each region's Material
(:func:`.constants.region_constants`). Under ``mpiexec`` the energies of the spectral
(imposed-gradient or phase-biased) and kinetic solves are shared over the ranks
(``Setup.split``, :class:`fvqp.parallel.energies.EnergySplit`; with collisions one system
distributed by blocks of energies, :mod:`.inelastic`), the sweeps of a supercurrent map run side by
side, one per rank (:func:`.sweeps.supercurrent_map`), and rank 0 writes the files.
"""

from __future__ import annotations

import logging
import os

import numpy as np

from ...case import CaseError
from ...io.workunits import StudyStopped, WorkUnits
from ...parallel.energies import EnergySplit
from ...parallel.tasks import TaskShare
from ...solvers.result import ConvergenceError
from ...units import E_CHARGE, K_B
from ..base.template import materials_entry
from .constants import region_constants, wire_units
from .electrode_case import case_electrodes
from .energygrid import graded_grid, uniform_grid
from .gridreach import tunnel_reach
from .keys import key_line, state_keys, sweep_keys
from .network import network_from_mesh
from .observables import charge_imbalance_potential, detector_current, split_bias, tunnel_current
from .outputs import ueV, write_outputs
from .phase import PhaseProblem
from .selfconsistent import CARRY, Setup, bias_sweep, solve_state, spectral_of
from .spectral import SpectralProblem
from .sweeps import SweepUnits, decompose, gradients, supercurrent_map, symmetric
from .terminals import Reservoir, TunnelJunction, segment_junctions

log = logging.getLogger(__name__)


def internal_case(case):
    """``case`` in the wire units (:func:`.constants.wire_units`): an
    :class:`fvqp.case.InternalCase` is returned as it is, an SI case converted once."""
    return case if hasattr(case, "values") else case.internal(wire_units(case))


def build(case) -> tuple[Setup, dict]:
    """The :class:`Setup` of a case (SI or internal, :func:`internal_case`) and the
    metadata needed to write SI outputs (``materials``: the Material of every region with
    a material, its constants' sources included)."""
    from ...mesh import read_mesh

    case = internal_case(case)
    d, sc = case.values, case.units.wire
    regions = {k: v for k, v in d["regions"].items() if v.get("active", True)}
    consts = {n: region_constants(r, n, case.path) for n, r in regions.items()}
    ref_name = next(iter(regions))
    ref = regions[ref_name]
    raw = read_mesh(case.mesh_path)
    # per wire: D/D_ref and A N0/(A N0)_ref with N0 ∝ 1/(ρ D) (σ = e²N0 D = 1/ρ), so the
    # edge conductance D × that is A/ρ relative to the reference (network.WireNetwork)
    diffs = {n: c.diffusivity / sc.diffusivity for n, c in consts.items()}
    areas = {n: regions[n]["cross_section"] * (sc.resistivity / c.resistivity) / diffs[n]
             for n, c in consts.items()}
    net = network_from_mesh(raw, xi=1.0, mesh_scale=d["mesh"]["scale"], areas=areas,
                            diffusions=diffs, regions=list(regions))
    t_bath = d["bath"]["temperature"]
    node_delta = np.zeros(net.n_nodes)
    gam = sc.energy(consts[ref_name].dynes)
    zeta = ref["depairing"]
    dphi = np.zeros(net.n_edges)
    for name, reg in regions.items():
        ri = net.region_names.index(name)
        e = net.edge_region == ri
        dphi[e] = reg["phase_gradient"]
        nodes = np.unique(np.concatenate([net.edge_a[e], net.edge_b[e]]))
        node_delta[nodes] = np.maximum(node_delta[nodes], sc.energy(consts[name].delta0))
    reservoirs, phased, ends = [], False, []
    for name, bc in (d.get("boundaries") or {}).items():
        for node in end_nodes(net, name):
            T = bc.get("temperature") or t_bath
            if bc["type"] == "normal":
                reservoirs.append(Reservoir(name, node, "normal", 0.0, bc["bias"], T))
            elif bc["type"] == "superconductor":
                g = bc["gap"] if bc.get("gap") else node_delta[node]
                phased |= bc.get("phase") is not None
                reservoirs.append(Reservoir(name, node, "superconductor", g, 0.0, t_bath,
                                            phase=bc.get("phase") or 0.0))
            elif bc["type"] == "tunnel":  # NIS barrier at the end (Eq. 11)
                ends.append(TunnelJunction(name, node, bc["conductance"], bc["bias"], T))
            # zero_flux: nothing to add (the natural condition of the scheme)
    if phased and np.any(dphi):
        raise CaseError([f"{case.path}: regions.*.phase_gradient: an imposed phase gradient "
                         "and superconducting boundaries with a phase exclude each other "
                         "(the phase is then solved for). Fix: remove phase_gradient or the "
                         "boundaries' phase."])
    junctions, passive = ends, []
    for name, j in (d.get("junctions") or {}).items():
        T = j.get("temperature") or t_bath
        parts = _junction(case, net, sc, name, j, T)
        (junctions if j["in_solve"] else passive).extend(parts)
    # superconducting electrodes (gap / material / dynes_gamma of the tables; N: unchanged)
    junctions, passive = case_electrodes(case, junctions), case_electrodes(case, passive)
    sw = d.get("sweep") or {}
    biases = [abs(sw[k]) for k in ("start", "stop") if sw.get(k) is not None]
    biases += [abs(j.bias) for j in junctions]
    scd = d.get("selfconsistency") or {}
    omega_d = _omega_d(case, scd, ref, consts[ref_name], sc)
    matsubara = scd.get("method", "real_axis") == "matsubara"
    en = d.get("energy") or {}
    de = en.get("spacing", 0.025)
    reach, _ = tunnel_reach(d, t_bath)  # a given max below: refused at validation
    emax = en.get("max") or max(4.0 if matsubara else omega_d,
                                max(biases + [0.0]) + 1.0 + 20 * t_bath, reach)
    if scd.get("mode", "local") != "none" and emax < omega_d and not matsubara:
        raise CaseError([f"{case.path}: energy.max: the grid ends at {emax:g} Δ0 but the gap "
                         f"equation (Eq. 8) integrates up to ω_D = {omega_d:g} Δ0; a shorter "
                         "grid would truncate it silently. Fix: raise energy.max to "
                         f"{omega_d:g} (or lower selfconsistency.omega_d)."])
    # symmetric about 0: the observables are ½∫ over the whole axis (Eqs. 4-6, 13, 14)
    if en.get("grid", "uniform") == "graded":  # fine steps at the gap edge ±Δ0
        eps = graded_grid(de, en.get("min_spacing", 0.002), emax)
    else:
        eps = uniform_grid(de, emax)
    if phased:
        prob = PhaseProblem(net, node_delta, gamma=gam, zeta0=zeta, reservoirs=reservoirs,
                            junctions=junctions)
    else:
        prob = SpectralProblem(net, node_delta, gamma=gam, zeta0=zeta, dphi=dphi,
                               reservoirs=reservoirs, junctions=junctions)
    probe = net.node(scd["probe"]) if scd.get("probe") else None
    coll = d.get("collisions") or {}
    gamma_ph = 1.0 / coll["tau0"] if coll.get("tau0") else 0.0
    setup = Setup(problem=prob, eps=eps, reservoirs=reservoirs, junctions=junctions,
                  gamma_ee=coll.get("gamma_ee", 0.0), gamma_ph=gamma_ph, t_ph=t_bath,
                  collision_spacing=coll.get("spacing"),
                  omega_d=omega_d, t_ref=t_bath,  # Eq. 8 by the split (gap-edge) quadrature
                  selfconsistency=scd.get("mode", "local"), probe_node=probe,
                  gap_method=scd.get("method", "real_axis"),
                  tol=scd.get("tolerance", 1e-7), max_iter=scd.get("max_iterations", 60),
                  petsc_prefix=d["solver"]["prefix"],
                  petsc_options=dict(d["solver"]["petsc"]),
                  split=EnergySplit(),  # energies over the ranks of an mpiexec run
                  delta0_ueV=ueV(sc))
    meta = {"scales": sc, "net": net, "raw": raw, "passive": passive, "t_bath": t_bath,
            "regions": list(regions),
            "materials": {n: c.material for n, c in consts.items()},
            # 1/(ρD) of every edge [s/(Ω m³)]: Q* = 2eN0 μ_Q* = μ_Q*[V]/(ρD) (Eqs. 4-5,
            # σ = 1/ρ = 2e²N0 D with N0 per spin)
            "inv_rho_d": np.array([1.0 / (consts[n].resistivity * consts[n].diffusivity)
                                   for n in net.region_names])[net.edge_region]}
    return setup, meta


def _omega_d(case, scd, reg, const, sc) -> float:
    """The cut-off ω_D of Eq. 8 in units of Δ0: from the coupling λ (ω_D = sinh(1/λ), the
    BCS T = 0 gap Δ0 = ω_D/sinh(1/λ)) of ``[selfconsistency]`` or of the first region
    (or its material), from the region's Debye temperature (given, or the material's with
    ``debye_from_material``), or the case's omega_d."""
    lam = scd.get("coupling") or const.coupling
    if lam:
        return float(np.sinh(1.0 / lam))
    if scd.get("debye_from_material") or reg.get("debye_temperature") is not None:
        theta = const.debye_temperature
        if theta is None:
            raise CaseError([f"{case.path}: selfconsistency.debye_from_material: material "
                             f"{reg.get('material')!r} has no debye_temperature. Fix: give "
                             "omega_d or coupling instead."])
        return K_B * theta / sc.delta0
    return scd.get("omega_d", 10.0)


def end_nodes(net, name: str) -> list[int]:
    """Nodes of the boundary ``name``: its point group, or for ``unlabelled`` every wire
    end (a node of one edge) that no point group names."""
    if name != "unlabelled" or name in net.groups:
        return [net.node(name)]
    named = np.concatenate([g for g in net.groups.values()] + [np.zeros(0, int)])
    return [int(i) for i in np.flatnonzero(net.degree == 1) if i not in named]


def _junction(case, net, sc, name, j, t) -> list:
    """Point junction on a named point group, or a segment junction on a named line
    group (a region of the mesh): a list of :class:`TunnelJunction` parts. ``j`` in wire
    units (conductances κ = G R_ξ, Eq. 11; ``conductance_per_length`` in S/m)."""
    bias = j["bias"]
    if name in net.groups:
        if j.get("conductance") is None:
            raise CaseError([f"{case.path}: junctions.{name}: {name!r} is a point of the "
                             "mesh; a point junction needs conductance. Fix: replace "
                             'conductance_per_length by conductance = "20 uS".'])
        return [TunnelJunction(name, net.node(name), j["conductance"], bias, t)]
    if name in net.region_names:
        edges = net.edge_region == net.region_names.index(name)
        if not edges.any():
            raise CaseError([f"{case.path}: junctions.{name}: the segment {name!r} is not "
                             "an active region of the case. Fix: add [regions." + name +
                             "] (with the wire's properties) or make it active."])
        gpl = j.get("conductance_per_length")  # κ per length ξ
        kpl = j["conductance"] / float(net.length[edges].sum()) if gpl is None \
            else gpl * sc.r_xi * sc.xi
        return segment_junctions(net, edges, kpl, name, bias, t)
    raise CaseError([f"{case.path}: junctions.{name}: the mesh has no point group or segment "
                     f"{name!r}; its points are {sorted(net.groups)} and its segments "
                     f"(line groups) {net.region_names}. Fix: rename the table."])


def _swept(sw: dict) -> str | None:
    """The terminal a ``[sweep]`` varies: a junction or a normal reservoir."""
    return sw.get("junction") or sw.get("reservoir")


def _supercurrent_map(case, setup, meta, sw, biases, det, currents, units,
                      tasks) -> dict:
    """:func:`~.sweeps.supercurrent_map` (``currents`` in I0; the gradients of the
    currents and ``tasks.size`` sweeps side by side, one per rank) with its input errors
    as CaseErrors in SI."""
    from .gradients import CriticalCurrentError

    i0 = meta["scales"].i0
    try:
        grads = gradients(setup, list(currents), meta["t_bath"], tasks)
    except CriticalCurrentError as exc:
        worst = max(map(abs, currents)) * i0 * 1e6
        raise CaseError([f"{case.path}: sweep.supercurrents: {worst:.4g}"
                         f" µA exceeds the depairing critical current "
                         f"{exc.critical * i0 * 1e6:.4g} µA of the wire (Eqs. 6-7). Fix: "
                         "lower the supercurrents."]) from exc
    except ValueError as exc:
        raise CaseError([f"{case.path}: sweep.supercurrents: {exc}. Fix: use a single wire "
                         "or remove supercurrents."]) from exc
    return supercurrent_map(setup, _swept(sw), biases, det, grads, units, tasks.size)


def _node_q_star(meta, mu_v) -> np.ndarray:
    """Q* = μ_Q*/(ρD) on the nodes (C/m³, Eqs. 4–5), 1/(ρD) averaged over the node's
    control volume where wires of different materials meet."""
    net = meta["net"]
    geo = 0.5 * net.area * net.length  # A N0 L/2 ∝ A L/(ρD): geo/inv_rho_d ∝ A L/2
    w, wq = np.zeros(net.n_nodes), np.zeros(net.n_nodes)
    for ends in (net.edge_a, net.edge_b):
        np.add.at(w, ends, geo / meta["inv_rho_d"])
        np.add.at(wq, ends, geo)
    return mu_v * wq / w


def run(case, output_dir: str | None = None, resume: bool = False,
        max_steps: int | None = None) -> dict:
    """Run a usadel case: one state, or a bias sweep with detector currents and g_nl.

    A bias sweep checkpoints every finished bias (``checkpoint.h5`` in the output
    directory, :class:`fvqp.io.workunits.WorkUnits`): ``resume`` continues a killed sweep
    after its last finished bias, from that bias's state (the result equals an
    uninterrupted sweep), ``max_steps`` stops after that many new biases (status 1). A
    bias that does not converge raises :class:`fvqp.solvers.ConvergenceError`; the
    finished biases stay in the checkpoint.
    """

    case = internal_case(case)
    setup, meta = build(case)
    sc, net = meta["scales"], meta["net"]
    out_dir = output_dir or case.output_dir
    os.makedirs(out_dir, exist_ok=True)
    d = case.values
    sw = d.get("sweep") or {}
    res: dict = {"x_um": net.arclength() * sc.xi * 1e6,
                 "points_um": net.points * sc.xi * 1e6}
    summary: dict = {"model": "usadel", "case": case.path, "status": 0,
                     "xi_m": sc.xi, "R_xi_ohm": sc.r_xi, "I0_A": sc.i0,
                     "energies": int(setup.eps.size), "nodes": net.n_nodes}
    v_unit = sc.delta0 / E_CHARGE  # volts per Δ0/e
    last = None  # the kinetic solution of a single state
    if _swept(sw):
        biases = np.linspace(sw["start"], sw["stop"], sw["points"])
        det = None
        if sw.get("detector"):
            jd = [j for j in setup.junctions + meta["passive"] if j.name == sw["detector"]]
            vd = np.array(sw["detector_biases"], float)
            det = ([j.node for j in jd], [j.kappa for j in jd], vd, jd[0].temperature)
        currents = list(sw.get("supercurrents") or [])
        tasks = TaskShare()  # the root rank writes; a map's sweeps run side by side
        units = (SweepUnits if currents else WorkUnits)(
            out_dir, case.digest, resume=resume, max_units=max_steps, latest_only=CARRY,
            tasks=tasks)
        try:
            if currents:  # g_nl(V_inj, V_det, ±I_s) and Eqs. 16-19 (sweeps.py)
                smap = _supercurrent_map(case, setup, meta, sw, biases, det, currents,
                                         units, tasks)
                out = smap["first"]
            else:
                out = bias_sweep(setup, _swept(sw), biases, det, units=units)
        except StudyStopped as stop:
            log.info("usadel %s: %s", case.name, stop)
            return {"model": "usadel", "case": case.path, "status": 1, "message": str(stop),
                    "biases_done": len(units), "checkpoint": units.path}
        except ConvergenceError as exc:
            total = biases.size * max(1, sum(1 if i == 0 else 2 for i in currents))
            raise ConvergenceError(f"bias {len(units) + 1} of {total}: {exc} The "
                                   f"{len(units)} finished biases are kept in "
                                   f"{units.path}.") from exc
        res["bias_mV"] = biases * v_unit * 1e3
        res["i_inj_A"] = out["i_inj"] * sc.i0
        probe = setup.probe_node if setup.probe_node is not None else \
            next(j.node for j in setup.junctions + setup.reservoirs if j.name == _swept(sw))
        res["delta_probe_ueV"] = out["delta"][:, probe] * sc.delta0 / (E_CHARGE * 1e-6)
        gap, mu = out["delta"][-1], out["mu"][-1]
        spec = out["spectral"] if out.get("spectral") is not None else \
            spectral_of(setup, gap)  # every bias resumed from the checkpoint
        summary["self_consistency_iterations"] = out["iterations"].tolist()
        if det is not None:
            i_det = out["i_det"] * sc.i0
            res["i_det_A"] = i_det
            res["detector_bias_mV"] = vd * v_unit * 1e3
            # a superconducting injector: the exact derivative of the discrete I_det(V)
            # ripples with period δε unless γ_e >> δε (its DOS edge moves through the
            # grid with V: the BCS edge gave the wrong sign, ~100x): differences instead
            s_inj = any(getattr(j, "gap", 0.0) > 0 for j in setup.junctions
                        if j.name == _swept(sw))
            if out["g_det"].size and not s_inj:  # linear problem: exact (Eq. 15)
                g = out["g_det"] / sc.r_xi
                summary["g_nl"] = "exact linear response dI_det/dV_inj"
            else:  # Δ(V), collisions or an S injector: central differences in V_inj
                g = np.gradient(i_det, biases * v_unit, axis=0) if biases.size > 1 else None
                summary["g_nl"] = "finite differences of I_det(V_inj)" + (
                    " (superconducting injector)" if s_inj else "")
            res["g_nl"] = g
            if g is not None and symmetric(biases) and (not currents or currents[0] == 0):
                res["g_sa"], res["g_ss"] = split_bias(g, axis=0)  # of the I_s = 0 sweep
            if currents:
                res["supercurrent_A"] = np.array(currents) * sc.i0
                res["phase_gradient_max_per_xi"] = smap["dphi_max"]
                res["i_det_map_A"] = smap["i_det"] * sc.i0
                g_map = smap["g_det"] / sc.r_xi if smap["g_det"] is not None and not s_inj \
                    else None
                for k, val in decompose(res["i_det_map_A"], biases * v_unit, g_map).items():
                    res[f"{k}_map"] = val
                summary["self_consistency_iterations"] = smap["iterations"]
        summary["message"] = f"bias sweep of {_swept(sw)}: {biases.size} points"
    else:
        if resume or max_steps is not None:
            raise ValueError(f"{case.path}: this usadel case computes one steady state "
                             "(no [sweep] junction): there is nothing to checkpoint or "
                             "resume. Fix: run it without --resume / --max-steps.")
        st = solve_state(setup)
        gap, spec, last = st.delta, st.kinetic.spectral, st.kinetic
        mu = charge_imbalance_potential(st.kinetic)
        cur: dict = {}
        for j in setup.junctions:  # summed over the parts of segment junctions
            cur[j.name] = cur.get(j.name, 0.0) + tunnel_current(st.kinetic, j) * sc.i0
        summary["junction_currents_A"] = cur
        det: dict = {}
        for j in meta["passive"]:
            det[j.name] = det.get(j.name, 0.0) + float(detector_current(
                st.kinetic, j.node, j.kappa, [j.bias], j.temperature)[0] * sc.i0)
        summary["detector_currents_A"] = det
        from .observables import charge_current

        i_e = charge_current(st.kinetic) * sc.i0  # along the mesh cell orientation
        res["edge_current_A"] = i_e
        res["x_edge_um"] = np.stack([res["x_um"][net.edge_a], res["x_um"][net.edge_b]], 1)
        into: dict = {}  # current out of the wire into each reservoir (all its ends)
        for r in setup.reservoirs:
            into[r.name] = into.get(r.name, 0.0) + float(
                i_e[net.edge_b == r.node].sum() - i_e[net.edge_a == r.node].sum())
        summary["reservoir_currents_A"] = into
        summary["self_consistency_iterations"] = st.iterations
        summary["message"] = "steady state"
    res["gap_ueV"] = gap * ueV(sc)
    res["mu_uV"] = mu * v_unit * 1e6
    res["q_star_C_per_m3"] = _node_q_star(meta, mu * v_unit)
    summary["gap_min_ueV"] = float(res["gap_ueV"].min())
    summary["delta0_ueV"] = ueV(sc)  # the energy unit of the solve (ε/Δ0 in the grid)
    keys = (sweep_keys(res, res["gap_ueV"], res["x_um"]) if last is None else
            state_keys(last, setup, sc, res["gap_ueV"], res["x_um"]))
    summary.update(keys)
    # a state's currents into its reservoirs (the supercurrent of a phase-biased wire)
    summary["keys"] = list(keys) + (["reservoir_currents_A"] if last is not None else [])
    summary["materials"] = materials_entry(meta["materials"])
    h5 = os.path.join(out_dir, f"{case.name}.h5")
    summary["output"] = h5
    summary["ranks"] = 1 if setup.split is None else setup.split.size
    if setup.split is None or setup.split.is_root:  # one rank writes the files
        write_outputs(case, out_dir, res, setup, spec, meta, mu * v_unit, summary)
    log.info("usadel %s: %s; %s", case.name, summary["message"], key_line(summary))
    return summary

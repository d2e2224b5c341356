r"""The ``phonon`` model's physics on the run template (:class:`fvqp.models.base.MeshModel`):
case → :class:`.problem.PhononProblem`, output fields, steady and transient runs.

Internal units (:mod:`fvqp.units`) are those of the ``[units] reference_material``
(default Al, the film the phonons are absorbed in): energies in :math:`k_BT_c`, times in
:math:`\tau_0`, lengths in µm, states per energy and volume in :math:`N_0`. Each region's
medium (:mod:`fvqp.materials.substrates`) gives one effective branch: the Debye-averaged
velocity :math:`3/v_D^3 = 1/v_L^3 + 2/v_T^3` (exact low-frequency density of states
:math:`g = 3\Omega^2/(2\pi^2\hbar^3v_D^3)` of the three branches) used for the density of
states and as the group velocity, and the impedance :math:`Z = \varrho v_D`.

The transient run marches all bins together with a fixed step (BE or BDF2), writes the
``.pvd`` snapshots and ``<case>_series.csv`` (phonon energy, energy through each bath or
absorbing boundary and into each absorbing region, injected energy, imbalance — J,
cumulative) and ``checkpoint.h5`` (``--resume`` continues, ``--max-steps`` stops early).
"""

from __future__ import annotations

import logging
import math
import os

import numpy as np

from ...case.loader import CaseError
from ...io.series import SeriesWriter
from ...materials import get_material, get_medium
from ...materials.substrates import PhononMedium
from ...mesh import build_geometry, read_mesh
from ...mesh.sources import PowerProfile, PulseProfile, placement
from ...ordinates import circle, sphere
from ...parallel import Distribution
from ...spectra import bose
from ...units import E_CHARGE, HBAR, UnitSystem
from ..base import MeshModel, OutputField, to_output
from ..base.timeloop import Progress, after_step, extended_steps, fixed_step_status
from . import MEDIUM_OVERRIDES
from .branches import decay_products, dos_split_products, isotope_exchange
from .deposits import track_weights
from .problem import PhononProblem, PhononSource

log = logging.getLogger("fvqp.phonon")

OUTPUTS = {"phonon_energy_density": OutputField("energy_density", "J/m^3"),
           "phonon_number_density": OutputField("number_density", "1/um^3"),
           "phonon_energy_flux": OutputField("heat_flux", "W/m^2"),  # (n, 3) vectors
           "region": OutputField("dimensionless", "1")}
KIND = {"specular": "specular", "diffuse": "diffuse", "absorbing": "inflow",
        "bath": "inflow"}

__all__ = ["OUTPUTS", "PhononModel", "PhononSimulation", "case_medium", "phonon_units",
           "run"]


def case_medium(table) -> PhononMedium:
    """The :class:`~fvqp.materials.substrates.PhononMedium` of a region table: the
    database medium named by ``medium`` with the table's sound velocities (SI, kept SI
    in the internal case; source "case override")."""
    m = get_medium(table["medium"])
    over = {k: float(table[k]) for k in MEDIUM_OVERRIDES if table.get(k) is not None}
    return m.replace(**over) if over else m


def phonon_units(case) -> UnitSystem:
    """The unit system of a phonon case: of ``[units] reference_material`` (default Al,
    the film the phonons are absorbed in; phonon regions name a medium, not a
    material)."""
    return UnitSystem.from_material(get_material(case.data["units"].get("reference_material")
                                                 or "Al"))


class PhononSimulation:
    r"""The phonon model of one case, assembled on every rank.

    Parameters
    ----------
    case : fvqp.case.InternalCase
        The case in the internal units of :func:`phonon_units` (built once by the run
        template; :meth:`from_case` for an SI case).
    comm : petsc4py communicator, optional
    grid : tuple of (float, int), optional
        Bin width and number of bins imposed by a coupled model (``bte_chip``: the
        collision layer's phonon nodes :math:`\Omega_q = (q+1)h`), instead of
        ``[energy]``.
    states : dict, optional
        Region name -> :math:`g_r(\Omega_j)` (N,) imposed by a coupled model (the phonon
        storage of the QP collision layer in superconducting films), instead of the
        medium's Debye density of states; velocity and impedance stay the medium's.
    """

    def __init__(self, case, comm=None, grid: tuple | None = None,
                 states: dict | None = None):
        self.case, d = case, case.values
        regions = d["regions"]
        active = [n for n, r in regions.items() if r.get("active", True)]
        self.units = u = case.units
        raw = read_mesh(case.mesh_path).subset(active)
        self.T_bath = d["bath"]["temperature"]
        names = list(raw.region_names)
        R = len(names)
        if grid is not None:
            self.h, self.N = float(grid[0]), int(grid[1])
        else:
            e = d["energy"]
            self.N = int(e["bins"])
            e_max = e.get("e_max")
            if e_max is None:
                top = 12 * self.T_bath
                for s in d.get("sources") or []:
                    top = max(top, s["energy"] + 3 * s["width"])
                e_max = top
            self.h = e_max / self.N
        ne = self.N
        # branches stacked as bins: one effective (Debye-averaged) branch, or L and T
        lt = d["phonons"]["branches"] == "lt"
        #: isotope scattering across branches and decay by channel (``branches = "lt"``)
        self.mixing = lt and d["phonons"].get("branch_mixing", "isotropic") == "isotropic"
        if lt and states:
            raise ValueError("imposed film states need one effective branch")
        nb = 2 if lt else 1
        self.branch_names = ["L", "T"] if lt else ["D"]
        self.N = nb * ne
        self.omega = np.tile((np.arange(ne) + 1.0) * self.h, nb)
        om_si = u.to_si(self.omega, "energy")
        v_int = u.tau0 / u.length
        speed, imp = np.ones((R, self.N)), np.ones((R, self.N))
        med = np.zeros(R, int)
        states_in = states or {}
        states, iso, dec, absorb = (np.zeros((R, self.N)) for _ in range(4))
        products = np.zeros((R, self.N, self.N))
        exchange = np.zeros((R, ne)) if self.mixing else None
        widths = np.ones(R)
        media, self.media = {}, [None] * R
        for ri, name in enumerate(names):
            reg = regions[name]
            m = self.media[ri] = case_medium(reg)
            # one index per distinct medium (an overridden medium is another medium:
            # interfaces with its database self transmit by mismatch)
            med[ri] = media.setdefault(m, len(media))
            # (velocity, states weight) per branch: 3 modes at v_D, or 1 at v_L + 2 at v_T
            br = ([(m.sound_velocity_L, 1.0), (m.sound_velocity_T, 2.0)] if lt
                  else [(m.debye_velocity, 3.0)])
            for b, (vb, wb) in enumerate(br):
                sl = slice(b * ne, (b + 1) * ne)
                speed[ri, sl], imp[ri, sl] = vb * v_int, m.density * vb
                g_si = wb * om_si[sl] ** 2 / (2 * math.pi**2 * HBAR**3 * vb**3)  # 1/(J m^3)
                states[ri, sl] = g_si / u.N0
            if states_in.get(name) is not None:
                states[ri] = np.asarray(states_in[name], dtype=float)
            if reg.get("isotope_scattering", True):
                iso[ri] = [m.isotope_rate(w) * u.tau0 for w in om_si]
                if self.mixing:   # A nu^4 across the branches (not the mean free path)
                    exchange[ri] = isotope_exchange(*states[ri].reshape(2, ne), iso[ri, :ne])
            if reg.get("mean_free_path"):  # elastic, energy independent: rate v / l
                iso[ri] += speed[ri] / reg["mean_free_path"]
            if reg.get("anharmonic_decay", True):  # the (L or effective) first branch
                dec[ri, :ne] = [m.decay_rate(w) * u.tau0 for w in om_si[:ne]]
                dec[ri, 0] = 0.0
            # decay products (.branches): by channel, or split by the density of states
            f_tt = m.anharmonic_TT_fraction if self.mixing else None
            products[ri] = decay_products(ne, f_tt) if f_tt is not None else \
                dos_split_products(ne, [wb / vb**3 for vb, wb in br])
            if reg.get("absorption_time"):
                thr = reg.get("absorption_threshold") or 0.0
                absorb[ri] = np.where(self.omega >= thr, 1.0 / reg["absorption_time"], 0.0)
            if raw.dim == 2:
                widths[ri] = reg["thickness"]
        #: region -> medium, the ``materials`` entry of ``summary.json``
        self.region_materials = dict(zip(names, self.media, strict=True))
        per_e = states.reshape(R, nb, ne)
        self.dos_share = (per_e / per_e.sum(axis=1, keepdims=True)).reshape(R, self.N)
        if not lt:  # one branch: the same velocity and impedance in every bin
            speed, imp = speed[:, 0], imp[:, 0]
        self.geometry = build_geometry(raw, scale=d["mesh"]["scale"],
                                       widths=widths, strict=len(active) == len(regions))
        self.dist = Distribution(self.geometry, comm)
        a = d["angles"]
        self.quad = circle(a["directions"]) if raw.dim == 2 else sphere(a["polar"], a["azimuth"])
        self.n_bath = bose(self.omega, self.T_bath) if self.T_bath > 0 else np.zeros(self.N)
        #: the energy nodes (0 .. bins-1) of the ``[slices] energies`` (``n_slice_<k>``)
        self.slice_nodes = self._slice_nodes(ne)
        kinds, n_in = self._boundaries()
        itf = d["interfaces"]
        self.problem = PhononProblem(
            self.dist, self.quad, self.h, self.N, med, states, speed, imp, iso, dec, absorb,
            widths, kinds, n_in, self.n_bath, self._sources(), interface=itf["model"],
            reflection=itf["reflection"], prefix=d["solver"]["prefix"],
            petsc=d["solver"]["petsc"], energies=self.omega, products=products,
            exchange=exchange)

    @classmethod
    def from_case(cls, case, comm=None) -> PhononSimulation:
        """From an SI :class:`fvqp.case.Case`, converted once as the run template does."""
        return cls(case.internal(phonon_units(case)), comm)

    def _boundaries(self):
        d = self.case.values
        kinds, n_in = {}, {}
        if "unlabelled" in self.geometry.boundary_names:
            kinds["unlabelled"] = d["interfaces"]["wall"]
        for name, bc in (d.get("boundaries") or {}).items():
            kinds[name] = KIND[bc["type"]]
            if bc["type"] == "absorbing":
                n_in[name] = np.zeros(self.N)
            elif bc["type"] == "bath":
                t = bc.get("temperature") or self.T_bath
                n_in[name] = bose(self.omega, t) if t > 0 else np.zeros(self.N)
        return kinds, n_in

    def _sources(self) -> list[PhononSource]:
        """Point (Gaussian spot), region or track deposits; spectrum Gaussian in energy
        (``energy``, ``width``), phonons per unit energy :math:`\\sum_j\\Omega_js_j = 1`."""
        d, out = self.case.values, []
        for s in d.get("sources") or []:
            if s.get("length") is not None:
                w = track_weights(self.dist, self.geometry, s, d["mesh"]["scale"])
            else:
                w = placement(self.dist, self.geometry, s, d["mesh"]["scale"])
            if s.get("deposit") is not None:
                prof = PulseProfile(s["deposit"], s["time"], s["duration"])
            else:
                prof = PowerProfile(s["power"], s["start"], s.get("stop") or math.inf)
            e0, wd = s["energy"], s["width"]
            if wd > 0:
                energy_share = np.exp(-0.5 * ((self.omega - e0) / wd) ** 2)
            else:
                near = self.omega[int(np.argmin(np.abs(self.omega - e0)))]
                energy_share = np.isclose(self.omega, near, rtol=1e-12).astype(float)
            names = self.geometry.region_names
            r0 = names.index(s["region"]) if s.get("region") else 0
            spec = energy_share * self.dos_share[r0] / self.omega   # branches by DOS
            spec = spec / float(spec @ self.omega)

            def rate(t0, t1, prof=prof):
                return prof.steady_rate() if math.isinf(t1) else prof.amount(t0, t1) / (t1 - t0)

            out.append(PhononSource(w, spec, rate))
        return out

    def _slice_nodes(self, ne: int) -> list[int]:
        r"""The node :math:`\Omega_j = (j+1)h` nearest to each ``[slices] energies`` entry;
        an energy outside the grid, more than :math:`h/2` from every node, is a
        :class:`~fvqp.case.loader.CaseError` naming the key, the file and the fix."""
        h, u = self.h, self.units
        lo, hi = 0.5 * h, (ne + 0.5) * h
        nodes, errors = [], []

        def ueV(v: float) -> str:
            return f"{u.to_si(v, 'energy') / (E_CHARGE * 1e-6):.6g} ueV"

        for k, e in enumerate((self.case.values.get("slices") or {}).get("energies") or []):
            if not lo <= e <= hi:
                fix = "or raise [energy] e_max" if e > hi else "or add [energy] bins"
                errors.append(f"{self.case.path}: slices.energies[{k}]: {ueV(e)} lies "
                              f"outside the phonon energy grid (nodes {ueV(h)} to "
                              f"{ueV(ne * h)}, h = {ueV(h)}); give an energy between "
                              f"{ueV(lo)} and {ueV(hi)} ({fix}).")
                continue
            nodes.append(min(ne - 1, max(0, int(round(e / h)) - 1)))
        if errors:
            raise CaseError(errors)
        return nodes

    def slice_energies(self) -> np.ndarray:
        """Node energies (internal) of the slices :attr:`slice_nodes`."""
        return self.omega[self.slice_nodes]

    def slice_occupations(self, x: np.ndarray) -> list[np.ndarray]:
        r"""Per slice, the angle-averaged occupation of its node per owned cell,
        :math:`\bar n_j = \sum_b s_{bj}\bar n_{bj}` over the branches :math:`b` by
        their share of the density of states :math:`s_{bj} = g_{bj}/\sum_{b'}g_{b'j}`
        (one branch: :math:`\bar n_j`), so that :math:`h\sum_j g_j\bar n_j` with
        :math:`g_j = \sum_bg_{bj}` is the number density."""
        p, nb = self.problem, len(self.branch_names)
        by_branch = p.mean(x) * self.dos_share[p.reg[: p.n]].T   # (N, n)
        tot = by_branch.reshape(nb, self.N // nb, p.n).sum(axis=0)
        return [tot[j].copy() for j in self.slice_nodes]

    def declared_outputs(self) -> dict:
        """:data:`OUTPUTS` plus this case's ``n_slice_<k>`` fields."""
        return {**OUTPUTS, **{f"n_slice_{k}": OutputField("dimensionless", "1")
                              for k in range(len(self.slice_nodes))}}

    # ---- outputs ------------------------------------------------------------------------
    def internal_fields(self, x: np.ndarray, names) -> dict:
        p, out = self.problem, {}
        if "phonon_energy_density" in names:
            out["phonon_energy_density"] = p.energy_density(x)
        if "phonon_number_density" in names:
            out["phonon_number_density"] = p.number_density(x)
        if "phonon_energy_flux" in names:
            out["phonon_energy_flux"] = p.energy_flux(x)                 # (n, 3)
        if "region" in names:
            out["region"] = p.reg[: p.n].astype(float)
        if "n_slices" in names:   # angle-averaged occupation at each slice's node
            out.update({f"n_slice_{k}": v for k, v in
                        enumerate(self.slice_occupations(x))})
        return out

    def fields(self, x: np.ndarray, names) -> dict:
        return to_output(self.units, self.internal_fields(x, names), self.declared_outputs())

    @property
    def e_unit(self) -> float:
        """One internal energy in J."""
        return self.units.scales["total_energy"]


class PhononModel(MeshModel):
    """The phonon model on the run template."""

    name = "phonon"
    outputs = OUTPUTS
    key_numbers = ("E_phonon_J", "t_end_s", "energy_imbalance_J")

    def units(self, case) -> UnitSystem:
        return phonon_units(case)

    def build(self, case, comm=None) -> PhononSimulation:
        return PhononSimulation(case, comm)

    def declared(self, sim: PhononSimulation) -> dict:
        return sim.declared_outputs()

    def stoppable(self, sim) -> bool:
        return False

    def steady(self, sim: PhononSimulation, ctx) -> dict:
        p = sim.problem
        xs, res = p.sweep(0.0, src=p.source_rates(0.0, math.inf))
        p.release()
        ctx.writer.write(0.0, sim.fields(xs, sim.case.values["output"]["fields"]))
        rates = {k: v * sim.e_unit / sim.units.tau0 for k, v in p.energy_rates(xs).items()}
        ok = all(r.success for r in res)
        return {"status": 0 if ok else -1, "steady": True,
                "message": "steady state: all bins converged" if ok else
                "steady state: a KSP solve did not converge",
                "linear_iterations": int(sum(r.iterations for r in res)),
                "energy_rates_W": rates, "E_phonon_J": p.energy(xs) * sim.e_unit}

    def transient(self, sim: PhononSimulation, ctx) -> dict:
        return march(sim, ctx.writer, ctx.out_dir, ctx.max_steps, ctx.resume)

    def describe(self, sim: PhononSimulation) -> dict:
        u, p = sim.units, sim.problem
        return {"unknowns": int(sim.dist.n_global * p.N * p.B), "energy_bins": p.N,
                "ordinates": p.K, "bin_width_ueV": u.to_si(p.h, "energy") / (E_CHARGE * 1e-6),
                "debye_velocity_m_per_s": {n: m.debye_velocity for n, m in
                                           zip(sim.geometry.region_names, sim.media,
                                               strict=True)},
                "amm_reciprocity_scaling": p.scale_factors,
                "branch_mixing": "isotropic" if sim.mixing else "none",
                "slice_energies_ueV": [u.to_si(float(e), "energy") / (E_CHARGE * 1e-6)
                                       for e in sim.slice_energies()]}


def march(sim: PhononSimulation, writer, out_dir: str, max_steps=None,
          resume: bool = False) -> dict:
    r"""Fixed-step BE/BDF2 of all bins (highest first); snapshots every ``[output] every``
    steps, one series row per step, ``checkpoint.h5`` every ``[output] checkpoint_every``
    steps and at the end (:class:`fvqp.io.bin_checkpoint.BinCheckpoint`: states in
    file cell order, so a run resumes on any number of ranks); ``resume`` continues from
    it (snapshots and series rows after it are rewritten), ``max_steps`` stops this
    invocation early (status 1).

    ``[time] end`` is left out of the case digest (``digest_exempt``), so a resumed run
    may extend a finished one: it continues with the checkpoint's step :math:`\Delta t`
    to the new end (rounded up to a whole step), and gives the run that went there at
    once; an end before the checkpoint is refused
    (:class:`~fvqp.io.checkpoint.CheckpointError` with the fix).

    BDF2 is applied to :math:`E - Q(t)` (:math:`Q` the deposited amount, exact step
    integrals of the profile), so the storage receives exactly the deposit (a BE first
    step would otherwise add half its deposit again); the boundary and absorption flows
    accumulate with the scheme's own weights, so the energy balance is exact for BDF2
    too. Progress on rank 0 (:class:`~fvqp.models.base.timeloop.Progress`): step, time in
    s and the phonon energy at every snapshot and at most every 5 s between them."""
    from ...io.bin_checkpoint import BinCheckpoint

    p, d, u = sim.problem, sim.case.values, sim.units
    t_end, dt = d["time"]["end"], d["time"]["dt_initial"]
    nsteps = max(1, int(math.ceil(t_end / dt - 1e-9)))
    dt = t_end / nsteps
    bdf2 = d["time"]["scheme"] == "bdf2"
    names, every = d["output"]["fields"], d["output"]["every"]
    cp_every = d["output"]["checkpoint_every"]
    rank0 = sim.dist.rank == 0
    ck = BinCheckpoint(sim.dist, out_dir, sim.case.digest, p.B)
    rows = SeriesWriter(os.path.join(out_dir, f"{writer.name}_series.csv"),
                        resume=resume and rank0)
    if resume:
        cells, _, meta = ck.load()
        x, start = cells["x"], int(meta["step"])
        dt, nsteps = extended_steps(meta.get("dt", dt), start, t_end, u, out_dir)
        prev = cells["prev"] if meta["has_prev"] else None
        flows, inc, its, E0 = meta["flows"], meta["inc"], meta["its"], meta["E0"]
        src_prev = p.source_rates((start - 1) * dt, start * dt) if start else None
        writer.truncate(u.to_si(start * dt, "time"))
        rows.truncate(u.to_si(start * dt, "time"))
    else:
        t0 = d["initial"].get("temperature")
        occ = bose(p.omega, t0) if t0 else p.n_bath
        x, prev, src_prev, start = p.equilibrium(occ), None, None, 0
        E0 = p.energy(x)
        flows = {k: 0.0 for k in p.energy_rates(x, 0.0, dt)}
        inc, its = {}, []
    target = nsteps if max_steps is None else min(nsteps, start + max_steps)
    failed = None
    eu = sim.e_unit
    regions = sim.geometry.region_names

    def label(k):
        return f"region:{regions[int(k.split(':')[1])]}" if k.startswith("region:") else k

    def row(step, E):
        out = {"time_s": u.to_si(step * dt, "time"), "dt_s": u.to_si(dt if step else 0.0,
                                                                      "time"),
               "step": step, "linear_iterations": int(sum(its)), "E_phonon_J": E * eu}
        out.update({f"{label(k)}_J": v * eu for k, v in flows.items()})
        out["imbalance_J"] = (E - E0 + sum(flows.values())) * eu
        return out

    def save(step):
        ck.save({"x": x, "prev": x if prev is None else prev}, {},
                {"step": step, "dt": dt, "has_prev": prev is not None, "flows": flows,
                 "inc": inc, "its": its, "E0": E0})

    if not resume:
        writer.write(0.0, sim.fields(x, names))
        if rank0:
            rows.append(row(0, E0))
    done = start
    progress = Progress(sim.dist, t_end, u, log)
    for step in range(start + 1, target + 1):
        t = (step - 1) * dt
        fo = p.directional(x)
        be = prev is None or not bdf2
        if be:
            a, hist = 1.0 / dt, fo / dt
        else:
            a, hist = 1.5 / dt, (2.0 * fo - 0.5 * p.directional(prev)) / dt
        src = p.source_rates(t, t + dt)
        # BDF2 acts on E - Q(t): the source enters as 1.5 s(n+1) - 0.5 s(n)
        s_eff = src if be else 1.5 * src - 0.5 * src_prev
        xn, res = p.sweep(a, hist=hist, src=s_eff, x0=x)
        its.append(int(sum(r.iterations for r in res)))
        if not all(r.success for r in res):
            failed = step
            break
        for k, val in p.energy_rates(xn, t, t + dt).items():
            if be or k == "sources":
                inc[k] = dt * val
            else:
                inc[k] = (dt * val + 0.5 * inc.get(k, 0.0)) / 1.5
            flows[k] = flows.get(k, 0.0) + inc[k]
        prev, x, done, src_prev = x, xn, step, src
        E = p.energy(x)
        if rank0:
            rows.append(row(step, E))
        after_step(step, nsteps, target, (every, cp_every), rows if rank0 else None,
                   lambda s=step, y=x: writer.write(u.to_si(s * dt, "time"),
                                                    sim.fields(y, names)), save)
        progress.fixed_step(step, nsteps, dt, step % every == 0 or step == target,
                            f" E_phonon={E * eu:.6e} J")
    progress.close()
    p.release()
    save(done)
    if rank0:
        rows.flush()
    E1 = p.energy(x)
    status, msg = fixed_step_status(done, nsteps, failed, "KSP did not converge")
    named = {label(k): v * eu for k, v in flows.items()}
    return {"status": status, "message": msg, "steady": False, "steps": done,
            "t_end_s": u.to_si(done * dt, "time"), "dt_s": u.to_si(dt, "time"),
            "linear_iterations": int(sum(its)), "max_linear_iterations": int(max(its or [0])),
            "E_phonon_J": E1 * eu, "energy_J": {"initial": E0 * eu, "final": E1 * eu,
                                                 **named},
            "energy_imbalance_J": (E1 - E0 + sum(flows.values())) * eu}


def run(case, output_dir: str | None = None, resume: bool = False,
        max_steps: int | None = None, comm=None):
    """Run a phonon case; returns the :class:`~fvqp.models.base.ModelResult`."""
    return PhononModel().run(case, output_dir, resume, max_steps, comm)

r"""The ``phonon`` model's physics on the run template (:class:`fvqp.models.base.MeshModel`):
case → :class:`.problem.PhononProblem`, output fields, steady and transient runs.

Internal units (:mod:`fvqp.units`) are those of the ``[units] reference_material``
(default Al, the film the phonons are absorbed in): energies in :math:`k_BT_c`, times in
:math:`\tau_0`, lengths in µm, states per energy and volume in :math:`N_0`. Each region's
medium (:mod:`fvqp.materials.substrates`) gives one effective branch: the Debye-averaged
velocity :math:`3/v_D^3 = 1/v_L^3 + 2/v_T^3` (exact low-frequency density of states
:math:`g = 3\Omega^2/(2\pi^2\hbar^3v_D^3)` of the three branches) used for the density of
states and as the group velocity, and the impedance :math:`Z = \varrho v_D`.

The transient run (:mod:`.march`) marches all bins together with a fixed step (BE or
BDF2) on the shared fixed-step loop, writes the ``.pvd`` snapshots and
``<case>_series.csv`` and ``checkpoint.h5`` (``--resume`` continues, ``--max-steps`` or
SIGINT/SIGTERM stop it after a step with a checkpoint).
"""

from __future__ import annotations

import logging
import math
from functools import partial

import numpy as np

from ...case.loader import CaseError
from ...materials import get_material, get_medium
from ...materials.substrates import PhononMedium
from ...mesh.sources import PowerProfile, PulseProfile, placement
from ...ordinates import circle, sphere
from ...spectra import bose
from ...spectra.injection import gaussian_line
from ...units import E_CHARGE, HBAR, UnitSystem
from ..base import MeshModel, OutputField, to_output
from ..base.balance import inflows
from ..base.meshstage import CaseMesh
from . import MEDIUM_OVERRIDES, SPEC, grid_top
from .branches import (
    decay_products,
    dos_split_products,
    isotope_exchange,
    lt_spectrum,
    lt_support,
    pair_weights,
    tt_spectrum,
    tt_support,
)
from .decay_angles import ConeTable, product_kernels
from .deposits import track_weights
from .problem import PhononProblem, PhononSource, flow_name

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
        self.units = u = case.units
        mesh = CaseMesh.read(case, SPEC.dimension_keys)
        raw, widths = mesh.raw, mesh.widths
        self.T_bath = d["bath"]["temperature"]
        names = list(raw.region_names)
        R = len(names)
        if grid is not None:
            self.h, self.N = float(grid[0]), int(grid[1])
        else:
            e = d["energy"]
            self.N = int(e["bins"])
            self.h = grid_top(d, k_B=1.0) / self.N
        ne = self.N
        # branches stacked as bins: one effective (Debye-averaged) branch, or L and T
        lt = d["phonons"]["branches"] == "lt"
        #: isotope scattering across branches and decay by channel (``branches = "lt"``)
        self.mixing = lt and d["phonons"].get("branch_mixing", "isotropic") == "isotropic"
        #: the energy split of the L decay products by channel (with ``mixing``)
        self.decay_spectrum = d["phonons"].get("decay_spectrum", "kinematic")
        #: the directions of the decay products (:mod:`.decay_angles`): "kinematic" by
        #: default where L decays by channel with the kinematic spectra, else "isotropic"
        self.decay_angles = d["phonons"].get("decay_angles") or (
            "kinematic" if self.mixing and self.decay_spectrum == "kinematic"
            else "isotropic")
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
        media, self.media = {}, [None] * R
        decaying = []        # regions whose L phonons decay by channel, kinematic spectra
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
            if f_tt is None:
                products[ri] = dos_split_products(ne, [wb / vb**3 for vb, wb in br])
            elif self.decay_spectrum == "kinematic":
                products[ri] = _kinematic_products(ne, m, f_tt)
                if dec[ri].any():
                    decaying.append(ri)
            else:
                products[ri] = decay_products(ne, f_tt)
            if reg.get("absorption_time"):
                thr = reg.get("absorption_threshold") or 0.0
                absorb[ri] = np.where(self.omega >= thr, 1.0 / reg["absorption_time"], 0.0)
        #: region -> medium, the ``materials`` entry of ``summary.json``
        self.region_materials = dict(zip(names, self.media, strict=True))
        per_e = states.reshape(R, nb, ne)
        self.dos_share = (per_e / per_e.sum(axis=1, keepdims=True)).reshape(R, self.N)
        if not lt:  # one branch: the same velocity and impedance in every bin
            speed, imp = speed[:, 0], imp[:, 0]
        self.geometry, self.dist = mesh.distribute(d["mesh"]["scale"], comm,
                                                   strict=mesh.all_active)
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
            exchange=exchange, decay_kernels=_decay_kernels(self, ne, decaying))

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
            if wd > 0:  # a narrow one relative to its nearest node (it underflowed to 0/0)
                energy_share = gaussian_line(self.omega, e0, wd)
            else:
                near = self.omega[int(np.argmin(np.abs(self.omega - e0)))]
                energy_share = np.isclose(self.omega, near, rtol=1e-12).astype(float)
            names = self.geometry.region_names
            r0 = names.index(s["region"]) if s.get("region") else 0
            spec = energy_share * self.dos_share[r0] / self.omega   # branches by DOS
            spec = spec / float(spec @ self.omega)

            def rate(t0, t1, prof=prof):
                return prof.steady_rate() if math.isinf(t1) else prof.amount(t0, t1) / (t1 - t0)

            out.append(PhononSource(w, spec, rate, prof))
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

    def steady(self, sim: PhononSimulation, ctx) -> dict:
        p = sim.problem
        xs, res = p.sweep(0.0, src=p.source_rates(0.0, math.inf))
        p.release()
        ctx.writer.write(0.0, sim.fields(xs, sim.case.values["output"]["fields"]))
        regions = sim.geometry.region_names
        rates = {flow_name(k, regions): v for k, v in inflows(
            p.energy_rates(xs), sim.e_unit / sim.units.tau0, outward=True).items()}
        ok = all(r.success for r in res)
        return {"status": 0 if ok else -1, "steady": True,
                "message": "steady state: all bins converged" if ok else
                "steady state: a KSP solve did not converge",
                "linear_iterations": int(sum(r.iterations for r in res)),
                "energy_rates_W": rates, "energy_rate_imbalance_W": sum(rates.values()),
                "E_phonon_J": p.energy(xs) * sim.e_unit}

    def transient(self, sim: PhononSimulation, ctx) -> dict:
        from .march import march

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
                "decay_spectrum": sim.decay_spectrum if sim.mixing else None,
                "decay_angles": sim.decay_angles,
                "slice_energies_ueV": [u.to_si(float(e), "energy") / (E_CHARGE * 1e-6)
                                       for e in sim.slice_energies()]}


def run(case, output_dir: str | None = None, resume: bool = False,
        max_steps: int | None = None, comm=None):
    """Run a phonon case; returns the :class:`~fvqp.models.base.ModelResult`."""
    return PhononModel().run(case, output_dir, resume, max_steps, comm)


def _channel_spectra(m) -> tuple:
    """``(delta, L + T spectrum, T + T spectrum)`` of medium ``m`` in Tamura's isotropic
    model (:mod:`.branches`; callables of the energy fraction; the T + T spectrum needs
    the medium's third-order constants, checked at load by ``_check_channels``, and is
    None without them)."""
    delta = m.sound_velocity_L / m.sound_velocity_T
    lam, mu = m.lame
    tt = None if m.anharmonic_beta is None or m.anharmonic_gamma is None else \
        partial(tt_spectrum, delta=delta, beta=m.anharmonic_beta,
                gamma=m.anharmonic_gamma, lam=lam, mu=mu)
    return delta, partial(lt_spectrum, delta=delta), tt


def _kinematic_products(ne: int, m, f_tt: float) -> np.ndarray:
    """The decay products of medium ``m`` by channel with the kinematic spectra of
    Tamura's isotropic model (:func:`_channel_spectra`)."""
    delta, lt_spec, tt_spec = _channel_spectra(m)
    lt = pair_weights(ne, lt_spec, lt_support(delta))
    tt = pair_weights(ne, tt_spec, tt_support(delta)) if f_tt > 0 else np.zeros_like(lt)
    return decay_products(ne, f_tt, lt, tt)


def _decay_kernels(sim: PhononSimulation, ne: int, decaying: list[int]) -> dict | None:
    """:attr:`.problem.PhononProblem.decay_kernels` of the regions ``decaying`` (L decay
    by channel with the kinematic spectra) for ``decay_angles = "kinematic"``: one cone
    table for the case's quadrature, the kernels once per medium."""
    if sim.decay_angles != "kinematic" or not decaying:
        return None
    table, per_medium, out = ConeTable(sim.quad), {}, {}
    for ri in decaying:
        m = sim.media[ri]
        if m not in per_medium:
            delta, lt_spec, tt_spec = _channel_spectra(m)
            f_tt = m.anharmonic_TT_fraction
            kern = product_kernels(table, ne, delta, f_tt, lt_spec,
                                   tt_spec if f_tt > 0 else None)
            per_medium[m] = {j: (bins, M) for j, (bins, _, M) in kern.items()}
        out[ri] = per_medium[m]
    return out

r"""The ``bte_chip`` model on the run template: case → the two coupled problems → run.

The chip case is split into two validated sub-cases on the same mesh: a QP case of the
film regions — ``bte`` (``[qp] model = "bte"``, the default: QPs with inelastic
collisions, ``phonons = "local"``, ``no_escape``, every film face a QP wall of
``[qp] wall``) or diffusive ``transport`` (``"transport"``: no escape time, every film
face insulating) — and a ``phonon`` case of all regions (media,
interfaces, walls, bath, deposits), its energy nodes and film states imposed by the
first (:mod:`.coupling`). Both use the internal units of ``[units] reference_material``
(default: the first film's material). Outputs on the whole mesh: the phonon fields and
the QP fields of the films (0 elsewhere); ``<case>_series.csv`` per step: QP and phonon
energy, the energy through every bath/absorbing boundary, the deposited energy, the
imbalance (J, cumulative), the QP number of every film region and its excess over the
start; ``summary.json``: the energy balance, QP pair bookkeeping, arrival (half-rise)
times per film region; ``checkpoint.h5``: both states in file cell order.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping
from types import MappingProxyType

import numpy as np

from ...case.internal import InternalCase
from ...case.loader import Case, CaseError, generic_schema
from ...case.schema import Errors, validate
from ...materials import get_material
from ...materials.database import UNITS as MATERIAL_UNITS
from ...mesh import read_mesh
from ...parallel.exchange import SubsetExchange
from ...spectra import bose, fermi
from ...units import E_CHARGE, HBAR, UnitSystem
from ..base import MeshModel, OutputField
from ..base.template import case_option_tables, reference_units
from ..bte.coupled import COUPLED_PETSC, coupled_problem, outer_krylov
from ..bte.driver import OUTPUTS as BTE_OUTPUTS
from ..bte.driver import BTESimulation
from ..phonon.driver import OUTPUTS as PHONON_OUTPUTS
from ..phonon.driver import PhononSimulation
from . import FILM_OVERRIDES, grid_top
from .coupling import ChipChain
from .films import BteFilms, TransportFilms

log = logging.getLogger("fvqp.bte_chip")

#: options prefix of the films' QP Newton solve (``[qp] petsc``)
QP_PREFIX = "chip_qp_"

OUTPUTS: dict[str, OutputField] = {
    **{k: PHONON_OUTPUTS[k] for k in ("phonon_energy_density", "phonon_number_density",
                                      "region")},
    **{k: BTE_OUTPUTS[k] for k in ("qp_density", "qp_excess")}}

#: Newton of the transport films' QP step: tight Krylov solves (most steps stop after one
#: or two Newton iterations at the absolute tolerance of
#: :meth:`.coupling.ChipChain._atol_factor`, so the last linear solve sets the residual
#: that the energy and QP-number balances carry: ksp_rtol 1e-10 -> 1e-13 halved the
#: small chip's energy imbalance, 7.5e-11 -> 5.1e-11 of the deposit)
TRANSPORT_QP_KSP_RTOL = 1e-13
#: ... of the bte films: the bte defaults with Krylov solves to 1e-8. Their balances are
#: exact whatever the residual (:meth:`fvqp.solvers.bdf.BDFIntegrator.conserve`), and
#: Newton still stops at the round-off floor of ``_atol_factor``, so the tolerance only
#: sets how many Newton iterations reach it: the layout chip to 1 µs (adaptive rtol 0.1)
#: 157 Newton / 586 Krylov at 1e-13, 157 / 471 at 1e-10, 162 / 326 at 1e-8 (and at 1e-6:
#: 2 per Newton, the least), QP CPU 24.6 -> 19.8 s of 80
QP_PETSC = {**COUPLED_PETSC, "ksp_rtol": 1e-8}

__all__ = ["ChipModel", "ChipSimulation", "run"]


def _q(value: float, unit: str) -> str:
    """An SI value as a quantity string that parses back to the same float."""
    return f"{value!r} {unit}"


#: the SI unit of every film constant (``delta0``: an energy in J)
_SI_UNITS = {**MATERIAL_UNITS, "delta0": "J"}


def reference_material(data) -> str:
    """``[units] reference_material``, default the first active film's material."""
    regions = data["regions"]
    films = [n for n, r in regions.items() if r.get("active", True) and r.get("material")]
    return data["units"].get("reference_material") or regions[films[0]]["material"]


def chip_units(data) -> UnitSystem:
    """The units of a chip case and of both its sub-cases: those of the reference
    material (:func:`reference_material`). The ``bte`` sub-case names the same
    ``[units] reference_material``, so its own units
    (:func:`fvqp.models.base.template.reference_units`) are these, and so are the
    ``phonon`` sub-case's (:func:`fvqp.models.phonon.driver.phonon_units`)."""
    return UnitSystem.from_material(get_material(reference_material(data)))


def sub_case_error(model: str, items: list[str]) -> CaseError:
    """The :class:`~fvqp.case.CaseError` of a QP sub-case (``model``: ``"bte"`` or
    ``"transport"``) that the chip's values do not make valid: each of the sub-case's
    errors (``<case file>: <key>: <what>. Fix: ...``; the sub-case's keys are the chip
    case's, :meth:`ChipSimulation._qp_case`) said to come from that sub-case. Raised
    while the chain is built, before any solve."""
    return CaseError([f"{item} (in the {model} sub-case that the chip builds from this "
                      "case's [regions], [energy], [bath] and [time])" for item in items])


def same_units(model: str, units: UnitSystem, chip: UnitSystem, path: str, ref: str
               ) -> None:
    """Refuse (:class:`~fvqp.case.CaseError`, before any solve) a QP sub-case whose unit
    system is not the chip's: both films and phonons exchange internal values, so every
    part of the chain must be in the units of ``[units] reference_material`` (``ref``)."""
    if units != chip:
        raise CaseError([f"{os.path.basename(path)}: units.reference_material: the {model} "
                         f"sub-case is in the units of another material than the chip's "
                         f"({ref}). Fix: name one of the films' materials as [units] "
                         f'reference_material (e.g. reference_material = "{ref}").'])


def _thawed(v):
    """A mutable deep copy of read-only case values (tables -> dict)."""
    if isinstance(v, Mapping):
        return {k: _thawed(x) for k, x in v.items()}
    return v


class ChipSimulation:
    """The chip chain of one case, assembled on every rank.

    Parameters
    ----------
    case : fvqp.case.InternalCase or fvqp.case.Case
        The case in the units of :func:`chip_units` (as the run template hands it); an
        SI case (scripts, tests) is converted here the same way, once.
    comm : petsc4py communicator, optional
    """

    def __init__(self, case, comm=None):
        if not isinstance(case, InternalCase):
            case = case.internal(chip_units(case.data))
        self.case, d = case, case.values
        self.units = case.units
        regions = d["regions"]
        self.active = [n for n, r in regions.items() if r.get("active", True)]
        self.films = [n for n in self.active if regions[n].get("material")]
        ref = reference_material(d)
        #: the films' QP model (``[qp] model``), its simulation and problem, and their
        #: view for the chain, :attr:`qps` (:mod:`.films`)
        self.qp_model = d["qp"]["model"]
        if self.qp_model == "transport":
            from ..transport.driver import TransportSimulation, transport_units

            sub = self._qp_case(ref, "transport")
            same_units("transport", transport_units(sub.case.data), self.units,
                       self.case.path, ref)
            self.qsim = TransportSimulation(sub, comm)
            self.qp = self.qsim.problem
            self.qps = TransportFilms(self.qsim)
        else:
            self.qsim = BTESimulation(self._qp_case(ref), comm)
            self.qp = coupled_problem(self.qsim)
            self.qps = BteFilms(self.qsim, self.qp)
        g = self.qps.grid
        self.psim = PhononSimulation(self._phonon_case(ref), comm, grid=(g.h, g.n_ph),
                                     states={n: self.qps.states(n) for n in self.films})
        self.dist = self.psim.dist
        self.geometry = self.psim.geometry
        self.region_materials = self._materials()
        self.exchange = self._exchange()
        self.dt = d["time"]["dt_initial"]
        qp_petsc = {**self._qp_petsc(), **(d["qp"]["petsc"] or {})}
        c = d["chain"]
        self.chain = ChipChain(self.qps, self.psim.problem, self.exchange, self.dt,
                               QP_PREFIX, qp_petsc, c["coupling"], c["rtol"],
                               c["max_iterations"],
                               lambda t: f"{self.units.to_si(t, 'time'):.6g} s",
                               d["time"]["scheme"], c["start"], c["confirm"])

    def _qp_petsc(self) -> dict:
        """Newton of the QP step: :data:`QP_PETSC` (bte films), or the transport model's
        options for its Jacobian mode with Krylov solves to
        :data:`TRANSPORT_QP_KSP_RTOL`."""
        if self.qp_model != "transport":   # FGMRES with sweeps or an inexact coarse
            pc = self.qp.preconditioner
            return {**QP_PETSC, **outer_krylov(pc.fine, pc.coarse_solve)}
        from ..transport.solver_config import petsc_options as _petsc

        return {**_petsc(self.qsim.case, self.qp.jacobian, self.qsim.lagged),
                "ksp_rtol": TRANSPORT_QP_KSP_RTOL}

    # ---- the two sub-cases --------------------------------------------------------------
    def _qp_case(self, ref: str, model: str = "bte") -> InternalCase:
        """The QP case of the films (module docstring; ``model``: ``"bte"`` or
        ``"transport"``) in the chip's units: built from the chip's SI values (its
        schema's defaults need a validation) and converted once;
        :class:`~fvqp.models.bte.driver.BTESimulation` and
        :class:`~fvqp.models.transport.driver.TransportSimulation` take it as it is."""
        from .. import get_model_spec

        d = self.case.case.data
        spec = get_model_spec(model)
        regions = {}
        for name, r in d["regions"].items():
            if name not in self.films:
                regions[name] = {"active": False}
                continue
            regions[name] = {"material": r["material"]}
            for k in FILM_OVERRIDES:  # the film material's constants, SI as given
                if r.get(k) is not None and k in spec.region_schema.fields:
                    regions[name][k] = _q(r[k], _SI_UNITS[k])
            if r.get("qp_mean_free_path") and model == "bte":
                regions[name]["mean_free_path"] = _q(r["qp_mean_free_path"], "m")
        wall = d["qp"]["wall"] if model == "bte" else "insulating"
        groups = read_mesh(self.case.mesh_path).facet_groups
        names = sorted({str(n) for n in (groups.keys() if isinstance(groups, dict)
                                          else [])} | set(d.get("boundaries") or {}))
        energy = {}
        if d["energy"].get("spacing"):
            energy["spacing"] = _q(d["energy"]["spacing"], "J")
        top = grid_top(d)  # given, or above the deposited phonons
        if top is not None:
            energy["e_max"] = _q(top, "J")
        t = d["time"]
        raw = {"model": model, "mesh": {"file": self.case.mesh_path,
                                        "scale": _q(d["mesh"]["scale"], "m")},
               "units": {"reference_material": ref},
               "bath": {"temperature": _q(d["bath"]["temperature"], "K")},
               "time": {"end": _q(t["end"], "s"), "dt_initial": _q(t["dt_initial"], "s"),
                        "scheme": "bdf1"},
               "regions": regions,
               "boundaries": {n: {"type": wall} for n in names},
               "energy": energy}
        if model == "bte":
            raw.update({"interfaces": {"wall": wall}, "angles": dict(d["angles"]),
                        "collisions": {"enabled": True, "phonons": "local",
                                       "no_escape": True},
                        # lu: the bte default (block LU, the global coarse level on
                        # several ranks)
                        "numerics": {"preconditioner": {"lu": "auto"}.get(
                            d["qp"]["preconditioner"], d["qp"]["preconditioner"])},
                        # [qp] coarse: the films' global coarse level
                        # (fvqp.models.bte.coupled.coarse_solve)
                        "solver": {"prefix": "chip_qpbins_",
                                   "petsc": {"coarse_solve": d["qp"]["coarse"]}}})
        else:  # no escape_time: the chain's transported phonons replace it
            raw.update({"solver": {"prefix": QP_PREFIX},
                        "numerics": {"jacobian": d["qp"]["jacobian"]}})
        c = self.case.case
        err = Errors(os.path.basename(c.path))
        data = validate(raw, generic_schema(spec), "", err)
        if err.items:  # a chip case that validated gives a valid sub-case
            raise sub_case_error(model, err.items)
        sub = Case(path=c.path, data=data, mesh_path=c.mesh_path, output_dir=c.output_dir,
                   digest=c.digest)
        if model == "bte":
            same_units("bte", reference_units(data), self.units, c.path, ref)
        return sub.internal(self.units)

    def _phonon_case(self, ref: str) -> InternalCase:
        """The ``phonon`` case of all regions (module docstring): the chip's values,
        already in its units (the same as :func:`~fvqp.models.phonon.driver.
        phonon_units` of ``ref``), with the phonon model's sections."""
        d = _thawed(self.case.values)
        d["model"] = "phonon"
        d.pop("qp", None)
        d["energy"] = {"bins": 1}  # replaced by the collision layer's nodes
        d["units"] = {**dict(d.get("units") or {}), "reference_material": ref}
        # the case's [solver] table as it is: its prefix (default "bte_chip_") is what
        # the command line and [solver.petsc] address (it was replaced by "chip_ph_",
        # so -bte_chip_* did nothing and a case's [solver.petsc] reached the phonon
        # solves under a prefix no document named)
        d["solver"] = dict(d["solver"])
        d["phonons"] = {"branches": "effective"}
        for name, r in d["regions"].items():
            r = dict(r)
            if not r.get("medium") and r.get("material"):
                r["medium"] = r["material"]
            r.pop("material", None)
            r.pop("qp_mean_free_path", None)
            for k in FILM_OVERRIDES:  # the film's constants went to the bte sub-case
                r.pop(k, None)
            d["regions"][name] = r
        return InternalCase(self.case.case, self.units, MappingProxyType(d))

    def _materials(self) -> dict:
        """The ``materials`` entry of ``summary.json``: each film's material (with its
        case overrides, as the QP sub-case has it) and each region's phonon medium (a
        film's as ``<film>.medium``), their constants' sources ("case override")."""
        pnames = self.psim.geometry.region_names
        films = self.qps.materials()
        out = {}
        for n in self.active:
            medium = self.psim.media[pnames.index(n)]
            if n in self.films:
                out[n] = films[n]
                out[f"{n}.medium"] = medium
            else:
                out[n] = medium
        return out

    def _exchange(self) -> SubsetExchange:
        """Film cells numbered by their index in the mesh file, on both distributions."""
        raw = read_mesh(self.case.mesh_path)
        names = list(raw.region_names)
        full = {}
        for key, regs in (("q", self.films), ("p", self.active)):
            idx = [names.index(n) for n in regs]
            full[key] = np.flatnonzero(np.isin(raw.cell_region, idx))
        qloc, ploc = self.qsim.dist.local, self.psim.dist.local
        ids_q = full["q"][qloc.cells[: qloc.n_owned]]
        film_idx = [names.index(n) for n in self.films]
        pc = full["p"][ploc.cells[: ploc.n_owned]]
        ids_p = np.where(np.isin(raw.cell_region[pc], film_idx), pc, -1)
        ex = SubsetExchange(self.psim.dist.comm, ids_q, ids_p)
        # the same cells on both sides: centroids agree
        cq = ex.a_to_b(qloc.centroid[: qloc.n_owned], fill=np.nan)
        cp = ploc.centroid[: ploc.n_owned]
        bad = np.abs(cq[ex.sel_b] - cp[ex.sel_b]).max(initial=0.0)
        if self.dist.max(bad) > 1e-9 * np.abs(cp).max(initial=1.0):
            raise RuntimeError("film cells of the QP and phonon meshes do not match")
        return ex

    def film_dos_ratio(self) -> dict:
        r"""Per film: the collision layer's phonon states over the medium's Debye
        :math:`3\Omega^2/(2\pi^2\hbar^3v_D^3)` (``docs/theory_phonon.md``)."""
        p, u = self.psim.problem, self.units
        names = self.geometry.region_names
        out = {}
        for n in self.films:
            ri = names.index(n)
            om = u.to_si(p.omega[-1], "energy")
            debye = 3 * om**2 / (2 * math.pi**2 * HBAR**3
                                 * self.psim.media[ri].debye_velocity**3) / u.N0
            out[n] = float(p.states[ri, -1] / debye)
        return out

    # ---- initial state, outputs ---------------------------------------------------------
    def initial(self):
        """Owned QP and phonon states at ``[initial] temperature`` (default: bath)."""
        d = self.case.values
        ti = d["initial"].get("temperature") or d["bath"]["temperature"]
        g = self.qps.grid
        xq = self.qps.equilibrium(fermi(g.e, ti), bose(g.omega, ti))
        xp = self.psim.problem.equilibrium(bose(self.psim.problem.omega, ti))
        return xq, xp

    def fields(self, xq: np.ndarray, xp: np.ndarray, names) -> dict:
        """SI output fields on the phonon distribution (QP fields 0 outside films)."""
        out = self.psim.fields(xp, [n for n in names if n in PHONON_OUTPUTS
                                    or n == "phonon_energy_density"])
        qn = [n for n in names if n in ("qp_density", "qp_excess")]
        if qn:
            qf = self.qps.fields(xq, qn)
            for n in qn:
                out[n] = self.exchange.a_to_b(np.asarray(qf[n]))
        return out


class ChipModel(MeshModel):
    """The chip chain on the run template."""

    name = "bte_chip"
    outputs = OUTPUTS
    key_numbers = ("E_deposited_J", "energy_imbalance_J", "t_end_s")
    #: the run-end picture (the template's draw_figures): the phonons of the whole chip
    figure_fields = ("phonon_energy_density",)

    def units(self, case) -> UnitSystem:
        """The chip's units (:func:`chip_units`): ``build`` gets the case converted once."""
        return chip_units(case.data)

    def build(self, case, comm=None) -> ChipSimulation:
        return ChipSimulation(case, comm)

    def option_tables(self, case) -> list[tuple[str, dict, str]]:
        """``[solver.petsc]`` (the phonon solves, under ``[solver] prefix``) and
        ``[qp.petsc]`` (the films' QP Newton, prefix ``chip_qp_``)."""
        qp = dict((case.data.get("qp") or {}).get("petsc") or {})
        return [*case_option_tables(case), *([(QP_PREFIX, qp, "[qp.petsc]")] if qp
                                              else [])]

    def transient(self, sim: ChipSimulation, ctx) -> dict:
        from .march import march

        return march(sim, ctx.writer, ctx.out_dir, ctx.max_steps, ctx.resume)

    def describe(self, sim: ChipSimulation) -> dict:
        p, q = sim.psim.problem, sim.qp
        u = sim.units
        return {"film_phonon_states_over_debye": sim.film_dos_ratio(),
                "phonon_unknowns": int(sim.dist.n_global * p.N * p.B),
                "qp_unknowns": int(q.dist.n_global), "phonon_nodes": p.N,
                "qp_bins": q.N, "ordinates": p.K, "films": sim.films,
                "bin_width_ueV": u.to_si(q.grid.h, "energy") / (1e-6 * E_CHARGE),
                "amm_reciprocity_scaling": p.scale_factors}


def run(case, output_dir: str | None = None, resume: bool = False,
        max_steps: int | None = None, comm=None):
    """Run a chip case; returns the :class:`~fvqp.models.base.ModelResult`."""
    return ChipModel().run(case, output_dir, resume, max_steps, comm)

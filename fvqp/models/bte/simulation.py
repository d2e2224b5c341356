r"""How a ``bte`` case becomes a :class:`BTEProblem` (:class:`BTESimulation`) and its
output fields.

The driver receives the case in internal units (:class:`fvqp.case.InternalCase`, built
once by the run template with :func:`fvqp.models.base.reference_units`):
energies in :math:`k_BT_{c,ref}`, temperatures in :math:`T_{c,ref}`, times in
:math:`\tau_{0,ref}`, lengths in µm. The material constants a region may set (``Tc``,
``fermi_velocity``, ``tau0``, ``tau0_phi``, ``resistivity``, ``diffusion_constant``) stay
in SI and combine with the database into the region's :class:`fvqp.materials.Material`;
what is scaled here are the material's numbers: the Fermi velocity becomes
:math:`v_F\tau_0/1\,\mu m`, particle numbers are in :math:`N_{0,ref}k_BT_{c,ref}\,\mu m^3`,
the state weight is :math:`4N_0/N_{0,ref}`. The gap of a region is the BCS gap of its
material at the bath temperature; regions of different superconductors meet at interfaces
(:class:`.media.Media`, ``[interfaces]``) on one energy grid starting at the lowest gap.
Regions with ``active = false`` are left out of the mesh; exterior faces without a
boundary group (those towards a left-out region) are walls of the ``[interfaces] wall``
kind. The mean free path defaults to :math:`\ell = d\,D/v_F` from the region's or the
material's diffusion constant, or from the resistivity through the Einstein relation
:math:`D = 1/(2N_0e^2\rho_n)` (:meth:`fvqp.materials.Material.diffusion_from_resistivity`).
``[spectrum] kind = "eliashberg"`` replaces the BCS bins by those of the Eliashberg
solution (:func:`fvqp.models.bte_sphere.spectral.eliashberg_spectrum`: storage
:math:`N = \rho m`, flux :math:`v_F`).
"""

from __future__ import annotations

import logging
import math
import os

import numpy as np

from ...case.internal import InternalCase
from ...case.loader import CaseError
from ...case.schema import Errors
from ...mesh import case_sources
from ...ordinates import circle, sphere
from ...spectra import fermi
from ...spectra.bins import BinGrid, cell_spectra
from ...spectra.gap import thermal_gap
from ...spectra.injection import gaussian_line
from ...units import E_CHARGE
from ..base import OutputField, to_output
from ..base.balance import inflows
from ..base.meshstage import CaseMesh
from ..base.schema import case_material
from ..base.template import reference_units
from ..spec import SOURCE_WIDTHS, thermal_supply, warn_thermal_bins
from . import SPEC, check_mesh_dimension
from .media import Media
from .problem import BTEProblem, Source

log = logging.getLogger("fvqp.bte")

#: output fields: dimension and unit (``qp_density_dir<k>`` added per case)
OUTPUTS = {"qp_density": OutputField("number_density", "1/um^3"),
           "qp_excess": OutputField("number_density", "1/um^3"),
           "qp_energy_density": OutputField("energy_density", "J/m^3"),
           "qp_current": OutputField("number_flux", "1/(um^2 s)"),   # (n, 3) vector
           **{f"qp_current_{ax}": OutputField("number_flux", "1/(um^2 s)") for ax in "xyz"},
           "phonon_energy_density": OutputField("energy_density", "J/m^3"),
           "region": OutputField("dimensionless", "1"),
           "gap": OutputField("energy", "ueV")}
KIND = {"specular": "specular", "diffuse": "diffuse", "absorbing": "inflow",
        "bath": "inflow"}

__all__ = ["KIND", "OUTPUTS", "BTESimulation", "bte_internal"]


def bte_internal(case) -> InternalCase:
    """The bte case in the units of :func:`fvqp.models.base.reference_units`
    (:meth:`fvqp.case.Case.internal`: every quantity's kind is declared in the schema,
    :mod:`fvqp.models.bte`; the region's material constants stay SI)."""
    return case.internal(reference_units(case.data))


class BTESimulation:
    """The bte model of one case, assembled on every rank.

    Parameters
    ----------
    case : fvqp.case.InternalCase or fvqp.case.Case
        The case in internal units (:func:`bte_internal`, as the run template hands it);
        an SI case (scripts, tests) is converted here the same way.
    comm : petsc4py communicator, optional
    """

    def __init__(self, case, comm=None):
        if not isinstance(case, InternalCase):
            case = bte_internal(case)
        self.case, d = case, case.values
        self.units = u = case.units
        self.collisions = bool(d["collisions"]["enabled"])
        #: [gap] self_consistent: a gap per cell that follows the QPs (:mod:`.gaprun`)
        self.self_gap = bool(d["gap"]["self_consistent"])
        regions = d["regions"]
        mesh = CaseMesh.read(case, SPEC.dimension_keys)
        raw, active, widths = mesh.raw, mesh.active, mesh.widths
        err = Errors(os.path.basename(case.path))
        if not check_mesh_dimension(raw.dim, err):  # bad input: before anything is built
            raise CaseError(err.items)
        self.T_bath = d["bath"]["temperature"]
        nreg = len(raw.region_names)
        inv_mfp, trap = np.zeros(nreg), np.zeros(nreg)
        props, mats = [None] * nreg, [None] * nreg
        for ri, name in enumerate(raw.region_names):
            if name not in active:
                continue
            reg = regions[name]
            mat = mats[ri] = case_material(reg)  # with the region's overrides
            v_f = mat.fermi_velocity * u.tau0 / u.length
            mfp = reg.get("mean_free_path")  # internal (um); else from SI constants
            inv_mfp[ri] = 1.0 / mfp if mfp and not reg.get("ballistic") else \
                _inverse_mean_free_path(reg, mat, raw.dim) * u.length
            if reg.get("trap_time"):
                trap[ri] = 1.0 / reg["trap_time"]
            rT = mat.Tc / u.Tc  # the region's Tc in internal units
            gap = 0.0 if reg.get("normal") else \
                float(thermal_gap(self.T_bath / rT, 1.0, mat.gap_ratio, "delta0")) * rT
            props[ri] = (gap, v_f, 4.0 * mat.N0 / u.N0)
        first = raw.region_names.index(active[0])
        props = [p if p is not None else props[first] for p in props]  # left-out regions
        p0 = np.array(props[first])
        # one medium: the single-material path; else interfaces between media
        self.media = None
        if any(np.any(np.array(p) != p0) for p in props):
            pr = np.array(props)
            low = int(np.argmin(pr[:, 0]))
            self.media = Media(pr[:, 0], pr[:, 1], pr[:, 2], d["interfaces"]["model"])
            p0, first = pr[low], low
        self.gap, self.v_f, self.weight = p0
        self.material = mats[first]
        self.materials = mats
        #: the active regions' materials with their case overrides (summary.json)
        self.region_materials = {n: m for n, m in zip(raw.region_names, mats, strict=True)
                                 if m is not None}
        self.region_props = props
        self.active = active
        self.geometry, self.dist = mesh.distribute(d["mesh"]["scale"], comm,
                                                   strict=mesh.all_active)
        a = d["angles"]
        self.quad = circle(a["directions"]) if raw.dim == 2 else sphere(a["polar"], a["azimuth"])
        self.grid, self.states, self.flux = self._spectrum()
        self.kinds, self.f_in = self._boundaries()
        self.f_bath = fermi(self.grid.e, self.T_bath)
        #: the bins of the ``[slices] energies`` (fields ``f_slice_<k>``)
        self.slice_bins = self._slice_bins()
        self.widths, self.trap, self.inv_mfp = widths, trap, inv_mfp
        self.problem = self.make_problem(inv_mfp)
        self._warn_thermal()

    def make_problem(self, inv_mfp: np.ndarray) -> BTEProblem:
        """The discrete-ordinates problem with inverse mean free paths ``inv_mfp`` per
        region (the case's, or those of a sweep)."""
        d = self.case.values
        # with collisions the case prefix belongs to the coupled Newton solver (.coupled);
        # the per-bin KSP options (unused then) go under their own prefix
        coupled = self.collisions
        prefix = d["solver"]["prefix"]
        scheme = d["numerics"]["scheme"]
        if scheme == "linear" and self.dist.size > 1:
            raise CaseError([f"{self.case.path}: numerics.scheme: 'linear' runs on one MPI "
                             "rank only; use scheme = \"upwind\" or run without mpiexec."])
        if self.media is not None and (scheme != "upwind" or (
                d["spectrum"]["kind"] != "bcs" and not self.self_gap)):
            raise CaseError([f"{self.case.path}: regions of different superconductors run "
                             "with the BCS spectrum and the upwind scheme (spectrum.kind, "
                             "numerics.scheme)."])
        return BTEProblem(self.dist, self.quad, self.grid, self.gap, self.v_f, self.weight,
                          self.widths, inv_mfp, self.trap, self.kinds, self.f_in,
                          self.f_bath, self._sources(),
                          prefix=prefix + "bins_" if coupled else prefix,
                          petsc={} if coupled else dict(d["solver"]["petsc"]),
                          preconditioner=d["numerics"]["preconditioner"],
                          states=None if self.self_gap else self.states,
                          flux=None if self.self_gap else self.flux, scheme=scheme,
                          media=self.media, cell_gap=self.region_gaps() if self.self_gap
                          else None)

    def region_gaps(self) -> np.ndarray:
        """The bath gap of every local cell's region (0: normal metal)."""
        gaps = np.array([p[0] for p in self.region_props])
        return gaps[self.dist.local.cell_region]

    def _spectrum(self):
        r"""Energy grid, states per energy :math:`N` and flux per energy over :math:`v_F`
        per bin: BCS (:class:`~fvqp.spectra.bins.BinGrid` bins above the gap, exact bin averages of
        :math:`\rho` and :math:`\rho v/v_F`) or the Eliashberg spectrum of
        :func:`fvqp.models.bte_sphere.spectral.eliashberg_spectrum` (bins above its gap
        edge :math:`\Delta_0`, :math:`N = \rho m`, flux :math:`v_F`)."""
        d, u = self.case.values, self.units
        gaps = [self.gap] if self.media is None else list(self.media.gap)
        h, e_max, w_max = bin_limits(d["energy"], self.gap, max(gaps), self.T_bath,
                                     d.get("sources") or [], self.collisions,
                                     held_temperatures(d))
        if self.self_gap:  # first edge at floor x the lowest gap: room for the gap to fall
            grid = BinGrid.build(d["gap"]["floor"] * self.gap, h, e_max, omega_max=w_max)
            rho, _, dl = cell_spectra(grid, np.array([self.gap]))
            return grid, rho[0], dl[0]
        if d["spectrum"]["kind"] == "bcs":
            grid = _bin_grid(self.gap, self.media, h, e_max, w_max)
            rho, _, dl = cell_spectra(grid, np.array([self.gap]))
            return grid, rho[0], dl[0]
        from ..bte_sphere.spectral import eliashberg_spectrum

        mat = self.material
        if abs(mat.Tc - u.Tc) > 1e-12 * u.Tc:
            raise ValueError("the Eliashberg spectrum needs the region material as "
                             "[units] reference_material (energies in its k_B T_c)")
        spec = eliashberg_spectrum(mat, self.T_bath / (mat.Tc / u.Tc), h, e_max)
        if w_max is not None:
            import dataclasses

            nph = int(math.ceil((e_max + spec.gap) / spec.grid.h - 1e-9))
            spec = dataclasses.replace(spec, grid=dataclasses.replace(spec.grid, n_ph=nph))
        self.gap = spec.gap
        self.spectrum = spec
        return spec.grid, spec.states, np.ones(spec.grid.n)

    def _warn_thermal(self) -> None:
        """Warn when the BCS bins miss the thermal QP number of the bath or of a held
        (``bath``) boundary (:func:`fvqp.models.spec.warn_thermal_bins`): at the coldest
        of them whose thermal QPs are not negligible against the hottest's
        (:func:`fvqp.models.spec.thermal_supply`: a 20 mK bath beside a 300 mK contact
        is not judged), named; with the bath alone, at the bath. The device's thermal
        QP number on the bins goes with it (a background of less than one QP is not
        warned, :func:`~fvqp.models.spec.warn_thermal_bins`)."""
        if self.self_gap or self.gap <= 0 or self.case.values["spectrum"]["kind"] != "bcs":
            return
        held = held_boundaries(self.case.values)
        T, source = thermal_supply(self.gap, {
            "[bath]": self.T_bath, **{f"[boundaries.{n}]": t for n, t in held.items()}}) \
            if held else (self.T_bath, None)
        p = self.problem  # the thermal QPs the bins hold in the device (all ranks)
        count = p.isotropic_number(fermi(self.grid.e, T)) * self.n_unit
        if self.dist.rank:
            return
        warn_thermal_bins(self.case, "energy.spacing", self.gap, self.grid.h, T,
                          self.gap, source, count)  # first edge: the gap (_bin_grid)

    def _slice_bins(self) -> list[int]:
        """The bin whose node is nearest to each ``[slices] energies`` entry; an energy
        outside the bins (below the first edge or above the last) is a :class:`CaseError`."""
        g, u = self.grid, self.units
        lo, hi = float(g.edges[0]), float(g.edges[-1])
        bins, errors = [], []
        for k, e in enumerate(self.case.values["slices"]["energies"]):
            if not lo <= e <= hi:
                def ueV(v: float) -> str:
                    return f"{u.to_si(v, 'energy') / (E_CHARGE * 1e-6):.6g} ueV"

                fix = "or raise [energy] e_max" if e > hi else \
                    "the bins start at the (lowest) gap: there are no QP states below"
                errors.append(f"{self.case.path}: slices.energies[{k}]: {ueV(e)} lies "
                              f"outside the energy bins ({ueV(lo)} to {ueV(hi)}); give an "
                              f"energy between {ueV(lo)} and {ueV(hi)} ({fix}).")
                continue
            bins.append(int(np.argmin(np.abs(g.e - e))))
        if errors:
            raise CaseError(errors)
        return bins

    def slice_energies(self) -> np.ndarray:
        """Node energies (internal) of the slices' bins :attr:`slice_bins`."""
        return self.grid.e[self.slice_bins]

    def _boundaries(self) -> tuple[dict, dict]:
        d = self.case.values
        kinds, f_in = {}, {}
        # exterior faces without a group: walls towards left-out regions
        if "unlabelled" in self.geometry.boundary_names:
            kinds["unlabelled"] = KIND[d["interfaces"]["wall"]]
        for name, bc in (d.get("boundaries") or {}).items():
            kinds[name] = KIND[bc["type"]]
            if bc["type"] == "absorbing":
                f_in[name] = np.zeros(self.grid.n)
            elif bc["type"] == "bath":
                t = bc.get("temperature") or d["bath"]["temperature"]
                f_in[name] = fermi(self.grid.e, t)
        return kinds, f_in

    def _sources(self) -> list[Source]:
        """QP sources: power / deposit profiles of :mod:`fvqp.mesh.sources`; the
        spectrum is the transport model's (Gaussian times the DOS, normalised so that
        :math:`\\sum_j E_j s_j = 1`: particles per unit injected energy)."""
        g, out = self.grid, []
        rho = self.states
        if self.media is not None:  # the storage of each cell's medium
            rho = self.media.spectra(g, self.weight)[0][
                self.dist.local.cell_region[: self.dist.local.n_owned]]
        for s, w, prof in case_sources(self.dist, self.geometry, self.case.values):
            e0, wd = s["energy"], s["width"]
            line = gaussian_line(g.e, e0, wd)  # a narrow line: its nearest node
            if wd > 0:
                shape = line * rho
            else:
                shape = line * (rho > 0) if self.media is not None else line
            if np.ndim(shape) == 2:  # per cell: particles per unit energy in every cell
                norm = shape @ g.e
                spec = np.divide(shape, norm[:, None], out=np.zeros_like(shape),
                                 where=norm[:, None] > 0)
            else:
                spec = shape / float(shape @ g.e)

            def rate(t0, t1, prof=prof):
                return prof.steady_rate() if math.isinf(t1) else prof.amount(t0, t1) / (t1 - t0)

            out.append(Source(w, spec, rate, prof))
        return out

    # ---- outputs ------------------------------------------------------------------------
    @property
    def n_unit(self) -> float:
        """One internal particle number in particles."""
        return self.units.scales["number_density"] * self.units.length**3

    def fields(self, x: np.ndarray, names) -> dict:
        """Owned-cell output fields in SI (:data:`OUTPUTS`)."""
        return to_output(self.units, self.internal_fields(x, names), self.declared_outputs())

    def internal_fields(self, x: np.ndarray, names) -> dict:
        """Owned-cell output fields in internal units."""
        p = self.problem
        obs = p.fields(x)
        out = {}
        if "qp_density" in names:
            out["qp_density"] = obs["qp_density"]
        if "qp_excess" in names:
            out["qp_excess"] = obs["qp_density"] - p.density(self.f_bath)
        if "qp_energy_density" in names:
            out["qp_energy_density"] = obs["qp_energy_density"]
        if "qp_current" in names:  # the (n, 3) vector (ParaView's arrows) and its components
            out["qp_current"] = obs["qp_current"]
            for i, ax in enumerate("xyz"):
                out[f"qp_current_{ax}"] = obs["qp_current"][:, i]
        if "directions" in names:
            fk = p.directional(x)
            for k in self.case.values["angles"]["output"]:
                out[f"qp_density_dir{k}"] = p.density(fk[:, :, k])
        if "region" in names:
            out["region"] = p.loc.cell_region[: p.n].astype(float)
        if "gap" in names:  # the gap of every cell (0: normal metal)
            out["gap"] = p.cell_gaps()
        if "f_slices" in names:  # angle average f of each slice's bin (dimensionless)
            fb = p.mean(x)
            for k, j in enumerate(self.slice_bins):
                out[f"f_slice_{k}"] = fb[j].copy()
        return out

    def declared_outputs(self) -> dict:
        """:data:`OUTPUTS` plus this case's ``qp_density_dir<k>`` and ``f_slice_<k>``
        fields."""
        return {**OUTPUTS, **{f"qp_density_dir{k}": OutputField("number_density", "1/um^3")
                              for k in self.case.values["angles"]["output"]},
                **{f"f_slice_{k}": OutputField("dimensionless", "1")
                   for k in range(len(self.slice_bins))}}

    def rates_si(self, x: np.ndarray, t0: float = 0.0, t1: float = math.inf) -> dict:
        """Particle rates [1/s] into the system (:mod:`fvqp.models.base.balance`): net
        inflow per boundary (a drain's is negative), traps, sources."""
        return inflows(self.problem.rates(x, t0, t1), self.n_unit / self.units.tau0,
                       outward=True)


def bin_limits(energy, gap: float, gap_hi: float, kT: float, sources,
               collisions: bool, held=()) -> tuple[float, float, float | None]:
    """Spacing, top edge and phonon top of the QP bins (one unit of energy throughout:
    the run's internal units, ``fvqp check``'s SI): ``[energy]`` spacing (default kT/4)
    and ``e_max`` (default 12 kT above the highest gap ``gap_hi``, kT the bath's or the
    hottest of the ``held`` temperatures (kT of the ``bath`` boundaries: their thermal
    f enters the film), or :data:`fvqp.models.spec.SOURCE_WIDTHS` widths above the
    highest source, measured from the lowest gap ``gap``); with collisions the phonon
    grid reaches every pair phonon of a gap-edge QP and a QP at e_max (recombination,
    pair breaking): omega_max = e_max + gap_hi (None without collisions)."""
    h = energy.get("spacing") or kT / 4
    # (a contact at 600 mK on the 12 kT grid of a 100 mK Al film held 6.4 % too few QPs)
    top = 12 * max([kT, *held]) + gap_hi - gap
    for s in sources:
        top = max(top, s["energy"] + SOURCE_WIDTHS * s["width"] - gap)
    e_max = energy.get("e_max") or gap + top
    return h, e_max, (e_max + gap_hi if collisions else None)


def held_boundaries(data) -> dict[str, float]:
    """Temperature of every ``bath`` boundary of the case ``data`` by its name (its
    units; the bath's where none is given)."""
    return {name: bc.get("temperature") or data["bath"]["temperature"]
            for name, bc in (data.get("boundaries") or {}).items()
            if bc.get("type") == "bath"}


def held_temperatures(data) -> list[float]:
    """Temperatures of the ``bath`` boundaries of the case ``data`` (its units; the
    bath's where none is given): the thermal f they hold must fit on the grid."""
    return list(held_boundaries(data).values())


def _bin_grid(gap: float, media, h: float, e_max: float, w_max) -> BinGrid:
    r"""The common bin grid: first edge at the lowest gap; with a normal-metal region
    (gap 0) the spacing of the lowest superconducting gap and the first edge at the
    Fermi level (:math:`j_0 = 0`, nodes :math:`(i + 1/2)h`, pair offset :math:`m = 0`):
    the normal metal's relaxation reaches final states down to the Fermi level, where
    the :math:`\Omega^2` weight of the rate is largest (with :math:`j_0 = 1` the
    normal-state rate of a QP at 7 spacings was 36 % low)."""
    if gap > 0:
        return BinGrid.build(gap, h, e_max, omega_max=w_max)
    sc = np.asarray(media.gap)[np.asarray(media.gap) > 0] if media is not None else []
    if len(sc):
        h = BinGrid.build(float(np.min(sc)), h, e_max).h
    n = max(2, int(math.ceil(e_max / h - 1e-9)))
    w = e_max if w_max is None else w_max
    return BinGrid(h=h, j0=0, n=n, n_ph=max(1, int(math.ceil(w / h - 1e-9))))


def _inverse_mean_free_path(reg, mat, dim: int) -> float:
    r"""Inverse elastic mean free path [1/m] of a region on a ``dim``-dimensional mesh
    (``reg``: the region's SI values; the driver takes an internal ``mean_free_path``
    itself).

    In this order: ``ballistic`` (0), ``mean_free_path``, or from the diffusion constant
    :math:`\ell = d\,D/v_F` (:math:`D = v\ell/d` for the model's ``d``-dimensional
    quadrature; notes Eq. 23 for :math:`d = 3`) with :math:`D` the region's
    ``diffusion_constant``, the Einstein relation :math:`D = 1/(2N_0e^2\rho_n)` of the
    region's ``resistivity``, the material's diffusion constant or the material's
    resistivity (:meth:`fvqp.materials.Material.diffusion_from_resistivity`; Ashcroft &
    Mermin Eq. 1.6 with :math:`n/m = \tfrac23N_0v_F^2` per spin-degenerate free
    electrons). In 3D this is :math:`\ell = 3/(2N_0e^2\rho_nv_F)`.
    """
    if reg.get("ballistic"):
        return 0.0
    if reg.get("mean_free_path"):
        return 1.0 / reg["mean_free_path"]
    D = (reg.get("diffusion_constant")
         or (mat.diffusion_from_resistivity(reg["resistivity"]) if reg.get("resistivity")
             else None)
         or mat.diffusion_constant or mat.diffusion_from_resistivity(mat.resistivity))
    return mat.fermi_velocity / (dim * D)

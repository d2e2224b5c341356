r"""A kinetics0d case as a model: SI case values -> internal units -> :class:`Kinetics0D`
with its drives, grid and escape time (:func:`build_model`), and the solvers' option
tables (:func:`solver_options`). Used by the run (:mod:`.driver`) and by parameter
sweeps (:mod:`.sweep`).

Internal units are those of the film material (:func:`film_units`): energies in
:math:`k_BT_c`, times in :math:`\tau_0`, QP numbers per volume in :math:`4N_0k_BT_c`,
energies per volume in :math:`4N_0(k_BT_c)^2` (:mod:`fvqp.collisions`). Conversions:

* power per volume: :math:`P_{int} = (P/\mathcal V)\,\tau_0/(4N_0(k_BT_c)^2)`;
* NIS tunnelling rate per state: :math:`\Gamma_T = \tau_0/(2e^2R_TN_0\mathcal V)`;
* collision parameter: :math:`c_{ph} = \tau_0/(\pi\Delta_0\tau_0^\phi)` with the material's
  :math:`\Delta_0/k_BT_c`; the gap at the bath temperature from
  :func:`fvqp.spectra.gap.thermal_gap` (the gap equation's thermal solution with a
  self-consistent gap, the α model of a fixed one).
"""

from __future__ import annotations

import math

from ...case.internal import InternalCase
from ...collisions import CollisionParams, EnergyGrid
from ...collisions.rates import thermal_pair_breaking_rate
from ...solvers.options import normalise_prefix
from ...spectra.gap import thermal_gap
from ...units import HBAR, UnitSystem
from ..base.schema import case_material
from .drives import PhononInjection, PhotonDrive, TunnelInjection
from .gridtop import default_e_max, drive_spectra
from .model import Kinetics0D
from .outputs import QP_DENSITY_FACTOR

__all__ = ["QP_DENSITY_FACTOR", "build_model", "film_units", "solver_options"]


def film_units(case) -> UnitSystem:
    """The internal units of a kinetics0d case: those of its film's material, with the
    case's overrides (energies in its k_B Tc, times in its tau0)."""
    return UnitSystem.from_material(case_material(case.data["film"]))


def build_model(case) -> tuple[Kinetics0D, dict]:
    """Model and unit/parameter metadata of a case: an :class:`fvqp.case.InternalCase` in
    :func:`film_units` (as the run template hands it), or a validated SI
    :class:`fvqp.case.Case` (converted here)."""
    if not isinstance(case, InternalCase):
        case = case.internal(film_units(case))
    v, u = case.values, case.units
    film = v["film"]
    mat = case_material(film)
    ktc, tau0, n0 = u.energy, u.tau0, u.N0
    volume = film["area"] * film["thickness"]  # internal: um^3
    t_bath = v["bath"]["temperature"]
    # the equilibrium of the gap equation (selfgap), or the α model of a fixed gap
    delta = float(thermal_gap(t_bath, 1.0, mat.gap_ratio,
                              "delta0" if film.get("self_consistent_gap") else "alpha"))
    params = CollisionParams.from_times(mat.tau0 / mat.tau0_phi, mat.gap_ratio)
    hbar = HBAR / u.scales["action"]
    drives = []
    for dr in v.get("drives") or []:
        win = {"start": dr["start"], "stop": math.inf if dr.get("stop") is None else dr["stop"]}
        # powers per volume in the operator's unit 4 N0 (k_B Tc)^2 / tau0
        if dr["type"] == "photon":
            e_ph = dr["energy"] if dr.get("energy") else 2 * math.pi * hbar * dr["frequency"]
            drives.append(PhotonDrive(photon_energy=e_ph, **win,
                                      power=dr["power"] / volume / QP_DENSITY_FACTOR))
        elif dr["type"] == "phonon":
            drives.append(PhononInjection(energy=dr["energy"], width=dr["width"], **win,
                                          power=dr["power"] / volume / QP_DENSITY_FACTOR))
        else:
            # NIS rate per state tau0 / (2 e^2 R_T N0 V) = 1 / (2 R V) internally
            rate = 1.0 / (2 * dr["resistance"] * volume)
            bias = dr["bias"]  # eV in k_B Tc
            drives.append(TunnelInjection(rate=rate, bias=bias, **win,
                                          t_normal=dr.get("temperature") or t_bath))
    g = v["grid"]
    h = g.get("spacing") or t_bath / 15
    e_max = g.get("e_max") or default_e_max(
        drive_spectra(v.get("drives"), t_bath, hbar=hbar), delta, t_bath)
    # vertex layout: a phonon node at exactly 2 Delta carries pair processes and the pair
    # rates are exact at the nodes (fvqp.collisions.grid), so thermal pair-breaking and
    # recombination rates converge as h^2. Phonons reach E_max + Delta (as bte's grid): a QP
    # anywhere on the grid recombines with a gap-edge QP on the grid; a cut-off at E_max
    # drops that for QPs above E_max - Delta (+1.3 % peak N_qp for a pulse near E_max,
    # tests/test_bte_k0d_gap_edge.py)
    grid = EnergyGrid.build(delta, h, e_max, layout="vertex", omega_max=e_max + delta)
    method = g["method"]
    if method == "auto":
        method = "direct" if grid.n < 600 else "fft"
    tau_pb = 1.0 / thermal_pair_breaking_rate(grid, params, t_bath, method=method)
    if film.get("escape_time"):
        tau_esc = film["escape_time"]
    elif film.get("escape_time_pb"):
        tau_esc = film["escape_time_pb"] * tau_pb
    else:  # the database's escape time per thickness [s/m], in tau0 per um
        tau_esc = mat.tau_esc_per_thickness * (u.length / u.tau0) * film["thickness"]
    model = Kinetics0D(grid, params, t_bath, tau_esc=tau_esc, drives=drives,
                       method=method, tilt=0.0)
    p_unit = QP_DENSITY_FACTOR * u.scales["power_density"]  # W/m^3 of the operator
    meta = {
        "material": mat.name, "Tc_K": mat.Tc, "kTc_J": ktc, "tau0_s": tau0, "N0_per_J_m3": n0,
        "tau0_phi_s": mat.tau0_phi, "gap_ratio": mat.gap_ratio,
        "volume_m3": volume * u.scales["volume"],
        "t_bath_over_Tc": t_bath, "delta_over_kTc": delta, "h_over_kTc": grid.h,
        "n_qp_cells": grid.n, "n_ph_nodes": grid.n_ph, "grid_layout": grid.layout,
        "phonon_prefactor": params.phonon_prefactor,
        "tau_esc_over_tau0": tau_esc, "tau_pb_over_tau0": tau_pb,
        "collision_method": method,
        "power_unit_W_per_m3": p_unit,
        "number_unit_per_m3": QP_DENSITY_FACTOR * n0 * ktc,
        "energy_unit_J_per_m3": QP_DENSITY_FACTOR * u.scales["energy_density"],
        "unit_energy": "k_B Tc", "unit_time": "tau0", "unit_qp_number": "4 N0 k_B Tc",
        "unit_energy_density": "4 N0 (k_B Tc)^2",
    }
    return model, meta


def solver_options(values) -> dict:
    """Keyword arguments of :func:`~fvqp.models.kinetics0d.steady_state` from the case's
    ``[solver]`` table (internal values): Newton's options ``snes`` under
    ``<prefix>snes_``, the time stepper's ``ts`` under ``<prefix>ts_`` (the TS start of
    a steady state; a transient's :func:`.driver._transient` uses the same prefix and table), so
    an option given for one solver never reaches the other; ``continuation``: the bath
    continuation of a steady state (:mod:`.continuation`)."""
    sv = values["solver"]
    prefix = normalise_prefix(sv["prefix"])
    return {"prefix": prefix + "snes_", "options": dict(sv["snes"] or {}),
            "ts_prefix": prefix + "ts_", "ts_options": dict(sv["ts"] or {}),
            "continuation": bool(sv["continuation"])}

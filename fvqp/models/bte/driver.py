r"""The ``bte`` model on the run template (:class:`fvqp.models.base.MeshModel`): the case in
internal units (:meth:`BTEModel.units`) → :class:`.simulation.BTESimulation` → a steady
(:mod:`.steady`) or transient (:mod:`.transient`) run without collisions, or the coupled
Newton runs of :mod:`.coupled` with them. Work is checkpointed per bin and step
(:mod:`.checkpoint`); ``resume`` continues it, ``max_steps`` stops early (status 1).
The names of :mod:`.simulation` are re-exported here (``BTESimulation``, ``OUTPUTS``,
``bte_internal``, ``_inverse_mean_free_path``).
"""

from __future__ import annotations

import math

import numpy as np

from ...units import E_CHARGE, UnitSystem
from ..base import MeshModel
from ..base.template import reference_units
from .checkpoint import BinCheckpoint
from .simulation import (
    KIND,
    OUTPUTS,
    BTESimulation,
    _inverse_mean_free_path,  # noqa: F401  (tests import it from here)
    bte_internal,
)
from .steady import steady as _steady
from .transient import transient as _transient

__all__ = ["KIND", "OUTPUTS", "BTEModel", "BTESimulation", "bte_internal", "run"]


class BTEModel(MeshModel):
    """The bte model on the run template."""

    name = "bte"
    outputs = OUTPUTS
    key_numbers = ("N_qp", "t_end_s", "rate_imbalance_per_s")
    figure_fields = ("qp_excess", "qp_density")  # the picture of a run

    def units(self, case) -> UnitSystem:
        """The reference units of the case (:func:`fvqp.models.base.reference_units`)."""
        return reference_units(case.data)

    def build(self, case, comm=None) -> BTESimulation:
        """The simulation of the case (``case``: the :class:`InternalCase` of
        :meth:`units`)."""
        return BTESimulation(case, comm)

    def declared(self, sim: BTESimulation) -> dict:
        return sim.declared_outputs()

    def keeps_snapshots(self, sim: BTESimulation) -> bool:
        # with collisions or the self-consistent gap the run loop keeps the snapshots of a
        # resumed run; without, every snapshot is rewritten at the end of each invocation
        return sim.collisions or sim.self_gap

    def steady(self, sim: BTESimulation, ctx) -> dict:
        if sim.collisions:
            from .coupled import coupled_steady

            return coupled_steady(sim, ctx.writer)
        return _steady(sim, ctx.writer, ctx.max_steps, self._checkpoint(sim, ctx),
                       ctx.resume)

    def transient(self, sim: BTESimulation, ctx) -> dict:
        out = self._transient(sim, ctx)
        final = (out.get("qp_number") or {}).get("final")
        if final is not None:  # the key number of every run (steady runs give N_qp)
            out.setdefault("N_qp", final)
        return out

    def _transient(self, sim: BTESimulation, ctx) -> dict:
        if sim.self_gap:
            from .gaprun import gap_transient

            return gap_transient(sim, ctx.writer, ctx.out_dir, ctx.max_steps, ctx.resume)
        if sim.collisions:
            from .coupled import coupled_transient

            return coupled_transient(sim, ctx.writer, ctx.out_dir, ctx.resume,
                                     ctx.max_steps)
        return _transient(sim, ctx.writer, ctx.max_steps, self._checkpoint(sim, ctx),
                          ctx.resume)

    @staticmethod
    def _checkpoint(sim: BTESimulation, ctx) -> BinCheckpoint:
        return BinCheckpoint(sim.dist, ctx.out_dir, sim.case.digest, sim.problem.B)

    def describe(self, sim: BTESimulation) -> dict:
        g, p, u = sim.grid, sim.problem, sim.units
        names = sim.geometry.region_names
        mfp = [u.to_si(1 / s, "length") if s > 0 else None for s in sim.inv_mfp]
        extra = {}
        if sim.media is not None:
            extra = {"gaps_ueV": {n: u.to_si(g_, "energy") / (E_CHARGE * 1e-6) for n, g_
                                  in zip(names, sim.media.gap, strict=True)
                                  if n in sim.active},
                     "interfaces": sim.media.model}
        return {**extra,"unknowns": int(sim.dist.n_global * g.n * p.B), "energy_bins": g.n,
                "ordinates": p.K,
                "mean_free_path_m": {n: m for n, m in zip(names, mfp, strict=True)
                                     if n in sim.active},
                "fermi_velocity_m_per_s": sim.v_f * u.length / u.tau0,
                # the lowest bath gap: the bins' reference (their first edge, or floor x
                # it); each region's own gaps are region_gaps_ueV
                "gap_ueV": u.to_si(sim.gap, "energy") / (E_CHARGE * 1e-6),
                "region_gaps_ueV": region_gaps(sim),
                "spectrum": sim.case.values["spectrum"]["kind"],
                # the node energies of the f_slice_<k> bins (fvqp.post titles the fields)
                "slice_energies_ueV": [u.to_si(float(e), "energy") / (E_CHARGE * 1e-6)
                                       for e in sim.slice_energies()]}


def region_gaps(sim: BTESimulation) -> dict:
    r"""The gap of every active region in µeV (``summary.json`` ``region_gaps_ueV``):
    ``bath`` (the material's BCS gap at the bath temperature, with the case's overrides;
    0 in a normal-metal trap: what a fixed gap keeps and a BCS self-consistent gap
    starts from) and, over the region's cells at the end of the run,
    ``final_min``/``final_max`` (equal to ``bath`` with fixed gaps; with ``[gap]
    self_consistent`` the cells' own gaps, BCS or Eliashberg, as the field ``gap``).
    A collective (every rank calls it)."""
    u, names = sim.units, sim.geometry.region_names
    bath = np.array([p[0] for p in sim.region_props], dtype=float)
    lo, hi = bath.copy(), bath.copy()
    if sim.self_gap:
        n = sim.dist.local.n_owned
        reg, g = sim.dist.local.cell_region[:n], sim.problem.cell_gaps()
        lo, hi = np.full(len(names), math.inf), np.full(len(names), -math.inf)
        np.minimum.at(lo, reg, g)
        np.maximum.at(hi, reg, g)
        lo, hi = -sim.dist.max_array(-lo), sim.dist.max_array(hi)

    def ueV(e: float) -> float:
        return float(u.to_si(e, "energy") / (E_CHARGE * 1e-6))

    return {n: {"bath": ueV(bath[i]), "final_min": ueV(lo[i]), "final_max": ueV(hi[i])}
            for i, n in enumerate(names) if n in sim.active}


def run(case, output_dir: str | None = None, resume: bool = False,
        max_steps: int | None = None, comm=None):
    """Run a bte case; returns the :class:`~fvqp.models.base.ModelResult` (also written
    to ``summary.json``). A failed solve gives ``status = -1`` with the message."""
    return BTEModel().run(case, output_dir, resume, max_steps, comm)

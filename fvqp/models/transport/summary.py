r"""The transport run's balances in SI for ``summary.json`` and ``<case>_series.csv``:
energy [J] and QP-number balances from the cell totals and the flows the integrator
accumulated (:meth:`fvqp.models.transport.balances.Balances.rates`), and the resolution
of each linear flow at the run's tolerances (``flow_resolution``: the flows below it are
named ``unresolved``; :mod:`fvqp.models.transport.balances`).
"""

from __future__ import annotations

import logging

from ...units import UnitSystem
from .balances import RESOLUTION

log = logging.getLogger("fvqp.transport")

__all__ = ["balances_si", "flow_resolution_si", "number_unit"]


def number_unit(u: UnitSystem) -> float:
    """One internal QP number (number density unit x internal volume) as a count."""
    return u.scales["number_density"] * u.length**3


def balances_si(sim, tot0: dict, tot1: dict, acc: dict) -> dict:
    """Energy [J] and QP-number balances from totals and accumulated flows."""
    u = sim.units
    e_flows = {k[2:]: u.to_si(v, "total_energy") for k, v in acc.items() if k.startswith("E:")}
    n_unit = number_unit(u)
    n_flows = {k[2:]: v * n_unit for k, v in acc.items() if k.startswith("N:")}
    dE = (tot1["E_qp"] + tot1["E_ph"]) - (tot0["E_qp"] + tot0["E_ph"])
    dN = tot1["N_qp"] - tot0["N_qp"]
    return {
        "energy_J": {"initial": u.to_si(tot0["E_qp"] + tot0["E_ph"], "total_energy"),
                     "final": u.to_si(tot1["E_qp"] + tot1["E_ph"], "total_energy"),
                     **e_flows,
                     "imbalance": u.to_si(dE - sum(v for k, v in acc.items()
                                                   if k.startswith("E:")), "total_energy")},
        "qp_number": {"initial": tot0["N_qp"] * n_unit, "final": tot1["N_qp"] * n_unit,
                      **n_flows,
                      "imbalance": (dN - sum(v for k, v in acc.items()
                                             if k.startswith("N:"))) * n_unit},
    }


def flow_resolution_si(sim, acc: dict, balances: dict, opts) -> dict:
    """The accumulated resolution of every linear flow of :func:`balances_si` at the run's
    tolerances ([time] atol, rtol; :mod:`fvqp.models.transport.balances`), in the same
    units, and the flows smaller than theirs (``unresolved``: ``"<balance>.<flow>"``,
    named once in the log)."""
    u, n_unit = sim.units, number_unit(sim.units)
    out = {"energy_J": {k[len(RESOLUTION) + 2:]: u.to_si(v, "total_energy")
                        for k, v in acc.items() if k.startswith(RESOLUTION + "E:")},
           "qp_number": {k[len(RESOLUTION) + 2:]: v * n_unit
                         for k, v in acc.items() if k.startswith(RESOLUTION + "N:")}}
    out["unresolved"] = [f"{b}.{k}" for b in ("energy_J", "qp_number")
                         for k, res in out[b].items() if abs(balances[b][k]) < res]
    if out["unresolved"] and sim.dist.rank == 0:
        log.info("flows below their resolution at [time] atol = %g, rtol = %g (an error of "
                 "one tolerance in the occupations next to them carries more; their values "
                 "are not resolved, lower [time] atol to resolve them): %s", opts.atol,
                 opts.rtol, ", ".join(out["unresolved"]))
    return out

r"""The transport run's balances in SI for ``summary.json`` and ``<case>_series.csv``:
energy [J] and QP-number balances from the cell totals and the flows the integrator
accumulated (:meth:`fvqp.models.transport.balances.Balances.rates`), and the resolution
of each linear flow at the run's tolerances (``flow_resolution``: the flows below it are
named ``unresolved``; :mod:`fvqp.models.transport.balances`).
"""

from __future__ import annotations

import logging

from ...units import UnitSystem
from ..base.balance import imbalance, inflows
from .balances import RESOLUTION

log = logging.getLogger("fvqp.transport")

__all__ = ["balances_si", "flow_resolution_si", "number_unit"]


def number_unit(u: UnitSystem) -> float:
    """One internal QP number (number density unit x internal volume) as a count."""
    return u.scales["number_density"] * u.length**3


def balances_si(sim, tot0: dict, tot1: dict, acc: dict) -> dict:
    """Energy [J] and QP-number balances from totals and accumulated flows, in the
    convention of :mod:`fvqp.models.base.balance` (inflows; ``pair_processes``)."""
    u = sim.units
    eu, n_unit = u.scales["total_energy"], number_unit(u)
    e_flows, n_flows = inflows(acc, eu, kind="E"), inflows(acc, n_unit, kind="N")
    e0, e1 = (tot0["E_qp"] + tot0["E_ph"]) * eu, (tot1["E_qp"] + tot1["E_ph"]) * eu
    n0, n1 = tot0["N_qp"] * n_unit, tot1["N_qp"] * n_unit
    return {"energy_J": {"initial": e0, "final": e1, **e_flows,
                         "imbalance": imbalance(e0, e1, e_flows)},
            "qp_number": {"initial": n0, "final": n1, **n_flows,
                          "imbalance": imbalance(n0, n1, n_flows)}}


def flow_resolution_si(sim, acc: dict, balances: dict, opts) -> dict:
    """The accumulated resolution of every linear flow of :func:`balances_si` at the run's
    tolerances ([time] atol, rtol; :mod:`fvqp.models.transport.balances`), in the same
    units, and the flows smaller than theirs (``unresolved``: ``"<balance>.<flow>"``,
    named once in the log)."""
    u, n_unit = sim.units, number_unit(sim.units)
    out = {"energy_J": inflows(acc, u.scales["total_energy"], kind=RESOLUTION + "E"),
           "qp_number": inflows(acc, n_unit, kind=RESOLUTION + "N")}
    out["unresolved"] = [f"{b}.{k}" for b in ("energy_J", "qp_number")
                         for k, res in out[b].items() if abs(balances[b][k]) < res]
    if out["unresolved"] and sim.dist.rank == 0:
        log.info("flows below their resolution at [time] atol = %g, rtol = %g (an error of "
                 "one tolerance in the occupations next to them carries more; their values "
                 "are not resolved, lower [time] atol to resolve them): %s", opts.atol,
                 opts.rtol, ", ".join(out["unresolved"]))
    return out

r"""The key numbers of a Usadel run: the physics a user reads first in the end-of-run
report (issue 20 §2), written to ``summary.json`` (their names in ``summary["keys"]``,
:meth:`fvqp.models.base.ModelResult.report`) and logged on the last line of the driver.

Every number is in SI or in the output's unit family (the unit is the name's suffix:
``_ueV``, ``_mV``, ``_A``, ``_S``, ``_W``, ``_um``):

* ``delta_centre_ueV``, ``x_centre_um`` — Δ of the last state at the node nearest the
  middle of the network's arclength range (the wire centre);
* a single state: ``injected_current_A`` (the tunnel currents into the wire, Eq. 13),
  the currents into the reservoirs (``reservoir_currents_A``, named by the driver: the
  supercurrent of a phase-biased wire),
  ``charge_imbalance_A`` = injected − drained into the reservoirs − converted to
  supercurrent (:func:`~.observables.charge_balance`), and, where energy is conserved
  (no e–ph collisions, no imposed phase gradient), ``energy_current_W`` (the heat flow
  from the electrodes into the wire, (1/e²)Σ G_T∫εN(f^J − f)dε > 0 when a bias heats
  the wire) and ``energy_imbalance_W`` = it − the energy current into the reservoirs
  (:func:`~.observables.energy_balance`, which sums ½∫εN(fL^J − fL) = −∫εN(f^J − f):
  hence the sign);
* a bias sweep: ``bias_last_mV``, ``i_inj_last_A`` and the differential conductance
  ``g_inj_last_S`` = dI_inj/dV at the last bias (differences of the sweep's distinct
  biases: central inside, one-sided — the last step's difference — at the sweep's end,
  where the last bias is; left out when all biases are equal), and
  with a detector the largest \|g_nl\| (``g_nl_peak_S`` at ``g_nl_peak_bias_mV``, first
  detector bias).
"""

from __future__ import annotations

import numpy as np

from ...units import E_CHARGE
from .observables import charge_balance, energy_balance

__all__ = ["centre_node", "key_line", "state_keys", "sweep_keys"]


def centre_node(x_um) -> int:
    """Index of the node nearest the middle of the arclength range ``x_um``."""
    x = np.asarray(x_um, float)
    return int(np.argmin(np.abs(x - 0.5 * (x.min() + x.max()))))


def _centre(gap_ueV, x_um) -> dict:
    k = centre_node(x_um)
    return {"delta_centre_ueV": float(gap_ueV[k]), "x_centre_um": float(x_um[k])}


def state_keys(kin, setup, sc, gap_ueV, x_um) -> dict:
    """Key numbers of one steady state ``kin`` (a kinetic solution) of ``setup`` (wire
    scales ``sc``): Δ at the centre, the injected current and the charge imbalance, the
    energy current and its imbalance where energy is conserved."""
    out = _centre(gap_ueV, x_um)
    cb = charge_balance(kin)
    drained = sum(cb["drained"].values())
    out["injected_current_A"] = cb["injected"] * sc.i0
    out["charge_imbalance_A"] = (cb["injected"] - cb["converted"] - drained) * sc.i0
    if setup.gamma_ph == 0 and not np.any(getattr(setup.problem, "dphi", 0.0)):
        eb = energy_balance(kin)  # units Δ0 I0/e; ½∫εN(fL^J − fL) < 0 for heating
        watt = -sc.delta0 * sc.i0 / E_CHARGE  # ∫εN(f^J − f) = −½∫εN(fL^J − fL)
        out["energy_current_W"] = eb["injected"] * watt
        out["energy_imbalance_W"] = (eb["injected"] - eb["drained"]) * watt
    return out


def sweep_keys(res: dict, gap_ueV, x_um) -> dict:
    """Key numbers of a bias sweep from its SI results ``res`` (``bias_mV``, ``i_inj_A``,
    ``g_nl``): Δ at the centre of the last state, the injector current and its
    differential conductance at the last bias, the largest |g_nl|."""
    out = _centre(gap_ueV, x_um)
    v, i = np.asarray(res["bias_mV"]) * 1e-3, np.asarray(res["i_inj_A"])
    out["bias_last_mV"], out["i_inj_last_A"] = float(v[-1] * 1e3), float(i[-1])
    vu, first = np.unique(v, return_index=True)  # repeated biases: one difference
    if vu.size > 1:  # (all biases equal: no difference, the key is left out)
        g_inj = np.gradient(i[first], vu)
        out["g_inj_last_S"] = float(g_inj[int(np.searchsorted(vu, v[-1]))])
    g = res.get("g_nl")
    if g is not None:
        k = int(np.argmax(np.abs(g[:, 0])))
        out["g_nl_peak_S"], out["g_nl_peak_bias_mV"] = float(g[k, 0]), float(v[k] * 1e3)
    return out


def key_line(summary: dict) -> str:
    """``name = value`` of every key number of ``summary`` (its ``keys``; a table of
    numbers as ``name = {a: value, ...}``)."""
    def text(v):
        if isinstance(v, dict):
            return "{" + ", ".join(f"{k}: {text(x)}" for k, x in v.items()) + "}"
        return f"{v:.6g}" if isinstance(v, float) else str(v)

    return ", ".join(f"{k} = {text(summary[k])}" for k in summary.get("keys", ()))

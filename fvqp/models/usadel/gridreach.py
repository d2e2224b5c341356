"""How far the energy grid of a usadel case must reach for its biases: one rule for the
check of ``[energy] max`` when the run starts (:func:`.driver.build`, wire units) and at
``fvqp check`` (:func:`fvqp.models.usadel._check_energy_grid`, SI)."""

from __future__ import annotations

from collections.abc import Mapping

from .electrode_case import electrode_tables
from .temperatures import bath_unused

__all__ = ["FERMI_WINDOW", "tunnel_reach"]

#: the electrode's Fermi window above a bias that the grid holds, in its kT: the
#: conductances g = dI/dV sample -df/dE at eV, e^-10 = 4.5e-5 of its peak at 10 kT
#: (measured on the NIS wire swept to 3 Delta0, electrodes at 61 mK: max = eV + 10 kT
#: gives g_nl 4.4e-5 from the converged value; eV + 5 kT 6.6e-3, eV + 1.2 kT 0.18)
FERMI_WINDOW = 10.0


def tunnel_reach(d: Mapping, t_bath: float, volt: float = 1.0, kelvin: float = 1.0
                 ) -> tuple[float, str]:
    """How high (in Δ0) the energy grid must reach for the terminals' biases: every bias
    of the case ``d`` (the swept terminal's range, detector biases, junction and reservoir
    biases) plus :data:`FERMI_WINDOW` kT of the hottest electrode (its own temperature,
    the bath's without one); ``(0, "")`` without a bias. The bath's own window sits at
    zero bias (the superconducting reservoirs, the e-ph collisions and Eq. 8 take it): it
    counts as :data:`FERMI_WINDOW` kT_bath, and not when no result reads the bath
    (:func:`.temperatures.bath_unused`). ``volt``, ``kelvin``: Δ0 per unit of the case's
    biases and temperatures (1 in wire units; e/Δ0 and k_B/Δ0 for an SI case). Returns
    the largest and what sets it, in words (the subject of "... reaches X Δ0")."""
    sw = d.get("sweep") or {}
    terminals = list(electrode_tables(d, ("normal", "tunnel")))
    temps = [t.get("temperature") or t_bath for _, t in terminals]
    window = FERMI_WINDOW * kelvin * max(temps, default=t_bath)
    biases = [(abs(sw[k]), f"the sweep's {k} bias") for k in ("start", "stop")
              if sw.get(k) is not None]
    biases += [(abs(b), "a detector bias") for b in sw.get("detector_biases") or []]
    biases += [(abs(t["bias"]), f"the bias of {key}") for key, t in terminals
               if t.get("bias")]
    reach = [(volt * b + window, f"{what} plus {FERMI_WINDOW:g} kT of its electrode "
              "(where its current and conductance sample -df/dE: a shorter grid cuts them)")
             for b, what in biases if b > 0]
    if reach and bath_unused(d) is None:
        reach.append((FERMI_WINDOW * kelvin * t_bath, f"the bath's thermal window, "
                      f"{FERMI_WINDOW:g} kT_bath around zero energy (the superconducting "
                      "reservoirs, the e-ph collisions and the gap equation, Eq. 8, take "
                      "f at the bath temperature: a shorter grid cuts its quasiparticles)"))
    return max(reach, default=(0.0, ""))

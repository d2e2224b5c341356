r"""Bias sweeps of a case over supercurrents: the g_nl(V_inj, V_det, I_s) map (Eqs. 15–19).

For every supercurrent :math:`I_s` of ``[sweep] supercurrents`` the phase gradients that
carry it (:mod:`.gradients`, Eqs. 6–7) are imposed with both signs and the injector bias
is swept (:func:`~.selfconsistent.bias_sweep`, every bias a checkpointed unit labelled
``is<k><p|m>_``). From the detector currents

.. math:: g_{nl} = \frac{dI_\mathrm{det}}{dV_\mathrm{inj}}\ \text{(Eq. 15)},\quad
          g_{a,s} = \tfrac12\,[g_{nl}(I_s) \mp g_{nl}(-I_s)]\ \text{(Eqs. 16–17)},

and, on a bias grid symmetric about 0, the bias-odd / bias-even parts
:math:`g_{sa}, g_{ss}` of :math:`g_s` (Eqs. 18–19).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .gradients import edge_gradients
from .observables import split_bias
from .selfconsistent import bias_sweep


def symmetric(v) -> bool:
    """Whether the bias grid ``v`` is symmetric about 0 (relative tolerance)."""
    v = np.asarray(v, float)
    return v.size > 1 and np.allclose(v, -v[::-1], rtol=0, atol=1e-9 * np.abs(v).max())


def gradients(setup, currents_i0, t: float) -> list:
    """Per-edge ∂xφ for every I_s/I0 (:func:`~.gradients.edge_gradients`), all computed
    before any sweep runs (an impossible current is refused at once)."""
    prob = setup.problem
    return [edge_gradients(prob.net, prob.delta, prob.gamma, t, cur, prob.zeta0)
            for cur in currents_i0]


def supercurrent_map(setup, junction: str, biases, detector, grads, units) -> dict:
    """Sweeps of ``junction`` at ±∂xφ for every per-edge gradient of ``grads``
    (:func:`gradients`; an all-zero gradient, I_s = 0, is swept once).

    Returns ``dphi_max`` (n_I), ``i_det`` (n_I, 2, n_V, n_Vdet) for +I_s / −I_s, ``g_det``
    (same shape, exact dI_det/dV_inj of a linear problem, else None), the arrays of the
    first sweep (``first``) and the iteration counts.
    """
    prob = setup.problem
    out = {"dphi_max": [], "i_det": [], "g_det": [], "iterations": []}
    for k, grad in enumerate(grads):
        pair, slope = [], []
        for sgn, tag in ((1.0, "p"), (-1.0, "m")):
            if not np.any(grad) and sgn < 0:
                pair.append(pair[0])  # ±0 is the same state
                slope.append(slope[0])
                continue
            s = replace(setup, problem=replace(prob, dphi=sgn * grad))
            sw = bias_sweep(s, junction, biases, detector, units=units, label=f"is{k}{tag}_")
            out.setdefault("first", sw)
            out["iterations"].extend(np.atleast_1d(sw["iterations"]).tolist())
            pair.append(sw["i_det"])
            slope.append(sw["g_det"])
        out["dphi_max"].append(float(np.abs(grad).max()))
        out["i_det"].append(np.stack(pair))
        out["g_det"].append(np.stack(slope))
    out["dphi_max"] = np.array(out["dphi_max"])
    out["i_det"] = np.array(out["i_det"])
    g = np.array(out["g_det"])
    out["g_det"] = g if g.size else None  # exact slopes of a linear problem
    return out


def decompose(i_det, v, g=None) -> dict:
    """g_nl (Eq. 15: ``g`` if given — the exact slopes of a linear problem — else central
    differences of ``i_det`` in V_inj, axis −2), g_a and g_s (Eqs. 16–17) over the ±I_s
    axis (1), and g_sa, g_ss (Eqs. 18–19) when ``v`` is symmetric about 0."""
    if g is None:
        if np.size(v) < 2:  # one bias of a nonlinear problem: no derivative
            return {}
        g = np.gradient(i_det, v, axis=-2)
    out = {"g_nl": g, "g_a": 0.5 * (g[:, 0] - g[:, 1]), "g_s": 0.5 * (g[:, 0] + g[:, 1])}
    if symmetric(v):
        out["g_sa"], out["g_ss"] = split_bias(out["g_s"], axis=1)
    return out

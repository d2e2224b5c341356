r"""Fit measured nonlocal conductance to the analytic charge-imbalance signal, from a case.

A usadel case with a ``[fit]`` table does what the paper does for Fig. 10 (Sec. V): the
measured symmetric part :math:`g_{ss}(V_\mathrm{inj})` of the nonlocal conductance
(Eq. 19), one column per supercurrent :math:`I_s`, is fitted with Eq. 21 (per-branch
:math:`\kappa_I = G_\mathrm{inj}R_\xi/2`, App. B) convolved with the Fermi function of the
injector electrode:

1. the Dynes broadening Γ on the :math:`I_s = 0` column (first column),
2. the phase gradient :math:`\partial_x\phi` of every other column at that Γ (depairing
   :math:`\zeta = (\partial_x\phi)^2/2`, Eq. 7),
3. the current scale :math:`I_0` of Eq. 6 through the pairs :math:`(\partial_x\phi, I_s)`
   (Fig. 10b), printed next to :math:`I_0 = \Delta_0/eR_\xi` of the sample parameters.

Only biases with :math:`|eV_\mathrm{inj}| <` ``bias_max`` Δ0 enter (the initial rise; the
paper fits below 1.5 Δ0). The distance x between the junctions is measured along the
mesh, and with ``branches = "mesh"`` (default) the wire's two branches end at the two
reservoirs at their mesh distances from the injector (Eq. 21 for finite branches,
:func:`~.observables.gnl_spectral_eq21`).

Data file (``[fit] data``, relative to the case file): comma-separated, ``#`` comments,
an optional header line; column 1 the injector bias in volts, then one column of
:math:`g_{ss}/(G_\mathrm{inj}G_\mathrm{det})` in ohms per entry of ``supercurrents`` (the
normalisation of the paper's figures).
"""

from __future__ import annotations

import json
import logging
import os

import numpy as np

from ...case import CaseError
from ...io.atomic import atomic_path, atomic_savefig
from ...units import E_CHARGE
from ..base.template import wants_figures
from .fitting import fit_dphi, fit_gamma, fit_i0, gss_model, supercurrent_per_i0

log = logging.getLogger(__name__)

_FIX_FORMAT = ("write the bias (V) in column 1 and one g_ss/(G_inj G_det) column (Ω) "
               "per [fit] supercurrents entry, comma-separated ('#' comments, one "
               "optional header line).")


def read_gss(path: str) -> tuple[np.ndarray, np.ndarray]:
    """``(V_inj [V], g_ss/(G_inj G_det) [Ω] of shape (n_bias, n_columns))``; raises
    ``ValueError`` naming the line that is not numbers."""
    rows, header_seen = [], False
    with open(path, encoding="utf-8") as fh:
        for k, line in enumerate(fh, 1):
            text = line.split("#", 1)[0].strip()
            if not text:
                continue
            try:
                rows.append([float(x) for x in text.split(",")])
            except ValueError:
                if rows or header_seen:
                    raise ValueError(f"line {k} is not comma-separated numbers: "
                                     f"{text[:60]!r}") from None
                header_seen = True  # the one header line
    if not rows:
        raise ValueError("no data rows")
    width = {len(r) for r in rows}
    if len(width) != 1:
        raise ValueError(f"rows have different numbers of columns {sorted(width)}")
    a = np.array(rows)
    if not np.all(np.isfinite(a)):
        raise ValueError("non-finite values")
    return a[:, 0], a[:, 1:]


def check_files(data: dict, case_dir: str, err) -> None:
    """``ModelSpec.check_files``: the ``[fit] data`` file exists and has the columns."""
    fit = data.get("fit") or {}
    if not fit.get("data"):
        return
    path = os.path.normpath(os.path.join(case_dir, fit["data"]))
    if not os.path.isfile(path):
        err.add("fit.data", f"no file {path}.", "give the path relative to the case file.")
        return
    try:
        v, g = read_gss(path)
    except (OSError, ValueError) as exc:
        err.add("fit.data", f"{path}: {exc}.", _FIX_FORMAT)
        return
    n_cur = len(fit["supercurrents"])
    if g.shape[1] != n_cur:
        err.add("fit.data", f"{path} has {g.shape[1]} g_ss column(s) but [fit] supercurrents "
                f"lists {n_cur}.", _FIX_FORMAT)
    if v.size < 5:
        err.add("fit.data", f"{path} has {v.size} biases; a fit needs at least 5.",
                "measure more biases through the gap edge.")


def geometry(case, net, inj: int, det: int, reservoirs) -> tuple[float, tuple | None]:
    """x = distance injector–detector and the branch lengths (L1, L2) (None: infinite)."""
    d_inj, d_det = net.distances(inj), net.distances(det)
    x = float(d_inj[det])
    if case.values["fit"]["branches"] == "infinite":
        return x, None
    ends = [r.node for r in reservoirs]
    simple = len(ends) == 2 and np.isclose(d_inj[ends[0]] + d_inj[ends[1]],
                                           net.distances(ends[0])[ends[1]])
    if not simple:
        raise CaseError([f"{case.path}: fit.branches: \"mesh\" needs a single wire with the "
                         "injector between two reservoirs (Eq. 21 for finite branches). "
                         'Fix: set branches = "infinite" (Eq. 21 as printed).'])
    far = [e for e in ends if d_det[e] < d_inj[e]]  # the reservoir beyond the detector
    l2 = float(d_inj[far[0]]) if far else float(max(d_inj[e] for e in ends))
    l1 = float(sum(d_inj[e] for e in ends) - l2)
    return x, (l1, l2)


def run_fit(case, output_dir: str | None = None) -> dict:
    """Fit Γ, ∂xφ and I0 to the measured g_ss of ``[fit] data``; writes ``<case>.h5``,
    ``<case>.png`` (unless ``[output] figures = false``); returns the summary
    (``summary.json``: :func:`fvqp.models.base.run_model`)."""
    import h5py

    from .driver import build, internal_case

    case = internal_case(case)
    fit = case.values["fit"]
    setup, meta = build(case)
    sc, net = meta["scales"], meta["net"]
    parts: dict = {}
    for j in setup.junctions + meta["passive"]:
        parts.setdefault(j.name, []).append(j)
    junc = {name: js[0] for name, js in parts.items() if len(js) == 1}  # point junctions
    for key in ("injector", "detector"):
        if fit[key] not in junc:
            raise CaseError([f"{case.path}: fit.{key}: no point junction {fit[key]!r} (Eq. 21 "
                             f"is for point contacts); the case's point junctions are "
                             f"{sorted(junc)}. Fix: name one of them."])
    inj, det = junc[fit["injector"]], junc[fit["detector"]]
    x, length = geometry(case, net, inj.node, det.node, setup.reservoirs)
    path = os.path.normpath(os.path.join(os.path.dirname(case.path), fit["data"]))
    volts, g_ohm = read_gss(path)
    g_inj = inj.kappa / sc.r_xi  # S
    v = np.array([sc.bias(u) for u in volts])  # eV/Δ0
    inside = np.abs(v) < fit["bias_max"]
    if inside.sum() < 3:
        raise CaseError([f"{case.path}: fit.bias_max: only {int(inside.sum())} biases of "
                         f"{path} lie within |eV| < {fit['bias_max']} Δ0. Fix: raise "
                         "bias_max or check that column 1 is in volts."])
    kap, t = inj.kappa / 2, inj.temperature  # per-branch κ_I (App. B), injector electrode
    y = g_ohm * g_inj  # g_ss / G_det
    args = (x, kap, t)
    gam, s_gam = fit_gamma(v, y[:, 0], *args, gamma0=fit["gamma_guess"],
                           vmax=fit["bias_max"], length=length)
    i_s = np.asarray(fit["supercurrents"], float) * sc.i0  # A
    dphi, s_dphi = np.zeros(i_s.size), np.zeros(i_s.size)
    for k in range(1, i_s.size):
        dphi[k], s_dphi[k] = fit_dphi(v, y[:, k], *args, gam, vmax=fit["bias_max"],
                                      length=length)
    t_bath = meta["t_bath"]
    i0_fit = fit_i0(dphi[1:], i_s[1:], t_bath, gam) if i_s.size > 1 else None
    model = np.array([gss_model(v, *args, gam, d, length=length) for d in dphi]).T / g_inj
    vf = np.linspace(v.min(), v.max(), 301)
    fine = np.array([gss_model(vf, *args, gam, d, length=length) for d in dphi]).T / g_inj
    res = (g_ohm - model)[inside]
    v_unit = sc.delta0 / E_CHARGE
    out = {"bias_V": volts, "g_ss_ohm": g_ohm, "fit_ohm": model, "bias_fine_V": vf * v_unit,
           "fit_fine_ohm": fine, "dphi": dphi, "dphi_sigma": s_dphi, "supercurrent_A": i_s}
    summary = {"model": "usadel", "case": case.path, "status": 0, "message": "fit of Eq. 21",
               "data": path, "x_um": x * sc.xi * 1e6,
               "branches_um": None if length is None else [b * sc.xi * 1e6 for b in length],
               "gamma_over_delta0": gam, "gamma_sigma": s_gam,
               "gamma_ueV": gam * sc.delta0 / (E_CHARGE * 1e-6),
               "dphi_per_xi": dphi.tolist(), "dphi_sigma": s_dphi.tolist(),
               "I0_fit_A": i0_fit, "I0_sample_A": sc.i0,
               "rms_residual_ohm": float(np.sqrt(np.mean(res**2))),
               "biases_fitted": int(inside.sum()), "bias_max_V": fit["bias_max"] * v_unit}
    # the key numbers of the end-of-run report (keys.py): Γ, I0 and the misfit
    summary["keys"] = ["gamma_ueV", "I0_fit_A", "rms_residual_ohm"]
    out_dir = output_dir or case.output_dir
    os.makedirs(out_dir, exist_ok=True)
    h5 = os.path.join(out_dir, f"{case.name}.h5")
    tmp = atomic_path(h5)
    with h5py.File(tmp, "w") as fh:
        for k, val in out.items():
            fh[k] = np.asarray(val)
        fh.attrs["units"] = json.dumps({"bias_V": "V", "g_ss_ohm": "Ohm", "fit_ohm": "Ohm",
                                        "bias_fine_V": "V", "fit_fine_ohm": "Ohm",
                                        "dphi": "1/xi", "supercurrent_A": "A"})
        fh.attrs["summary"] = json.dumps(summary, default=float)
        # fvqp plot redraws the figure of this file (fit_figure; t_bath in Tc units)
        fh.attrs.update(model="usadel", figure="fit", case_name=case.name, t_bath=t_bath,
                        title=case.values.get("title") or case.name)
    os.replace(tmp, h5)
    if wants_figures(case):
        fit_figure(os.path.join(out_dir, f"{case.name}.png"), h5)
    summary["output"] = h5
    log.info("usadel fit %s: Γ = %.4g Δ0 ± %.2g, ∂xφ = %s, I0 = %.4g A", case.name, gam,
             s_gam, np.round(dphi, 4).tolist(), i0_fit)
    return summary


def fit_figure(path: str, h5_path: str) -> None:
    """The measured and fitted g_ss (Eq. 21) per supercurrent and the fitted phase
    gradients against Eq. 6, drawn from the fit's ``<case>.h5`` (its datasets, the
    summary and the bath temperature in its attributes): the run and ``fvqp plot`` draw
    it the same way."""
    import h5py
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with h5py.File(h5_path, "r") as fh:
        out = {k: np.asarray(v) for k, v in fh.items()}
        summary = json.loads(fh.attrs["summary"])
        t_bath, title = float(fh.attrs["t_bath"]), str(fh.attrs["title"])
    fig, ax = plt.subplots(1, 2, figsize=(11, 3.9))
    mv = out["bias_V"] * 1e3
    for k, cur in enumerate(out["supercurrent_A"]):
        line, = ax[0].plot(out["bias_fine_V"] * 1e3, out["fit_fine_ohm"][:, k],
                           label=f"I_s = {cur * 1e6:.3g} µA: ∂xφ = {out['dphi'][k]:.3f}/ξ")
        ax[0].plot(mv, out["g_ss_ohm"][:, k], "o", ms=3, color=line.get_color())
    for sgn in (-1, 1):  # the fitted range
        ax[0].axvline(sgn * summary["bias_max_V"] * 1e3, color="0.6", lw=0.6, ls=":")
    ax[0].set(xlabel="V_inj (mV)", ylabel="g_ss/(G_inj G_det) (Ω)",
              title=f"Eq. 21 fit: Γ = {summary['gamma_over_delta0']:.3g} Δ0 "
                    f"({summary['gamma_ueV']:.3g} µeV)")
    ax[0].legend(fontsize=7)
    i0 = summary["I0_fit_A"]
    if i0 is not None:
        d = np.linspace(0, max(out["dphi"].max() * 1.2, 1e-3), 25)
        ax[1].plot(d, i0 * supercurrent_per_i0(d, t_bath, summary["gamma_over_delta0"]) * 1e6,
                   label=f"Eq. 6, I0 = {i0 * 1e6:.3g} µA")
        ax[1].plot(out["dphi"], out["supercurrent_A"] * 1e6, "o", label="fitted ∂xφ")
        ax[1].legend(fontsize=7)
    ax[1].set(xlabel="∂xφ (1/ξ)", ylabel="I_s (µA)", title="supercurrent vs phase gradient")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    atomic_savefig(fig, path)

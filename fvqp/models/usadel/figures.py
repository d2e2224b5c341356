"""Reproductions of Figs. 10–13 of Ryan et al. (2026) as case runs (``[paper] figure``).

Each writes ``<case>.h5`` (data), ``<case>.png`` (matplotlib; not with ``[output]
figures = false``) and ``summary.json``. A figure's computation (``figN``) returns its
data; ``draw_figN`` draws it from those data and ``[paper]``, read back from
``<case>.h5`` by :func:`paper_figure` (so ``fvqp plot`` redraws it as the run did). The
model set-ups are those of App. B (:mod:`fvqp.models.usadel.paper`); the experimental
data of the paper are not available to fvqp, so the figures show the simulations only.
"""

from __future__ import annotations

import json
import logging
import os

import numpy as np

from ...io.atomic import atomic_path, atomic_savefig
from ...io.workunits import StudyStopped, WorkUnits, direct
from ...solvers.result import ConvergenceError
from ...units import E_CHARGE
from ..base.template import wants_figures
from . import paper
from .fitting import gss_model, supercurrent_per_i0
from .gradients import gradient_for_current
from .selfconsistent import CARRY

log = logging.getLogger(__name__)


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _phase_gradients(p: dict) -> tuple[np.ndarray, np.ndarray]:
    """The supercurrents (A) of ``[paper] supercurrents_uA`` and their phase gradients
    ∂xφ (1/ξ, signed) on the rising branch of Eq. 6 of the paper's uniform wire
    (:func:`.gradients.gradient_for_current`, I0 of :data:`.paper.I0_FIT`, Γ = 0).
    Before 2026-11-26 a table to ∂xφ = 0.6/ξ (25.9 µA) was interpolated with
    ``np.interp``, which clamps: 30 µA was drawn as 25.9 µA and −5 µA as 0 under their
    own labels. A supercurrent above the depairing current raises
    :class:`.gradients.CriticalCurrentError` (also refused at ``fvqp check``)."""
    cur = np.asarray(p["supercurrents_uA"], float) * 1e-6
    t = paper.TABLE1.t(paper.BATH)
    return cur, np.array([gradient_for_current(c / paper.I0_FIT, 1.0, 1.0, 1.0, 0.0, t)
                          for c in cur])


def fig10(p: dict, units=None) -> dict:
    """g_ss(V_inj) for several supercurrents (Γ fixed, ∂xφ from I_s by Eq. 6 with
    I0 = 29.8 µA, Sec. V): Eq. 21 (lines, as the paper's fits), Eq. 21 with the branches
    ending at the reservoirs 5.2 and 5.8 µm from A (dotted) and the numerical solution of
    the coupled Eqs. 9–10 on the ``nis_wire`` mesh (points: g_s of Eq. 17 over ±∂xφ,
    bias-even part, junctions A → B, :func:`~.paper.fig13_ga`); I_s(∂xφ) (Fig. 10b)."""
    from .observables import split_bias

    sc = paper.TABLE1
    v = np.linspace(-p["v_max"], p["v_max"], p["points"])
    x, kap, t = sc.length(300e-9), sc.kappa(24.6e-6) / 2, sc.t(0.061)
    cur, dphi = _phase_gradients(p)
    dgrid = np.linspace(min(0.0, float(np.min(dphi))), max(0.6, float(np.max(dphi))), 13)
    i_s = paper.I0_FIT * supercurrent_per_i0(dgrid, sc.t(paper.BATH))
    g = np.array([gss_model(v, x, kap, t, p["gamma"], d) for d in dphi])
    g_ohm = g / 24.6e-6  # g_ss/(G_inj G_det)
    branches = (sc.length(5.2e-6), sc.length(5.8e-6))  # injector A to the two reservoirs
    g_fin = np.array([gss_model(v, x, kap, t, p["gamma"], d, length=branches)
                      for d in dphi]) / 24.6e-6
    num = paper.fig13_ga(dphi, v, gamma=p["gamma"], de=p["spacing"], emax=p["v_max"] + 0.5)
    _, g_num = split_bias(num["g_s"], axis=1)
    return {"v_inj": v, "dphi": dphi, "supercurrent_A": cur, "g_ss_ohm": g_ohm,
            "g_ss_eq21_finite_branches_ohm": g_fin, "g_ss_numerical_ohm": g_num,
            "supercurrent_numerical_A": num["i_s"],
            "dphi_grid": dgrid, "i_s_grid_A": i_s}


def draw_fig10(d: dict, p: dict):
    """Fig. 10 from the data of :func:`fig10`."""
    v = d["v_inj"]
    plt = _plt()
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.8))
    for c, row, rfin, rnum in zip(d["supercurrent_A"], d["g_ss_ohm"],
                                  d["g_ss_eq21_finite_branches_ohm"],
                                  d["g_ss_numerical_ohm"], strict=True):
        line, = ax[0].plot(v, row, label=f"I_s = {c * 1e6:.0f} µA")
        ax[0].plot(v, rfin, ":", color=line.get_color())
        ax[0].plot(v[::4], rnum[::4], "o", ms=2.5, color=line.get_color())
    ax[0].set(xlabel="eV_inj/Δ0", ylabel="g_ss/(G_inj G_det) (Ω)",
              title="Fig. 10a: Eq. 21 (—), finite branches (⋯), Eqs. 9–10 (o)")
    ax[0].legend(fontsize=7)
    ax[1].plot(d["dphi_grid"], d["i_s_grid_A"] * 1e6)
    ax[1].plot(d["dphi"], d["supercurrent_A"] * 1e6, "o")
    ax[1].set(xlabel="∂xφ (1/ξ)", ylabel="I_s (µA)", title="Fig. 10b (Eq. 6, I0 = 29.8 µA)")
    fig.tight_layout()
    return fig


def fig11(p: dict, units=direct) -> dict:
    """Δ(V_inj) with and without e–e scattering and fL(ε) at x = 0 (App. B); every bias
    of the two sweeps is a checkpointed unit (``elastic_bias<k>``, ``inelastic_...``)."""
    from .selfconsistent import bias_sweep

    v = np.linspace(0, p["v_max"], p["points"])
    out = {"v_inj": v}
    for key, g in (("elastic", 0.0), ("inelastic", p["gamma_ee"])):
        st = paper.fig11_setup(gamma_ee=g, de=p["spacing"], n_edges=p["cells"],
                               gamma=p["gamma"])
        sw = bias_sweep(st, "injector", v, units=units, label=f"{key}_")
        out[f"delta_{key}"] = sw["delta"][:, 0]
        out[f"fL_{key}"] = sw["fL_probe"]
        out["eps"] = st.eps
    return out


def draw_fig11(out: dict, p: dict):
    """Fig. 11 from the data of :func:`fig11`."""
    v = out["v_inj"]
    plt = _plt()
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.8))
    ax[0].plot(v, out["delta_inelastic"], "-", label=f"γ_ee = {p['gamma_ee']:g}")
    ax[0].plot(v, out["delta_elastic"], "--", label="no inelastic scattering")
    ax[0].set(xlabel="eV_inj/Δ0", ylabel="Δ/Δ0", title="Fig. 11a")
    ax[0].legend(fontsize=7)
    e = out["eps"]
    for k in np.linspace(0, v.size - 1, 5).astype(int)[1:]:
        line, = ax[1].plot(e, out["fL_inelastic"][k], label=f"eV = {v[k]:.1f}")
        ax[1].plot(e, out["fL_elastic"][k], "--", color=line.get_color())
        ax[1].axvline(3 * out["delta_inelastic"][k], color=line.get_color(), lw=0.5)
    ax[1].set(xlim=(0, p["v_max"] + 0.5), ylim=(0.9, 1.001), xlabel="ε/Δ0",
              ylabel="fL(x = 0)", title="Fig. 11b (lines: 3Δ)")
    ax[1].legend(fontsize=7)
    fig.tight_layout()
    return fig


def fig12(p: dict, units=direct) -> dict:
    """g_sa(V_inj, V_det) from the inelastic Δ(V_inj) of Fig. 11 (Sec. V); every bias of
    the Δ sweep is a checkpointed unit."""
    from .selfconsistent import bias_sweep

    v = np.linspace(0, p["v_max"], p["points"])
    st = paper.fig11_setup(gamma_ee=p["gamma_ee"], de=p["spacing"], n_edges=p["cells"],
                           gamma=p["gamma"])
    d = bias_sweep(st, "injector", v, units=units)["delta"][:, 0]
    vv = np.concatenate([-v[:0:-1], v])
    dd = np.concatenate([d[:0:-1], d])
    vd = np.linspace(-p["v_det_max"], p["v_det_max"], p["det_points"])
    out = paper.fig12_gsa(vv, dd, vd, gamma=p["gamma"])
    out["delta"] = dd
    return out


def draw_fig12(out: dict, p: dict):
    """Fig. 12 from the data of :func:`fig12`."""
    vv, vd = out["v_inj"], out["v_det"]
    plt = _plt()
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.8))
    for k in np.linspace(0, vd.size - 1, 5).astype(int):
        ax[0].plot(vv, out["g_sa"][:, k] / 1e3, label=f"eV_det = {vd[k]:.2f}")
    ax[0].set(xlabel="eV_inj/Δ0", ylabel="g_sa/(G_inj G_det) (kΩ)", title="Fig. 12a")
    ax[0].legend(fontsize=7)
    lim = np.abs(out["g_sa"]).max() / 1e3
    im = ax[1].pcolormesh(vv, vd, out["g_sa"].T / 1e3, cmap="RdBu_r", vmin=-lim, vmax=lim)
    fig.colorbar(im, ax=ax[1], label="kΩ")
    ax[1].set(xlabel="eV_inj/Δ0", ylabel="eV_det/Δ0", title="Fig. 12b")
    fig.tight_layout()
    return fig


def fig13(p: dict, units=None) -> dict:
    """g_a(V_inj) for three supercurrents (coupled Eqs. 9–10, whole wire, App. B)."""
    cur, dphi = _phase_gradients(p)
    v = np.linspace(-p["v_max"], p["v_max"], p["points"])
    out = paper.fig13_ga(dphi, v, gamma=p["gamma"], de=p["spacing"])
    return {"v_inj": v, "dphi": dphi, "supercurrent_A": out["i_s"], "g_a_ohm": out["g_a"],
            "g_s_ohm": out["g_s"]}


def draw_fig13(res: dict, p: dict):
    """Fig. 13 from the data of :func:`fig13`."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for k, row in enumerate(res["g_a_ohm"]):
        ax.plot(res["v_inj"], row + 10 * k,
                label=f"I_s = {res['supercurrent_A'][k] * 1e6:.1f} µA (+{10 * k} Ω)")
    ax.set(xlabel="eV_inj/Δ0", ylabel="g_a/(G_inj G_det) (Ω)", title="Fig. 13")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


#: each figure's computation (its data) and its drawing from that data and ``[paper]``
FIGURES = {"fig10": fig10, "fig11": fig11, "fig12": fig12, "fig13": fig13}
DRAW = {"fig10": draw_fig10, "fig11": draw_fig11, "fig12": draw_fig12, "fig13": draw_fig13}

#: the datasets of the figures in the paper's units (energies in Δ0, biases in Δ0/e)
#: and the companion written next to each in the output's unit family (Δ0 = 265 µeV of
#: Table 1): name -> (unit of the name, companion, its unit, its value per unit)
_UNITS = {"v_inj": ("Delta0/e", "v_inj_mV", "mV", paper.TABLE1.delta0 / E_CHARGE * 1e3),
          "v_det": ("Delta0/e", "v_det_mV", "mV", paper.TABLE1.delta0 / E_CHARGE * 1e3),
          "eps": ("Delta0", "eps_ueV", "ueV", paper.TABLE1.delta0 / E_CHARGE * 1e6),
          **{k: ("Delta0", f"{k}_ueV", "ueV", paper.TABLE1.delta0 / E_CHARGE * 1e6)
             for k in ("delta", "delta_elastic", "delta_inelastic")}}


def with_units(data: dict) -> tuple[dict, dict]:
    """``data`` with the µeV/mV companion of every dataset in the paper's units, and the
    unit of every dataset named by :data:`_UNITS`, a suffix ``_A`` or ``_ohm`` or
    ``dphi`` (1/ξ): the HDF5 ``units`` attribute."""
    out, units = dict(data), {}
    for k in data:
        if k in _UNITS:
            unit, name, si, scale = _UNITS[k]
            out[name], units[k], units[name] = np.asarray(data[k]) * scale, unit, si
        elif k.endswith("_A"):
            units[k] = "A"
        elif k.endswith("_ohm"):
            units[k] = "Ohm"
        elif k.startswith("dphi"):
            units[k] = "1/xi"
    return out, units


def figure_keys(data: dict) -> dict:
    """The key numbers of a figure run: Δ at the largest injector bias (µeV) of the
    self-consistent sweeps (figs. 11, 12)."""
    return {f"{k.removesuffix('_ueV')}_last_ueV": float(np.asarray(data[k])[-1]) for k in
            ("delta_elastic_ueV", "delta_inelastic_ueV", "delta_ueV") if k in data}
#: figures whose self-consistent bias sweeps are checkpointed (the others take seconds)
CHECKPOINTED = ("fig11", "fig12")


def paper_figure(path: str, h5_path: str) -> None:
    """The figure of a ``[paper]`` run, drawn from its ``<case>.h5`` (the datasets of the
    figure's computation and its ``[paper]`` parameters) with the case's title: the run
    and ``fvqp plot`` draw it the same way."""
    import h5py

    with h5py.File(h5_path, "r") as fh:
        data = {k: np.asarray(v) for k, v in fh.items()}
        p = json.loads(fh.attrs["parameters"])
        title = str(fh.attrs["title"])
    fig = DRAW[p["figure"]](data, p)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.95))  # keep the case title clear of the axes title
    atomic_savefig(fig, path)


def run_figure(case, output_dir: str | None = None, resume: bool = False,
               max_steps: int | None = None) -> dict:
    """Compute one figure of the paper; fig11/fig12 checkpoint every bias (``resume``
    continues a killed run, ``max_steps`` stops after that many new biases, status 1)."""
    import h5py

    p = dict(case.data["paper"])
    out_dir = output_dir or case.output_dir
    os.makedirs(out_dir, exist_ok=True)
    if p["figure"] not in CHECKPOINTED:
        if resume or max_steps is not None:
            raise ValueError(f"{case.path}: paper.figure = {p['figure']!r} takes seconds and "
                             "is not checkpointed: nothing to resume or stop. Fix: run it "
                             "without --resume / --max-steps.")
        data = FIGURES[p["figure"]](p)
    else:
        units = WorkUnits(out_dir, case.digest, resume=resume, max_units=max_steps,
                          latest_only=CARRY)
        try:
            data = FIGURES[p["figure"]](p, units)
        except StudyStopped as stop:
            log.info("usadel %s: %s", case.name, stop)
            return {"model": "usadel", "case": case.path, "status": 1, "figure": p["figure"],
                    "message": str(stop), "biases_done": len(units),
                    "checkpoint": units.path}
        except ConvergenceError as exc:
            raise ConvergenceError(f"{exc} The {len(units)} finished biases are kept in "
                                   f"{units.path}.") from exc
    h5 = os.path.join(out_dir, f"{case.name}.h5")
    tmp = atomic_path(h5)
    data, units = with_units(data)
    with h5py.File(tmp, "w") as fh:
        for k, v in data.items():
            fh[k] = np.asarray(v)
        fh.attrs["parameters"] = json.dumps(p)
        fh.attrs["units"] = json.dumps(units)
        # fvqp plot redraws the figure of this file (paper_figure)
        fh.attrs.update(model="usadel", figure="paper", case_name=case.name,
                        title=case.data.get("title") or case.name)
    os.replace(tmp, h5)
    if wants_figures(case):  # [output] figures = false: the data only (fvqp plot draws it)
        paper_figure(os.path.join(out_dir, f"{case.name}.png"), h5)
    summary = {"model": "usadel", "case": case.path, "status": 0, "figure": p["figure"],
               "message": f"paper {p['figure']}", "output": h5}
    for k, v in data.items():
        if k.startswith("delta_") and not k.endswith("_ueV"):
            summary[k] = np.round(np.asarray(v), 6).tolist()
    keys = figure_keys(data)
    summary.update(keys)
    summary["keys"] = list(keys)
    return summary

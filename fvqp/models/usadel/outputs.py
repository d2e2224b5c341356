"""The files of a Usadel run: ``<case>.h5`` (results, the energy grid and the spectral
coefficients of the last state, units in the attributes), ``<case>.png`` (unless
``[output] figures = false``), ``<case>.vtu`` and ``summary.json``.

Energies are written in µeV (the unit family of every fvqp model's output,
:mod:`fvqp.models.base.outputs`), voltages in mV/µV/V, currents in A, lengths in µm
(HDF5) or m (VTK points); the reference gap Δ0 of the wire units is ``delta0_ueV``, so
ε/Δ0 = ``energy_grid_ueV`` / ``delta0_ueV``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ...io.atomic import atomic_path, atomic_savefig
from ...units import E_CHARGE
from ..base.template import wants_figures

#: units of the root datasets of ``<case>.h5`` (the HDF5 ``units`` attribute)
H5_UNITS = {"x_um": "um", "points_um": "um", "gap_ueV": "ueV", "mu_uV": "uV",
            "q_star_C_per_m3": "C/m^3", "bias_mV": "mV", "i_inj_A": "A", "i_det_A": "A",
            "edge_current_A": "A", "x_edge_um": "um", "g_nl": "S", "g_sa": "S", "g_ss": "S",
            "supercurrent_A": "A", "phase_gradient_max_per_xi": "1/xi",
            "i_det_map_A": "A (I_s, ±I_s, V_inj, V_det)",
            "g_nl_map": "S (I_s, ±I_s, V_inj, V_det)", "g_a_map": "S (I_s, V_inj, V_det)",
            "g_s_map": "S", "g_sa_map": "S", "g_ss_map": "S",
            "energy_grid_ueV": "ueV", "delta0_ueV": "ueV", "delta_probe_ueV": "ueV",
            "detector_bias_mV": "mV"}


def ueV(sc) -> float:
    """µeV per internal energy unit Δ0 of the wire scales ``sc``."""
    return sc.delta0 / (E_CHARGE * 1e-6)


#: units of the VTK cell fields (points in metres, energies in µeV: the unit family of
#: every fvqp model's VTK output, fvqp.models.base.outputs)
VTK_UNITS = {"gap": "ueV", "charge_imbalance_potential": "V", "charge_imbalance": "C/m^3",
             "charge_current": "A", "region": "1"}

#: the spectral coefficients of the kinetic equations (App. B, Eqs. 6, 9-10) written to the
#: HDF5 group ``spectral`` on the energies × nodes of the last state, with their units
SPECTRAL_UNITS = {"energy_ueV": "ueV", "N": "1", "D_L": "1", "D_T": "1", "R_T_ueV": "ueV",
                  "j_eps": "1", "x_um": "um"}


def spectral_fields(spec, sc) -> dict:
    r"""N = Re G, D_L, D_T, R_T = 2Δ Re F (an energy: µeV), j_ε = Im F² of ``spec``, shape
    (n_eps, n_nodes), and the energies in µeV (:data:`SPECTRAL_UNITS`). In a normal wire
    N = D_L = D_T = 1, R_T = j_ε = 0 exactly (θ = 0)."""
    u = ueV(sc)
    return {"energy_ueV": np.asarray(spec.eps) * u, "N": spec.N, "D_L": spec.DL,
            "D_T": spec.DT, "R_T_ueV": spec.RT * u, "j_eps": spec.jeps}


def _vtk(path, meta, wanted, gap_ueV, mu_v, current_a=None):
    """Cell fields of the wire (one VTK line cell per mesh edge, points in metres as in
    the other models' VTK): the ``[output] fields`` that this run has
    (``charge_current`` only for single states), units :data:`VTK_UNITS`."""
    from ...io.vtk import write_vtu

    net = meta["net"]
    pts = net.points * meta["scales"].xi
    blocks = [("line", np.stack([net.edge_a, net.edge_b], axis=1))]
    fields = {"gap": (net.edge_mean(gap_ueV), "ueV"),
              "charge_imbalance_potential": (net.edge_mean(mu_v), "V"),
              "charge_imbalance": (net.edge_mean(mu_v) * meta["inv_rho_d"], "C/m^3")}
    if current_a is not None:
        fields["charge_current"] = (np.asarray(current_a, float), "A")
    fields["region"] = (np.asarray(net.edge_region, float), "1")  # as the mesh models
    fields = {k: v for k, v in fields.items() if k in wanted}
    write_vtu(path, pts, blocks, {k: v[0] for k, v in fields.items()},
              {k: v[1] for k, v in fields.items()},
              strings={"region_names": [str(n) for n in net.region_names]})


def figure(path: str, h5_path: str) -> None:
    """The gap and μ_Q* along the wire of the last state, and the current along the wire
    (single state), g_a (supercurrent map), g_nl or Δ at the probe (bias sweep), drawn
    from the run's ``<case>.h5`` (its root datasets are the results ``res``): the run
    and ``fvqp plot`` draw it the same way."""
    import h5py
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with h5py.File(h5_path, "r") as fh:
        res = {k: np.asarray(v) for k, v in fh.items() if isinstance(v, h5py.Dataset)}
        title = str(fh.attrs["title"])
    fig, ax = plt.subplots(1, 3, figsize=(13, 3.8))
    x = res["x_um"]
    order = np.argsort(x)
    ax[0].plot(x[order], res["gap_ueV"][order])
    ax[0].set(xlabel="x (µm)", ylabel="Δ (µeV)", title="gap of the last state")
    ax[1].plot(x[order], res["mu_uV"][order])
    ax[1].set(xlabel="x (µm)", ylabel="μ_Q* (µV)", title="charge-imbalance potential")
    if "edge_current_A" in res:  # steady state: total current along the wire
        xe = 0.5 * (res["x_edge_um"][:, 0] + res["x_edge_um"][:, 1])
        o = np.argsort(xe)
        ax[2].plot(xe[o], res["edge_current_A"][o] * 1e6)
        ax[2].set(xlabel="x (µm)", ylabel="I (µA)", title="charge current (cell orientation)")
    if "g_a_map" in res:  # supercurrent map: g_a (Eq. 16) at the first detector bias
        for k, cur in enumerate(res["supercurrent_A"]):
            ax[2].plot(res["bias_mV"], res["g_a_map"][k, :, 0], label=f"I_s={cur * 1e6:.3g} µA")
        ax[2].set(xlabel="V_inj (mV)", ylabel="g_a (S)", title="current-odd g_nl (Eq. 16)")
        ax[2].legend(fontsize=7)
    elif "bias_mV" in res and res["bias_mV"].size > 1:
        if res.get("g_nl") is not None:
            for k, vd in enumerate(res["detector_bias_mV"]):
                ax[2].plot(res["bias_mV"], res["g_nl"][:, k], label=f"V_det={vd:.3g} mV")
            ax[2].set(xlabel="V_inj (mV)", ylabel="g_nl (S)", title="nonlocal conductance")
            ax[2].legend(fontsize=7)
        else:
            ax[2].plot(res["bias_mV"], res["delta_probe_ueV"])
            ax[2].set(xlabel="V_inj (mV)", ylabel="Δ (µeV)")
    fig.suptitle(title)
    fig.tight_layout()
    atomic_savefig(fig, path)


def write_outputs(case, out_dir, res, setup, spec, meta, mu_v, summary) -> None:
    """``<case>.h5`` (``res``, the energy grid in µeV, Δ0 and the spectral coefficients
    of the last state, units in the attributes: :data:`H5_UNITS`,
    :data:`SPECTRAL_UNITS`), ``<case>.png`` (unless ``[output] figures = false``) and
    ``<case>.vtu`` (``summary.json`` is the run template's,
    :func:`fvqp.models.base.run_model`)."""
    import h5py

    sc, d = meta["scales"], case.values
    h5 = summary["output"]
    tmp = atomic_path(h5)
    with h5py.File(tmp, "w") as fh:
        for k, v in res.items():
            if v is not None:
                fh[k] = np.asarray(v)
        fh["energy_grid_ueV"] = np.asarray(setup.eps) * ueV(sc)  # ε/Δ0: / delta0_ueV
        fh["delta0_ueV"] = ueV(sc)
        grp = fh.create_group("spectral")  # N, D_L, D_T, R_T, j_ε of the last state
        for k, v in spectral_fields(spec, sc).items():
            grp[k] = v
        grp["x_um"] = res["x_um"]
        grp.attrs["units"] = json.dumps(SPECTRAL_UNITS)
        fh.attrs["units"] = json.dumps({**H5_UNITS, **{f"spectral/{k}": u for k, u in
                                                       SPECTRAL_UNITS.items()}})
        # fvqp plot redraws the figure of this file (fvqp.post.plot)
        fh.attrs.update(model="usadel", figure="state", case_name=case.name,
                        title=d.get("title") or case.name)
    os.replace(tmp, h5)
    if wants_figures(case):
        figure(os.path.join(out_dir, f"{case.name}.png"), h5)
    _vtk(os.path.join(out_dir, f"{case.name}.vtu"), meta, d["output"]["fields"],
         res["gap_ueV"], mu_v, res.get("edge_current_A"))


def redraw(h5_path: str | Path, out_dir: str | Path) -> Path | None:
    """The figure of a Usadel ``<case>.h5`` drawn again into ``out_dir`` (``fvqp plot``,
    :mod:`fvqp.post.plot`): a state's (:func:`figure`), a fit's
    (:func:`.fitcase.fit_figure`) or a paper figure's (:func:`.figures.paper_figure`);
    None for a file that does not name its case (written before 2026-11-27)."""
    import h5py

    from .figures import paper_figure
    from .fitcase import fit_figure

    with h5py.File(h5_path, "r") as fh:
        name, kind = fh.attrs.get("case_name"), fh.attrs.get("figure")
    draw = {"state": figure, "fit": fit_figure, "paper": paper_figure}.get(str(kind))
    if name is None or draw is None:
        return None
    png = Path(out_dir) / f"{name}.png"
    draw(str(png), str(h5_path))
    return png

"""The relaxation figure of a ``bte_sphere`` run, drawn from its ``bte_sphere.h5``.

The run draws it after its last snapshot and ``fvqp plot`` draws it again from the same
file (:mod:`fvqp.post.plot`), so the two are the same picture: the energy balance
versus time, the excess occupation at the centre versus energy, and the excess QPs per
state weight versus radius, at up to five snapshots.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...io.atomic import atomic_savefig
from ...units import E_CHARGE

__all__ = ["figure_name", "redraw", "relaxation_figure"]


def figure_name(case_name: str) -> str:
    """The file name of the figure, ``<case>_relaxation.png``."""
    return f"{case_name}_relaxation.png"


def relaxation_figure(path: str, h5_path: str) -> None:
    """Draw the figure of the results file ``h5_path`` (module docstring) to ``path``."""
    import h5py
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with h5py.File(h5_path, "r") as fh:
        g, sn, se = fh["grid"], fh["snapshots"], fh["series"]
        r, e = np.asarray(g["r_centres_m"]) * 1e6, np.asarray(g["energy_ueV"])
        fb, weights = np.asarray(g["f_bath"]), np.asarray(g["state_weights"])
        t_snap = np.asarray(sn["t"])
        shown = np.unique(np.linspace(0, t_snap.size - 1, 5).astype(int))
        f_snap = {int(i): np.asarray(sn["f"][i]) for i in shown}  # only the drawn ones
        ts = {k: np.asarray(v) for k, v in se.items()}
    fig, ax = plt.subplots(1, 3, figsize=(15, 4.2))
    t = np.maximum(ts["t"] * 1e9, 1e-6)
    for k, lab in (("E_escaped_J", "escaped through r = R"),
                   ("E_in_surface_ph_J", "phonons in through r = R (-: out)"),
                   ("E_excess_qp_J", "excess QP energy"),
                   ("E_in_phonon_bath_J", "from the phonon bath (-: to)")):
        if k in ts:
            ax[0].plot(t, ts[k] / E_CHARGE, label=lab)
    ax[0].set(xlabel="t [ns]", ylabel="energy [eV]", title="energy balance", xscale="log")
    ax[0].legend(fontsize=8)
    for i in shown:
        f = f_snap[int(i)]
        lab = f"t = {t_snap[i] * 1e9:.3g} ns"
        ax[1].semilogy(e, np.maximum(f[0] - fb, 1e-30), label=lab)
        ax[2].plot(r, (f - fb) @ weights, label=lab)
    ax[1].set(xlabel="energy [ueV]", ylabel="f - f_bath at the centre", ylim=(1e-12, None),
              title="energy relaxation")
    ax[2].set(xlabel="r [um]", ylabel="excess QPs per state weight", title="spreading")
    ax[2].legend(fontsize=8)
    fig.tight_layout()
    atomic_savefig(fig, path)


def redraw(h5_path: str | Path, out_dir: str | Path) -> Path | None:
    """The figure of ``bte_sphere.h5`` drawn again into ``out_dir`` (``fvqp plot``,
    :mod:`fvqp.post.plot`); None for a file that does not name its case (written before
    2026-11-27)."""
    import h5py

    with h5py.File(h5_path, "r") as fh:
        name = fh.attrs.get("case_name")
    if name is None:
        return None
    png = Path(out_dir) / figure_name(str(name))
    relaxation_figure(str(png), str(h5_path))
    return png

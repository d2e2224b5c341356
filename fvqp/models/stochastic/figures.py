"""Matplotlib figures of the stochastic studies (one routine per study)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["FIGURE_NAMES", "draw", "figure_stem", "redraw"]

#: what the figure of each study shows: the files of a run are ``<case>_<what>.png`` and
#: ``<case>_<what>.h5`` (one stem, so ``fvqp plot`` redraws the PNG from the HDF5 under the
#: name the run gave it)
FIGURE_NAMES = {"concentration_curve": "concentration", "relaxation": "decay_rate",
                "bubbles": "packing", "clusters": "number_distribution",
                "regime_map": "polarisation_map"}


def figure_stem(case_name: str, kind: str) -> str:
    """``<case>_<what>``: the stem of the HDF5 file and the PNG of a study ``kind``."""
    return f"{case_name}_{FIGURE_NAMES[kind]}"


def _concentration_curve(fig, d: dict, s: dict) -> None:
    a1, a2 = fig.subplots(1, 2)
    a1.errorbar(d["a"], d["c"], yerr=d["c_err"], fmt="ko", ms=4, label="Monte Carlo")
    aa = np.geomspace(d["a"].min(), d["a"].max(), 200)
    from ...stochastic.annihilation import concentration_eq9

    a1.loglog(aa, concentration_eq9(aa), "r-", label="Eq. 9 (beta=0.41, b=0.008)")
    a1.loglog(aa, np.sqrt(aa), "b--", label="mean field (A/Gbar)^1/2")
    a1.set_xlabel("A r_c^6 / Gamma_bar")
    a1.set_ylabel("c r_c^3")
    a1.legend(fontsize=7)
    for rc, A, c in zip(d["r_c_m"], d["A_SI"], d["c_SI"], strict=True):
        a2.loglog(A * 1e-18, c * 1e-18, "o-", ms=3, label=f"r_c = {rc * 1e9:.0f} nm")
    A = np.geomspace(d["A_SI"].min(), d["A_SI"].max(), 100)
    g = s["gamma_bar_m3_per_s"]
    a2.loglog(A * 1e-18, np.sqrt(A / g) * 1e-18, "k--", label="mean field")
    a2.set_xlabel("A [1/(s um^3)]")
    a2.set_ylabel("c [1/um^3]")
    a2.legend(fontsize=7)


def _relaxation(fig, d: dict, s: dict) -> None:
    ax = fig.subplots()
    ax.errorbar(d["c"], -d["dcdt"], yerr=d["dcdt_std"], fmt="ko", ms=3, label="Monte Carlo")
    ax.loglog(d["c"], -d["dcdt_eq8"], "r-", label="Eq. 8 (A = 0)")
    ax.loglog(d["c"], d["c"] ** 2, "b--", label="mean field c^2")
    ax.set_xlabel("c r_c^3")
    ax.set_ylabel("-dc/dt  [Gamma_bar / r_c^6]")
    ax.legend(fontsize=7)


def _bubbles(fig, d: dict, s: dict) -> None:
    has_trace = "trace_cp" in d
    axes = fig.subplots(1, 2 if has_trace else 1)
    ax = axes[0] if has_trace else axes
    spin = d["spinful"] & np.isfinite(d["zeta"])
    ax.errorbar(d["zeta"][spin], d["cp"][spin], yerr=d["cp_err"][spin], fmt="ko", ms=4,
                label="Monte Carlo")
    z = np.geomspace(10.0, 5e3, 100)  # S8 is a zeta >> 1 fit
    from ...stochastic.bubbles import cp_of_polarization, cp_of_zeta_s8

    ax.semilogx(z, cp_of_zeta_s8(z), "r-", label="Eq. S8")
    ax.axhline(0.605, color="b", ls=":", label="C_p = 0.605 (spinless)")
    ax.axhspan(2.14, 2.24, color="0.85", label="C_p(inf) = 2.19 +- 0.05")
    if (~d["spinful"]).any():
        ax.errorbar([1e-1], d["cp"][~d["spinful"]][:1], yerr=d["cp_err"][~d["spinful"]][:1],
                    fmt="bs", label="spinless run")
    ax.set_xscale("log")
    ax.set_xlabel("zeta = 4 pi A r^3 tau_sf / 3")
    ax.set_ylabel("C_p = 4 pi c r^3 / 3")
    ax.legend(fontsize=7)
    if has_trace:
        b = axes[1]
        b.plot(d["trace_P"], d["trace_cp"], ".", ms=1, color="0.4", label="zeta = inf run")
        P = np.linspace(-0.97, 0.97, 200)
        b.plot(P, cp_of_polarization(P, 1.55), "r-", label="Eq. S10")
        b.plot(P, cp_of_polarization(P, 1.0), "b--", label="Eq. S9")
        b.set_xlabel("polarisation P")
        b.set_ylabel("C_p")
        b.legend(fontsize=7)


def _clusters(fig, d: dict, s: dict) -> None:
    ax = fig.subplots()
    ax.plot(d["N"], d["P_master"], "k-", label="master equation (S4)")
    ax.plot(d["N"], d["P_eq7"], "r--", label="Fokker-Planck Eq. 7")
    ax.axvline(s["N0"], color="0.6", ls=":", label="N0 (mean field)")
    ax.set_xlabel("N")
    ax.set_ylabel("P(N)")
    ax.set_title(f"{s['regime'].upper()} regime", fontsize=9)
    ax.legend(fontsize=7)


def _regime_map(fig, d: dict, s: dict) -> None:
    axes = fig.subplots(1, 3)
    a, v = d["a"], d["v"]
    for ax, key, label in zip(axes, ("p", "n", "enhancement"),
                              ("polarisation p", "log10 N/N_c", "log10 N/N_unpol"),
                              strict=True):
        z = d[key] if key == "p" else np.log10(np.maximum(d[key], 1e-300))
        im = ax.pcolormesh(a, v, z, shading="auto")
        fig.colorbar(im, ax=ax, label=label)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("A / A_c")
        ax.set_ylabel("V / V_c")
        # Fig. 1 boundaries: V = V_c, A = A_c (V_c/V)^2
        ax.plot(a, np.ones_like(a), "w--", lw=1)
        ax.plot(a, a**-0.5, "w:", lw=1)
        ax.set_ylim(v.min(), v.max())


_DRAW = {"concentration_curve": _concentration_curve, "relaxation": _relaxation,
         "bubbles": _bubbles, "clusters": _clusters, "regime_map": _regime_map}


def draw(path: str, kind: str, datasets: dict, summary: dict, title: str) -> None:
    """Write the figure of study ``kind`` to ``path`` (PNG, atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ...io.atomic import atomic_savefig

    wide = kind in ("concentration_curve", "regime_map") or "trace_cp" in datasets
    fig = plt.figure(figsize=(13 if kind == "regime_map" else 10 if wide else 6, 4.2))
    _DRAW[kind](fig, datasets, summary)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    atomic_savefig(fig, path)


def redraw(h5_path: str | Path, out_dir: str | Path) -> Path | None:
    """The figure of a study's ``<case>_<what>.h5`` drawn again into ``out_dir`` under the
    run's name (``fvqp plot``, :mod:`fvqp.post.plot`); None for another file."""
    import json

    import h5py

    h5_path = Path(h5_path)
    with h5py.File(h5_path, "r") as fh:
        if fh.attrs.get("model") != "stochastic" or "data" not in fh:
            return None
        args = (str(fh.attrs["study"]), {k: np.asarray(v) for k, v in fh["data"].items()},
                json.loads(fh.attrs["summary_json"]),
                str(fh.attrs.get("title", "")) or h5_path.stem)
    png = Path(out_dir) / f"{h5_path.stem}.png"
    draw(str(png), *args)
    return png

r"""The computations behind each ``[study] type`` of the stochastic model.

Every study takes the validated ``[study]`` table (SI) and returns a :class:`StudyResult`:
datasets and attributes for the HDF5 file (dimensionless arrays plus their SI
counterparts), a JSON-able summary and the name of its figure routine in
:mod:`fvqp.models.stochastic.figures`.  Internal variables are dimensionless:

* localized quasiparticles: lengths :math:`r_c`, times :math:`r_c^3/\bar\Gamma`;
* bubbles: lengths the bubble diameter ``r``, times :math:`1/(AL^3)` per step;
* clusters: volume ``V``, time :math:`1/(AV)` (so ``A = V = 1``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from ...io.workunits import direct
from ...stochastic import annihilation as an
from ...stochastic import bubbles as bb
from ...stochastic import crossover as co
from ...stochastic import estimates as es
from ...stochastic import master as me
from ...stochastic import spin_clusters as sc
from ...stochastic.kmc import default_cutoff
from ...stochastic.kmc_runs import estimate_concentration, stationary_concentration
from ...stochastic.kmc_runs import relaxation as _relax

__all__ = ["StudyResult", "STUDIES"]

log = logging.getLogger(__name__)

_UM3 = 1e-18


@dataclass
class StudyResult:
    """What a study gives the driver.

    Attributes
    ----------
    datasets, attrs : dict
        Arrays and attributes of the HDF5 file.
    summary : dict
        JSON-able results (``summary.json``).
    figure : str
        The study's figure routine (:mod:`.figures`).
    keys : tuple of str
        The summary's key numbers (top-level numbers or strings), shown at the end of
        the run and listed in the summary's ``keys``.
    series : Series or None
        The time trace of a time-dependent study (``<case>_series.csv``).
    """

    datasets: dict
    attrs: dict
    summary: dict
    figure: str
    keys: tuple = ()
    meta: dict = field(default_factory=dict)
    series: Series | None = None


@dataclass
class Series:
    """Columns of a study's ``<case>_series.csv`` (:class:`fvqp.io.series.SeriesWriter`).

    Attributes
    ----------
    columns : dict
        Column name -> 1D array (one row per recorded time; integer arrays stay integers).
    units : dict
        Column name -> ``(unit, description)`` (the file's comment lines).
    title : str
        What the series is (the file's first comment line).
    """

    columns: dict
    units: dict
    title: str


def _box(a: float, n_target: int, n_cap: int, film: float | None = None
         ) -> tuple[float, float]:
    """Kernel range and box side (the in-plane side of a film of thickness ``film``); at
    the dense (mean-field) end, where every pair within the range interacts, the box is
    capped at ``n_cap`` particles and the range at half the box (the missing kernel
    weight is recorded as ``kernel_weight``)."""
    c = estimate_concentration(a, film)
    cut = default_cutoff(c, a)
    dim, depth = (3, 1.0) if film is None else (2, film)
    L = max((n_target / (c * depth)) ** (1.0 / dim), 2.0 * cut)
    if c * depth * L**dim > n_cap:
        L = (n_cap / (c * depth)) ** (1.0 / dim)
        cut = min(cut, 0.5 * L)
    return cut, L


def concentration_curve(st: dict, units=direct) -> StudyResult:
    """Stationary ``c(a)`` sweep, Eq. (9) fit, physical ``c(A)`` per ``r_c`` (Fig. 3)."""
    a = np.geomspace(st["a_min"], st["a_max"], st["points"])
    gbar = _gamma_bar(st)
    curves = {"a": [], "c": [], "c_err": [], "L": [], "cutoff": [], "n_mean": []}
    geometry = st["geometry"]
    film = st["thickness"] if geometry == "film" else None
    boxes = [_box(float(ai), st["particles"], st["max_box_particles"], film) for ai in a]
    report = getattr(units, "report", None)  # progress inside a unit (StudyProgress)
    results = units.map([(f"a{i}", lambda ai=ai, cut=cut, L=L, i=i: stationary_concentration(
        float(ai), n_target=st["particles"], L=L, cutoff=cut, replicas=st["replicas"],
        burn=st["burn"], sample=st["sample"], seed=st["seed"] + i, geometry=geometry,
        thickness=film, progress=report))
        for i, (ai, (cut, L)) in enumerate(zip(a, boxes, strict=True))])
    for i, (ai, (_, L), r) in enumerate(zip(a, boxes, results, strict=True)):
        log.info("c(A) %d/%d: a = %.3g, c = %.4g +- %.2g r_c^-3 (N = %.0f, L = %.1f)", i + 1,
                 a.size, ai, r["c"], r["c_err"], r["n_mean"], L)
        for k in curves:
            curves[k].append(float(r[k]))
    d = {k: np.asarray(v) for k, v in curves.items()}
    d["kernel_weight"] = np.array([an.kernel_integral(c) for c in d["cutoff"]])
    low = d["c"] < st["fit_c_max"]
    fit = {}
    if low.sum() >= 3:
        beta, b, cov = an.fit_beta_b(d["a"][low], d["c"][low], sigma_c=d["c_err"][low])
        fit = {"beta": beta, "b": b, "beta_err": float(np.sqrt(cov[0, 0])),
               "b_rel_err": float(np.sqrt(cov[1, 1])), "points": int(low.sum())}
    d["c_eq9"] = an.concentration_eq9(d["a"])
    d["c_mean_field"] = an.mean_field_concentration(d["a"], film)
    rc = np.asarray(st["r_c"], dtype=float)
    d["r_c_m"] = rc
    d["A_SI"] = d["a"][None, :] * gbar / rc[:, None] ** 6
    d["c_SI"] = d["c"][None, :] / rc[:, None] ** 3
    d["c_err_SI"] = d["c_err"][None, :] / rc[:, None] ** 3
    dev = d["c"] / d["c_eq9"] - 1.0
    summ = {"gamma_bar_m3_per_s": gbar, "gamma_bar_um3_per_s": gbar / _UM3, "fit_eq9": fit,
            "paper": {"beta": an.BETA_PAPER, "b": an.B_PAPER, "C_p": an.CP_PAPER},
            "max_abs_deviation_from_eq9_fit_range":
                float(np.nanmax(np.abs(dev[low]))) if low.any() else None,
            "geometry": geometry, "thickness_over_r_c": film,
            "mean_field_ratio_at_a_max": float(d["c"][-1] / d["c_mean_field"][-1])}
    if geometry == "cube":
        summ["mean_field_ratio_at_a_max_cutoff_corrected"] = \
            float(d["c"][-1] / np.sqrt(a[-1] / d["kernel_weight"][-1]))
    keys = ("gamma_bar_m3_per_s", "max_abs_deviation_from_eq9_fit_range",
            "mean_field_ratio_at_a_max")
    if fit:  # the fitted Eq. (9) against the paper's beta = 0.41, b = 0.008
        summ.update(beta_fit=fit["beta"], beta_paper=an.BETA_PAPER, b_fit=fit["b"],
                    b_paper=an.B_PAPER)
        keys = ("beta_fit", "beta_paper", "b_fit", "b_paper", *keys)
    attrs = {"units": "a = A r_c^6/Gamma_bar, c in r_c^-3; *_SI: A in 1/(s m^3), c in 1/m^3",
             "gamma_bar_m3_per_s": gbar}
    return StudyResult(d, attrs, summ, "concentration_curve", keys)


def relaxation(st: dict, units=direct) -> StudyResult:
    """Free decay at ``a = 0`` (Fig. S2) against Eq. (8)."""
    r = units("decay", lambda: _relax(
        a0=st["a0"], L=st["box"], n_start=st["n_start"], repeats=st["repeats"],
        n_min=st["n_min"], bins=st["bins"], seed=st["seed"],
        progress=getattr(units, "report", None)))
    d = {k: np.asarray(r[k]) for k in ("c", "dcdt", "dcdt_std", "count", "t", "c_t")}
    d["dcdt_eq8"] = an.relaxation_rate_eq8(d["c"])
    ratio = d["dcdt"] / d["dcdt_eq8"]
    # the decay rate -(dc/dt)/c of the densest bin (just after the switch-off), Monte
    # Carlo and Eq. (8), in Gamma_bar / r_c^3
    summ = {"ratio_to_eq8_first_bin": float(ratio[-1]), "ratio_to_eq8_last_bin": float(ratio[0]),
            "decay_rate_first_bin": float(-d["dcdt"][-1] / d["c"][-1]),
            "decay_rate_eq8_first_bin": float(-d["dcdt_eq8"][-1] / d["c"][-1]),
            "c_start": float(d["c_t"][0]) if d["c_t"].size else None,
            "c_final": float(d["c_t"][-1]) if d["c_t"].size else None,
            "decay_time": float(d["t"][-1]) if d["t"].size else None, "cutoff": r["cutoff"]}
    attrs = {"units": "c in r_c^-3, dc/dt in Gamma_bar r_c^-6, t in r_c^3/Gamma_bar"}
    keys = ["decay_rate_first_bin", "decay_rate_eq8_first_bin", "ratio_to_eq8_first_bin",
            "c_start", "c_final", "decay_time"]
    scale = None
    if st.get("r_c") is not None:  # the SI scales of the given localization radius
        scale = (float(st["r_c"]), _gamma_bar(st))
        rc, gbar = scale
        t_unit = rc**3 / gbar
        d["t_s"], d["c_t_SI"] = d["t"] * t_unit, d["c_t"] / rc**3
        summ.update(r_c_m=rc, gamma_bar_m3_per_s=gbar, time_unit_s=t_unit,
                    decay_time_s=summ["decay_time"] * t_unit
                    if summ["decay_time"] is not None else None,
                    decay_rate_first_bin_per_s=summ["decay_rate_first_bin"] / t_unit)
        attrs.update(units=attrs["units"] + "; t_s in s, c_t_SI in 1/m^3",
                     time_unit_s=t_unit, gamma_bar_m3_per_s=gbar, r_c_m=rc)
        keys += ["time_unit_s", "decay_time_s", "decay_rate_first_bin_per_s"]
    return StudyResult(d, attrs, summ, "relaxation", tuple(keys),
                       series=_relaxation_series(d, st, scale))


def _gamma_bar(st: dict) -> float:
    r""":math:`\bar\Gamma` [m^3/s]: the study's ``gamma_bar`` or that of its material
    (:func:`fvqp.stochastic.annihilation.gamma_bar_material`, with the case's overrides)."""
    from ..base.schema import case_material

    return st["gamma_bar"] or an.gamma_bar_material(case_material(st))


def _relaxation_series(d: dict, st: dict, scale: tuple[float, float] | None) -> Series:
    """The decay trace of the first repeat (``t``, ``c_t``) as ``<case>_series.csv``:
    reduced time and concentration, the number of quasiparticles in the box and, with
    ``scale = (r_c [m], Gamma_bar [m^3/s])``, the SI time and concentration (the arrays
    ``t_s``, ``c_t_SI`` of the HDF5 file)."""
    box = st["box"]
    cols = {"time_reduced": d["t"], "N_qp": np.rint(d["c_t"] * box**3).astype(int),
            "c_reduced": d["c_t"]}
    units = {"time_reduced": ("r_c^3/Gamma_bar", "time since N_qp first fell to n_start "
                              f"= {st['n_start']} (Monte Carlo time, first repeat)"),
             "N_qp": ("", f"quasiparticles in the periodic box of side {box:g} r_c"),
             "c_reduced": ("1/r_c^3", "concentration N_qp / box^3")}
    if scale is not None:
        rc, gbar = scale
        cols = {"time_s": d["t_s"], **cols, "c_per_m3": d["c_t_SI"]}
        units = {"time_s": ("s", f"time_reduced x r_c^3/Gamma_bar = time_reduced x "
                            f"{rc**3 / gbar:.6g} s (r_c = {rc:.6g} m, Gamma_bar = "
                            f"{gbar:.6g} m^3/s)"),
                 **units, "c_per_m3": ("1/m^3", "c_reduced / r_c^3")}
    return Series(cols, units, "stochastic relaxation: free decay of localized "
                  "quasiparticles at A = 0 (Bespalov et al. 2016, Fig. S2)")


def bubbles(st: dict, units=direct) -> StudyResult:
    """Packing coefficient vs spin-flip time (Fig. S3), (C_p, P) relation (Fig. S5)."""
    zetas = list(st["zeta"])
    rows = ([None] if st["spinless"] else []) + zetas
    cp, err = [], []
    items = [(f"zeta{i}", lambda z=z, i=i: bb.packing_coefficient(
        z, L=st["box"], replicas=st["replicas"], burn=st["burn"], sample=st["sample"],
        seed=st["seed"] + i, progress=getattr(units, "report", None)))
        for i, z in enumerate(rows)]
    if st["polarization_steps"] > 0:  # independent of the rows: shared with them
        items.append(("polarization", lambda: _polarization_trace(st)))
    results = units.map(items)
    for z, r in zip(rows, results, strict=False):
        cp.append(r["cp"])
        err.append(r["cp_err"])
        log.info("bubbles: zeta = %s: C_p = %.4f +- %.4f", "spinless" if z is None else z,
                 r["cp"], r["cp_err"])
    d = {"zeta": np.array([0.0 if z is None else z for z in rows]), "cp": np.array(cp),
         "cp_err": np.array(err), "spinful": np.array([z is not None for z in rows])}
    zz = d["zeta"][d["spinful"] & np.isfinite(d["zeta"]) & (d["zeta"] > 0)]
    d["cp_s8"] = bb.cp_of_zeta_s8(zz) if zz.size else np.zeros(0)
    summ = {"cp": dict(zip(["spinless" if z is None else str(z) for z in rows], cp,
                           strict=True)),
            "paper": {"C_p": an.CP_PAPER, "C_p_inf": an.CP_SPIN_PAPER, "S8": "2.19 - 4.2/sqrt"}}
    if st["polarization_steps"] > 0:
        tr = results[-1]
        d["trace_cp"], d["trace_P"] = tr["trace_cp"], tr["trace_P"]
        summ["s10_scale_fit"] = bb.packing_scale_fit(tr["trace_cp"], tr["trace_P"])
        summ["cp_zeta_inf_run"] = tr["cp"]
        summ["mean_abs_P_zeta_inf_run"] = float(np.mean(np.abs(tr["trace_P"])))
        summ["paper"]["s10_scale"] = 1.55
    keys = ()
    if st["spinless"]:  # the spinless packing coefficient against the paper's 1.3
        summ.update(C_p_spinless=cp[0], C_p_paper=an.CP_PAPER)
        keys = ("C_p_spinless", "C_p_paper")
    attrs = {"units": "C_p = 4 pi c r^3 / 3, zeta = 4 pi A r^3 tau_sf / 3 (0: spinless)",
             "box_over_r": st["box"]}
    return StudyResult(d, attrs, summ, "bubbles", keys)


def _polarization_trace(st: dict) -> dict:
    """The zeta = inf run recording (C_p, P) (Fig. S5)."""
    sim = bb.BurstingBubbles(st["box"], np.inf, seed=st["seed"] + 1000)
    sim.run(st["polarization_steps"] // 10)
    return sim.run(st["polarization_steps"], record_every=max(st["polarization_steps"] // 2000,
                                                              1))


def _cluster_params(st: dict) -> tuple[sc.ClusterParams, float]:
    A, V = st["injection_rate"], st["volume"]
    t_u = 1.0 / (A * V)  # injection time
    tau = st["tau_s"] if st.get("tau_s") else np.inf
    g = st["gamma_bar"] * t_u / V
    p = sc.ClusterParams(A=1.0, V=1.0, gamma=g, gamma_t=g * st["gamma_t_ratio"],
                         tau_s=tau / t_u)
    return p, t_u


def clusters(st: dict, units=direct) -> StudyResult:
    """P(N) of the master equation (S4) vs Eq. (7), moments, noise (Meyer 2020)."""
    p, t_u = _cluster_params(st)
    n0 = sc.n0_reduced(p)
    n_max = st["n_max"] or int(4 * n0) + 20
    Q, space = me.full_generator(p, n_max, st["m_max"])
    P = me.stationary(Q)
    PN = me.marginal_n(P, space)
    N = np.arange(n_max + 1)
    S0, var = me.zero_frequency_noise(Q, space, P)
    mean = float(PN @ N)
    d = {"N": N, "P_master": PN, "P_eq7": sc.stationary_distribution(p, N)}
    regime = "ta" if p.n0_ta < p.n0_sr else "sr"
    m_an = sc.moments_limit(p, regime)
    summ = {"regime": regime, "N0": n0, "mean_N": mean, "mean_N_eq8_9": m_an[0],
            "second_moment": float(PN @ N**2), "second_moment_eq8_9": m_an[1],
            "variance": var, "S_N0_s": S0 * t_u,
            "S_N0_over_var_tf": S0 / (var * sc.fluctuation_time(p, regime)),
            "paper_noise_coefficient": es.noise_coefficient(regime),
            "flux_noise_phi0sq_per_hz": st["flux_per_spin"] ** 2 * S0 * t_u / 3.0,
            "V_c_m3": p.V_c * st["volume"] if np.isfinite(p.tau_s) else None,
            "N_c": p.N_c if p.gamma_t > 0 else None,
            "mean_m": float(me.moments(P, space, (1,), "m")[0])}
    attrs = {"units": "N, m pure numbers; internal time unit 1/(A V)", "time_unit_s": t_u,
             "n_max": n_max, "m_max": st["m_max"]}
    return StudyResult(d, attrs, summ, "clusters",
                       ("regime", "mean_N", "mean_N_eq8_9", "S_N0_s",
                        "flux_noise_phi0sq_per_hz"))


def regime_map(st: dict, units=direct) -> StudyResult:
    """(a, v) maps of polarisation, n = N/N_c and N/N_unpol (Eqs. S9, Fig. S1, Fig. 1)."""
    a = np.geomspace(st["a_min"], st["a_max"], st["points"])
    v = np.geomspace(st["v_min"], st["v_max"], st["points"])
    m = co.crossover_map(a, v)
    g, gt, tau = st["gamma_bar"], st["gamma_bar"] * st["gamma_t_ratio"], st["tau_s"]
    V_c, A_c, N_c = g * tau, g / (gt * tau) ** 2, g / gt
    d = {"a": a, "v": v, "p": m["p"], "n": m["n"], "enhancement": m["enhancement"],
         "A_SI": a * A_c, "V_SI": v * V_c}
    summ = {"V_c_m3": V_c, "V_c_um3": V_c / _UM3, "A_c_per_s_m3": A_c,
            "A_c_per_s_um3": A_c * _UM3, "N_c": N_c,
            "p_range": [float(m["p"].min()), float(m["p"].max())],
            "max_enhancement": float(np.nanmax(m["enhancement"]))}
    attrs = {"units": "a = A/A_c, v = V/V_c; A_SI 1/(s m^3), V_SI m^3"}
    return StudyResult(d, attrs, summ, "regime_map",
                       ("V_c_um3", "A_c_per_s_um3", "N_c", "max_enhancement"))


STUDIES = {"concentration_curve": concentration_curve, "relaxation": relaxation,
           "bubbles": bubbles, "clusters": clusters, "regime_map": regime_map}

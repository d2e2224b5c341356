r"""Mesh-less stochastic models of excess quasiparticles at very low density.

Case-file front end of :mod:`fvqp.stochastic`: the localized-quasiparticle Monte Carlo and
the bursting-bubbles model of Bespalov et al. (2016) and the spin-polarised clusters of
Meyer et al. (2020).  A case has one ``[study]`` table whose ``type`` selects

``concentration_curve``
    stationary :math:`c(A)` by Gillespie Monte Carlo over a range of
    :math:`a = Ar_c^6/\bar\Gamma`, fit of :math:`\beta, b` (Eq. 9), physical :math:`c(A)`
    for given :math:`r_c` (Fig. 3 / Fig. S1);
``relaxation``
    free decay at :math:`A = 0` against Eq. (8) (Fig. S2), its time trace as
    ``<case>_series.csv`` (time in :math:`r_c^3/\bar\Gamma`, and in s for a given
    ``r_c``);
``bubbles``
    packing coefficient :math:`C_p(\zeta)` of the bursting-bubbles model with classical
    spin and spin flips, and the :math:`C_p`-polarisation relation (Fig. S3, S5);
``clusters``
    spin-cluster :math:`P(N)` from the master equation (S4) against Eq. (7), moments
    (Eqs. 8-9), zero-frequency and flux noise;
``regime_map``
    polarisation, particle number and enhancement over :math:`(A/A_c, V/V_c)` (Eqs.
    S9, Fig. S1) with the regime boundaries of Fig. 1.

The models are zero-temperature models and every study is stationary or self-timed: the
case files have no ``[bath]`` and no ``[time]`` table (the loader says so if one is
given).  See ``docs/theory_stochastic.md``.
"""

from __future__ import annotations

from ...case.schema import Field, Section, Variant
from ..base.schema import check_material_overrides, material_overrides
from ..spec import ModelSpec

__all__ = ["SPEC", "run"]

_MC = {
    "replicas": Field("int", "independent Monte Carlo runs (error bars)", default=4),
    "seed": Field("int", "random seed (runs are reproducible)", default=0),
}


def _f(doc: str, default=None, **kw) -> Field:
    return Field("float", doc, default=default, **kw)


#: where Gamma_bar [m^3/s] comes from: a material (its tau0, gap, N0, Tc, each overridable)
#: or the value itself
_GAMMA_BAR = {
    "material": Field("str", "material giving Gamma_bar = 24 gamma(Delta)/(nu0 Delta)",
                      default="Al"),
    # the constants of Gamma_bar (tau0, gap, N0; Tc through the gap ratio), SI
    **material_overrides("Tc", "gap_ratio", "N0", "tau0"),
    "gamma_bar": Field("float", "override Gamma_bar [m^3/s]", positive=True),
}


_STUDIES = {
    "concentration_curve": Section({
        "a_min": _f("smallest A r_c^6 / Gamma_bar", 1.6e-14, positive=True),
        "a_max": _f("largest A r_c^6 / Gamma_bar", 1.6e-1, positive=True),
        "points": Field("int", "number of generation rates (log spaced)", default=8),
        "particles": Field("int", "expected particles in the box", default=300),
        "burn": _f("discarded events per particle", 5.0, positive=True),
        "sample": _f("averaged events per particle", 20.0, positive=True),
        "max_box_particles": Field("int", "cap on particles (mean-field end)", default=2000),
        **_GAMMA_BAR,
        "r_c": Field("list", "localization radii for the physical c(A) (Fig. 3)",
                     item=Field("quantity", dimension="length", positive=True),
                     default=[5e-8, 1e-7, 2e-7]),
        "fit_c_max": _f("fit Eq. 9 to points with c r_c^3 below this", 5e-3, positive=True),
        "geometry": Field("str", "box: periodic cube (bulk, the paper), film (periodic in "
                          "plane, walls) or closed (walls on every side)", default="cube",
                          choices=("cube", "film", "closed")),
        "thickness": _f("film thickness / r_c (geometry = film)", positive=True),
        **_MC,
    }, doc="stationary c(A), Fig. 3 / S1"),
    "relaxation": Section({
        "a0": _f("A r_c^6 / Gamma_bar before switching off", 6e-6, positive=True),
        "box": _f("box side L / r_c", 80.0, positive=True),
        "n_start": Field("int", "start recording at this particle number", default=1000),
        "n_min": Field("int", "stop at this particle number", default=20),
        "bins": Field("int", "concentration bins", default=20),
        "repeats": Field("int", "independent decays", default=4),
        "seed": Field("int", "random seed", default=0),
        "r_c": Field("quantity", "localization radius giving the SI scales (time "
                     "r_c^3/Gamma_bar, concentration 1/r_c^3; default: reduced units only)",
                     dimension="length", positive=True),
        **_GAMMA_BAR,
    }, doc="free decay at A = 0, Fig. S2"),
    "bubbles": Section({
        "zeta": Field("list", "spin-flip times zeta = 4 pi A r^3 tau_sf / 3 (inf: no flips)",
                      item=Field("float", nonnegative=True), default=[1.0, 10.0, 100.0]),
        "spinless": Field("bool", "also the spinless model (zeta = 0)", default=True),
        "box": _f("box side L / r (bubble diameters)", 10.0, positive=True),
        "burn": _f("discarded steps per expected bubble at C_p = 1", 20.0, positive=True),
        "sample": _f("averaged steps per expected bubble at C_p = 1", 100.0, positive=True),
        "polarization_steps": Field("int", "steps of the zeta = inf run recording (C_p, P) "
                                    "(0: skip)", default=0),
        **_MC,
    }, doc="bursting bubbles C_p(zeta), Fig. S3 and S5"),
    "clusters": Section({
        "injection_rate": _f("A, quasiparticles per second and m^3", required=True,
                             positive=True),
        "volume": _f("cluster volume V [m^3]", required=True, positive=True),
        "gamma_bar": _f("singlet constant Gamma_bar [m^3/s] (Meyer: 18 um^3/s for Al)",
                        1.8e-17, positive=True),
        "gamma_t_ratio": _f("Gamma_t / Gamma_bar (Meyer: 1e-4)", 1e-4, nonnegative=True),
        "tau_s": Field("quantity", "spin-flip time (default: none)", dimension="time",
                       positive=True),
        "n_max": Field("int", "truncation of N (default 4 N0)"),
        "m_max": Field("int", "truncation of the minority spins m", default=8),
        "flux_per_spin": _f("flux of one spin through the SQUID loop / Phi_0", 1e-7,
                            nonnegative=True),
    }, doc="spin-cluster P(N), moments and noise"),
    "regime_map": Section({
        "a_min": _f("smallest A/A_c", 1e-4, positive=True),
        "a_max": _f("largest A/A_c", 1e2, positive=True),
        "v_min": _f("smallest V/V_c", 1e-3, positive=True),
        "v_max": _f("largest V/V_c", 1e1, positive=True),
        "points": Field("int", "grid points per axis", default=60),
        "gamma_bar": _f("Gamma_bar [m^3/s] for the physical axes", 1.8e-17, positive=True),
        "gamma_t_ratio": _f("Gamma_t / Gamma_bar", 1e-4, positive=True),
        "tau_s": Field("quantity", "spin-flip time", dimension="time", default=10.0,
                       positive=True),
    }, doc="polarisation / regime maps, Fig. 1 and S1"),
}

_SECTIONS = {"study": Variant(_STUDIES, doc="what to compute ([study] type = ...)")}


def _check(data, err) -> None:
    if not data.get("study"):
        err.add("study", "missing.", "add a [study] table with type = one of "
                + ", ".join(repr(k) for k in _STUDIES) + ".")
        return
    st = data["study"]
    for lo, hi in (("a_min", "a_max"), ("v_min", "v_max")):
        if lo in st and st[lo] is not None and st[hi] is not None and st[lo] >= st[hi]:
            err.add(f"study.{lo}", f"must be below {hi}.", f"lower {lo} or raise {hi}.")
    for key, least in (("replicas", 1), ("points", 1), ("particles", 2), ("repeats", 1),
                       ("bins", 1), ("max_box_particles", 2)):
        if key in st and st[key] is not None and st[key] < least:
            err.add(f"study.{key}", f"must be at least {least}, got {st[key]}.",
                    f"set {key} >= {least}.")
    if st.get("type") == "relaxation" and st["n_min"] >= st["n_start"]:
        # the decay recorded nothing and stopped in a reduction of an empty array
        err.add("study.n_min", f"{st['n_min']} is not below n_start = {st['n_start']}: the "
                "decay would record nothing.", "give n_min below n_start (e.g. 20).")
    if st.get("type") == "concentration_curve" and (st.get("points") or 2) < 2:
        # one point is a_min alone: a_max ignored, its ratio reported "at a_max"
        err.add("study.points", f"{st['points']} point: the curve from a_min to a_max needs "
                "at least two.", "set points >= 2 (8 or more for the fit of Eq. 9).")
    if st.get("type") == "concentration_curve" and (st["geometry"] == "film") != (
            st.get("thickness") is not None):
        err.add("study.thickness", "is needed for, and only for, geometry = \"film\".",
                "give thickness = d / r_c with geometry = \"film\", or drop it.")
    if st.get("type") == "bubbles" and st["box"] < 3:
        err.add("study.box", "the box must be at least 3 bubble diameters.", "box = 10.")
    if (st.get("type") == "concentration_curve" or st.get("r_c") is not None) \
            and st.get("gamma_bar") is None:
        from ...materials import UnknownMaterialError
        from ..base.schema import case_material

        check_material_overrides(st, "study", err)
        try:
            mat = case_material(st)
        except (UnknownMaterialError, TypeError) as exc:
            err.add("study.material", str(exc).strip("'\"") + ".",
                    "choose one of the listed materials, or give study.gamma_bar in m^3/s.")
            return
        if mat.tau0 is None:
            err.add("study.material", f"{mat.name} has no tau0 for Gamma_bar.",
                    "give study.gamma_bar in m^3/s.")


def _check_given(raw, err) -> None:
    """``[output]`` keys other than ``directory`` and ``figures``, written out: a study
    writes its whole result (``<case>.h5``) and a checkpoint after every finished unit
    (:mod:`.driver`) whatever they say, and has no time steps (no ``[time]``)."""
    out = raw.get("output") if isinstance(raw.get("output"), dict) else {}
    for key in ("fields", "every", "times", "checkpoint_every"):
        if key in out:
            err.add(f"output.{key}", "a stochastic study writes its whole result and a "
                    "checkpoint after every finished unit; it has no fields, time steps or "
                    "times to choose, and the run does not read it.", f"remove {key}.")


SPEC = ModelSpec(name="stochastic", uses_mesh=False, sections=_SECTIONS, check=_check,
                 check_given=_check_given,
                 digest_exempt=("output.figures",),  # --resume may draw or not the figures
                 # no PETSc solver, no [units] (the run reads none), no temperature or time
                 unused_sections=("bath", "time", "units", "solver"))


def run(case, output_dir: str | None = None, resume: bool = False,
        max_steps: int | None = None):
    """Run a validated stochastic case; see :mod:`fvqp.models.stochastic.driver`."""
    from ..base import run_model
    from .driver import run as _run

    return run_model("stochastic", _run, case, output_dir, resume=resume,
                     max_steps=max_steps)

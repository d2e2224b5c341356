"""The stochastic case files (``model = "stochastic"``) end to end: small variants of the
Monte Carlo cases, the full cluster and regime-map cases, HDF5/PNG/summary outputs and
case validation."""

from __future__ import annotations

import json
import re
from pathlib import Path

import h5py
import numpy as np
import pytest

import fvqp
from conftest import CASES, run_fvqp
from fvqp.case import CaseError, load_case
from fvqp.io import CheckpointError
from fvqp.materials import get_material
from fvqp.models.stochastic.figures import FIGURE_NAMES
from fvqp.stochastic import annihilation as an
from fvqp.stochastic import spin_clusters as sc


def _variant(tmp_path, name: str, **repl) -> str:
    """Copy of ``cases/<name>`` with some ``key = value`` lines of [study] replaced."""
    text = (CASES / name).read_text()
    for key, value in repl.items():
        text, n = re.subn(rf"(?m)^{key} = .*$", f"{key} = {value}", text)
        assert n == 1, key
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def _outputs(out) -> tuple[dict, dict, dict]:
    """Data, attributes and summary of a run; its files are ``<case>_<what>.h5/.png``."""
    summary = json.loads((out / "summary.json").read_text())
    stem = f"{Path(summary['case']).stem}_{FIGURE_NAMES[summary['study']]}"
    assert summary["output"] == str(out / f"{stem}.h5")
    assert summary["figure"] == str(out / f"{stem}.png")
    with h5py.File(out / f"{stem}.h5") as fh:
        data = {k: fh["data"][k][()] for k in fh["data"]}
        attrs = dict(fh.attrs)
    assert (out / f"{stem}.png").stat().st_size > 10_000
    return data, attrs, summary


def test_concentration_curve_case_small(tmp_path):
    case = _variant(tmp_path, "stochastic_concentration_curve.toml", a_min=1e-10, a_max=1e-6,
                    points=3, particles=150, replicas=3, sample=12.0)
    out = tmp_path / "out"
    s = fvqp.run_case(case, output_dir=str(out))
    d, attrs, _ = _outputs(out)
    assert s["study"] == "concentration_curve" and attrs["study"] == "concentration_curve"
    # Eq. (9) at the low-density end, enhancement over the mean field everywhere
    assert abs(d["c"][0] / d["c_eq9"][0] - 1.0) < 0.05
    assert np.all(d["c"] > 1.2 * d["c_mean_field"])
    # physical axes: A = a Gamma_bar / r_c^6, c = c~ / r_c^3 with Gamma_bar of Al
    gbar = an.gamma_bar_material(get_material("Al"))
    assert s["gamma_bar_m3_per_s"] == pytest.approx(gbar, rel=1e-12, abs=0)
    assert np.allclose(d["A_SI"][1], d["a"] * gbar / 1e-7**6, rtol=1e-12)
    assert np.allclose(d["c_SI"][1] * 1e-21, d["c"], rtol=1e-12, atol=0)
    # the three low points are enough for the Eq. (9) fit; beta within 0.15 of 0.41
    assert abs(s["fit_eq9"]["beta"] - an.BETA_PAPER) < 0.15


def test_relaxation_case_small(tmp_path):
    case = _variant(tmp_path, "stochastic_relaxation.toml", a0=1e-6, box=50.0, n_start=140,
                    repeats=3, bins=6)
    out = tmp_path / "out"
    s = fvqp.run_case(case, output_dir=str(out))
    d, _, _ = _outputs(out)
    # just after switching off, the decay follows the quasi-stationary Eq. (8)
    assert 0.6 < s["ratio_to_eq8_first_bin"] < 1.15
    assert np.all(d["dcdt"] < 0) and np.all(np.diff(d["c_t"]) <= 0)


def test_bubbles_case_small(tmp_path):
    case = _variant(tmp_path, "stochastic_bubbles.toml", zeta="[100.0]", box=8.0,
                    replicas=3, sample=40.0, polarization_steps=20000)
    out = tmp_path / "out"
    s = fvqp.run_case(case, output_dir=str(out))
    d, _, _ = _outputs(out)
    assert abs(s["cp"]["spinless"] - an.CP_PAPER) < 0.025
    assert abs(s["cp"]["100.0"] - (2.19 - 4.2 / 10.0)) < 0.1
    assert d["trace_cp"].size == d["trace_P"].size > 1000
    assert s["s10_scale_fit"] > 1.0


def test_clusters_case_master_equation_vs_eq7_eq9(tmp_path):
    out = tmp_path / "out"
    s = fvqp.run_case(CASES / "stochastic_clusters.toml", output_dir=str(out))
    d, attrs, _ = _outputs(out)
    assert s["regime"] == "ta"
    assert s["N0"] == pytest.approx(60.0, rel=1e-3)
    assert s["mean_N"] == pytest.approx(s["mean_N_eq8_9"], rel=0.01)
    assert s["second_moment"] == pytest.approx(s["second_moment_eq8_9"], rel=0.02)
    assert np.abs(d["P_master"] - d["P_eq7"]).sum() < 0.03
    assert s["S_N0_over_var_tf"] == pytest.approx(0.6, rel=0.1)
    # S_N(0) in seconds: coefficient * variance * t_f with t_f = V/(N0 Gamma_t)
    t_f = 1e-21 / (60.0 * 1.8e-21)
    assert s["S_N0_s"] == pytest.approx(s["S_N0_over_var_tf"] * s["variance"] * t_f, rel=1e-6,
                                        abs=0)
    assert s["flux_noise_phi0sq_per_hz"] == pytest.approx(1e-14 * s["S_N0_s"] / 3, rel=1e-9, abs=0)


def test_regime_map_case_via_cli(tmp_path):
    case = _variant(tmp_path, "stochastic_regime_map.toml", points=25)
    out = tmp_path / "out"
    run_fvqp(["run", case, "--output", out])
    d, _, s = _outputs(out)
    assert s["V_c_um3"] == pytest.approx(180.0, rel=1e-9)
    assert s["N_c"] == pytest.approx(1e4, rel=1e-9)
    p = d["p"]
    assert np.all((p > 0) & (p < 1))
    # polarisation decreases with injection and volume (Fig. S1a)
    assert np.all(np.diff(p, axis=0) < 0) and np.all(np.diff(p, axis=1) < 0)
    # strongly polarised, enhanced clusters at small a, v (Eqs. 5-6 limit)
    assert p[0, 0] > 0.99 and d["enhancement"][0, 0] > 5.0
    # one interior point against the full mean-field fixed point (S7-S8)
    i, j = 5, 8
    par = sc.ClusterParams(A=d["a"][j] * 1.0 / (1e-4 * 1.0) ** 2, V=d["v"][i] * 1.0,
                           gamma=1.0, gamma_t=1e-4, tau_s=1.0)
    from fvqp.stochastic.crossover import crossover_exact

    p_ex, _ = crossover_exact(par)
    assert p[i, j] == pytest.approx(p_ex, abs=2e-3)


@pytest.mark.slow
def test_film_concentration_case_small(tmp_path):
    """A 0.5 r_c film: the dense end sits on the film mean field c = (a/K)^{1/2}
    (K = 0.083, 3.5x the bulk value) and the dilute end far above the bulk Eq. (9) -- fewer
    partners within reach keep more quasiparticles."""
    case = _variant(tmp_path, "stochastic_film_concentration.toml", a_min=1e-6, a_max=1e-1,
                    points=2, particles=150, replicas=2)
    out = tmp_path / "out"
    s = fvqp.run_case(case, output_dir=str(out))
    d, _, _ = _outputs(out)
    assert s["geometry"] == "film" and s["thickness_over_r_c"] == 0.5
    k = an.film_kernel_fraction(0.5)
    assert k == pytest.approx(0.08299, rel=1e-3)
    assert np.allclose(d["c_mean_field"], np.sqrt(d["a"] / k), rtol=1e-12)
    assert d["c"][-1] / d["c_mean_field"][-1] == pytest.approx(1.0, abs=0.03)
    assert d["c"][0] > 1.3 * d["c_mean_field"][0] and d["c"][0] > 3.0 * d["c_eq9"][0]


def test_case_validation_errors(tmp_path):
    text = (CASES / "stochastic_regime_map.toml").read_text()
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace("a_min = 1e-4", "a_min = 1e3"))
    with pytest.raises(CaseError, match="study.a_min"):
        load_case(str(bad))
    # a table the model does not read is named with its fix
    bath = tmp_path / "bath.toml"
    bath.write_text(text + "\n[bath]\ntemperature = \"10 mK\"\n")
    film = tmp_path / "film.toml"
    film.write_text((CASES / "stochastic_film_concentration.toml").read_text()
                    .replace("thickness = 0.5", ""))
    with pytest.raises(CaseError, match="study.thickness: is needed for"):
        load_case(str(film))
    with pytest.raises(CaseError, match=r"bath: the stochastic model does not use a \[bath\]"
                       r" table. Fix: remove \[bath\]"):
        load_case(str(bath))
    none = tmp_path / "none.toml"
    none.write_text(text.split("[study]")[0])
    with pytest.raises(CaseError, match="study"):
        load_case(str(none))


def test_case_rejects_zero_replicas(tmp_path):
    text = (CASES / "stochastic_bubbles.toml").read_text().replace("replicas = 3",
                                                                    "replicas = 0")
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    with pytest.raises(CaseError, match="study.replicas"):
        load_case(str(bad))


def test_killed_sweep_resumes_to_the_uninterrupted_result(tmp_path):
    """Stopped after one, then two units and resumed, a c(A) sweep equals the uninterrupted
    run exactly (every unit has its own seed); the checkpoint refuses an edited case."""
    case = _variant(tmp_path, "stochastic_film_concentration.toml", a_min=1e-4, a_max=1e-2,
                    points=3, particles=60, replicas=2, sample=5.0)
    full = fvqp.run_case(case, output_dir=str(tmp_path / "full"))
    part = tmp_path / "part"
    s1 = fvqp.run_case(case, output_dir=str(part), max_steps=1)
    assert s1["status"] == 1 and s1["units_computed"] == 1
    assert not list(part.glob("*_concentration.h5")) and (part / "checkpoint.h5").exists()
    s2 = fvqp.run_case(case, output_dir=str(part), resume=True, max_steps=1)
    assert s2["status"] == 1
    s3 = fvqp.run_case(case, output_dir=str(part), resume=True)
    assert s3["status"] == 0 and s3["units_resumed"] == 2 and s3["units_computed"] == 1
    d_full, _, _ = _outputs(tmp_path / "full")
    d_part, _, _ = _outputs(part)
    for k in ("c", "c_err", "L", "cutoff", "n_mean"):
        assert np.array_equal(d_full[k], d_part[k]), k
    assert s3["mean_field_ratio_at_a_max"] == full["mean_field_ratio_at_a_max"]
    edited = tmp_path / "edited" / "stochastic_film_concentration.toml"
    edited.parent.mkdir()
    edited.write_text(open(case).read().replace("seed = 3", "seed = 4"))
    with pytest.raises(CheckpointError, match="digest differs"):
        fvqp.run_case(str(edited), output_dir=str(part), resume=True)


def test_work_units_round_trip_exactly(tmp_path):
    from fvqp.io.workunits import StudyStopped, WorkUnits

    res = {"c": 0.1 + 0.2, "n": 7, "zeta": None, "inf": float("inf"), "ok": True,
           "runs": np.array([1 / 3, 2 / 3])}
    w = WorkUnits(str(tmp_path), "abc", max_units=1)
    assert w("u0", lambda: dict(res))["c"] == res["c"]
    with pytest.raises(StudyStopped):
        w("u1", lambda: dict(res))
    back = WorkUnits(str(tmp_path), "abc", resume=True)("u0", lambda: pytest.fail("recomputed"))
    assert back["c"] == res["c"] and back["n"] == 7 and back["zeta"] is None
    assert back["inf"] == float("inf") and back["ok"] is True
    assert np.array_equal(back["runs"], res["runs"])

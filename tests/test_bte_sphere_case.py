"""The bte_sphere case file through `fvqp run` (small variant), resume, output contents,
and serial vs `mpiexec -n 2`."""

from __future__ import annotations

import json
import re

import h5py
import numpy as np
import pytest

from conftest import CASES, run_fvqp

#: small variant of cases/bte_sphere_sn_packet.toml: coarser grids, shorter run
SMALL = {"cells = 40": "cells = 8", "ordinates = 8": "ordinates = 4",
         'spacing = "13.87 ueV"': 'spacing = "80 ueV"', 'e_max = "7.5 meV"': 'e_max = "6.7 meV"',
         'end = "5 ns"': 'end = "0.3 ns"', 'times = ["1 ps", "10 ps", "100 ps", "1 ns"]':
         'times = ["10 ps", "100 ps"]', 'directory = "../output/bte_sphere_sn_packet"':
         'directory = "out"'}


def _small_case(tmp_path, extra: dict | None = None):
    text = (CASES / "bte_sphere_sn_packet.toml").read_text()
    for a, b in {**SMALL, **(extra or {})}.items():
        assert a in text, a
        text = text.replace(a, b)
    p = tmp_path / "bte_sphere_small.toml"
    p.write_text(text)
    return p


def _summary(out):
    return json.loads((out / "summary.json").read_text())


@pytest.mark.slow
def test_case_runs_and_balances_energy(tmp_path):
    case = _small_case(tmp_path)
    out = tmp_path / "run"
    proc = run_fvqp(["run", case, "--output", out])
    s = _summary(out)
    assert s["status"] == 0
    e = s["energy_J"]
    dep = e["deposited_excess"]
    assert abs(dep - 1e3 * 1.602176634e-19) < 1e-9 * dep  # 1 keV deposited
    # deposited = escaped (QPs + phonons through r = R) + left (QP and phonon excess)
    left = e["left_excess_qp"] + e["left_excess_ph"]
    assert abs(dep - e["escaped"] - left) < 1e-8 * dep
    assert e["escaped"] > 0.05 * dep and left > 0.05 * dep  # both really happen
    assert abs(e["imbalance"]) < 1e-8 * dep
    # QP number: limited by the Newton tolerance (BDF's snes_atol = 1e-12 |storage/dt|:
    # ~3e-9 relative here; with snes_atol = 1e-15 it drops to 1e-15)
    assert abs(s["qp_number"]["imbalance"]) < 1e-7 * s["qp_number"]["initial"]
    with h5py.File(out / "bte_sphere.h5") as fh:
        f = fh["snapshots/f"][()]
        t = fh["snapshots/t"][()]
        esc = fh["series/E_escaped_J"][()]
        ts = fh["series/t"][()]
        n = fh["snapshots/n"][()]
        fmu = fh["snapshots/f_mu"][()]
        mu = fh["grid/mu_written"][()]
    assert f.shape[1:] == (8, fh_bins(out)) and np.all(np.diff(t) > 0)
    assert np.all(np.diff(esc) >= -1e-12 * dep) and ts[-1] == pytest.approx(3e-10, rel=1e-6, abs=0)
    assert abs(esc[-1] - e["escaped"]) < 1e-9 * dep
    # <case>_series.csv holds the same integral quantities per step as the HDF5 series
    import csv

    with open(out / "bte_sphere_small_series.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(line for line in fh if not line.startswith("#"))]
    with h5py.File(out / "bte_sphere.h5") as fh:
        h5 = {k: fh[f"series/{k}"][()] for k in ("t", "N_qp", "E_escaped_J", "E_qp_J")}
    assert len(rows) == len(h5["t"])
    for col, key in (("time_s", "t"), ("N_qp", "N_qp"), ("E_escaped_J", "E_escaped_J"),
                     ("E_qp_J", "E_qp_J")):
        np.testing.assert_allclose([float(r[col]) for r in rows], h5[key], rtol=1e-12,
                                   atol=1e-12 * dep if key == "E_escaped_J" else 0)
    assert n.shape[0] == len(t) and fmu.shape[-1] == len(mu) == 3
    # at the surface, outgoing directions (mu > 0) carry more QPs than incoming ones
    i = np.argmin(np.abs(t - 1e-11))
    assert fmu[i, -1, :, -1].sum() > fmu[i, -1, :, 0].sum()
    png = out / "bte_sphere_small_relaxation.png"  # <case>_<what>.png
    assert s["figure"] == str(png) and png.stat().st_size > 10_000
    # the key numbers (summary "keys", in the end-of-run report): the same balance
    assert s["keys"] == ["t_end_s", "N_qp_final", "E_excess_qp_final_J",
                         "E_excess_ph_final_J", "E_escaped_J", "escaped_fraction",
                         "energy_imbalance_J", "qp_number_imbalance"]
    assert s["N_qp_final"] == s["qp_number"]["final"] and s["E_escaped_J"] == e["escaped"]
    assert abs(dep - s["E_escaped_J"] - s["E_excess_qp_final_J"]
               - s["E_excess_ph_final_J"]) < 1e-8 * dep
    assert s["escaped_fraction"] == pytest.approx(e["escaped"] / dep, rel=1e-12, abs=0)
    assert s["t_end_s"] == pytest.approx(3e-10, rel=1e-9, abs=0)
    assert f"  output: {out}" in proc.stderr
    assert f"  wall time: {s['wall_time_s']:.3g} s" in proc.stderr
    for k in s["keys"]:
        assert f"  {k}: {s[k]:.6g}" in proc.stderr, k


def fh_bins(out):
    with h5py.File(out / "bte_sphere.h5") as fh:
        return len(fh["grid/energy_ueV"])


@pytest.mark.slow
def test_resume_continues_to_the_same_state(tmp_path):
    case = _small_case(tmp_path)
    full, part = tmp_path / "full", tmp_path / "part"
    run_fvqp(["run", case, "--output", full])
    run_fvqp(["run", case, "--output", part, "--max-steps", "7"])
    assert _summary(part)["status"] == 1
    run_fvqp(["run", case, "--output", part, "--resume"])
    a, b = _summary(full), _summary(part)
    assert b["status"] == 0 and b["steps"] == a["steps"]
    for k in ("escaped", "left_excess_qp", "left_excess_ph"):
        assert b["energy_J"][k] == pytest.approx(a["energy_J"][k], rel=1e-10, abs=1e-30)
    with h5py.File(full / "bte_sphere.h5") as fa, h5py.File(part / "bte_sphere.h5") as fb:
        assert np.allclose(fa["series/t"][()], fb["series/t"][()], rtol=1e-12, atol=0)
        assert np.allclose(fa["snapshots/f"][()], fb["snapshots/f"][()], rtol=1e-9,
                           atol=1e-20)


@pytest.mark.mpi
@pytest.mark.slow
@pytest.mark.parametrize("scheme", ["step", "limited"])
def test_two_ranks_equal_serial(tmp_path, scheme):
    """The limited scheme's five-cell rows need two ghost layers per rank."""
    extra = {'surface = "bath"          #': f'scheme = "{scheme}"\nsurface = "bath"  #'}
    case = _small_case(tmp_path, extra)
    s1, s2 = tmp_path / "s1", tmp_path / "s2"
    run_fvqp(["run", case, "--output", s1])
    run_fvqp(["run", case, "--output", s2], nproc=2)
    a, b = _summary(s1), _summary(s2)
    assert b["ranks"] == 2 and b["steps"] == a["steps"]
    with h5py.File(s1 / "bte_sphere.h5") as fa, h5py.File(s2 / "bte_sphere.h5") as fb:
        fa_, fb_ = fa["snapshots/f"][()], fb["snapshots/f"][()]
        scale = np.abs(fa_).max()
        assert np.abs(fa_ - fb_).max() < 1e-8 * scale
        ea, eb = fa["series/E_escaped_J"][()], fb["series/E_escaped_J"][()]
        assert np.abs(ea - eb).max() < 1e-8 * np.abs(ea).max()


def test_case_errors_name_key_and_fix(tmp_path):
    case = _small_case(tmp_path, {"ordinates = 4": "ordinates = 5"})
    proc = run_fvqp(["check", case], check=False)
    assert proc.returncode != 0
    assert re.search(r"angles\.ordinates.*even", proc.stdout + proc.stderr)


def test_unknown_scheme_is_rejected_with_the_choices(tmp_path):
    case = _small_case(tmp_path, {'surface = "bath"          #':
                                  'scheme = "limitted"\nsurface = "bath"  #'})
    proc = run_fvqp(["check", case], check=False)
    assert proc.returncode != 0
    assert re.search(r"sphere\.scheme.*limitted.*step, diamond, limited",
                     proc.stdout + proc.stderr)

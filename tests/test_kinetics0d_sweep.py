"""kinetics0d parameter sweeps under mpiexec (issue 18 item 3).

The shipped power sweep (cases/kinetics0d_al_power_sweep.toml: 50 nm Al at 80 mK, 5 Delta
photons, tau_l = 50 tau_pb, 1e-19 .. 1e-17 W = 2e-3 .. 2e-1 W/m^3) as work units over the
ranks: `mpiexec -n 2` gives the serial table, a sweep stopped by --max-steps and resumed
gives the uninterrupted one, and the table obeys the recombination-limited scaling
N_qp ~ P^(1/2).
"""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from conftest import CASES, run_fvqp

CASE = CASES / "kinetics0d_al_power_sweep.toml"
COLUMNS = ("power", "n_qp", "t_star", "mu_star", "eta_pb", "delta")


def _table(out) -> dict:
    with h5py.File(out / "kinetics0d_sweep.h5") as fh:
        assert fh["n_qp"].attrs["unit"] == "1/um^3" and fh["power"].attrs["unit"] == "W"
        return {k: fh[k][:] for k in COLUMNS}


def _same(a: dict, b: dict) -> None:
    for k in COLUMNS:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-12, atol=0, err_msg=k)


@pytest.mark.mpi
def test_power_sweep_two_ranks_equal_serial_and_resume(tmp_path):
    serial, two, part = tmp_path / "serial", tmp_path / "two", tmp_path / "part"
    run_fvqp(["run", CASE, "--output", serial])
    ref = _table(serial)
    # physics: N_qp ~ sqrt(P) (recombination-limited, measured 10.02 for 100x power),
    # QPs hotter than the bath (80 mK), mu* rising with the power, eta_pb ~ 0.58 (5 Delta)
    assert ref["n_qp"][-1] / ref["n_qp"][0] == pytest.approx(10.0, rel=0.02, abs=0)
    assert np.all(ref["t_star"] > 0.080) and np.all(np.diff(ref["mu_star"]) > 0)
    assert np.all((ref["eta_pb"] > 0.5) & (ref["eta_pb"] < 0.65))
    csv = (serial / "kinetics0d_sweep.csv").read_text().splitlines()
    # energies in ueV, as every model's: mu* of the driven QPs (N >> N_T) is a fair
    # fraction of the gap, both in ueV (in eV it would be ~1e-4)
    assert csv[0].startswith("power [W],n_qp [1/um^3],t_star [K],mu_star [ueV],eta_pb")
    assert np.all((ref["mu_star"] > 10) & (ref["mu_star"] < ref["delta"]))
    assert len(csv) == 1 + ref["power"].size
    assert (serial / "kinetics0d_al_power_sweep_vs_power.png").stat().st_size > 0
    # two ranks: every point computed once, on one rank, the table equals the serial one
    run_fvqp(["run", CASE, "--output", two], nproc=2)
    _same(_table(two), ref)
    # stopped after 2 new points (status 1, checkpoint kept), then resumed on 2 ranks
    proc = run_fvqp(["run", CASE, "--output", part, "--max-steps", "2"])
    assert "status 1" in proc.stdout + proc.stderr
    assert (part / "checkpoint.h5").exists() and not (part / "kinetics0d_sweep.h5").exists()
    run_fvqp(["run", CASE, "--output", part, "--resume"], nproc=2)
    _same(_table(part), ref)
    done = json.loads((part / "summary.json").read_text())
    assert (done["units_reused"], done["units_computed"], done["ranks"]) == (2, 3, 2)


@pytest.mark.parametrize("extra, key, fix", [
    ('temperature = ["80 mK", "100 mK"]\n', "sweep", "exactly one list"),
    ("drive = 3\n", "sweep.drive", "drive 3 does not exist")])
def test_sweep_case_errors_name_key_file_and_fix(tmp_path, extra, key, fix):
    from fvqp.case import CaseError, load_case

    text = CASE.read_text().replace("[sweep]\n", "[sweep]\n" + extra)
    path = tmp_path / "kinetics0d_bad_sweep.toml"
    path.write_text(text)
    with pytest.raises(CaseError) as err:
        load_case(str(path))
    msg = str(err.value)
    assert f"kinetics0d_bad_sweep.toml: {key}:" in msg and fix in msg and "Fix:" in msg

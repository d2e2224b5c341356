"""A kinetics0d ``[sweep]`` reports every finished point (issue 20 §2): one INFO line per
point on rank 0 with its swept value and N_qp, T*, eta_pb equal to the table's, points
reused from a checkpoint marked as such; under ``mpiexec -n 2`` still one line per point
(rank 0 reports the points of both ranks)."""

from __future__ import annotations

import json
import re

import h5py
import pytest
from test_kinetics0d_outputs import report_numbers

from conftest import CASES, run_fvqp

_LINE = re.compile(r"kinetics0d sweep (\d+)/(\d+): power = (\S+) W: N_qp = (\S+) /µm³, "
                   r"T\* = (\S+) K, eta_pb = (\S+)( \(from the checkpoint\))?$", re.M)


def _case(tmp_path):
    """The shipped power sweep on three powers."""
    text = (CASES / "kinetics0d_al_power_sweep.toml").read_text()
    old = 'power = ["1e-19 W", "3e-19 W", "1e-18 W", "3e-18 W", "1e-17 W"]'
    assert old in text
    p = tmp_path / "kinetics0d_al_power_sweep.toml"
    p.write_text(text.replace(old, 'power = ["1e-19 W", "1e-18 W", "1e-17 W"]'))
    return p


def _lines(proc):
    return [m.groups() for m in _LINE.finditer(proc.stdout + proc.stderr)]


def _check(lines, out, reused: int) -> None:
    """One line per point, in order, with the table's numbers (4 digits)."""
    with h5py.File(out / "kinetics0d_sweep.h5") as fh:
        table = {k: fh[k][:] for k in ("power", "n_qp", "t_star", "eta_pb")}
    assert [(int(k), int(n)) for k, n, *_ in lines] == [(i + 1, 3) for i in range(3)]
    for i, (_, _, p, nqp, ts, eta, stored) in enumerate(lines):
        assert float(p) == pytest.approx(table["power"][i], rel=1e-12, abs=0)
        assert float(nqp) == pytest.approx(table["n_qp"][i], rel=5e-4, abs=0)
        assert float(ts) == pytest.approx(table["t_star"][i], rel=5e-4, abs=0)
        assert float(eta) == pytest.approx(table["eta_pb"][i], rel=5e-4, abs=0)
        assert bool(stored) == (i < reused)


def test_sweep_logs_every_point_and_marks_reused_ones(tmp_path):
    case, out = _case(tmp_path), tmp_path / "out"
    first = run_fvqp(["run", case, "--output", out, "--max-steps", "1"])
    assert len(_lines(first)) == 1  # the one point computed before the stop
    done = run_fvqp(["run", case, "--output", out, "--resume"])
    _check(_lines(done), out, reused=1)
    # the end-of-run report: status, output, wall time and the key numbers (summary keys:
    # the ranges of the table's N_qp, T*, eta_pb over the points)
    keys = json.loads((out / "summary.json").read_text())["keys"]
    with h5py.File(out / "kinetics0d_sweep.h5") as fh:
        assert keys["N_qp_per_um3_max"] == pytest.approx(fh["n_qp"][:].max(), rel=1e-15)
        assert keys["T_star_K_min"] == pytest.approx(fh["t_star"][:].min(), rel=1e-15)
    assert report_numbers(done.stdout + done.stderr, out) == {
        k: f"{v:.6g}" for k, v in keys.items()}


@pytest.mark.mpi
def test_sweep_on_two_ranks_logs_each_point_once(tmp_path):
    out = tmp_path / "out"
    _check(_lines(run_fvqp(["run", _case(tmp_path), "--output", out], nproc=2)), out,
           reused=0)

"""The independent Monte Carlo units of a stochastic study shared over MPI ranks
(:class:`fvqp.parallel.tasks.TaskShare`, :meth:`fvqp.io.workunits.WorkUnits.map`).

Each unit carries its own seed, so `mpiexec -n 2` must give the serial study bit for bit,
also when it is stopped after one round (`--max-steps`) and resumed on another number of
ranks; the checkpoint is written by rank 0 only and grows by a round at a time.
"""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from test_stochastic_cases import _variant

from conftest import run_fvqp
from fvqp.io.workunits import StudyStopped, WorkUnits, direct


def _data(out) -> dict:
    with h5py.File(out / "stochastic_concentration_curve_concentration.h5") as fh:
        return {k: fh["data"][k][()] for k in fh["data"]}


def _small(tmp_path) -> str:
    # three independent c(a) points: two rounds on two ranks (the second one half full)
    return _variant(tmp_path, "stochastic_concentration_curve.toml", a_min=1e-10,
                    a_max=1e-6, points=3, particles=80, replicas=2, burn=2.0, sample=4.0)


def test_two_ranks_equal_serial_and_resume_across_rank_counts(tmp_path):
    case = _small(tmp_path)
    serial, par, part = tmp_path / "serial", tmp_path / "mpi", tmp_path / "part"
    run_fvqp(["run", case, "--output", serial])
    run_fvqp(["run", case, "--output", par], nproc=2)
    a, b = _data(serial), _data(par)
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    s = json.loads((par / "summary.json").read_text())
    assert s["ranks"] == 2 and s["units_computed"] == 3
    # stopped after the first round of two units (two ranks), resumed serially
    p = run_fvqp(["run", case, "--output", part, "--max-steps", "2"], nproc=2)
    assert "status 1" in p.stderr and "stopped after 2 units" in p.stderr, p.stderr
    assert not list(part.glob("*_concentration.h5"))
    run_fvqp(["run", case, "--output", part, "--resume"])
    c = _data(part)
    for k in a:
        np.testing.assert_array_equal(a[k], c[k], err_msg=k)
    s = json.loads((part / "summary.json").read_text())
    assert s["units_computed"] == 1 and s["units_resumed"] == 2


def test_map_reuses_stored_units_and_stops_on_the_budget(tmp_path):
    calls = []

    def unit(i):
        def compute():
            calls.append(i)
            return {"x": float(i), "v": np.arange(i + 1.0)}
        return compute

    items = [(f"u{i}", unit(i)) for i in range(4)]
    w = WorkUnits(str(tmp_path), "digest", max_units=3)
    with pytest.raises(StudyStopped):
        w.map(items)
    assert calls == [0, 1, 2] and w.computed == 3
    w2 = WorkUnits(str(tmp_path), "digest", resume=True)
    res = w2.map(items)
    assert calls == [0, 1, 2, 3] and w2.computed == 1 and w2.reused == 3
    assert [r["x"] for r in res] == [0.0, 1.0, 2.0, 3.0]
    np.testing.assert_array_equal(res[2]["v"], [0.0, 1.0, 2.0])
    assert [r["x"] for r in direct.map(items)] == [0.0, 1.0, 2.0, 3.0]

"""Reproducible runs (issue 19 item 13): the same case gives the same step sequence and the
same numbers to 1e-8 when run again — in the same process, in another process, serial or on
2 ranks — with the shipped solver tolerances.

The case is the shipped heat absorber (coarse mesh, shipped ``[time]`` and ``[solver]``
tolerances and output times) with a snapshot at every step, so the ``.pvd`` records the
whole step sequence. Its Ta pad sits at 0.056 Tc: heat capacities and conductivities of the
cold cells are ~e^-31 of the hot ones, the case in which a Newton iteration stopped on the
residual's 2-norm (which only sees the hot cells) left errors in the cold cells that were
solver noise to the step controller (GMRES orthogonalisation sums differ in the last bit
with the vectors' memory alignment, and bjacobi differs with the partition).
"""

import json
import os

import numpy as np
import pytest

from conftest import case_variant, run_fvqp

CASE = "heat_absorber3d.toml"


def _case(tmp_path):
    return case_variant(CASE, tmp_path, **{"every = 10": "every = 1"})


def _run_record(out) -> dict:
    """Step times, final temperature (ordered by cell centre) and summary of a run."""
    import pyvista as pv

    out = str(out)
    pvd = [f for f in os.listdir(out) if f.endswith(".pvd")]
    assert len(pvd) == 1, pvd
    reader = pv.get_reader(os.path.join(out, pvd[0]))
    times = np.asarray(reader.time_values, dtype=float)
    reader.set_active_time_value(times[-1])
    grid = pv.wrap(reader.read()[0])
    order = np.lexsort(np.asarray(grid.cell_centers().points).T[::-1])
    with open(os.path.join(out, "summary.json")) as fh:
        summary = json.load(fh)
    return {"times": times, "T": np.asarray(grid.cell_data["temperature"])[order],
            "summary": summary}


def _assert_same_run(a: dict, b: dict) -> None:
    sa, sb = a["summary"], b["summary"]
    assert sa["status"] == sb["status"] == 0
    # the same step sequence: accepted and rejected steps, every step's time and size
    assert (sb["steps"], sb["rejected_steps"], sb["failed_solves"]) == \
        (sa["steps"], sa["rejected_steps"], sa["failed_solves"])
    assert len(a["times"]) == len(b["times"]) == sa["steps"] + 1  # t = 0 and every step
    np.testing.assert_allclose(b["times"], a["times"], rtol=1e-8, atol=0)
    np.testing.assert_allclose(np.diff(b["times"]), np.diff(a["times"]), rtol=1e-8, atol=0)
    # the same numbers
    np.testing.assert_allclose(b["T"], a["T"], rtol=1e-8, atol=0)
    assert sb["max_temperature_K"] == pytest.approx(sa["max_temperature_K"], rel=1e-8)
    ea, eb = sa["energy_J"], sb["energy_J"]
    assert eb["final"] == pytest.approx(ea["final"], rel=1e-8, abs=0)
    assert eb["deposited"] == pytest.approx(ea["deposited"], rel=1e-8, abs=0)


def test_same_case_twice_in_one_process_gives_the_same_run(tmp_path):
    from fvqp.api import run_case

    case = _case(tmp_path)
    run_case(case, output_dir=str(tmp_path / "a"))
    run_case(case, output_dir=str(tmp_path / "b"))
    _assert_same_run(_run_record(tmp_path / "a"), _run_record(tmp_path / "b"))


def test_same_case_in_two_processes_gives_the_same_run(tmp_path):
    case = _case(tmp_path)
    run_fvqp(["run", case, "--output", tmp_path / "a"])
    run_fvqp(["run", case, "--output", tmp_path / "b"])
    _assert_same_run(_run_record(tmp_path / "a"), _run_record(tmp_path / "b"))


@pytest.mark.mpi
def test_two_ranks_give_the_serial_run_with_shipped_tolerances(tmp_path):
    case = _case(tmp_path)
    run_fvqp(["run", case, "--output", tmp_path / "s"])
    run_fvqp(["run", case, "--output", tmp_path / "p"], nproc=2)
    p = _run_record(tmp_path / "p")
    assert p["summary"]["ranks"] == 2
    _assert_same_run(_run_record(tmp_path / "s"), p)

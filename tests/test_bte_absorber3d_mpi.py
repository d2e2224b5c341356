"""The bte absorber case (issue 16 §3) on two MPI ranks and through a stop and ``--resume``:
the small variant (100 ueV bins, burst next to the lead, three 0.3 ns BDF2 steps with
collisions) gives the serial fields of every snapshot."""

from __future__ import annotations

import json

import numpy as np
import pytest

import fvqp.api as fa
from conftest import case_variant, run_fvqp

CASE = "bte_absorber3d.toml"
SMALL = {'spacing = "50 ueV"': 'spacing = "100 ueV"', 'end = "2.5 ns"': 'end = "0.9 ns"',
         'dt_initial = "0.1 ns"': 'dt_initial = "0.3 ns"',
         "position = [20.0, 10.0, 0.15]": "position = [40.0, 0.0, 0.15]",
         "every = 2": "every = 1"}
FIELDS = ("qp_density", "qp_energy_density", "qp_current_x", "qp_current_y", "qp_current_z")


def _fields(out):
    """Every snapshot of the fields, cells sorted by their centres (a run on two ranks
    writes one piece per rank)."""
    run = fa.open_run(out)
    c = run.fields[FIELDS[0]].centres
    order = np.lexsort(np.round(c.T / 1e-9).astype(np.int64))
    return {f: run.fields[f].values[:, order] for f in FIELDS}


def _summary(out):
    return json.loads((out / "summary.json").read_text())


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("serial")
    out = tmp / "s"
    run_fvqp(["run", case_variant(CASE, tmp, **SMALL), "--output", out])
    assert _summary(out)["status"] == 0 and _summary(out)["steps"] == 3
    return out


def _assert_same(a, b, tol):
    for f in FIELDS:
        assert a[f].shape == b[f].shape, f
        scale = np.max(np.abs(a[f]))
        assert np.max(np.abs(a[f] - b[f])) <= tol * scale, f


def test_two_ranks_equal_serial(serial, tmp_path):
    """`mpiexec -n 2` (global coarse preconditioner, ghost exchange, interface faces split
    between ranks): every snapshot's fields equal the serial ones to 1e-8, and so do the
    QP-number balance terms."""
    out = tmp_path / "p"
    run_fvqp(["run", case_variant(CASE, tmp_path, **SMALL), "--output", out], nproc=2)
    assert _summary(out)["ranks"] == 2 and _summary(out)["status"] == 0
    _assert_same(_fields(serial), _fields(out), 1e-8)
    a, b = _summary(serial)["qp_number"], _summary(out)["qp_number"]
    for k in ("final", "sources", "boundary:lead_end", "pair_processes"):
        assert b[k] == pytest.approx(a[k], rel=1e-8, abs=0), k


def test_stop_and_resume_equals_uninterrupted(serial, tmp_path):
    """`--max-steps 1` stops with status 1 and a checkpoint; `--resume` continues to the
    uninterrupted result (fields of every snapshot and balances to 1e-12, same Newton
    count)."""
    case = case_variant(CASE, tmp_path, **SMALL)
    out = tmp_path / "r"
    run_fvqp(["run", case, "--output", out, "--max-steps", "1"])
    assert _summary(out)["status"] == 1 and _summary(out)["steps"] == 1
    run_fvqp(["run", case, "--output", out, "--resume"])
    sa, sb = _summary(serial), _summary(out)
    assert sb["status"] == 0 and sb["steps"] == 3
    assert sb["newton_iterations"] == sa["newton_iterations"]
    _assert_same(_fields(serial), _fields(out), 1e-12)
    for k in ("final", "sources", "boundary:lead_end", "pair_processes"):
        assert sb["qp_number"][k] == pytest.approx(sa["qp_number"][k], rel=1e-12, abs=0), k


def _lu_case(tmp_path, key: bool = False):
    """The small variant with a sparse LU in the Newton preconditioner instead of the
    case's transport sweeps: the case key ``[numerics] preconditioner = "auto"`` (``key``)
    or ``-bte_fine_pc lu`` from the case's ``[solver] petsc``."""
    case = case_variant(CASE, tmp_path, **SMALL)
    text = case.read_text()
    assert "[solver]" not in text and text.count('preconditioner = "sweep"') == 1
    if key:
        text = text.replace('preconditioner = "sweep"', 'preconditioner = "auto"')
    else:
        text += '\n[solver]\npetsc = { fine_pc = "lu" }\n'
    case.write_text(text)
    return case


@pytest.mark.parametrize("nproc, key", [(1, True), (2, False)])
def test_lu_preconditioner_gives_the_sweep_answer(serial, tmp_path, nproc, key):
    """A sparse LU instead of the case's transport sweeps + global isotropic coarse level
    (serial from the case key, `mpiexec -n 2` from the PETSc option): the same Newton
    count and every snapshot's fields and the QP-number balance equal the serial sweep run
    to 1e-8 (the Newton tolerance)."""
    out = tmp_path / "w"
    run_fvqp(["run", _lu_case(tmp_path, key), "--output", out], nproc=nproc)
    sa, sb = _summary(serial), _summary(out)
    assert sb["status"] == 0 and sb["steps"] == 3 and sb["ranks"] == nproc
    assert sa["fine_preconditioner"] == "sweep" and sa["global_coarse"]
    assert sb["fine_preconditioner"] == "lu"
    assert sb["newton_iterations"] == sa["newton_iterations"]
    _assert_same(_fields(serial), _fields(out), 1e-8)
    for k in ("final", "sources", "boundary:lead_end", "pair_processes"):
        assert sb["qp_number"][k] == pytest.approx(sa["qp_number"][k], rel=1e-8, abs=0), k


def test_held_gap_adaptive_two_ranks_equal_serial(tmp_path):
    """The held-gap path with adaptive steps (``[gap] self_consistent = false``, the
    coupled transient of :mod:`fvqp.models.bte.coupled`: error-controlled BDF2, every
    linear solve forced, Newton stopping on its correction) on two ranks: the same steps
    and rejections (the error norm and the step decisions are collective), every
    snapshot's fields and the QP-number balance the serial run's to 1e-8."""
    from conftest import serial_and_two_ranks

    held = {**SMALL, "self_consistent = true": "self_consistent = false",
            "adaptive = false": "adaptive = true\nrtol = 1e-3", 'end = "2.5 ns"': 'end = "2 ns"',
            'dt_initial = "0.1 ns"': 'dt_initial = "0.05 ns"'}
    case = case_variant(CASE, tmp_path, **held)
    sa, sb = serial_and_two_ranks(case, tmp_path)
    assert sa["status"] == 0 and sa["adaptive"] and sa["steps"] > 5
    for k in ("steps", "rejected_steps"):
        assert sb[k] == sa[k], k
    _assert_same(_fields(tmp_path / "s"), _fields(tmp_path / "p"), 1e-8)
    for k in ("final", "sources", "boundary:lead_end", "pair_processes"):
        assert sb["qp_number"][k] == pytest.approx(sa["qp_number"][k], rel=1e-8, abs=0), k

"""``[gap] self_consistent`` on two MPI ranks (fvqp/models/bte/gaprun.py): every rank
solves the gaps of its owned cells, the ghost cells' gaps come by the ghost exchange, and
the run equals the serial one — also when a serial run is resumed on two ranks."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import case_variant, run_fvqp

SHORT = {'end = "60 ps"': 'end = "30 ps"', "every = 1": "every = 1\ncheckpoint_every = 2"}
FIELDS = ("qp_density", "qp_excess", "gap")
COLLISION_FIELDS = ("qp_density", "gap", "phonon_energy_density")


def _fields(out, name: str = "bte_selfgap", fields=FIELDS):
    """Every snapshot's fields, cells sorted by their centres in each snapshot (two
    ranks write a piece each; a run resumed on another rank count mixes both orders)."""
    import pyvista as pv

    reader = pv.get_reader(str(out / f"{name}.pvd"))
    snaps = {f: [] for f in fields}
    for t in reader.time_values:
        reader.set_active_time_value(t)
        m = reader.read().combine()
        c = np.asarray(m.cell_centers().points)
        order = np.lexsort(np.round(c.T / 1e-9).astype(np.int64))
        for f in fields:
            snaps[f].append(np.asarray(m.cell_data[f])[order])
    return {f: np.array(v) for f, v in snaps.items()}


def _summary(out):
    return json.loads((out / "summary.json").read_text())


def _same(a, b, tol: float, name: str = "bte_selfgap", fields=FIELDS) -> None:
    fa_, fb = _fields(a, name, fields), _fields(b, name, fields)
    for f in fields:
        assert fa_[f].shape == fb[f].shape, f
        assert np.max(np.abs(fa_[f] - fb[f])) <= tol * np.max(np.abs(fa_[f])), f
    sa, sb = _summary(a), _summary(b)
    qa, qb = sa["qp_number"], sb["qp_number"]
    assert qb.keys() == qa.keys()
    scale = max(abs(v) for k, v in qa.items() if k != "imbalance")   # largest term
    for k in qa:
        if k != "imbalance":
            assert qb[k] == pytest.approx(qa[k], rel=tol, abs=tol * scale), k
    assert abs(qb["imbalance"]) <= 1e-11 * scale
    ea, eb = sa["energy_J"], sb["energy_J"]        # the energy balance alike
    escale = abs(ea["inflows"]["sources"])
    for k in ("final_qp", *ea["inflows"]):
        va, vb = (ea[k], eb[k]) if k in ea else (ea["inflows"][k], eb["inflows"][k])
        assert vb == pytest.approx(va, rel=tol, abs=tol * escale), k
    assert abs(eb["imbalance"]) <= 1e-11 * escale
    for k in ("min_ueV", "max_ueV"):
        assert sb["gap"][k] == pytest.approx(sa["gap"][k], rel=tol, abs=0), k


def test_two_ranks_equal_serial_and_a_serial_run_resumes_on_two(tmp_path):
    """6 steps of the hot-spot case (gap suppressed by ~4 % in the spot, cells of
    different gaps on both sides of the rank boundary): `mpiexec -n 2` equals serial to
    1e-8 in every snapshot's QP density and gap (measured 1.7e-13); a serial run stopped
    after 3 steps and resumed on two ranks does too."""
    case = case_variant("bte_selfgap.toml", tmp_path, **SHORT)
    run_fvqp(["run", case, "--output", tmp_path / "s"])
    s = _summary(tmp_path / "s")
    assert s["status"] == 0 and s["gap"]["min_ueV"] < 0.97 * s["gap_ueV"]
    run_fvqp(["run", case, "--output", tmp_path / "p"], nproc=2)
    assert _summary(tmp_path / "p")["ranks"] == 2
    _same(tmp_path / "s", tmp_path / "p", 1e-8)
    run_fvqp(["run", case, "--output", tmp_path / "r", "--max-steps", "3"])
    run_fvqp(["run", case, "--output", tmp_path / "r", "--resume"], nproc=2)
    r = _summary(tmp_path / "r")
    assert r["status"] == 0 and r["steps"] == 6 and r["ranks"] == 2
    _same(tmp_path / "s", tmp_path / "r", 1e-8)
    # fvqp.post puts every snapshot of the mixed series (serial pieces, then two ranks'
    # pieces in another cell order) in the first snapshot's cell order
    from fvqp.post import Run

    fs, fr = Run.open(tmp_path / "s").fields, Run.open(tmp_path / "r").fields
    for f in FIELDS:
        a, b = fs[f].values, fr[f].values
        assert a.shape == b.shape and len(a) > 3, f
        assert np.max(np.abs(a - b)) <= 1e-8 * np.max(np.abs(a)), f


def test_collisions_two_ranks_and_resume_equal_serial(tmp_path):
    """With collisions (cases/bte_selfgap_uniform.toml, 2x2 cells) and an absorbing left
    edge draining the QPs, so that the cells' gaps differ: `mpiexec -n 2` (two cells per
    rank, global coarse preconditioner) equals serial to 1e-8 in every snapshot (QP
    density, gap, phonon energy) and in the QP number balance, and so does a serial run
    stopped after 3 steps and resumed on two ranks."""
    name = "bte_selfgap_uniform"
    case = case_variant(f"{name}.toml", tmp_path, **{
        'end = "80 ns"': 'end = "20 ns"', "every = 5": "every = 2\ncheckpoint_every = 2",
        '[boundaries.left]\ntype = "specular"': '[boundaries.left]\ntype = "absorbing"'})
    run_fvqp(["run", case, "--output", tmp_path / "s"])
    s = _summary(tmp_path / "s")
    assert s["status"] == 0 and s["steps"] == 10
    last = s["gap"]["snapshots"][-1]
    assert last["max_ueV"] - last["min_ueV"] > 1e-3     # measured 6.6e-3 ueV
    run_fvqp(["run", case, "--output", tmp_path / "p"], nproc=2)
    assert _summary(tmp_path / "p")["ranks"] == 2
    _same(tmp_path / "s", tmp_path / "p", 1e-8, name, COLLISION_FIELDS)
    run_fvqp(["run", case, "--output", tmp_path / "r", "--max-steps", "3"])
    run_fvqp(["run", case, "--output", tmp_path / "r", "--resume"], nproc=2)
    r = _summary(tmp_path / "r")
    assert r["status"] == 0 and r["steps"] == 10
    _same(tmp_path / "s", tmp_path / "r", 1e-8, name, COLLISION_FIELDS)

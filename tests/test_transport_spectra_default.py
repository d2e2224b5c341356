"""Issue 18 §1: a transport run keeps the state transforms of its Jacobian actions in
complex64 by default (:data:`fvqp.models.transport.linearisation.SPECTRA`, half of the 8.7
KB per cell at 66 bins), and that changes no answer Newton's tolerance can see: the same
Newton and Krylov iterations and the same final state as with the exact ``keep``."""

from __future__ import annotations

import json

import numpy as np
from test_transport_ranks_krylov import SHORT

from conftest import case_variant, run_fvqp


def _case(tmp_path, petsc: str = ""):
    case = case_variant("transport_absorber3d.toml", tmp_path, **SHORT)
    case.write_text(case.read_text() + '\n[numerics]\njacobian = "schur"\n'
                    f"[solver.petsc]\nschur_condensed = true\n{petsc}")
    return case


def run_variants(tmp_path, variants) -> dict:
    """Run :func:`_case` with each ``(label, [solver.petsc] lines)``: ``{label:
    (summary, newest state of the checkpoint)}``, every run converged."""
    import h5py

    out = {}
    for label, petsc in variants:
        d = tmp_path / label
        d.mkdir()
        run_fvqp(["-q", "run", _case(d, petsc), "--output", d / "o"])
        s = json.loads((d / "o" / "summary.json").read_text())
        assert s["status"] == 0, s["message"]
        with h5py.File(d / "o" / "checkpoint.h5") as f:
            out[label] = (s, np.asarray(f["x0"]))  # the newest state
    return out


def test_run_keeps_the_action_spectra_in_single_precision(tmp_path):
    """The problem a run builds rounds its kept transforms to complex64 unless the case
    asks for ``collision_spectra = "keep"``; a case's ``collision_action`` is read too
    (both were read from PETSc's database before the case's ``[solver.petsc]`` was put
    there: a case's value was silently ignored)."""
    from fvqp.case.loader import load_case
    from fvqp.models.transport.driver import TransportSimulation
    from fvqp.solvers import options_session

    with options_session():
        sim = TransportSimulation(load_case(str(_case(tmp_path))))
    p = sim.problem
    assert p.single_spectra and p.keep_spectra
    x = sim.local(sim.x0 * (1.0 + 0.2 * np.random.default_rng(3).uniform(
        -1.0, 1.0, sim.x0.shape)))
    p.rhs_jvp(x, np.ones_like(x), 0.0, 1.0)
    assert all(s.RF.dtype == np.complex64 for s in p._spectra[1])
    (tmp_path / "k").mkdir()
    with options_session():
        sim = TransportSimulation(load_case(str(_case(
            tmp_path / "k", 'collision_spectra = "keep"\ncollision_action = "complex_step"\n'))))
        assert "collision_spectra" not in sim.petsc_options()  # not a PETSc option
    assert not sim.problem.single_spectra and sim.problem.keep_spectra
    assert sim.problem.action == "complex_step"


def test_collision_keys_refused_with_a_named_error(tmp_path):
    """A value that is not one of the key's is refused at load, naming the key and the
    values it takes (it had been ignored)."""
    import pytest

    from fvqp.case.loader import CaseError, load_case

    with pytest.raises(CaseError) as err:
        load_case(str(_case(tmp_path, 'collision_spectra = "half"\n')))
    e = err.value.errors
    assert len(e) == 1 and "solver.petsc.collision_spectra" in e[0], e
    assert "'single', 'keep', 'recompute'" in e[0]


def test_single_precision_spectra_change_no_answer(tmp_path):
    """0.6 ns of 0.2 ns BDF1 steps on the coarse absorber (6 steps with the pulse's
    breakpoints), the default against ``keep``: the same Newton and condensed Krylov
    iterations, the final energy, QP number and every unknown of the final state equal to
    1e-11 of the largest (measured: 12 Newton / 34 Krylov both; final state, energy and QP
    number 5e-14 to 6e-14 apart)."""
    out = run_variants(tmp_path, (("single", ""), ("keep", 'collision_spectra = "keep"\n')))
    (s1, x1), (s0, x0) = out["single"], out["keep"]
    assert s1["newton_iterations"] == s0["newton_iterations"]
    assert s1["linear_iterations"] == s0["linear_iterations"]
    assert abs(s1["energy_J"]["final"] - s0["energy_J"]["final"]) <= 1e-11 * abs(
        s0["energy_J"]["final"])
    assert abs(s1["N_qp"] - s0["N_qp"]) <= 1e-11 * abs(s0["N_qp"])
    assert np.max(np.abs(x1 - x0)) <= 1e-11 * np.max(np.abs(x0))


def test_command_line_value_refused_naming_the_option(tmp_path):
    """A bad ``-transport_collision_spectra`` on the command line (a case's is refused at
    load) stops the build with the option, its values and the fix (it had been the
    problem's ``spectra must be ...``, which named no option)."""
    import pytest
    from petsc4py import PETSc

    from fvqp.case.loader import load_case
    from fvqp.models.transport.driver import TransportSimulation
    from fvqp.solvers import options_session

    case = load_case(str(_case(tmp_path)))
    PETSc.Options()["transport_collision_spectra"] = "half"
    try:
        with options_session(), pytest.raises(ValueError) as err:
            TransportSimulation(case)
    finally:
        del PETSc.Options()["transport_collision_spectra"]
    msg = str(err.value)
    assert "-transport_collision_spectra half" in msg and "'recompute'" in msg
    assert "Fix:" in msg

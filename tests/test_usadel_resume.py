"""Usadel bias sweeps: checkpoint per bias, stop/resume = uninterrupted, and
non-convergence reported with the finished biases kept."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from conftest import CASES, case_with_values, run_fvqp
from fvqp.cli import EXIT_BAD_INPUT, EXIT_NOT_CONVERGED

MESHES = CASES.parent / "meshes"


def _fig11(tmp_path, **params):
    return case_with_values("usadel_fig11.toml", tmp_path, **params)


def _summary(d):
    return json.loads((d / "summary.json").read_text())


@pytest.mark.slow
def test_fig11_sweep_stopped_and_resumed_equals_uninterrupted(tmp_path):
    """The Fig. 11 sweeps (uniform Δ self-consistency, elastic then with e–e collisions
    by SNES) on a small grid, 4 biases each: stopped after 3 and after 6 biases and
    resumed, the result equals the uninterrupted run to 1e-10. Each resumed bias starts
    from the checkpointed state of the previous one; starting it afresh instead differs
    at the self-consistency tolerance (1e-7), so this would fail."""
    case = _fig11(tmp_path, points=4, spacing=0.05, cells=30)
    full, part = tmp_path / "full", tmp_path / "part"
    run_fvqp(["run", case, "--output", full])
    assert _summary(full)["status"] == 0

    proc = run_fvqp(["run", case, "--output", part, "--max-steps", 3])
    assert "continue with --resume" in proc.stderr
    assert not (part / "usadel_fig11.h5").exists()
    with h5py.File(part / "checkpoint.h5") as ck:
        names = list(ck.keys())
    assert sum(n.startswith("elastic_bias") and n.endswith("::delta") for n in names) == 3
    # only the last finished bias keeps the continuation state
    assert sum(n.endswith("::carry_fL") for n in names) == 1
    assert "elastic_bias0002::carry_fL" in names
    run_fvqp(["run", case, "--output", part, "--max-steps", 3, "--resume"])
    with h5py.File(part / "checkpoint.h5") as ck:
        assert "inelastic_bias0001::delta" in ck and "inelastic_bias0002::delta" not in ck
    run_fvqp(["run", case, "--output", part, "--resume"])
    assert _summary(part)["status"] == 0
    with h5py.File(full / "usadel_fig11.h5") as a, h5py.File(part / "usadel_fig11.h5") as b:
        for key in ("delta_elastic", "delta_inelastic", "fL_elastic", "fL_inelastic"):
            assert np.allclose(a[key][:], b[key][:], rtol=0, atol=1e-10), key
        # the sweep is not trivial: Δ moves with the bias, collisions lower it further
        assert a["delta_inelastic"][-1] < a["delta_elastic"][-1] - 0.02


def test_resume_of_another_case_and_of_a_single_state_are_refused(tmp_path):
    """A checkpoint of another case is refused by digest; a case without a sweep has
    nothing to resume: both exit 2 naming the fix."""
    case = _fig11(tmp_path, points=2, spacing=0.05, cells=20)
    out = tmp_path / "o"
    run_fvqp(["run", case, "--output", out, "--max-steps", 1])
    other = _fig11(tmp_path, points=3, spacing=0.05, cells=20)  # same path, new digest
    proc = run_fvqp(["run", other, "--output", out, "--resume"], check=False)
    assert proc.returncode == EXIT_BAD_INPUT and "digest" in proc.stderr
    text = (CASES / "usadel_nis_wire.toml").read_text().replace("../meshes", str(MESHES))
    single = tmp_path / "usadel_single.toml"
    single.write_text(text.replace('junction = "junction_a"\n', ""))
    proc = run_fvqp(["run", single, "--output", tmp_path / "s", "--resume"], check=False)
    assert proc.returncode == EXIT_BAD_INPUT
    assert "nothing to checkpoint or resume" in proc.stderr and "Fix:" in proc.stderr


def test_sweep_that_does_not_converge_exits_3_naming_the_fix(tmp_path):
    """[selfconsistency] max_iterations too small: exit 3; the message names the bias,
    the key to change and the checkpoint."""
    text = (CASES / "usadel_nis_wire.toml").read_text().replace("../meshes", str(MESHES))
    text = text.replace('mode = "none"', 'mode = "local"\nmax_iterations = 2\n'
                        'tolerance = 1e-12')
    text = text.replace("points = 31", "points = 3").replace("max = 4.0", "max = 10.0")
    text = text.replace("spacing = 0.01", "spacing = 0.04")
    p = tmp_path / "usadel_nis_wire.toml"
    p.write_text(text)
    proc = run_fvqp(["run", p, "--output", tmp_path / "o"], check=False)
    assert proc.returncode == EXIT_NOT_CONVERGED, proc.stderr
    assert "bias 1 of 3" in proc.stderr and "max_iterations" in proc.stderr
    assert "0 finished biases are kept" in proc.stderr


def test_failing_bias_keeps_the_finished_ones(tmp_path, monkeypatch):
    """A bias sweep whose third bias fails: ConvergenceError after two finished biases,
    which are in the checkpoint (with the continuation state of the second); a resumed
    run computes only the missing biases."""
    from fvqp.case import load_case
    from fvqp.models.usadel import driver, selfconsistent
    from fvqp.solvers import ConvergenceError

    text = (CASES / "usadel_nis_wire.toml").read_text().replace("../meshes", str(MESHES))
    # max 3.2: the sweep (to 3 Delta0) and 10 kT of its hottest electrode on the grid
    text = text.replace("points = 31", "points = 4").replace("max = 4.0", "max = 3.2")
    p = tmp_path / "usadel_nis_wire.toml"
    p.write_text(text.replace("spacing = 0.01", "spacing = 0.02"))
    case = load_case(p)
    real, calls = selfconsistent.solve_state, []

    def failing(*args, **kw):
        calls.append(1)
        if len(calls) == 3:
            raise ConvergenceError("injected failure.")
        return real(*args, **kw)

    monkeypatch.setattr(selfconsistent, "solve_state", failing)
    with pytest.raises(ConvergenceError, match="bias 3 of 4: injected failure. The 2 "
                       "finished biases are kept"):
        driver.run(case, output_dir=str(tmp_path / "o"))
    with h5py.File(tmp_path / "o" / "checkpoint.h5") as ck:
        names = sorted(ck.keys())
    assert [n for n in names if n.endswith("::delta")] == ["bias0000::delta",
                                                           "bias0001::delta"]
    assert [n for n in names if "carry" in n] == ["bias0001::carry_fL",
                                                  "bias0001::carry_fT",
                                                  "bias0001::carry_theta"]
    calls.clear()
    monkeypatch.setattr(selfconsistent, "solve_state", lambda *a, **k: (
        calls.append(1), real(*a, **k))[1])
    s = driver.run(case, output_dir=str(tmp_path / "o"), resume=True)
    assert s["status"] == 0 and len(calls) == 2


def test_iteration_limit_is_not_part_of_the_case_digest(tmp_path):
    """A run that stopped on [selfconsistency] max_iterations can be resumed after raising
    it (the finished biases stay valid), while a changed tolerance is a different case."""
    from fvqp.case import load_case

    text = (CASES / "usadel_nis_wire.toml").read_text().replace("../meshes", str(MESHES))
    p = tmp_path / "usadel_nis_wire.toml"
    digests = []
    for extra in ("max_iterations = 5", "max_iterations = 50", "tolerance = 1e-9"):
        p.write_text(text.replace('mode = "none"', f'mode = "none"\n{extra}'))
        digests.append(load_case(p).digest)
    assert digests[0] == digests[1] != digests[2]

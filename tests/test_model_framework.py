"""The model framework (fvqp.models.base, fvqp.solvers): one result type, the failure rule,
PETSc options removed after use, option typos named before any solve, SI outputs from
declared dimensions."""

import json

import numpy as np
import pytest
from test_heat_runs import FILM

from conftest import CASES, case_with_values, run_fvqp


@pytest.fixture
def film_case(write_case):
    return write_case(FILM.format(end="20 ns", ck=100))


def test_run_returns_the_result_and_leaves_no_inserted_options(film_case, tmp_path):
    """A run through the Python API returns a ModelResult whose counters and balances are
    the summary's; afterwards PETSc's options database holds none of the options the run
    inserted, and an option set beforehand (as on a command line) is left untouched."""
    from petsc4py import PETSc

    from fvqp.api import run_case
    from fvqp.models.base import ModelResult

    db = PETSc.Options()
    db.setValue("heat_snes_max_it", "25")  # "command line": must survive and win
    try:
        res = run_case(film_case, output_dir=str(tmp_path / "o"))
        left = {k for k in db.getAll() if k.startswith("heat_")}
        assert left == {"heat_snes_max_it"}
        assert db.getString("heat_snes_max_it") == "25"
    finally:
        db.delValue("heat_snes_max_it")
    assert isinstance(res, ModelResult) and res.model == "heat" and res.success
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert res.status == summary["status"] == 0 and res["message"] == summary["message"]
    assert summary["model"] == "heat"  # `fvqp info` / open_run name the model
    assert res.counters["steps"] == summary["steps"] > 0
    assert res.counters["newton_iterations"] == summary["newton_iterations"]
    bal = res.balances["energy_J"]
    assert bal == summary["energy_J"]
    # the balance the result carries is the run's conservation check (round-off)
    assert abs(bal["imbalance"]) <= 1e-10 * bal["deposited"]
    assert "summary.json" in res.outputs and "heat_test.pvd" in res.outputs


def test_a_second_run_in_the_same_process_repeats_the_first(film_case, tmp_path):
    """Nothing a run configured leaks into the next one in the same process."""
    from fvqp.api import run_case

    a = run_case(film_case, output_dir=str(tmp_path / "a"))
    b = run_case(film_case, output_dir=str(tmp_path / "b"))
    for key in ("steps", "rejected_steps", "newton_iterations", "linear_iterations"):
        assert a[key] == b[key]
    assert a["max_temperature_K"] == pytest.approx(b["max_temperature_K"], rel=1e-12)


def test_failure_is_a_status_with_the_cause(film_case, tmp_path):
    """The failure rule: Newton that cannot converge gives status -1 and a message naming
    the cause and the fix (no exception), and the summary is still written."""
    from petsc4py import PETSc

    from fvqp.api import run_case

    db = PETSc.Options()
    db.setValue("heat_snes_max_it", "0")
    try:
        res = run_case(film_case, output_dir=str(tmp_path / "o"))
    finally:
        db.delValue("heat_snes_max_it")
    assert res.status == -1 and not res.success
    assert "not converged" in res.message and "dt_min" in res.message
    assert json.loads((tmp_path / "o" / "summary.json").read_text())["status"] == -1


def test_petsc_value_typo_is_refused_before_any_solve(film_case, tmp_path):
    p = run_fvqp(["run", film_case, "--output", tmp_path / "o", "-heat_ksp_type", "gmress"],
                 check=False)
    assert p.returncode == 2
    assert "prefix 'heat_'" in p.stderr and "-heat_ksp_type gmress" in p.stderr
    assert "Traceback" not in p.stderr
    assert not (tmp_path / "o" / "summary.json").exists()


def test_unused_command_line_option_is_reported_and_no_list_at_exit(film_case, tmp_path):
    """A misspelt option is named right after the first solve; a clean run ends without
    PETSc's list of unused options (fvqp's own defaults are removed after use)."""
    p = run_fvqp(["run", film_case, "--output", tmp_path / "a", "-heat_ksp_rtoll", "1e-5"])
    assert "not used by any solver object: -heat_ksp_rtoll" in p.stderr
    p = run_fvqp(["run", film_case, "--output", tmp_path / "b", "-options_left"])
    assert "There are no unused options" in p.stdout + p.stderr


def test_usadel_inelastic_solver_names_a_typo_once_and_leaves_only_it(tmp_path):
    """usadel's collisional Newton solves (one NonlinearSolver per bias point and Eq. 8
    iteration, options under ``usadel_``) name a misspelt command-line option once, and
    at exit PETSc's list of unused options holds that option only: none of the options
    fvqp inserted for the ~20 solves is left (Fig. 11 on a reduced grid)."""
    case = case_with_values("usadel_fig11.toml", tmp_path, points=2, spacing=0.05, cells=30)
    p = run_fvqp(["run", case, "--output", tmp_path / "o", "-options_left",
                  "-usadel_ksp_rtoll", "1e-5"])
    out = p.stdout + p.stderr
    assert out.count("not used by any solver object: -usadel_ksp_rtoll") == 1
    assert "There is one unused database option" in out
    assert out.count("Option left:") == 1 and "Option left: name:-usadel_ksp_rtoll" in out
    assert json.loads((tmp_path / "o" / "summary.json").read_text())["status"] == 0


def test_outputs_in_si_from_declared_dimensions():
    """to_output converts internal fields with their declared dimension and unit; an
    undeclared unit is refused."""
    from fvqp.materials import get_material
    from fvqp.models.base import OutputField, to_output
    from fvqp.units import E_CHARGE, UnitSystem

    u = UnitSystem.from_material(get_material("Al"))
    decl = {"gap": OutputField("energy", "ueV"), "n": OutputField("number_density", "1/um^3"),
            "j": OutputField("number_flux", "1/(um^2 s)")}
    out = to_output(u, {"gap": np.array([1.764]), "n": np.array([2.0]),
                        "j": np.array([3.0])}, decl)
    assert out["gap"][0] == pytest.approx(1.764 * u.energy / (E_CHARGE * 1e-6), rel=1e-14)
    assert out["n"][0] == pytest.approx(2.0 * u.N0 * u.energy * 1e-18, rel=1e-14)
    assert out["j"][0] == pytest.approx(3.0 * u.N0 * u.energy * u.length / u.tau0 * 1e-12,
                                        rel=1e-14)
    with pytest.raises(ValueError, match="not declared"):
        OutputField("energy", "meV")


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_a_signal_stops_the_run_cleanly_and_it_resumes(write_case, tmp_path, sig):
    """Ctrl-C (SIGINT) and SIGTERM, received during a run (right after its 2nd
    checkpoint), stop it after the step: checkpoint written, status 1, a message saying
    how to continue, exit code 128 + signal; --resume then reaches the uninterrupted
    answer to round-off."""
    import signal

    from test_heat_runs import _final_temperature

    from conftest import run_fvqp_killed

    case = write_case(FILM.format(end="60 ns", ck=5))
    run_fvqp(["run", case, "--output", tmp_path / "ref"])
    signum = signal.Signals[sig]
    p = run_fvqp_killed(["run", case, "--output", tmp_path / "part"], after_checkpoints=2,
                        sig=signum)
    assert p.returncode == 128 + signum, p.stderr
    assert f"stopped by {sig}" in p.stderr and "--resume" in p.stderr
    summary = json.loads((tmp_path / "part" / "summary.json").read_text())
    assert summary["status"] == 1 and summary["stopped_by"] == sig
    assert summary["steps"] == 10  # the step of the 2nd checkpoint, not the end
    run_fvqp(["run", case, "--output", tmp_path / "part", "--resume"])
    a = _final_temperature(str(tmp_path / "ref"), "heat_test")
    b = _final_temperature(str(tmp_path / "part"), "heat_test")
    assert np.allclose(a, b, rtol=1e-12, atol=0)


def test_a_signal_during_the_last_step_cuts_nothing_short(write_case, tmp_path):
    """SIGTERM right after the checkpoint of the last step (checkpoint_every = the run's
    step count) of an adaptive run (``run_checkpointed``): the run is complete — status
    0, exit 0, ``stopped_by`` recorded, every step done — and its answer is the run's
    without a signal (1e-12). Before, it said status 1 "stopped … continue with
    --resume" and exited 143 although nothing was left to do."""
    import signal

    from test_heat_runs import _final_temperature

    from conftest import run_fvqp_killed

    ref = write_case(FILM.format(end="60 ns", ck=1000), "heat_ref.toml")
    run_fvqp(["run", ref, "--output", tmp_path / "ref"])
    n = json.loads((tmp_path / "ref" / "summary.json").read_text())["steps"]
    case = write_case(FILM.format(end="60 ns", ck=n), "heat_ref.toml")
    p = run_fvqp_killed(["run", case, "--output", tmp_path / "sig"], after_checkpoints=1,
                        sig=signal.SIGTERM)
    assert p.returncode == 0, p.stderr
    s = json.loads((tmp_path / "sig" / "summary.json").read_text())
    assert s["status"] == 0 and s["stopped_by"] == "SIGTERM" and s["steps"] == n
    a = _final_temperature(str(tmp_path / "ref"), "heat_ref")
    b = _final_temperature(str(tmp_path / "sig"), "heat_ref")
    assert np.allclose(a, b, rtol=1e-12, atol=0)


def test_power_switched_off_deposits_exactly_power_times_duration(write_case, tmp_path):
    """BDF2 across a source discontinuity extrapolates the accumulated source past it
    (energy deposited after the switch-off, consistently in storage and balance: no
    imbalance shows); the integrator restarts with backward Euler at the model's
    breakpoints, so a power P on [start, stop) deposits P (stop - start) to round-off,
    whatever the step sequence (measured before the fix: +9.5 % on heat_film_trap)."""
    from fvqp.api import run_case

    text = FILM.format(end="2 us", ck=100).replace(
        '''type = "pulse"
energy = "20 keV"
time = "5 ns"
duration = "1 ns"''', '''type = "power"
power = "0.5 pW"
start = "0 s"
stop = "200 ns"''')
    res = run_case(write_case(text), output_dir=str(tmp_path / "o"))
    e = res["energy_J"]
    assert res.status == 0 and res["steps"] > 10
    assert e["deposited"] == pytest.approx(0.5e-12 * 200e-9, rel=1e-12, abs=0)
    assert abs(e["imbalance"]) <= 1e-10 * e["deposited"]


def _small_case(model: str, tmp_path):
    """A small shipped case of ``model`` (the variants the model's own tests run) and the
    extra command-line arguments that keep its run to a few steps."""
    from conftest import case_variant

    steps = ["--max-steps", "2"]
    if model == "transport":        # 3D absorber burst, assembled Jacobian
        return case_variant("transport_absorber3d.toml", tmp_path), steps
    if model == "transport_condensed":  # the same with the phonons condensed out (schur)
        case = case_variant("transport_absorber3d.toml", tmp_path)
        case.write_text(case.read_text() + '\n[numerics]\njacobian = "schur"\n'
                        '[solver.petsc]\nschur_condensed = true\nksp_type = "preonly"\n')
        return case, steps
    if model == "bte":              # collisions and local phonons: the coupled problem
        return case_variant("bte_film_relaxation.toml", tmp_path), steps
    if model == "phonon":
        return case_variant("phonon_si_block.toml", tmp_path,
                            **{'end = "100 ns"': 'end = "20 ns"'}), ["--max-steps", "3"]
    if model == "bte_chip":
        from test_bte_chip import CLOSED

        text = CLOSED.replace("@MESHES@", str(CASES.parent / "meshes"))
        case = tmp_path / "closed_chip.toml"
        case.write_text(text)
        return case, steps
    if model == "bte_sphere":
        from test_bte_sphere_case import SMALL

        text = (CASES / "bte_sphere_sn_packet.toml").read_text()
        for a, b in SMALL.items():
            text = text.replace(a, b)
        case = tmp_path / "bte_sphere_small.toml"
        case.write_text(text)
        return case, ["--max-steps", "3"]
    if model == "stochastic":
        return case_with_values("stochastic_regime_map.toml", tmp_path, points=25), []
    raise AssertionError(model)


@pytest.mark.parametrize("model", ["transport", "transport_condensed", "bte", "phonon",
                                   "bte_chip", "bte_sphere", "stochastic"])
def test_no_option_is_left_unused(model, tmp_path):
    """Every model (heat, usadel and kinetics0d are checked above and in
    test_kinetics0d_outputs): a small run with ``-options_left`` ends with PETSc's "There
    are no unused options": every option fvqp inserted for its solvers was read by one of
    them and removed after use. The chip chain's counters reach the result's."""
    case, extra = _small_case(model, tmp_path)
    out = tmp_path / "o"
    p = run_fvqp(["run", case, "--output", out, *extra, "-options_left"])
    text = p.stdout + p.stderr
    left = [x for x in text.splitlines() if "Option left:" in x]
    assert "There are no unused options" in text, left
    assert not left
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] >= 0
    if model == "bte_chip":
        from fvqp.models.base import ModelResult

        counters = ModelResult.from_summary(model, summary).counters
        for key in ("phonon_linear_iterations", "qp_newton_iterations",
                    "qp_linear_iterations", "coupled_iterations"):
            assert counters[key] == summary[key] > 0, key

"""The failure rule and the result's counters for every model (issue 15 item 5,
fvqp.models.base.result): a non-converged self-consistent gap of kinetics0d is a
ConvergenceError (status -1, exit 3); bad input that reaches a model's build (a 1D mesh
for bte, a chip's QP sub-case that is not valid or not in the chip's units) is a
CaseError naming the file, the key and the fix, raised before anything is solved; the
chip chain's counters (``<part>_<counter>``) are the result's counters."""

from __future__ import annotations

import pytest

from conftest import CASES


def test_unconverged_self_consistent_gap_is_a_convergence_error():
    """An undriven Al film at t = 0.3: the self-consistent gap needs a few secant
    iterations (the grid moves it by ~3e-5 from the BCS value, t = 0.3, h = T/10), so one
    iteration cannot meet tol = 1e-12: ConvergenceError (was ArithmeticError, which
    escaped the failure rule) with the change still made, the fix and the iterate."""
    from fvqp.collisions import CollisionParams, EnergyGrid
    from fvqp.models.kinetics0d import Kinetics0D, steady_state_self_consistent
    from fvqp.solvers import ConvergenceError
    from fvqp.spectra.gap import thermal_gap

    t = 0.3
    d = thermal_gap(t, 1.0, 1.70, "delta0")
    m = Kinetics0D(EnergyGrid.build(d, t / 10, d + 25 * t),
                   CollisionParams.from_times(438 / 0.242, 1.70), t, tau_esc=0.01)
    with pytest.raises(ConvergenceError, match=r"self-consistent gap not converged: after 1 "
                       r"iterations .* Fix: lower the \[\[drives\]\] power, or set \[film\] "
                       r"self_consistent_gap = false") as exc:
        steady_state_self_consistent(m, 1.70, t_guess=None, max_iter=1)
    info = exc.value.result
    assert info["iterations"] == 1 and info["delta"] == pytest.approx(d, rel=1e-15)
    assert 1e-12 < abs(info["residual"]) / d < 1e-3
    # the same film converges when allowed its iterations (the error is the limit)
    _, _, ok = steady_state_self_consistent(m, 1.70, t_guess=None)
    assert ok["iterations"] <= 6


def test_bte_on_a_1d_mesh_is_a_case_error_naming_the_file_key_and_fix(tmp_path):
    """A bte case on the 1D NIS wire mesh that reaches BTESimulation (loaded without the
    mesh check, as a sub-case of another model is): CaseError with the case file,
    mesh.file and the fix, the same text as fvqp check gives, before any solve."""
    from fvqp.case import CaseError
    from fvqp.case.loader import load_case
    from fvqp.models.bte.simulation import BTESimulation

    text = f"""model = "bte"
[mesh]
file = "{CASES.parent}/meshes/nis_wire/nis_wire.msh"
[bath]
temperature = "50 mK"
[regions.wire]
material = "Al"
mean_free_path = "5 um"
[boundaries.reservoir_left]
type = "absorbing"
[boundaries.reservoir_right]
type = "absorbing"
[energy]
spacing = "40 ueV"
[angles]
directions = 4
[time]
end = "10 ps"
dt_initial = "1 ps"
"""
    p = tmp_path / "bte_wire.toml"
    p.write_text(text)
    with pytest.raises(CaseError) as checked:
        load_case(p)
    with pytest.raises(CaseError) as built:
        BTESimulation(load_case(p, check_mesh=False))
    msg = ("bte_wire.toml: mesh.file: the bte model needs a 2D (film) or 3D mesh; this "
           "mesh is 1D. Fix: use the transport model for wires, or a 2D/3D mesh.")
    assert built.value.errors == [msg]
    assert msg in checked.value.errors


def test_chip_sub_case_errors_are_case_errors():
    """The chip's QP sub-case checks: an invalid sub-case and one in other units are
    CaseErrors naming the chip's file, the key and the fix (they were bare ValueErrors
    without file or fix)."""
    from fvqp.case import CaseError
    from fvqp.materials import get_material
    from fvqp.models.bte_chip.driver import same_units, sub_case_error
    from fvqp.units import UnitSystem

    err = sub_case_error("bte", ["chip.toml: energy.e_max: must be positive, got -1. "
                                 "Fix: give a positive energy."])
    assert isinstance(err, CaseError)
    assert err.errors[0].startswith("chip.toml: energy.e_max: must be positive")
    assert "Fix: give a positive energy." in err.errors[0]
    assert "in the bte sub-case" in err.errors[0]
    al, nb = (UnitSystem.from_material(get_material(m)) for m in ("Al", "Nb"))
    same_units("transport", al, al, "/x/chip.toml", "Al")  # the same units pass
    with pytest.raises(CaseError, match=r"chip.toml: units.reference_material: the transport "
                       r"sub-case .* Fix: name one of the films' materials"):
        same_units("transport", nb, al, "/x/chip.toml", "Al")


def test_chip_counters_reach_the_result():
    """The chip chain's work counts (march.py: phonon_linear_iterations,
    qp_newton_iterations, qp_linear_iterations, coupled_iterations) are counters of the
    result (``<part>_<counter>``); neighbours that are not counts are not."""
    from fvqp.models.base import ModelResult

    s = {"status": 0, "message": "ok", "steps": 10, "phonon_linear_iterations": 400,
         "qp_newton_iterations": 25, "qp_linear_iterations": 90, "coupled_iterations": 21,
         "coupled_unconverged_steps": 0, "coupled_worst_mismatch": 1e-9,
         "qp_preconditioner_builds": 3}
    r = ModelResult.from_summary("bte_chip", s)
    assert r.counters == {"steps": 10, "phonon_linear_iterations": 400,
                          "qp_newton_iterations": 25, "qp_linear_iterations": 90,
                          "coupled_iterations": 21}
    assert "qp_newton_iterations 25" in r.report()

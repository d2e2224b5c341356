"""Every shipped case runs, and its answer obeys a physics check."""

import pytest

from conftest import CASES


def test_nis_wire_steady_heat_splits_by_the_kirchhoff_law(tmp_path):
    """Steady 1D conduction: Phi is linear on each side of the heater, so the power
    reaching each reservoir is inversely proportional to its distance, whatever kappa(T)."""
    from fvqp import run_case

    s = run_case(CASES / "heat_nis_wire.toml", output_dir=str(tmp_path))
    p = s["power_W"]
    left, right = -p["boundary:reservoir_left"], -p["boundary:reservoir_right"]
    assert left + right == pytest.approx(1e-15, rel=1e-9, abs=0)  # all of the 1 fW leaves
    assert left / (left + right) == pytest.approx(5.8 / 11.0, rel=1e-3)  # heater at x = -0.3
    assert s["max_temperature_K"] > 0.15 and s["newton_iterations"] <= 15


@pytest.mark.slow
def test_film_trap_case_balances_energy(tmp_path):
    from fvqp import run_case

    s = run_case(CASES / "heat_film_trap.toml", output_dir=str(tmp_path))
    e = s["energy_J"]
    # 0.5 pW for 200 ns (abs=0: pytest.approx's default abs of 1e-12 J hid a +92 % error)
    assert e["deposited"] == pytest.approx(0.5e-12 * 200e-9, rel=1e-9, abs=0)
    assert abs(e["imbalance"]) < 1e-9 * e["deposited"]
    assert -e["boundary:trap_end"] > 0.01 * e["deposited"]  # the trap drains to the bath
    assert s["status"] == 0

"""A kinetics0d steady state that does not absorb its drive is a failure, not a result.

Photons below 2 Delta are absorbed only by quasiparticles already present; in a V film
at 80 mK (Delta = 791 ueV) there are almost none, so the 850 ueV drive, normalised to its
absorbed power, finds nothing to normalise: Newton converged on the bath itself and the
run ended with status 0 and "CONVERGED_USER" while summary.json said absorbed 1e-19 W,
escaping -3e-41 W (relative mismatch 1.0). Such a state then ended the run with status
-1 (exit code 3) and a message naming the balance, the sub-gap photons and the fix.
Since 2026-11-27 the steady-state solver itself refuses it (Newton's reason
``CONVERGED_UNBALANCED_DRIVE``) and goes on to its next start, the continuation from a
warmer bath (fvqp.models.kinetics0d.continuation); where that reaches a state, the
grid's top sets it (the photons lift the few QPs up their ladder), and the run fails
naming [grid] e_max.
"""

from __future__ import annotations

import json

from conftest import case_variant, run_fvqp

V_FILM = {'material = "Al"': 'material = "V"\ntau0 = "100 ns"\ntau0_phi = "0.1 ns"'}


def test_a_steady_state_that_absorbs_nothing_fails(tmp_path):
    case = case_variant("kinetics0d_al_weak_drive.toml", tmp_path, **V_FILM,
                        **{'Tc = "1.2 K"': 'Tc = "5.4 K"'})
    out = tmp_path / "out"
    proc = run_fvqp(["-q", "run", case, "--output", out], check=False)
    assert proc.returncode == 3, proc.stderr
    s = json.loads((out / "summary.json").read_text())
    assert s["status"] == -1
    # Newton's per-entry test passed on the bath-like state; the solver refused it
    assert s["start"]["newton_from_start"]["reason"] == "CONVERGED_UNBALANCED_DRIVE"
    assert s["start"]["path"] == "bath-continuation"
    # the state reported balances its drive, and the grid's top shapes it
    assert s["observables"]["power_relative_mismatch"] < 1e-9
    assert "the grid's top cuts the photon absorption" in s["message"]
    assert "below 2 Delta = 1582 ueV" in s["message"] and "Fix:" in s["message"]


def test_a_sweep_point_that_absorbs_nothing_stops_the_sweep_naming_it(tmp_path):
    case = case_variant("kinetics0d_al_power_sweep.toml", tmp_path, **V_FILM,
                        **{'Tc = "1.2 K"': 'Tc = "5.4 K"'})
    proc = run_fvqp(["-q", "run", case, "--output", tmp_path / "out"], check=False)
    assert proc.returncode == 3, proc.stderr
    assert "sweep point power = 1e-19 W" in proc.stderr
    assert "the grid's top cuts the photon absorption" in proc.stderr
    assert "below 2 Delta = 1582 ueV" in proc.stderr


def test_sub_gap_photons_that_no_state_can_absorb_fail_with_the_reason(tmp_path):
    """Al at 20 mK under 300 ueV photons (2 Delta = 351.6 ueV): the converged state could
    absorb nothing at all (the drive's normalisation divides by zero), which ended the
    run in a Python traceback (ArithmeticError) while writing the summary; then the
    balance read absorbed 0 and the run failed with the reason. Now the solver refuses
    that state, its continuation from a warmer bath stops near 94 mK (no state within a
    0.4 % step of the last), and the TS start cannot evaluate the drive: the run fails
    naming both, and advising a taller grid — with e_max = 2.5 meV the steady state is
    reached."""
    case = case_variant("kinetics0d_al_weak_drive.toml", tmp_path,
                        **{'temperature = "80 mK"': 'temperature = "20 mK"',
                           'energy = "850 ueV"': 'energy = "300 ueV"'})
    out = tmp_path / "out"
    proc = run_fvqp(["-q", "run", case, "--output", out], check=False)
    assert proc.returncode == 3, proc.stderr
    assert "Traceback" not in proc.stderr
    s = json.loads((out / "summary.json").read_text())
    msg = s["message"]
    assert s["status"] == -1 and "(0.8533 x 2 Delta) lie below 2 Delta" in msg
    assert "photon drive: no absorption possible" in msg
    assert "the continuation from a warmer bath stopped: no steady state" in msg
    assert "after 6 halvings of the step" in msg
    # and the advice the message ends with: a taller grid holds the drive-set state
    assert "raise [grid] e_max by several photon energies" in msg
    tall = case_variant("kinetics0d_al_weak_drive.toml", tmp_path,
                        **{'temperature = "80 mK"': 'temperature = "20 mK"',
                           'energy = "850 ueV"': 'energy = "300 ueV"',
                           'spacing = "4 ueV"': 'spacing = "4 ueV"\ne_max = "2500 ueV"'})
    proc = run_fvqp(["-q", "run", tall, "--output", tmp_path / "tall"], check=False)
    assert proc.returncode == 0, proc.stderr
    s = json.loads((tmp_path / "tall" / "summary.json").read_text())
    assert s["status"] == 0 and s["observables"]["power_relative_mismatch"] < 1e-9


def test_a_point_failing_on_one_rank_fails_the_sweep_on_both(tmp_path):
    """``mpiexec -n 2``: the sub-gap point (300 ueV at 20 mK) fails on rank 0, the 850 ueV
    point succeeds on rank 1. The failure reached rank 1 as a RuntimeError while rank 0
    handled its ConvergenceError, and the run hung; now every rank raises the same
    ConvergenceError and the run ends with exit code 3 and the reason."""
    import re

    text = (case_variant("kinetics0d_al_power_sweep.toml", tmp_path,
                         **{'temperature = "80 mK"': 'temperature = "20 mK"'})).read_text()
    case = tmp_path / "mixed.toml"
    case.write_text(re.sub(r"\[sweep\]\npower = \[.*\]",
                           '[sweep]\nphoton_energy = ["300 ueV", "850 ueV"]', text))
    proc = run_fvqp(["-q", "run", case, "--output", tmp_path / "out"], nproc=2,
                    check=False, timeout=120)
    assert proc.returncode == 3, proc.stderr
    assert proc.stderr.count("sweep point photon_energy = 300 ueV") >= 2  # both ranks
    assert "RuntimeError" not in proc.stderr


def test_only_drives_of_a_given_power_set_the_balance_test():
    """The balance test scales with the given power of photon and phonon drives; a
    tunnel drive alone (its net power a difference of gross flows, ~0 without bias) is
    not judged by a relative mismatch of round-off."""
    from types import SimpleNamespace

    from fvqp.models.kinetics0d.drives import PhotonDrive
    from fvqp.models.kinetics0d.observables import unbalanced_drive

    obs = {"power_relative_mismatch": 1.0, "power_absorbed": 1e-30,
           "power_escaped": -1e-30}
    tunnel = SimpleNamespace(active=lambda t: True)
    tunnel_only = SimpleNamespace(drives=[tunnel], grid=SimpleNamespace(delta=1.76))
    assert unbalanced_drive(tunnel_only, obs, 100.0, 1e-15) is None
    photons = SimpleNamespace(drives=[PhotonDrive(photon_energy=2.0, power=1e-3)],
                              grid=SimpleNamespace(delta=1.76))
    ok = {"power_relative_mismatch": 1e-12, "power_absorbed": 1e-3,
          "power_escaped": 1e-3 * (1 - 1e-12)}
    assert unbalanced_drive(photons, ok, 100.0, 1e-15) is None
    for p_in, p_esc in ((1e-3, 0.0), (0.0, 1e-30)):   # nothing escapes / nothing absorbed
        bad = {"power_relative_mismatch": 1.0, "power_absorbed": p_in,
               "power_escaped": p_esc}
        msg = unbalanced_drive(photons, bad, 100.0, 1e-15)
        assert msg is not None and "below 2 Delta = 352 ueV" in msg
        # the powers in watts (the power unit 1e-15 W), not in internal units
        assert f"absorbed {p_in * 1e-15:.3g} W, escaping {p_esc * 1e-15:.3g} W" in msg

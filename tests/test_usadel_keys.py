"""Usadel: the key numbers of a run in summary.json and on the driver's last log line
(issue 20 §2): Δ at the wire centre, the injected current, the charge and energy
balances of a steady state (fvqp.models.usadel.keys)."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from conftest import CASES, run_fvqp

V_INJ = 0.4e-3  # the open-wire case's injector bias [V]


def _open_wire(tmp_path, name, extra=""):
    text = (CASES / "usadel_open_wire.toml").read_text().replace(
        '"../meshes', f'"{CASES.parent}/meshes').replace("[selfconsistency]",
                                                          extra + "[selfconsistency]")
    p = tmp_path / f"{name}.toml"
    p.write_text(text)
    proc = run_fvqp(["run", p, "--output", tmp_path / name])
    return json.loads((tmp_path / name / "summary.json").read_text()), proc, tmp_path / name


@pytest.mark.parametrize("extra, charge_tol, energy_tol", [
    ("", 1e-12, 1e-9),  # measured 1.1e-16, 7.1e-12 (elastic: one linear solve)
    ("[collisions]\ngamma_ee = 2e-3\n", 1e-10, 1e-8),  # measured 7.7e-14, 1.8e-10 (Newton)
])
def test_steady_state_keys_balance(tmp_path, extra, charge_tol, energy_tol):
    """The open-wire case (S wire, zero-flux end, NIS injector at 0.4 mV), elastic and
    with e–e collisions (which conserve charge and energy): the summary's ``keys`` name
    Δ at the centre, the injected current, the charge and the energy imbalance; the
    injected current equals the junction's current of the summary, the charge injected
    equals that drained into the reservoir plus that converted to supercurrent, and the
    heat flow from the electrode equals the energy current into the reservoir (relative
    imbalances within the solver's tolerance); the heat flow is positive (the bias heats
    the wire) and below the electrical power I·V (above the gap the normal electrode is
    heated too); the key numbers stand on the driver's last log line."""
    s, proc, _ = _open_wire(tmp_path, "w", extra)
    assert s["keys"] == ["delta_centre_ueV", "x_centre_um", "injected_current_A",
                         "charge_imbalance_A", "energy_current_W", "energy_imbalance_W",
                         "reservoir_currents_A"]
    i = s["injected_current_A"]
    assert i == pytest.approx(s["junction_currents_A"]["junction"], rel=1e-12, abs=0)
    assert i > 0
    assert abs(s["charge_imbalance_A"]) < charge_tol * i
    q = s["energy_current_W"]
    assert 0.5 * i * V_INJ < q < i * V_INJ  # measured 0.80 I V
    assert abs(s["energy_imbalance_W"]) < energy_tol * q
    assert s["delta_centre_ueV"] == pytest.approx(265.0, rel=1e-12, abs=0)  # Δ fixed
    assert s["delta0_ueV"] == pytest.approx(265.0, rel=1e-12, abs=0)
    line = [m for m in proc.stderr.splitlines() if "fvqp.models.usadel.driver" in m][-1]
    assert f"injected_current_A = {i:.6g}" in line and "energy_imbalance_W" in line
    assert f"reservoir_currents_A = {{reservoir: {s['reservoir_currents_A']['reservoir']:.6g}}}" \
        in line


def test_steady_state_keys_in_si_by_fvqp_post(tmp_path):
    """fvqp.post reads the key numbers with their SI units from their names' suffixes,
    and the written energy grid in µeV is Δ0 × the solve's ε/Δ0 grid (max 4 Δ0, step
    0.01 Δ0 of the case)."""
    from fvqp.post.arrays import summary_quantities

    s, _, out = _open_wire(tmp_path, "w")
    q = summary_quantities(s)
    assert q["delta_centre_ueV"].unit == "J"
    assert q["delta_centre_ueV"].value == pytest.approx(265e-6 * 1.602176634e-19, rel=1e-12,
                                                         abs=0)
    assert q["energy_current_W"].unit == "W"
    with h5py.File(out / "w.h5") as f:
        e = f["energy_grid_ueV"][:]
        assert json.loads(f.attrs["units"])["energy_grid_ueV"] == "ueV"
    assert e.size == s["energies"] == 801
    assert np.allclose(e, np.linspace(-4, 4, 801) * 265.0, rtol=0, atol=1e-10)

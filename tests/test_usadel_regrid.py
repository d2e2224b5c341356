"""Usadel: collision integrals on graded energy grids (issue 20 §3), evaluated on a
uniform fine grid and restricted conservatively (fvqp.models.usadel.regrid)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse as sp

from conftest import CASES, run_fvqp
from fvqp.models.usadel.bulk import bulk_theta
from fvqp.models.usadel.collisions import (
    collision_integral,
    ee_rates,
    ep_collision_integral,
    ep_kernel_constant,
    ep_rates,
    kernel_constant,
)
from fvqp.models.usadel.energygrid import graded_grid, uniform_grid
from fvqp.models.usadel.regrid import FineGrid
from fvqp.models.usadel.terminals import n0
from fvqp.models.usadel.tunnel import cell_widths

T_REF = 0.2  # the reference (bath) temperature k_B T/Δ0


def _graded(h_max=0.04, h_min=0.002):
    e = graded_grid(h_max, h_min, 4.0)
    fine = FineGrid(e, t_ref=T_REF)
    th = bulk_theta(e, 1.0, 2e-3, 0.0)  # a Dynes superconductor, Γ = 2e-3 Δ0
    return e, fine, fine.prolong(np.cos(th).real), fine.prolong(np.sin(th).imag)


def _integrals(fine, N, R, fL, kind):
    fu = fine.prolong_fL(fL)
    if kind == "ee":
        return fine.restrict(collision_integral(fu, N, R, fine.de, kernel_constant(2e-3)))
    return fine.restrict(ep_collision_integral(fu, N, R, fine.de, ep_kernel_constant(1e-3),
                                               T_REF))


def test_transfer_reproduces_one_and_energy():
    """The fine grid spans the graded one in steps ≤ its smallest; the interpolation
    reproduces 1 and ε exactly, so the restriction keeps Σ h y and Σ h ε y of any y as
    the graded trapezoid sums Σ w (Ry), Σ w ε (Ry) to round-off."""
    e, fine, _, _ = _graded()
    assert fine.fine[0] == -4.0 and fine.fine[-1] == 4.0 and fine.de <= 0.002
    assert np.allclose(fine.prolong(np.ones_like(e)), 1.0, rtol=0, atol=1e-15)
    assert np.allclose(fine.prolong(e), fine.fine, rtol=0, atol=1e-14)
    y = np.random.default_rng(3).normal(size=(2, fine.fine.size))
    w, ry = cell_widths(e), fine.restrict(y)
    for m in (np.ones_like(e), e):
        mf = fine.prolong(m)
        assert np.allclose(ry @ (w * m), fine.de * y @ mf, rtol=1e-13, atol=0)


@pytest.mark.parametrize("kind", ["ee", "ep"])
def test_detailed_balance_on_the_graded_grid(kind):
    """Equilibrium at the reference temperature: the e–e and e–ph integrals of the
    graded grid vanish to round-off (measured 4.4e-14 / 6.8e-14 of the largest in + out
    rate, 6.7e-3 / 7.1e-2); at another temperature (1.5 t_ref, e–e) the residual is the
    interpolation error of the deviation from the reference, below 2e-6 of the rates
    (measured 6.1e-7)."""
    e, fine, N, R = _graded()
    fu = fine.prolong_fL(n0(e, T_REF))
    scale = kernel_constant(2e-3) * np.abs(sum(ee_rates(fu, N, R, fine.de))).max()
    if kind == "ep":
        scale = ep_kernel_constant(1e-3) * np.abs(sum(ep_rates(fu, N, R, fine.de,
                                                               T_REF))).max()
    c = _integrals(fine, N, R, n0(e, T_REF), kind)
    assert np.abs(c).max() < 1e-12 * scale
    if kind == "ee":
        c = _integrals(fine, N, R, n0(e, 1.5 * T_REF), kind)
        assert 0 < np.abs(c).max() < 2e-6 * scale


def test_ee_conserves_number_and_energy_on_the_graded_grid():
    """A nonequilibrium fL (a NIS electrode at 1.5 Δ0/e): Σ w I_L and Σ w ε I_L of the
    graded grid vanish to round-off (measured 6e-16 and 4e-15 of Σ w|ε I_L| = 5.9e-3),
    as on the uniform grid; the e–ph integral keeps the fine grid's energy loss
    exactly."""
    e, fine, N, R = _graded()
    fL = 0.5 * (n0(e + 1.5, T_REF) + n0(e - 1.5, T_REF))
    w = cell_widths(e)
    c = _integrals(fine, N, R, fL, "ee")
    scale = w @ np.abs(e * c)
    assert abs(w @ c) < 1e-12 * scale and abs(w @ (e * c)) < 1e-12 * scale
    fu = fine.prolong_fL(fL)
    cu = ep_collision_integral(fu, N, R, fine.de, ep_kernel_constant(1e-3), T_REF)
    c = fine.restrict(cu)
    assert w @ (e * c) == pytest.approx(fine.de * fine.fine @ cu, rel=1e-12, abs=0)


def _state(tmp_path, name, energy, collisions):
    from fvqp.case import load_case
    from fvqp.models.usadel.driver import build, internal_case
    from fvqp.models.usadel.observables import charge_balance, energy_balance
    from fvqp.models.usadel.selfconsistent import solve_state

    text = (CASES / "usadel_open_wire.toml").read_text().replace(
        '"../meshes', f'"{CASES.parent}/meshes').replace("spacing = 0.01", energy).replace(
        "[selfconsistency]", collisions + "[selfconsistency]")
    p = tmp_path / f"{name}.toml"
    p.write_text(text)
    setup, _ = build(internal_case(load_case(str(p))))
    kin = solve_state(setup).kinetic
    return setup.eps.size, energy_balance(kin), charge_balance(kin)["injected"]


@pytest.mark.slow
def test_graded_grid_with_collisions_matches_the_fine_uniform_grid(tmp_path):
    """The open-wire case (S wire, NIS injector at 0.4 mV = 1.51 Δ0/e) with e–e
    (γ_ee = 2e-3) and e–ph (τ0 = 438 ns) collisions on the graded grid (h_max 0.04,
    h_min 0.002: 261 energies) against the uniform δε = 0.0025 grid (3201): the
    injected current within 1e-4 (measured 1.0e-5), the injected energy current within
    2e-3 (measured 9.1e-4) and the energy lost to the phonons — injected minus drained
    into the reservoir, 0.1 % of the injected energy, a number of the collisions alone —
    within 3 % (measured 1.2 %), where the case's uniform δε = 0.01 grid (801) is 41 %
    off. ``[collisions] spacing = 0.01`` (a coarser collision grid) keeps the current
    (the same 1.0e-5) but loses the loss (measured 41 %, as the uniform δε = 0.01 grid's
    40.9 %; 19 % with the former restriction W⁻¹Pᵀh, whose R·1 ranged 0–5 there): the
    option takes effect and the default step h_min is the one that resolves the
    coherence peak."""
    coll = '[collisions]\ngamma_ee = 2e-3\ntau0 = "438 ns"\n'
    out = {name: _state(tmp_path, name, energy, coll) for name, energy in (
        ("g", 'grid = "graded"\nspacing = 0.04\nmin_spacing = 0.002'),
        ("f", "spacing = 0.0025"), ("u", "spacing = 0.01"))}
    out["c"] = _state(tmp_path, "c", 'grid = "graded"\nspacing = 0.04\nmin_spacing = 0.002',
                      coll + "spacing = 0.01\n")
    assert out["g"][0] == 261 and out["f"][0] == 3201

    def loss(name):
        eb = out[name][1]
        return eb["injected"] - eb["drained"]

    assert abs(out["g"][2] / out["f"][2] - 1) < 1e-4
    assert abs(out["g"][1]["injected"] / out["f"][1]["injected"] - 1) < 2e-3
    assert abs(loss("f")) > 5e-4 * abs(out["f"][1]["injected"])
    assert abs(loss("g") / loss("f") - 1) < 0.03
    assert abs(loss("u") / loss("f") - 1) > 10 * abs(loss("g") / loss("f") - 1)
    assert abs(out["c"][2] / out["f"][2] - 1) < 1e-4
    assert abs(loss("c") / loss("f") - 1) > 5 * abs(loss("g") / loss("f") - 1)


def test_graded_grid_with_ee_collisions_runs_and_conserves_energy(tmp_path):
    """A graded grid with e–e collisions by the CLI (was refused at validation): the
    run's energy balance — heat flow from the injector against the energy current into
    the reservoir, e–e scattering conserving energy under the graded trapezoid rule —
    closes to 1e-8 (measured 3.1e-10; 2.6e-11 with the former restriction W⁻¹Pᵀh), and
    the charge balance to 1e-10 (1.0e-15; 1.7e-14 before). On
    two ranks (the energies' blocks of one SNES, each rank restricting the fine-grid
    integrals of its nodes) the currents equal the serial run's to 1e-10 (measured
    0 and 4.7e-14)."""
    text = (CASES / "usadel_open_wire.toml").read_text().replace(
        '"../meshes', f'"{CASES.parent}/meshes').replace(
        "spacing = 0.01", 'grid = "graded"\nspacing = 0.04\nmin_spacing = 0.002').replace(
        "[selfconsistency]", "[collisions]\ngamma_ee = 2e-3\n[selfconsistency]")
    p = tmp_path / "c.toml"
    p.write_text(text)
    run_fvqp(["run", p, "--output", tmp_path / "o"])
    s = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert s["status"] == 0 and s["energies"] == 261
    assert abs(s["energy_imbalance_W"]) < 1e-8 * s["energy_current_W"]
    assert abs(s["charge_imbalance_A"]) < 1e-10 * s["injected_current_A"]
    run_fvqp(["run", p, "--output", tmp_path / "o2"], nproc=2)
    s2 = json.loads((tmp_path / "o2" / "summary.json").read_text())
    assert s2["ranks"] == 2
    for key in ("injected_current_A", "energy_current_W"):
        assert s2[key] == pytest.approx(s[key], rel=1e-10, abs=0)


@pytest.mark.parametrize("energy, spacing", [
    ("spacing = 0.01", "0.005"),  # a uniform grid has no separate collision grid
    ('grid = "graded"\nspacing = 0.04\nmin_spacing = 0.002', "0.08"),  # > largest step
])
def test_collision_spacing_is_checked(tmp_path, energy, spacing):
    """``[collisions] spacing`` is refused at validation (exit 2, naming the key and the
    fix) on a uniform grid and when coarser than the graded grid's largest step."""
    text = (CASES / "usadel_open_wire.toml").read_text().replace(
        '"../meshes', f'"{CASES.parent}/meshes').replace("spacing = 0.01", energy).replace(
        "[selfconsistency]", f"[collisions]\ngamma_ee = 2e-3\nspacing = {spacing}\n"
        "[selfconsistency]")
    p = tmp_path / "c.toml"
    p.write_text(text)
    proc = run_fvqp(["check", p], check=False)
    assert proc.returncode == 2
    assert "collisions.spacing" in proc.stderr and "Fix" in proc.stderr


@pytest.mark.parametrize("spacing", [None, 0.01])
def test_restriction_keeps_constants_and_the_number(spacing):
    """R = W⁻¹(M + C), M the exact overlap ∫φ_g χ_u of the graded and fine hat functions:
    a constant is restricted to itself at every graded node but the two outermost per end
    to 1e-12 (measured 1.8e-13 at the default step h_min = 0.002, 3.6e-13 at
    ``[collisions] spacing = 0.01``; the former W⁻¹Pᵀh gave R·1 ∈ [0.912, 1.086] and 0–5,
    with zero rows), and Σ_g w_g R_gu = h, Σ_g w_g ε_g R_gu = h ε_u for every fine column
    to 1e-12 (the number and energy of the uniform rule). The preconditioner diagonal is
    that of R diag(d) P."""
    e = graded_grid(0.04, 0.002, 4.0)
    fine = FineGrid(e, t_ref=T_REF, spacing=spacing)
    assert fine.de == pytest.approx(spacing or 0.002, rel=1e-12, abs=0)
    r1 = fine.restrict(np.ones(fine.fine.size))
    assert np.abs(r1[2:-2] - 1).max() < 1e-12
    assert np.abs(r1 - 1).max() < 0.3  # the end nodes: measured 0.045 and 0.24
    w = cell_widths(e)
    assert np.abs(fine.R.T @ w - fine.de).max() < 1e-12 * fine.de
    assert np.abs(fine.R.T @ (w * e) - fine.de * fine.fine).max() < 1e-12 * fine.de
    d = np.random.default_rng(5).normal(size=fine.fine.size)
    full = (fine.R @ sp.diags(d) @ fine.P).diagonal()
    assert np.allclose(fine.restrict_diagonal(d), full, rtol=1e-13, atol=1e-15)


def test_restricted_integral_converges_to_the_fine_uniform_one():
    """The e–e integral of a double-step fL (two Fermi steps at ±0.75 Δ0, t = 0.2) on a
    Dynes superconductor (Γ = 1e-2 Δ0) on three graded grids (h_max, h_min) = (0.04,
    0.004), (0.02, 0.002), (0.01, 0.001), against the uniform δε = 2.5e-4 reference
    interpolated to the graded nodes: the largest pointwise error, relative to the
    largest |I|, falls by more than 2 per halving (measured 1.43e-2, 5.70e-3, 2.43e-3);
    the former restriction W⁻¹Pᵀh stalled at 8–9e-2 (R·1 ≠ 1 near ±Δ0)."""
    gamma, t, K = 1e-2, 0.2, kernel_constant(2e-3)

    def fl(x):
        return 0.5 * (n0(x + 0.75, t) + n0(x - 0.75, t))

    def dos(x):
        th = bulk_theta(x, 1.0, gamma, 0.0)
        return np.cos(th).real, np.sin(th).imag

    h_ref = 2.5e-4
    e_ref = uniform_grid(h_ref, 4.0)
    i_ref = collision_integral(fl(e_ref), *dos(e_ref), h_ref, K)
    errors = []
    for h_max, h_min in ((0.04, 0.004), (0.02, 0.002), (0.01, 0.001)):
        e = graded_grid(h_max, h_min, 4.0)
        fine = FineGrid(e, t_ref=t)
        N, R = (fine.prolong(a) for a in dos(e))
        i_g = fine.restrict(collision_integral(fine.prolong_fL(fl(e)), N, R, fine.de, K))
        ref = np.interp(e, e_ref, i_ref)
        errors.append(np.abs(i_g - ref).max() / np.abs(ref).max())
    assert errors[0] > 2 * errors[1] > 4 * errors[2]
    assert errors[2] < 3e-3

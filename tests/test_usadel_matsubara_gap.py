"""The gap equation (Eq. 8) by a Matsubara sum on the wire network, the BCS ratio
Δ0/k_BT_c = 1.764 from the coupling, and the case keys of the coupling (issue 20, §3)."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from conftest import CASES, run_fvqp
from fvqp.models.usadel.energygrid import uniform_grid
from fvqp.models.usadel.matsubara import (
    critical_temperature,
    matsubara_gap,
    matsubara_weights,
)
from fvqp.models.usadel.network import uniform_wire
from fvqp.models.usadel.observables import coupling_constant, equilibrium_gap_integral
from fvqp.models.usadel.selfconsistent import Setup, gap_equation, solve_state
from fvqp.models.usadel.spectral import SpectralProblem, solve_spectral
from fvqp.models.usadel.terminals import Reservoir, TunnelJunction, n0

#: BCS weak coupling Δ0/k_BTc = π e^{-γ_E}
BCS = np.pi * np.exp(-np.euler_gamma)


def test_matsubara_weights_put_the_cutoff_at_omega_d():
    """2πt Σ w_n over the cells is exactly ω_D at any t (the midpoint rule of ∫_0^{ω_D}),
    and the frequencies are the fermionic (2n+1)πt."""
    for t in (0.013, 0.1, 0.57):
        w, wt = matsubara_weights(t, 10.0)
        assert 2 * np.pi * t * wt.sum() == pytest.approx(10.0, rel=1e-13)
        assert np.allclose(w / (np.pi * t), 2 * np.arange(w.size) + 1, rtol=1e-13, atol=0)


def test_bcs_ratio_from_the_coupling():
    """T_c of the linearised Matsubara gap equation and Δ(T → 0) = Δ0 (λ = 1/arcsinh ω_D)
    give Δ0/k_BT_c → π e^{-γ_E} = 1.7639 to the cut-off's accuracy: relative errors
    7.7e-3, 1.4e-3, 1.4e-5 for ω_D = 10, 30, 100 Δ0 (decreasing; below 3e-5 at 100)."""
    err = [abs(1.0 / critical_temperature(coupling_constant(wd), wd) / BCS - 1)
           for wd in (10.0, 30.0, 100.0)]
    assert err[0] > err[1] > err[2] and err[2] < 3e-5 and err[0] < 1e-2


def test_equilibrium_wire_at_low_temperature_has_the_bcs_gap():
    """A superconducting wire between S reservoirs in equilibrium at t = 0.005, Δ by
    local self-consistency with the Matsubara method (ω_D = 100): the gap is Δ0 on every
    node to 1e-6, so Δ/k_BT_c with T_c from the same coupling is 1.764 to 3e-5; the
    nonequilibrium (real-axis) part of Eq. 8 is zero to the round-off of the kinetic
    solve below the gap (D_L ≈ 0; measured 7e-12)."""
    t, wd = 0.005, 100.0
    net = uniform_wire(10.0, 10)
    res = [Reservoir("l", 0, "superconductor", temperature=t),
           Reservoir("r", 10, "superconductor", temperature=t)]
    prob = SpectralProblem(net, 0.9, reservoirs=res)  # start off the solution
    prob.delta[[0, 10]] = 1.0
    setup = Setup(problem=prob, eps=uniform_grid(0.02, 3.0), reservoirs=res, junctions=[],
                  omega_d=wd, t_ref=t, gap_method="matsubara", tol=1e-10)
    st = solve_state(setup)
    assert np.abs(st.delta - 1.0).max() < 1e-6
    ratio = st.delta[5] / critical_temperature(setup.lam, wd)
    assert ratio == pytest.approx(BCS, rel=3e-5)
    spec = st.kinetic.spectral
    eq = matsubara_gap(spec.problem, t, wd, setup.lam)
    assert np.abs(gap_equation(setup, spec, st.kinetic.fL) - eq).max() < 1e-10


def test_matsubara_sum_equals_the_real_axis_integral():
    """Bulk BCS (Γ = 0) at t = 0.02: the Matsubara sum of Eq. 8 equals the real-axis
    integral ½∫Im F tanh(ε/2t) up to the difference of the two cut-offs,
    arcsinh ω_D − arccosh ω_D (5.0e-3 at ω_D = 10), to 1e-4 (measured 6.6e-5)."""
    net = uniform_wire(4.0, 4)
    m = matsubara_gap(SpectralProblem(net, 1.0), 0.02, 10.0, 1.0)[2]
    r = 0.5 * equilibrium_gap_integral(1.0, 0.0, 0.0, 0.02, 10.0)
    assert m - r == pytest.approx(np.arcsinh(10.0) - np.arccosh(10.0), abs=1e-4)


def _injector_state(method, bias, t=0.02, gamma=0.02):
    """Δ (uniform mode, from fL at the injector) of a 20 ξ wire between S reservoirs with
    an injector at its middle; λ chosen so that each method's T = 0 bulk gap is Δ0."""
    net = uniform_wire(20.0, 20, points={"inj": 0.0})
    res = [Reservoir("l", 0, "superconductor", temperature=t),
           Reservoir("r", 20, "superconductor", temperature=t)]
    jun = [TunnelJunction("inj", net.node("inj"), 0.05, bias=bias, temperature=t)]
    prob = SpectralProblem(net, 1.0, gamma=gamma, reservoirs=res, junctions=jun)
    lam = 1 / np.arccosh(10.0) if method == "real_axis" else 1 / np.arcsinh(10.0)
    s = Setup(problem=prob, eps=uniform_grid(0.02, 10.0), reservoirs=res, junctions=jun,
              omega_d=10.0, coupling=lam, t_ref=t, gap_method=method,
              selfconsistency="uniform", probe_node=net.node("inj"), tol=1e-9,
              max_iter=100)
    return solve_state(s).delta[net.node("inj")]


@pytest.mark.slow
def test_nonequilibrium_gap_agrees_with_the_real_axis_method():
    """An injector at 1.5 Δ0 suppresses Δ to ~0.55: the Matsubara method (equilibrium by
    the Matsubara sum + the real-axis nonequilibrium part) gives the real-axis method's
    Δ(V)/Δ(0) to 5e-3 (measured 3.3e-3 on this grid, δε = 0.02 and 20 cells; 1.2e-3 at
    δε = 0.01 and 40 cells: the real-axis quadrature of both; Δ(0) itself differs by the
    Dynes tails beyond the two cut-offs, 0.5 %)."""
    r = [_injector_state(m, v) for m in ("real_axis", "matsubara") for v in (0.0, 1.5)]
    assert r[1] < 0.7 * r[0]
    assert r[3] / r[2] == pytest.approx(r[1] / r[0], rel=5e-3)


def test_nonequilibrium_part_vanishes_for_the_equilibrium_distribution():
    """gap_equation − matsubara_gap is exactly the real-axis Eq. 8 of f_L − tanh: zero for
    f_L = tanh (bit for bit), linear in f_L − tanh, and negative for an excess of
    quasiparticles (|f_L| lowered above the gap)."""
    t = 0.05
    net = uniform_wire(6.0, 6)
    res = [Reservoir("l", 0, "superconductor", temperature=t)]
    prob = SpectralProblem(net, 1.0, gamma=0.01, reservoirs=res)
    eps = uniform_grid(0.02, 4.0)
    spec = solve_spectral(prob, eps)
    s = Setup(problem=prob, eps=eps, reservoirs=res, junctions=[], omega_d=10.0,
              t_ref=t, gap_method="matsubara")
    eq = matsubara_gap(spec.problem, t, 10.0, s.lam, 0.01)
    f0 = np.broadcast_to(n0(eps, t)[:, None], spec.N.shape).copy()
    assert np.array_equal(gap_equation(s, spec, f0), eq)
    bump = (np.sign(eps) * np.exp(-((np.abs(eps) - 1.5) / 0.2) ** 2))[:, None] * \
        np.ones(spec.N.shape[1])  # odd in ε like f_L: quasiparticles at 1.5 Δ0
    d1 = gap_equation(s, spec, f0 - 0.1 * bump) - eq
    d2 = gap_equation(s, spec, f0 - 0.2 * bump) - eq
    assert np.all(d1 < 0) and np.allclose(d2, 2 * d1, rtol=1e-10, atol=0)


def test_case_matsubara_with_the_debye_temperature_of_the_material(tmp_path):
    """The open-wire case with Δ self-consistent by the Matsubara method and ω_D from Al's
    Debye temperature (428 K: ω_D ≈ 207 Δ0, no real-axis grid up to there): the gap away
    from the injector at 30 mK is the material's 1.764 k_B T_c (Δ0 of the case) within
    the Dynes suppression (0.2 µeV broadening: measured −0.12 %, uniform along the wire)."""
    text = (CASES / "usadel_open_wire.toml").read_text().replace(
        '"../meshes', f'"{CASES.parent}/meshes').replace(
        'gap = "265 ueV"\n', '').replace('"0.405 ueV"', '"0.2 ueV"').replace(
        'bias = "0.4 mV"', 'bias = "0 mV"').replace(
        'mode = "none"', 'mode = "uniform"\nprobe = "junction"\nmethod = "matsubara"\n'
        'debye_from_material = true').replace('"50 mK"', '"30 mK"').replace(
        'spacing = 0.01\nmax = 4.0', 'spacing = 0.02')
    p = tmp_path / "m.toml"
    p.write_text(text)
    run_fvqp(["run", p, "--output", tmp_path / "o"])
    s = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert s["status"] == 0 and s["energies"] < 500  # ±4 Δ0, not ±ω_D
    from fvqp.materials import get_material
    from fvqp.units import E_CHARGE, K_B

    al = get_material("Al")
    bcs_uev = BCS * K_B * al.Tc / (E_CHARGE * 1e-6)
    with h5py.File(tmp_path / "o" / "m.h5") as f:
        gap = f["gap_ueV"][:]
    assert np.median(gap) == pytest.approx(bcs_uev, rel=3e-3, abs=0)
    assert np.median(gap) < bcs_uev

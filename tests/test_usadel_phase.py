"""Phase-biased real-energy Usadel solver (S reservoirs at different phases): SNS minigap,
supercurrent against the Matsubara solver and Dubos et al., current conservation,
second-order convergence, kinetic equations with the actual ∂xχ."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from conftest import MESHES
from fvqp.mesh import read_mesh
from fvqp.models.usadel import matsubara
from fvqp.models.usadel.bulk import bulk_theta
from fvqp.models.usadel.kinetic import solve_linear
from fvqp.models.usadel.network import network_from_mesh, uniform_wire
from fvqp.models.usadel.observables import (
    charge_balance,
    charge_current,
    energy_balance,
    integrate,
    supercurrent,
)
from fvqp.models.usadel.phase import PhaseProblem, solve_phase
from fvqp.models.usadel.spectral import SpectralProblem, solve_spectral
from fvqp.models.usadel.terminals import Reservoir, TunnelJunction, n0

#: reservoir gap in units of E_Th: Δ ≫ E_Th (the limit of Zhou et al. and Dubos et al.)
BIG = 1e5


def _sns(n, phi, gamma, delta=BIG, length=1.0):
    """Normal wire of length 1 (energies in E_Th = ħD/L², lengths in L) between S
    reservoirs at phases ∓φ/2."""
    net = uniform_wire(length, n, x0=0.0)
    res = [Reservoir("l", 0, "superconductor", delta=delta, phase=-phi / 2),
           Reservoir("r", n, "superconductor", delta=delta, phase=phi / 2)]
    return PhaseProblem(net, np.zeros(n + 1), gamma=gamma, reservoirs=res)


def _minigap(n, phi, top=3.3, gamma=1e-5, level=0.02):
    """Energy where the DOS in the middle of the wire first exceeds ``level`` (square-root
    edge: within (level/A)² above the edge), bracketed on a coarse grid below ``top``,
    refined twice."""
    p = _sns(n, phi, gamma)
    e = np.arange(0.05, top, 0.05)
    for _ in range(3):
        N = solve_phase(p, e).N[:, n // 2]
        k = int(np.argmax(N > level))
        assert k > 0
        e = np.linspace(e[k - 1], e[k], 21)
    N = solve_phase(p, e).N[:, n // 2]
    return float(np.interp(level, N, e))


def _current(n, phi, gamma, t, eps):
    """e R_N I / E_Th = ½∫ j_ε tanh(ε/2t) dε over the whole axis (Eq. 6 normalisation,
    L = 1): j_ε is odd in ε (tested below), so twice the integral over ε > 0."""
    s = solve_phase(_sns(n, phi, gamma), eps)
    f = np.tanh(eps / (2 * t)) if t > 0 else np.sign(eps)
    return float(integrate(s.edge_js.mean(axis=1) * f, eps))


def _grid(de):
    return np.concatenate([np.arange(0.0, 20.0, de), np.geomspace(20.0, 300.0, 60)[1:]])


def test_sns_minigap_and_its_closing_with_phase():
    """(a) Long SNS wire, Δ ≫ E_Th: minigap in the middle E_g = 3.12 E_Th at φ = 0
    (Zhou, Charlat, Spivak, Pannetier, JLTP 110, 841 (1998); Richardson 40/80 cells), and
    E_g decreases with φ (obtained E_g/E_g(0) = 0.77, 0.54, 0.39, 0.22 at φ/π = 0.5, 0.7,
    0.8, 0.9) and extrapolates linearly from 0.8π, 0.9π to ≈ 0 at φ = π (0.04 E_g(0); the
    θ-χ parametrisation is singular at φ = π itself)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        g40, g80 = _minigap(40, 0.0), _minigap(80, 0.0)
        eg0 = (4 * g80 - g40) / 3
        assert eg0 == pytest.approx(3.122, abs=0.004)
        gaps = [g40]
        for f in (0.5, 0.7, 0.8, 0.9):
            gaps.append(_minigap(40, f * np.pi, top=1.1 * gaps[-1]))
    assert np.all(np.diff(gaps) < -0.2)
    assert gaps[-1] < 0.25 * eg0
    at_pi = gaps[-1] + (gaps[-1] - gaps[-2])
    assert abs(at_pi) < 0.06 * eg0


def test_sns_supercurrent_real_energy_vs_matsubara_second_order():
    """(b), (d) Equilibrium supercurrent at t = E_Th, φ = 2, Dynes Γ = 0.1 E_Th everywhere,
    from the real-energy spectral current ½∫ j_ε tanh(ε/2t) dε, against the Matsubara
    solver 2πt Σ J(ω_n + Γ) (the exact image of the Γ-broadened real-axis integral):
    both Richardson-extrapolated in x agree to 2e-4 (obtained 6e-5); the real-energy
    result converges at second order (error ratio 4.0 per halving)."""
    t, gam, phi = 1.0, 0.1, 2.0
    e = _grid(0.05)
    i20, i40, i80 = (_current(n, phi, gam, t, e) for n in (20, 40, 80))
    assert 3.8 < (i20 - i40) / (i40 - i80) < 4.2
    real = (4 * i80 - i40) / 3
    m40, m80 = (matsubara.supercurrent_sum(phi, t, n, BIG, gam) for n in (40, 80))
    mats = (4 * m80 - m40) / 3
    assert real == pytest.approx(mats, rel=2e-4)
    assert real == pytest.approx(9.94, abs=0.01)


@pytest.mark.slow
def test_sns_critical_current_dubos():
    """(b) T → 0, Δ ≫ E_Th, at the critical phase φ_c = 2.0 (Matsubara test; I(φ) is flat
    there to 2e-4): real-energy e R_N I_c extrapolated in x (40/80 cells, second order)
    and in the Dynes Γ (0.1, 0.2 E_Th; I(Γ) = I(0) − Γ J(ω=0) + O(Γ²)) is 10.82 E_Th
    (Dubos et al., PRB 63, 064502 (2001)); obtained 10.826."""
    e = _grid(0.05)
    rich = {}
    for gam in (0.1, 0.2):
        a, b = (_current(n, 2.0, gam, 0.0, e) for n in (40, 80))
        rich[gam] = (4 * b - a) / 3
    ic = 2 * rich[0.1] - rich[0.2]
    assert ic == pytest.approx(10.82, rel=1e-3)


def test_spectral_current_conserved_kirchhoff_and_zero_phase_limit():
    """(c) In a normal wire the discrete spectral current g sin²θ̄ Δχ is the same on every
    edge to round-off (1e-12 relative); at the node of the Y network with three S
    reservoirs at different phases the currents balance (Kirchhoff); j_ε is odd in ε; at
    φ = 0 the solution is the one of the imposed-gradient solver with χ = 0."""
    e = np.linspace(-8, 8, 161)
    s = solve_phase(_sns(60, 1.3, 0.05), e)
    js = s.edge_js
    assert np.abs(js).max() > 0.1
    assert np.abs(js - js.mean(axis=1, keepdims=True)).max() < 1e-12 * np.abs(js).max()
    assert np.allclose(js, -js[::-1], atol=1e-12 * np.abs(js).max())
    s0 = solve_phase(_sns(60, 0.0, 0.05), e)
    ref = solve_spectral(_sns(60, 0.0, 0.05).zero_phase(), e)
    assert np.abs(s0.chi).max() < 1e-12
    assert np.allclose(s0.theta, ref.theta, atol=1e-11)
    y = network_from_mesh(read_mesh(MESHES / "wire_network" / "wire_network.msh"), xi=0.5)
    res = [Reservoir(f"e{k}", y.node(f"end_{k}"), "superconductor", delta=1.0,
                     phase=ph) for k, ph in ((1, 0.0), (2, 2.0), (3, -1.5))]
    delta = np.zeros(y.n_nodes)
    delta[[r.node for r in res]] = 1.0
    sy = solve_phase(PhaseProblem(y, delta, gamma=0.02, reservoirs=res),
                     np.array([0.05, 0.2, 0.5, 1.2]))
    scale = np.abs(sy.edge_js).max()
    assert scale > 1e-3
    # net spectral current out of every normal node (incl. the 3-wire node) vanishes to
    # the Newton tolerance (1e-11 on the residual, of which this is the χ-equation part)
    free = np.setdiff1d(np.arange(y.n_nodes), [r.node for r in res])
    assert np.abs(sy.node_RL[:, free]).max() < 2e-11


def test_phase_solver_reproduces_imposed_gradient_in_a_long_s_wire():
    """A superconducting wire (20 ξ) between S reservoirs at ∓3 rad: in the middle the
    phase solver (χ solved for, Δ with the linear phase) gives the DOS of the
    imposed-gradient solver (∂xφ = 0.3) and of the Abrikosov–Gor'kov bulk with
    ζ = (∂xφ)²/2 (Eq. 7) away from the gap edge, and the spectral supercurrent
    Im F² ∂xφ (Eq. 6). (At the gap edge, where the decay lengths diverge, the two
    models differ: the phase relaxes there, χ − φ up to 0.2.)"""
    L, n, phi = 20.0, 200, 6.0
    net = uniform_wire(L, n, x0=0.0)
    res = [Reservoir("l", 0, "superconductor", delta=1.0, phase=-phi / 2),
           Reservoir("r", n, "superconductor", delta=1.0, phase=phi / 2)]
    e = np.array([0.3, 0.5, 0.6, 1.3, 1.5, 2.0])
    sp_ = solve_phase(PhaseProblem(net, 1.0, gamma=0.01, reservoirs=res), e)
    si = solve_spectral(SpectralProblem(net, 1.0, gamma=0.01, dphi=phi / L,
                                        reservoirs=res), e)
    m = n // 2
    bulk = np.cos(bulk_theta(e, 1.0, 0.01, (phi / L) ** 2 / 2)).real
    assert np.allclose(sp_.N[:, m], si.N[:, m], atol=2e-5)
    assert np.allclose(sp_.N[:, m], bulk, atol=2e-5)
    assert np.allclose(sp_.jeps[:, m], si.jeps[:, m] * phi / L, atol=1e-4)


def test_kinetic_equations_with_actual_phase_gradient():
    """Kinetic equations with the solution's ∂xχ (cross term 𝒯 and R_L = ∂x j_ε included):
    (1) equilibrium fL = tanh, fT = 0 is the exact discrete solution, in a normal and in a
    superconducting wire between S reservoirs at different phases; its charge current is
    the spectral supercurrent, constant along the normal wire; (2) with a biased tunnel
    junction: injected = drained + converted (incl. ∫R_L fL) to round-off, and in the
    normal wire the injected energy current leaves through the reservoirs (L-mode flux
    with −𝒯∂fT + j_ε fT)."""
    n, t = 60, 0.1
    net = uniform_wire(6.0, n, x0=0.0, points={"j": 2.0})
    res = [Reservoir("l", 0, "superconductor", delta=1.0, phase=-0.6, temperature=t),
           Reservoir("r", n, "superconductor", delta=1.0, phase=0.6, temperature=t)]
    e = np.linspace(-3, 3, 301)
    dN = np.zeros(n + 1)
    dN[[0, n]] = 1.0
    for delta, bias in ((dN, 0.3), (1.0, 1.5)):
        jun = [TunnelJunction("j", net.node("j"), 0.05, bias=bias, temperature=t)]
        s = solve_phase(PhaseProblem(net, delta, gamma=0.01, reservoirs=res,
                                     junctions=jun), e)
        assert np.abs(s.cross).max() > 1e-2  # complex χ: the cross term is active
        k0 = solve_linear(s, res, [])
        assert np.abs(k0.fL - n0(e, t)[:, None]).max() < 1e-11
        assert np.abs(k0.fT).max() < 1e-12
        i_c = charge_current(k0)
        assert np.allclose(i_c, -supercurrent(s, k0.fL), rtol=1e-10)
        if np.ndim(delta):
            assert np.abs(i_c - i_c.mean()).max() < 1e-10 * abs(i_c.mean())
        kin = solve_linear(s, res, jun)
        cb = charge_balance(kin)
        if np.ndim(delta):  # normal wire: no R_L, the L mode conserves energy per ε
            eb = energy_balance(kin)
            assert abs(eb["injected"]) > 1e-4
            assert eb["drained"] == pytest.approx(eb["injected"], rel=1e-9)
        total = cb["converted"] + sum(cb["drained"].values())
        assert abs(cb["injected"]) > 1e-3
        assert total == pytest.approx(cb["injected"], rel=1e-10, abs=1e-15)


def test_inelastic_kinetics_with_phase_biased_spectra():
    """The collisional (x, ε) Newton–Krylov solve accepts phase-biased spectral functions:
    charge balance to round-off with e–e collisions in an S wire between reservoirs at
    ∓0.6 rad, and collisions change fL (they are active)."""
    from fvqp.models.usadel.inelastic import solve_inelastic

    n, t = 40, 0.1
    net = uniform_wire(10.0, n, x0=0.0, points={"j": 2.0})
    res = [Reservoir("l", 0, "superconductor", delta=1.0, phase=-0.6, temperature=t),
           Reservoir("r", n, "superconductor", delta=1.0, phase=0.6, temperature=t)]
    jun = [TunnelJunction("j", net.node("j"), 0.05, bias=2.0, temperature=t)]
    e = np.arange(-4, 4.0001, 0.05)
    s = solve_phase(PhaseProblem(net, 1.0, gamma=0.01, reservoirs=res, junctions=jun), e)
    k = solve_inelastic(s, res, jun, 1e-2)
    assert np.abs(k.fL - solve_linear(s, res, jun).fL).max() > 1e-2
    cb = charge_balance(k)
    total = cb["converted"] + sum(cb["drained"].values())
    assert total == pytest.approx(cb["injected"], rel=1e-9)

"""Kinetic equations for fL, fT: analytic charge imbalance, conservation, collisions."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import scipy.sparse.linalg as spla

from fvqp.models.usadel.collisions import collision_integral, ee_rates, kernel_constant
from fvqp.models.usadel.inelastic import solve_inelastic
from fvqp.models.usadel.kinetic import assemble, solve_linear
from fvqp.models.usadel.network import uniform_wire
from fvqp.models.usadel.observables import (
    charge_balance,
    charge_imbalance_potential,
    detector_current,
    energy_balance,
    gnl_spectral_eq21,
    integrate,
)
from fvqp.models.usadel.spectral import SpectralProblem, solve_spectral, uniform_solution
from fvqp.models.usadel.terminals import Reservoir, TunnelJunction, n0
from fvqp.spectra.gap import BCS_GAP_RATIO

T_C_BCS = 1 / BCS_GAP_RATIO  # k_B T_c / Δ0 of weak-coupling BCS


def _device(n, half=30.0, gamma=0.02, kappa=2e-3, bias=0.0, dphi=0.0, t=0.05, det=4.8,
            spectral_tunnel=False, junctions=None):
    net = uniform_wire(2 * half, n, points={"inj": 0.0, "det": det})
    res = [Reservoir("left", 0, "superconductor", temperature=t),
           Reservoir("right", n, "superconductor", temperature=t)]
    jun = junctions or [TunnelJunction("inj", net.node("inj"), kappa, bias=bias,
                                       temperature=t)]
    prob = SpectralProblem(net, 1.0, gamma=gamma, dphi=dphi, reservoirs=res, junctions=jun,
                           spectral_tunnel=spectral_tunnel)
    return net, prob, res, jun


def _spectral_gnl(n, eps):
    """N fT at the detector per unit fT of the injector electrode (linear response)."""
    net, prob, res, jun = _device(n)
    s = solve_spectral(prob, eps)
    op = assemble(s, res, jun, cell_average=False)  # per-energy problem (Eq. 20)
    b = np.zeros((eps.size, 2, net.n_nodes))
    i = net.node("inj")
    b[:, 1, i] = -jun[0].kappa * s.N[:, i]
    u = spla.spsolve(op.A.tocsc(), b.ravel()).reshape(eps.size, 2, -1)
    return s.N[:, net.node("det")] * u[:, 1, net.node("det")]


def test_charge_imbalance_matches_eq21_second_order():
    """Numerical Eqs. 9-10 vs the analytic Eqs. 20-21 (finite wire form) at 20 energies:
    second order in x (error ratio 4 per halving), the raw solution on 6400 cells within
    1e-6 of Eq. 21 (measured 4.7e-7), and its Richardson extrapolate from 1600/3200 cells
    (the continuum limit of the discretisation) within 1e-9 (measured 7e-11)."""
    eps = np.linspace(1.1, 3.0, 20)
    exact = gnl_spectral_eq21(uniform_solution(eps, 1.0, 0.02), 4.8, 1e-3, length=30.0)
    g1, g2, g3 = (_spectral_gnl(n, eps) for n in (1600, 3200, 6400))
    e1, e2, e3 = (np.abs(g / exact - 1).max() for g in (g1, g2, g3))
    assert 3.8 < e1 / e2 < 4.2 and 3.8 < e2 / e3 < 4.2
    assert e3 < 1e-6
    rich = (4 * g2 - g1) / 3
    assert np.abs(rich / exact - 1).max() < 1e-9


def test_eq21_is_the_long_wire_limit():
    eps = np.linspace(1.2, 2.0, 5)
    us = uniform_solution(eps, 1.0, 0.05)
    assert np.allclose(gnl_spectral_eq21(us, 3.0, 1e-3, length=400.0),
                       gnl_spectral_eq21(us, 3.0, 1e-3), rtol=1e-12)


def test_charge_conservation_with_supercurrent_coupling():
    """Injected tunnel current = drained at the reservoirs + converted (∫∫R_T fT/2), with
    two biased junctions, a phase gradient (fL-fT mixing) and inverse proximity."""
    net = uniform_wire(20.0, 200, points={"a": -1.0, "b": 2.0})
    res = [Reservoir("l", 0, "superconductor", temperature=0.05),
           Reservoir("r", 200, "superconductor", temperature=0.05)]
    jun = [TunnelJunction("a", net.node("a"), 3e-3, bias=1.7, temperature=0.05),
           TunnelJunction("b", net.node("b"), 2e-3, bias=-0.6, temperature=0.08)]
    prob = SpectralProblem(net, 1.0, gamma=3e-3, dphi=0.3, reservoirs=res, junctions=jun)
    eps = np.linspace(-4, 4, 801)
    kin = solve_linear(solve_spectral(prob, eps), res, jun)
    cb = charge_balance(kin)
    total = cb["converted"] + sum(cb["drained"].values())
    assert abs(cb["injected"]) > 1e-4
    assert abs(cb["converted"]) > 1e-3 * abs(cb["injected"])
    assert total == pytest.approx(cb["injected"], rel=1e-9, abs=1e-14)


def test_supercurrent_mixes_modes_odd_in_phase_gradient():
    """With ∂xφ the energy-mode injection produces fT (Eq. 10 coupling), odd in ∂xφ."""
    eps = np.linspace(-3, 3, 301)
    out = {}
    for d in (0.2, -0.2, 0.0):
        net, prob, res, jun = _device(200, half=10.0, gamma=3e-3, dphi=d, bias=2.0)
        kin = solve_linear(solve_spectral(prob, eps), res, jun)
        out[d] = charge_imbalance_potential(kin)[net.node("det")]
    # fT from the L mode: the symmetric part is the plain charge imbalance, the
    # antisymmetric one is the mixing term, nonzero and odd
    mix = 0.5 * (out[0.2] - out[-0.2])
    assert abs(mix) > 1e-3 * abs(out[0.0])


def test_energy_grid_independence():
    """μ_Q* at the detector with δε = 1/40 and 1/80 agree to 1e-3 (relative)."""
    vals = []
    for de in (1 / 40, 1 / 80):
        eps = np.arange(-5, 5 + de / 2, de)
        net, prob, res, jun = _device(120, half=12.0, gamma=0.01, kappa=1e-3, bias=2.0,
                                      t=0.1, det=3.0)
        kin = solve_linear(solve_spectral(prob, eps), res, jun)
        vals.append(charge_imbalance_potential(kin)[net.node("det")])
    assert vals[0] == pytest.approx(vals[1], rel=1e-3)


def test_zero_subgap_diffusion_is_handled():
    """Γ = ζ = 0: D_L = 0 below the gap exactly; the solve stays finite and fL keeps the
    reservoirs' equilibrium there (no quasiparticle states to inject into)."""
    eps = np.linspace(-2, 2, 81)
    net, prob, res, jun = _device(60, half=6.0, gamma=0.0, bias=1.5, t=0.05)
    s = solve_spectral(prob, eps)
    assert np.abs(s.DL[np.abs(eps) < 0.9]).max() < 1e-12
    kin = solve_linear(s, res, jun)
    sub = np.abs(eps) < 0.9
    assert np.all(np.isfinite(kin.fL)) and np.all(np.isfinite(kin.fT))
    assert np.allclose(kin.fL[sub], n0(eps[sub], 0.05)[:, None], atol=1e-9)


# --- collision integral ----------------------------------------------------------------

def test_collision_integral_equilibrium_rate_and_energy():
    de = 1 / 80
    e = np.arange(-800, 801) * de
    K = kernel_constant(2e-4)
    # normal state at Tc: the in+out rate at ε = 0 is γ_ee (definition of γ_ee, Sec. V)
    fL = np.tanh(e / (2 * T_C_BCS))
    I, O = ee_rates(fL, np.ones_like(e), np.zeros_like(e), de)
    assert K * (I[800] + O[800]) == pytest.approx(2e-4, rel=1e-4)
    assert K * O[800] == pytest.approx(1e-4, rel=1e-4)  # lifetime 2 τ_ee (docs)
    # superconductor: zero for any equilibrium, energy conserved out of equilibrium
    s = uniform_solution(e, 1.0, 5e-3)
    N, R = s.N[:, 0], s.imF[:, 0]
    assert np.abs(collision_integral(np.tanh(e / 0.1), N, R, de, K)).max() < 1e-15
    f2 = np.tanh(e / 0.1)
    f2[(np.abs(e) > 3.5) & (np.abs(e) < 3.7)] *= 0.5
    c = collision_integral(f2, N, R, de, K)
    assert np.abs(c).max() > 1e-6
    assert abs(integrate(e * c, e)) < 1e-10 * integrate(np.abs(e * c), e)


def test_pair_breaking_threshold_at_three_delta():
    """In an empty BCS superconductor a quasiparticle can only relax by breaking a pair,
    which needs ε ≥ 3Δ: the out-scattering rate jumps there."""
    de = 1 / 100
    e = np.arange(-700, 701) * de
    s = uniform_solution(e, 1.0, 1e-5)
    fL = np.sign(e) * 1.0  # T = 0, no quasiparticles
    _, O = ee_rates(fL, s.N[:, 0], s.imF[:, 0], de)
    below = O[(e > 1.2) & (e < 2.9)]
    above = O[(e > 3.1) & (e < 4.0)]
    assert below.max() < 1e-3 * above.min()


def test_inelastic_newton_energy_conservation_and_weak_limit():
    """SNES on the whole (x, ε) system: energy injected = energy drained (e–e collisions
    conserve energy) and γ_ee -> 0 recovers the collisionless solution linearly."""
    eps = np.arange(-240, 241) / 40
    net, prob, res, jun = _device(40, half=10.0, gamma=5e-3, kappa=2e-3, bias=4.0, t=0.02,
                                  det=5.0)
    s = solve_spectral(prob, eps)
    lin = solve_linear(s, res, jun)
    k1 = solve_inelastic(s, res, jun, 2e-4)
    k2 = solve_inelastic(s, res, jun, 1e-4)
    assert k1.newton_iterations <= 6
    eb = energy_balance(k1)
    assert eb["drained"] == pytest.approx(eb["injected"], rel=1e-9)
    d1, d2 = np.abs(k1.fL - lin.fL).max(), np.abs(k2.fL - lin.fL).max()
    assert d1 > 1e-3
    assert d1 / d2 == pytest.approx(2.0, rel=0.05)


def test_y_network_kirchhoff():
    """Y network (meshes/wire_network): a normal reservoir at bias on wire 1, S reservoirs
    on wires 2, 3. The charge entering from the N end leaves at the S ends or is converted
    (Kirchhoff at the 3-wire node), and the energy mode splits between the S branches."""
    from conftest import MESHES
    from fvqp.mesh import read_mesh
    from fvqp.models.usadel.network import network_from_mesh

    y = network_from_mesh(read_mesh(MESHES / "wire_network" / "wire_network.msh"), xi=0.2)
    res = [Reservoir("end_1", y.node("end_1"), "normal", bias=1.5, temperature=0.05),
           Reservoir("end_2", y.node("end_2"), "superconductor", temperature=0.05),
           Reservoir("end_3", y.node("end_3"), "superconductor", temperature=0.05)]
    prob = SpectralProblem(y, 1.0, gamma=2e-3, reservoirs=res)
    eps = np.linspace(-3, 3, 241)
    kin = solve_linear(solve_spectral(prob, eps), res, [])
    cb = charge_balance(kin)
    d = cb["drained"]
    assert d["end_1"] < 0 < d["end_2"] and d["end_3"] > 0  # in at N, out at S
    assert sum(d.values()) + cb["converted"] == pytest.approx(0.0, abs=1e-12 * abs(d["end_1"]))
    # the shorter S branch (3 um vs 4 um) drains more of the quasiparticle current
    assert d["end_2"] > d["end_3"]


# --- electron-phonon (optional term) ------------------------------------------------------

def test_electron_phonon_integral_limits():
    """Detailed balance with the phonon bath, P ∝ T_e^5 in the normal state (α²F ∝ Ω²),
    and at T = 0 the BCS scattering rate of Kaplan et al. (1976), 1/τ_s(E)."""
    from scipy.integrate import quad

    from fvqp.models.usadel.collisions import ep_collision_integral, ep_rates

    de = 0.01
    e = np.arange(-1500, 1501) * de
    one, zero = np.ones_like(e), np.zeros_like(e)
    assert np.abs(ep_collision_integral(np.tanh(e / 0.1), one, zero, de, 1.0, 0.05)).max() \
        < 1e-10
    P = [-integrate(e * ep_collision_integral(np.tanh(e / (2 * t)), one, zero, de, 1.0, 0.0),
                    e) for t in (0.1, 0.2)]
    assert P[1] / P[0] == pytest.approx(2.0**5, rel=1e-5)
    # T = 0 rate: a grid staggered about the gap edge (a node at ε = Δ would sample the
    # integrable 1/sqrt singularity of the DOS at its peak)
    de = 0.002
    e = (np.arange(-2000, 2000) + 0.5) * de
    s = uniform_solution(e, 1.0, 1e-6)
    N, R = s.N[:, 0], s.imF[:, 0]
    _, O = ep_rates(np.sign(e) * 1.0, N, R, de, 0.0)
    E = 2.5
    k = int(np.argmin(np.abs(e - E)))

    def kaplan(w):  # Ω² ρ(E-Ω) (1 - Δ²/(E(E-Ω))), E - Ω > Δ
        ep = E - w
        return w**2 * ep / np.sqrt(ep**2 - 1) * (1 - 1 / (E * ep))

    ref = quad(kaplan, 0, E - 1, limit=200)[0]
    assert O[k] / N[k] == pytest.approx(ref, rel=0.03)  # midpoint rule at the singularity


def test_electron_phonon_integral_equals_the_collision_layer_in_the_bcs_limit():
    """The Usadel e–ph integral (full energy axis, Dynes Γ = 1e-4, point values) against
    the independent QP operator of fvqp.collisions (E ≥ Δ, exact cell-averaged DOS,
    scattering + recombination + pair breaking): hot QPs (T_e = 0.3 Tc) with phonons at
    0.15 Tc, df/dt in 1/τ0 at E = 1.3 … 4 Δ. Agreement 8.8e-3 … 7e-4 at δε = 2.5e-4 Δ,
    converging at first order in δε (gap-edge point values): a wrong τ0 normalisation,
    sign or missing process would not."""
    from fvqp.collisions import CollisionParams, EnergyGrid, bose, collision_terms, fermi
    from fvqp.models.usadel.collisions import ep_rates

    D, t_ph, t_e = BCS_GAP_RATIO, 0.15, 0.3  # Δ0/kTc, temperatures in Tc
    g = EnergyGrid.build(D, h=0.004, e_max=14.0)
    c = collision_terms(fermi(g.e, t_e), bose(g.omega, t_ph), g,
                        CollisionParams.from_times(1000.0, D))
    layer = c.qp_sc_in - c.qp_sc_out - c.qp_rec + c.qp_pb
    E = np.array([1.3, 1.6, 2.0, 3.0, 4.0])
    ref = np.interp(E * D, g.e, layer)
    err = []
    for de in (5e-4, 2.5e-4):
        e = np.arange(-round(8 / de), round(8 / de) + 1) * de
        s = uniform_solution(e, 1.0, 1e-4)
        N, R = s.N[:, 0], s.imF[:, 0]
        fL = np.tanh(e / (2 * t_e / D))
        In, Out = ep_rates(fL, N, R, de, t_ph / D)
        f = 0.5 * (1 - fL)
        rate = ((1 - f) * In - f * Out) / N / T_C_BCS**3  # K = γ_ph/t_c³, per γ_ph: 1/τ0
        err.append(np.interp(E, e, rate) / ref - 1)
    assert np.all(ref < 0)  # hot QPs relax
    assert np.all(np.abs(err[1]) < [0.012, 0.006, 0.003, 0.002, 0.002])
    assert np.all(np.abs(err[1]) < 0.6 * np.abs(err[0]))  # converging with δε


def test_electron_phonon_in_the_kinetic_solve_cools():
    """With the e-ph term (phonons at the bath) the injected energy is partly lost to the
    phonons: less energy reaches the reservoirs than is injected."""
    eps = np.arange(-240, 241) / 40
    net, prob, res, jun = _device(40, half=10.0, gamma=5e-3, kappa=2e-3, bias=3.0, t=0.02,
                                  det=5.0)
    s = solve_spectral(prob, eps)
    k = solve_inelastic(s, res, jun, 0.0, gamma_ph=1e-3, t_ph=0.02)
    eb = energy_balance(k)
    assert eb["injected"] < 0 and eb["drained"] < 0  # fL-mode energy: quasiparticles in
    assert abs(eb["drained"]) < 0.99 * abs(eb["injected"])


def test_ee_collisions_relax_the_double_step_of_a_normal_wire():
    """A normal wire between reservoirs at V = 0.5 and 0 (Pothier et al. 1997): without
    collisions fL in the middle is the double step (1−x)f_L(V) + x n0 with sharp steps;
    e–e collisions act on normal nodes too and round it towards a hot distribution (the
    steepest slope drops from 23 to 15 / 8 for γ_ee = 0.5 / 2), conserving energy: the
    energy currents into the two reservoirs cancel to round-off."""
    n = 40
    net = uniform_wire(10.0, n)
    t = 0.01
    res = [Reservoir("l", 0, "normal", 0.0, 0.5, t), Reservoir("r", n, "normal", 0.0, 0.0, t)]
    eps = np.arange(-200, 201) * 0.01
    s = solve_spectral(SpectralProblem(net, 0.0, gamma=1e-3, reservoirs=res), eps)
    lin = solve_linear(s, res, [])
    x = (net.points[:, 0] - net.points[0, 0]) / 10.0
    double = (1 - x) * res[0].distribution(eps)[0][:, None] + x * n0(eps, t)[:, None]
    assert np.allclose(lin.fL, double, atol=1e-9)
    slopes = [np.abs(np.diff(lin.fL[:, n // 2])).max() / 0.01]
    for g in (0.5, 2.0):
        k = solve_inelastic(s, res, [], g)
        slopes.append(np.abs(np.diff(k.fL[:, n // 2])).max() / 0.01)
        assert abs(energy_balance(k)["drained"]) < 1e-10
    assert slopes[0] > 20 and slopes[1] < 0.75 * slopes[0] and slopes[2] < 0.6 * slopes[1]


# --- μ_Q* normalisation (Eqs. 4-5) and the whole-axis energy grid (issue 19) ------------

def _normal_wire(v=0.3, t=0.05, n=40, length=4.0, eps=None):
    """Normal wire (Δ = 0) from a normal reservoir at bias v (x = −L/2) to one at 0."""
    net = uniform_wire(length, n, points={"det": 0.5})
    res = [Reservoir("l", 0, "normal", 0.0, v, t), Reservoir("r", n, "normal", 0.0, 0.0, t)]
    prob = SpectralProblem(net, 0.0, reservoirs=res)
    eps = np.arange(-400, 401) * 0.01 if eps is None else eps
    return net, solve_linear(solve_spectral(prob, eps), res, [])


def test_charge_imbalance_potential_of_a_normal_wire_is_eV():
    """μ_Q* = Q*/2eN0 (Eqs. 4-5) of a normal wire between a normal reservoir at bias V and
    one at 0: fT = fT^(N)(V)(1 − s) along it (s from 0 to 1), so μ_Q* = eV(1 − s) on every
    node, eV at the biased reservoir, to 1e-6 (measured ~1e-15; the whole-axis integral
    without the ½ of Eq. 13 gave 2eV)."""
    v = 0.3
    net, kin = _normal_wire(v)
    mu = charge_imbalance_potential(kin)
    s = (net.points[:, 0] - net.points[0, 0]) / np.ptp(net.points[:, 0])
    assert mu[0] == pytest.approx(v, rel=1e-6)
    assert np.allclose(mu, v * (1 - s), rtol=1e-6, atol=1e-6 * v)


def test_detector_current_normal_limit_is_g_det_mu():
    """Eq. 14 in the normal limit: a non-invasive detector on a normal wire at V_det
    carries I_det = G_det(μ_Q*/e − V_det) (κ_det(μ_Q* − V_det) in I0) — the same ½ in
    μ_Q* and in the current; to round-off (measured 8e-15 relative). Without the ½ in μ_Q* the two
    differ by μ_Q*."""
    net, kin = _normal_wire(0.3)
    d = net.node("det")
    mu = charge_imbalance_potential(kin)[d]
    assert 0.05 < mu < 0.3
    kap = 2e-3
    i = detector_current(kin, d, kap, [0.0, 0.1, -0.2], 0.02)
    assert np.allclose(i, kap * (mu - np.array([0.0, 0.1, -0.2])), rtol=1e-12, atol=0)


def test_energy_grid_of_positive_energies_only_is_refused():
    """A grid of ε ≥ 0 only (it would halve every current, I_s and μ_Q*) is refused with a
    message that names the function, the grid and the fix (mirror_grid), by the
    observables, solve_state (before any solve, also with Δ fixed, where nothing else
    would notice), solve_inelastic and the fit/average functions; the mirrored grid gives
    the whole-axis results (tunnel current equal to that of the grid built symmetric)."""
    from fvqp.models.usadel.fitting import supercurrent_per_i0
    from fvqp.models.usadel.observables import supercurrent, thermal_average, tunnel_current
    from fvqp.models.usadel.selfconsistent import Setup, solve_state

    pos = np.arange(0, 241) / 40
    full = np.arange(-240, 241) / 40
    net, prob, res, jun = _device(60, half=6.0, gamma=0.01, bias=2.0, dphi=0.1)

    def refused(call, what):
        with pytest.raises(ValueError) as exc:
            call()
        msg = str(exc.value)
        assert what in msg and "positive energies only" in msg and "mirror_grid" in msg

    setup = Setup(problem=prob, eps=pos, reservoirs=res, junctions=jun,
                  selfconsistency="none")
    refused(lambda: solve_state(setup), "solve_state")
    spec = solve_spectral(prob, pos)  # spectral functions per energy: allowed
    kin = solve_linear(spec, res, jun)
    refused(lambda: tunnel_current(kin, jun[0]), "tunnel_current")
    refused(lambda: charge_imbalance_potential(kin), "charge_imbalance_potential")
    refused(lambda: supercurrent(spec, kin.fL), "supercurrent")
    refused(lambda: charge_balance(kin), "charge_balance")
    refused(lambda: solve_inelastic(spec, res, jun, 2e-4), "solve_inelastic")
    refused(lambda: thermal_average(np.ones_like(pos), pos, [1.0], 0.05), "thermal_average")
    refused(lambda: supercurrent_per_i0([0.1], 0.05, eps=pos), "supercurrent_per_i0")
    with pytest.raises(ValueError, match="not symmetric about 0"):
        tunnel_current(solve_linear(solve_spectral(prob, full[40:]), res, jun), jun[0])
    # the fix: the mirrored grid is the symmetric one
    from fvqp.models.usadel.observables import mirror_grid

    assert np.array_equal(mirror_grid(pos), full)
    assert np.array_equal(mirror_grid(pos[1:]), np.concatenate([-pos[:0:-1], pos[1:]]))
    st = solve_state(replace(setup, eps=mirror_grid(pos)))
    ref = solve_linear(solve_spectral(prob, full), res, jun)
    assert tunnel_current(st.kinetic, jun[0]) == pytest.approx(
        tunnel_current(ref, jun[0]), rel=1e-12)


def test_sweep_reads_checkpointed_mu_of_the_whole_axis_integral_halved():
    """A bias-sweep unit checkpointed before μ_Q* had its ½ (key ``mu``, the whole-axis
    integral) is read as μ_Q* = mu/2, so a resumed sweep equals an uninterrupted one
    (work-unit hook in memory; real checkpoints hold the same dicts)."""
    from fvqp.models.usadel.selfconsistent import Setup, bias_sweep

    net, prob, res, jun = _device(60, half=6.0, gamma=0.01, bias=0.0)
    setup = Setup(problem=prob, eps=np.arange(-160, 161) / 40, reservoirs=res,
                  junctions=jun, selfconsistency="none")
    stored: dict = {}

    def record(key, compute):
        stored[key] = compute()
        return stored[key]

    new = bias_sweep(setup, "inj", [1.5, 2.0], units=record)
    assert np.abs(new["mu"]).max() > 1e-4

    def legacy(key, compute):
        r = dict(stored[key])
        r["mu"] = 2.0 * r.pop("mu_q")  # as the code before the fix stored it
        return r

    old = bias_sweep(setup, "inj", [1.5, 2.0], units=legacy)
    assert np.array_equal(old["mu"], new["mu"])

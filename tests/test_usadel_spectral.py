"""Spectral Usadel equation on wires: bulk limits, proximity effect, convergence, meshes."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import MESHES
from fvqp.mesh import read_mesh
from fvqp.models.usadel.bulk import bulk_gap_edge, bulk_theta
from fvqp.models.usadel.network import network_from_mesh, uniform_wire
from fvqp.models.usadel.observables import supercurrent
from fvqp.models.usadel.spectral import SpectralProblem, solve_spectral, uniform_solution
from fvqp.models.usadel.terminals import Reservoir, n0


def _s_wire(n=50, length=10.0, gamma=1e-3, zeta=0.0, delta=1.0):
    net = uniform_wire(length, n)
    res = [Reservoir("left", 0, "superconductor", delta=delta),
           Reservoir("right", n, "superconductor", delta=delta)]
    return SpectralProblem(net, delta, gamma=gamma, zeta0=zeta, reservoirs=res)


def test_dynes_dos_on_a_wire():
    """A uniform wire between S reservoirs has the Dynes DOS everywhere."""
    eps = np.linspace(-3, 3, 301)
    gam = 2e-3
    sol = solve_spectral(_s_wire(gamma=gam), eps)
    et = eps + 1j * gam
    dynes = np.abs(np.real(et / np.sqrt(et**2 - 1.0 + 0j)))  # Dynes et al. (1978)
    assert np.allclose(sol.N, dynes[:, None], rtol=1e-9, atol=1e-9)


def test_bcs_coefficients_above_and_below_gap():
    """D_L, D_T, R_T, N of BCS (Γ -> 0) above and below the gap (App. B formulas)."""
    above, below = np.array([1.3, 2.0, 4.0]), np.array([0.0, 0.3, 0.8])
    s = uniform_solution(np.concatenate([above, below]), 1.0, 1e-10)
    a, b = slice(0, 3), slice(3, 6)
    sa = np.sqrt(above**2 - 1)
    sb = np.sqrt(1 - below**2)
    assert np.allclose(s.N[a, 0], above / sa, rtol=1e-8)
    assert np.allclose(s.DL[a, 0], 1.0, rtol=1e-8)
    assert np.allclose(s.DT[a, 0], above**2 / sa**2, rtol=1e-8)
    assert np.allclose(s.RT[a, 0], 0.0, atol=1e-8)
    assert np.allclose(s.N[b, 0], 0.0, atol=1e-8)
    assert np.allclose(s.DL[b, 0], 0.0, atol=1e-8)
    assert np.allclose(s.DT[b, 0], 1 / sb**2, rtol=1e-8)
    assert np.allclose(s.RT[b, 0], 2 / sb, rtol=1e-8)


@pytest.mark.parametrize("zeta", [0.05, 0.2, 0.5])
def test_abrikosov_gorkov_gap_edge(zeta):
    """Spectral gap ε_g = Δ(1 − ζ^{2/3})^{3/2} (energies in Δ)."""
    eg = bulk_gap_edge(1.0, zeta)
    eps = np.array([eg * (1 - 1e-3), eg * (1 + 1e-3)])
    N = np.cos(bulk_theta(eps, 1.0, 1e-12, zeta)).real
    assert N[0] < 1e-6 and N[1] > 1e-3


@pytest.mark.parametrize("zeta", [1.2, 2.0])
def test_gapless_dos_at_zero_energy(zeta):
    """ζ > Δ: gapless, N(0) = sqrt(1 − (Δ/ζ)²)."""
    N0 = np.cos(bulk_theta(np.array([0.0]), 1.0, 1e-12, zeta)).real[0]
    assert N0 == pytest.approx(np.sqrt(1 - 1 / zeta**2), rel=1e-8)


def test_supercurrent_small_phase_gradient():
    """Eq. 6 at small ∂xφ: I_s/I0 = (π/2) Δ tanh(Δ/2t) ∂xφ (Γ, ζ corrections < 1e-3)."""
    e = np.unique(np.concatenate([np.linspace(-30, 30, 1201), np.linspace(0.95, 1.05, 3001),
                                  np.linspace(-1.05, -0.95, 3001)]))
    for dphi, t in ((0.01, 0.05), (0.003, 0.3)):
        s = uniform_solution(e, 1.0, 1e-4, 0.5 * dphi**2)
        s.problem.dphi[:] = dphi
        Is = supercurrent(s, n0(e, t)[:, None] * np.ones((1, 2)))[0]
        assert Is == pytest.approx(np.pi / 2 * np.tanh(1 / (2 * t)) * dphi, rel=1e-3)


def _proximity_error(n):
    net = uniform_wire(20.0, n, x0=0.0)
    p = SpectralProblem(net, 1.0, reservoirs=[Reservoir("l", 0, "normal"),
                                              Reservoir("r", n, "superconductor")])
    s = solve_spectral(p, np.array([0.0, 0.4, 1.0, 2.0]))
    x = net.points[:, 0]
    # exact ε = 0 solution of θ'' + 2Δcosθ = 0 with θ(0)=0, θ(∞)=π/2
    exact = np.pi / 2 - 4 * np.arctan(np.tan(np.pi / 8) * np.exp(-np.sqrt(2) * x))
    return np.abs(s.theta[0] - exact).max(), s


def test_normal_reservoir_proximity_second_order():
    """N reservoir against a superconductor: the exact ε = 0 profile, second order in x."""
    e1, s = _proximity_error(100)
    e2, _ = _proximity_error(200)
    assert e2 < 3e-4
    assert 3.7 < e1 / e2 < 4.3
    # the proximity effect makes R_T negative somewhere (it must not be assumed positive)
    assert (s.RT < -1e-3).any()
    # DOS of the normal reservoir end is 1
    assert np.allclose(s.N[:, 0], 1.0)


def test_gap_edge_and_zero_energy_robust():
    """Fine energy grid through the gap edge and ε = 0 with Γ = 1e-6: Newton converges,
    the DOS is the bulk one inside a long wire."""
    eps = np.concatenate([np.linspace(-1e-3, 1e-3, 11), 1 + np.linspace(-1e-4, 1e-4, 41)])
    p = _s_wire(n=40, gamma=1e-6)
    s = solve_spectral(p, eps)
    bulk = np.cos(bulk_theta(eps, 1.0, 1e-6)).real
    assert s.residual < 1e-9
    assert np.allclose(s.N[:, 20], bulk, rtol=1e-6, atol=1e-9)


def test_mesh_wire_and_network():
    """The NIS wire and the Y network meshes: node groups, Kirchhoff at the network node."""
    raw = read_mesh(MESHES / "nis_wire" / "nis_wire.msh")
    net = network_from_mesh(raw, xi=0.065)
    assert net.n_nodes == 327 and net.n_edges == 326
    assert net.points[net.node("junction_b"), 0] == pytest.approx(0.0)
    assert net.points[net.node("junction_c"), 0] == pytest.approx(0.3 / 0.065)
    assert net.volume.sum() == pytest.approx(11.0 / 0.065)
    y = network_from_mesh(read_mesh(MESHES / "wire_network" / "wire_network.msh"), xi=0.1)
    node = y.node("node")
    assert list(y.network_nodes()) == [node]
    res = [Reservoir("e1", y.node("end_1"), "normal"),
           Reservoir("e2", y.node("end_2"), "superconductor"),
           Reservoir("e3", y.node("end_3"), "superconductor")]
    eps = np.array([0.2, 0.7, 1.5])
    s = solve_spectral(SpectralProblem(y, 1.0, gamma=1e-3, reservoirs=res), eps)
    # the θ-"current" D∂θ summed over the three wires at the node balances the node's
    # own volume term (discrete Kirchhoff law with source)
    e = np.flatnonzero((y.edge_a == node) | (y.edge_b == node))
    other = np.where(y.edge_a[e] == node, y.edge_b[e], y.edge_a[e])
    flux = (y.conductance[e] * (s.theta[:, other] - s.theta[:, [node]])).sum(axis=1)
    th = s.theta[:, node]
    src = y.volume[node] * (2j * (eps + 1e-3j) * np.sin(th) + 2 * np.cos(th))
    assert np.allclose(flux + src, 0, atol=1e-10)
    # subgap DOS induced by the N end decays monotonically along wire_1 towards the node
    w1 = np.flatnonzero(y.edge_region == y.region_names.index("wire_1"))
    nodes1 = np.unique(np.concatenate([y.edge_a[w1], y.edge_b[w1]]))
    order = nodes1[np.argsort(-np.linalg.norm(y.points[nodes1], axis=1))]
    assert s.N[0, order[0]] == pytest.approx(1.0)
    assert np.all(np.diff(s.N[0, order]) < 0)


def test_matsubara_sns_matches_spectral_solver_and_dubos():
    """SNS wire: (1) at φ = 0 the Matsubara solver and the real-energy solver evaluated at
    ε + iΓ = iω (same equation) agree; (2) long junction, T -> 0, Δ >> E_Th:
    e R_N I_c = 10.82 E_Th (Dubos et al. 2001), Richardson from 40/80 cells, at φ ≈ 2.0."""
    from fvqp.models.usadel.matsubara import critical_current, spectral_current

    L, n = 3.0, 60
    net = uniform_wire(L, n, x0=0.0)
    res = [Reservoir("l", 0, "superconductor", delta=1.0),
           Reservoir("r", n, "superconductor", delta=1.0)]
    delta = np.zeros(n + 1)
    delta[[0, n]] = 1.0
    omega = 0.7
    s = solve_spectral(SpectralProblem(net, delta, gamma=omega, reservoirs=res),
                       np.array([0.0]))
    assert np.abs(s.theta.imag).max() < 1e-12
    from fvqp.models.usadel import matsubara

    th, _ = matsubara.solve_profiles(0.0, np.array([omega * L**2]), n, delta_over_eth=L**2)
    assert np.allclose(th[0], s.theta[0].real, atol=1e-10)
    assert spectral_current(0.0, [0.5, 5.0], 20) == pytest.approx([0.0, 0.0], abs=1e-12)
    a, _ = critical_current(40)
    b, phi_c = critical_current(80)
    assert (4 * b - a) / 3 == pytest.approx(10.82, rel=1e-3)
    assert phi_c == pytest.approx(2.0, abs=0.02)


@pytest.mark.parametrize("dphi", [0.5, 0.9, 1.7])
def test_wire_solver_with_a_phase_gradient_has_the_abrikosov_gorkov_dos(dphi):
    """The wire solver (not the bulk formula) with an imposed phase gradient between S
    reservoirs (bulk at ζ = 0, so the wire is long: 80 ξ): depairing ζ = (∂xφ)²/2
    (Eq. 7) on every node, and in the middle the Abrikosov–Gor'kov DOS — no states below
    ε_g = Δ(1 − ζ^{2/3})^{3/2} for ζ < 1, gapless with N(0) = sqrt(1 − 1/ζ²) for ζ > 1."""
    zeta = 0.5 * dphi**2
    net = uniform_wire(80.0, 320)
    res = [Reservoir("left", 0, "superconductor"), Reservoir("right", 320, "superconductor")]
    prob = SpectralProblem(net, 1.0, gamma=1e-9, dphi=dphi, reservoirs=res)
    assert np.allclose(prob.zeta, zeta, rtol=1e-12)
    if zeta < 1:
        eg = bulk_gap_edge(1.0, zeta)
        eps = np.array([0.0, 0.5 * eg, eg * (1 - 1e-2), eg * (1 + 1e-2), 1.5])
        N = solve_spectral(prob, eps).N[:, 160]
        bulk = np.cos(bulk_theta(eps, 1.0, 1e-9, zeta)).real
        assert np.all(N[:3] < 1e-6) and N[3] > 1e-2
        assert np.allclose(N[3:], bulk[3:], rtol=1e-5)  # reservoirs (ζ = 0) 40 ξ away
    else:
        N = solve_spectral(prob, np.array([0.0])).N[0, 160]
        assert N == pytest.approx(np.sqrt(1 - 1 / zeta**2), rel=1e-6)


def test_a_superconducting_wire_with_twice_the_diffusion_constant_is_the_scaled_wire():
    """Per-wire D and N0 (network.WireNetwork: σA = e²N0DA weighs the currents, A·N0 the
    volume terms): a wire whose second half has D = 2 and N0 = 1/√2 (so σ = √2, ρ/√2) and
    is √2 times longer, with the same number of cells, is the uniform D = N0 = 1 wire in
    the coordinate x/√D of that half (the bulk terms scale with N0·length, the currents
    with σ/length, and the flux at the joint is continuous because σ/√D is the same on
    both sides): θ agrees node by node to round-off. Weighting the volume terms by A alone,
    or the currents by D·A, breaks it."""
    from fvqp.models.usadel.network import WireNetwork

    n = 40
    h = np.full(n, 0.25)
    h2 = np.where(np.arange(n) >= n // 2, 0.25 * np.sqrt(2.0), 0.25)
    d2 = np.where(np.arange(n) >= n // 2, 2.0, 1.0)

    def wire(lengths, diff):
        x = np.concatenate([[0.0], np.cumsum(lengths)])
        pts = np.zeros((n + 1, 3))
        pts[:, 0] = x
        return WireNetwork(points=pts, edge_a=np.arange(n), edge_b=np.arange(1, n + 1),
                           length=lengths, area=1.0 / np.sqrt(diff),  # A·N0, N0 = 1/√D
                           diffusion=diff, edge_region=(diff > 1).astype(int),
                           region_names=["a", "b"],
                           groups={"l": np.array([0]), "r": np.array([n])})

    eps = np.array([0.3, 0.9, 1.0, 1.2, 2.5])
    res = [Reservoir("l", 0, "normal"), Reservoir("r", n, "superconductor")]
    th = []
    for lengths, diff in ((h, np.ones(n)), (h2, d2)):
        prob = SpectralProblem(wire(lengths, diff), 1.0, gamma=1e-3, reservoirs=res)
        th.append(solve_spectral(prob, eps).theta)
    assert np.abs(th[0]).max() > 0.1  # a real proximity profile (N reservoir at x = 0)
    assert np.allclose(th[1], th[0], rtol=0, atol=1e-10)

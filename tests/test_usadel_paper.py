"""Ryan et al. (2026): self-consistent gap, Figs. 10-13 as far as the text gives numbers."""

from __future__ import annotations

import numpy as np
import pytest

from fvqp.models.usadel.fitting import fit_dphi, fit_gamma, gss_model
from fvqp.models.usadel.network import uniform_wire
from fvqp.models.usadel.observables import coupling_constant
from fvqp.models.usadel.paper import TABLE1, fig11_setup, fig12_gsa, fig13_ga
from fvqp.models.usadel.selfconsistent import Setup, bias_sweep, solve_state
from fvqp.models.usadel.spectral import SpectralProblem, solve_spectral
from fvqp.models.usadel.terminals import Reservoir
from fvqp.spectra import BCS_GAP_RATIO, bcs_gap


def _equilibrium_gap(t, omega_d=60.0, de=0.05):
    net = uniform_wire(4.0, 4)
    res = [Reservoir("r", 4, "superconductor", temperature=t)]
    eps = np.arange(-round(omega_d / de), round(omega_d / de) + 1) * de
    prob = SpectralProblem(net, 1.0, gamma=1e-5, reservoirs=res)
    st = solve_state(Setup(prob, eps, res, [], omega_d=omega_d, selfconsistency="uniform",
                           probe_node=0, tol=1e-10, t_ref=t))
    return st.delta[0]


def test_selfconsistent_gap_follows_bcs_temperature_dependence():
    """Eq. 8 with λ = 1/arcsinh ω_D: Δ(T)/Δ(0) is the BCS curve (Tc = Δ0/1.764)."""
    tc = 1 / BCS_GAP_RATIO
    d0 = _equilibrium_gap(0.02)
    assert d0 == pytest.approx(1.0, abs=2e-3)  # ε-cutoff vs arcsinh: O(1/ω_D²) + Γ
    for t in (0.25, 0.45):
        ratio = _equilibrium_gap(t) / d0
        ref = bcs_gap(t, tc) / bcs_gap(0.02, tc)
        assert ratio == pytest.approx(ref, rel=2e-3)


@pytest.mark.slow
def test_fig11_gap_versus_injector_bias():
    """Fig. 11(a) (reduced grids): without inelastic scattering Δ drops sharply once
    eV_inj passes Δ0 and then stays nearly constant; with e–e scattering (γ_ee = 2e-4) it
    follows the elastic curve up to ~3Δ0 and then drops further."""
    v = [0.0, 0.5, 1.5, 2.5, 3.5, 5.0]
    el = bias_sweep(fig11_setup(gamma_ee=0.0, de=1 / 20, n_edges=40), "injector", v)
    ee = bias_sweep(fig11_setup(gamma_ee=2e-4, de=1 / 20, n_edges=40), "injector", v)
    d_el, d_ee = el["delta"][:, 0], ee["delta"][:, 0]
    assert d_el[0] == pytest.approx(d_ee[0], abs=1e-9)  # equilibrium: no collisions act
    assert d_el[1] - d_el[0] > -2e-3  # sub-gap injection barely changes Δ
    assert d_el[2] < d_el[1] - 0.03  # sharp drop above Δ0
    assert abs(d_el[5] - d_el[3]) < 0.01  # then nearly constant
    assert abs(d_ee[3] - d_el[3]) < 3e-3  # low-bias behaviour like the elastic case
    assert d_ee[5] < d_ee[3] - 0.03  # further drop above 3Δ0
    # fL(ε) at x = 0 with collisions drops near 3Δ (pair breaking): compare the mean of
    # 1 - fL just below and well above 3Δ at eV_inj = 5
    eps = fig11_setup(de=1 / 20).eps
    q = 1 - ee["fL_probe"][-1]
    dd = d_ee[-1]
    below = q[(eps > 2.2 * dd) & (eps < 2.8 * dd)].mean()
    above = q[(eps > 3.3 * dd) & (eps < 4.5)].mean()
    q_el = 1 - el["fL_probe"][-1]
    assert above < 0.8 * below
    assert q_el[(eps > 3.3 * dd) & (eps < 4.5)].mean() > 0.9 * \
        q_el[(eps > 2.2 * dd) & (eps < 2.8 * dd)].mean()


def test_fig12_gsa_symmetries_and_peaks():
    """Fig. 12: from an even Δ(V_inj) with a sharp drop at |eV_inj| ≈ Δ0, g_sa is odd in
    V_inj and in V_det and peaks at |eV_inj| ≈ Δ0."""
    v = np.linspace(-2, 2, 81)
    delta = 0.99 - 0.045 / (1 + np.exp(-(np.abs(v) - 1.1) / 0.05))
    vd = np.array([-0.5, 0.5])
    out = fig12_gsa(v, delta, vd)
    g = out["g_sa"]
    assert np.allclose(g, -g[::-1], atol=1e-12 * np.abs(g).max())
    assert np.allclose(g[:, 0], -g[:, 1], rtol=1e-9, atol=1e-12 * np.abs(g).max())
    assert abs(v[np.argmax(np.abs(g[:, 1]))]) == pytest.approx(1.1, abs=0.1)


@pytest.mark.slow
def test_fig13_ga_kinetic_mixing():
    """Fig. 13: g_a (Eq. 16) of the coupled Eqs. 9-10 on the whole wire is odd in V_inj,
    linear in ∂xφ at small ∂xφ (the coupling term is odd in I_s, the depairing even) and
    the Eq. 6 supercurrent at ∂xφ = 0.24 is ~11 µA, the range of the experiment."""
    v = np.linspace(-2.5, 2.5, 21)
    out = fig13_ga([0.005, 0.01, 0.24], v)
    ga, gs = out["g_a"], out["g_s"]
    assert np.allclose(ga, -ga[:, ::-1], atol=1e-9 * np.abs(ga).max())
    assert np.allclose(gs, gs[:, ::-1], rtol=1e-8)
    # away from the gap edge (where j_ε ~ 1/Γ makes the mixing nonlinear already at
    # tiny ∂xφ, and δε = 1/50 does not resolve Γ) g_a is linear in ∂xφ
    m = np.abs(v) >= 1.2
    assert np.abs(ga[0, m]).max() > 1e-3  # Ω, per G_inj G_det
    assert np.abs(ga[1, m]).max() / np.abs(ga[0, m]).max() == pytest.approx(2.0, rel=0.05)
    assert out["i_s"][2] == pytest.approx(11e-6, rel=0.1, abs=0)
    # the charge-imbalance signal is reduced by the depairing of the supercurrent (Fig. 10)
    assert gs[2].max() < gs[0].max()


def test_fig10_fit_recovers_gamma_and_phase_gradient():
    """Fitting Eq. 21 (App. B) to synthetic g_ss with the paper's Γ = 1.53e-3 (1 % noise)
    returns it within the fit error; ∂xφ at fixed Γ likewise."""
    x = TABLE1.length(300e-9)
    kap = TABLE1.kappa(24.6e-6) / 2
    t = TABLE1.t(0.061)
    v = np.linspace(-1.5, 1.5, 61)
    rng = np.random.default_rng(1)
    g = gss_model(v, x, kap, t, 1.53e-3)
    g_noisy = g * (1 + 0.01 * rng.standard_normal(g.size))
    gam, sig = fit_gamma(v, g_noisy, x, kap, t)
    assert gam == pytest.approx(1.53e-3, abs=4 * sig)
    assert sig < 0.02 * gam
    g2 = gss_model(v, x, kap, t, 1.53e-3, dphi=0.2)
    d, _ = fit_dphi(v, g2, x, kap, t, 1.53e-3)
    assert d == pytest.approx(0.2, rel=1e-4)


def test_coupling_constant():
    assert coupling_constant(10.0) == pytest.approx(1 / np.arcsinh(10.0))


@pytest.mark.slow
def test_local_selfconsistency_injection_and_proximity():
    """Δ(x) (default local mode): suppressed next to a normal reservoir (inverse
    proximity) and smallest at an injecting junction (eV = 2Δ0), bulk value far away.
    Local self-consistency needs δε ≲ Γ (gap edges at every Δ(x)): Γ = 0.04, δε = 0.02."""
    from fvqp.models.usadel.terminals import TunnelJunction

    eps = np.arange(-300, 301) * 0.02
    n = 30
    net = uniform_wire(15.0, n, x0=0.0, points={"inj": 9.0})
    delta = np.ones(n + 1)
    delta[0] = 0.0
    res = [Reservoir("n", 0, "normal", temperature=0.02),
           Reservoir("s", n, "superconductor", delta=0.97, temperature=0.02)]
    jun = [TunnelJunction("inj", net.node("inj"), 0.01, bias=2.0, temperature=0.02)]
    prob = SpectralProblem(net, delta, gamma=4e-2, reservoirs=res, junctions=jun)
    # the fixed point is reached to ~1e-5 (quadrature noise of the gap edges at δε = Γ/2)
    st = solve_state(Setup(prob, eps, res, jun, omega_d=6.0, tol=1e-4, t_ref=0.02))
    d = st.delta
    x = net.points[:, 0]
    i = net.node("inj")
    assert d[1] < 0.7 * d[6]  # 0.5 ξ from the N reservoir
    assert np.all(np.diff(d[:5]) > 0)  # recovers away from it
    assert d[i] == d[(x > 5) & (x < 14.6)].min()  # the injector suppresses Δ locally
    assert d[i] < d[net.node("inj") + 6] - 1e-3


@pytest.mark.slow
def test_fig11_inelastic_gap_is_independent_of_the_energy_grid():
    """Fig. 11(a) with e–e collisions at δε = 1/40 (the paper's) and 1/80 (40 cells):
    Δ(V_inj) agrees to 3e-3 Δ0 — the residual is the sampling of the moving gap edge
    (Γ = 0.005 < δε), common to the elastic curve — and the drop caused by the
    collisions, Δ_el − Δ_ee at eV_inj = 5Δ0, agrees to 5e-4 (measured 1e-4)."""
    v = [0.0, 0.5, 1.5, 2.5, 3.5, 5.0]
    d = {}
    for de in (1 / 40, 1 / 80):
        for g in (0.0, 2e-4):
            out = bias_sweep(fig11_setup(gamma_ee=g, de=de, n_edges=40), "injector", v)
            d[de, g] = out["delta"][:, 0]
    assert np.abs(d[1 / 40, 2e-4] - d[1 / 80, 2e-4]).max() < 3e-3
    drop = {de: d[de, 0.0][-1] - d[de, 2e-4][-1] for de in (1 / 40, 1 / 80)}
    assert drop[1 / 40] > 0.05  # the collisions matter: ~0.063 Δ0
    assert abs(drop[1 / 40] - drop[1 / 80]) < 5e-4


def test_phase_gradient_for_a_supercurrent():
    """gradients.py inverts Eq. 6 with the depairing of Eq. 7 on the rising branch, also
    for a wire with σA = 2, D = 4 relative to the reference; above the depairing critical
    current it refuses."""
    from fvqp.models.usadel.fitting import supercurrent_per_i0
    from fvqp.models.usadel.gradients import gradient_for_current

    t, gam = 0.0079, 1.53e-3
    d = gradient_for_current(0.1, 1.0, 1.0, 1.0, gam, t)
    assert supercurrent_per_i0([d], t, gam)[0] == pytest.approx(0.1, rel=1e-8)
    d2 = gradient_for_current(-0.1, 2.0, 4.0, 1.0, gam, t)  # I = σA s(√D d)/√D
    assert d2 < 0 and 2.0 * supercurrent_per_i0([2 * d2], t, gam)[0] / 2 == \
        pytest.approx(-0.1, rel=1e-8)
    with pytest.raises(ValueError, match="critical current"):
        gradient_for_current(5.0, 1.0, 1.0, 1.0, gam, t)


def test_figure_supercurrents_get_the_gradients_that_carry_them():
    """Figs. 10 and 13 draw one curve per ``[paper] supercurrents_uA``: the phase
    gradient of each carries that current by Eq. 6 (to 1e-8), also above 25.9 µA and
    for a negative current (∂xφ < 0). Before, a table to ∂xφ = 0.6/ξ was interpolated by
    ``np.interp``, which clamps: 30 µA got the gradient of 25.9 µA, −5 µA that of 0."""
    from fvqp.models.usadel.figures import _phase_gradients
    from fvqp.models.usadel.fitting import supercurrent_per_i0
    from fvqp.models.usadel.paper import BATH, I0_FIT

    cur, dphi = _phase_gradients({"supercurrents_uA": [-5.0, 30.0]})
    carried = I0_FIT * np.sign(dphi) * supercurrent_per_i0(np.abs(dphi), TABLE1.t(BATH))
    assert dphi[0] < 0 < 0.6 < dphi[1]
    assert carried == pytest.approx(cur, rel=1e-8)


def test_supercurrent_of_the_imposed_gradient_flows_along_the_wire():
    """edge_gradients for +I_s on a wire of two regions (σA = 1 and 3, D = 1 and 2) whose
    cells are numbered against x in the second part: the charge current of the state
    (charge_current, fL = n0) times the edge direction along x is +I_s on every edge."""
    from fvqp.models.usadel.gradients import edge_gradients
    from fvqp.models.usadel.kinetic import KineticSolution
    from fvqp.models.usadel.network import WireNetwork
    from fvqp.models.usadel.observables import charge_current
    from fvqp.models.usadel.terminals import n0

    n = 40
    x = np.linspace(0.0, 20.0, n + 1)
    pts = np.zeros((n + 1, 3))
    pts[:, 0] = x
    a, b = np.arange(n), np.arange(1, n + 1)
    flip = a >= n // 2  # second half: cells b -> a (against x)
    a, b = np.where(flip, b, a), np.where(flip, a, b)
    region = flip.astype(int)
    net = WireNetwork(points=pts, edge_a=a, edge_b=b, length=np.full(n, 0.5),
                      area=np.where(flip, 1.5, 1.0), diffusion=np.where(flip, 2.0, 1.0),
                      edge_region=region, region_names=["w1", "w2"],
                      groups={"l": np.array([0]), "r": np.array([n])})
    t, gam = 0.05, 1e-3
    grad = edge_gradients(net, np.ones(n + 1), gam, t, 0.05)
    e = np.unique(np.concatenate([np.linspace(-30, 30, 1201), np.linspace(0.9, 1.1, 2001),
                                  np.linspace(-1.1, -0.9, 2001)]))
    res = [Reservoir("l", 0, "superconductor"), Reservoir("r", n, "superconductor")]
    prob = SpectralProblem(net, 1.0, gamma=gam, dphi=grad, reservoirs=res)
    spec = solve_spectral(prob, e)
    fl = n0(e, t)[:, None] * np.ones((1, n + 1))
    kin = KineticSolution(eps=e, fL=fl, fT=np.zeros_like(fl), spectral=spec, junctions=[],
                          reservoirs=res)
    along = np.sign(x[b] - x[a])
    i = charge_current(kin) * along
    mid = np.r_[5:15, 25:35]  # away from the reservoirs (bulk at ζ = 0) and the joint
    assert np.allclose(i[mid], 0.05, rtol=2e-3)

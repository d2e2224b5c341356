"""Tunnel junctions to superconducting electrodes (fvqp/models/usadel/electrode.py).

Incoherent quasiparticle tunnelling: Eq. 11 of Ryan et al. (2026) with the electrode's
Dynes DOS N_e(ε ± eV) in place of 1. Checked against the classic SIS' current
I = (1/eR_T) ∫ N_1(E) N_2(E + eV) [f(E) − f(E + eV)] dE (scipy quad, gap edges as break
points), against today's NIS terms for Δ_e = 0, and for detailed balance at V = 0.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.integrate import quad

from fvqp.models.usadel.bulk import bulk_theta
from fvqp.models.usadel.electrode import _nis_terms, general_terms, junction_terms
from fvqp.models.usadel.kinetic import solve_linear
from fvqp.models.usadel.network import uniform_wire
from fvqp.models.usadel.observables import charge_balance, energy_balance, tunnel_current
from fvqp.models.usadel.spectral import SpectralProblem, SpectralSolution
from fvqp.models.usadel.terminals import Reservoir, TunnelJunction
from fvqp.spectra import dynes_dos, fermi

GAMMA, GAMMA_E, GAP_E, T = 1e-3, 2e-3, 0.6, 0.15
N_EDGES, MID = 10, 5
KAPPA = 1e-7


def _wire(delta=1.0, de=0.005, junctions=(), t=T, kinds=("superconductor",) * 2):
    """A short uniform wire (2 ξ) between reservoirs at temperature t, θ of the bulk
    Dynes DOS (no inverse proximity): the wire's DOS is N_1 exactly."""
    eps = np.arange(-round(4 / de), round(4 / de) + 1) * de
    net = uniform_wire(2.0, N_EDGES)
    res = [Reservoir("left", 0, kinds[0], delta, temperature=t),
           Reservoir("right", N_EDGES, kinds[1], delta, temperature=t)]
    prob = SpectralProblem(net, delta, gamma=GAMMA, reservoirs=res,
                           junctions=list(junctions), spectral_tunnel=False)
    th = bulk_theta(eps, delta, GAMMA, 0.0) if delta > 0 else np.zeros(eps.size, complex)
    spec = SpectralSolution(eps=eps, theta=np.repeat(th[:, None], net.n_nodes, axis=1),
                            problem=prob)
    return spec, res


def _sis_quad(v, d1=1.0, d2=GAP_E, t=T):
    """(1/eR_T) ∫ N_1(E) N_2(E+eV) [f(E) − f(E+eV)] dE in units of Δ0/(e R_T)."""
    def y(e):
        return (dynes_dos(e, d1, GAMMA) * dynes_dos(e + v, d2, GAMMA_E)
                * (fermi(e, t) - fermi(e + v, t)))
    pts = sorted({-d1, d1, -v - d2, -v + d2, 0.0, -v})
    pts = [p for p in pts if -4.0 < p < 4.0]
    return quad(y, -4.0, 4.0, points=pts, limit=5000, epsabs=1e-14, epsrel=1e-11)[0]


def _sis_current(v, de=0.005):
    j = TunnelJunction("J", MID, KAPPA, v, T, gap=GAP_E, gamma=GAMMA_E)
    spec, res = _wire(de=de, junctions=[j])
    kin = solve_linear(spec, res, [j])
    return tunnel_current(kin, j) / KAPPA, kin


@pytest.mark.parametrize("v", [-1.62, -0.4, 0.2, 0.4, 0.5, 1.0, 1.58, 1.62, 2.0, 3.0])
def test_sis_current_against_quadrature(v):
    """SIS' current of a wire (Δ1 = Δ0, Γ = 1e-3) held at equilibrium by its reservoirs,
    electrode Δ2 = 0.6 Δ0, γ2 = 2e-3, k_BT = 0.15 Δ0, δε = 0.005: equal to the quad of
    the classic formula to 2e-4 relative (see the measured numbers in the theory doc)."""
    got, _ = _sis_current(v)
    ref = _sis_quad(v)
    assert got == pytest.approx(ref, rel=2e-4, abs=0)


def test_sis_features():
    """Sum-gap onset at e|V| = Δ1 + Δ2 (a step of the current, ×10 within ±0.02 Δ0) and
    the difference-gap peak at |Δ1 − Δ2| (a local maximum at finite T: the current falls
    towards 0.5 Δ0), odd in V, in the solver's current and in the quadrature alike."""
    i = {v: _sis_current(v)[0] for v in (0.3, 0.4, 0.5, 1.58, 1.62, -0.4)}
    assert i[1.62] > 10 * i[1.58] > 0
    assert i[0.4] > i[0.3] and i[0.4] > 1.5 * i[0.5]
    assert i[-0.4] == pytest.approx(-i[0.4], rel=1e-9, abs=0)
    q = {v: _sis_quad(v) for v in (0.3, 0.4, 0.5)}
    assert q[0.4] > q[0.3] and q[0.4] > 1.5 * q[0.5]


def test_sis_charge_and_energy_balance():
    """Biased S electrode (fL–fT mixing terms in the matrix): the tunnel current equals
    the current drained into the reservoirs + the converted charge imbalance to
    round-off; in a normal wire between normal reservoirs the injected energy current
    equals the drained one."""
    j = TunnelJunction("J", MID, 0.05, 1.7, T, gap=GAP_E, gamma=GAMMA_E)
    spec, res = _wire(junctions=[j])
    bal = charge_balance(solve_linear(spec, res, [j]))
    assert bal["injected"] > 0
    assert bal["injected"] == pytest.approx(sum(bal["drained"].values()) + bal["converted"],
                                            rel=1e-12, abs=0)
    spec, res = _wire(0.0, junctions=[j], kinds=("normal", "normal"))
    e = energy_balance(solve_linear(spec, res, [j]))
    assert e["injected"] != 0
    assert e["injected"] == pytest.approx(e["drained"], rel=1e-12, abs=0)


@pytest.mark.parametrize("delta", [1.0, 0.0])
@pytest.mark.parametrize("cell", [True, False])
def test_zero_gap_electrode_is_nis(delta, cell):
    """The general terms with Δ_e = 0 are today's NIS terms bit for bit (superconducting
    and normal wire nodes, cell-integrated and point rule), so the solution is too."""
    j = TunnelJunction("J", MID, 0.01, 1.3, 0.05, gap=0.0, gamma=GAMMA_E)
    spec, _ = _wire(delta, junctions=[j])
    a, b = general_terms(spec, j, cell), _nis_terms(spec, j, cell)
    for name in ("sL", "cLL", "cLT", "sT", "cTL", "cTT"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    c = junction_terms(spec, j, cell)  # what the model uses for a Δ_e = 0 electrode
    for name in ("sL", "cLL", "cLT", "sT", "cTL", "cTT"):
        assert np.array_equal(getattr(c, name), getattr(b, name)), name


def test_zero_bias_detailed_balance():
    """V = 0, electrode and wire at one temperature, different gaps (0.6 vs 1 Δ0), strong
    junction κ = 0.05: nothing is injected — fL = tanh(ε/2t), fT = 0 to 1e-12, tunnel
    current and energy injection zero to 1e-12."""
    j = TunnelJunction("J", MID, 0.05, 0.0, T, gap=GAP_E, gamma=GAMMA_E)
    spec, res = _wire(junctions=[j])
    kin = solve_linear(spec, res, [j])
    eq = np.tanh(spec.eps / (2 * T))[:, None]
    assert np.abs(kin.fL - eq).max() < 1e-12
    assert np.abs(kin.fT).max() < 1e-12
    assert abs(tunnel_current(kin, j)) < 1e-12
    t = junction_terms(spec, j)
    y_l, y_t = t.rows(kin.fL[:, MID], kin.fT[:, MID])
    assert np.abs(y_l).max() < 1e-12 and np.abs(y_t).max() < 1e-12


def test_sis_wire_case(tmp_path):
    """cases/usadel_sis_wire.toml: the electrode's gap comes from the Al entry of the
    materials database (1.70 k_B T_c × BCS Δ(T)/Δ(0) at 0.5 K) and its Dynes γ from the
    case; the swept I(V) (31 biases, 0–0.6 mV) equals the SIS' integral in SI
    (G_T/e ∫ N_wire N_el(E+eV) [f(E) − f(E+eV)] dE, scipy quad) to 1e-3 of the largest
    current, with its difference-gap peak at the bias nearest Δ_wire − Δ_el and the
    sum-gap onset between the biases around Δ_wire + Δ_el. The case runs by the CLI
    (`fvqp run`, the driver applies the electrode); its written currents equal the
    set-up's own sweep to 1e-9 of the largest (the biases are converted on another
    path: round-off)."""
    import h5py

    from conftest import CASES, run_fvqp
    from fvqp.case.loader import load_case
    from fvqp.models.usadel.driver import build, internal_case
    from fvqp.models.usadel.selfconsistent import bias_sweep
    from fvqp.spectra.gap import bcs_gap
    from fvqp.units import E_CHARGE, K_B

    case = internal_case(load_case(str(CASES / "usadel_sis_wire.toml")))
    setup, meta = build(case)
    sc = meta["scales"]
    (j,) = setup.junctions
    tc = 1.175 * K_B
    gap_el = 1.70 * tc * bcs_gap(0.5 * K_B, tc) / bcs_gap(0.0, tc)
    assert j.gap * sc.delta0 == pytest.approx(gap_el, rel=1e-12, abs=0)
    assert j.gamma == pytest.approx(2e-3 * j.gap, rel=1e-12, abs=0)
    v_si = np.linspace(0.0, 0.6e-3, 31)
    out = bias_sweep(setup, "junction", v_si * E_CHARGE / sc.delta0)
    i_si = np.asarray(out["i_inj"]) * sc.i0
    d1, g1, t = 265e-6 * E_CHARGE, 0.405e-6 * E_CHARGE, 0.5 * K_B

    def ref(v):
        ev = v * E_CHARGE

        def y(e):
            return (dynes_dos(e, d1, g1) * dynes_dos(e + ev, gap_el, j.gamma * sc.delta0)
                    * (fermi(e, t) - fermi(e + ev, t)))
        pts = sorted({-d1, d1, -ev - gap_el, -ev + gap_el, -ev, 0.0})
        lim = 4 * sc.delta0
        return 1e-6 / E_CHARGE * quad(y, -lim, lim, points=pts, limit=5000,
                                      epsabs=0, epsrel=1e-10)[0]

    expect = np.array([ref(v) for v in v_si])
    assert np.abs(i_si - expect).max() < 1e-3 * np.abs(expect).max()
    run_fvqp(["run", CASES / "usadel_sis_wire.toml", "--output", tmp_path])
    with h5py.File(tmp_path / "usadel_sis_wire.h5") as f:
        v_run, i_run = f["bias_mV"][:] * 1e-3, f["i_inj_A"][:]
    # key numbers (issue 20 §2): the current at the last bias is the SIS' integral there
    keys = json.loads((tmp_path / "summary.json").read_text())
    assert keys["i_inj_last_A"] == pytest.approx(expect[-1], rel=1e-3, abs=0)
    assert keys["bias_last_mV"] == pytest.approx(0.6, rel=1e-12, abs=0)
    assert np.allclose(v_run, v_si, rtol=1e-12, atol=0)
    assert np.abs(i_run - i_si).max() < 1e-9 * np.abs(i_si).max()
    diff_gap, sum_gap = (d1 - gap_el) / E_CHARGE, (d1 + gap_el) / E_CHARGE
    low = v_si < 0.3e-3
    assert abs(v_si[low][np.argmax(i_si[low])] - diff_gap) <= 0.5 * (v_si[1] - v_si[0])
    k = np.searchsorted(v_si, sum_gap)
    assert i_si[k] > 5 * i_si[k - 1] > 0


def _sis_case_file(tmp_path, **replace) -> str:
    """cases/usadel_sis_wire.toml with an absolute mesh path and the text replacements
    ``old=new`` (given as pairs in ``replace.values()``)."""
    from conftest import CASES

    text = (CASES / "usadel_sis_wire.toml").read_text().replace(
        'file = "../meshes/', f'file = "{CASES.parent}/meshes/')
    for old, new in replace.values():
        assert old in text
        text = text.replace(old, new)
    p = tmp_path / "usadel_sis_wire.toml"
    p.write_text(text)
    return str(p)


def test_tunnel_end_takes_its_electrode(tmp_path):
    """A `tunnel` wire end with gap and dynes_gamma (no material) becomes an S electrode
    in the set-up the run builds: Δ_e = the given 132.5 µeV = 0.5 Δ0, γ_e = 1e-2 Δ_e."""
    from fvqp.case.loader import load_case
    from fvqp.models.usadel.driver import build, internal_case
    from fvqp.models.usadel.electrode_case import case_electrodes

    path = _sis_case_file(tmp_path, end=('[boundaries.right]\ntype = "superconductor"',
                                         '[boundaries.right]\ntype = "tunnel"\n'
                                         'conductance = "2 uS"\ngap = "132.5 ueV"\n'
                                         'dynes_gamma = 1e-2'))
    case = internal_case(load_case(path))
    setup, _ = build(case)  # driver.build applies the electrodes (case_electrodes)
    js = {j.name: j for j in setup.junctions}
    assert {j.name: j for j in case_electrodes(case, setup.junctions)} == js  # once only
    assert js["right"].gap == pytest.approx(0.5, rel=1e-12, abs=0)
    assert js["right"].gamma == pytest.approx(5e-3, rel=1e-12, abs=0)
    assert js["junction"].gap > 0  # the Al electrode of the case


def test_check_refuses_an_s_detector(tmp_path):
    """fvqp check: an S electrode on a non-invasive detector (Eq. 14 is for a normal
    detector), named by its key."""
    from fvqp.case import CaseError
    from fvqp.case.loader import load_case

    with pytest.raises(CaseError) as exc:
        load_case(_sis_case_file(tmp_path, edit=("[sweep]", '[junctions.probe]\n'
                                                 'conductance = "1 uS"\nin_solve = false\n'
                                                 'gap = "180 ueV"\n\n[sweep]')))
    assert "junctions.probe.gap" in str(exc.value) and "Fix" in str(exc.value)


@pytest.mark.parametrize("gap_e", [GAP_E, 0.0])
def test_bias_derivative_of_an_s_electrode(gap_e, monkeypatch):
    """∂(fL, fT)/∂V of an S electrode (the matrix depends on V: A u' = b' − A'u) equals
    central differences of two full solves at V ± 1e-6 on the fine grid of V (measured
    8e-8, the differences' own truncation), and so does the slope dI_det/dV of a second,
    normal and passive, junction (g_nl of an SIS' injector). Letting the fine grid follow
    V ± 1e-5 (as two separate runs do) differs by the regrading of the electrode's peaks
    (measured 2.2e-4). A normal electrode (Δ_e = 0) keeps the exact NIS path (fT 2.7e-6
    from two runs at V ± 1e-5, whose Fermi-step grading moves with V)."""
    from fvqp.models.usadel import electrode
    from fvqp.models.usadel.kinetic import bias_derivative
    from fvqp.models.usadel.observables import detector_current
    from fvqp.models.usadel.tunnel import cell_widths, node_dos

    def inj(v):
        return TunnelJunction("J", 3, 0.05, v, T, gap=gap_e, gamma=GAMMA_E)

    def fd(dv):
        spec, res = _wire(junctions=[inj(v)])
        up, dn = (solve_linear(spec, res, [inj(v + s * dv)]) for s in (1.0, -1.0))
        g = [detector_current(k, 7, 0.01, [0.0], T)[0] for k in (up, dn)]
        return ((up.fL - dn.fL) / (2 * dv), (up.fT - dn.fT) / (2 * dv),
                (g[0] - g[1]) / (2 * dv))

    v = 1.75
    spec, res = _wire(junctions=[inj(v)])
    der = bias_derivative(spec, res, [inj(v)], "J")
    slope = 0.5 * 0.01 * np.dot(cell_widths(spec.eps), node_dos(spec, 7) * der.fT[:, 7])
    moving = fd(1e-5)
    if gap_e:  # the S terms on the fine grid of V: differences on that grid
        general = electrode.general_terms
        monkeypatch.setattr(electrode, "general_terms", lambda sp, j, c=True,
                            grid_bias=None: general(sp, j, c, grid_bias=v))
        fixed = fd(1e-6)
        assert np.abs(der.fT - moving[1]).max() < 1e-3 * np.abs(moving[1]).max()
    else:  # NIS: the exact derivative of the sources (its Fermi-step grid moves with V)
        fixed = moving
    tol = 1e-6 if gap_e else 1e-5
    for got, want in zip((der.fL, der.fT, slope), fixed, strict=True):
        assert np.abs(got - want).max() < tol * np.abs(want).max()
    assert slope != 0


def test_superconducting_injector_g_nl_is_the_slope_of_the_detector_current(tmp_path):
    """The NIS wire case with an Al (BCS, γ_e = 0) injector swept over 0.40–0.60 mV: the
    written g_nl is the slope of the written I_det (central differences, said in the
    summary) — ∫ g_nl dV equals ΔI_det over the sweep to 1 %. The exact derivative of
    the discrete problem, written before, had the wrong sign and ~100x the size there
    (the electrode's gap edge moves through the energy grid with V: review of
    2026-11-22, −1.58e-9 A against ΔI_det = +1.50e-11 A)."""
    import json

    import h5py

    from conftest import CASES, run_fvqp

    text = (CASES / "usadel_nis_wire.toml").read_text().replace(
        'file = "../meshes/', f'file = "{CASES.parent}/meshes/')
    for old, new in (('conductance = "24.6 uS"', 'conductance = "24.6 uS"\nmaterial = "Al"'),
                     ('start = "-0.795 mV"', 'start = "0.40 mV"'),
                     ('stop = "0.795 mV"', 'stop = "0.60 mV"'),
                     ("points = 31", "points = 21")):
        assert old in text
        text = text.replace(old, new, 1)
    case = tmp_path / "s_injector.toml"
    case.write_text(text)
    run_fvqp(["run", case, "--output", tmp_path / "o"])
    s = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert s["status"] == 0 and "superconducting injector" in s["g_nl"]
    with h5py.File(tmp_path / "o" / "s_injector.h5") as f:
        v, i_det, g = f["bias_mV"][:] * 1e-3, f["i_det_A"][:, 0], f["g_nl"][:, 0]
    integral = float(np.sum(0.5 * (g[1:] + g[:-1]) * np.diff(v)))
    assert integral == pytest.approx(i_det[-1] - i_det[0], rel=1e-2, abs=0)

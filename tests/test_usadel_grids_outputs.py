"""Usadel: graded energy grids, the spectral coefficients in the output, and bias
derivatives with respect to reservoir voltages (issue 20, §3)."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from scipy.integrate import quad

from conftest import CASES, run_fvqp
from fvqp.models.usadel.energygrid import graded_grid, uniform_grid
from fvqp.models.usadel.kinetic import bias_derivative, solve_linear
from fvqp.models.usadel.network import uniform_wire
from fvqp.models.usadel.observables import (
    charge_balance,
    charge_imbalance_potential,
    detector_current,
    integrate,
    tunnel_current,
)
from fvqp.models.usadel.spectral import SpectralProblem, solve_spectral, uniform_solution
from fvqp.models.usadel.terminals import Reservoir, TunnelJunction, electrode_distribution
from fvqp.models.usadel.tunnel import cell_bounds, cell_widths, charge_source_at, node_dos

GAMMA = 2e-3


# --- graded energy grids ------------------------------------------------------------------

def test_graded_grid_geometry():
    """Symmetric about 0 with 0 and ±1 (the gap edges) as nodes, smallest steps h_min at
    ±1, the largest h_max, neighbouring steps within the grading ratio; the trapezoid
    weights sum to the width 2E and integrate a linear function exactly."""
    e = graded_grid(0.04, 0.002, 4.0)
    assert np.array_equal(e, -e[::-1]) and 0.0 in e and 1.0 in e and e[-1] == 4.0
    h = np.diff(e)
    k = np.searchsorted(e, 1.0)
    assert h[k - 1] == pytest.approx(0.002, rel=1e-12) and h[k] == pytest.approx(0.002,
                                                                                rel=1e-12)
    assert h.min() == pytest.approx(0.002, rel=1e-12) and h.max() <= 0.04 * 1.5
    assert np.all(h[1:] / h[:-1] < 1.6) and np.all(h[1:] / h[:-1] > 1 / 1.6)
    assert e.size < 0.5 * uniform_grid(0.002, 4.0).size  # the point of the grading
    w = cell_widths(e)
    assert w.sum() == pytest.approx(8.0, rel=1e-14)
    assert integrate(3.0 * e + 2.0, e) == pytest.approx(16.0, rel=1e-14)


def test_graded_grid_tunnel_integrals_are_exact():
    r"""On a graded grid the charge-mode tunnel integrals stay exact: the cell integrals of
    the Dynes DOS equal its antiderivative Re√((ε+iΓ)²−Δ²) between the cell bounds
    (measured 7.8e-6 of the largest cell, 4.2e-5 on the uniform grid of the same h_max),
    and the NIS tunnel integral ∫N f_T^(N) equals an adaptive quadrature to 1e-5
    (measured 7.5e-6; uniform h_max grid 2.6e-5)."""
    v, t = 1.3, 0.05
    errors = {}
    for name, e in (("graded", graded_grid(0.04, 0.002, 4.0)), ("uniform", uniform_grid(0.04,
                                                                                        4.0))):
        s = uniform_solution(e, 1.0, GAMMA)
        b = cell_bounds(e)
        prim = np.sqrt((np.abs(b) + 1j * GAMMA) ** 2 - 1.0 + 0j).real * np.sign(b)
        cells = np.diff(prim)
        got = node_dos(s, 0) * cell_widths(e)
        errors[name] = np.abs(got - cells).max() / np.abs(cells).max()
        src = float(np.dot(cell_widths(e), charge_source_at(s, 0, v, t)))

        def f(x):
            g = (-1j * (x + 1j * GAMMA) / np.sqrt(1 - (x + 1j * GAMMA) ** 2 + 0j)).real
            return g * electrode_distribution(x, v, t)[1]

        cuts = [-4.0, -1.3, -1.0, 0.0, 1.0, 1.3, 4.0]
        ref = sum(quad(f, a, c, limit=500, epsabs=1e-14, epsrel=1e-13)[0]
                  for a, c in zip(cuts[:-1], cuts[1:], strict=True))
        errors[name + "_nis"] = abs(src / ref - 1)
    assert errors["graded"] < 2e-5 and errors["graded"] < errors["uniform"]
    assert errors["graded_nis"] < 1e-5


def _nis(eps, n=40):
    """S wire of 20 ξ between S reservoirs (t = 0.05), injector at 0 biased at 1.3 Δ0:
    μ_Q* 2 ξ away and the injector current."""
    t = 0.05
    net = uniform_wire(20.0, n, points={"inj": 0.0, "det": 2.0})
    res = [Reservoir("l", 0, "superconductor", temperature=t),
           Reservoir("r", n, "superconductor", temperature=t)]
    jun = [TunnelJunction("inj", net.node("inj"), 0.05, bias=1.3, temperature=t)]
    s = solve_spectral(SpectralProblem(net, 1.0, gamma=GAMMA, reservoirs=res, junctions=jun),
                       eps)
    k = solve_linear(s, res, jun)
    return np.array([charge_imbalance_potential(k)[net.node("det")],
                     tunnel_current(k, jun[0])])


def test_graded_grid_converges_to_the_uniform_answer():
    """μ_Q* and the injector current on graded grids (h_max, h_min) = (0.04, 0.004),
    (0.02, 0.002), (0.01, 0.001) approach the fine uniform grid (δε = 0.0025, 3201
    energies) monotonically (measured μ_Q* 1.6e-3, 8.0e-4, 3.7e-4 — about first order in
    h, partly the reference's own error, 1e-4 against δε = 0.005 —; current 2.2e-3,
    1.7e-4, 1.8e-6), the finest within 5e-4; and for the current 261 graded energies beat
    801 uniform ones (measured 7.7e-5 vs 2.4e-2)."""
    ref = _nis(uniform_grid(0.0025, 4.0))
    err = [np.abs(_nis(graded_grid(hm, hn, 4.0)) / ref - 1)
           for hm, hn in ((0.04, 0.004), (0.02, 0.002), (0.01, 0.001))]
    err = np.array(err)
    assert np.all(np.diff(err, axis=0) < 0), err
    assert err[-1].max() < 5e-4
    coarse = np.abs(_nis(graded_grid(0.04, 0.002, 4.0)) / ref - 1)
    uniform = np.abs(_nis(uniform_grid(0.01, 4.0)) / ref - 1)
    assert coarse[1] < 0.1 * uniform[1]


def test_graded_grid_case_matches_the_fine_uniform_grid(tmp_path):
    """The open-wire case (S wire, injector at 0.4 mV) on a graded grid (h_max 0.04,
    h_min 0.002: 261 energies) against the uniform δε = 0.0025 grid (3201): the injector
    current within 3e-5 (measured 1.0e-5) and the current into the reservoir within 1e-3
    (measured 4.1e-4), both closer than the case's own uniform δε = 0.01 grid with 801
    energies (2.3e-4, 5.1e-3); the written grid is symmetric, graded, 0 and ±Δ0 nodes."""
    out = {}
    for name, rep in (("g", 'grid = "graded"\nspacing = 0.04\nmin_spacing = 0.002'),
                      ("f", "spacing = 0.0025"), ("u", "spacing = 0.01")):
        h5 = _open_case(tmp_path, name, (("spacing = 0.01", rep),))
        out[name] = json.loads((h5.parent / "summary.json").read_text())
        if name == "g":
            with h5py.File(h5) as f:
                e = f["energy_grid_ueV"][:] / f["delta0_ueV"][()]  # ε/Δ0
    assert out["g"]["energies"] == 261 and np.array_equal(e, -e[::-1])
    assert 0.0 in e and 1.0 in e and np.diff(e).max() > 10 * np.diff(e).min()

    def err(name, key, term):
        return abs(out[name][key][term] / out["f"][key][term] - 1)

    assert err("g", "junction_currents_A", "junction") < 3e-5
    assert err("g", "reservoir_currents_A", "reservoir") < 1e-3
    for key, term in (("junction_currents_A", "junction"), ("reservoir_currents_A",
                                                            "reservoir")):
        assert err("g", key, term) < err("u", key, term)


# --- spectral coefficients in the output --------------------------------------------------

def _open_case(tmp_path, name, replace=()):
    text = (CASES / "usadel_open_wire.toml").read_text().replace(
        '"../meshes', f'"{CASES.parent}/meshes')
    for a, b in replace:
        assert a in text
        text = text.replace(a, b)
    p = tmp_path / f"{name}.toml"
    p.write_text(text)
    run_fvqp(["run", p, "--output", tmp_path / name])
    return tmp_path / name / f"{name}.h5"


def test_spectral_coefficients_normal_state_limit(tmp_path):
    """A normal wire (gap 0; normal reservoir; energy unit the Al gap): the written
    N = D_L = D_T = 1 and R_T = 0 at every (ε, x) exactly, j_ε = 0 to round-off (measured
    6.7e-60), energies in µeV."""
    h5 = _open_case(tmp_path, "normal", (('gap = "265 ueV"', 'gap = "0 ueV"'),
                                         ('type = "superconductor"', 'type = "normal"')))
    with h5py.File(h5) as f:
        g = f["spectral"]
        units = json.loads(g.attrs["units"])
        assert units["R_T_ueV"] == "ueV" and units["N"] == "1"
        assert g["N"].shape == (f["energy_grid_ueV"].size, f["x_um"].size)
        for k in ("N", "D_L", "D_T"):
            assert np.array_equal(g[k][:], np.ones(g[k].shape))
        assert not np.any(g["R_T_ueV"][:])
        assert np.abs(g["j_eps"][:]).max() < 1e-40  # Im θ² of a θ ~ 1e-30 (round-off)
        # Al: 1.764 k_B Tc with Tc = 1.2 K (fvqp material data) -> 182.4 µeV per Δ0
        nz = f["energy_grid_ueV"][:] != 0
        eps = f["energy_grid_ueV"][:][nz] / f["delta0_ueV"][()]  # ε/Δ0
        e = g["energy_ueV"][:][nz] / eps
        assert units["energy_ueV"] == "ueV"
        assert json.loads(f.attrs["units"])["energy_grid_ueV"] == "ueV"
    assert np.allclose(e, e[-1], rtol=1e-12, atol=0) and 150 < e[-1] < 200


def test_spectral_coefficients_of_a_superconducting_wire(tmp_path):
    """The S wire of the open-wire case: N even and j_ε odd in ε, D_T ≥ D_L, R_T > 0 at
    the open end, N → 0 inside the gap there, and every array equals the
    model's spectral solution (build + solve) to round-off; fvqp.post reads R_T in J."""
    from fvqp.case import load_case
    from fvqp.models.usadel.driver import build

    h5 = _open_case(tmp_path, "s")
    p = tmp_path / "s.toml"
    with h5py.File(h5) as f:
        g = {k: f["spectral"][k][:] for k in f["spectral"]}
        eps = f["energy_grid_ueV"][:] / f["delta0_ueV"][()]  # ε/Δ0
    assert np.allclose(g["N"], g["N"][::-1], rtol=0, atol=1e-12)
    assert np.allclose(g["j_eps"], -g["j_eps"][::-1], rtol=0, atol=1e-9)
    assert np.all(g["D_T"] >= g["D_L"] - 1e-12)
    end = -1  # the open end is the last mesh node
    inside = np.abs(eps) < 0.5  # Dynes tail Γ/Δ0 = 1.5e-3 and the injector's proximity
    assert g["N"][inside, end].max() < 0.005
    assert g["R_T_ueV"][np.abs(eps) < 3, end].min() > 0
    setup, meta = build(load_case(p))
    s = solve_spectral(setup.problem, setup.eps)
    ueV = meta["scales"].delta0 / 1.602176634e-25
    assert np.abs(g["N"] - s.N).max() < 1e-12
    assert np.abs(g["R_T_ueV"] - s.RT * ueV).max() < 1e-12 * ueV
    assert np.abs(g["j_eps"] - s.jeps).max() < 1e-12 * np.abs(s.jeps).max()
    # the root units table names the group's datasets: fvqp.post reads them in SI
    from fvqp.post.arrays import h5_arrays

    arr = h5_arrays(h5)
    assert arr["spectral/R_T_ueV"][1] == "J" and arr["spectral/N"][1] == "1"
    assert np.allclose(arr["spectral/R_T_ueV"][0], s.RT * meta["scales"].delta0,
                       rtol=1e-12, atol=1e-12 * meta["scales"].delta0)


# --- derivatives with respect to reservoir voltages ---------------------------------------

def _reservoir_device(v):
    t = 0.08
    net = uniform_wire(16.0, 64, points={"det": 2.0})
    res = [Reservoir("s", 0, "superconductor", temperature=t),
           Reservoir("n", 64, "normal", bias=v, temperature=t)]
    spec = solve_spectral(SpectralProblem(net, 1.0, gamma=GAMMA, reservoirs=res),
                          np.linspace(-4, 4, 401))
    return net, spec, res


def test_reservoir_bias_derivative_equals_finite_differences():
    """∂/∂V of the normal reservoir's bias by the exact linear response (its Dirichlet
    rows) equals central differences of two solves at V ± 1e-5 for the detector current
    (Eq. 14) and for fT everywhere (to 1e-8 relative: the O(h²) of the difference, 4e-7
    at h = 1e-4; measured 1.3e-9 for fT)."""
    v, h = 0.7, 1e-5
    net, spec, res = _reservoir_device(v)
    der = bias_derivative(spec, res, [], "n")
    det, kap = net.node("det"), 0.03

    def run(vv):
        rr = [res[0], Reservoir("n", 64, "normal", bias=vv, temperature=res[1].temperature)]
        return solve_linear(spec, rr, [])

    kp, km = run(v + h), run(v - h)
    fd = (kp.fT - km.fT) / (2 * h)
    assert np.abs(der.fT - fd).max() < 1e-8 * np.abs(fd).max()
    i_fd = (detector_current(kp, det, kap, [0.0], 0.08)[0]
            - detector_current(km, det, kap, [0.0], 0.08)[0]) / (2 * h)
    w = cell_widths(spec.eps)
    g = 0.5 * kap * float(np.dot(w, node_dos(spec, det) * der.fT[:, det]))
    assert g == pytest.approx(i_fd, rel=1e-8, abs=0) and g > 0
    with pytest.raises(ValueError, match="no junction or normal reservoir"):
        bias_derivative(spec, res, [], "s")


def test_reservoir_sweep_case_gives_exact_g_nl(tmp_path):
    """A case sweeping the normal reservoir of the Y network (end_1) with a detector at the
    network node: g_nl is the exact linear response dI_det/dV_res, equal to the central
    difference of the neighbouring biases' detector currents to O(δV²) (1e-4 of the
    largest; measured 1.6e-6), and i_inj is the current from the reservoir into the wire
    (−drained), growing with the bias; the sweep reports its progress per bias."""
    meshes = CASES.parent / "meshes"
    regions = "".join(f'''[regions.wire_{k}]
cross_section = "1000 nm^2"
gap = "180 ueV"
resistivity = "2e-8 Ohm m"
diffusivity = "20 cm^2/s"
dynes = "1 ueV"
''' for k in (1, 2, 3))
    p = tmp_path / "ysweep.toml"
    p.write_text(f'''model = "usadel"
[mesh]
file = "{meshes}/wire_network/wire_network.msh"
[bath]
temperature = "80 mK"
{regions}[boundaries.end_1]
type = "normal"
[boundaries.end_2]
type = "superconductor"
[boundaries.end_3]
type = "superconductor"
[junctions.node]
conductance = "10 uS"
in_solve = false
[energy]
spacing = 0.02
max = 4.0
[selfconsistency]
mode = "none"
[sweep]
reservoir = "end_1"
start = "0.25 mV"
stop = "0.27 mV"
points = 21
detector = "node"
[time]
steady = true
''')
    proc = run_fvqp(["run", p, "--output", tmp_path / "o"])
    s = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert s["g_nl"] == "exact linear response dI_det/dV_inj"
    # progress without a terminal: one line per bias with its share, wall time, time left
    lines = [x for x in proc.stderr.splitlines() if "usadel sweep " in x]
    assert len(lines) == 21 and "21/21 (100 %" in lines[-1] and "~0 s left" in lines[-1]
    assert "1/21 (5 %" in lines[0] and "s left" in lines[0]
    assert "bias 0.27 mV" in lines[-1] and "µeV" in lines[-1]  # SI-family units (issue 20)
    with h5py.File(tmp_path / "o" / "ysweep.h5") as f:
        v, i_det, g = f["bias_mV"][:] * 1e-3, f["i_det_A"][:, 0], f["g_nl"][:, 0]
        i_inj = f["i_inj_A"][:]
    fd = (i_det[2:] - i_det[:-2]) / (v[2:] - v[:-2])
    assert np.abs(g[1:-1] - fd).max() < 1e-4 * np.abs(g).max() and np.abs(g).max() > 0
    assert np.all(np.diff(i_inj) > 0) and i_inj[0] > 0


def test_reservoir_sweep_current_is_minus_the_drained_current():
    """:func:`injected_current` of a reservoir is minus its drained current, and equals
    the current into the S reservoir plus the charge imbalance converted (R_T)."""
    from fvqp.models.usadel.selfconsistent import injected_current

    net, spec, res = _reservoir_device(0.7)
    kin = solve_linear(spec, res, [])
    assert injected_current(kin, "n") == -charge_balance(kin)["drained"]["n"]
    assert injected_current(kin, "n") > 0
    b = charge_balance(kin)  # what enters from N leaves into S or into the condensate
    assert injected_current(kin, "n") == pytest.approx(b["drained"]["s"] + b["converted"],
                                                       rel=1e-10, abs=0)

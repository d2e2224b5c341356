"""Wire ends of the usadel model: zero flux and tunnel barriers (issue 20, §3).

Zero flux is the natural condition of the vertex-centred scheme (no Dirichlet row, no
boundary flux); a tunnel end is the Kupriyanov–Lukichev/Nazarov barrier to a normal
electrode, −κ sinθ in the spectral equation and κN(f^(N) − f) in the kinetic ones
(Eqs. 11–12; docs/theory_usadel.md).
"""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from conftest import CASES, run_fvqp
from fvqp.models.usadel.kinetic import solve_linear
from fvqp.models.usadel.network import WireNetwork, uniform_wire
from fvqp.models.usadel.observables import charge_balance, energy_balance
from fvqp.models.usadel.phase import PhaseProblem, solve_phase
from fvqp.models.usadel.spectral import SpectralProblem, solve_spectral
from fvqp.models.usadel.terminals import Reservoir, TunnelJunction

EPS = np.linspace(-3.0, 3.0, 241)  # includes ±1 (the gap edge) and 0
T = 0.1


def _half(n=60, length=8.0, end=None, delta=1.0, dphi=0.0):
    """Wire [0, L]: S reservoir at 0, injector at x = 2, the end x = L open (``end`` None)
    or closed by the tunnel junction ``end`` (κ, bias)."""
    net = uniform_wire(length, n, points={"inj": 2.0}, x0=0.0)
    res = [Reservoir("left", 0, "superconductor", temperature=T)]
    jun = [TunnelJunction("inj", net.node("inj"), 0.05, bias=1.6, temperature=T)]
    if end is not None:
        jun.append(TunnelJunction("end", n, end[0], bias=end[1], temperature=T))
    prob = SpectralProblem(net, delta, gamma=0.02, dphi=dphi, reservoirs=res, junctions=jun)
    spec = solve_spectral(prob, EPS)
    return spec, solve_linear(spec, res, jun)


def _mirrored(n=60, length=8.0, delta=1.0, dphi=0.0):
    """The mirror image about x = L: wire [0, 2L], S reservoirs at both ends, injectors at
    x = 2 and 2L − 2 (phase gradient odd under the mirror: −dphi on the second half)."""
    net = uniform_wire(2 * length, 2 * n, points={"a": 2.0, "b": 2 * length - 2.0}, x0=0.0)
    res = [Reservoir("left", 0, "superconductor", temperature=T),
           Reservoir("right", 2 * n, "superconductor", temperature=T)]
    jun = [TunnelJunction("inj", net.node(k), 0.05, bias=1.6, temperature=T)
           for k in ("a", "b")]
    g = np.concatenate([np.full(n, dphi), np.full(n, -dphi)])
    prob = SpectralProblem(net, delta, gamma=0.02, dphi=g, reservoirs=res, junctions=jun)
    spec = solve_spectral(prob, EPS)
    return spec, solve_linear(spec, res, jun)


@pytest.mark.parametrize("dphi", [0.0, 0.3])
def test_zero_flux_end_equals_the_mirrored_wire(dphi):
    """A wire with an open end equals the mirrored wire of twice the length on its half:
    θ, fL and fT to round-off (measured 1.6e-14, 3.6e-13, 8.4e-14; fL is the
    solution of near-singular D_L blocks below the gap), with and without a phase gradient
    (odd under the mirror, so the mirrored wire carries no supercurrent across its middle,
    as the open end)."""
    sh, kh = _half(dphi=dphi)
    sm, km = _mirrored(dphi=dphi)
    n = sh.theta.shape[1]
    assert np.abs(sh.theta - sm.theta[:, :n]).max() < 1e-12
    for f in ("fL", "fT"):
        assert np.abs(getattr(kh, f) - getattr(km, f)[:, :n]).max() < 1e-12
    # and the solution is not trivially flat: the injected charge imbalance is there
    assert np.abs(kh.fT[:, -1]).max() > 1e-3


def test_tunnel_end_tends_to_zero_flux_linearly_in_the_conductance():
    """An end closed by a tunnel barrier to a normal electrode (at another bias) differs
    from the open end by O(κ): the difference of θ and fT drops 10× per 10× smaller κ
    (ratios 10 ± 0.1; measured 7.9e-7 in θ, 2.0e-8 in fT at κ = 1e-7)."""
    s0, k0 = _half()
    diffs = []
    for kap in (1e-5, 1e-6, 1e-7):
        s, k = _half(end=(kap, -0.8))
        diffs.append((np.abs(s.theta - s0.theta).max(), np.abs(k.fT - k0.fT).max()))
    diffs = np.array(diffs)
    for col in range(2):
        r = diffs[:-1, col] / diffs[1:, col]
        assert np.all(np.abs(r - 10.0) < 0.1), r
    assert diffs[-1].max() < 1e-6 and diffs[0].min() > 1e-9


def test_tunnel_end_conserves_charge_and_energy():
    """With a biased tunnel end the kinetic currents balance to round-off: the tunnel
    currents of both junctions (Eq. 13) = current into the reservoir + charge imbalance
    converted (R_T); in a normal wire (R_T = 0) between a normal reservoir and the tunnel
    end the energy current too (L mode). Measured: 1.6e-15 relative."""
    s, k = _half(end=(0.02, -0.8))
    b = charge_balance(k)
    total = b["drained"]["left"] + b["converted"]
    assert abs(b["injected"]) > 1e-4
    assert b["injected"] == pytest.approx(total, rel=1e-11, abs=0)
    # normal wire, normal reservoir at the closed end: charge and energy both conserved
    net = uniform_wire(8.0, 60, points={"inj": 2.0}, x0=0.0)
    res = [Reservoir("left", 0, "normal", temperature=T)]
    jun = [TunnelJunction("inj", net.node("inj"), 0.05, bias=1.6, temperature=T),
           TunnelJunction("end", 60, 0.02, bias=-0.8, temperature=2 * T)]
    prob = SpectralProblem(net, 0.0, reservoirs=res, junctions=jun)
    kin = solve_linear(solve_spectral(prob, EPS), res, jun)
    cb, eb = charge_balance(kin), energy_balance(kin)
    assert cb["converted"] == 0.0
    assert cb["injected"] == pytest.approx(cb["drained"]["left"], rel=1e-11, abs=0)
    assert abs(eb["injected"]) > 1e-4
    assert eb["injected"] == pytest.approx(eb["drained"], rel=1e-11, abs=0)


def _t_network(n_main=40, n_branch=20):
    """Normal wire of length 1 (nodes 0..n_main) with a dangling normal branch of length
    0.5 from its middle, ending open."""
    x = np.linspace(0.0, 1.0, n_main + 1)
    pts = np.zeros((n_main + 1 + n_branch, 3))
    pts[: n_main + 1, 0] = x
    mid = n_main // 2
    pts[n_main + 1:, 0] = 0.5
    pts[n_main + 1:, 1] = np.linspace(0.5, 0.0, n_branch, endpoint=False)[::-1]
    a = np.concatenate([np.arange(n_main), [mid], np.arange(n_main + 1, n_main + n_branch)])
    b = np.concatenate([np.arange(1, n_main + 1), np.arange(n_main + 1, n_main + n_branch + 1)])
    length = np.linalg.norm(pts[b] - pts[a], axis=1)
    ones = np.ones(a.size)
    return WireNetwork(points=pts, edge_a=a, edge_b=b, length=length, area=ones,
                       diffusion=ones.copy(), edge_region=np.zeros(a.size, int),
                       region_names=["wire"], groups={}), mid


def test_spectral_supercurrent_is_conserved_with_an_open_branch():
    """SNS wire (E_Th units of the main line, reservoir gaps 50) at phase difference 1.5
    with a normal branch ending open at its middle: the spectral supercurrent per energy
    is zero along the branch (measured 1.6e-26 of the main current) and the same on every
    edge of the main line (Kirchhoff at the branch node; measured 1.8e-15)."""
    net, mid = _t_network()
    n_main = 40
    res = [Reservoir("l", 0, "superconductor", delta=50.0, phase=-0.75),
           Reservoir("r", n_main, "superconductor", delta=50.0, phase=0.75)]
    prob = PhaseProblem(net, 0.0, gamma=0.1, reservoirs=res)
    eps = np.linspace(-10.0, 10.0, 41)
    spec = solve_phase(prob, eps)
    js = spec.edge_js  # (n_eps, n_edges), along a -> b
    main, branch = js[:, :n_main], js[:, n_main:]
    scale = np.abs(main).max()
    assert scale > 1e-2
    assert np.abs(branch).max() < 1e-10 * scale
    assert np.abs(main - main[:, :1]).max() < 1e-10 * scale


# --- case files -------------------------------------------------------------------------

def test_open_wire_case(tmp_path):
    """cases/usadel_open_wire.toml by the CLI: the open end carries no current (μ_Q* flat
    at the end: zero gradient of the last node to 2nd order), outputs in the unit family of
    the other models (VTK points in m, gap in µeV), and the current balance of the summary:
    injected = into the reservoir + converted, converted > 0."""
    run_fvqp(["run", CASES / "usadel_open_wire.toml", "--output", tmp_path])
    s = json.loads((tmp_path / "summary.json").read_text())
    assert s["status"] == 0
    i_inj = s["junction_currents_A"]["junction"]
    i_res = s["reservoir_currents_A"]["reservoir"]
    assert 0 < i_res < i_inj  # part of the imbalance relaxes into the condensate
    import pyvista as pv

    m = pv.read(tmp_path / "usadel_open_wire.vtu")
    assert np.ptp(m.points[:, 0]) == pytest.approx(2e-6, rel=1e-9, abs=0)
    assert np.allclose(m.cell_data["gap"], 265.0, rtol=1e-12, atol=0)  # µeV
    with h5py.File(tmp_path / "usadel_open_wire.h5") as f:
        mu, x = f["mu_uV"][:], f["x_um"][:]
    o = np.argsort(x)
    mu, x = mu[o], x[o]
    # one-sided slope at the open end ≈ 0 relative to the slope near the reservoir
    end_slope = abs(mu[-1] - mu[-2]) / (x[-1] - x[-2])
    near_res = abs(mu[1] - mu[0]) / (x[1] - x[0])
    assert end_slope < 0.05 * near_res


def _drop_group(src, dst, group):
    """A copy of the mesh file ``src`` without the point group ``group`` (its end becomes
    unlabelled)."""
    import meshio

    m = meshio.read(src)
    tag = m.field_data.pop(group)[0]
    keep = [k for k, c in enumerate(m.cells)
            if not (c.type == "vertex" and np.all(m.cell_data["gmsh:physical"][k] == tag))]
    cells = [m.cells[k] for k in keep]
    data = {k: [v[i] for i in keep] for k, v in m.cell_data.items()}
    meshio.write(dst, meshio.Mesh(m.points, cells, cell_data=data, field_data=m.field_data),
                 file_format="gmsh22", binary=False)


def _case_text(mesh, end_table):
    return f'''model = "usadel"
[mesh]
file = "{mesh}"
[bath]
temperature = "50 mK"
[regions.wire]
gap = "265 ueV"
cross_section = "1200 nm^2"
resistivity = "1.5818e-7 Ohm m"
diffusivity = "16.9 cm^2/s"
dynes = "0.405 ueV"
[boundaries.reservoir]
type = "superconductor"
{end_table}
[junctions.junction]
conductance = "25 uS"
bias = "0.4 mV"
temperature = "50 mK"
[energy]
spacing = 0.02
max = 4.0
[selfconsistency]
mode = "none"
[time]
steady = true
'''


def test_unlabelled_end_takes_a_condition(tmp_path):
    """The open-wire mesh without the ``open_end`` group: with no condition the end is
    refused as before (exit 2, "has no condition"); ``[boundaries.unlabelled]`` zero_flux
    gives the labelled run's μ_Q* to round-off; a tunnel end on it reports its current."""
    mesh = CASES.parent / "meshes" / "usadel_open_wire" / "usadel_open_wire.msh"
    bare = tmp_path / "bare.msh"
    _drop_group(str(mesh), str(bare), "open_end")
    bad = tmp_path / "bad.toml"
    bad.write_text(_case_text(bare, ""))
    proc = run_fvqp(["run", bad, "--output", tmp_path / "bad"], check=False)
    assert proc.returncode == 2 and "'unlabelled'" in proc.stderr
    assert "has no condition" in proc.stderr and "zero_flux" in proc.stderr
    out = {}
    for tag, m, table in (("lab", mesh, '[boundaries.open_end]\ntype = "zero_flux"'),
                          ("unl", bare, '[boundaries.unlabelled]\ntype = "zero_flux"'),
                          ("tun", bare, '[boundaries.unlabelled]\ntype = "tunnel"\n'
                                        'conductance = "5 uS"\nbias = "-0.3 mV"')):
        p = tmp_path / f"{tag}.toml"
        p.write_text(_case_text(m, table))
        run_fvqp(["run", p, "--output", tmp_path / tag])
        with h5py.File(tmp_path / tag / f"{tag}.h5") as f:
            out[tag] = f["mu_uV"][:]
            end = int(np.argmax(f["points_um"][:, 0]))   # the far end, x = 2 um
        out[tag + "_s"] = json.loads((tmp_path / tag / "summary.json").read_text())
    assert np.abs(out["unl"] - out["lab"]).max() < 1e-12 * np.abs(out["lab"]).max()
    # the tunnel end: a current through it (into the wire from the electrode at −0.3 mV
    # is negative), and μ_Q* pulled towards the electrode at the end node (measured 0.0559
    # against 0.0719 uV; the wire's minima are the reservoir's μ = 0 to round-off, ±1e-17,
    # so they are not compared)
    i_end = out["tun_s"]["junction_currents_A"]["unlabelled"]
    assert i_end < -1e-10
    assert out["tun"][end] < out["lab"][end] - 1e-3 * np.abs(out["lab"]).max()

"""Tunnel junctions spread over mesh segments (conductance per length) and the SNS case."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from conftest import CASES, MESHES, run_fvqp
from fvqp.mesh import read_mesh
from fvqp.models.usadel.kinetic import solve_linear
from fvqp.models.usadel.network import network_from_mesh, uniform_wire
from fvqp.models.usadel.observables import (
    charge_balance,
    charge_imbalance_potential,
    tunnel_current,
)
from fvqp.models.usadel.spectral import SpectralProblem, solve_spectral
from fvqp.models.usadel.terminals import Reservoir, TunnelJunction, segment_junctions


def _s_wire(n=400, length=20.0, t=0.05):
    net = uniform_wire(length, n, points={"det": 3.0})
    res = [Reservoir("l", 0, "superconductor", temperature=t),
           Reservoir("r", n, "superconductor", temperature=t)]
    return net, res


def _solve(net, res, jun, dphi=0.0, gamma=0.02, eps=None):
    eps = np.linspace(-4, 4, 321) if eps is None else eps
    prob = SpectralProblem(net, 1.0, gamma=gamma, dphi=dphi, reservoirs=res, junctions=jun)
    return solve_linear(solve_spectral(prob, eps), res, jun)


def test_segment_junction_charge_conservation():
    """Injected (segment + point junction) = drained + converted, with a phase gradient
    (fL-fT mixing) and the inverse-proximity term of the segment in the spectral equation."""
    net, res = _s_wire(200, 20.0)
    x = net.points[:, 0]
    edges = (x[net.edge_a] >= -1.0 - 1e-9) & (x[net.edge_b] <= 1.0 + 1e-9)
    jun = segment_junctions(net, edges, 2e-3, "seg", bias=1.7, temperature=0.05)
    jun.append(TunnelJunction("pt", net.node("det"), 2e-3, bias=-0.6, temperature=0.08))
    kin = _solve(net, res, jun, dphi=0.3, gamma=3e-3, eps=np.linspace(-4, 4, 801))
    cb = charge_balance(kin)
    seg = sum(tunnel_current(kin, j) for j in jun if j.name == "seg")
    assert abs(seg) > 1e-4 and abs(cb["converted"]) > 1e-3 * abs(seg)
    total = cb["converted"] + sum(cb["drained"].values())
    assert total == pytest.approx(cb["injected"], rel=1e-9, abs=1e-14)


def test_segment_shrinking_to_a_point_converges():
    """A segment of half-width w centred on x = 0 with κ' = κ/2w tends to the point
    junction κ at x = 0 (tunnel current and μ_Q* at the detector 3 ξ away). The
    difference falls at least linearly in w (obtained error ratios 2.3 per halving for the
    current, 2.9 and 2.5 for μ_Q*): the injection κN(f^(N) − f) samples f over the
    segment, and f has a kink |x| at a point source, hence O(w) rather than O(w²);
    errors 1e-4 and 6e-4 at w = 0.2 ξ."""
    net, res = _s_wire(400, 20.0)
    x = net.points[:, 0]
    kw = dict(bias=2.0, temperature=0.05)
    point = _solve(net, res, [TunnelJunction("j", int(np.argmin(abs(x))), 5e-3, **kw)])
    ref = np.array([tunnel_current(point, point.junctions[0]),
                    charge_imbalance_potential(point)[net.node("det")]])
    err = []
    for w in (0.8, 0.4, 0.2):
        edges = (x[net.edge_a] >= -w - 1e-9) & (x[net.edge_b] <= w + 1e-9)
        jun = segment_junctions(net, edges, 5e-3 / (2 * w), "j", **kw)
        assert sum(j.kappa for j in jun) == pytest.approx(5e-3, rel=1e-13, abs=0)
        kin = _solve(net, res, jun)
        val = np.array([sum(tunnel_current(kin, j) for j in jun),
                        charge_imbalance_potential(kin)[net.node("det")]])
        err.append(np.abs(val / ref - 1))
    err = np.array(err)
    assert err[-1].max() < 1e-3
    assert np.all((1.9 < err[:-1] / err[1:]) & (err[:-1] / err[1:] < 4.5))


def test_segment_conductance_normal_state():
    """Normal wire (Δ = 0) between normal reservoirs, tunnel contact along the
    `probe_segment` line group of meshes/usadel_sns: the weights sum to κ' × length
    exactly, and the tunnel-limited conductance I/V equals κ' × length (the wire's series
    resistance, κ'ℓ R_wire ≈ 1e-6 here, is the only correction)."""
    net = network_from_mesh(read_mesh(MESHES / "usadel_sns" / "usadel_sns.msh"), xi=0.1)
    seg = net.edge_region == net.region_names.index("probe_segment")
    length = float(net.length[seg].sum())
    assert length == pytest.approx(2.0, rel=1e-12)  # 0.2 µm in units of 0.1 µm
    kp, v, t = 1e-6, 0.4, 0.05
    res = [Reservoir("l", net.node("s_left"), "normal", temperature=t),
           Reservoir("r", net.node("s_right"), "normal", temperature=t)]
    jun = segment_junctions(net, seg, kp, "seg", bias=v, temperature=t)
    assert sum(j.kappa for j in jun) == pytest.approx(kp * length, rel=1e-14, abs=0)
    assert len(jun) == 21
    eps = np.linspace(-2, 2, 401)
    prob = SpectralProblem(net, 0.0, gamma=0.0, reservoirs=res, junctions=jun)
    kin = solve_linear(solve_spectral(prob, eps), res, jun)
    assert np.allclose(kin.spectral.N, 1.0)
    g = sum(tunnel_current(kin, j) for j in jun) / v
    assert g == pytest.approx(kp * length, rel=1e-5)


def _small_case(tmp_path, replace=None):
    text = (CASES / "usadel_sns_phase.toml").read_text().replace(
        "../meshes", str(CASES.parent / "meshes")).replace("spacing = 0.004", "spacing = 0.01")
    for a, b in (replace or {}).items():
        assert a in text
        text = text.replace(a, b)
    p = tmp_path / "usadel_sns_phase.toml"
    p.write_text(text)
    return p


def test_sns_phase_case_runs_and_conserves_charge(tmp_path):
    """cases/usadel_sns_phase.toml (δε = 0.01 Δ0 instead of 0.004) by the CLI: the current
    drained into the two S reservoirs equals the segment's tunnel current; the total
    current is constant along the wire outside the segment and changes across it by the
    injected current; the supercurrent flows from the phase +1 to the phase −1 side."""
    p = _small_case(tmp_path)
    run_fvqp(["run", p, "--output", tmp_path / "o"])
    s = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert s["status"] == 0
    i_j = s["junction_currents_A"]["probe_segment"]
    res = s["reservoir_currents_A"]
    assert 1e-8 < i_j < 3e-8  # ≲ 1 mS × 30 µV
    assert sum(res.values()) == pytest.approx(i_j, rel=1e-8, abs=0)
    with h5py.File(tmp_path / "o" / "usadel_sns_phase.h5") as f:
        i_e, pts = f["edge_current_A"][:], f["points_um"][:]
    raw = read_mesh(MESHES / "usadel_sns" / "usadel_sns.msh")
    net = network_from_mesh(raw, xi=1.0)
    xm = 0.5 * (pts[net.edge_a, 0] + pts[net.edge_b, 0])
    left, right = i_e[xm < 0.4], i_e[xm > 0.6]
    assert np.ptp(left) < 1e-9 * abs(left.mean()) and np.ptp(right) < 1e-9 * abs(left.mean())
    assert right.mean() - left.mean() == pytest.approx(i_j, rel=1e-6, abs=0)
    assert left.mean() < -100 * i_j  # towards x = 0: from the phase +1 to the -1 reservoir
    assert (tmp_path / "o" / "usadel_sns_phase.png").stat().st_size > 10000


def test_segment_case_errors(tmp_path):
    """Unknown segment/point names, a point junction given per length, and both
    conductances: errors that name the key and the fix."""
    from fvqp.case import CaseError, load_case

    p = _small_case(tmp_path, {"[junctions.probe_segment]": "[junctions.probe_segmnt]"})
    proc = run_fvqp(["run", p, "--output", tmp_path / "o"], check=False)
    assert proc.returncode == 2
    assert "probe_segmnt" in proc.stderr and "probe_segment" in proc.stderr
    assert "Fix:" in proc.stderr
    p = _small_case(tmp_path, {"[junctions.probe_segment]": "[junctions.probe_center]"})
    proc = run_fvqp(["run", p, "--output", tmp_path / "o"], check=False)
    assert proc.returncode == 2 and "needs conductance" in proc.stderr
    p = _small_case(tmp_path, {'bias = "30 uV"': 'bias = "30 uV"\nconductance = "1 mS"'})
    with pytest.raises(CaseError) as exc:
        load_case(p)
    assert "junctions.probe_segment" in str(exc.value) and "exactly one" in str(exc.value)

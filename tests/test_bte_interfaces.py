"""bte on multi-material devices (issue 16 §1): regions of different superconductors meet
at interfaces on one energy grid, regions left out (active = false) become walls.

Geometry: meshes/bte_gapstep (Al "low" | Sn "high" at x = 4 um, a left-out cap on top),
cases/bte_gapstep.toml. Requirements pinned here: particle (and, bin by bin, energy)
conservation at every interface to round-off; an equilibrium at one temperature stays
stationary across the gap step and a trap (1e-12); QPs between the two gaps are reflected
exactly (the same solution as a wall in place of the higher-gap side); the transmission
is reciprocal (N0_a v_a T_ab = N0_b v_b T_ba, bin by bin)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import case_variant, run_fvqp
from fvqp.case import load_case
from fvqp.models.bte.driver import BTESimulation
from fvqp.models.bte.media import Media
from fvqp.spectra import fermi
from fvqp.spectra.bins import BinGrid

MODELS = ("diffuse", "specular")
NO_SOURCE = {'[[sources]]\ntype = "quasiparticle"\nregion = "high"\nenergy = "600 ueV"\n'
             'width = "10 ueV"\npower = "1 pW"\n': ""}


def _sim(tmp_path, model="diffuse", **repl) -> BTESimulation:
    tmp_path.mkdir(exist_ok=True)
    p = case_variant("bte_gapstep.toml", tmp_path,
                     **{'model = "diffuse"': f'model = "{model}"', **repl})
    return BTESimulation(load_case(p))


@pytest.mark.parametrize("model", MODELS)
def test_transmission_is_reciprocal_and_zero_below_the_far_gap(model):
    """M_a D_a T_ab = M_b D_b T_ba in every bin (M = w v_F, D the part of the bin above
    the gap); T_ab = 0 exactly where b has no states; 0 <= T <= 1."""
    grid = BinGrid.build(1.0, 0.07, 4.0)
    med = Media(np.array([1.0, 1.83, 2.41]), np.array([3.0, 1.1, 2.0]),
                np.array([0.7, 2.9, 1.3]), model)
    _, _, dl = med.spectra(grid, 1.0)
    t = med.transmission(dl)
    m = med.weight * med.v_f
    flow = m[:, None, None] * dl[:, None, :] * t       # a -> b channels per bin
    np.testing.assert_allclose(flow, flow.transpose(1, 0, 2), rtol=1e-15, atol=0)
    below = (dl[None, :, :] == 0) & (dl[:, None, :] > 0)
    assert below.any() and np.all(t[below] == 0.0)
    assert np.all((t >= 0) & (t <= 1))
    above = (dl[:, None, :] == 1) & (dl[None, :, :] == 1)
    tab = {"diffuse": m[None, :] / (m[:, None] + m[None, :]),
           "specular": np.minimum(1, m[None, :] / m[:, None])}[model]
    np.testing.assert_allclose(t[:, :, -1], tab, rtol=1e-15)
    assert above[:, :, -1].all()


@pytest.mark.parametrize("model", MODELS)
def test_interfaces_conserve_particles_and_energy_bin_by_bin(tmp_path, model):
    """Closed strip (every boundary reflecting): for a random state x (phi = angle mean),
    the quadrature-weighted sum of the steady residual over all cells vanishes in every
    bin to round-off — no particle is created or lost at the gap step; the bins have the
    same energy on both sides, so the energy is conserved with them."""
    sim = _sim(tmp_path, model, **{'[boundaries.low_end]\ntype = "bath"':
                                   '[boundaries.low_end]\ntype = "specular"'})
    p = sim.problem
    assert p.stream.interfaces is not None and len(p.stream.interfaces.a) == 4
    rng = np.random.default_rng(3)
    n, B, K = p.n, p.B, p.K
    w = p.quad.weights
    worst, crossing = 0.0, 0
    for j in range(p.N):
        f = rng.random((n, K))
        x = np.concatenate([f, (f @ w)[:, None]], axis=1)
        live = ~p.dead[j]
        r = (p.local_matrix(j, 0.0) @ x.ravel()).reshape(n, B)[:, :K]
        terms = np.abs(p.local_matrix(j, 0.0)).dot(np.abs(x.ravel())).reshape(n, B)[:, :K]
        worst = max(worst, abs(float(np.sum(r[live] @ w))) / float(np.sum(terms[live] @ w)))
        crossing += bool(live.all())
    assert crossing > 0          # bins above both gaps cross the step
    assert worst < 1e-14


def _equilibrium_drift(sim, steps=3, dt=0.05):
    p = sim.problem
    feq = fermi(sim.grid.e, sim.T_bath)
    x0 = p.equilibrium(feq)
    worst = 0.0
    for j in range(p.N):
        r = p.march(j, x0[j].copy(), dt, steps, bdf2=False)
        assert r["failed"] is None
        worst = max(worst, float(np.max(np.abs(r["final"] - x0[j]))) / feq[j])
    return worst


@pytest.mark.parametrize("model", MODELS)
def test_equilibrium_is_stationary_across_gap_step_and_trap(tmp_path, model):
    """f = f_FD(E, T_bath) in every cell, bath contact at T_bath, a trap in the Sn: three
    backward-Euler steps of every bin leave it unchanged to 1e-12 (relative to f)."""
    sim = _sim(tmp_path, model, **NO_SOURCE,
               **{'temperature = "100 mK"': 'temperature = "500 mK"',
                                   'mean_free_path = "0.5 um"':
                                   'mean_free_path = "0.5 um"\ntrap_time = "1 ns"'})
    assert np.max(sim.trap) > 0
    assert _equilibrium_drift(sim) < 1e-12


def test_equilibrium_drifts_with_a_non_reciprocal_transmission(tmp_path, monkeypatch):
    """The stationarity test can fail: a transmission violating detailed balance
    (T_ab = T_ba = 1/2 although N0 v_F differ) moves the equilibrium."""
    monkeypatch.setattr(Media, "pair_transmission",
                        lambda self, a, b, dl: np.where((dl[a] > 0) & (dl[b] > 0), 0.5,
                                                        0.0))
    sim = _sim(tmp_path, "diffuse", **NO_SOURCE,
               **{'temperature = "100 mK"': 'temperature = "500 mK"'})
    assert _equilibrium_drift(sim) > 1e-6


def _steady_low(sim, js):
    """Steady f of bins ``js`` in the Al cells, sorted by cell centroid."""
    p = sim.problem
    src = p.source_rates(0.0, np.inf)
    reg = p.loc.cell_region[: p.n]
    low = reg == sim.geometry.region_names.index("low")
    cen = sim.geometry.centroid[p.dist.local.cells[: p.n]]
    order = np.lexsort((cen[low, 1], cen[low, 0]))
    out = []
    for j in js:
        x, res = p.solve(j, 0.0, p.rhs(j, src=src[:, j]))
        assert res.success
        out.append(x.reshape(p.n, p.B)[low][order])
    return np.array(out)


@pytest.mark.parametrize("model", MODELS)
def test_qps_between_the_gaps_are_reflected_exactly(tmp_path, model):
    """QPs injected into the Al between the Al and Sn gaps: with the Sn present the Al's
    steady state in those bins equals (1e-12) that of the Al alone with a wall of the same
    kind (specular / diffuse) in place of the step: the step reflects them entirely."""
    src = {'region = "high"\nenergy = "600 ueV"': 'region = "low"\nenergy = "300 ueV"',
           'width = "10 ueV"': 'width = "40 ueV"',
           'spacing = "10 ueV"': 'spacing = "10 ueV"\ne_max = "700 ueV"',  # one grid
           'wall = "diffuse"': f'wall = "{model}"'}
    both = _sim(tmp_path / "a", model, **src)
    alone = _sim(tmp_path / "b", model, **src,
                 **{'[regions.high]\nmaterial = "Sn"':
                    '[regions.high]\nactive = false\nmaterial = "Sn"',
                    '[boundaries.high_end]\ntype = "specular"\n': ''})
    assert both.problem.stream.interfaces is not None
    assert alone.problem.stream.interfaces is None and alone.geometry.n_cells == 32
    assert both.grid == alone.grid
    dl_sn = both.problem.v_r[both.geometry.region_names.index("high")]
    js = np.flatnonzero(dl_sn == 0)
    assert len(js) > 10
    a, b = _steady_low(both, js), _steady_low(alone, js)
    assert np.max(a.max(axis=(1, 2)) / both.f_bath[js]) > 1e3  # QPs were injected
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12 * np.max(np.abs(b)))


def test_gapstep_case_runs(tmp_path):
    """cases/bte_gapstep.toml end to end: the cap is left out (64 of 96 cells), QPs
    injected in the Sn cross the step and leave through the Al's bath end: outflow ==
    injection to round-off."""
    p = case_variant("bte_gapstep.toml", tmp_path)
    out = tmp_path / "out"
    run_fvqp(["run", p, "--output", out])
    s = json.loads((out / "summary.json").read_text())
    assert s["status"] == 0 and s["n_cells"] == 64
    r = s["qp_rates_per_s"]
    assert r["sources"] > 0 and r["boundary:low_end"] < 0  # into the system: out < 0
    assert abs(s["rate_imbalance_per_s"]) < 1e-12 * abs(r["sources"])
    assert set(s["gaps_ueV"]) == {"low", "high"}
    assert s["gaps_ueV"]["high"] > 3 * s["gaps_ueV"]["low"]

"""A hot spot suppresses the gap locally and the gap recovers as the QPs leave (issue 16
§2, fvqp/models/bte/gapdynamics.py): collisionless Al film, closed, 100 mK; the gap of
every cell self-consistent with its QPs after every backward-Euler step."""

from __future__ import annotations

import dataclasses

import numpy as np

from conftest import case_variant
from fvqp.case import load_case
from fvqp.models.bte.driver import BTESimulation
from fvqp.models.bte.gapdynamics import gap_step, gap_update, per_bin, per_cell
from fvqp.spectra import fermi
from fvqp.spectra.bins import BinGrid

_CLOSED = {'[boundaries.trap_end]\ntype = "absorbing"': '[boundaries.trap_end]\ntype = "diffuse"',
           'trap_time = "50 ps"\n': "", 'enabled = true\nphonons = "local"': "enabled = false"}


def test_hot_spot_suppresses_the_gap_and_it_recovers(tmp_path):
    """QPs (+0.05 occupation from the gap to 1.25 Delta) in a 4 um spot: the spot's
    self-consistent gap is > 3 % below the rest; after 8 steps of 5 ps the QPs have
    spread (diffusion ~ 28 um) and less than 40 % of the suppression is left, the far
    cells' gaps moved less than the spot's; the QP number is the same at every step
    (1e-9: solver tolerance and the exact remap) and the occupations stay >= 0."""
    sim = BTESimulation(load_case(case_variant("bte_film_relaxation.toml", tmp_path,
                                               **_CLOSED)))
    base = sim.problem
    d_al = float(base.gap)
    g = BinGrid.build(0.85 * d_al, d_al / 16, 1.6 * d_al)
    fb = fermi(g.e, sim.T_bath)
    p = dataclasses.replace(base, grid=g, f_bath=fb, f_in={k: fb for k in base.f_in},
                            states=None, flux=None, sources=[],
                            trap_rate=np.zeros_like(base.trap_rate),
                            cell_gap=np.full(base.loc.n_local, d_al))
    mat = sim.materials[0]
    delta0 = np.full(p.n, mat.gap_ratio * mat.Tc / sim.units.Tc)
    xc = sim.dist.geometry.centroid[p.loc.cells[: p.n], :2]
    spot = np.hypot(xc[:, 0] - 15.0, xc[:, 1] - 10.0) < 4.0
    far = np.hypot(xc[:, 0] - 15.0, xc[:, 1] - 10.0) > 35.0
    assert spot.sum() >= 2 and far.sum() >= 10
    y = per_cell(p, p.equilibrium(fb))
    y[spot] += 0.05 * ((g.e > d_al) & (g.e < 1.25 * d_al))[None, :, None]
    p, x, up = gap_update(p, per_bin(p, y), delta0)
    assert up.converged
    d_start = p.cell_gaps()
    supp0 = d_start[far].mean() - d_start[spot].mean()
    assert supp0 > 0.03 * d_start[far].mean()
    n0 = p.number(x)
    dt = 5e-12 / sim.units.tau0
    for step in range(8):
        p, x, up, res = gap_step(p, x, step * dt, dt, delta0)
        assert up.converged and all(r.success for r in res)
        assert abs(p.number(x) - n0) < 1e-9 * n0
        assert per_cell(p, x)[:, :, : p.K].min() >= -1e-12
    d_end = p.cell_gaps()
    assert d_end[far].mean() - d_end[spot].mean() < 0.4 * supp0
    assert abs(d_end[far].mean() - d_start[far].mean()) < \
        abs(d_end[spot].mean() - d_start[spot].mean())

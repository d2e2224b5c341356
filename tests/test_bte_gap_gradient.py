"""A static gap varying in space in the bte model (issue 16 §2, BTEProblem(cell_gap=...)):
every cell's storage and flux from its own gap, faces between cells of different gaps
as flux-matching interfaces (N v = N0 v_F continuous above both gaps, total reflection of
the part of a bin below the far gap: the turning points). An equilibrium at one
temperature is a zero of every bin's system (1e-12) across the gradient."""

from __future__ import annotations

import dataclasses
import tracemalloc

import numpy as np

from conftest import case_variant
from fvqp.case import load_case
from fvqp.models.bte.driver import BTESimulation


def _sim(tmp_path):
    p = case_variant("bte_film_pulse.toml", tmp_path, **{
        'temperature = "20 mK"': 'temperature = "300 mK"',
        '[boundaries.trap_end]\ntype = "absorbing"': '[boundaries.trap_end]\ntype = "diffuse"'})
    return BTESimulation(load_case(p))


def test_equilibrium_is_stationary_across_a_gap_gradient(tmp_path):
    """Al film at 300 mK with the gap raised linearly along x by up to 30 % (turning
    points inside the two lowest bins): f_FD(300 mK) in every ordinate is a zero of every
    bin's steady system to 1e-12 of its terms, the cells carry their own gaps (output
    `gap`), the gradient makes interfaces with fractional bins on both sides, and a bin
    wholly below the far side's gap is reflected entirely (T = 0)."""
    sim = _sim(tmp_path)
    base = sim.problem
    xc = sim.dist.geometry.centroid[base.loc.cells, 0]
    gap = base.gap * (1.0 + 0.3 * (xc - xc.min()) / np.ptp(xc))
    p = dataclasses.replace(base, cell_gap=gap)
    assert p.stream.interfaces is not None and len(p.stream.interfaces.a) > 0
    np.testing.assert_array_equal(p.cell_gaps(), gap[: p.n])
    dl = p.v_c / p.v_f                              # (N, n_local) D_L per bin and cell
    frac = (dl > 0) & (dl < 1)
    assert frac[0].sum() > 3 and frac[1].sum() > 3     # turning points in two bins
    x_eq = p.equilibrium(sim.f_bath)
    for j in range(p.N):
        a = p.local_matrix(j, 0.0)
        r = a @ x_eq[j] - p.rhs(j)
        scale = np.abs(a) @ np.abs(x_eq[j])
        assert np.abs(r).max() <= 1e-12 * scale.max()
    # the transmission into a cell with no states in a bin is 0 (exact reflection)
    blocked_faces = 0
    for a, b, tab in p.face_transmissions():
        blocked = (dl[:, a] > 0) & (dl[:, b] == 0)                  # (N, F)
        assert np.all(tab.T[blocked] == 0.0)
        blocked_faces += int(blocked[0].sum())
    assert blocked_faces > 0                                         # such faces exist


def test_a_round_off_gap_difference_is_no_interface(tmp_path):
    """The absorber (Ta pad, Al lead; material interfaces ``diffuse``) with a per-cell
    gap: gaps that differ from the regions' by 1e-13 give every bin's operator of the
    equal-gap one to 1e-9. Faces between cells of one material whose gaps differ are
    specular (a QP keeps its direction across a gap gradient, notes Eq. 56); with the
    case's diffuse rule on them every such face re-emitted isotropically — an O(1) jump
    in the operator (and the per-cell absorber runs differed between preconditioners by
    6e-3 in the current)."""
    p = case_variant("bte_absorber3d.toml", tmp_path, **{
        'spacing = "50 ueV"': 'spacing = "200 ueV"', "polar = 2": "polar = 1"})
    sim = BTESimulation(load_case(p))
    base = sim.problem
    assert base.media is not None and base.media.model == "diffuse"
    reg = base.loc.cell_region
    gap = np.asarray(base.media.gap, dtype=float)[reg]
    even = dataclasses.replace(base, cell_gap=gap)
    rng = np.random.default_rng(1)
    sc = gap > 0
    nudged = np.where(sc, gap * (1.0 + 1e-13 * rng.uniform(0.5, 1.0, gap.shape)), gap)
    tracemalloc.start()
    odd = dataclasses.replace(base, cell_gap=nudged)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    # ~a medium per cell: the interface data are per face, not per pair of media (a
    # (media, media, bins) table: 3.4 MB here, 0.7 TB with 53 120 cells and 32 bins;
    # the build's peak with such a table measured 10.9 MB)
    media = len(odd.cell_media.gap)
    assert media > 100                   # (the nudges leave ~230 distinct gaps)
    assert peak < 0.5 * media**2 * base.N * 8, (peak, media)
    # the nudged gaps make every face inside a film an interface between two media
    n_even = 0 if even.stream.interfaces is None else len(even.stream.interfaces.a)
    assert len(odd.stream.interfaces.a) > 10 * max(n_even, 1)
    for j in range(base.N):
        a, b = even.local_matrix(j, 1.0), odd.local_matrix(j, 1.0)
        assert abs(a - b).max() <= 1e-9 * abs(a).max(), j
    # and the equal-gap problem is the regions' one (the interfaces between materials)
    for j in range(base.N):
        a, b = even.local_matrix(j, 1.0), base.local_matrix(j, 1.0)
        assert abs(a - b).max() <= 1e-14 * abs(a).max(), j


def test_equilibrium_is_stationary_across_gap_gradients_and_a_material_step(tmp_path):
    """The absorber at 600 mK with the gap of every cell lowered along x by up to 15 %:
    faces inside the Ta pad and the Al lead are specular flux-matching faces, the Ta/Al
    faces keep the case's diffuse mismatch; f_FD in every ordinate is a zero of every
    bin's steady system to 1e-12 of its terms (measured 3e-16)."""
    p = case_variant("bte_absorber3d.toml", tmp_path, **{
        'spacing = "50 ueV"': 'spacing = "100 ueV"',
        'temperature = "50 mK"': 'temperature = "600 mK"'})
    sim = BTESimulation(load_case(p))
    base = sim.problem
    g0 = np.asarray(base.cell_gap, dtype=float)
    xc = sim.dist.geometry.centroid[base.loc.cells, 0]
    gap = np.where(g0 > 0, g0 * (1.0 - 0.15 * (xc - xc.min()) / np.ptp(xc)), g0)
    q = dataclasses.replace(base, cell_gap=gap)
    kinds = {model: len(part.a) for model, part, _, _ in q._itf_groups}
    assert kinds["specular"] > 100 and kinds["diffuse"] > 0, kinds
    x = q.equilibrium(sim.f_bath)
    for j in range(q.N):
        a = q.local_matrix(j, 0.0)
        r = a @ x[j] - q.rhs(j)
        assert np.abs(r).max() <= 1e-12 * (np.abs(a) @ np.abs(x[j])).max(), j

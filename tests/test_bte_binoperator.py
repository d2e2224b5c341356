"""Every bin's system of the bte model from one bin-independent structure
(fvqp/models/bte/binoperator.py): the matrices of BTEProblem.local_matrix equal the sum of
their terms assembled term by term with scipy (streaming column-scaled by the upwind
cell's speed, elastic scattering row-scaled, angle-average rows, every group of
interface faces at the bin's speeds and transmissions, the storage/trap diagonal) — same
pattern (no stored zeros), values to round-off — on the absorber with a gap in every cell
(Ta/Al diffuse mismatch, specular faces inside the films, bins below a cell's gap, T = 0
and fractional T), and on a uniform film."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import scipy.sparse as sp

from conftest import case_variant
from fvqp.case import load_case
from fvqp.models.bte.driver import BTESimulation
from fvqp.ordinates.streaming import interface_matrix


def _by_terms(p, j: int, a: float) -> sp.csr_matrix:
    """Bin ``j``'s matrix as the sum of its terms (the formula of the module docstring)."""
    n, nl, B, K = p.n, p.loc.n_local, p.B, p.K
    vc = np.full(nl, p.v[j]) if p.uniform else p.v_c[j]
    rho = np.full(nl, p.rho[j]) if p.uniform else p.rho_c[j]
    m = (p.stream.matrix @ sp.diags(np.repeat(vc, B))
         + sp.diags(np.repeat(vc[:n], B)) @ p._coll + p._phi)
    for model, part, tab, tba in p._itf_groups:
        m = m + interface_matrix(part, p.quad.weights, n, nl, vc[part.a], vc[part.b],
                                 tab[:, j], tba[:, j], model)
    d = np.zeros((n, B))
    d[:, :K] = (rho[:n] * p.vol * (a + p.gam))[:, None]
    if not p.uniform:
        d[:, :K] += np.where(p.dead[j], p._srow, 0.0)[:, None]
    return (m + sp.diags(d.ravel(), shape=m.shape)).tocsr()


def _same(a: sp.csr_matrix, b: sp.csr_matrix) -> float:
    a, b = a.tocsr(), b.tocsr()
    a.sort_indices()
    b.sort_indices()
    np.testing.assert_array_equal(a.indptr, b.indptr)
    np.testing.assert_array_equal(a.indices, b.indices)
    return float(np.abs(a.data - b.data).max() / np.abs(a.data).max())


@pytest.mark.parametrize("model", ["diffuse", "specular"])
def test_bins_of_a_per_cell_gap_absorber_equal_their_terms(tmp_path, model):
    p = case_variant("bte_absorber3d.toml", tmp_path, **{
        'spacing = "50 ueV"': 'spacing = "100 ueV"',
        'model = "diffuse"': f'model = "{model}"'})
    base = BTESimulation(load_case(p)).problem
    g0 = np.asarray(base.cell_gap, dtype=float)
    rng = np.random.default_rng(3)
    gap = np.where(g0 > 0, g0 * (1.0 + 0.02 * rng.random(g0.shape)), g0)
    prob = dataclasses.replace(base, cell_gap=gap)
    groups = {m for m, *_ in prob._itf_groups}
    assert groups == {"specular", model} and len(prob.stream.interfaces.a) > 1000
    # the cases the structure must get right: bins below a cell's gap (dead rows),
    # faces with T = 0 (the far side below its gap) and with 0 < T < 1
    t = np.concatenate([tab.ravel() for *_, tab, _ in prob._itf_groups])
    assert prob.dead.any() and (t == 0).any() and ((t > 0) & (t < 1)).any()
    worst = 0.0
    for j in range(prob.N):
        for a in (0.0, 1.7):
            worst = max(worst, _same(prob.local_matrix(j, a), _by_terms(prob, j, a)))
    assert worst <= 1e-14, worst
    # evaluating a bin leaves the shared structure as it was (its zeros are removed on a
    # copy): the first bin again, after all the others
    assert _same(prob.local_matrix(0, 0.0), _by_terms(prob, 0, 0.0)) <= 1e-14
    # the structure is the problem's, built once
    assert prob.bin_operator is prob.bin_operator


def test_bins_of_a_uniform_film_equal_their_terms(tmp_path):
    p = case_variant("bte_film_pulse.toml", tmp_path)
    prob = BTESimulation(load_case(p)).problem
    assert prob.uniform and not prob._itf_groups
    for j in range(prob.N):
        assert _same(prob.local_matrix(j, 2.0), _by_terms(prob, j, 2.0)) <= 1e-14


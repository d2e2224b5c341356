"""The energy-block preconditioner of bte_sphere is the exact inverse of its matrix
(:class:`fvqp.models.bte_sphere.precond.EnergyBlockPC`): the streaming, elastic
scattering and collision-diagonal matrix never couples two energy bins, so the LU of the
energy blocks, regrouped by :class:`fvqp.parallel.blocktranspose.BlockTranspose`, solves
the whole system (here serially; tests/test_bte_sphere_mpi.py runs it on 2 ranks)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.sparse import coo_matrix

from fvqp.collisions import EnergyGrid
from fvqp.models.bte_sphere.discretisation import Ordinates, RadialMesh
from fvqp.models.bte_sphere.precond import EnergyBlockPC, energy_blocks
from fvqp.models.bte_sphere.problem import SphereProblem
from fvqp.models.bte_sphere.spectral import bcs_spectrum
from fvqp.parallel.blocktranspose import BlockTranspose
from fvqp.spectra.gap import thermal_gap


def _problem(phonons: str, scheme: str) -> SphereProblem:
    delta = thermal_gap(0.3, 1.0)
    grid = EnergyGrid(delta=delta, h=delta / 4, n=12)
    return SphereProblem(RadialMesh.uniform(50.0, 7), Ordinates.gauss_legendre(4),
                         bcs_spectrum(grid), v_f=50.0, mfp=10.0, t_bath=0.3, c_ph=30.0,
                         phonons=phonons, c_s=5.0, outer_qp="bath", outer_ph="bath",
                         scheme=scheme)


@pytest.mark.parametrize(("phonons", "scheme"), [("bte", "step"), ("bath", "limited"),
                                                 ("local", "diamond")])
def test_energy_block_pc_solves_the_whole_matrix(phonons, scheme):
    """``P z = r`` for P = shift dC/dx - (pattern entries of rhs_jacobian) at a
    nonequilibrium state, to 1e-12 of |r| (the exact LU; not an approximation)."""
    p = _problem(phonons, scheme)
    rng = np.random.default_rng(3)
    x = p.equilibrium() * (1 + 0.2 * rng.random(p.n * p.B))
    shift = 7.0
    block, slot = energy_blocks(p)
    tr = BlockTranspose(p.rcell, p.n, p.mesh.n, block, slot)
    assert tr.size == p.n * p.B  # one rank owns every block
    pc = EnergyBlockPC(p, tr)
    pc.update(x, shift)
    rows, cols = p.pattern
    n = p.n * p.B
    mat = coo_matrix((-p.rhs_jacobian(x), (rows, cols)), shape=(n, n)).tocsr() \
        + coo_matrix((shift * p.dconserved(x), (np.arange(n), np.arange(n))),
                     shape=(n, n)).tocsr()
    r = rng.standard_normal(n)
    z = pc.apply(r)
    assert np.max(np.abs(mat @ z - r)) <= 1e-12 * np.max(np.abs(r))
    # the regrouping is a permutation: back and forth is the identity
    assert np.array_equal(tr.backward(tr.forward(r)), r)


def test_block_transpose_refuses_a_coupling_between_blocks():
    p = _problem("bath", "step")
    block, slot = energy_blocks(p)
    tr = BlockTranspose(p.rcell, p.n, p.mesh.n, block, slot)
    # unknown 0 (bin 0) coupled to unknown K (bin 1) of the same cell
    with pytest.raises(ValueError, match="couples two blocks"):
        tr.matrix_builder(np.array([0]), np.array([p.K]))

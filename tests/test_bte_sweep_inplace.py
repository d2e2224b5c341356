"""The sweep factorisation refactored in place (fvqp.solvers.sweep.OrderedILU): new values
on the kept pattern give the fresh factorisation's sweep bit for bit, with the PETSc
matrix (and its symbolic factorisation) kept; a new pattern is factored afresh."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from fvqp.solvers.sweep import OrderedILU


def _matrix(rng, n: int, values=None) -> sp.csr_matrix:
    """A diagonally dominant sparse matrix, nearly lower triangular in a random order
    (a few upper entries, as the lagged couplings of a sweep)."""
    rows = np.concatenate([np.arange(1, n), rng.integers(0, n, 3 * n)])
    cols = np.concatenate([np.arange(n - 1), rng.integers(0, n, 3 * n)])
    v = rng.uniform(-1.0, 0.0, len(rows)) if values is None else values
    m = sp.csr_matrix((v, (rows, cols)), shape=(n, n))
    m.setdiag(0.0)
    m.eliminate_zeros()
    return (m + sp.diags(8.0 + rng.uniform(0.0, 1.0, n))).tocsr()


def test_inplace_refactorisation_equals_a_fresh_one_bitwise():
    """Three factorisations on one pattern (the Newton iterations of a run: the diagonal
    and a few off-diagonal values change) equal fresh ones bit for bit and keep the
    PETSc matrix; a different pattern is rebuilt and still equals the fresh one."""
    rng = np.random.default_rng(3)
    n = 400
    order = rng.permutation(n)
    a = _matrix(rng, n)
    r = rng.standard_normal(n)
    kept = OrderedILU(order, prefix="inplace_kept_")
    kept.factor(a)
    mat = kept.mat
    for k in range(3):
        b = a.copy()
        b.data = b.data * rng.uniform(0.5, 1.5, b.nnz)
        b = b + sp.diags(rng.uniform(0.0, 2.0, n))     # the collision diagonal and shift
        kept.factor(b)
        fresh = OrderedILU(order, prefix=f"inplace_fresh{k}_")
        fresh.factor(b)
        z = kept.solve(r)
        assert np.array_equal(z, fresh.solve(r))
        # the sweep is not the identity: it differs from the previous values' sweep
        assert np.linalg.norm(b @ z - r) < 0.5 * np.linalg.norm(r)
        fresh.destroy()
    assert kept.mat is mat and (kept.rebuilds, kept.refactors) == (1, 3)
    c = _matrix(rng, n)                                  # another pattern
    kept.factor(c)
    fresh = OrderedILU(order, prefix="inplace_fresh_c_")
    fresh.factor(c)
    assert kept.rebuilds == 2 and np.array_equal(kept.solve(r), fresh.solve(r))
    # a non-canonical input (every row's entries in reverse order) with the kept pattern
    pos = np.concatenate([np.arange(c.indptr[i + 1] - 1, c.indptr[i] - 1, -1)
                          for i in range(n)])
    rev = sp.csr_matrix((c.data[pos], c.indices[pos], c.indptr), shape=c.shape)
    assert not rev.has_sorted_indices
    kept.factor(rev)
    assert kept.refactors == 4 and np.array_equal(kept.solve(r), fresh.solve(r))
    kept.destroy()
    fresh.destroy()


def test_coarse_operator_refactored_in_place_equals_a_fresh_one():
    """CoarseCorrection.set_matrix on the pattern of the previous operator (the global
    coarse level of the collisional sweep path, once per step) writes the values into the
    kept PETSc matrix: the inexact coarse solve (GMRES + ILU(0), as in runs) equals a
    fresh level's bit for bit; another pattern gets a new matrix."""
    from petsc4py import PETSc

    from fvqp.solvers.twolevel import CoarseCorrection

    rng = np.random.default_rng(5)
    n = 300
    eye = sp.identity(n, format="csr")
    opts = {"ksp_type": "gmres", "ksp_rtol": 1e-3, "ksp_atol": 0.0, "ksp_max_it": 200,
            "pc_type": "bjacobi", "sub_pc_type": "ilu"}
    kept = CoarseCorrection(PETSc.COMM_SELF, eye, eye, "inplace_coarse_kept_", opts)
    a = _matrix(rng, n)
    kept.set_matrix(a)
    mat = kept.solver.mat
    r = rng.standard_normal(n)
    for k, b in enumerate([a.multiply(rng.uniform(0.5, 1.5, a.shape)).tocsr()
                           + sp.diags(rng.uniform(0.0, 2.0, n)), _matrix(rng, n)]):
        kept.set_matrix(b)
        fresh = CoarseCorrection(PETSc.COMM_SELF, eye, eye, f"inplace_coarse_{k}_", opts)
        fresh.set_matrix(b)
        assert np.array_equal(kept.correct(r), fresh.correct(r))
        assert np.linalg.norm(b @ kept.correct(r) - r) < 1e-2 * np.linalg.norm(r)
        assert (kept.solver.mat is mat) == (k == 0)   # kept on the same pattern only
        fresh.destroy()
    kept.destroy()

"""The sweep of the collisional bte runs keeps one copy of the operator (issue 16 §3: the
absorber target fits this 23 GB machine below ~580 B per unknown).

Before 2026-11-25 (third session) a collisional sweep run held the operator L four times:
L (CSR), L_oo (a CSC copy of the same values), the sweep's PETSc matrix (its own copy of
the ordered values) and a separate ILU(0) factor, plus int64 permutations and a copy of
the input's pattern; the solver's peak was 1 300 bytes per unknown above the
interpreter on the 3 360-cell absorber x 16 bins x 24 ordinates, 809 now
(``benchmarks/bte_absorber3d_memory.py``). These tests fail on that code."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from fvqp.solvers.sweep import OrderedILU


def _matrix(rng, n: int) -> sp.csr_matrix:
    """Nearly lower triangular in a random order, diagonally dominant, with an explicit
    zero on some diagonal entries (the phonon rows of L without escape)."""
    rows = np.concatenate([np.arange(1, n), rng.integers(0, n, 3 * n)])
    cols = np.concatenate([np.arange(n - 1), rng.integers(0, n, 3 * n)])
    keep = rows != cols
    rows, cols = rows[keep], cols[keep]
    d = 6.0 + rng.uniform(0.0, 1.0, n)
    d[::7] = 0.0                                  # explicit zeros on the diagonal
    m = sp.csr_matrix((np.concatenate([rng.uniform(-1.0, 0.0, len(rows)), d]),
                       (np.concatenate([rows, np.arange(n)]),
                        np.concatenate([cols, np.arange(n)]))), shape=(n, n))
    m.sum_duplicates()
    return m


def _with_diagonal(m: sp.csr_matrix, d: np.ndarray) -> sp.csr_matrix:
    """``m + diag(d)`` on ``m``'s own pattern (the sum the sweep forms in its copy)."""
    out = m.copy()
    rowid = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))
    at = np.flatnonzero(m.indices == rowid)
    out.data[at] = m.data[at] + d[rowid[at]]
    return out


def test_diagonal_added_in_the_ordered_copy_equals_the_summed_matrix():
    """factor(L, d) -- the sum formed in the factor's own ordered values -- gives the sweep
    of the matrix L + diag(d) bit for bit, on the first factorisation and on the kept
    matrix (new d, the same L object: no pattern copy and no rebuild)."""
    rng = np.random.default_rng(5)
    n = 300
    order = rng.permutation(n)
    m = _matrix(rng, n)
    r = rng.standard_normal(n)
    kept = OrderedILU(order, prefix="diagsum_kept_")
    for k in range(3):
        d = rng.uniform(1.0, 3.0, n)
        kept.factor(m, d)
        fresh = OrderedILU(order, prefix=f"diagsum_fresh{k}_")
        fresh.factor(_with_diagonal(m, d))
        assert np.array_equal(kept.solve(r), fresh.solve(r))
        fresh.destroy()
    assert (kept.rebuilds, kept.refactors) == (1, 2)
    # the input's pattern is held by reference (a caller factoring one matrix again
    # costs no copy of it)
    assert all(np.shares_memory(a, b) for a, b in zip(kept._pattern, (m.indptr, m.indices),
                                                       strict=True))
    kept.destroy()


def test_a_diagonal_missing_from_the_pattern_is_refused():
    rng = np.random.default_rng(6)
    n = 50
    m = sp.csr_matrix(sp.tril(sp.random(n, n, 0.2, random_state=1), -1))
    ilu = OrderedILU(np.arange(n), prefix="diagmiss_")
    with pytest.raises(ValueError, match="explicit zeros"):
        ilu.factor(m, rng.uniform(1.0, 2.0, n))
    ilu.destroy()


def test_the_sweep_is_one_copy_factored_in_place():
    """The PETSc matrix is built on the sweep's own numpy arrays and ILU(0) overwrites it
    (its factor *is* the matrix): 16 bytes per nonzero held, not 40."""
    rng = np.random.default_rng(7)
    n = 400
    order = rng.permutation(n)
    m = _matrix(rng, n)
    ilu = OrderedILU(order, prefix="onecopy_")
    d = rng.uniform(1.0, 2.0, n)
    ilu.factor(m, d)
    fact = ilu.pc.getFactorMatrix()
    assert fact.handle == ilu.mat.handle          # in place: no second matrix
    held = sum(a.nbytes for a in (ilu._perm, ilu._ai, ilu._aj, ilu._a, ilu._dpos))
    assert held <= 16 * m.nnz + 12 * (n + 1), (held, m.nnz)
    # PETSc factored the numpy array itself (shared, not copied): it holds the factor
    # now, not the ordered values of L + diag(d) gathered into it
    gathered = _with_diagonal(m, d).data[ilu._perm]
    assert not np.array_equal(ilu._a, gathered)
    ilu.destroy()


def test_the_collision_problem_keeps_its_operator_once():
    """One rank: the owned-column block of L is L itself (was a CSC copy), every owned row
    has its diagonal in L's pattern, the preconditioner's state is its linearisation's
    (not another copy), and the global coarse level keeps only the owned prolongation."""
    from pathlib import Path

    import fvqp.api as fa
    from fvqp.models.bte import coupled

    cases = Path(__file__).resolve().parents[1] / "cases"
    text = (cases / "bte_absorber3d.toml").read_text()
    for old, new in (('end = "2.5 ns"', 'end = "0.1 ns"'),
                     ("self_consistent = true", "self_consistent = false")):
        assert old in text, old
        text = text.replace(old, new)
    got = {}
    build = coupled.coupled_problem

    def keep(sim):
        got["p"] = p = build(sim)
        return p

    coupled.coupled_problem = keep
    try:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            r = fa.run(text, base_dir=cases, name="once", output_dir=tmp)
    finally:
        coupled.coupled_problem = build
    assert r.result.status == 0, r.result.message
    p = got["p"]
    assert p.L_oo is p.L
    for a in (p.L.data, p.L.indices):     # no slack from the COO -> CSR conversion
        assert a.base is None or a.base.nbytes == a.nbytes
    rowid = np.repeat(np.arange(p.L.shape[0]), np.diff(p.L.indptr))
    assert np.count_nonzero(p.L.indices == rowid) == p.L.shape[0]
    pc = p.preconditioner
    assert pc.fine == "sweep" and pc.gc is not None
    assert pc.y is pc.lin.y
    assert not any(hasattr(pc.gc, a) for a in ("P", "P_own", "R"))   # maps, not matrices
    assert pc.sweep.pc.getFactorMatrix().handle == pc.sweep.mat.handle


def test_gather_has_no_state_sized_temporary():
    """The sweep's gathers (every factorisation and every sweep): ``np.take`` with ``out``
    buffered its whole result and converted int32 indices whole (170 MB per refactor on
    the 3 360-cell absorber, the run's peak); :func:`gather` works in chunks."""
    import tracemalloc

    from fvqp.solvers.sweep import GATHER_CHUNK, gather

    n = 6 * GATHER_CHUNK
    rng = np.random.default_rng(8)
    src = rng.standard_normal(n)
    out = np.empty(n)
    for dtype in (np.int32, np.int64):
        idx = rng.permutation(n).astype(dtype)
        tracemalloc.start()
        try:
            gather(src, idx, out)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert np.array_equal(out, src[idx])
        assert peak <= 8 * GATHER_CHUNK + 4096, (dtype, peak)   # one chunk's indices

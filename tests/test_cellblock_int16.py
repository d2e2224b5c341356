"""Issue 18 §1: the cell-block ILU(0) of the transport model's Schur preconditioner may keep
its blocks as int16 rows of their own float32 scale (``values = "int16"``,
``-<prefix>schur_block_values``): half the bytes of the largest array of a device-size run
(:math:`2N^2 + 4N` instead of :math:`4N^2` per cell), every product and inversion still in
float32 or double."""

from __future__ import annotations

import numpy as np
import pytest

from fvqp.solvers.cellblock_ilu import INT16_STEPS, CellBlockILU


def _chain(rng, n=6, N=5):
    """Blocks, couplings and the whole matrix of a chain of ``n`` cells (no fill: block
    ILU(0) is the exact factorisation, :mod:`fvqp.solvers.cellblock_ilu`)."""
    a, b = np.array([0, 2, 1, 3, 4])[:n - 1], np.array([1, 3, 2, 4, 5])[:n - 1]
    S = rng.standard_normal((n, N, N)) + 8 * np.eye(N)
    S[:, 0, :] *= 1e3  # rows of very different magnitudes: each row has its own scale
    ab, ba = 1.5 * rng.standard_normal((2, n - 1, N))
    full = np.zeros((n * N, n * N))
    for c in range(n):
        full[c * N:(c + 1) * N, c * N:(c + 1) * N] = S[c]
    e = np.arange(N)
    for q in range(n - 1):
        full[a[q] * N + e, b[q] * N + e] = ab[q]
        full[b[q] * N + e, a[q] * N + e] = ba[q]
    return a, b, S, ab, ba, full


def _ilu(values, a, b, S, ab, ba, diag=2.0):
    n, N = S.shape[:2]
    ilu = CellBlockILU(n, N, a, b, values=values)
    ilu.begin()
    ilu.set_blocks(np.arange(n), S - diag * np.eye(N))
    ilu.add_diagonal(np.full((n, N), diag))  # int16: kept apart, added before rounding
    ilu.set_couplings(a, b, ab, ba)
    return ilu


def test_int16_blocks_solve_the_chain_to_their_rounding():
    """On a chain (ILU(0) exact) the int16 storage solves to the rounding of its rows,
    1.5e-5 of a row's largest magnitude, amplified by the blocks' conditioning: within
    1e-4 of the exact solution (measured 3e-5; float32 1e-7), and each stored row of the
    assembled matrix is its float32 row to half a step of its largest magnitude."""
    rng = np.random.default_rng(1)
    a, b, S, ab, ba, full = _chain(rng)
    r = rng.standard_normal(full.shape[0])
    want = np.linalg.solve(full, r)
    ilu = _ilu("int16", a, b, S, ab, ba)
    blk = ilu.cell_blocks(np.arange(len(S)))  # before the factorisation: S itself
    step = np.max(np.abs(S), axis=2, keepdims=True) / INT16_STEPS
    assert np.all(np.abs(blk - S) <= 0.5 * step * (1 + 1e-6) + 1e-6 * np.abs(S))
    ilu.factor()
    assert ilu.blocks.dtype == np.int16
    assert ilu.blocks.nbytes + ilu.row_scale.nbytes == len(S) * (2 * 25 + 4 * 5)
    err = np.max(np.abs(ilu.solve(r) - want)) / np.max(np.abs(want))
    assert err <= 1e-4, err
    f32 = _ilu("float32", a, b, S, ab, ba)
    f32.factor()
    assert np.max(np.abs(f32.solve(r) - want)) / np.max(np.abs(want)) < err


@pytest.mark.parametrize("values", ["float32", "int16"])
def test_singular_block_fails_the_application(values):
    """A singular diagonal block gives non-finite values in its cell (the linear solve
    then fails, never silently), in either storage (int16 keeps it in the row scale)."""
    rng = np.random.default_rng(2)
    a, b, S, ab, ba, _ = _chain(rng)
    S[0] = 0.0  # the first cell of the chain: D_0 = S_0, nothing added below it
    ilu = _ilu(values, a, b, S, ab, ba, diag=0.0)
    ilu.factor()
    z = ilu.solve(rng.standard_normal(S.shape[0] * S.shape[1])).reshape(len(S), -1)
    assert not np.any(np.isfinite(z[0]))


def test_unknown_values_refused():
    with pytest.raises(ValueError, match="values must be one of"):
        CellBlockILU(2, 2, np.array([0]), np.array([1]), values="float16")


def test_run_stores_int16_blocks_with_the_float32_answers(tmp_path):
    """A transport run's cell storage keeps int16 blocks by default and says so in
    summary.json; 0.6 ns of the coarse absorber's burst (6 BDF1 steps with the pulse's
    breakpoints) takes the same Newton and Krylov iterations as with float32 blocks and
    ends in the same state to 1e-11 of its largest unknown (measured: 12 Newton / 34
    Krylov both, final state 1e-15 apart): the preconditioner's rounding moves no
    answer."""
    from test_transport_spectra_default import run_variants

    out = run_variants(tmp_path, (("int16", ""),
                                  ("float32", 'schur_block_values = "float32"\n')))
    for label, (s, _) in out.items():
        assert (s["schur_storage"], s["schur_block_values"]) == ("cells", label)
    (s1, x1), (s0, x0) = out["int16"], out["float32"]
    assert s1["newton_iterations"] == s0["newton_iterations"]
    assert s1["linear_iterations"] == s0["linear_iterations"]
    assert np.max(np.abs(x1 - x0)) <= 1e-11 * np.max(np.abs(x0))


def test_block_values_refused_at_load_with_a_named_error(tmp_path):
    """``schur_block_values`` other than int16/float32 is refused at load, naming the key
    (the preconditioner's own ValueError came only when the run built it)."""
    from test_transport_spectra_default import _case

    from fvqp.case.loader import CaseError, load_case

    with pytest.raises(CaseError) as err:
        load_case(str(_case(tmp_path, 'schur_block_values = "float16"\n')))
    e = err.value.errors
    assert len(e) == 1 and "solver.petsc.schur_block_values" in e[0], e

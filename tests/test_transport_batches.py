"""Issue 18 §1: the transport residual takes the collision terms batch by batch.

The residual and the balances of :class:`fvqp.models.transport.problem.TransportProblem`
evaluate the collision operator in batches of ``CHUNK`` cells and use each batch's terms
at once, so the eight term arrays of all cells (4 (N + M) values per cell) never exist
together. These tests pin (i) that the batching changes no number — residual, balances
and the kept linearisation are those of one evaluation over all cells, written out here
as the previous code did — and (ii) the residual's transient memory per cell
(``tracemalloc``: numpy reports its allocations to it).
"""

import tracemalloc
from pathlib import Path

import numpy as np
import pytest

import fvqp.models.transport.problem as problem_module
from fvqp.collisions.batched import batched_terms

CASES = Path(__file__).resolve().parent.parent / "cases"


@pytest.fixture(scope="module")
def absorber(tmp_path_factory):
    """The shipped 3D absorber (520 cells) in the ``schur`` mode and a non-equilibrium
    local state: the bath occupations perturbed by up to 30 % (QPs stay in [0, 1])."""
    from fvqp.case.loader import load_case
    from fvqp.models.transport.driver import TransportSimulation

    text = (CASES / "transport_absorber3d.toml").read_text().replace(
        "../meshes", str(CASES.parent / "meshes"))
    text += '\n[numerics]\njacobian = "schur"\n'
    case = tmp_path_factory.mktemp("batches") / "absorber.toml"
    case.write_text(text)
    sim = TransportSimulation(load_case(str(case)))
    p = sim.problem
    rng = np.random.default_rng(18)
    x = sim.x0 * (1.0 + 0.3 * rng.uniform(-1.0, 1.0, sim.x0.shape))
    return p, sim.local(x)


def _reference_residual(p, xl):
    """The collision part of the residual from ONE batch over all owned cells (the
    previous code: concatenated term arrays), plus escape; rows of algebraic bins as in
    :meth:`TransportProblem._rhs`."""
    N, n = p.N, p.n
    y = xl.reshape(-1, p.B)
    t = batched_terms(y[:n, :N], y[:n, N:], p.rho[:n], p.ados[:n], h=p.grid.h, m=p.grid.m,
                      qp_scale=p.p["qp_scale"][:n], c_ph=p.p["c_ph"][:n])
    esc = (y[:n, N:] - p.n_bath) / p.p["tau_esc"][:n, None]
    return np.concatenate([p.m_f[:n] * t.qp, p.m_n[:n] * (t.ph - esc)], axis=1), t


@pytest.mark.parametrize("chunk", [7, 512, 100_000])
def test_residual_and_balances_do_not_depend_on_the_batch(absorber, monkeypatch, chunk):
    """Residual, kept outer derivatives and the pair balance for batches of 7, 512 (the
    default) and all 520 cells equal one evaluation over all cells to 1e-13 of the
    largest collision term (measured: the residuals, outer derivatives and pair balances
    of the three batch sizes are equal to the last bit)."""
    p, xl = absorber
    monkeypatch.setattr(problem_module, "CHUNK", chunk)
    n, N = p.n, p.N
    collisions, t = _reference_residual(p, xl)
    # transport, sources and algebraic rows are linear and outside the batches: the
    # collision part is what the residual minus the same residual without it leaves
    p._linearised = None
    r = p.rhs(xl, 0.0, 1.0).reshape(n, p.B)
    assert p._linearised is not None  # kept for the Jacobian actions at this state
    assert np.array_equal(p._linearised[0], xl.reshape(-1, p.B)[:n])
    monkeypatch.setattr(p, "collisions", False)
    bare = p.rhs(xl, 0.0, 1.0).reshape(n, p.B)
    monkeypatch.setattr(p, "collisions", True)
    active = np.concatenate([~p.alg_f[:n], np.broadcast_to(~p.ph_fixed[:n, None],
                                                            (n, p.M))], axis=1)
    no_coll = np.concatenate([np.zeros((n, N)), -p.m_n[:n] * (
        xl.reshape(-1, p.B)[:n, N:] - p.n_bath) / p.p["tau_esc"][:n, None]], axis=1)
    scale = np.max(np.abs(collisions[active]))
    assert scale > 0
    got = (r - bare + no_coll)[active]
    assert np.max(np.abs(got - collisions[active])) <= 1e-13 * scale
    pair = float(np.sum(p.m_f[:n] * (t.qp_pb - t.qp_rec)))
    assert p.rates(xl, 0.0, 1.0)["N:pair"] == pytest.approx(pair, rel=1e-13, abs=0)


def test_residual_transient_memory_per_cell(absorber, monkeypatch):
    """One residual allocates (numpy, beyond its inputs) at most 8 values of (N + M) per
    owned cell with small batches: the result with its ghost rows, the kept state and
    outer derivatives (3 per cell) and the face fluxes. Evaluating all term arrays before
    using them (the previous code) held 4 (N + M) more and copies of them: measured on the
    coarse absorber (520 cells, N = 24, M = 48, batches of 16) 11.3 (N + M) values per cell
    before, 5.6 now. (Within a batch the FFT operator's own temporaries are ~32 (N + M)
    values per cell: a fixed ~25 MB at 512 cells x 196 unknowns.)"""
    p, xl = absorber
    monkeypatch.setattr(problem_module, "CHUNK", 16)
    p._linearised = None
    tracemalloc.start()
    try:
        p.rhs(xl, 0.0, 1.0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    per_cell = peak / (p.n * p.B * 8)
    assert 3.0 <= per_cell <= 8.0, per_cell


def test_rates_take_the_pair_balance_from_the_residual_at_the_same_state(absorber,
                                                                        monkeypatch):
    """The time integrator asks for the rates of every accepted step at the last Newton
    iterate, where the residual has just evaluated the collision operator: the net pair
    breaking (``N:pair``) is taken from that evaluation (no second one: the residual
    counts ~ one of the three or four collision evaluations of a step), with the same
    bits as evaluating it afresh; at another state, or after the gap (the DOS) changed
    at the same state, it is evaluated afresh (a kept value would be another state's)."""
    p, xl = absorber
    calls = []
    real = problem_module.batched_terms

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(problem_module, "batched_terms", counted)
    n = p.n

    def fresh(x):
        """N:pair of one evaluation over all owned cells (the reference)."""
        y = x.reshape(-1, p.B)
        t = real(y[:n, :p.N], y[:n, p.N:], p.rho[:n], p.ados[:n], h=p.grid.h, m=p.grid.m,
                 qp_scale=p.p["qp_scale"][:n], c_ph=p.p["c_ph"][:n])
        return float(np.sum(p.m_f[:n] * (t.qp_pb - t.qp_rec)))

    p._linearised = None
    p.rhs(xl, 0.0, 1.0)
    del calls[:]
    kept = p.rates(xl, 0.0, 1.0)["N:pair"]
    assert not calls  # no collision evaluation for the rates
    p._pair = None  # the same state without the kept sum: evaluated afresh, same bits
    assert p.rates(xl, 0.0, 1.0)["N:pair"] == kept
    assert calls
    assert kept == pytest.approx(fresh(xl), rel=1e-13, abs=0)
    # another state: evaluated there (the kept sum is xl's)
    p.rhs(xl, 0.0, 1.0)
    x2 = xl.copy()
    x2.reshape(-1, p.B)[:n, :p.N] *= 1.5
    del calls[:]
    other = p.rates(x2, 0.0, 1.0)["N:pair"]
    assert calls
    assert other == pytest.approx(fresh(x2), rel=1e-13, abs=0)
    assert abs(other - kept) > 1e-3 * abs(kept)
    # the gap changed at the same state: the DOS, and with it the pair sum, change
    p.rhs(xl, 0.0, 1.0)
    delta = p.delta.copy()
    try:
        p.set_gap(np.where(p.trap, 0.0, 0.97 * delta))
        del calls[:]
        moved = p.rates(xl, 0.0, 1.0)["N:pair"]
        assert calls
        assert moved == pytest.approx(fresh(xl), rel=1e-13, abs=0)
        assert abs(moved - kept) > 1e-3 * abs(kept)
    finally:
        p.set_gap(delta)

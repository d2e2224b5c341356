"""The coupled iteration of the chip chain accepted without its confirming sweep
(``[chain] confirm = "bound"``, :meth:`fvqp.models.bte_chip.coupling.ChipChain._stale_miss`)
and the certificate behind it (:mod:`fvqp.models.phonon.monotone`): the phonon bin
systems' ordinate rows dominate their off-diagonal entries by their time term, so a
residual in the film cells moves no occupation by more than its largest ratio to the
margins."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from test_bte_chip import CLOSED

from fvqp.case.loader import load_case
from fvqp.models.phonon.monotone import _bounded_margins, certify


@pytest.fixture
def closed_sim(write_case):
    from fvqp.models.bte_chip.driver import ChipSimulation

    sim = ChipSimulation(load_case(write_case(CLOSED, "closed_chip.toml")))
    yield sim
    sim.psim.problem.release()


def _time_term(ph, j, a):
    return (ph.states[ph.reg[: ph.n], j] * ph.vol * a)[:, None]


def test_bin_systems_are_certified_and_the_margin_is_the_time_term(closed_sim):
    """Every bin system of the closed chip (specular and diffuse walls, a DMM
    interface, a film) has ordinate rows dominant by exactly S a where streaming and the
    interface conserve phonons (no bath here): certified at its time term, refused at
    1.001 x it, refused when one off-diagonal entry grows by half (the row's dominance
    falls below S a), and refused when an angle-average row is not the quadrature's
    average."""
    ph = closed_sim.psim.problem
    a = 1.0 / closed_sim.dt
    for j in range(ph.N):
        m = ph.local_matrix(j, a)
        assert certify(m, ph.n, ph.K, 1, ph.quad.weights, _time_term(ph, j, a))
        assert not certify(m, ph.n, ph.K, 1, ph.quad.weights,
                           1.001 * _time_term(ph, j, a))
    m = ph.local_matrix(ph.N - 1, a).tocsr()
    row = 0                                   # an ordinate row of cell 0
    lo, hi = m.indptr[row], m.indptr[row + 1]
    off = [p for p in range(lo, hi) if m.indices[p] != row and m.data[p] < 0]
    assert off
    m.data[off[0]] *= 1.5
    assert not certify(m, ph.n, ph.K, 1, ph.quad.weights, _time_term(ph, ph.N - 1, a))
    # an angle-average row that is not the quadrature's average is refused
    m = ph.local_matrix(0, a).tocsr()
    avg = ph.K                                # cell 0's average row
    p = m.indptr[avg]
    m.data[p if m.indices[p] != avg else p + 1] *= 1.5
    assert not certify(m, ph.n, ph.K, 1, ph.quad.weights, _time_term(ph, 0, a))


def _eliminated_margins(m, K, w):
    """The ordinate rows' diagonal minus off-diagonal magnitudes with the averages
    eliminated, :math:`A_{oo} + A_{oa}W`, formed (one bin, rows c (K+1) + k): the
    margins of :mod:`fvqp.models.phonon.monotone` the direct way."""
    B = K + 1
    nc = m.shape[1]
    cols = np.arange(nc)
    avg = cols[cols % B == K]
    plain = cols[cols % B != K]
    E = sp.csr_matrix((np.concatenate([np.ones(len(plain)), np.tile(w, len(avg))]),
                       (np.concatenate([plain, np.repeat(avg, K)]),
                        np.concatenate([plain, (avg[:, None] - K + np.arange(K)).ravel()]))),
                      shape=(nc, nc))
    rows = np.flatnonzero(np.arange(m.shape[0]) % B < K)
    red = (m[rows] @ E).tocsr()
    d = np.asarray(red[np.arange(len(rows)), rows]).ravel()
    return d - (np.asarray(abs(red).sum(axis=1)).ravel() - np.abs(d))


def test_certificate_is_the_eliminated_rows_margin_also_where_entries_cancel(closed_sim):
    """:func:`certify` first sums the entries' magnitudes before eliminating the
    averages (an upper bound of the off-diagonal sum, one pass over the entries) and
    checks the eliminated rows only when that refuses. Both must give the eliminated
    rows' own margins: on every closed-chip bin system (entries of one sign per
    column) the magnitudes' margins equal the eliminated rows' (formed here by a sparse
    product) to round-off, so the first certifies at their least margin; on a row
    whose +1 to another ordinate cancels its average's -2 x 1/2 (eliminated margin 8 >
    the magnitudes' 7) a floor of 7.5 is certified and 8.5 refused, as the eliminated
    rows say."""
    ph = closed_sim.psim.problem
    a = 1.0 / closed_sim.dt
    w = ph.quad.weights
    for j in range(ph.N):
        m = ph.local_matrix(j, a).tocsr()
        exact = _eliminated_margins(m, ph.K, w)
        d, off = _bounded_margins(m, ph.B, ph.K, w)
        rows = np.arange(m.shape[0]) % ph.B < ph.K
        assert np.allclose(d[rows] - off[rows], exact, rtol=0, atol=1e-12 * np.abs(d).max())
        margin = exact.min()
        assert margin > 0
        assert certify(m, ph.n, ph.K, 1, w, np.full((ph.n, 1), margin))
        assert not certify(m, ph.n, ph.K, 1, w, np.full((ph.n, 1), margin * (1 + 1e-9)))
    # one cell, two ordinates with weights 1/2: rows 10 n0 + n1 - 2 nbar, 10 n1 - 2 nbar
    m = sp.csr_matrix(np.array([[10.0, 1.0, -2.0], [0.0, 10.0, -2.0],
                                [-0.5, -0.5, 1.0]]))
    w2 = np.array([0.5, 0.5])
    assert _eliminated_margins(m, 2, w2).min() == pytest.approx(8.0, rel=1e-15)
    assert certify(m, 1, 2, 1, w2, np.array([[7.5]]))
    assert not certify(m, 1, 2, 1, w2, np.array([[8.5]]))


def test_film_residual_moves_no_occupation_beyond_the_bound(closed_sim):
    """A residual in the film cells' ordinate rows, with film rates rho (some negative,
    a + rho > 0) on their diagonal: the exact correction (scipy's LU) is at most
    max |r| / (S (a + rho)) anywhere; a residual equal to the film rows' margins moves
    their occupations by almost that bound (the films' own rows dominate), a random one
    by less."""
    ph, ch = closed_sim.psim.problem, closed_sim.chain
    a = 1.0 / closed_sim.dt
    film = ch.ex.sel_b
    rng = np.random.default_rng(7)
    for j in (0, ph.N // 2, ph.N - 1):
        rho = np.zeros(ph.n)
        rho[film] = a * rng.uniform(-0.9, 5.0, film.size)
        m = ph.local_matrix(j, a, rho).tocsc()
        r = np.zeros((ph.n, ph.B))
        r[film, : ph.K] = rng.standard_normal((film.size, ph.K))
        e = spla.spsolve(m, r.ravel()).reshape(ph.n, ph.B)
        S = ph.states[ph.reg[: ph.n], j] * ph.vol
        bound = np.max(np.abs(r[film, : ph.K]) / (S[film] * (a + rho[film]))[:, None])
        assert np.max(np.abs(e)) <= bound * (1 + 1e-10)
        r[film, : ph.K] = (S[film] * (a + rho[film]))[:, None]
        e = spla.spsolve(m, r.ravel()).reshape(ph.n, ph.B)
        assert 0.5 < np.max(np.abs(e)) <= 1.0 + 1e-10


def _run(write_case, tmp_path, confirm: str):
    from fvqp.models.bte_chip import run

    text = CLOSED + f'[chain]\nconfirm = "{confirm}"\n'
    r = run(load_case(write_case(text, f"closed_{confirm}.toml")),
            output_dir=str(tmp_path / confirm))
    s = r.summary
    assert s["status"] == 0 and s["coupled_unconverged_steps"] == 0
    assert abs(s["energy_imbalance_J"]) < 1e-10 * s["E_deposited_J"]
    q = s["qp_number"]
    assert q["final"] - q["initial"] == pytest.approx(q["pair_processes"], rel=1e-9, abs=0)
    return s


def test_bound_saves_sweeps_with_the_same_step(write_case, tmp_path):
    """``confirm = "bound"`` (default) against ``"sweep"`` on the closed chip: iterations
    accepted without their sweep, fewer phonon Krylov iterations, the same QP Newton
    steps, and the same converged chain (QP number and energies to 1e-7, the coupled
    tolerance being 1e-4 of the film occupations); energy and pairs as exact."""
    b, s = (_run(write_case, tmp_path, c) for c in ("bound", "sweep"))
    assert s["coupled_sweeps_saved"] == 0
    assert b["coupled_sweeps_saved"] >= b["steps"] // 2
    assert b["phonon_linear_iterations"] < s["phonon_linear_iterations"]
    assert b["coupled_iterations"] == s["coupled_iterations"]
    assert b["coupled_worst_mismatch"] <= 1e-4
    assert b["qp_number"]["final"] == pytest.approx(s["qp_number"]["final"], rel=1e-7,
                                                    abs=0)
    for k in ("final_qp", "final_phonon"):
        assert b["energy_J"][k] == pytest.approx(s["energy_J"][k], rel=1e-7, abs=0)


def test_the_bound_holds_at_every_iterate(write_case, tmp_path, monkeypatch):
    """Every iterate's bound (:meth:`ChipChain._stale_miss`) against the mismatch the
    sweep it would save then measures (the sweep done anyway): never below it, and
    within 10x of it where it would have accepted the iterate."""
    from fvqp.models.bte_chip.coupling import ChipChain

    events = []
    stale, mismatch = ChipChain._stale_miss, ChipChain._mismatch

    def record_bound(self, *args):
        events.append(("bound", stale(self, *args)))
        return np.inf                           # the sweep is done anyway

    def record_miss(self, nu, nbar):
        out = mismatch(self, nu, nbar)
        events.append(("miss", out[0]))
        return out

    monkeypatch.setattr(ChipChain, "_stale_miss", record_bound)
    monkeypatch.setattr(ChipChain, "_mismatch", record_miss)
    _run(write_case, tmp_path, "bound")
    pairs = [(b, m) for (kb, b), (km, m) in zip(events, events[1:], strict=False)
             if kb == "bound" and km == "miss"]
    assert len(pairs) >= 10
    assert all(m <= b * (1 + 1e-9) for b, m in pairs)
    accepted = [(b, m) for b, m in pairs if b <= 1e-4]
    assert accepted and all(b <= 10 * max(m, 1e-14) for b, m in accepted)


def test_decay_coupling_bounds_the_gains_a_change_feeds_down(closed_sim):
    """``decay_coupling``: a change of at most eps in bin j's occupations changes the
    decay gains of every bin q by at most C[q, j] eps S_q in every cell, with equality
    for a uniform change (the closed chip's Si decays: every bin above the lowest feeds
    the ones below)."""
    ph = closed_sim.psim.problem
    C = ph.decay_coupling()
    assert C is not None and np.all(C >= 0) and np.all(np.tril(C) == 0)
    assert np.any(C > 0)
    rng = np.random.default_rng(3)
    eps = 0.37
    for j in (ph.N - 1, ph.N // 2):
        nb = np.full((ph.n, ph.B), ph.n_bath[j])
        S = ph.states[ph.reg[: ph.n]] * ph.vol[:, None]                   # (n, N)
        for uniform in (False, True):
            d = np.full((ph.n, ph.B), eps) if uniform else \
                rng.uniform(-eps, eps, (ph.n, ph.B))
            gain = np.zeros((ph.N, ph.n))
            ph.add_decay_gains(j, (nb + d).ravel(), gain)
            ratio = np.abs(gain.T) / np.where(S > 0, S, np.inf)           # (n, N)
            assert np.all(ratio <= C[:, j] * eps * (1 + 1e-12))
            if uniform:
                assert np.allclose(ratio.max(axis=0), C[:, j] * eps, rtol=1e-12,
                                   atol=0)
            assert np.all(gain[j:] == 0)                 # decays feed lower bins only

"""The chip chain's time step (``model = "bte_chip"``): ``[time] scheme = "bdf2"`` is
second order and keeps the closed chip's energy and QP pairs exact; resume with BDF2
equals the uninterrupted run; the lagged QP preconditioner (kept across Newton
iterations and steps) gives the answers of the one rebuilt at every Newton iteration."""

from __future__ import annotations

import csv
import re

import numpy as np
import pytest
from test_bte_chip import CLOSED

from conftest import case_variant
from fvqp.case.loader import load_case

#: the closed chip to 6 ns (the 1 ns pulse centred at 5 ns)
SHORT = CLOSED.replace('end = "10 ns"', 'end = "6 ns"')


def _run(write_case, tmp_path, scheme: str, dt: str, text: str = SHORT, **kw):
    """The summary and the series rows of a closed-chip run."""
    from fvqp.models.bte_chip import run

    body = text.replace('dt_initial = "1 ns"', f'dt_initial = "{dt}"\nscheme = "{scheme}"')
    name = f"chip_{scheme}_{dt.split()[0]}"
    out = tmp_path / name
    r = run(load_case(write_case(body, name + ".toml")), output_dir=str(out), **kw)
    with open(out / f"{name}_series.csv", newline="") as fh:
        return r.summary, list(csv.DictReader(fh))


def _balanced(s: dict, rows: list) -> None:
    """Energy QPs + phonons - deposit = 0 to 1e-10 of the deposit (at 6 ns 84 % of
    the pulse's 1 eV) in every row; the QP number changed by exactly the pair-process
    count."""
    dep = s["E_deposited_J"]
    for row in rows:
        assert abs(float(row["imbalance_J"])) < 1e-10 * dep
    q = s["qp_number"]
    assert abs(q["imbalance"]) < 1e-9 * q["final"]


def test_bdf2_is_second_order_and_keeps_energy_and_pairs(write_case, tmp_path):
    """The closed chip's QP number at 6 ns (mid-burst, 1 ns after the pulse centre)
    (56.82 QPs) against a BDF2 reference at 0.125 ns: BDF2 errors at 1 and 0.5 ns
    steps fall by 2^p with p >= 1.8 (measured 5.65 -> 1.38 QPs: p = 2.03; the 10 ns run
    against 0.0625 ns, at 6 ns: 5.71 -> 1.44 -> 0.32 -> 0.06 QPs at 1, 0.5, 0.25,
    0.125 ns), backward Euler's by ~2 (measured 25.3 -> 12.3: p = 1.04) and BDF2 at 1 ns
    is 4x closer than BE (measured 4.5x). Every BDF2 row balances energy
    to 1e-10 of the deposit (measured < 5e-13) and the QP number follows the pair
    processes to 1e-9 (measured < 4e-11)."""
    n = {}
    for scheme, dt in (("bdf2", "0.125 ns"), ("bdf2", "1 ns"), ("bdf2", "0.5 ns"),
                       ("bdf1", "1 ns"), ("bdf1", "0.5 ns")):
        s, rows = _run(write_case, tmp_path, scheme, dt)
        assert s["status"] == 0 and s["coupled_unconverged_steps"] == 0
        assert float(rows[-1]["time_s"]) == pytest.approx(6e-9, rel=1e-12, abs=0)
        _balanced(s, rows)
        n[scheme, dt] = s["qp_number"]["final"]
    ref = n["bdf2", "0.125 ns"]
    e2 = [abs(n["bdf2", dt] - ref) for dt in ("1 ns", "0.5 ns")]
    e1 = [abs(n["bdf1", dt] - ref) for dt in ("1 ns", "0.5 ns")]
    assert np.log2(e2[0] / e2[1]) >= 1.8
    assert 0.8 < np.log2(e1[0] / e1[1]) < 1.2
    assert e2[0] < e1[0] / 4


def test_bdf2_resume_equals_uninterrupted(write_case, tmp_path):
    """A BDF2 run stopped after 4 steps (checkpoint with the step before, for the
    next BDF2 step) and resumed gives the uninterrupted run's series to 1e-12 (a resume
    that restarted with backward Euler would differ by the BE-BDF2 difference of one
    step; measured: equal to the last bit)."""
    from fvqp.models.bte_chip import run

    s, rows = _run(write_case, tmp_path, "bdf2", "1 ns")
    body = SHORT.replace('dt_initial = "1 ns"', 'dt_initial = "1 ns"\nscheme = "bdf2"')
    case = load_case(write_case(body, "chip_r.toml"))
    first = run(case, output_dir=str(tmp_path / "r"), max_steps=4)
    assert first.summary["status"] == 1 and first.summary["steps"] == 4
    again = run(case, output_dir=str(tmp_path / "r"), resume=True)
    assert again.summary["status"] == 0
    with open(tmp_path / "r" / "chip_r_series.csv", newline="") as fh:
        rr = list(csv.DictReader(fh))
    assert len(rr) == len(rows) == 7
    for a, b in zip(rows, rr, strict=True):
        for k in ("E_qp_J", "E_phonon_J", "N_qp:upper", "N_pair"):
            assert float(b[k]) == pytest.approx(float(a[k]), rel=1e-12, abs=1e-30)


def test_split_coupling_refuses_bdf2(write_case):
    """BDF2 with the Lie splitting (first order whatever the scheme) is a case error
    naming ``time.scheme`` and the fix."""
    from fvqp.case import CaseError

    body = SHORT.replace('dt_initial = "1 ns"', 'dt_initial = "1 ns"\nscheme = "bdf2"')
    with pytest.raises(CaseError, match=r"time\.scheme.*coupling = \"coupled\""):
        load_case(write_case(body + '[chain]\ncoupling = "split"\n', "split_bdf2.toml"))


def test_mode_conversion_interfaces_are_refused(write_case):
    """The chip chain has one effective phonon branch: ``[interfaces] model =
    "amm_modes"`` (L/T mode conversion of the phonon model) is a case error naming
    ``interfaces.model`` and the fix, at ``fvqp check``, not a ValueError at build."""
    from fvqp.case import CaseError

    body = re.sub(r'(\[interfaces\][^\[]*?model = )"\w+"', r'\1"amm_modes"', SHORT)
    assert body != SHORT
    with pytest.raises(CaseError, match=r"interfaces\.model.*\"amm\" or \"dmm\""):
        load_case(write_case(body, "modes.toml"))


def test_lagged_qp_preconditioner_gives_the_same_run(write_case, tmp_path):
    """The QP Newton's preconditioner kept across Newton iterations and steps (rebuilt
    on Krylov growth, a changed step or age) against one rebuilt at every Newton
    iteration (``-chip_qp_pc_lag 0``): the same QP and phonon energies and QP numbers in
    every row to 1e-9 (measured 5e-12, the Krylov tolerance), the lagged one with less
    than half as many builds as Newton iterations (measured 6 builds, one per step, in
    23 Newton iterations; rebuilt at every one: 23)."""
    from petsc4py import PETSc

    opts = PETSc.Options()
    lagged, rows = _run(write_case, tmp_path, "bdf1", "1 ns")
    opts["chip_qp_pc_lag"] = 0
    try:
        every, erows = _run(write_case, tmp_path / "every", "bdf1", "1 ns")
    finally:
        opts.delValue("chip_qp_pc_lag")
    assert every["qp_preconditioner_reuses"] == 0
    assert every["qp_preconditioner_builds"] >= every["qp_newton_iterations"]
    assert lagged["qp_preconditioner_builds"] < lagged["qp_newton_iterations"] / 2
    for a, b in zip(rows, erows, strict=True):
        for k in ("E_qp_J", "E_phonon_J", "N_qp:upper", "N_pair"):
            assert float(b[k]) == pytest.approx(float(a[k]), rel=1e-9, abs=1e-30)


def test_bdf2_with_transport_films_equals_bte_films(write_case, tmp_path):
    """BDF2 with diffusive ``transport`` QPs in the (uniform, one-cell-thick) film: the
    same QP number at 6 ns as with ``bte`` films to 1e-10 (measured 1.5e-14: both
    films' collision rates come from one operator and nothing streams in a uniform
    film), energy and pairs balanced (the BDF2 step is written once for both films)."""
    n = {}
    for film in ("bte", "transport"):
        s, rows = _run(write_case, tmp_path / film, "bdf2", "1 ns",
                       SHORT + f'[qp]\nmodel = "{film}"\n')
        assert s["status"] == 0
        _balanced(s, rows)
        n[film] = s["qp_number"]["final"]
    assert n["transport"] == pytest.approx(n["bte"], rel=1e-10, abs=0)


def test_bdf2_start_is_kept_nonnegative(tmp_path):
    """The shipped layout chip (`cases/bte_chip_deposit.toml`, 1 578 cells) with BDF2 at
    its 5 ns steps to 50 ns: where a ballistic front leaves a cell, the extrapolated
    start (4u^n - u^(n-1))/3 is negative, and from it the coupled iteration cycled
    between two iterates to ``max_iterations`` (before: 4 unconverged steps from 30 ns,
    mismatch up to 7.3 of the film occupation, the ground plane's excess QPs at 50 ns
    8.47e5 against 6.34e5). Now the ordinates are limited towards their angle average
    (measured in 4 of the 9 BDF2 steps) and a step whose angle average is negative is
    backward Euler (measured 1): every coupled iteration converges, every row balances
    energy to 1e-10 of the deposit, and the ground plane's and the near island's excess
    QPs at 50 ns are within 3 % of BDF2 at 1.25 ns steps (measured 0.5 % and 0.8 %;
    backward Euler at 5 ns: 2.4 %, 3.4 %; falling back at every negative start: 1.4 %,
    1.7 %)."""
    from fvqp.models.bte_chip import run

    out = {}
    for dt in ("5", "1.25"):
        (tmp_path / dt).mkdir()
        case = case_variant(
            "bte_chip_deposit.toml", tmp_path / dt,
            **{'end = "300 ns"': 'end = "50 ns"',
               'dt_initial = "5 ns"': f'dt_initial = "{dt} ns"\nscheme = "bdf2"'})
        s = run(load_case(case), output_dir=str(tmp_path / dt / "o")).summary
        assert s["status"] == 0 and s["coupled_unconverged_steps"] == 0
        with open(tmp_path / dt / "o" / "bte_chip_deposit_series.csv", newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert all(abs(float(r["imbalance_J"])) < 1e-10 * s["E_deposited_J"] for r in rows)
        out[dt] = s
    assert out["5"]["bdf2_limited_steps"] >= 1
    assert out["5"]["bdf2_fallback_steps"] < out["5"]["steps"] / 2
    assert out["1.25"]["bdf2_fallback_steps"] == 0
    for film in ("ground", "island_left"):
        ref = out["1.25"]["qp_excess_by_region"][film]
        assert out["5"]["qp_excess_by_region"][film] == pytest.approx(ref, rel=0.03)


def test_bdf2_start_limiter_keeps_every_angle_average(write_case):
    """:meth:`ChipChain._bdf2_start` on the closed chip's equilibrium with a beam that
    overshot below zero in some cells (ordinate 0 at +1, ordinate 1 at -0.3, the
    others at 0.01): every ordinate ends >= 0 (the negative ones exactly 0, the
    positive ones scaled towards the average), every cell's angle average and the
    phonon energy are unchanged to round-off, cells without a negative ordinate are
    untouched bit for bit, and a negative angle average or QP occupation returns
    None (the step is then backward Euler)."""
    from fvqp.models.bte_chip.driver import ChipSimulation

    sim = ChipSimulation(load_case(write_case(CLOSED, "limit.toml")))
    ph, ch = sim.psim.problem, sim.chain
    xq, xp = sim.initial()
    w = ph.quad.weights
    pt = xp.reshape(ph.N, ph.n, ph.B).copy()
    cells = np.arange(0, ph.n, 3)
    pt[:, cells, :ph.K] = 0.01
    pt[:, cells, 0], pt[:, cells, 1] = 1.0, -0.3
    pt[:, :, ph.K] = pt[:, :, :ph.K] @ w
    before = pt.copy()
    mean0, e0 = before[:, :, :ph.K] @ w, ph.energy(before.ravel())
    assert (before[:, cells, :ph.K] @ w).min() > 0          # a positive average
    out = ch._bdf2_start(np.array(xq, float), pt.ravel().copy())
    assert out is not None and ch.bdf2_limited == 1
    o = out.reshape(ph.N, ph.n, ph.B)
    assert o[:, :, :ph.K].min() >= 0 and np.all(o[:, cells, 1] == 0)
    assert np.abs(o[:, :, :ph.K] @ w - mean0).max() <= 1e-15 * np.abs(mean0).max()
    assert ph.energy(out) == pytest.approx(e0, rel=1e-14, abs=0)
    rest = np.setdiff1d(np.arange(ph.n), cells)
    assert np.array_equal(o[:, rest], before[:, rest])
    bad = before.copy()
    bad[:, cells[0], :ph.K] = -0.3                        # a negative average
    assert ch._bdf2_start(np.array(xq, float), bad.ravel()) is None
    q = np.array(xq, float).reshape(ch.films.n, ch.films.S)
    q[0, 0] = -1.0                                         # a negative QP occupation
    assert ch._bdf2_start(q.ravel(), before.ravel().copy()) is None
    ph.release()


def test_adaptive_bdf2_balances_the_bath_flows(tmp_path):
    """The layout chip with adaptive BDF2 (rtol 0.3) to 300 ns: most of the deposit
    leaves through the holder (measured 82 %) while the steps change length after the
    deposit's window (ratios 0.76-2), so the bath flow accumulates with variable-step
    BDF2's weights, :math:`\\Delta F^{n+1} = h_br^{n+1} + \\omega^2/(1+2\\omega)\\Delta
    F^n`: every row balances energy to 1e-9 of the deposit (measured 2.2e-10; backward
    Euler 3.1e-10; the equal-step weight 1/3 at every step: 5.1e-2)."""
    from fvqp.models.bte_chip import run

    case = case_variant("bte_chip_deposit.toml", tmp_path, **{
        'dt_initial = "5 ns"': 'dt_initial = "5 ns"\nadaptive = true\nrtol = 0.3\n'
                               'scheme = "bdf2"'})
    s = run(load_case(case), output_dir=str(tmp_path / "o")).summary
    assert s["status"] == 0 and s["coupled_unconverged_steps"] == 0
    dep = s["E_deposited_J"]
    assert -s["energy_J"]["boundary:substrate_bottom"] > 0.5 * dep
    with open(tmp_path / "o" / "bte_chip_deposit_series.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    dt = np.array([float(r["dt_s"]) for r in rows[1:]])
    assert np.ptp(dt[1:] / dt[:-1]) > 0.5                  # steps of unequal length
    assert s["steps"] - s["bdf2_fallback_steps"] > s["steps"] / 2   # mostly BDF2
    assert all(abs(float(r["imbalance_J"])) < 1e-9 * dep for r in rows)

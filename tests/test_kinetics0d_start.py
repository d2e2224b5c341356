"""Steady states start from the quasi-thermal estimate (issue 18, the kinetics0d item).

The weak-drive Al case: a 50 nm film at 80 mK (0.067 Tc), phonon escape 12 ns (~50
tau_pb), 2e-3 W/m^3 of 850 ueV (5 Delta) photons. From the bath, Newton's first step
leaves the domain (DIVERGED_FUNCTION_NANORINF) and the solve falls back to a TS run to
1e5 tau0. From the quasi-thermal start (QPs at T*, mu* from the power and QP-number
balances, phonons in balance) Newton converges alone, to the same state.
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest

import fvqp
from conftest import CASES
from fvqp.case import load_case
from fvqp.models.kinetics0d.build import build_model
from fvqp.models.kinetics0d.guess import phonon_balance, quasi_thermal_guess
from fvqp.models.kinetics0d.solve import BLOCK_RTOL, OCCUPATION_FLOOR, steady_state
from fvqp.solvers import ConvergenceError

#: the shipped weak-drive case without its [output] table (each test writes its own)
WEAK = (CASES / "kinetics0d_al_weak_drive.toml").read_text().split("[output]")[0]

#: 1e-10 W of 2.5 Delta photons with fast escape (0.24 ns): T* ~ 3 T_B; Newton from the
#: quasi-thermal start fails (line search), a TS run then Newton converge
STRONG = WEAK.replace('escape_time = "12 ns"', 'escape_time = "0.24 ns"').replace(
    'spacing = "4 ueV"', 'spacing = "6 ueV"\ne_max = "1200 ueV"').replace(
    'energy = "850 ueV"', 'energy = "425 ueV"').replace('power = "1e-19 W"', 'power = "1e-10 W"')


def _case(tmp_path, text: str, name: str = "weak.toml") -> str:
    p = tmp_path / name
    p.write_text(text + f'[output]\ndirectory = "{tmp_path / "out"}"\n')
    return str(p)


def _assert_same_state(y: np.ndarray, y_ref: np.ndarray) -> None:
    """Equal to the per-entry tolerance of steady_state (relative, floor 1e-12)."""
    rel = np.abs(y - y_ref) / np.maximum(np.abs(y_ref), OCCUPATION_FLOOR)
    assert np.max(rel) <= BLOCK_RTOL, np.max(rel)


def test_phonon_balance_is_the_exact_phonon_steady_state(tmp_path):
    """For a fixed f, dn/dt vanishes at phonon_balance(f) (the phonon equation is affine
    and diagonal in n), to round-off of the gross rates."""
    m, _ = build_model(load_case(_case(tmp_path, WEAK)))
    f = m.split(m.equilibrium(1.3 * m.t_bath))[0]
    n = phonon_balance(m, f)
    dn = m.rhs(m.join(f, n))[m.grid.n:]
    _, loss = m.terms(m.join(f, n))
    assert np.max(np.abs(dn) / loss[m.grid.n:]) < 1e-10
    assert np.all(n > m.n_bath)  # QPs hotter than the bath heat the phonons


def test_weak_drive_newton_alone_from_the_default_start(tmp_path):
    """fvqp run: the default start is quasi-thermal and Newton converges without TS, in a
    few iterations; the state equals the one reached from the bath through TS."""
    path = _case(tmp_path, WEAK)
    summary = fvqp.run_case(path, output_dir=str(tmp_path / "out"))
    assert summary["status"] == 0
    start = summary["start"]
    assert start["guess"] == "quasi-thermal" and start["path"] == "newton"
    assert "ts_time" not in start
    assert summary["newton_iterations"] <= 6  # measured 3
    assert start["newton_from_start"]["reason"] == "CONVERGED_USER"
    # the estimate: QPs a little hotter than the bath, mu* well above 0 (N >> N_T)
    m, _ = build_model(load_case(path))
    assert m.t_bath < start["t_qp_over_Tc"] < 1.1 * m.t_bath
    assert 0.3 * m.grid.delta < start["mu_over_kTc"] < m.grid.delta
    with h5py.File(tmp_path / "out" / "kinetics0d.h5") as fh:
        y = m.join(fh["state/f"][:], fh["state/n"][:])
    # the bath start (the former default) fails on Newton and needs the TS fallback ...
    y_b, res_b = steady_state(m, guess="bath", prefix="k0start_bath_", continuation=False)
    assert res_b.start["guess"] == "bath" and res_b.start["path"] == "ts+newton"
    assert res_b.start["newton_from_start"]["reason"].startswith("DIVERGED")
    # ... and reaches the same steady state
    _assert_same_state(y, y_b)
    # so does the continuation from a warmer bath, which now comes before the TS run
    y_c, res_c = steady_state(m, guess="bath", prefix="k0start_cont_")
    assert res_c.start["path"] == "bath-continuation" and "ts_time" not in res_c.start
    assert res_c.start["bath_continuation"]["baths_over_Tc"][-1] == m.t_bath
    _assert_same_state(y, y_c)


def test_weak_drive_bath_start_without_fallback_fails(tmp_path):
    """The test above is a real one: Newton from the bath alone does not converge."""
    m, _ = build_model(load_case(_case(tmp_path, WEAK)))
    with pytest.raises(ConvergenceError, match="bath start"):
        steady_state(m, guess="bath", t_guess=None, prefix="k0start_nofb_",
                     continuation=False)


def test_estimate_solves_the_number_and_power_balances(tmp_path):
    """At the estimate the QP number rate and the absorbed - escaping power vanish to the
    tolerance of the root search (relative to the gross rates)."""
    m, _ = build_model(load_case(_case(tmp_path, WEAK)))
    y, info = quasi_thermal_guess(m, u_tol=1e-8, log_t_tol=1e-8)
    w, e = m.grid.qp_weights, m.grid.e
    nq = m.grid.n
    r = m.rhs(y)[:nq]
    gain, loss = m.terms(y)
    assert abs(w @ r) < 1e-6 * (w @ loss[:nq])
    p_in, p_esc = m.input_power(y), m.escape_power(y)
    assert p_in == pytest.approx(p_esc, rel=1e-5)
    assert abs((w * e) @ r) < 1e-5 * p_in


def test_start_from_fft_rates_equals_the_start_from_the_models_rates(tmp_path):
    """The search evaluates its trial rates with the FFT operator (the model uses the
    direct one at these sizes); the start it returns, with its phonons balanced by the
    model's own rates, equals the start of the search with the direct rates entry by
    entry (measured 3.9e-7 in f, 4.3e-7 in n, down to n ~ 1e-100), and T*, mu* to the
    root-search tolerance."""
    m, _ = build_model(load_case(_case(tmp_path, WEAK)))
    assert m.method == "direct"
    y, info = quasi_thermal_guess(m)
    y_d, info_d = quasi_thermal_guess(m, method=None)
    assert (info.method, info_d.method) == ("fft", "direct")
    assert np.all(y > 0) and np.all(y_d > 0)
    assert np.max(np.abs(y - y_d) / y_d) < 2e-6
    assert info.t_qp == pytest.approx(info_d.t_qp, rel=1e-6)
    assert info.mu == pytest.approx(info_d.mu, rel=1e-6)


def test_a_failed_search_with_fft_rates_is_repeated_with_the_models(tmp_path,
                                                                   monkeypatch):
    """If the root search fails with the FFT rates, the start comes from the model's own
    rates (the same start as ``method=None``), not from the bath."""
    import fvqp.models.kinetics0d.guess as guess

    search = guess._search

    def failing(model, *args):
        if model.method == "fft":
            raise ArithmeticError("no root of the power balance found")
        return search(model, *args)

    m, _ = build_model(load_case(_case(tmp_path, WEAK)))
    y_d, _ = quasi_thermal_guess(m, method=None)
    monkeypatch.setattr(guess, "_search", failing)
    y, info = quasi_thermal_guess(m)
    assert info.method == "direct"
    assert np.array_equal(y, y_d)


def test_strong_drive_poor_estimate_falls_back_to_ts(tmp_path):
    """A drive so strong that the quasi-thermal estimate is poor: Newton from it fails,
    the TS fallback runs and the result equals the bath-start (TS) state; without the
    fallback the failure is reported with the start, path and fix. The default path, the
    continuation from a warmer bath, reaches the same state without TS."""
    m, _ = build_model(load_case(_case(tmp_path, STRONG, "strong.toml")))
    y, res = steady_state(m, prefix="k0start_strong_", continuation=False)
    assert res.start["guess"] == "quasi-thermal"
    assert res.start["path"] == "ts+newton"
    assert res.start["t_qp_over_Tc"] > 2 * m.t_bath  # strongly heated
    y_b, res_b = steady_state(m, guess="bath", prefix="k0start_strongb_",
                              continuation=False)
    _assert_same_state(y, y_b)
    y_c, res_c = steady_state(m, prefix="k0start_strongc_")
    assert res_c.start["path"] == "bath-continuation" and "ts_time" not in res_c.start
    _assert_same_state(y, y_c)
    with pytest.raises(ConvergenceError,
                       match=r"quasi-thermal start, path newton.*Fix") as err:
        steady_state(m, t_guess=None, prefix="k0start_strongn_", continuation=False)
    assert err.value.result.start["path"] == "newton"


def test_undriven_model_starts_from_the_bath(tmp_path):
    """No drive: the start is the bath (the answer) and Newton confirms it at once."""
    text = WEAK.split("[[drives]]")[0] + "[time]\nsteady = true\n"
    m, _ = build_model(load_case(_case(tmp_path, text, "nodrive.toml")))
    y, res = steady_state(m, prefix="k0start_nodrive_")
    assert res.start == {"guess": "bath", "path": "newton",
                         "newton_from_start": res.start["newton_from_start"]}
    _assert_same_state(y, m.equilibrium())

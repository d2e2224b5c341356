"""Steady states of a driven film far below Tc, continued from a warmer bath
(fvqp.models.kinetics0d.continuation).

An Al resonator at 60 mK under 1 fW of its 5 GHz readout (cases/kinetics0d_al_readout.toml):
Newton reaches the steady state neither from the quasi-thermal start nor from the bath,
and the TS start fails at once (the readout's power normalised to the bath's ~5e-9 QPs
per um^3: "no absorption possible"); the run ended with status -1 after ~30 s. The state
exists: the readout sets N_qp (de Visser et al., PRL 112, 047004 (2014)), so it hardly
depends on the bath, and the continuation reaches it from a warmer bath's in ~2 s.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from conftest import CASES, case_variant
from fvqp import run_case
from fvqp.models.kinetics0d.continuation import HALVINGS, RATIO, bath_continuation

READOUT = "kinetics0d_al_readout.toml"


def _run(tmp_path, name: str, **edits):
    case = case_variant(READOUT, tmp_path, **edits) if edits else CASES / READOUT
    return run_case(str(case), output_dir=str(tmp_path / name))


def test_the_readout_sets_the_state_and_the_continuation_reaches_it(tmp_path):
    """60 mK: status 0 by the continuation, ending exactly at the bath; the state
    balances the readout's power (1e-9) and holds ~1e8 times the thermal QPs. The same
    N_qp at 20 mK (continued too) and at 100 mK, reached without any continuation
    (Newton from the default start, or TS): the readout, not the bath, sets it."""
    s = _run(tmp_path, "c60")
    assert s["status"] == 0, s["message"]
    start = s["start"]
    assert start["path"] == "bath-continuation" and "ts_time" not in start
    baths = start["bath_continuation"]["baths_over_Tc"]
    assert baths[-1] == 0.05 and all(a > b for a, b in zip(baths[:-1], baths[1:], strict=True))
    obs = s["observables"]
    assert obs["power_relative_mismatch"] < 1e-9
    assert obs["n_qp"] > 1e6 * obs["n_qp_thermal"]
    cold = _run(tmp_path, "c20", **{'temperature = "60 mK"': 'temperature = "20 mK"'})
    assert cold["status"] == 0 and cold["start"]["path"] == "bath-continuation"
    assert cold["observables"]["n_qp"] == pytest.approx(obs["n_qp"], rel=1e-5)
    warm = _run(tmp_path, "c100", **{'temperature = "60 mK"': 'temperature = "100 mK"',
                                     "[time]": "[solver]\ncontinuation = false\n\n[time]"})
    assert warm["status"] == 0 and warm["start"]["path"] != "bath-continuation"
    # measured 2.1e-4: the bath's own QPs (4e-3 of N_qp at 100 mK) and its phonons
    assert warm["observables"]["n_qp"] == pytest.approx(obs["n_qp"], rel=5e-4)


def _fakes(converges_from: float, largest_step: float, stop_below: float = 0.0):
    """A model at bath 0.01 Tc whose default starts converge at baths >= ``converges_from``
    and whose steps down converge only for a ratio <= ``largest_step`` and above
    ``stop_below``; the state is the bath temperature itself."""
    class Model(SimpleNamespace):
        def with_bath(self, t):
            return Model(t_bath=t)

    def result(ok):
        return SimpleNamespace(iterations=3, krylov_iterations=0,
                               reason="CONVERGED_USER" if ok else "DIVERGED_MAX_IT")

    def default(m):
        ok = m.t_bath >= converges_from
        return (m.t_bath if ok else None), result(ok), 3, 0

    def given(m, y):
        ok = y / m.t_bath <= largest_step and m.t_bath > stop_below
        return (m.t_bath if ok else None), result(ok), 3, 0

    return Model(t_bath=0.01), default, given


def test_the_steps_down_halve_where_they_fail_and_end_on_the_bath():
    """Up by 1.25 until the default starts converge (at 0.02: 0.01 x 1.25^4); down with
    ratios halved (in the logarithm) until a step of at most 1.05 converges, grown back
    after each success: every step taken is one that converged, the path ends on the bath
    exactly, and the failed attempts are counted."""
    model, default, given = _fakes(converges_from=0.02, largest_step=1.05)
    c = bath_continuation(model, default, given)
    assert c.y == 0.01 and c.message == ""
    assert c.baths[0] == pytest.approx(0.01 * RATIO ** 4, rel=1e-15) and c.baths[-1] == 0.01
    ratios = [a / b for a, b in zip(c.baths[:-1], c.baths[1:], strict=True)]
    assert all(1.0 < r <= 1.05 for r in ratios)
    assert c.failed >= 3 + len(ratios) - 1   # 3 failed ups; the grown steps fail again
    assert c.runs == 4 + len(ratios) + (c.failed - 3)
    assert c.iterations == 3 * c.runs


def test_a_path_that_cannot_go_lower_stops_and_says_where():
    """Steps below 0.015 never converge: after HALVINGS halvings in a row the path stops
    with no state, naming the bath it could not reach and the one it holds."""
    model, default, given = _fakes(converges_from=0.02, largest_step=1.25, stop_below=0.015)
    c = bath_continuation(model, default, given)
    assert c.y is None
    held = c.baths[-1]
    assert 0.015 < held < 0.015 * RATIO
    assert f"below the bath {held:.6g} Tc it had reached, after {HALVINGS} halvings" \
        in c.message
    assert c.message.startswith("no steady state ") and "(DIVERGED_MAX_IT)" in c.message
    # the last attempt's step: at most the largest step halved HALVINGS times
    pct = float(c.message.split()[3])
    assert 0 < pct <= 100 * (1 - RATIO ** (-1 / 2 ** HALVINGS)) * 1.01


def test_no_warm_bath_converges_and_a_zero_bath_has_nothing_to_continue():
    model, default, given = _fakes(converges_from=1e9, largest_step=1.25)
    c = bath_continuation(model, default, given, t_max=0.1)
    assert c.y is None and c.baths == [] and "at any bath from 0.0125 to 0.1 Tc" in c.message
    assert c.runs == math.floor(math.log(10.0) / math.log(RATIO))   # 0.01 x 1.25^k <= 0.1
    c0 = bath_continuation(model.with_bath(0.0), default, given)
    assert c0.y is None and c0.runs == 0 and "zero temperature" in c0.message

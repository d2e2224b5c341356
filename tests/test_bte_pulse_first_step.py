"""A pulse partly inside BDF2's backward-Euler first step is deposited exactly once in the
bte model with collisions (fixed steps keep their uniform grid, so nothing resolves the
pulse): the integrator applies BDF2 to C - A(t) with the exact step integrals of the
sources (``InelasticProblem.explicit_source``). Without it the first step's share (here
Phi(-2) = 2.3 % of the pulse) was counted 3/2 times in the long run."""

from __future__ import annotations

from math import erf, sqrt
from pathlib import Path

import pytest

import fvqp.api as fa
from fvqp.models.bte.inelastic import InelasticProblem
from fvqp.units import E_CHARGE

CASE = Path(__file__).resolve().parent.parent / "cases" / "bte_absorber3d.toml"


def _text() -> str:
    """The absorber case on coarse bins, 0.3 ns steps, the 6 keV pulse (sigma 0.1 ns)
    centred at 0.5 ns: the first step [0, 0.3] ns holds Phi(-2) of it."""
    text = CASE.read_text()
    for old, new in (('spacing = "50 ueV"', 'spacing = "100 ueV"'),
                     ('end = "2.5 ns"', 'end = "1.5 ns"'),
                     ('dt_initial = "0.1 ns"', 'dt_initial = "0.3 ns"'),
                     ('time = "0.6 ns"', 'time = "0.5 ns"')):
        assert old in text, old
        text = text.replace(old, new)
    return text


def _deposit(tmp_path, name) -> float:
    r = fa.run(_text(), base_dir=CASE.parent, name="bte_absorber3d",
               output_dir=tmp_path / name).result
    assert r.status == 0, r.message
    return r["energy_J"]["inflows"]["sources"]


def test_a_pulse_in_the_first_step_is_deposited_once(tmp_path, monkeypatch):
    # the part of the Gaussian before t = 0 (5 sigma) is never deposited
    expected = 6e3 * E_CHARGE * 0.5 * (1 + erf(5 / sqrt(2)))
    assert _deposit(tmp_path, "exact") == pytest.approx(expected, rel=1e-9, abs=0)
    monkeypatch.setattr(InelasticProblem, "explicit_source", None)
    old = _deposit(tmp_path, "old")
    # the former result is the BDF2 recurrence of the accumulated deposit on the step
    # integrals S_k: a_1 = S_1 (BE), a_{k+1} = (S_{k+1} + 2 a_k - a_{k-1}/2) / (3/2)
    cdf = [0.5 * (1 + erf((t - 0.5) / (0.1 * sqrt(2)))) for t in (0, .3, .6, .9, 1.2, 1.5)]
    S = [6e3 * E_CHARGE * (b - a) for a, b in zip(cdf[:-1], cdf[1:], strict=True)]
    acc = [0.0, S[0]]
    for k in range(1, 5):
        acc.append((S[k] + 2 * acc[-1] - 0.5 * acc[-2]) / 1.5)
    assert old == pytest.approx(acc[-1], rel=1e-9, abs=0)
    assert abs(old / expected - 1) > 4e-3

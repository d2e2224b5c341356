"""Bursting-bubbles model (Bespalov et al. 2016, Fig. 2 and Supplement): C_p = 0.605,
spin and spin flips (Eq. S8), concentration-polarisation relation (S9)-(S10)."""

from __future__ import annotations

import numpy as np
import pytest

from fvqp.stochastic.bubbles import (
    BurstingBubbles,
    cp_of_polarization,
    cp_of_zeta_s8,
    packing_coefficient,
    packing_scale_fit,
)


def test_bubble_rules_exact():
    """Deterministic placements: overlap (< 1 diameter) bursts, spins must be opposite."""
    b = BurstingBubbles(5.0, zeta=None, seed=0)
    b._insert(np.array([1.0, 1.0, 1.0]), 1)
    assert b._partner(np.array([1.9, 1.0, 1.0]), 1) == 0
    assert b._partner(np.array([2.1, 1.0, 1.0]), 1) == -1
    # periodic image across the box face
    b._insert(np.array([0.2, 3.0, 3.0]), 1)
    assert b._partner(np.array([4.5, 3.0, 3.0]), 1) == 1
    assert b._partner(np.array([4.1, 3.0, 3.0]), 1) == -1
    s = BurstingBubbles(5.0, zeta=np.inf, seed=0)
    s._insert(np.array([1.0, 1.0, 1.0]), 1)
    assert s._partner(np.array([1.5, 1.0, 1.0]), 1) == -1
    assert s._partner(np.array([1.5, 1.0, 1.0]), -1) == 0
    # nearest of several partners
    s._insert(np.array([1.6, 1.0, 1.0]), 1)
    assert s._partner(np.array([1.5, 1.0, 1.0]), -1) == 1


def test_spinless_packing_coefficient_0605():
    """C_p = 0.605 +- 0.008 (paper); statistical error of this run ~0.002."""
    r = packing_coefficient(None, L=10.0, replicas=4, burn=20.0, sample=100.0, seed=5)
    assert r["cp_err"] < 0.004
    assert abs(r["cp"] - 0.605) < 0.008 + 3 * r["cp_err"]
    # not the naive values 0.5 (no overlaps) or ln 2 (uncorrelated positions)
    assert abs(r["cp"] - 0.5) > 0.08 and abs(r["cp"] - np.log(2)) > 0.06


def test_spin_flips_eq_s8():
    """C_p(zeta) = C_p(inf) - 4.2/sqrt(zeta) at zeta >> 1 (S8)."""
    r100 = packing_coefficient(100.0, L=10.0, replicas=3, burn=10.0, sample=50.0, seed=1)
    assert abs(r100["cp"] - cp_of_zeta_s8(100.0)) < 0.05 + 3 * r100["cp_err"]


def test_total_spin_is_a_random_walk():
    """Exact invariants of the rules: a generation changes M = N+ - N- by the new bubble's
    spin s (s inserted, or a partner -s burst), a flip by 2 s' (s' the new spin, burst or
    not). Without flips M is therefore an unbiased random walk, whatever the positions:
    a periodic box has no stationary state at zeta = inf, <M^2> grows by one per step and
    the box polarises, and C_p grows with |P| (S10) -- the reason why C_p(inf) depends on
    the box size and on the length of the run (docs/theory_stochastic.md)."""
    for zeta, allowed in ((np.inf, {1}), (0.5, {1, 2})):
        sim = BurstingBubbles(5.0, zeta=zeta, seed=3)
        M = [0]
        for _ in range(4000):
            sim.step()
            M.append(2 * sim.n_up - sim.n)
        dm = np.abs(np.diff(M))
        assert set(dm.tolist()) == allowed
    # zeta = inf: unbiased, the variance of M after T steps is T over independent boxes
    T, R = 200, 100
    ends = []
    for ss in np.random.SeedSequence(8).spawn(R):
        sim = BurstingBubbles(5.0, zeta=np.inf, seed=np.random.default_rng(ss))
        for _ in range(T):
            sim.step()
        ends.append(2 * sim.n_up - sim.n)
    m2 = np.mean(np.square(ends))
    assert abs(m2 / T - 1.0) < 3 * np.sqrt(2.0 / R)


# Reference values of the two protocols below: the same rules in an independent C
# implementation (benchmarks/bubbles_reference.c: xoshiro256** generator, own cell lists),
# 400 replicas each, mean +- standard error (docs/theory_stochastic.md, section 1).
CP_INF_REF_L14 = (2.0946, 0.0029)   # zeta = inf, L = 14, burn 50, sample 100
CP_FAST_REF_L6 = (0.6123, 0.0010)   # zeta = 0.02, L = 6, burn 315, sample 945 (steps)


def _within(r, value, sigma):
    """|C_p - value| below three combined standard errors (run and reference/paper)."""
    return abs(r["cp"] - value) < 3.0 * np.hypot(r["cp_err"], sigma)


def test_no_spin_flips_packing_coefficient():
    """C_p(zeta = inf) with this run's own standard error (6 independent boxes of 14 r,
    filled from empty over 50 generations per bubble, then averaged over 100; 6e5 steps).

    The paper's 2.19 +- 0.05 is one protocol (L = 30 r, the mean over 5e7 steps); as the
    total spin is a random walk (test above), the value depends on the box and on the
    length of the run: the paper's protocol with these rules gives 2.300 +- 0.015, the
    stationary value at zero total spin rises from 2.14 (L = 15 r) to 2.22 (L = 30 r)
    (docs). The like-for-like pin is therefore the same protocol run with an independent
    implementation (tight); the comparison with the paper uses its uncertainty."""
    r = packing_coefficient(np.inf, L=14.0, replicas=6, burn=50.0, sample=100.0, seed=11)
    assert r["cp_err"] < 0.05
    assert _within(r, *CP_INF_REF_L14)
    assert _within(r, 2.19, 0.05)
    # spin raises C_p far above the spinless 0.605 (and the uncorrelated 2 ln 2 of S9)
    assert r["cp"] > 2 * np.log(2) + 0.5


def test_fast_spin_flips_recover_spinless():
    """zeta -> 0 gives back the spinless C_p = 0.605 +- 0.008. B16 main text, paragraph
    "In the above considerations, we have assumed that the annihilation rate does not
    depend on the spin state ..." (lines 386-406 of the reference text): "the
    concentration decreases down to Cp ~= 0.61 upon increasing the spin-flip rate";
    Supplement, "Simulation of the bursting bubbles model with spin" and Fig. S3: "the
    value Cp(zeta = 0) = 0.605 is recovered". At zeta = 0.02 a generation takes (zeta +
    C_p)/zeta ~ 31 steps; burn and sample (in steps per bubble volume) are 10 and 30
    generations per bubble. The approach is linear, C_p(zeta) ~ 0.605 + 0.2 zeta (docs),
    so zeta = 0.02 is 0.004 above the limit, well inside the paper's 0.008."""
    r = packing_coefficient(0.02, L=6.0, replicas=6, burn=315.0, sample=945.0, seed=2)
    assert r["cp_err"] < 0.015
    assert _within(r, *CP_FAST_REF_L6)
    assert _within(r, 0.605, 0.008)


def test_polarization_relations_s9_s10():
    # S9 at P = 0: p+ = p- = 1/2 -> (2 pi/3) c r^3 = ln 2, C_p = 2 ln 2
    assert cp_of_polarization(0.0)[0] == pytest.approx(2 * np.log(2), rel=1e-12)
    # S10 (factor 1.55) at P = 0 gives 2.15, the quoted C_p(inf) = 2.19 +- 0.05
    assert abs(cp_of_polarization(0.0, 1.55)[0] - 2.19) < 0.05
    P = np.array([0.1, 0.4, 0.8, 0.95])
    cp = cp_of_polarization(P)
    y = cp / 2
    assert np.allclose(y, np.log(2 * np.cosh(P * y)), rtol=1e-12)
    assert np.all(np.diff(cp) > 0)
    # symmetric in P, and the scale fit inverts the relation
    assert np.allclose(cp_of_polarization(-P), cp)
    assert packing_scale_fit(1.55 * cp, P) == pytest.approx(1.55, rel=1e-12)


@pytest.mark.slow
def test_concentration_follows_polarization_s10():
    """Without spin flips the concentration follows the instantaneous polarisation: the
    fitted factor of Eq. (S10) is the paper's 1.55 (to 0.1), C_p grows with |P|."""
    sim = BurstingBubbles(10.0, zeta=np.inf, seed=1)
    sim.run(60000)
    r = sim.run(300000, record_every=400)
    cp, P = r["trace_cp"], r["trace_P"]
    assert np.corrcoef(cp, np.abs(P))[0, 1] > 0.5
    assert abs(packing_scale_fit(cp, P) - 1.55) < 0.1


def test_scale_fit_skips_fully_polarized_samples():
    P = np.array([0.2, 0.5, 1.0, -1.0])
    cp = np.concatenate([1.55 * cp_of_polarization(P[:2]), [7.0, 8.0]])
    assert packing_scale_fit(cp, P) == pytest.approx(1.55, rel=1e-12)


def test_progress_every_step_without_a_clock():
    """progress_every <= 0 reports after every step (no wall clock involved, so the count
    does not depend on the machine's speed)."""
    calls = []
    sim = BurstingBubbles(5.0, zeta=1.0, seed=0)
    sim.run(30, progress=lambda done, total, s: calls.append((done, total)), progress_every=0)
    assert calls == [(k, 30) for k in range(1, 31)]

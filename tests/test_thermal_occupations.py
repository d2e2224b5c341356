"""The one Fermi/Bose copy (fvqp.spectra.thermal_occupations) and its users.

Identities that any correct implementation satisfies to round-off (particle-hole symmetry,
detailed balance, the derivative), the overflow-safe tails, the T = 0 limits, the exact
Fermi cell average against quadrature, and that the collision and Eliashberg layers call
this copy (their values are bitwise the same).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import integrate

from fvqp import collisions
from fvqp.eliashberg import Occupations
from fvqp.eliashberg.selfenergy import fermi_cell_average as eliashberg_fca
from fvqp.spectra import bose, fermi, fermi_cell_average, minus_dfermi_dE

X = np.concatenate([-np.logspace(-8, 3, 60)[::-1], [0.0], np.logspace(-8, 3, 60)])


@pytest.mark.parametrize("t", [1e-3, 0.3, 7.0])
def test_fermi_bose_identities(t: float) -> None:
    """f(E) + f(-E) = 1; n(W) e^{W/T} = 1 + n(W) (detailed balance); n(-W) = -1 - n(W);
    -df/dE = f(E) f(-E)/T, all to round-off, with no floating-point warnings at E/T = 1e6."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        f, fm = np.asarray(fermi(X, t)), np.asarray(fermi(-X, t))
        w = X[X > 0]
        n = np.asarray(bose(w, t))
        nm = np.asarray(bose(-w, t))
        d = np.asarray(minus_dfermi_dE(X, t))
    np.testing.assert_allclose(f + fm, 1.0, rtol=0, atol=2.3e-16)
    ok = w / t < 700  # e^{W/T} finite
    np.testing.assert_allclose(n[ok] * np.exp(w[ok] / t), 1.0 + n[ok], rtol=1e-13, atol=0)
    np.testing.assert_allclose(nm, -1.0 - n, rtol=1e-15, atol=0)
    np.testing.assert_allclose(d, f * fm / t, rtol=1e-13, atol=0)  # 1 - f(E) = f(-E)


def test_tails_are_exponential_not_zero() -> None:
    """For E/T = 700 the tails are e^{-700} to round-off (not 0 as 1 - tanh would give)."""
    assert fermi(700.0, 1.0) == pytest.approx(np.exp(-700.0), rel=1e-13, abs=0)
    assert bose(700.0, 1.0) == pytest.approx(np.exp(-700.0), rel=1e-13, abs=0)
    assert minus_dfermi_dE(700.0, 1.0) == pytest.approx(np.exp(-700.0), rel=1e-13, abs=0)


def test_zero_temperature_limits() -> None:
    """T = 0: the step Theta(-E) (1/2 at 0), n = 0 above and -1 below 0, and the T -> 0+
    values approach them."""
    e = np.array([-2.0, -1e-3, 0.0, 1e-3, 2.0])
    assert np.asarray(fermi(e, 0.0)).tolist() == [1.0, 1.0, 0.5, 0.0, 0.0]
    assert np.asarray(bose(e[e != 0], 0.0)).tolist() == [-1.0, -1.0, 0.0, 0.0]
    np.testing.assert_allclose(fermi(e, 1e-6), fermi(e, 0.0), rtol=0, atol=1e-300)
    with pytest.raises(ValueError, match="temperature"):
        fermi(1.0, -1.0)


@pytest.mark.parametrize("t", [0.0, 0.05, 1.0])
def test_fermi_cell_average_is_exact(t: float) -> None:
    """The cell average from the antiderivative equals adaptive quadrature of fermi over
    [x - h/2, x + h/2] (1e-12), also for cells across E = 0 and deep in the tails."""
    h = 0.13
    x = np.array([-3.0, -0.05, 0.0, 0.04, 0.5, 4.0])
    avg = fermi_cell_average(x, h, t)
    for xi, ai in zip(x, avg, strict=True):
        ref, _ = integrate.quad(lambda e: float(fermi(e, t)), xi - h / 2, xi + h / 2,
                                points=[0.0] if abs(xi) < h else None, epsabs=1e-15,
                                epsrel=1e-13)
        assert ai == pytest.approx(ref / h, rel=1e-12, abs=1e-15)


def test_layers_use_the_one_copy() -> None:
    """collisions.fermi/bose, Eliashberg's thermal occupations and its Fermi cell average
    are this module's functions (bitwise equal values)."""
    assert collisions.fermi is fermi and collisions.bose is bose
    assert eliashberg_fca is fermi_cell_average
    occ = Occupations.thermal(0.3, 0.5)
    e = np.abs(X)
    assert np.array_equal(occ.f_e(e), fermi(e, 0.3))
    assert np.array_equal(occ.n_b(e[e > 0]), bose(e[e > 0], 0.5))
    assert np.array_equal(occ.df_e(e), -np.asarray(minus_dfermi_dE(e, 0.3)))


def test_fermi_temperature_inverts_the_number_in_few_evaluations(monkeypatch) -> None:
    """fermi_temperature (transport's T_eff of every output write): rows made at known
    temperatures from 5 mK-equivalent to 3 (E/T from 0.2 to 1 200) come back to 1e-13;
    non-thermal rows equal a 200-step bisection's root to 1e-13; numbers outside the
    bracket give its bounds; and no row takes more than 12 evaluations (bracket ends
    included; a Newton iterate that sits on the end of its bracket once fell back to
    bisection there and took up to 53)."""
    from fvqp.spectra import fermi_temperature, thermal_occupations

    rng = np.random.default_rng(5)
    e = np.linspace(0.7, 6.0, 66)
    w = rng.uniform(0.5, 2.0, (400, 66))
    t = np.exp(rng.uniform(np.log(5e-3), np.log(3.0), 400))
    n = np.sum(w * fermi(e[None, :], t[:, None]), axis=1)
    assert np.max(np.abs(fermi_temperature(w, e, n, 3e-3, 50.0) / t - 1.0)) < 1e-13
    f = fermi(e[None, :], t[:, None]) * (1.0 + 0.5 * rng.uniform(-1.0, 1.0, w.shape))
    n = np.sum(w * f, axis=1)
    n[:3] = [0.0, 1e6, np.sum(w[2] * fermi(e, 50.0))]
    lo, hi = np.full(400, np.log(3e-3)), np.full(400, np.log(50.0))
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        below = np.sum(w * fermi(e[None, :], np.exp(mid)[:, None]), axis=1) < n
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    sizes = []
    real = thermal_occupations.fermi

    def counted(E, T):
        sizes.append(np.size(T))
        return real(E, T)

    monkeypatch.setattr(thermal_occupations, "fermi", counted)
    got = fermi_temperature(w, e, n, 3e-3, 50.0)
    assert np.max(np.abs(got / np.exp(0.5 * (lo + hi)) - 1.0)) < 1e-13
    assert got[0] == pytest.approx(3e-3, rel=1e-15) and got[1] == pytest.approx(50.0, rel=1e-15)
    assert len(sizes) <= 12 and sizes[0] == 400

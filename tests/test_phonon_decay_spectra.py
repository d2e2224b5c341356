"""The kinematic energy spectra of L-phonon decay (`[phonons] decay_spectrum =
"kinematic"`, issue 17 §1): L -> L + T and L -> T + T in Tamura's isotropic model
(Phys. Rev. B 31, 2574 (1985)), discretised on the phonon bins as energy-exact pairs
(:mod:`fvqp.models.phonon.branches`; docs/theory_phonon.md, "Branch mixing in the bulk").

The pair probabilities are checked against scipy's adaptive quadrature of the same
spectra, the discrete mean against the continuum (second order in the bin width), the
kinematic limits and the T + T symmetry exactly, and every decay column for its two
phonons and its parent's energy to round-off.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from scipy.integrate import quad

from fvqp.case import CaseError
from fvqp.materials import get_medium
from fvqp.models.phonon.branches import (
    decay_products,
    lt_spectrum,
    lt_support,
    pair_weights,
    tt_spectrum,
    tt_support,
)


def _spectra(name: str):
    """(delta, L + T spectrum, T + T spectrum, their supports) of a medium."""
    m = get_medium(name)
    d = m.sound_velocity_L / m.sound_velocity_T
    lam, mu = m.lame
    lt = partial(lt_spectrum, delta=d)
    tt = partial(tt_spectrum, delta=d, beta=m.anharmonic_beta, gamma=m.anharmonic_gamma,
                 lam=lam, mu=mu)
    return d, lt, tt, lt_support(d), tt_support(d)


@pytest.mark.parametrize("medium", ["Si", "Ge", "Nb"])
def test_pair_weights_are_the_spectrum_integrated_over_each_pair(medium):
    """Every pair probability of a decay from bin j' = 23 equals the adaptive quadrature
    of the spectrum over the pair's interval [(i - 1/2), (i + 1/2)] / (j' + 1), clipped to
    the kinematic support, normalised over the pairs (1e-10): the 16-point Gauss rule
    integrates these smooth spectra to round-off."""
    _, lt, tt, s_lt, s_tt = _spectra(medium)
    ne, j = 24, 23
    for spec, (a, b) in ((lt, s_lt), (tt, s_tt)):
        w = pair_weights(ne, spec, (a, b))
        i = np.arange(1, j + 1)
        lo, hi = np.maximum((i - 0.5) / (j + 1), a), np.minimum((i + 0.5) / (j + 1), b)
        ref = np.array([quad(spec, u, v, epsabs=0, epsrel=1e-13)[0] if v > u else 0.0
                        for u, v in zip(lo, hi, strict=True)])
        assert np.allclose(w[:j, j], ref / ref.sum(), rtol=1e-10, atol=1e-14)
        assert np.all(w[j:, j] == 0.0)


def test_discrete_mean_converges_to_the_continuum_at_second_order():
    """The mean energy fraction of the L product of L -> L + T (Si, delta = 5/3) from the
    top bin tends to the continuum's (0.664248, quadrature) at least at second order in
    the bin width: the error at 400 bins is below 1/16 of that at 100 (measured 4.9e-8
    against 1.7e-6); the T + T mean is 1/2 at every grid (symmetry, 1e-14; Si's T + T
    support, delta = 5/3)."""
    _, lt, tt, (a, b), _ = _spectra("Si")
    z = quad(lt, a, b, epsabs=0, epsrel=1e-13)[0]
    mean = quad(lambda x: x * lt(x), a, b, epsabs=0, epsrel=1e-13)[0] / z
    assert mean == pytest.approx(0.664248, abs=1e-6)

    def err(ne: int, spec=lt, target=mean, support=(a, b)) -> float:
        w, j = pair_weights(ne, spec, support), ne - 1
        return abs(w[:j, j] @ np.arange(1, j + 1) / (j + 1) - target)

    assert err(400) < err(100) / 16, (err(100), err(400))
    for ne in (7, 24, 101):
        assert err(ne, tt, 0.5, tt_support(5 / 3)) < 1e-14


@pytest.mark.parametrize("medium", ["Si", "Nb"])
def test_products_respect_the_kinematic_limits_and_conserve_energy(medium):
    """Decay columns j' = 1..ne-1 (ne = 40): exactly two phonons and the parent's energy
    (j' + 1) h (1e-14 relative), 1 - f_TT L phonons per decay; the T + T pair
    probabilities symmetric under i -> j' + 1 - i (1e-13); no L product below
    (delta - 1)/(delta + 1) of the parent's energy and no T product above
    max(1 - (delta - 1)/(delta + 1), (1 + 1/delta)/2) of it, beyond half a bin; the
    lowest bin has nothing below it to decay into (a zero column)."""
    d, lt, tt, (a_lt, _), (_, b_tt) = _spectra(medium)
    f_tt = get_medium(medium).anharmonic_TT_fraction
    ne = 40
    w_lt, w_tt = pair_weights(ne, lt, lt_support(d)), pair_weights(ne, tt, tt_support(d))
    prod = decay_products(ne, f_tt, w_lt, w_tt)
    om = np.arange(1, ne + 1.0)
    energy, number = np.concatenate([om, om]) @ prod, prod.sum(axis=0)
    assert np.allclose(energy[1:ne], om[1:], rtol=1e-14, atol=0)
    assert np.allclose(number[1:ne], 2.0, rtol=1e-14, atol=0)
    assert np.allclose(prod[:ne, 1:ne].sum(axis=0), 1.0 - f_tt, rtol=1e-13, atol=0)
    assert not np.any(prod[:, 0]) and not np.any(prod[:, ne:])
    for j in range(1, ne):
        assert np.allclose(w_tt[:j, j], w_tt[:j, j][::-1], rtol=1e-13, atol=1e-16)
        x_l = om[:ne][prod[:ne, j] > 0] / om[j]
        x_t = om[:ne][prod[ne:, j] > 0] / om[j]
        half = 0.5 / om[j]
        assert x_l.size == 0 or x_l.min() >= a_lt - half
        assert x_t.max() <= max(1 - a_lt, b_tt) + half


def test_a_medium_without_third_order_constants_is_refused(write_case, monkeypatch):
    """A decaying medium without anharmonic_beta / anharmonic_gamma is refused for the
    kinematic T + T spectrum, naming regions.<name>.medium, both keys and the fixes; the
    same case with decay_spectrum = "uniform" loads; a misspelt value names the key."""
    from test_phonon_branch_mixing import _sim

    import fvqp.materials as materials

    with pytest.raises(CaseError, match=r"phonons\.decay_spectrum"):
        _sim(write_case, dec="true", spectrum="tamura")
    real = materials.get_medium
    monkeypatch.setattr(materials, "get_medium", lambda name: real(name).replace(
        anharmonic_beta=None, anharmonic_gamma=None))
    with pytest.raises(CaseError) as err:
        _sim(write_case, dec="true")
    msg = "\n".join(err.value.errors)
    for text in ("regions.substrate.medium", "anharmonic_beta", "anharmonic_gamma",
                 'decay_spectrum = "uniform"', "anharmonic_decay = false",
                 "fvqp/materials/substrates.toml"):
        assert text in msg, (text, msg)
    sim = _sim(write_case, dec="true", spectrum="uniform")
    assert sim.decay_spectrum == "uniform"
    sim.problem.release()

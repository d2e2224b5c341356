"""Inputs a run used to drop or mislabel without a word are refused at ``fvqp check``.

- phonon: an ``absorption_threshold`` without ``absorption_time`` absorbed nothing (the
  results equal those without the key);
- stochastic relaxation: ``n_min`` at or above ``n_start`` recorded nothing and stopped
  in "zero-size array to reduction operation minimum";
- stochastic concentration curve: ``points = 1`` computed a_min alone and reported its
  ratio as ``mean_field_ratio_at_a_max``;
- kinetics0d: a photon drive with both ``energy`` and ``frequency`` ran on the energy
  (the frequency ignored); a film material without ``tau0_phi`` was told to "choose a
  material with them" although the ``[film]`` override is the fix;
- a source spot far smaller than the cells stopped the run ("covers no cell").
"""

from __future__ import annotations

import pytest

from conftest import case_variant
from fvqp.case.loader import CaseError, load_case


@pytest.mark.parametrize("name,edits,message", [
    ("phonon_al_film_on_si.toml", {'absorption_time = "0.242 ns"\n': ""},
     "regions.upper.absorption_threshold: a threshold without an absorption_time absorbs "
     "nothing"),
    ("stochastic_relaxation.toml", {"n_min = 20": "n_min = 2000"},
     "study.n_min: 2000 is not below n_start = 1000"),
    ("stochastic_concentration_curve.toml", {"points = 8": "points = 1"},
     "study.points: 1 point: the curve from a_min to a_max needs at least two"),
    ("kinetics0d_al_weak_drive.toml",
     {'energy = "850 ueV"': 'energy = "850 ueV"\nfrequency = "100 GHz"'},
     "drives[0].frequency: the photon energy is given twice"),
    ("kinetics0d_al_weak_drive.toml",
     {'material = "Al"': 'material = "V"\ntau0 = "100 ns"', 'Tc = "1.2 K"': 'Tc = "5.4 K"'},
     'film.tau0_phi: V has no tau0_phi (Kaplan times) for the collision operators. Fix: '
     'give tau0_phi under [film] (e.g. tau0_phi = "0.1 ns")'),
])
def test_an_input_that_would_do_nothing_is_refused(name, edits, message, tmp_path):
    with pytest.raises(CaseError) as exc:
        load_case(case_variant(name, tmp_path, **edits))
    assert message in str(exc.value) and "Fix:" in str(exc.value)


def test_a_spot_smaller_than_the_cells_goes_to_the_nearest_cell():
    """A source spot whose radius is far below the cell size (0.1 um in 25 um cells) made
    the Gaussian weights underflow everywhere and the run stop with "the source covers no
    cell"; the weights are now taken relative to the nearest cell centre: the spot lands
    in that cell, and a spot of ordinary size keeps its weights (to round-off)."""
    import numpy as np

    from fvqp.mesh.sources import spatial_weights
    from fvqp.parallel.serial import SerialLayout

    rng = np.random.default_rng(3)
    cen = rng.uniform(0.0, 100.0, (40, 3))
    vol = rng.uniform(1.0, 2.0, 40)
    sel = np.ones(40, bool)
    sel[:5] = False
    x0 = np.array([50.0, 50.0, 50.0])
    d2 = np.sum((cen - x0) ** 2, axis=1)
    near = int(np.argmin(np.where(sel, d2, np.inf)))
    tiny = spatial_weights(SerialLayout(40), vol, sel, cen, x0, 1e-3)
    assert tiny[near] == 1.0 and tiny.sum() == 1.0
    w = spatial_weights(SerialLayout(40), vol, sel, cen, x0, 30.0)
    ref = np.where(sel, vol, 0.0) * np.exp(-0.5 * d2 / 30.0**2)
    assert np.allclose(w, ref / ref.sum(), rtol=1e-14, atol=0)

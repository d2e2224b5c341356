"""Inputs a run used to drop or mislabel without a word are refused at ``fvqp check``.

- phonon: an ``absorption_threshold`` without ``absorption_time`` absorbed nothing (the
  results equal those without the key);
- stochastic relaxation: ``n_min`` at or above ``n_start`` recorded nothing and stopped
  in "zero-size array to reduction operation minimum";
- stochastic concentration curve: ``points = 1`` computed a_min alone and reported its
  ratio as ``mean_field_ratio_at_a_max``;
- kinetics0d: a photon drive with both ``energy`` and ``frequency`` ran on the energy
  (the frequency ignored); a film material without ``tau0_phi`` was told to "choose a
  material with them" although the ``[film]`` override is the fix.
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

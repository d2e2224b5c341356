"""The phonon deposits against the energy grid (nodes (j+1) h, h = e_max / bins) and the
media's Debye energies, at ``fvqp check``.

A source centred below the first bin (from h/2) was put on the first node(s) without a
word: cases/phonon_si_block.toml (3 +- 1 meV) with e_max = 50 meV in its 8 bins put the
deposit at 6.25 meV — the energy conserved, but 2.1 times fewer phonons at 19 times the
isotope and 39 times the decay rate of 3 meV (nu^4, nu^5). A narrow source between two
nodes gave a 0/0 (NaN) spectrum and a KSP failure blamed on the time step. A source above
the Debye energy k_B Theta_D of its medium deposited phonons that the medium's Debye
model does not have, and an e_max above it went unmentioned.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

from conftest import case_variant
from fvqp.case.loader import CaseError, load_case

_GRID = {'e_max = "6 meV"': 'e_max = "{}"', "bins = 8": "bins = {}"}


def _block(tmp_path, e_max="6 meV", bins=8, **repl):
    """cases/phonon_si_block.toml with the grid ``e_max``, ``bins`` and text edits."""
    grid = {k: v.format(x) for (k, v), x in zip(_GRID.items(), (e_max, bins), strict=True)}
    return case_variant("phonon_si_block.toml", tmp_path, **grid, **repl)


def _refused(path) -> str:
    with pytest.raises(CaseError) as exc:
        load_case(path)
    return str(exc.value)


def test_source_below_the_first_bin_is_refused(tmp_path):
    """3 meV in 8 bins of 6.25 meV (first bin from 3.125 meV): refused naming the source,
    [energy] bins and e_max and the fix (9 bins, or e_max <= 48 meV); 9 bins pass."""
    text = _refused(_block(tmp_path, "50 meV"))
    assert "phonon_si_block.toml: energy.bins: phonon source sources[0] (3000 ueV) lies " \
           "below the grid's first bin" in text
    assert "h = e_max / bins = 5e+04 ueV / 8 = 6250 ueV" in text
    assert "Fix: raise [energy] bins to at least 9, or lower [energy] e_max to at most " \
           "4.8e+04 ueV" in text
    load_case(_block(tmp_path, "50 meV", 9))
    load_case(_block(tmp_path, "48 meV", 8))


def test_narrow_source_sits_on_its_nearest_node(tmp_path):
    """2.6 meV +- 1 ueV on the shipped nodes 2.25, 3 meV: the spectrum is that of width 0
    (the nearest node, 2.25 meV) and deposits exactly its energy (was NaN)."""
    from fvqp.models.phonon.driver import PhononSimulation

    spectra = []
    for width in ("0.001 meV", "0 meV"):
        path = _block(tmp_path, **{'energy = "3 meV"': 'energy = "2.6 meV"',
                                   'width = "1 meV"': f'width = "{width}"'})
        sim = PhononSimulation.from_case(load_case(path))
        spectra.append(sim.problem.sources[0].spectrum)
        assert spectra[-1] @ sim.omega == pytest.approx(1.0, rel=1e-12)
        assert np.flatnonzero(spectra[-1]).tolist() == [2]
    np.testing.assert_allclose(spectra[0], spectra[1], rtol=1e-12)


def test_debye_energy(tmp_path, caplog):
    """Si: k_B Theta_D = 55.58 meV. A 60 meV source in it is refused; an e_max of 70 meV
    over a 3 meV source is a warning naming the key, the medium and the fix, and the
    shipped grid (6 meV) gives none."""
    src = {'energy = "3 meV"': 'energy = "60 meV"\nregion = "substrate"'}
    text = _refused(_block(tmp_path, "70 meV", 40, **src))
    assert "sources[0].energy: 6e+04 ueV lies above the Debye energy k_B Theta_D = " \
           "5.558e+04 ueV of medium Si of region 'substrate'" in text
    warnings = {}
    for e_max, bins in (("70 meV", 40), ("6 meV", 8)):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="fvqp"):
            load_case(_block(tmp_path, e_max, bins))
        warnings[e_max] = [r.getMessage() for r in caplog.records
                           if "Debye" in r.getMessage()]
    assert not warnings["6 meV"] and len(warnings["70 meV"]) == 1
    msg = warnings["70 meV"][0]
    assert "energy.e_max: the grid reaches 7e+04 ueV, above the Debye energy k_B Theta_D " \
           "= 5.558e+04 ueV (Theta_D = 645 K) of medium Si (regions.substrate)" in msg
    assert "Fix: lower e_max to at most 5.558e+04 ueV" in msg


_CHIP_SOURCE = 'energy = "0.5 meV"\nwidth = "0.1 meV"'


@pytest.mark.parametrize("name", ["bte_chip_deposit.toml", "bte_chip_deposit_transport.toml"])
def test_chip_source_below_the_first_phonon_bin_is_refused(name, tmp_path):
    """bte_chip, the same check on the collision layer's nodes (j+1) h: a 20 +- 5 ueV
    deposit under the 57.38 ueV bins (0.05 meV fitted to the Al gap; first bin from
    28.69 ueV) is refused naming [energy] spacing (was accepted: its energy all at 57.38
    ueV and above, 2.87 times fewer phonons); a spacing of 20 ueV passes."""
    low = {_CHIP_SOURCE: 'energy = "20 ueV"\nwidth = "5 ueV"'}
    text = _refused(case_variant(name, tmp_path, **low))
    assert f"{name}: energy.spacing: phonon source sources[0] (20 ueV) lies below the " \
           "grid's first bin: its nodes are (j+1) h with h = the QP bin width 57.38 ueV" \
           in text
    assert "first bin starting at h/2 = 28.69 ueV" in text
    assert "Fix: lower [energy] spacing to at most 20 ueV." in text
    load_case(case_variant(name, tmp_path, **low,
                           **{'spacing = "0.05 meV"': 'spacing = "20 ueV"'}))


def test_chip_debye_energy(tmp_path, caplog):
    """bte_chip, the same Debye checks with the films' media (Al: k_B Theta_D = 36.88
    meV, the medium defaulting to the film's material): a 40 meV deposit in the Al ground
    film and a 60 meV one in the Si substrate are refused (both were accepted); a phonon
    top of 40.22 meV (e_max 40 meV + the Al gap) is warned about for Al alone, its fix
    the e_max of a top at k_B Theta_D (36.71 meV), and the shipped grid gives none."""
    name = "bte_chip_deposit.toml"
    for energy, region, refusal in (
            ("40 meV", "ground", "sources[0].energy: 4e+04 ueV lies above the Debye energy "
             "k_B Theta_D = 3.688e+04 ueV of medium Al of region 'ground'"),
            ("60 meV", "substrate", "sources[0].energy: 6e+04 ueV lies above the Debye "
             "energy k_B Theta_D = 5.558e+04 ueV of medium Si of region 'substrate'")):
        text = _refused(case_variant(name, tmp_path, **{
            _CHIP_SOURCE: f'energy = "{energy}"\nwidth = "0.1 meV"',
            'position = [150, 300, -50]\nradius = "10 um"': f'region = "{region}"',
            'e_max = "0.6 meV"': 'e_max = "61 meV"'}))
        assert f"1 problem in the case:\n  - {name}: {refusal}" in text, text
    warnings = {}
    for e_max in ("40 meV", "0.6 meV"):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="fvqp"):
            load_case(case_variant(name, tmp_path, **{'e_max = "0.6 meV"':
                                                      f'e_max = "{e_max}"'}))
        warnings[e_max] = [r.getMessage() for r in caplog.records
                           if "Debye" in r.getMessage()]
    assert not warnings["0.6 meV"]
    (msg,) = warnings["40 meV"]
    assert f"{name}: energy.e_max: the grid reaches 4.022e+04 ueV, above the Debye energy " \
           "k_B Theta_D = 3.688e+04 ueV (Theta_D = 428 K) of medium Al (regions." \
           "island_left, regions.island_right, regions.ground)" in msg
    assert "Fix: lower e_max to at most 3.671e+04 ueV" in msg

"""A bath above the temperature where a kinetic model's gap closes is refused.

The gap of ``bte``, ``bte_sphere``, ``bte_chip``, ``transport`` and the self-consistent
``kinetics0d`` is the weak-coupling gap equation with Delta0 = alpha k_B Tc (the
"delta0" model of :func:`fvqp.spectra.gap.thermal_gap`): it closes at Tc' = (alpha /
1.764) Tc, below the measured Tc when alpha < 1.764 (Al 1.70: 1.132 K against 1.175 K;
Sn 1.73: 3.651 K against 3.722 K). The checks compared the bath with Tc only: a bte run
of Al at 1.15 K finished with status 0 and a gap of zero in every region (a normal film
counted as a superconductor), and bte_sphere of Sn at 3.66 K stopped with a
ZeroDivisionError. The fixed-gap kinetics0d (the alpha model, closing at Tc) keeps
accepting such a bath.
"""

from __future__ import annotations

import pytest

from conftest import case_variant
from fvqp.case.loader import CaseError, load_case
from fvqp.materials import get_material
from fvqp.models.spec import gap_closes_at
from fvqp.spectra.gap import thermal_gap


def _errors(path) -> str:
    with pytest.raises(CaseError) as exc:
        load_case(path)
    return str(exc.value)


@pytest.mark.parametrize("name", ["Al", "Sn", "Nb", "Ta"])
def test_the_check_closes_where_the_model_gap_closes(name):
    """The refusal limit is where the delta0 gap vanishes when that is below Tc (alpha <
    1.764: positive just below, zero at it), else the material's Tc (Nb, Ta: the gap
    equation's solution is still positive there; the bath must stay below Tc anyway)."""
    mat = get_material(name)
    limit = gap_closes_at(mat)
    assert float(thermal_gap(limit * (1 - 1e-6), mat.Tc, mat.gap_ratio, "delta0")) > 0.0
    if mat.gap_ratio < 1.764:
        assert limit < mat.Tc
        assert float(thermal_gap(limit, mat.Tc, mat.gap_ratio, "delta0")) == 0.0
    else:
        assert limit == mat.Tc
    assert gap_closes_at(mat, model="alpha") == mat.Tc


def test_bte_bath_between_the_model_closing_and_tc_is_refused(tmp_path):
    text = _errors(case_variant("bte_film_relaxation.toml", tmp_path,
                                **{'temperature = "100 mK"': 'temperature = "1.15 K"'}))
    assert "bath.temperature" in text and "1.132 K" in text and "Fix:" in text
    ok = tmp_path / "ok"
    ok.mkdir()
    load_case(case_variant("bte_film_relaxation.toml", ok,
                           **{'temperature = "100 mK"': 'temperature = "1.12 K"'}))


def test_bte_sphere_bath_below_tc_where_the_gap_closed_is_refused(tmp_path):
    text = _errors(case_variant("bte_sphere_sn_packet.toml", tmp_path,
                                **{'temperature = "0.4 K"': 'temperature = "3.66 K"'}))
    assert "bath.temperature" in text and "3.651 K" in text and "Sn" in text


def test_transport_bath_above_the_al_lead_closing_is_refused(tmp_path):
    text = _errors(case_variant("transport_absorber3d.toml", tmp_path,
                                **{'temperature = "50 mK"': 'temperature = "1.15 K"'}))
    assert "bath.temperature" in text and "1.132 K" in text and "lead" in text


def test_fixed_gap_kinetics0d_keeps_the_alpha_model_up_to_tc(tmp_path):
    """The fixed-gap 0D kinetics uses the alpha model (closing at the measured Tc): a
    bath of 1.15 K is a superconductor there and is accepted."""
    load_case(case_variant("kinetics0d_al_power_sweep.toml", tmp_path,
                           **{'temperature = "80 mK"': 'temperature = "1.15 K"'}))


def test_transport_region_with_a_given_gap_still_needs_the_bath_below_tc(tmp_path):
    """A region's explicit ``gap`` fixed the gap but let a bath above Tc through: the NIS
    wire at 1.8 K (Tc 1.75 K) ran as a superconductor with N_qp = 44 960."""
    text = _errors(case_variant("transport_nis_wire.toml", tmp_path,
                                **{'temperature = "100 mK"': 'temperature = "1.8 K"'}))
    assert "bath.temperature: 1.8 K is at or above Tc = 1.75 K of Al (region 'wire'), " \
        "whose gap is given" in text


@pytest.mark.parametrize("bath,message", [
    ("1.15 K", "at or above 1.132 K, where the gap of Al (region"),
    ("1.3 K", "1.3 K is at or above Tc = 1.175 K of Al (region"),
])
def test_bte_chip_films_need_the_bath_below_their_gap_closing(bath, message, tmp_path):
    """The chip's QP films had no bath check at all: 1.3 K (above Al's Tc) passed."""
    text = _errors(case_variant("bte_chip_deposit.toml", tmp_path,
                                **{'temperature = "50 mK"': f'temperature = "{bath}"',
                                   'e_max = "0.6 meV"\n': ""}))
    assert message in text and "Fix:" in text

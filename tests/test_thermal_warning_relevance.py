"""bte: the coarse-bins warning judges the temperatures whose thermal QPs matter.

The run warns when its bins miss the thermal QP number of a temperature that supplies
QPs by more than 5 % (:func:`fvqp.models.spec.warn_thermal_bins`). It judged the coldest
of the bath and the held (``bath``) boundaries, so ``cases/bte_constriction.toml`` (Al,
bath 20 mK, a 300 mK contact, 10 ueV bins) warned that its bins "hold 85 % too few
thermal QPs" of the 20 mK background, whose density is 1e-43 of the contact's: nothing in
that run. Now a supply whose thermal density is below 1e-6 of the hottest one's
(:data:`fvqp.models.spec.NEGLIGIBLE_THERMAL`) is not judged, the warning names the
supply it judges, and a case with the bath alone warns as before.
"""

from __future__ import annotations

import logging
import re

import pytest

from conftest import case_variant
from fvqp.case.loader import load_case

CASE = "bte_constriction.toml"
#: the shipped contact's thermal QPs at twice the bin spacing (0.74 kT at 300 mK)
COARSE = {'spacing = "10 ueV"': 'spacing = "20 ueV"'}
#: the contact made a drain: the bath is the only temperature
BATH_ONLY = {'type = "bath"\ntemperature = "300 mK"': 'type = "absorbing"'}


def _warnings(tmp_path, caplog, **edits):
    """The simulation of the constriction with ``edits`` (built, not run) and its
    ``energy.spacing`` warnings."""
    from fvqp.models.bte.simulation import BTESimulation

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="fvqp"):
        sim = BTESimulation(load_case(str(case_variant(CASE, tmp_path, **edits))))
    return sim, [r.getMessage() for r in caplog.records
                 if "energy.spacing" in r.getMessage()]


def _percent(msg: str) -> float:
    return float(re.search(r"hold ([0-9.]+) % too few", msg).group(1))


def test_a_negligible_bath_beside_a_hot_contact_is_not_judged(tmp_path, caplog):
    """The shipped constriction: the 20 mK bath's thermal QP density is 1e-43 of the
    300 mK contact's (far below 1e-6), and the contact's thermal QPs are held by the
    10 ueV bins to 4.5 % (within 5 %): no warning (it warned 85 % for the bath)."""
    from fvqp.spectra.qp_density import BIN_THERMAL_TOL, bin_thermal_error, thermal_qp_density

    sim, msg = _warnings(tmp_path, caplog)
    assert msg == []
    T_hot = sim.case.values["boundaries"]["source"]["temperature"]
    ratio = thermal_qp_density(sim.T_bath, sim.gap, 1.0) / thermal_qp_density(
        T_hot, sim.gap, 1.0)
    assert ratio < 1e-40
    assert bin_thermal_error(sim.gap, sim.grid.h, sim.T_bath) < -0.8   # what it warned of
    assert abs(bin_thermal_error(sim.gap, sim.grid.h, T_hot)) <= BIN_THERMAL_TOL


def test_coarse_bins_of_the_hot_contact_warn_naming_it(tmp_path, caplog):
    """20 ueV bins hold the 300 mK contact's thermal QPs 10.8 % too few: one warning, at
    the contact's temperature, naming it; the spacing it names, given as printed, holds
    the contact's QPs and the run no longer warns (before, the warning judged the
    negligible 20 mK bath: "at 0.02 K", 0.69 ueV)."""
    from fvqp.spectra.qp_density import bin_thermal_error

    sim, msg = _warnings(tmp_path, caplog, **COARSE)
    assert len(msg) == 1, msg
    assert "at 0.3 K, the temperature of [boundaries.source])" in msg[0], msg[0]
    T_hot = sim.case.values["boundaries"]["source"]["temperature"]
    err = bin_thermal_error(sim.gap, sim.grid.h, T_hot)
    assert _percent(msg[0]) == pytest.approx(-100 * err, abs=0.01)
    assert 10 < _percent(msg[0]) < 12
    fix = re.search(r"Fix: spacing at most ([0-9.]+) ueV", msg[0]).group(1)
    assert float(fix) > 10   # not the 0.69 ueV of the bath
    _, again = _warnings(tmp_path, caplog, **{'spacing = "10 ueV"': f'spacing = "{fix} ueV"'})
    assert again == []


def test_a_bath_that_matters_is_judged_and_named(tmp_path, caplog):
    """A 250 mK bath beside the 300 mK contact supplies a fifth of its thermal QPs (not
    negligible) and is the colder: the 20 ueV bins are judged at 250 mK, 13.8 % too few,
    naming the bath."""
    sim, msg = _warnings(tmp_path, caplog, **COARSE,
                         **{'temperature = "20 mK"': 'temperature = "250 mK"'})
    assert len(msg) == 1, msg
    assert "at 0.25 K, the temperature of [bath])" in msg[0], msg[0]
    assert 13 < _percent(msg[0]) < 15


def test_held_boundaries_at_the_judged_temperature_are_all_named():
    """Supplies at the judged temperature are named together; one whose density is
    below 1e-6 of the hottest's is left out, one just above is judged."""
    from fvqp.models.spec import NEGLIGIBLE_THERMAL, thermal_supply
    from fvqp.spectra.qp_density import thermal_qp_density

    delta = 1.0
    assert thermal_supply(delta, {"[bath]": 0.1, "[boundaries.a]": 0.1}) == (
        0.1, "[bath] and [boundaries.a]")
    assert thermal_supply(delta, {"[bath]": 0.01, "[boundaries.a]": 0.1}) == (
        0.1, "[boundaries.a]")
    # the bath's density just above / below 1e-6 of the contact's at T = 0.1 delta
    n_hot = thermal_qp_density(0.1, delta, 1.0)
    lo, hi = 0.01, 0.1
    for _ in range(60):   # the bath temperature whose density is 1e-6 of the contact's
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if thermal_qp_density(mid, delta, 1.0) < \
            NEGLIGIBLE_THERMAL * n_hot else (lo, mid)
    assert thermal_supply(delta, {"[bath]": hi * 1.001, "[boundaries.a]": 0.1})[1] == "[bath]"
    assert thermal_supply(delta, {"[bath]": lo * 0.999, "[boundaries.a]": 0.1})[1] == \
        "[boundaries.a]"


def test_a_bath_alone_warns_as_before(tmp_path, caplog):
    """With the contact made a drain and the bath at 150 mK (x_qp = 1e-6, several QPs in
    the film) the bath is the only temperature: the 10 ueV bins (0.78 kT) hold its
    thermal QPs 12 % too few and the warning is the one the run gave before (no source
    named)."""
    _, msg = _warnings(tmp_path, caplog, **BATH_ONLY,
                       **{'temperature = "20 mK"': 'temperature = "150 mK"'})
    assert msg == ["bte_constriction.toml: energy.spacing: the bins of 10.13 ueV (0.78 kT "
                   "at 0.15 K) hold 11.96 % too few thermal QPs (the background at the gap "
                   "edge). Fix: spacing at most 5.216 ueV holds it to 5 %."]


def test_a_negligible_bath_alone_is_not_warned(tmp_path, caplog):
    """The same at the shipped 20 mK: 85 % of a background of x_qp = 1e-44 QPs per
    Cooper pair, 1e-35 of the lowest densities measured (fvqp.models.spec.NEGLIGIBLE_XQP):
    no warning, an INFO line that says why (the shipped bte_film_pulse, Al at 20 mK on
    43 ueV bins, warned "100 % too few")."""
    from fvqp.models.bte.simulation import BTESimulation

    p = case_variant("bte_constriction.toml", tmp_path, **BATH_ONLY)
    with caplog.at_level(logging.INFO, logger="fvqp"):
        BTESimulation(load_case(str(p)))
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING
                and "spacing" in r.getMessage()]
    info = [r.getMessage() for r in caplog.records if "negligible" in r.getMessage()]
    assert len(info) == 1 and "85.33 % too few thermal QPs at 0.02 K" in info[0]
    assert "x_qp = 1.1e-44" in info[0]
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="fvqp"):
        BTESimulation(load_case(str(case_variant("bte_film_pulse.toml", tmp_path))))
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING
                and "spacing" in r.getMessage()]


@pytest.mark.parametrize(("case", "percent", "count"), [
    ("bte_film_relaxation.toml", "78.31", "0.86"), ("bte_gapstep.toml", "20.13", "0.0057")])
def test_less_than_one_thermal_qp_in_the_device_is_not_warned(tmp_path, caplog, case,
                                                               percent, count):
    """Two shipped cases at 100 mK (x_qp = 1.2e-9, judged by itself): their coarse bins
    miss 78 % / 20 % of a background of 0.86 / 0.0057 QPs in the whole film, which no
    count resolves (the film relaxation's 0.5 eV pulse brings 500 QPs of 1 meV): INFO naming the
    device's count, no warning (both warned)."""
    from fvqp.models.bte.simulation import BTESimulation

    with caplog.at_level(logging.INFO, logger="fvqp"):
        BTESimulation(load_case(str(case_variant(case, tmp_path))))
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING
                and "spacing" in r.getMessage()]
    info = [r.getMessage() for r in caplog.records if "negligible" in r.getMessage()]
    assert len(info) == 1
    assert f"{percent} % too few thermal QPs at 0.1 K" in info[0]
    assert f", {count} QPs in the whole device" in info[0]



def test_a_sphere_with_less_than_one_thermal_qp_is_not_warned(tmp_path, caplog):
    """bte_sphere passes its thermal QP number too: the Sn sphere shrunk to 5 um at 0.25 K
    on 25 ueV bins misses 20 % of 0.026 thermal QPs (x_qp = 3e-12, judged by itself):
    INFO, no warning (it warned); the shipped 50 um sphere at 0.4 K on those bins (5e5
    thermal QPs) still warns."""
    from fvqp.models.bte_sphere.driver import SphereSimulation

    coarse = {'spacing = "13.87 ueV"': 'spacing = "25 ueV"'}
    small = {**coarse, 'radius = "50 um"': 'radius = "5 um"', 'temperature = "0.4 K"':
             'temperature = "0.25 K"', 'deposit = "1 keV"': 'deposit = "1 eV"',
             'radius = "5 um"\ndeposit': 'radius = "1 um"\ndeposit'}
    for edits, warned in ((small, False), (coarse, True)):
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="fvqp"):
            SphereSimulation(load_case(str(case_variant("bte_sphere_sn_packet.toml",
                                                        tmp_path, **edits))))
        warn = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING
                and "spectrum.spacing" in r.getMessage()]
        info = [r.getMessage() for r in caplog.records if "negligible" in r.getMessage()]
        if warned:
            assert len(warn) == 1 and "hold 11.00 %" in warn[0] and not info
        else:
            assert not warn and len(info) == 1
            assert "20.13 % too few thermal QPs at 0.25 K" in info[0]
            assert "0.026 QPs in the whole device" in info[0]

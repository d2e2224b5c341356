"""The energy grids hold the thermal states they impose, or the case says why not.

- bte: a ``bath`` boundary held above the film's Tc (no gap) is refused at ``fvqp
  check``; one held below Tc but hotter than the bath puts its thermal f on the default
  grid (``e_max`` was 12 kT of the *bath* above the gap: a contact at 600 mK on a
  100 mK Al film held 6.4 % too few QPs, now 0.16 %);
- bte, bte_sphere: bins coarser than ~0.4 kT_bath (Delta >> kT) miss the thermal
  background's QP number by more than 5 % (the gap-edge bin's states sit at its lower
  edge, where f is largest): the run warns with the spacing that holds it.
"""

from __future__ import annotations

import logging

import pytest

from conftest import case_variant
from fvqp.case.loader import CaseError, load_case

#: the constriction's hot contact made a drain: the 20 mK bath is its only temperature
#: (beside the 300 mK contact its thermal QPs are negligible and not judged)
BATH_ONLY = {'type = "bath"\ntemperature = "300 mK"': 'type = "absorbing"'}
#: ... and its bath raised to 150 mK: x_qp = 1e-6, several thermal QPs in the film (at
#: 20 mK, x_qp = 1e-44, and at 100 mK, 0.006 QPs in the film, the background is not
#: judged: fvqp.models.spec.NEGLIGIBLE_XQP, warn_thermal_bins)
BATH_150 = {**BATH_ONLY, 'temperature = "20 mK"': 'temperature = "150 mK"'}
#: the Sn sphere on the 25 ueV bins it shipped with before 2026-11-26 (0.73 kT at 0.4 K)
SPHERE_25 = {'spacing = "13.87 ueV"': 'spacing = "25 ueV"'}
HOT = {'temperature = "20 mK"': 'temperature = "100 mK"',
       'spacing = "10 ueV"\ne_max = "480 ueV"\n': ""}


def test_boundary_above_tc_refused(tmp_path):
    p = case_variant("bte_constriction.toml", tmp_path, **{**HOT,
                     'temperature = "300 mK"': 'temperature = "2 K"'})
    with pytest.raises(CaseError) as exc:
        load_case(str(p))
    msg = str(exc.value)
    assert "bte_constriction.toml: boundaries.source.temperature: 2 K is at or above " \
        "Tc = 1.175 K of Al" in msg
    assert "Fix: give a bath temperature below 1.175 K" in msg


def test_a_held_boundary_is_judged_by_the_films_it_touches(tmp_path):
    """The Al/Sn gap step: a contact held at 1.5 K on the Sn end (below Sn's 3.65 K, above
    Al's 1.13 K) is accepted (it was refused for the Al film it does not touch), the same
    contact on the Al end refused naming Al."""
    sn_end = {'[boundaries.high_end]\ntype = "specular"':
              '[boundaries.high_end]\ntype = "bath"\ntemperature = "1.5 K"'}
    assert load_case(str(case_variant("bte_gapstep.toml", tmp_path, **sn_end))).model
    al_end = {'[boundaries.low_end]\ntype = "bath"':
              '[boundaries.low_end]\ntype = "bath"\ntemperature = "1.5 K"'}
    with pytest.raises(CaseError) as exc:
        load_case(str(case_variant("bte_gapstep.toml", tmp_path, **al_end)))
    assert "boundaries.low_end.temperature: 1.5 K" in str(exc.value)
    assert "(region low, whose faces boundary low_end holds)" in str(exc.value)
    assert "Sn" not in str(exc.value).split("low_end.temperature")[1].split("Fix")[0]


def test_held_boundary_on_default_grid(tmp_path):
    """The contact's thermal QP density 4 N0 int rho f(E, 600 mK) dE over the film's
    (bath) gap, summed over the default bins, is the analytic BCS value
    (:func:`fvqp.spectra.thermal_qp_density`) to 1 % (0.16 %; was 6.4 % low: e_max was
    12 kT_bath = 2 kT of the contact above the gap)."""
    from fvqp.models.bte.simulation import BTESimulation
    from fvqp.spectra import thermal_qp_density

    p = case_variant("bte_constriction.toml", tmp_path, **{**HOT,
                     'temperature = "300 mK"': 'temperature = "600 mK"'})
    sim = BTESimulation(load_case(str(p)))
    T = sim.case.values["boundaries"]["source"]["temperature"]
    assert T == pytest.approx(6 * sim.T_bath)
    grid = sim.grid.h * float(sim.states @ sim.f_in["source"])
    exact = float(thermal_qp_density(T, sim.gap, 0.25))
    assert grid == pytest.approx(exact, rel=0.01)


def test_bte_coarse_bins_warn(tmp_path, caplog):
    """The constriction with its contact made a drain and its bath at 150 mK: its 10 ueV
    bins (0.78 kT) hold the bath's thermal QPs 12 % too few: the run names energy.spacing
    and the spacing that holds 5 %."""
    from fvqp.models.bte.simulation import BTESimulation

    p = case_variant("bte_constriction.toml", tmp_path, **BATH_150)
    with caplog.at_level(logging.WARNING, logger="fvqp.bte"):
        BTESimulation(load_case(str(p)))
    msg = [r.getMessage() for r in caplog.records if "energy.spacing" in r.getMessage()]
    assert len(msg) == 1 and "bte_constriction.toml: energy.spacing" in msg[0]
    assert "hold 11.96 %" in msg[0]
    assert "Fix: spacing at most 5.216" in msg[0]  # 0.4 kT at 150 mK holds 5 %


def test_sphere_thermal_background(tmp_path, caplog):
    """bte_sphere (Sn, 0.4 K, 25 ueV = 0.73 kT, the shipped case's former bins): the
    bath's QP number on the bins is 11 % below 4 N0 int rho f dE, as
    :func:`fvqp.spectra.qp_density.bin_thermal_error` predicts, and the run warns naming
    spectrum.spacing."""
    from fvqp.models.bte_sphere.driver import SphereSimulation
    from fvqp.spectra import thermal_qp_density
    from fvqp.spectra.qp_density import bin_thermal_error

    p = case_variant("bte_sphere_sn_packet.toml", tmp_path, **SPHERE_25)
    with caplog.at_level(logging.WARNING, logger="fvqp.bte_sphere"):
        sim = SphereSimulation(load_case(str(p)))
    g, T = sim.spectrum.grid, sim.T_bath
    grid = g.h * float(sim.spectrum.states @ sim.problem.f_bath)
    rel = grid / float(thermal_qp_density(T, g.delta, 0.25)) - 1
    assert rel == pytest.approx(bin_thermal_error(g.delta, g.h, T), rel=1e-3)
    assert -0.12 < rel < -0.10
    msg = [r.getMessage() for r in caplog.records if "spectrum.spacing" in r.getMessage()]
    assert len(msg) == 1 and "hold 11." in msg[0]


@pytest.mark.parametrize(("case", "key", "logger", "spacing"),
                         [("bte_sphere_sn_packet.toml", "spectrum.spacing", "fvqp.bte_sphere",
                           'spacing = "25 ueV"'),
                          ("bte_constriction.toml", "energy.spacing", "fvqp.bte",
                           'spacing = "10 ueV"')])
def test_the_spacing_a_warning_names_holds_the_background(tmp_path, caplog, case, key,
                                                          logger, spacing):
    """Given as printed, the spacing the warning names is taken by the grid (which
    rounds a spacing to 2Delta/m, bte_sphere, or gap/j, bte) and holds the thermal QP
    number to 5 %: the run no longer warns. (The bisection's bound alone named 14.05 ueV
    for the Sn sphere, which the grid rounds to the 14.05 ueV bins, 5.002 % low.)"""
    import re

    from fvqp.models.bte.simulation import BTESimulation
    from fvqp.models.bte_sphere.driver import SphereSimulation
    from fvqp.spectra.qp_density import BIN_THERMAL_TOL, bin_thermal_error

    sim_cls = SphereSimulation if "sphere" in case else BTESimulation
    base = SPHERE_25 if "sphere" in case else BATH_150
    with caplog.at_level(logging.WARNING, logger=logger):
        sim_cls(load_case(str(case_variant(case, tmp_path, **base))))
    msg = [r.getMessage() for r in caplog.records if key in r.getMessage()]
    assert len(msg) == 1
    fix = re.search(r"Fix: spacing at most ([0-9.]+) ueV", msg[0]).group(1)
    caplog.clear()
    p = case_variant(case, tmp_path, **base, **{spacing: f'spacing = "{fix} ueV"'})
    with caplog.at_level(logging.WARNING, logger=logger):
        sim = sim_cls(load_case(str(p)))
    assert not [r for r in caplog.records if key in r.getMessage()]
    if "sphere" in case:
        g, T = sim.spectrum.grid, sim.T_bath
        assert abs(bin_thermal_error(g.delta, g.h, T)) <= BIN_THERMAL_TOL
        # the largest such spacing: one step coarser (m - 1) would not hold it
        coarser = 2 * g.delta / (g.m - 1)
        assert abs(bin_thermal_error(g.delta, coarser, T)) > BIN_THERMAL_TOL

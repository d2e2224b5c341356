"""``fvqp check`` of a transport case sees the gaps the run uses: the region's material with
the case's overrides (``gap_ratio``, ``delta0``, ``Tc``), not the database entry.

The check's range tests ([energy] e_min at or below the smallest gap, the bins of
``[slices] energies``) had read the database gap ratio: on the NIS wire (Al, Tc = 1.75 K,
database gap 256.4 ueV at 100 mK) ``gap_ratio = 1.6`` (run gap 241.3 ueV) with
``e_min = 250 ueV`` passed the check although the run's bins cut off the gap edge, and
``gap_ratio = 2.0`` (301.6 ueV) with ``e_min = 290 ueV`` was refused although it is valid.
"""

from __future__ import annotations

import re

import pytest

from conftest import CASES
from fvqp.case.loader import CaseError, load_case
from fvqp.units import E_CHARGE

UEV = E_CHARGE * 1e-6


def _nis(tmp_path, region: str, energy: str = "", slices: str | None = None):
    """The NIS wire case with its fixed gap replaced by ``region`` lines, ``energy`` lines
    added to [energy] and, if given, its slice energies replaced."""
    text = (CASES / "transport_nis_wire.toml").read_text().replace(
        'file = "../meshes/', f'file = "{CASES.parent}/meshes/')
    assert text.count('gap = "266 ueV"') == 1
    text = text.replace('gap = "266 ueV"', region)
    text = text.replace('spacing = "8 ueV"', f'spacing = "8 ueV"\n{energy}')
    if slices is not None:
        text = re.sub(r"energies = \[[^\]]*\]", f"energies = [{slices}]", text)
    p = tmp_path / "transport_nis_wire.toml"
    p.write_text(text)
    return str(p)


def _refused(path: str) -> list[str]:
    with pytest.raises(CaseError) as err:
        load_case(path)
    return err.value.errors


def test_check_refuses_e_min_above_the_overridden_gap(tmp_path):
    """gap_ratio = 1.6: e_min = 250 ueV is above the run's gap (241.3 ueV): refused,
    naming the key and the overridden gap (was accepted against 256.4 ueV)."""
    e = _refused(_nis(tmp_path, "gap_ratio = 1.6", 'e_min = "250 ueV"'))
    assert len(e) == 1
    assert "energy.e_min: 250 ueV is above the gap 241.3 ueV of region 'wire'" in e[0]


def test_check_accepts_e_min_below_the_overridden_gap_as_the_run(tmp_path):
    """gap_ratio = 2.0: e_min = 290 ueV lies below the run's gap: accepted (was refused
    against the database gap 256.4 ueV); the run's gap is the one the check used
    (301.607 ueV, 1e-12) and its bins start at e_min."""
    from fvqp.models.spec import bath_gap
    from fvqp.models.transport.driver import TransportSimulation
    from fvqp.models.transport.regions import region_material

    path = _nis(tmp_path, "gap_ratio = 2.0", 'e_min = "290 ueV"', '"320 ueV", "400 ueV"')
    case = load_case(path)
    sim = TransportSimulation(case)
    reg = case.data["regions"]["wire"]
    gap_check = bath_gap(region_material(reg, "Al"), case.data["bath"]["temperature"])
    gap_run = sim.units.to_si(sim.params[0].gap, "energy")
    assert gap_run == pytest.approx(gap_check, rel=1e-12, abs=0)
    assert gap_run / UEV == pytest.approx(301.607, rel=1e-5, abs=0)
    assert sim.units.to_si(float(sim.grid.edges[0]), "energy") / UEV == pytest.approx(
        290.0, rel=1e-12, abs=0)


def test_check_refuses_the_slice_below_the_overridden_bins(tmp_path):
    """gap_ratio = 2.0 with the case's slice at 280 ueV: the bins start at the run's gap
    301.607 ueV, so the check refuses the slice with that range (it had accepted it
    against bins from 256.4 ueV, and the run then stopped)."""
    e = _refused(_nis(tmp_path, "gap_ratio = 2.0"))
    assert len(e) == 1
    assert "slices.energies[0]: 280 ueV lies outside the energy bins: 301.607 ueV" in e[0]


def test_check_refuses_delta0_and_gap_ratio_together(tmp_path):
    """Both ways of giving the gap in one region: a CaseError naming regions.wire.delta0
    (the run had stopped with a TypeError from the material)."""
    e = _refused(_nis(tmp_path, 'gap_ratio = 2.0\ndelta0 = "300 ueV"'))
    assert any("regions.wire.delta0: the gap is given twice" in x for x in e), e

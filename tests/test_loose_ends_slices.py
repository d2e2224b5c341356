"""``[slices] energies`` outside the QP bins are refused by ``fvqp check`` (load_case)."""

import pytest

from conftest import CASES, case_variant
from fvqp.case import CaseError, load_case
from fvqp.units import E_CHARGE

UEV = E_CHARGE * 1e-6


@pytest.mark.parametrize("name", ["bte_absorber3d", "bte_normal_trap", "bte_gapstep",
                                  "bte_selfgap"])
def test_bte_check_range_is_the_run_grid(name):
    """The bins' range computed at check time from the SI case (multi-material Ta/Al,
    a normal-metal trap with bins from the Fermi level, a gap step, a self-consistent
    gap's floor) is the range of the grid the run builds (measured equal to 2e-16)."""
    from fvqp.models.bte import bin_range
    from fvqp.models.bte.simulation import BTESimulation

    case = load_case(CASES / f"{name}.toml")
    sim = BTESimulation(case)
    run = [sim.units.to_si(float(x), "energy") for x in (sim.grid.edges[0],
                                                          sim.grid.edges[-1])]
    lo, hi = bin_range(case.data)
    assert lo == pytest.approx(run[0], rel=1e-12, abs=0)
    assert hi == pytest.approx(run[1], rel=1e-12, abs=0)


def test_bte_slices_outside_the_bins_are_case_errors_at_check(tmp_path):
    """On the Ta/Al absorber (a gap in every cell: bins from 0.8 Delta_Al = 137.705 ueV to
    1239.34 ueV): 100 ueV (below the grid, which holds every gap the Al can fall to)
    and 5 meV (above the top) are refused by load_case, each naming its key, the file,
    the range and the fix; 220 and 750 ueV (the shipped case) pass."""
    path = case_variant("bte_absorber3d.toml", tmp_path,
                        **{'energies = ["220 ueV", "750 ueV"]':
                           'energies = ["100 ueV", "750 ueV", "5 meV"]'})
    with pytest.raises(CaseError) as exc:
        load_case(path)
    text = str(exc.value)
    assert "bte_absorber3d.toml: slices.energies[0]: 100 ueV lies outside the energy " \
           "bins: 137.705 ueV to 1239.34 ueV" in text
    assert "no QP states below" in text
    assert "slices.energies[2]: 5000 ueV" in text and "raise [energy] e_max" in text
    assert "slices.energies[1]" not in text
    load_case(CASES / "bte_absorber3d.toml")  # the shipped slices are inside


def test_eliashberg_spectrum_is_left_to_the_run():
    """The Eliashberg spectrum's gap edge needs its solve: no range at check time."""
    from fvqp.models.bte import bin_range

    data = load_case(CASES / "bte_film_relaxation.toml").data
    assert bin_range(data) is not None
    assert bin_range({**data, "spectrum": {**data["spectrum"], "kind": "eliashberg"}}) \
        is None

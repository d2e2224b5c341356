"""transport: ``[slices] energies`` outside the QP bins are refused by ``fvqp check``."""

import pytest

from conftest import case_variant
from fvqp.case import CaseError, load_case


@pytest.mark.parametrize("name", ["transport_absorber3d", "transport_film_trap",
                                  "transport_nis_wire"])
def test_transport_check_range_is_the_run_grid(name, monkeypatch):
    """The bins' range the check computes from the SI case is the run grid's (measured
    equal to 4e-16)."""
    import fvqp.case.slices as slices
    from fvqp.models.transport.driver import TransportSimulation

    case = load_case(f"cases/{name}.toml")
    seen = {}
    monkeypatch.setattr(slices, "check_slice_energies",
                        lambda data, err, lo, hi, *a, **k: seen.setdefault("b", (lo, hi)))
    load_case(f"cases/{name}.toml")
    sim = TransportSimulation(case)
    run = [sim.units.to_si(float(x), "energy") for x in (sim.grid.edges[0],
                                                          sim.grid.edges[-1])]
    assert seen["b"] == pytest.approx(run, rel=1e-12, abs=0)


def test_transport_slices_outside_the_bins_are_case_errors_at_check(tmp_path):
    """On the Ta/Al absorber: 100 ueV (below the Al gap) and 5 meV (above the top) are
    refused by load_case naming key, file, range and fix; the shipped slices pass."""
    path = case_variant("transport_absorber3d.toml", tmp_path,
                        **{'energies = ["200 ueV", "720 ueV", "1 meV"]':
                           'energies = ["100 ueV", "720 ueV", "5 meV"]'})
    with pytest.raises(CaseError) as exc:
        load_case(path)
    text = str(exc.value)
    assert "transport_absorber3d.toml: slices.energies[0]: 100 ueV lies outside the " \
           "energy bins: 172.131 ueV to 1377.05 ueV" in text
    assert "slices.energies[2]: 5000 ueV" in text and "raise [energy] e_max" in text
    assert "slices.energies[1]" not in text

"""``fvqp.case.slices.check_slice_energies``: the ``[slices] energies`` check the
energy-resolved models run at ``fvqp check`` (their grid bounds from the case alone)."""

from __future__ import annotations

from fvqp.case.schema import Errors
from fvqp.case.slices import check_slice_energies
from fvqp.units import E_CHARGE

UEV = E_CHARGE * 1e-6


def _check(energies, lo=200 * UEV, hi=800 * UEV) -> list[str]:
    err = Errors("case.toml")
    check_slice_energies({"slices": {"energies": energies}}, err, lo, hi, "energy bins",
                         below="no states below", above="or raise [energy] e_max")
    return err.items


def test_every_entry_outside_is_named_with_the_range_and_its_fix():
    items = _check([100 * UEV, 500 * UEV, 900 * UEV])
    assert items == [
        "case.toml: slices.energies[0]: 100 ueV lies outside the energy bins: 200 ueV to "
        "800 ueV. Fix: give an energy between 200 ueV and 800 ueV (no states below).",
        "case.toml: slices.energies[2]: 900 ueV lies outside the energy bins: 200 ueV to "
        "800 ueV. Fix: give an energy between 200 ueV and 800 ueV (or raise [energy] "
        "e_max)."]


def test_bounds_are_inside_up_to_round_off_and_no_slices_is_no_check():
    lo, hi = 200 * UEV, 800 * UEV
    # the run builds its grid in internal units: a bound given in ueV may differ by ulps
    assert _check([lo * (1 - 1e-12), hi * (1 + 1e-12), lo, hi]) == []
    assert len(_check([lo * (1 - 1e-6), hi * (1 + 1e-6)])) == 2
    assert _check([]) == []
    err = Errors("case.toml")
    check_slice_energies({}, err, lo, hi, "energy bins", "", "")
    assert err.items == []

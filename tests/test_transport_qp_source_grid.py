"""The transport model's default grid top for a QP source: its energy is a QP energy.

A QP source's spectrum is laid on the bins' QP energies E (``problem._source_spectrum``;
``bte`` reads it the same way), so the default ``e_max`` must reach
:data:`fvqp.models.spec.SOURCE_WIDTHS` widths above its centre, no more. The default used
to add the largest gap to that top, as if the energy were measured from the gap: a 1.3 +-
0.1 meV source in Ta (gap 693 ueV) got a grid to 2.29 meV instead of 1.6 meV, 1.8x the
bins (and ~2-3x the collision cost) for nothing.
"""

from __future__ import annotations

import pytest

from conftest import case_variant
from fvqp.case.loader import load_case
from fvqp.models.spec import SOURCE_WIDTHS
from fvqp.models.transport import _grid_si, _region_gaps
from fvqp.units import E_CHARGE

MEV = 1e-3 * E_CHARGE
#: the absorber's phonon deposit made a QP source of 1.3 +- 0.1 meV, e_max left out
QP_SOURCE = {'type = "phonon"': 'type = "quasiparticle"',
             'energy = "1.73 meV"': 'energy = "1.3 meV"',
             'e_max = "1.34 meV"': ""}


class _Err:
    def __init__(self):
        self.items = []

    def add(self, *a):
        self.items.append(a)


def _grid(tmp_path, **edits):
    data = load_case(case_variant("transport_absorber3d.toml", tmp_path, **edits)).data
    err = _Err()
    gaps = _region_gaps(data, err)
    assert not err.items
    return _grid_si(data, gaps), gaps, data


def test_default_grid_ends_at_the_qp_source_top(tmp_path):
    """The default grid's last bin edge lies within one bin above the source's top (the
    energy centre + 3 widths), whatever the gaps: not a largest gap above it."""
    grid, gaps, data = _grid(tmp_path, **QP_SOURCE)
    s = data["sources"][0]
    hi = s["energy"] + SOURCE_WIDTHS * s["width"]
    assert hi == pytest.approx(1.6 * MEV)
    top = float(grid.edges[-1])
    assert hi <= top * (1 + 1e-12)          # the source is held (not cut) ...
    assert top < hi + float(grid.h) * (1 + 1e-9)  # ... by a grid no taller than it needs
    assert max(gaps.values()) + 12 * 1.380649e-23 * data["bath"]["temperature"] < hi


def test_a_source_below_the_thermal_top_leaves_the_default(tmp_path):
    """A QP source whose top lies below the largest gap + 12 kT leaves the default grid
    as without sources (the gap + 12 kT top)."""
    low = {**QP_SOURCE, 'energy = "1.73 meV"': 'energy = "0.72 meV"',
           'width = "0.1 meV"': 'width = "0.001 meV"',
           'energies = ["200 ueV", "720 ueV", "1 meV"]': 'energies = ["200 ueV"]'}
    with_source, gaps, data = _grid(tmp_path, **low)
    kT = 1.380649e-23 * data["bath"]["temperature"]
    assert float(with_source.edges[-1]) == pytest.approx(
        max(gaps.values()) + 12 * kT, abs=float(with_source.h))

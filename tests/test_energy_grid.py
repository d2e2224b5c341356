"""The one uniform energy grid (fvqp.spectra.energy_grid) and its three views.

EnergyGrid (0D kinetics, collisions), BinGrid (transport, bte) and RealAxisGrid
(Eliashberg) share one geometry: the same grid seen through two views has the same nodes
to the last bit, the collision kinematics are exact on every view, and the two exact
cell averages of the BCS DOS (EnergyGrid.dos, bins.cell_spectra) agree where the views
coincide.
"""

from __future__ import annotations

import numpy as np
import pytest

from fvqp.collisions import EnergyGrid
from fvqp.eliashberg.selfenergy import RealAxisGrid
from fvqp.spectra.bins import BinGrid, cell_spectra
from fvqp.spectra.energy_grid import UniformEnergyGrid


@pytest.mark.parametrize("delta, h", [(1.5, 0.01), (1.764, 0.0125), (0.9, 0.03)])
def test_gap_grid_and_bins_are_one_grid(delta: float, h: float) -> None:
    """A centred EnergyGrid with even m and the BinGrid with j0 = m/2: identical nodes
    and phonon nodes (bitwise), edges to 1 ulp (the gap view adds Delta to E - Delta),
    pair offsets m + 1 and 2 j0 + 1; the bin view's DOS averages at the grid's gap are
    the EnergyGrid's."""
    eg = EnergyGrid.build(delta, h, 10.0)
    if eg.m % 2:
        eg = EnergyGrid(delta=eg.delta, h=2.0 * eg.delta / (eg.m + 1), n=eg.n)
    bg = BinGrid(h=eg.h, j0=eg.m // 2, n=eg.n, n_ph=eg.n_ph)
    assert isinstance(eg, UniformEnergyGrid) and isinstance(bg, UniformEnergyGrid)
    assert np.array_equal(eg.e, bg.e)
    assert np.array_equal(eg.omega, bg.omega)
    np.testing.assert_allclose(eg.edges, bg.edges, rtol=2.3e-16, atol=0)
    assert eg.pair_offset == bg.pair_offset == bg.m + 1
    rho, ados, dl = cell_spectra(bg, np.array([0.5 * eg.m * eg.h]))
    np.testing.assert_allclose(rho[0], eg.dos, rtol=1e-12, atol=0)  # measured 1.6e-13
    np.testing.assert_allclose(ados[0], eg.ados, rtol=1e-12, atol=0)
    assert np.all(dl == 1.0)


@pytest.mark.parametrize("layout", ["centred", "vertex"])
def test_kinematics_exact_on_every_view(layout: str) -> None:
    """E_i + Omega_k = E_{i+k} and E_i + E_j = Omega_{i+j+s} to round-off (the discrete
    correlations of notes Eqs. 41-45 need both) on the gap view in both layouts, the bin
    view and the half-line view."""
    views = [EnergyGrid.build(1.764, 0.01, 8.0, layout=layout)]
    if layout == "centred":
        views.append(BinGrid.build(1.2, 0.01, 8.0))
    for g in views:
        i, k, j = 7, 11, 4
        assert g.e[i] + g.omega[k - 1] == pytest.approx(g.e[i + k], rel=1e-15, abs=0)
        assert g.e[i] + g.e[j] == pytest.approx(g.omega[i + j + g.pair_offset - 1],
                                                rel=1e-15, abs=0)
        assert g.e_max == pytest.approx(g.edges[-1], rel=1e-15, abs=0)
        assert np.allclose(np.diff(g.edges)[1:], g.h, rtol=1e-12, atol=0)


def test_real_axis_grid_is_the_vertex_view_at_zero() -> None:
    """RealAxisGrid's nodes are j h (as before the merge, bitwise); its cells are the vertex
    cells (half cell at 0) of the shared geometry."""
    g = RealAxisGrid.build(40.0, 801)
    assert np.array_equal(g.e, np.arange(g.n) * g.h)
    a, b = g.cells()
    np.testing.assert_allclose(a, g.edges[:-1], rtol=0, atol=1e-15 * g.emax)
    np.testing.assert_allclose(b, g.edges[1:], rtol=0, atol=1e-15 * g.emax)
    assert g.omega.size == 0 and g.pair_offset == 0

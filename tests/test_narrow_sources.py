"""Gaussian sources narrower than the grid's spacing, centred between nodes.

A line of width 0.01 ueV between 40 ueV bins is exp(-2e6) on every node: it underflowed
to zero, and the normalisation of the spectrum failed. ``fvqp check`` passed the case,
then the transport run stopped on "a quasiparticle source at 3.378 kTc has no states to
fill in some cell (below the local gap or outside the grid)" (neither was the cause);
kinetics0d's phonon injection divided 0 by 0 (NaN rates); bte_sphere refused its packet
as "no states on the energy grid". Every model now takes the profile relative to its
nearest node when even that one would underflow
(:func:`fvqp.spectra.injection.gaussian_line`): the limit of a narrow line is the single
line (width 0) on the nearest node, and a line that does not underflow keeps the plain
formula's values bit for bit.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import case_variant, run_fvqp
from fvqp.case.loader import load_case


def test_gaussian_line_plain_narrow_and_single():
    """The plain formula's bits where it does not underflow; the one-hot nearest node for
    a narrow line between nodes and for width 0."""
    from fvqp.spectra.injection import gaussian_line

    x = np.linspace(1.0, 5.0, 41)  # spacing 0.1
    for centre, width in ((2.03, 0.3), (2.03, 0.01), (4.96, 0.02)):
        assert np.array_equal(gaussian_line(x, centre, width),
                              np.exp(-0.5 * ((x - centre) / width) ** 2))
    near = np.zeros_like(x)
    near[10] = 1.0  # x = 2.0, nearest to 2.03
    assert not np.any(np.exp(-0.5 * ((x - 2.03) / 1e-4) ** 2))  # the old underflow
    assert np.array_equal(gaussian_line(x, 2.03, 1e-4), near)
    assert np.array_equal(gaussian_line(x, 2.03, 0.0), near)
    # between the underflow and the single line: finite, peaked at the nearest node
    g = gaussian_line(x, 2.03, 8e-4)
    assert g[10] == 1.0 and np.all(np.isfinite(g)) and np.sum(g) == 1.0


def test_kinetics0d_narrow_phonon_injection_is_the_single_line():
    """kinetics0d's phonon injection between two phonon nodes, 1e-4 of the spacing wide:
    finite rates equal to those of width 0 (NaN before)."""
    from fvqp.collisions import CollisionParams, EnergyGrid
    from fvqp.models.kinetics0d.drives import PhononInjection

    grid = EnergyGrid.build(1.76, 0.05, 8.0, layout="vertex")
    params = CollisionParams.from_times(438 / 0.26, 1.764)
    centre = 0.5 * (grid.omega[100] + grid.omega[101]) + 0.001
    narrow = PhononInjection(energy=centre, width=5e-6, power=1e-4)
    line = PhononInjection(energy=centre, width=0.0, power=1e-4)
    narrow.bind(grid, params)
    line.bind(grid, params)
    assert np.all(np.isfinite(narrow._rate))
    assert np.array_equal(narrow._rate, line._rate)


def test_transport_narrow_qp_source_runs_as_the_single_line(tmp_path):
    """The absorber's deposit as a QP source 0.01 ueV wide between bins: the run goes
    (it stopped with a wrong cause), and after two steps its QP number equals that of the
    same source with width 0, bit for bit."""
    out = {}
    for width in ("0.01 ueV", "0 ueV"):
        d = tmp_path / width.split()[0]
        d.mkdir()
        case = case_variant("transport_absorber3d.toml", d, **{
            'type = "phonon"': 'type = "quasiparticle"',
            'energy = "1.73 meV"': 'energy = "1.3013 meV"',
            'width = "0.1 meV"': f'width = "{width}"'})
        proc = run_fvqp(["run", case, "--output", d / "out", "--max-steps", "2"])
        assert proc.returncode == 0, proc.stderr[-2000:]
        out[width] = json.loads((d / "out" / "summary.json").read_text())
    a, b = out["0.01 ueV"], out["0 ueV"]
    assert a["status"] == b["status"] == 1 and a["steps"] == 2  # stopped by --max-steps
    assert a["N_qp"] > 0 and a["N_qp"] == b["N_qp"]


def test_bte_narrow_qp_source_is_the_single_line(tmp_path):
    """The bte film pulse (250 +- 20 ueV) made 0.01 ueV wide between bins: its spectrum
    is the single line's (it was 0/0)."""
    from fvqp.models.bte.simulation import BTESimulation

    specs = {}
    for width in ("0.01 ueV", "0 ueV"):
        (tmp_path / width[0]).mkdir(exist_ok=True)
        p = case_variant("bte_film_pulse.toml", tmp_path / width[0], **{
            'energy = "250 ueV"': 'energy = "251.3 ueV"',
            'width = "20 ueV"': f'width = "{width}"'})
        specs[width] = [s.spectrum for s in BTESimulation(load_case(str(p)))._sources()]
    assert len(specs["0 ueV"]) == 1
    assert np.all(np.isfinite(specs["0.01 ueV"][0]))
    # the single line without DOS factor (1/E) against rho/(rho E): to round-off
    np.testing.assert_allclose(specs["0.01 ueV"][0], specs["0 ueV"][0], rtol=1e-15, atol=0)
    assert np.count_nonzero(specs["0.01 ueV"][0]) == 1


def test_bte_sphere_narrow_packet_is_accepted(tmp_path):
    """The Sn sphere's packet 1e-3 ueV wide between bins (width must be positive there):
    built with its deposit on the nearest bin (it was refused as "no states on the
    energy grid")."""
    from fvqp.models.bte_sphere.driver import SphereSimulation

    p = case_variant("bte_sphere_sn_packet.toml", tmp_path, **{
        'width = "0.4 meV"': 'width = "0.001 ueV"', 'energy = "5.5 meV"':
        'energy = "5.5073 meV"', "cells = 40": "cells = 8", "ordinates = 8": "ordinates = 2"})
    sim = SphereSimulation(load_case(str(p)))
    assert np.isfinite(sim.amplitude) and sim.amplitude > 0
    # the packet on its nearest bin still carries the deposit (1 keV) above the bath
    excess = sim.totals(sim.x0)["E_qp"] - sim.eq_totals["E_qp"]
    assert excess * sim.units.scales["total_energy"] == pytest.approx(1.602176634e-16,
                                                                      rel=1e-9)

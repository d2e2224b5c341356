"""Every cell's whole Eliashberg spectrum in the kinetics (``[spectrum] kind =
"eliashberg"`` with ``[gap] model = "eliashberg"``; fvqp/models/bte/cellspectra.py,
issue 16 §2): the storage, collision DOS and coherence weight of each cell are the bin
averages of its own real-axis solution (notes Eqs. 166-167, 178), and a gap update moves
the states keeping xi between the old and the new solution's spectra.

Uniform Al film of ``cases/bte_selfgap_pulse.toml`` (2 x 2 cells, 4 directions) at
0.3 Tc, as tests/test_bte_eliashberg_gap.py."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import case_variant, run_fvqp, serial_and_two_ranks
from fvqp.case import CaseError, load_case
from fvqp.eliashberg import EliashbergParams, solve_eliashberg
from fvqp.spectra import fermi

SHAPE = {'temperature = "100 mK"': 'temperature = "352.5 mK"',
         "self_consistent = true": 'self_consistent = true\nmodel = "eliashberg"',
         "[energy]": '[spectrum]\nkind = "eliashberg"\n\n[energy]'}


def _case(tmp_path, name="c", collisions=False, **more):
    d = tmp_path / name
    d.mkdir()
    repl = {**SHAPE, **more}
    if not collisions:
        # the collisionless run: no [collisions] keys but enabled (fvqp check refuses them)
        repl['enabled = true\nphonons = "local"\nescape_time = "0.2 ns"'] = "enabled = false"
    return case_variant("bte_selfgap_pulse.toml", d, **repl)


def _sim(path):
    from fvqp.models.bte.driver import BTESimulation

    return BTESimulation(load_case(path))


def test_tables_are_the_held_spectrum_and_count_states_in_n0_units():
    """On bins that start at the gap edge, the tables of a cell's solution equal the held
    Eliashberg spectrum of the same solution (fvqp.models.bte_sphere.spectral, an
    independent grid construction) to round-off, with the storage N = rho m / Z1(0):
    for Al (lambda = 0.43) m is ~1.43 on these bins but N is within 1e-3 of rho (the
    material's N0 and Kaplan's tau0 already hold Z1(0)); a bin cut by the edge holds only
    its part above the edge; bins below it none."""
    from fvqp.models.bte.cellspectra import eliashberg_tables
    from fvqp.models.bte_sphere.spectral import eliashberg_spectrum

    spec = eliashberg_spectrum("Al", 0.3, 0.05, 5.0, n=2**14)
    sol = solve_eliashberg(EliashbergParams.from_material("Al"), 0.3, n=2**14)
    assert sol.delta0 == pytest.approx(spec.gap, rel=1e-15)
    g = spec.grid
    st, rho, ados = eliashberg_tables(sol, g.e_edges, spec.gap)
    assert np.allclose(rho, spec.rho, rtol=1e-13, atol=0)
    assert np.allclose(ados, spec.ados, rtol=1e-13, atol=0)
    assert np.allclose(st, spec.states, rtol=1e-13, atol=0)
    assert sol.z0 == pytest.approx(1.43, rel=1e-6)
    assert np.all(spec.renorm > 1.4) and np.all(np.abs(st / rho - 1.0) < 1e-3)
    # the same bins shifted down by 2.5 bins: two bins below the edge, one cut in half
    lo = g.e_edges - 2.5 * g.h
    st2, rho2, _ = eliashberg_tables(sol, lo, spec.gap)
    assert np.all(st2[:2] == 0) and np.all(rho2[:2] == 0)
    half = eliashberg_tables(sol, np.array([spec.gap, spec.gap + 0.5 * g.h]), spec.gap)
    assert st2[2] == pytest.approx(0.5 * half[0][0], rel=1e-13)


def test_gap_update_conserves_the_number_on_the_cells_own_spectra(tmp_path):
    """A gap update after QPs were added (f x 1.5 in every bin) remaps the state from the
    old to the new solution's spectra keeping xi: the QP number on the new tables equals
    that on the old ones to round-off (1e-13); the same state remapped with the BCS xi of
    the two gaps (what the edge-only model does) misses it by more than 1e-6 — the
    check sees the spectra. The storage of every cell is its tables' states."""
    from fvqp.models.bte.gapdynamics import gap_update, per_bin, per_cell
    from fvqp.models.bte.gapshift import shift_gap
    from fvqp.models.bte.gapsteps import Collisionless

    sim = _sim(_case(tmp_path))
    run = Collisionless(sim)
    run.start(fermi(sim.grid.e, sim.T_bath))
    p = sim.problem
    assert p.cell_spectra is not None and run.model.shape
    assert np.array_equal(p.cell_storage(), p.owned_spectra().states)
    x = 1.5 * run.x
    n0 = p.number(x)
    old = p.cell_gaps().copy()
    q, xq, up = gap_update(p, x, run.delta0, held=run.held, tol=1e-10, model=run.model)
    assert up.converged and np.all(up.delta < 0.999 * old)
    assert q.number(xq) == pytest.approx(n0, rel=1e-13, abs=0)
    bcs = per_bin(q, shift_gap(per_cell(q, x), q.grid, old, up.delta))
    assert abs(q.number(bcs) / n0 - 1.0) > 1e-6


def test_thermal_state_with_collisions_is_stationary(tmp_path):
    """The thermal state at the bath with its Eliashberg gaps and every cell's spectrum
    (collision DOS and coherence weights of the tables, local phonons at the bath read
    from the start as the run tabulates them later) is a fixed point of the step and of
    the gap update: with the pulse moved out of the run, three 0.25 ns steps keep the
    gaps to 1e-12 and the occupations (bins with states) and the phonons to 1e-12 of
    their largest (measured 0). What each part of the start contributes: with the gap read
    once on the bins of the material's BCS gap (the edge-only model's start) the first
    update moves the gaps by 1.1e-5 and the occupations then relax by 2.8e-6 of their
    largest; with the bath's Bose function for the start's phonons they move by 1.2e-6;
    without keeping the tables of a cell whose gap stays (the solver's noise), by
    3.4e-10."""
    from fvqp.models.bte.gapcollide import WithCollisions

    sim = _sim(_case(tmp_path, collisions=True, **{'time = "3 ns"': 'time = "300 ns"'}))
    run = WithCollisions(sim)
    run.start(fermi(sim.grid.e, sim.T_bath))
    q = run.prob
    live = np.repeat(sim.problem.cell_storage() > 0, q.B, axis=1)     # QP bins with states

    def parts(y):
        y = y.reshape(q.n, q.S)
        return y[:, : q.nq][live], y[:, q.nq:]

    (f0, n0), g0 = parts(run.y.copy()), run.gaps().copy()
    dt = sim.units.to_internal(0.25e-9, "time")
    for k in range(3):
        ok, _, _ = run.step(k * dt, dt)
        assert ok and run.update().converged
    assert np.max(np.abs(run.gaps() / g0 - 1.0)) <= 1e-12
    f, n = parts(run.y)
    assert np.max(np.abs(f - f0)) <= 1e-12 * np.max(f0)
    assert np.max(np.abs(n - n0)) <= 1e-12 * np.max(n0)


def test_pulse_two_ranks_equal_serial_and_resume_equals_the_uninterrupted_run(tmp_path):
    """``cases/bte_selfgap_eliashberg.toml`` with every cell's spectrum (20 ueV bins, two
    0.25 ns steps with collisions and local phonons): ``mpiexec -n 2`` equals the serial
    run (gaps and QP number to 1e-8); stopped after one step and resumed, it equals the
    uninterrupted run to 1e-7 of the gap and the number — the cells' tables come from
    the checkpoint; what it does not hold (each cell's warm start and secant slope, so
    the resumed secant takes another path to the same root) moves the gaps within the
    root's tolerance, 1e-8 of the gap."""
    case = case_variant("bte_selfgap_eliashberg.toml", tmp_path, **{
        'spacing = "10 ueV"': 'spacing = "20 ueV"', 'end = "8 ns"': 'end = "0.5 ns"',
        'time = "3 ns"': 'time = "0.25 ns"', "every = 4": "every = 1",
        "[energy]": '[spectrum]\nkind = "eliashberg"\n\n[energy]'})
    sa, sb = serial_and_two_ranks(case, tmp_path)
    assert sa["status"] == 0 and sa["steps"] == 2
    for a, b in zip(sa["gap"]["snapshots"], sb["gap"]["snapshots"], strict=True):
        assert b["min_ueV"] == pytest.approx(a["min_ueV"], rel=1e-8, abs=0)
    assert sb["qp_number"]["final"] == pytest.approx(sa["qp_number"]["final"], rel=1e-8,
                                                     abs=0)
    assert sa["gap"]["snapshots"][-1]["min_ueV"] < sa["gap"]["snapshots"][0]["min_ueV"]
    run_fvqp(["run", case, "--output", tmp_path / "r", "--max-steps", "1"])
    run_fvqp(["run", case, "--output", tmp_path / "r", "--resume"])
    sr = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert sr["status"] == 0 and sr["steps"] == 2
    assert sr["gap"]["min_ueV"] == pytest.approx(sa["gap"]["min_ueV"], rel=1e-7, abs=0)
    assert sr["qp_number"]["final"] == pytest.approx(sa["qp_number"]["final"], rel=1e-7,
                                                     abs=0)


def test_held_bcs_regions_beside_eliashberg_cells_keep_the_thermal_state(tmp_path):
    """The absorber at 600 mK with every Al cell's own Eliashberg spectrum and the Ta pad
    held (Ta has no alpha2F: BCS tables at its bath gap), the Ta/Al interface between
    them; thermal state at the bath, the burst moved out of the run: two 0.3 ns steps
    with collisions and the gap updates keep every gap to 1e-12 and the occupations of
    the bins with states to 1e-12 of their largest (measured 0; largest 0.022). The
    tables: Ta's are the BCS ones of its held bath gap, Al's those of its Eliashberg
    solution (gap solve_eliashberg's to 1e-2 on these 100 ueV bins, measured 1.4e-3;
    storage within 1e-2 of the BCS one at the same gap, measured 2e-3: N = rho m /
    Z1(0), as the first test)."""
    from fvqp.models.bte.cellspectra import CellSpectra
    from fvqp.models.bte.gapcollide import WithCollisions

    case = case_variant("bte_absorber3d.toml", tmp_path, **{
        'spacing = "50 ueV"': 'spacing = "100 ueV"', 'scheme = "bdf2"': 'scheme = "bdf1"',
        'time = "0.6 ns"': 'time = "600 ns"', 'temperature = "50 mK"': 'temperature = "600 mK"',
        "self_consistent = true": 'self_consistent = true\nmodel = "eliashberg"\n'
                                  'hold = ["absorber"]',
        "[energy]": '[spectrum]\nkind = "eliashberg"\n\n[energy]'})
    sim = _sim(case)
    run = WithCollisions(sim)
    run.start(fermi(sim.grid.e, sim.T_bath))
    p, q = sim.problem, run.prob
    reg = np.asarray(sim.dist.local.cell_region[: p.n])
    names = sim.geometry.region_names
    ta, al = reg == names.index("absorber"), reg == names.index("lead")
    g0 = run.gaps().copy()
    np.testing.assert_array_equal(g0[ta], p.media.gap[names.index("absorber")])  # held
    mat = sim.materials[names.index("lead")]
    ref = solve_eliashberg("Al", sim.T_bath * sim.units.Tc / mat.Tc).delta0
    assert g0[al] * sim.units.Tc / mat.Tc == pytest.approx(np.full(al.sum(), ref), rel=1e-2)
    tabs, bcs = p.owned_spectra(), CellSpectra.bcs(sim.grid, g0)
    np.testing.assert_array_equal(tabs.states[ta], bcs.states[ta])
    has = bcs.states[al] > 0
    ratio = tabs.states[al][has] / bcs.states[al][has]
    assert 0 < np.max(np.abs(ratio - 1.0)) < 1e-2
    live = np.repeat(p.cell_storage() > 0, q.B, axis=1)
    f0 = run.y.reshape(q.n, q.S)[:, : q.nq][live].copy()
    dt = sim.units.to_internal(0.3e-9, "time")
    for k in range(2):
        ok, _, _ = run.step(k * dt, dt)
        assert ok and run.update().converged
    assert np.max(np.abs(run.gaps() / g0 - 1.0)) <= 1e-12
    f = run.y.reshape(q.n, q.S)[:, : q.nq][live]
    assert np.max(np.abs(f - f0)) <= 1e-12 * np.max(f0)


def test_burst_beside_the_lead_with_eliashberg_al_and_held_ta_balances(tmp_path):
    """The absorber's small variant (100 ueV bins, burst next to the lead, three 0.3 ns
    steps) with the Al lead's cells on their own Eliashberg spectra and the Ta pad held:
    the QPs reaching the lead lower its gap at every snapshot (179.088 -> 179.075 ueV
    measured) while the held pad's stays; QP number and energy balance to 1e-10 (measured
    1.5e-12 and 1.3e-12), the condensate's energy far above the energy imbalance."""
    case = case_variant("bte_absorber3d.toml", tmp_path, **{
        'spacing = "50 ueV"': 'spacing = "100 ueV"', 'end = "2.5 ns"': 'end = "0.9 ns"',
        'dt_initial = "0.1 ns"': 'dt_initial = "0.3 ns"', 'scheme = "bdf2"': 'scheme = "bdf1"',
        "position = [20.0, 10.0, 0.15]": "position = [40.0, 0.0, 0.15]",
        "self_consistent = true": 'self_consistent = true\nmodel = "eliashberg"\n'
                                  'hold = ["absorber"]',
        "[energy]": '[spectrum]\nkind = "eliashberg"\n\n[energy]'})
    out = tmp_path / "out"
    run_fvqp(["run", case, "--output", out])
    s = json.loads((out / "summary.json").read_text())
    assert s["status"] == 0 and s["steps"] == 3 and s["gap_model"] == "eliashberg"
    snaps = s["gap"]["snapshots"]
    assert all(b["min_ueV"] < a["min_ueV"] for a, b in zip(snaps[:-1], snaps[1:], strict=True))
    assert len({g["max_ueV"] for g in snaps}) == 1                   # the held Ta pad
    q, e = s["qp_number"], s["energy_J"]
    assert abs(q["imbalance"]) <= 1e-10 * q["final"]
    assert abs(e["imbalance"]) <= 1e-10 * e["inflows"]["sources"]
    assert abs(e["inflows"]["condensate"]) > 1e3 * abs(e["imbalance"])


@pytest.mark.parametrize("repl, key", [
    ({'model = "eliashberg"': ""}, "spectrum.kind"),        # BCS gap with Eliashberg spectra
    ({'scheme = "bdf1"': 'scheme = "bdf2"'}, "spectrum.kind"),
])
def test_refused_where_the_spectra_are_not_known(tmp_path, repl, key):
    with pytest.raises(CaseError, match=key.replace(".", r"\.")):
        load_case(_case(tmp_path, **repl))


def test_a_start_that_does_not_settle_is_reported(tmp_path, monkeypatch, caplog):
    """The thermal start's fixed point (every cell's spectrum) that does not settle in its
    20 iterations is reported by a warning (the first update then moves the gaps); the
    single evaluation of the edge-only start reports nothing."""
    import logging

    from fvqp.models.bte.eliashberg_gaps import EliashbergGaps

    sim = _sim(_case(tmp_path))
    model = EliashbergGaps(sim, np.ones(sim.dist.local.n_owned), np.zeros(4, bool),
                           shape=True)
    monkeypatch.setattr(EliashbergGaps, "gaps",            # never a fixed point
                        lambda self, ph, grid, trial, cells: 1.1 * trial)
    phi = np.broadcast_to(fermi(sim.grid.e, sim.T_bath), (4, sim.grid.n))
    with caplog.at_level(logging.WARNING, logger="fvqp.bte"):
        model.local(phi, sim.grid, np.ones(4), None, np.ones(4), iterate=False)
        assert "did not settle" not in caplog.text
        model.local(phi, sim.grid, np.ones(4), None, np.ones(4), iterate=True)
    assert "did not settle" in caplog.text

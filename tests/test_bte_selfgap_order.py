"""Second order in time of the collisionless self-consistent gap with BDF2
(fvqp/models/bte/gapsteps.py ``Collisionless(order=2)``): the BDF2 step of every bin at
predicted gaps, corrected once to the self-consistent gaps of its result — against the
same step at the extrapolated gaps alone (``corrections=0``, the scheme before), which is
first order because the xi remap of fvqp/models/bte/gapshift.py is upwind (one-sided in
the shift): the gap update's remap from the extrapolated to the new gaps, O(dt^2) and
mostly against the history's remaps, does not cancel against them (docs/theory_bte_mesh.md,
"Second order in time").

The smooth problem: the uniform 100 nm Al film of ``cases/bte_selfgap_pulse.toml`` (2 x 2
cells, specular edges) without collisions, a Gaussian QP pulse (0.5 keV at 200 +- 15 ueV,
centre 3 ns, width 1 ns), QPs trapped to the bath in 40 ns (so that the QP number moves),
20 ueV bins to 300 ueV; the gap falls from 172.13 to 166.14 ueV, inside one bin (no bin
edge crossed: there the bins' state counts have a square-root kink in the gap and no
scheme stays second order)."""

from __future__ import annotations

import numpy as np
import pytest
from selfgap_march import march

from conftest import case_variant
from fvqp.case import load_case
from fvqp.models.bte.driver import BTESimulation
from fvqp.models.bte.gapsteps import Collisionless
from fvqp.spectra import fermi
from fvqp.units import E_CHARGE

#: the case's [collisions] table (bte_selfgap_pulse.toml)
COLLISIONS = 'enabled = true\nphonons = "local"\nescape_time = "0.2 ns"'

END_NS = 6.0
STEPS_NS = (0.5, 0.25, 0.125)


def _simulation(d, collisions: bool) -> BTESimulation:
    """The smooth pulse (module docstring) in the folder ``d``; with collisions Kaplan's
    tau0 is 20 ns (the case's 1 ns otherwise, unused)."""
    d.mkdir()
    case = case_variant("bte_selfgap_pulse.toml", d, **{
        'spacing = "10 ueV"': 'spacing = "20 ueV"', 'e_max = "800 ueV"': 'e_max = "300 ueV"',
        'end = "15 ns"': f'end = "{END_NS} ns"',
        # collisionless: no [collisions] keys but enabled (fvqp check refuses them)
        COLLISIONS: COLLISIONS if collisions else "enabled = false",
        'energy = "600 ueV"': 'energy = "200 ueV"', 'width = "40 ueV"': 'width = "15 ueV"',
        'deposit = "2 keV"': 'deposit = "0.5 keV"',
        'tau0 = "1 ns"': f'tau0 = "{20 if collisions else 1} ns"\ntrap_time = "40 ns"'})
    return BTESimulation(load_case(case))


def _run(tmp_path, dt_ns: float, corrections: int):
    """Gap [ueV] and QP number every 0.5 ns, the QP balance's imbalance relative to the
    injected QPs, and the (min, max) gap over the run against the grid's edges."""
    sim = _simulation(tmp_path / f"c{corrections}_{dt_ns}", collisions=False)
    u, ev = sim.units, E_CHARGE * 1e-6
    run = Collisionless(sim, order=2, corrections=corrections)
    run.start(fermi(sim.grid.e, sim.T_bath))
    n0, span = run.number(), [np.inf, -np.inf]

    def after() -> None:
        span[:] = min(span[0], run.gaps().min()), max(span[1], run.gaps().max())

    rows, flows = march(run, u.to_internal(dt_ns * 1e-9, "time"), int(round(END_NS / dt_ns)),
                        int(round(STEPS_NS[0] / dt_ns)),
                        lambda: (u.to_si(run.gaps()[0], "energy") / ev,
                                 run.number() * sim.n_unit), after)
    lo, hi = span
    imbalance = (run.number() - n0 + sum(flows.values())) / -flows["sources"]
    edges = sim.grid.edges
    assert np.searchsorted(edges, lo) == np.searchsorted(edges, hi)   # one bin
    return np.array(rows).T, imbalance, u.to_si(lo, "energy") / ev


def _orders(runs) -> np.ndarray:
    """Observed orders (gap, N_qp) from the largest change over the run from dt to dt/2
    and from dt/2 to dt/4."""
    worst = [np.max(np.abs(a - b), axis=1) for a, b in zip(runs, runs[1:], strict=False)]
    return np.log2(worst[0] / worst[1])


def test_corrected_bdf2_is_second_order_and_the_extrapolated_one_is_not(tmp_path):
    """Steps of 0.5, 0.25, 0.125 ns to 6 ns. Corrected (one re-solve at the gaps of the
    step's result): the largest change from dt to dt/2 falls by 3.9 (gap order 1.96; N_qp
    1.93; measured on to 0.0625 ns: 1.95, 1.96; against a 1/64 ns run the gap errors
    are 8.2e-3, 2.1e-3, 5.4e-4 ueV, orders 1.95, 1.98); the QP balance closes to round-off
    (measured <= 1e-13 of the injected QPs). Extrapolated gaps alone (``corrections=0``,
    the scheme before): gap order 1.17 (then 1.09: first order), N_qp 1.93 — the QP number
    is not what the defect moves (the remap conserves it; it enters only through the gap
    in the trap term). The gap falls by 6.0 ueV to 166.14 ueV."""
    new, old = [], []
    for dt in STEPS_NS:
        rows, imb, low = _run(tmp_path, dt, 1)
        assert abs(imb) < 1e-12
        new.append(rows)
        old.append(_run(tmp_path, dt, 0)[0])
    assert low == pytest.approx(166.14, abs=0.02, rel=0)
    o_new, o_old = _orders(new), _orders(old)
    assert np.all(o_new >= 1.8), o_new
    assert 0.9 <= o_old[0] <= 1.5, o_old          # the gap: first order before the fix
    # at the same step the corrected scheme is closer to its dt/2 answer than the old one
    assert np.max(np.abs(new[1][0] - new[2][0])) < 0.6 * np.max(np.abs(old[1][0] - old[2][0]))


def _run_collisions(tmp_path, dt_ns: float, corrections: int):
    """The same smooth pulse with inelastic collisions (Kaplan's tau0 set to 20 ns, local
    phonons): gap [ueV] and QP number every 0.5 ns and the QP balance's imbalance
    relative to the injected QPs (fvqp/models/bte/gapcollide.py ``WithCollisions``)."""
    from fvqp.models.bte.gapcollide import WithCollisions

    sim = _simulation(tmp_path / f"w{corrections}_{dt_ns}", collisions=True)
    u, ev = sim.units, E_CHARGE * 1e-6
    run = WithCollisions(sim, order=2, corrections=corrections)
    run.start(fermi(sim.grid.e, sim.T_bath))
    n0 = run.number()
    rows, flows = march(run, u.to_internal(dt_ns * 1e-9, "time"), int(round(END_NS / dt_ns)),
                        int(round(STEPS_NS[0] / dt_ns)),
                        lambda: (u.to_si(run.gaps()[0], "energy") / ev,
                                 run.number() * sim.n_unit))
    imbalance = (run.number() - n0 + sum(flows.values())) / -flows["sources"]
    return np.array(rows).T, imbalance


def test_with_collisions_the_corrected_step_is_second_order_too(tmp_path):
    """With collisions (fvqp/models/bte/gapcollide.py, BDF2 of the coupled QP + local
    phonon system): corrected once at the gaps of the step's result, the largest change
    from dt to dt/2 (0.5, 0.25, 0.125 ns) falls with gap order 1.94 (N_qp 1.91; measured);
    at the extrapolated gaps alone (``corrections=0``) the gap's order is 1.28 (N_qp 1.91).
    The QP balance (pair processes, traps, sources) closes to the Newton tolerance."""
    new, old = [], []
    for dt in STEPS_NS:
        rows, imb = _run_collisions(tmp_path, dt, 1)
        assert abs(imb) < 1e-9
        new.append(rows)
        old.append(_run_collisions(tmp_path, dt, 0)[0])
    o_new, o_old = _orders(new), _orders(old)
    assert np.all(o_new >= 1.8), o_new
    assert 0.9 <= o_old[0] <= 1.5, o_old

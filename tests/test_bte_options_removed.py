"""PETSc options of the bte per-bin solvers are removed after use, whoever drives the
problem (issue 15 item 4, the DOLFINx/petsctools rule): the self-gap steppers of
fvqp/models/bte/gapsteps.py and gapcollide.py called directly — as tests and scripts do,
without the run template's options session — leave no option of the bins' solvers in
PETSc's database (before: with collisions the eight ``-bte_bins_*`` defaults, never read,
ended the process with PETSc's "There are 8 unused database options" list; without, the
``-bte_*`` defaults stayed). An option the command line set under the prefix is never
touched (the command line wins).

The problem: the uniform 100 nm Al film of ``cases/bte_selfgap_pulse.toml`` (2 x 2 cells,
20 ueV bins to 300 ueV), three steps of 0.5 ns with the gap update."""

from __future__ import annotations

from conftest import case_variant
from fvqp.case import load_case
from fvqp.models.bte.driver import BTESimulation
from fvqp.spectra import fermi

#: the case's [collisions] table (bte_selfgap_pulse.toml)
COLLISIONS = 'enabled = true\nphonons = "local"\nescape_time = "0.2 ns"'


def _keys() -> set[str]:
    from petsc4py import PETSc

    return set(PETSc.Options().getAll())


def _steps(tmp_path, collisions: bool) -> None:
    """Three BDF2 steps of a self-gap stepper, each followed by the gap update."""
    from fvqp.models.bte.gapcollide import WithCollisions
    from fvqp.models.bte.gapsteps import Collisionless

    case = case_variant("bte_selfgap_pulse.toml", tmp_path, **{
        'spacing = "10 ueV"': 'spacing = "20 ueV"', 'e_max = "800 ueV"': 'e_max = "300 ueV"',
        # the pulse on that short grid (600 +- 40 ueV lay above it: fvqp check refuses)
        'energy = "600 ueV"': 'energy = "250 ueV"', 'width = "40 ueV"': 'width = "10 ueV"',
        # collisionless: no [collisions] keys but enabled (fvqp check refuses them)
        COLLISIONS: COLLISIONS if collisions else "enabled = false",
        'tau0 = "1 ns"': 'tau0 = "20 ns"'})
    sim = BTESimulation(load_case(case))
    run = (WithCollisions if collisions else Collisionless)(sim, order=2)
    run.start(fermi(sim.grid.e, sim.T_bath))
    dt = sim.units.to_internal(0.5e-9, "time")
    for k in range(3):
        ok, _, its = run.step(k * dt, dt)
        assert ok and its > 0
        assert run.update().converged


def test_collisional_stepper_leaves_no_bins_options(tmp_path):
    """With collisions the bins' problem is only the transport base of the coupled
    Newton solver: it never solves a bin, so its ``bte_bins_`` options are never
    inserted (before: inserted at every rebuild of the problem and left, unused)."""
    before = _keys()
    _steps(tmp_path, collisions=True)
    added = _keys() - before
    assert not [k for k in added if k.startswith("bte_bins_")], sorted(added)


def test_collisionless_stepper_removes_the_bins_options_and_keeps_the_command_line(
        tmp_path):
    """Without collisions every bin solve inserts the bins' options and removes them
    after (nothing new in the database after the run); ``-bte_ksp_rtol`` set beforehand
    (as the command line would) keeps its value."""
    from petsc4py import PETSc

    db = PETSc.Options()
    had = db.getAll().get("bte_ksp_rtol")
    db.setValue("bte_ksp_rtol", "1e-11")
    try:
        before = _keys()
        _steps(tmp_path, collisions=False)
        assert _keys() - before == set()
        assert db.getAll()["bte_ksp_rtol"] == "1e-11"
    finally:
        if had is None:
            db.delValue("bte_ksp_rtol")
        else:
            db.setValue("bte_ksp_rtol", had)

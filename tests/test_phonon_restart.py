"""The GMRES restart of the phonon bins' transient systems (fvqp/models/phonon/bins.py,
``TRANSIENT_RESTART`` and ``RESTART_LIMIT``): 10 where fvqp chooses it (a transient
solve converges in 10-30 iterations and its cost is memory traffic), with a switch to
the options' 200 for a system whose solve has not converged in 50 iterations (strong
scattering at long steps stalls a short restart); steady systems keep 200; a case's
``[solver.petsc]`` and the command line choose it instead."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from test_phonon_flux import COLUMN
from test_phonon_transport import BLOCK

from conftest import MESHES, case_variant
from fvqp.case.loader import load_case
from fvqp.solvers.options import options_session


def _restart(ksp, out: Path) -> int:
    """The restart of a set-up GMRES KSP, as its own view prints it (petsc4py has no
    getter for it)."""
    from petsc4py import PETSc

    viewer = PETSc.Viewer().createASCII(str(out), comm=ksp.getComm())
    ksp.view(viewer)
    viewer.destroy()
    return int(re.search(r"restart=(\d+)", out.read_text()).group(1))


def test_transient_bins_restart_gmres_after_10_unless_told(tmp_path):
    """After a sweep, the bin KSPs of a transient system restart after 10 iterations, in
    the ``phonon`` model and in the chip chain; a steady system's after 200 (the
    options'); a case's ``ksp_gmres_restart`` and the command line's win."""
    from petsc4py import PETSc

    from fvqp.models.bte_chip.driver import ChipSimulation
    from fvqp.models.phonon.driver import PhononSimulation

    def restart(name: str, table: str = "", cli: int | None = None,
                column: bool = False, steady: bool = False) -> int:
        (tmp_path / name).mkdir()
        if column:
            case = tmp_path / name / "column.toml"
            case.write_text(COLUMN.replace("@MESHES@", str(MESHES)) + table)
        else:
            case = case_variant("bte_chip_deposit.toml", tmp_path / name,
                                **{"chip_layout/chip.msh": "chip_small/chip_small.msh"})
            case.write_text(case.read_text() + table)
        db = PETSc.Options()
        if cli is not None:        # as from the command line: before fvqp's insertions
            db["bte_chip_ksp_gmres_restart"] = cli
        try:
            with options_session():
                if column:
                    ph = PhononSimulation.from_case(load_case(case)).problem
                    a = 0.0 if steady else 1.0
                else:
                    sim = ChipSimulation(load_case(case))
                    ph, a = sim.psim.problem, 1.0 / sim.dt
                try:
                    _, res = ph.sweep(a)
                    assert all(r.success for r in res)
                    return _restart(ph.ksp(0, a).ksp, tmp_path / name / "ksp.txt")
                finally:
                    ph.release()
        finally:
            if cli is not None:
                db.delValue("bte_chip_ksp_gmres_restart")

    assert restart("column", column=True) == 10
    assert restart("column_steady", column=True, steady=True) == 200
    assert restart("column_table", "\n[solver.petsc]\nksp_gmres_restart = 30\n",
                   column=True) == 30
    assert restart("chip") == 10
    assert restart("chip_table", "\n[solver.petsc]\nksp_gmres_restart = 30\n") == 30
    assert restart("chip_cli", cli=40) == 40


def test_a_stalled_short_restart_goes_on_with_the_long_one(write_case):
    """Strong bulk scattering at a long step: a 100 um Si column at l = 0.05 um, one bin,
    a 1 us step (GMRES(10) alone did not converge in 2 000 iterations, GMRES(200) took
    105). The first solve stops after 50 iterations with restart 10 and goes on with
    200 (one switch), converges, and equals the solve with restart 200 throughout; the
    next solve of the same system takes restart 200 from its start. A case's BiCGStab is
    left alone (no cap, no switch)."""
    from petsc4py import PETSc

    from fvqp.models.phonon.bins import RESTART_LIMIT
    from fvqp.models.phonon.driver import PhononSimulation

    text = BLOCK.format(mesh="substrate_column", T="5 K", T0="5 K", iso="false",
                        dec="false", bottom="bath", top="absorbing", sides="specular",
                        bins=1, e_max="0.5 meV")
    text = text.replace("anharmonic_decay = false", "anharmonic_decay = false\n"
                        'mean_free_path = "0.05 um"')

    def solves(name: str, cli: int | None = None, table: str = ""):
        db = PETSc.Options()
        if cli is not None:
            db["phonon_ksp_gmres_restart"] = cli
        try:
            with options_session():
                sim = PhononSimulation.from_case(load_case(write_case(text + table, name)))
                p = sim.problem
                a = 1.0 / sim.units.to_internal(1e-6, "time")
                try:
                    runs = [p.sweep(a) for _ in range(2)]
                    return runs, p.restart_switches
                finally:
                    p.release()
        finally:
            if cli is not None:
                db.delValue("phonon_ksp_gmres_restart")

    (first, second), switches = solves("short.toml")
    # another Krylov method: neither the short restart nor its cap and switch
    assert solves("bcgs.toml", table='\n[solver.petsc]\nksp_type = "bcgs"\n')[1] == 0
    (long1, _), kept = solves("long.toml", cli=200)
    assert kept == 0
    assert switches == 1
    assert first[1][0].success and second[1][0].success
    its = long1[1][0].iterations
    assert its > RESTART_LIMIT                       # the case the switch is for
    assert first[1][0].iterations <= RESTART_LIMIT + its
    assert second[1][0].iterations == its            # restart 200 from its start
    for x in (first[0], second[0]):
        assert np.max(np.abs(x - long1[0])) <= 1e-10 * np.max(np.abs(long1[0]))


def test_a_resumed_run_keeps_the_switched_restart(tmp_path):
    """The stalling column of the test above marched in two 1 us steps, stopped after the
    first and resumed: the system switched to restart 200 in the first step keeps it in
    the resumed second step (the checkpoint holds the switch), so the resumed run
    takes the uninterrupted run's Krylov iterations and switches, and its final state
    is the uninterrupted one's to 1e-12. Before the checkpoint held it, the resumed
    step started again at restart 10 and switched a second time after 50 iterations."""
    import json

    from conftest import last_snapshot, run_fvqp

    text = BLOCK.format(mesh="substrate_column", T="5 K", T0="6 K", iso="false",
                        dec="false", bottom="bath", top="absorbing", sides="specular",
                        bins=1, e_max="0.5 meV")
    text = text.replace("anharmonic_decay = false", "anharmonic_decay = false\n"
                        'mean_free_path = "0.05 um"')
    text = text.replace('end = "3 ns"', 'end = "2 us"').replace('dt_initial = "1 ns"',
                                                                  'dt_initial = "1 us"')
    case = tmp_path / "column.toml"
    case.write_text(text.replace("@MESHES@", str(MESHES)))
    run_fvqp(["run", case, "--output", tmp_path / "a"])
    first = run_fvqp(["run", case, "--output", tmp_path / "b", "--max-steps", "1"],
                     check=False)
    s1 = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert s1["status"] == 1 and s1["steps"] == 1, first.stderr
    assert s1["restart_switches"] == 1     # the switch happened before the checkpoint
    run_fvqp(["run", case, "--output", tmp_path / "b", "--resume"])
    sa, sb = (json.loads((tmp_path / d / "summary.json").read_text()) for d in "ab")
    assert sb["status"] == 0 and sb["steps"] == 2
    assert sb["restart_switches"] == sa["restart_switches"] == 1
    assert sb["linear_iterations"] == sa["linear_iterations"]
    _, fa = last_snapshot(tmp_path / "a", "column")
    _, fb = last_snapshot(tmp_path / "b", "column")
    np.testing.assert_allclose(np.asarray(fb.cell_data["phonon_energy_density"]),
                               np.asarray(fa.cell_data["phonon_energy_density"]),
                               rtol=1e-12, atol=0)

"""A case's PETSc options that no solver read are reported, never silently dropped.

PETSc lists unused *command-line* options itself, but the options of a case file's
``[solver.petsc]`` are fvqp's insertions, which it never lists: before this check a
misspelt ``ksp_rtoll`` in a case ran with the default tolerance and said nothing.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pytest

from fvqp import api
from fvqp.solvers.linear import option_value
from fvqp.solvers.options import (
    apply_options,
    declare_case_options,
    options_session,
    unread_case_options,
)

ROOT = Path(__file__).resolve().parents[1]


def _ksp(prefix: str):
    from petsc4py import PETSc

    a = PETSc.Mat().createAIJ((4, 4), nnz=1, comm=PETSc.COMM_SELF)
    for i in range(4):
        a.setValue(i, i, 2.0)
    a.assemble()
    ksp = PETSc.KSP().create(PETSc.COMM_SELF)
    ksp.setOptionsPrefix(prefix)
    ksp.setOperators(a)
    return ksp


def test_options_read_by_petsc_or_by_fvqp_are_not_reported_the_others_are():
    """Read by the KSP (and deleted after use, as the dense solvers do), read by fvqp
    itself (a key of its own), a viewer set to false (inserts nothing): not reported; a
    misspelt key and an option inserted after its solver had read its options: reported,
    in the order declared."""
    case = {"ksp_rtol": 1e-3, "ksp_rtoll": 1e-3, "pc_type": "jacobi", "own_key": 3,
            "ksp_monitor": False, "ksp_max_it": 7}
    with options_session():
        declare_case_options("unread_", case, "[solver.petsc]")
        apply_options("unread_", {k: v for k, v in case.items()
                                  if k not in ("own_key", "ksp_max_it")})
        ksp = _ksp("unread_")
        ksp.setFromOptions()
        assert ksp.getTolerances()[0] == pytest.approx(1e-3)
        assert option_value("unread_own_key", 0) == 0  # not inserted: fvqp's own key
        apply_options("unread_", {"ksp_max_it": 7})  # too late: the KSP has read its own
        assert ksp.getTolerances()[3] != 7
        got = unread_case_options()
        ksp.destroy()
    assert got == [("[solver.petsc]", "ksp_rtoll"), ("[solver.petsc]", "ksp_max_it")]


def test_a_case_key_that_a_nested_solver_had_inserted_first_is_reported():
    """A solver with a nested prefix inserted (and read) its own default
    ``<prefix>sub_pc_type`` before the case's ``sub_pc_type`` under ``<prefix>`` came:
    the case's value is left out as if the command line had set it, so it never takes
    effect; reported as unread although PETSc marked the name used (bte_sphere's
    ``eblock_*`` keys until 2026-11-26). A case key of the same value as such a default
    is in effect: not reported."""
    with options_session():
        declare_case_options("nest_", {"sub_pc_type": "jacobi", "sub_ksp_type": "preonly"},
                             "[solver.petsc]")
        apply_options("nest_sub_", {"pc_type": "lu", "ksp_type": "preonly"})
        ksp = _ksp("nest_sub_")
        ksp.setFromOptions()
        apply_options("nest_", {"sub_pc_type": "jacobi", "sub_ksp_type": "preonly"})
        assert ksp.getPC().getType() == "lu"
        got = unread_case_options()
        ksp.destroy()
    assert got == [("[solver.petsc]", "sub_pc_type")]


def test_a_new_session_forgets_the_last_one():
    with options_session():
        declare_case_options("unread2_", {"ksp_rtoll": 1}, "[solver.petsc]")
        assert unread_case_options() == [("[solver.petsc]", "ksp_rtoll")]
    with options_session():
        assert unread_case_options() == []


def _heat_case(tmp_path: Path, petsc: str) -> Path:
    text = (ROOT / "cases" / "heat_nis_wire.toml").read_text()
    text = text.replace('file = "../meshes/', f'file = "{ROOT}/meshes/')
    text = re.sub(r'directory = "[^"]*"', 'directory = "out"', text)
    path = tmp_path / "heat_nis_wire.toml"
    path.write_text(text + "\n[solver.petsc]\n" + petsc)
    return path


def test_a_misspelt_case_option_is_named_with_the_file_and_the_fix(tmp_path, caplog):
    """The shipped NIS wire with ``ksp_rtoll`` (misspelt) beside ``snes_rtol``: the run
    finishes, lists ``[solver.petsc] ksp_rtoll`` in ``summary.json`` and says so once,
    naming the case file and the fix; the correct key's value took effect (a tighter
    Newton tolerance than the default takes more Newton iterations)."""
    loose = _heat_case(tmp_path, "snes_rtol = 1e-4\n")
    ref = api.run_case(loose, output_dir=str(tmp_path / "ref"))
    assert "unread_options" not in ref.summary
    path = _heat_case(tmp_path, "snes_rtol = 1e-12\nksp_rtoll = 1e-3\n")
    with caplog.at_level(logging.WARNING, logger="fvqp"):
        res = api.run_case(path, output_dir=str(tmp_path / "o"))
    assert res.status == 0
    assert res.summary["unread_options"] == ["[solver.petsc] ksp_rtoll"]
    warned = [r.getMessage() for r in caplog.records if "read by no solver" in
              r.getMessage()]
    assert len(warned) == 1
    assert str(path) in warned[0] and "ksp_rtoll" in warned[0] and "Fix:" in warned[0]
    assert "snes_rtol" not in warned[0]
    assert res.summary["newton_iterations"] > ref.summary["newton_iterations"]
    assert np.isfinite(res.summary["max_temperature_K"])


@pytest.mark.mpi
def test_two_ranks_report_the_same_keys_once(tmp_path):
    """``mpiexec -n 2``: the read flags are combined over the ranks (an option read on one
    rank only counts as read) and rank 0 alone warns: the same summary entry as the
    serial run, one warning line."""
    import json

    from conftest import run_fvqp

    path = _heat_case(tmp_path, "snes_rtol = 1e-12\nksp_rtoll = 1e-3\n")
    proc = run_fvqp(["run", path, "--output", tmp_path / "two"], nproc=2)
    s = json.loads((tmp_path / "two" / "summary.json").read_text())
    assert s["ranks"] == 2 and s["status"] == 0
    assert s["unread_options"] == ["[solver.petsc] ksp_rtoll"]
    assert (proc.stdout + proc.stderr).count("read by no solver") == 1


def test_the_chips_solver_table_reaches_its_phonon_solves(tmp_path):
    """bte_chip: ``[solver.petsc]`` configures the phonon solves under the case's
    ``[solver] prefix``. They ran under a prefix of their own (``chip_ph_``), which the
    case's keys reached but the command line's ``-bte_chip_*`` did not; now a looser
    ``ksp_rtol`` in the table and the same on the command line under ``[solver]
    prefix`` both cut the phonon Krylov iterations of two coupled steps of the small
    chip, and no key is reported unread."""
    import json

    from conftest import case_variant, run_fvqp

    def phonon_krylov(name, table="", args=()):
        case = case_variant("bte_chip_deposit.toml", tmp_path / name,
                            **{"chip_layout/chip.msh": "chip_small/chip_small.msh"})
        case.write_text(case.read_text() + table)
        run_fvqp(["run", case, "--output", tmp_path / name / "o", "--max-steps", "2",
                  *args])
        s = json.loads((tmp_path / name / "o" / "summary.json").read_text())
        assert "unread_options" not in s
        return s["phonon_linear_iterations"]

    for d in ("ref", "table", "cli"):
        (tmp_path / d).mkdir()
    ref = phonon_krylov("ref")
    table = phonon_krylov("table", "\n[solver.petsc]\nksp_rtol = 1e-4\n")
    cli = phonon_krylov("cli", args=("-bte_chip_ksp_rtol", "1e-4"))
    assert table == cli < 0.8 * ref

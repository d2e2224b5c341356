"""Under ``mpiexec`` every rank loads and checks the same case: its warnings, its
refusal and the check's "OK" are reported once (by rank 0), not once per rank."""

from __future__ import annotations

import pytest

from conftest import case_variant, run_fvqp
from fvqp.cli import EXIT_BAD_INPUT

WARM = {"bins = 8": "bins = 40", 'e_max = "6 meV"': 'e_max = "70 meV"'}


@pytest.mark.mpi
def test_a_check_warning_and_ok_are_reported_once_on_two_ranks(tmp_path):
    """phonon_si_block with e_max = 70 meV (above Si's Debye energy, 55.58 meV): the
    check warns; on two ranks the warning and the OK line appear once each."""
    path = case_variant("phonon_si_block.toml", tmp_path, **WARM)
    proc = run_fvqp(["check", path], nproc=2)
    out = proc.stdout + proc.stderr
    assert out.count("energy.e_max: the grid reaches 7e+04 ueV, above the Debye") == 1
    assert out.count(": OK (model phonon") == 1


@pytest.mark.mpi
def test_a_refusal_is_reported_once_and_every_rank_exits_bad_input(tmp_path):
    """A case refused at check (a source above Si's Debye energy) prints its error once
    on two ranks, and the run exits with the bad-input status."""
    path = case_variant("phonon_si_block.toml", tmp_path, **WARM,
                        **{'energy = "3 meV"': 'energy = "60 meV"\nregion = "substrate"'})
    proc = run_fvqp(["check", path], nproc=2, check=False)
    assert proc.returncode == EXIT_BAD_INPUT, proc.stderr[-2000:]
    out = proc.stdout + proc.stderr
    assert out.count("lies above the Debye energy k_B Theta_D") == 1

"""The phonon bins' isotropic coarse level (steady states by default; ``[solver.petsc]
coarse`` or ``-phonon_coarse`` for every system or none; issue 17: a preconditioner that
stays cheap in the diffusive limit of strong bulk scattering).

Block-Jacobi ILU alone needs more GMRES iterations as the mean free path shrinks against
the mesh: steady states of a 100 um Si column (1 um cells, 32 ordinates, bath below,
absorbing above) took 69, 86, 105 iterations at l = 5, 0.5, 0.05 um; with the Galerkin
correction on the isotropic space of every cell (:func:`fvqp.parallel.coarse.
isotropic_space`, one GAMG V-cycle; :meth:`fvqp.models.phonon.bins.BinSweeps._coarse_level`)
48, 47, 43 (2026-11-23), the same occupations to 2e-12.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_phonon_transport import BLOCK

from conftest import (
    assert_phonon_ranks_agree,
    case_variant,
    serial_and_two_ranks,
)
from fvqp.case import load_case


def _column(write_case, ell: float, coarse: bool, extra: float | None = None):
    """Steady state of the column with mean free path ``ell`` um: GMRES iterations and
    the angle-averaged occupation (``extra``: a uniform relaxation rate towards zero on
    every ordinate's diagonal, the chip chain's film rates, solved on the shared
    matrices of :class:`fvqp.solvers.diagonal.ShiftedSystems`)."""
    from fvqp.models.phonon.driver import PhononSimulation

    text = BLOCK.format(mesh="substrate_column", T="5 K", T0="5 K", iso="false",
                        dec="false", bottom="bath", top="absorbing", sides="specular",
                        bins=1, e_max="0.5 meV")
    text = text.replace("anharmonic_decay = false", "anharmonic_decay = false\n"
                        f'mean_free_path = "{ell} um"')
    text += f"\n[solver.petsc]\ncoarse = {'true' if coarse else 'false'}\n"
    sim = PhononSimulation.from_case(load_case(write_case(text, f"col_{ell}_{coarse}.toml")))
    p = sim.problem
    xs, res = p.sweep(0.0, extra=None if extra is None else np.full((p.N, p.n), extra))
    p.release()
    assert all(r.success for r in res)
    return sum(r.iterations for r in res), p.mean(xs)[0]


def test_coarse_level_keeps_the_krylov_count_flat_in_the_diffusive_limit(write_case):
    """From l = 5 um to 0.05 um (L/l = 20 to 2000): one level's GMRES iterations grow by
    >= 1.3x (measured 69 -> 105), with the coarse level they stay within 10 % of the l =
    5 um count (48 -> 43) and below 0.6x one level's at 0.05 um; the same angle-averaged
    occupation to 1e-10 (GMRES to rtol 1e-13)."""
    one = {ell: _column(write_case, ell, False) for ell in (5.0, 0.05)}
    two = {ell: _column(write_case, ell, True) for ell in (5.0, 0.05)}
    for ell in one:
        scale = np.max(np.abs(one[ell][1]))
        assert np.max(np.abs(two[ell][1] - one[ell][1])) <= 1e-10 * scale
    assert one[0.05][0] >= 1.3 * one[5.0][0], one
    assert two[0.05][0] <= 1.1 * two[5.0][0], two
    assert two[0.05][0] <= 0.6 * one[0.05][0], (one, two)


def test_coarse_level_also_on_the_shared_systems_of_the_chip_chain(write_case):
    """The systems with per-cell rates on their diagonal (the chip chain's sweeps,
    :meth:`~fvqp.models.phonon.bins.BinSweeps._shifted`) take the coarse level too: at
    l = 0.05 um and a rate of 1e-3 per tau0 the shared KSP's GMRES count with the coarse
    level is the cached systems' two-level count at rate 0 within 10 % (measured 43 and
    43) and below 0.6x one level's on the same shared systems (105), with the same
    occupation to 1e-10. Before 2026-11-24 the shared KSPs ignored ``coarse``: 105 with
    it on."""
    rate = 1e-3
    two = _column(write_case, 0.05, True, rate)
    one = _column(write_case, 0.05, False, rate)
    cached = _column(write_case, 0.05, True)
    assert two[0] <= 1.1 * cached[0], (two[0], cached[0])
    assert two[0] <= 0.6 * one[0], (two[0], one[0])
    assert np.max(np.abs(two[1] - one[1])) <= 1e-10 * np.max(np.abs(one[1]))


@pytest.mark.mpi
def test_coarse_level_on_two_ranks_equals_serial_and_one_level(tmp_path):
    """The Si block (20 ns, BDF1) with a 0.5 um mean free path and the coarse level:
    `mpiexec -n 2` = serial to 1e-8 (the energies of the summary and the energy density
    of every cell), and both = the one-level run's energies to 1e-8 with fewer GMRES
    iterations (3 steps: 304 against 352)."""
    import json

    from conftest import run_fvqp

    short = {'end = "100 ns"': 'end = "20 ns"',
             'medium = "Si"': 'medium = "Si"\nmean_free_path = "0.5 um"'}
    case = case_variant("phonon_si_block.toml", tmp_path, **short)
    case.write_text(case.read_text() + "\n[solver.petsc]\ncoarse = true\n")
    sa, sb = serial_and_two_ranks(case, tmp_path)
    assert_phonon_ranks_agree(tmp_path, "phonon_si_block", sa, sb)
    plain = case_variant("phonon_si_block.toml", tmp_path, **short)
    run_fvqp(["run", plain, "--output", tmp_path / "one"])
    s1 = json.loads((tmp_path / "one" / "summary.json").read_text())
    for k in ("final", "boundary:bottom"):
        assert sa["energy_J"][k] == pytest.approx(s1["energy_J"][k], rel=1e-8, abs=0), k
    assert sa["linear_iterations"] < s1["linear_iterations"], (sa["linear_iterations"],
                                                               s1["linear_iterations"])

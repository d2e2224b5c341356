"""The chip chain's QP Newton preconditioner (issue 17 §4): step 1 by transport sweeps
(``[qp] preconditioner = "sweep"``, the default since 2026-11-23: an ILU(0) per ordinate
in its sweep order + the global isotropic coarse level, cost linear in the film cells)
gives the run of the sparse LU (``"lu"``, fill superlinear in the film cells) to the
solver tolerances, with the same energy and pair balances."""

from __future__ import annotations

import pytest
from test_bte_chip_bdf2 import SHORT, _balanced, _run


def _default_and(write_case, tmp_path, qp_key: str) -> tuple[dict, dict]:
    """The summaries of the closed chip to 6 ns (1 ns steps) with the defaults and with
    the ``[qp]`` key ``qp_key``: both with status 0 and balanced (energy 1e-10 of the
    deposit in every row, QP number = pair processes), their QP and phonon energies, QP
    numbers and pair counts equal in every series row to 1e-9."""
    other = SHORT.replace('[time]', f'[qp]\n{qp_key}\n[time]')
    base, rows = _run(write_case, tmp_path, "bdf1", "1 ns")
    var, vrows = _run(write_case, tmp_path / "variant", "bdf1", "1 ns", text=other)
    for s, r in ((base, rows), (var, vrows)):
        assert s["status"] == 0
        _balanced(s, r)
    for a, b in zip(vrows, rows, strict=True):
        for k in ("E_qp_J", "E_phonon_J", "N_qp:upper", "N_pair"):
            assert float(b[k]) == pytest.approx(float(a[k]), rel=1e-9, abs=1e-30)
    return base, var


def test_sweep_and_lu_qp_preconditioners_give_the_same_run(write_case, tmp_path):
    """The closed chip to 6 ns (1 ns steps through the deposit) with either step 1:
    QP and phonon energies, QP numbers and pair counts equal in every series row to
    1e-9 (measured 5.7e-12, the Krylov tolerance), both balanced (energy 1e-10 of the
    deposit in every row, QP number = pair processes); the summary names the step 1
    that ran (a default that silently stayed on the LU would fail), and the sweep's
    Krylov count per Newton stays bounded (measured 4.1 against 2.8 with the LU on
    this one-cell film; asserted <= 3x the LU's + 2). ~6 CPU s."""
    sw, lu = _default_and(write_case, tmp_path, 'preconditioner = "lu"')
    assert sw["qp_preconditioner_fine"] == "sweep"
    assert lu["qp_preconditioner_fine"] == "lu"
    per = [s["qp_linear_iterations"] / s["qp_newton_iterations"] for s in (sw, lu)]
    assert per[0] <= 3 * per[1] + 2


def test_an_exact_films_coarse_level_gives_the_inexact_run_in_fewer_krylov(write_case,
                                                                             tmp_path):
    """``[qp] coarse``: the films' global coarse level solved by a sparse LU
    (``"exact"``, the default since 2026-11-27) or by GMRES with ILU(0) to 1e-3
    (``"inexact"``, before): the closed chip to 6 ns gives the same series to 1e-9
    in every row, both balanced; the summary names the coarse solve that ran, every
    exact coarse solve is one direct solve, and the exact level takes fewer outer
    Krylov iterations per Newton step than the inexact one (its coarse error is what
    the outer FGMRES then corrects). Measured: rows 9e-12 apart; 15 Newton steps each,
    45 outer Krylov (3.0 per Newton) with 45 one-solve LUs against 60 (4.0) with 60
    coarse solves of 382 ILU(0) iterations. ~5 CPU s."""
    ex, inex = _default_and(write_case, tmp_path, 'coarse = "inexact"')
    assert ex["qp_preconditioner_coarse"] == "exact"
    assert inex["qp_preconditioner_coarse"] == "inexact"
    c = ex["qp_coarse_solves"]
    assert c["solves"] > 0 and c["iterations"] == c["solves"] and c["unconverged"] == 0
    assert inex["qp_coarse_solves"]["iterations"] > inex["qp_coarse_solves"]["solves"]
    per = [s["qp_linear_iterations"] / s["qp_newton_iterations"] for s in (ex, inex)]
    assert per[0] < per[1], per


@pytest.mark.parametrize("film, key", [("transport", 'coarse = "exact"'),
                                       ("transport", 'preconditioner = "lu"'),
                                       ("bte", 'jacobian = "schur"')])
def test_a_qp_key_of_the_other_film_model_is_refused(write_case, film, key):
    """A ``[qp]`` key that only the other film model reads (``coarse``,
    ``preconditioner``, ``wall`` for bte films; ``jacobian`` for transport films) is
    refused at load with the key, the file and the fix, not silently dropped."""
    from fvqp.case.loader import CaseError, load_case

    case = write_case(SHORT + f'[qp]\nmodel = "{film}"\n{key}\n', "chip_qp_key.toml")
    with pytest.raises(CaseError) as exc:
        load_case(case)
    text = str(exc.value)
    name = key.split(" ")[0]
    assert f"qp.{name}" in text and "chip_qp_key.toml" in text and "[qp] model" in text

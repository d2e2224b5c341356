"""The QP balances hold to round-off whatever Newton's and Krylov's tolerances
(:meth:`fvqp.solvers.bdf.BDFIntegrator.conserve`, the problem's ``balance_weights``):
the ``bte`` collision layer's QP number and energy (local phonons included) in the
``bte`` model and in the chip chain's films.

Before (606ecad) a step's balance kept Newton's residual :math:`l^Tr`: at ``snes_rtol``
and ``ksp_rtol`` 1e-3 the relaxing film's QP number was off by 3.2e-8 of its source and
its energy by 1.4e-8 (8.9e-9 and 2.2e-9 with its phonons in the bath); the closed chip's
energy by 3.4e-12 of the deposit and its QP number by 5.0e-11 of the pair processes; at
the default tolerances the layout chip to 1 µs carried 1.1e-9 of its deposit."""

from __future__ import annotations

import csv
import logging

import pytest

from conftest import case_variant

LOOSE = "\n[solver.petsc]\nsnes_rtol = 1e-3\nksp_rtol = 1e-3\n"


def _relaxation(tmp_path, extra: str = "", phonons: str = "local", **kwargs):
    from fvqp.case.loader import load_case
    from fvqp.models.bte import run

    tmp_path.mkdir(parents=True, exist_ok=True)
    p = case_variant("bte_film_relaxation.toml", tmp_path,
                     **{'end = "1 ns"': 'end = "0.4 ns"',
                        'phonons = "local"': f'phonons = "{phonons}"'})
    p.write_text(p.read_text() + extra)
    return run(load_case(p), output_dir=str(tmp_path / "o"), **kwargs).summary


@pytest.mark.parametrize("phonons", ["local", "bath"])
def test_bte_collisions_at_loose_tolerances_keep_number_and_energy(tmp_path, phonons):
    """The relaxing QP pulse (cases/bte_film_relaxation.toml, 20 BDF2 steps to 0.4 ns)
    with Newton and Krylov stopped at 1e-3: QP number and energy (QPs + local phonons)
    balance to 1e-13 of what the source put in (measured 1.6e-15 and 8.3e-16; 3.2e-8
    and 1.4e-8 before), and the final QP number and energies stay within 1e-6 of the
    default tolerances' run (measured 1.3e-7, the loose solve's own error). With the
    phonons in the bath (the emission to the bath the most nonlinear flow): 8.0e-16 and
    2.0e-15 (8.9e-9 and 2.2e-9 before; 3.6e-13 and 1.7e-14 with a single move of
    ``conserve``)."""
    s = _relaxation(tmp_path / "l", LOOSE, phonons)
    ref = _relaxation(tmp_path / "t", "", phonons)
    assert s["status"] == ref["status"] == 0
    assert s["unbalanced_steps"] == 0
    q, e = s["qp_number"], s["energy_J"]
    assert abs(q["imbalance"]) < 1e-13 * q["sources"]
    assert abs(e["imbalance"]) < 1e-13 * e["inflows"]["sources"]
    assert q["final"] == pytest.approx(ref["qp_number"]["final"], rel=1e-6, abs=0)
    for k in ("final_qp", "final_ph") if phonons == "local" else ("final_qp",):
        assert e[k] == pytest.approx(ref["energy_J"][k], rel=1e-6, abs=0)


def test_wrong_balance_weights_are_refused_not_forced(tmp_path, monkeypatch, caplog):
    """Weights that do not describe the residual (the energy's tripled) would need a
    move far beyond Newton's residual: it is not made, a warning names the balances, the
    summary counts the steps (``unbalanced_steps``), and the run is the one without the
    correction (the same QP number to the last bit). A run stopped and resumed counts
    the steps of both parts (the resumed part's alone before 2026-11-28: the count was
    not in the checkpoint)."""
    from fvqp.models.bte.inelastic import InelasticProblem

    right = InelasticProblem.balance_weights

    def tripled(self):
        w = right(self)
        return {"N:": w["N:"], "E:": 3.0 * w["E:"]}

    monkeypatch.setattr(InelasticProblem, "balance_weights", tripled)
    with caplog.at_level(logging.WARNING, logger="fvqp.solvers.bdf"):
        s = _relaxation(tmp_path / "w", LOOSE)
    assert "were not made exact" in caplog.text and "'E:'" in caplog.text
    assert s["unbalanced_steps"] > 0
    stopped = _relaxation(tmp_path / "r", LOOSE, max_steps=10)
    assert stopped["status"] == 1 and 0 < stopped["unbalanced_steps"] < s["unbalanced_steps"]
    resumed = _relaxation(tmp_path / "r", LOOSE, resume=True)
    assert resumed["status"] == 0
    assert resumed["unbalanced_steps"] == s["unbalanced_steps"]
    assert resumed["qp_number"]["final"] == pytest.approx(s["qp_number"]["final"],
                                                          rel=1e-12, abs=0)
    monkeypatch.delattr(InelasticProblem, "balance_weights")
    plain = _relaxation(tmp_path / "p", LOOSE)
    assert s["qp_number"]["final"] == plain["qp_number"]["final"]
    assert abs(plain["qp_number"]["imbalance"]) > 1e-10 * plain["qp_number"]["sources"]


def test_closed_chip_at_loose_qp_tolerances_conserves(write_case, tmp_path):
    """The closed chip (tests/test_bte_chip.py) with the films' QP Newton and Krylov
    stopped at 1e-3 (``[qp.petsc]``): E_qp + E_phonon - deposited = 0 to 1e-14 of the
    deposit in every row (measured 1.5e-16; 3.4e-12 before), the QP number changed by
    the pair processes to 1e-13 (measured 3.7e-16; 5.0e-11 before), and the final QP
    number within 1e-8 of the run at the chain's own tolerances (measured 2.0e-10)."""
    import re
    from pathlib import Path

    from fvqp.case.loader import load_case
    from fvqp.models.bte_chip import run

    src = (Path(__file__).parent / "test_bte_chip.py").read_text()
    closed = re.search(r'CLOSED = """(.*?)"""', src, re.S).group(1)
    loose = write_case(closed + "\n[qp.petsc]\nsnes_rtol = 1e-3\nksp_rtol = 1e-3\n",
                       "loose_qp.toml")
    tight = write_case(closed, "closed_chip.toml")
    s = run(load_case(loose), output_dir=str(tmp_path / "l")).summary
    ref = run(load_case(tight), output_dir=str(tmp_path / "t")).summary
    assert s["status"] == ref["status"] == 0
    assert s["qp_unbalanced_steps"] == 0
    dep = s["E_deposited_J"]
    with open(tmp_path / "l" / "loose_qp_series.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) > 5
    assert max(abs(float(r["imbalance_J"])) for r in rows) < 1e-14 * dep
    q = s["qp_number"]
    assert q["final"] - q["initial"] == pytest.approx(q["pair_processes"], rel=1e-13, abs=0)
    assert q["final"] == pytest.approx(ref["qp_number"]["final"], rel=1e-8, abs=0)


def test_self_consistent_gap_runs_count_refused_balances(tmp_path, monkeypatch):
    """The per-cell gap runs (a Newton solve per step on a problem rebuilt at the new
    gaps, :mod:`fvqp.models.bte.gapcollide`) add every solve's refused balances into
    ``unbalanced_steps``, over a resume too (no such key before 2026-11-28): none with
    the right weights, one per step with the energy's weights tripled."""
    from fvqp.case.loader import load_case
    from fvqp.models.bte import run
    from fvqp.models.bte.inelastic import InelasticProblem

    p = case_variant("bte_selfgap_uniform.toml", tmp_path,
                     **{'end = "80 ns"': 'end = "12 ns"'})
    p.write_text(p.read_text() + LOOSE)

    def go(name, **kw):
        return run(load_case(p), output_dir=str(tmp_path / name), **kw).summary

    right = go("right")
    assert right["status"] == 0 and right["unbalanced_steps"] == 0
    weights = InelasticProblem.balance_weights
    monkeypatch.setattr(InelasticProblem, "balance_weights", lambda self: {
        "N:": weights(self)["N:"], "E:": 3.0 * weights(self)["E:"]})
    wrong = go("wrong")
    assert wrong["status"] == 0 and wrong["unbalanced_steps"] == wrong["steps"] == 6
    assert go("cut", max_steps=2)["unbalanced_steps"] == 2
    assert go("cut", resume=True)["unbalanced_steps"] == 6


def test_chip_resume_keeps_the_refused_balances_count(write_case, tmp_path, monkeypatch):
    """The closed chip at loose QP tolerances with every balance move refused
    (``CONSERVE_LIMIT`` = 0): the films' steps whose balances were refused
    (``qp_unbalanced_steps``) are counted over a stop and a resume as in one run (the
    resumed part's alone before 2026-11-28: the count was not in the checkpoint)."""
    import re
    from pathlib import Path

    import fvqp.solvers.bdf as bdf
    from fvqp.case.loader import load_case
    from fvqp.models.bte_chip import run

    src = (Path(__file__).parent / "test_bte_chip.py").read_text()
    closed = re.search(r'CLOSED = """(.*?)"""', src, re.S).group(1)
    case = load_case(write_case(closed + "\n[qp.petsc]\nsnes_rtol = 1e-3\nksp_rtol = 1e-3\n",
                                "loose_qp.toml"))
    monkeypatch.setattr(bdf, "CONSERVE_LIMIT", 0.0)
    whole = run(case, output_dir=str(tmp_path / "w")).summary
    assert whole["status"] == 0 and whole["qp_unbalanced_steps"] > 2
    cut = run(case, output_dir=str(tmp_path / "c"), max_steps=2).summary
    assert cut["status"] == 1 and 0 < cut["qp_unbalanced_steps"] < whole["qp_unbalanced_steps"]
    resumed = run(case, output_dir=str(tmp_path / "c"), resume=True).summary
    assert resumed["status"] == 0
    assert resumed["qp_unbalanced_steps"] == whole["qp_unbalanced_steps"]

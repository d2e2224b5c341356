"""The condensed Schur solve (``[solver.petsc] schur_condensed = true``) with one key: the
outer KSP defaults to ``preonly`` (a case's own ``ksp_type`` wins), and ``summary.json``'s
``linear_iterations`` counts the condensed GMRES iterations that solve Newton's systems
(the outer preonly count, one per solve, beside it as ``outer_linear_iterations``)."""

from __future__ import annotations

import json

from test_transport_ranks_krylov import SHORT

from conftest import case_variant, run_fvqp


def _case(tmp_path, petsc: str):
    case = case_variant("transport_absorber3d.toml", tmp_path, **SHORT)
    case.write_text(case.read_text() + '\n[numerics]\njacobian = "schur"\n'
                    f"[solver.petsc]\nschur_condensed = true\n{petsc}")
    return case


def test_condensed_outer_ksp_defaults_to_preonly(tmp_path):
    """preonly without GMRES options by default; a case's ksp_type = "gmres" kept."""
    from fvqp.case.loader import load_case
    from fvqp.models.transport.driver import TransportSimulation
    from fvqp.solvers import options_session

    with options_session():
        sim = TransportSimulation(load_case(str(_case(tmp_path, ""))))
        opts = sim.petsc_options()
    assert sim.condensed and opts["ksp_type"] == "preonly"
    assert not any(k.startswith("ksp_gmres_") for k in opts)
    (tmp_path / "g").mkdir()
    with options_session():
        sim = TransportSimulation(load_case(str(_case(tmp_path / "g",
                                                      'ksp_type = "gmres"\n'))))
        assert sim.petsc_options()["ksp_type"] == "gmres"


def test_condensed_summary_counts_the_condensed_krylov(tmp_path):
    """3 BDF1 steps on the coarse absorber: one outer (preonly) solve per Newton step,
    linear_iterations = the condensed solve's GMRES iterations (measured 12 Newton, 48
    condensed iterations)."""
    run_fvqp(["-q", "run", _case(tmp_path, ""), "--output", tmp_path / "o"])
    s = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert s["status"] == 0, s["message"]
    assert s["outer_linear_iterations"] == s["newton_iterations"]
    assert s["linear_iterations"] == s["cpu_calls"]["condensed_krylov"]
    assert s["linear_iterations"] >= 2 * s["newton_iterations"]


def test_condensed_with_phonon_diffusion_refused_at_check(tmp_path):
    """Phonon diffusion between cells and the condensed solve (which needs the phonon
    block cell-diagonal): a CaseError naming solver.petsc.schur_condensed, the region and
    the fix at load (it had been a ValueError from the solve's build); without the
    condensed solve the same case is accepted."""
    import pytest

    from fvqp.case.loader import CaseError, load_case

    def case(d, petsc):
        p = _case(d, petsc)
        p.write_text(p.read_text().replace(
            'escape_time = "0.2 ns"', 'escape_time = "0.2 ns"\n'
            'phonon_diffusion_constant = "1e-4 m^2/s"'))
        return str(p)

    with pytest.raises(CaseError) as err:
        load_case(case(tmp_path, ""))
    e = err.value.errors
    assert len(e) == 1 and "solver.petsc.schur_condensed" in e[0], e
    assert "region 'lead'" in e[0] and "drop schur_condensed" in e[0]
    (tmp_path / "f").mkdir()
    ok = case(tmp_path / "f", "")
    text = open(ok).read().replace("schur_condensed = true", "schur_condensed = false")
    open(ok, "w").write(text)
    assert load_case(ok).data["regions"]["lead"]["phonon_diffusion_constant"] > 0

"""The condensed Schur solve is exact at the point of every Newton iteration
(:mod:`fvqp.models.transport.condensed`): PETSc's lags of the preconditioner or the
Jacobian are refused with it (at case load, and from the command line when the solver is
configured), and the solver layer's :class:`fvqp.solvers.lagged.LaggedPreconditioner`
learns what it needs from the wrapped preconditioner's own protocol (``needs_point``,
``set_point``, ``last_iterations``, ``counters()``), not from a model's attributes."""

from __future__ import annotations

import numpy as np
import pytest
from test_transport_ranks_krylov import SHORT

from conftest import case_variant


def _case(tmp_path, petsc: str):
    case = case_variant("transport_absorber3d.toml", tmp_path, **SHORT)
    case.write_text(case.read_text() + '\n[numerics]\njacobian = "schur"\n'
                    f"[solver.petsc]\n{petsc}")
    return str(case)


@pytest.mark.parametrize("key, value", [("snes_lag_preconditioner", "2"),
                                        ("snes_lag_preconditioner", "-1"),
                                        ("snes_lag_jacobian", "3")])
def test_snes_lag_with_condensed_refused_at_load(tmp_path, key, value):
    """schur_condensed = true with a PETSc lag: one CaseError naming the key, the case
    file and the fix; the same lag without the condensed solve, and the condensed solve
    with a lag of 1, are accepted."""
    from fvqp.case.loader import CaseError, load_case

    (tmp_path / "a").mkdir()
    path = _case(tmp_path / "a", f"schur_condensed = true\n{key} = {value}\n")
    with pytest.raises(CaseError) as err:
        load_case(path)
    e = err.value.errors
    assert len(e) == 1, e
    assert f"solver.petsc.{key}" in e[0] and "transport_absorber3d.toml" in e[0]
    assert f"drop {key}" in e[0] and "schur_condensed" in e[0]
    for sub, petsc in (("b", f"{key} = {value}\n"),
                       ("c", f"schur_condensed = true\n{key} = 1\n"),
                       ("d", f"schur_condensed = false\n{key} = {value}\n")):
        (tmp_path / sub).mkdir()
        load_case(_case(tmp_path / sub, petsc))


def test_schur_lag_off_with_condensed_refused_at_load(tmp_path):
    """schur_lag = false (which selects PETSc's snes_lag_preconditioner = 2) with the
    condensed solve: a CaseError naming solver.petsc.schur_lag."""
    from fvqp.case.loader import CaseError, load_case

    with pytest.raises(CaseError) as err:
        load_case(_case(tmp_path, "schur_condensed = true\nschur_lag = false\n"))
    e = err.value.errors
    assert len(e) == 1 and "solver.petsc.schur_lag" in e[0], e


def test_snes_lag_with_condensed_refused_from_the_command_line(tmp_path):
    """-<prefix>snes_lag_preconditioner 2 in PETSc's database (the command line) with the
    condensed solve: a ValueError naming the option and the fix when the solver is
    configured."""
    from petsc4py import PETSc

    from fvqp.case.loader import load_case
    from fvqp.models.transport.driver import TransportSimulation
    from fvqp.solvers import options_session

    case = load_case(_case(tmp_path, "schur_condensed = true\n"))
    with options_session():
        PETSc.Options()["transport_snes_lag_preconditioner"] = "2"
        try:
            with pytest.raises(ValueError, match="snes_lag_preconditioner 2") as err:
                TransportSimulation(case)
        finally:
            del PETSc.Options()["transport_snes_lag_preconditioner"]
    assert "drop -transport_snes_lag_preconditioner" in str(err.value)


class _PointPC:
    """A stand-in preconditioner of the lagged protocol that needs every Newton point."""

    needs_point = True

    def __init__(self):
        self.points, self.builds = [], 0
        self.last_iterations = 3

    def set_point(self, x, shift):
        self.points.append((x, shift))

    def update(self, x, shift):
        self.builds += 1

    def apply(self, r):
        return 2.0 * r

    def counters(self):
        return {"inner_krylov": [len(self.points) * 3, 0.0]}


class _PlainPC(_PointPC):
    """The same without ``needs_point``: ``set_point`` is never called."""

    needs_point = False


def test_lagged_protocol_point_iterations_and_counters():
    """needs_point: set_point at every update, also when the build is kept; the
    preconditioner's last_iterations drive the growth rule; its counters() reach the
    wrapper's cpu table; lag=False refused for it. Without needs_point, set_point is not
    called."""
    from fvqp.solvers.lagged import LaggedPreconditioner

    inner = _PointPC()
    pc = LaggedPreconditioner(inner, growth=2.0)
    x = np.ones(4)
    for k in range(3):
        pc.update(x * k, 10.0)
        assert np.array_equal(pc.apply(x), 2.0 * x)
    assert [s for _, s in inner.points] == [10.0] * 3
    assert inner.builds == 1 and pc.reuses == 2  # fresh 3 iterations: kept
    assert pc.cpu["inner_krylov"] == [9, 0.0]
    inner.last_iterations = 9  # > 2 * 3 + 2: the next update rebuilds
    pc.apply(x)
    pc.update(x, 10.0)
    assert inner.builds == 2 and pc.reasons.get("growth") == 1
    with pytest.raises(ValueError, match="needs_point"):
        LaggedPreconditioner(_PointPC(), lag=False)
    plain = _PlainPC()
    lag = LaggedPreconditioner(plain, lag=False)
    lag.update(x, 1.0)
    lag.apply(x)
    assert plain.points == [] and plain.builds == 1


def test_schur_preconditioner_speaks_the_protocol(tmp_path):
    """The transport Schur preconditioner reports needs_point and its condensed counters
    through the protocol only with the condensed solve."""
    from fvqp.case.loader import load_case
    from fvqp.models.transport.driver import TransportSimulation
    from fvqp.solvers import options_session

    for sub, petsc, condensed in (("c", "schur_condensed = true\n", True),
                                  ("s", "schur_condensed = false\n", False)):
        (tmp_path / sub).mkdir()
        with options_session():
            sim = TransportSimulation(load_case(_case(tmp_path / sub, petsc)))
        schur = sim.jacobian.preconditioner.pc
        assert schur.needs_point is condensed
        assert set(schur.counters()) == ({"condensed_krylov", "condensed_action",
                                          "condensed_action_single"}
                                         if condensed else set())

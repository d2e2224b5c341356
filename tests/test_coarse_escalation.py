"""The coarse level's switch of preconditioner (fvqp.solvers.twolevel.CoarseCorrection,
``escalate``): once a solve takes more iterations than its limit, the later solves use
algebraic multigrid on the nodes (CELL_BLOCK_GAMG: a node's dense block as one unknown
of the aggregation, point-block Jacobi smoothing) — fewer iterations, the same answer;
a preconditioner chosen by the case or the command line is never switched."""

import numpy as np
import pytest
import scipy.sparse as sp

from fvqp.solvers.options import apply_options
from fvqp.solvers.twolevel import CELL_BLOCK_GAMG, CoarseCorrection, Escalation

#: the inexact coarse solve of the bte sweep path, to a tighter tolerance; preconditioned
#: on the right, so that GMRES's test is on the true residual the tests check (on the
#: left it tests the preconditioned residual: 1.03e-6 true after a 1e-6 test)
ILU = {"ksp_type": "gmres", "ksp_rtol": 1e-6, "ksp_atol": 0.0, "ksp_max_it": 500,
       "ksp_pc_side": "right", "pc_type": "bjacobi", "sub_pc_type": "ilu"}


def _matrix(m: int = 64) -> sp.csr_matrix:
    """A nonsymmetric 2D diffusion operator (m x m nodes, a small storage term) with two
    unknowns per node coupled by a dense block: the shape of the bte global coarse
    operator (per-energy transport between cells, the cells' kinetic blocks)."""
    lap1 = sp.diags([-1.0, 2.0, -1.2], [-1, 0, 1], shape=(m, m))
    eye = sp.identity(m)
    lap = sp.kron(lap1, eye) + sp.kron(eye, lap1) + 1e-3 * sp.identity(m * m)
    block = np.array([[1.0, -0.6], [-0.5, 1.0]])
    return (sp.kron(lap, sp.identity(2)) + sp.kron(sp.identity(m * m), block)).tocsr()


def _solves(prefix: str, escalate, options=None, count: int = 3):
    from petsc4py import PETSc

    c = _matrix()
    b = np.random.default_rng(0).normal(size=c.shape[0])
    level = CoarseCorrection(PETSc.COMM_WORLD, None, None, prefix, ILU, options,
                             block_size=2, escalate=escalate)
    try:
        level.set_matrix(c)
        out = []
        for _ in range(count):
            x = level.solve_coarse(b)
            ksp = level.solver.ksp
            out.append((ksp.getIterationNumber(), ksp.getPC().getType(),
                        np.linalg.norm(c @ x - b) / np.linalg.norm(b)))
        return out, None if escalate is None else escalate.switched_at, \
            dict(PETSc.Options().getAll())
    finally:
        level.destroy()
        apply_options(prefix, {})


def test_a_solve_past_the_limit_switches_to_multigrid_on_the_nodes():
    """ILU(0)-GMRES takes 25 iterations here: with a limit of 15 the first solve
    switches, the later ones take GAMG (10 iterations, at most half), every solve meets
    the tolerance; the bjacobi sub-solver's options are gone from PETSc's database."""
    runs, at, db = _solves("t_esc_on_", Escalation(15, CELL_BLOCK_GAMG))
    (its0, pc0, res0), *later = runs
    assert at == (1, its0) and pc0 == "gamg"
    assert its0 > 15
    for its, pc, res in later:
        assert pc == "gamg" and its <= its0 // 2
        assert res <= 1e-6
    assert res0 <= 1e-6
    assert "t_esc_on_sub_pc_type" not in db
    assert db.get("t_esc_on_mg_levels_pc_type") == "pbjacobi"


@pytest.mark.parametrize("how", ["limit", "case", "command line"])
def test_no_switch_below_the_limit_or_where_the_user_chose(how):
    """Below its limit, or with the preconditioner named by the case or on the command
    line, the level keeps its preconditioner and its iteration counts."""
    from petsc4py import PETSc

    prefix = f"t_esc_off_{how.replace(' ', '_')}_"
    escalate, options = Escalation(15, CELL_BLOCK_GAMG), None
    if how == "limit":
        escalate = Escalation(60, CELL_BLOCK_GAMG)
    elif how == "case":
        options = {"pc_type": "bjacobi"}
    else:
        PETSc.Options().setValue(prefix + "pc_type", "bjacobi")
    try:
        runs, at, _ = _solves(prefix, escalate, options)
    finally:
        PETSc.Options().delValue(prefix + "pc_type")
    assert at is None
    assert {pc for _, pc, _ in runs} == {"bjacobi"}
    assert len({its for its, _, _ in runs}) == 1 and runs[0][0] > 15


def test_levels_sharing_the_switch_follow_the_one_that_switched():
    """One Escalation serves the levels of a run in turn (bte's collision problems, one
    per gap update): a level set up before another one switched takes GAMG from its next
    solve, one built after from its first; neither switches again."""
    from petsc4py import PETSc

    c = _matrix()
    b = np.random.default_rng(1).normal(size=c.shape[0])
    esc = Escalation(15, CELL_BLOCK_GAMG)
    levels = [CoarseCorrection(PETSc.COMM_WORLD, None, None, f"t_esc_share{k}_", ILU,
                               block_size=2, escalate=esc) for k in range(3)]
    try:
        first, early, late = levels
        first.set_matrix(c)
        early.set_matrix(c)                         # set up before the switch: ILU(0)
        assert early.solver.ksp.getPC().getType() == "bjacobi"
        first.solve_coarse(b)                       # 28 iterations: switches
        switched = esc.switched_at
        assert switched[0] == 1 and switched[1] > 15
        late.set_matrix(c)                          # built after the switch
        assert late.solver.ksp.getPC().getType() == "gamg"
        for level in (early, late):
            x = level.solve_coarse(b)
            assert level.solver.ksp.getPC().getType() == "gamg"
            assert level.solver.ksp.getIterationNumber() <= switched[1] // 2
            assert np.linalg.norm(c @ x - b) <= 1e-6 * np.linalg.norm(b)
        assert esc.switched_at == switched          # nobody switched again
    finally:
        for k, level in enumerate(levels):
            level.destroy()
            apply_options(f"t_esc_share{k}_", {})

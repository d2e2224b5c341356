"""Issue 18 §2: the condensed Schur action's FFT work balanced over the ranks by lending
batches of active cells (:mod:`fvqp.parallel.lending`, :mod:`fvqp.models.transport
.lent`): the plan balances to the mean, and a 2-rank burst gives the bits of the run
without loans."""

import numpy as np
import pytest
import test_transport_condensed as _cond

from conftest import case_variant, script_result


def test_plan_brings_every_rank_to_the_mean_within_a_batch():
    """A rank with 40 full batches of 256 cells and one with 40 of 10: loans bring both
    within one batch of the mean (the busy rank lends whole batches, last first, never
    falling below the mean by more than the last batch); three ranks likewise; ranks
    within 2 % of the mean lend nothing; the plan is the same from the same sizes."""
    from fvqp.parallel.lending import plan_loans

    def loads(sizes, plan):
        out = [float(np.sum(s)) for s in sizes]
        for r, moves in enumerate(plan):
            for b, to in moves:
                out[r] -= sizes[r][b]
                out[to] += sizes[r][b]
        return np.array(out)

    for sizes in ([np.full(40, 256), np.full(40, 10)],
                  [np.full(40, 256), np.full(30, 7), np.arange(20) * 3]):
        plan = plan_loans(sizes)
        after = loads(sizes, plan)
        mean = np.mean([np.sum(s) for s in sizes])
        assert np.all(np.abs(after - mean) <= 256), (after, mean)
        assert plan == plan_loans([s.copy() for s in sizes])
        lenders = [r for r, moves in enumerate(plan) if moves]
        assert lenders == [0]
        assert [b for b, _ in plan[0]] == sorted((b for b, _ in plan[0]), reverse=True)
    assert plan_loans([np.full(10, 100), np.full(10, 99)]) == [[], []]
    assert plan_loans([np.full(10, 100)]) == [[]]


def _weighted(sizes, plan, base, guest):
    """Each rank's load after ``plan``: kept batches, ``base``, borrowed at ``guest``."""
    out = np.array([float(np.sum(s)) for s in sizes]) + base
    for r, moves in enumerate(plan):
        for b, to in moves:
            out[r] -= sizes[r][b]
            out[to] += guest * sizes[r][b]
    return out


def test_plan_weighs_borrowed_and_unlendable_work():
    """The cost-weighted plan: a borrowed piece that costs half an owned one moves more
    pieces (20 instead of 15 of 32 cells), and work a rank cannot lend (its quiet cells)
    fewer (7); either way the weighted loads end within one piece's cost of each other
    and the heaviest load never grows. A rank that lent never borrows (three ranks)."""
    from fvqp.parallel.lending import plan_loans

    sizes = [np.full(40, 32), np.full(10, 32)]
    counts = {}
    for key, base, guest in (("plain", np.zeros(2), 1.0), ("cheap guests", np.zeros(2), 0.5),
                             ("quiet work", np.array([0.0, 480.0]), 1.0)):
        plan = plan_loans(sizes, base=base, guest=guest)
        after = _weighted(sizes, plan, base, guest)
        before = _weighted(sizes, [[], []], base, guest)
        assert abs(after[0] - after[1]) <= (1 + guest) * 32 / 2, (key, after)
        assert after.max() <= before.max()
        counts[key] = len(plan[0])
        assert plan[1] == []
    assert counts == {"plain": 15, "cheap guests": 20, "quiet work": 7}
    three = [np.full(40, 32), np.full(10, 32), np.full(30, 32)]
    plan = plan_loans(three, base=np.array([0.0, 0.0, 200.0]), guest=0.7)
    borrowers = {to for moves in plan for _, to in moves}
    assert not borrowers & {r for r, moves in enumerate(plan) if moves}
    after = _weighted(three, plan, np.array([0.0, 0.0, 200.0]), 0.7)
    assert after.max() - after.min() <= 32 * 1.7, after


def _burst(tmp_path, name, extra=""):
    """Summary of 3 fixed 0.2 ns BDF1 steps of the absorber burst on 2 ranks, condensed
    solve (``extra``: lines of ``[solver.petsc]``)."""
    return _cond._burst(tmp_path, name, _cond.CONDENSED + extra, nproc=2,
                        **{'time = "1 ns"': 'time = "0.6 ns"',
                           'dt_initial = "10 ps"': 'dt_initial = "0.2 ns"',
                           "rtol = 1e-3": 'rtol = 1e-3\nadaptive = false\nscheme = "bdf1"'})


def test_lent_batches_give_the_bits_of_the_unbalanced_run(tmp_path):
    """The absorber burst on 2 ranks: with loans (the default, ``collision_balance =
    "lend"``) rank 0 lent or borrowed cells' actions, against ``"off"``: none; the same
    Newton and Krylov counts and the same final energy, escape and QP number to the bit
    (a borrowed batch is the lender's, the same transforms in the same order)."""
    lend = _burst(tmp_path, "lend")
    off = _burst(tmp_path, "off", 'collision_balance = "off"\n')
    calls, off_calls = lend["cpu_calls"], off["cpu_calls"]
    assert calls["lent_cells"] + calls["borrowed_cells"] > 0
    assert off_calls["lent_cells"] + off_calls["borrowed_cells"] == 0
    for k in ("newton_iterations", "linear_iterations"):
        assert lend[k] == off[k], k
    for k in ("final", "escape"):
        assert lend["energy_J"][k] == off["energy_J"][k], k
    assert lend["N_qp"] == off["N_qp"]


def test_balance_key_is_checked(tmp_path):
    """A ``collision_balance`` value other than ``lend`` or ``off`` is refused at load,
    naming the key."""
    from fvqp.case.loader import CaseError, load_case

    case = case_variant("transport_absorber3d.toml", tmp_path)
    case.write_text(case.read_text() + '\n[solver.petsc]\ncollision_balance = "share"\n')
    with pytest.raises(CaseError, match="collision_balance"):
        load_case(str(case))


_NON_FINITE = """
import numpy as np
from petsc4py import PETSc
from fvqp.case.loader import load_case
from fvqp.models.transport.driver import TransportSimulation
from fvqp.solvers.nonlinear import DomainError

sim = TransportSimulation(load_case({case!r}))
p = sim.problem
y = sim.local(sim.x0).reshape(-1, p.B).copy()
if PETSc.COMM_WORLD.getRank() == 0:
    y[0, 0] = np.nan
try:
    p.rhs(y.ravel(), 0.0, 0.1)
    out = "computed"
except DomainError:
    out = "domain error"
everyone = PETSc.COMM_WORLD.tompi4py().allgather(out)
if PETSc.COMM_WORLD.getRank() == 0:
    print("RESULT", repr(everyone))
"""


def test_a_non_finite_state_on_one_rank_stops_every_rank(tmp_path):
    """A residual at a state with a non-finite occupation on rank 0 only: both ranks
    raise the domain error (the step is retried smaller), not rank 0 alone — the lent
    terms are collective, and a rank that went on would wait for the other forever."""

    case = case_variant("transport_absorber3d.toml", tmp_path)
    assert script_result(_NON_FINITE.format(case=str(case)), nproc=2) == [
        "domain error", "domain error"]

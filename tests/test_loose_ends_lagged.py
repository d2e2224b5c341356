"""The lagged preconditioner's public step start (``invalidate``) and its logger."""

import logging

import numpy as np

from fvqp.solvers.lagged import LaggedPreconditioner


class _CountingPC:
    """A stand-in model preconditioner that records the shifts of its builds."""

    def __init__(self):
        self.shifts = []

    def update(self, x, shift):
        self.shifts.append(shift)

    def apply(self, r):
        return r


def _solve(pc, its, shift=1.0):
    pc.update(np.zeros(1), shift)
    for _ in range(its):
        pc.apply(np.zeros(1))


def test_invalidate_rebuilds_once_and_the_rule_keeps_its_own_reasons(caplog):
    """``invalidate("step")`` forces exactly one rebuild, at the next update, recorded as
    "step" and logged on the owner's logger (not fvqp.solvers); a reason of the rule
    at that update (here the shift cut by 4) is the one recorded, and the pending
    invalidation is spent by it, as the chip chain's step rebuild always did."""
    inner = _CountingPC()
    pc = LaggedPreconditioner(inner, logger=logging.getLogger("fvqp.bte_chip"))
    _solve(pc, 4)
    _solve(pc, 4)
    assert pc.builds == 1 and pc.reuses == 1
    pc.invalidate("step")
    with caplog.at_level(logging.DEBUG, logger="fvqp"):
        _solve(pc, 4)
    assert pc.reasons == {"first": 1, "step": 1} and inner.shifts == [1.0, 1.0]
    names = {r.name for r in caplog.records if "rebuilt (step)" in r.getMessage()}
    assert names == {"fvqp.bte_chip"}
    _solve(pc, 4)                 # spent: the build is kept again
    assert pc.builds == 2 and pc.reuses == 2
    pc.invalidate("step")
    _solve(pc, 4, shift=0.25)     # the rule's reason wins and spends the invalidation
    _solve(pc, 4, shift=0.25)
    assert pc.reasons == {"first": 1, "step": 1, "shift": 1} and pc.builds == 3
    assert pc.reuses == 3


def test_default_logger_is_the_solvers(caplog):
    """Without ``logger`` the rebuilds are logged under fvqp.solvers (the layer of
    :mod:`fvqp.solvers.lagged`); transport passes its own, fvqp.transport."""
    pc = LaggedPreconditioner(_CountingPC())
    _solve(pc, 1)
    with caplog.at_level(logging.DEBUG, logger="fvqp"):
        _solve(pc, 1, shift=10.0)
    assert [r.name for r in caplog.records if "rebuilt (shift)" in r.getMessage()] \
        == ["fvqp.solvers"]

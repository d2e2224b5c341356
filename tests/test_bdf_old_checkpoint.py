"""A checkpoint written before a model accumulated a rate (e.g. transport's ``res:``
resolutions, 2026-11-23) resumes: the missing accumulator counts from the resumed time,
said once in a warning, and every other accumulator continues exactly (it used to stop
the resume with a KeyError in ``BDFIntegrator._accept``)."""

import logging

import numpy as np
import pytest
from test_bdf_sources import PETSC, line  # noqa: F401 - the fixture
from test_solvers import Linear

from fvqp.mesh.sources import PowerProfile, Source
from fvqp.models.heat.problem import BoundaryCondition, HeatProblem
from fvqp.solvers import BDFIntegrator, BDFOptions, JacobianConfig, options_session


def _integrator(dist):
    n = dist.local.n_owned
    bcs = {"left": BoundaryCondition("insulated"), "right": BoundaryCondition("insulated")}
    prob = HeatProblem(dist, [Linear()], np.ones(1), bcs,
                       sources=[Source(np.full(n, 1.0 / n), PowerProfile(2.0))])
    opts = BDFOptions(order=2, dt_initial=0.1, adaptive=False)
    return BDFIntegrator(prob, np.ones(n), 0.0, "bdfold_", PETSC, opts,
                         jacobian=JacobianConfig())


def test_a_missing_accumulator_counts_from_the_resume(line, caplog):  # noqa: F811
    with options_session():
        full = _integrator(line)
        full.run(0.6)
        cut = _integrator(line)
        cut.run(0.3)
        state = cut.state()
        state["acc"] = [{k: v for k, v in a.items() if k != "deposited"}
                        for a in state["acc"]]           # an older model's checkpoint
        again = _integrator(line)
        again.restore(state)
        with caplog.at_level(logging.WARNING, logger="fvqp"):
            res = again.run(0.6)
    assert res.success and again.t == pytest.approx(0.6, rel=1e-14)
    assert np.allclose(again.x, full.x, rtol=1e-13, atol=0)
    lost = [r for r in caplog.records if "deposited" in r.getMessage()]
    assert len(lost) == 1 and "older fvqp" in lost[0].getMessage()
    # the missing one from the resume: 2 W over the last 0.3; the others as uninterrupted
    assert again.accumulated["deposited"] == pytest.approx(0.6, rel=1e-12, abs=0)
    assert full.accumulated["deposited"] == pytest.approx(1.2, rel=1e-12, abs=0)
    for k, v in full.accumulated.items():
        if k != "deposited":
            assert again.accumulated[k] == pytest.approx(v, rel=1e-12, abs=1e-300), k

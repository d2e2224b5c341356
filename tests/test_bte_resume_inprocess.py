"""The checkpoint state of the collisional bte integrator is complete: an integrator
restored from :meth:`BDFIntegrator.state` after 21 steps of ``cases/bte_film_relaxation``
(through the QP pulse and its relaxation; BDF2 with three history states) continues
**bit for bit** as the uninterrupted one — in one process, where no process-to-process
arithmetic variance can enter (the stop/resume test through `fvqp run` compares separate
processes: tests/test_bte_mesh_collisions_runs.py). A restore that drops the predictor's
oldest state moves the fields by ~1.5e-12 only: exact equality is the bound that sees it."""

import numpy as np

from conftest import CASES
from fvqp.case import load_case
from fvqp.models.base import bdf_options
from fvqp.models.bte.coupled import _jacobian, _petsc, coupled_problem
from fvqp.models.bte.driver import BTESimulation
from fvqp.solvers import BDFIntegrator, options_session


def _integrator(sim, prob, x0):
    d = sim.case.values
    opts, _ = bdf_options(d["time"], d["time"]["atol"])
    prefix, petsc = _petsc(sim)
    return BDFIntegrator(prob, x0, 0.0, prefix, petsc, opts, jacobian=_jacobian(prob))


def _step(integ, n):
    for _ in range(n):
        integ.step(integ.t + integ.h)


def test_restored_integrator_continues_bit_for_bit():
    sim = BTESimulation(load_case(CASES / "bte_film_relaxation.toml"))
    prob = coupled_problem(sim)
    with options_session():
        full = _integrator(sim, prob, prob.equilibrium())
        _step(full, 21)
        state = {k: (list(v) if isinstance(v, list) else v) for k, v in full.state().items()}
        again = _integrator(sim, prob, prob.equilibrium())
        again.restore(state)
        assert len(again.history) == 3
        for k in range(8):
            _step(full, 1)
            _step(again, 1)
            assert again.t == full.t, k
            assert np.array_equal(again.x, full.x), k
            assert again.accumulated == full.accumulated, k
    assert again.solver.total_iterations == full.solver.total_iterations

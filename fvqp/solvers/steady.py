r"""Steady states :math:`\mathrm{rhs}(x) = 0` of a model problem by Newton–Krylov (SNES).

The problem is the same object the time integrator steps (:class:`fvqp.models.base.Problem`:
``rhs``, ``rhs_jacobian``, ``pattern``, optionally ``rhs_jvp``), evaluated with sources at
their steady rate (``t0 = 0, t1 = inf``). How the Jacobian is formed is the
:class:`~fvqp.solvers.jacobian.JacobianConfig` handed in; the Newton solve is the BDF
step's with shift 0 (no storage term; :mod:`fvqp.solvers.shifted`).

Progress: every Newton iteration is logged (INFO, rank 0: ``Newton 3: |F| = 1.2e-09
(relative 4.1e-08), 57 Krylov iterations``) by a SNES monitor, so a long steady solve shows
where it is; ``fvqp -q run`` hides the lines. PETSc's own ``-<prefix>snes_monitor`` works
as well.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping

import numpy as np

from .jacobian import JacobianConfig
from .result import SolveResult
from .shifted import ShiftedPC, shifted_newton

__all__ = ["SteadyPC", "SteadySolver"]

log = logging.getLogger(__name__)


class SteadySolver:
    r"""SNES on :math:`F(x) = -\mathrm{rhs}(x, 0, \infty) = 0`.

    Parameters
    ----------
    problem
        A model problem on a distribution (``problem.dist``).
    prefix, options
        PETSc options prefix and options (:class:`~fvqp.solvers.NonlinearSolver`).
    jacobian : JacobianConfig, optional
        Assembled (default) or matrix-free with an optional model preconditioner.
    """

    def __init__(self, problem, prefix: str, options: Mapping[str, object] | None = None,
                 jacobian: JacobianConfig | None = None):
        inf = math.inf
        self.problem, self.dist = problem, problem.dist
        self.nonlinear = shifted_newton(
            problem.dist, lambda xl: -problem.rhs(xl, 0.0, inf),
            lambda xl: -problem.rhs_jacobian(xl, 0.0, inf), lambda: problem.pattern, prefix,
            options, jacobian or JacobianConfig(),
            lambda xl, vl: -problem.rhs_jvp(xl, vl, 0.0, inf))
        self._norm0 = 0.0
        self.nonlinear.snes.setMonitor(self._monitor)

    def _monitor(self, snes, its: int, fnorm: float) -> None:
        """SNES monitor: one INFO line per Newton iteration (the logging set-up shows INFO
        on rank 0 only)."""
        if its == 0:
            self._norm0 = fnorm
            log.info("Newton 0: |F| = %.3e (start of the steady solve)", fnorm)
            return
        rel = fnorm / self._norm0 if self._norm0 > 0 else 0.0
        log.info("Newton %d: |F| = %.3e (relative %.2e), %d Krylov iterations", its, fnorm,
                 rel, snes.getLinearSolveIterations())

    @property
    def snes(self):
        """The PETSc SNES (for monitors and counters)."""
        return self.nonlinear.snes

    def solve(self, x0: np.ndarray, atol: float | None = None,
              raise_on_failure: bool = True) -> tuple[np.ndarray, SolveResult]:
        """Newton from the owned values ``x0``; returns the owned solution and the result
        (``atol`` as in :meth:`NonlinearSolver.solve`)."""
        x = self.dist.create_vec()
        x.setArray(x0)
        res = self.nonlinear.solve(x, raise_on_failure=raise_on_failure, atol=atol)
        out = x.getArray().copy()
        x.destroy()
        return out, res


#: a model preconditioner at shift 0 (``SteadyPC(model_pc)``: tests that build the
#: steady Newton by hand)
SteadyPC = ShiftedPC

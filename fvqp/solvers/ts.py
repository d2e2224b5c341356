"""PETSc TS time stepping for small dense systems on ``COMM_SELF``.

Mesh-less models (0D kinetics, master equations) have a few hundred to a few thousand
unknowns coupled all-to-all; their Jacobians are dense. This module wraps petsc4py's
``TS`` for such systems in the style of :mod:`fvqp.solvers.nonlinear` (their steady
states: :class:`fvqp.solvers.dense.DenseNewton`):

* the physics hands over plain callables on numpy arrays,
  ``rhs(t, y) -> dy/dt`` and ``jacobian(t, y) -> d rhs/dy`` (dense ``ndarray``);
* solver settings are a PETSc options dict under a prefix (``"kinetics0d_ts_"``),
  inserted with :func:`~fvqp.solvers.options.apply_options` unless already given on
  the command line, and ``setFromOptions`` is called last, so ``-<prefix>ts_type arkimex``
  or ``-<prefix>ts_monitor`` on the command line always win;
* outcomes are :class:`~fvqp.solvers.result.RunResult` with status, message and
  counters; failures raise :class:`ConvergenceError`.

The ODE :math:`\\dot y = R(t, y)` is given to TS in implicit form,
:math:`F(t, y, \\dot y) = \\dot y - R(t, y) = 0`, with the IJacobian
:math:`\\sigma I - \\partial R/\\partial y` (``sigma`` is TS's shift), so any implicit
TS type (``bdf``, ``beuler``, ``arkimex`` fully implicit, ``rosw``) can be selected.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

import numpy as np

from .options import apply_options, normalise_prefix, set_from_options
from .result import ConvergenceError, RunResult, reason_name

log = logging.getLogger(__name__)

__all__ = ["DENSE_TS_DEFAULTS", "DenseTimeStepper"]

#: Defaults for :class:`DenseTimeStepper` (overridden by ``options`` and the command line).
DENSE_TS_DEFAULTS: dict[str, object] = {
    "ts_type": "bdf",
    "ts_bdf_order": 2,
    "ts_adapt_type": "basic",
    "snes_type": "newtonls",
    "snes_linesearch_type": "basic",
    "ksp_type": "preonly",
    "pc_type": "lu",
}

def _dense_mat(n: int):
    from petsc4py import PETSc

    mat = PETSc.Mat().createDense((n, n), comm=PETSc.COMM_SELF)
    mat.setUp()
    mat.assemble()
    return mat


def _fill_dense(mat, values: np.ndarray) -> None:
    arr = mat.getDenseArray()
    arr[...] = values
    mat.assemble()


class DenseTimeStepper:
    """PETSc TS for :math:`\\dot y = R(t, y)` with a dense exact Jacobian.

    Parameters
    ----------
    size : int
        Number of unknowns.
    rhs : callable
        ``rhs(t, y) -> ndarray`` (``dy/dt``); a non-finite result is reported to TS as
        a domain error (the step is retried shorter).
    jacobian : callable
        ``jacobian(t, y) -> ndarray (size, size)``, :math:`\\partial R/\\partial y`.
    prefix : str
        PETSc options prefix (``"kinetics0d_ts_"``).
    options : mapping, optional
        PETSc options under the prefix, merged over :data:`DENSE_TS_DEFAULTS`, e.g.
        ``{"ts_type": "arkimex", "ts_rtol": 1e-8}``.

    Examples
    --------
    >>> stepper = DenseTimeStepper(1, lambda t, y: -y, lambda t, y: -np.eye(1))
    >>> y, res = stepper.integrate(np.ones(1), 0.0, 1.0, dt=1e-3)
    """

    def __init__(self, size: int, rhs: Callable, jacobian: Callable,
                 prefix: str = "fvqp_ts_", options: Mapping[str, object] | None = None):
        from petsc4py import PETSc

        self.size = int(size)
        self.prefix = normalise_prefix(prefix)
        self._rhs, self._jac = rhs, jacobian
        self.ts = PETSc.TS().create(comm=PETSc.COMM_SELF)
        self._F = PETSc.Vec().createSeq(self.size, comm=PETSc.COMM_SELF)
        self._J = _dense_mat(self.size)
        self.ts.setIFunction(self._ifunction, self._F)
        self.ts.setIJacobian(self._ijacobian, self._J)
        self.ts.setProblemType(PETSc.TS.ProblemType.NONLINEAR)
        self.ts.setExactFinalTime(PETSc.TS.ExactFinalTime.MATCHSTEP)
        self.ts.setMaxSNESFailures(-1)  # a failed Newton solve shortens the step
        self.ts.setMonitor(self._monitor)
        merged = {**DENSE_TS_DEFAULTS, **(options or {})}
        if str(merged.get("ts_type")) != "bdf" and "ts_bdf_order" not in (options or {}):
            merged.pop("ts_bdf_order", None)
        self.inserted_options = apply_options(self.prefix, merged)
        self.ts.setOptionsPrefix(self.prefix)
        self.monitors: list[Callable[[float, np.ndarray], None]] = []
        self._configured = False

    # ----------------------------------------------------------- PETSc callbacks
    def _ifunction(self, ts, t, x, xdot, f) -> None:
        try:
            r = self._rhs(float(t), x.getArray(readonly=True).copy())
            ok = bool(np.all(np.isfinite(r)))
        except (ArithmeticError, ValueError):
            ok = False
        if not ok:  # petsc4py 3.26 has no SNESSetFunctionDomainError: Inf makes SNES fail
            f.set(np.inf)
            return
        f.setArray(xdot.getArray(readonly=True) - r)

    def _ijacobian(self, ts, t, x, xdot, shift, J, P) -> None:
        jac = np.asarray(self._jac(float(t), x.getArray(readonly=True).copy()), dtype=float)
        _fill_dense(P, shift * np.eye(self.size) - jac)
        if J != P:
            J.assemble()

    def _monitor(self, ts, step, t, x) -> None:
        if not self.monitors:
            return
        y = x.getArray(readonly=True).copy()
        for fn in self.monitors:
            fn(float(t), y)

    # ---------------------------------------------------------------- public API
    def integrate(self, y0: np.ndarray, t0: float, t_end: float, dt: float,
                  rtol: float | None = None, atol: float | np.ndarray | None = None,
                  max_steps: int = 100000, raise_on_failure: bool = True
                  ) -> tuple[np.ndarray, RunResult]:
        """Integrate from ``(t0, y0)`` to ``t_end``.

        Parameters
        ----------
        y0 : ndarray
            Initial state (not modified).
        t0, t_end, dt : float
            Start, end and first step (internal time units).
        rtol, atol : float or ndarray, optional
            Local error tolerances of the adaptive controller (``atol`` may be a vector);
            ``-<prefix>ts_rtol``/``ts_atol`` on the command line win.
        max_steps : int
            Stop (status 1) after this many steps.
        raise_on_failure : bool
            Raise :class:`ConvergenceError` if TS diverged.

        Returns
        -------
        y : ndarray
            State at the final time.
        result : RunResult
            ``status`` 0 (reached ``t_end``), 1 (``max_steps``), -1 (failed).
        """
        from petsc4py import PETSc

        x = PETSc.Vec().createSeq(self.size, comm=PETSc.COMM_SELF)
        x.setArray(np.asarray(y0, dtype=float))
        self.ts.setTime(float(t0))
        self.ts.setStepNumber(0)
        self.ts.setTimeStep(float(dt))
        self.ts.setMaxTime(float(t_end))
        self.ts.setMaxSteps(int(max_steps))
        if rtol is not None or atol is not None:
            vatol = None
            if atol is not None and np.ndim(atol) > 0:
                vatol = PETSc.Vec().createWithArray(np.asarray(atol, dtype=float).copy(),
                                                    comm=PETSc.COMM_SELF)
                atol = None
            self.ts.setTolerances(rtol=rtol, atol=vatol if vatol is not None else atol)
        if not self._configured:
            set_from_options(self.ts, self.prefix)  # last: the command line always wins
            self._configured = True
        try:
            self.ts.solve(x)
            err = None
        except PETSc.Error as exc:  # e.g. too many step rejections
            err = exc
        reason = int(self.ts.getConvergedReason())
        t = float(self.ts.getTime())
        steps = int(self.ts.getStepNumber())
        name = reason_name(PETSc.TS.ConvergedReason, reason)
        if err is not None or reason < 0:
            status, message = -1, name if err is None else str(err)
        elif reason == PETSc.TS.ConvergedReason.CONVERGED_ITS and t < t_end:
            status, message = 1, f"stopped after max_steps = {max_steps}"
        else:
            status, message = 0, name
        res = RunResult(
            status=status, message=message, t=t, steps=steps,
            rejected_steps=int(self.ts.getStepRejections()),  # counters are per solve
            newton_iterations=int(self.ts.getSNESIterations()),
            linear_iterations=int(self.ts.getKSPIterations()),
            failed_solves=int(self.ts.getSNESFailures()),
            history={"ts_type": self.ts.getType()},
        )
        log.debug("TS %s: %s, t = %g, %d steps", self.prefix, message, t, steps)
        if status < 0 and raise_on_failure:
            raise ConvergenceError(
                f"TS (prefix {self.prefix!r}, type {self.ts.getType()}) failed at t = {t:.4g}: "
                f"{message} after {steps} steps. Try -{self.prefix}ts_monitor "
                f"-{self.prefix}snes_converged_reason, a smaller dt_initial, or another "
                f"-{self.prefix}ts_type.", res)
        return x.getArray().copy(), res

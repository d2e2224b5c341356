"""Results of solves, carrying status, message and counters (like scipy's OptimizeResult)."""

from __future__ import annotations

from dataclasses import dataclass, field


def reason_name(enum, value: int) -> str:
    """The name of ``value`` in a PETSc reason enumeration (``PETSc.SNES.ConvergedReason``,
    ``PETSc.KSP.ConvergedReason``, ``PETSc.PC.FailedReason``, ...); the number as text if
    it has none. Where several names share the value the last one defined wins."""
    names = {v: k for k, v in enum.__dict__.items() if isinstance(v, int)}
    return names.get(int(value), str(int(value)))


class ConvergenceError(RuntimeError):
    """A solve did not converge; the message says which solver, why, and what to try."""

    def __init__(self, message: str, result: object | None = None):
        super().__init__(message)
        self.result = result


@dataclass
class SolveResult:
    """Outcome of one nonlinear solve.

    Attributes
    ----------
    success : bool
    reason : int
        PETSc ``SNESConvergedReason`` (positive: converged, negative: diverged).
    message : str
        Name of the reason, e.g. ``"CONVERGED_FNORM_RELATIVE"``.
    iterations, linear_iterations : int
        Newton and total Krylov iterations.
    residual_norm : float
        Final 2-norm of the residual.
    """

    success: bool
    reason: int
    message: str
    iterations: int
    linear_iterations: int
    residual_norm: float


@dataclass
class LinearSolveResult:
    """Outcome of one Krylov solve.

    Attributes
    ----------
    reason : int
        PETSc ``KSPConvergedReason`` (positive: converged, negative: diverged).
    iterations : int
    residual_norm : float
    """

    reason: int
    iterations: int
    residual_norm: float

    @property
    def success(self) -> bool:
        return self.reason > 0


@dataclass
class RunResult:
    """Outcome of a time integration or steady solve driven by :mod:`fvqp.solvers`.

    Attributes
    ----------
    status : int
        0 reached the end, 1 stopped early on request (``max_steps``), -1 failed.
    message : str
    t : float
        Final time (internal units).
    steps, rejected_steps, newton_iterations, linear_iterations, failed_solves : int
    history : dict
        Per-step diagnostics recorded by the integrator.
    """

    status: int
    message: str
    t: float
    steps: int = 0
    rejected_steps: int = 0
    newton_iterations: int = 0
    linear_iterations: int = 0
    failed_solves: int = 0
    history: dict = field(default_factory=dict)

    @property
    def success(self) -> bool:
        return self.status >= 0

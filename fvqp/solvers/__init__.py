"""Solver layer over petsc4py: SNES Newton–Krylov, conservative BDF time stepping, dense
Newton/TS for small systems, Krylov solves and two-level coarse corrections."""

from .bdf import BDFIntegrator, BDFOptions
from .jacobian import JacobianConfig
from .nonlinear import DomainError, NonlinearSolver, SparseAssembler
from .options import apply_options, options_session
from .result import ConvergenceError, RunResult, SolveResult
from .steady import SteadySolver
from .ts import DenseNewton, DenseTimeStepper
from .twolevel import CoarseCorrection, TwoLevelPC

__all__ = ["BDFIntegrator", "BDFOptions", "CoarseCorrection", "ConvergenceError", "DenseNewton",
           "DenseTimeStepper", "DomainError", "JacobianConfig", "NonlinearSolver",
           "RunResult", "SolveResult", "SparseAssembler", "SteadySolver", "TwoLevelPC",
           "apply_options", "options_session"]

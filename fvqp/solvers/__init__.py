"""Solver layer over petsc4py: SNES Newton–Krylov, conservative BDF time stepping, the
mesh-less Newton (SNES with a per-entry test) and TS for small systems, Krylov solves and
two-level coarse corrections."""

from .bdf import BDFIntegrator, BDFOptions
from .dense import DenseNewton
from .jacobian import JacobianConfig
from .nonlinear import DomainError, NonlinearSolver, SparseAssembler
from .options import apply_options, options_session
from .result import ConvergenceError, RunResult, SolveResult
from .steady import SteadySolver
from .ts import DenseTimeStepper
from .twolevel import CoarseCorrection, TwoLevelPC

__all__ = ["BDFIntegrator", "BDFOptions", "CoarseCorrection", "ConvergenceError", "DenseNewton",
           "DenseTimeStepper", "DomainError", "JacobianConfig", "NonlinearSolver",
           "RunResult", "SolveResult", "SparseAssembler", "SteadySolver", "TwoLevelPC",
           "apply_options", "options_session"]

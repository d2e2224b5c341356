"""Solver layer over petsc4py: SNES Newton–Krylov, conservative BDF time stepping."""

from .bdf import BDFIntegrator, BDFOptions
from .jacobian import JacobianConfig
from .nonlinear import DomainError, NonlinearSolver, SparseAssembler
from .options import apply_options, options_session
from .result import ConvergenceError, RunResult, SolveResult
from .steady import SteadySolver
from .ts import DenseNewton, DenseTimeStepper

__all__ = ["BDFIntegrator", "BDFOptions", "ConvergenceError", "DenseNewton",
           "DenseTimeStepper", "DomainError", "JacobianConfig", "NonlinearSolver",
           "RunResult", "SolveResult", "SparseAssembler", "SteadySolver", "apply_options",
           "options_session"]

"""Solver layer over petsc4py: SNES Newton–Krylov, conservative BDF time stepping."""

from .bdf import BDFIntegrator, BDFOptions
from .nonlinear import DomainError, NonlinearSolver, SparseAssembler
from .options import apply_options
from .result import ConvergenceError, RunResult, SolveResult
from .ts import DenseNewton, DenseTimeStepper

__all__ = ["BDFIntegrator", "BDFOptions", "ConvergenceError", "DenseNewton",
           "DenseTimeStepper", "DomainError", "NonlinearSolver",
           "RunResult", "SolveResult", "SparseAssembler", "apply_options"]

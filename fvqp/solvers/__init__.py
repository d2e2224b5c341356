"""Solver layer over petsc4py: SNES Newton–Krylov, conservative BDF time stepping."""

from .bdf import BDFIntegrator, BDFOptions
from .nonlinear import DomainError, NonlinearSolver, SparseAssembler
from .options import apply_options
from .result import ConvergenceError, RunResult, SolveResult

__all__ = ["BDFIntegrator", "BDFOptions", "ConvergenceError", "DomainError", "NonlinearSolver",
           "RunResult", "SolveResult", "SparseAssembler", "apply_options"]

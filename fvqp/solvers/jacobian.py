"""How the Newton Jacobian is formed: a solver configuration, not a property of physics.

A model's problem describes its equations (residual, Jacobian entries on a pattern,
optionally the exact Jacobian action and a preconditioner built from its structure). Which
of these the Newton–Krylov solve uses is chosen by the driver from the case and handed to
:class:`~fvqp.solvers.NonlinearSolver` / :class:`~fvqp.solvers.BDFIntegrator` as a
:class:`JacobianConfig`; the solvers never read it back from the problem.
"""

from __future__ import annotations

from dataclasses import dataclass

from .forcing import ForcingOptions

__all__ = ["JacobianConfig"]

MODES = ("assembled", "matrix_free")


@dataclass(frozen=True)
class JacobianConfig:
    """The Newton Jacobian of a solve.

    Attributes
    ----------
    mode : {"assembled", "matrix_free"}
        ``assembled``: the Krylov operator is the matrix assembled from the problem's
        Jacobian entries. ``matrix_free``: the Krylov operator is the problem's exact
        Jacobian action (``rhs_jvp``); the assembled entries, if any, only build the
        preconditioner.
    block_size : int
        Unknowns per cell of the assembled matrix (PETSc's block preconditioners see the
        cells); 1 for point-wise layouts.
    preconditioner : object, optional
        A model preconditioner (``matrix_free`` only) with ``update(x_local, shift)`` and
        ``apply(r_owned) -> z_owned`` for :math:`\\sigma\\,\\partial C/\\partial x -
        \\partial\\,\\mathrm{rhs}/\\partial x` (shift :math:`\\sigma = 0` in steady
        solves). It becomes PETSc's PC (type ``python``) and no matrix is assembled.
    forcing : ForcingOptions, optional
        Inexact Newton: each linear solve's Krylov tolerance from these forcing terms
        (:mod:`fvqp.solvers.forcing`); None: every solve to the configured ``ksp_rtol``.

    Examples
    --------
    >>> JacobianConfig().mode
    'assembled'
    >>> JacobianConfig("matrix_free", preconditioner=object()).uses_action
    True
    """

    mode: str = "assembled"
    block_size: int = 1
    preconditioner: object | None = None
    forcing: ForcingOptions | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"Jacobian mode {self.mode!r}: expected one of {MODES}")
        if self.preconditioner is not None and self.mode != "matrix_free":
            raise ValueError("a model preconditioner needs the Jacobian action: use "
                             "mode='matrix_free'")

    @property
    def uses_action(self) -> bool:
        """True if the Krylov operator is the exact Jacobian action."""
        return self.mode == "matrix_free"

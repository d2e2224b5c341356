r"""The model interface: what a mesh model's physics provides to the solvers.

A *problem* describes one discretised system :math:`\partial_t C(x) = R(x, t)` on a
:class:`~fvqp.parallel.Distribution` of cells; the solvers (:mod:`fvqp.solvers`) build
every PETSc object from it. It knows nothing of ranks beyond its distribution's local
arrays, nothing of files and nothing of PETSc.

State layout
    ``x`` holds ``block_size`` unknowns per cell, cell-major, owned cells first then
    ghosts (local arrays); ``C(x)`` is a cellwise function of ``x`` (the conserved
    variable: energy of a cell, :math:`\rho f` of a QP bin ...), so
    :math:`\sum_k\alpha_k = 0` time steps keep its linear invariants exactly.
Residual
    ``rhs(x_local, t0, t1)``: :math:`R` of the owned rows with sources averaged over
    ``[t0, t1]`` (``t1 = inf``: steady rates).
Jacobian or its action
    ``rhs_jacobian(x_local, t0, t1)``: values on the COO ``pattern``; optionally
    ``rhs_jvp(x_local, v_local, t0, t1)``, the exact action. Which one Newton uses, and
    the preconditioner built from the problem's structure, is a
    :class:`~fvqp.solvers.JacobianConfig` chosen by the driver.
Balances
    ``rates(x_local, t0, t1) -> {name: rank-partial rate}`` of every flow across the
    system's boundary (boundary fluxes, sources, escape ...), which the integrator
    accumulates with the scheme's own coefficients, so that
    :math:`\Delta\sum C = \sum \int\text{rates}\,dt` holds to the Newton tolerance.
Exact balances (optional)
    ``balance_weights() -> {prefix: l}``, owned-row weights with :math:`l^TC(x)` the
    conserved total whose flows are the ``rates`` keys starting with ``prefix`` (QP
    number ``"N:"``, energy ``"E:"``), and ``balance_directions(x_owned) -> {prefix: v}``,
    one direction per balance that moves it (a scaling of the unknowns it counts). After
    every Newton solve the integrator moves the solution along them until each balance of
    the step holds to round-off, whatever Newton's and Krylov's tolerances
    (:meth:`fvqp.solvers.bdf.BDFIntegrator.conserve`).
Explicit sources (optional)
    ``explicit_source(t0, t1) -> (rows, {name: rank-partial rate})``: the state-independent
    part of ``rhs`` (a deposit, an injection) and its share of ``rates``. A problem that
    has it gets its sources integrated exactly by BDF2 (:mod:`fvqp.solvers.bdf`: BDF2 on
    :math:`C - \int S`); without it, a source's share of a backward-Euler (re)start step is
    counted 3/2 times once BDF2 takes over (heat, transport and bte have it).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["Problem", "ActionProblem", "ModelPreconditioner"]


@runtime_checkable
class Problem(Protocol):
    """A discretised conservative system on a distribution of cells (module docstring)."""

    #: the cell distribution (vector layout, ghost exchange, reductions)
    dist: object
    #: ``(rows, cols)``: local indices of the Jacobian entries of :meth:`rhs_jacobian`
    pattern: tuple[np.ndarray, np.ndarray]

    def conserved(self, x_owned: np.ndarray) -> np.ndarray:
        """The conserved variable :math:`C(x)` of the owned unknowns."""

    def dconserved(self, x_owned: np.ndarray) -> np.ndarray:
        """Its (diagonal) derivative :math:`\\partial C/\\partial x`."""

    def rhs(self, x_local: np.ndarray, t0: float, t1: float) -> np.ndarray:
        """:math:`R(x)` of the owned rows, sources averaged over ``[t0, t1]``."""

    def rhs_jacobian(self, x_local: np.ndarray, t0: float, t1: float) -> np.ndarray:
        """Values of :math:`\\partial R/\\partial x` on :attr:`pattern`."""

    def rates(self, x_local: np.ndarray, t0: float, t1: float) -> dict[str, float]:
        """Flows across the system's boundary (rank-partial sums), for the balances."""

    def max_dt(self, t: float, checked: bool = True) -> float:
        """Largest step the physics allows at ``t`` (e.g. to resolve a pulse);
        ``checked``: the step's local error is estimated (an adaptive step with a known
        past), so a pulse's tails may take longer steps
        (:meth:`fvqp.mesh.sources.PulseProfile.max_dt`)."""

    def breakpoints(self) -> list[float]:
        """Times the integrator must land on (source switch-on/off ...)."""


@runtime_checkable
class ActionProblem(Problem, Protocol):
    """A problem that also provides the exact Jacobian action (matrix-free Newton)."""

    def rhs_jvp(self, x_local: np.ndarray, v_local: np.ndarray, t0: float, t1: float
                ) -> np.ndarray:
        """:math:`(\\partial R/\\partial x)\\,v` of the owned rows."""


@runtime_checkable
class ModelPreconditioner(Protocol):
    """A preconditioner built from a problem's structure (the preconditioner hook):
    approximates :math:`(\\sigma\\,\\partial C/\\partial x - \\partial R/\\partial x)^{-1}`
    (``sigma`` the time integrator's shift, 0 for steady states).

    Optional: ``apply_into(r_owned, out)`` writes ``z`` into ``out`` (the Newton update
    vector's own array; the transport Schur preconditioner builds its solution there), and
    the states ``x_local`` the Newton solver hands over are read-only: a preconditioner or
    problem may keep them by reference, never write them."""

    def update(self, x_local: np.ndarray, shift: float) -> None:
        """Rebuild at the state ``x_local`` and shift ``sigma``."""

    def apply(self, r_owned: np.ndarray) -> np.ndarray:
        """``z = P^{-1} r`` of the owned rows."""

r"""The block structure of the 0D kinetics' Jacobian, for the PETSc Newton of
:mod:`fvqp.solvers.dense` (issue 18 item 4).

The exact Jacobian of :math:`\dot y = (\dot f, \dot n)` has the block form

.. math::
    J = \begin{pmatrix} A & B \\ C & D \end{pmatrix},\qquad
    D = \operatorname{diag}(d),\quad
    d_k = \frac{\partial S_{ph,k}}{\partial n_k} - \frac{1}{\tau_{esc}},

because the collision operator's phonon rows depend on :math:`n_k` only through
:math:`n_k` itself (:mod:`fvqp.collisions.jacobian`, :math:`\partial S_{ph}/\partial n`
diagonal) and the drives act on ``f`` only. The solver layer eliminates the phonons node
by node (:class:`~fvqp.solvers.denselinear.SchurLU`: a dense LU of size ``N``, the QP cells,
instead of ``N + M``, ``M ~ 1.2 N`` phonon nodes); :math:`d_k < 0` (every phonon is lost
by pair breaking, scattering or escape), so the node-wise pivots are safe. The
factorisation is lagged as the GMRES preconditioner of the exact correction
:math:`\delta = J(y)^{-1}\dot y(y)` with the matrix-free exact action :math:`J(y)v`
(:meth:`Kinetics0D.jvp`, FFT, :math:`O(N\log N)`), in the per-entry scaled variables of
the stopping test (:mod:`fvqp.models.kinetics0d.convergence`): a new factorisation only
when the lagged one has gone stale (:class:`~fvqp.solvers.denselinear.LaggedSchur`). Before
any block is formed, GMRES is preconditioned by the exact diagonal of :math:`J`
(:mod:`fvqp.models.kinetics0d.diagonal`, :math:`O(N\log N)`): on the nestfsss-like Al
cases 10-20 GMRES iterations per Newton step, against the :math:`O(N^2)` blocks and
:math:`O(N^3)` LU that dominated the 10Δ photon cases (issue 18 item 4); the Schur LU is
formed only where that GMRES fails. With ``method = "direct"`` (small grids) the
Jacobian is factored at every iterate (full Newton, no Krylov).

This module says what the physics knows — the blocks, the action, the domain
(:math:`0 \le f \le 1`, :math:`n \ge 0` up to ``1e-10``) — and
:func:`structured_newton` hands them to :class:`fvqp.solvers.dense.DenseNewton`, the one
Newton solver of the 0D kinetics (PETSc SNES; ``linear="dense"``: the same solver with a
dense LU of the whole Jacobian at every iterate, ``KSP preonly`` + ``PC lu``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

import numpy as np

from ...solvers.dense import DenseLU, DenseNewton, LaggedSchur, NewtonResult, SchurLU
from .diagonal import jacobian_diagonal
from .model import Kinetics0D

log = logging.getLogger(__name__)

__all__ = ["LINEAR", "NEG_TOL", "SchurLU", "in_domain", "linear_solve", "structured_newton"]

#: occupations below -NEG_TOL (or f above 1 + NEG_TOL) are outside Newton's domain
NEG_TOL = 1e-10


def in_domain(model: Kinetics0D, y: np.ndarray) -> bool:
    """``0 <= f <= 1`` and ``n >= 0`` up to :data:`NEG_TOL`."""
    return bool(np.all(y >= -NEG_TOL) and np.all(y[: model.grid.n] <= 1.0 + NEG_TOL))


def _action(model: Kinetics0D, t: float) -> Callable:
    """``y -> (v -> J(y) v)``: the drives' QP blocks formed once per state."""
    def at(y: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        f, n = model.split(y)
        drive_qp = [a for d in model.drives if d.active(t)
                    if (a := d.jacobian_qp_operator(f, n)) is not None]
        return lambda v: model.jvp(y, v, t, drive_qp)
    return at


#: the linear solves of :func:`linear_solve`
LINEAR = ("schur", "schur-lu", "dense")


def linear_solve(model: Kinetics0D, t: float, linear: str = "schur"
                 ) -> DenseLU | LaggedSchur:
    """The linear solve of the Newton loop (:data:`LINEAR`): ``"schur"`` (GMRES on the FFT
    action preconditioned by the exact diagonal of :mod:`.diagonal`, the lagged Schur LU
    if that fails; factored at every iterate with ``method = "direct"``), ``"schur-lu"``
    (the lagged Schur LU from the start) or ``"dense"`` (the whole Jacobian, LU at every
    iterate)."""
    if linear == "dense":
        return DenseLU(lambda y: model.jacobian(y, t))
    if linear not in LINEAR:
        raise ValueError(f"linear must be one of {LINEAR}, got {linear!r}")
    diagonal = (lambda y: jacobian_diagonal(model, y, t)) if linear == "schur" else None
    return LaggedSchur(lambda y: model.jacobian_blocks(y, t), _action(model, t),
                       krylov=model.method == "fft", diagonal=diagonal)


def structured_newton(model: Kinetics0D, y0: np.ndarray, *, t: float,
                      floor: float, accepted: Callable[[float, list], bool],
                      prefix: str = "kinetics0d_snes_",
                      options: Mapping[str, object] | None = None, linear: str = "schur"
                      ) -> tuple[np.ndarray, NewtonResult]:
    r"""Steady-state Newton of ``model`` from ``y0`` (:class:`fvqp.solvers.dense.DenseNewton`
    with :func:`linear_solve`, PETSc options ``options`` under ``prefix``); returns the
    iterate whose per-entry correction passed ``accepted`` and the result (correction not
    applied).

    Raises
    ------
    ConvergenceError
        ``snes_max_it`` reached, no step in the domain, or a singular factorisation.
    """
    nq = model.grid.n

    def residual(y: np.ndarray) -> np.ndarray:
        if np.any(y < -NEG_TOL) or np.any(y[:nq] > 1 + NEG_TOL):
            raise ArithmeticError("occupation out of range")
        return model.rhs(y, t)

    newton = DenseNewton(model.size, residual, linear_solve(model, t, linear),
                         accepted=accepted, floor=floor,
                         in_domain=lambda y: in_domain(model, y), prefix=prefix,
                         options=options)
    return newton.solve(y0)

r"""The Newton solve of a BDF step or a steady state, as a :class:`JacobianConfig` says.

Both solves of a conservative model :math:`\partial_t C(x) = \mathrm{rhs}(x, t)` have the
Newton matrix

.. math::  K = \sigma\,\frac{\partial C}{\partial x} - \frac{\partial\,\mathrm{rhs}}
   {\partial x},

with :math:`\sigma = \alpha_0/h` in a BDF step of size :math:`h`
(:class:`~fvqp.solvers.BDFIntegrator`) and :math:`\sigma = 0` in a steady solve
(:class:`~fvqp.solvers.SteadySolver`: the step :math:`h \to \infty`). How :math:`K` is
formed — assembled on the problem's pattern, the exact action, a model preconditioner
updated with :math:`\sigma` — is the caller's :class:`~fvqp.solvers.JacobianConfig`;
:func:`shifted_newton` turns it into the :class:`~fvqp.solvers.NonlinearSolver` once, for
both.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from .jacobian import JacobianConfig
from .nonlinear import NonlinearSolver

__all__ = ["ShiftedPC", "shifted_newton"]


class ShiftedPC:
    r"""A model preconditioner (``update(x_local, shift)``, ``apply``) as
    :class:`~fvqp.solvers.NonlinearSolver` calls it (``update(x_local)``), with the
    solve's current shift :math:`\sigma`.

    Parameters
    ----------
    model_pc
        The model's preconditioner.
    shift
        ``shift() -> sigma`` read at every update; None: :math:`\sigma = 0` (steady).
    """

    def __init__(self, model_pc, shift: Callable[[], float] | None = None):
        self.model_pc, self.shift = model_pc, shift

    def update(self, xl: np.ndarray) -> None:
        self.model_pc.update(xl, 0.0 if self.shift is None else self.shift())

    def apply(self, r: np.ndarray) -> np.ndarray:
        return self.model_pc.apply(r)

    def apply_into(self, r: np.ndarray, out: np.ndarray) -> None:
        """``apply`` written into ``out`` (the protocol of
        :class:`~fvqp.solvers.NonlinearSolver`): the model preconditioner's own
        ``apply_into`` if it has one (no result array besides ``out``)."""
        into = getattr(self.model_pc, "apply_into", None)
        if into is None:
            out[...] = self.model_pc.apply(r)
        else:
            into(r, out)

    def exact_residual(self) -> np.ndarray | None:
        """The model preconditioner's ``exact_residual()`` (the protocol of
        :class:`~fvqp.solvers.NonlinearSolver`), None if it has none."""
        exact = getattr(self.model_pc, "exact_residual", None)
        return None if exact is None else exact()

    def krylov_iterations(self) -> int | None:
        """The model preconditioner's ``krylov_iterations()`` if it has one (it is the
        linear solve itself; the protocol of :class:`~fvqp.solvers.NonlinearSolver`),
        else None."""
        get = getattr(self.model_pc, "krylov_iterations", None)
        return None if get is None else get()

    def set_rtol(self, rtol: float, reach: float | None = None) -> None:
        """Forwarded to the model preconditioner's ``set_rtol`` if it has one (the
        protocol of :class:`~fvqp.solvers.NonlinearSolver`)."""
        tell = getattr(self.model_pc, "set_rtol", None)
        if tell is not None:
            tell(rtol, reach)


def shifted_newton(dist, residual: Callable, jacobian: Callable, pattern: Callable,
                   prefix: str, options: Mapping[str, object] | None,
                   config: JacobianConfig, jvp: Callable,
                   shift: Callable[[], float] | None = None) -> NonlinearSolver:
    r"""The :class:`~fvqp.solvers.NonlinearSolver` of :math:`K` (module docstring).

    Parameters
    ----------
    dist, residual, jacobian, prefix, options
        As :class:`~fvqp.solvers.NonlinearSolver` (``jacobian``: the values of :math:`K`
        on the pattern).
    pattern
        ``pattern() -> (rows, cols)``, called only if a matrix is assembled (not with a
        model preconditioner, which assembles its own).
    config
        How :math:`K` is formed.
    jvp
        ``jvp(x_local, v_local) -> (K v)_owned``, used if ``config.uses_action``.
    shift
        ``shift() -> sigma`` for the model preconditioner (None: 0, steady).
    """
    pc = config.preconditioner
    return NonlinearSolver(
        dist, residual, jacobian, None if pc is not None else pattern(), prefix, options,
        jvp=jvp if config.uses_action else None, block_size=config.block_size,
        preconditioner=None if pc is None else ShiftedPC(pc, shift),
        forcing=config.forcing)

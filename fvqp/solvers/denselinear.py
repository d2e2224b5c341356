r"""The linear solves of the mesh-less Newton (:class:`fvqp.solvers.dense.DenseNewton`):
PETSc KSP + PC on ``COMM_SELF``.

Each gives the SNES its Jacobian and configures its KSP/PC; the Newton correction is
:math:`\delta = J(x)^{-1}F(x)` (SNES ``newtonls``: :math:`x_{k+1} = x_k - \lambda\delta`).

* :class:`DenseLU` — the caller's dense Jacobian :math:`J(x)` in a PETSc dense ``Mat``,
  ``KSP preonly`` + ``PC lu`` (LAPACK ``getrf``), factored at every iterate (full Newton).
* :class:`LaggedSchur` — a Jacobian with the block structure

  .. math::
      J = \begin{pmatrix} A & B \\ C & \operatorname{diag}(d) \end{pmatrix}

  (the second block diagonal, e.g. phonons that couple to each other only through the
  first block). The physics supplies the blocks ``(A, B, C, d)`` and the exact action
  :math:`v \mapsto J(x)v`; the second block is eliminated node by node,
  :math:`S = A - BD^{-1}C` (:class:`SchurLU`), and the factorisation is *lagged*: it
  preconditions GMRES (left, in the per-entry scaled variables
  :math:`z = \delta/s`, :math:`s = \max(|x|, x_{floor})`, relative tolerance
  ``krylov_rtol``) for the exact correction, and is formed again only when GMRES needs
  more than ``refactor_after`` iterations or fails. The correction is Newton's to the
  GMRES tolerance, so the iterates are those of exact Newton; only the cost changes. With
  the physics' cheap ``diagonal(x)`` of :math:`J` (no dense block formed), GMRES is first
  preconditioned by that diagonal, formed afresh at every iterate, and the Schur LU is
  only formed (and then lagged) if GMRES fails with it: where a few tens of
  :math:`O(N\log N)` actions suffice, no :math:`O(N^2)` block and no :math:`O(N^3)` LU.

How :class:`LaggedSchur` sits in PETSc: the SNES's Jacobian is a ``MatPython`` of the
exact action :math:`J(x)v`; the SNES's KSP is ``preonly`` with a ``PCPython`` whose apply
is the correction by the rule above (like ``PCKSP``: an inner solve as the
preconditioner, with the fallbacks to the Schur LU inside). The inner solve is a KSP
``gmres`` (options prefix ``<prefix>scaled_``, restart 30, at most 60 iterations, left
preconditioning, preconditioned norm) on the scaled system: with :math:`S =
\operatorname{diag}(s)` and :math:`P` the diagonal or the Schur LU, its operator is a
``MatPython`` :math:`A_s = S^{-1}JS`, its PC a ``PCPython`` :math:`M_s^{-1} =
S^{-1}P^{-1}S` and its right-hand side :math:`b_s = S^{-1}F`, so GMRES builds
:math:`z` in :math:`K(S^{-1}P^{-1}JS,\ S^{-1}P^{-1}F)`, minimises
:math:`\|S^{-1}P^{-1}(F - JSz)\|_2` and stops when that norm is ``rtol`` times
:math:`\|S^{-1}P^{-1}F\|_2`: GMRES in the scaled variables of the stopping test, where
every occupation counts at its own scale; :math:`\delta = Sz`. The tolerance is
:math:`\min(\text{krylov\_rtol}, \max(e^2, 10^{-10}))` with :math:`e` the per-entry size of
the last correction (inexact Newton, Eisenstat & Walker 1996 choice 2, :math:`\alpha=2`); a
solve that stops at the iteration limit but below ``krylov_rtol`` counts as converged.

References: C. T. Kelley, *Solving Nonlinear Equations with Newton's Method* (SIAM 2003),
§2.3 (Newton–GMRES, inexact Newton with a lagged preconditioner); Y. Saad, *Iterative
Methods for Sparse Linear Systems*, 2nd ed., §9.3 (left-preconditioned GMRES);
S. C. Eisenstat and H. F. Walker, SIAM J. Sci. Comput. 17, 16 (1996).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

import numpy as np
import scipy.linalg as sla

from .options import apply_options, set_from_options

log = logging.getLogger(__name__)

__all__ = ["DenseLU", "LaggedSchur", "LinearSolve", "SchurLU"]


def timed(times: dict, key: str, fn: Callable, *args):
    """``fn(*args)``, its wall time added to ``times[key]``."""
    c0 = time.perf_counter()
    out = fn(*args)
    times[key] = times.get(key, 0.0) + time.perf_counter() - c0
    return out


class LinearSolve(Protocol):
    """How :class:`~fvqp.solvers.dense.DenseNewton` gets :math:`\\delta = J(x)^{-1}F`.

    ``times`` (wall seconds by part), ``factorizations``, ``krylov_iterations`` and
    ``diagonals`` are counters over the object's life; ``options`` are the defaults of
    the SNES's KSP/PC under the SNES's prefix.
    """

    times: dict
    factorizations: int
    krylov_iterations: int
    diagonals: int
    options: dict

    def setup(self, snes, size: int, prefix: str, floor: float) -> None:
        """Give ``snes`` its Jacobian (callback and ``Mat``) and its PC context."""
        ...

    def configure(self) -> None:
        """Push and read the options of inner solvers (after the SNES's
        ``setFromOptions``)."""
        ...

    def release(self) -> None:
        """Remove the options :meth:`configure` pushed."""
        ...


class SchurLU:
    r"""LU of :math:`\begin{pmatrix} A & B\\ C & \mathrm{diag}(d)\end{pmatrix}` with the
    second block eliminated per entry: :math:`S = A - BD^{-1}C`,
    :math:`x_1 = S^{-1}(r_1 - BD^{-1}r_2)`, :math:`x_2 = D^{-1}(r_2 - Cx_1)`.

    Parameters
    ----------
    a, b, c : ndarray
        Blocks :math:`A` (N x N), :math:`B` (N x M), :math:`C` (M x N).
    d : ndarray
        Diagonal of :math:`D` (M,), all non-zero.

    Examples
    --------
    >>> a, b, c, d = np.eye(2) * 3, np.ones((2, 1)), np.ones((1, 2)), np.array([-2.0])
    >>> j = np.block([[a, b], [c, d[:, None]]])
    >>> r = np.array([1.0, 2.0, 3.0])
    >>> bool(np.allclose(SchurLU(a, b, c, d).solve(r), np.linalg.solve(j, r)))
    True
    """

    def __init__(self, a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray) -> None:
        if not np.all(np.isfinite(d)) or np.any(d == 0.0):
            raise np.linalg.LinAlgError("the diagonal block of the Jacobian has a zero")
        self.b, self.c, self.d = b, c, d
        self.nq = a.shape[0]
        self.lu = sla.lu_factor(a - b @ (c / d[:, None]), check_finite=True)

    def solve(self, r: np.ndarray) -> np.ndarray:
        """:math:`J^{-1}r` for ``r = (r_1, r_2)``."""
        r1, r2 = r[: self.nq], r[self.nq:]
        w = r2 / self.d
        x1 = sla.lu_solve(self.lu, r1 - self.b @ w, check_finite=False)
        return np.concatenate((x1, w - (self.c @ x1) / self.d))


def _seq(size: int):
    from petsc4py import PETSc

    return PETSc.Vec().createSeq(size, comm=PETSc.COMM_SELF)


def _python_mat(size: int, context):
    from petsc4py import PETSc

    mat = PETSc.Mat().createPython((size, size), context, comm=PETSc.COMM_SELF)
    mat.setUp()
    return mat


class DenseLU:
    """Full Newton: the dense Jacobian ``jacobian(x)`` in a PETSc dense ``Mat``, ``KSP
    preonly`` + ``PC lu`` at every iterate (``times``: ``jacobian`` forming it,
    ``factor`` PETSc's LU factorisation and solve)."""

    options = {"ksp_type": "preonly", "pc_type": "lu"}

    def __init__(self, jacobian: Callable[[np.ndarray], np.ndarray]) -> None:
        self.jacobian = jacobian
        self.times = {"jacobian": 0.0, "factor": 0.0}
        self.factorizations = self.krylov_iterations = self.diagonals = 0
        self._clock = 0.0

    def setup(self, snes, size: int, prefix: str, floor: float) -> None:
        from petsc4py import PETSc

        mat = PETSc.Mat().createDense((size, size), comm=PETSc.COMM_SELF)
        mat.setUp()
        mat.assemble()
        snes.setJacobian(self._fill, mat)
        ksp = snes.getKSP()
        ksp.setPreSolve(self._start)
        ksp.setPostSolve(self._stop)

    def _fill(self, snes, x, J, P) -> None:
        try:
            jac = timed(self.times, "jacobian", self.jacobian,
                        x.getArray(readonly=True).copy())
        except (np.linalg.LinAlgError, ValueError, ArithmeticError) as exc:
            log.info("Jacobian failed: %s", exc)  # NaN: Newton stops, DIVERGED_LINEAR_SOLVE
            jac = np.nan
        P.getDenseArray()[...] = jac
        P.assemble()
        if J != P:
            J.assemble()
        self.factorizations += 1

    def _start(self, ksp, b, x) -> None:
        self._clock = time.perf_counter()

    def _stop(self, ksp, b, x) -> None:
        self.times["factor"] += time.perf_counter() - self._clock

    def configure(self) -> None:
        pass

    def release(self) -> None:
        pass


class _Action:
    """``MatPython`` context: ``y = J(x) v`` (the SNES's Jacobian of :class:`LaggedSchur`)."""

    def __init__(self, solve: LaggedSchur) -> None:
        self.solve = solve

    def mult(self, mat, v, y) -> None:
        y.setArray(self.solve.action_at()(v.getArray(readonly=True).copy()))


class _Correction:
    """``PCPython`` context of the SNES's ``preonly`` KSP: the correction of
    :class:`LaggedSchur` (non-finite if the linear solve failed: Newton then stops with
    ``DIVERGED_LINEAR_SOLVE``)."""

    def __init__(self, solve: LaggedSchur) -> None:
        self.solve = solve

    def apply(self, pc, b, y) -> None:
        lin = self.solve
        r = b.getArray(readonly=True).copy()
        try:
            delta = lin.correction(lin.x, r, lin.scale)
        except (np.linalg.LinAlgError, ValueError, ArithmeticError) as exc:
            log.info("linear solve failed: %s", exc)
            delta = np.full_like(r, np.nan)
        y.setArray(delta)


class _ScaledAction:
    """``MatPython`` context of the inner GMRES: :math:`A_s z = S^{-1}J(x)Sz`."""

    def __init__(self, solve: LaggedSchur) -> None:
        self.solve = solve

    def mult(self, mat, v, y) -> None:
        s = self.solve.scale
        y.setArray(self.solve.action_at()(s * v.getArray(readonly=True)) / s)


class _ScaledPC:
    """``PCPython`` context of the inner GMRES: :math:`M_s^{-1}v = S^{-1}P^{-1}Sv`."""

    def __init__(self, solve: LaggedSchur) -> None:
        self.solve = solve

    def apply(self, pc, v, y) -> None:
        s = self.solve.scale
        y.setArray(self.solve.preconditioner(s * v.getArray(readonly=True)) / s)


class LaggedSchur:
    """Schur-complement LU lagged as the GMRES preconditioner, after a diagonal level
    (module docstring).

    Parameters
    ----------
    blocks : callable
        ``blocks(x) -> (A, B, C, d)`` of the exact Jacobian at ``x``.
    action : callable
        ``action(x) -> (v -> J(x) v)``: the exact Jacobian action at ``x`` (prepared
        once per iterate, when first needed).
    krylov : bool
        False: factor at every iterate (full Newton with the Schur LU, no GMRES).
    diagonal : callable, optional
        ``diagonal(x) -> diag J(x)`` (cheap, no dense block): GMRES is first
        preconditioned by this diagonal, formed afresh at every iterate; the first time
        GMRES fails with it the Schur LU is formed and lagged from then on.
    krylov_rtol, refactor_after
        Largest GMRES tolerance (scaled 2-norm; below it the square of the last
        correction, at least 1e-10; set at every inner solve, so it replaces a
        ``-<prefix>scaled_ksp_rtol``) and the GMRES count above which the next iterate
        gets a fresh factorisation.
    """

    options = {"ksp_type": "preonly"}
    #: defaults of the inner GMRES under ``<prefix>scaled_`` (module docstring)
    KRYLOV_DEFAULTS = {"ksp_type": "gmres", "ksp_gmres_restart": 30, "ksp_max_it": 60,
                       "ksp_pc_side": "left", "ksp_norm_type": "preconditioned",
                       "ksp_atol": 0.0}

    def __init__(self, blocks: Callable, action: Callable, *, krylov: bool = True,
                 diagonal: Callable | None = None, krylov_rtol: float = 1e-4,
                 refactor_after: int = 12) -> None:
        self.blocks, self.action, self.krylov = blocks, action, krylov
        self.diagonal = diagonal
        self.krylov_rtol, self.refactor_after = krylov_rtol, refactor_after
        self.times = {"jacobian": 0.0, "factor": 0.0, "krylov": 0.0, "diagonal": 0.0}
        self.factorizations = self.krylov_iterations = self.diagonals = 0
        self._lu: SchurLU | None = None
        self._refresh = True
        self._last = np.inf  # per-entry relative size of the last correction
        self.x = self.scale = None
        self._jv: Callable | None = None
        self.preconditioner: Callable = lambda v: v
        self._ksp = None
        self.prefix = ""

    # ------------------------------------------------------------------ PETSc side
    def setup(self, snes, size: int, prefix: str, floor: float) -> None:
        from petsc4py import PETSc

        self.floor = floor
        snes.setJacobian(self._update, _python_mat(size, _Action(self)))
        pc = snes.getKSP().getPC()
        pc.setType(PETSc.PC.Type.PYTHON)
        pc.setPythonContext(_Correction(self))
        self.prefix = prefix + "scaled_"
        ksp = PETSc.KSP().create(comm=PETSc.COMM_SELF)
        ksp.setOperators(_python_mat(size, _ScaledAction(self)))
        ksp.getPC().setType(PETSc.PC.Type.PYTHON)
        ksp.getPC().setPythonContext(_ScaledPC(self))
        ksp.setOptionsPrefix(self.prefix)
        ksp.setConvergenceHistory(reset=True)
        self._ksp, self._b, self._z = ksp, _seq(size), _seq(size)

    def configure(self) -> None:
        apply_options(self.prefix, self.KRYLOV_DEFAULTS)
        set_from_options(self._ksp, self.prefix)  # last: the command line wins

    def release(self) -> None:
        apply_options(self.prefix, None)

    def _update(self, snes, x, J, P) -> None:
        """SNES Jacobian callback: the iterate (the action is prepared when needed)."""
        self.x = x.getArray(readonly=True).copy()
        self.scale = np.maximum(np.abs(self.x), self.floor)
        self._jv = None
        J.assemble()  # a new operator state: the KSP sets its PC up again

    def action_at(self) -> Callable[[np.ndarray], np.ndarray]:
        """The exact action at the current iterate."""
        if self._jv is None:
            self._jv = self.action(self.x)
        return self._jv

    # ----------------------------------------------------------------- the rule
    def _factor(self, x: np.ndarray) -> SchurLU:
        blocks = timed(self.times, "jacobian", self.blocks, x)
        self._lu = timed(self.times, "factor", SchurLU, *blocks)
        self.factorizations += 1
        self._refresh = False
        return self._lu

    def _gmres(self, r: np.ndarray, pc: Callable[[np.ndarray], np.ndarray]
               ) -> tuple[np.ndarray, bool, int]:
        """Inner KSP on the scaled system: ``(z, converged, iterations)``."""
        from petsc4py import PETSc

        ksp = self._ksp
        self.preconditioner = pc
        ksp.getOperators()[0].assemble()  # new state: the PC context is set up again
        ksp.setTolerances(rtol=min(self.krylov_rtol, max(self._last**2, 1e-10)))
        self._b.setArray(r / self.scale)
        ksp.solve(self._b, self._z)
        count = int(ksp.getIterationNumber())
        self.krylov_iterations += count
        reason = int(ksp.getConvergedReason())
        hist = ksp.getConvergenceHistory()
        ok = reason > 0 or (reason == PETSc.KSP.ConvergedReason.DIVERGED_MAX_IT
                            and hist.size > 0 and hist[-1] <= self.krylov_rtol * hist[0])
        return self._z.getArray(readonly=True).copy(), ok, count

    def _diagonal_level(self, x: np.ndarray, r: np.ndarray) -> np.ndarray | None:
        """The correction with the diagonal preconditioner, or None if GMRES failed."""
        dg = timed(self.times, "diagonal", self.diagonal, x)
        self.diagonals += 1
        if not (np.all(np.isfinite(dg)) and np.all(dg != 0.0)):
            return None
        z, ok, count = timed(self.times, "krylov", self._gmres, r, lambda v: v / dg)
        if not ok or not np.all(np.isfinite(z)):
            log.info("diagonal preconditioner: GMRES not converged in %d iterations; "
                     "the Schur LU from here on", count)
            return None
        return self.scale * z

    def correction(self, x: np.ndarray, r: np.ndarray, scale: np.ndarray) -> np.ndarray:
        """:math:`J(x)^{-1}r` by the rule of the module docstring (``scale`` is the
        iterate's, set by the SNES's Jacobian callback)."""
        delta = self._correction(x, r)
        self._last = float(np.max(np.abs(delta) / scale))
        return delta

    def _correction(self, x: np.ndarray, r: np.ndarray) -> np.ndarray:
        if not self.krylov:
            return self._factor(x).solve(r)
        if self.diagonal is not None and self._lu is None:
            delta = self._diagonal_level(x, r)
            if delta is not None:
                return delta
        if self._refresh:
            return self._factor(x).solve(r)
        z, ok, count = timed(self.times, "krylov", self._gmres, r, self._lu.solve)
        if not ok or not np.all(np.isfinite(z)):
            return self._factor(x).solve(r)
        self._refresh = count > self.refactor_after
        return self.scale * z

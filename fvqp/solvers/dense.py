r"""Newton for small dense systems with a per-entry stopping test and a pluggable linear solve.

Mesh-less models (the 0D kinetics) have a few thousand unknowns coupled all-to-all. This
module is their one Newton loop (numpy/scipy, no PETSc): the physics hands over the
residual :math:`F(x)`, its domain, and *how the Newton correction is computed* — one of
the linear solves below — and the loop iterates

.. math::
    \delta_k = J(x_k)^{-1}F(x_k),\qquad
    e_k = \max_i \frac{|\delta_{k,i}|}{\max(|x_{k,i}|, x_{floor})},\qquad
    x_{k+1} = x_k - \lambda_k\delta_k,

stopping when the caller's test ``accepted(e_k, [e_0 .. e_k])`` holds (the iterate whose
correction passed is returned with the correction, not applied: the caller decides).
The per-entry relative correction is Newton's error estimate at every scale (occupations
spanning many decades, where norms of the whole state are dominated by the largest
entries). Globalisation: :math:`\lambda_k = 1, 1/2, \dots` until ``in_domain`` holds and
the residual is finite — no residual-norm test (a norm dominated by the fast components
would stall the slow ones).

Linear solves (the pluggable piece):

* :class:`DenseLU` — the caller's dense Jacobian :math:`J(x)`, factored at every iterate
  (full Newton).
* :class:`LaggedSchur` — a Jacobian with the block structure

  .. math::
      J = \begin{pmatrix} A & B \\ C & \operatorname{diag}(d) \end{pmatrix}

  (the second block diagonal, e.g. phonons that couple to each other only through the
  first block). The physics supplies the blocks ``(A, B, C, d)`` and the exact action
  :math:`v \mapsto J(x)v`; the second block is eliminated node by node,
  :math:`S = A - BD^{-1}C` (:class:`SchurLU`), and the factorisation is *lagged*: it
  preconditions GMRES (left, in the per-entry scaled variables
  :math:`z = \delta/\max(|x|, x_{floor})`, relative tolerance ``krylov_rtol``) for the
  exact correction, and is formed again only when GMRES needs more than
  ``refactor_after`` iterations or fails. The correction is Newton's to the GMRES
  tolerance, so the iterates are those of exact Newton; only the cost changes. With the
  physics' cheap ``diagonal(x)`` of :math:`J` (no dense block formed), GMRES is first
  preconditioned by that diagonal, formed afresh at every iterate, and the Schur LU is
  only formed (and then lagged) if GMRES fails with it: where a few tens of
  :math:`O(N\log N)` actions suffice, no :math:`O(N^2)` block and no :math:`O(N^3)` LU.

References: C. T. Kelley, *Solving Nonlinear Equations with Newton's Method* (SIAM 2003),
§2.3 (Newton–GMRES, inexact Newton with a lagged preconditioner) and §1.6 (the
Armijo-free damped step); Y. Saad, *Iterative Methods for Sparse Linear Systems*, 2nd ed.,
§9.3 (left-preconditioned GMRES).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import scipy.linalg as sla
from scipy.sparse.linalg import LinearOperator, gmres

from .linear import option_value
from .options import normalise_prefix
from .result import ConvergenceError

log = logging.getLogger(__name__)

__all__ = ["DenseLU", "LaggedSchur", "LinearSolve", "NewtonResult", "SchurLU", "max_iterations",
           "newton"]


class LinearSolve(Protocol):
    """How :func:`newton` gets the correction :math:`\\delta = J(x)^{-1}r`.

    ``times`` (wall seconds by part), ``factorizations`` and ``krylov_iterations`` are
    counters over the whole solve.
    """

    times: dict
    factorizations: int
    krylov_iterations: int

    def correction(self, x: np.ndarray, r: np.ndarray, scale: np.ndarray) -> np.ndarray:
        """:math:`J(x)^{-1}r`; ``scale`` is the per-entry scale of the stopping test."""
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


def max_iterations(prefix: str, options: Mapping[str, object] | None, default: int = 50
                   ) -> int:
    """Newton's iteration limit: ``-<prefix>snes_max_it`` from the command line, else
    ``options["snes_max_it"]``, else ``default`` (the option name of PETSc's SNES, so
    case files and command lines keep working)."""
    return int(option_value(normalise_prefix(prefix) + "snes_max_it",
                            int((options or {}).get("snes_max_it", default))))


def _timed(times: dict, key: str, fn: Callable, *args):
    c0 = time.perf_counter()
    out = fn(*args)
    times[key] = times.get(key, 0.0) + time.perf_counter() - c0
    return out


class DenseLU:
    """Full Newton: the dense Jacobian ``jacobian(x)`` factored (LU) at every iterate."""

    def __init__(self, jacobian: Callable[[np.ndarray], np.ndarray]) -> None:
        self.jacobian = jacobian
        self.times = {"jacobian": 0.0, "factor": 0.0}
        self.factorizations = self.krylov_iterations = 0

    def correction(self, x: np.ndarray, r: np.ndarray, scale: np.ndarray) -> np.ndarray:
        jac = _timed(self.times, "jacobian", self.jacobian, x)
        lu = _timed(self.times, "factor", sla.lu_factor, jac)
        self.factorizations += 1
        return sla.lu_solve(lu, r, check_finite=False)


class LaggedSchur:
    """Schur-complement LU lagged as the GMRES preconditioner, after a diagonal level
    (module docstring).

    Parameters
    ----------
    blocks : callable
        ``blocks(x) -> (A, B, C, d)`` of the exact Jacobian at ``x``.
    action : callable
        ``action(x) -> (v -> J(x) v)``: the exact Jacobian action at ``x`` (prepared
        once per iterate).
    krylov : bool
        False: factor at every iterate (full Newton with the Schur LU, no GMRES).
    diagonal : callable, optional
        ``diagonal(x) -> diag J(x)`` (cheap, no dense block): GMRES is first
        preconditioned by this diagonal, formed afresh at every iterate; the first time
        GMRES fails with it (``maxiter`` restarts) the Schur LU is formed and lagged from
        then on.
    krylov_rtol, refactor_after
        Largest GMRES tolerance (scaled 2-norm; below it the square of the last
        correction, at least 1e-10) and the GMRES count above which the next iterate
        gets a fresh factorisation.
    """

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

    def _factor(self, x: np.ndarray) -> SchurLU:
        blocks = _timed(self.times, "jacobian", self.blocks, x)
        self._lu = _timed(self.times, "factor", SchurLU, *blocks)
        self.factorizations += 1
        self._refresh = False
        return self._lu

    def _gmres(self, x: np.ndarray, r: np.ndarray, scale: np.ndarray,
               pc: Callable[[np.ndarray], np.ndarray]) -> tuple[np.ndarray, int, int]:
        jv = self.action(x)
        op = LinearOperator((x.size,) * 2, dtype=float,
                            matvec=lambda z: pc(jv(scale * np.ravel(z))) / scale)
        count, last = [0], [np.inf]

        def tick(res: float) -> None:
            count[0] += 1
            last[0] = float(res)

        # inexact Newton (Eisenstat & Walker 1996, choice 2 with alpha = 2): the GMRES
        # tolerance follows the square of the last correction, so the iterates keep
        # Newton's quadratic convergence down to the accepted correction; a solve that
        # stops above it but at krylov_rtol counts as converged (the tolerance before)
        rtol = min(self.krylov_rtol, max(self._last**2, 1e-10))
        z, info = gmres(op, pc(r) / scale, rtol=rtol, atol=0.0,
                        restart=30, maxiter=2, callback=tick, callback_type="pr_norm")
        self.krylov_iterations += count[0]
        if info > 0 and last[0] <= self.krylov_rtol:
            info = 0
        return z, int(info), count[0]

    def _diagonal_level(self, x: np.ndarray, r: np.ndarray, scale: np.ndarray
                        ) -> np.ndarray | None:
        """The correction with the diagonal preconditioner, or None if GMRES failed."""
        dg = _timed(self.times, "diagonal", self.diagonal, x)
        self.diagonals += 1
        if not (np.all(np.isfinite(dg)) and np.all(dg != 0.0)):
            return None
        z, info, count = _timed(self.times, "krylov", self._gmres, x, r, scale,
                                lambda v: v / dg)
        if info != 0 or not np.all(np.isfinite(z)):
            log.info("diagonal preconditioner: GMRES not converged in %d iterations; "
                     "the Schur LU from here on", count)
            return None
        return scale * z

    def correction(self, x: np.ndarray, r: np.ndarray, scale: np.ndarray) -> np.ndarray:
        delta = self._correction(x, r, scale)
        self._last = float(np.max(np.abs(delta) / scale))
        return delta

    def _correction(self, x: np.ndarray, r: np.ndarray, scale: np.ndarray) -> np.ndarray:
        if not self.krylov:
            return self._factor(x).solve(r)
        if self.diagonal is not None and self._lu is None:
            delta = self._diagonal_level(x, r, scale)
            if delta is not None:
                return delta
        if self._refresh:
            return self._factor(x).solve(r)
        z, info, count = _timed(self.times, "krylov", self._gmres, x, r, scale,
                                self._lu.solve)
        if info != 0 or not np.all(np.isfinite(z)):
            return self._factor(x).solve(r)
        self._refresh = count > self.refactor_after
        return scale * z


@dataclass
class NewtonResult:
    """Outcome of :func:`newton`.

    Attributes
    ----------
    iterations : int
        Newton corrections evaluated (on success the last one is the accepted one).
    factorizations, krylov_iterations : int
        Of the linear solve.
    diagonals : int
        Diagonal preconditioners formed (:class:`LaggedSchur` with ``diagonal``).
    error : float
        Per-entry relative correction of the last iterate.
    correction : ndarray
        The accepted correction (not applied); on failure the last one evaluated (zeros
        if none).
    residual_norm : float
    reason : str
        ``"CONVERGED_USER"``, or why it stopped: ``"DIVERGED_MAX_IT"``,
        ``"DIVERGED_LINE_SEARCH"`` (no step in the domain with a finite residual),
        ``"DIVERGED_FNORM_NAN"``, ``"DIVERGED_LINEAR_SOLVE"``.
    history : list of float
        The per-entry correction of every iterate.
    times : dict
        Wall time split (s): the linear solve's parts and ``residual``.
    x : ndarray
        The iterate ``correction`` belongs to (on success the returned one).
    """

    iterations: int
    factorizations: int
    krylov_iterations: int
    error: float
    correction: np.ndarray = field(repr=False)
    residual_norm: float
    reason: str = "CONVERGED_USER"
    history: list = field(default_factory=list)
    times: dict = field(default_factory=dict)
    x: np.ndarray | None = field(default=None, repr=False)
    diagonals: int = 0

    @property
    def success(self) -> bool:
        return self.reason == "CONVERGED_USER"


def newton(residual: Callable[[np.ndarray], np.ndarray], x0: np.ndarray,
           linear: LinearSolve, *, accepted: Callable[[float, list], bool],
           floor: float, in_domain: Callable[[np.ndarray], bool] = lambda x: True,
           max_iterations: int = 50, max_halvings: int = 30
           ) -> tuple[np.ndarray, NewtonResult]:
    r"""Damped Newton with the per-entry stopping test (module docstring).

    Parameters
    ----------
    residual : callable
        ``residual(x) -> F(x)``; may raise ``ArithmeticError`` (outside its domain).
    x0 : ndarray
        Start, in the domain.
    linear : LinearSolve
        :class:`DenseLU`, :class:`LaggedSchur` or another :class:`LinearSolve`.
    accepted : callable
        ``accepted(error, history) -> bool`` on the per-entry relative correction.
    floor : float
        Entries below it are measured against it: scale :math:`\max(|x_i|, floor)`.
    in_domain : callable
        ``in_domain(x) -> bool``: the damped step is halved until it holds.
    max_iterations, max_halvings
        Newton and step-halving limits.

    Returns
    -------
    (ndarray, NewtonResult)
        The iterate whose correction passed ``accepted`` (correction not applied).

    Raises
    ------
    ConvergenceError
        With ``.result`` a :class:`NewtonResult` whose ``reason`` says why.

    Examples
    --------
    Two unknowns twelve decades apart, each converged at its own scale:

    >>> c = np.array([4.0, 1e-24])
    >>> x, res = newton(lambda x: x**2 - c, np.array([3.0, 1e-11]),
    ...                 DenseLU(lambda x: np.diag(2 * x)), floor=1e-30,
    ...                 accepted=lambda err, hist: err < 1e-10)
    >>> bool(np.allclose(x - res.correction, [2.0, 1e-12], rtol=1e-12, atol=0))
    True
    """
    x = np.asarray(x0, dtype=float).copy()
    times = linear.times
    times.setdefault("residual", 0.0)
    hist: list[float] = []

    def resid(v: np.ndarray) -> np.ndarray | None:
        try:
            r = _timed(times, "residual", residual, v)
        except ArithmeticError:
            return None
        return r if np.all(np.isfinite(r)) else None

    def result(reason: str, err: float, delta: np.ndarray, r: np.ndarray | None
               ) -> NewtonResult:
        return NewtonResult(len(hist), linear.factorizations, linear.krylov_iterations, err,
                            delta, float(np.linalg.norm(r)) if r is not None else np.inf,
                            reason, hist, dict(times), x_delta,
                            getattr(linear, "diagonals", 0))

    r = resid(x)
    delta, x_delta = np.zeros_like(x), x
    reason = "DIVERGED_FNORM_NAN" if r is None else "DIVERGED_MAX_IT"
    while r is not None and len(hist) < max_iterations:
        scale = np.maximum(np.abs(x), floor)
        try:
            delta, x_delta = linear.correction(x, r, scale), x
        except (np.linalg.LinAlgError, ValueError, ArithmeticError):
            reason = "DIVERGED_LINEAR_SOLVE"
            break
        err = float(np.max(np.abs(delta) / scale))
        if not np.isfinite(err):
            reason = "DIVERGED_LINEAR_SOLVE"
            break
        hist.append(err)
        if accepted(err, hist):
            return x, result("CONVERGED_USER", err, delta, r)
        lam, rt = 1.0, None
        for _ in range(max_halvings):
            trial = x - lam * delta
            if in_domain(trial) and (rt := resid(trial)) is not None:
                break
            lam *= 0.5
        else:
            reason = "DIVERGED_LINE_SEARCH"
            break
        log.debug("Newton %d: correction %.3e, step %.3g, |F| %.3e -> %.3e", len(hist), err,
                  lam, float(np.linalg.norm(r)), float(np.linalg.norm(rt)))
        x, r = trial, rt
    if len(hist) < 1 or not np.all(np.isfinite(delta)):
        delta = np.zeros_like(x)
    res = result(reason, hist[-1] if hist else np.inf, delta, r)
    raise ConvergenceError(
        f"Newton stopped with {reason} after {len(hist)} iterations (limit "
        f"{max_iterations}; per-entry corrections "
        f"{', '.join(f'{e:.1e}' for e in hist[-5:]) or 'none'})", res)

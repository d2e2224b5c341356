r"""Newton for mesh-less systems on PETSc: SNES with a per-entry stopping test, the step
halved into the domain, and a pluggable linear solve (``COMM_SELF``).

Mesh-less models (the 0D kinetics) have a few thousand unknowns coupled all-to-all.
:class:`DenseNewton` is their one Newton solver: a PETSc SNES (``newtonls``) to which the
physics hands the residual :math:`F(x)`, its domain, and *how the Newton correction is
computed* — a linear solve of :mod:`fvqp.solvers.denselinear` (:class:`DenseLU`:
``KSP preonly`` + ``PC lu`` on a dense ``Mat``; :class:`LaggedSchur`: GMRES on the exact
action in per-entry scaled variables, preconditioned by the exact diagonal or a lagged
Schur LU) — and SNES iterates

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

How this sits in SNES (options under the prefix, e.g. ``kinetics0d_snes_``):

* the step rule is the line search's *pre-check* (``SNESLineSearchSetPreCheck``) of the
  ``basic`` (full-step) line search: it sees :math:`\delta_k` right after the linear
  solve, evaluates :math:`e_k` and the caller's test, and halves the step until the
  trial state is in the domain with a finite residual (the residual computed there is
  cached, so the line search's own evaluation at the same state costs nothing); an
  accepted correction (or a failure) sets the step to zero, so the SNES solution stays
  the iterate the correction belongs to;
* the decision is returned through SNES's convergence-test hook
  (``SNESSetConvergenceTest``): ``CONVERGED_USER`` when the test passed,
  ``DIVERGED_LINE_SEARCH`` when no step :math:`2^{-j}`, :math:`j <` ``max_halvings``,
  stayed in the domain, ``DIVERGED_LINEAR_SOLVE`` for a non-finite correction; SNES
  itself stops at ``snes_max_it`` (``DIVERGED_MAX_IT``), on a non-finite residual at the
  start (``DIVERGED_FUNCTION_NANORINF``) and on a failed KSP;
* options: :data:`DENSE_NEWTON_DEFAULTS` and the linear solve's KSP/PC defaults, merged
  with the caller's ``options``, are pushed under the prefix at every solve
  (:func:`~fvqp.solvers.options.apply_options`: the command line wins),
  ``setFromOptions`` is called last, and the pushed options are removed when the solve
  ends (``-<prefix>snes_monitor``, ``-<prefix>snes_max_it 5``,
  ``-<prefix>scaled_ksp_monitor`` on the command line act on the solve).

References: C. T. Kelley, *Solving Nonlinear Equations with Newton's Method* (SIAM 2003),
§1.6 (the Armijo-free damped step) and §2.3 (Newton–GMRES); PETSc manual, SNES
(``SNESLineSearchSetPreCheck``, ``SNESSetConvergenceTest``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from .denselinear import DenseLU, LaggedSchur, LinearSolve, SchurLU, timed
from .options import apply_options, normalise_prefix, set_from_options
from .result import ConvergenceError

log = logging.getLogger(__name__)

__all__ = ["DENSE_NEWTON_DEFAULTS", "DenseLU", "DenseNewton", "LaggedSchur", "LinearSolve",
           "NewtonResult", "SchurLU"]

#: SNES defaults of :class:`DenseNewton` (the caller's options and the command line win)
DENSE_NEWTON_DEFAULTS: dict[str, object] = {
    "snes_type": "newtonls",
    "snes_linesearch_type": "basic",
    "snes_max_it": 50,
}

#: what to do about each way Newton can stop without the caller's test
_FIXES = {
    "DIVERGED_MAX_IT": "allow more iterations (-{p}snes_max_it, or snes_max_it in the "
                       "options) or start closer to the solution",
    "DIVERGED_LINE_SEARCH": "no step 2^-j (j < {h}) keeps the state in the domain with a "
                            "finite residual: start closer to the solution (e.g. after a "
                            "short time integration)",
    "DIVERGED_LINEAR_SOLVE": "the Jacobian is singular or the linear solve failed at the "
                             "iterate: start elsewhere, or look at it with "
                             "-{p}ksp_converged_reason -{p}ksp_view",
    "DIVERGED_FUNCTION_NANORINF": "the residual is not finite at the start: start inside "
                                  "the domain",
}


@dataclass
class NewtonResult:
    """Outcome of :meth:`DenseNewton.solve`.

    Attributes
    ----------
    iterations : int
        Newton corrections evaluated (on success the last one is the accepted one).
    factorizations, krylov_iterations : int
        Of the linear solve.
    error : float
        Per-entry relative correction of the last iterate.
    correction : ndarray
        The accepted correction (not applied); on failure the last finite one evaluated
        (zeros if none).
    residual_norm : float
        :math:`\\|F\\|_2` at the SNES's solution (on success the returned iterate).
    reason : str
        ``"CONVERGED_USER"``, or PETSc's name of why SNES stopped: ``"DIVERGED_MAX_IT"``,
        ``"DIVERGED_LINE_SEARCH"`` (no step in the domain with a finite residual),
        ``"DIVERGED_FUNCTION_NANORINF"``, ``"DIVERGED_LINEAR_SOLVE"``.
    history : list of float
        The per-entry correction of every iterate.
    times : dict
        Wall time split (s): the linear solve's parts and ``residual``.
    x : ndarray
        The iterate ``correction`` belongs to (on success the returned one).
    diagonals : int
        Diagonal preconditioners formed (:class:`LaggedSchur` with ``diagonal``).
    max_iterations : int
        SNES's iteration limit of the solve (``snes_max_it``, the command line's if
        given).
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
    max_iterations: int = 0

    @property
    def success(self) -> bool:
        return self.reason == "CONVERGED_USER"


class DenseNewton:
    r"""Damped Newton on PETSc SNES with the per-entry stopping test (module docstring).

    Parameters
    ----------
    size : int
        Number of unknowns.
    residual : callable
        ``residual(x) -> F(x)``; may raise ``ArithmeticError`` (outside its domain).
    linear : LinearSolve
        :class:`DenseLU`, :class:`LaggedSchur` or another
        :class:`~fvqp.solvers.denselinear.LinearSolve` (one per solver: it keeps the
        lagged factorisation and the counters).
    accepted : callable
        ``accepted(error, history) -> bool`` on the per-entry relative correction.
    floor : float
        Entries below it are measured against it: scale :math:`\max(|x_i|, floor)`.
    in_domain : callable
        ``in_domain(x) -> bool``: the damped step is halved until it holds.
    prefix : str
        PETSc options prefix (``"kinetics0d_snes_"``).
    options : mapping, optional
        PETSc options under the prefix, merged over :data:`DENSE_NEWTON_DEFAULTS` and the
        linear solve's defaults (``snes_max_it`` bounds the Newton corrections).
    max_halvings : int
        Step-halving limit.

    Examples
    --------
    Two unknowns twelve decades apart, each converged at its own scale:

    >>> from fvqp.solvers import options_session
    >>> c = np.array([4.0, 1e-24])
    >>> with options_session():
    ...     newton = DenseNewton(2, lambda x: x**2 - c, DenseLU(lambda x: np.diag(2 * x)),
    ...                          floor=1e-30, accepted=lambda err, hist: err < 1e-10,
    ...                          prefix="doc_dense_")
    ...     x, res = newton.solve(np.array([3.0, 1e-11]))
    >>> bool(np.allclose(x - res.correction, [2.0, 1e-12], rtol=1e-12, atol=0))
    True
    >>> res.reason, res.iterations
    ('CONVERGED_USER', 8)
    """

    def __init__(self, size: int, residual: Callable[[np.ndarray], np.ndarray],
                 linear: LinearSolve, *, accepted: Callable[[float, list], bool],
                 floor: float, in_domain: Callable[[np.ndarray], bool] = lambda x: True,
                 prefix: str = "fvqp_dense_snes_", options: Mapping[str, object] | None = None,
                 max_halvings: int = 30) -> None:
        from petsc4py import PETSc

        self.size = int(size)
        self.prefix = normalise_prefix(prefix)
        self.residual, self.linear = residual, linear
        self.accepted, self.floor, self.in_domain = accepted, floor, in_domain
        self.options = dict(options or {})
        self.max_halvings = max_halvings
        self.times = linear.times
        self.times.setdefault("residual", 0.0)
        self.snes = PETSc.SNES().create(comm=PETSc.COMM_SELF)
        self.snes.setOptionsPrefix(self.prefix)
        self.snes.setFunction(self._function, PETSc.Vec().createSeq(self.size,
                                                                    comm=PETSc.COMM_SELF))
        linear.setup(self.snes, self.size, self.prefix, floor)
        self._cache: tuple[np.ndarray, np.ndarray] | None = None
        self._reset()

    def _reset(self) -> None:
        self.history: list[float] = []
        self._stop: str | None = None
        self._x_delta: np.ndarray | None = None
        self._delta: np.ndarray | None = None
        self._cache = None

    # ----------------------------------------------------------- PETSc callbacks
    def _evaluate(self, x: np.ndarray) -> np.ndarray | None:
        """F(x), or None outside the domain of the residual (cached)."""
        try:
            r = timed(self.times, "residual", self.residual, x)
        except ArithmeticError:
            return None
        if not np.all(np.isfinite(r)):
            return None
        self._cache = (x, r)
        return r

    def _function(self, snes, X, F) -> None:
        x = X.getArray(readonly=True)
        if self._cache is not None and np.array_equal(x, self._cache[0]):
            F.setArray(self._cache[1])
            return
        r = self._evaluate(x.copy())
        F.setArray(np.full(self.size, np.nan) if r is None else r)

    def _precheck(self, X, Y) -> bool:
        """The step rule (module docstring); True if the step was changed."""
        x = X.getArray(readonly=True).copy()
        delta = Y.getArray(readonly=True).copy()
        err = float(np.max(np.abs(delta) / np.maximum(np.abs(x), self.floor)))
        if not math.isfinite(err):
            self._stop = "DIVERGED_LINEAR_SOLVE"
            Y.zeroEntries()
            return True
        self._x_delta, self._delta = x, delta
        self.history.append(err)
        if self.accepted(err, self.history):
            self._stop = "CONVERGED_USER"
            Y.zeroEntries()
            return True
        lam = 1.0
        for _ in range(self.max_halvings):
            trial = x - lam * delta
            if self.in_domain(trial) and self._evaluate(trial) is not None:
                break
            lam *= 0.5
        else:
            self._stop = "DIVERGED_LINE_SEARCH"
            Y.zeroEntries()
            return True
        log.debug("Newton %d: correction %.3e, step %.3g", len(self.history), err, lam)
        if lam == 1.0:
            return False
        Y.setArray(lam * delta)  # the line search takes X - Y: the state just evaluated
        return True

    def _converged(self, snes, it: int, norms) -> int:
        from petsc4py import PETSc

        if self._stop is None:
            return int(PETSc.SNES.ConvergedReason.ITERATING)
        return int(getattr(PETSc.SNES.ConvergedReason, self._stop))

    # ---------------------------------------------------------------- public API
    def solve(self, x0: np.ndarray) -> tuple[np.ndarray, NewtonResult]:
        """Newton from ``x0`` (in the domain).

        Returns
        -------
        (ndarray, NewtonResult)
            The iterate whose correction passed ``accepted`` (correction not applied).

        Raises
        ------
        ConvergenceError
            With ``.result`` a :class:`NewtonResult` whose ``reason`` says why, and the
            fix in the message.
        """
        from petsc4py import PETSc

        self._reset()
        lin = self.linear
        x = PETSc.Vec().createSeq(self.size, comm=PETSc.COMM_SELF)
        x.setArray(np.asarray(x0, dtype=float))
        try:
            apply_options(self.prefix, {**DENSE_NEWTON_DEFAULTS, **lin.options,
                                        **self.options})
            set_from_options(self.snes, self.prefix)  # last: the command line wins
            lin.configure()
            self.snes.setLineSearchPreCheck(self._precheck)
            self.snes.setConvergenceTest(self._converged)
            try:
                self.snes.solve(None, x)
                code = int(self.snes.getConvergedReason())
            except PETSc.Error as exc:
                if exc.__cause__ is not None:  # raised in a callback: the caller's error
                    raise exc.__cause__ from None
                code = int(PETSc.SNES.ConvergedReason.DIVERGED_LINEAR_SOLVE)  # e.g. LU
            max_it = int(self.snes.getTolerances()[3])
        finally:
            apply_options(self.prefix, None)  # removed after use
            lin.release()
        names = {v: k for k, v in PETSc.SNES.ConvergedReason.__dict__.items()
                 if isinstance(v, int) and not k.startswith("CONVERGED_ITERATING")}
        reason = self._stop if self._stop is not None and code == getattr(
            PETSc.SNES.ConvergedReason, self._stop) else names.get(code, str(code))
        hist = self.history
        delta = self._delta if self._delta is not None else np.zeros(self.size)
        res = NewtonResult(len(hist), lin.factorizations, lin.krylov_iterations,
                           hist[-1] if hist else math.inf, delta,
                           float(self.snes.getFunctionNorm()), reason, list(hist),
                           dict(self.times), self._x_delta, lin.diagonals, max_it)
        if res.success:
            return x.getArray().copy(), res
        fix = _FIXES.get(reason, "-{p}snes_monitor -{p}snes_converged_reason show the "
                                 "iterations").format(p=self.prefix, h=self.max_halvings)
        raise ConvergenceError(
            f"Newton (SNES, prefix {self.prefix!r}) stopped with {reason} after {len(hist)} "
            f"iterations without meeting the per-entry test (limit {max_it}; per-entry "
            f"corrections {', '.join(f'{e:.1e}' for e in hist[-5:]) or 'none'}). Fix: "
            f"{fix}.", res)

r"""Steady states (Newton), time evolution (implicit BDF) and the time-relaxation scheme.

Time relaxation (Pareschi & Russo; notes Eqs. 46-51)
---------------------------------------------------
With :math:`\dot y = G(y) - L(y)` (:meth:`Kinetics0D.terms`) and
:math:`\mu \ge \max_i L_i/y_i`, :math:`P(y) = G - L + \mu y \ge 0` (Eq. 48). The change of
variables :math:`\tau = 1 - e^{-\mu\Delta t}`, :math:`F = y e^{\mu t}` (Eq. 47) and the
power series :math:`F = \sum\tau^k F_k` (Eq. 49) give

.. math::
    F_0 = y^n,\quad F_1 = P(F_0)/\mu,\quad
    F_2 = F_1 + \frac{1}{2\mu}\,\frac{\partial P}{\partial y}\Big|_{F_0}(F_1 - F_0),

where :math:`F_2` is the Taylor coefficient of the exact solution for a general (not
bilinear) :math:`P`; for a symmetric bilinear :math:`P` it reduces to Eq. 50,
:math:`F_2 = P(F_0, F_1)/\mu`. Steps (Eq. 51 with the Pareschi-Russo weights that sum
to one):

* first order: :math:`y^{n+1} = (1 - \tau)F_0 + \tau F_1`, i.e.
  :math:`y^{n+1} = y^n + \tau\,(G - L)/\mu`: positive for any :math:`\Delta t`, and
  with a scalar :math:`\mu` every linear invariant (the energy) is conserved exactly;
* second order: :math:`y^{n+1} = (1-\tau)F_0 + \tau(1-\tau)F_1 + \tau^2F_2`.
  Positivity holds whenever :math:`F_2 \ge 0`; where :math:`F_2 < 0` the step falls back
  to the first-order update for that component (counted in ``limited``).

``mu = "global"`` uses one :math:`\mu` (the notes); ``"local"`` one per unknown
(:math:`\mu_i = L_i/y_i`, an exponential-integrator-like variant that is also positive and
first/second order, but conserves energy only in the limit :math:`\Delta t\to 0`).

Convergence of steady states (every block at its own scale)
-----------------------------------------------------------
PETSc's default tests look at norms of the whole state: the absolute residual test at
the size of the gain/loss vector, which the fast, highly occupied low-energy phonons
dominate, and the step test relative to :math:`\|y\|`, which :math:`n(\Omega \to 0)
\sim T/\Omega` dominates. At low temperature the QP occupations near the gap are
:math:`\sim e^{-\Delta/T} \approx 10^{-9}` and relax on the slow recombination scale, so
both tests can stop Newton while ``f`` is still wrong by orders of magnitude (Al at
0.1 K started from QPs at 141 mK: ``CONVERGED_SNORM_RELATIVE`` with
:math:`f/f_{FD} = 33`, issue 19). :func:`steady_state` therefore replaces them by a
per-entry test: with the full Newton correction
:math:`\delta = J(y)^{-1}\dot y(y)` (the error estimate of Newton's method, which sees
the slow collective modes such as the QP number, unlike a residual scaled entry by
entry),

.. math::
    \max_i \frac{|\delta_i|}{\max(|y_i|, y_{floor})} \le \text{block\_rtol}

over the QP *and* the phonon entries (default ``block_rtol = 1e-6``, ``y_floor = 1e-12``:
occupations below the floor are only required to be right to ``1e-18`` absolute).
A correction above ``block_rtol`` but below :data:`STALL_RTOL` (1e-4) that has stopped
decreasing (not halved over the last two evaluations) is the round-off of the operator
(FFT outputs are accurate relative to their largest entry, so occupations of 1e-12 carry
relative errors of 1e-6 and more) and is accepted with a logged warning and the message
saying so.
The correction is evaluated (dense LU) at the initial guess and whenever the last
Newton step changed no entry by more than ``1e-3`` of itself; once accepted it is
applied (one more full Newton step, so the returned state is accurate to about the
square of the accepted correction, or round-off). A run that stops without
meeting it (``snes_max_it``, line-search failure) raises
:class:`~fvqp.solvers.ConvergenceError` naming the worst entry (block, energy, relative
correction) and the fixes. The default ``block_rtol`` sits above the round-off of the
FFT operator (``~5e-7`` relative for ``f ~ 1e-9``; ``1e-11`` with ``method="direct"``).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from ...solvers.result import ConvergenceError, SolveResult
from ...solvers.ts import DenseNewton, DenseTimeStepper
from .guess import quasi_thermal_guess
from .model import Kinetics0D

log = logging.getLogger(__name__)

__all__ = [
    "BLOCK_RTOL",
    "OCCUPATION_FLOOR",
    "BlockConvergence",
    "RelaxationResult",
    "SteadyStateResult",
    "block_convergence",
    "evolve",
    "relax",
    "relaxation_step",
    "steady_state",
]


#: occupations below -_NEG_TOL (or f above 1 + _NEG_TOL) are outside Newton's domain
_NEG_TOL = 1e-10


#: default per-entry tolerance of :func:`steady_state` (module docstring)
BLOCK_RTOL = 1e-6
#: occupations below this are measured against it (module docstring)
OCCUPATION_FLOOR = 1e-12
#: the Newton correction is evaluated once the last step changed no entry by more
#: than this fraction of itself (or of the floor)
_TRIGGER = 1e-3
#: round-off floor: a correction between block_rtol and this that no longer decreases
#: (by 2x over two evaluations) is round-off of the operator and accepted (module docstring)
STALL_RTOL = 1e-4


@dataclass
class BlockConvergence:
    r"""Per-entry convergence measure of a steady state (module docstring).

    Attributes
    ----------
    error : float
        :math:`\max_i |\delta_i|/\max(|y_i|, y_{floor})` of the full Newton correction.
    block : str
        ``"qp"`` or ``"phonon"``: where the maximum is.
    index : int
        Entry of that block.
    energy : float
        Its energy :math:`E_i` or :math:`\Omega_k` (kTc).
    value : float
        Its occupation.
    correction : ndarray or None
        The full Newton correction :math:`\delta` (``y - delta`` is the next iterate).
    """

    error: float
    block: str
    index: int
    energy: float
    value: float
    correction: np.ndarray | None = field(default=None, repr=False)

    def describe(self) -> str:
        """One line naming the worst entry."""
        name = "f(E)" if self.block == "qp" else "n(Omega)"
        return (f"{name} at {self.energy:.6g} kTc (entry {self.index}, value "
                f"{self.value:.3e}) has a relative Newton correction {self.error:.3e}")


def block_convergence(model: Kinetics0D, y: np.ndarray, t: float = 0.0,
                      floor: float = OCCUPATION_FLOOR) -> BlockConvergence:
    r"""Relative full Newton correction per entry at ``y`` (module docstring).

    :math:`\delta = J^{-1}\dot y` by a dense LU of the exact Jacobian; a singular
    Jacobian or a non-finite residual gives ``error = inf``.
    """
    y = np.asarray(y, dtype=float)
    try:
        r = model.rhs(y, t)
        delta = np.linalg.solve(model.jacobian(y, t), r)
    except (np.linalg.LinAlgError, ArithmeticError, ValueError):
        return BlockConvergence(math.inf, "qp", 0, float(model.grid.e[0]), float(y[0]))
    return correction_measure(model, y, delta, floor)


def correction_measure(model: Kinetics0D, y: np.ndarray, delta: np.ndarray,
                       floor: float = OCCUPATION_FLOOR) -> BlockConvergence:
    """:class:`BlockConvergence` of a given Newton correction ``delta`` at ``y``."""
    nq = model.grid.n
    rel = np.abs(delta) / np.maximum(np.abs(y), floor)
    if not np.all(np.isfinite(rel)):
        return BlockConvergence(math.inf, "qp", 0, float(model.grid.e[0]), float(y[0]))
    i = int(np.argmax(rel))
    if i < nq:
        return BlockConvergence(float(rel[i]), "qp", i, float(model.grid.e[i]), float(y[i]),
                                delta)
    k = i - nq
    return BlockConvergence(float(rel[i]), "phonon", k, float(model.grid.omega[k]),
                            float(y[i]), delta)


@dataclass
class SteadyStateResult(SolveResult):
    r""":class:`~fvqp.solvers.SolveResult` of :func:`steady_state` with its start.

    Attributes
    ----------
    start : dict
        How the solve started and which path it took: ``guess`` (``"quasi-thermal"``,
        ``"bath"`` or ``"given"``), ``path`` (``"newton"``: Newton from the start alone;
        ``"ts+newton"``: Newton failed from the start, a TS run of ``t_guess`` followed by
        Newton; ``ts_time_s`` its wall time), ``newton_from_start`` (iterations, reason
        and wall time of the first Newton run) and, for the quasi-thermal start,
        :math:`T^*`, :math:`\mu^*` and the rate evaluations it cost
        (:mod:`fvqp.models.kinetics0d.guess`).
    """

    start: dict = field(default_factory=dict)


def _has_drive(model: Kinetics0D, t: float) -> bool:
    return any(d.active(t) for d in model.drives)


def _start(model: Kinetics0D, y0: np.ndarray | None, guess: str, t: float
           ) -> tuple[np.ndarray, dict]:
    """The Newton start and its description (``guess`` applies when ``y0`` is None)."""
    if y0 is not None:
        return np.asarray(y0, dtype=float), {"guess": "given"}
    if guess not in ("quasi-thermal", "bath"):
        raise ValueError(f"guess must be 'quasi-thermal' or 'bath', got {guess!r}")
    if guess == "bath" or not _has_drive(model, t):  # undriven: the bath is the answer
        return model.equilibrium(), {"guess": "bath"}
    t0 = time.perf_counter()
    try:
        y, info = quasi_thermal_guess(model, t)
    except (ArithmeticError, ValueError, np.linalg.LinAlgError) as exc:
        log.warning("kinetics0d steady state: no quasi-thermal start (%s); starting from "
                    "the bath", exc)
        return model.equilibrium(), {"guess": "bath", "quasi_thermal_failed": str(exc)}
    return y, {"guess": "quasi-thermal", **info.as_dict(),
               "guess_time_s": time.perf_counter() - t0}


class _BlockTest:
    """Newton's stopping test (the ``converged`` hook of :class:`~fvqp.solvers.DenseNewton`):
    converged when :func:`block_convergence` <= ``rtol``, evaluated at the start and
    whenever the last step changed no entry by more than :data:`_TRIGGER` of itself."""

    def __init__(self, model: Kinetics0D, t: float, rtol: float, floor: float) -> None:
        self.model, self.t, self.rtol, self.floor = model, t, rtol, floor
        self.reset()

    def reset(self) -> None:
        self.last: BlockConvergence | None = None
        self.history: list[float] = []
        self.stalled = False

    def accepted(self, err: float) -> bool:
        """Below ``rtol``, or stalled (round-off) below :data:`STALL_RTOL`."""
        if err <= self.rtol:
            return True
        h = self.history
        self.stalled = (err <= STALL_RTOL and len(h) >= 3
                        and h[-1] > 0.5 * min(h[-3], h[-2]))
        return self.stalled

    def __call__(self, x: np.ndarray, dx: np.ndarray | None, it: int) -> bool:
        if dx is not None:
            step = np.abs(dx) / np.maximum(np.abs(x), self.floor)
            if float(np.max(step)) > _TRIGGER:
                return False
        self.last = block_convergence(self.model, x, self.t, self.floor)
        self.history.append(self.last.error)
        return self.accepted(self.last.error)


def steady_state(model: Kinetics0D, y0: np.ndarray | None = None, *,
                 prefix: str = "kinetics0d_snes_",
                 options: Mapping[str, object] | None = None,
                 block_rtol: float = BLOCK_RTOL, floor: float = OCCUPATION_FLOOR,
                 t: float = 0.0, t_guess: float | None = 1e5,
                 ts_options: Mapping[str, object] | None = None,
                 rtol: float | None = None, atol_factor: float | None = None,
                 guess: str = "quasi-thermal", linear: str = "schur",
                 ) -> tuple[np.ndarray, SteadyStateResult]:
    r"""Solve :math:`\dot y(y) = 0` by Newton (PETSc SNES) with the exact Jacobian.

    Convergence is judged entry by entry, every block at its own scale (module
    docstring): the full Newton correction must be below ``block_rtol`` relative to
    every occupation above ``floor``.

    Without ``y0`` Newton starts from the quasi-thermal estimate of
    :func:`fvqp.models.kinetics0d.guess.quasi_thermal_guess` (QPs at :math:`T^*`,
    :math:`\mu^*` and phonons in balance with them, from the power and QP-number
    balances): from the bath, Newton linearises the recombination about the thermal QP
    number and overshoots by :math:`N/2N_T` at low temperature. If Newton fails from the
    start, a TS run of ``t_guess`` from the same start precedes a second Newton run. The
    result's ``start`` says which start and which path were taken.

    Parameters
    ----------
    model : Kinetics0D
    y0 : ndarray, optional
        Initial guess (default: ``guess``).
    prefix, options
        PETSc options prefix and dict (:class:`fvqp.solvers.ts.DenseNewton`);
        ``snes_max_it`` bounds the Newton iterations.
    block_rtol : float
        Largest relative Newton correction :math:`|\delta_i|/\max(|y_i|, floor)`
        accepted (default 1e-6).
    floor : float
        Occupation below which entries are measured against ``floor`` (default 1e-12).
    t : float
        Time at which the drives are evaluated.
    t_guess : float or None
        If Newton fails from ``y0`` (a strong drive far from equilibrium), integrate
        with :func:`evolve` (``rtol = 1e-4``) for this time and restart Newton from
        there; ``None`` disables the fallback.
    ts_options : mapping, optional
        PETSc options of that integration (prefix ``<prefix>ts_``).
    rtol, atol_factor : float, optional
        No longer used (PETSc's residual and step tests are replaced by the per-entry
        test, which they could satisfy with a wrong QP block); a value logs a warning.
    guess : {"quasi-thermal", "bath"}
        Start without ``y0``: the quasi-thermal estimate (default; the bath if it fails
        or no drive is on) or the bath equilibrium (the start before this option).
    linear : {"schur", "dense"}
        ``"schur"`` (default): Newton with the phonons eliminated per node and the
        factorisation lagged as the GMRES preconditioner of the exact correction
        (:mod:`fvqp.models.kinetics0d.newton`; ``snes_max_it`` of ``options`` bounds
        its iterations); if it fails, the dense PETSc path below runs from the same
        start. ``"dense"``: PETSc SNES with a dense LU of the whole Jacobian at every
        iteration (the path before issue 18 item 4). Both stop on the same per-entry
        test.

    Returns
    -------
    (ndarray, SteadyStateResult)
        The state and the SNES result; ``result.message`` names the reached accuracy,
        ``result.start`` the start and path (:class:`SteadyStateResult`).

    Raises
    ------
    ConvergenceError
        Newton stopped (iteration limit, line search) before every entry converged; the
        message names the worst entry and the fixes.
    """
    y0, start = _start(model, y0, guess, t)
    nq = model.grid.n

    def residual(y: np.ndarray) -> np.ndarray:
        if np.any(y < -_NEG_TOL) or np.any(y[:nq] > 1 + _NEG_TOL):
            raise ArithmeticError("occupation out of range")
        return model.rhs(y, t)

    if rtol is not None or atol_factor is not None:
        log.warning("steady_state: rtol/atol_factor are no longer used; convergence is "
                    "the per-entry test block_rtol = %g (fvqp.models.kinetics0d.solve)",
                    block_rtol)
    test = _BlockTest(model, t, block_rtol, floor)
    if linear not in ("schur", "dense"):
        raise ValueError(f"linear must be 'schur' or 'dense', got {linear!r}")
    if linear == "schur":
        done = _structured(model, y0, start, test, t, floor,
                           int((options or {}).get("snes_max_it", 50)))
        if done is not None:
            return done
        test.reset()
    solver = DenseNewton(model.size, residual, lambda y: model.jacobian(y, t), prefix=prefix,
                         options=options, converged=test)
    clock = time.perf_counter()
    y, res = solver.solve(y0, raise_on_failure=False)
    first = test.last
    start.update(path="newton", newton_from_start={"iterations": res.iterations,
                                                   "reason": res.message,
                                                   "time_s": time.perf_counter() - clock})
    if not res.success and t_guess is not None:
        log.info("Newton from the %s start failed (%s); integrating to t = %g first",
                 start["guess"], res.message, t_guess)
        start.update(path="ts+newton", ts_time=t_guess)
        clock = time.perf_counter()
        y1, _ = evolve(model, y0, t0=t, t_end=t + t_guess, dt=1e-3, rtol=1e-4,
                       prefix=prefix + "ts_", options=ts_options)
        start["ts_time_s"] = time.perf_counter() - clock
        test.reset()
        y, res2 = solver.solve(np.clip(y1, 0.0, None), raise_on_failure=False)
        res = SolveResult(success=res2.success, reason=res2.reason, message=res2.message,
                          iterations=res.iterations + res2.iterations,
                          linear_iterations=res.linear_iterations + res2.linear_iterations,
                          residual_norm=res2.residual_norm)
    worst = test.last
    if not res.success or worst is None or not (worst.error <= block_rtol or test.stalled):
        worst = block_convergence(model, y, t, floor)
        maxit = solver.max_iterations
        note = "" if first is None or t_guess is None else (
            f" (from the initial guess: {first.describe()})")
        raise ConvergenceError(
            f"kinetics0d steady state not converged in every block ({start['guess']} start, "
            f"path {start['path']}): SNES (prefix "
            f"{solver.prefix!r}) stopped with {res.message} after {res.iterations} Newton "
            f"iterations; {worst.describe()} > block_rtol = {block_rtol:g}{note}. "
            f"Fix: allow more iterations (-{solver.prefix}snes_max_it, now {maxit}), start "
            f"closer (e.g. a short transient run first, or the [initial] temperatures "
            f"nearer the bath), or, if the correction is FFT round-off, use "
            f"[grid] method = \"direct\".",
            SteadyStateResult(**vars(res), start=start))
    # the correction is known: take it (one more full Newton step, error ~ correction^2);
    # entries below the floor are kept non-negative
    y_next = y - worst.correction
    y = np.where((y_next < 0.0) & (y >= 0.0), y, y_next)
    how = (f"<= {block_rtol:g}" if worst.error <= block_rtol else
           f"> {block_rtol:g} but no longer decreasing: operator round-off")
    if test.stalled:
        log.warning("kinetics0d steady state: converged to round-off only: %s", worst.describe())
    res = SteadyStateResult(
        success=True, reason=res.reason,
        message=f"{res.message}: every entry converged (largest relative Newton "
                f"correction {worst.error:.1e} {how}; applied)",
        iterations=res.iterations, linear_iterations=res.linear_iterations,
        residual_norm=res.residual_norm, start=start)
    log.info("steady state: %s in %d Newton iterations, |F| = %.3e (%s start, path %s)",
             res.message, res.iterations, res.residual_norm, start["guess"], start["path"])
    return y, res


def _finish(model: Kinetics0D, y: np.ndarray, worst: BlockConvergence,
            test: _BlockTest) -> tuple[np.ndarray, str]:
    """Apply the accepted correction (entries below the floor kept non-negative)."""
    y_next = y - worst.correction
    y = np.where((y_next < 0.0) & (y >= 0.0), y, y_next)
    how = (f"<= {test.rtol:g}" if worst.error <= test.rtol else
           f"> {test.rtol:g} but no longer decreasing: operator round-off")
    if test.stalled:
        log.warning("kinetics0d steady state: converged to round-off only: %s", worst.describe())
    return y, (f"every entry converged (largest relative Newton correction "
               f"{worst.error:.1e} {how}; applied)")


def _structured(model: Kinetics0D, y0: np.ndarray, start: dict, test: _BlockTest,
                t: float, floor: float, max_it: int
                ) -> tuple[np.ndarray, SteadyStateResult] | None:
    """Steady state by :func:`~fvqp.models.kinetics0d.newton.structured_newton`; None if
    it failed (the reason is recorded in ``start["schur_failed"]``)."""
    from .newton import structured_newton

    def accepted(err: float, history: list) -> bool:
        test.history = history
        return test.accepted(err)

    clock = time.perf_counter()
    try:
        y, sres = structured_newton(model, y0, t=t, floor=floor, accepted=accepted,
                                    max_iterations=max_it)
    except (ConvergenceError, np.linalg.LinAlgError, ArithmeticError, ValueError) as exc:
        log.info("structured Newton from the %s start failed (%s); dense Newton next",
                 start["guess"], exc)
        start["schur_failed"] = str(exc)
        return None
    wall = time.perf_counter() - clock
    worst = correction_measure(model, y, sres.correction, floor)
    test.last = worst
    y, what = _finish(model, y, worst, test)
    start.update(path="newton", newton_from_start={
        "linear": "schur", "iterations": sres.iterations, "reason": "CONVERGED_USER",
        "time_s": wall,
        "factorizations": sres.factorizations, "krylov_iterations": sres.krylov_iterations,
        "time_split_s": dict(sres.times)})
    res = SteadyStateResult(
        success=True, reason=0, message=f"CONVERGED_USER: {what}",
        iterations=sres.iterations, linear_iterations=sres.krylov_iterations,
        residual_norm=sres.residual_norm, start=start)
    log.info("steady state: %s in %d Newton iterations (%d factorisations, %d GMRES "
             "iterations, %.2f s), |F| = %.3e (%s start, structured Newton)", res.message,
             res.iterations, sres.factorizations, sres.krylov_iterations, wall,
             res.residual_norm, start["guess"])
    return y, res


def evolve(model: Kinetics0D, y0: np.ndarray, t_end: float, *, t0: float = 0.0,
           dt: float = 1e-3, rtol: float = 1e-6, atol: float | None = None,
           prefix: str = "kinetics0d_ts_", options: Mapping[str, object] | None = None,
           monitor: Callable[[float, np.ndarray], None] | None = None,
           max_steps: int = 100000):
    """Integrate with PETSc TS (BDF by default) and the exact Jacobian.

    ``atol`` defaults to ``1e-6 * rtol`` times the largest initial occupation per block
    (f and n). ``monitor(t, y)`` is called after every accepted step. Returns ``(y,
    RunResult)`` (``history["dt_next"]``: the step size TS proposes next, to continue
    the run); raises :class:`ConvergenceError` on failure.
    """
    y0 = np.asarray(y0, dtype=float)
    if atol is None:
        nq = model.grid.n
        atol_v = np.empty(model.size)
        atol_v[:nq] = 1e-6 * rtol * max(np.max(np.abs(y0[:nq])), 1e-300)
        atol_v[nq:] = 1e-6 * rtol * max(np.max(np.abs(y0[nq:])), 1e-300)
        atol = atol_v
    stepper = DenseTimeStepper(model.size, lambda t, y: model.rhs(y, t),
                               lambda t, y: model.jacobian(y, t), prefix=prefix,
                               options=options)
    if monitor is not None:
        stepper.monitors.append(monitor)
    y, res = stepper.integrate(y0, t0, t_end, dt, rtol=rtol, atol=atol, max_steps=max_steps)
    res.history["dt_next"] = float(stepper.ts.getTimeStep())
    return y, res


@dataclass
class RelaxationResult:
    """Outcome of :func:`relax`.

    Attributes
    ----------
    t : float
    steps : int
    limited : int
        Second-order components that fell back to first order (``F_2 < 0``).
    residual_norm : float
        :math:`\\|\\dot y\\|_2` at the end.
    wall_time : float
    history : dict
        ``t`` and ``residual`` per recorded step (and ``delta`` with a self-consistent
        gap).
    model : Kinetics0D
        The model of the final state (a new grid if the gap followed ``f``).
    """

    t: float
    steps: int
    limited: int
    residual_norm: float
    wall_time: float
    history: dict = field(default_factory=dict)
    model: Kinetics0D | None = None


def _mu(model: Kinetics0D, y: np.ndarray, loss: np.ndarray, kind: str,
        safety: float) -> np.ndarray | float:
    rate = np.zeros_like(y)
    np.divide(loss, y, out=rate, where=y > 0)
    rate = np.maximum(rate, 1e-300)
    if kind == "global":
        return safety * float(np.max(rate))
    if kind == "local":
        return safety * rate
    raise ValueError(f"mu must be 'global' or 'local', got {kind!r}")


def relaxation_step(model: Kinetics0D, y: np.ndarray, dt: float, *, order: int = 1,
                    t: float = 0.0, mu: str = "global", safety: float = 1.0
                    ) -> tuple[np.ndarray, int]:
    """One time-relaxation step (Eqs. 46-51); returns ``(y_new, n_limited)``."""
    gain, loss = model.terms(y, t)
    m = _mu(model, y, loss, mu, safety)
    q = gain - loss
    f1 = y + q / m  # = P(F0)/mu, >= 0 by the choice of mu
    tau = -np.expm1(-m * dt)
    if order == 1:
        return y + tau * q / m, 0
    if order != 2:
        raise ValueError("order must be 1 or 2")
    jp = model.jacobian(y, t) @ (f1 - y) + m * (f1 - y)  # (dQ/dy + mu) (F1 - F0)
    f2 = f1 + jp / (2.0 * m)
    y_new = (1.0 - tau) * y + tau * (1.0 - tau) * f1 + tau * tau * f2
    bad = y_new < 0
    if np.any(bad):
        y_new = np.where(bad, y + tau * q / m, y_new)
    return y_new, int(np.count_nonzero(bad))


def _follow_gap(model: Kinetics0D, y: np.ndarray, delta0: float
                ) -> tuple[Kinetics0D, np.ndarray]:
    from .selfgap import remap, self_consistent_gap

    d = self_consistent_gap(model.split(y)[0], model.grid, delta0)
    if abs(d - model.grid.delta) <= 1e-14 * model.grid.delta:
        return model, y
    new = model.with_gap(d)
    return new, remap(y, model, new)


def relax(model: Kinetics0D, y0: np.ndarray, dt: float, *, t_end: float = math.inf,
          order: int = 1, mu: str = "global", safety: float = 1.0,
          residual_tol: float | None = None, max_steps: int = 1_000_000,
          record_every: int = 0, max_wall: float = math.inf,
          gap_delta0: float | None = None) -> tuple[np.ndarray, RelaxationResult]:
    """Time-relaxation integration with fixed ``dt`` to ``t_end`` or until
    :math:`\\|\\dot y\\|_2 \\le` ``residual_tol`` (checked every step if given).

    ``max_wall`` (seconds) stops the run like ``max_steps`` does. With ``gap_delta0``
    (:math:`\\Delta_0` of the gap equation) the gap follows ``f`` at every step: after
    each step the gap equation is solved for the new ``f``
    (:func:`fvqp.models.kinetics0d.selfgap.self_consistent_gap`) and, if the gap moved,
    the model is rebuilt on the grid of the new gap and the state carried over
    (:func:`~fvqp.models.kinetics0d.selfgap.remap`: QP number kept; the energy change
    is the condensate's). The final model is ``result.model``.

    Raises
    ------
    ConvergenceError
        ``residual_tol`` not reached within ``max_steps`` / ``max_wall``.
    """
    y = np.asarray(y0, dtype=float).copy()
    t, steps, limited = 0.0, 0, 0
    hist: dict[str, list] = {"t": [], "residual": []}
    start = time.perf_counter()
    res = math.inf
    while steps < max_steps and time.perf_counter() - start < max_wall:
        h = min(dt, t_end - t)
        if h <= 0:
            break
        if residual_tol is not None:
            res = float(np.linalg.norm(model.rhs(y, t)))
            if res <= residual_tol:
                break
        y, nl = relaxation_step(model, y, h, order=order, t=t, mu=mu, safety=safety)
        limited += nl
        if gap_delta0 is not None:
            model, y = _follow_gap(model, y, gap_delta0)
        t += h
        steps += 1
        if record_every and steps % record_every == 0:
            hist["t"].append(t)
            hist["residual"].append(res)
            hist.setdefault("delta", []).append(model.grid.delta)
    res = float(np.linalg.norm(model.rhs(y, t)))
    out = RelaxationResult(t=t, steps=steps, limited=limited, residual_norm=res,
                           wall_time=time.perf_counter() - start, history=hist, model=model)
    if residual_tol is not None and res > residual_tol:
        raise ConvergenceError(f"time relaxation did not reach |F| <= {residual_tol:.3e} in "
                               f"{steps} steps (|F| = {res:.3e}); increase max_steps or dt "
                               "(mu='local').", out)
    return y, out

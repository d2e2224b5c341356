r"""Steady states of the 0D kinetics: start, Newton, bath continuation, TS fallback.

:func:`steady_state` solves :math:`\dot y(y) = 0`:

1. the start: the quasi-thermal estimate of :mod:`fvqp.models.kinetics0d.guess` (QPs at
   :math:`T^*`, :math:`\mu^*` and phonons in balance with them), the bath, or a given
   state;
2. Newton (:class:`fvqp.solvers.dense.DenseNewton`, the one Newton solver of the
   mesh-less models, a PETSc SNES) with the linear solve that fits the Jacobian's block
   structure (:mod:`fvqp.models.kinetics0d.newton`: phonons eliminated per node, lagged Schur LU
   preconditioning GMRES on the exact FFT action; ``linear="dense"``: an LU of the whole
   Jacobian at every iterate), stopped by the per-entry test of
   :mod:`fvqp.models.kinetics0d.convergence`;
3. if Newton fails from the start (after a quasi-thermal start: from the bath too) and a
   drive is on, a continuation in the bath temperature
   (:mod:`fvqp.models.kinetics0d.continuation`: from the steady state of a warmer bath,
   step by step down to the model's; the drive-set states of films far below
   :math:`T_c`, e.g. readout photons below :math:`2\Delta`);
4. if that stops too, a TS run (:func:`~fvqp.models.kinetics0d.transient.evolve`)
   of ``t_guess`` from the same start and Newton again from its end.

The accepted correction is applied (one more full Newton step, so the returned state is
accurate to about the square of the accepted correction, or round-off). A run that stops
without meeting the test raises :class:`~fvqp.solvers.ConvergenceError` naming the start,
the path, the worst entry (block, energy, relative correction) and the fixes.

The time-relaxation scheme lives in :mod:`fvqp.models.kinetics0d.relaxation` and the TS
integration in :mod:`fvqp.models.kinetics0d.transient` (both re-exported here).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np

from ...solvers.dense import NewtonResult
from ...solvers.result import ConvergenceError, SolveResult
from .continuation import bath_continuation
from .convergence import (
    BLOCK_RTOL,
    OCCUPATION_FLOOR,
    STALL_RTOL,
    BlockConvergence,
    CorrectionTest,
    block_convergence,
    correction_measure,
)
from .drives import PhotonDrive
from .guess import quasi_thermal_guess
from .model import Kinetics0D
from .newton import LINEAR, structured_newton
from .observables import holds_drive
from .relaxation import RelaxationResult, relax, relaxation_step
from .selfgap import remap, self_consistent_gap
from .transient import evolve

log = logging.getLogger(__name__)

__all__ = [
    "BLOCK_RTOL",
    "OCCUPATION_FLOOR",
    "STALL_RTOL",
    "BlockConvergence",
    "RelaxationResult",
    "SteadyStateResult",
    "block_convergence",
    "evolve",
    "relax",
    "relaxation_step",
    "steady_state",
    "steady_state_self_consistent",
]


@dataclass
class SteadyStateResult(SolveResult):
    r""":class:`~fvqp.solvers.SolveResult` of :func:`steady_state` with its start.

    Attributes
    ----------
    start : dict
        How the solve started and which path it took: ``guess`` (``"quasi-thermal"``,
        ``"bath"`` or ``"given"``), ``path`` (``"newton"``: Newton from the start alone;
        ``"bath-continuation"``: from a warmer bath's steady state down to the model's,
        ``bath_continuation`` the baths, Newton runs and iterations,
        :meth:`.continuation.Continuation.record`, also where it stopped;
        ``"ts+newton"``: Newton failed from the start, a TS run of ``t_guess`` followed by
        Newton; ``ts_time_s`` its wall time), ``newton_from_start`` (linear solve,
        iterations, reason, wall time, factorisations, GMRES iterations and the time
        split of the first Newton run) and, for the quasi-thermal start,
        :math:`T^*`, :math:`\mu^*` and the rate evaluations it cost
        (:mod:`fvqp.models.kinetics0d.guess`).
    """

    start: dict = field(default_factory=dict)


#: the reason of a Newton run whose per-entry test passed on a state that does not
#: balance the drive's power (:func:`.observables.holds_drive`): a failed start
UNBALANCED = "CONVERGED_UNBALANCED_DRIVE"


def _has_drive(model: Kinetics0D, t: float) -> bool:
    return any(d.active(t) for d in model.drives)


def _start(model: Kinetics0D, y0: np.ndarray | None, guess: str, t: float,
           level: int = logging.WARNING) -> tuple[np.ndarray, dict]:
    """The Newton start and its description (``guess`` applies when ``y0`` is None; a
    failed quasi-thermal search is logged at ``level``)."""
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
        log.log(level, "kinetics0d steady state: no quasi-thermal start (%s); starting "
                "from the bath", exc)
        return model.equilibrium(), {"guess": "bath", "quasi_thermal_failed": str(exc)}
    return y, {"guess": "quasi-thermal", **info.as_dict(),
               "guess_time_s": time.perf_counter() - t0}


def _newton(model: Kinetics0D, y0: np.ndarray, test: CorrectionTest, t: float,
            floor: float, prefix: str, options: Mapping[str, object] | None, linear: str
            ) -> tuple[np.ndarray | None, NewtonResult, dict]:
    """One Newton run: ``(y or None on failure, result, record for start)``."""
    test.reset()
    clock = time.perf_counter()
    try:
        y, res = structured_newton(model, y0, t=t, floor=floor, accepted=test.accepted,
                                   prefix=prefix, options=options, linear=linear)
    except ConvergenceError as exc:
        y, res = None, exc.result
    if y is not None and not holds_drive(model, y, t):
        # the per-entry test passed, but the drive's power sits in QPs below its floor
        # (e.g. sub-gap photons normalised to a bath's few QPs): not the steady state
        log.info("Newton's state does not balance its drive's power; not accepted")
        y, res = None, replace(res, reason=UNBALANCED)
    record = {"linear": linear, "iterations": res.iterations, "reason": res.reason,
              "time_s": time.perf_counter() - clock, "factorizations": res.factorizations,
              "diagonals": res.diagonals, "krylov_iterations": res.krylov_iterations,
              "time_split_s": dict(res.times)}
    return y, res, record


def _counted(run: tuple) -> tuple:
    """``(y, result, record)`` of :func:`_newton` as ``(y, result, Newton iterations,
    GMRES iterations)`` (:mod:`.continuation`)."""
    y, res, _ = run
    return y, res, res.iterations, res.krylov_iterations


def _from_start(model: Kinetics0D, y0: np.ndarray | None, guess: str, newton: dict,
                quiet: bool = False) -> tuple:
    """Newton from ``y0`` or the default start (``guess``) and, if that was the
    quasi-thermal one and failed, from the bath: ``(y or None, result, first result,
    start record, start state, Newton iterations, GMRES iterations)``, the first path of
    :func:`steady_state` and each step up of :func:`.continuation.bath_continuation`
    (``quiet``: its log lines at DEBUG). A failed bath start is counted, but the result
    returned stays the first start's, which the failure message describes."""
    y0, start = _start(model, y0, guess, newton["t"],
                       logging.DEBUG if quiet else logging.WARNING)
    y, res, record = _newton(model, y0, **newton)
    first = res
    start.update(path="newton", newton_from_start=record)
    its, kry = res.iterations, res.krylov_iterations
    if y is None and start["guess"] == "quasi-thermal":
        # a second start before a long integration: the bath (a quasi-thermal root can
        # be spurious where the drive's power meets almost no QPs, e.g. sub-gap photons
        # in a cold film: Newton then diverges from it)
        log.log(logging.DEBUG if quiet else logging.INFO, "Newton from the quasi-thermal "
                "start failed (%s); trying the bath start", res.reason)
        yb, res_b, record_b = _newton(model, model.equilibrium(), **newton)
        its, kry = its + res_b.iterations, kry + res_b.krylov_iterations
        start["newton_from_bath"] = record_b
        if yb is not None:
            y, res = yb, res_b
            start.update(guess="bath", path="newton")
    return y, res, first, start, y0, its, kry


def steady_state(model: Kinetics0D, y0: np.ndarray | None = None, *,
                 prefix: str = "kinetics0d_snes_",
                 options: Mapping[str, object] | None = None,
                 block_rtol: float = BLOCK_RTOL, floor: float = OCCUPATION_FLOOR,
                 t: float = 0.0, t_guess: float | None = 1e5,
                 ts_options: Mapping[str, object] | None = None,
                 ts_prefix: str | None = None,
                 rtol: float | None = None, atol_factor: float | None = None,
                 guess: str = "quasi-thermal", linear: str = "schur",
                 continuation: bool = True,
                 ) -> tuple[np.ndarray, SteadyStateResult]:
    r"""Solve :math:`\dot y(y) = 0` by Newton with the exact Jacobian (module docstring).

    Convergence is judged entry by entry, every block at its own scale
    (:mod:`fvqp.models.kinetics0d.convergence`): the full Newton correction must be below
    ``block_rtol`` relative to every occupation above ``floor``.

    Without ``y0`` Newton starts from the quasi-thermal estimate of
    :func:`fvqp.models.kinetics0d.guess.quasi_thermal_guess`: from the bath, Newton
    linearises the recombination about the thermal QP number and overshoots by
    :math:`N/2N_T` at low temperature. If Newton fails from the start, a TS run of
    ``t_guess`` from the same start precedes a second Newton run. The result's ``start``
    says which start and which path were taken.

    Parameters
    ----------
    model : Kinetics0D
    y0 : ndarray, optional
        Initial guess (default: ``guess``).
    prefix : str
        Options prefix of Newton (``"kinetics0d_snes_"``).
    options : mapping, optional
        PETSc options of Newton under ``prefix`` (:class:`~fvqp.solvers.dense.DenseNewton`,
        pushed for each Newton run and removed after it; the command line wins):
        ``snes_max_it`` bounds the iterations of each Newton run (default 50).
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
        PETSc options of that integration, under ``ts_prefix``.
    ts_prefix : str, optional
        Options prefix of that integration (default ``<prefix>ts_``; the case driver
        gives the run's TS prefix ``kinetics0d_ts_``, so Newton's and TS's options never
        share a prefix: ``[solver] snes`` / ``[solver] ts``).
    rtol, atol_factor : float, optional
        No longer used (PETSc's residual and step tests are replaced by the per-entry
        test, which they could satisfy with a wrong QP block); a value logs a warning.
    guess : {"quasi-thermal", "bath"}
        Start without ``y0``: the quasi-thermal estimate (default; the bath if it fails
        or no drive is on) or the bath equilibrium.
    linear : {"schur", "schur-lu", "dense"}
        The linear solve of Newton (:func:`fvqp.models.kinetics0d.newton.linear_solve`):
        ``"schur"`` (default; GMRES on the exact action preconditioned by the exact
        diagonal, then, only if that fails, by the lagged LU with the phonons eliminated
        per node), ``"schur-lu"`` (that LU from the start) or ``"dense"`` (an LU of the
        whole Jacobian at every iterate). All stop on the same per-entry test.
    continuation : bool
        If Newton fails from the start (and, after a quasi-thermal start, from the bath)
        and a drive is on, continue from a warmer bath before any TS run
        (:func:`fvqp.models.kinetics0d.continuation.bath_continuation`: a drive that sets
        the state, e.g. readout photons below :math:`2\Delta` in a film far below
        :math:`T_c`); default True.

    Returns
    -------
    (ndarray, SteadyStateResult)
        The state and the result; ``result.message`` names the reached accuracy,
        ``result.start`` the start and path (:class:`SteadyStateResult`).

    Raises
    ------
    ConvergenceError
        Newton stopped (iteration limit, no step in the domain) before every entry
        converged; the message names the worst entry and the fixes.
    """
    if linear not in LINEAR:
        raise ValueError(f"linear must be one of {LINEAR}, got {linear!r}")
    if rtol is not None or atol_factor is not None:
        log.warning("steady_state: rtol/atol_factor are no longer used; convergence is "
                    "the per-entry test block_rtol = %g (fvqp.models.kinetics0d.convergence)",
                    block_rtol)
    test = CorrectionTest(block_rtol)
    newton = dict(test=test, t=t, floor=floor, prefix=prefix, options=options,
                  linear=linear)
    y, res, first, start, y0, iterations, krylov = _from_start(model, y0, guess, newton)
    if y is None and continuation and _has_drive(model, t):
        log.info("Newton from the %s start failed (%s); continuing from a warmer bath",
                 start["guess"], res.reason)

        def default(m):  # a step up: the default starts at a warmer bath
            yd, rd, _, _, _, its, kry = _from_start(m, None, guess, newton, quiet=True)
            return yd, rd, its, kry

        cont = bath_continuation(model, default,
                                 lambda m, y: _counted(_newton(m, y, **newton)))
        iterations, krylov = iterations + cont.iterations, krylov + cont.krylov
        start["bath_continuation"] = cont.record()
        if cont.y is not None:
            y, res = cont.y, cont.result
            start.update(path="bath-continuation")
        else:
            log.info("bath continuation stopped: %s", cont.message)
    if y is None and t_guess is not None:
        log.info("Newton from the %s start failed (%s); integrating to t = %g first",
                 start["guess"], res.reason, t_guess)
        start.update(path="ts+newton", ts_time=t_guess)
        clock = time.perf_counter()
        try:
            y1, _ = evolve(model, y0, t0=t, t_end=t + t_guess, dt=1e-3, rtol=1e-4,
                           prefix=ts_prefix or prefix + "ts_", options=ts_options)
        except ConvergenceError as exc:
            note = _continuation_note(start) + _subgap_note(model)
            if not note:
                raise
            raise ConvergenceError(f"{exc}{note}", exc.result) from exc
        start["ts_time_s"] = time.perf_counter() - clock
        y1 = np.clip(y1, 0.0, None)
        y1[: model.grid.n] = np.minimum(y1[: model.grid.n], 1.0)
        y, res, _ = _newton(model, y1, **newton)
        iterations, krylov = iterations + res.iterations, krylov + res.krylov_iterations
    if y is None:
        _fail(model, res, first if t_guess is not None else None, start, prefix,
              res.max_iterations, block_rtol, floor, iterations, krylov, t)
    worst = correction_measure(model, y, res.correction, floor)
    # the correction is known: take it (one more full Newton step, error ~ correction^2);
    # entries below the floor are kept non-negative
    y_next = y - worst.correction
    y = np.where((y_next < 0.0) & (y >= 0.0), y, y_next)
    if test.stalled:
        log.warning("kinetics0d steady state: converged to round-off only: %s", worst.describe())
    out = SteadyStateResult(
        success=True, reason=0,
        message=f"CONVERGED_USER: every entry converged (largest relative Newton correction "
                f"{worst.error:.1e} {test.how(worst.error)}; applied)",
        iterations=iterations, linear_iterations=krylov,
        residual_norm=res.residual_norm, start=start)
    log.info("steady state: %s in %d Newton iterations (%d factorisations, %d GMRES "
             "iterations), |F| = %.3e (%s start, path %s, linear %s)", out.message,
             iterations, res.factorizations, krylov, out.residual_norm, start["guess"],
             start["path"], linear)
    return y, out


def _continuation_note(start: dict) -> str:
    """Where the bath continuation of a failed steady state stopped (a sentence for its
    message; empty if it did not run)."""
    stopped = start.get("bath_continuation", {}).get("stopped")
    return f" (Before it, the continuation from a warmer bath stopped: {stopped}.)" \
        if stopped else ""


def _subgap_note(model: Kinetics0D) -> str:
    r"""For a failed steady state with photons below :math:`2\Delta`: that the state the
    drive sets may lie above the grid's top, and the fix (empty without such photons)."""
    if not any(isinstance(d, PhotonDrive) and d.photon_energy < 2.0 * model.grid.delta
               for d in model.drives):
        return ""
    return (" Photons below 2 Delta can also hold a steady state set by the drive above "
            "the grid's top (the quasiparticles lifted up the ladder Delta + k hbar "
            "omega): raise [grid] e_max by several photon energies and run again (Al at "
            "20 and 40 mK under 1e-19 W of 300 ueV photons: e_max = 2.5 meV).")


def _fail(model: Kinetics0D, res: NewtonResult, first: NewtonResult | None, start: dict,
          prefix: str, max_it: int, block_rtol: float, floor: float, iterations: int,
          krylov: int, t: float) -> None:
    """Raise the ConvergenceError of a steady state that did not converge."""
    def worst_of(r: NewtonResult) -> BlockConvergence:
        if r.x is not None and np.any(r.correction):
            return correction_measure(model, r.x, r.correction, floor)
        return block_convergence(model, r.x if r.x is not None else model.equilibrium(),
                                 t, floor)

    worst = worst_of(res)
    note = "" if first is None else f" (from the initial guess: {worst_of(first).describe()})"
    result = SteadyStateResult(success=False, reason=-1, message=res.reason,
                               iterations=iterations, linear_iterations=krylov,
                               residual_norm=res.residual_norm, start=start)
    raise ConvergenceError(
        f"kinetics0d steady state not converged in every block ({start['guess']} start, "
        f"path {start['path']}): Newton stopped with {res.reason} after {res.iterations} "
        f"iterations; {worst.describe()} > block_rtol = {block_rtol:g}{note}"
        f"{_continuation_note(start)}. Fix: allow "
        f"more iterations (Newton option snes_max_it of -{prefix}snes_max_it / [solver] "
        f"petsc, now {max_it}), start closer (e.g. a short transient run first, or the "
        f"[initial] temperatures nearer the bath), or, if the correction is FFT round-off, "
        f"use [grid] method = \"direct\".{_subgap_note(model)}", result)


def steady_state_self_consistent(model: Kinetics0D, delta0: float,
                                 y0: np.ndarray | None = None, *, tol: float = 1e-12,
                                 max_iter: int = 30, **newton) -> tuple[Kinetics0D,
                                                                        np.ndarray, dict]:
    r"""Steady state with a self-consistent gap.

    Parameters
    ----------
    model : Kinetics0D
        Model on the grid of the starting gap (e.g. the bath's BCS gap).
    delta0 : float
        Zero-temperature gap :math:`\Delta_0` (kTc) of the gap equation.
    y0 : ndarray, optional
        First Newton guess on ``model``'s grid (default: the quasi-thermal start of
        :func:`~fvqp.models.kinetics0d.steady_state`).
    tol : float
        Relative self-consistency :math:`|\Delta_{gap}[f] - \Delta|/\Delta`.
    **newton
        Passed to :func:`fvqp.models.kinetics0d.steady_state`.

    Returns
    -------
    (model, y, info)
        The model on the self-consistent grid, its steady state, and ``info`` with
        ``delta``, ``iterations`` (outer), ``newton_iterations``, ``history`` and
        ``start`` (the first iterate's start and path,
        :class:`~fvqp.models.kinetics0d.solve.SteadyStateResult`; later iterates start
        from the remapped state, ``later_ts_fallbacks`` counts those that needed TS).

    Raises
    ------
    ConvergenceError
        No self-consistency within ``max_iter`` outer iterations (the failure rule of
        :mod:`fvqp.models.base.result`: a run reports status -1 with the message), or a
        steady state of an iterate did not converge.
    """
    cur, y = model, y0
    hist: list[tuple[float, float]] = []
    newton_its = 0
    start: dict = {}
    for it in range(1, max_iter + 1):
        y, res = steady_state(cur, y, **newton)
        newton_its += res.iterations
        if it == 1:
            start = dict(res.start)
        elif res.start.get("path") != "newton":
            start["later_ts_fallbacks"] = start.get("later_ts_fallbacks", 0) + 1
        d_new = self_consistent_gap(cur.split(y)[0], cur.grid, delta0)
        d_old = cur.grid.delta
        hist.append((d_old, d_new - d_old))
        log.info("self-consistent gap: iterate %d, Delta = %.15g -> %.15g", it, d_old,
                 d_new)
        if abs(d_new - d_old) <= tol * d_old:
            return cur, y, {"delta": d_old, "iterations": it, "newton_iterations": newton_its,
                            "history": hist, "residual": d_new - d_old, "start": start}
        if len(hist) >= 2 and hist[-1][1] != hist[-2][1]:  # secant on g(D) = D_gap - D
            (d1, g1), (d2, g2) = hist[-2], hist[-1]
            d_next = d2 - g2 * (d2 - d1) / (g2 - g1)
            if not 0 < d_next <= delta0:
                d_next = d_new
        else:
            d_next = d_new
        nxt = cur.with_gap(d_next)
        y = remap(y, cur, nxt)
        cur = nxt
    info = {"delta": hist[-1][0], "iterations": max_iter, "newton_iterations": newton_its,
            "history": hist, "residual": hist[-1][1], "start": start}
    raise ConvergenceError(
        f"kinetics0d self-consistent gap not converged: after {max_iter} iterations of the "
        f"gap equation (secant on Delta_gap[f(Delta)] - Delta) Delta still moved by "
        f"{abs(hist[-1][1]) / hist[-1][0]:.3e} of itself (tolerance {tol:g}; last iterate "
        f"Delta = {hist[-1][0]:.6g} k_B Tc, first {model.grid.delta:.6g} k_B Tc). A "
        "drive that suppresses the gap towards its collapse can leave no stable "
        "self-consistent state. Fix: lower the [[drives]] power, or set [film] "
        "self_consistent_gap = false (the gap stays at the bath's).", info)

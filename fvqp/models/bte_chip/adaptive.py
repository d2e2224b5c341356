r"""Adaptive steps of the chip chain (``[time] adaptive = true``): error estimate and
step control of the coupled backward-Euler step, and of its variable-step BDF2 step
(``[time] scheme = "bdf2"``).

The step from :math:`t_n` to :math:`t_{n+1} = t_n + h` after a step :math:`h_p` is
accepted when its estimated local error is within the tolerance. Backward Euler's local
error is :math:`\tfrac12h^2\ddot u`; the linear extrapolation through the last two states,
:math:`u^p = u^n + (h/h_p)(u^n - u^{n-1})`, misses :math:`u(t_{n+1})` by
:math:`-\tfrac12h(h + h_p)\ddot u`, so

.. math::  e = \frac{h}{2h + h_p}\,(u^{n+1} - u^p)

estimates the local error to leading order (Milne's device: the difference of two
first-order results of known error constants, as derived here; Hairer, Nørsett & Wanner,
*Solving Ordinary Differential Equations I*, on variable-step multistep methods; for
:math:`h = h_p` the factor is 1/3). With ``scheme = "bdf2"`` the steps from the third
after the start or a breakpoint are variable-step BDF2 (:meth:`.coupling.ChipChain.
_bdf2`), whose error is estimated alike from the parabola through the last three states
(:func:`fvqp.solvers.bdf.milne_estimate`: :math:`e = c\,(u^{n+1} - u^p)`,
:math:`c = 2/11` at equal steps) and
whose steps follow :math:`\text{err}^{-1/3}`; a step that falls back to backward Euler
(a negative start) is tested as backward Euler. It is measured per unknown against

.. math::  \text{scale} = \text{rtol}\,\bigl(\max(|u^{n+1}|, |u^n|) + \phi\,U\bigr),

with :math:`U` the largest value of its kind the run has had so far — the QP
occupations of the films, and the phonon occupation of each energy node (over all cells
and ordinates: the thermal low-energy phonons do not set the floor of the deposited
ones) — and :math:`\phi` the ``[time] error_floor`` (default :data:`ERROR_FLOOR`), so
neither occupations at round-off far from the pulse nor a node that has emptied set the
step. (Against the current largest value instead of the run's, the top phonon node of
the small chip, decaying by 15 % per step toward 1e-17 after the burst, held the steps
at 4 ns to the end: 396 steps for 1 us.) The error of the step is the largest
ratio of any unknown (the maximum norm: a phonon pulse crossing a few cells of a large
chip is not diluted by the quiet ones). A step with error :math:`\le 1` is accepted, and
the next is :math:`h\,\min(2, \max(0.2, 0.9\,e^{-1/2}))`
(:func:`fvqp.solvers.bdf.step_factor`); a rejected one is retried that much shorter. A
step that fails (a phonon KSP, the films' QP Newton step — one backward-Euler step of the
chain step's length, never cut into sub-steps (:attr:`.coupling.ChipChain.whole_steps`)
— or the coupled iteration does not converge, or the film phonons' denominator would not
stay positive) is retried at a quarter of its length; when a solver failed (not the
state's positivity), the later steps are at most half the failed one, a ceiling that
rises by :data:`CEILING_RISE` with every accepted step (:attr:`StepControl.ceiling`:
back at the failed length after 7 steps, so an early failure does not hold a run's tail
short): on the layout chip to 1 µs at rtol 3e-2 the QP Krylov solves of 84 ns steps did
not converge, and without the ceiling the control grew back to that length after every
retry (3 failures of up to 400 Krylov iterations each, the QP solves 3× the run's other
costs). The
first step, and the first after a source's breakpoint (a pulse's window: steps end on
its edges; inside, unchecked steps are at most half the pulse's width and checked ones hold
at most 0.197 of its energy, :meth:`fvqp.mesh.sources.PulseProfile.max_dt`), have no
estimate (the predictor would extrapolate across the switch) and keep their length.

``[time] dt_min`` (default 1e-9 of the first step) ends the run when the retries reach
it, ``dt_max`` caps every step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ...solvers.bdf import milne_estimate

__all__ = ["CEILING_RISE", "ERROR_FLOOR", "RTOL", "StepControl"]

#: default ``[time] rtol`` of the chip's adaptive steps
RTOL = 1e-2
#: default ``[time] error_floor``: the error floor of an unknown, as a fraction of the
#: largest value of its kind (module docstring)
ERROR_FLOOR = 1e-2
#: the most a step grows over the last one
GROW = 2.0
#: the factor by which the ceiling after a solver's failure rises per accepted step
CEILING_RISE = 1.1


@dataclass
class StepControl:
    """The tolerances and the record of the adaptive steps (module docstring).

    Attributes
    ----------
    rtol, floor : float
        ``[time] rtol`` and ``error_floor``.
    dt_min, dt_max : float
        Internal time.
    rejected, failed : int
        Steps rejected by the error test, and attempts that failed and were retried
        at a quarter.
    shortest, longest : float
        The steps taken (internal time).
    ceiling : float
        The longest step tried now: half the last step at which a solver failed, risen
        by :data:`CEILING_RISE` per accepted step since (module docstring); infinite
        before any such failure.
    """

    rtol: float = RTOL
    floor: float = ERROR_FLOOR
    dt_min: float = 0.0
    dt_max: float = math.inf
    rejected: int = 0
    failed: int = 0
    shortest: float = math.inf
    longest: float = 0.0
    ceiling: float = math.inf
    #: per kind of unknown the largest value of each row so far (module docstring)
    peaks: dict = field(default_factory=dict)

    @classmethod
    def from_case(cls, tm, dt_initial: float) -> StepControl:
        """From the chip's ``[time]`` table (internal units)."""
        return cls(rtol=tm.get("rtol") or RTOL, floor=tm.get("error_floor") or ERROR_FLOOR,
                   dt_min=tm.get("dt_min") or 1e-9 * dt_initial,
                   dt_max=tm.get("dt_max") or math.inf)

    def state(self) -> dict:
        """The counters, for a checkpoint."""
        return {"rejected": self.rejected, "failed": self.failed,
                "shortest": self.shortest, "longest": self.longest, "ceiling": self.ceiling,
                "peaks": {str(k): [float(v) for v in p] for k, p in self.peaks.items()}}

    def restore(self, state: dict) -> None:
        self.rejected, self.failed = int(state["rejected"]), int(state["failed"])
        self.shortest, self.longest = float(state["shortest"]), float(state["longest"])
        self.ceiling = float(state["ceiling"])
        self.peaks = {int(k): np.array(p, dtype=float) for k, p in state["peaks"].items()}

    def taken(self, h: float) -> None:
        """Record an accepted step (the ceiling rises)."""
        self.shortest, self.longest = min(self.shortest, h), max(self.longest, h)
        self.ceiling *= CEILING_RISE

    def solver_failed(self, h: float) -> None:
        """A solver did not converge at the step ``h``: the ceiling is half of it."""
        self.ceiling = min(self.ceiling, h / 2)

    def error(self, blocks, h: float, past: tuple) -> float:
        """The error of a step ``h`` after the steps ``past`` (the last first: one for
        backward Euler, two for BDF2; :func:`fvqp.solvers.bdf.milne_estimate`), the
        largest over ``blocks``: ``(dist, new, states)`` per kind of unknown, arrays
        (nodes, values) whose rows share one floor (over all ranks): the state after the
        step and the states at its start and before, the latest first (one more than
        ``past``). The rows' largest values join :attr:`peaks`."""
        weights, c = milne_estimate(h, past)
        worst = 0.0
        for b, (dist, new, states) in enumerate(blocks):
            now = states[0]
            size = np.maximum(np.abs(new), np.abs(now))
            top = dist.max_array(size.max(axis=1, initial=0.0))       # per row, all ranks
            top = self.peaks[b] = np.maximum(self.peaks.get(b, top), top)
            scale = self.rtol * (size + self.floor * top[:, None])
            pred = sum(wk * u for wk, u in zip(weights, states, strict=True))
            e = np.abs(c * (new - pred))
            ratio = np.divide(e, scale, out=np.zeros_like(e), where=scale > 0)
            worst = max(worst, dist.max(float(ratio.max(initial=0.0))))
        return worst


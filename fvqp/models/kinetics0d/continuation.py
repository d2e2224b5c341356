r"""Continuation in the bath temperature: the steady state of a cold, driven film reached
from a warmer bath (a start of :func:`fvqp.models.kinetics0d.steady_state`).

Why a cold bath can defeat both starts
--------------------------------------
A drive given by its absorbed power :math:`P` (``[[drives]] power``) is absorbed by the
QPs present. Far below :math:`T_c` the bath holds :math:`N_T \propto e^{-\Delta/T_B}`
of them — Al at 60 mK: :math:`\Delta/T_B \approx 34`, :math:`N_T \approx 5\cdot
10^{-9}\,\mu\mathrm{m}^{-3}`. For photons below :math:`2\Delta` (a resonator's readout,
:math:`\hbar\omega \ll 2\Delta`) the rate per QP of the bath's state,
:math:`P/(N_T\hbar\omega)`, is then astronomical: a TS run from the bath fails at once
("no absorption possible"), and Newton diverges from the bath and from the quasi-thermal
start (whose two-parameter family misses the QPs the ladder makes). The steady state
exists all the same: the drive lifts QPs up the ladder :math:`\Delta + k\hbar\omega`
until they emit pair-breaking phonons (:math:`\Omega > 2\Delta`), and the QPs those
create absorb the drive — a state set by the drive, nearly independent of the bath
(Goldie & Withington, SuST 26, 015004 (2013); de Visser et al., PRL 112, 047004 (2014):
readout power generating the QPs of an Al resonator below ~120 mK). Al at 60 mK and at
20 mK under 1 fW of 5 GHz photons: the same :math:`N_{qp}` to five digits
(``tests/test_kinetics0d_continuation.py``).

The continuation
----------------
Where the drive sets the state, a warmer bath moves it little, so Newton converges from
one bath's state at a slightly colder one:

1. *up*: :math:`T_k = T_B r^k` (:data:`RATIO`) until Newton converges from the default
   starts (quasi-thermal, then the bath) at :math:`T_k`, at most :data:`T_MAX`;
2. *down*: from there to :math:`T_B`, each Newton from the previous bath's state; a
   failed step is retried with its ratio's logarithm halved (at most :data:`HALVINGS`
   times in a row), a successful one doubles it back (at most :data:`RATIO`).

Only the bath temperature changes along the path (:meth:`Kinetics0D.with_bath`: the
phonon bath occupation of escape and the equilibrium); the last state solves the
model at :math:`T_B` itself, to the same per-entry test as any other start. Where the
drive does not set the state (it would need the bath's QPs), the path stops on a step
that does not converge and the caller goes on to its TS fallback.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ...solvers.dense import NewtonResult
from .model import Kinetics0D

log = logging.getLogger(__name__)

__all__ = ["HALVINGS", "RATIO", "T_MAX", "Continuation", "bath_continuation"]

#: bath temperature ratio of the steps up and of the largest step down
RATIO = 1.25
#: highest bath temperature tried (kTc, i.e. T/Tc): thermal QPs dominate a weak drive
#: there, and the quasi-thermal start converges
T_MAX = 0.3
#: halvings in a row of a step down's log-ratio before the path is given up
#: (smallest ratio 1.25^(1/64) = 1.0035)
HALVINGS = 6

#: Newton at a bath from the default starts: ``(model) -> (state or None, last result,
#: Newton iterations, GMRES iterations)`` (the counts of every start tried)
DefaultSolve = Callable[[Kinetics0D], tuple["np.ndarray | None", NewtonResult, int, int]]
#: Newton at a bath from a given state: ``(model, y0) -> (state or None, result,
#: Newton iterations, GMRES iterations)``
GivenSolve = Callable[[Kinetics0D, np.ndarray],
                      tuple["np.ndarray | None", NewtonResult, int, int]]


@dataclass
class Continuation:
    """Outcome of :func:`bath_continuation`.

    Attributes
    ----------
    y : ndarray or None
        The steady state at the model's bath (None: the path stopped).
    result : NewtonResult or None
        The last Newton run (at the model's bath when ``y`` is set).
    baths : list of float
        The baths (T/Tc) whose steady state was reached, warmest first.
    runs, failed, iterations, krylov : int
        Newton runs, those that failed, their Newton and GMRES iterations.
    message : str
        Where the path stopped and why (empty on success).
    """

    y: np.ndarray | None = None
    result: NewtonResult | None = None
    baths: list = field(default_factory=list)
    runs: int = 0
    failed: int = 0
    iterations: int = 0
    krylov: int = 0
    message: str = ""

    def record(self) -> dict:
        """Plain dict for ``start`` of a steady state (summaries)."""
        return {"baths_over_Tc": [float(b) for b in self.baths], "newton_runs": self.runs,
                "failed_runs": self.failed, "iterations": self.iterations,
                "krylov_iterations": self.krylov, "stopped": self.message}

    def _count(self, y, res: NewtonResult, iterations: int, krylov: int):
        self.runs += 1
        self.failed += y is None
        self.iterations += iterations
        self.krylov += krylov
        self.result = res
        return y, res


def bath_continuation(model: Kinetics0D, default: DefaultSolve, given: GivenSolve, *,
                      ratio: float = RATIO, t_max: float = T_MAX,
                      halvings: int = HALVINGS) -> Continuation:
    """The steady state of ``model`` by continuation in the bath temperature (module
    docstring): up from the model's bath by ``ratio`` until ``default`` converges (at most
    ``t_max``), then down to the bath by ``given`` steps, each ratio's logarithm halved on
    a failure (at most ``halvings`` times in a row)."""
    out = Continuation()
    t_bath = float(model.t_bath)
    if not t_bath > 0.0:
        out.message = "the bath is at zero temperature (nothing to continue from)"
        return out
    t, y = t_bath, None
    while y is None:
        t *= ratio
        if t > t_max:
            out.message = (f"Newton did not converge from the default starts at any bath "
                           f"from {t_bath * ratio:.4g} to {t_max:g} Tc")
            return out
        y, res = out._count(*default(model.with_bath(t)))
    out.baths.append(t)
    log.info("bath continuation: a steady state at %.4g Tc (bath %.4g Tc)", t, t_bath)
    step, largest, misses = math.log(ratio), math.log(ratio), 0
    while t > t_bath:
        t_next = t * math.exp(-step)
        if t_next <= t_bath * (1.0 + 1e-9):   # the last step lands on the bath itself
            t_next = t_bath
        if t_next >= t:          # the step's ratio has reached 1 in floating point
            break
        y_next, res = out._count(*given(model.with_bath(t_next), y))
        if y_next is None:
            misses += 1
            if misses > halvings:
                out.message = (f"no steady state {100 * (1 - t_next / t):.2g} % below "
                               f"the bath {t:.6g} Tc it had reached, after {halvings} "
                               f"halvings of the step ({res.reason})")
                return out
            step /= 2.0
            continue
        t, y, misses = t_next, y_next, 0
        out.baths.append(t)
        step = min(2.0 * step, largest)
    if t > t_bath:
        out.message = f"the steps stopped at {t:.6g} Tc above the bath {t_bath:.6g} Tc"
        return out
    log.info("bath continuation: the bath's steady state after %d baths (%d Newton runs, "
             "%d failed)", len(out.baths), out.runs, out.failed)
    out.y = y
    return out

r"""Forcing terms of inexact Newton: how far each linear solve of a Newton iteration goes.

Newton's iteration :math:`x_{k+1} = x_k + \delta_k` needs :math:`\delta_k` only as
accurately as the nonlinear error it leaves: with :math:`\|F_k + J_k\delta_k\| \le
\eta_k\|F_k\|` the next residual is :math:`\|F_{k+1}\| \lesssim \eta_k\|F_k\| +
C\|F_k\|^2`, so a linear solve to :math:`10^{-10}` in the first iteration of a step,
whose nonlinear residual is :math:`10^{-3}` of the start after it anyway, spends Krylov
iterations on digits the next residual evaluation throws away; and the last solve needs
only to bring the residual under the solve's own stopping test. The *forcing term*
:math:`\eta_k` (Eisenstat & Walker 1996, SIAM J. Sci. Comput. 17, 16, "choice 2") is

.. math::
    \eta_0 = \eta_{first}, \qquad
    \eta_k = \gamma\left(\frac{\|F_k\|}{\|F_{k-1}\|}\right)^{\alpha}
    \quad\text{(safeguard: } \max(\eta_k, \gamma\eta_{k-1}^{\alpha})
    \text{ if } \gamma\eta_{k-1}^{\alpha} > 0.1\text{)},

clipped to :math:`[\eta_{min}, \eta_{max}]`, with :math:`\eta_{min}` the configured
Krylov ``rtol`` (never tighter than without forcing), and never tighter than
:math:`\zeta\tau/\|F_k\|` with :math:`\tau = \max(\text{atol}, \text{rtol}\|F_0\|)` the
residual test that ends the Newton solve (no digits below it).

Only Newton solves that stop on that residual test are forced (fixed time steps, steady
states): they still stop at :math:`\|F\| \le \tau`, so the answer is as accurate as the
test asks, whatever the path (exact solves only overshot it: the absorber burst's final
:math:`\|F\|` fell to :math:`10^{-17}` against :math:`\tau = 5\cdot10^{-13}`). The
balances' imbalances are the weighted sum of the last linear residual, bounded by
:math:`\tau` too. A Newton solve that stops on its *correction*
(:class:`fvqp.solvers.nonlinear._CorrectionTest`, adaptive BDF steps) keeps exact
solves (:math:`\eta_k = \eta_{min}`): it may accept a single correction, and the
residual's 2-norm that :math:`\eta` controls does not bound that correction's error in
the small unknowns. Measured with forcing there (coarse absorber, 3 adaptive steps,
condensed against full Schur solve): energies 8e-9 apart (1e-11 with exact solves) and
an energy imbalance of 1e-7 of the deposit; over the 2 us transient the totals agreed
to 1e-11 and it saved 20 % of the Krylov iterations, but a test of two solver paths at
1e-9 failed, so it is off.

PETSc's own ``-snes_ksp_ew`` uses :math:`\eta_0 = 0.3`, :math:`\eta_{max} = 0.9`: made for
preconditioners that gain a little per iteration. Where one Krylov iteration gains two
decades (transport's condensed solve: :math:`5\times10^{-3}` per iteration on the
absorber burst) a first solve to 0.3 leaves a poor direction and costs Newton iterations,
each worth several Krylov iterations (a residual and two actions of the exact operator):
on the coarse absorber burst PETSc's rule took 18 Newton iterations instead of 12. The
defaults here (:data:`DEFAULTS`) suit strong preconditioners: :math:`\eta_0 = 10^{-5}`,
:math:`\eta_{max} = 10^{-3}`, :math:`\gamma = 0.9`, :math:`\alpha = 2` (quadratic
convergence expected), :math:`\zeta = 0.1`. Measured with transport's condensed Schur
solve (one thread, idle machine; Newton / Krylov iterations / s of stepping): the burst
of 13 280 cells x 66 bins, 6 BDF1 steps; and, for the Newton counts at long steps,
the 520-cell absorber's adaptive 2 us transient with forcing in its correction-tested
solves (then allowed):

==================  ====================  ====================================
(eta_0, eta_max)    burst, 13 280 cells   520-cell absorber, adaptive, 76 steps
==================  ====================  ====================================
none (rtol 1e-10)   12 / 58 / 21.6        197 / 2 841 / 11.4
(1e-3, 1e-3)        12 / 30 / 18.0        227 / 2 269 / 10.0
(1e-4, 1e-3)        12 / 30 / 17.2        212 / 2 350 / 9.8
(1e-4, 1e-2)        12 / 30 / 17.8        212 / 2 350 / 9.8
**(1e-5, 1e-3)**    12 / 33 / 18.2        198 / 2 282 / 9.5
(1e-6, 1e-4)        12 / 36 / 18.6        197 / 2 282 / 9.6
==================  ====================  ====================================

A looser first solve pays on the burst (2 Newton iterations per step whatever
:math:`\eta_0`) and costs Newton iterations at long steps, where one Krylov iteration
gains less; :math:`10^{-5}` keeps the Newton count of exact solves there. The burst's
summary equal to :math:`10^{-12}` but the flows far below their resolution and the
imbalances (energy 3.9e-13 of the deposit instead of 2e-16).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["DEFAULTS", "KEYS", "Forcing", "ForcingOptions", "forcing_options"]


@dataclass(frozen=True)
class ForcingOptions:
    """Parameters of the forcing terms (module docstring).

    Attributes
    ----------
    first : float
        :math:`\\eta_0`, the first linear solve of every Newton solve.
    max : float
        :math:`\\eta_{max}`.
    gamma, alpha : float
        :math:`\\gamma`, :math:`\\alpha` of Eisenstat-Walker's choice 2.
    floor : float
        :math:`\\zeta`: no linear solve below this fraction of the residual test's
        tolerance :math:`\\tau` (residual-tested solves only).
    """

    first: float = 1e-5
    max: float = 1e-3
    gamma: float = 0.9
    alpha: float = 2.0
    floor: float = 0.1

    def __post_init__(self) -> None:
        if not (0.0 < self.first < 1.0 and 0.0 < self.max < 1.0):
            raise ValueError(f"forcing terms must lie in (0, 1): first {self.first}, "
                             f"max {self.max}")
        if not (0.0 < self.gamma <= 1.0 and 1.0 < self.alpha <= 2.0
                and 0.0 < self.floor <= 1.0):
            raise ValueError(f"forcing parameters out of range: gamma {self.gamma} in "
                             f"(0, 1], alpha {self.alpha} in (1, 2], floor {self.floor} "
                             "in (0, 1]")


#: the defaults (module docstring)
DEFAULTS = ForcingOptions()


class Forcing:
    """The forcing term of every linear solve of one Newton solve after another.

    Parameters
    ----------
    options : ForcingOptions
    rtol_min : float
        :math:`\\eta_{min}`: the Krylov ``rtol`` without forcing.

    Examples
    --------
    >>> f = Forcing(ForcingOptions(), rtol_min=1e-10)
    >>> f.start(target=1e-13)         # a residual test at 1e-13
    >>> f.rtol(1.0)                   # eta_0
    1e-05
    >>> round(f.rtol(1e-3), 12)       # quadratic convergence: 0.9 (1e-3)^2
    9e-07
    >>> round(f.rtol(1e-8), 12)       # not below 0.1 * 1e-13 / 1e-8
    1e-06
    >>> f.start(target=None)          # no residual test: exact solves
    >>> f.rtol(1.0)
    1e-10
    """

    def __init__(self, options: ForcingOptions, rtol_min: float):
        self.o = options
        self.rtol_min = float(rtol_min)
        self._target: float | None = None
        self._prev: tuple[float, float] | None = None  # (|F|, eta) of the last solve
        #: the forcing term of the current linear solve (None before the first)
        self.current: float | None = None

    def start(self, target: float | None) -> None:
        """A new Newton solve; ``target``: its residual test's tolerance :math:`\\tau`
        (None: it stops on another test, and every solve goes to :math:`\\eta_{min}`,
        module docstring)."""
        self._target = target
        self._prev = None
        self.current = None

    def rtol(self, fnorm: float) -> float:
        """:math:`\\eta_k` of the next linear solve, whose right-hand side has the norm
        ``fnorm`` (module docstring)."""
        o = self.o
        if self._target is None:  # no residual test: exact solves (module docstring)
            self.current = self.rtol_min
            return self.rtol_min
        if self._prev is None or not self._prev[0] > 0.0 or not math.isfinite(fnorm):
            eta = o.first
        else:
            f_prev, eta_prev = self._prev
            eta = o.gamma * (fnorm / f_prev) ** o.alpha
            guard = o.gamma * eta_prev ** o.alpha
            if guard > 0.1:
                eta = max(eta, guard)
        eta = min(max(eta, self.rtol_min), o.max)
        if fnorm > 0.0 and math.isfinite(fnorm):
            eta = max(eta, min(o.floor * self._target / fnorm, o.max))
        self._prev = (fnorm, eta)
        self.current = eta
        return eta


#: fvqp's own keys of the forcing terms (``[solver.petsc]`` of a case, or
#: ``-<prefix><key>`` on the command line, which wins): not PETSc options
KEYS = {"newton_forcing": "on", "newton_forcing_first": "first",
        "newton_forcing_max": "max"}


def forcing_options(prefix: str, case_petsc: Mapping, default: bool
                    ) -> ForcingOptions | None:
    """The forcing terms a case asks for: ``newton_forcing`` (bool, default
    ``default``), ``newton_forcing_first`` (:math:`\\eta_0`) and ``newton_forcing_max``
    (:math:`\\eta_{max}`) of ``case_petsc`` (the case's ``[solver.petsc]``), the command
    line's ``-<prefix><key>`` winning; None if off."""
    from .linear import case_option

    given = {k: v for k, v in case_petsc.items() if k in KEYS}
    if not case_option(prefix + "newton_forcing", given, "newton_forcing", default):
        return None
    values = {KEYS[k]: case_option(prefix + k, given, k, float(getattr(DEFAULTS, KEYS[k])))
              for k in ("newton_forcing_first", "newton_forcing_max")}
    try:
        return ForcingOptions(**values)
    except ValueError as exc:
        raise ValueError(f"[solver.petsc] newton_forcing_first / newton_forcing_max (or "
                         f"-{prefix}newton_forcing_*): {exc}. Fix: give values in (0, 1), "
                         f"e.g. {DEFAULTS.first:g} and {DEFAULTS.max:g}, or "
                         "newton_forcing = false") from None

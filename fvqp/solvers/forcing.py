r"""Forcing terms of inexact Newton: how far each linear solve of a Newton iteration goes.

Newton's iteration :math:`x_{k+1} = x_k + \delta_k` needs :math:`\delta_k` only as
accurately as the nonlinear error it leaves: with :math:`\|F_k + J_k\delta_k\| \le
\eta_k\|F_k\|` the next residual is :math:`\|F_{k+1}\| \lesssim \eta_k\|F_k\| +
C\|F_k\|^2`. A BDF step's first Newton iteration starts from the predictor, and its
nonlinear remainder is :math:`10^{-3}`–:math:`10^{-6}` of the start (the absorber
burst): a first linear solve to :math:`10^{-10}` spends half its Krylov iterations on
digits the next residual evaluation throws away.

Two rules (:class:`ForcingOptions` ``rule``):

* ``"first"`` (the default): the first linear solve of a Newton solve goes to
  :math:`\eta_0` (``first``), every later one to the configured Krylov ``rtol``
  :math:`\eta_{min}`, as without forcing;
* ``"ew"``: Eisenstat & Walker's choice 2 (1996, SIAM J. Sci. Comput. 17, 16) for all,

  .. math::
      \eta_0 = \eta_{first}, \qquad
      \eta_k = \gamma\left(\frac{\|F_k\|}{\|F_{k-1}\|}\right)^{\alpha}
      \quad\text{(safeguard: } \max(\eta_k, \gamma\eta_{k-1}^{\alpha})
      \text{ if } \gamma\eta_{k-1}^{\alpha} > 0.1\text{)},

  clipped to :math:`[\eta_{min}, \eta_{max}]` and never tighter than
  :math:`\zeta\tau/\|F_k\|`.

Here :math:`\tau = \max(\text{atol}, \text{rtol}\|F_0\|)` is the residual test that ends
the Newton solve. Only Newton solves that stop on it are forced (fixed time steps,
steady states); they still stop at :math:`\|F\|\le\tau`. A Newton solve that stops on
its *correction* (:class:`fvqp.solvers.nonlinear._CorrectionTest`, adaptive BDF steps)
keeps exact solves: it may accept a single correction, whose error in the small
unknowns the residual's 2-norm does not bound (measured with forcing there, coarse
absorber, 3 adaptive steps: energies of two solver paths 8e-9 apart instead of 1e-11, an
energy imbalance of 1e-7 of the deposit). A model whose own measurements show otherwise
may force them (:class:`ForcingOptions` ``correction``: the collisional ``bte``).

Why ``"first"`` is the default: the residual test is a 2-norm, dominated by the largest
unknowns; the small ones (QP tails, high phonon modes) are only as accurate as the last
linear solve makes them. Absorber burst, 13 280 cells x 66 bins, 6 BDF1 steps, the
final state against a tight reference (``snes_rtol`` 1e-13, ``ksp_rtol`` 1e-12,
13 Newton / 70 Krylov), the largest relative error among the unknowns above
:math:`10^{-4}` / :math:`10^{-8}` of the largest; Newton / Krylov iterations:

=====================  ==========  ==================
solves                 Newton/Kry  above 1e-4 / 1e-8
=====================  ==========  ==================
exact (rtol 1e-10)     12 / 58     4.8e-12 / 4.9e-12
"first", eta_0 1e-5    12 / 45     4.8e-12 / 3.9e-11
"first", eta_0 1e-4    12 / 42     4.3e-12 / 8.7e-10
"first", eta_0 1e-3    12 / 40     3.9e-11 / 1.2e-09
"ew", (1e-5, 1e-3)     12 / 33     7.1e-11 / 2.7e-09
=====================  ==========  ==================

Stepping, one thread, idle machine: exact 19.1 s, ``"first"`` 16.7-17.4 s. On the
coarse absorber (520 cells, 64.25 ueV bins, 3 BDF1 steps; reference 13 Newton): exact
12 / 39, errors 1.2e-11 / 3.5e-10 / 6.0e-9 above 1e-4 / 1e-6 / 1e-8 of the largest;
``"first"`` 12 / 30, 1.2e-11 / 3.6e-10 / 8.9e-8; ``"ew"`` 12 / 24, 2.5e-9 / 7.5e-8 /
7.1e-6 (``tests/test_newton_forcing.py``).

``"first"`` with :math:`\eta_0 = 10^{-5}` keeps the unknowns above :math:`10^{-6}` of the
largest as accurate as exact solves, and loses an order of magnitude below;
``"ew"`` saves 12 more Krylov iterations for errors 50-1000x larger (PETSc's own
``-snes_ksp_ew``, :math:`\eta_0 = 0.3`, gave 1.3e-7 and 6 more Newton iterations: made
for preconditioners that gain little per iteration, where transport's condensed solve
gains two decades). The balances' imbalances are the last linear residual's weighted
sums, bounded by :math:`\tau`. On the 520-cell absorber's adaptive transient (2 us, 76
steps, forcing then allowed in correction-tested solves), ``"ew"`` with
:math:`\eta_0 = 10^{-5}` took 198 Newton / 2 282 Krylov against 197 / 2 841 (with
:math:`10^{-4}`: 212 / 2 350; :math:`10^{-3}`: 227 / 2 269): looser first solves cost
Newton iterations at long steps.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["DEFAULTS", "KEYS", "RULES", "Forcing", "ForcingOptions", "forcing_options"]

#: the forcing rules (module docstring)
RULES = ("first", "ew")


@dataclass(frozen=True)
class ForcingOptions:
    """Parameters of the forcing terms (module docstring).

    Attributes
    ----------
    rule : {"first", "ew"}
        Only the first solve forced, or Eisenstat-Walker for all (module docstring).
    first : float
        :math:`\\eta_0`, the first linear solve of every Newton solve.
    max : float
        :math:`\\eta_{max}`.
    gamma, alpha : float
        :math:`\\gamma`, :math:`\\alpha` of Eisenstat-Walker's choice 2.
    floor : float
        :math:`\\zeta`: no linear solve below this fraction of the residual test's
        tolerance :math:`\\tau` (residual-tested solves only).
    correction : bool
        Force correction-tested solves too (adaptive steps, which otherwise stay exact,
        module docstring): every linear solve to ``first`` (whatever ``rule``: without a
        residual test there are no norms for Eisenstat-Walker's ratio). Their stopping
        test measures the Newton corrections themselves and their observed rate, so a
        Newton iteration made linear (rate ~``first``) still stops on its error. For
        models whose measurements show it keeps the answer (the collisional ``bte``,
        :func:`fvqp.models.bte.coupled.forcing`).
    """

    rule: str = "first"
    first: float = 1e-5
    max: float = 1e-3
    gamma: float = 0.9
    alpha: float = 2.0
    floor: float = 0.1
    correction: bool = False

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise ValueError(f"forcing rule {self.rule!r}: expected one of {RULES}")
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
    >>> f = Forcing(ForcingOptions(), rtol_min=1e-10)   # rule "first"
    >>> f.start(target=1e-13)         # a residual test at 1e-13
    >>> f.rtol(1.0), f.rtol(1e-3)     # eta_0, then exact solves
    (1e-05, 1e-10)
    >>> f.start(target=None)          # no residual test: exact solves
    >>> f.rtol(1.0)
    1e-10
    >>> c = Forcing(ForcingOptions(correction=True), rtol_min=1e-10)
    >>> c.start(target=None)          # ... unless correction-tested solves are forced
    >>> c.rtol(float("nan")), c.rtol(float("nan"))
    (1e-05, 1e-05)
    >>> e = Forcing(ForcingOptions(rule="ew"), rtol_min=1e-10)
    >>> e.start(target=1e-13)
    >>> e.rtol(1.0)                   # eta_0
    1e-05
    >>> round(e.rtol(1e-3), 12)       # quadratic convergence: 0.9 (1e-3)^2
    9e-07
    >>> round(e.rtol(1e-8), 12)       # not below 0.1 * 1e-13 / 1e-8
    1e-06
    """

    def __init__(self, options: ForcingOptions, rtol_min: float):
        self.o = options
        self.rtol_min = float(rtol_min)
        self._target: float | None = None
        self._prev: tuple[float, float] | None = None  # (|F|, eta) of the last solve
        #: the forcing term of the current linear solve (None before the first)
        self.current: float | None = None
        #: :math:`\tau/\|F_k\|` of the current linear solve: how far below its
        #: right-hand side's norm the residual test that ends the Newton solve lies
        #: (None: no residual test, or no solve yet). A solve whose reach is far below
        #: what its own tolerance leaves cannot end the Newton solve: only the next
        #: iteration's can (e.g. its Jacobian actions may then be less precise,
        #: :data:`fvqp.models.transport.condensed.SINGLE_ACTION_REACH`).
        self.reach: float | None = None

    def start(self, target: float | None) -> None:
        """A new Newton solve; ``target``: its residual test's tolerance :math:`\\tau`
        (None: it stops on another test, and every solve goes to :math:`\\eta_{min}`,
        module docstring)."""
        self._target = target
        self._prev = None
        self.current = None
        self.reach = None

    def rtol(self, fnorm: float) -> float:
        """:math:`\\eta_k` of the next linear solve, whose right-hand side has the norm
        ``fnorm`` (module docstring)."""
        o = self.o
        self.reach = (self._target / fnorm if self._target is not None and fnorm > 0.0
                      and math.isfinite(fnorm) else None)
        if self._target is None:  # no residual test: exact solves (module docstring)
            if o.correction:                             # ... unless ``correction``
                self.current = max(o.first, self.rtol_min)
                return self.current
            self.current = self.rtol_min
            return self.rtol_min
        if self._prev is None or not self._prev[0] > 0.0 or not math.isfinite(fnorm):
            eta = o.first
        elif o.rule == "first":  # later solves exact (module docstring)
            self._prev = (fnorm, self.rtol_min)
            self.current = self.rtol_min
            return self.rtol_min
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
KEYS = {"newton_forcing": "rule", "newton_forcing_first": "first",
        "newton_forcing_max": "max"}


def forcing_options(prefix: str, case_petsc: Mapping, default: bool
                    ) -> ForcingOptions | None:
    """The forcing terms a case asks for: ``newton_forcing`` (``"first"``, ``"ew"``, or
    a boolean: true is ``"first"``; default ``default``), ``newton_forcing_first``
    (:math:`\\eta_0`) and ``newton_forcing_max`` (:math:`\\eta_{max}`, rule ``"ew"``)
    of ``case_petsc`` (the case's ``[solver.petsc]``), the command line's
    ``-<prefix><key>`` winning; None if off."""
    from .linear import case_option

    given = {k: v for k, v in case_petsc.items() if k in KEYS}
    if isinstance(given.get("newton_forcing"), bool):
        given["newton_forcing"] = "first" if given["newton_forcing"] else "none"
    rule = str(case_option(prefix + "newton_forcing", given, "newton_forcing",
                           "first" if default else "none")).strip().lower()
    rule = {"true": "first", "1": "first", "yes": "first", "on": "first", "false": "none",
            "0": "none", "no": "none", "off": "none"}.get(rule, rule)
    if rule == "none":
        return None
    values = {KEYS[k]: case_option(prefix + k, given, k, float(getattr(DEFAULTS, KEYS[k])))
              for k in ("newton_forcing_first", "newton_forcing_max")}
    try:
        return ForcingOptions(rule=rule, **values)
    except ValueError as exc:
        raise ValueError(f"[solver.petsc] newton_forcing / newton_forcing_first / "
                         f"newton_forcing_max (or -{prefix}newton_forcing*): {exc}. Fix: "
                         f"newton_forcing = \"first\", \"ew\" or false, and values in "
                         f"(0, 1), e.g. {DEFAULTS.first:g} and {DEFAULTS.max:g}") from None

r"""Conservative, adaptive BDF1/BDF2 time integration with a PETSc SNES solve per step.

Models write :math:`\partial_t C(x) = R(x, t)` with a *conserved* variable :math:`C` (energy
of a cell as a function of its temperature, :math:`\rho f` of a quasiparticle bin ...)
that is a cellwise function of the *primitive* unknown :math:`x` on which Newton iterates.
The variable-step BDF2 step from :math:`t_n` to :math:`t_{n+1}=t_n+h`, with
:math:`\omega = h/h_{n-1}`,

.. math::  \alpha_0 C(x_{n+1}) + \alpha_1 C(x_n) + \alpha_2 C(x_{n-1}) = h\,R(x_{n+1}),
   \quad \alpha_0=\frac{1+2\omega}{1+\omega},\ \alpha_1=-(1+\omega),\
   \alpha_2=\frac{\omega^2}{1+\omega},

has :math:`\sum\alpha_k = 0`, so every linear invariant of the semi-discrete system — the
total energy plus the energy that left through the boundaries — is kept exactly (to the
Newton tolerance) when the boundary and source power are integrated as extra
*accumulator* components with the same coefficients (:meth:`BDFIntegrator.step`). This is
PETSc's ``TSSetTransientVariable`` idea (not exposed by petsc4py), here with a Milne-device
error estimate and step-size control. The first step is backward Euler.

Explicit sources (a deposit :math:`A(t)=\int_0^t S`, independent of the state): a model that
names them (``problem.explicit_source(t0, t1)``: the step-averaged source inside ``rhs`` and
its share of each rate key) has BDF2 applied to :math:`\tilde C = C - A` instead of
:math:`C`,

.. math::  \alpha_0 (C_{n+1}-C_n-S_{n+1}) - \alpha_2 (C_n-C_{n-1}-S_n) = h\,R_\mathrm{impl},

with :math:`S_{n+1}` the exact integral over the step. Without it, a source's share of the
step enters as :math:`h\bar S_{n+1}` with the weight of :math:`C_{n+1}`, and what a
backward-Euler (re)start step deposits ends up counted 3/2 times once BDF2 takes over
(fixed steps, where nothing resolves the pulse: 1.32 × 6 keV measured in the bte absorber),
consistently in the storage and the balance, so no imbalance shows; with a step ratio
:math:`\omega\ne1` the weights of a pulse inside BDF2 steps differ from 1 too (an adaptive
run through a Gaussian window, restarted at its breakpoints, was off by 3e-10 only). For a
constant source both forms agree (the correction :math:`(\alpha_0-1)S_{n+1}-\alpha_2 S_n`
vanishes); the scheme stays second order (BDF2 on a smooth :math:`\tilde C` with
:math:`A(t)` exact).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from .jacobian import JacobianConfig
from .result import ConvergenceError, RunResult
from .shifted import shifted_newton

log = logging.getLogger(__name__)


def bdf2_coefficients(w: float) -> tuple[float, float, float]:
    r"""The variable-step BDF2 weights :math:`(\alpha_0, \alpha_1, \alpha_2)` of a step
    :math:`h` after a step :math:`h/w` (module docstring; :math:`w = 1`:
    :math:`\tfrac32, -2, \tfrac12`)."""
    return (1 + 2 * w) / (1 + w), -(1 + w), w * w / (1 + w)


def milne_estimate(h: float, past: tuple) -> tuple[tuple, float]:
    r"""The predictor and the error factor of a step ``h`` after the steps ``past``
    (Milne's device, as :mod:`fvqp.models.bte_chip.adaptive` uses it): ``(weights, c)``
    with the local error :math:`c\,(u^{n+1} - \sum_k w_k u^{n-k})`.

    One step :math:`h_p` (backward Euler): the line through :math:`u^n, u^{n-1}`,
    :math:`w = (1 + h/h_p, -h/h_p)`, :math:`c = h/(2h + h_p)`. Two, :math:`h_p, h_{pp}`
    (variable-step BDF2, :func:`bdf2_coefficients`): the parabola through
    :math:`u^n, u^{n-1}, u^{n-2}` at :math:`t_{n+1}` (Lagrange), which misses
    :math:`u(t_{n+1})` by :math:`K_p\dddot u`, :math:`K_p = h(h + h_p)(h + h_p +
    h_{pp})/6`, while variable-step BDF2's local error is :math:`K_c\dddot u`,
    :math:`K_c = h^3(1+\omega)^2/(6\omega(1+2\omega))`, :math:`\omega = h/h_p` (its
    truncation error :math:`-h^3(1+\omega)/(6\omega)\dddot u` divided by its first
    coefficient :math:`(1+2\omega)/(1+\omega)`; :math:`\tfrac29h^3` at equal steps);
    so :math:`c = K_c/(K_c + K_p)` (2/11 at equal steps)."""
    if len(past) == 1:
        w = h / past[0]
        return (1.0 + w, -w), h / (2.0 * h + past[0])
    hp, hpp = past
    a, b = h + hp, h + hp + hpp
    weights = (a * b / (hp * (hp + hpp)), -h * b / (hp * hpp), h * a / ((hp + hpp) * hpp))
    w = h / hp
    kc = h**3 * (1.0 + w) ** 2 / (6.0 * w * (1.0 + 2.0 * w))
    kp = h * a * b / 6.0
    return weights, kc / (kc + kp)


def planned_step(h: float, remaining: float) -> float:
    """The step :meth:`BDFIntegrator.step` tries first toward a stop ``remaining`` ahead:
    the whole remainder when ``h`` reaches it, half of it when ``h`` would leave less
    than ``h`` (no sliver steps), else ``h``."""
    if h >= remaining * (1 - 1e-10):
        return remaining
    if 2 * h > remaining:
        return remaining / 2
    return h


def step_factor(err: float, order: int, grow: float) -> float:
    r"""The elementary step controller of every adaptive time loop: the factor of the next
    step after a step of estimated local error ``err`` (in units of the tolerance) of a
    method of order ``order``, :math:`0.9\,\text{err}^{-1/(p+1)}` clipped to
    :math:`[0.2, \text{grow}]` (``grow`` when ``err`` is 0). A rejected step
    (``err`` > 1) is retried with this factor too (then at most 0.9)."""
    if err <= 0:
        return grow
    return min(grow, max(0.2, 0.9 * err ** (-1.0 / (order + 1))))


def internal_time(t: float) -> str:
    """The default :attr:`BDFIntegrator.time_format`: a time in internal units."""
    return f"{t:.4e} (internal units)"


@dataclass
class BDFOptions:
    """Time-step control.

    Attributes
    ----------
    order : int
        1 (backward Euler) or 2 (BDF2, default).
    dt_initial, dt_min, dt_max : float
        Step sizes in internal time units.
    rtol, atol : float
        Local error tolerances on the primitive unknowns.
    adaptive : bool
        If False, steps are ``dt_initial`` (shortened only to land on breakpoints).
    newton_tol : float or None
        Newton's stopping test, in units of the local error tolerance: a step's solve
        stops when its full Newton correction is at most this in every unknown,
        max |dx|/(atol + rtol |x|) (times a convergence-rate factor), and applies it;
        the iterate's remaining error is then ~``newton_tol``:sup:`2` of the tolerance
        (quadratic convergence), so the
        error estimate sees the discretisation error and not solver noise, and the step
        sequence is the same in repeated runs, serial or parallel (see
        :class:`~fvqp.solvers.nonlinear._CorrectionTest`). PETSc's residual tolerances
        ``snes_rtol``/``snes_atol``/``snes_stol`` are not used. ``None``, or fixed steps
        (``adaptive = False``, where no step decision rests on the error estimate):
        PETSc's residual tests instead (not reproducible when the unknowns' scales
        differ widely).
    atol_factor : float
        With PETSc's residual tests only (``newton_tol = None`` or fixed steps): Newton's
        absolute tolerance is this times the norm of the storage term
        :math:`\alpha_0 C/h` (the residual's natural scale), so a residual at round-off
        level is converged whatever the units; ``snes_atol`` in the options overrides it.
    """

    order: int = 2
    dt_initial: float = 1e-3
    dt_min: float = 1e-14
    dt_max: float = math.inf
    rtol: float = 1e-3
    atol: float = 1e-6
    adaptive: bool = True
    newton_tol: float | None = 1e-3
    atol_factor: float = 1e-12


#: difference step of :meth:`BDFIntegrator.conserve` along a balance direction
CONSERVE_EPS = 1e-7
#: moves of :meth:`BDFIntegrator.conserve` with one derivative: the second takes out what
#: the difference quotient's error left (the bte film relaxation with its phonons in the
#: bath, where the emission to the bath is the most nonlinear flow: ~1e-6 of the step's
#: imbalance after one move, round-off after two)
CONSERVE_CORRECTIONS = 2
#: the largest move :meth:`BDFIntegrator.conserve` makes, in units of the local error
#: tolerance ``atol + rtol |x|`` (max over the unknowns, as Newton's correction test): a
#: tenth of it (Newton stops at ``newton_tol`` = 1e-3 of it). At Newton and Krylov
#: tolerances 1e-3 the moves were at most 3.3e-7 of the unknowns (the bte film
#: relaxation) and 1.2e-8 (the closed chip); weights that do not describe the residual
#: (the energy's tripled) asked for 2e-3 to 0.4 of them, 2 to 400 tolerances
CONSERVE_LIMIT = 0.1


class BDFIntegrator:
    """Integrate a conservative model in time.

    Parameters
    ----------
    problem
        Provides ``dist``, ``pattern``, ``conserved(x_owned)``, ``dconserved(x_owned)``,
        ``rhs(x_local, t0, t1)``, ``rhs_jacobian(x_local, t0, t1)`` (the protocol
        :class:`fvqp.models.base.Problem`), ``rhs_jvp(x_local, v_local, t0, t1)`` when
        ``jacobian.mode`` is ``matrix_free``, ``rates(x_local, t0, t1) -> dict``
        (per-rank partial sums of boundary/source powers), ``max_dt(t, checked)`` and
        ``breakpoints()``. Sources are averaged over the step ``[t0, t1]`` so a pulse
        shorter than a step still deposits its full energy.
    x0 : ndarray
        Initial owned primitive values.
    t0 : float
    prefix, petsc_options
        PETSc options prefix and options (see :class:`~fvqp.solvers.NonlinearSolver`).
    options : BDFOptions
    jacobian : JacobianConfig, optional
        How Newton's Jacobian is formed, built by the caller (the driver from the case, a
        test or script explicitly); default ``JacobianConfig()``, the assembled Jacobian
        with block size 1 — nothing is read from the problem. A model
        preconditioner in it is updated with the BDF shift :math:`\\sigma =
        \\alpha_0/(t_1 - t_0)`.
    time_format : callable, optional
        ``time_format(t) -> str`` of an internal time (or step) for the log line of a
        failed step and the message of a run that cannot go on; the run's time loop sets
        one in SI (:func:`fvqp.models.base.timeloop.si_time`); default
        :func:`internal_time`. Also the attribute :attr:`time_format`.
    """

    def __init__(self, problem, x0: np.ndarray, t0: float = 0.0, prefix: str = "fvqp_",
                 petsc_options=None, options: BDFOptions | None = None,
                 jacobian: JacobianConfig | None = None, time_format=None):
        self.problem, self.opts = problem, options or BDFOptions()
        self.time_format = time_format or internal_time
        jac = jacobian or JacobianConfig()
        self.dist = problem.dist
        n_own = self.dist.local.n_owned
        # the assembled (preconditioning) matrix's pattern, only read without a model
        # preconditioner, which assembles its own (issue 18: the diagonal alone would be
        # two int64 state-length arrays kept for nothing); a model preconditioner is
        # updated with the step's shift (fvqp.solvers.shifted)
        self.solver = shifted_newton(self.dist, self._residual, self._jacobian,
                                     self._step_pattern, prefix, petsc_options, jac,
                                     self._jvp, shift=self._shift)
        self.t = float(t0)
        self.h = float(self.opts.dt_initial)
        #: size of the last accepted step (0 before the first)
        self.last_h = 0.0
        self.step_count, self.rejected, self.failed = 0, 0, 0
        #: steps whose balances :meth:`conserve` refused to make exact
        self.unbalanced = 0
        x0 = np.asarray(x0, dtype=float)
        acc0 = {k: 0.0 for k in problem.rates(self._local(x0), t0, t0 + 1.0)}
        self._rate_keys = tuple(acc0)   # what a restored history must accumulate
        # history: newest first, entries (t, x_owned, C_owned, accumulators); a C_owned
        # of None stands for C(x_owned), made where a step needs it (none is kept: a
        # state-length array each, issue 18 §1); a caller may give one that differs
        self.history = [(self.t, x0.copy(), None, acc0)]
        #: Newton's start for the next attempt instead of the predictor (used once): a
        #: caller that knows a closer one (a step repeated at corrected coefficients)
        self.guess: np.ndarray | None = None
        self._coef = (1.0, -1.0, 0.0)
        self._hist_C = (1.0, np.zeros(n_own))
        #: the source correction of the current step (owned rows, per unit time) and its
        #: share of each rate key: ``(vector, {key: partial sum})``
        self._src_corr: tuple[np.ndarray | float, dict] = (0.0, {})
        self._span = (t0, t0)

    # ---- the per-step nonlinear problem ---------------------------------------------
    def _local(self, x_owned: np.ndarray) -> np.ndarray:
        """Owned values -> owned + ghost values, through a vector made for the call (only
        accepted states ask: no state-length vector kept through the Newton solves, where
        the run's peak is set, issue 18 §1)."""
        return self.dist.ghosted(x_owned)

    def _residual(self, xl: np.ndarray) -> np.ndarray:
        n = self.dist.local.n_owned
        t0, t1 = self._span
        # the model's rates first: its peak is then not raised by the storage terms' two
        # arrays (issue 18 §1); below, in place on the one new array (no four
        # state-length temporaries), the same operations in the same order
        rhs = self.problem.rhs(xl, t0, t1)
        r = np.asarray(self.problem.conserved(xl[:n]), dtype=np.result_type(xl, float))
        if np.may_share_memory(r, xl):  # a storage of ones may hand back its input
            r = r.copy()
        r *= self._coef[0]
        c, hist = self._hist_C  # sum_j a_j C(x_{n-j}), or a_1 and C(x_n) (backward Euler)
        if hist is None:  # C(x_n) made per residual, not kept through the linear solves
            hist = self._stored_C(0)
        if c == 1.0:
            r += hist
        elif c == -1.0:
            r -= hist
        else:
            r += c * hist
        r /= t1 - t0
        r -= rhs
        del rhs
        r -= self._src_corr[0]
        return r

    def _step_pattern(self) -> tuple[np.ndarray, np.ndarray]:
        """The problem's pattern and the diagonal (the storage term's entries)."""
        rows, cols = self.problem.pattern
        diag = np.arange(self.dist.local.n_owned)
        return np.concatenate([rows, diag]), np.concatenate([cols, diag])

    def _shift(self) -> float:
        r"""The step Jacobian's shift :math:`\sigma = \alpha_0/(t_1 - t_0)`."""
        t0, t1 = self._span
        return self._coef[0] / (t1 - t0)

    def _jacobian(self, xl: np.ndarray) -> np.ndarray:
        n = self.dist.local.n_owned
        t0, t1 = self._span
        dR = self.problem.rhs_jacobian(xl, t0, t1)
        dC = self._coef[0] * self.problem.dconserved(xl[:n]) / (t1 - t0)
        return np.concatenate([-dR, dC])

    def _jvp(self, xl: np.ndarray, vl: np.ndarray) -> np.ndarray:
        """Exact action of the step Jacobian (``jacobian.mode = "matrix_free"``)."""
        n = self.dist.local.n_owned
        t0, t1 = self._span
        jv = self.problem.rhs_jvp(xl, vl, t0, t1)
        out = self.problem.dconserved(xl[:n]) * self._coef[0]
        out /= t1 - t0
        out *= vl[:n]  # in place: one state-length temporary besides the action's
        out -= jv
        return out

    def _coefficients(self, h: float) -> tuple[float, float, float]:
        if self.opts.order == 1 or len(self.history) < 2:
            return 1.0, -1.0, 0.0
        return bdf2_coefficients(h / (self.history[0][0] - self.history[1][0]))

    # ---- one step -------------------------------------------------------------------
    def _attempt(self, h: float):
        """Solve one step of size h; returns (x_new, error norm) or raises ConvergenceError."""
        a0, a1, a2 = self._coefficients(h)
        self._coef = (a0, a1, a2)
        self._span = (self.t, self.t + h)
        if a2 != 0.0:
            hist = a1 * self._stored_C(0)
            hist += a2 * self._stored_C(1)
            self._hist_C = (1.0, hist)
        else:  # backward Euler: C(x_n) made by each residual (issue 18 §1)
            self._hist_C = (a1, self.history[0][2])
        self._src_corr = self._source_correction(h)
        # Newton's start written straight into the solution vector: no predictor array
        # alive through the solve (the error estimate makes it again, the same bits)
        x = self.dist.create_vec()
        if self.guess is not None:
            x.setArray(self.guess)
            self.guess = None
        else:
            with x as start:
                if self._predict(self.t + h, out=start) is None:
                    start[...] = self.history[0][1]
        if self.opts.newton_tol is None or not self.opts.adaptive:
            # fixed steps: no step decision rests on the error estimate; the user's
            # snes tolerances decide (the correction test's scale atol + rtol|x| is the
            # controller's, which fixed-step runs do not set)
            x0 = x.getArray(readonly=True)
            scale = math.sqrt(self.dist.sum(np.sum((a0 * self.problem.conserved(x0) / h) ** 2)))
            del x0
            self.solver.solve(x, atol=self.opts.atol_factor * scale)
        else:
            self.solver.solve(x, correction_norm=self._correction_norm,
                              correction_tol=self.opts.newton_tol)
        x_new = x.getArray().copy()
        x.destroy()
        self.conserve(x_new, h)
        err = self._error(x_new, h)
        return x_new, err

    def _imbalance(self, keys, weights, past, h: float, y: np.ndarray) -> np.ndarray:
        r"""The step's balances at the owned state ``y`` (global, one per key):
        :math:`[l^T(\alpha_0C(y) + H)]/h` minus the flows of the key's ``rates`` and
        source corrections, :math:`H` the history's part of the residual (``past``:
        :math:`l^TH` of this rank) — the :math:`l`-weighted sum of the residual, written
        with the flows :meth:`_accept` accumulates."""
        a0 = self._coef[0]
        t0, t1 = self._span
        c = self.problem.conserved(y)
        rates = self.problem.rates(self._local(y), t0, t1)
        corr = self._src_corr[1]
        out = np.empty(len(keys))
        for i, k in enumerate(keys):
            flow = sum(v for n, v in rates.items() if n.startswith(k))
            flow += sum(v for n, v in corr.items() if n.startswith(k))
            out[i] = self.dist.sum((a0 * float(weights[k] @ c) + past[i]) / h - flow)
        return out

    def conserve(self, x: np.ndarray, h: float) -> None:
        r"""Make the step's balances exact: move the Newton solution ``x`` (owned, in
        place) along the problem's balance directions :math:`v_l` until every balance of
        the step, :math:`B_k = l_k^T(\alpha_0C(x) + H)/h - \sum\text{rates}_k = 0`,
        holds to round-off (problems with ``balance_weights``, :mod:`fvqp.models.base.
        problem`; others are left as they are).

        Newton stops where its residual :math:`r` is small, not where :math:`l_k^Tr`
        vanishes, and every step's :math:`l_k^Tr` is an error of the balance that the
        run accumulates (the chip's QP films: energy 1.1e-9 of the deposit over 1 µs,
        QP number 4.9e-9, against the phonon side's round-off). With
        :math:`x \to x + \sum_l\alpha_lv_l`, :math:`J\alpha = -B`,
        :math:`J_{kl} = \partial B_k/\partial\alpha_l` by a difference quotient at
        :math:`\epsilon = 10^{-7}` (the rates are smooth; its relative error
        :math:`\sim\epsilon` times :math:`B`, itself of the Newton tolerance), the
        balances are left at :math:`O(\epsilon B)`; a second move with the same
        :math:`J` (:data:`CONSERVE_CORRECTIONS`) leaves round-off. The move is what
        Newton's residual leaves in the balances, far below the local error tolerance
        (a scaling of the unknowns: no occupation changes sign). Cost: ``2 + `` the
        number of balances evaluations of ``rates`` (no residual, no Jacobian). A move
        of more than :data:`CONSERVE_LIMIT` of the local error tolerance (weights or
        directions that do not describe the residual) is not made: counted in
        :attr:`unbalanced`, a warning the first time."""
        prob = self.problem
        if not hasattr(prob, "balance_weights"):
            return
        weights = prob.balance_weights()
        dirs = prob.balance_directions(x)
        # a balance whose direction is 0 on every rank cannot move (all QPs or phonons
        # exactly empty): left out, on all ranks alike (the sums below are collective)
        keys = [k for k in weights if self.dist.max(float(np.any(dirs[k]))) > 0]
        if not keys:
            return
        c, hist = self._hist_C
        hist = self._stored_C(0) if hist is None else hist
        past = [c * float(weights[k] @ hist) for k in keys]
        b0 = self._imbalance(keys, weights, past, h, x)
        if not np.any(b0):
            return
        jac = np.empty((len(keys), len(keys)))
        for j, k in enumerate(keys):
            jac[:, j] = (self._imbalance(keys, weights, past, h, x + CONSERVE_EPS * dirs[k])
                         - b0) / CONSERVE_EPS
        b = b0
        for corrections in range(CONSERVE_CORRECTIONS):
            if corrections:   # the balances after the last move (its derivative's error)
                b = self._imbalance(keys, weights, past, h, x)
                if not np.any(b):
                    return
            alpha = np.linalg.lstsq(jac, -b, rcond=1e-12)[0]
            move = np.zeros_like(x)
            for a, k in zip(alpha, keys, strict=True):
                move += a * dirs[k]
            size = self._correction_norm(move, x) if np.all(np.isfinite(alpha)) \
                else math.inf
            if not size <= CONSERVE_LIMIT:
                self.unbalanced += 1
                (log.warning if self.unbalanced == 1 else log.debug)(
                    "the step's balances %s (imbalance %s) were not made exact: the move "
                    "along the balance directions would be %.3g of the local error "
                    "tolerance, far beyond a Newton residual (the problem's "
                    "balance_weights do not describe its residual; steps refused so far: "
                    "%d)", keys, b, size, self.unbalanced)
                return
            x += move

    def _stored_C(self, j: int) -> np.ndarray:
        """:math:`C(x_{n-j})`: the history's own if it gives one, else made now."""
        c = self.history[j][2]
        return self.problem.conserved(self.history[j][1]) if c is None else c

    def _source_correction(self, h: float) -> tuple[np.ndarray | float, dict]:
        r""":math:`[(\alpha_0-1)S_{n+1}-\alpha_2S_n]/h` of the explicit sources (zero for
        backward Euler and for models that name none), and the same of each rate key."""
        a0, _, a2 = self._coef
        src = getattr(self.problem, "explicit_source", None)
        if src is None or a2 == 0.0:
            return 0.0, {}
        t_prev, t_n = self.history[1][0], self.history[0][0]
        s_new, k_new = src(self.t, self.t + h)
        s_old, k_old = src(t_prev, t_n)
        r = (t_n - t_prev) / h
        vec = (a0 - 1.0) * np.asarray(s_new) - a2 * r * np.asarray(s_old)
        keys = {k: (a0 - 1.0) * k_new[k] - a2 * r * k_old.get(k, 0.0) for k in k_new}
        return vec, keys

    def _correction_norm(self, dx: np.ndarray, x: np.ndarray) -> float:
        r"""Newton correction in units of the local error tolerance: the max over all
        unknowns of :math:`|\delta x|/(\mathrm{atol} + \mathrm{rtol}|x|)` (a max is
        exact in any order, so every rank and partition sees the same value)."""
        w = self.opts.atol + self.opts.rtol * np.abs(x)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(dx == 0.0, 0.0, np.abs(dx) / w)  # atol = 0 at x = 0
        local = float(np.max(ratio)) if len(dx) else 0.0
        return self.dist.max(local)

    def _predict(self, t_new: float, out: np.ndarray | None = None) -> np.ndarray | None:
        """Polynomial extrapolation through the last (up to 3) accepted states (into
        ``out`` if given); None with fewer than two."""
        pts = self.history[:3]
        if len(pts) < 2:
            return None
        if out is None:
            out = np.zeros_like(pts[0][1])
        else:
            out[...] = 0.0
        for i, (ti, xi, _, _) in enumerate(pts):
            w = 1.0
            for j, (tj, _, _, _) in enumerate(pts):
                if j != i:
                    w *= (t_new - tj) / (ti - tj)
            out += w * xi
        return out

    @property
    def estimated(self) -> bool:
        """Whether the next step's local error is estimated (:meth:`_error`): adaptive
        steps with two accepted states (none after the start or a :meth:`restart`)."""
        return self.opts.adaptive and len(self.history) >= 2

    def _error(self, x_new: np.ndarray, h: float) -> float:
        r"""The step's local error in units of the tolerance (weighted RMS over every
        unknown): Milne's device with the exact factor of the step sequence
        (:func:`milne_estimate`). Backward Euler: the line through :math:`x_n, x_{n-1}`,
        :math:`c = h/(2h + h_p)` (1/3 at equal steps). BDF2 after two steps: the
        parabola through the last three states, :math:`c = K_c/(K_c + K_p)` (2/11 at
        equal steps). BDF2's first step has only the line, whose own error
        (:math:`O(h^2)`) dominates the difference: :math:`c = 1/2`, an overestimate
        (until 2026-11-27 backward Euler too took the parabola with 1/2, half its local
        error once three states were known, and BDF2 took 2/11 at every step ratio).
        Two state-length arrays."""
        if not self.estimated:
            return 0.0
        times = [hh[0] for hh in self.history[:3 if self.opts.order == 2 else 2]]
        past = tuple(a - b for a, b in zip(times[:-1], times[1:], strict=False))
        weights, factor = milne_estimate(h, past)
        if self.opts.order == 2 and len(past) == 1:
            factor = 0.5
        diff = x_new.copy()
        tmp = np.empty_like(x_new)
        for w, hh in zip(weights, self.history, strict=False):
            np.multiply(hh[1], w, out=tmp)
            diff -= tmp
        np.abs(x_new, out=tmp)
        tmp *= self.opts.rtol
        tmp += self.opts.atol
        diff /= tmp
        diff *= factor
        local = float(np.dot(diff, diff))
        n = self.dist.n_global
        return math.sqrt(self.dist.sum(local) / n)

    def step(self, t_stop: float) -> None:
        """Advance by one accepted step, not beyond ``t_stop``; adapts and retries."""
        grow = 2.0
        last = None   # the last failed attempt's error
        while True:
            h = planned_step(min(self.h, self.opts.dt_max,
                                 self.problem.max_dt(self.t, self.estimated)),
                             t_stop - self.t)
            fmt = self.time_format
            if h < self.opts.dt_min:
                why = "" if last is None else \
                    f" (the last attempt: {last.result.message if last.result else last})"
                raise ConvergenceError(
                    f"time step {fmt(h)} fell below dt_min = {fmt(self.opts.dt_min)} at "
                    f"t = {fmt(self.t)}: the nonlinear solves fail or the error tolerance "
                    f"cannot be met{why}. Loosen [time] rtol, or check the drive.",
                    None if last is None else last.result)
            try:
                x_new, err = self._attempt(h)
            except ConvergenceError as exc:
                last = exc
                self.failed += 1
                log.info("step at t=%s with dt=%s failed (%s); retrying with dt/4",
                         fmt(self.t), fmt(h), exc.result.message if exc.result else exc)
                self.h = h / 4
                grow = 1.0
                continue
            if err > 1.0:
                self.rejected += 1
                self.h = h * step_factor(err, self.opts.order, 1.0)
                grow = 1.0
                continue
            self._accept(x_new, h)
            if not self.opts.adaptive:
                self.h = self.opts.dt_initial
            elif len(self.history) <= 2:  # no error estimate yet: keep the first step
                self.h = h
            else:
                self.h = h * step_factor(err, self.opts.order, grow)
            return

    def _accept(self, x_new: np.ndarray, h: float) -> None:
        a0, a1, a2 = self._coef
        # the oldest state serves no later step: gone before the rates are made (a
        # state-length array less at the accepted step's peak, issue 18 §1)
        del self.history[2:]
        xl = self._local(x_new)
        t0, t1 = self.t, self.t + h
        rates = dict(self.problem.rates(xl, t0, t1))
        for k, c in self._src_corr[1].items():
            rates[k] += c
        acc = {}
        for k, r in rates.items():
            past = a1 * self.history[0][3][k] + (a2 * self.history[1][3][k] if a2 else 0.0)
            acc[k] = (h * self.dist.sum(r) - past) / a0
        self.t = t1
        self.last_h = h
        self.history.insert(0, (t1, x_new, None, acc))
        del self.history[3:]
        self.step_count += 1

    # ---- driving --------------------------------------------------------------------
    @property
    def x(self) -> np.ndarray:
        """Owned primitive values at the current time."""
        return self.history[0][1]

    @property
    def accumulated(self) -> dict[str, float]:
        """Time integrals of the model's rates (e.g. energy deposited, energy out)."""
        return dict(self.history[0][3])

    def run(self, t_end: float, stop_times=(), on_step=None, max_steps: int | None = None
            ) -> RunResult:
        """Step to ``t_end``, landing exactly on ``stop_times`` and model breakpoints.

        ``on_step(integrator)`` is called after every accepted step. Stops early (status 1)
        after ``max_steps`` steps of this call.
        """
        breaks = {float(b) for b in self.problem.breakpoints()}
        stops = sorted({float(s) for s in (*stop_times, *breaks, t_end)
                        if self.t < s <= t_end})
        taken = 0
        for stop in stops:
            while self.t < stop * (1 - 1e-14) - 1e-300:
                self.step(stop)
                taken += 1
                if self.t >= stop * (1 - 1e-14) - 1e-300 and stop in breaks:
                    self.restart()
                if on_step is not None:
                    on_step(self)
                if max_steps is not None and taken >= max_steps and self.t < t_end:
                    return self._result(1, f"stopped after max_steps={max_steps} steps")
        return self._result(0, "reached the end time")

    def restart(self) -> None:
        r"""Forget the step history: the next step is backward Euler, as at the start.

        Done on landing at a model breakpoint (a source switched on or off): BDF2 across
        the discontinuity would extrapolate the accumulated source past it — a power that
        stops at t_b keeps "depositing" :math:`\omega^2/(1+2\omega)\,P h_{n-1}` in the
        next step (9 % too much energy in ``heat_film_trap``, 92 % with other step
        sequences), consistently in the storage and the balance, so no imbalance shows.
        Backward Euler with the step-averaged source integrates it exactly."""
        del self.history[1:]

    def _result(self, status: int, message: str) -> RunResult:
        return RunResult(status=status, message=message, t=self.t, steps=self.step_count,
                         rejected_steps=self.rejected, failed_solves=self.failed,
                         newton_iterations=self.solver.total_iterations,
                         linear_iterations=self.solver.total_linear_iterations)

    # ---- checkpoints ----------------------------------------------------------------
    def state(self) -> dict:
        """Everything needed to continue the run: owned arrays and scalars.

        A restored run repeats the same steps, step sizes and solves; results agree with
        an uninterrupted run to round-off (floating-point sums in BLAS/numpy may differ in
        the last bit between processes)."""
        return {"t": self.t, "h": self.h, "last_h": self.last_h,
                "step_count": self.step_count,
                "rejected": self.rejected, "failed": self.failed,
                "unbalanced": self.unbalanced,
                "newton": self.solver.total_iterations,
                "linear": self.solver.total_linear_iterations,
                "outer_linear": self.solver.total_outer_linear_iterations,
                "times": [hh[0] for hh in self.history],
                "x": [hh[1] for hh in self.history],
                "acc": [hh[3] for hh in self.history]}

    def restore(self, state: dict) -> None:
        """Inverse of :meth:`state` (arrays already restricted to the owned cells)."""
        self.t, self.h = float(state["t"]), float(state["h"])
        self.last_h = float(state.get("last_h", 0.0))
        self.step_count = int(state["step_count"])
        self.rejected, self.failed = int(state["rejected"]), int(state["failed"])
        self.unbalanced = int(state.get("unbalanced", 0))   # before 2026-11-28: none
        self.solver.total_iterations = int(state.get("newton", 0))
        self.solver.total_linear_iterations = int(state.get("linear", 0))
        self.solver.total_outer_linear_iterations = int(state.get(
            "outer_linear", state.get("linear", 0)))  # before 2026-11-26: one count
        # no C(x) kept (made where a step needs it, :meth:`_stored_C`)
        self.history = [(float(t), np.asarray(x, dtype=float), None, dict(a))
                        for t, x, a in zip(state["times"], state["x"], state["acc"],
                                           strict=True)]
        self._start_missing()

    def _start_missing(self) -> None:
        """Accumulated rates the restored history lacks (a checkpoint written by an fvqp
        whose model did not accumulate them, e.g. transport's ``res:`` resolutions before
        2026-11-23) count from the resumed time: 0 there and, one step back, minus the
        current rate times that step — the line through 0 that BDF2 then continues exactly
        for a constant rate. Said once in a warning (it used to be a KeyError)."""
        missing = [k for k in self._rate_keys if k not in self.history[0][3]]
        if not missing:            # (every restore of gapcollide's BDF2 steps: no work)
            return
        t_n, x_n = self.history[0][0], self.history[0][1]
        t_a = self.history[1][0] if len(self.history) > 1 else t_n - 1.0
        rates = self.problem.rates(self._local(x_n), t_a, t_n)
        log.warning("the checkpoint has no accumulated %s (written by an older fvqp): "
                    "counted from the resumed time t = %s", ", ".join(map(repr, missing)),
                    self.time_format(t_n))
        for ti, _x, _c, acc in self.history:
            for k in missing:
                acc[k] = (ti - t_n) * self.dist.sum(rates[k])

r"""One time step of the chip chain: QP collisions in the films coupled to phonon transport.

The state is the QP unknowns of the films (:mod:`.films`: the ``bte`` collision layer,
:class:`fvqp.models.bte.inelastic.InelasticProblem` with local phonons, or the diffusive
``transport`` model's cells; no escape; on the films' distribution) and the
phonon occupation :math:`n_{c,j,k}` of every cell (:class:`fvqp.models.phonon.problem.
PhononProblem`, on the whole mesh). The phonon nodes are the same,
:math:`\Omega_q = (q+1)h` (the collision layer's grid ``grid.omega``; the phonon model is
built with ``grid = (h, n_ph)``), and in a film region the phonon model's states per
energy and volume are the collision layer's phonon storage,
:math:`g_f(\Omega) = w\,(w_s/w_0)\beta\,\Omega^2` with
:math:`\beta = \text{qp\_scale}/2c_{ph}`, so a film cell's phonon energy is the same
number in both (notes Eqs. 39–40). Per film cell and node the QPs emit phonons at the
rate :math:`G(1+n_k)` into and absorb :math:`Ln_k` from every direction (Eq. 40).

``coupling = "coupled"`` (default): backward Euler of the whole system,
:math:`u^{n+1} = u^n + \Delta t\,[C(u^{n+1}) + T(u^{n+1}) + s]`, by a block Gauss–Seidel
iteration on the film phonons' net transport rate :math:`r` (per film cell and node,
:math:`r = \overline{-Tn + s}`, the angle average of streaming, interfaces and sources;
:math:`r_0` below):

1. QP + local-phonon BE Newton step (QP streaming in the film, elastic scattering,
   collisions; no escape) from the local phonons :math:`\bar n^n + \Delta t\,r_k` (a
   constant source :math:`r_k` in BE): new QP state :math:`f_{k+1}`, local phonons
   :math:`\nu_{k+1}`;
2. phonon BE step over all cells with the film absorption and emission of Eq. 40 at the
   rates :math:`G, L` of :math:`f_{k+1}` in every ordinate,
   :math:`(1/\Delta t + L - G + T)\,n = n^n/\Delta t + G + s` (bins highest first):
   :math:`n_{k+1}`;
3. :math:`r_{k+1} = (\bar n_{k+1} - \bar n^n)/\Delta t - [G(1+\bar n_{k+1}) -
   L\bar n_{k+1}]`; stop when, at every energy node :math:`q`,
   :math:`\max_c|\nu_{k+1} - \bar n_{k+1}| \le \text{rtol}\,\max_c\bar n_{k+1}` over the
   film cells :math:`c` (:meth:`ChipChain._mismatch`). With ``[chain] confirm =
   "bound"`` an iterate from the second on is accepted before its sweep when
   :meth:`ChipChain._stale_miss` bounds the mismatch that sweep would measure within
   rtol (the phonon systems' diagonal dominance, :mod:`fvqp.models.phonon.monotone`);
   the step keeps the last sweep's states, with the isotropic difference below.

The start (``[chain] start``): ``"sweep"`` (default) takes :math:`r_0` from one phonon BE
step as in 2 at the rates :math:`G, L` of the QPs at the start of the step (a sweep, no
QP Newton step; its Krylov tolerance :data:`START_SWEEP_RTOL`, or
:data:`BOUND_START_RTOL`), ``"zero"``
:math:`r_0 = 0` (before 2026-11-25). Every Newton step of 1 starts from the last iterate
(the first: from the step's start) with its local phonons replaced by their BE root at
that iterate's rates, :math:`\nu = s + \Delta t\,P(s)/(1 + \Delta t(L - G))` for the new
start :math:`s = \bar n^n + \Delta t\,r_k` (:math:`P = G(1+s) - Ls`,
:func:`net_emission`). Why (measured on the small chip): after one QP step from any
rough :math:`r` the QP state is converged to ~1e-5 and :math:`\bar n` to ~1e-7 — the
pair-breaking phonons (:math:`\Omega \ge 2\Delta`, :math:`L\Delta t \gg 1`) are held by
the QPs, whatever :math:`r`; the mismatch left is that of the sub-gap nodes, which the
QPs barely absorb, so their :math:`\nu_{k+1}` carries the whole error
:math:`\Delta t(r_k - r)` of the frozen transport rate. With :math:`r_0 = 0` the first
QP step is spent on a QP state without transport: mismatches 1–15, 2–4, 1e-6 (3
iterations); from the sweep's :math:`r_0`: 1–4, then 1e-6–1e-4 (2 iterations; 5 of
60 steps of the full chip take 3), the same fixed point. The re-solved local phonons
make Newton's start consistent with the new start (1 Newton iteration for most steps,
against 2; and the residual it stops at, which the balances carry, stays as small as
with 3 iterations).

At the fixed point :math:`\nu = \bar n` and both sub-systems hold with the same state:
BE of the whole chain. Conservation holds at *every* iterate: the QPs exchanged
:math:`\Delta_q = \nu_{k+1} - \bar n^n - \Delta t\,r_k` with the film phonons, the
transport step :math:`\Delta_p = \Delta t[G(1+\bar n) - L\bar n]`; the isotropic
difference :math:`\Delta_q - \Delta_p` (0 at convergence) is added to the film cell's
ordinates, so QP + phonon energy changes only by the phonon sources and boundary flows,
and the QP number only by pair processes, to the Newton and Krylov tolerances.

``[time] scheme = "bdf2"`` (coupled only; the chip's default stays ``"bdf1"``): from the
second step, BDF2 of the whole chain (fixed steps, or the adaptive steps of
:mod:`.adaptive` with variable-step BDF2),
:math:`\tfrac32u^{n+1} - 2u^n + \tfrac12u^{n-1} = \Delta t\,F(u^{n+1})` at equal steps,
taken as the coupled BE iteration above with the step :math:`\tfrac23\Delta t` from the
extrapolated :math:`\tilde u = (4u^n - u^{n-1})/3` (:meth:`ChipChain._bdf2`); second
order, the same balances. BDF2 is not positivity preserving: where an occupation falls
by more than 3/4 in a step of equal length (a ballistic front leaving a cell) :math:`\tilde u` is
negative, and from a negative start the coupled iteration need not converge (the
collision layer treats negative occupations as empty; the layout chip at 5 ns steps:
from 30 ns on it cycled between two iterates at a mismatch of 0.12-7.3 of the film
occupation to ``max_iterations``, and the films' QP numbers ran 37 % away from backward
Euler's). So the start is made nonnegative where that conserves: a cell's phonon
ordinates of a node are scaled towards their angle average, which keeps it
(:meth:`ChipChain._bdf2_start`, a positivity limiter); where an angle average or a QP
occupation itself is negative, the step is backward Euler instead
(:attr:`ChipChain.bdf2_fallbacks`; the next step is BDF2 again from the two states: the
balances hold across the switch, since BDF2's flow weights only need the last step's
exact increment). The layout chip to 50 ns at 5 ns steps: 1 of 9 BDF2 steps falls
back, every coupled iteration converges, the films within 0.5-0.8 % of BDF2 at 1.25 ns
steps.

``coupling = "split"`` (the Lie splitting, first order, kept to measure it): one QP
step from the transported :math:`\bar n`, every ordinate the same BE step of Eq. 40,
:math:`n_k^* = (n_k + \Delta tG)/(1 + \Delta t(L - G))`, plus the isotropic remainder
that moves the angle average by exactly the local phonons' change, then one phonon BE
step without the film terms. ``docs/theory_phonon.md`` (the chip chain) has the
measured errors of both.

Positivity: both updates divide by :math:`1 + \Delta t(L - G)` (the film phonons' BE
diagonal); it is :math:`> 0` unless the QPs emit faster than they absorb (an inverted
distribution) and the step is long. It is checked at run time
(:func:`check_positive`): the step fails with a message naming the step that keeps it
positive, never negative occupations.
"""

from __future__ import annotations

import dataclasses
import logging
import math

import numpy as np

from ...solvers import BDFIntegrator, ConvergenceError
from ...solvers.bdf import BDFOptions, bdf2_coefficients

log = logging.getLogger("fvqp.bte_chip")

#: relative Krylov tolerance of the phonon sweep that starts the coupled iteration
#: (``start = "sweep"``) when every iterate is confirmed by a sweep (``confirm =
#: "sweep"``): it only sets r_0; 1e-6 kept 2.00 iterations per step on the small chip as
#: the default 1e-13 did (1e-4: 2.13), with 25 % fewer phonon Krylov. With ``confirm =
#: "bound"``, :data:`BOUND_START_RTOL`
START_SWEEP_RTOL = 1e-6
#: ... with ``confirm = "bound"``: an iterate accepted after one coupled sweep keeps the
#: start's Krylov error contracted once, not twice; the closed chip's adaptive run
#: (rtol 1e-2) on 2 ranks drifted from the serial one by 2.5e-7 of a column at 1e-6,
#: 9e-10 at 1e-8, 3.5e-11 at 1e-9, 1.4e-11 at 1e-13 (confirmed by sweeps: 1e-11)
BOUND_START_RTOL = 1e-9

__all__ = ["ChipChain", "ChipStepError", "Previous", "check_positive"]


@dataclasses.dataclass
class Previous:
    """The chain at the start of the last step, for the next BDF2 step: QP and phonon
    states (owned), the accumulated QP flows and the phonon energy flow increments of
    the last step (:meth:`ChipChain.step`)."""

    xq: np.ndarray
    xp: np.ndarray
    acc: dict
    inc: dict
    #: the length of that step (internal time; None: the chain's fixed step)
    h: float | None = None


def net_emission(loss: np.ndarray, gain: np.ndarray, n: np.ndarray) -> np.ndarray:
    r"""The QPs' net phonon emission :math:`G(1 + n) - Ln` at the rates ``(L, G)``, 0
    where it is below 1e-9 of its two terms: the collision layer's detailed balance holds
    only to ~7e-11 of them (the top nodes' tiny occupations, :meth:`ChipChain._coupled`),
    so that at an equilibrium the start of the coupled iteration and of its Newton steps
    stay the equilibrium itself (without the cut: 9e-11 drift of a 0.3 K equilibrium in
    3 steps, tests/test_bte_chip.py). For starts and guesses only; the iteration's own
    emission is the Newton step's."""
    emit, absorb = gain * (1.0 + n), loss * n
    p = emit - absorb
    return np.where(np.abs(p) > 1e-9 * (np.abs(emit) + np.abs(absorb)), p, 0.0)


class ChipStepError(RuntimeError):
    """A chain step that cannot be taken as asked (its message names the fix); ``solver``:
    a solver that did not converge at this step length (not the state: e.g. a negative
    denominator)."""

    def __init__(self, message: str, solver: bool = False):
        super().__init__(message)
        self.solver = solver


def check_positive(ldt: np.ndarray, dt: float, t: str, dist) -> None:
    r"""Fail unless :math:`1 + \Delta t(L - G) > 0` in every film cell and node (all ranks).

    ``ldt``: :math:`\Delta t(L - G)` of the owned film cells; ``t``: the step's time for
    the message. The film phonons' BE step divides by this number; it is negative only
    when the QPs emit more than they absorb per phonon (:math:`G > L + 1/\Delta t`, an
    inverted QP distribution), and then occupations would turn negative."""
    low = -dist.max(-float(ldt.min(initial=np.inf)))
    if low > -1.0:
        return
    safe = 0.5 * dt / (-low)                         # 1 + dt'(L-G) >= 1/2 for dt' <= safe
    raise ChipStepError(
        f"at t = {t} the film phonons' backward-Euler denominator 1 + dt (L - G) = "
        f"{1 + low:.3g} <= 0 (the QPs emit phonons faster than they absorb them: an "
        f"inverted distribution); occupations would turn negative. Fix: a smaller "
        f"[time] dt_initial, at most {safe:.3g} of the internal time unit "
        f"({safe / dt:.3g} of the current step).")


class ChipChain:
    """The coupled step (module docstring) on every rank.

    Parameters
    ----------
    films : fvqp.models.bte_chip.films.BteFilms or TransportFilms
        QPs + local phonons of the films (no escape): ``bte`` or diffusive ``transport``
        QPs (:mod:`.films`); their BE problem is :attr:`qp`.
    ph : fvqp.models.phonon.problem.PhononProblem
        Phonons of every region; film states and nodes as the collision layer's.
    exchange : fvqp.parallel.exchange.SubsetExchange
        Side ``a``: the owned film cells of ``films``; side ``b``: those of ``ph``.
    dt : float
        Fixed step (internal time).
    prefix : str
        PETSc prefix of the QP Newton solves.
    petsc : dict
        Their options.
    coupling : str
        ``"coupled"`` (BE of the whole chain) or ``"split"`` (Lie splitting).
    rtol, max_iterations : float, int
        Stopping test and limit of the coupled iteration (module docstring).
    time_label : callable
        Internal time -> text for messages (SI).
    scheme : str
        ``"bdf1"`` (backward Euler of the chain) or ``"bdf2"`` (from the second step,
        :meth:`_bdf2`; coupled only).
    start : str
        ``"sweep"`` (:math:`r_0` of a phonon sweep at the step's starting QP rates) or
        ``"zero"`` (:math:`r_0 = 0`): the start of the coupled iteration (module
        docstring).
    confirm : str
        ``"bound"``: an iterate whose film rates provably move the last sweep's phonons
        by less than the tolerance leaves is accepted without another sweep
        (:meth:`_stale_miss`); ``"sweep"``: every iterate is confirmed by a sweep.
    """

    def __init__(self, films, ph, exchange, dt: float, prefix: str, petsc: dict,
                 coupling: str = "coupled", rtol: float = 1e-4, max_iterations: int = 60,
                 time_label=lambda t: f"{t:.6g}", scheme: str = "bdf1",
                 start: str = "sweep", confirm: str = "bound"):
        qp = films.problem
        self.films, self.qp, self.ph, self.ex = films, qp, ph, exchange
        self.dt = float(dt)
        if films.M != ph.N or not np.allclose(films.grid.omega, ph.omega, rtol=1e-14,
                                              atol=0):
            raise ValueError("the phonon nodes of the two models differ")
        if coupling not in ("coupled", "split"):
            raise ValueError(f"unknown coupling {coupling!r}")
        if scheme not in ("bdf1", "bdf2") or (scheme == "bdf2" and coupling == "split"):
            raise ValueError(f"scheme {scheme!r} with coupling {coupling!r}")
        self.scheme = scheme
        if start not in ("sweep", "zero"):
            raise ValueError(f"unknown start {start!r} of the coupled iteration")
        self.start = start
        if confirm not in ("bound", "sweep"):
            raise ValueError(f"unknown confirm {confirm!r} of the coupled iteration")
        self.confirm = confirm
        #: phonon sweeps of the start of the coupled iterations (``start = "sweep"``)
        self.predictor_sweeps = 0
        #: coupled iterations accepted by the bound on the last sweep's change
        #: (``confirm = "bound"``, :meth:`_stale_miss`): a phonon sweep saved each
        self.skipped_sweeps = 0
        #: BDF2 steps taken as backward Euler because their extrapolated start
        #: (:meth:`_bdf2`) has a negative occupation
        self.bdf2_fallbacks = 0
        #: BDF2 steps whose start was limited to nonnegative ordinates (:meth:`_bdf2_start`)
        self.bdf2_limited = 0
        #: whether the last :meth:`step` was BDF2 (not backward Euler)
        self.last_bdf2 = False
        self.coupling, self.rtol, self.max_iterations = coupling, rtol, max_iterations
        self.time_label = time_label
        self.nq = films.nq
        opts = BDFOptions(order=1, dt_initial=self.dt, adaptive=False)
        self.integ = BDFIntegrator(qp, qp.equilibrium(), 0.0, prefix, petsc, opts,
                                   jacobian=films.jacobian)
        #: every QP Newton step is one backward-Euler step of the chain step's length
        #: (adaptive steps, :mod:`.march`): a failed one raises :class:`ChipStepError`;
        #: False (fixed steps): the integrator retries it in shorter sub-steps
        self.whole_steps = False
        self.newton = self.linear = 0
        #: coupled iterations of all steps, and the largest final mismatch (relative)
        self.iterations = 0
        self.worst = 0.0
        #: steps whose coupled iteration stopped at max_iterations above rtol
        self.unconverged = 0

    def _mismatch(self, nu: np.ndarray, nbar: np.ndarray) -> tuple[float, float]:
        r"""The coupled iteration's stopping measure: the largest relative difference
        between the QPs' film phonons :math:`\nu` and the transported angle average
        :math:`\bar n`, each energy node against its own largest film occupation
        (floor: 1e-12 of the largest of all nodes, the Newton tolerance's level);
        returned as ``(miss, 1.0)``. Per node, because the few 2Δ phonons that set the
        QP number sit far below the thermal low-Ω occupations at a warm bath: a measure
        against the largest occupation of all nodes accepted the first iterate at
        300 mK and left the QP number 34 % low (review of 2026-11-22)."""
        both = np.stack([np.abs(nu - nbar).max(axis=0, initial=0.0),
                         np.abs(nbar).max(axis=0, initial=0.0)])
        dif, col = self.films.dist.max_array(both)            # per node, over all film cells
        col = np.maximum(col, 1e-12 * float(col.max(initial=0.0)))
        ok = col > 0
        return (float(np.max(dif[ok] / col[ok], initial=0.0)), 1.0)

    def _stale_miss(self, nu: np.ndarray, emit: np.ndarray, net: np.ndarray,
                    last: dict, dt: float) -> float:
        r"""A bound of the mismatch :meth:`_mismatch` would measure after a sweep at the
        new film rates (emission ``emit``, relaxation ``net`` = L - G), from the last
        sweep (``last``: its ``emit``, ``net``, states ``xp`` and film mean ``nbar``),
        without that sweep; ``inf`` unless every rank's systems of the last sweep carry
        the margins of :mod:`fvqp.models.phonon.monotone`.

        The last states solve the new system of bin :math:`q` up to a residual in the
        film cells, per ordinate :math:`S(\Delta\rho\,n_k - \Delta e)` (:math:`\Delta e`,
        :math:`\Delta\rho`: the change of ``emit`` and ``net``), and, where decays feed
        the bin, the change of the gains from the bins above it; the margins are
        :math:`S(1/\Delta t + \rho)` (:math:`\rho = 0` outside the films). So no
        occupation of the bin moves by more than

        .. math::  \epsilon_q = \max_{c,k}\frac{|\Delta\rho\,n_{ck} - \Delta e_c|}
                   {1/\Delta t + \rho_c} + \frac{\sum_jC_{qj}\epsilon_j}
                   {1/\Delta t + \min(0, \min_c\rho_c)}

        (``monotone``; the extremes over :math:`k` from the ordinates' least and largest
        values; :math:`C` from
        :meth:`~fvqp.models.phonon.bins.BinSweeps.decay_coupling`, the bins taken from
        the highest down as the sweep does). Then per node
        :math:`|\nu - \bar n_\text{new}| \le |\nu - \bar n_\text{last}| + \epsilon` and
        :math:`\max|\bar n_\text{new}| \ge \max|\bar n_\text{last}| - \epsilon`, which
        bound the mismatch. (With the rates of the last iterate and an isotropic
        state, the first term is :math:`|\nu - \bar n_\text{last}|` itself: the QPs
        solved the film rows exactly.)"""
        ph, d = self.ph, self.films.dist
        C = ph.decay_coupling()
        if ph.certified and C is not None:
            film = self.ex.sel_b                 # the owned film cells (phonon side)
            xk = last["xp"].reshape(ph.N, ph.n, ph.B)[:, film, :ph.K]
            lo, hi = np.zeros((2, ph.n, ph.N))
            lo[film], hi[film] = xk.min(axis=2).T, xk.max(axis=2).T
            lo, hi = self.ex.b_to_a(lo), self.ex.b_to_a(hi)
            de, dn = emit - last["emit"], net - last["net"]
            res = np.maximum(np.abs(de - dn * lo), np.abs(de - dn * hi))
            eps = (res / (1.0 / dt + net)).max(axis=0, initial=0.0)
        else:
            eps = np.full(ph.N, np.inf)
        both = np.stack([np.abs(nu - last["nbar"]).max(axis=0, initial=0.0), eps,
                         np.abs(last["nbar"]).max(axis=0, initial=0.0),
                         np.maximum(-net, 0.0).max(axis=0, initial=0.0)])
        dif, eps, col, neg = d.max_array(both)
        if not np.all(np.isfinite(eps)):
            return math.inf
        margin = 1.0 / dt - neg                  # > 0: the positivity check
        done = np.zeros(ph.N, dtype=bool)
        for gi in ph.sweep_order():             # the bins above first, as the sweep
            g = list(ph.groups[gi])
            if np.any(C[np.ix_(g, np.flatnonzero(~done))] > 0):
                return math.inf                  # fed by a bin not bounded yet
            eps[g] = (eps[g] + C[g] @ np.where(done, eps, 0.0) / margin[g]).max()
            done[g] = True
        col = np.maximum(col - eps, 1e-12 * float(col.max(initial=0.0)))
        ok = col > 0
        return float(np.max((dif + eps)[ok] / col[ok], initial=0.0))

    # ---- the phonon state seen by the films ---------------------------------------------
    def film_mean(self, xp: np.ndarray) -> np.ndarray:
        r""":math:`\bar n` (n_qp_owned, M) of the film cells, from the phonon state."""
        return self.ex.b_to_a(np.ascontiguousarray(self.ph.mean(xp).T))

    def with_film_phonons(self, xq: np.ndarray, xp: np.ndarray, nbar=None) -> np.ndarray:
        """QP state with its local phonons replaced by the transported :math:`\\bar n`
        (or by ``nbar``, (n_qp_owned, M))."""
        y = np.array(xq, dtype=float).reshape(self.films.n, self.films.S)
        y[:, self.nq:] = self.film_mean(xp) if nbar is None else nbar
        return y.ravel()

    def _atol_factor(self, y: np.ndarray, dt: float, guess=None) -> float:
        r"""Newton's absolute tolerance, as the factor of the storage-term norm
        :math:`\|C/\Delta t\|` (step ``dt``) that :class:`~fvqp.solvers.BDFIntegrator` multiplies:
        at least 1e-12 of it, and above the round-off floor of the residual,
        :math:`2\cdot10^{-16}(\||L||x|\| + \|\rho V(A + B)\|)` — the sizes of the terms
        that cancel in it (QP streaming across 100 nm film cells, in- and out-scattering;
        measured floor 2e-11 against 1e-16 x 3e5 on the small chip). Without it, once a
        burst has filled a film, ``snes_rtol`` of a small initial residual lies below the
        floor and the steps fail (line search) and are retried in quarters.

        ``guess``: Newton's start when it is not ``y`` (the coupled iteration's last
        iterate): the floor is the larger of the two states' (the last iterate already
        holds the step's burst, ``y`` not: Newton stalled 40 iterations at 6e-11 above a
        4e-11 test on the small chip's first burst step) and the norm is that of
        :math:`C(\text{guess})`, the integrator's scale."""
        qp, d = self.qp, self.films.dist
        terms = []
        for x in (y,) if guess is None else (y, guess):
            terms.append(sum(d.sum(v) for v in self.films.roundoff_terms(x)))
        x0 = y if guess is None else guess
        terms = max(terms)
        store = math.sqrt(d.sum(float(np.sum((qp.conserved(x0) / dt) ** 2))))
        return max(1e-12, 2e-16 * math.sqrt(terms) / store) if store > 0 else 1e-12

    def zero_flows(self, xq: np.ndarray) -> dict:
        """The QP flows accumulated by :meth:`step` (``N:pair``, ``E:...``), all 0."""
        return {k: 0.0 for k in self.qp.rates(self.films.dist.ghosted(xq), 0.0, self.dt)}

    def _collide(self, y: np.ndarray, t: float, acc: dict, guess=None,
                 dt: float | None = None):
        """One BE Newton step of size ``dt`` (default the chain's) of the QP +
        local-phonon system from ``y`` (Newton starts from ``guess``, default ``y``): the
        new state, the accumulated QP flows and the phonon rates ``(L, G)`` at the new
        state."""
        qp, integ = self.qp, self.integ
        dt = self.dt if dt is None else dt
        # the integrator's history entry: (t, Newton's initial guess, C(y), flows)
        integ.history = [(t, y if guess is None else guess, qp.conserved(y), dict(acc))]
        integ.t, integ.h = t, dt
        # whole steps (adaptive chain steps): no sub-steps, a failed Newton step fails
        # the chain step (dt_min just below dt), which the chain's control then shortens
        integ.opts = dataclasses.replace(
            integ.opts, dt_initial=dt, atol_factor=self._atol_factor(y, dt, guess),
            **({"dt_min": dt * (1 - 1e-12)} if self.whole_steps else {}))
        t1 = t + dt
        n0, l0 = integ.solver.total_iterations, integ.solver.total_linear_iterations
        try:
            while integ.t < t1 * (1 - 1e-14):
                integ.step(t1)
        except ConvergenceError as exc:
            if not self.whole_steps:
                raise
            raise ChipStepError(f"the films' QP Newton step of {self.time_label(dt)} from "
                                f"t = {self.time_label(t)} did not converge "
                                f"({exc.result.message if exc.result else exc})",
                                solver=True) from exc
        finally:
            self.newton += integ.solver.total_iterations - n0
            self.linear += integ.solver.total_linear_iterations - l0
        xq1 = integ.x.copy()
        return xq1, integ.accumulated, self.films.rates(xq1)

    # ---- one step -----------------------------------------------------------------------
    def step(self, xq: np.ndarray, xp: np.ndarray, t: float, acc: dict, prev=None,
             dt: float | None = None):
        """Advance ``(xq, xp)`` from ``t`` by ``dt`` (default the chain's fixed step;
        another, the adaptive steps of :mod:`.march`; the Lie splitting takes fixed steps
        only); returns the new states, the QP
        flows accumulated since the start (``acc`` updated), the phonon energy flows of
        the step (internal energy, into the system positive for sources) and the phonon
        KSP results (of every sweep of the coupled iteration). Raises
        :class:`ChipStepError` when the film phonons' BE step would not stay positive
        (:func:`check_positive`).

        ``prev``: with ``scheme = "bdf2"``, the step before, :class:`Previous` (states,
        QP flows and phonon flow increments at ``t - prev.h``): the step is BDF2
        (:meth:`_bdf2`); None (the first step, or ``"bdf1"``): backward Euler.
        :attr:`last_bdf2` says which the step was."""
        self.films.new_step()
        if dt is not None and dt != self.dt and self.coupling == "split":
            raise ValueError("steps of varying length need the coupled chain")
        dt = self.dt if dt is None else float(dt)
        self.last_bdf2 = False
        if self.coupling == "split":
            return self._split_step(xq, xp, t, acc)
        if prev is None or self.scheme == "bdf1":
            return self._coupled(xq, xp, t, acc, dt, self.ph.source_rates(t, t + dt))
        return self._bdf2(xq, xp, t, acc, prev, dt)

    def _bdf2(self, xq: np.ndarray, xp: np.ndarray, t: float, acc: dict, prev: Previous,
              h: float):
        r"""The BDF2 step :math:`h` of the whole chain after the step
        :math:`h_p` = ``prev.h`` (default the fixed step), :math:`\omega = h/h_p`,

        .. math:: \tfrac{1+2\omega}{1+\omega}u^{n+1} - (1+\omega)u^n
                  + \tfrac{\omega^2}{1+\omega}u^{n-1} = h\,F(u^{n+1}),

        (at :math:`\omega = 1`: :math:`\tfrac32u^{n+1} - 2u^n + \tfrac12u^{n-1}`), as the
        coupled backward-Euler step (:meth:`_coupled`) of size
        :math:`h_b = h(1+\omega)/(1+2\omega)` (⅔h) from
        :math:`\tilde u = g\,u^n - b\,u^{n-1}`, :math:`g = (1+\omega)^2/(1+2\omega)`,
        :math:`b = \omega^2/(1+2\omega)` (4/3, 1/3) — the same equation divided by its
        first coefficient, since every stored quantity (QP and phonon storage, the
        accumulated flows) is linear in the unknowns. The deposit enters BDF2 on
        :math:`E - Q(t)` (as the ``phonon`` model's BDF2,
        :func:`fvqp.models.phonon.march.march`): source rate
        :math:`\tfrac{1+2\omega}{1+\omega}\bar s^{n+1} - \tfrac{\omega}{1+\omega}\bar s^n`
        (exact step averages; 3/2, 1/2), its increment :math:`h\,\bar s^{n+1}`; the
        boundary flows accumulate with BDF2's weights,
        :math:`\Delta F^{n+1} = h_b\,r^{n+1} + b\,\Delta F^n`. The energy and pair
        balances, exact at :math:`u^n` and :math:`u^{n-1}`, are then exact at
        :math:`u^{n+1}` (to the solver tolerances, as for backward Euler).

        :math:`\tilde u` is made nonnegative where that conserves
        (:meth:`_bdf2_start`); where it cannot be (a negative angle average or QP
        occupation on any rank), the step is backward Euler from :math:`u^n` instead
        (module docstring; :attr:`bdf2_fallbacks`)."""
        ph = self.ph
        hp = self.dt if prev.h is None else float(prev.h)
        w = h / hp
        a0, a1, a2 = bdf2_coefficients(w)
        g, b = -a1 / a0, a2 / a0
        src = ph.source_rates(t, t + h)
        qt = g * xq - b * prev.xq
        pt = g * xp - b * prev.xp
        pt = self._bdf2_start(qt, pt)
        if pt is None:
            self.bdf2_fallbacks += 1
            log.debug("t = %s: the BDF2 start is negative; backward Euler",
                      self.time_label(t))
            return self._coupled(xq, xp, t, acc, h, src)
        self.last_bdf2 = True
        s_eff = a0 * src - a2 / w * ph.source_rates(t - hp, t)
        at = {k: g * v - b * prev.acc.get(k, 0.0) for k, v in acc.items()}
        hb = h / a0
        xq1, xp1, acc1, inc, res = self._coupled(qt, pt, t, at, hb, s_eff, xq)
        if not all(q.success for q in res):
            return xq, xp, acc, {}, res          # failed sweep: the state kept
        exact = h * ph.energy_rates(xp1, t, t + h)["sources"]
        inc = {k: exact if k == "sources" else v + b * prev.inc.get(k, 0.0)
               for k, v in inc.items()}
        return xq1, xp1, acc1, inc, res

    def _bdf2_start(self, qt: np.ndarray, pt: np.ndarray) -> np.ndarray | None:
        r"""BDF2's extrapolated start made nonnegative where that conserves, or None
        (the step is then backward Euler; module docstring).

        Values above :math:`-10^{-12}` of the largest of their kind (QP occupations;
        phonon occupations, also the films' local ones: the coupled iteration's floor,
        :meth:`_mismatch`) are left: the collision layer treats them as empty, and at
        the low temperatures of the chip the thermal occupations of high bins are
        ~1e-38 and jitter below the solvers' tolerance (without this, nearly every
        BDF2 step of the deposit's window fell back). Where a cell's ordinates of a
        node go below that but their angle average :math:`\bar n = \sum_k w_kn_k` does
        not, they are scaled towards it, :math:`n_k \to \bar n + \theta(n_k - \bar n)`,
        :math:`\theta = \bar n/(\bar n - \min_k n_k)` (the scaling limiter of Zhang &
        Shu, J. Comput. Phys. 229, 3091 (2010), here on the angles): the angle
        average, and so the energy and every balance, is unchanged, every ordinate
        :math:`\ge 0`, and the start is changed only where the parabola overshot a
        ballistic front (:attr:`bdf2_limited` counts the steps). A negative angle
        average or QP occupation: None (collective)."""
        films, ph = self.films, self.ph
        d = ph.dist
        q = qt.reshape(films.n, films.S)
        p3 = pt.reshape(ph.N, ph.n, ph.B)
        ords = p3[:, :, :ph.K]
        fq, fp = 1e-12 * d.max_array([np.abs(q[:, :self.nq]).max(initial=0.0),
                                      np.abs(ords).max(initial=0.0)])
        mean = ords @ ph.quad.weights                                      # (N, n)
        low = ords.min(axis=2, initial=np.inf)
        cut = low < -fp
        worst, limited = d.max_array([
            max(-float(q[:, :self.nq].min(initial=0.0)) - fq,
                -float(q[:, self.nq:].min(initial=0.0)) - fp,
                -float(mean.min(initial=0.0)) - fp), float(cut.any())])
        if worst > 0:
            return None
        if limited > 0:
            self.bdf2_limited += 1
        if cut.any():
            m = mean[cut][:, None]       # >= -fp; below 0 the ordinates become m
            theta = np.maximum(m, 0.0) / (m - low[cut][:, None])
            ords[cut] = m + theta * (ords[cut] - m)
        return pt

    def _coupled(self, xq: np.ndarray, xp: np.ndarray, t: float, acc: dict, dt: float,
                 src: np.ndarray, guess=None):
        """The coupled backward-Euler step of size ``dt`` from ``(xq, xp, acc)`` with the
        phonon source rates ``src`` (n_ph, N) (module docstring; the steps' return
        values); ``guess``: the first QP Newton's start (default the start state)."""
        films, ph = self.films, self.ph
        t1 = t + dt
        K = ph.K
        nbar0 = self.film_mean(xp)                                      # (n_qp, M)
        x0 = xp.reshape(ph.N, ph.n, ph.B)
        r = np.zeros_like(nbar0)
        xp1 = xp.reshape(ph.N, -1)
        d = films.dist
        miss, scale, it, xq1, sweeps, rates = math.inf, 1.0, 0, guess, [], None
        last = None       # the last sweep of the coupled iteration (:meth:`_stale_miss`)

        def transport(emit, net, xp_from, rtol=None):
            """The phonon BE step with the films' emission ``emit`` and relaxation
            ``net`` = L - G (per film cell and node) from ``xp_from``: states, KSP results
            and the film mean of the new states."""
            on_p = self.ex.a_to_b(np.stack([emit, net], axis=2))          # (n_ph, M, 2)
            hist = x0[:, :, :K] / dt + on_p[:, :, 0].T[:, :, None]
            xs, res = ph.sweep(1.0 / dt, hist=hist, src=src, x0=xp_from,
                               extra=np.ascontiguousarray(on_p[:, :, 1].T), rtol=rtol)
            return xs, res, self.film_mean(xs)

        if self.start == "sweep":
            # r_0: the transport rate of a phonon sweep at the rates G, L of the QPs at
            # the start of the step (Newton's start), not 0 (module docstring); skipped
            # (r_0 = 0) if 1 + dt (L - G) is not positive somewhere
            y0 = self.with_film_phonons(xq if guess is None else guess, xp, nbar0)
            loss, gain = films.rates(y0)
            net = loss - gain
            if -d.max(-float((dt * net).min(initial=np.inf))) > -1.0:
                emit0 = net * nbar0 + net_emission(loss, gain, nbar0)
                xp1, res, nbar1 = transport(emit0, net, xp1, START_SWEEP_RTOL
                                            if self.confirm == "sweep" else
                                            BOUND_START_RTOL)
                sweeps += res
                self.predictor_sweeps += 1
                if not all(q.success for q in res):
                    return xq, xp, acc, {}, sweeps   # failed sweep: the state kept
                r = (nbar1 - nbar0) / dt - (emit0 - net * nbar1)
                rates = loss, gain
        while it < self.max_iterations:
            it += 1
            start = nbar0 + dt * r
            y = self.with_film_phonons(xq, xp, start)
            if rates is not None:
                # Newton from the last iterate (or y) with its film phonons solved for
                # this start at its rates: nu = (start + dt G)/(1 + dt (L - G)), the
                # phonon rows' BE root at fixed QPs (1 + dt (L - G) > 0: checked)
                lo, ga = rates
                nu0 = start + dt * net_emission(lo, ga, start) / (1.0 + dt * (lo - ga))
                xq1 = self.with_film_phonons(y if xq1 is None else xq1, xp, nu0)
            xq1, acc1, (loss, gain) = self._collide(y, t, acc, xq1, dt)
            rates = loss, gain
            nu = films.phonons(xq1)
            net = loss - gain                                               # L - G
            check_positive(dt * net, dt, self.time_label(t), d)
            # Eq. 40 about the QPs' own result: G(1+n) - L n = (nu - start)/dt
            # - (L - G)(n - nu), its emission part from the Newton step itself (so the
            # collision layer's detailed-balance round-off, up to 7e-11 of the tiny
            # occupations of the top nodes, does not move an equilibrium)
            emit = (nu - start) / dt + net * nu
            if last is not None and self.confirm == "bound":
                # accepted without a sweep when the last sweep's states provably stay
                # within the tolerance at these rates (:meth:`_stale_miss`); the step's
                # exchange then is the last sweep's, conserved as at every iterate
                stale = self._stale_miss(nu, emit, net, last, dt)
                if stale <= self.rtol:
                    miss, scale = stale, 1.0
                    self.skipped_sweeps += 1
                    break
            xp1, res, nbar1 = transport(emit, net, xp1)
            sweeps += res
            if not all(q.success for q in res):
                return xq, xp, acc, {}, sweeps   # failed sweep: the step fails, state kept
            coll = emit - net * nbar1                                       # P(n-bar)
            r = (nbar1 - nbar0) / dt - coll
            miss, scale = self._mismatch(nu, nbar1)
            last = {"emit": emit, "net": net, "xp": xp1, "nbar": nbar1}
            if miss <= self.rtol * scale:
                break
        if miss > self.rtol * scale:
            self.unconverged += 1
            log.warning("t = %s: the coupled iteration stopped after %d iterations at "
                        "%.3g of the film occupation (rtol %.1e; energy and QP number "
                        "stay exact)", self.time_label(t), it, miss / scale, self.rtol)
        self.iterations += it
        self.worst = max(self.worst, miss / scale if scale > 0 else 0.0)
        flows = {k: dt * v for k, v in ph.energy_rates(xp1, t, t1).items()}
        # the QPs' exchange minus the transport step's, dt (L - G)(n-bar - nu):
        # isotropic, 0 at convergence
        fix = self.ex.a_to_b((nu - start) - dt * coll)                   # (n_ph, M)
        x1 = xp1.reshape(ph.N, ph.n, ph.B)
        x1 += fix.T[:, :, None]
        return xq1, x1.reshape(ph.N, -1), acc1, flows, sweeps

    def _split_step(self, xq: np.ndarray, xp: np.ndarray, t: float, acc: dict):
        """The Lie splitting (module docstring)."""
        films, ph = self.films, self.ph
        y = self.with_film_phonons(xq, xp)
        before = films.phonons(y).copy()
        xq1, acc1, (loss, gain) = self._collide(y, t, acc)
        t1 = t + self.dt
        dn = films.phonons(xq1) - before                                  # (n_qp, M)
        # per film cell and node: dt G, dt (L - G), the change of the angle average
        moved = self.ex.a_to_b(np.stack([self.dt * gain, self.dt * (loss - gain), dn],
                                        axis=2))
        xm = self.directions_after(xp, moved, self.time_label(t))
        hist = xm[:, :, : ph.K] / self.dt
        xp1, res = ph.sweep(1.0 / self.dt, hist=hist, src=ph.source_rates(t, t1),
                            x0=xm.reshape(ph.N, -1))
        flows = {k: self.dt * v for k, v in ph.energy_rates(xp1, t, t1).items()}
        return xq1, xp1, acc1, flows, res

    def directions_after(self, xp: np.ndarray, moved: np.ndarray,
                         when: str = "this step") -> np.ndarray:
        r"""The phonon state after the collision step of the split (N, n_ph, B): per
        ordinate the BE step of Eq. 40 with the rates :math:`G, L` of the new QP state,
        :math:`n_k^* = (n_k + \Delta t\,G)/(1 + \Delta t(L - G))` (emission isotropic,
        absorption from every direction in proportion to its occupation), plus the
        isotropic remainder that makes the angle average change by exactly the local
        phonons' :math:`\Delta\bar n` (the Newton residual: energy conserved to
        round-off). ``moved`` (n_ph, M, 3): :math:`\Delta tG`, :math:`\Delta t(L-G)`,
        :math:`\Delta\bar n` (0 outside the films). Raises :class:`ChipStepError` if
        :math:`1 + \Delta t(L - G) \le 0` anywhere (:func:`check_positive`)."""
        ph = self.ph
        x = xp.reshape(ph.N, ph.n, ph.B)
        gdt, ldt, dn = (np.ascontiguousarray(moved[:, :, i].T) for i in range(3))
        check_positive(ldt, self.dt, when, ph.dist)
        nk = (x[:, :, : ph.K] + gdt[:, :, None]) / (1.0 + ldt[:, :, None])
        rest = dn - (nk @ ph.quad.weights - x[:, :, : ph.K] @ ph.quad.weights)
        out = np.empty_like(x)
        out[:, :, : ph.K] = nk + rest[:, :, None]
        out[:, :, ph.K] = x[:, :, ph.K] + dn
        return out

    # ---- observables (internal units, global sums) --------------------------------------
    def energies(self, xq: np.ndarray, xp: np.ndarray) -> dict:
        """QP energy and number (films) and phonon energy (all cells)."""
        tq = self.qp.totals(xq)
        d = self.films.dist
        return {"E_qp": d.sum(tq["E_qp"]), "N_qp": d.sum(tq["N_qp"]),
                "E_ph": self.ph.energy(xp)}

    def qp_number_by_region(self, xq: np.ndarray, regions: list[str]) -> np.ndarray:
        """QP number of every region named in ``regions`` (global), internal units."""
        return self.films.number_by_region(xq, regions)

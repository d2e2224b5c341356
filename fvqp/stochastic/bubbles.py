"""Bursting-bubbles model of Bespalov et al. (2016), main text Fig. 2 and Supplement.

The instantaneous-annihilation limit of the localized-quasiparticle model: every particle
is a bubble of diameter ``r`` (here the unit of length).  A new bubble is added at a
uniformly random point of a periodic cube of side ``L``; if it overlaps (centre distance
``< 1``) an existing bubble -- with the *opposite* classical spin in the spinful model --
both burst, otherwise it stays.  In the spinful model each step is, with probability
:math:`AL^3/(AL^3 + N/\\tau_{sf})`, a generation with a random spin and otherwise a flip
of a random particle, followed by the same overlap test for the new/flipped bubble.

The stationary packing coefficient :math:`C_p = 4\\pi cr^3/3` depends only on
:math:`\\zeta = 4\\pi Ar^3\\tau_{sf}/3`; with ``C`` the current :math:`C_p` of the box the
generation probability per step is :math:`\\zeta/(\\zeta + C)`.  Paper values:
:math:`C_p = 0.605 \\pm 0.008` (spinless, equivalently :math:`\\zeta = 0`),
:math:`C_p(\\infty) = 2.19 \\pm 0.05`, :math:`C_p(\\zeta) \\approx C_p(\\infty) -
4.2/\\sqrt\\zeta` at :math:`\\zeta \\gg 1` (Eq. S8).

Without spin flips (:math:`\\zeta = \\infty`) every step changes the total spin
:math:`N_+ - N_-` by the new bubble's spin, so it is an unbiased random walk: a periodic
box has no stationary state, polarises over long runs and :math:`C_p` grows with
:math:`|P|` (S10); :math:`C_p(\\infty)` therefore depends on the box size and the run
length (``docs/theory_stochastic.md``: the paper's protocol gives 2.300 +- 0.015 at
``L = 30``, 2.221 +- 0.005 at ``L = 45``).

Choices not fixed by the paper: when a new bubble overlaps several partners, it bursts
with the nearest one (the limit of the exponentially distance-dependent rate of Eq. 7);
averages over steps are weighted with the expected holding time of each state (time
averages; for the spinless model every step is a generation and the weights are equal).

Also here: the uncorrelated estimate (S9) and the fitted relation (S10) between the
packing coefficient and the instantaneous polarisation :math:`P = (c_+ - c_-)/c`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
from scipy.optimize import brentq

from fvqp.stochastic.cells import CellList, minimum_image
from fvqp.stochastic.progress import WallClockReports

__all__ = [
    "BurstingBubbles",
    "cp_of_zeta_s8",
    "cp_of_polarization",
    "packing_scale_fit",
]

log = logging.getLogger(__name__)

_FOUR_PI_3 = 4.0 * np.pi / 3.0


def cp_of_zeta_s8(zeta: np.ndarray, cp_inf: float = 2.19, coef: float = 4.2) -> np.ndarray:
    """Eq. (S8): :math:`C_p(\\zeta) = C_p(\\infty) - 4.2/\\sqrt\\zeta` (:math:`\\zeta \\gg 1`)."""
    return cp_inf - coef / np.sqrt(np.asarray(zeta, dtype=float))


def cp_of_polarization(P: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """Packing coefficient from Eq. (S9) (``scale = 1``) or Eq. (S10) (``scale = 1.55``).

    With :math:`y = (2\\pi/3)cr^3/s` the relations read :math:`y = \\ln[2\\cosh(Py)]`, whose
    root is unique for :math:`|P| < 1`; :math:`C_p = 2sy`.  At ``P = 0``: :math:`C_p =
    2s\\ln 2` (the Supplement's ":math:`C_p(\\infty) = \\ln 2`" for S9 is the value of
    :math:`(2\\pi/3)cr^3`, i.e. half of :math:`C_p`; S10 then gives ``2.15``, the quoted
    2.19 within its error).

    Parameters
    ----------
    P : array_like
        Polarisation, ``|P| < 1``.
    scale : float
        Enhancement factor ``s`` of Eq. (S10).
    """
    P = np.abs(np.atleast_1d(np.asarray(P, dtype=float)))
    out = np.empty_like(P)
    for i, p in enumerate(P):
        if p >= 1.0:
            out[i] = np.inf
            continue
        f = lambda y, p=p: y - np.logaddexp(p * y, -p * y)  # noqa: E731
        hi = (np.log(2.0) + 1.0) / (1.0 - p)
        out[i] = 2.0 * scale * brentq(f, 0.0, hi, xtol=1e-14)
    return out


def packing_scale_fit(cp: np.ndarray, P: np.ndarray) -> float:
    """Least-squares factor ``s`` of Eq. (S10) for samples ``(C_p, P)``.

    Samples of a fully polarised box (``|P| = 1``, where Eq. S10 diverges) are skipped.
    """
    cp = np.asarray(cp, dtype=float)
    P = np.asarray(P, dtype=float)
    ok = np.abs(P) < 1.0
    cp, P = cp[ok], P[ok]
    base = cp_of_polarization(P, 1.0)
    return float(np.dot(cp, base) / np.dot(base, base))


class BurstingBubbles:
    """Bursting-bubbles Monte Carlo (see module docstring).

    Parameters
    ----------
    L : float
        Box side in units of the bubble diameter ``r`` (``L >= 3``).
    zeta : float or None
        Dimensionless spin-flip time :math:`\\zeta = 4\\pi Ar^3\\tau_{sf}/3`; ``None`` is
        the spinless model (:math:`\\zeta = 0`), ``numpy.inf`` the spinful model without
        spin flips.
    seed : int or numpy.random.Generator, optional
    """

    def __init__(self, L: float, zeta: float | None = None, seed=None):
        self.L = float(L)
        if self.L < 3.0:
            raise ValueError("the box must be at least 3 bubble diameters wide")
        self.spin = zeta is not None
        self.zeta = np.inf if zeta is None else float(zeta)
        self.rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        self.cells = CellList(self.L, 1.0)
        cap = 1024
        self.pos = np.zeros((cap, 3))
        self.s = np.zeros(cap, dtype=np.int8)
        self.cell = np.zeros(cap, dtype=np.int64)
        # dense list of live slots for O(1) random picks
        self.live = np.zeros(cap, dtype=np.int64)
        self.where = np.full(cap, -1, dtype=np.int64)
        self.free = list(range(cap - 1, -1, -1))
        self.n = 0
        self.n_up = 0
        self.steps = 0

    @property
    def cp(self) -> float:
        """Current packing coefficient :math:`4\\pi N/(3L^3)`."""
        return _FOUR_PI_3 * self.n / self.L**3

    @property
    def polarization(self) -> float:
        """Current :math:`P = (N_+ - N_-)/N` (0 for an empty box)."""
        return 0.0 if self.n == 0 else (2.0 * self.n_up - self.n) / self.n

    def _grow(self) -> None:
        cap = self.pos.shape[0]
        self.pos = np.concatenate([self.pos, np.zeros((cap, 3))])
        self.s = np.concatenate([self.s, np.zeros(cap, dtype=np.int8)])
        self.cell = np.concatenate([self.cell, np.zeros(cap, dtype=np.int64)])
        self.live = np.concatenate([self.live, np.zeros(cap, dtype=np.int64)])
        self.where = np.concatenate([self.where, np.full(cap, -1, dtype=np.int64)])
        self.free = list(range(2 * cap - 1, cap - 1, -1))

    def _partner(self, p: np.ndarray, spin: int, exclude: int = -1) -> int:
        """Nearest overlapping bubble (opposite spin if spinful), or -1."""
        cand = self.cells.candidates(p)
        if exclude >= 0:
            cand = cand[cand != exclude]
        if self.spin and cand.size:
            cand = cand[self.s[cand] != spin]
        if cand.size == 0:
            return -1
        d = minimum_image(self.pos[cand] - p, self.L)
        r2 = np.einsum("ij,ij->i", d, d)
        k = int(np.argmin(r2))
        return int(cand[k]) if r2[k] < 1.0 else -1

    def _insert(self, p: np.ndarray, spin: int) -> None:
        if not self.free:
            self._grow()
        slot = self.free.pop()
        self.pos[slot] = p
        self.s[slot] = spin
        self.cell[slot] = self.cells.insert(slot, p)
        self.live[self.n] = slot
        self.where[slot] = self.n
        self.n += 1
        self.n_up += spin > 0

    def _delete(self, slot: int) -> None:
        self.cells.remove(slot, int(self.cell[slot]))
        k = self.where[slot]
        last = self.live[self.n - 1]
        self.live[k] = last
        self.where[last] = k
        self.where[slot] = -1
        self.n -= 1
        self.n_up -= self.s[slot] > 0
        self.free.append(slot)

    def step(self) -> None:
        """One step: generation (or spin flip) followed by the overlap test."""
        self.steps += 1
        gen = (not self.spin or np.isinf(self.zeta) or self.n == 0
               or self.rng.random() * (self.zeta + self.cp) < self.zeta)
        if gen:
            p = self.rng.random(3) * self.L
            spin = (1 if self.rng.random() < 0.5 else -1) if self.spin else 1
            j = self._partner(p, spin)
            if j >= 0:
                self._delete(j)
            else:
                self._insert(p, spin)
            return
        i = int(self.live[int(self.rng.random() * self.n)])
        self.s[i] = -self.s[i]
        self.n_up += 1 if self.s[i] > 0 else -1
        j = self._partner(self.pos[i], int(self.s[i]), exclude=i)
        if j >= 0:
            self._delete(i)
            self._delete(j)

    def holding_weight(self) -> float:
        """Expected holding time of the current state, in units of :math:`1/(AL^3)`."""
        if not self.spin or np.isinf(self.zeta):
            return 1.0
        return 1.0 / (1.0 + self.cp / self.zeta) if self.zeta > 0 else 0.0

    def run(self, n_steps: int, record_every: int = 0, progress: Callable | None = None,
            progress_every: float = 10.0) -> dict:
        """Run ``n_steps`` steps, accumulating time-weighted :math:`C_p` moments.

        Parameters
        ----------
        n_steps : int
        record_every : int
            If positive, also record ``(C_p, P)`` every that many steps.
        progress, progress_every : callable or None, float
            Progress reports (:class:`~fvqp.stochastic.progress.WallClockReports`).

        Returns
        -------
        dict
            ``cp`` (mean), ``cp2`` (mean square), ``trace_cp``, ``trace_P``.
        """
        sw = s1 = s2 = 0.0
        tr_cp, tr_p = [], []
        reports = WallClockReports(n_steps, progress, progress_every, log,
                                   "bubbles: %d/%d steps, C_p = %.4f, P = %+.3f",
                                   lambda sim: (sim.cp, sim.polarization))
        for k in range(int(n_steps)):
            w = self.holding_weight()
            c = self.cp
            sw += w
            s1 += w * c
            s2 += w * c * c
            self.step()
            if record_every and k % record_every == 0:
                tr_cp.append(self.cp)
                tr_p.append(self.polarization)
            reports.after(k + 1, self)
        return {"cp": s1 / sw, "cp2": s2 / sw, "trace_cp": np.asarray(tr_cp),
                "trace_P": np.asarray(tr_p)}


def packing_coefficient(zeta: float | None = None, L: float = 10.0, replicas: int = 4,
                        burn: float = 20.0, sample: float = 100.0, seed: int = 0,
                        progress: Callable | None = None) -> dict:
    """Stationary :math:`C_p` with error bars from independent replicas.

    Parameters
    ----------
    zeta : float or None
        As in :class:`BurstingBubbles`.
    L : float
        Box side (bubble diameters).
    burn, sample : float
        Steps discarded / averaged, in units of the box volume in bubble volumes
        (:math:`3L^3/4\\pi` steps; without spin flips, generations per bubble volume).
        With spin flips a generation takes :math:`(\\zeta + C_p)/\\zeta` steps on
        average, so at :math:`\\zeta \\lesssim C_p` scale both up by that factor (at
        :math:`\\zeta = 0.02`: ~31) or the box is still filling.

    Returns
    -------
    dict
        ``cp``, ``cp_err`` (standard error over replicas), ``cp_runs``, ``steps``.
    """
    scale = L**3 / _FOUR_PI_3
    vals = []
    for s in np.random.SeedSequence(seed).spawn(replicas):
        sim = BurstingBubbles(L, zeta, seed=np.random.default_rng(s))
        sim.run(int(burn * scale), progress=progress)
        vals.append(sim.run(int(sample * scale), progress=progress)["cp"])
    vals = np.asarray(vals)
    err = float(vals.std(ddof=1) / np.sqrt(vals.size)) if vals.size > 1 else float("nan")
    return {"zeta": zeta, "cp": float(vals.mean()), "cp_err": err, "cp_runs": vals,
            "steps": int(replicas * (burn + sample) * scale), "L": L}


__all__.append("packing_coefficient")

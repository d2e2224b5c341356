"""Gillespie kinetic Monte Carlo of generation and pairwise annihilation in a box.

The model of Bespalov et al. (2016), Supplement "Simulation of the dynamics of spinless
quasiparticles": immobile particles appear at uniformly random points of a periodic cube
of side ``L`` with total rate :math:`aL^3` and annihilate pairwise with a rate
:math:`\\Gamma(R)` of their (minimum-image) distance.  Beyond the paper the box may be a
film (periodic in the plane, walls at ``z = 0, d``) or closed on every side
(:class:`~fvqp.stochastic.cells.Box`): generation is uniform in the box and distances
are minimum-image only along periodic axes.  Each step either generates
(probability :math:`aL^3/(aL^3 + \\Gamma_{tot})`) or annihilates the pair ``(i, j)``
(probability :math:`\\Gamma(R_{ij})/(aL^3 + \\Gamma_{tot})`).

Cost per event.  Pair rates are cut at a range ``cutoff`` (:func:`default_cutoff` bounds
the neglected rate).  Every particle ``i`` keeps its row sum :math:`S_i = \\sum_j
\\Gamma_{ij}` in a :class:`~fvqp.stochastic.fenwick.Fenwick` tree (:math:`\\Gamma_{tot} =
\\sum_i S_i/2`); a periodic :class:`~fvqp.stochastic.cells.CellList` finds the ``k``
neighbours within the cutoff.  Adding or removing a particle updates ``k`` row sums
(vectorised Fenwick update, :math:`O(k\\log N)`), choosing an annihilation is a Fenwick
search (:math:`O(\\log N)`) plus a scan of the chosen particle's ``k`` neighbours.  At
fixed concentration ``k`` does not grow with ``N``, so an event costs :math:`O(\\log N)`;
the exact :math:`O(N k)` rebuild of all row sums every ``max(N, 1000)`` events (against
floating-point drift of the incremental sums) is :math:`O(k)` amortised.

Dimensionless units of :mod:`fvqp.stochastic.annihilation` (lengths :math:`r_c`, time
:math:`r_c^3/\\bar\\Gamma`, ``a`` :math:`= Ar_c^6/\\bar\\Gamma`).  Time averages use the
expected holding time :math:`1/(\\text{total rate})` of each visited state (an unbiased,
lower-variance estimator of the time average than the sampled waiting times).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from fvqp.stochastic.annihilation import g_kernel
from fvqp.stochastic.cells import Box, CellList, minimum_image
from fvqp.stochastic.fenwick import Fenwick
from fvqp.stochastic.progress import WallClockReports

__all__ = [
    "Kernel",
    "localized_kernel",
    "constant_kernel",
    "default_cutoff",
    "AnnihilationKMC",
    "brute_force_rates",
    "pair_chain_stationary",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Kernel:
    """Pair-rate law :math:`\\Gamma(R)` with a finite range.

    Attributes
    ----------
    rate : callable
        Vectorised ``R -> rate`` (per pair).
    cutoff : float
        Pairs farther apart do not annihilate.
    name : str
    """

    rate: Callable[[np.ndarray], np.ndarray]
    cutoff: float
    name: str = "kernel"


def default_cutoff(c: float, a: float, tol: float = 1e-4) -> float:
    """Cut-off of the kernel :math:`g` of Eq. (7) for a concentration ``c`` and rate ``a``.

    Uncorrelated pairs beyond ``R`` contribute :math:`c\\int_R^\\infty 4\\pi x^2 g\\,dx
    \\le 2cR^2e^{-R}(1 + 2/R + 2/R^2)` to the annihilation rate of one particle, whose
    stationary loss rate is ``a/c``; the cut-off makes this ratio ``tol``.  It is at least
    6 (:math:`g(6)/g(0) = 0.2\\,\\%`, the short-range part is always kept).
    """
    target = tol * a / c

    def tail(R: float) -> float:
        return 2.0 * c * R * R * np.exp(-R) * (1.0 + 2.0 / R + 2.0 / R**2)

    R = 6.0
    while tail(R) > target and R < 200.0:
        R += 0.25
    return R


def localized_kernel(cutoff: float) -> Kernel:
    """:math:`g(R)` of Eq. (7) (units of :mod:`fvqp.stochastic.annihilation`)."""
    return Kernel(rate=g_kernel, cutoff=float(cutoff), name="localized")


def constant_kernel(rate: float, cutoff: float) -> Kernel:
    """Distance-independent rate within ``cutoff`` (``cutoff >= sqrt(3) L/2``: every pair
    of the box, the exactly solvable birth-death chain ``N -> N+1``, ``N -> N-2``)."""
    return Kernel(rate=lambda R: np.full(np.shape(R), float(rate)), cutoff=float(cutoff),
                  name="constant")


def brute_force_rates(pos: np.ndarray, L, kernel: Kernel) -> np.ndarray:
    """Row sums :math:`S_i = \\sum_{j\\ne i}\\Gamma(R_{ij})` by direct :math:`O(N^2)`
    evaluation (reference for tests and benchmarks); ``L`` a cube side or a ``Box``."""
    d = minimum_image(pos[:, None, :] - pos[None, :, :], L)
    R = np.sqrt((d * d).sum(-1))
    G = np.where(R < kernel.cutoff, kernel.rate(R), 0.0)
    np.fill_diagonal(G, 0.0)
    return G.sum(1)


class AnnihilationKMC:
    """Generation + pairwise annihilation kinetic Monte Carlo (see module docstring).

    Parameters
    ----------
    L : float or Box
        Side of the periodic cube (:math:`r_c`), or a :class:`~fvqp.stochastic.cells.Box`
        (film, closed box).
    a : float
        Generation rate per volume (:math:`\\bar\\Gamma/r_c^6`); may be changed between
        calls (e.g. ``a = 0`` for free relaxation).
    kernel : Kernel
        Pair rate and range.
    seed : int or numpy.random.Generator, optional
        Random stream (runs are reproducible for a given seed).
    capacity : int
        Initial number of particle slots (grows by doubling).
    """

    def __init__(self, L, a: float, kernel: Kernel, seed=None, capacity: int = 1024):
        self.box = L if isinstance(L, Box) else Box.cube(float(L))
        #: the geometry (a :class:`Box`; kept under the historical name)
        self.L = self.box
        self.a = float(a)
        self.kernel = kernel
        self.rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        self.cells = CellList(self.box, kernel.cutoff)
        self._alloc(max(int(capacity), 16))
        self.n = 0
        self.time = 0.0
        self.events = 0
        self.generated = 0
        self.annihilated = 0
        self._since_rebuild = 0
        #: work counter: candidate distances computed so far (cost-scaling checks)
        self.distance_evaluations = 0

    # -- storage ---------------------------------------------------------------------

    def _alloc(self, cap: int) -> None:
        self.pos = np.zeros((cap, 3))
        self.cell = np.full(cap, -1, dtype=np.int64)
        self.alive = np.zeros(cap, dtype=bool)
        self.S = np.zeros(cap)
        self.fen = Fenwick(cap)
        self.free = list(range(cap - 1, -1, -1))

    def _grow(self) -> None:
        old = self.pos.shape[0]
        pos, cell, alive, S = self.pos, self.cell, self.alive, self.S
        self._alloc(2 * old)
        self.pos[:old], self.cell[:old], self.alive[:old], self.S[:old] = pos, cell, alive, S
        self.free = list(range(2 * old - 1, old - 1, -1))
        self.fen.rebuild(self.S)

    @property
    def volume(self) -> float:
        return self.box.volume

    @property
    def concentration(self) -> float:
        """Current ``N / L^3``."""
        return self.n / self.volume

    def positions(self) -> np.ndarray:
        """Positions of the live particles."""
        return self.pos[self.alive].copy()

    # -- neighbours and rates -------------------------------------------------------

    def _neighbours(self, p: np.ndarray, exclude: int = -1) -> tuple[np.ndarray, np.ndarray]:
        cand = self.cells.candidates(p)
        self.distance_evaluations += cand.size
        if exclude >= 0:
            cand = cand[cand != exclude]
        if cand.size == 0:
            return cand, np.zeros(0)
        d = self.box.displacement(self.pos[cand] - p)
        R = np.sqrt(np.einsum("ij,ij->i", d, d))
        keep = R < self.kernel.cutoff
        cand, R = cand[keep], R[keep]
        return cand, self.kernel.rate(R)

    def add(self, p: np.ndarray) -> int:
        """Insert a particle at ``p`` (wrapped into the box); returns its slot."""
        p = self.box.wrap(np.asarray(p, dtype=float))
        if not self.free:
            self._grow()
        nb, r = self._neighbours(p)
        slot = self.free.pop()
        self.pos[slot] = p
        self.alive[slot] = True
        self.cell[slot] = self.cells.insert(slot, p)
        if nb.size:
            self.S[nb] += r
            self.fen.add(nb, r)
        s = float(r.sum())
        self.S[slot] = s
        self.fen.add(slot, s)
        self.n += 1
        return slot

    def remove(self, slot: int, neighbours: tuple | None = None) -> None:
        """Remove the particle in ``slot`` (``neighbours``: its ``(slots, rates)`` if
        already known)."""
        p = self.pos[slot]
        self.cells.remove(slot, int(self.cell[slot]))
        self.alive[slot] = False
        self.fen.add(slot, -self.S[slot])
        self.S[slot] = 0.0
        nb, r = self._neighbours(p) if neighbours is None else neighbours
        if nb.size:
            old = self.S[nb].copy()
            new = old - r
            # cancellation: recompute exactly the row sums that lost (almost) everything
            bad = new < 1e-9 * old
            for j in np.flatnonzero(bad):
                _, rj = self._neighbours(self.pos[nb[j]], exclude=int(nb[j]))
                new[j] = float(rj.sum())
            self.S[nb] = new
            self.fen.add(nb, new - old)
        self.free.append(slot)
        self.n -= 1

    def populate(self, n: int) -> None:
        """Add ``n`` particles at uniformly random positions (no event counted)."""
        for p in self.box.random_points(self.rng, n):
            self.add(p)

    def rebuild(self) -> None:
        """Recompute all row sums exactly and rebuild the Fenwick tree."""
        idx = np.flatnonzero(self.alive)
        S = np.zeros_like(self.S)
        if idx.size > 1:
            pos = self.pos[idx]
            if self.kernel.cutoff < 0.5 * min(self.box.sides):
                from scipy.spatial import cKDTree

                sides = np.asarray(self.box.sides)
                # walls: a box larger than twice the side never wraps a pair inside cutoff
                size = np.where(self.box.periodic, sides, 4.0 * sides + 4.0 * self.kernel.cutoff)
                tree = cKDTree(self.box.wrap(pos), boxsize=size)
                pairs = tree.query_pairs(self.kernel.cutoff, output_type="ndarray")
                if pairs.size:
                    d = self.box.displacement(pos[pairs[:, 0]] - pos[pairs[:, 1]])
                    r = self.kernel.rate(np.sqrt((d * d).sum(1)))
                    S[idx] = np.bincount(pairs[:, 0], r, idx.size) \
                        + np.bincount(pairs[:, 1], r, idx.size)
            else:
                S[idx] = brute_force_rates(pos, self.box, self.kernel)
        self.S = S
        self.fen.rebuild(S)
        self._since_rebuild = 0

    def annihilation_rate(self) -> float:
        """:math:`\\Gamma_{tot} = \\sum_{i<j}\\Gamma(R_{ij})`."""
        return max(0.5 * self.fen.total(), 0.0)

    def total_rate(self) -> float:
        """Generation plus annihilation rate of the whole box."""
        return self.a * self.volume + self.annihilation_rate()

    # -- events ----------------------------------------------------------------------

    def _annihilate(self, u: float) -> bool:
        i = self.fen.find(u)
        if not self.alive[i]:
            return False
        nb, r = self._neighbours(self.pos[i], exclude=i)
        tot = r.sum()
        if nb.size == 0 or tot <= 0.0:
            return False
        cs = np.cumsum(r)
        j = int(nb[min(np.searchsorted(cs, self.rng.random() * tot, side="right"), nb.size - 1)])
        self.remove(i, (nb, r))
        self.remove(j)
        return True

    def step(self) -> int:
        """One Gillespie event; returns ``+1`` (generation), ``-2`` (annihilation) or 0
        (nothing can happen: empty box at ``a = 0``)."""
        gen = self.a * self.volume
        ann = self.annihilation_rate()
        total = gen + ann
        if total <= 0.0:
            return 0
        self.time += self.rng.exponential(1.0 / total)
        self.events += 1
        self._since_rebuild += 1
        if self._since_rebuild > max(self.n, 1000):
            self.rebuild()
        u = self.rng.random() * total
        if u < gen:
            self.add(self.box.random_points(self.rng))
            self.generated += 1
            return 1
        if not self._annihilate(2.0 * (u - gen)):
            # rate sums drifted (picked an empty row): restore them and retry this event
            self.rebuild()
            ann = self.annihilation_rate()
            if ann <= 0.0:
                self.add(self.box.random_points(self.rng))
                self.generated += 1
                return 1
            if not self._annihilate(self.rng.random() * 2.0 * ann):
                raise RuntimeError("annihilation selection failed after an exact rebuild")
        self.annihilated += 1
        return -2

    def run(self, n_events: int, progress: Callable | None = None,
            progress_every: float = 10.0) -> dict:
        """Run ``n_events`` events accumulating time averages of ``N`` and ``N^2``.

        Parameters
        ----------
        n_events : int
            Number of events.
        progress, progress_every : callable or None, float
            Progress reports (:class:`~fvqp.stochastic.progress.WallClockReports`).

        Returns
        -------
        dict
            ``mean_n``, ``mean_n2``, ``mean_gamma_tot`` (time averages with expected
            holding times), ``step_mean_n`` (unweighted average over steps, the
            Supplement's estimator; it over-weights states with large total rate),
            ``duration`` (expected simulated time), ``events``.
        """
        sw = swn = swn2 = swg = 0.0
        steps_n = 0
        reports = WallClockReports(n_events, progress, progress_every, log,
                                   "kmc: %d/%d events, N = %d, t = %.4g",
                                   lambda sim: (sim.n, sim.time))
        for k in range(int(n_events)):
            tot = self.total_rate()
            if tot <= 0.0:
                break
            w = 1.0 / tot
            sw += w
            swg += w * (tot - self.a * self.volume)
            steps_n += self.n
            swn += w * self.n
            swn2 += w * self.n * self.n
            self.step()
            reports.after(k + 1, self)
        if sw == 0.0:
            return {"mean_n": float(self.n), "mean_n2": float(self.n) ** 2,
                    "step_mean_n": float(self.n),
                    "mean_gamma_tot": self.annihilation_rate(), "duration": 0.0, "events": 0}
        return {"mean_n": swn / sw, "mean_n2": swn2 / sw, "mean_gamma_tot": swg / sw,
                "step_mean_n": steps_n / (k + 1), "duration": sw, "events": k + 1}


def pair_chain_stationary(gen_rate: float, pair_rate: float, n_max: int) -> np.ndarray:
    """Exact stationary :math:`P(N)` of the well-mixed chain ``N -> N+1`` (rate
    ``gen_rate``), ``N -> N-2`` (rate ``pair_rate * N(N-1)/2``), reflecting at ``n_max``.

    The :class:`AnnihilationKMC` with :func:`constant_kernel` (range covering the box) is
    this chain; with ``pair_rate = 1/V`` its mean-field limit is :math:`c = a^{1/2}`.
    """
    import scipy.sparse as sp

    from fvqp.stochastic.master import stationary

    N = np.arange(n_max + 1)
    up = np.where(N < n_max, gen_rate, 0.0)
    down = pair_rate * N * (N - 1) / 2.0
    rows = np.concatenate([N[:-1] + 1, N[2:] - 2, N])
    cols = np.concatenate([N[:-1], N[2:], N])
    vals = np.concatenate([up[:-1], down[2:], -(up + down)])
    Q = sp.csc_matrix((vals, (rows, cols)), shape=(n_max + 1, n_max + 1))
    return stationary(Q)

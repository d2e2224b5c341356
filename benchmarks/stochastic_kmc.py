"""Events per second of the annihilation Monte Carlo: cell lists + Fenwick tree vs O(N^2).

The production engine (:class:`fvqp.stochastic.kmc.AnnihilationKMC`: periodic cell lists,
incremental row sums in a Fenwick tree, O(k log N) per event) is timed at N ~ 1000 and
8000 particles at the low-density concentration of Eq. (9) for ``a = 1e-6``, against a
*direct* Gillespie step run in the same process, which recomputes every pair rate of the
box per event (O(N^2): minimum-image distances of all pairs, cumulative sum, search).
Both are started from the same configurations; the direct one runs a few events only
(its cost per event is flat).  Also printed: the stationary solve time of the
spin-cluster master equation (S4) vs domain size, and steps/s of the bubbles model.

Run: ``python benchmarks/stochastic_kmc.py [--sizes 1000 8000] [--events 4000]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from fvqp.stochastic import annihilation as an
from fvqp.stochastic import master as me
from fvqp.stochastic import spin_clusters as sc
from fvqp.stochastic.bubbles import BurstingBubbles
from fvqp.stochastic.cells import minimum_image
from fvqp.stochastic.kmc import AnnihilationKMC, default_cutoff, localized_kernel


class DirectKMC:
    """Reference Gillespie step recomputing all N(N-1)/2 pair rates per event."""

    def __init__(self, pos: np.ndarray, L: float, a: float, cutoff: float, seed: int = 0):
        self.pos, self.L, self.a, self.cut = pos.copy(), L, a, cutoff
        self.rng = np.random.default_rng(seed)

    def step(self) -> None:
        n = len(self.pos)
        i, j = np.triu_indices(n, 1)
        d = minimum_image(self.pos[i] - self.pos[j], self.L)
        R = np.sqrt(np.einsum("ij,ij->i", d, d))
        rates = np.where(R < self.cut, an.g_kernel(R), 0.0)
        cs = np.cumsum(rates)
        gen = self.a * self.L**3
        u = self.rng.random() * (gen + cs[-1])
        if u < gen:
            self.pos = np.vstack([self.pos, self.rng.random(3) * self.L])
        else:
            k = int(np.searchsorted(cs, u - gen, side="right"))
            self.pos = np.delete(self.pos, [i[k], j[k]], axis=0)


def bench_kmc(n: int, events: int, direct_events: int) -> None:
    a = 1e-6
    c = float(an.concentration_eq9(a)[0])
    L = (n / c) ** (1 / 3)
    cut = default_cutoff(c, a)
    sim = AnnihilationKMC(L, a, localized_kernel(cut), seed=1)
    sim.populate(n)
    sim.run(n)  # settle the worst close pairs of the random start
    pos = sim.positions()
    t0 = time.perf_counter()
    sim.run(events)
    t_fast = (time.perf_counter() - t0) / events
    ref = DirectKMC(pos, L, a, cut)
    t0 = time.perf_counter()
    for _ in range(direct_events):
        ref.step()
    t_ref = (time.perf_counter() - t0) / direct_events
    print(f"N = {n:5d} (L = {L:6.1f} r_c, cutoff {cut:.1f} r_c): cell list + Fenwick "
          f"{1 / t_fast:9.0f} events/s, direct O(N^2) {1 / t_ref:9.1f} events/s, "
          f"speed-up {t_ref / t_fast:8.1f}x")


def bench_master(sizes: list[int]) -> None:
    p = sc.ClusterParams(A=1.0, V=1.0, gamma=1.0, gamma_t=0.0, tau_s=2.0 * 50.0**2)
    import scipy.sparse.linalg as spla

    for n_max in sizes:
        Q, s = me.full_generator(p, n_max, 8)
        t0 = time.perf_counter()
        P = me.stationary(Q)
        dt = time.perf_counter() - t0
        rhs = np.zeros(s.size)
        rhs[0] = 1.0
        t0 = time.perf_counter()
        Pb = spla.spsolve(me._bordered(Q), rhs)  # dense normalisation row (reference)
        dt_b = time.perf_counter() - t0
        mean = me.moments(P, s, (1,))[0]
        print(f"master equation (S4): n_max = {n_max:5d}, {s.size:6d} states, stationary "
              f"solve {dt * 1e3:7.1f} ms (bordered reference {dt_b * 1e3:8.1f} ms, "
              f"{dt_b / dt:5.1f}x; max |dP| {np.abs(P - Pb / Pb.sum()).max():.1e}), "
              f"<N> = {mean:.3f} (Eq. 8: {sc.moments_sr(p)[0]:.3f})")


def bench_bubbles(steps: int) -> None:
    sim = BurstingBubbles(12.0, None, seed=1)
    sim.run(steps)
    t0 = time.perf_counter()
    sim.run(steps)
    dt = time.perf_counter() - t0
    print(f"bursting bubbles (spinless, L = 12 r, N ~ {sim.n}): {steps / dt:8.0f} steps/s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 8000])
    ap.add_argument("--events", type=int, default=4000)
    ap.add_argument("--direct-events", type=int, default=5)
    args = ap.parse_args()
    for n in args.sizes:
        bench_kmc(n, args.events, args.direct_events)
    bench_master([200, 400, 800, 1600])
    bench_bubbles(20000)


if __name__ == "__main__":
    main()

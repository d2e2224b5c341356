"""Usadel over MPI ranks: 1 → P rank speed-up of the spectral + collisionless kinetic
solve with the energies shared (:class:`fvqp.parallel.energies.EnergySplit`).

The wire of ``benchmarks/usadel_wire.py`` (101 nodes, NS, eV = 1.5 Δ0, Γ = 1e-3,
t = 0.05) at ``--energies`` energies (default 1600), solved ``--repeat`` times (best
time). Run it serially and under ``mpiexec -n 2``; rank 0 prints the wall time of the
spectral and kinetic solves and the largest deviation of θ and fT from the serial solve
(done on rank 0 alone in the same process). The speed-up is the serial time over the
P-rank time of the two printed runs. Besides wall times the CPU time of the busiest rank
is printed: on a shared, oversubscribed machine the wall-clock ratio says little, the CPU
ratio is the work each rank does (figures taken under load say so).

Run::

    python benchmarks/usadel_mpi.py
    mpiexec -n 2 python benchmarks/usadel_mpi.py
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from fvqp.models.usadel.kinetic import solve_linear
from fvqp.models.usadel.network import uniform_wire
from fvqp.models.usadel.spectral import SpectralProblem, solve_spectral
from fvqp.models.usadel.terminals import Reservoir
from fvqp.parallel.energies import EnergySplit

L, N_EDGES, GAMMA, T, V = 10.0, 100, 1e-3, 0.05, 1.5


def _problem():
    net = uniform_wire(L, N_EDGES, x0=0.0)
    res = [Reservoir("n", 0, "normal", bias=V, temperature=T),
           Reservoir("s", N_EDGES, "superconductor", temperature=T)]
    return res, SpectralProblem(net, 1.0, gamma=GAMMA, reservoirs=res)


def solve(eps, split):
    res, prob = _problem()
    split.comm.Barrier()
    t0, c0 = time.perf_counter(), time.process_time()
    spec = solve_spectral(prob, eps, split=split)
    t1, c1 = time.perf_counter(), time.process_time()
    kin = solve_linear(spec, res, [], split=split)
    t2, c2 = time.perf_counter(), time.process_time()
    cpu = max(split.comm.allgather((c1 - c0, c2 - c1)), key=sum)  # the busiest rank
    return spec, kin, (t1 - t0, t2 - t1), cpu


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--energies", type=int, default=1600)
    p.add_argument("--repeat", type=int, default=3)
    a = p.parse_args()
    eps = np.linspace(-4, 4, a.energies)
    split = EnergySplit()
    best, cpu = (np.inf, np.inf), (np.inf, np.inf)
    for _ in range(a.repeat):
        spec, kin, wall, c = solve(eps, split)
        best = min(best, wall, key=sum)
        cpu = min(cpu, c, key=sum)
    if split.is_root:
        print(f"{split.size} rank(s), {a.energies} energies x {N_EDGES + 1} nodes: "
              f"wall spectral {best[0]:.3f} s, kinetic {best[1]:.3f} s, "
              f"total {sum(best):.3f} s; CPU of the busiest rank spectral {cpu[0]:.3f} s, "
              f"kinetic {cpu[1]:.3f} s, total {sum(cpu):.3f} s (best of {a.repeat})")
        if split.size > 1:  # the serial reference on rank 0
            res, prob = _problem()
            s1 = solve_spectral(prob, eps)
            k1 = solve_linear(s1, res, [])
            print(f"max |θ - θ_serial| = {np.abs(spec.theta - s1.theta).max():.2e}, "
                  f"max |fT - fT_serial| = {np.abs(kin.fT - k1.fT).max():.2e}")


if __name__ == "__main__":
    main()

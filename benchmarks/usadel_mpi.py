"""Usadel over MPI ranks: 1 → P rank speed-ups of (a) the spectral + collisionless kinetic
solve with the energies shared (:class:`fvqp.parallel.energies.EnergySplit`), (b) the
phase-biased spectral solve (:func:`fvqp.models.usadel.phase.solve_phase`) with its
energies shared, (c) a supercurrent map (:func:`fvqp.models.usadel.sweeps.
supercurrent_map`) whose sweeps run side by side, one per rank, (d) the inelastic
(e–e collision) solve distributed by blocks of energies
(:func:`fvqp.models.usadel.inelastic.solve_inelastic`).

(a) The wire of ``benchmarks/usadel_wire.py`` (101 nodes, NS, eV = 1.5 Δ0, Γ = 1e-3,
t = 0.05) at ``--energies`` energies (default 1600). (b) The current-carrying S wire of
``benchmarks/usadel_phase.py`` section 5 (20 ξ, 100 cells, reservoirs at ∓2 rad: q = 0.2,
Γ = 0.005, the 801 energies of the Fig. 11 grid; the two gap-edge energies go through the
continuation in the broadening, which every rank repeats). (c) ``cases/usadel_nis_wire.toml``
with δε = 0.02, 11 biases and I_s = 3, 5 µA (four sweeps: ±I_s) by
:func:`fvqp.models.usadel.driver.run` (checkpoint and files in a temporary directory).
(d) Fig. 11's half wire (801 energies × 86 nodes, γ_ee = 2e-4) at eV_inj = 2Δ0 from the
collisionless state.

Each is solved ``--repeat`` times (best time; the map once). Run it serially and under
``mpiexec -n 2``; rank 0 prints the wall time, the CPU time of the busiest rank and, for
(a) and (b), the largest deviation from the serial solve (done on rank 0 alone in the same
process). The speed-up is the serial time over the P-rank time of the two printed runs: on
a shared, oversubscribed machine the wall-clock ratio says little, the CPU ratio is the
work each rank does (figures taken under load say so).

With several repeats each line also gives the least busiest-rank CPU time of the repeats
(a loaded machine adds MPI spin-waiting to it; compare runs taken in the same conditions).
Measured 2026-11-23 15:49 at load 6-7 (others' jobs; the wall clock meaningless), old ->
new code in the same conditions, ``--repeat 7``, least busiest-rank CPU: (a) serial 0.598
-> 0.580 s, 2 ranks 0.363 -> 0.311 s (ratio 1.65 -> 1.86; kinetic 0.114 -> 0.105 s: each
rank computes the spectral coefficients of its own energies,
:meth:`~fvqp.models.usadel.spectral.ThetaSolution.energy_block`, instead of the whole
grid's; CPU profile of rank 1: kinetic assembly 0.052 s against 0.108 s serially). (d):
not measurable at load 9 (2-rank CPU above serial from spinning); the gathers of its
residual now use buffers (:meth:`fvqp.parallel.energies.EnergyLayout.gather`).

2026-11-24, idle machine (load 0.3-0.5, nothing else running), one BLAS thread, wall
clock, best of 5 repeats: (a) serial 0.498 / 0.500 s, 2 ranks 0.265 / 0.266 s
(**1.88x**, two alternating pairs; states bit for bit equal). (d) with the two all-gathers
of the residual: serial 0.350 / 0.349 s, 2 ranks 0.213 / 0.215 s (1.64x); with the
all-to-all transposes (:meth:`~fvqp.parallel.energies.EnergyLayout.to_rows`,
``to_energies``: each rank receives only its nodes' fL and its energies' terms, no shape
exchange) three alternating pairs 0.340 / 0.195, 0.341 / 0.187, 0.330 / 0.197 s:
**1.68-1.82x, median 1.74x**; fL equal to 1.3e-10, 29 GMRES iterations against 28
serially (the dot products' order). Profile of (d) per rank (5 solves): the FFT integrals
split 0.95 -> 0.48 s, the exchanges 0.055 s (0.072 s with the gathers).

Run::

    python benchmarks/usadel_mpi.py [--only energies|phase|map|inelastic]
    mpiexec -n 2 python benchmarks/usadel_mpi.py [--only ...]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from fvqp.models.usadel.kinetic import solve_linear
from fvqp.models.usadel.network import uniform_wire
from fvqp.models.usadel.phase import PhaseProblem, solve_phase
from fvqp.models.usadel.spectral import SpectralProblem, solve_spectral
from fvqp.models.usadel.terminals import Reservoir
from fvqp.parallel.energies import EnergySplit

L, N_EDGES, GAMMA, T, V = 10.0, 100, 1e-3, 0.05, 1.5
ROOT = Path(__file__).resolve().parents[1]


def _problem():
    net = uniform_wire(L, N_EDGES, x0=0.0)
    res = [Reservoir("n", 0, "normal", bias=V, temperature=T),
           Reservoir("s", N_EDGES, "superconductor", temperature=T)]
    return res, SpectralProblem(net, 1.0, gamma=GAMMA, reservoirs=res)


def _phase_problem():
    length, n, q = 20.0, 100, 0.2
    res = [Reservoir("l", 0, "superconductor", delta=1.0, phase=-q * length / 2),
           Reservoir("r", n, "superconductor", delta=1.0, phase=q * length / 2)]
    return PhaseProblem(uniform_wire(length, n, x0=0.0), 1.0, gamma=0.005, reservoirs=res)


def _timed(split, fn):
    """``fn()`` between barriers: its result, wall time and the busiest rank's CPU time."""
    split.comm.Barrier()
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return out, wall, max(split.comm.allgather(cpu))


def energies(split, n_eps: int, repeat: int) -> None:
    """(a) spectral + kinetic solve, energies shared."""
    eps = np.linspace(-4, 4, n_eps)
    res, prob = _problem()
    best = (np.inf,) * 4
    best_cpu = (np.inf,) * 2
    for _ in range(repeat):
        spec, ws, cs = _timed(split, lambda: solve_spectral(prob, eps, split=split))
        kin, wk, ck = _timed(split, lambda s=spec: solve_linear(s, res, [], split=split))
        best = min(best, (ws, wk, cs, ck), key=lambda b: b[0] + b[1])
        best_cpu = min(best_cpu, (cs, ck), key=sum)
    if split.is_root:
        print(f"(a) {split.size} rank(s), {n_eps} energies x {N_EDGES + 1} nodes: wall "
              f"spectral {best[0]:.3f} s, kinetic {best[1]:.3f} s, total "
              f"{best[0] + best[1]:.3f} s; CPU of the busiest rank spectral {best[2]:.3f} s,"
              f" kinetic {best[3]:.3f} s, total {best[2] + best[3]:.3f} s "
              f"(best of {repeat}); least busiest-rank CPU of the repeats: spectral "
              f"{best_cpu[0]:.3f} s, kinetic {best_cpu[1]:.3f} s, total {sum(best_cpu):.3f} s")
        if split.size > 1:  # the serial reference on rank 0
            s1 = solve_spectral(prob, eps)
            k1 = solve_linear(s1, res, [])
            print(f"    max |θ - θ_serial| = {np.abs(spec.theta - s1.theta).max():.2e}, "
                  f"max |fT - fT_serial| = {np.abs(kin.fT - k1.fT).max():.2e}")


def phase(split, repeat: int) -> None:
    """(b) phase-biased spectral solve, energies shared."""
    prob, eps = _phase_problem(), np.arange(-400, 401) / 40
    best = (np.inf, np.inf)
    for _ in range(repeat):
        sol, wall, cpu = _timed(split, lambda: solve_phase(prob, eps, split=split))
        best = min(best, (wall, cpu))
    if split.is_root:
        print(f"(b) {split.size} rank(s), phase solve, {eps.size} energies x 101 nodes: "
              f"wall {best[0]:.3f} s, CPU of the busiest rank {best[1]:.3f} s "
              f"(best of {repeat})")
        if split.size > 1:
            ref = solve_phase(prob, eps)
            print(f"    max |θ - θ_serial| = {np.abs(sol.theta - ref.theta).max():.2e}, "
                  f"max |χ - χ_serial| = {np.abs(sol.chi - ref.chi).max():.2e}")


MAP_CASE = ("points = 31", 'points = 11\nsupercurrents = ["3 uA", "5 uA"]'), \
    ("spacing = 0.01", "spacing = 0.02"), ("../meshes", str(ROOT / "meshes"))


def map_case_text() -> str:
    """``usadel_nis_wire.toml`` with the edits of :data:`MAP_CASE`, each of which must
    occur (else the benchmark would time the shipped configuration without a word)."""
    text = (ROOT / "cases" / "usadel_nis_wire.toml").read_text()
    for old, new in MAP_CASE:
        assert old in text, f"usadel_nis_wire.toml: {old!r} does not occur (update MAP_CASE)"
        text = text.replace(old, new)
    return text


def supercurrent_map(split) -> None:
    """(c) the map of four sweeps by the driver."""
    from fvqp.case import load_case
    from fvqp.models.usadel.driver import run
    from fvqp.models.usadel.selfconsistent import BiasSweep

    units_cpu, compute = [0.0], BiasSweep.compute

    def timed_compute(self, k):  # CPU of the work units alone (no MPI waiting in it)
        c0 = time.process_time()
        try:
            return compute(self, k)
        finally:
            units_cpu[0] += time.process_time() - c0

    BiasSweep.compute = timed_compute

    text = map_case_text()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = split.comm.bcast(tmp if split.is_root else None)  # one directory
        path = Path(tmp) / "usadel_map.toml"
        if split.is_root:
            path.write_text(text)
        split.comm.Barrier()
        case = load_case(path)
        out, wall, cpu = _timed(split, lambda: run(case, output_dir=str(Path(tmp) / "o")))
        split.comm.Barrier()
    BiasSweep.compute = compute
    per_rank = split.comm.allgather(units_cpu[0])
    if split.is_root:
        print(f"(c) {split.size} rank(s), supercurrent map, 4 sweeps x 11 biases, "
              f"{out['energies']} energies x {out['nodes']} nodes: wall {wall:.2f} s, CPU "
              f"of the busiest rank {cpu:.2f} s (with MPI's busy waiting), CPU in the "
              f"sweep units per rank {', '.join(f'{c:.2f}' for c in per_rank)} s")


def inelastic(split, repeat: int) -> None:
    """(d) the collisional kinetic solve, distributed by blocks of energies."""
    from dataclasses import replace

    from fvqp.models.usadel import paper
    from fvqp.models.usadel.inelastic import solve_inelastic
    from fvqp.models.usadel.selfconsistent import spectral_of, with_biases

    st = with_biases(paper.fig11_setup(gamma_ee=2e-4), {"injector": 2.0})
    spec = spectral_of(replace(st, split=split), st.problem.delta)
    lin = solve_linear(spec, st.reservoirs, st.junctions, split=split)
    args = (spec, st.reservoirs, st.junctions, 2e-4)
    best = (np.inf, np.inf)
    least_cpu = np.inf
    for _ in range(repeat):
        kin, wall, cpu = _timed(split, lambda: solve_inelastic(
            *args, u0=(lin.fL, lin.fT), share=split))
        best = min(best, (wall, cpu))
        least_cpu = min(least_cpu, cpu)
    if split.is_root:
        print(f"(d) {split.size} rank(s), inelastic solve, {spec.eps.size} energies x "
              f"{st.problem.net.n_nodes} nodes: wall {best[0]:.3f} s, CPU of the busiest "
              f"rank {best[1]:.3f} s ({kin.newton_iterations} Newton, "
              f"{kin.linear_iterations} GMRES iterations; best of {repeat}; least "
              f"busiest-rank CPU {least_cpu:.3f} s)")
        if split.size > 1:
            ref = solve_inelastic(*args, u0=(lin.fL, lin.fT))
            print(f"    max |fL - fL_serial| = {np.abs(kin.fL - ref.fL).max():.2e} (serial: "
                  f"{ref.newton_iterations} Newton, {ref.linear_iterations} GMRES)")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--energies", type=int, default=1600)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--only", choices=("energies", "phase", "map", "inelastic"))
    a = p.parse_args()
    split = EnergySplit()
    if a.only in (None, "energies"):
        energies(split, a.energies, a.repeat)
    if a.only in (None, "phase"):
        phase(split, a.repeat)
    if a.only in (None, "inelastic"):
        inelastic(split, a.repeat)
    if a.only in (None, "map"):
        supercurrent_map(split)


if __name__ == "__main__":
    main()

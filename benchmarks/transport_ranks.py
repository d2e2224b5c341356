"""Benchmark: Krylov iterations per Newton step of ``transport`` at 1, 2, 4 and 8 ranks.

``python benchmarks/transport_ranks.py [MESH] [BINS]`` runs the absorber case of
``benchmarks/transport_absorber3d.py`` (its ``make_case``: fixed BDF1 steps of 0.2 ns
through the 6 keV burst; FVQP_BENCH_STEPS, default 6) on ``MESH`` (default
``absorber3d_fine.msh``) with ``BINS`` QP bins (default 16) at 1, 2, 4 and 8 ranks (4 and 8
oversubscribed on a 2-core machine: counts and memory, not times) and prints Newton per
step, Krylov per Newton, time per step and peak memory per rank (issue 18 §2: flat
counts and per-rank memory from 1 to 8 ranks).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from transport_absorber3d import make_case, run


def main(argv: list[str]) -> None:
    mesh = argv[1] if len(argv) > 1 else "absorber3d_fine.msh"
    bins = int(argv[2]) if len(argv) > 2 else 16
    print(f"transport, {mesh}, {bins} QP bins: Krylov per Newton against ranks")
    print(f"{'ranks':>5s} {'cells':>6s} {'Newton/step':>11s} {'Kry/N':>6s} {'s/step':>7s} "
          f"{'MB/rank':>8s}")
    with tempfile.TemporaryDirectory(prefix="transport_ranks_") as d:
        case = make_case(Path(d), mesh, bins)
        for r in (1, 2, 4, 8):
            s = run(case, Path(d) / f"r{r}", r)
            newton = s["newton_iterations"] / s["steps"]
            krylov = s["linear_iterations"] / max(1, s["newton_iterations"])
            print(f"{r:5d} {s['n_cells']:6d} {newton:11.2f} {krylov:6.2f} "
                  f"{s['time_stepping_s'] / s['steps']:7.2f} "
                  f"{s['peak_rss_MB_per_rank']:8.0f}", flush=True)


if __name__ == "__main__":
    main(sys.argv)

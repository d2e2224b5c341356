"""Benchmark: the steady transport solve on 1, 2, 4 and 8 ranks, one level against two.

``python benchmarks/transport_steady_ranks.py [CASE]`` runs ``CASE`` (default
``cases/transport_nis_wire.toml``, a steady case with the assembled Jacobian) at
FVQP_BENCH_RANKS ranks (default "1 2 4 8"; 4 and 8 oversubscribed on a 2-core machine:
counts and memory, not times) with the default preconditioner (additive Schwarz + the coarse
level on cell aggregates, :class:`fvqp.solvers.twolevel.TwoLevelPC`)
and with one level (``-transport_coarse_aggregates 0``), and prints Newton steps, Krylov
per Newton, wall and CPU seconds, peak memory per rank, the ratio of one-level to
two-level Krylov counts and the largest relative difference of the QP number and the
boundary flows from the serial run.

Measured 2026-11-23 22:58 (NIS wire, 326 cells x 154 unknowns; coarse unknowns per QP bin,
16 aggregates per rank, on several ranks only, as the default was then), at 1, 2, 4, 8
ranks: Krylov per Newton one level 5.33, 48.0, 113.7, 138.7, two levels -, 12.3, 12.7,
11.0; CPU s one level 4.0, 5.9, 9.3, 13.9, two levels -, 5.6, 7.6, 12.5; wall 2.38 s
serial, 1.41 / 1.22 s on 2 ranks (one / two levels); peak MB per rank one level 575, 346,
246, 187, two levels -, 384, 265, 211; N_qp and flows = serial to 6e-14. With today's
default, max(64, 16 per rank) aggregates also on one rank: Krylov in 3 Newton 16, 33, 38,
33 (single runs, 23:20).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from _common import ROOT
from transport_absorber3d import run


def _difference(s: dict, ref: dict) -> float:
    """Largest relative difference of N_qp and the QP flows (scaled by the largest flow)."""
    flows = ref["qp_rates_per_s"]
    scale = max(abs(v) for v in flows.values()) or 1.0
    d = abs(s["N_qp"] - ref["N_qp"]) / abs(ref["N_qp"])
    return max([d] + [abs(s["qp_rates_per_s"][k] - v) / scale for k, v in flows.items()])


def main(argv: list[str]) -> None:
    case = Path(argv[1]) if len(argv) > 1 else ROOT / "cases" / "transport_nis_wire.toml"
    ranks = [int(r) for r in os.environ.get("FVQP_BENCH_RANKS", "1 2 4 8").split()]
    print(f"steady transport, {case.name}: Krylov per Newton against ranks, one level "
          "(-transport_coarse_aggregates 0) and the default (two levels)")
    print(f"{'ranks':>5s} {'levels':>6s} {'Newton':>6s} {'Kry/N':>6s} {'wall s':>7s} "
          f"{'CPU s':>7s} {'MB/rank':>8s} {'1lev/2lev':>9s} {'vs serial':>9s}")
    with tempfile.TemporaryDirectory(prefix="transport_steady_") as d:
        ref = None
        for r in ranks:
            one = run(case, Path(d) / f"one{r}", r, ["-transport_coarse_aggregates", "0"])
            ref = ref or one
            runs = [("1", one), ("2", run(case, Path(d) / f"two{r}", r))]
            k_one = one["linear_iterations"] / one["newton_iterations"]
            for levels, s in runs:
                k = s["linear_iterations"] / s["newton_iterations"]
                ratio = f"{k_one / k:9.2f}" if levels == "2" else f"{'':9s}"
                print(f"{r:5d} {levels:>6s} {s['newton_iterations']:6d} {k:6.2f} "
                      f"{s['wall_time_s']:7.2f} {s['cpu_total_s']:7.2f} "
                      f"{s['peak_rss_MB_per_rank']:8.0f} {ratio} "
                      f"{_difference(s, ref):9.1e}", flush=True)


if __name__ == "__main__":
    main(sys.argv)

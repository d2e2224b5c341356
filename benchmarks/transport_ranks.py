"""Benchmark: Krylov iterations per Newton step of ``transport`` at 1, 2, 4 and 8 ranks.

``python benchmarks/transport_ranks.py [MESH] [BINS] [JACOBIAN]`` runs the absorber case of
``benchmarks/transport_absorber3d.py`` (its ``make_case``: fixed BDF1 steps of 0.2 ns
through the 6 keV burst; FVQP_BENCH_STEPS, default 6) on ``MESH`` (default
``absorber3d_fine.msh``) with ``BINS`` QP bins (default 16) at 1, 2, 4 and 8 ranks (4 and 8
oversubscribed on a 2-core machine: counts and memory, not times) and prints Newton per
step, Krylov per Newton, time per step and peak memory per rank (issue 18 §2: flat
counts and per-rank memory from 1 to 8 ranks). The runs use ``[numerics] jacobian =
"schur"`` (the phonon-eliminating preconditioner, :mod:`fvqp.models.transport.schur`):
``auto`` picks the assembled Jacobian below 2e7 collision-block entries (both
absorber meshes at 16 bins), which measured PETSc's own ASM, not the Schur preconditioner.
``JACOBIAN`` (default ``schur``) may be ``assembled`` (PETSc's ASM with ILU(0), the
``auto`` choice at 16 bins). FVQP_BENCH_OPTIONS passes extra PETSc options to every run
(e.g. ``-transport_schur_overlap 2``, ``-transport_asm_subdomains petsc``); FVQP_BENCH_DT
sets the fixed step in ns (default 0.2), FVQP_BENCH_RANKS the rank counts ("1 2 4 8");
FVQP_BENCH_AFTER (ns) counts only the FVQP_BENCH_STEPS steps after that time (the late
steps of a transient; :func:`late_steps`).

With the float32 cell storage on every rank (:class:`fvqp.solvers.cellblock_ras.
CellBlockRAS`, the ``auto`` default since 2026-11-24 evening), 3 BDF1 steps of 0.2 ns
(FVQP_BENCH_STEPS=3 runs 6: 2 Newton each), 11 680 cells x 16 bins, idle machine, Schur
path, at 1, 2, 4, 8 ranks: Krylov per Newton 5.00, 5.00, 5.00, 5.00; 0.86, 0.47, 0.58,
0.64 s per step (4 and 8 oversubscribed); 391, 275, 226, 197 MB per rank. The 520-cell
burst (6 steps) on 8 ranks: cell storage, 11 Newton / 58 Krylov as serially, final
energy equal to 1e-15. 2026-11-26 evening, the run defaults of then (int16 cell blocks,
complex64 action spectra, forced first linear solve), the same command: Krylov per Newton
4.00, 4.00, 4.17, 4.17; 0.85, 0.46, 0.56, 0.66 s per step; 337, 257, 215, 192 MB per rank.

Assembled path, 2026-11-23 08:35-09:20, heavily loaded (times not comparable), 3 BDF1
steps of 0.2 ns, 16 bins, Krylov per Newton at 1, 2, 4, 8 ranks: with RCM subdomains of
the global face graph (:func:`fvqp.models.transport.solver_config.assembled_preconditioner`)
520 cells 6.00, 6.00, 6.00, 6.00 (PETSc's sorted subdomains 6.00, 6.00, 10.33, 10.33);
11 680 cells 6.17, 6.17, 6.67, 6.58 (40.3, 46.7, 41.5, 42.0 s/step; 2297, 1245, 739, 477
MB per rank), sorted subdomains 6.17, 13.17, 32.8, 33.2 (previous session).

Long steps (a transient's late steps; FVQP_BENCH_AFTER=10, the 3 fixed BDF1 steps after
10 ns, 520 cells, 16 bins, 2026-11-23 09:35-09:41, loaded), Krylov per Newton at 1 and 8
ranks: Schur 2 ns 7.50, 7.50; 20 ns 19.00, 19.56 (3 Newton per step); assembled 2 ns
9.83, 9.83; 20 ns 21.25, 21.12 (2.67 Newton per step); 1 680 cells (medium mesh),
Schur 20 ns 23.33, 24.00. Flat in the ranks, but the one-level counts grow with the step
(Schur 4.3 at 0.2 ns through the burst, 7.5 at 2 ns, 19 at 20 ns) and with the mesh at
long steps (19 -> 23.3 from 520 to 1 680 cells at 20 ns): the diffusion length per step
outgrows the cells -- the regime a coarse level addresses (not measured on 11 680
cells). Through the burst with a 2 ns cap (24 steps, most shortened by the pulse):
Schur 4.29, 4.27, 4.31, 4.33 at 1, 2, 4, 8; assembled 6.92, 6.96, 7.02 at 1, 2, 4.

Measured 2026-11-23 05:50-06:15 under load (other jobs on the 2 cores; times are not
comparable), 3 BDF1 steps, 16 bins, Krylov per Newton at 1, 2, 4, 8 ranks, Schur path:
11 680 cells 5.00, 5.00, 5.00, 5.00 (14.8, 17.9, 12.6, 12.8 s/step; 463, 394, 284, 227 MB
per rank); with the previous subdomain ordering (RCM on the local faces only, no
ghost-to-ghost faces) 5.00, 5.00, 21.17 at 1, 2, 4 ranks, and 4.00, 6.08, 4.00 on 520
cells (now 4.00 at 1, 2, 4, 8). The table of the previous session (6.17, 13.17, 32.8,
33.2 on 11 680 cells; 6, 6, 10.3, 10.3 on 520) was the *assembled* path that ``auto``
chose at 16 bins (PETSc's ASM with ILU(0) on sorted subdomains), not the Schur
preconditioner. Through the burst (FVQP_BENCH_STEPS=6, 06:05-06:27, loaded): 520 cells x
16 bins 4.00 at 1-8 ranks (148, 147, 145, 142 MB per rank); 11 680 x 16 5.00 at 1-8
(464, 393, 285, 227 MB); 1 680 x 64 bins 4.00 at 1-8 (363, 381, 282, 221 MB); 2 Newton
per step in every run.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from pathlib import Path

from transport_absorber3d import STEPS, make_case, run


def with_step(case: Path, dt_ns: float, end_ns: float) -> Path:
    """``case`` with fixed BDF1 steps of ``dt_ns`` (instead of 0.2 ns) to ``end_ns`` (the
    source's pulse still shortens the steps it falls in)."""
    text = case.read_text()
    text = re.sub(r'end = "[^"]*"', f'end = "{end_ns:g} ns"', text, count=1)
    text = text.replace('dt_initial = "0.2 ns"', f'dt_initial = "{dt_ns:g} ns"')
    out = case.with_name(f"{case.stem}_dt{dt_ns:g}_{end_ns:g}.toml")
    out.write_text(text)
    return out


def late_steps(case: Path, d: Path, dt: float, after: float, r: int, extra) -> None:
    """Counts of the ``STEPS`` steps of ``dt`` ns after ``after`` ns alone: the difference
    of a run to ``after`` and one ``STEPS`` steps further (the pulse's short steps cancel)."""
    a = run(with_step(case, dt, after), d / f"a{r}", r, extra)
    b = run(with_step(case, dt, after + STEPS * dt), d / f"b{r}", r, extra)
    steps = b["steps"] - a["steps"]
    newton = b["newton_iterations"] - a["newton_iterations"]
    krylov = b["linear_iterations"] - a["linear_iterations"]
    print(f"{r:5d} {b['n_cells']:6d} {newton / steps:11.2f} {krylov / max(1, newton):6.2f} "
          f"{'-':>7s} {b['peak_rss_MB_per_rank']:8.0f} {steps:5d} "
          f"{b['failed_solves'] - a['failed_solves']:6d}", flush=True)


def main(argv: list[str]) -> None:
    mesh = argv[1] if len(argv) > 1 else "absorber3d_fine.msh"
    bins = int(argv[2]) if len(argv) > 2 else 16
    jacobian = argv[3] if len(argv) > 3 else "schur"
    dt = float(os.environ.get("FVQP_BENCH_DT", "0.2"))
    ranks = [int(r) for r in os.environ.get("FVQP_BENCH_RANKS", "1 2 4 8").split()]
    print(f"transport, {mesh}, {bins} QP bins, {jacobian} Jacobian, {dt:g} ns steps: "
          "Krylov per Newton against ranks")
    print(f"{'ranks':>5s} {'cells':>6s} {'Newton/step':>11s} {'Kry/N':>6s} {'s/step':>7s} "
          f"{'MB/rank':>8s} {'steps':>5s} {'failed':>6s}")
    with tempfile.TemporaryDirectory(prefix="transport_ranks_") as d:
        case = make_case(Path(d), mesh, bins, jacobian)
        extra = os.environ.get("FVQP_BENCH_OPTIONS", "").split()
        after = os.environ.get("FVQP_BENCH_AFTER")
        if after:
            print(f"(the {STEPS} steps after {after} ns only)")
            for r in ranks:
                late_steps(case, Path(d), dt, float(after), r, extra)
            return
        if dt != 0.2:
            case = with_step(case, dt, STEPS * dt)
        for r in ranks:
            s = run(case, Path(d) / f"r{r}", r, extra)
            newton = s["newton_iterations"] / s["steps"]
            krylov = s["linear_iterations"] / max(1, s["newton_iterations"])
            print(f"{r:5d} {s['n_cells']:6d} {newton:11.2f} {krylov:6.2f} "
                  f"{s['time_stepping_s'] / s['steps']:7.2f} "
                  f"{s['peak_rss_MB_per_rank']:8.0f} {s['steps']:5d} "
                  f"{s['failed_solves']:6d}", flush=True)


if __name__ == "__main__":
    main(sys.argv)

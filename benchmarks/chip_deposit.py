"""The chip chain's cost (issue 17 §4) and the burst figure of a chip run.

    python benchmarks/chip_deposit.py [--mesh small|layout] [--steps N]
        [--polar P --azimuth A] [--spacing MEV] [--films bte|transport] [--no-lag]
    mpiexec -n 2 python benchmarks/chip_deposit.py ...       (1 -> 2 ranks)
    python benchmarks/chip_deposit.py --plot OUTPUT_DIR        (PNG of a run's bursts)

Runs ``cases/bte_chip_deposit.toml`` (``--films transport``: its variant with diffusive
QPs in the films, ``cases/bte_chip_deposit_transport.toml``; mesh, ordinates, QP spacing
as given) for a few steps and prints: cells, phonon unknowns, QP unknowns, time per step, phonon
unknown-updates per second per core (phonon unknowns x steps / wall time / ranks; the
wall time includes the QP Newton steps), peak memory per phonon unknown, the coupled
iterations per step (``[chain] coupling = "coupled"``: a QP Newton step and a phonon
sweep each), the Krylov iterations per phonon bin, the QP Newton/Krylov counts and the
QP preconditioner's builds, reuses and CPU time (``--no-lag``: rebuilt at every Newton
iteration, as ``-chip_qp_pc_lag 0``). Compare runs with more
cells (``--mesh layout`` 1578 vs ``small`` 358 cells), energies (``--spacing``) and
directions (``--polar/--azimuth``) for the growth of the cost. On the shared 2-core
machine every figure is taken under the other sessions' load: say so when quoting them.

``--plot DIR`` reads ``DIR/<case>_series.csv`` and writes ``DIR/bursts.png``: the excess
QP number of every film versus time (log scale) with the burst arrival (half-rise)
marked.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def plot(out_dir: str) -> str:
    """``bursts.png`` of a chip run's series (excess QPs per film vs time)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from fvqp.io.series import read_series

    path = glob.glob(os.path.join(out_dir, "*_series.csv"))[0]
    header, rows = read_series(path)
    a = np.array(rows)
    t = a[:, header.index("time_s")] * 1e9
    summary = json.load(open(os.path.join(out_dir, "summary.json")))
    fig, ax = plt.subplots(figsize=(6, 4))
    for k in header:
        if k.startswith("dN_qp:"):
            name = k.split(":", 1)[1]
            line, = ax.semilogy(t, np.maximum(a[:, header.index(k)], 1e-3), label=name)
            arr = summary.get("arrival_s", {}).get(name)
            if arr is not None:
                ax.axvline(arr * 1e9, color=line.get_color(), ls=":")
    ax.set_xlabel("time (ns)")
    ax.set_ylabel("excess QP number")
    ax.set_title("correlated QP bursts (dotted: half-rise arrival)")
    ax.legend()
    fig.tight_layout()
    png = os.path.join(out_dir, "bursts.png")
    fig.savefig(png, dpi=120)
    return png


def bench(args) -> None:
    from fvqp.case.loader import load_case
    from fvqp.models.bte_chip.driver import ChipModel

    name = "bte_chip_deposit" + ("_transport" if args.films == "transport" else "")
    text = open(os.path.join(ROOT, "cases", f"{name}.toml")).read()
    text = text.replace('file = "../meshes/', f'file = "{ROOT}/meshes/')
    if args.mesh == "small":
        text = text.replace("chip_layout/chip.msh", "chip_small/chip_small.msh")
    text = text.replace("polar = 2", f"polar = {args.polar}")
    text = text.replace("azimuth = 4", f"azimuth = {args.azimuth}")
    text = text.replace('spacing = "0.05 meV"', f'spacing = "{args.spacing} meV"')
    text = text.replace('end = "300 ns"', f'end = "{5 * args.steps} ns"')
    from petsc4py import PETSc

    if args.no_lag:  # the QP preconditioner rebuilt at every Newton iteration (before)
        PETSc.Options()["chip_qp_pc_lag"] = 0
    comm = PETSc.COMM_WORLD.tompi4py()
    rank = comm.Get_rank()
    tmp = comm.bcast(tempfile.mkdtemp(prefix="chip_bench_") if rank == 0 else None)
    case_path = os.path.join(tmp, "bte_chip_deposit.toml")
    if rank == 0:
        open(case_path, "w").write(text)
    comm.barrier()
    t0 = time.perf_counter()
    r = ChipModel().run(load_case(case_path), output_dir=os.path.join(tmp, "out"))
    wall = time.perf_counter() - t0
    s = r.summary
    if rank:
        return
    nph, steps, ranks = s["phonon_unknowns"], s["steps"], s["ranks"]
    per_bin = s["phonon_linear_iterations"] / max(1, steps * s["phonon_nodes"])
    print(f"mesh {args.mesh}, {args.films} films: {s['n_cells']} cells, "
          f"{s['phonon_nodes']} phonon nodes, {s['ordinates']} ordinates, "
          f"{s['qp_bins']} QP bins; ranks {ranks}")
    print(f"phonon unknowns {nph:.3e}, QP unknowns {s['qp_unknowns']:.3e}")
    print(f"steps {steps}, wall {wall:.1f} s (run {s['wall_time_s']:.1f} s), "
          f"{s['wall_time_s'] / steps:.3f} s/step")
    print(f"phonon unknown-updates per second per core: "
          f"{nph * steps / s['wall_time_s'] / ranks:.3e}")
    print(f"peak RSS {s['peak_rss_MB_per_rank']:.0f} MB per rank = "
          f"{s['peak_rss_MB_per_rank'] * 1e6 * ranks / nph:.0f} bytes per phonon unknown "
          "(includes the interpreter and PETSc, ~150 MB)")
    its = s.get("coupled_iterations") or steps          # the split: one sweep per step
    print(f"coupling {s.get('coupling', 'split')}: {its / steps:.2f} iterations per step "
          "(each a QP Newton step and a phonon sweep)")
    sweep = s["phonon_linear_iterations"] / max(1, its * s["phonon_nodes"])
    print(f"Krylov per phonon bin per sweep {sweep:.1f} (per step {per_bin:.1f}); QP Newton "
          f"{s['qp_newton_iterations']}, QP Krylov {s['qp_linear_iterations']}")
    if "qp_preconditioner_builds" in s:
        cpu = s["qp_preconditioner_cpu_s"]
        print(f"QP preconditioner: {s['qp_preconditioner_builds']} builds "
              f"({s['qp_preconditioner_rebuild_reasons']}), "
              f"{s['qp_preconditioner_reuses']} reuses; CPU build "
              f"{cpu['pc_build']:.1f} s, apply {cpu['pc_apply']:.1f} s; QP Krylov per "
              f"Newton {s['qp_linear_iterations'] / max(1, s['qp_newton_iterations']):.1f}")
    print(f"energy imbalance {s['energy_imbalance_J']:.3e} J of "
          f"{s['E_deposited_J']:.3e} J deposited")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--plot", metavar="DIR")
    ap.add_argument("--mesh", choices=("small", "layout"), default="small")
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--polar", type=int, default=2)
    ap.add_argument("--azimuth", type=int, default=4)
    ap.add_argument("--spacing", type=float, default=0.05)
    ap.add_argument("--films", choices=("bte", "transport"), default="bte")
    ap.add_argument("--no-lag", action="store_true",
                    help="rebuild the QP preconditioner at every Newton iteration")
    args = ap.parse_args(argv)
    if args.plot:
        print(plot(args.plot))
        return 0
    bench(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())

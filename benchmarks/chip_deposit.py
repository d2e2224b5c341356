"""The chip chain's cost (issue 17 §4) and the burst figure of a chip run.

    python benchmarks/chip_deposit.py [--mesh small|layout] [--steps N]
        [--polar P --azimuth A] [--spacing MEV] [--films bte|transport] [--no-lag]
        [--rebuild | --compare]
    mpiexec -n 2 python benchmarks/chip_deposit.py ...       (1 -> 2 ranks)
    python benchmarks/chip_deposit.py --plot OUTPUT_DIR        (PNG of a run's bursts)
    python benchmarks/chip_deposit.py --mesh layout --microsecond 1e-2,0.1 [--reference R]
        (to 1 us: the fixed 5 ns steps against adaptive steps at each rtol, the errors
         against an adaptive run at rtol R, and the target extrapolated from each)
    python benchmarks/chip_deposit.py --factor [--mesh-file M] [--steps N] ...
        (a block-Jacobi ILU factor per phonon bin system against the factor kept across
         the bins of a sweep, ``fvqp.models.phonon.bins.FACTOR_SPREAD``, in the same
         process: phonon solves, factorisations, Krylov counts, answers and ratios)
    python benchmarks/chip_deposit.py --coarse [--mesh-file M] [--steps N] [--rtol R]
        (the films' global coarse level, ``[qp] coarse``, solved exactly and inexactly
         in the same process: their costs, Krylov counts, answers and ratios)

Runs ``cases/bte_chip_deposit.toml`` (``--films transport``: its variant with diffusive
QPs in the films, ``cases/bte_chip_deposit_transport.toml``; mesh, ordinates, QP spacing
as given) for a few steps and prints: cells, phonon unknowns, QP unknowns, time per step, phonon
unknown-updates per second per core (phonon unknowns x steps / wall time / ranks; the
wall time includes the QP Newton steps), peak memory per phonon unknown, the coupled
iterations per step (``[chain] coupling = "coupled"``: a QP Newton step and a phonon
sweep each; with ``[chain] start = "sweep"``, the default, one phonon sweep more per step
starts them; ``FVQP_CHIP_START=zero``: the start from r = 0 before 2026-11-25;
``FVQP_CHIP_CONFIRM=sweep``: every iterate confirmed by a sweep, before 2026-11-27;
``FVQP_CHIP_SCHEME=bdf2``: adaptive steps (``--rtol``, ``--microsecond``) by variable-step
BDF2 instead of backward Euler;
the default ``[chain] confirm = "bound"`` accepts iterates without it where a bound
allows, and those saved sweeps are not counted), the
Krylov iterations per phonon bin, the QP Newton/Krylov counts and the QP
preconditioner's builds, reuses and CPU time (``--no-lag``: rebuilt at every Newton
iteration, as ``-chip_qp_pc_lag 0``). Compare runs with more
cells (``--mesh layout`` 1578 vs ``small`` 358 cells), energies (``--spacing``) and
directions (``--polar/--azimuth``) for the growth of the cost. On the shared 2-core
machine every figure is taken under the other sessions' load: say so when quoting them.

The phonon sweeps' own wall time (system setup and solves, the maximum over the ranks)
is printed beside the whole chain's, with the unknown-updates per second per core of
the sweeps alone. ``--rebuild``: the phonon systems built and destroyed per bin and
sweep, the path before 2026-11-23 (``PhononProblem.reuse = False``); ``--compare``: that
path and the default (the film rates put on the cached systems' diagonal in place) in
the same process, with the speed-up and the two runs' QP numbers (the second run's peak
RSS is the process's, so it includes the first). Every run ends with the extrapolation
to the issue-17 target (:data:`TARGET`, :func:`extrapolate`) from its per-unknown costs.

``--plot DIR`` reads ``DIR/<case>_series.csv`` and writes ``DIR/bursts.png``: the excess
QP number of every film versus time (log scale) with the burst arrival (half-rise)
marked.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import shutil
import sys
import tempfile
import time

from _common import case_variant_text

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


#: the issue-17 target: substrate cells, phonon energies, ordinates (+1 angle average
#: per cell and energy), simulated time [s], and its wall-time goal [s] on 2 cores
TARGET = {"cells": 100_000, "energies": 24, "ordinates": 24, "time_s": 1e-6,
          "goal_s": 1800.0}


def _case_text(args) -> str:
    """The shipped chip case with the benchmark's mesh, ordinates, spacing and steps
    (:func:`_common.case_variant_text`: every edit must find its text)."""
    name = "bte_chip_deposit" + ("_transport" if args.films == "transport" else "")
    mesh = ROOT + "/meshes/chip_small/chip_small.msh" if args.mesh == "small" else None
    mesh = getattr(args, "mesh_file", None) or mesh
    subs = [(r"polar = 2\b", f"polar = {args.polar}"),
            (r"azimuth = 4\b", f"azimuth = {args.azimuth}"),
            (re.escape('spacing = "0.05 meV"'), f'spacing = "{args.spacing} meV"'),
            (re.escape('end = "300 ns"'), f'end = "{args.end or 5 * args.steps} ns"')]
    if args.rtol:   # adaptive steps from the case's 5 ns (fvqp.models.bte_chip.adaptive)
        scheme = os.environ.get("FVQP_CHIP_SCHEME", "bdf1")
        subs.append((re.escape('dt_initial = "5 ns"'),
                     f'dt_initial = "5 ns"\nadaptive = true\nrtol = {args.rtol}\n'
                     f'scheme = "{scheme}"'))
    if args.spacing != 0.05:
        # the case's e_max puts its top phonon bin above the deposit's 3 widths at its own
        # spacing only (0.6 meV: 0.825 meV at 0.05, 0.789 at 0.03 — refused since
        # 2026-11-26, a cut deposit piles its phonons up below the top): the default grid
        # holds the deposit at any spacing
        subs.append((re.escape('e_max = "0.6 meV"') + "\n", ""))
    text = case_variant_text(f"{name}.toml", mesh, subs)
    if getattr(args, "qp_coarse", None):   # the films' coarse level (bte films)
        text += f'\n[qp]\ncoarse = "{args.qp_coarse}"\n'
    chain = {k: os.environ.get(f"FVQP_CHIP_{k.upper()}") for k in ("start", "confirm")}
    chain = "".join(f'{k} = "{v}"\n' for k, v in chain.items() if v)
    return text + f"\n[chain]\n{chain}" if chain else text


def run_once(args, reuse: bool, model=None) -> dict | None:
    """One run of the case (:func:`_case_text`); the phonon systems' film rates in place
    (``reuse``, the default) or rebuilt per bin and sweep (the path before 2026-11-23).
    Returns the summary with the phonon sweeps' wall seconds (``phonon_seconds``:
    setup, solve) on rank 0, None on the others."""
    from petsc4py import PETSc

    from fvqp.case.loader import load_case
    from fvqp.models.bte_chip.driver import ChipModel

    built = {}

    class Model(model or ChipModel):
        def build(self, case, comm=None):
            sim = built["sim"] = super().build(case, comm)
            sim.psim.problem.reuse = reuse
            return sim

        def transient(self, sim, ctx):     # the steps' CPU and wall seconds (no build,
            c0, w0 = time.process_time(), time.perf_counter()   # no output)
            try:
                return super().transient(sim, ctx)
            finally:
                built["march_cpu"] = time.process_time() - c0
                built["march_wall"] = time.perf_counter() - w0

    if args.no_lag:  # the QP preconditioner rebuilt at every Newton iteration (before)
        PETSc.Options()["chip_qp_pc_lag"] = 0
    comm = PETSc.COMM_WORLD.tompi4py()
    rank = comm.Get_rank()
    tmp = comm.bcast(tempfile.mkdtemp(prefix="chip_bench_") if rank == 0 else None)
    case_path = os.path.join(tmp, "bte_chip_deposit.toml")
    if rank == 0:
        open(case_path, "w").write(_case_text(args))
    comm.barrier()
    r = Model().run(load_case(case_path), output_dir=os.path.join(tmp, "out"))
    comm.barrier()  # (a failed run leaves its directory, for a look at what it wrote)
    series = None
    if rank == 0:
        from fvqp.io.series import read_series

        series = read_series(glob.glob(os.path.join(tmp, "out", "*_series.csv"))[0])
        shutil.rmtree(tmp, ignore_errors=True)
    prob = built["sim"].psim.problem
    sec = comm.reduce(dict(prob.seconds), root=0,
                      op=lambda a, b: {k: max(a[k], b[k]) for k in a})
    cpu = comm.reduce({**prob.cpu_seconds, "march": built["march_cpu"]}, root=0,
                      op=lambda a, b: {k: a[k] + b[k] for k in a})
    march_wall = comm.reduce(built["march_wall"], root=0, op=max)
    if rank:
        return None
    return {**r.summary, "phonon_seconds": sec, "cpu_seconds": cpu, "march_wall_s": march_wall,
            "film_cells": int(built["sim"].qsim.dist.n_global), "series": series}


def report(args, s: dict, label: str) -> dict:
    """Print the figures of one run; returns the per-unknown costs."""
    nph, steps, ranks = s["phonon_unknowns"], s["steps"], s["ranks"]
    wall = s["wall_time_s"]
    per_bin = s["phonon_linear_iterations"] / max(1, steps * s["phonon_nodes"])
    its = s.get("coupled_iterations") or steps          # the split: one sweep per step
    pre = s.get("coupled_start_sweeps", 0)   # the sweeps that start the coupled iteration
    saved = s.get("coupled_sweeps_saved", 0)  # iterations accepted without their sweep
    sw = its + pre - saved                    # phonon sweeps
    ph = s["phonon_seconds"]
    tph = ph["setup"] + ph["solve"]
    print(f"[{label}] mesh {args.mesh}, {args.films} films: {s['n_cells']} cells, "
          f"{s['phonon_nodes']} phonon nodes, {s['ordinates']} ordinates, "
          f"{s['qp_bins']} QP bins; ranks {ranks}")
    print(f"[{label}] phonon unknowns {nph:.3e}, QP unknowns {s['qp_unknowns']:.3e}")
    print(f"[{label}] steps {steps}, run {wall:.1f} s, {wall / steps:.3f} s/step; phonon "
          f"sweeps {tph:.2f} s (setup {ph['setup']:.2f}, solve {ph['solve']:.2f}), the "
          f"rest (QP Newton, coupling, output) {wall - tph:.2f} s")
    print(f"[{label}] the steps alone (build, output and figures left out; the slowest "
          f"rank): {s['march_wall_s']:.2f} s wall, {s['march_wall_s'] / steps:.3f} s/step")
    print(f"[{label}] phonon unknown-updates per second per core: "
          f"{nph * steps / wall / ranks:.3e} (whole chain), "
          f"{nph * sw / tph / ranks:.3e} (phonon sweeps alone, per sweep)")
    cs = s["cpu_seconds"]
    cph = cs["setup"] + cs["solve"]
    print(f"[{label}] CPU s of the steps (all ranks; build and output left out): "
          f"{cs['march']:.2f} = phonon sweeps {cph:.2f} + QP Newton, coupling, series "
          f"{cs['march'] - cph:.2f}; per step {cs['march'] / steps:.3f}; phonon "
          f"updates per CPU s {nph * steps / cs['march']:.3e} (whole chain), "
          f"{nph * sw / cph:.3e} (sweeps alone)")
    print(f"[{label}] peak RSS {s['peak_rss_MB_per_rank']:.0f} MB per rank = "
          f"{s['peak_rss_MB_per_rank'] * 1e6 * ranks / nph:.0f} bytes per phonon unknown "
          "(includes the interpreter and PETSc, ~150 MB)")
    print(f"[{label}] coupling {s.get('coupling', 'split')}: {its / steps:.2f} iterations "
          f"per step (each a QP Newton step and a phonon sweep) + {pre / steps:.2f} start "
          f"sweeps per step (phonons only) - {saved / steps:.2f} iterations per step "
          "accepted without their sweep ([chain] confirm)")
    sweep = s["phonon_linear_iterations"] / max(1, sw * s["phonon_nodes"])
    print(f"[{label}] Krylov per phonon bin per sweep {sweep:.1f} (per step {per_bin:.1f}); "
          f"QP Newton {s['qp_newton_iterations']}, QP Krylov {s['qp_linear_iterations']}")
    print(f"[{label}] phonon bin systems: {s['phonon_systems_factored']} factored, "
          f"{s['phonon_systems_kept_factor']} on a kept factor "
          f"({s['phonon_kept_factor_failures']} of them went on with their own); "
          f"{s['phonon_restart_switches']} GMRES restart switches")
    if "qp_preconditioner_builds" in s:
        cpu = s["qp_preconditioner_cpu_s"]
        print(f"[{label}] QP preconditioner: {s['qp_preconditioner_builds']} builds "
              f"({s['qp_preconditioner_rebuild_reasons']}), "
              f"{s['qp_preconditioner_reuses']} reuses; CPU build "
              f"{cpu['pc_build']:.1f} s, apply {cpu['pc_apply']:.1f} s; QP Krylov per "
              f"Newton {s['qp_linear_iterations'] / max(1, s['qp_newton_iterations']):.1f}")
    if "qp_coarse_solves" in s:
        c = s["qp_coarse_solves"]
        print(f"[{label}] QP global coarse level {s['qp_preconditioner_coarse']}: "
              f"{c['solves']} solves, {c['iterations'] / max(1, c['solves']):.1f} Krylov "
              f"per solve, {c['unconverged']} unconverged")
    print(f"[{label}] energy imbalance {s['energy_imbalance_J']:.3e} J of "
          f"{s['E_deposited_J']:.3e} J deposited")
    return {"phonon_s_per_unknown_sweep": cph / (nph * sw),
            "sweeps_per_step": sw / steps, "krylov_per_bin_sweep": sweep,
            "rest_s_per_step": (cs["march"] - cph) / steps, "cells": s["n_cells"],
            "nodes": s["phonon_nodes"], "ordinates": s["ordinates"],
            "film_share": s["film_cells"] / s["n_cells"]}


def extrapolate(c: dict, dt_s: float, steps: float | None = None) -> float:
    """The issue-17 target from the measured per-unknown cost (:data:`TARGET`): phonon
    unknowns x sweeps per step x steps x CPU s per unknown and sweep, on 2 cores at the
    ideal speed-up. CPU seconds of the steps (``time.process_time``, summed over the
    ranks; the build and the output left out): the other sessions' load on the shared
    cores stretches the wall time, much less the CPU time. Assumes the cost per unknown
    and sweep stays the measured one (the Krylov count per bin and sweep and the coupled
    iterations per step do not grow with cells, energies or directions: not
    established); the QP and coupling rest is scaled by the cells (the films' share of
    the cells as in the measured mesh), the energies and the ordinates + 1 (the films'
    QP unknowns per cell; before 2026-11-23 by the cells only). ``steps``: the steps to
    the target's time (default: of ``dt_s``; adaptive runs: the count measured to it).
    Returns the minutes on 2 cores. A run at the target's size (133 734 cells, 24
    ordinates, 2 ranks, stopped at 63.5 ns) showed these assumptions to fail together:
    ≈ 1.9 h against the 35 min this gave from the layout (docs/theory_phonon.md); the
    printed figure says so."""
    n = TARGET["cells"] * TARGET["energies"] * (TARGET["ordinates"] + 1)
    steps = TARGET["time_s"] / dt_s if steps is None else steps
    ph = n * c["sweeps_per_step"] * steps * c["phonon_s_per_unknown_sweep"]
    grow = (TARGET["cells"] / c["cells"] * TARGET["energies"] / c["nodes"]
            * (TARGET["ordinates"] + 1) / (c["ordinates"] + 1))
    rest = c["rest_s_per_step"] * grow * steps
    total = (ph + rest) / 2.0
    print(f"target {TARGET['cells']} cells x {TARGET['energies']} energies x "
          f"{TARGET['ordinates']} directions = {n:.2e} phonon unknowns, "
          f"{TARGET['time_s'] * 1e6:g} us in {steps:.0f} steps "
          f"({'of %g ns' % (dt_s * 1e9) if dt_s else 'adaptive'}): phonon "
          f"{ph:.3g} CPU s + rest {rest:.3g} CPU s (films {100 * c['film_share']:.0f} % "
          f"of the cells as measured) -> {total / 60:.0f} min on 2 cores "
          f"(goal {TARGET['goal_s'] / 60:.0f} min: {total / TARGET['goal_s']:.1f}x)")
    print("(an extrapolation: a run at the target's size, 2026-11-27, measured about "
          "1.9 h for the target at adaptive rtol 0.1 on 2 ranks -- slower-growing adaptive "
          "steps on the finer mesh, a cost per step that grows with the step; "
          "docs/theory_phonon.md, 'A run at the target's size')")
    return total / 60


def microsecond(args) -> None:
    """``--microsecond RTOL[,RTOL...]``: the case to the target's 1 us with the fixed 5 ns
    steps and with adaptive steps at each ``rtol`` (:mod:`fvqp.models.bte_chip.adaptive`),
    and a reference of adaptive steps at ``--reference`` (default 1e-3): per run the steps,
    the work, the largest error of each film's excess QP number and of the phonon energy
    over the whole series (against the reference, as a fraction of its largest value),
    and the issue-17 extrapolation from the run's own per-step costs and step count."""
    rtols = [float(r) for r in args.microsecond.split(",")]
    runs = [("fixed 5 ns", None), *[(f"adaptive {r:g}", r) for r in rtols],
            (f"reference {args.reference:g}", args.reference)]
    args.end = 1000
    out = []
    for label, rtol in runs:
        args.rtol = rtol
        s = run_once(args, reuse=True)
        if s is None:
            continue
        c = report(args, s, label)
        minutes = extrapolate(c, 0.0 if rtol else s["dt_s"],
                              s["steps"] * TARGET["time_s"] / s["t_end_s"])
        out.append((label, s, minutes))
    if not out:
        return
    import numpy as np

    ref = out[-1][1]["series"]
    keys = [k for k in ref[0] if k.startswith("dN_qp:")] + ["E_phonon_J"]

    def col(series, k):
        header, rows = series
        return np.array([r[header.index(k)] for r in rows], dtype=float)

    ref_t = col(ref, "time_s")
    print(f"\n{'run':<18s}{'steps':>6s}{'rej':>5s}{'coupled':>8s}{'ph Krylov':>10s}"
          f"{'CPU s':>8s}" + "".join(f"{k.split(':')[-1][:12]:>13s}" for k in keys)
          + f"{'target min':>11s}")
    for label, s, minutes in out:
        t = col(s["series"], "time_s")
        errs = []
        for k in keys:
            r = col(ref, k)
            errs.append(np.abs(col(s["series"], k) - np.interp(t, ref_t, r)).max()
                        / np.abs(r).max())
        print(f"{label:<18s}{s['steps']:>6d}{s.get('rejected_steps') or 0:>5d}"
              f"{s['coupled_iterations']:>8d}{s['phonon_linear_iterations']:>10d}"
              f"{s['cpu_seconds']['march']:>8.1f}" + "".join(f"{e:>13.2e}" for e in errs)
              + f"{minutes:>11.0f}")


def coarse(args) -> None:
    """``--coarse``: the films' global coarse level solved inexactly (GMRES with ILU(0)
    to 1e-3, the default before 2026-11-27) and exactly (sparse LU, the default), one
    after the other in this process: CPU seconds of the steps, the QP part, QP Krylov
    per Newton, the coarse solves, the largest difference of the films' excess QP
    numbers, and the ratios."""
    runs = {}
    for kind in ("inexact", "exact"):   # both runs on every rank (collective)
        args.qp_coarse = kind
        s = run_once(args, reuse=True)
        if s is not None:               # rank 0
            runs[kind] = (s, report(args, s, f"coarse {kind}"))
    if not runs:
        return
    (si, ci), (se, ce) = runs["inexact"], runs["exact"]
    cpu = {k: v[0]["cpu_seconds"]["march"] for k, v in runs.items()}
    per = {k: v[0]["qp_linear_iterations"] / v[0]["qp_newton_iterations"]
           for k, v in runs.items()}
    print(f"exact against inexact: steps {cpu['inexact'] / cpu['exact']:.2f}x, QP part "
          f"{ci['rest_s_per_step'] / ce['rest_s_per_step']:.2f}x faster; QP Krylov per "
          f"Newton inexact {per['inexact']:.1f}, exact {per['exact']:.1f}")
    _excess_agreement(si, se, "inexact", "exact")


def _excess_agreement(a: dict, b: dict, la: str, lb: str) -> None:
    """Print the excess QPs of every film region of two runs' summaries (labels ``la``,
    ``lb``) and their relative difference."""
    for k, v in a["qp_excess_by_region"].items():
        w = b["qp_excess_by_region"][k]
        print(f"excess QPs {k}: {la} {v:.12e}, {lb} {w:.12e} "
              f"(relative {abs(v - w) / max(abs(v), 1e-300):.1e})")


def factor(args) -> None:
    """``--factor``: the phonon bin systems with a factor each (``-bte_chip_factor_spread
    0``, the path before 2026-11-29) and with the kept factor (the default), in that
    order in one process: the phonon solves' seconds, the factorisations and Krylov
    counts, the answers' agreement and the ratios."""
    from petsc4py import PETSc

    db, key = PETSc.Options(), "bte_chip_factor_spread"
    db[key] = 0
    try:
        own = run_once(args, reuse=True)
    finally:
        db.delValue(key)
    kept = run_once(args, reuse=True)
    if own is None:
        return
    ro, rk = report(args, own, "factor per bin"), report(args, kept, "kept factor")
    so, sk = own["phonon_seconds"]["solve"], kept["phonon_seconds"]["solve"]
    sweeps = ro["phonon_s_per_unknown_sweep"] / rk["phonon_s_per_unknown_sweep"]
    print(f"phonon solves: factor per bin {so:.2f} s, kept factor {sk:.2f} s: "
          f"{so / sk:.2f}x; phonon sweeps {sweeps:.2f}x per unknown and sweep; run "
          f"{own['wall_time_s'] / kept['wall_time_s']:.2f}x")
    print(f"factorisations {own['phonon_systems_factored']} -> "
          f"{kept['phonon_systems_factored']} ({kept['phonon_systems_kept_factor']} systems "
          f"on a kept factor, {kept['phonon_kept_factor_failures']} went on with their "
          f"own); Krylov {own['phonon_linear_iterations']} -> "
          f"{kept['phonon_linear_iterations']} "
          f"({kept['phonon_linear_iterations'] / max(own['phonon_linear_iterations'], 1):.3f}x)")
    _excess_agreement(own, kept, "factor per bin", "kept")
    print("(the second run meets a warm heap: alternate separate runs, "
          "PETSC_OPTIONS=\"-bte_chip_factor_spread 0\", for timings to quote)")


def bench(args) -> None:
    if args.coarse:
        return coarse(args)
    if args.factor:
        return factor(args)
    if args.compare:   # the old path first, then the new one, in the same process
        old = run_once(args, reuse=False)
        new = run_once(args, reuse=True)
        if old is None:
            return
        co, cn = report(args, old, "rebuild"), report(args, new, "reuse")
        gain = co["phonon_s_per_unknown_sweep"] / cn["phonon_s_per_unknown_sweep"]
        print(f"phonon sweeps: {gain:.2f}x "
              f"faster per unknown and sweep; run {old['wall_time_s'] / new['wall_time_s']:.2f}x")
        for k in ("energy_imbalance_J", "E_deposited_J"):
            print(f"{k}: rebuild {old[k]:.6e}, reuse {new[k]:.6e}")
        _excess_agreement(old, new, "rebuild", "reuse")
        extrapolate(cn, new["dt_s"])
        return
    s = run_once(args, reuse=not args.rebuild)
    if s is not None:   # adaptive steps (--rtol): the count measured, scaled to 1 us
        steps = s["steps"] * TARGET["time_s"] / s["t_end_s"] if s.get("adaptive") else None
        extrapolate(report(args, s, "rebuild" if args.rebuild else "reuse"),
                    0.0 if steps else s["dt_s"], steps)
        if steps and s["t_end_s"] < TARGET["time_s"] * (1 - 1e-9):
            print(f"(adaptive steps counted to {s['t_end_s'] * 1e9:g} ns and scaled linearly "
                  "to 1 us: the steps lengthen after the deposit, so this overstates the "
                  "count; --steps 200 runs to 1 us)")


def _nbytes(obj) -> int:
    """Bytes of a numpy array, scipy sparse matrix or a dict/list of them."""
    if isinstance(obj, dict):
        return sum(_nbytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(_nbytes(v) for v in obj)
    if hasattr(obj, "indptr"):
        return obj.data.nbytes + obj.indices.nbytes + obj.indptr.nbytes
    return int(getattr(obj, "nbytes", 0))


def _phonon_items(p) -> list[tuple[str, int]]:
    """The phonon problem's persistent storage, itemised (bytes, this rank): the cached
    systems' PETSc matrices and diagonals, each KSP's ILU factors and Krylov vectors, the
    streaming and interface operators (scipy), the coefficient arrays."""
    def aij(m) -> int:   # values + column indices + row starts (AIJ)
        info = m.getInfo()
        return int(info["nz_allocated"]) * 12 + (m.getLocalSize()[0] + 1) * 4

    sy = p._systems
    vals = sum(v.nbytes for _, v in sy._vals.values())
    mats = sum(aij(q.mat) + q.work.nbytes + q.order.nbytes + q.dpos.nbytes
               for q in sy._pat.values())
    ilu = kry = 0
    for ls in [*p._systems._ksp.values(), *p._ksp.values()]:
        pc = ls.ksp.getPC()
        if pc.getType() == "bjacobi":
            for sub in pc.getBJacobiSubKSP():
                ilu += aij(sub.getPC().getFactorMatrix())
        if ls.ksp.getType() == "gmres":   # KSPSetUp_GMRES: 5, then by 10, <= restart + 4
            its = max(ls.ksp.getIterationNumber(), 1)
            from petsc4py import PETSc

            restart = PETSc.Options().getInt(f"{ls.prefix}ksp_gmres_restart", 30)
            kry += min(5 + 10 * -(-max(its - 4, 0) // 10), restart + 4) \
                * ls.mat.getLocalSize()[0] * 8
    st = p.stream
    return [(f"cached systems: values ({len(sy._vals)} systems)", vals),
            (f"their patterns: PETSc matrices + index arrays ({len(sy._pat)})", mats),
            (f"ILU(0) factors ({len(p._systems._ksp) + len(p._ksp)} KSPs)", ilu),
            ("GMRES basis (estimated from the last solve's iterations)", kry),
            ("streaming operator (scipy, all walls' K x K entries)", _nbytes(st.matrix)),
            ("inflow/outflow/influx coefficients", _nbytes([st.inflow, st.outflow,
                                                           st.influx])),
            ("interface operators per bin (scipy)", _nbytes(
                [b[0] for b in p._itf.base] if hasattr(p._itf, "base")
                else [m for m in p._itf if m is not None])
             + _nbytes(list(p._group_itf.values())))]


def memory(args) -> None:
    """``--memory``: the phonon storage per unknown itemised at the end of the steps
    (:func:`_phonon_items`), PETSc's heap (malloc tracing as in
    ``benchmarks/transport_memory.py``), the numpy/Python allocations alive by source
    line (``tracemalloc``, from before the build), the resident set (serial)."""
    import tracemalloc

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from transport_memory import _by_site, _checkpoint, _PetscHeap

    heap = _PetscHeap()                   # before PETSc starts: malloc tracing on
    from fvqp.models.bte_chip.driver import ChipModel

    rec = {"start": _checkpoint(heap)}
    tracemalloc.start(12)
    seen = {}

    def hook(sim):
        p = sim.psim.problem
        release = p.release

        def measured():
            seen["items"] = _phonon_items(p)
            seen["at end"] = _checkpoint(heap)
            seen["sites"] = _by_site(tracemalloc.take_snapshot(), 15)
            seen["unknowns"] = sim.dist.n_global * p.N * p.B
            release()
        p.release = measured

    class Model(ChipModel):
        def build(self, case, comm=None):
            sim = super().build(case, comm)
            rec["built"] = _checkpoint(heap)
            hook(sim)
            return sim

    s = run_once(args, reuse=True, model=Model)
    nph = seen["unknowns"]
    print(f"phonon unknowns {nph:.3e}; bytes per phonon unknown:")
    for name, b in seen["items"]:
        print(f"  {name:<62s} {b / nph:8.1f}")
    total = sum(b for _, b in seen["items"])
    print(f"  {'sum of the items':<62s} {total / nph:8.1f}")
    for label, c in (("before the build", rec["start"]), ("after the build", rec["built"]),
                     ("at the end of the steps", seen["at end"])):
        print(f"{label}: RSS {c['rss'] / 1024:.0f} MB (peak {c['hwm'] / 1024:.0f}), PETSc "
              f"heap {c['petsc'] / 1024:.0f} MB (peak {c['petsc_peak'] / 1024:.0f}), traced "
              f"numpy/Python {c['traced'] / 1024:.0f} MB (peak "
              f"{c['traced_peak'] / 1024:.0f})")
    end = seen["at end"]
    print(f"per phonon unknown at the end: PETSc heap {end['petsc'] * 1024 / nph:.0f} B, "
          f"traced {end['traced'] * 1024 / nph:.0f} B, peak RSS above the start "
          f"{(end['hwm'] - rec['start']['rss']) * 1024 / nph:.0f} B")
    print("numpy/Python allocations alive at the end, by source line (MB):")
    for site, b in seen["sites"]:
        print(f"  {b / 2**20:8.1f}  {site}")
    if s is not None:
        print(f"QP unknowns {s['qp_unknowns']:.3e}")


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
    ap.add_argument("--rebuild", action="store_true",
                    help="the phonon systems rebuilt per bin and sweep (before 2026-11-23)")
    ap.add_argument("--compare", action="store_true",
                    help="the rebuilt and the reused phonon systems in the same run")
    ap.add_argument("--factor", action="store_true",
                    help="a factor per phonon bin system against the kept factor in the "
                    "same run")
    ap.add_argument("--memory", action="store_true",
                    help="itemise the phonon storage per unknown (serial)")
    ap.add_argument("--microsecond", metavar="RTOLS",
                    help="to 1 us: fixed 5 ns steps against adaptive steps at each rtol")
    ap.add_argument("--reference", type=float, default=1e-3,
                    help="rtol of the reference run of --microsecond")
    ap.add_argument("--mesh-file", help="another chip mesh (e.g. chip_layout's chip.toml "
                    "with a smaller h, meshed by `fvqp mesh`) instead of --mesh")
    ap.add_argument("--coarse", action="store_true",
                    help="the films' global coarse level solved exactly and inexactly "
                    "([qp] coarse) in the same process, and their ratio")
    ap.add_argument("--rtol", type=float, help="adaptive steps at this rtol (from the "
                    "case's 5 ns) instead of the fixed 5 ns steps")
    args = ap.parse_args(argv)
    args.end, args.qp_coarse = None, None
    if args.microsecond:
        microsecond(args)
        return 0
    if args.plot:
        print(plot(args.plot))
        return 0
    if args.memory:
        memory(args)
        return 0
    bench(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: memory per unknown of the collisional bte run, itemised (issue 16 §3).

``python benchmarks/bte_absorber3d_memory.py [--mesh finer|coarse] [--bins 16]
[--azimuth 12] [--steps 2] [--base DIR]`` runs the absorber case (``benchmarks/
bte_absorber3d.py`` ``case_text``: gaps held, sweeps + the global coarse level, BDF2 steps
of 0.1 ns through the burst) in this process, serially, and prints

* the peak resident set above the interpreter's start, per unknown — the figure that
  decides whether the issue's target (53 120 cells x 32 bins x 25 = 4.25e7 unknowns) fits
  this 23 GB machine, extrapolated at the end;
* PETSc's heap (``PetscMallocGetCurrentUsage`` through malloc tracing: the Krylov and
  SNES vectors, the coarse level) and the numpy heap (``tracemalloc``; off with
  ``--no-trace`` for a run without its overhead), per unknown;
* the resident set and its peak after the problem's build, after every preconditioner
  update and at the end (where the peak is set);
* the arrays of the problem, the preconditioner, the sweep, the coarse level and the
  linearisation per unknown (each buffer counted once), and the numpy allocation sites
  alive at the end.

``--base DIR`` runs the same measurement on the fvqp of another checkout (a ``git
worktree`` of a reference revision) in a subprocess first and prints the ratios of the
peak, PETSc heap and numpy heap, this checkout against it, in the same run.

Measured 2026-11-25 (third session; finer mesh 3 360 cells x 16 bins x 24 ordinates =
1.512e6 unknowns, 2 steps, load ~1 from the test suite beside it), against the commit
before (a7130d2): solver peak above the interpreter (up to the figures) 1 300 -> 809 B
per unknown (0.62x), PETSc heap 484 -> 286 B (the sweep's PETSc copy and its separate
ILU factor gone; what is left are the Krylov, SNES and line-search vectors), numpy
614 -> ~470 B (L's CSC copy L_oo gone, L compact, the sweep's permutation int32, no
copy of the input's pattern, the coarse level's R and P as maps); the peak was set by a
refactorisation's buffered ``np.take`` (170 MB) and is now set by the preconditioner's
updates. Target at 809 B per unknown: 32 GB (this machine 23 GB; 54 GB at 1 300).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

#: the issue's target: 53 120 cells x 32 bins x (24 ordinates + the angle average)
TARGET_UNKNOWNS = 53120 * 32 * 25
MACHINE_GB = 23.0


def measure(args) -> dict:
    """One serial run in this process (module docstring); the figures as a dict."""
    from transport_memory import _by_site, _PetscHeap, _rss_kb, _Walker

    heap = _PetscHeap()        # before PETSc starts: malloc tracing on
    import bte_absorber3d as bench

    import fvqp.api as api
    import fvqp.models.bte.coupled as coupled

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    mesh = (bench.gmsh_mesh(bench.FINER_MESH, work / "absorber3d_h2p5.msh")
            if args.mesh == "finer" else
            bench.ROOT / "meshes" / "absorber3d" / "absorber3d_coarse.msh")
    text = bench.case_text(mesh, args.bins, 2, args.azimuth, steps=args.steps, fine="sweep")
    (work / "case.toml").write_text(text)
    rec: dict = {"marks": []}

    def mark(what: str) -> None:
        rec["marks"].append((what, _rss_kb("VmRSS") // 1024, _rss_kb("VmHWM") // 1024,
                             heap.current() // 2**20))

    got = {}
    build = coupled.coupled_problem

    def kept(sim):
        mark("before the problem")
        p = got["p"] = build(sim)
        mark("problem built")
        pc = p.preconditioner
        update = pc.update

        def counted(*a, **k):
            out = update(*a, **k)
            mark(f"preconditioner update {pc.updates}")
            return out

        pc.update = counted
        return p

    coupled.coupled_problem = kept
    import fvqp.models.base.template as template

    draw = template.draw_figures

    def drawn(*a, **k):
        mark("steps done (before figures)")
        rec["solver_peak_kB"] = _rss_kb("VmHWM")
        return draw(*a, **k)

    template.draw_figures = drawn
    if args.trace:
        tracemalloc.start(10)
    rss0 = _rss_kb("VmRSS")
    res = api.run_loaded_case(api.build_case(str(work / "case.toml")),
                              output_dir=str(work / "out"), overwrite=True)
    coupled.coupled_problem = build
    template.draw_figures = draw
    mark("end (figures drawn)")
    s = res.summary
    n = rec["unknowns"] = s["coupled_unknowns"]
    rec["status"], rec["steps"] = s["status"], s["steps"]
    rec["newton"], rec["krylov"] = s["newton_iterations"], s["linear_iterations"]
    # the solver's peak: before the run's pictures (VTK rendering, a cost per cell drawn,
    # not per unknown); the whole run's too
    rec["peak_B"] = (rec.get("solver_peak_kB", _rss_kb("VmHWM")) - rss0) * 1024 / n
    rec["run_peak_B"] = (_rss_kb("VmHWM") - rss0) * 1024 / n
    rec["petsc_B"] = heap.current() / n
    rec["numpy_B"] = tracemalloc.get_traced_memory()[0] / n if args.trace else None
    rec["sites"] = [(site, b / n) for site, b in _by_site(tracemalloc.take_snapshot(), 12)] \
        if args.trace else []
    w, items = _Walker(), []
    p = got["p"]

    def add(name, obj):
        for k, v in sorted(vars(obj).items()):
            b = w.value(v)
            if b > 0.5 * n:                 # items above half a byte per unknown
                items.append((f"{name}.{k}", b / n))

    add("problem", p)
    if "bin_operator" in vars(p.base):
        add("problem.base.bin_operator", p.base.bin_operator)
    add("problem.base", p.base)
    pc = p.preconditioner
    for name, obj in (("pc", pc), ("pc.sweep", pc.sweep), ("pc.gc", pc.gc),
                      ("pc.lin", pc.lin)):
        if obj is not None:
            add(name, obj)
    rec["items"] = items
    return rec


def report(rec: dict, base: dict | None) -> None:
    n = rec["unknowns"]
    print(f"== bte absorber, collisions, sweeps: {n} unknowns, {rec['steps']} steps, "
          f"{rec['newton']} Newton / {rec['krylov']} Krylov (status {rec['status']}) ==")
    print(f"{'mark':30s} {'RSS MB':>8s} {'peak MB':>8s} {'PETSc MB':>9s}")
    for what, rss, hwm, petsc in rec["marks"]:
        print(f"{what:30s} {rss:8d} {hwm:8d} {petsc:9d}")
    print(f"peak above the interpreter: {rec['peak_B']:.0f} B per unknown up to the "
          f"figures ({rec['run_peak_B']:.0f} B with them); PETSc heap "
          f"{rec['petsc_B']:.0f} B" + (f", numpy {rec['numpy_B']:.0f} B" if rec["numpy_B"]
                                       else ""))
    print("arrays per unknown (each buffer once):")
    for name, b in rec["items"]:
        print(f"  {b:8.1f} B  {name}")
    if rec["sites"]:
        print("numpy allocation sites alive at the end, per unknown:")
        for site, b in rec["sites"]:
            print(f"  {b:8.1f} B  {site}")
    gb = rec["peak_B"] * TARGET_UNKNOWNS / 2**30
    print(f"target ({TARGET_UNKNOWNS:.3g} unknowns) at {rec['peak_B']:.0f} B per unknown: "
          f"{gb:.0f} GB (this machine {MACHINE_GB:.0f} GB; fits below "
          f"{MACHINE_GB * 2**30 / TARGET_UNKNOWNS:.0f} B per unknown)")
    if base:
        print("against the reference checkout, same case and steps:")
        for key, label in (("peak_B", "peak"), ("petsc_B", "PETSc heap"),
                           ("numpy_B", "numpy heap")):
            if rec.get(key) and base.get(key):
                print(f"  {label:11s} {base[key]:7.0f} -> {rec[key]:7.0f} B per unknown "
                      f"({rec[key] / base[key]:.2f}x)")


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mesh", choices=("finer", "coarse"), default="finer")
    ap.add_argument("--bins", type=int, default=16)
    ap.add_argument("--azimuth", type=int, default=12)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--no-trace", dest="trace", action="store_false")
    ap.add_argument("--base", help="a checkout of a reference revision (git worktree)")
    ap.add_argument("--work", default="/tmp/fvqp_bte_memory")
    ap.add_argument("--json", help=argparse.SUPPRESS)   # the --base subprocess's record
    args = ap.parse_args(argv[1:])
    base = None
    if args.base:
        out = Path(args.work) / "base.json"
        cmd = [sys.executable, __file__, "--mesh", args.mesh, "--bins", str(args.bins),
               "--azimuth", str(args.azimuth), "--steps", str(args.steps),
               "--work", str(Path(args.work) / "base"), "--json", str(out)]
        if not args.trace:
            cmd.append("--no-trace")
        env = dict(os.environ, PYTHONPATH=str(Path(args.base).resolve()),
                   OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
        subprocess.run(cmd, check=True, env=env, capture_output=True)
        base = json.loads(out.read_text())
    rec = measure(args)
    if args.json:
        Path(args.json).write_text(json.dumps(rec))
        return
    report(rec, base)


if __name__ == "__main__":
    main(sys.argv)

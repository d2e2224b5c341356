"""kinetics0d steady states: the PETSc Newton (SNES) against the numpy/scipy loop it
replaced, on the nestfsss-like Al cases (issue 18 item 4).

The 36 cases of ``benchmarks/kinetics0d_steady.py --part nestfsss`` (photons at 2.5, 5,
10 Delta or phonon injection at 5 Delta; tau_l = 1, 10, 50 tau_pb; P = 2e-3, 2e-2,
2e-1 W/m^3; default grid, default quasi-thermal start, ``linear="schur"``;
``--grid corners``: the 16 extreme ones) are solved by two worker processes started
side by side: one imports fvqp from this tree (Newton on PETSc,
:class:`fvqp.solvers.dense.DenseNewton`), the other from ``--base``, a checkout of the
commit before it (the numpy loop ``fvqp.solvers.dense.newton``; make it with
``git worktree add --detach /tmp/wt_h2 2b4b71f``). The workers take the cases in turns
(old, new, old, new, ...) so that both see the same load. Printed per case: grid size,
wall and CPU time (``time.process_time`` of the worker: the figure to compare on a
loaded machine), Newton corrections and GMRES iterations of each, the new/old ratios and
the largest per-entry relative difference of the two steady states
(:math:`\\max_i |y_i - y^{old}_i|/\\max(|y^{old}_i|, 10^{-12})`, to compare with the Newton
tolerance ``block_rtol = 1e-6``); then the slowest case, the largest ratio and
difference, and the load average.

Run: ``python benchmarks/kinetics0d_newton_petsc.py --base /tmp/wt_h2 [--grid full|corners]
[--first N]``
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
log = logging.getLogger("kinetics0d_newton_petsc")


def cases(which: str) -> list[tuple[str, float, float]]:
    """(drive, tau_l / tau_pb, P in W/m^3) of the nestfsss-like grid."""
    from kinetics0d_steady import DRIVES

    taus = (1.0, 10.0, 50.0) if which == "full" else (1.0, 50.0)
    powers = (2e-3, 2e-2, 2e-1) if which == "full" else (2e-3, 2e-1)
    return [(d, tau, p) for d in DRIVES for tau in taus for p in powers]


def worker(which: str, out_dir: str) -> None:
    """Solve the case whose index arrives on stdin; answer one JSON line on stdout."""
    from kinetics0d_steady import nestfsss_case

    import fvqp
    from fvqp.case import load_case
    from fvqp.models.kinetics0d.build import build_model
    from fvqp.models.kinetics0d.solve import steady_state
    from fvqp.solvers import ConvergenceError

    grid = cases(which)
    print("@@ " + json.dumps({"fvqp": str(Path(fvqp.__file__).parent)}), flush=True)
    for line in sys.stdin:
        i = int(line)
        drive, tau, p = grid[i]
        path = os.path.join(out_dir, f"case_{os.getpid()}.toml")
        with open(path, "w") as fh:
            fh.write(nestfsss_case(drive, tau, p))
        model, _ = build_model(load_case(path))
        w0, c0 = time.perf_counter(), time.process_time()
        try:
            y, res = steady_state(model, linear="schur")
            ok = True
        except ConvergenceError as exc:
            y, ok = None, False
            log.warning("case %d failed: %s", i, exc)
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        rec = {"i": i, "ok": ok, "wall": wall, "cpu": cpu, "n": model.grid.n,
               "n_ph": model.grid.n_ph}
        if ok:
            nf = res.start["newton_from_start"]
            rec.update(newton=res.iterations, krylov=res.linear_iterations,
                       factorizations=nf["factorizations"], diagonals=nf["diagonals"],
                       path=res.start["path"])
            np.save(os.path.join(out_dir, f"y_{os.getpid()}_{i}.npy"), y)
        print("@@ " + json.dumps(rec), flush=True)


class Worker:
    """A worker process on ``PYTHONPATH`` (None: this tree)."""

    def __init__(self, pythonpath: str | None, which: str, out_dir: str) -> None:
        env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
        if pythonpath:
            env["PYTHONPATH"] = pythonpath + os.pathsep + env.get("PYTHONPATH", "")
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--worker", "--grid", which, "--out", out_dir],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=HERE)
        self.out_dir = out_dir
        self.info = self._answer()

    def _answer(self) -> dict:
        for line in self.proc.stdout:
            if line.startswith("@@ "):
                return json.loads(line[3:])
        raise RuntimeError("worker ended without an answer")

    def solve(self, i: int) -> dict:
        self.proc.stdin.write(f"{i}\n")
        self.proc.stdin.flush()
        rec = self._answer()
        if rec["ok"]:
            rec["y"] = np.load(os.path.join(self.out_dir, f"y_{self.proc.pid}_{i}.npy"))
        return rec

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()


def newton_error(drive: str, tau: float, p: float, y: np.ndarray, tmp: str) -> float:
    """Per-entry relative size of the full Newton correction at ``y`` (this tree's
    Newton, one correction; GMRES to 1e-4 of it): how far ``y`` is from the steady state
    in the measure of the stopping test."""
    from kinetics0d_steady import nestfsss_case

    from fvqp.case import load_case
    from fvqp.models.kinetics0d.build import build_model
    from fvqp.models.kinetics0d.convergence import OCCUPATION_FLOOR
    from fvqp.models.kinetics0d.newton import structured_newton

    path = os.path.join(tmp, "parent.toml")
    with open(path, "w") as fh:
        fh.write(nestfsss_case(drive, tau, p))
    model, _ = build_model(load_case(path))
    _, res = structured_newton(model, y, t=0.0, floor=OCCUPATION_FLOOR,
                               accepted=lambda err, hist: True, prefix="bench_newton_")
    return res.error


def compare(base: str, which: str, first: int | None = None) -> None:
    grid = cases(which)[:first]
    worst = {"wall": 0.0, "cpu": 0.0, "ratio_cpu": 0.0, "diff": 0.0}
    totals = {"old": [0.0, 0.0], "new": [0.0, 0.0]}
    with tempfile.TemporaryDirectory() as tmp:
        old, new = Worker(base, which, tmp), Worker(None, which, tmp)
        log.info("old: fvqp from %s; new: fvqp from %s", old.info["fvqp"], new.info["fvqp"])
        if old.info["fvqp"] == new.info["fvqp"]:
            raise SystemExit("--base imports the same fvqp as this tree")
        log.info("%-17s %5s %4s | %-27s | %-27s | %-11s | %s", "case", "tau_l", "P",
                 "old: wall/CPU s, Newton, GMRES", "new: wall/CPU s, Newton, GMRES",
                 "new/old CPU", "max rel diff")
        for i, (drive, tau, p) in enumerate(grid):
            a, b = old.solve(i), new.solve(i)
            if not (a["ok"] and b["ok"]):
                log.info("%-17s %5g %.0e: old %s, new %s", drive, tau, p,
                         "ok" if a["ok"] else "FAILED", "ok" if b["ok"] else "FAILED")
                continue
            rel = np.abs(b["y"] - a["y"]) / np.maximum(np.abs(a["y"]), 1e-12)
            diff, at = float(np.max(rel)), int(np.argmax(rel))
            above = float(np.max(rel[np.abs(a["y"]) >= 1e-9]))  # away from the floor
            worst["above"] = max(worst.get("above", 0.0), above)
            ratio = b["cpu"] / a["cpu"]
            for key, rec in (("old", a), ("new", b)):
                totals[key][0] += rec["wall"]
                totals[key][1] += rec["cpu"]
            worst.update(wall=max(worst["wall"], b["wall"]), cpu=max(worst["cpu"], b["cpu"]),
                         ratio_cpu=max(worst["ratio_cpu"], ratio),
                         diff=max(worst["diff"], diff))
            log.info("%-17s %5g %.0e | %5.2f/%5.2f %3d %5d | %5.2f/%5.2f %3d %5d | %5.2f | "
                     "%.1e (N = %d + %d, %s)", drive, tau, p, a["wall"], a["cpu"],
                     a["newton"], a["krylov"], b["wall"], b["cpu"], b["newton"],
                     b["krylov"], ratio, diff, b["n"], b["n_ph"], b["path"])
            if diff > 1e-7:  # where, and how converged each state is
                log.info("    largest difference at %s entry %d, y = %.2e; per-entry Newton "
                         "correction at the old state %.1e, at the new state %.1e; largest "
                         "difference where y >= 1e-9: %.1e",
                         "f" if at < b["n"] else "n", at if at < b["n"] else at - b["n"],
                         a["y"][at], newton_error(drive, tau, p, a["y"], tmp),
                         newton_error(drive, tau, p, b["y"], tmp), above)
        old.close()
        new.close()
    log.info("totals: old wall %.1f s, CPU %.1f s; new wall %.1f s, CPU %.1f s; CPU ratio "
             "new/old %.3f", *totals["old"], *totals["new"],
             totals["new"][1] / max(totals["old"][1], 1e-300))
    log.info("new: slowest case wall %.2f s, CPU %.2f s (goal <= 5 s); largest CPU ratio "
             "new/old %.2f; largest per-entry difference of the states %.1e (Newton "
             "tolerance 1e-6; %.1e where y >= 1e-9); load average %.1f on %d cores",
             worst["wall"], worst["cpu"], worst["ratio_cpu"], worst["diff"],
             worst.get("above", 0.0), os.getloadavg()[0], os.cpu_count())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", default="/tmp/wt_h2",
                    help="checkout of the commit with the numpy Newton loop (its root)")
    ap.add_argument("--grid", choices=("full", "corners"), default="full")
    ap.add_argument("--first", type=int, help="only the first cases of the grid")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    sys.path.insert(0, str(HERE))
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.worker:
        logging.getLogger().setLevel(logging.WARNING)
        worker(args.grid, args.out)
    else:
        compare(args.base, args.grid, args.first)


if __name__ == "__main__":
    main()

"""Benchmark: algorithmic scalability of the mesh models with MPI ranks (issue 18, item 2).

For each mesh model (``transport``, ``heat``, ``bte``, ``phonon``) a case of ``cases/`` is
rewritten to a temporary directory (absolute mesh path, fixed implicit steps through the
source, no snapshots) and run with ``mpiexec -n P --oversubscribe python -m fvqp run CASE
--output DIR --max-steps N`` for P = 1, 2, 4, 8. From each run's ``summary.json`` (the
run template's counters, :mod:`fvqp.models.base.template`) it prints, per rank count:

* Newton iterations (total over the N steps) and Krylov iterations per Newton step
  (per time step for the linear ``phonon`` model: one KSP solve per step),
* peak RSS per rank (MB, the largest rank) and per cell (KB): the whole job's peak
  (P x the largest rank) minus P x the RSS of a process that only imports what a run
  imports (printed), divided by the number of cells (on small meshes this is dominated by
  per-process buffers, not by per-cell storage),
* wall time of the steps (``time_stepping_s``, else the run's ``wall_time_s``), marked
  ``*`` (oversubscribed) above 2 ranks: this machine has 2 cores, so only the 1 -> 2 speed-up
  is a timing; 4 and 8 ranks are for counts and memory,
* the 1 -> 2 speed-up,

and a one-line verdict per model: "Krylov per Newton flat within x % from 1 to 8 ranks"
(max/min <= 1.25) or "grows from a to b: needs a coarse level".

Usage::

    python benchmarks/mesh_scaling.py                     # all models, P = 1 2 4 8
    python benchmarks/mesh_scaling.py transport bte --ranks 1 2 --size fine

``--size coarse`` (default) uses the meshes the cases ship with (transport/heat:
``absorber3d_coarse``, bte: ``bte_film_fine``, phonon: ``substrate_block``); ``--size fine``
the absorber's fine mesh for transport and heat (minutes per run on 2 cores). The heat
case uses the driver's default (GAMG); ``--petsc "-heat_pc_type bjacobi"`` (any PETSc
options, appended to every run's command line) measures another configuration.

Measured 2026-11-22 on 2 cores shared with other jobs (load 12-30: the times are not
timings; Krylov per Newton at P = 1, 2, 4, 8).

With the defaults of issue 18 §2 (heat: GAMG, threshold 0.02; transport assembled mode:
restricted additive Schwarz, one layer of overlap):

* heat coarse 10.0, 10.0, 10.0, 10.0; heat fine 10.0, -, -, 10.0 (flat within 1 %);
* transport coarse (assembled, 520 cells x 24 bins) 6.17, 6.17, 8.83, 8.83 (x1.43 at 8).

Before (one-level block Jacobi/ILU(0) in both): transport coarse 6.2, 24.7, 25.7, 25.7;
heat coarse 5.1, 13.1, 16.5, 22.8; heat fine (11 680 cells) 5.8, 10.5, 44.9, 47.5.
Unchanged: transport fine (11 680 cells, ``schur`` mode, 1 step) 5.0, 5.0, 21.0, 17.0
(4 ranks with ``-transport_schur_coarse_aggregates 64``: 12.5), 1 -> 2 ranks 1.95x,
793 -> 609 -> 428 -> 300 MB per rank; bte (bte_film_fine, 310 cells x 26 bins x 8
ordinates) 3.0, 9.0, 10.2, 12.0 with Newton 3, 5, 5, 6 (global coarse space only from 2
ranks); phonon (substrate_block, 512 cells, linear: Krylov per step) 58, 65, 66, 74.

``--keep DIR`` keeps the cases and outputs, ``--keep DIR --tables`` prints the tables of
those runs again. Environment: FVQP_BENCH_STEPS overrides the steps of every model.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FLAT = 1.25  # Krylov-per-Newton max/min ratio still called flat
#: summary.json entries shown as notes (preconditioner builds, two-level on/off)
NOTES = ("preconditioner_updates", "global_coarse", "max_linear_iterations")


@dataclass(frozen=True)
class Bench:
    """A case of ``cases/`` and how to shorten it: meshes per size, text substitutions
    (regex -> replacement) and the number of steps."""

    case: str
    meshes: dict[str, str]
    subs: tuple[tuple[str, str], ...] = ()
    steps: int = 3


# fixed implicit steps that cross the source (so that Newton has work to do)
ABSORBER = {"coarse": "absorber3d/absorber3d_coarse.msh", "fine": "absorber3d/absorber3d_fine.msh"}
FIXED_BDF1 = (r'dt_initial = "10 ps"', 'dt_initial = "0.2 ns"\nadaptive = false\nscheme = "bdf1"')
BENCHES: dict[str, Bench] = {
    "transport": Bench("transport_absorber3d.toml", ABSORBER,
                       (FIXED_BDF1, (r'time = "1 ns"', 'time = "0.2 ns"'))),
    "heat": Bench("heat_absorber3d.toml", ABSORBER,
                  (FIXED_BDF1, (r'time = "2 ns"', 'time = "0.4 ns"'))),
    "bte": Bench(
        "bte_film_relaxation.toml",
        {"coarse": "bte_film/bte_film_fine.msh", "fine": "bte_film/bte_film_fine.msh"},
        ((r'time = "100 ps"', 'time = "20 ps"'),),
        steps=3),
    "phonon": Bench(
        "phonon_si_block.toml",
        {"coarse": "substrate_block/substrate_block.msh",
         "fine": "substrate_block/substrate_block.msh"},
        (),
        steps=4),
}


def env() -> dict[str, str]:
    e = dict(os.environ)
    e.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
             OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", OMPI_MCA_rmaps_base_oversubscribe="1")
    return e


def make_case(tmp: Path, bench: Bench, size: str) -> Path:
    """The case with an absolute mesh path, the benchmark's substitutions and no
    snapshot output (``every`` huge, no output times)."""
    text = (ROOT / "cases" / bench.case).read_text()
    text = re.sub(r'file = "[^"]*\.msh"',
                  f'file = "{ROOT / "meshes" / bench.meshes[size]}"', text, count=1)
    for pat, rep in bench.subs:
        text, n = re.subn(pat, rep, text, count=1)
        if n != 1:
            raise SystemExit(f"{bench.case}: pattern {pat!r} not found (case changed?)")
    text = re.sub(r"(?m)^every = \d+", "every = 100000", text)
    text = re.sub(r"(?m)^times = \[.*\]", "times = []", text)
    path = tmp / bench.case
    path.write_text(text)
    return path


def run(case: Path, out: Path, nproc: int, steps: int, petsc: str = "") -> dict:
    cmd = ["mpiexec", "-n", str(nproc), "--oversubscribe", sys.executable, "-m", "fvqp",
           "-q", "run", str(case), "--output", str(out), "--max-steps", str(steps),
           *petsc.split()]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env(), cwd=ROOT, capture_output=True, text=True)
    if not (out / "summary.json").exists():
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
        raise SystemExit(f"{case.name} on {nproc} ranks failed (exit {proc.returncode})")
    s = json.loads((out / "summary.json").read_text())
    s["job_wall_s"] = time.perf_counter() - t0
    return s


def baseline_rss_mb(model: str) -> float:
    """Peak RSS (MB) of a process that only imports what a run of ``model`` imports before
    it builds anything (the CLI, the model's driver, PETSc) and solves nothing."""
    code = (f"import resource, fvqp.cli, fvqp.models.{model}.driver\n"
            "from petsc4py import PETSc\n"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)")
    r = subprocess.run(["mpiexec", "-n", "1", sys.executable, "-c", code], env=env(),
                       capture_output=True, text=True, check=True)
    return float(r.stdout.split()[-1])


def table(name: str, rows: list[tuple[int, dict]], base_mb: float) -> str:
    """The figures of one model and its verdict."""
    linear = all(int(s.get("newton_iterations", 0)) == 0 for _, s in rows)
    per = "Krylov/step" if linear else "Krylov/Newton"  # linear models: one KSP per step
    out = [f"; {rows[0][1]['n_cells']} cells, {rows[0][1].get('steps', '?')} steps",
           f"{'ranks':>5} {'Newton':>7} {per:>14} {'RSS/rank MB':>12} "
           f"{'KB/cell':>8} {'time s':>9} {'speed-up':>9}  notes"]
    t1 = None
    kpn = []
    for p, s in rows:
        newton = int(s.get("newton_iterations", 0))
        krylov = int(s.get("linear_iterations", 0))
        k = krylov / max(1, int(s["steps"]) if linear else newton)
        kpn.append(k)
        rss = float(s["peak_rss_MB_per_rank"])
        kb = max(0.0, rss - base_mb) * p * 1024 / s["n_cells"]
        t = float(s.get("time_stepping_s", s["wall_time_s"]))
        if p == 1:
            t1 = t
        sp = f"{t1 / t:9.2f}" if (t1 and p == 2) else " " * 9
        mark = "*" if p > 2 else " "
        notes = ", ".join(f"{key} {s[key]}" for key in NOTES if key in s)
        out.append(f"{p:>5} {newton if not linear else '-':>7} {k:>14.2f} {rss:>12.0f} "
                   f"{kb:>8.1f} {t:>8.2f}{mark} {sp}  {notes}")
    what = per.replace("/", " per ")
    verdict = _trend(what, rows, kpn)
    if rows[0][0] == 1 and len(rows) > 2 and max(kpn[1:]) / min(kpn[1:]) <= FLAT < (
            max(kpn) / min(kpn)):  # one subdomain vs several: a jump, then flat
        verdict += "; " + _trend(what, rows[1:], kpn[1:])
    out.append(f"verdict ({name}): {verdict}")
    return "\n".join(out)


def _trend(what: str, rows: list[tuple[int, dict]], kpn: list[float]) -> str:
    if min(kpn) > 0 and max(kpn) / min(kpn) <= FLAT:
        return (f"{what} flat within {100 * (max(kpn) / min(kpn) - 1):.0f} % "
                f"from {rows[0][0]} to {rows[-1][0]} ranks")
    return (f"{what} grows from {kpn[0]:.1f} to {kpn[-1]:.1f} "
            f"({rows[0][0]} -> {rows[-1][0]} ranks): needs a coarse level")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("models", nargs="*", default=list(BENCHES))
    ap.add_argument("--ranks", nargs="+", type=int, default=[1, 2, 4, 8])
    ap.add_argument("--size", choices=("coarse", "fine"), default="coarse")
    ap.add_argument("--keep", help="keep the cases and outputs in this directory")
    ap.add_argument("--petsc", default="",
                    help='PETSc options added to every run, e.g. "-heat_pc_type bjacobi"')
    ap.add_argument("--tables", action="store_true",
                    help="only print the tables of the runs kept in --keep")
    args = ap.parse_args(argv)
    print(f"'*' = oversubscribed ({os.cpu_count()} cores): a count, not a timing")
    with tempfile.TemporaryDirectory(prefix="fvqp_scaling_") as d:
        tmp = Path(args.keep or d)
        tmp.mkdir(parents=True, exist_ok=True)
        for name in args.models:
            bench = BENCHES[name]
            base_mb = baseline_rss_mb(name)
            rows = []
            if args.tables:  # the kept summaries of an earlier run
                for p in args.ranks:
                    f = tmp / f"{name}_{p}" / "summary.json"
                    if f.exists():
                        rows.append((p, json.loads(f.read_text())))
            else:
                case = make_case(tmp, bench, args.size)
                steps = int(os.environ.get("FVQP_BENCH_STEPS", bench.steps))
                for p in args.ranks:
                    s = run(case, tmp / f"{name}_{p}", p, steps, args.petsc)
                    print(f"  {name} P={p}: status {s['status']}, job "
                          f"{s['job_wall_s']:.0f} s", flush=True)
                    rows.append((p, s))
            if rows:
                print(f"\n{name}: import baseline {base_mb:.0f} MB per rank", end="")
                print(table(name, rows, base_mb), flush=True)


if __name__ == "__main__":
    main()

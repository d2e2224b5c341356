"""Benchmark: the bte model on the 3D Ta absorber + Al lead with electron-phonon collisions.

``python benchmarks/bte_absorber3d.py [all|sizes|ell|ranks|crossing|sweep|selfgap|adaptive|``
``solver|targetmesh|target]``
runs variants of ``cases/bte_absorber3d.toml`` (fixed BDF2 steps of 0.1 ns through the 6 keV
burst) as separate ``python -m fvqp run`` processes (``mpiexec -n R`` for R ranks) and prints from
each run's ``summary.json``: coupled unknowns (cells x bins x (ordinates + 1)), wall time
per step (the summary's ``step_seconds``: from the first to the last accepted step, set-up
and the first step excluded, output included, the slowest rank; the step log lines, with
their one-second resolution, only for runs without it), Newton iterations per step,
Krylov iterations per Newton step, peak memory per rank and per unknown, and
unknown-updates per second per core (unknowns / time per step / ranks). Sections:

* ``sizes``: coarse mesh (520 active cells) with 16/32 bins x 8 ordinates (x 24 with
  FVQP_BENCH_24=1: 442 000 unknowns, 4.7 GB, no step finished in 37 min on the loaded
  machine), and a finer variant (3 360 active cells, generated with gmsh from
  ``meshes/absorber3d/absorber3d.geo`` with h = 2.5 um, one layer per film) at 16 bins x 8
  ordinates;
* ``ell``: Krylov per Newton as the mean free path shrinks (10, 1, 0.1, 0.01 um in both
  films);
* ``ranks``: 1 -> 2 rank speed-up on the finer mesh (3 360 cells) x 16 bins x 24
  ordinates with transport sweeps + the global coarse level (``fine_pc = sweep``; 8
  steps), and Krylov counts at 4 and 8 ranks (oversubscribed on this 2-core machine:
  counts only), with the load (``uptime``) before every run;
* ``crossing``: transport sweeps per rank (block Jacobi of sweeps) against sweeps across
  the ranks (stage by stage with ghost exchanges, ``fvqp.solvers.sweep.CrossingSweep``;
  stages from the streaming only or with the couplings between ordinates too) and the
  sweep split by energy bins (``fvqp.models.bte.sweep.BinSplitSweep``, the default: the
  serial sweep) at 1, 2, 4, 8 ranks: Krylov per Newton, stages, time per step (wall /
  steps, set-up included), memory per rank, the preconditioner's time split;
* ``sweep``: the Newton preconditioner's step 1 by a sparse LU (``fine_pc = lu``, the
  default) against transport sweeps + the global isotropic coarse level
  (``fine_pc = sweep``, ``fvqp.models.bte.inelastic_pc``) on the coarse mesh at 8 and 24
  ordinates (the LU at 24 only with FVQP_BENCH_24=1) and on the finer mesh, with Krylov
  per Newton as l -> 0 for the sweep: how the cost per unknown grows with cells and
  ordinates; the target from the marginal memory per unknown between the two largest
  runs. Measured 2026-11-25 09:36 (idle, after the memory changes of that day): sweeps
  4.1-5.3e5 unknown-updates per second per core, 6-7 Krylov per Newton from l = 10 to
  0.01 um, marginal 972 B per unknown (peak RSS, the figures included) -> 38 GB for the
  target, 12 h for 1 000 fixed 0.1 ns steps on 2 cores;
* ``selfgap``: a gap in every cell (the case's default since 2026-11-25) against the gaps
  held (every other section holds them, as when they were measured), LU and sweeps: time
  per step and the ratio, Newton, Krylov, the preconditioner's rebuild seconds. Measured
  2026-11-25 (load ~1.8, the test suite on the other core), 4 steps: LU held 1.38 s/step
  (2.00 Newton/step, 2.12 Krylov/Newton), per-cell 1.91 s/step (3.50, 2.43) = 1.38x;
  sweeps held 0.25 s/step (2.00, 7.00), per-cell 0.70 s/step (3.50, 7.00) = 2.81x (two
  solves per step; the per-cell problem rebuilds were ~30 % of its steps). Re-measured
  2026-11-25 after the bins' systems were built from one structure (BinOperator; load
  ~2): LU held 1.36, per-cell 1.84 s/step = 1.36x; sweeps held 0.25, per-cell 0.64
  s/step = 2.56x;
* ``adaptive``: 100 ns with adaptive BDF2 steps (the case's rtol/atol), gaps held and
  per cell, against 1 000 fixed 0.1 ns steps, and the target extrapolated from the
  adaptive run. Measured 2026-11-25 (load ~2): fixed 0.25 s/step -> 250.7 s to 100 ns;
  held adaptive 120 steps (8 rejected, 2.15 Newton/step, 7.23 Krylov/Newton) in 40.9 s
  = 6.1x fewer seconds; per-cell adaptive 119 steps (8 rejected, 4.10 Newton/step, 7.24
  Krylov/Newton) in 88.8 s; target from the held adaptive run 2.9 h on 2 cores (goal
  0.5 h; 17 h from 1 000 fixed steps);
* ``solver``: the Newton solver's configuration, before (every linear solve to
  ``ksp_rtol``, FGMRES restarted after 30) against now (restarted after 6: 16 state
  vectors instead of 36 past the 6th iteration; the first linear solve of a fixed step
  forced to 1e-5), l = 10 um on the finer mesh (6-8 Krylov per Newton); figures in
  docs/bte_absorber3d.md ("The Newton solver's memory and forcing");
* ``targetmesh``: the target's own mesh (53 120 active cells) at 8 bins requested (6
  above the Al gap) x 8 ordinates, 2.87e6 unknowns, against the coarse mesh at the same
  energies and directions: 3 fixed steps (time split, the coarse solves' GMRES
  iterations) and 100 ns with adaptive steps; the target extrapolated from the target
  mesh's adaptive run over energies and directions only. Measured 2026-11-25 (fifth
  session; figures in docs/bte_absorber3d.md, "The target's own mesh");
* ``target``: the issue's target (>= 50 000 cells x 32 energies x >= 24 ordinates: the
  53 120-cell mesh of ``benchmarks/transport_absorber3d.py``) is not run: its unknowns and
  memory are extrapolated from the measured memory per unknown, and the time of a 100 ns
  transient from the measured unknown-updates per second.

Environment: FVQP_BENCH_STEPS (default 4 steps per run; ``ranks`` runs 8);
FVQP_BENCH_FINE=lu runs the ``ranks`` section with the sparse LU on the coarse mesh (16
bins x 8 ordinates: the LU of 24 ordinates does not fit). Figures in
docs/bte_absorber3d.md were measured on the shared 2-core machine (load given).

Measured ``ranks`` (2026-11-23; 1 512 000 unknowns; the sweep split by energy bins, the
default since then): on the idle machine (load 1.0-1.2, the runs themselves) at 15:04
1 rank 2.373 s/step, 2 ranks 1.266 s/step = **1.87x** (wall 22.0 / 12.7 s with set-up);
re-measured idle at 16:02-16:06 (after other commits of the day): 1 rank 2.386, 2 ranks
1.573-1.617 s/step = **1.48-1.52x** (the 2-rank sweeps 4.2 s against 3.3 s before:
unexplained, to be bisected); Krylov per Newton 6.00 / 6.00 in all; before (the sweep
across ranks stage by stage) 2.67 / 2.50 s/step = 1.07x and Krylov 6.00 / 8.12. The
full section under a load of 5-7 (other processes):
Krylov per Newton 6.00 / 6.00 / 6.00 / 6.00 at 1 / 2 / 4 / 8 ranks, MB per rank 1 983 /
1 127 / 656 / 448; s/step 6.91 / 6.29 / 4.35 / 6.83 (no speed-up measurable under that
load).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import mpi_env  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CASE = ROOT / "cases" / "bte_absorber3d.toml"
GEO = ROOT / "meshes" / "absorber3d" / "absorber3d.geo"
STEPS = int(os.environ.get("FVQP_BENCH_STEPS", "4"))
GAP_AL_UEV, E_MAX_UEV = 172.13, 1200.0
#: the issue's target: cells (the target mesh's), energy bins, ordinates
TARGET = (53120, 32, 24)
#: gmsh parameters of the target mesh (53 120 active cells, as transport_absorber3d.py)
TARGET_MESH = {"h": 1.25, "hm": 25, "nz_sub": 3, "q_sub": 1.6, "nz_thin": 3, "nz_pad": 5}
FINER_MESH = {"h": 2.5, "hm": 30, "nz_sub": 1, "q_sub": 1.0, "nz_thin": 1, "nz_pad": 1}


def gmsh_mesh(params: dict, out: Path) -> Path:
    """A variant of the absorber mesh from the committed .geo (not stored in meshes/)."""
    if not out.exists():
        args = [x for k, v in params.items() for x in ("-setnumber", k, str(v))]
        subprocess.run(["gmsh", str(GEO), "-3", *args, "-o", str(out), "-format", "msh41",
                        "-v", "1"], check=True)
    return out


def case_text(mesh: Path, bins: int, polar: int, azimuth: int, ell_um: float | None = None,
              steps: int = STEPS, fine: str = "lu", petsc: dict | None = None,
              per_cell: bool = False, adaptive_end_ns: float | None = None) -> str:
    """The absorber case with ``bins`` energy bins up to 1.2 meV, polar x azimuth
    ordinates, ``steps`` steps of 0.1 ns with the burst at 0.2 ns (the steps run through
    it), optionally one mean free path for both films, and the Newton preconditioner's
    step 1 ``fine`` (``lu`` or ``sweep``) and further ``[solver] petsc`` options. The
    gaps held at the bath (the solver sections, measured so before the case got a gap in
    every cell) unless ``per_cell`` (the case's default: the grid then starts at
    0.8 Delta_Al and the collision grid's alignment may change the number of bins).
    ``adaptive_end_ns``: adaptive BDF2 steps (``[time] adaptive``, the case's rtol/atol)
    from 0.1 ns to that end instead of the fixed steps."""
    text = CASE.read_text()
    low = GAP_AL_UEV * (0.8 if per_cell else 1.0)
    spacing = (E_MAX_UEV - low) / bins
    subs = [(r'file = "[^"]*absorber3d_coarse.msh"', f'file = "{mesh}"'),
            (r"self_consistent = true", f"self_consistent = {str(per_cell).lower()}"),
            (r'spacing = "50 ueV"', f'spacing = "{spacing:.6f} ueV"'),
            (r"polar = 2", f"polar = {polar}"), (r"azimuth = 4", f"azimuth = {azimuth}"),
            (r'end = "2.5 ns"', f'end = "{0.1 * steps:.3f} ns"' if adaptive_end_ns is None
             else f'end = "{adaptive_end_ns} ns"'),
            (r"adaptive = false", f"adaptive = {str(adaptive_end_ns is not None).lower()}"),
            (r'time = "0.6 ns"', 'time = "0.2 ns"'),
            (r'directory = "[^"]*"', 'directory = "out"')]
    for pat, new in subs:
        text, n = re.subn(pat, new, text)
        assert n == 1, pat
    if ell_um is not None:
        text, n = re.subn(r'mean_free_path = "[^"]*"', f'mean_free_path = "{ell_um} um"',
                          text)
        assert n == 2, "mean_free_path"
    # the case's fine level is the sweep ([numerics] preconditioner, its default since
    # 2026-11-25): the LU runs name theirs
    opts = {"fine_pc": fine, **(petsc or {})}
    if opts:
        assert "[solver]" not in text
        body = ", ".join(f"{k} = {json.dumps(v)}" for k, v in opts.items())
        text += f"\n[solver]\npetsc = {{ {body} }}\n"
    return text


def run(text: str, work: Path, ranks: int = 1) -> dict:
    """Run a case text in ``work`` and return its summary with derived figures."""
    work.mkdir(parents=True, exist_ok=True)
    (work / "bte_absorber3d.toml").write_text(text)
    cmd = [sys.executable, "-m", "fvqp", "run", "bte_absorber3d.toml", "--overwrite"]
    if ranks > 1:
        cmd = ["mpiexec", "--oversubscribe", "-n", str(ranks), *cmd]
    env = dict(mpi_env(), PYTHONPATH=str(ROOT))   # mpiexec as root too, one thread
    p = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(p.stderr[-2000:])
    s = json.loads((work / "out" / "summary.json").read_text())
    n, steps = s["coupled_unknowns"], s["steps"]
    s["per_step_s"] = s.get("step_seconds") or step_time(p.stderr + p.stdout) \
        or s["wall_time_s"] / steps
    s["newton_per_step"] = s["newton_iterations"] / steps
    s["krylov_per_newton"] = s["linear_iterations"] / max(s["newton_iterations"], 1)
    s["bytes_per_unknown"] = s["peak_rss_MB_per_rank"] * 2**20 * s["ranks"] / n
    s["updates_per_s_core"] = n / s["per_step_s"] / s["ranks"]
    s["log"] = p.stdout + p.stderr
    return s


def coarse_iterations(s: dict) -> list[int]:
    """The global coarse solves' GMRES iterations of a run with
    ``icoarse_ksp_converged_reason`` (PETSc's lines in its log)."""
    return [int(k) for k in re.findall(r"bte_icoarse_ solve converged due to \w+ iterations "
                                       r"(\d+)", s["log"])]


def step_time(log: str) -> float | None:
    """Seconds per step between the first and the last step of the run's log lines
    (``HH:MM:SS fvqp.bte INFO: step k ...``): the set-up and the first step's factorisation
    excluded; None with fewer than two step lines."""
    steps = [(int(k), 3600 * int(h) + 60 * int(m) + int(sec)) for h, m, sec, k in
             re.findall(r"(?m)^(\d\d):(\d\d):(\d\d) fvqp.bte INFO: step (\d+) ", log)]
    if len(steps) < 2:
        return None
    (k0, t0), (k1, t1) = steps[0], steps[-1]
    return max((t1 - t0) % 86400, 1) / (k1 - k0)


HEAD = (f"{'case':34s} {'unknowns':>9s} {'s/step':>7s} {'Newton':>6s} {'Kry/N':>6s} "
        f"{'MB/rank':>8s} {'B/unkn':>7s} {'upd/s/core':>10s}")


def line(name: str, s: dict) -> str:
    return (f"{name:34s} {s['coupled_unknowns']:9d} {s['per_step_s']:7.2f} "
            f"{s['newton_per_step']:6.2f} {s['krylov_per_newton']:6.2f} "
            f"{s['peak_rss_MB_per_rank']:8.0f} {s['bytes_per_unknown']:7.0f} "
            f"{s['updates_per_s_core']:10.3g}")


def sizes(tmp: Path) -> dict:
    coarse = ROOT / "meshes" / "absorber3d" / "absorber3d_coarse.msh"
    finer = gmsh_mesh(FINER_MESH, tmp / "absorber3d_h2p5.msh")
    print("== sizes (collisions, bath phonons, BDF2 0.1 ns steps through the burst) ==")
    print(HEAD)
    out = {}
    runs = [("coarse 16 bins x 8 dirs", coarse, 16, 2, 4),
            ("coarse 32 bins x 8 dirs", coarse, 32, 2, 4),
            ("h=2.5 um 16 bins x 8 dirs", finer, 16, 2, 4)]
    if os.environ.get("FVQP_BENCH_24") == "1":   # measured: no step in 37 min under load
        runs.insert(2, ("coarse 32 bins x 24 dirs", coarse, 32, 2, 12))
    for name, mesh, bins, pol, az in runs:
        s = run(case_text(mesh, bins, pol, az), tmp / re.sub(r"\W+", "_", name))
        out[name] = s
        print(line(name, s), flush=True)
    return out


def ell(tmp: Path) -> None:
    coarse = ROOT / "meshes" / "absorber3d" / "absorber3d_coarse.msh"
    print("== Krylov per Newton as l -> 0 (coarse, 16 bins x 8 dirs) ==")
    print(HEAD)
    for length in (10.0, 1.0, 0.1, 0.01):
        s = run(case_text(coarse, 16, 2, 4, ell_um=length), tmp / f"ell_{length}")
        print(line(f"l = {length} um", s), flush=True)


def load() -> str:
    """The machine's load averages (``uptime``), for the measured figures."""
    return "load " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def ranks(tmp: Path) -> None:
    """1 -> 2 rank speed-up of the time per step (the summary's ``step_seconds``) on the
    finer mesh x 16 bins x 24 ordinates with sweeps (module docstring), and the counts at 4
    and 8 ranks (oversubscribed). ``FVQP_BENCH_FINE=lu``: the LU on the coarse mesh x 8
    ordinates."""
    fine = os.environ.get("FVQP_BENCH_FINE", "sweep")
    if fine == "lu":
        mesh, pol, az, what = ROOT / "meshes" / "absorber3d" / "absorber3d_coarse.msh", \
            2, 4, "coarse, 16 bins x 8 dirs"
    else:
        mesh, pol, az, what = gmsh_mesh(FINER_MESH, tmp / "absorber3d_h2p5.msh"), 2, 12, \
            "h=2.5 um (3 360 cells), 16 bins x 24 dirs"
    print(f"== ranks ({what}, fine_pc {fine}, 8 steps of 0.1 ns; 4 and 8 ranks "
          "oversubscribed: counts) ==")
    print(HEAD + "  wall s   load before")
    base = None
    for r in (1, 2, 4, 8):
        before = load()
        s = run(case_text(mesh, 16, pol, az, steps=8, fine=fine), tmp / f"ranks_{r}",
                ranks=r)
        base = base or s["per_step_s"]
        print(line(f"{r} rank(s), speed-up {base / s['per_step_s']:.2f}x", s)
              + f"  {s['wall_time_s']:6.1f}   {before}", flush=True)


CROSSING = {"per rank": {"sweep_across_ranks": False},
            "across, streaming stages": {"sweep_rank_split": "stages",
                                         "sweep_ordinate_couplings": False},
            "across, all stages": {"sweep_rank_split": "stages"},
            "split by bins (default)": {}}


def crossing(tmp: Path) -> None:
    """Sweeps per rank against sweeps across the ranks (``fvqp.solvers.sweep.
    CrossingSweep``; stages from the streaming only, or with the couplings between
    ordinates too — the default) at 1, 2, 4 and 8 ranks: Krylov per Newton, stages, time
    per step, memory per rank and the slowest rank's preconditioner seconds."""
    coarse = ROOT / "meshes" / "absorber3d" / "absorber3d_coarse.msh"
    print("== sweeps across ranks (coarse, 16 bins x 8 dirs, fine_pc sweep; 4 and 8 ranks "
          "oversubscribed) ==")
    print(f"{'ranks':>5s} {'variant':26s} {'stages':>6s} {'Kry/N':>6s} {'s/step':>7s} "
          f"{'MB/rank':>8s}  preconditioner s: update / sweeps / coarse / actions")
    for r in (1, 2, 4, 8):
        for name, opts in CROSSING.items():
            if r == 1 and opts:
                continue
            s = run(case_text(coarse, 16, 2, 4, fine="sweep", petsc=opts),
                    tmp / f"cross_{r}_{re.sub(r'[^a-z]+', '_', name)}", ranks=r)
            t = s["preconditioner_seconds"]
            print(f"{r:5d} {name if r > 1 else 'serial':26s} {s['sweep_stages']:6d} "
                  f"{s['krylov_per_newton']:6.2f} {s['wall_time_s'] / s['steps']:7.2f} "
                  f"{s['peak_rss_MB_per_rank']:8.0f}  {t['update']:.2f} / {t['fine']:.2f} / "
                  f"{t['coarse']:.2f} / {t['action']:.2f}", flush=True)


def sweep(tmp: Path) -> dict:
    """LU against sweeps (module docstring): cost per unknown against cells and
    ordinates."""
    coarse = ROOT / "meshes" / "absorber3d" / "absorber3d_coarse.msh"
    finer = gmsh_mesh(FINER_MESH, tmp / "absorber3d_h2p5.msh")
    print("== LU vs sweep + global coarse (collisions, BDF2 0.1 ns steps) ==")
    print(HEAD)
    runs = [("coarse 16 bins x 8 dirs, LU", coarse, 2, 4, "lu"),
            ("coarse 16 bins x 8 dirs, sweep", coarse, 2, 4, "sweep"),
            ("coarse 16 bins x 24 dirs, sweep", coarse, 2, 12, "sweep"),
            ("h=2.5 um 16 bins x 8 dirs, sweep", finer, 2, 4, "sweep")]
    if os.environ.get("FVQP_BENCH_24") == "1":
        runs.insert(3, ("coarse 16 bins x 24 dirs, LU", coarse, 2, 12, "lu"))
    out = {}
    for name, mesh, pol, az, fine in runs:
        s = run(case_text(mesh, 16, pol, az, fine=fine), tmp / re.sub(r"\W+", "_", name))
        out[name] = s
        print(line(name, s), flush=True)
    for length in (10.0, 1.0, 0.1, 0.01):
        s = run(case_text(coarse, 16, 2, 4, ell_um=length, fine="sweep"),
                tmp / f"sweep_ell_{length}")
        print(line(f"sweep, l = {length} um", s), flush=True)
    return out


def selfgap(tmp: Path) -> None:
    """The cost of a gap in every cell (the case's default) against the gaps held, in
    the same run: coarse mesh x 16 bins x 8 ordinates, LU and sweeps. Every step of a
    per-cell run is solved twice (at the extrapolated gaps and at the self-consistent
    gaps of its result) and every gap update rebuilds the collision problem and its
    preconditioner (the ``update`` seconds)."""
    coarse = ROOT / "meshes" / "absorber3d" / "absorber3d_coarse.msh"
    print("== per-cell gap against gaps held (coarse, 16 bins x 8 dirs, BDF2 0.1 ns) ==")
    print(HEAD + "  pc update s  per-cell/held")
    for fine in ("lu", "sweep"):
        held = None
        for per_cell in (False, True):
            name = f"{'per-cell' if per_cell else 'held'} gap, {fine}"
            s = run(case_text(coarse, 16, 2, 4, fine=fine, per_cell=per_cell),
                    tmp / f"selfgap_{fine}_{per_cell}")
            held = held or s
            print(line(name, s) + f"  {s['preconditioner_seconds']['update']:10.2f}"
                  f"  {s['per_step_s'] / held['per_step_s']:6.2f}x", flush=True)


def adaptive(tmp: Path) -> None:
    """The issue's 100 ns with adaptive steps: the coarse mesh x 16 bins x 8 ordinates,
    gaps held, sweeps, adaptive BDF2 to 100 ns (burst at 0.2 ns) against fixed 0.1 ns
    steps (4 of them timed: 1 000 to 100 ns), and the target extrapolated from the
    adaptive run's stepping time per unknown (cost linear in the unknowns at a flat
    Krylov count, measured from 520 to 3 360 cells in ``sweep``) on 2 cores with a
    perfect speed-up."""
    coarse = ROOT / "meshes" / "absorber3d" / "absorber3d_coarse.msh"
    print("== 100 ns: adaptive against fixed 0.1 ns steps (coarse, 16 bins x 8 dirs, "
          "gaps held, sweeps) ==")
    print(HEAD + "   steps  stepping s")
    fixed = run(case_text(coarse, 16, 2, 4, fine="sweep"), tmp / "adaptive_fixed")
    ada = run(case_text(coarse, 16, 2, 4, fine="sweep", adaptive_end_ns=100.0),
              tmp / "adaptive_100ns")
    fixed_total = fixed["per_step_s"] * 1000
    ada_total = ada["per_step_s"] * ada["steps"]
    print(line("fixed 0.1 ns (x 1 000 to 100 ns)", fixed) + f"  {1000:6d}  {fixed_total:10.1f}")
    print(line("adaptive BDF2 to 100 ns", ada) + f"  {ada['steps']:6d}  {ada_total:10.1f}"
          f"  (rejected {ada.get('rejected_steps', 0)}, failed {ada['failed_solves']})")
    # the same with a gap in every cell (adaptive since 2026-11-25)
    cell = run(case_text(coarse, 16, 2, 4, fine="sweep", adaptive_end_ns=100.0,
                         per_cell=True), tmp / "adaptive_100ns_cell")
    cell_total = cell["per_step_s"] * cell["steps"]
    print(line("per-cell gap, adaptive to 100 ns", cell)
          + f"  {cell['steps']:6d}  {cell_total:10.1f}"
          f"  (rejected {cell.get('rejected_steps', 0)}, failed {cell['failed_solves']})")
    cells, bins, dirs = TARGET
    n = cells * bins * (dirs + 1)
    hours = ada_total * n / ada["coupled_unknowns"] / 2 / 3600
    print(f"fixed / adaptive stepping time to 100 ns: {fixed_total / ada_total:.1f}x; target "
          f"({n:.3g} unknowns) from the adaptive run: {hours:.1f} h on 2 cores (goal 0.5 h)")


def solver(tmp: Path) -> None:
    """The Newton solver's configuration on the finer mesh (3 360 cells x 16 bins x 24
    ordinates, l = 10 um in both films: 6-8 Krylov per Newton; 4 fixed BDF2 steps,
    sweeps, gaps held): before (every linear solve to ksp_rtol, FGMRES restarted after
    30), the restart of 6 alone (:data:`fvqp.solvers.linear.COMPACT_FGMRES_RESTART`: 16
    state vectors instead of 36 once a solve passes 6 iterations), and now (plus the
    first linear solve of every fixed step forced to 1e-5, ``newton_forcing = "first"``,
    :func:`fvqp.models.bte.coupled.forcing`); the two ends alternated twice, with the
    load before each run."""
    finer = gmsh_mesh(FINER_MESH, tmp / "absorber3d_h2p5.msh")
    variants = {"before (exact, restart 30)": {"newton_forcing": False,
                                               "ksp_gmres_restart": 30},
                "restart 6, exact": {"newton_forcing": False},
                "now (restart 6, forced first)": {}}
    print("== the Newton solver: finer mesh, l = 10 um, 16 bins x 24 ordinates, 4 steps ==")
    print(HEAD + "  Krylov  load")
    got: dict[str, list] = {k: [] for k in variants}
    order = [*variants, "before (exact, restart 30)", "now (restart 6, forced first)"]
    for i, name in enumerate(order):
        ld = load()
        s = run(case_text(finer, 16, 2, 12, ell_um=10.0, steps=4, fine="sweep",
                          petsc=variants[name]), tmp / f"solver_{i}")
        got[name].append(s)
        print(line(name, s) + f"  {s['linear_iterations']:6d}  {ld}")
    b, n = got["before (exact, restart 30)"], got["now (restart 6, forced first)"]
    t_b = min(s["per_step_s"] for s in b)
    t_n = min(s["per_step_s"] for s in n)
    print(f"now / before: s/step {t_n / t_b:.2f} (best of two each), Krylov "
          f"{n[0]['linear_iterations']} / {b[0]['linear_iterations']}, peak RSS "
          f"{n[0]['peak_rss_MB_per_rank']:.0f} / {b[0]['peak_rss_MB_per_rank']:.0f} MB "
          f"({n[0]['peak_rss_MB_per_rank'] / b[0]['peak_rss_MB_per_rank']:.2f}x), final "
          f"QP number relative difference "
          f"{abs(n[0]['N_qp'] / b[0]['N_qp'] - 1):.1e}")


def target_mesh(tmp: Path) -> None:
    """The target's mesh itself (53 120 active cells) at fewer energies and directions
    (8 bins requested: 6 above the Al gap; 2 x 4 ordinates; gaps held, sweeps), against
    the coarse mesh (520 cells) at the same energies and directions in the same run:
    3 fixed 0.1 ns BDF2 steps through the burst (time split, the coarse solves' GMRES
    iterations) and 100 ns with adaptive steps, from which the target (32 bins x 24
    ordinates) is extrapolated over energies and directions only — the cells are the
    target's. ``FVQP_BENCH_TARGET_ADAPTIVE=0`` skips the adaptive run of the target mesh
    (~30 min)."""
    big = gmsh_mesh(TARGET_MESH, tmp / "absorber3d_target.msh")
    coarse = ROOT / "meshes" / "absorber3d" / "absorber3d_coarse.msh"
    opts = {"icoarse_ksp_converged_reason": ""}   # a viewer option: empty, not true
    print("== the target's mesh (53 120 cells) against the coarse one (520), 8 bins x 8 "
          "dirs, gaps held, sweeps ==")
    print(HEAD + "  coarse its   update/fine/coarse/actions s per step")
    fixed = {}
    for name, mesh in (("coarse mesh, 3 fixed steps", coarse),
                       ("target mesh, 3 fixed steps", big)):
        s = run(case_text(mesh, 8, 2, 4, steps=3, fine="sweep", petsc=opts),
                tmp / f"tm_{len(fixed)}")
        its = coarse_iterations(s)
        split = "/".join(f"{v / s['steps']:.2f}" for v in s["preconditioner_seconds"].values())
        print(line(name, s) + f"  {min(its):3d}-{max(its):3d}   {split}")
        fixed[name] = s
    c, b = fixed.values()
    per = [s["per_step_s"] / s["coupled_unknowns"] for s in (c, b)]
    print(f"time per unknown and step, target mesh / coarse mesh: {per[1] / per[0]:.2f}")
    runs = [("coarse mesh, adaptive to 100 ns", coarse)]
    if os.environ.get("FVQP_BENCH_TARGET_ADAPTIVE", "1") != "0":
        runs.append(("target mesh, adaptive to 100 ns", big))
    print(HEAD + "   steps  stepping s")
    ada = []
    for name, mesh in runs:
        s = run(case_text(mesh, 8, 2, 4, fine="sweep", adaptive_end_ns=100.0),
                tmp / f"tm_a{len(ada)}")
        total = s["per_step_s"] * s["steps"]
        print(line(name, s) + f"  {s['steps']:6d}  {total:10.1f}  (rejected "
              f"{s.get('rejected_steps', 0)})")
        ada.append((s, total))
    n = TARGET[0] * TARGET[1] * (TARGET[2] + 1)
    for s, total in ada:
        hours = total * n / s["coupled_unknowns"] / 2 / 3600
        print(f"target ({n:.3g} unknowns) from the {s['coupled_unknowns']}-unknown "
              f"adaptive run: {hours:.1f} h on 2 cores (goal 0.5 h)")


def target(measured: dict | None) -> None:
    """Extrapolate the issue's target from the largest measured run."""
    cells, bins, dirs = TARGET
    n = cells * bins * (dirs + 1)
    print(f"== target: {cells} cells x {bins} bins x {dirs} ordinates = {n:.3g} unknowns ==")
    if not measured:
        print("(run the sizes section first)")
        return
    s = measured.get("coarse 32 bins x 24 dirs") or measured["coarse 32 bins x 8 dirs"]
    mem = s["bytes_per_unknown"] * n / 2**30
    per_step = n / s["updates_per_s_core"] / 2          # two cores, perfect speed-up
    steps = 100e-9 / 0.1e-9
    print(f"memory at the measured {s['bytes_per_unknown']:.0f} B/unknown: {mem:.0f} GB "
          f"(this machine: 23 GB)")
    print(f"time per 0.1 ns step at {s['updates_per_s_core']:.3g} updates/s/core on 2 cores: "
          f"{per_step:.0f} s; 100 ns = {steps:.0f} steps: {steps * per_step / 3600:.0f} h "
          f"(target 0.5 h)")



def target_sweep(measured: dict) -> None:
    """The target extrapolated from the sweep runs: the largest run's memory per unknown
    and the slower of its and the finer mesh's updates per second (measured flat from 520
    to 3 360 cells with the inexact coarse solve)."""
    cells, bins, dirs = TARGET
    n = cells * bins * (dirs + 1)
    big = measured["coarse 16 bins x 24 dirs, sweep"]
    fine = measured["h=2.5 um 16 bins x 8 dirs, sweep"]
    # the peak per unknown of a small run holds the interpreter, the libraries and the
    # figures (~0.4 GB whatever the size): the target takes the marginal bytes per
    # unknown between the two largest runs (benchmarks/bte_absorber3d_memory.py itemises)
    runs = sorted((big, fine), key=lambda s: s["coupled_unknowns"])
    dn = runs[1]["coupled_unknowns"] - runs[0]["coupled_unknowns"]
    marginal = (runs[1]["peak_rss_MB_per_rank"] - runs[0]["peak_rss_MB_per_rank"]) \
        * 2**20 / dn if dn > 0 else big["bytes_per_unknown"]
    mem = marginal * n / 2**30
    per_step = n / min(big["updates_per_s_core"], fine["updates_per_s_core"]) / 2
    steps = 100e-9 / 0.1e-9
    print(f"== target with sweeps: {n:.3g} unknowns, {marginal:.0f} B/unknown marginal "
          f"(the runs' peaks: {big['bytes_per_unknown']:.0f} and "
          f"{fine['bytes_per_unknown']:.0f}): {mem:.0f} GB; {per_step:.0f} s per 0.1 ns "
          f"step on 2 cores; 100 ns: {steps * per_step / 3600:.1f} h (target 0.5 h) ==")


def main(argv: list[str]) -> None:
    what = argv[1] if len(argv) > 1 else "all"
    with tempfile.TemporaryDirectory(prefix="bte_absorber3d_") as d:
        tmp = Path(d)
        measured = sizes(tmp) if what in ("all", "sizes", "target") else None
        if what in ("all", "ell"):
            ell(tmp)
        if what in ("all", "ranks"):
            ranks(tmp)
        if what in ("all", "crossing"):
            crossing(tmp)
        if what in ("all", "sweep"):
            target_sweep(sweep(tmp))
        if what in ("all", "selfgap"):
            selfgap(tmp)
        if what in ("all", "adaptive"):
            adaptive(tmp)
        if what in ("all", "solver"):
            solver(tmp)
        if what in ("all", "targetmesh"):
            target_mesh(tmp)
        if what in ("all", "target"):
            target(measured)


if __name__ == "__main__":
    main(sys.argv)

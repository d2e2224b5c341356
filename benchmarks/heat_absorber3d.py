"""Benchmark: heat model on the 3D absorber, two resolutions, 1 vs 2 MPI ranks.

Prints time per time step, Newton/Krylov iterations per step, peak memory per rank, and
the 2-rank speed-up, all measured in this run (`python benchmarks/heat_absorber3d.py`).
Each run is the case `cases/heat_absorber3d.toml` with a fixed number of fixed-size steps
through the pulse, so every configuration does the same work.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import ROOT, case_variant, mpi_env

STEPS = int(os.environ.get("FVQP_BENCH_STEPS", "40"))


def make_case(tmp: Path, mesh: str) -> Path:
    return case_variant("heat_absorber3d.toml", ROOT / "meshes" / "absorber3d" / mesh, [
        (r'end = "2 us"', f'end = "{STEPS * 0.1} ns"\nadaptive = false'),
        (r'dt_initial = "10 ps"', 'dt_initial = "0.1 ns"'), (r"every = 10", "every = 100000"),
        (r'times = \[.*\]', "times = []")], tmp / f"heat_{mesh.replace('.msh', '')}.toml")


def run(case: Path, out: Path, nproc: int) -> dict:
    cmd = [sys.executable, "-m", "fvqp", "-q", "run", str(case), "--output", str(out)]
    if nproc > 1:
        cmd = ["mpiexec", "-n", str(nproc), *cmd]
    subprocess.run(cmd, check=True, env=mpi_env(), cwd=ROOT)
    return json.loads((out / "summary.json").read_text())


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        print(f"heat model, 3D absorber, {STEPS} fixed BDF2 steps through the pulse")
        print(f"{'mesh':<22s}{'cells':>8s}{'ranks':>6s}{'s/step':>10s}{'Newton/step':>13s}"
              f"{'Krylov/Newton':>15s}{'peak MB':>9s}{'speed-up':>10s}")
        for mesh in ("absorber3d_coarse.msh", "absorber3d_fine.msh"):
            case = make_case(tmp, mesh)
            base = None
            for nproc in (1, 2):
                s = run(case, tmp / f"{mesh}_{nproc}", nproc)
                per = s["wall_time_s"] / s["steps"]
                base = base or per
                print(f"{mesh:<22s}{s['n_cells']:>8d}{nproc:>6d}{per:>10.4f}"
                      f"{s['newton_iterations'] / s['steps']:>13.2f}"
                      f"{s['linear_iterations'] / max(s['newton_iterations'], 1):>15.1f}"
                      f"{s['peak_rss_MB_per_rank']:>9.0f}{base / per:>10.2f}")
        print("peak MB: largest resident set of one rank (includes Python, PETSc, VTK imports).")
        print("s/step: wall time of the time loop (solves, output) per step; mesh reading and")
        print("table set-up excluded. Speed-up: 1-rank time / 2-rank time, same mesh.")


if __name__ == "__main__":
    main()

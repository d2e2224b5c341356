"""Cost of the phonon model on a Si block: time per step, unknown-updates per second,
memory per unknown, Krylov iterations, and how the cost grows with cells, energy bins and
directions (issue 17 §4, first measurements), and the extrapolation of the largest
mesh's cost per unknown and step to the issue-17 target (:func:`extrapolate`).

Meshes are generated from ``meshes/substrate_block/substrate_block.geo`` (gmsh) into a
temporary directory with n x n x n hexahedra of the 200 x 200 x 100 um block. Each
configuration runs a few BDF2 steps of 1 ns after a deposit (GMRES + block-Jacobi ILU per
bin, fixed step); the first step (assembly and ILU factorisations) is timed separately.

Usage::

    python benchmarks/phonon_block.py            # the scaling table
    mpiexec -n 2 python benchmarks/phonon_block.py --cells 16   # one configuration
    python benchmarks/phonon_block.py --angles   # decay products isotropic vs kinematic
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import ROOT, case_variant
from chip_deposit import TARGET

GEO = ROOT / "meshes" / "substrate_block" / "substrate_block.geo"

# cases/phonon_si_block.toml with the deposit released at 1 ns within 0.2 ns, the
# configuration's grids and steps, and no output section
CASE_SUBS = (
    (r'time = "3 ns"\nduration = "0.5 ns"', 'time = "1 ns"\nduration = "0.2 ns"'),
    (r"(?s)\n\[output\].*", "\n"),
)


def _rss() -> float:
    """Current resident memory of this process [bytes] (Linux /proc)."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _mesh(tmp: Path, n: int) -> Path:
    out = tmp / f"block_{n}.msh"
    if not out.exists():
        subprocess.run(["gmsh", str(GEO), "-3", "-setnumber", "nx", str(n), "-setnumber",
                        "ny", str(n), "-setnumber", "nz", str(n), "-o", str(out), "-format",
                        "msh41", "-v", "0"], check=True)
    return out


def measure(tmp: Path, cells: int, bins: int, polar: int, azimuth: int, steps: int = 4,
            comm=None, phonons: str = "") -> dict:
    """Build and march one configuration (``phonons``: keys of a ``[phonons]`` table
    added to the case); returns its costs."""
    from fvqp.case import load_case
    from fvqp.models.phonon.driver import PhononSimulation

    path = case_variant("phonon_si_block.toml", _mesh(tmp, cells), [
        *CASE_SUBS, (r"bins = 8", f"bins = {bins}"),
        (r"polar = 4\nazimuth = 8", f"polar = {polar}\nazimuth = {azimuth}"),
        (r'end = "100 ns"', f'end = "{steps} ns"'),
        *([(r"\Z", f"\n[phonons]\n{phonons}\n")] if phonons else [])],
        tmp / f"phonon_b{cells}_{bins}_{polar}x{azimuth}_{abs(hash(phonons))}.toml")
    rss0 = _rss()
    t0 = time.perf_counter()
    sim = PhononSimulation.from_case(load_case(path), comm)
    p = sim.problem
    t_build = time.perf_counter() - t0
    dt = 1.0 / 438.0
    x, prev, its, times = p.equilibrium(p.n_bath), None, [], []
    for step in range(steps):
        t1 = time.perf_counter()
        src = p.source_rates(step * dt, (step + 1) * dt)
        if prev is None:
            a, hist = 1.0 / dt, p.directional(x) / dt
        else:
            a, hist = 1.5 / dt, (2 * p.directional(x) - 0.5 * p.directional(prev)) / dt
        xn, res = p.sweep(a, hist=hist, src=src, x0=x)
        prev, x = x, xn
        times.append(time.perf_counter() - t1)
        its.append([r.iterations for r in res])
    rss1 = _rss()   # the per-bin matrices and ILU factors are still alive
    p.release()
    unknowns = sim.dist.n_global * p.N * p.B
    steady = float(np.mean(times[2:])) if steps > 2 else float(np.mean(times))
    return {"cells": sim.dist.n_global, "bins": p.N, "ordinates": p.K,
            "unknowns": unknowns, "build_s": t_build, "first_step_s": times[0],
            "step_s": steady, "updates_per_s": unknowns / steady,
            "bytes_per_unknown": (rss1 - rss0) / (unknowns / sim.dist.size),
            "krylov_per_bin": float(np.mean(its[1:] if steps > 1 else its)),
            "ranks": sim.dist.size}


def _row(r: dict) -> str:
    return (f"{r['cells']:>7d} {r['bins']:>4d} {r['ordinates']:>4d} {r['unknowns']:>10d} "
            f"{r['build_s']:>7.2f} {r['first_step_s']:>7.2f} {r['step_s']:>7.3f} "
            f"{r['updates_per_s']:>10.3g} {r['bytes_per_unknown']:>8.0f} "
            f"{r['krylov_per_bin']:>6.1f}")


HEADER = ("  cells bins ords   unknowns  build_s  step1_s  step_s  updates/s  B/unkn "
          "krylov")


def extrapolate(r: dict, dt_s: float = 1e-9) -> str:
    """The target (:data:`TARGET`) at the measured CPU seconds per unknown and step of
    ``r`` (steps of ``dt_s``, 2 cores at the ideal speed-up; assumes the Krylov count per
    bin and the cost per unknown do not grow with the size: not established)."""
    n = TARGET["cells"] * TARGET["energies"] * (TARGET["ordinates"] + 1)
    steps = TARGET["time_s"] / dt_s
    per = r["step_s"] * r["ranks"] / r["unknowns"]
    total = n * steps * per / 2.0
    return (f"target {n:.2e} unknowns x {steps:.0f} steps of {dt_s * 1e9:g} ns at "
            f"{per * 1e9:.0f} CPU ns per unknown and step ({r['cells']} cells, {r['bins']} "
            f"bins, {r['ordinates']} ordinates): {total / 60:.0f} min on 2 cores (goal "
            f"{TARGET['goal_s'] / 60:.0f} min: {total / TARGET['goal_s']:.1f}x)")


def decay_angles(tmp: Path, cells: int, bins: int, polar: int, azimuth: int,
                 steps: int) -> None:
    """``[phonons] branches = "lt"`` with ``decay_angles`` isotropic and kinematic in one
    run (the same case otherwise): build (the kinematic run includes the cone table and
    the kernels), time per step and their ratios, from the second of two alternating
    pairs (the first warms up imports and the allocator)."""
    rows = {}
    print(HEADER)
    for angles in ("isotropic", "kinematic", "isotropic", "kinematic"):  # 1st pair: warm-up
        rows[angles] = r = measure(tmp, cells, bins, polar, azimuth, steps,
                                   phonons=f'branches = "lt"\ndecay_angles = "{angles}"')
        print(_row(r), f"({angles})", flush=True)
    iso, kin = rows["isotropic"], rows["kinematic"]
    print(f"kinematic / isotropic: build {kin['build_s'] / iso['build_s']:.2f}x "
          f"(+{kin['build_s'] - iso['build_s']:.2f} s), step {kin['step_s'] / iso['step_s']:.2f}x, "
          f"memory per unknown {kin['bytes_per_unknown'] / iso['bytes_per_unknown']:.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, help="one configuration: n per side")
    ap.add_argument("--bins", type=int, default=8)
    ap.add_argument("--polar", type=int, default=4)
    ap.add_argument("--azimuth", type=int, default=8)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--angles", action="store_true",
                    help="L and T branches: the decay products isotropic against on their "
                         "kinematic cones (one configuration, --cells default 8)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if args.angles:
            decay_angles(tmp, args.cells or 8, args.bins, args.polar, args.azimuth,
                         args.steps)
            return
        if args.cells:
            r = measure(tmp, args.cells, args.bins, args.polar, args.azimuth, args.steps)
            if r["ranks"] == 1 or int(os.environ.get("OMPI_COMM_WORLD_RANK", "0")) == 0:
                print(HEADER)
                print(_row(r), f"(ranks {r['ranks']})")
                print(extrapolate(r))
            return
        print(HEADER)
        print("-- cells (8 bins, 4 x 8 ordinates)")
        for n in (6, 8, 12, 16):
            big = measure(tmp, n, 8, 4, 8, args.steps)
            print(_row(big), flush=True)
        print("-- energy bins (8^3 cells, 4 x 8 ordinates)")
        for b in (4, 16):
            print(_row(measure(tmp, 8, b, 4, 8, args.steps)), flush=True)
        print("-- directions (8^3 cells, 8 bins)")
        for pol, az in ((2, 8), (4, 16), (6, 16)):
            print(_row(measure(tmp, 8, 8, pol, az, args.steps)), flush=True)
        print(extrapolate(big))


if __name__ == "__main__":
    main()

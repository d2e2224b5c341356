"""Benchmark of the spherical BTE (fvqp.models.bte_sphere).

1. Throughput: unknowns x time steps per second per core for (r, eps, mu) = 200 x 200 x 16
   (QPs, phonon bath, elastic scattering, e-ph collisions; BDF2, Newton-Krylov with the
   exact Jacobian action and the energy-block LU preconditioner of the driver,
   :func:`fvqp.models.bte_sphere.driver.solver_setup`), against a reference
   run of 50 x 50 x 8 in the same process (and the limited scheme at 50 x 50 x 8).
2. Krylov iterations per Newton step versus the mean free path (l -> 0: the diffusive
   limit), with ratios to the ballistic reference l = R.
3. ``--ranks``: the shipped case ``cases/bte_sphere_sn_packet.toml`` (40 radial cells x
   its 13.87 ueV energy grid, 25 ueV before 2026-11-26 evening, x 8 ordinates, phonons
   transported; ``--quick``: 16 x 80 ueV x 4) for a few fixed BDF steps under
   ``mpiexec -n 1`` and ``-n 2`` (radial cells in contiguous blocks over the ranks,
   :func:`fvqp.models.bte_sphere.discretisation.radial_distribution`), with the
   energy-block preconditioner and with PETSc's block Jacobi on both: the 1 -> 2 rank
   wall-clock speed-up, the CPU-time ratio (sum over ranks / serial: 1 = no work repeated
   on every rank), the CPU-time split per rank (residual, exact Jacobian action,
   balances, building and applying the energy-block preconditioner, the rest = GMRES and
   MPI waits), Newton/Krylov counts, and the largest difference of the final state from
   the serial one (relative to its maximum). On a shared machine the wall-clock figure is
   only meaningful next to the CPU-time ratio; the last line gives the computation
   without MPI of the busiest rank (residual, action, rates, PC entries and the blocks'
   LU factorisation and solves, columns LU fact / LU solve), whose serial / 2-rank ratio
   a speed-up approaches on an idle machine (less the transposes and GMRES). Measured
   2026-11-23 after the band LU (``BandedBlocks``, removed 2026-11-26: LAPACK
   dgbtrf/dgbtrs per energy block instead of scipy's splu of the stacked blocks): serial,
   one process at load 0.1 (CPU s of 6 steps): energy blocks 2.18 -> 1.43 (PC build 1.015
   -> 0.294, 10 builds: 82 -> 16-24 ms per factorisation; PC apply 0.51 -> 0.50); 10
   Newton / 85 Krylov unchanged. With ``--ranks`` at load 6-7 (others' jobs; the wall
   clock meaningless): old -> new in the same conditions, serial PC build 1.13 -> 0.36,
   serial CPU 2.39 -> 1.70; per rank on 2 ranks PC build 0.68 / 0.59 -> 0.23 / 0.20;
   computation of the busiest rank 1.45 s serial, 0.79 s on 2 ranks (ratio 1.83; band LU
   factorisation 0.18 -> 0.10, solves 0.48 -> 0.25); PETSc's serial LU (the driver's
   serial default) 1.59 CPU s in the same conditions. The 2-rank state equals the serial
   energy-block one to 2.3e-19 (unchanged). A run at 15:55 (load 2.8 -> 2.5, others' jobs
   ending; not idle): energy blocks 1.44 s serial, 1.16 s on 2 ranks (wall; computation
   1.23 -> 0.70 s, 1.76); PETSc's serial LU 1.26 s, so the driver's default 1 -> 2 is
   1.09x. On 2 ranks each rank spent 0.46 s of its 1.16 s outside the computation: the
   transposes of the 95 applications (forward 1.3 ms and backward 2.3 ms wall each at
   that load, 0.4 ms CPU), the values' exchange of the 10 builds, GMRES and waiting. Not
   met: 1.7x against the serial LU. Since 2026-11-26 the blocks are factorised by PETSc's
   sparse LU in natural order (:class:`fvqp.solvers.sparselu.SparseLU`: 7.7 ms per
   factorisation and 1.6 ms per solve against the band LU's 15 ms and 4.3 ms; the band
   stores its zeros), shared over the ranks by cost
   (:func:`fvqp.models.bte_sphere.precond.block_weights`: a QP block costs ~2x a phonon
   block; by count, rank 0 took 0.10 / 0.11 s of LU against rank 1's 0.06 / 0.05), and on
   one rank the transposes are plain permutations. The energy blocks are then faster than
   PETSc's LU serially too, and the driver's default on every rank count (idle machine,
   four runs: serial 1.00-1.03 s against PETSc's LU 1.07-1.16 s; 1 -> 2 ranks 1.59, 1.65,
   1.75, 1.78x, CPU ratio 1.12-1.25).

   ``--fine`` runs section 3 on a device-size variant (:data:`FINE`: 120 radial cells
   and 13.87 ueV bins, which hold the thermal background to 5 %; 3.4x the unknowns of the
   case at 25 ueV, 3x those of the case since it took the same bins).
   Measured 2026-11-26 11:45-11:50 (idle, one BLAS thread, 6 steps, alternating):
   device-size variant 1.57, 1.89, 1.79, 1.66, 1.67x (median 1.67x; serial 6.0-6.3 s),
   the shipped size 1.64, 1.54, 1.63, 1.69x (median 1.64x). Per rank on 2 ranks the
   computation scales 1.77-2.09x; the PC applications' transposes double (0.27 -> 0.53
   CPU s per rank at the device size: each moves half of the vector, memory-bound) and
   are what keeps the wall clock below 1.7x: not met robustly at either size.
   Since 2026-11-26 14:00 the transposes are strided copies of whole runs of energy
   blocks (:class:`fvqp.parallel.blocktranspose.BlockTranspose`, ``_Runs``: 64-byte
   items, no index arrays, a rank's own part copied straight): a forward + backward pair
   at the device size 2.3 -> 0.65 ms serially and 4.8 -> 1.7 ms per rank on 2 ranks (100
   repeats, one thread), bit for bit the same. The variant now runs at 13.87 ueV, the
   largest spacing the grid takes that holds the background to 5 % (14 ueV rounds to
   14.05 ueV bins, 5.002 % low). Four alternating pairs of the whole section at load
   1.0-1.4 (14:21-14:25): before 1.61, 1.62, 1.75, 1.85x (median 1.69x), after 1.90, 1.65,
   1.69, 1.62x (median 1.67x): the transposes were ~5 % of a rank's time and this
   machine's pairs scatter by +-10 %; per rank the PC application fell from 1.00-1.08 to
   0.73-0.91 CPU s. Not met robustly.

4. ``--action``: the collisions' Jacobian action, old (complex step through the collision
   terms, ``SphereProblem.jvp_mode = "complex_step"``) against new (product rule on the
   cached real-FFT linearisation, :meth:`~fvqp.models.bte_sphere.problem.SphereProblem
   .collision_jvp`), in one run: CPU seconds per action at one state (the cached
   linearisation built once, as in Newton), and three BDF2 steps of the whole solve with
   each (the same Newton/Krylov counts; the final states' largest difference), on the
   throughput sizes (bath phonons) and on the shipped case (phonons transported).
   Measured 2026-11-23 (serial, machine under load, CPU times): per action 1.86 -> 0.43
   ms (4.3x) at 50 x 50 x 8, 39.2 -> 15.1 ms (2.6x) at 200 x 200 x 16, 11.0 -> 5.8 ms
   (1.9x) on the shipped case; three BDF2 steps 1.71x, 1.14x and 1.41x faster (the
   preconditioner's build and GMRES now dominate), Newton/Krylov counts unchanged, final
   states equal to 3e-15.

Run: ``python benchmarks/bte_sphere.py [--quick] [--ranks [--fine] | --action]`` (1-2: serial
tables; 3 starts its own ``mpiexec`` runs).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from fvqp.collisions import EnergyGrid
from fvqp.models.bte_sphere.discretisation import Ordinates, RadialMesh
from fvqp.models.bte_sphere.driver import solver_setup
from fvqp.models.bte_sphere.problem import SphereProblem
from fvqp.models.bte_sphere.spectral import bcs_spectrum
from fvqp.solvers import BDFIntegrator, BDFOptions
from fvqp.spectra.gap import thermal_gap

T_BATH, RADIUS, V_F = 0.3, 50.0, 50.0


def _problem(nr: int, ne: int, k: int, mfp: float, scheme: str = "step"):
    delta = thermal_gap(T_BATH, 1.0)
    h = 2 * delta / max(1, round(2 * delta / (12.0 / ne)))
    grid = EnergyGrid(delta=delta, h=h, n=ne)
    return SphereProblem(RadialMesh.uniform(RADIUS, nr), Ordinates.gauss_legendre(k),
                         bcs_spectrum(grid), v_f=V_F, mfp=mfp, t_bath=T_BATH, c_ph=30.0,
                         scheme=scheme)


def _initial(p):
    g = p.grid
    x = p.equilibrium().reshape(p.n, p.B)
    rc = p.mesh.centres[p.rcell[:p.n]]
    pk = 1e-3 * np.exp(-0.5 * ((g.e - 0.6 * g.e_max) / 0.5) ** 2)[None, :] \
        * np.exp(-0.5 * (rc / 5.0) ** 2)[:, None]
    x[:, :p.nq] += np.repeat(pk, p.K, axis=1)
    return x.ravel()


def _run(p, steps: int, dt: float = 0.05):
    petsc, jac = solver_setup(p, {})
    integ = BDFIntegrator(p, _initial(p), 0.0, "bench_", petsc,
                          BDFOptions(order=2, dt_initial=dt, adaptive=False), jacobian=jac)
    t0 = time.perf_counter()
    integ.run(steps * dt)
    wall = time.perf_counter() - t0
    return wall, integ


def throughput(quick: bool) -> None:
    print("1. throughput (serial, 1 core)")
    print(f"{'r x eps x mu':>16} {'unknowns':>10} {'steps':>6} {'Newton':>7} {'Krylov':>7} "
          f"{'wall s':>8} {'unk*steps/s':>12} {'ratio':>7}")
    ref = None
    sizes = [(50, 50, 8, "step"), (50, 50, 8, "limited")] \
        + ([] if quick else [(200, 200, 16, "step")])
    for nr, ne, k, scheme in sizes:
        p = _problem(nr, ne, k, mfp=10.0, scheme=scheme)
        t_setup = time.perf_counter()
        steps = 3
        wall, integ = _run(p, steps)
        rate = p.dist.n_global * steps / wall
        ref = ref or rate
        print(f"{f'{nr}x{ne}x{k} {scheme}':>16} {p.dist.n_global:>10d} {steps:>6d} "
              f"{integ.solver.total_iterations:>7d} {integ.solver.total_linear_iterations:>7d} "
              f"{wall:>8.2f} {rate:>12.3e} {rate / ref:>7.2f}")
        del t_setup


def krylov_vs_mfp(quick: bool) -> None:
    print("\n2. Krylov iterations per Newton step vs mean free path (50 x 40 x 8, R = 50)")
    print(f"{'l / R':>10} {'scheme':>8} {'Newton':>7} {'Krylov':>7} {'per Newton':>11} "
          f"{'ratio':>7}")
    for scheme in ("step", "diamond", "limited"):
        ref = None
        for frac in (1.0, 1e-1, 1e-2, 1e-3, 1e-4) if not quick else (1.0, 1e-3):
            p = _problem(50, 40, 8, mfp=frac * RADIUS, scheme=scheme)
            _, integ = _run(p, 5)
            per = integ.solver.total_linear_iterations / integ.solver.total_iterations
            ref = ref or per
            print(f"{frac:>10.0e} {scheme:>8} {integ.solver.total_iterations:>7d} "
                  f"{integ.solver.total_linear_iterations:>7d} {per:>11.2f} {per / ref:>7.2f}")


def _per_action(p, x: np.ndarray, v: np.ndarray, reps: int) -> float:
    """CPU seconds of one ``rhs_jvp`` at ``x`` (best of ``reps``; the first, which builds
    the exact mode's cached linearisation, not counted)."""
    p.rhs_jvp(x, v)
    best = np.inf
    for _ in range(reps):
        c = time.process_time()
        p.rhs_jvp(x, v)
        best = min(best, time.process_time() - c)
    return best


def _action_row(label: str, p, x0: np.ndarray, run) -> None:
    v = np.random.default_rng(0).standard_normal(x0.size)
    per, runs = {}, {}
    for mode in ("complex_step", "exact"):
        p.jvp_mode = mode
        per[mode] = _per_action(p, x0, v, 5)
        p._lin_cache = None
        c = time.process_time()
        integ = run()
        runs[mode] = (time.process_time() - c, integ.solver.total_iterations,
                      integ.solver.total_linear_iterations, integ.x.copy())
    p.jvp_mode = "exact"
    (c0, n0, k0, x0_), (c1, n1, k1, x1_) = runs["complex_step"], runs["exact"]
    diff = float(np.max(np.abs(x1_ - x0_)) / np.max(np.abs(x0_)))
    print(f"{label:>22} {p.dist.n_global:>9d} {per['complex_step'] * 1e3:>9.2f} "
          f"{per['exact'] * 1e3:>9.2f} {per['complex_step'] / per['exact']:>6.1f}x "
          f"{n0:>3d}/{n1:<3d} {k0:>4d}/{k1:<4d} {c0:>7.2f} {c1:>7.2f} {c0 / c1:>5.2f}x "
          f"{diff:>8.1e}")


def action_speed(quick: bool) -> None:
    print("4. the collisions' Jacobian action: complex step (old) vs exact product rule "
          "(new), serial; CPU ms per action, then 3 BDF2 steps (Newton/Krylov old/new, "
          "CPU s)")
    print(f"{'problem':>22} {'unknowns':>9} {'old ms':>9} {'new ms':>9} {'gain':>7} "
          f"{'Newton':>7} {'Krylov':>9} {'old s':>7} {'new s':>7} {'gain':>6} "
          f"{'max|dx|':>8}")
    for nr, ne, k in [(50, 50, 8)] + ([] if quick else [(200, 200, 16)]):
        p = _problem(nr, ne, k, mfp=10.0)
        _action_row(f"{nr}x{ne}x{k} bath", p, _initial(p), lambda p=p: _run(p, 3)[1])
    from fvqp.api import build_case
    from fvqp.models.bte_sphere.driver import SphereSimulation

    text = CASE.read_text()
    for a, b in (QUICK if quick else {}).items():
        assert a in text, a
        text = text.replace(a, b)
    sim = SphereSimulation(build_case(text, base_dir=CASE.parent, name="bench"))
    p, dt = sim.problem, 5e-12 / sim.units.tau0

    def run():
        petsc, jac = solver_setup(p, {})
        integ = BDFIntegrator(p, sim.x0, 0.0, "bench_", petsc,
                              BDFOptions(order=2, dt_initial=dt, adaptive=False),
                              jacobian=jac)
        integ.run(3 * dt)
        return integ

    _action_row(f"{'quick ' if quick else ''}{CASE.stem}", p, sim.x0, run)
    print(f"(load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")


CASE = Path(__file__).resolve().parents[1] / "cases" / "bte_sphere_sn_packet.toml"
#: the quick variant of the shipped case (as tests/test_bte_sphere_mpi.py)
QUICK = {"cells = 40": "cells = 16", "ordinates = 8": "ordinates = 4",
         'spacing = "13.87 ueV"': 'spacing = "80 ueV"', 'e_max = "7.5 meV"': 'e_max = "6.7 meV"'}
#: a device-size variant of the shipped case (``--fine``): three times the radial cells, on
#: the case's own 13.87 ueV bins (which hold the thermal background's QP number to 5 %,
#: :func:`fvqp.spectra.qp_density.bin_thermal_error`): the shipped case, 40 radial cells on
#: 2 ranks, is a strong-scaling limit (per-call costs of the collision batches and the
#: transposes' latency)
FINE = {"cells = 40": "cells = 120"}
#: the timed methods of the problem and of its preconditioner (the solvers look them up
#: on the instance); the preconditioner's update calls rhs_jacobian (its entries)
TIMED = ("rhs", "rhs_jvp", "rates", "update", "apply")
#: the energy blocks' LU inside update and apply: pure computation (the transposes'
#: MPI waits, which count as CPU while a rank spins, are outside)
LU_TIMED = ("factor", "solve")


def _timed(obj, name: str, acc: dict):
    fn = getattr(obj, name)

    def wrapper(*a, **k):
        w, c = time.perf_counter(), time.process_time()
        try:
            return fn(*a, **k)
        finally:
            acc[name][0] += time.perf_counter() - w
            acc[name][1] += time.process_time() - c
            acc[name][2] += 1

    setattr(obj, name, wrapper)


def rank_worker(quick: bool, steps: int, out: str, pc: str = "energy",
                fine: bool = False) -> None:
    """One run of the shipped case on this process's ranks (``mpiexec``): ``steps`` BDF2
    steps of 5 ps with the energy-block preconditioner (``pc = "energy"``, the default)
    or PETSc's block Jacobi over the ranks' cells (``"bjacobi"``); rank 0 writes the
    timings and the gathered final state to ``out``."""
    from fvqp.api import build_case
    from fvqp.models.bte_sphere.driver import SphereSimulation
    from fvqp.solvers import BDFOptions

    text = CASE.read_text()
    for a, b in (QUICK if quick else FINE if fine else {}).items():
        assert a in text, a
        text = text.replace(a, b)
    case = build_case(text, base_dir=CASE.parent, name="bench")
    t_setup = time.perf_counter()
    sim = SphereSimulation(case)
    p = sim.problem
    dt = 5e-12 / sim.units.tau0
    petsc, jac = solver_setup(p, {} if pc == "energy" else {"pc_type": "bjacobi"})
    integ = BDFIntegrator(p, sim.x0, 0.0, "bench_", petsc,
                          BDFOptions(order=2, dt_initial=dt, adaptive=False), jacobian=jac)
    t_setup = time.perf_counter() - t_setup
    acc = {k: [0.0, 0.0, 0] for k in TIMED + LU_TIMED}
    for k in TIMED:
        if k in ("rhs", "rhs_jvp", "rates"):
            _timed(p, k, acc)
        elif jac.preconditioner is not None:
            _timed(jac.preconditioner, k, acc)
    if jac.preconditioner is not None:  # the sparse LU alone (no MPI in it)
        for k in LU_TIMED:
            _timed(jac.preconditioner._lu, k, acc)
    mpi = p.dist.comm.tompi4py()
    mpi.Barrier()
    w0, c0 = time.perf_counter(), time.process_time()
    integ.run(steps * dt)
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    rows = {"wall": wall, "cpu": cpu, "setup": t_setup, "owned_cells": p.n,
            **{k: v[:2] for k, v in acc.items()}}
    # computation without MPI: residual, action, rates, the PC's entries and LU
    rows["compute"] = sum(acc[k][1] for k in ("rhs", "rhs_jvp", "rates", "factor", "solve")) \
        + (acc["update"][1] - acc["factor"][1])
    per_rank = mpi.gather(rows, root=0)
    x = p.dist.gather(integ.x)
    if mpi.Get_rank() == 0:
        np.save(out + ".npy", x)
        Path(out).write_text(json.dumps({
            "ranks": mpi.Get_size(), "unknowns": int(p.dist.n_global), "per_rank": per_rank,
            "newton": integ.solver.total_iterations,
            "krylov": integ.solver.total_linear_iterations}))


def _mpiexec(n: int, quick: bool, steps: int, out: str, pc: str, fine: bool = False) -> dict:
    env = {**os.environ, "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
           "OMPI_MCA_rmaps_base_oversubscribe": "1", "OMP_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1"}
    cmd = ["mpiexec", "-n", str(n), sys.executable, __file__, "--worker", out,
           "--steps", str(steps), "--pc", pc] + (["--quick"] if quick else []) + \
        (["--fine"] if fine else [])
    subprocess.run(cmd, check=True, env=env)
    return json.loads(Path(out).read_text())


def ranks(quick: bool, steps: int, fine: bool = False) -> None:
    variant = "quick variant of " if quick else "device-size variant (--fine) of " if fine \
        else ""
    print(f"\n3. 1 -> 2 ranks, {variant}{CASE.name}, "
          f"{steps} BDF2 steps of 5 ps")
    runs = [(pc, n) for pc in ("energy", "bjacobi") for n in (1, 2)]
    with tempfile.TemporaryDirectory() as tmp:
        res = {k: _mpiexec(k[1], quick, steps, os.path.join(tmp, f"{k[0]}{k[1]}.json"), k[0],
                           fine) for k in runs}
        xs = {k: np.load(os.path.join(tmp, f"{k[0]}{k[1]}.json.npy")) for k in runs}
    print(f"unknowns {res[runs[0]]['unknowns']}; pc: energy = the energy-block LU over all "
          "cells (the default), bjacobi = PETSc's block Jacobi + LU over the ranks' cells")
    print("per rank: wall-clock and CPU seconds of the time loop, then its split in CPU "
          "seconds (a loaded machine\nstretches wall-clock, not CPU; MPI waits spin and "
          "count as CPU): PC build = entries + transpose + LU of\nthe rank's energy "
          "blocks, PC apply = transpose + triangular solves, rest = GMRES and waits")
    print(f"{'pc':>7} {'ranks':>5} {'rank':>4} {'cells':>5} {'Newton':>6} {'Krylov':>6} "
          f"{'wall s':>8} {'CPU s':>8} {'residual':>9} {'J action':>9} {'rates':>7} "
          f"{'PC build':>9} {'PC apply':>9} {'rest':>7} {'LU fact':>8} {'LU solve':>8} "
          f"{'compute':>8}")
    for (pc, n), r in res.items():
        for q, row in enumerate(r["per_rank"]):
            parts = [row[k][1] for k in TIMED]
            print(f"{pc:>7} {n:>5} {q:>4} {row['owned_cells']:>5} {r['newton']:>6} "
                  f"{r['krylov']:>6} {row['wall']:>8.2f} {row['cpu']:>8.2f} "
                  f"{parts[0]:>9.2f} {parts[1]:>9.2f} {parts[2]:>7.2f} {parts[3]:>9.2f} "
                  f"{parts[4]:>9.2f} "
                  f"{row['cpu'] - sum(parts):>7.2f} {row['factor'][1]:>8.2f} "
                  f"{row['solve'][1]:>8.2f} {row['compute']:>8.2f}")
    wall = {k: max(row["wall"] for row in r["per_rank"]) for k, r in res.items()}
    cpu = {k: sum(row["cpu"] for row in r["per_rank"]) for k, r in res.items()}
    ref = xs[("energy", 1)]
    for pc in ("energy", "bjacobi"):
        diff = float(np.max(np.abs(xs[(pc, 2)] - ref)) / np.max(np.abs(ref)))
        print(f"{pc}: speed-up 1 -> 2 ranks (wall clock, slowest rank) "
              f"{wall[(pc, 1)] / wall[(pc, 2)]:.2f}x; CPU time 2 ranks / 1 rank "
              f"{cpu[(pc, 2)] / cpu[(pc, 1)]:.2f}; 2-rank final state against the serial "
              f"energy-block run: max |x2 - x1| / max |x1| = {diff:.1e}")
    print(f"the driver's default is the energy blocks on every rank count (the line "
          f"'energy' above); against PETSc's serial LU of the assembled matrix (the serial "
          f"default before 2026-11-26) the 2-rank energy blocks are "
          f"{wall[('bjacobi', 1)] / wall[('energy', 2)]:.2f}x faster, the serial energy "
          f"blocks {wall[('bjacobi', 1)] / wall[('energy', 1)]:.2f}x")
    comp = {k: max(row["compute"] for row in r["per_rank"]) for k, r in res.items()}
    print(f"energy blocks, computation without MPI of the busiest rank (LU fact/solve: the "
          f"sparse LU; compute = residual + J action + rates + PC entries + LU): "
          f"{comp[('energy', 1)]:.2f} s serial, {comp[('energy', 2)]:.2f} s on 2 ranks, "
          f"ratio {comp[('energy', 1)] / comp[('energy', 2)]:.2f} (what the speed-up "
          f"approaches on an idle machine, less the transposes and GMRES)")
    print(f"(load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes only")
    ap.add_argument("--ranks", action="store_true",
                    help="only section 3: 1 -> 2 rank speed-up of the shipped case")
    ap.add_argument("--action", action="store_true",
                    help="only section 4: the collisions' Jacobian action, old vs new")
    ap.add_argument("--steps", type=int, default=4, help="BDF steps of section 3")
    ap.add_argument("--fine", action="store_true",
                    help="section 3 on the device-size variant (FINE: 120 radial cells, "
                    "13.87 ueV bins)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--pc", default="energy", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        rank_worker(args.quick, args.steps, args.worker, args.pc, args.fine)
        return
    if args.ranks:
        ranks(args.quick, args.steps, args.fine)
        return
    if args.action:
        action_speed(args.quick)
        return
    throughput(args.quick)
    krylov_vs_mfp(args.quick)


if __name__ == "__main__":
    main()

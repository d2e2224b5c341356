"""Benchmark of the spherical BTE (fvqp.models.bte_sphere).

1. Throughput: unknowns x time steps per second per core for (r, eps, mu) = 200 x 200 x 16
   (QPs, phonon bath, elastic scattering, e-ph collisions; BDF2, Newton-Krylov with the
   exact Jacobian action and the energy-block LU preconditioner), against a reference
   run of 50 x 50 x 8 in the same process (and the limited scheme at 50 x 50 x 8).
2. Krylov iterations per Newton step versus the mean free path (l -> 0: the diffusive
   limit), with ratios to the ballistic reference l = R.

Run: ``python benchmarks/bte_sphere.py [--quick]`` (serial; prints a table).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from fvqp.collisions import EnergyGrid, bcs_gap
from fvqp.models.bte_sphere.discretisation import Ordinates, RadialMesh
from fvqp.models.bte_sphere.driver import DEFAULT_PETSC
from fvqp.models.bte_sphere.problem import SphereProblem
from fvqp.models.bte_sphere.spectral import bcs_spectrum
from fvqp.solvers import BDFIntegrator, BDFOptions, JacobianConfig

T_BATH, RADIUS, V_F = 0.3, 50.0, 50.0


def _problem(nr: int, ne: int, k: int, mfp: float, scheme: str = "step"):
    delta = bcs_gap(T_BATH)
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
    integ = BDFIntegrator(p, _initial(p), 0.0, "bench_", DEFAULT_PETSC,
                          BDFOptions(order=2, dt_initial=dt, adaptive=False),
                          jacobian=JacobianConfig("matrix_free"))
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes only")
    args = ap.parse_args()
    throughput(args.quick)
    krylov_vs_mfp(args.quick)


if __name__ == "__main__":
    main()

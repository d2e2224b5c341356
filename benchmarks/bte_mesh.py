"""Discrete-ordinates QP transport on a 2D mesh: throughput and Krylov iterations vs l.

1. Unknowns per second per core of one steady solve (one energy bin: assembly, LU
   factorisation with RCM ordering, GMRES) on the film-constriction meshes, for several
   numbers of ordinates; ratios against the reference run (coarse mesh, K = 8); then
   the same with transport sweeps + the isotropic coarse correction (no factorisation).
2. Krylov iterations vs mean free path l (1/l from ballistic to 1e4 / um on the coarse
   mesh, W = 1 um): GMRES with block Jacobi + exact LU of each block, the blocks being
   the MPI subdomains (run under `mpiexec -n P`) or, in one process, ``-pc_bjacobi_blocks``
   = 2, 4, 8 on an RCB-renumbered mesh; the same plus the isotropic coarse correction
   (:mod:`fvqp.models.bte.coarse`); against block Jacobi + ILU(0), which fails as l -> 0
   (thick diffusive limit); transport sweeps (:mod:`fvqp.models.bte.sweep`) with and
   without the isotropic coarse correction. Iterations must stay bounded for the
   two-level variants.

3. Inelastic collisions (``--collisions``; :mod:`fvqp.models.bte.inelastic`): the case
   ``cases/bte_film_relaxation.toml`` (hot QP pulse, local phonons) stepped with BDF2 for
   ``--steps`` steps of 20 ps, 200 ps and 1 ns: wall time per step, Newton and Krylov
   iterations, for the coupled
   Newton-Krylov solve with the two-level preconditioner, without its post-smoothing and
   with the energy-diagonal LU alone, and with the preconditioner rebuilt only every 4th
   Newton iteration (``snes_lag_preconditioner``, persisting across steps), and with the
   global Galerkin coarse operator (:mod:`fvqp.models.bte.coupled_coarse`), and with
   transport sweeps instead of the LU (``fine = "sweep"``,
   :mod:`fvqp.models.bte.inelastic_pc`); reference:
   the collisionless per-bin march of the same problem (one LU per bin, all steps) in the
   same process.

Usage::

    python benchmarks/bte_mesh.py            # serial: all tables
    python benchmarks/bte_mesh.py --collisions-only
    mpiexec -n 2 python benchmarks/bte_mesh.py --iterations-only
    mpiexec -n 2 python benchmarks/bte_mesh.py --collisions-only
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from fvqp.mesh import build_geometry, read_mesh
from fvqp.models.bte.problem import BTEProblem
from fvqp.models.bte.rect import rcb_ordered
from fvqp.ordinates.quadrature import circle
from fvqp.parallel import Distribution
from fvqp.spectra.bins import BinGrid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GAP = 1.764
KINDS = {"source": "inflow", "drain": "inflow", "walls": "specular"}


def problem(dist, K, inv_mfp, petsc=None, prefix="bench_", pc="auto", scheme="upwind"):
    grid = BinGrid.build(GAP, 2.0, GAP + 1.0)
    return BTEProblem(dist, circle(K), grid, GAP, 1.0, 1.0, np.ones(1), np.array([inv_mfp]),
                      np.zeros(1), KINDS, {"source": np.ones(grid.n),
                                           "drain": np.zeros(grid.n)},
                      np.zeros(grid.n), petsc=petsc or {}, prefix=prefix,
                      preconditioner=pc, scheme=scheme)


def dist_of(name, blocks=1):
    """Distribution of a constriction mesh; ``blocks`` > 1 renumbers the cells by
    recursive coordinate bisection into that many parts, so that the contiguous blocks
    of ``-pc_bjacobi_blocks`` are the subdomains ``mpiexec -n blocks`` would have."""
    raw = read_mesh(os.path.join(ROOT, "meshes", "constriction", f"constriction_{name}.msh"))
    if blocks > 1:
        raw = rcb_ordered(raw, blocks)
    return Distribution(build_geometry(raw))


def throughput(dist, K, inv_mfp=1.0, scheme="upwind", pc="auto"):
    t0 = time.perf_counter()
    p = problem(dist, K, inv_mfp, scheme=scheme, pc=pc,
                prefix="bench_" if pc == "auto" else f"bench_{pc}_")
    x, r = p.solve(0, 0.0, p.rhs(0))
    wall = time.perf_counter() - t0
    nnz = p.stream.matrix.nnz / p.stream.matrix.shape[0]
    p.release()
    n = dist.n_global * (K + 1)
    return n, wall, r.iterations, nnz


def iterations(dist, inv_mfps, petsc, prefix, pc):
    out = []
    for s in inv_mfps:
        p = problem(dist, 16, s, petsc, prefix, pc)
        t0 = time.perf_counter()
        _, r = p.solve(0, 0.0, p.rhs(0))
        out.append((r.iterations if r.success else -r.iterations, time.perf_counter() - t0))
        p.release()
    return out


#: time steps [s] of the collision benchmark (the partner coupling grows with dt)
DTS = (2e-11, 2e-10, 1e-9)


def collisions(steps: int, dt_si: float, say) -> None:
    """Section 3 of the module docstring."""
    from fvqp.case import load_case
    from fvqp.models.bte.coupled import coupled_problem
    from fvqp.models.bte.driver import BTESimulation
    from fvqp.models.bte.inelastic import COUPLED_PETSC, InelasticPC
    from fvqp.solvers import BDFIntegrator, BDFOptions, JacobianConfig

    case = load_case(os.path.join(ROOT, "cases", "bte_film_relaxation.toml"))
    sim = BTESimulation(case)
    u, p = sim.units, sim.problem
    dt = u.to_internal(dt_si, "time")
    say(f"== collisions: bte_film_relaxation, {sim.dist.n_global} cells, {p.N} bins, "
        f"K = {p.K}, {steps} BDF2 steps of {u.to_si(dt, 'time'):.3g} s, "
        f"{sim.dist.size} rank(s) ==")
    # reference: collisionless, bin by bin (the problem without collisions, same steps)
    t0 = time.perf_counter()
    x0 = p.equilibrium(p.f_bath)
    its = 0
    for j in range(p.N):
        r = p.march(j, x0[j].copy(), dt, steps, True)
        its += sum(r["iterations"])
    ref = (time.perf_counter() - t0) / steps
    say(f"  collisionless, per bin          {ref:8.3f} s/step  Krylov {its / steps:7.1f}"
        f"/step (all bins)   ratio 1.00")
    lag = {"snes_lag_preconditioner": 4, "snes_lag_preconditioner_persists": True}
    for i, (label, smooth, coarse, extra) in enumerate((
            ("coupled, two-level", True, True, {}),
            ("coupled, no post-smoothing", False, True, {}),
            ("coupled, energy-diagonal LU only", True, False, {}),
            ("coupled, two-level, PC lagged 4", True, True, lag),
            ("coupled, global coarse", True, "global", {}),
            ("coupled, sweep + global coarse", True, "sweep", {}))):
        prob = coupled_problem(sim)
        prob.preconditioner = InelasticPC(prob, smooth=smooth, coarse=bool(coarse),
                                          global_coarse=coarse == "global",
                                          prefix=f"bench_icoarse{i}_",
                                          fine="sweep" if coarse == "sweep" else "lu")
        opts = BDFOptions(order=2, dt_initial=dt, adaptive=False)
        integ = BDFIntegrator(prob, prob.equilibrium(), 0.0, f"bench_coll{i}_",
                              {**COUPLED_PETSC, "ksp_max_it": 1000, **extra}, opts,
                              jacobian=JacobianConfig("matrix_free",
                                                      preconditioner=prob.preconditioner))
        t0 = time.perf_counter()
        try:
            res = integ.run(steps * dt)
            ok = "" if res.status == 0 else " (failed)"
        except Exception as exc:  # report, keep benchmarking
            res, ok = integ._result(-1, str(exc)), " (failed)"
        wall = (time.perf_counter() - t0) / max(res.steps, 1)
        unk = prob.dist.n_global
        say(f"  {label:32s}{wall:8.3f} s/step  Newton {res.newton_iterations / steps:5.2f}"
            f"/step  Krylov {res.linear_iterations / max(res.newton_iterations, 1):6.1f}"
            f"/Newton  PC setups {prob.preconditioner.updates:3d}  unknowns {unk}  "
            f"ratio {wall / ref:6.2f}{ok}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations-only", action="store_true")
    ap.add_argument("--collisions-only", action="store_true")
    ap.add_argument("--steps", type=int, default=15)
    args = ap.parse_args()
    if args.collisions_only:
        from mpi4py import MPI

        say = print if MPI.COMM_WORLD.rank == 0 else (lambda *a, **k: None)
        for dt in DTS:
            collisions(args.steps, dt, say)
        return
    coarse = dist_of("coarse")
    size, rank = coarse.size, coarse.rank
    say = print if rank == 0 else (lambda *a, **k: None)
    if not args.iterations_only:
        say(f"== throughput: one steady energy bin, {size} rank(s) ==")
        ref = None
        fine = dist_of("fine")
        for name, d in (("coarse", coarse), ("fine", fine)):
            for K in (8, 16, 32):
                if name == "fine" and K == 32:
                    continue  # ~2 GB of LU factor: skip on shared CI machines
                n, wall, its, nnz = throughput(d, K)
                rate = n / wall / size
                ref = ref or rate
                say(f"  {name:6s} cells {d.n_global:5d} K {K:2d} unknowns {n:7d} "
                    f"wall {wall:7.2f} s  its {its:2d}  {rate:10.3e} unknowns/s/core  "
                    f"ratio {rate / ref:5.2f}")
        for name, d in (("coarse", coarse), ("fine", fine)):  # no factorisation
            for K in (8, 16, 32):
                n, wall, its, nnz = throughput(d, K, pc="sweep")
                rate = n / wall / size
                say(f"  {name:6s} cells {d.n_global:5d} K {K:2d} unknowns {n:7d} "
                    f"wall {wall:7.2f} s  its {its:2d}  {rate:10.3e} unknowns/s/core  "
                    f"ratio {rate / ref:5.2f}  (sweep + isotropic coarse)")
        if size == 1:  # second-order scheme (serial only): same bin, same mesh
            _, w0, _, z0 = throughput(coarse, 16)
            n, wall, its, nnz = throughput(coarse, 16, scheme="linear")
            say(f"  coarse K 16 scheme 'linear': wall {wall:7.2f} s  its {its:2d}  "
                f"streaming nnz/row {nnz:.1f} (upwind {z0:.1f})  wall ratio to upwind "
                f"{wall / w0:5.2f}")
    inv = [0.0, 0.1, 1.0, 10.0, 100.0, 1e3, 1e4]
    say(f"== Krylov iterations vs 1/l [1/um], K = 16, coarse mesh, {size} rank(s) ==")
    variants = [("bjacobi+LU (MPI subdomains)", {}, "it_mpi_", coarse, "block_jacobi"),
                ("two-level (MPI subdomains)", {}, "it_mpi2_", coarse, "two_level")]
    if size == 1:
        variants = [("LU (serial, exact)", {}, "it_lu_", coarse, "block_jacobi")]
        for b in (2, 4, 8):
            d = dist_of("coarse", b)
            variants += [
                (f"bjacobi+LU, {b} RCB blocks", {"pc_bjacobi_blocks": b, "ksp_max_it": 600},
                 f"it_b{b}_", d, "block_jacobi"),
                (f"two-level, {b} RCB blocks", {"bj_pc_bjacobi_blocks": b}, f"it_t{b}_", d,
                 "two_level")]
    variants.append(("bjacobi+ILU(0)", {"sub_pc_type": "ilu", "ksp_max_it": 400},
                     "it_ilu_", coarse, "block_jacobi"))
    variants += [("sweep + isotropic coarse", {}, "it_sw_", coarse, "sweep"),
                 ("sweep alone", {"ksp_max_it": 600}, "it_sw1_", coarse, "sweep_only")]
    ref_its = None
    for label, opts, prefix, d, pc in variants:
        res = iterations(d, inv, opts, prefix, pc)
        ref_its = ref_its or max(abs(r[0]) for r in res)
        cells = "  ".join(f"{i:4d}" if i > 0 else f"{-i:3d}!" for i, _ in res)
        say(f"  {label:30s} {cells}   (max/ref {max(abs(r[0]) for r in res) / ref_its:.2f})")
    say("  columns 1/l = " + ", ".join(f"{v:g}" for v in inv) + "; '!' = not converged")
    if not args.iterations_only:
        for dt in DTS:
            collisions(args.steps, dt, say)


if __name__ == "__main__":
    main()

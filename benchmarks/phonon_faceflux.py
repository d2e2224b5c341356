"""The chip's phonon bin system with its diffuse faces through face-flux unknowns: a
measurement of a lever not in fvqp yet (docs/theory_phonon.md, "Where the entries are").

Half of the entries of a chip bin's matrix couple one ordinate to another at diffuse
faces (free surfaces, the film/substrate faces' diffuse mismatch), in blocks of rank one
(the re-emission depends on the face's outgoing flux only). This script takes one bin's
transient matrix of the chip case apart algebraically: every block between two cells'
ordinates (the angle-average slot left out) whose SVD has a rank that makes it cheaper
goes through as many auxiliary unknowns :math:`J` as its rank,

.. math::  \\begin{pmatrix} A_{\\rm keep} & U \\\\ -V & I \\end{pmatrix}
           \\begin{pmatrix} x \\\\ J \\end{pmatrix} = \\begin{pmatrix} b \\\\ 0
           \\end{pmatrix}, \\qquad A = A_{\\rm keep} + UV,

and the rest stays. It prints the entries, the operator's reconstruction error, and
PETSc GMRES(10) (right preconditioning, as the chain) with ILU(0) and ILU(1) on the
original and the augmented system (each auxiliary after the cell whose outflow it sums):
iterations, factorisation and solve times (best of 3), from zero and from warm starts
(the solution of a right-hand side perturbed by a relative 1e-3 and 1e-5), and the
solutions' difference. One core; nothing else should run beside it.

Usage::

    python benchmarks/phonon_faceflux.py --mesh-file /abs/chip.msh [--bin 7] [--rtol 1e-13]
    python benchmarks/phonon_faceflux.py --mesh-file /abs/chip.msh --chain

``--chain`` runs two 5 ns steps of the chain and takes the 14 systems of its last sweep
as the chain solved them (its right-hand sides, initial guesses, tolerance and film
rates on the diagonal).

(``chip.toml`` of ``meshes/chip_layout`` meshed with ``h = 12.5``: 20 640 cells;
``6.25``: 78 710.) Measured 2026-11-29 with this script (20 640 cells, bin 7, 1e-13,
idle): ILU(0) on the original 30 iterations / 364 ms from zero, 23 / 255 ms and
18 / 226 ms warm; ILU(1) on the augmented 15 / 174, 12 / 143, 9 / 105 ms; 0.61 of the
entries (its prototype the same day: 310 -> 157, 243 -> 124, 191 -> 98 ms). ``--chain``
(20 640 cells, the second step's last sweep, highest bin first): 9-27 iterations per
system as the chain counted them, 6-14 augmented; the solves 2 325 -> 1 329 ms, the
factorisations (one per system here) 458 -> 597 ms; solutions at most 1.2e-12 apart.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import types
from pathlib import Path

import numpy as np
import scipy.sparse as sp


def chip_bin_matrix(mesh_file: str, j: int):
    """Bin ``j``'s transient matrix (5 ns step) of the chip case on ``mesh_file`` (24
    ordinates), with the cell count, unknowns per cell and ordinates."""
    import chip_deposit as cd

    from fvqp.case.loader import load_case
    from fvqp.models.bte_chip.driver import ChipSimulation

    args = types.SimpleNamespace(films="bte", mesh="small", mesh_file=mesh_file, polar=4,
                                 azimuth=6, spacing=0.05, end=None, steps=3, rtol=None)
    with tempfile.TemporaryDirectory() as d:
        case = Path(d) / "chip.toml"
        case.write_text(cd._case_text(args))
        sim = ChipSimulation(load_case(str(case)))
    p = sim.psim.problem
    a = p.local_matrix(j, 1.0 / sim.dt).tocsr()
    a.sum_duplicates()
    a.sort_indices()
    return a, p.n, p.B, p.K


def split_low_rank(a: sp.csr_matrix, n: int, bs: int, k: int):
    """``A = keep + U V`` (module docstring); the auxiliaries' column cells (their place
    in the order) and the blocks' ranks."""
    coo = a.tocoo()
    rc, rk = np.divmod(coo.row.astype(np.int64), bs)
    cc, ck = np.divmod(coo.col.astype(np.int64), bs)
    cross = (rk != k) & (ck != k) & ((rk != ck) | (rc != cc))
    key = rc[cross] * n + cc[cross]
    order = np.argsort(key, kind="stable")
    kk, rows_all = key[order], coo.row[cross][order].astype(np.int64)
    cols_all, vals = coo.col[cross][order].astype(np.int64), coo.data[cross][order]
    starts = np.flatnonzero(np.r_[True, kk[1:] != kk[:-1]])
    ends = np.r_[starts[1:], len(kk)]
    ur, uc, uv, vr, vc, vv, back_r, back_c, back_v = ([] for _ in range(9))
    owner, ranks, naux = [], [], 0
    for s0, s1 in zip(starts, ends, strict=True):
        rcell, ccell = divmod(int(kk[s0]), n)
        rows, cols = rows_all[s0:s1] - rcell * bs, cols_all[s0:s1] - ccell * bs
        m = np.zeros((k, k))
        np.add.at(m, (rows, cols), vals[s0:s1])
        ri, ci = np.unique(rows), np.unique(cols)
        u, sv, vt = np.linalg.svd(m[np.ix_(ri, ci)], full_matrices=False)
        r = int(np.sum(sv > 1e-13 * sv[0]))
        ranks.append(r)
        if r * (len(ri) + len(ci) + 1) >= len(ri) * len(ci):   # cheaper as it is
            back_r.append(rcell * bs + rows)
            back_c.append(ccell * bs + cols)
            back_v.append(vals[s0:s1])
            continue
        for i in range(r):
            vr += [naux] * len(ci)
            vc += list(ccell * bs + ci)
            vv += list(sv[i] * vt[i])
            ur += list(rcell * bs + ri)
            uc += [naux] * len(ri)
            uv += list(u[:, i])
            owner.append(ccell)
            naux += 1
    shape = a.shape
    keep = sp.csr_matrix((coo.data[~cross], (coo.row[~cross], coo.col[~cross])), shape=shape)
    if back_v:
        keep = keep + sp.csr_matrix((np.concatenate(back_v), (np.concatenate(back_r),
                                                              np.concatenate(back_c))),
                                    shape=shape)
    big_u = sp.csr_matrix((uv, (ur, uc)), shape=(shape[0], naux))
    big_v = sp.csr_matrix((vv, (vr, vc)), shape=(naux, shape[1]))
    return keep, big_u, big_v, np.asarray(owner), np.asarray(ranks)


def solve(m: sp.csr_matrix, b: np.ndarray, levels: int, rtol: float,
          x0: np.ndarray | None = None, reps: int = 3):
    """PETSc GMRES(10), right ILU(``levels``): (solution, iterations, reason, best
    factorisation s, best solve s)."""
    from petsc4py import PETSc

    it = PETSc.IntType
    m = m.tocsr()
    m.sort_indices()
    csr = (m.indptr.astype(it), m.indices.astype(it), m.data)
    mat = PETSc.Mat().createAIJWithArrays(m.shape, csr, comm=PETSc.COMM_SELF)
    ksp = PETSc.KSP().create(comm=PETSc.COMM_SELF)
    ksp.setOperators(mat)
    ksp.setType("gmres")
    ksp.setGMRESRestart(10)
    ksp.getPC().setType("ilu")
    ksp.getPC().setFactorLevels(levels)
    ksp.setPCSide(PETSc.PC.Side.RIGHT)
    ksp.setTolerances(rtol=rtol, atol=1e-300, max_it=2000)
    bv, xv = mat.createVecRight(), mat.createVecRight()
    bv.setArray(b)
    tf, ts = [], []
    for _ in range(reps):
        mat.setValuesCSR(*csr)
        mat.assemble()
        t0 = time.perf_counter()
        ksp.setUp()
        t1 = time.perf_counter()
        if x0 is None:
            xv.set(0.0)
        else:
            xv.setArray(x0)
        ksp.setInitialGuessNonzero(x0 is not None)
        ksp.solve(bv, xv)
        tf.append(t1 - t0)
        ts.append(time.perf_counter() - t1)
    out = (xv.getArray().copy(), int(ksp.getIterationNumber()),
           int(ksp.getConvergedReason()), min(tf), min(ts))
    ksp.destroy()
    mat.destroy()
    return out


def augmented(keep: sp.csr_matrix, u: sp.csr_matrix, v: sp.csr_matrix,
              owner: np.ndarray, bs: int):
    """The augmented system of :func:`split_low_rank`'s parts, each auxiliary after the
    cell whose outflow it sums: (matrix, the order, its inverse)."""
    size = keep.shape[0]
    aug = sp.bmat([[keep, u], [-v, sp.identity(u.shape[1])]], format="csr")
    perm = np.argsort(np.concatenate([np.arange(size) // bs * 2.0, owner * 2.0 + 1.0]),
                      kind="stable")
    inv = np.empty_like(perm)
    inv[perm] = np.arange(len(perm))
    return aug[perm][:, perm].tocsr(), perm, inv


def chain(mesh_file: str) -> None:
    """``--chain``: the 14 bin systems of the last sweep of two 5 ns steps of the chip
    chain (:mod:`chip_deposit`'s run), captured with the chain's right-hand sides,
    initial guesses and tolerance, each solved as the chain does (ILU(0)) and augmented
    (ILU(1))."""
    import chip_deposit as cd

    import fvqp.models.bte_chip.driver as drv
    import fvqp.solvers.linear as lin

    args = types.SimpleNamespace(
        plot=None, mesh="small", steps=2, polar=4, azimuth=6, spacing=0.05, films="bte",
        no_lag=False, rebuild=False, compare=False, factor=False, memory=False,
        microsecond=None, reference=1e-3, mesh_file=mesh_file, coarse=False, rtol=None,
        end=None, qp_coarse=None)
    caps, built = [], {}
    solve_from = lin.LinearSolver.solve_from

    def capture(self, b, x0=None):
        out = solve_from(self, b, x0)
        if self.ksp.getOptionsPrefix() == "bte_chip_":
            ip, ix, v = self.ksp.getOperators()[0].getValuesCSR()
            caps.append((sp.csr_matrix((v.copy(), ix.copy(), ip.copy())), np.array(b),
                         None if x0 is None else np.array(x0),
                         self.ksp.getTolerances()[0], out[1].iterations))
            del caps[:-14]
        return out

    class Model(drv.ChipModel):
        def build(self, case, comm=None):
            built["sim"] = super().build(case, comm)
            return built["sim"]

    lin.LinearSolver.solve_from = capture
    try:
        cd.run_once(args, True, Model)
    finally:
        lin.LinearSolver.solve_from = solve_from
    p = built["sim"].psim.problem
    print(f"the chain's last sweep ({p.n} cells): its in the chain, then each system from "
          "the chain's x0 to its rtol, with its own factorisation")
    print(f"{'sys':>4s}{'chain':>7s}{'ILU(0)':>8s}{'ms':>8s}{'aug ILU(1)':>12s}{'ms':>8s}"
          f"{'fac ms':>8s}{'apart':>10s}")
    tot = np.zeros(4)
    for i, (a, b, x0, rtol, its_chain) in enumerate(caps):
        keep, u, v, owner, _ = split_low_rank(a, p.n, p.B, p.K)
        aug, perm, inv = augmented(keep, u, v, owner, p.B)
        naux = aug.shape[0] - a.shape[0]
        xa, its_a, _, tf_a, ts_a = solve(a, b, 0, rtol, x0)
        x0b = None if x0 is None else np.concatenate([x0, v @ x0])[perm]
        xb, its_b, _, tf_b, ts_b = solve(aug, np.concatenate([b, np.zeros(naux)])[perm], 1,
                                         rtol, x0b)
        xb = xb[inv][:a.shape[0]]
        tot += (tf_a, ts_a, tf_b, ts_b)
        print(f"{i:>4d}{its_chain:>7d}{its_a:>8d}{ts_a * 1e3:>8.1f}{its_b:>12d}"
              f"{ts_b * 1e3:>8.1f}{tf_b * 1e3:>8.1f}"
              f"{np.abs(xb - xa).max() / np.abs(xa).max():>10.1e}")
    print(f"solves {tot[1] * 1e3:.0f} -> {tot[3] * 1e3:.0f} ms, factorisations "
          f"{tot[0] * 1e3:.0f} -> {tot[2] * 1e3:.0f} ms (each system its own)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mesh-file", required=True, help="a chip mesh (absolute path)")
    ap.add_argument("--bin", type=int, default=7)
    ap.add_argument("--rtol", type=float, default=1e-13)
    ap.add_argument("--chain", action="store_true",
                    help="the chain's own systems of one sweep (from its warm starts)")
    args = ap.parse_args()
    if args.chain:
        chain(args.mesh_file)
        return
    a, n, bs, k = chip_bin_matrix(args.mesh_file, args.bin)
    t0 = time.perf_counter()
    keep, u, v, owner, ranks = split_low_rank(a, n, bs, k)
    aug, perm, inv = augmented(keep, u, v, owner, bs)
    naux, size = u.shape[1], a.shape[0]
    x = np.random.default_rng(0).random(size)
    err = np.abs(keep @ x + u @ (v @ x) - a @ x).max() / np.abs(a @ x).max()
    print(f"{n} cells x {bs} unknowns (bin {args.bin}): {size} unknowns, {a.nnz} entries; "
          f"{naux} auxiliaries (block ranks {np.bincount(ranks).tolist()}), augmented "
          f"{aug.nnz} entries ({aug.nnz / a.nnz:.3f}); split in "
          f"{time.perf_counter() - t0:.0f} s; A x rebuilt to {err:.1e}")
    rng = np.random.default_rng(1)
    b = a @ rng.random(size)
    x_ref = None
    print(f"{'system':<24s}{'start':<12s}{'its':>5s}{'factor ms':>11s}{'solve ms':>10s}"
          f"{'ms/it':>8s}")
    for pert in (None, 1e-3, 1e-5):
        rhs = b if pert is None else b * (1 + pert * rng.standard_normal(size))
        start = "zero" if pert is None else f"warm {pert:g}"
        for name, levels in (("original ILU(0)", 0), ("augmented ILU(1)", 1)):
            if name.startswith("original"):
                sol, its, reason, tf, tsol = solve(a, rhs, levels, args.rtol, x_ref)
                if pert is None:
                    x_ref = sol
                xs = sol
            else:
                x0 = None if pert is None else np.concatenate([x_ref, v @ x_ref])[perm]
                sol, its, reason, tf, tsol = solve(
                    aug, np.concatenate([rhs, np.zeros(naux)])[perm], levels, args.rtol, x0)
                xs = sol[inv][:size]
            note = "" if reason > 0 else f"  (not converged: reason {reason})"
            print(f"{name:<24s}{start:<12s}{its:>5d}{tf * 1e3:>11.1f}{tsol * 1e3:>10.1f}"
                  f"{tsol / max(its, 1) * 1e3:>8.2f}{note}")
            if name.startswith("augmented") and pert is None:
                print(f"  solutions apart by {np.abs(xs - x_ref).max() / np.abs(x_ref).max():.1e}"
                      " of the largest")


if __name__ == "__main__":
    main()

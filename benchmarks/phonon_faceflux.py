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

(``chip.toml`` of ``meshes/chip_layout`` meshed with ``h = 12.5``: 20 640 cells;
``6.25``: 78 710.) Measured 2026-11-29 with this script (20 640 cells, bin 7, 1e-13,
idle): ILU(0) on the original 30 iterations / 364 ms from zero, 23 / 255 ms and
18 / 226 ms warm; ILU(1) on the augmented 15 / 174, 12 / 143, 9 / 105 ms; 0.61 of the
entries (its prototype the same day: 310 -> 157, 243 -> 124, 191 -> 98 ms).
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mesh-file", required=True, help="a chip mesh (absolute path)")
    ap.add_argument("--bin", type=int, default=7)
    ap.add_argument("--rtol", type=float, default=1e-13)
    args = ap.parse_args()
    a, n, bs, k = chip_bin_matrix(args.mesh_file, args.bin)
    t0 = time.perf_counter()
    keep, u, v, owner, ranks = split_low_rank(a, n, bs, k)
    naux, size = u.shape[1], a.shape[0]
    aug = sp.bmat([[keep, u], [-v, sp.identity(naux)]], format="csr")
    aug.sum_duplicates()
    # each auxiliary after the cell whose outflow it sums
    perm = np.argsort(np.concatenate([np.arange(size) // bs * 2.0, owner * 2.0 + 1.0]),
                      kind="stable")
    aug = aug[perm][:, perm].tocsr()
    inv = np.empty_like(perm)
    inv[perm] = np.arange(len(perm))
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

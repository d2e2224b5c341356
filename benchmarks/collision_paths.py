"""Benchmark: the paths of the batched collision operator generated from the process table.

Usage::

    python benchmarks/collision_paths.py [--cells 256] [--bins 66] [--phonons 130]

For one batch of cells (transport's target grid by default: 66 QP bins, 130 phonon
nodes) it prints the time per call of every generated path (residual terms, exact action,
coupling actions, condensed action, dense blocks in float64 and float32), each with a
reference computed in the same run:

* the exact action against the complex step through the residual (what it replaces);
* the coupling actions against the products with the stored dense blocks;
* the blocks against the complex-step dense Jacobian (``collision_jacobian_blocks``);

and, for the residual, the action and the blocks, how the cost grows when a second
process of the same factors is added to the table (scattering with the other coherence
factor, ``tests/test_collision_processes.py``). Every path's values are checked against
its reference before it is timed. First (``--zero-d N``, 0 skips it) the 0D model's
paths on its own grid, generated from the same table: its dense Jacobian against the
complex step through the independent double sums, its Jacobian diagonal against the
dense Jacobian's.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

from fvqp.collisions.batched import (
    CouplingSpectra,
    batched_blocks,
    batched_jvp,
    batched_terms,
    collision_jacobian_blocks,
    condensed_qp_jvp,
    linearisation_spectra,
    outer_derivative,
)
from fvqp.collisions.correlation_blocks import collision_blocks
from fvqp.collisions.correlations import FIELDS, Perturbation, State, evaluate, rate_table
from fvqp.collisions.processes import PROCESSES, SCATTERING, Process, Rate, Term
from fvqp.heap import keep_freed_memory


def median_time(fun, repeats: int) -> float:
    fun()
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fun()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


def state(c: int, nq: int, nph: int, rng):
    f = rng.uniform(0.0, 0.3, (c, nq))
    n = rng.uniform(0.0, 0.5, (c, nph))
    rho = rng.uniform(1.0, 3.0, (c, nq))
    ados = rng.uniform(0.0, 1.0, (c, nq))
    return f, n, rho, ados


def second_process() -> Process:
    rates = []
    for r in SCATTERING.rates:
        terms = tuple(Term(-t.coef if "A" in t.a else t.coef, t.post, t.a, t.b)
                      for t in r.terms)
        rates.append(Rate(r.name + "_ii", r.outer, r.domain, terms, weight=r.weight,
                          field=r.name))
    return Process("scattering_ii", tuple(rates))


def zero_d(nq: int, repeats: int) -> None:
    """kinetics0d's paths on its own grid (one cell of :class:`fvqp.collisions.EnergyGrid`,
    generated from the same table since 2026-11-25): the dense Jacobian
    (:func:`fvqp.collisions.jacobian.jacobian`, the one-cell blocks) against the complex
    step through the independent double sums of :mod:`fvqp.collisions.direct` (one
    residual per column), and the QP diagonal (:func:`~fvqp.collisions.jacobian.
    qp_diagonal`, O(N log N)) against forming the dense Jacobian and reading its
    diagonal; values checked before timing."""
    from fvqp.collisions import CollisionParams, EnergyGrid, collision_rhs
    from fvqp.collisions.jacobian import jacobian, qp_diagonal

    g = EnergyGrid(delta=1.76, h=3.52 / 96, n=nq, n_ph=nq + 200, gamma=1e-4)
    rng = np.random.default_rng(5)
    f, n = rng.uniform(0.0, 0.3, g.n), rng.uniform(0.0, 0.5, g.n_ph)
    par = CollisionParams(phonon_prefactor=30.0)

    def complex_step() -> np.ndarray:
        k = g.n + g.n_ph
        out = np.empty((k, k))
        for j in range(k):
            e = np.zeros(k, complex)
            e[j] = 1e-30j
            q, p = collision_rhs(f + e[:g.n], n + e[g.n:], g, par, method="direct")
            out[:, j] = np.concatenate([q.imag, p.imag]) / 1e-30
        return out

    ref = complex_step()
    jac = jacobian(f, n, g, par).dense()
    err = np.max(np.abs(jac - ref)) / np.max(np.abs(ref))
    d = qp_diagonal(f, n, g, par)
    derr = np.max(np.abs(d - np.diag(jac)[:g.n]) / np.abs(d))
    t_ref = median_time(complex_step, 1)
    t_jac = median_time(lambda: jacobian(f, n, g, par), repeats)
    t_d = median_time(lambda: qp_diagonal(f, n, g, par), repeats)
    t_dd = median_time(lambda: np.diag(jacobian(f, n, g, par).ff).copy(), repeats)
    print(f"kinetics0d's grid, N = {g.n} QP cells, M = {g.n_ph} phonon nodes (one cell)")
    print(f"dense Jacobian (table blocks)  {1e3 * t_jac:9.1f} ms   complex step of the double "
          f"sums {1e3 * t_ref:9.1f} ms  {t_ref / t_jac:6.1f}x  max rel diff {err:.1e}")
    print(f"QP diagonal (table, FFT)       {1e3 * t_d:9.2f} ms   diagonal of the dense "
          f"Jacobian {1e3 * t_dd:9.1f} ms  {t_dd / t_d:6.1f}x  max rel diff {derr:.1e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=256)
    parser.add_argument("--bins", type=int, default=66)
    parser.add_argument("--phonons", type=int, default=130)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--zero-d", type=int, default=300, metavar="N",
                        help="QP cells of the kinetics0d section (0: skip it)")
    args = parser.parse_args()
    if args.zero_d:
        zero_d(args.zero_d, args.repeats)
    keep_freed_memory()
    rng = np.random.default_rng(1)
    c, nq, nph, h, m = args.cells, args.bins, args.phonons, 0.05, 30
    f, n, rho, ados = state(c, nq, nph, rng)
    v, u = rng.normal(size=f.shape), rng.normal(size=n.shape)
    kw = dict(h=h, m=m)
    rows = []

    def row(name, t, ref_name=None, t_ref=None, err=None):
        rows.append((name, t, ref_name, t_ref, err))

    t = median_time(lambda: batched_terms(f, n, rho, ados, **kw), args.repeats)
    row("residual terms", t)
    og = outer_derivative(f, n, rho, ados, **kw)
    sp = linearisation_spectra(f, n, rho, ados, **kw)
    act = batched_jvp(f, n, rho, ados, v, u, outer=og, spectra=sp, **kw)
    eps = 1e-30

    def complex_step():
        b = batched_terms(f + 1j * eps * v, n + 1j * eps * u, rho, ados, **kw)
        return b.qp.imag / eps, b.ph.imag / eps

    ref = complex_step()
    err = max(np.max(np.abs(a - b)) / np.max(np.abs(b))
              for a, b in zip(act, ref, strict=True))
    row("exact action", median_time(
        lambda: batched_jvp(f, n, rho, ados, v, u, outer=og, spectra=sp, **kw),
        args.repeats), "complex step", median_time(complex_step, args.repeats), err)
    gain = rng.uniform(0.0, 1.0, n.shape)
    row("condensed action", median_time(
        lambda: condensed_qp_jvp(sp, f, n, rho, ados, v, gain, og[0], **kw),
        args.repeats), "exact action", rows[-1][1])
    # dense blocks, float64 against the complex-step Jacobian (timed on <= 64 cells,
    # scaled to the batch), then float32
    cs = min(c, 64)

    def jac_rate(fc, nc):
        b = batched_terms(fc, nc, rho[:cs], ados[:cs], **kw)
        return b.qp, b.ph

    blocks64 = batched_blocks(f, n, rho, ados, **kw)
    J = collision_jacobian_blocks(f[:cs], n[:cs], jac_rate)
    err = np.max(np.abs(J[:, :nq, :nq] - blocks64[0][:cs])) / np.max(np.abs(J))
    t_cs = median_time(lambda: collision_jacobian_blocks(f[:cs], n[:cs], jac_rate), 1)
    row("dense blocks float64", median_time(lambda: batched_blocks(f, n, rho, ados, **kw),
                                            3), "complex-step Jacobian", t_cs * c / cs, err)
    a32 = [x.astype(np.float32) for x in (f, n, rho, ados)]
    blocks = batched_blocks(*a32, **kw)
    row("dense blocks float32", median_time(lambda: batched_blocks(*a32, **kw), 3))
    # coupling actions from stored QP spectra against products with the stored blocks
    cp = CouplingSpectra(c, nq, h=h, m=m, dtype=np.float32)
    everything = slice(0, c)
    cp.set(everything, f, rho, ados)
    u32, v32 = u.astype(np.float32), v.astype(np.float32)
    got = cp.qp_from_phonons(everything, f, rho, ados, u)
    want = np.einsum("cij,cj->ci", blocks[1], u32)
    err = np.max(np.abs(got - want)) / np.max(np.abs(want))
    t_c = median_time(lambda: (cp.qp_from_phonons(everything, f, rho, ados, u),
                               cp.phonons_from_qp(everything, n, rho, ados, v)), args.repeats)
    t_d = median_time(lambda: (np.einsum("cij,cj->ci", blocks[1], u32),
                               np.einsum("cij,cj->ci", blocks[2], v32)), args.repeats)
    row("coupling actions (FFT, f32)", t_c, "stored-block products", t_d, err)

    # growth with the table: one more process of the same factors
    two = rate_table(PROCESSES + (second_process(),))
    each = {k: ((k, 1.0),) for ks in FIELDS.values() for k in ks}
    sides = {f"{r}{int(g)}": tuple((k, 1.0) for k in ks) for (r, g), ks in FIELDS.items()}
    growth = []
    for table_name, table in (("1 process pair", rate_table()), ("+1 process", two)):
        st = State.build(f, n, rho, ados, rates=table, **kw)
        t_r = median_time(lambda st=st, table=table: evaluate(st, each, rates=table),
                          args.repeats)
        t_a = median_time(lambda st=st, table=table: evaluate(
            st, sides, perturbation=Perturbation(st, rho, ados, v, u), rates=table),
            args.repeats)
        t_b = median_time(lambda table=table: collision_blocks(*a32, rates=table, **kw), 3)
        growth.append((table_name, t_r, t_a, t_b))

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"batched collision operator: {c} cells x {nq} QP bins x {nph} phonon nodes "
          f"(median of {args.repeats}; peak RSS {peak:.0f} MB)")
    print(f"{'path':30s} {'ms/call':>9s} {'us/cell':>8s}   {'reference':24s} "
          f"{'ms/call':>9s} {'ratio':>6s} {'max rel diff':>12s}")
    for name, t, ref_name, t_ref, err in rows:
        line = f"{name:30s} {1e3 * t:9.2f} {1e6 * t / c:8.2f}"
        if ref_name:
            line += f"   {ref_name:24s} {1e3 * t_ref:9.2f} {t_ref / t:6.1f}x"
            if err is not None:
                line += f" {err:12.1e}"
        print(line)
    print("cost with the table (same factors, one more process: scattering with the "
          "other coherence factor)")
    print(f"{'table':18s} {'residual ms':>12s} {'action ms':>10s} {'blocks f32 ms':>14s}")
    for name, t_r, t_a, t_b in growth:
        print(f"{name:18s} {1e3 * t_r:12.2f} {1e3 * t_a:10.2f} {1e3 * t_b:14.1f}")
    r0 = growth[0]
    print(f"{'ratio':18s} {growth[1][1] / r0[1]:12.2f} {growth[1][2] / r0[2]:10.2f} "
          f"{growth[1][3] / r0[3]:14.2f}")


if __name__ == "__main__":
    main()

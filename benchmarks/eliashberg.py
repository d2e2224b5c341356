"""Benchmark: FFT Hilbert transform vs dense principal-value quadrature, and the
real-axis Eliashberg solve (fvqp.eliashberg).

Usage::

    python benchmarks/eliashberg.py [--sizes 1024 4096 16384] [--dense-budget 30]
                                    [--solve-sizes 8192 32768 65536]
                                    [--noneq-size 16384]

Part 1: H[exp(-x^2)] on [-12, 12] (exact: (2/sqrt(pi)) Dawson(x)) with the FFT
piecewise-linear weights (O(N log N)) and with a dense O(N^2) trapezoid rule with
singularity subtraction (``hilbert_pv_dense``); prints wall times, the speed-up, the
max difference between the two and the errors against the closed form.  The dense
method is skipped when its predicted time exceeds the budget.

Part 2: the Al ground state (Debye alpha2F, lambda = 0.43, mu* calibrated on T_c) for
several grid sizes: wall time, sweeps, Delta0 [k_B T_c and meV], Re Z(0) - (1 + lambda),
and Delta0 relative to the finest grid.

Part 3: non-equilibrium occupations (fvqp.eliashberg.occupations), Al at T_b = 0.3 T_c:
equilibrium solve, the same through thermal ``Occupations`` (cost of the general path)
and hot QPs at 0.5 T_c with phonons at 0.3 T_c (gap ratio against BCS).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.special import dawsn

from fvqp.eliashberg import (
    EliashbergParams,
    hilbert_pv_dense,
    hilbert_uniform,
    solve_real_axis,
)


def best_time(fun, repeats: int) -> tuple[float, object]:
    best, out = np.inf, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fun()
        best = min(best, time.perf_counter() - t0)
    return best, out


def hilbert_part(sizes: list[int], budget: float) -> None:
    print("FFT Hilbert vs dense principal-value quadrature, u = exp(-x^2) on [-12, 12]")
    print(f"{'N':>7} {'t_fft [ms]':>11} {'t_dense [ms]':>13} {'speed-up':>9} "
          f"{'max|fft-dense|':>15} {'err_fft':>9} {'err_dense':>10}")
    t_dense_prev, n_prev = None, None
    for n in sizes:
        x = np.linspace(-12, 12, n)
        u = np.exp(-x**2)
        exact = 2 / np.sqrt(np.pi) * dawsn(x)
        t_fft, h_fft = best_time(lambda u=u: hilbert_uniform(u), 5)
        predicted = None if t_dense_prev is None else t_dense_prev * (n / n_prev) ** 2
        if predicted is not None and predicted > budget:
            print(f"{n:7d} {1e3 * t_fft:11.3f} {'skipped':>13} {'':>9} {'':>15} "
                  f"{np.abs(h_fft - exact).max():9.2e}")
            continue
        t_dense, h_dense = best_time(lambda x=x, u=u: hilbert_pv_dense(x, u), 1)
        t_dense_prev, n_prev = t_dense, n
        print(f"{n:7d} {1e3 * t_fft:11.3f} {1e3 * t_dense:13.1f} {t_dense / t_fft:9.0f} "
              f"{np.abs(h_fft - h_dense).max():15.2e} {np.abs(h_fft - exact).max():9.2e} "
              f"{np.abs(h_dense - exact).max():10.2e}")


def solve_part(sizes: list[int]) -> None:
    p = EliashbergParams.from_material("Al")
    print(f"\nAl ground state: lambda = {p.lam:.3f}, Omega_D = {p.a2f.omega_max:.1f} k_B T_c, "
          f"omega_c = {p.omega_c:.0f}, mu* = {p.mu_star:.5f} (calibrated on T_c)")
    print(f"{'n':>7} {'h [kTc]':>8} {'time [s]':>9} {'sweeps':>7} {'Delta0':>9} "
          f"{'[meV]':>8} {'Z(0)-1-lam':>11} {'dDelta0/Delta0':>15}")
    rows = []
    for n in sizes:
        t0 = time.perf_counter()
        s = solve_real_axis(p, n=n)
        rows.append((n, s.h, time.perf_counter() - t0, s.nit, s.delta0, s.delta0_mev,
                     s.z[0].real - 1 - p.lam))
    ref = rows[-1][4]
    for n, h, t, it, d0, mev, dz in rows:
        print(f"{n:7d} {h:8.4f} {t:9.2f} {it:7d} {d0:9.5f} {mev:8.5f} {dz:11.2e} "
              f"{d0 / ref - 1:15.2e}")


def noneq_part(n: int) -> None:
    """Al at T_b = 0.3 T_c: equilibrium vs thermal occupations through the
    non-equilibrium path vs hot QPs (0.5 T_c): time, sweeps, gap ratio vs BCS."""
    from fvqp.eliashberg import Occupations
    from fvqp.spectra.gap import thermal_gap

    p = EliashbergParams.from_material("Al")
    kw = {"temperature": 0.3, "n": n, "emax": 1.2 * p.omega_c}
    print(f"\nNon-equilibrium occupations (Al, T_b = 0.3 T_c, n = {n}, emax = 1.2 omega_c)")
    print(f"{'run':>24} {'time [s]':>9} {'ratio':>6} {'sweeps':>7} {'Delta0':>9} "
          f"{'/eq':>9} {'BCS':>9}")
    ref, t_ref = None, None
    for label, occ, bcs in (("equilibrium", None, 1.0),
                            ("thermal occupations", Occupations.thermal(0.3), 1.0),
                            ("hot QPs 0.5, phonons 0.3", Occupations.thermal(0.5, 0.3),
                             thermal_gap(0.5, 1.0) / thermal_gap(0.3, 1.0))):
        t0 = time.perf_counter()
        s = solve_real_axis(p, occupations=occ, **kw)
        t = time.perf_counter() - t0
        ref, t_ref = ref or s.delta0, t_ref or t
        print(f"{label:>24} {t:9.2f} {t / t_ref:6.2f} {s.nit:7d} {s.delta0:9.5f} "
              f"{s.delta0 / ref:9.5f} {bcs:9.5f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024, 4096, 16384])
    parser.add_argument("--dense-budget", type=float, default=30.0)
    parser.add_argument("--solve-sizes", type=int, nargs="+", default=[8192, 32768, 65536])
    parser.add_argument("--noneq-size", type=int, default=16384)
    args = parser.parse_args()
    hilbert_part(args.sizes, args.dense_budget)
    solve_part(args.solve_sizes)
    noneq_part(args.noneq_size)


if __name__ == "__main__":
    main()

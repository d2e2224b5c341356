"""Benchmark: FFT O(N log N) vs direct O(N^2) evaluation of the collision operator.

Usage::

    python benchmarks/collisions_fft_vs_direct.py [--sizes 256 1024 4096 16384]
                                                  [--direct-budget 60]

For each number of QP cells N the full operator (all 8 gain/loss terms of Eqs. 35-40,
phonon grid of the default size ``N + m/2``) is evaluated on random distributions with
both implementations; the script prints wall times, the speed-up, the max-norm
difference, and the fitted log-log slopes.  The direct method is skipped when its
predicted time (O(N^2) extrapolation from the previous size) exceeds the budget.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from fvqp.collisions import CollisionParams, EnergyGrid, collision_terms

DELTA = 1.764
SPAN = 10.0  # E_max - Delta in kTc


def make_grid(n: int) -> EnergyGrid:
    """Grid with exactly ``n`` QP cells covering ~[Delta, Delta + SPAN]."""
    m = max(1, round(2 * DELTA * n / SPAN))
    return EnergyGrid(delta=DELTA, h=2 * DELTA / m, n=n)


def best_time(fun, repeats: int) -> float:
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fun()
        best = min(best, time.perf_counter() - t0)
    return best


def random_state(n: int, rng: np.random.Generator) -> tuple:
    """The grid of ``n`` QP nodes with random occupations f in [0, 1), n_ph in [0, 2)."""
    grid = make_grid(n)
    return grid, rng.uniform(0.0, 1.0, grid.n), rng.uniform(0.0, 2.0, grid.n_ph)


def fitted_slope(sizes: list[int], times: list[float]) -> float:
    return float(np.polyfit(np.log(sizes), np.log(times), 1)[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 1024, 4096, 16384])
    parser.add_argument("--direct-budget", type=float, default=60.0,
                        help="skip direct evaluations predicted to take longer (s)")
    parser.add_argument("--fft-only-sizes", type=int, nargs="*", default=[65536, 262144],
                        help="extra sizes timed with the FFT method only (asymptotic slope)")
    args = parser.parse_args()

    params = CollisionParams(10.0)
    rng = np.random.default_rng(0)
    rows = []
    last_direct: tuple[int, float] | None = None
    print(f"{'N':>7} {'M':>7} {'fft [s]':>10} {'direct [s]':>11} {'speed-up':>9} "
          f"{'max rel diff':>13}")
    for n in args.sizes:
        grid, f, nph = random_state(n, rng)
        repeats = 20 if n <= 4096 else 5
        t_fft = best_time(lambda g=grid, f=f, p=nph: collision_terms(f, p, g, params), repeats)
        predicted = None if last_direct is None else last_direct[1] * (n / last_direct[0]) ** 2
        if predicted is not None and predicted > args.direct_budget:
            rows.append((n, grid.n_ph, t_fft, None))
            print(f"{n:>7} {grid.n_ph:>7} {t_fft:>10.4f} {'skipped':>11} {'-':>9} {'-':>13}"
                  f"   (direct predicted {predicted:.0f} s > budget {args.direct_budget:.0f} s)")
            continue
        t0 = time.perf_counter()
        ref = collision_terms(f, nph, grid, params, method="direct")
        t_dir = time.perf_counter() - t0
        if n <= 1024:
            t_dir = min(t_dir, best_time(
                lambda g=grid, f=f, p=nph: collision_terms(f, p, g, params, method="direct"), 2))
        last_direct = (n, t_dir)
        out = collision_terms(f, nph, grid, params)
        diff = max(
            float(np.max(np.abs(getattr(out, k) - getattr(ref, k)))
                  / np.max(np.abs(getattr(ref, k))))
            for k in ref.__dataclass_fields__
        )
        rows.append((n, grid.n_ph, t_fft, t_dir))
        print(f"{n:>7} {grid.n_ph:>7} {t_fft:>10.4f} {t_dir:>11.3f} {t_dir / t_fft:>9.1f} "
              f"{diff:>13.2e}")

    for n in args.fft_only_sizes:
        grid, f, nph = random_state(n, rng)
        t_fft = best_time(lambda g=grid, f=f, p=nph: collision_terms(f, p, g, params), 3)
        rows.append((n, grid.n_ph, t_fft, None))
        print(f"{n:>7} {grid.n_ph:>7} {t_fft:>10.4f} {'(fft only)':>11}")

    sizes = [r[0] for r in rows]
    fft_times = [r[2] for r in rows]
    print("\nlocal fft slopes d log t / d log N between consecutive sizes: "
          + ", ".join(f"{sizes[i]}->{sizes[i + 1]}: "
                      f"{fitted_slope(sizes[i:i + 2], fft_times[i:i + 2]):.2f}"
                      for i in range(len(sizes) - 1)))
    big = slice(-3, None)
    print(f"fitted slope d log t / d log N: fft (all sizes) = "
          f"{fitted_slope(sizes, fft_times):.2f}, fft (3 largest) = "
          f"{fitted_slope(sizes[big], fft_times[big]):.2f} "
          f"(N log N over the 3 largest sizes ~ "
          f"{fitted_slope(sizes[big], [s * np.log(s) for s in sizes[big]]):.2f}; "
          "small N is dominated by Python overhead)", end="")
    done = [(r[0], r[3]) for r in rows if r[3] is not None]
    if len(done) >= 2:
        print(f", direct = {fitted_slope([d[0] for d in done], [d[1] for d in done]):.2f}"
              " (O(N^2) -> 2)")
    else:
        print()
    for n, _, t_fft, t_dir in rows:
        if n == 4096 and t_dir is not None:
            verdict = "OK" if t_dir / t_fft >= 20 else "BELOW TARGET"
            print(f"speed-up at N = 4096: {t_dir / t_fft:.0f}x (target >= 20x: {verdict})")


if __name__ == "__main__":
    main()

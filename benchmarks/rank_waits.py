"""Where the ranks of a run wait for each other (issue 18 §2: what stands between a
rank count and its ideal speed-up).

Runs ``fvqp`` under ``mpiexec -n N`` with a timestamp at the entry and exit of every
collective the Python side makes (:mod:`fvqp.parallel.distribution` sums, maxima, ghost
exchanges, gathers, barriers, also of the block layouts;
:func:`~fvqp.parallel.distribution.sum_in_place`; :class:`fvqp.parallel.lending.Loan`'s
plan and exchanges; labelled by their first caller outside ``fvqp/parallel``), then
lines the ranks' sequences up (every rank makes the same collectives in the same order)
and charges each rank's wait at a collective (the last rank's arrival minus its own) to
the code it ran since its previous collective: the segment whose work the *other* ranks
did more slowly. PETSc's own reductions inside a Krylov solve are not seen; their waits
show up in the segment that contains them (between an operator's or a preconditioner's
collectives). The clocks are ``time.perf_counter`` on one machine (the same monotonic
clock in every process).

Prints, per rank, the total wait and the segments with the largest waits, and the
total per rank of the time inside the collectives themselves (waits and transfers).

Measured 2026-11-28 (thirty-second session) on the transport target's burst case
(``benchmarks/transport_absorber3d.py`` ``burst_case``: 53 120 cells, 6 BDF1 steps of
5.3 s, 2 ranks, two runs): rank 0 waited 0.56 and 1.20 s in all, rank 1 0.55 and 0.64 s
during the steps (plus 0.59-0.60 s at the end, for rank 0's checkpoint): 2-4 % of a step
each; 1.8-1.9 s per rank inside the collectives (waits and transfers). The largest items:
0.11-0.27 s at the return of the lent condensed actions (either rank), 0.09-0.29 s of
rank 0 in rank 1's subdomain solves and the Krylov orthogonalisation, 0.10 s of the
borrower at the lend while the lender gathers the lent cells' inputs.

Run: ``python benchmarks/rank_waits.py [-n 2] [--top 14] -- run CASE.toml --output DIR``
(the arguments after ``--`` are the ``fvqp`` command's).
"""

from __future__ import annotations

import argparse
import os
import pickle
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path


def _where(label: str) -> str:
    """``label@file:line`` of the first caller outside ``fvqp/parallel`` (two frames up:
    the wrapper's caller)."""
    f = sys._getframe(2)
    while f.f_back is not None and "fvqp/parallel/" in f.f_code.co_filename:
        f = f.f_back
    return f"{label}@{Path(f.f_code.co_filename).name}:{f.f_lineno}"


def _instrument(events: list) -> None:
    """Wrap the collectives of :mod:`fvqp.parallel` to append ``(label, t_in, t_out)``
    to ``events``; the label names the collective and its first caller outside
    ``fvqp/parallel``."""
    import fvqp.parallel.distribution as dist
    import fvqp.parallel.lending as lending

    def wrap(owner, name: str, label: str) -> None:
        inner = getattr(owner, name)

        def timed(*a, **k):
            where = _where(label)
            t0 = time.perf_counter()
            out = inner(*a, **k)
            events.append((where, t0, time.perf_counter()))
            return out

        setattr(owner, name, timed)

    for name in ("sum", "max", "gather", "bcast", "barrier"):
        wrap(dist.Distribution, name, "dist." + name)
    wrap(dist.GhostedVectors, "max_array", "max_array")
    wrap(dist, "sum_in_place", "sum_in_place")
    # (the block layouts' sums and maxima are their cells' Distribution's: not wrapped
    # twice, which would charge one wait twice)
    wrap(lending.Loan, "__init__", "loan.plan")
    wrap(lending.Loan, "_exchange", "loan.exchange")
    # every ghost exchange (``ghosted`` too) goes through ``with_ghosts``: timed up to
    # its ``fn`` (the exchange alone, not the caller's work on the values)
    inner = dist.GhostedVectors.with_ghosts

    def with_ghosts(self, owned, fn, work=None):
        where = _where("ghosts")
        t0 = time.perf_counter()

        def first(values):
            events.append((where, t0, time.perf_counter()))
            return fn(values)

        return inner(self, owned, first, work)

    dist.GhostedVectors.with_ghosts = with_ghosts


def worker(out: str, argv: list[str]) -> None:
    """One rank: the ``fvqp`` command with its collectives timed; the events pickled to
    ``out/events<rank>.pkl`` at exit."""
    import atexit
    import runpy

    events: list = []
    _instrument(events)
    rank = os.environ.get("OMPI_COMM_WORLD_RANK", os.environ.get("PMI_RANK", "0"))
    atexit.register(lambda: pickle.dump(events, open(Path(out) / f"events{rank}.pkl",
                                                      "wb")))
    sys.argv = ["fvqp", *argv]
    runpy.run_module("fvqp", run_name="__main__")


def charge(events: list[list]) -> tuple[list[dict], list[float]]:
    """Per rank, the wait charged to each segment ``"previous -> this collective"``, and
    the time inside the collectives; the sequences must be of the same collectives."""
    n = min(len(e) for e in events)
    for i in range(n):
        names = {e[i][0].split("@")[0] for e in events}
        if len(names) > 1:
            raise RuntimeError(f"collective {i} differs between the ranks: {names}")
    waits = [defaultdict(float) for _ in events]
    inside = [0.0 for _ in events]
    prev = ["start"] * len(events)
    for i in range(n):
        late = max(e[i][1] for e in events)
        for r, e in enumerate(events):
            waits[r][f"{prev[r]} -> {e[i][0]}"] += late - e[i][1]
            inside[r] += e[i][2] - e[i][1]
            prev[r] = e[i][0]
    return waits, inside


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=2, help="ranks (default 2)")
    ap.add_argument("--top", type=int, default=14, help="segments shown per rank")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("fvqp", nargs=argparse.REMAINDER, help="-- then the fvqp arguments")
    a = ap.parse_args()
    args = a.fvqp[1:] if a.fvqp[:1] == ["--"] else a.fvqp
    if a.worker:
        worker(a.worker, args)
        return
    with tempfile.TemporaryDirectory() as d:
        subprocess.run(["mpiexec", "-n", str(a.n), sys.executable, __file__, "--worker",
                        d, "--", *args], check=True)
        events = [pickle.load(open(Path(d) / f"events{r}.pkl", "rb"))
                  for r in range(a.n)]
    waits, inside = charge(events)
    print(f"{len(events[0])} collectives per rank")
    for r, w in enumerate(waits):
        print(f"rank {r}: waited {sum(w.values()):.3f} s in all, "
              f"{inside[r]:.3f} s inside the collectives")
        for seg, t in sorted(w.items(), key=lambda kv: -kv[1])[:a.top]:
            print(f"  {t:8.3f}  {seg}")


if __name__ == "__main__":
    main()

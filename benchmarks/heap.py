"""The C heap setting of the ``fvqp`` command (:mod:`fvqp.heap`) against glibc's defaults
(``FVQP_MALLOC=default``), per shipped case: wall, user and kernel seconds, minor page
faults and peak resident memory of the whole process (``os.wait4``), their ratios, and
whether the two runs wrote the same ``summary.json`` numbers (they must: the heap layout
reaches no result).

The runs alternate (default, kept, default, kept ...) ``--repeat`` times and the medians
are printed, so a drift of the machine's speed hits both alike.

Measured 2026-11-23 19:25 on this 2-core machine, idle (load below 1), one pair per case
(``--repeat 1``): docs/performance.md, row "all (the fvqp command)"; the kinetics0d sweep
of 8 powers at 2 ueV (not one of these cases) went from 29.5 s (12.1 s of it in the
kernel, 5.1 million page faults) to 11.7 s.

Run: ``python benchmarks/heap.py [--repeat 3] [--cases kinetics0d_al_power_sweep,...]``
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: shipped cases (shortened where long) and the text replacements that shorten them
CASES = {
    "kinetics0d_al_power_sweep": {},
    "heat_absorber3d": {},
    "transport_nis_wire": {},
    "bte_film_relaxation": {},
    "phonon_si_block": {'end = "100 ns"': 'end = "20 ns"'},
    "bte_chip_deposit_transport": {'end = "300 ns"': 'end = "60 ns"'},
}


def _case(tmp: Path, name: str, repl: dict) -> Path:
    text = (ROOT / "cases" / f"{name}.toml").read_text()
    text = text.replace('file = "../meshes/', f'file = "{ROOT}/meshes/')
    text = text.replace('"../cases/', f'"{ROOT}/cases/')
    for old, new in repl.items():
        if old not in text:
            raise SystemExit(f"{name}: {old!r} not in the case (update CASES)")
        text = text.replace(old, new)
    p = tmp / f"{name}.toml"
    p.write_text(text)
    return p


def _run(case: Path, out: Path, default: bool) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    if default:
        env["FVQP_MALLOC"] = "default"
    else:
        env.pop("FVQP_MALLOC", None)
    cmd = [sys.executable, "-m", "fvqp", "-q", "run", str(case), "--output", str(out),
           "--overwrite"]
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    err = p.stderr.read().decode()
    p.stderr.close()
    if status != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({status}):\n{err}")
    return {"wall": wall, "user": ru.ru_utime, "sys": ru.ru_stime,
            "faults": ru.ru_minflt, "rss_MB": ru.ru_maxrss / 1024}


def _numbers(summary: Path) -> dict:
    """The numbers of a summary.json that are results (not times, memory, paths)."""
    skip = re.compile(r"wall|time_s$|_s$|rss|cpu|seconds|path|output|figure")
    out = {}

    def walk(v, key=""):
        if isinstance(v, dict):
            for k, w in v.items():
                walk(w, f"{key}.{k}" if key else k)
        elif isinstance(v, (int, float)) and not isinstance(v, bool) and not skip.search(key):
            out[key] = float(v)

    walk(json.loads(summary.read_text()))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--cases", default=",".join(CASES))
    args = ap.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(f"{'case':<28} {'heap':<8} {'wall s':>7} {'user s':>7} {'kernel s':>8} "
          f"{'faults':>10} {'peak MB':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name in args.cases.split(","):
            case = _case(tmp, name, CASES.get(name, {}))
            rows = {True: [], False: []}
            for _ in range(args.repeat):
                for default in (True, False):
                    rows[default].append(_run(case, tmp / f"{name}_{default}", default))
            med = {d: {k: statistics.median(r[k] for r in rs) for k in rs[0]}
                   for d, rs in rows.items()}
            for d, label in ((True, "glibc"), (False, "kept")):
                m = med[d]
                print(f"{name:<28} {label:<8} {m['wall']:>7.2f} {m['user']:>7.2f} "
                      f"{m['sys']:>8.2f} {m['faults']:>10.0f} {m['rss_MB']:>8.0f}")
            a = _numbers(tmp / f"{name}_True" / "summary.json")
            b = _numbers(tmp / f"{name}_False" / "summary.json")
            diff = max((abs(a[k] - b[k]) / max(abs(a[k]), 1e-300) for k in a if k in b),
                       default=0.0)
            same = a.keys() == b.keys() and diff == 0.0
            print(f"{'':<28} {'ratio':<8} {med[False]['wall'] / med[True]['wall']:>7.2f} "
                  f"{med[False]['user'] / med[True]['user']:>7.2f} "
                  f"{med[False]['sys'] / max(med[True]['sys'], 1e-9):>8.2f} "
                  f"{med[False]['faults'] / med[True]['faults']:>10.3f} "
                  f"{med[False]['rss_MB'] / med[True]['rss_MB']:>8.2f}   summary numbers "
                  f"{'identical' if same else f'differ (largest relative {diff:.1e})'}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

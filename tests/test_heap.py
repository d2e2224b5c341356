"""The ``fvqp`` command keeps freed blocks below 32 MB in the C heap for reuse
(:mod:`fvqp.heap`): eight numpy temporaries of 1 MB allocated and freed together, again
and again, are faulted in by the kernel once, not at every cycle (glibc's defaults map it afresh
each time: on the kinetics0d power sweep of 8 powers at 2 ueV that was 5.1 million page
faults and 12 of 29.5 s in the kernel; benchmarks/heap.py). ``FVQP_MALLOC=default``
keeps glibc's defaults. Page faults are counted by the kernel (``getrusage``), not timed."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT, mpi_env

SCRIPT = r"""
import resource, sys
import numpy as np
from fvqp.cli import main
assert main(["materials"]) == 0          # the command applies the heap setting first


def faults(cycles):
    f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(cycles):
        # eight temporaries of 1 MB, written, then freed together (below numpy's 4 MB
        # huge-page requests: faulted in 4 KB pages)
        tmp = [np.ones(131_072) for _ in range(8)]
        del tmp
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0


first = faults(1)
print("FAULTS", first, faults(10))
"""


def _faults(env: dict) -> tuple[int, int]:
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                          env={**mpi_env(), **env}, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("FAULTS"))
    first, ten = map(int, line.split()[1:])
    return first, ten


def test_the_command_reuses_freed_blocks_and_the_default_can_be_kept():
    """After the first cycle, ten more fault (nearly) nothing with fvqp's setting; with
    ``FVQP_MALLOC=default`` glibc gives the freed top of its heap back to the kernel and
    every cycle faults again (ten cycles at least 5x the first)."""
    first, ten = _faults({"FVQP_MALLOC": ""})
    assert first > 0 and ten < 0.2 * first, (first, ten)
    first_d, ten_d = _faults({"FVQP_MALLOC": "default"})
    assert ten_d > 5 * first_d > 0, (first_d, ten_d)

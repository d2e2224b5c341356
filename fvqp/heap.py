"""The C heap of an fvqp process: freed numpy temporaries kept for reuse.

glibc's ``malloc`` serves a block at or above its *mmap threshold* with a fresh ``mmap``
and returns it to the kernel (``munmap``) when it is freed; the threshold starts at 128 KB
and follows the size of the mapped blocks freed, up to 32 MB, and the top of the heap is
given back to the kernel whenever more than the *trim threshold* (twice the mmap
threshold) is free there. The collision operators and the Newton solves allocate and free
temporaries of 0.1–30 MB at every evaluation; served by ``mmap``, every new one is faulted
in afresh, page by page, by the kernel. Measured on the kinetics0d power sweep
(``benchmarks/heap.py``: ``kinetics0d_al_power_sweep`` with 8 powers at 2 µeV, serial,
idle machine, 2026-11-23): 5.1 million minor page faults, 12.1 s of kernel time in a
29.5 s run.

:func:`keep_freed_memory` fixes the mmap threshold at 32 MB (the largest ``mallopt``
accepts) and the trim threshold at 64 MB, so that freed blocks below 32 MB stay in the
heap and are reused: 82 thousand faults, 0.4 s of kernel time, 15.4 s; peak resident
memory 259 → 282 MB. Each of the two settings alone is worse than neither (70 s and
42 s): setting one turns glibc's dynamic threshold off.

Blocks above 32 MB were still mapped afresh: at device size a state vector is one (the
transport target, 53 120 cells x 196 unknowns: 83 MB), and every residual, Newton point
copy, ghost exchange and preconditioner application faulted its arrays in again —
1.2 million faults and 17.5 s of kernel time in 6 steps, 111 s in all. So no block is
mapped at all (``M_MMAP_MAX = 0``: every block from the heap, reused after ``free``; glibc
still maps where the heap cannot grow) and the trim threshold is 1 GiB (a freed block at
the top of the heap, where the large temporaries end up, is kept for the next one instead
of being given back and faulted in again): 0.45 million faults, 9.3 s of kernel time,
17.0 → 14.0 s per step (with the trim threshold at 64 MB: 15.0; at 4 GiB: 13.8); peak
resident memory 4 535 → 4 651 MB (+2.6 %: freed blocks in the middle of the heap are
reused by the next ones of their size or less; ``benchmarks/transport_absorber3d.py``
``target``, 2026-11-25). On small cases the run's peak grows alike (the transport NIS
wire: 559-572 → 592 MB, +4-6 %, the same faults and times within noise); after the time
loop the run template gives the freed memory back (:func:`give_back_freed_memory`), so
that the figures do not add to it (that case's whole process: 706 MB without, 607 with;
572-586 before).

The ``fvqp`` command applies it at its start (every rank under ``mpiexec``);
``FVQP_MALLOC=default`` in the environment keeps glibc's defaults. The numbers a run
computes do not depend on it (the heap layout reaches no reduction:
:data:`fvqp.solvers.options.RUN_OPTIONS`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os

__all__ = ["MMAP_MAX", "MMAP_THRESHOLD", "TRIM_THRESHOLD", "give_back_freed_memory",
           "keep_freed_memory"]

log = logging.getLogger("fvqp")

#: blocks below this many bytes come from the heap and are reused after ``free``
#: (with :data:`MMAP_MAX` 0 every block does; the threshold is kept so that glibc's
#: dynamic threshold stays off where a C library ignores ``M_MMAP_MAX``)
MMAP_THRESHOLD = 32 * 2**20
#: blocks served by ``mmap`` at most: none (module docstring)
MMAP_MAX = 0
#: free memory at the top of the heap kept mapped (module docstring)
TRIM_THRESHOLD = 2**30
#: ``mallopt`` parameters (glibc ``malloc.h``)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_MMAP_MAX = -1, -3, -4


def keep_freed_memory(environ=os.environ) -> bool:
    """Set glibc's mmap and trim thresholds (module docstring) for this process; returns
    whether they were set: False with ``FVQP_MALLOC=default`` in ``environ``, or where the
    C library is not glibc (no ``mallopt``)."""
    if environ.get("FVQP_MALLOC", "").strip().lower() == "default":
        return False
    try:
        mallopt = _libc().mallopt
    except (OSError, AttributeError):
        return False
    ok = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and \
        bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)) and \
        bool(mallopt(_M_MMAP_MAX, MMAP_MAX))
    log.debug("heap: mmap threshold %d B, at most %d mapped blocks, trim threshold %d B "
              "(%s)", MMAP_THRESHOLD, MMAP_MAX, TRIM_THRESHOLD,
              "set" if ok else "refused by mallopt")
    return ok


def give_back_freed_memory() -> bool:
    """Return the freed memory of the C heap to the kernel (glibc's ``malloc_trim(0)``:
    the free top of the heap and the free pages inside it): the run template calls it
    when a run's time loop is over, so that what the end of the run allocates (the
    figures) does not add to a heap kept at its working size (the transport NIS wire's
    whole process: 672-706 MB without it, 607 MB with it, 572-586 MB with the 32 MB
    setting alone). Returns whether memory was released (False where the C library has
    no ``malloc_trim``)."""
    try:
        return bool(_libc().malloc_trim(0))
    except (OSError, AttributeError):
        return False


def _libc():
    """The C library (``OSError`` where it cannot be loaded)."""
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")

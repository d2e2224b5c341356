"""Where the memory and the time of an implicit transport step go (issue 18 §1).

``python benchmarks/transport_memory.py CASE OUT.json`` runs a transport case in this
process (serial, ``schur`` mode) through :class:`TransportModel` and writes to ``OUT.json``:

* every array that lives through a step, with its bytes per cell, found by walking the
  problem (:class:`fvqp.models.transport.problem.TransportProblem`) and its Schur
  preconditioner: numpy arrays (``nbytes``, views counted once), scipy sparse matrices
  (values + indices), the arrays PETSc shares with the block-CSR matrices
  (``Mat.getAttr("__csr__")``: no copy, counted once), PETSc vectors;
* the outer GMRES basis, estimated by PETSc's allocation rule (``KSPSetUp_GMRES``: 5
  vectors, then 10 more whenever the iteration needs them, never more than restart + 4)
  from the largest number of preconditioner applications of one linear solve;
* the transient peaks above the persistent arrays of one residual, one Jacobian action,
  one preconditioner build and one application at the final state (``tracemalloc``: numpy
  reports its allocations to it; PETSc's own allocations are not seen);
* the peak resident set (``VmHWM``) and the resident set before the case was built, and
  the rest of the peak that no entry above explains (the SNES/BDF/KSP work vectors, the
  interpreter, libraries, allocator slack);
* the CPU split per call (residual, action, PC build, PC apply) and the share of the
  collision operator (FFTs) in a residual;
* the whole peak itemised (issue 18 item 1; ``FVQP_BENCH_MEMORY_TRACE=0`` skips it):
  ``tracemalloc`` runs from before the case is built to the end, so every numpy/Python
  allocation alive at the end is listed by the source line that made it (mesh, problem,
  preconditioner, solver wrappers), with the traced peak; PETSc's own heap
  (``PetscMallocGetCurrentUsage``/``GetMaximumUsage`` through ``ctypes``, malloc tracing
  switched on by ``-malloc_view``: the SNES/BDF/KSP work vectors and the ILU structures)
  at the end of the build, after the first step and at the end; the resident set at the
  same points. The rest of the peak (interpreter and libraries loaded during the build,
  allocator slack, C allocations outside numpy and PETSc) is the one remainder printed.
  Tracing every allocation slows the run (the CPU split is then inflated): take times
  with ``FVQP_BENCH_MEMORY_TRACE=0``.

:func:`print_table` prints the table; ``transport_absorber3d.py memory`` runs it on the
absorber meshes.
"""

from __future__ import annotations

import json
import linecache
import os
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np


class _PetscHeap:
    """PETSc's malloc accounting (bytes) through ``ctypes``; needs malloc tracing, which
    ``-malloc_view`` switches on (given to :func:`petsc4py.init` before PETSc starts;
    ``-malloc_view_threshold`` keeps its report at the exit to one line)."""

    def __init__(self):
        import ctypes

        import petsc4py

        petsc4py.init([sys.argv[0], "-malloc_view", "-malloc_view_threshold", "1e15"])
        from petsc4py import PETSc  # noqa: F401 -- PETSc starts here, with tracing

        lib = Path(petsc4py.get_config()["PETSC_DIR"]) / "lib"
        name = sorted(lib.glob("libpetsc.so.*"), key=lambda p: len(p.name))[0]
        self._lib = ctypes.CDLL(str(name), mode=ctypes.RTLD_GLOBAL)
        self._ct = ctypes

    def _get(self, fn: str) -> int:
        d = self._ct.c_double()
        getattr(self._lib, fn)(self._ct.byref(d))
        return int(d.value)

    def current(self) -> int:
        return self._get("PetscMallocGetCurrentUsage")

    def maximum(self) -> int:
        return self._get("PetscMallocGetMaximumUsage")


def _checkpoint(heap: _PetscHeap | None) -> dict[str, int]:
    """Resident set, its peak, the traced numpy/Python heap and PETSc's heap now (kB)."""
    traced = tracemalloc.get_traced_memory() if tracemalloc.is_tracing() else (0, 0)
    return {"rss": _rss_kb("VmRSS"), "hwm": _rss_kb("VmHWM"),
            "traced": traced[0] // 1024, "traced_peak": traced[1] // 1024,
            "petsc": heap.current() // 1024 if heap else 0,
            "petsc_peak": heap.maximum() // 1024 if heap else 0,
            "tracer": tracemalloc.get_tracemalloc_memory() // 1024,
            "cpu_ms": int(time.process_time() * 1000)}


def _by_site(snapshot, top: int = 25) -> list[tuple[str, int]]:
    """The traced allocations alive in ``snapshot`` grouped by the fvqp (or benchmark)
    source line nearest to the allocation, largest first; the rest in one row."""
    rows: dict[str, int] = {}
    for stat in snapshot.statistics("traceback"):
        site = None
        for frame in reversed(stat.traceback):  # innermost first
            if "/fvqp/" in frame.filename or "benchmarks" in frame.filename:
                code = linecache.getline(frame.filename, frame.lineno).strip()[:38]
                site = f"{frame.filename.split('/fvqp/')[-1]}:{frame.lineno} {code}"
                break
        site = site or f"{stat.traceback[-1].filename.split('/')[-1]}:" \
                       f"{stat.traceback[-1].lineno} (outside fvqp)"
        rows[site] = rows.get(site, 0) + stat.size
    ranked = sorted(rows.items(), key=lambda r: -r[1])
    rest = sum(b for _, b in ranked[top:])
    return ranked[:top] + ([("all other sites", rest)] if rest else [])


def _rss_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


class _Walker:
    """Bytes of the arrays reachable from an object, each buffer counted once."""

    def __init__(self):
        self.seen: set[int] = set()

    def array(self, a) -> int:
        base = a
        while isinstance(getattr(base, "base", None), np.ndarray):
            base = base.base
        if id(base) in self.seen:
            return 0
        self.seen.add(id(base))
        return int(base.nbytes)

    def value(self, v, depth: int = 0) -> int:
        from scipy.sparse import issparse

        if isinstance(v, np.ndarray):
            return self.array(v)
        if issparse(v):
            return sum(self.array(getattr(v, k)) for k in ("data", "indices", "indptr",
                                                           "row", "col") if hasattr(v, k))
        if depth > 3:
            return 0
        if isinstance(v, dict):
            return sum(self.value(x, depth + 1) for x in v.values())
        if isinstance(v, (list, tuple)):
            return sum(self.value(x, depth + 1) for x in v)
        kind = type(v).__name__
        if kind == "Mat":  # arrays shared with PETSc, else PETSc's own count
            try:
                csr = v.getAttr("__csr__")
            except Exception:  # noqa: BLE001 -- a matrix without shared arrays
                csr = None
            if csr is not None:
                return self.value(csr, depth + 1)
            return int(v.getInfo()["memory"])
        if kind == "Vec":
            return v.getLocalSize() * 8
        if kind == "RowTable":  # distinct rows, a row number and a scale per cell
            return sum(self.value(x, depth + 1) for x in (v.table, v.index, v.scale))
        return 0


def account(problem, schur, max_apps: int, restart: int) -> list[tuple[str, int]]:
    """(name, bytes on this rank) of every array that lives through a step."""
    w = _Walker()
    rows = []

    def add(name, v):
        b = w.value(v)
        if b:
            rows.append((name, b))

    p = problem
    add("state copy + outer derivatives (_linearised)", p._linearised)
    spectra = getattr(p, "_spectra", None)
    add("state spectra of the Jacobian actions (_spectra, "
        f"{'complex64' if p.single_spectra else 'complex128'})",
        [vars(b) for b in getattr(spectra[1], "states", spectra[1])] if spectra else None)
    add("DOS rho, ados, D_L per cell (N each)", [p.rho, p.ados, p.dl])
    add("state masses m_f, m_n, kappa, masks", [p.m_f, p.m_n, p.kappa, p.alg_f])
    add("QP face conductances G, b_G, b_fn", [p.G, p.b_G, p.b_fn])
    add("phonon faces G_ph, ph_diag", [p.G_ph, p.ph_diag])
    add("source spectra", [s.spectrum for s in p.sources])
    add("region parameters, geometry, scatter matrices",
        [p.p, p.trap, p.beta, p.delta, p._div, p._bsum, p._setsum, p._div_ph, p._inc,
         p.f_a, p.f_b, p.f_ta, p.f_tb, p._pair_face, p.f_bath, p.n_bath])
    if schur is not None:
        add("Schur B D^-1, D^-1 C (float32, couplings 'stored')", [schur.bd, schur.dc])
        add("Schur D^-1, D", [schur.inv_d, getattr(schur, "d", None)])
        coupling = getattr(schur, "spectra", None)
        add(f"Schur coupling spectra (couplings 'fft', "
            f"{coupling.spec.dtype if coupling else '-'})",
            coupling.spec if coupling else None)
        ilu = getattr(schur, "ilu", None)
        if ilu is not None:  # -transport_schur_storage cells
            sub = getattr(ilu, "ilu", ilu)  # the subdomain's CellBlockILU on several ranks
            add(f"Schur complement block ILU(0) cell blocks ({sub.blocks.dtype}, storage "
                "'cells', with the int16 rows' scales)", [sub.blocks, sub.row_scale])
            add("Schur complement couplings (float32) and levels",
                [ilu.c_low, ilu.c_up, ilu.lo, ilu.hi, ilu.levels, ilu.pairs_hi,
                 ilu.pairs_lo])
        else:
            add("Schur complement values (PETSc AIJ, ILU(0) in place)", schur.csr.data)
            add("Schur complement column indices + row pointers", schur.mat)
            add(f"Schur transport value positions ({schur._transport_pos.dtype})",
                schur._transport_pos)
        add("Schur (row, column, bin) of transport entries (int64; coarse space only)",
            getattr(schur, "_transport_cells", None))
        add("Schur work vector, state reference", [schur._v, getattr(schur, "x_local",
                                                                       None)])
        if schur.phonons is not None:
            add("phonon-diffusion PC matrix", [schur.phonons.csr.data, schur.phonons.mat])
    vec = p.n * p.B * 8
    condensed = getattr(schur, "condensed", None) if schur is not None else None
    if condensed is not None:  # the condensed solve's FGMRES bases: N per cell (PETSc heap)
        from petsc4py import PETSc

        r = PETSc.Options().getInt(condensed.schur.prefix + "condensed_ksp_gmres_restart",
                                   condensed.restart)
        k = fgmres_vectors(max_apps, r)
        rows.append((f"condensed FGMRES bases (PETSc heap: {k} x N at {max_apps} "
                     f"iterations, restart {r})", p.n * p.N * 8 * k))
        from petsc4py import PETSc

        outer = PETSc.Options().getString("transport_ksp_type", "gmres")
        if outer == "preonly":
            return rows
    rows.append((f"outer GMRES basis (estimate: {gmres_vectors(max_apps, restart)} vectors"
                 f" at {max_apps} iterations, restart {restart})",
                 gmres_vectors(max_apps, restart) * vec))
    return rows


def gmres_vectors(its: int, restart: int) -> int:
    """Vectors PETSc's GMRES holds after ``its`` iterations in one cycle (KSPSetUp_GMRES,
    KSPGMRESGetNewVectors: 5, then chunks of 10 when ``it + 3`` reaches the count)."""
    n, it = 5, min(its, restart)
    while it + 3 >= n and n < restart + 4:
        n = min(n + 10, restart + 4)
    return n


def fgmres_vectors(its: int, restart: int) -> int:
    """Vectors PETSc's FGMRES holds after a cycle of ``its`` iterations, its two bases
    together (KSPSetUp_GMRES/FGMRES, KSPFGMRESGetNewVectors: 4 + min(5, restart) work and
    basis vectors and 2 fewer preconditioned ones, then chunks of 10 of each when the
    iteration reaches them, never beyond restart + 4): 16 up to 6 iterations, 36 at 7-16;
    restart 6 keeps it at 16."""
    vv = 4 + min(5, restart)
    pre, cap = vv - 2, 4 + restart
    for it in range(min(its, restart)):
        if vv <= it + 3:
            new = min(10, cap - (it + 1) - 2)
            vv, pre = vv + new, pre + new
    return vv + pre


def transients(problem, pc, x_local) -> dict[str, int]:
    """Bytes allocated by numpy above the persistent arrays during one call each."""
    out = {}
    rng = np.random.default_rng(0)
    v = rng.standard_normal(x_local.shape)
    r = rng.standard_normal(problem.n * problem.B)
    calls = {"residual": lambda: problem.rhs(x_local, 0.0, 1.0),
             "action": lambda: problem.rhs_jvp(x_local, v, 0.0, 1.0),
             "pc_build": lambda: pc.pc.update(x_local, pc._shift or 1.0),
             "pc_apply": lambda: pc.apply(r)}
    was_tracing = tracemalloc.is_tracing()
    for name, call in calls.items():
        problem._linearised = None if name == "residual" else problem._linearised
        if not was_tracing:
            tracemalloc.start()
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        call()
        out[name] = tracemalloc.get_traced_memory()[1] - base
        if not was_tracing:
            tracemalloc.stop()
    return out


def collision_share(problem, x_local) -> dict[str, float]:
    """CPU seconds of one residual and of its collision operator alone."""
    y = x_local.reshape(-1, problem.B)
    c0 = time.process_time()
    problem.rhs(x_local, 0.0, 1.0)
    c1 = time.process_time()
    problem.collision_terms(y)
    c2 = time.process_time()
    return {"residual": c1 - c0, "collisions": c2 - c1}


def _watch_peak(obj, names, rise: dict) -> None:
    """Wrap the methods ``names`` of ``obj``: ``rise[name]`` sums the growth of the peak
    resident set (VmHWM) during its calls (where the peak is set)."""
    for name in names:
        call = getattr(obj, name)

        def watched(*a, _call=call, _name=name, **k):
            h0 = _rss_kb("VmHWM")
            try:
                return _call(*a, **k)
            finally:
                up = _rss_kb("VmHWM") - h0
                rise[_name] = rise.get(_name, 0) + up
                if up > 0:  # the call during which the peak last grew
                    rise["last"] = _name

        setattr(obj, name, watched)


def measure(case_path: str, out: str) -> None:
    """Run ``case_path`` serially with the instrumented model; write the JSON record."""
    trace = os.environ.get("FVQP_BENCH_MEMORY_TRACE", "1") != "0"
    heap = _PetscHeap()  # PETSc's malloc accounting: cheap, always on
    import fvqp.api as api
    from fvqp.models.transport.driver import TransportModel

    rss0 = _rss_kb("VmRSS")
    rec = {"checkpoints": {"before build": _checkpoint(heap)}}
    if trace:  # every numpy/Python allocation from here on, with its source line
        tracemalloc.start(12)

    class Instrumented(TransportModel):
        def transient(self, sim, ctx):
            lag = sim.jacobian.preconditioner
            apps = {"max": 0}
            update = lag.update

            def counted(x_local, shift):
                apps["max"] = max(apps["max"], lag._apps)
                out = update(x_local, shift)
                rec["checkpoints"].setdefault("first PC build", _checkpoint(heap))
                return out

            rec["checkpoints"]["built (start of the steps)"] = _checkpoint(heap)

            lag.update = counted
            rec["hwm_rise_kB"] = rise = {}
            _watch_peak(sim.problem, ("rhs", "rhs_jvp", "rates"), rise)
            _watch_peak(lag, ("update", "apply"), rise)
            res = super().transient(sim, ctx)
            rec["checkpoints"]["end of the steps"] = _checkpoint(heap)
            if trace:
                rec["sites"] = _by_site(tracemalloc.take_snapshot())
            apps["max"] = max(apps["max"], lag._apps)
            p = sim.problem
            x = sim.local(sim.x0 if p._linearised is None else p._linearised[0].ravel())
            rec["cells"] = p.n
            rec["N"], rec["M"], rec["B"] = p.N, p.M, p.B
            rec["peak_before_accounting_kB"] = _rss_kb("VmHWM")
            # the lagged PC counts applications weighted by their inner iterations (float)
            rec["rows"] = account(p, lag.pc, int(np.ceil(apps["max"])), 100)
            rec["transients"] = transients(p, lag, x)
            rec["collision_share"] = collision_share(p, x)
            rec["cpu"] = {k: v for k, v in {**p.cpu, **lag.cpu}.items()}
            return res

    opts = os.environ.get("FVQP_BENCH_MEMORY_OPTIONS", "").split()
    if opts:  # as if given on the command line, e.g. "-transport_schur_couplings action"
        from petsc4py import PETSc

        for key, value in zip(opts[::2], opts[1::2], strict=True):
            PETSc.Options()[key.lstrip("-")] = value
        rec["options"] = opts
    case = api.build_case(case_path)
    result = Instrumented().run(case, output_dir=str(Path(out).with_suffix("")))
    rec["summary"] = {k: result.summary[k] for k in (
        "steps", "newton_iterations", "linear_iterations") if k in result.summary}
    rec["rss_before_build_kB"] = rss0
    rec["peak_rss_kB"] = _rss_kb("VmHWM")
    Path(out).write_text(json.dumps(rec))


def print_table(rec: dict, label: str) -> None:
    """The memory and time table of one :func:`measure` record."""
    n = rec["cells"]
    per = lambda b: b / n / 1024  # noqa: E731 -- KB per cell
    opts = " ".join(rec.get("options", []))
    print(f"\n{label} {opts}: {n} cells x {rec['N']} QP bins x {rec['M']} phonon nodes; "
          f"{rec['summary']}")
    print(f"  {'array living through a step':<62s}{'KB/cell':>9s}")
    total = 0
    for name, b in sorted(rec["rows"], key=lambda r: -r[1]):
        total += b
        print(f"  {name:<62s}{per(b):>9.2f}")
    peak = (rec["peak_rss_kB"] - rec["rss_before_build_kB"]) * 1024
    print(f"  {'sum of the entries above':<62s}{per(total):>9.2f}")
    for k, b in rec["transients"].items():
        print(f"  {'transient (numpy) of one ' + k:<62s}{per(b):>9.2f}")
    print(f"  {'peak RSS above the interpreter (after the accounting too)':<62s}"
          f"{per(peak):>9.2f}"
          f"   (peak {rec['peak_rss_kB'] / 1024:.0f} MB, before build "
          f"{rec['rss_before_build_kB'] / 1024:.0f} MB)")
    end = rec.get("checkpoints", {}).get("end of the steps")
    run_peak = (end["hwm"] - rec["rss_before_build_kB"]) * 1024 if end else peak
    print(f"  {'peak RSS of the run (before the accounting)':<62s}{per(run_peak):>9.2f}")
    print(f"  {'not in the rows (PETSc heap, slack; itemised below)':<62s}"
          f"{per(run_peak - total - max(rec['transients'].values())):>9.2f}")
    rise = rec.get("hwm_rise_kB", {})
    last = rise.pop("last", "-")
    print("  growth of the peak RSS during calls of (KB/cell): " + ", ".join(
        f"{k} {v / n:.1f}" for k, v in rise.items()) + f" (last growth: {last}); total "
        f"growth during the run "
        f"{(rec['peak_before_accounting_kB'] - rec['rss_before_build_kB']) / n:.1f}")
    cpu = rec["cpu"]
    traced = " (tracemalloc on: inflated; FVQP_BENCH_MEMORY_TRACE=0 for times)" if (
        "sites" in rec) else ""
    print(f"  CPU per call{traced}: " + ", ".join(
        f"{k} {v[1] / max(v[0], 1):.3f} s x {v[0]}" for k, v in cpu.items()))
    cs = rec["collision_share"]
    print(f"  collision operator (FFTs) in one residual: {cs['collisions']:.3f} of "
          f"{cs['residual']:.3f} CPU s")
    print_peak(rec)


def print_peak(rec: dict) -> None:
    """The whole peak itemised (issue 18 item 1): resident set, traced numpy/Python heap
    and PETSc's heap at the checkpoints, the live allocations by source line at the end,
    and the peak as traced peak + PETSc peak + the rest (KB per cell)."""
    n = rec["cells"]
    points = rec["checkpoints"]
    base = points["before build"]
    print(f"  {'checkpoint (KB/cell above before build)':<42s}{'RSS':>8s}{'RSS peak':>9s}"
          f"{'numpy':>8s}{'np peak':>8s}{'PETSc':>8s}{'PE peak':>8s}")
    for name, c in points.items():
        print(f"  {name:<42s}" + "".join(
            f"{(c[k] - base[k]) / n:>{w}.1f}" for k, w in (
                ("rss", 8), ("hwm", 9), ("traced", 8), ("traced_peak", 8), ("petsc", 8),
                ("petsc_peak", 8))))
    print(f"  {'live numpy/Python allocations at the end, by source line':<62s}"
          f"{'KB/cell':>9s}")
    for site, b in rec.get("sites", [("(FVQP_BENCH_MEMORY_TRACE=0: not traced)", 0)]):
        print(f"    {site:<76s}{b / n / 1024:>9.2f}")
    end = points["end of the steps"]
    # the run's own peak: the accounting after the run (transients: another PC build,
    # tracemalloc's snapshot) may raise VmHWM further
    peak = (end["hwm"] - base["rss"]) / n
    traced = (end["traced_peak"] - base["traced"]) / n
    petsc = (end["petsc_peak"] - base["petsc"]) / n
    vec = rec["B"] * 8 / 1024
    print(f"  PETSc heap at the end {(end['petsc'] - base['petsc']) / n:.1f} KB/cell = "
          f"{(end['petsc'] - base['petsc']) / n / vec:.1f} state-length vectors "
          f"({vec:.2f} KB/cell each: the outer GMRES basis, SNES/BDF work vectors)")
    if "cpu_ms" in end:
        cpu = (end["cpu_ms"] - base["cpu_ms"]) / 1000 / rec["summary"].get("steps", 1)
        print(f"  CPU of the run (build + steps) per step: {cpu:.2f} s ({cpu / n * 1e3:.3f} "
              f"ms per cell and step)")
    if "sites" not in rec:
        return
    tracer = (end["tracer"] - base["tracer"]) / n
    print(f"  peak of the run (VmHWM at its end) {peak:.1f} KB/cell = numpy/Python traced "
          f"peak {traced:.1f} + PETSc heap peak {petsc:.1f} + tracemalloc's own "
          f"{tracer:.1f} + rest {peak - traced - petsc - tracer:.1f} (libraries loaded "
          f"during the build, allocator slack, C allocations outside numpy and PETSc, "
          f"untouched pages; the peaks need not coincide)")


def print_ratios(new: dict, old: dict) -> None:
    """Compared path / default path in the same run: peak memory per cell, CPU per call
    of residual, action, PC build and application, and the Newton and Krylov counts."""
    peak = {k: (r["peak_rss_kB"] - r["rss_before_build_kB"]) / r["cells"]
            for k, r in (("new", new), ("old", old))}
    per = {k: {c: v[1] / max(v[0], 1) for c, v in r["cpu"].items()}
           for k, r in (("new", new), ("old", old))}
    print(f"  compared / default: peak {peak['old']:.1f} / {peak['new']:.1f} KB per cell = "
          f"{peak['old'] / peak['new']:.2f}; CPU per call " + ", ".join(
              f"{c} {per['old'][c] / per['new'][c]:.2f}" for c in per["new"]
              if per["new"][c] > 0 and c in per["old"])
          + f"; counts default {new['summary']}, compared {old['summary']}")


if __name__ == "__main__":
    measure(sys.argv[1], sys.argv[2])

"""Benchmark: the cost of the collision evaluation in the collisional ``bte`` (issue 16).

Runs variants of the collisional cases in one process, each twice — ``before``: the Jacobian
action by a complex step through the whole collision rows at every Krylov iteration
(``InelasticProblem.jvp_mode = "complex_step"``), the rates evaluated anew by the
residual, the preconditioner's update and every action, the preconditioner's 0D blocks
from the full dense Jacobian also with bath phonons and inverted as dense (N + M)^2
matrices with local phonons; ``after``: the present code (the action by the product rule
in real FFTs at a linearisation cached per Newton iterate,
:class:`fvqp.models.bte.collision_action.Linearisation`; rates shared; the QP block alone with
bath phonons; with local phonons the per-cell blocks through the Schur complement of their
diagonal phonon block, ``InelasticPC._cell_schur``) — and prints per run the time split
(inclusive seconds; the parts nest:
``rates`` is inside ``residual``, ``PC build`` and the actions; ``collision action`` inside
``SNES action`` and ``PC apply``): the BDF steps, the residual, the collision rates, the
Jacobian actions of the Krylov solver (``SNES action``) and of the preconditioner, the
collision part of all actions, the preconditioner build and its 0D blocks, the
preconditioner apply, its fine solves (LU or sweeps) and coarse solves, the streaming
products ``L @ x``; Newton and Krylov counts; the speed-up of each part and of the
steps; the cost per call and unknown of the collision action, the rates and the 0D blocks
(how it grows with cells and bins across the variants); and the largest difference of
the final states (every unknown, relative to the largest) between the two runs.

Variants (``--quick``: the first two):

* ``film``: ``cases/bte_film_relaxation.toml`` (75 cells, 26 bins, 8 ordinates, local
  phonons, sparse LU), 10 BDF2 steps of 20 ps;
* ``film-bins``: the same with 45 -> 22.5 ueV bins (52 bins);
* ``film-fine``: the fine film mesh ``meshes/bte_film/bte_film_fine.msh``;
* ``absorber``: ``cases/bte_absorber3d.toml`` with transport sweeps (520 cells, 18 bins,
  8 ordinates, bath phonons), 10 steps of 0.1 ns (the burst at 0.6-0.7 ns).

Usage::

    OMP_NUM_THREADS=1 python benchmarks/bte_collisions.py [--quick] [--only NAME ...]

The figures in the docs were taken on the shared 2-core machine under load (other runs
in parallel): ratios within one run are meaningful, absolute seconds only roughly.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import re
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from fvqp.api import run_case
from fvqp.collisions.batched import batched_jacobian
from fvqp.models.bte import inelastic, inelastic_pc
from fvqp.solvers import bdf

ROOT = Path(__file__).resolve().parents[1]

#: name -> (case file, text replacements)
VARIANTS = {
    "film": ("bte_film_relaxation.toml", {'end = "1 ns"': 'end = "0.2 ns"'}),
    "film-bins": ("bte_film_relaxation.toml", {'end = "1 ns"': 'end = "0.2 ns"',
                                               'spacing = "45 ueV"': 'spacing = "22.5 ueV"'}),
    "film-fine": ("bte_film_relaxation.toml", {'end = "1 ns"': 'end = "0.2 ns"',
                                               "bte_film_coarse.msh": "bte_film_fine.msh"}),
    # the case's own preconditioner: sweeps (its [numerics] since 2026-11-25)
    "absorber": ("bte_absorber3d.toml", {'end = "2.5 ns"': 'end = "1.0 ns"'}),
}

#: timed parts: label -> (owner, attribute)
PARTS = {
    "steps": (bdf.BDFIntegrator, "step"),
    "residual": (inelastic.InelasticProblem, "rhs"),
    "rates": (inelastic.InelasticProblem, "collision_rates"),
    "SNES action": (inelastic.InelasticProblem, "rhs_jvp"),
    "collision action": (inelastic.InelasticProblem, "collision_jvp"),
    "PC build": (inelastic_pc.InelasticPC, "update"),
    "PC 0D blocks": (inelastic_pc.InelasticPC, "_coarse"),
    "PC apply": (inelastic_pc.InelasticPC, "apply"),
    "PC fine solves": (inelastic_pc.InelasticPC, "_solve"),
}


class _Clock:
    def __init__(self):
        self.sec, self.calls = {}, {}
        self.state = None   # the integrator's state after the last step

    def add(self, label: str, dt: float) -> None:
        self.sec[label] = self.sec.get(label, 0.0) + dt
        self.calls[label] = self.calls.get(label, 0) + 1


def _timed(fn, label: str, clock: _Clock, now=time.perf_counter):
    """``fn`` with its calls and seconds (``now``: wall, or ``time.process_time`` for
    CPU seconds) added to ``clock`` under ``label``."""
    @functools.wraps(fn)
    def wrapper(*a, **kw):
        t0 = now()
        try:
            return fn(*a, **kw)
        finally:
            clock.add(label, now() - t0)
    return wrapper


class _TimedProducts:
    """Mixin: a sparse matrix whose products are timed (the streaming ``L @ x``)."""

    clock: _Clock | None = None

    def __matmul__(self, other):
        t0 = time.perf_counter()
        out = super().__matmul__(other)
        if self.clock is not None:
            self.clock.add("streaming L@x", time.perf_counter() - t0)
        return out


class _TimedCSR(_TimedProducts, sp.csr_matrix):
    pass


class _TimedCSC(_TimedProducts, sp.csc_matrix):
    pass


@contextlib.contextmanager
def _patched(clock: _Clock, before: bool):
    """Timers on the parts; ``before``: the former evaluation (module docstring)."""
    saved = []

    def setattr_(owner, name, value):
        saved.append((owner, name, owner.__dict__.get(name, _MISSING)))
        setattr(owner, name, value)

    prob = inelastic.InelasticProblem
    for label, (owner, name) in PARTS.items():
        setattr_(owner, name, _timed(getattr(owner, name), label, clock))
    build = prob._build

    def timed_build(self):
        build(self)
        a, b = _TimedCSR(self.L), _TimedCSC(self.L_oo)
        a.clock = b.clock = clock
        self.L, self.L_oo = a, b

    setattr_(prob, "_build", timed_build)
    step = bdf.BDFIntegrator.step

    def step_and_keep(self, *a, **kw):
        out = step(self, *a, **kw)
        clock.state = np.array(self.history[0][1], copy=True)
        return out

    setattr_(bdf.BDFIntegrator, "step", step_and_keep)
    if before:
        setattr_(prob, "jvp_mode", "complex_step")
        setattr_(prob, "rates_at", lambda self, y: self.collision_rates(y))

        def full_block(f, n, rho, ados, *, h, m, qp_scale=1.0):
            return batched_jacobian(f, n, rho, ados, h=h, m=m,
                                    qp_scale=qp_scale)[:, : f.shape[1], : f.shape[1]]
        setattr_(inelastic_pc, "qp_block", full_block)
        setattr_(inelastic_pc.InelasticPC, "_cell_schur", lambda self, *a: False)
    try:
        yield
    finally:
        for owner, name, old in reversed(saved):
            if old is _MISSING:
                delattr(owner, name)
            else:
                setattr(owner, name, old)


_MISSING = object()


def _case(name: str, tmp: Path) -> Path:
    fname, edits = VARIANTS[name]
    text = (ROOT / "cases" / fname).read_text()
    text = text.replace('"../', f'"{ROOT}/')
    for old, new in edits.items():
        assert old in text, (name, old)
        text = text.replace(old, new, 1)
    text = re.sub(r"(?m)^every = \d+", "every = 1000\nfigures = false", text)
    path = tmp / f"{name}.toml"
    path.write_text(text)
    return path


def run_variant(name: str, tmp: Path, before: bool) -> dict:
    clock = _Clock()
    out = tmp / f"{name}_{'before' if before else 'after'}"
    with _patched(clock, before):
        t0 = time.perf_counter()
        s = run_case(str(_case(name, tmp)), output_dir=str(out), overwrite=True)
        wall = time.perf_counter() - t0
    assert s["status"] == 0, s["message"]
    return {"clock": clock, "wall": wall, "summary": s, "state": clock.state,
            "pc": dict(s.get("preconditioner_seconds") or {})}


def _state_difference(a: np.ndarray, b: np.ndarray) -> float:
    """Largest difference of the final states relative to the largest unknown."""
    return float(np.abs(a - b).max() / np.abs(b).max())


def report(name: str, runs: dict) -> None:
    b, a = runs["before"], runs["after"]
    s = a["summary"]
    print(f"\n## {name}: {s['n_cells']} cells x {s['energy_bins']} bins x {s['ordinates']} "
          f"ordinates, phonons {s['phonons']}, fine PC {s.get('fine_preconditioner')}; "
          f"{s['coupled_unknowns']} unknowns, {s['steps']} steps")
    for r, tag in ((b, "before"), (a, "after")):
        sm = r["summary"]
        print(f"  {tag:6s}: Newton {sm['newton_iterations']}, Krylov {sm['linear_iterations']}"
              f", PC updates {sm['preconditioner_updates']}")
    print(f"  {'part':18s} {'before s':>9s} {'after s':>9s} {'speed-up':>8s}  calls a/b")
    labels = list(PARTS) + ["streaming L@x"]
    for lab in labels:
        tb, ta = b["clock"].sec.get(lab, 0.0), a["clock"].sec.get(lab, 0.0)
        cb, ca = b["clock"].calls.get(lab, 0), a["clock"].calls.get(lab, 0)
        sp_ = f"{tb / ta:8.2f}" if ta > 0 else "       -"
        print(f"  {lab:18s} {tb:9.3f} {ta:9.3f} {sp_}  {ca}/{cb}")
    for key in ("fine", "coarse"):
        if key in a["pc"]:
            print(f"  {'PC ' + key + ' (summary)':18s} {b['pc'].get(key, 0):9.3f} "
                  f"{a['pc'][key]:9.3f}")
    nb, na = b["summary"]["newton_iterations"], a["summary"]["newton_iterations"]
    kb, ka = b["summary"]["linear_iterations"], a["summary"]["linear_iterations"]
    for r, tag, nn, kk in ((b, "before", nb, kb), (a, "after", na, ka)):
        c = r["clock"].sec
        per_n = c.get("PC build", 0) / max(nn, 1)
        per_k = (c.get("SNES action", 0) + c.get("PC apply", 0)) / max(kk, 1)
        print(f"  {tag}: per Newton (PC build) {per_n * 1e3:.1f} ms, per Krylov (action + "
              f"PC apply) {per_k * 1e3:.1f} ms; steps {c['steps']:.2f} s "
              f"({c['steps'] / r['summary']['steps']:.3f} s/step)")
    nu = s["coupled_unknowns"]
    for lab in ("collision action", "rates", "PC 0D blocks"):
        per = [r["clock"].sec.get(lab, 0.0) / max(r["clock"].calls.get(lab, 0), 1) / nu
               for r in (b, a)]
        print(f"  {lab} per call and unknown: {per[0] * 1e9:.0f} -> {per[1] * 1e9:.0f} ns")
    print(f"  whole steps speed-up: {b['clock'].sec['steps'] / a['clock'].sec['steps']:.2f}x;"
          f" final state max difference after/before (of max |x|): "
          f"{_state_difference(a['state'], b['state']):.2e}; N_qp {a['summary']['N_qp']:.12e}"
          f" / {b['summary']['N_qp']:.12e}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="the first two variants")
    ap.add_argument("--only", nargs="*", choices=list(VARIANTS))
    args = ap.parse_args()
    names = args.only or (list(VARIANTS)[:2] if args.quick else list(VARIANTS))
    print(f"bte collision evaluation: before/after (load {os.getloadavg()[0]:.1f})")
    with tempfile.TemporaryDirectory() as d:
        for name in names:
            runs = {tag: run_variant(name, Path(d), tag == "before")
                    for tag in ("before", "after")}
            report(name, runs)


if __name__ == "__main__":
    main()

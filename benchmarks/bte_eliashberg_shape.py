"""Every cell's Eliashberg spectrum in the bte kinetics: what it costs against the
Eliashberg gap edge alone (fvqp/models/bte/cellspectra.py, issue 16 §2).

The pulse case ``cases/bte_selfgap_eliashberg.toml`` (Al at 0.3 Tc, inelastic collisions,
local phonons, a QP pulse; ``--cells`` 2 or 8 per side of the square — the pulse is
uniform, so one cell solves and the others reuse its solution, while the tables are
built for every cell —, ``--spacing`` the bin width) is stepped ``--steps`` times of
0.25 ns with the pulse moved to the first step, twice in this process: with the edge
alone (the reference) and with every cell's
spectrum (``[spectrum] kind = "eliashberg"``). Printed per run: wall time per step and
its split — kinetic solve, Eliashberg solves (``CellGaps.edge``), spectra tables
(``EliashbergGaps.spectra``), the remaps and the rest of the gap update —, Eliashberg
solves and sweeps, Newton and Krylov iterations, the QP number and the lowest gap at the
end, and the memory the kept solutions take per cell; then the ratios spectrum / edge.
How the cost grows: the tables are one ``on_grid`` per cell and update (linear in the
changed cells and bins); the solves dominate and are the same number in both runs.

Usage::

    python benchmarks/bte_eliashberg_shape.py [--steps 4] [--cells 2] [--spacing 10]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from conftest import case_variant  # noqa: E402
from fvqp.case import load_case  # noqa: E402
from fvqp.eliashberg.cellgap import CellGaps  # noqa: E402
from fvqp.models.bte import eliashberg_gaps  # noqa: E402
from fvqp.models.bte.driver import BTESimulation  # noqa: E402
from fvqp.models.bte.gapcollide import WithCollisions  # noqa: E402
from fvqp.spectra import fermi  # noqa: E402


class Clock:
    """Accumulated wall time of wrapped functions, by name."""

    def __init__(self):
        self.t: dict[str, float] = {}

    def wrap(self, owner, name: str, label: str):
        real = getattr(owner, name)

        def timed(*a, **k):
            t0 = time.perf_counter()
            try:
                return real(*a, **k)
            finally:
                self.t[label] = self.t.get(label, 0.0) + time.perf_counter() - t0

        setattr(owner, name, timed)
        return real


def run(shape: bool, steps: int, cells: int, spacing: float, tmp: Path) -> dict:
    d = tmp / ("shape" if shape else "edge")
    d.mkdir()
    repl = {'spacing = "10 ueV"': f'spacing = "{spacing:g} ueV"',
            'time = "3 ns"': 'time = "0.25 ns"'}
    if cells != 2:
        repl['square_2.msh"'] = f'square_{cells}.msh"'
    if shape:
        repl["[energy]"] = '[spectrum]\nkind = "eliashberg"\n\n[energy]'
    sim = BTESimulation(load_case(case_variant("bte_selfgap_eliashberg.toml", d, **repl)))
    clock = Clock()
    saved = [(CellGaps, "edge", clock.wrap(CellGaps, "edge", "eliashberg solves")),
             (eliashberg_gaps.EliashbergGaps, "spectra",
              clock.wrap(eliashberg_gaps.EliashbergGaps, "spectra", "spectra tables"))]
    try:
        st = WithCollisions(sim)
        t0 = time.perf_counter()
        st.start(fermi(sim.grid.e, sim.T_bath))
        t_start = time.perf_counter() - t0
        dt = sim.units.to_internal(0.25e-9, "time")
        clock.t.clear()
        t_kin = t_gap = 0.0
        c0 = st.model.counters()
        for k in range(steps):
            t0 = time.perf_counter()
            ok, _, _ = st.step(k * dt, dt)
            t1 = time.perf_counter()
            up = st.update()
            t_gap += time.perf_counter() - t1
            t_kin += t1 - t0
            if not (ok and up.converged):
                raise RuntimeError(f"step {k + 1} failed")
    finally:
        for owner, name, real in saved:
            setattr(owner, name, real)
    c = st.model.counters()
    sol = next(iter(st.model.solvers.values()))[0].solution(0)
    kept = 0 if sol is None else sum(np.asarray(getattr(sol, a)).nbytes
                                     for a in ("e", "z", "phi", "ez", "rho_cell", "ados_cell"))
    return {"start_s": t_start, "kinetic_s": t_kin, "gap_update_s": t_gap,
            "solves_s": clock.t.get("eliashberg solves", 0.0),
            "tables_s": clock.t.get("spectra tables", 0.0),
            "solves": c["eliashberg_solves"] - c0["eliashberg_solves"],
            "sweeps": c["eliashberg_sweeps"] - c0["eliashberg_sweeps"],
            "newton": st.newton, "linear": st.linear, "N_qp": st.number(),
            "gap_min": float(st.gaps().min()), "cells": sim.dist.local.n_owned,
            "kept_bytes_per_cell": kept}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--cells", type=int, default=2, choices=(2, 8))
    ap.add_argument("--spacing", type=float, default=10.0, help="bin width [ueV]")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        res = {s: run(s, a.steps, a.cells, a.spacing, Path(tmp)) for s in (False, True)}
    print(f"pulse case, {res[False]['cells']} cells, {a.spacing:g} ueV bins, "
          f"{a.steps} steps of 0.25 ns (one process)")
    print(f"{'':12}{'start':>8}{'kinetic':>9}{'gap upd':>9}{' solves':>9}{'tables':>9}"
          f"{'/step':>8}{'solves':>8}{'sweeps':>8}{'Newton':>8}{'Krylov':>8}{'N_qp':>14}"
          f"{'gap min':>10}")
    for s, r in res.items():
        per = (r["kinetic_s"] + r["gap_update_s"]) / a.steps
        print(f"{'spectrum' if s else 'edge':12}{r['start_s']:8.2f}{r['kinetic_s']:9.2f}"
              f"{r['gap_update_s']:9.2f}{r['solves_s']:9.2f}{r['tables_s']:9.3f}"
              f"{per:8.2f}{r['solves']:8d}{r['sweeps']:8d}{r['newton']:8d}{r['linear']:8d}"
              f"{r['N_qp']:14.6e}{r['gap_min']:10.6f}")
    e, s = res[False], res[True]
    step = (s["kinetic_s"] + s["gap_update_s"]) / (e["kinetic_s"] + e["gap_update_s"])
    print(f"ratios spectrum/edge: time per step {step:.3f}, gap update "
          f"{s['gap_update_s'] / e['gap_update_s']:.3f}, tables / solves "
          f"{s['tables_s'] / max(s['solves_s'], 1e-12):.4f}; QP number "
          f"{s['N_qp'] / e['N_qp'] - 1:+.2e}, lowest gap {s['gap_min'] / e['gap_min'] - 1:+.2e}")
    print(f"kept Eliashberg solution per cell: {s['kept_bytes_per_cell'] / 2**20:.2f} MiB")


if __name__ == "__main__":
    main()

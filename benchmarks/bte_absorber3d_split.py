"""Benchmark: where a step of the collisional bte absorber with transport sweeps goes.

Runs the absorber case (``cases/bte_absorber3d.toml`` through
``benchmarks/bte_absorber3d.py``'s ``case_text``: collisions, bath phonons, fixed BDF2
steps of 0.1 ns through the burst, ``[numerics]`` fine preconditioner ``sweep``) in this
process with timers on the parts of a step and prints, per part, calls and **CPU
seconds** (``time.process_time``: meaningful on the shared, loaded machine where wall
times are inflated several-fold) in total and per step:

* ``steps``: the BDF steps (everything below nests inside);
* ``residual``, ``SNES action``: the Newton residuals and the Krylov operator's Jacobian
  actions;
* ``PC build`` (``InelasticPC.update``) and inside it the ``sweep factorisation``
  (``OrderedILU.factor``, in place on the kept pattern since 2026-11-23) and the ``coarse
  build`` (``InelasticPC._coarse``: the 0D blocks, ``GlobalCoarse.update``: the coarse
  operator's assembly and ``CoarseCorrection.set_matrix``: its PETSc matrix and
  factorisation);
* ``PC apply`` and inside it the ``sweeps`` (``InelasticPC._solve``), the ``coarse solve``
  (``_global_correction``) and the ``PC actions`` (``_jz``: the residuals of the
  multiplicative cycle);

and Newton and Krylov counts, preconditioner builds and the coarse GMRES iterations per
coarse solve. Usage::

    OMP_NUM_THREADS=1 python benchmarks/bte_absorber3d_split.py [--mesh coarse|finer]
        [--steps 8] [--azimuth 4] [--lag step|none|run]

``--mesh finer``: the 3 360-cell variant generated with gmsh (as the ``sweep`` section of
``bte_absorber3d.py``); ``--lag none`` builds the preconditioner at every Newton iteration
(the behaviour before ``pc_lag``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bte_absorber3d import FINER_MESH, ROOT, case_text, gmsh_mesh  # noqa: E402
from bte_collisions import _Clock, _timed  # noqa: E402

from fvqp.api import run_case  # noqa: E402
from fvqp.models.bte import coupled_coarse, inelastic, inelastic_pc  # noqa: E402
from fvqp.solvers import bdf, sweep, twolevel  # noqa: E402

#: label -> (owner, attribute); indentation shows the nesting
PARTS = {
    "steps": (bdf.BDFIntegrator, "step"),
    "  residual": (inelastic.InelasticProblem, "rhs"),
    "  SNES action": (inelastic.InelasticProblem, "rhs_jvp"),
    "  PC build": (inelastic_pc.InelasticPC, "update"),
    "    sweep factorisation": (sweep.OrderedILU, "factor"),
    "    coarse build": (inelastic_pc.InelasticPC, "_coarse"),
    "      coarse assembly": (coupled_coarse.GlobalCoarse, "update"),
    "        coarse matrix + factor": (twolevel.CoarseCorrection, "set_matrix"),
    "  PC apply": (inelastic_pc.InelasticPC, "apply"),
    "    sweeps": (inelastic_pc.InelasticPC, "_solve"),
    "    coarse solve": (inelastic_pc.InelasticPC, "_global_correction"),
    "    PC actions": (inelastic_pc.InelasticPC, "_jz"),
}


@contextlib.contextmanager
def _timers(clock: _Clock, coarse_its: list):
    """CPU timers on :data:`PARTS` and the coarse GMRES iterations of every coarse
    solve."""
    saved = [(owner, name, owner.__dict__[name]) for owner, name in PARTS.values()]
    for label, (owner, name) in PARTS.items():
        setattr(owner, name, _timed(getattr(owner, name), label, clock,
                                    now=time.process_time))
    corr = coupled_coarse.GlobalCoarse.correction

    def counted(self, r):
        out = corr(self, r)
        coarse_its.append(self.level.solver.ksp.getIterationNumber())
        return out

    coupled_coarse.GlobalCoarse.correction = counted
    try:
        yield
    finally:
        coupled_coarse.GlobalCoarse.correction = corr
        for owner, name, old in reversed(saved):
            setattr(owner, name, old)


def run_split(mesh: Path, steps: int, azimuth: int, lag: str, work: Path) -> dict:
    """One in-process run (module docstring); its summary, clock and coarse counts."""
    text = case_text(mesh, 16, 2, azimuth, steps=steps, fine="sweep",
                     petsc={"pc_lag": lag})
    text = re.sub(r"(?m)^every = \d+", "every = 1000\nfigures = false", text)
    case = work / "bte_absorber3d.toml"
    case.write_text(text)
    clock, its = _Clock(), []
    with _timers(clock, its):
        s = run_case(str(case), output_dir=str(work / "out"), overwrite=True)
    assert s["status"] == 0, s["message"]
    return {"summary": s, "clock": clock, "coarse_its": its}


def report(r: dict) -> None:
    s, c = r["summary"], r["clock"]
    n, steps = s["coupled_unknowns"], s["steps"]
    print(f"{s['n_cells']} cells x {s['energy_bins']} bins x {s['ordinates']} ordinates = "
          f"{n} unknowns, {steps} steps, pc_lag {s['preconditioner_lag']}: Newton "
          f"{s['newton_iterations']}, Krylov {s['linear_iterations']} "
          f"({s['linear_iterations'] / s['newton_iterations']:.2f} per Newton), PC builds "
          f"{s['preconditioner_updates']}, coarse GMRES per solve "
          f"{np.mean(r['coarse_its']):.2f}; N_qp {s['N_qp']:.12e}")
    total = c.sec["steps"]
    print(f"  {'part':32s} {'calls':>6s} {'CPU s':>8s} {'s/step':>8s} {'share':>6s}")
    for label in PARTS:
        sec = c.sec.get(label, 0.0)
        print(f"  {label:32s} {c.calls.get(label, 0):6d} {sec:8.3f} {sec / steps:8.3f} "
              f"{sec / total:6.1%}")
    print(f"  unknown-updates per CPU second: {n * steps / total:.3g}; peak RSS "
          f"{s['peak_rss_MB_per_rank']:.0f} MB ({s['peak_rss_MB_per_rank'] * 2**20 / n:.0f} "
          f"B/unknown)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mesh", choices=("coarse", "finer"), default="coarse")
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--azimuth", type=int, default=4)
    ap.add_argument("--lag", choices=("step", "none", "run"), default="step")
    args = ap.parse_args()
    print(f"bte absorber step split (CPU seconds; load {os.getloadavg()[0]:.1f})")
    with tempfile.TemporaryDirectory(prefix="bte_split_") as d:
        mesh = (ROOT / "meshes" / "absorber3d" / "absorber3d_coarse.msh"
                if args.mesh == "coarse" else gmsh_mesh(FINER_MESH, Path(d) / "h2p5.msh"))
        report(run_split(mesh, args.steps, args.azimuth, args.lag, Path(d)))


if __name__ == "__main__":
    main()

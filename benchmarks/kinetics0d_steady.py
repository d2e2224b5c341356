"""Steady state of the 0D kinetics at N ~ 1000 energy points: Newton vs time relaxation.

Al-like film at T = 0.3 Tc with phonon escape and a photon drive above 2 Delta. Newton
(PETSc SNES, exact dense Jacobian, LU) is compared with the time-relaxation scheme of the
notes (Eqs. 46-51, first order) run from the same start until it reaches the *same*
residual norm as Newton, with a scalar mu (the notes; dt = 10/mu) and with the per-unknown
mu (``mu="local"``, large dt). Everything is measured in this process: a run that hits
the wall-time cap ``--wall`` prints the residual and time it reached, and its ratio is a
measured lower bound (nothing is extrapolated).

Second part (``--part start``, issue 18): the start of the steady-state Newton iteration
on the weak-drive Al case through the case-file path of ``fvqp run`` -- a 50 nm film at
80 mK (0.067 Tc), phonon escape 12 ns (~50 tau_pb), 2e-3 W/m^3 of 850 ueV (5 Delta)
photons, grid spacing ``--spacing``. Before: the former default start, the bath (given as
``[initial]`` temperatures = the bath, which is exactly that start); after: the default
quasi-thermal start. Printed: wall time, the time split (estimate, first Newton run, TS
fallback), Newton iterations, whether the TS fallback ran, and the largest relative
difference of the two states.

Run: ``python benchmarks/kinetics0d_steady.py [--part all|relaxation|start] [--n 1000]
[--wall 300] [--spacing "2 ueV"]``
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from fvqp.collisions import CollisionParams, EnergyGrid, bcs_gap
from fvqp.models.kinetics0d import Kinetics0D, PhotonDrive, relax, steady_state
from fvqp.solvers import ConvergenceError

log = logging.getLogger("kinetics0d_steady")


def _relax_to(model: Kinetics0D, y0: np.ndarray, target: float, dt: float, mu: str,
              wall: float) -> tuple[float, object, bool]:
    t0 = time.perf_counter()
    try:
        _, rr = relax(model, y0, dt, order=1, mu=mu, residual_tol=target,
                      max_steps=100_000_000, max_wall=wall)
        reached = True
    except ConvergenceError as exc:
        rr, reached = exc.result, False
    return time.perf_counter() - t0, rr, reached


#: the shipped weak-drive case, its grid spacing, start and output set per run
WEAK_CASE = (Path(__file__).resolve().parents[1] / "cases" / "kinetics0d_al_weak_drive.toml"
             ).read_text()


def _weak_case(spacing: str, initial: str, out: str) -> str:
    text = WEAK_CASE.split("[output]")[0].replace('spacing = "4 ueV"', f'spacing = "{spacing}"')
    return text.replace("[time]", initial + "[time]") + f'[output]\ndirectory = "{out}"\n'


def start_comparison(spacing: str) -> None:
    """Bath start (before) vs quasi-thermal start (after) through ``fvqp.run_case``."""
    import h5py

    import fvqp

    states = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, initial in (("before (bath start)", '[initial]\nqp_temperature = "80 mK"\n'
                                'phonon_temperature = "80 mK"\n'),
                               ("after (quasi-thermal start)", "")):
            out = os.path.join(tmp, label.split()[0])
            path = os.path.join(tmp, label.split()[0] + ".toml")
            with open(path, "w") as fh:
                fh.write(_weak_case(spacing, initial, out))
            t0 = time.perf_counter()
            s = fvqp.run_case(path, output_dir=out)
            wall = time.perf_counter() - t0
            st = s["start"]
            first = st["newton_from_start"]
            with h5py.File(os.path.join(out, "kinetics0d.h5")) as fh:
                states[label] = np.concatenate((fh["state/f"][:], fh["state/n"][:]))
                n_cells = int(fh.attrs["n_qp_cells"])
            log.info("%s: N = %d QP cells; wall %.2f s (run_case), status %d; Newton "
                     "iterations %d; TS fallback %s; split: estimate %.2f s, first Newton "
                     "%.2f s (%d its, %s), TS %.2f s; T* = %s Tc, mu* = %s kTc", label,
                     n_cells, wall, s["status"], s["newton_iterations"],
                     "RAN" if st["path"] == "ts+newton" else "no", st.get("guess_time_s", 0.0),
                     first["time_s"], first["iterations"], first["reason"],
                     st.get("ts_time_s", 0.0), st.get("t_qp_over_Tc", "-"),
                     st.get("mu_over_kTc", "-"))
    a, b = states.values()
    log.info("largest relative difference of the two steady states (floor 1e-12): %.2e",
             float(np.max(np.abs(a - b) / np.maximum(np.abs(a), 1e-12))))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000, help="approximate number of QP cells")
    ap.add_argument("--t", type=float, default=0.3, help="bath temperature / Tc")
    ap.add_argument("--wall", type=float, default=300.0,
                    help="wall-time cap per relaxation run (s)")
    ap.add_argument("--dt-local", type=float, default=1.0,
                    help="time step of the local-mu run (tau0)")
    ap.add_argument("--part", choices=("all", "relaxation", "start"), default="all",
                    help="Newton vs relaxation, the start comparison (issue 18), or both")
    ap.add_argument("--spacing", default="2 ueV",
                    help="grid spacing of the weak-drive case (--part start)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.part in ("all", "start"):
        start_comparison(args.spacing)
    if args.part == "start":
        return

    delta = bcs_gap(args.t)
    span = 6.0
    grid = EnergyGrid.build(delta, span / args.n, delta + span)
    params = CollisionParams.from_times(438 / 0.26, 1.764)
    model = Kinetics0D(grid, params, args.t, tau_esc=0.01, tilt=0.5 / args.t,
                       drives=[PhotonDrive(photon_energy=4.2, power=2e-4)])
    log.info("grid: %d QP cells, %d phonon nodes (h = %.4g kTc)", grid.n, grid.n_ph, grid.h)
    y0 = model.equilibrium()

    t0 = time.perf_counter()
    y_n, res = steady_state(model, y0, t_guess=None)
    t_newton = time.perf_counter() - t0
    target = res.residual_norm  # the same residual norm as Newton's
    log.info("Newton: %s, %d iterations, |F| = %.3e, %.2f s; relaxation target |F| <= "
             "%.3e (from |F| = %.3e at the start)", res.message, res.iterations,
             res.residual_norm, t_newton, target, np.linalg.norm(model.rhs(y0)))

    _, loss = model.terms(y0)
    mu = float(np.max(loss / np.maximum(y0, 1e-300)))
    runs = (("global", 10.0 / mu, f"global mu = {mu:.3g}/tau0, dt = 10/mu"),
            ("local", args.dt_local, f"local mu, dt = {args.dt_local:g} tau0"))
    for kind, dt, label in runs:
        wall, rr, reached = _relax_to(model, y0, target, dt, kind, args.wall)
        log.info("time relaxation (order 1, %s): %d steps, |F| = %.3e, %.2f s%s", label,
                 rr.steps, rr.residual_norm, wall,
                 "" if reached else f" -- target NOT reached within the {args.wall:g} s cap")
        log.info("  wall-time ratio relaxation / Newton: %s%.1f (measured)",
                 "" if reached else ">= ", wall / t_newton)


if __name__ == "__main__":
    main()

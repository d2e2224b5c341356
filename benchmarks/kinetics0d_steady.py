"""Steady state of the 0D kinetics at N ~ 1000 energy points: Newton vs time relaxation.

Al-like film at T = 0.3 Tc with phonon escape and a photon drive above 2 Delta. Newton
(PETSc SNES, exact dense Jacobian, LU) is compared with the time-relaxation scheme of the
notes (Eqs. 46-51, first order) run from the same start until it reaches the *same*
residual norm as Newton, with a scalar mu (the notes; dt = 10/mu) and with the per-unknown
mu (``mu="local"``, large dt). Everything is measured in this process: a run that hits
the wall-time cap ``--wall`` prints the residual and time it reached, and its ratio is a
measured lower bound (nothing is extrapolated).

Run: ``python benchmarks/kinetics0d_steady.py [--n 1000] [--wall 300]``
"""

from __future__ import annotations

import argparse
import logging
import time

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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000, help="approximate number of QP cells")
    ap.add_argument("--t", type=float, default=0.3, help="bath temperature / Tc")
    ap.add_argument("--wall", type=float, default=300.0,
                    help="wall-time cap per relaxation run (s)")
    ap.add_argument("--dt-local", type=float, default=1.0,
                    help="time step of the local-mu run (tau0)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

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

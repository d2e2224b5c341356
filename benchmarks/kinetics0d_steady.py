"""Steady state of the 0D kinetics at N ~ 1000 energy points: Newton vs time relaxation.

Al-like film at T = 0.3 Tc with phonon escape and a photon drive above 2 Delta. Newton
(PETSc SNES, exact dense Jacobian, LU) is compared with the first-order time-relaxation
scheme of the notes (Eqs. 46-51, scalar mu) run until it reaches the same residual
norm; if it does not within ``--max-relax-steps`` the achieved residual is printed and
the ratio is a lower bound.

Run: ``python benchmarks/kinetics0d_steady.py [--n 1000] [--max-relax-steps 20000]``
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000, help="approximate number of QP cells")
    ap.add_argument("--t", type=float, default=0.3, help="bath temperature / Tc")
    ap.add_argument("--max-relax-steps", type=int, default=5000)
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
    target = max(res.residual_norm, 1e-12 * np.linalg.norm(model.terms(y_n)[0]))
    log.info("Newton: %s, %d iterations, |F| = %.3e, %.2f s", res.message, res.iterations,
             res.residual_norm, t_newton)

    gain, loss = model.terms(y0)
    mu = float(np.max(loss / np.maximum(y0, 1e-300)))
    t0 = time.perf_counter()
    try:
        y_r, rr = relax(model, y0, 10.0 / mu, order=1, mu="global", residual_tol=target,
                        max_steps=args.max_relax_steps, record_every=1)
        reached = True
    except ConvergenceError as exc:
        rr, reached = exc.result, False
    t_relax = time.perf_counter() - t0
    log.info("time relaxation (order 1, global mu = %.3g / tau0): %d steps, |F| = %.3e, "
             "%.2f s%s", mu, rr.steps, rr.residual_norm, t_relax,
             "" if reached else " (target NOT reached)")
    ratio = t_relax / t_newton
    log.info("wall-time ratio relaxation / Newton: %s%.1f", "" if reached else ">= ", ratio)
    if not reached:
        # linear convergence over the second half of the run -> steps still needed
        hist = rr.history["residual"]
        k = len(hist) // 2
        if k > 0 and hist[-1] < hist[k]:
            per_step = (hist[-1] / hist[k]) ** (1.0 / (len(hist) - 1 - k))
            more = np.log(target / hist[-1]) / np.log(per_step)
            est = t_relax / rr.steps * (rr.steps + more)
            log.info("extrapolated (linear convergence %.6f per step): %.3g steps, %.3g s, "
                     "ratio ~ %.3g", per_step, rr.steps + more, est, est / t_newton)


if __name__ == "__main__":
    main()

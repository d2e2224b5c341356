"""Steady state of the 0D kinetics at N ~ 1000 energy points: Newton vs time relaxation.

Al-like film at T = 0.3 Tc with phonon escape and a photon drive above 2 Delta. Newton
(exact Jacobian, the default linear solve of ``steady_state``) is compared with the
time-relaxation scheme of the notes (Eqs. 46-51, first order) run from the same start
until it reaches the *same* residual norm as Newton, with a scalar mu (the notes;
dt = 10/mu) and with the per-unknown mu (``mu="local"``, large dt). Everything is
measured in this process: a run that hits the wall-time cap ``--wall`` prints the
residual and time it reached, and its ratio is a measured lower bound (nothing is
extrapolated).

Second part (``--part start``, issue 18): the start of the steady-state Newton iteration
on the weak-drive Al case through the case-file path of ``fvqp run`` -- a 50 nm film at
80 mK (0.067 Tc), phonon escape 12 ns (~50 tau_pb), 2e-3 W/m^3 of 850 ueV (5 Delta)
photons, grid spacing ``--spacing``. Before: the former default start, the bath (given as
``[initial]`` temperatures = the bath, which is exactly that start); after: the default
quasi-thermal start. Printed: wall time, the time split (estimate, first Newton run, TS
fallback), Newton iterations, whether the TS fallback ran, and the largest relative
difference of the two states.

Third part (``--part nestfsss``, issue 18 item 4): the nestfsss-like Al cases on the
*default* grid (spacing kT_bath/15) from the default (quasi-thermal) start -- the film of
the weak-drive case with a photon drive at 2.5, 5 and 10 Delta or phonon injection at
5 Delta, tau_l = 1, 10, 50 tau_pb (``escape_time_pb``), P = 2e-3, 2e-2, 2e-1 W/m^3
(``--grid corners``: the extreme tau_l and P only). Printed per case: grid size, wall
time of ``steady_state`` (estimate + Newton), Newton corrections, diagonal
preconditioners, factorisations, GMRES iterations, the time split (estimate, diagonal,
Jacobian blocks, Schur factorisation, GMRES, residuals), and the relative energy balance
|P_in - P_esc|/P_in. ``--linear schur-lu`` runs the lagged Schur LU from the start (the
default before the diagonal level); ``--compare-dense`` also runs Newton with a dense LU
of all N + M unknowns per iteration on the first case and prints the largest per-entry
difference of the two states. BLAS threads are whatever the environment sets
(``OMP_NUM_THREADS``); the load average is printed with the slowest case.

Fourth part (``--part readout``): ``cases/kinetics0d_al_readout.toml`` (Al, 1 fW of 5 GHz
readout, 1 ueV grid) at baths of 100, 60, 40 and 20 mK through ``fvqp.run_case``, with
the continuation in the bath temperature (the default) and without it (``[solver]
continuation = false``: the path before 2026-11-27, straight to the TS start). Printed per
run: status, path, wall time, Newton runs and iterations of the continuation, the baths
it took, N_qp (um^-3) and its ratio to the 60 mK run's, and the time ratio of the two
paths. ``--part readout-grid``: the same film at baths of 20, 50, 80, 120 mK, readout
powers of 0.1, 10, 100 fW and 2 (0.5 ueV grid) or 8 GHz (1 ueV grid), the default path:
status, wall time, path and N_qp of each of the 24 steady states.

Run: ``python benchmarks/kinetics0d_steady.py
[--part all|relaxation|start|nestfsss|readout|readout-grid] [--n 1000] [--wall 300]
[--spacing "2 ueV"] [--grid full|corners] [--linear schur] [--compare-dense]``
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from fvqp.collisions import CollisionParams, EnergyGrid
from fvqp.models.kinetics0d import Kinetics0D, PhotonDrive, relax, steady_state
from fvqp.solvers import ConvergenceError
from fvqp.spectra.gap import thermal_gap

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


def _readout_text(*must: str) -> str:
    """``cases/kinetics0d_al_readout.toml`` without its ``[output]`` (every text of
    ``must``, which the benchmark edits, must occur)."""
    text = (Path(__file__).resolve().parents[1] / "cases" / "kinetics0d_al_readout.toml"
            ).read_text().split("[output]")[0]
    for old in must:
        assert old in text, old
    return text


def _run_readout(text: str, out: str) -> tuple[dict, float]:
    """Run the case ``text`` into ``out`` (no figures): its summary and wall seconds."""
    import fvqp

    Path(out + ".toml").write_text(text + f'[output]\ndirectory = "{out}"\n'
                                   'figures = false\n')
    t0 = time.perf_counter()
    s = fvqp.run_case(out + ".toml", output_dir=out)
    return s, time.perf_counter() - t0


def readout_baths(baths=(100, 60, 40, 20)) -> None:
    """The readout case at several baths, with and without the bath continuation."""
    text = _readout_text('temperature = "60 mK"')
    n_ref = None
    with tempfile.TemporaryDirectory() as tmp:
        # one untimed run first: the first run of a process pays for imports and caches
        _run_readout(text.replace('"60 mK"', '"100 mK"'), os.path.join(tmp, "warm"))
        for mk in baths:
            walls = {}
            for cont in (True, False):
                case = text.replace('temperature = "60 mK"', f'temperature = "{mk} mK"')
                if not cont:
                    case = case.replace("[time]", "[solver]\ncontinuation = false\n\n[time]")
                s, walls[cont] = _run_readout(case, os.path.join(tmp, f"{mk}_{cont}"))
                if s["status"] != 0:
                    log.info("%3d mK, continuation %-5s: status %d after %.2f s: %s", mk,
                             cont, s["status"], walls[cont], s["message"][:160])
                    continue
                n_qp = s["observables_SI"]["n_qp_SI"] * 1e-18   # m^-3 -> um^-3
                if mk == 60 and cont:
                    n_ref = n_qp
                c = s["start"].get("bath_continuation", {})
                log.info("%3d mK, continuation %-5s: status 0, path %s, %.2f s; "
                         "continuation: %s Newton runs (%s failed), %s iterations, baths "
                         "%s; N_qp %.6g um^-3%s", mk, cont, s["start"]["path"], walls[cont],
                         c.get("newton_runs", "-"), c.get("failed_runs", "-"),
                         c.get("iterations", "-"),
                         [round(b, 5) for b in c.get("baths_over_Tc", [])], n_qp,
                         f" ({n_qp / n_ref:.6f} of 60 mK's)" if n_ref else "")
            log.info("%3d mK: time with / without the continuation: %.2f", mk,
                     walls[True] / walls[False])


def readout_grid() -> None:
    """The readout case over baths, readout powers and frequencies (the default path)."""
    import itertools

    text = _readout_text('"60 mK"', '"1 fW"', '"5 GHz"', 'spacing = "1 ueV"')
    walls, ok = [], 0
    with tempfile.TemporaryDirectory() as tmp:
        for mk, power, ghz in itertools.product((20, 50, 80, 120), ("0.1 fW", "10 fW",
                                                                    "100 fW"), (2, 8)):
            case = text.replace('"60 mK"', f'"{mk} mK"').replace('"1 fW"', f'"{power}"')
            case = case.replace('"5 GHz"', f'"{ghz} GHz"')
            if ghz == 2:   # 8.3 ueV photons: a finer grid
                case = case.replace('spacing = "1 ueV"', 'spacing = "0.5 ueV"')
            s, wall = _run_readout(case, os.path.join(tmp, f"{mk}_{power.split()[0]}_{ghz}"))
            walls.append(wall)
            ok += s["status"] == 0
            n_qp = s["observables_SI"]["n_qp_SI"] * 1e-18 if s["status"] == 0 else np.nan
            log.info("%4d mK %7s %2d GHz: status %2d, %6.2f s, path %s, N_qp %.4g um^-3%s",
                     mk, power, ghz, s["status"], walls[-1],
                     (s.get("start") or {}).get("path", "-"), n_qp,
                     "" if s["status"] == 0 else f" ({s['message'][:120]})")
    log.info("readout grid: %d of %d steady states, %.2f-%.2f s each (median %.2f s)", ok,
             len(walls), min(walls), max(walls), float(np.median(walls)))


#: the nestfsss-like grid (issue 18 item 4): drive, tau_l / tau_pb, P (W/m^3)
DRIVES = {"photon 2.5 Delta": ("photon", "425 ueV"), "photon 5 Delta": ("photon", "850 ueV"),
          "photon 10 Delta": ("photon", "1700 ueV"), "phonon 5 Delta": ("phonon", "850 ueV")}
#: film volume of the weak-drive case (1000 um^2 x 50 nm), m^3
VOLUME = 1000e-12 * 50e-9


def nestfsss_case(drive: str, tau_pb: float, p_density: float, spacing: str | None = None
                  ) -> str:
    """The weak-drive case turned into one nestfsss-like case (default grid unless
    ``spacing``), without ``[output]``."""
    kind, energy = DRIVES[drive]
    text = WEAK_CASE.split("[output]")[0].split("[[drives]]")[0]
    text = text.replace('escape_time = "12 ns"', f"escape_time_pb = {tau_pb:g}")
    grid = f'[grid]\nspacing = "{spacing}"\n' if spacing else "[grid]\n"
    text = text.replace('[grid]\nspacing = "4 ueV"\n', grid)
    return text + (f'[[drives]]\ntype = "{kind}"\nenergy = "{energy}"\n'
                   f'power = "{p_density * VOLUME:.6g} W"\n\n[time]\nsteady = true\n')


def nestfsss_grid(which: str, compare_dense: bool, linear: str = "schur") -> None:
    """Every nestfsss-like case from the default start on the default grid."""
    from fvqp.case import load_case
    from fvqp.models.kinetics0d.build import build_model

    taus = (1.0, 10.0, 50.0) if which == "full" else (1.0, 50.0)
    powers = (2e-3, 2e-2, 2e-1) if which == "full" else (2e-3, 2e-1)
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for drive in DRIVES:
            for tau in taus:
                for p in powers:
                    path = os.path.join(tmp, "case.toml")
                    with open(path, "w") as fh:
                        fh.write(nestfsss_case(drive, tau, p))
                    model, _ = build_model(load_case(path))
                    t0 = time.perf_counter()
                    try:
                        y, res = steady_state(model, linear=linear)
                    except ConvergenceError as exc:
                        log.info("%-17s tau_l = %4g tau_pb, P = %.0e W/m^3: FAILED (%s)",
                                 drive, tau, p, exc)
                        continue
                    wall = time.perf_counter() - t0
                    worst = max(worst, wall)
                    st = res.start
                    nf = st["newton_from_start"]
                    sp = nf.get("time_split_s", {})
                    p_in, p_esc = model.input_power(y), model.escape_power(y)
                    log.info("%-17s tau_l = %4g tau_pb, P = %.0e W/m^3: N = %d + %d, %.2f s "
                             "(%s, %s) Newton %d, diagonal PC %s, LU %s, GMRES %s; split: "
                             "estimate %.2f, diagonal %.2f, Jacobian %.2f, Schur LU %.2f, "
                             "GMRES %.2f, residuals %.2f s; |P_in - P_esc|/P_in = %.1e",
                             drive, tau, p, model.grid.n, model.grid.n_ph, wall, st["guess"],
                             st["path"], res.iterations, nf.get("diagonals", "-"),
                             nf.get("factorizations", "-"), nf.get("krylov_iterations", "-"),
                             st.get("guess_time_s", 0.0), sp.get("diagonal", 0.0),
                             sp.get("jacobian", 0.0), sp.get("factor", 0.0),
                             sp.get("krylov", 0.0), sp.get("residual", 0.0),
                             abs(p_in - p_esc) / p_in)
                    if compare_dense:
                        t0 = time.perf_counter()
                        y_d, res_d = steady_state(model, linear="dense")
                        rel = np.max(np.abs(y - y_d) / np.maximum(np.abs(y_d), 1e-12))
                        log.info("  Newton with a dense LU of N + M: %.2f s, %d iterations; "
                                 "largest per-entry difference %.1e", time.perf_counter() - t0,
                                 res_d.iterations, rel)
                        compare_dense = False
    log.info("slowest nestfsss-like case: %.2f s (goal <= 5 s on an idle machine; load "
             "average now %.1f on %d cores)", worst, os.getloadavg()[0], os.cpu_count())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000, help="approximate number of QP cells")
    ap.add_argument("--t", type=float, default=0.3, help="bath temperature / Tc")
    ap.add_argument("--wall", type=float, default=300.0,
                    help="wall-time cap per relaxation run (s)")
    ap.add_argument("--dt-local", type=float, default=1.0,
                    help="time step of the local-mu run (tau0)")
    ap.add_argument("--grid", choices=("full", "corners"), default="full",
                    help="nestfsss-like cases: all 36 or the extreme tau_l and P (16)")
    ap.add_argument("--compare-dense", action="store_true",
                    help="also run Newton with a dense LU on the first nestfsss-like case")
    ap.add_argument("--linear", choices=("schur", "schur-lu", "dense"), default="schur",
                    help="linear solve of the nestfsss-like cases (steady_state(linear=))")
    ap.add_argument("--part", choices=("all", "relaxation", "start", "nestfsss", "readout",
                                       "readout-grid"),
                    default="all",
                    help="Newton vs relaxation, the start comparison (issue 18), or both")
    ap.add_argument("--spacing", default="2 ueV",
                    help="grid spacing of the weak-drive case (--part start)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.part in ("all", "readout"):
        readout_baths()
    if args.part in ("all", "readout-grid"):
        readout_grid()
    if args.part in ("readout", "readout-grid"):
        return
    if args.part in ("all", "nestfsss"):
        nestfsss_grid(args.grid, args.compare_dense, args.linear)
    if args.part in ("all", "start"):
        start_comparison(args.spacing)
    if args.part in ("start", "nestfsss"):
        return

    delta = thermal_gap(args.t, 1.0)
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

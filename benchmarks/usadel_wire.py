"""Usadel wire: spectral + kinetic solve of a 101-node NS wire at 400 energies.

The same problem — a wire of length 10 ξ between a normal reservoir at bias eV = 1.5 Δ0
(x = 0) and a superconducting reservoir (x = L), Γ = 1e-3, t = 0.05 — is solved three ways
in this process:

1. fvqp: all energies at once (block Newton, one sparse LU per iteration) + one LU for
   the kinetic equations of all energies;
2. fvqp energy by energy (the same Newton called per energy, to show the vectorisation);
3. scipy ``solve_bvp`` energy by energy (spectral BVP for θ, then the kinetic BVP for
   fL, fT with the coefficients interpolated from it) for all 400 energies by default
   (``--bvp M`` solves a subset of M and scales the cost per energy, stated as such).

Printed: wall times, Newton iterations, the agreement of DOS and fT between fvqp and
solve_bvp, and the speed-up ratios. Then (``--sweep N``, default 51; 0 skips) the
self-consistent bias sweeps of the paper's half wire (App. B, Fig. 11) without and with
e–e collisions, with Eq. 8 and SNES Newton counts, and the g_sa map of Fig. 12 from it.

Run: ``python benchmarks/usadel_wire.py [--energies 400] [--bvp 400] [--sweep 51]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.integrate import solve_bvp
from scipy.interpolate import CubicSpline

from fvqp.models.usadel.bulk import bulk_theta
from fvqp.models.usadel.kinetic import solve_linear
from fvqp.models.usadel.network import uniform_wire
from fvqp.models.usadel.spectral import SpectralProblem, solve_spectral
from fvqp.models.usadel.terminals import Reservoir

L, N_EDGES, GAMMA, T, V = 10.0, 100, 1e-3, 0.05, 1.5


def _problem():
    net = uniform_wire(L, N_EDGES, x0=0.0)
    res = [Reservoir("n", 0, "normal", bias=V, temperature=T),
           Reservoir("s", N_EDGES, "superconductor", temperature=T)]
    return net, res, SpectralProblem(net, 1.0, gamma=GAMMA, reservoirs=res)


def fvqp_all(eps):
    net, res, prob = _problem()
    t0 = time.perf_counter()
    spec = solve_spectral(prob, eps)
    t1 = time.perf_counter()
    kin = solve_linear(spec, res, [])
    t2 = time.perf_counter()
    return spec, kin, t1 - t0, t2 - t1


def fvqp_one_by_one(eps):
    net, res, prob = _problem()
    t0 = time.perf_counter()
    its = 0
    for e in eps:
        s = solve_spectral(prob, np.array([e]))
        solve_linear(s, res, [])
        its += s.iterations
    return time.perf_counter() - t0, its


def bvp_energy(e, x):
    """θ(x) by solve_bvp, then fL, fT by solve_bvp (continuation guess: bulk)."""
    et = e + 1j * GAMMA
    thS = complex(bulk_theta(np.array([e]), 1.0, GAMMA)[0])

    def f(xx, y):
        th = y[0] + 1j * y[1]
        rhs = -(2j * et * np.sin(th) + 2 * np.cos(th))
        return np.vstack([y[2], y[3], rhs.real, rhs.imag])

    def bc(ya, yb):
        return np.array([ya[0], ya[1], yb[0] - thS.real, yb[1] - thS.imag])

    guess = np.zeros((4, x.size))
    guess[0] = thS.real * x / L
    guess[1] = thS.imag * x / L
    sol = solve_bvp(f, bc, x, guess, tol=1e-8, max_nodes=100000)
    th = sol.sol(x)[0] + 1j * sol.sol(x)[1]
    G, F = np.cos(th), np.sin(th)
    DT = 0.5 * (1 + np.abs(G) ** 2 + np.abs(F) ** 2)
    RT = 2 * F.real
    dts, rts = CubicSpline(x, DT), CubicSpline(x, RT)
    fTN = 0.5 * (np.tanh((e + V) / (2 * T)) - np.tanh((e - V) / (2 * T)))

    def fk(xx, y):  # (D_T fT')' = R_T fT, y = [fT, D_T fT']
        return np.vstack([y[1] / dts(xx), rts(xx) * y[0]])

    def bck(ya, yb):
        return np.array([ya[0] - fTN, yb[0]])

    g2 = np.vstack([fTN * (1 - x / L), -fTN / L * np.ones_like(x)])
    sk = solve_bvp(fk, bck, x, g2, tol=1e-8, max_nodes=100000)
    return G.real, sk.sol(x)[0], sol.success and sk.success


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--energies", type=int, default=400)
    p.add_argument("--bvp", type=int, default=400,
                   help="energies solved by solve_bvp (all 400 by default)")
    p.add_argument("--sweep", type=int, default=51,
                   help="biases of the self-consistent Fig. 11/12 sweeps (0: skip; ~3 min)")
    a = p.parse_args()
    eps = np.linspace(-4, 4, a.energies)
    spec, kin, ts, tk = fvqp_all(eps)
    print(f"fvqp, {a.energies} energies x {N_EDGES + 1} nodes: spectral {ts:.3f} s "
          f"({spec.iterations} Newton iterations), kinetic {tk:.3f} s, total {ts + tk:.3f} s")
    sub = eps[:: max(1, a.energies // a.bvp)]
    t1, its = fvqp_one_by_one(sub)
    per1 = t1 / sub.size
    print(f"fvqp energy by energy: {per1 * 1e3:.2f} ms/energy ({its / sub.size:.1f} Newton "
          f"iterations/energy) -> {per1 * a.energies:.2f} s for {a.energies} "
          f"(x{per1 * a.energies / (ts + tk):.1f} slower than all at once)")
    x = np.linspace(0, L, N_EDGES + 1)
    t0 = time.perf_counter()
    errN, errT, ok = 0.0, 0.0, True
    for e in sub:
        N, fT, good = bvp_energy(e, x)
        k = int(np.argmin(np.abs(eps - e)))
        errN = max(errN, np.abs(N - spec.N[k]).max())
        errT = max(errT, np.abs(fT - kin.fT[k]).max())
        ok &= good
    tb = (time.perf_counter() - t0) / sub.size
    print(f"scipy solve_bvp energy by energy ({sub.size} energies, converged={ok}): "
          f"{tb * 1e3:.1f} ms/energy -> {tb * a.energies:.2f} s scaled to {a.energies} "
          f"energies; ratio solve_bvp/fvqp = {tb * a.energies / (ts + tk):.1f}")
    print(f"agreement fvqp vs solve_bvp (h = {L / N_EDGES} ξ): max|ΔN| = {errN:.2e}, "
          f"max|ΔfT| = {errT:.2e}")
    if a.sweep:
        from fvqp.models.usadel.paper import fig11_setup
        from fvqp.models.usadel.selfconsistent import bias_sweep

        v = np.linspace(0, 5, a.sweep)
        for g in (0.0, 2e-4):
            t0 = time.perf_counter()
            out = bias_sweep(fig11_setup(gamma_ee=g), "injector", v)
            print(f"Fig. 11 sweep, gamma_ee = {g:g}: {a.sweep} biases in "
                  f"{time.perf_counter() - t0:.1f} s, self-consistency iterations "
                  f"{out['iterations'].tolist()} (total {out['iterations'].sum()}), "
                  f"SNES Newton iterations of the collision problem "
                  f"{out['newton'].sum()} in all, Delta(V) = "
                  f"{np.round(out['delta'][:, 0], 4).tolist()}")
        # g_nl of the self-consistent sweep (the paper's Fig. 12 method: dN/dV_inj of the
        # detector through Δ(V_inj)), for 31 detector biases
        from fvqp.models.usadel.paper import fig12_gsa

        t0 = time.perf_counter()
        d = out["delta"][:, 0]
        vv, dd = np.concatenate([-v[:0:-1], v]), np.concatenate([d[:0:-1], d])
        gsa = fig12_gsa(vv, dd, np.linspace(-1.5, 1.5, 31))["g_sa"]
        k = np.unravel_index(np.argmax(np.abs(gsa)), gsa.shape)
        print(f"g_sa(V_inj, V_det) map {gsa.shape} from the inelastic sweep: "
              f"{time.perf_counter() - t0:.1f} s, peak {gsa[k] / 1e3:.3g} kOhm at "
              f"eV_inj = {vv[k[0]]:.2f}; (the collisional sweep couples all energies: no "
              "energy-by-energy solve_bvp reference exists for it)")


if __name__ == "__main__":
    main()

"""Phase-biased SNS wire with the real-energy (θ, χ) Usadel solver.

A normal wire (length L, energies in E_Th = ħD/L²) between superconducting reservoirs
with Δ = 1e5 E_Th at phases ∓φ/2. Printed, each against a reference computed in this
process:

1. the minigap E_g/E_Th in the middle of the wire versus φ (reference: 3.12 at φ = 0,
   Zhou et al. 1998; the approximation E_g(0)|cos(φ/2)| for comparison);
2. the equilibrium supercurrent e R_N I/E_Th at t = E_Th, Γ = 0.1 E_Th from the
   real-energy spectral current ½∫ j_ε tanh(ε/2t) dε versus the Matsubara solver
   (``matsubara.supercurrent_sum``, 2πt Σ J(ω_n + Γ)), with the x-convergence order and
   the wall times of both;
3. e R_N I_c/E_Th at T → 0 (φ = 2.0, extrapolated in x and Γ) versus Dubos et al. (2001),
   10.82;
4. the cost of the phase solver against the imposed-gradient solver on the same wire at
   φ = 0 (same solution);
5. the same for a current-carrying superconducting wire (20 ξ, 100 cells, Δ = 1,
   reservoirs at ∓2 rad: phase gradient q = 0.2/ξ, Γ = 0.005) on the 801 energies of
   the Fig. 11 grid (δε = 1/40, |ε| ≤ 10), where the energies exactly at the gap edges
   converge only through the continuation in the broadening (issue 18: Newton on the
   energies not converged only), best of three.

Run: ``python benchmarks/usadel_phase.py`` (``--cost``: sections 4 and 5 only)
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

from fvqp.models.usadel import matsubara
from fvqp.models.usadel.network import uniform_wire
from fvqp.models.usadel.observables import integrate
from fvqp.models.usadel.phase import PhaseProblem, solve_phase
from fvqp.models.usadel.spectral import SpectralProblem, solve_spectral
from fvqp.models.usadel.terminals import Reservoir

BIG = 1e5


def sns(n, phi, gamma):
    net = uniform_wire(1.0, n, x0=0.0)
    res = [Reservoir("l", 0, "superconductor", delta=BIG, phase=-phi / 2),
           Reservoir("r", n, "superconductor", delta=BIG, phase=phi / 2)]
    return PhaseProblem(net, np.zeros(n + 1), gamma=gamma, reservoirs=res)


def minigap(n, phi, top=3.3, level=0.02):
    p = sns(n, phi, 1e-5)
    e = np.arange(0.05, top, 0.05)
    for _ in range(3):
        N = solve_phase(p, e).N[:, n // 2]
        k = int(np.argmax(N > level))
        e = np.linspace(e[k - 1], e[k], 21)
    N = solve_phase(p, e).N[:, n // 2]
    return float(np.interp(level, N, e))


def current(n, phi, gamma, t, eps):
    s = solve_phase(sns(n, phi, gamma), eps)
    f = np.tanh(eps / (2 * t)) if t > 0 else np.sign(eps)
    return float(integrate(s.edge_js.mean(axis=1) * f, eps)), s.iterations


def s_wire_cost():
    """Section 5: phase solver vs imposed-gradient solver on the q = 0.2 S wire."""
    length, n, q, gam = 20.0, 100, 0.2, 0.005
    net = uniform_wire(length, n, x0=0.0)
    res = [Reservoir("l", 0, "superconductor", delta=1.0, phase=-q * length / 2),
           Reservoir("r", n, "superconductor", delta=1.0, phase=q * length / 2)]
    p = PhaseProblem(net, 1.0, gamma=gam, reservoirs=res)
    e = np.arange(-400, 401) / 40
    tp, ti = [], []
    for _ in range(3):
        t0 = time.perf_counter()
        s_ph = solve_phase(p, e)
        t1 = time.perf_counter()
        s_im = solve_spectral(SpectralProblem(net, 1.0, gamma=gam, dphi=q, reservoirs=res), e)
        t2 = time.perf_counter()
        tp.append(t1 - t0)
        ti.append(t2 - t1)
    away = np.abs(np.abs(e) - 1.0) > 0.3  # at the gap edge the phase relaxes (χ ≠ φ)
    print(f"   phase solver {min(tp):.2f} s ({s_ph.iterations} Newton iterations in all, "
          f"residual {s_ph.residual:.1e}), imposed-gradient solver {min(ti):.2f} s "
          f"({s_im.iterations}); ratio {min(tp) / min(ti):.1f}; middle-of-wire max |dN| "
          f"away from the gap edge {np.abs(s_ph.N - s_im.N)[away, n // 2].max():.1e}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cost", action="store_true", help="sections 4 and 5 only")
    args = ap.parse_args()
    warnings.simplefilter("ignore", RuntimeWarning)
    if args.cost:
        cost()
        return
    print("1. minigap in the middle of the wire (40 cells; Richardson 40/80 at phi = 0)")
    g0 = (4 * minigap(80, 0.0) - minigap(40, 0.0)) / 3
    print(f"   phi = 0: E_g/E_Th = {g0:.4f}  (Zhou et al.: 3.12; ratio {g0 / 3.122:.4f})")
    prev = g0
    for f in (0.5, 0.7, 0.8, 0.9):
        t0 = time.perf_counter()
        g = minigap(40, f * np.pi, top=1.1 * prev)
        prev = g
        print(f"   phi = {f:.1f} pi: E_g/E_Th = {g:.4f}, E_g/E_g(0) = {g / g0:.3f}, "
              f"|cos(phi/2)| = {abs(np.cos(f * np.pi / 2)):.3f}  "
              f"({time.perf_counter() - t0:.1f} s)")

    print("2. supercurrent, t = E_Th, Gamma = 0.1 E_Th, phi = 2 (e R_N I / E_Th)")
    e = np.concatenate([np.arange(0.0, 20.0, 0.05), np.geomspace(20.0, 300.0, 60)[1:]])
    re, ma = {}, {}
    for n in (20, 40, 80):
        t0 = time.perf_counter()
        re[n], it = current(n, 2.0, 0.1, 1.0, e)
        t1 = time.perf_counter()
        ma[n] = matsubara.supercurrent_sum(2.0, 1.0, n, BIG, 0.1)
        t2 = time.perf_counter()
        print(f"   {n:3d} cells: real energy {re[n]:.6f} ({e.size} energies, {it} Newton "
              f"iterations, {t1 - t0:.2f} s), Matsubara {ma[n]:.6f} ({t2 - t1:.2f} s)")
    r_re, r_ma = (4 * re[80] - re[40]) / 3, (4 * ma[80] - ma[40]) / 3
    print(f"   order: error ratio {(re[20] - re[40]) / (re[40] - re[80]):.3f} (4 = 2nd order)")
    print(f"   Richardson: real {r_re:.6f}, Matsubara {r_ma:.6f}, rel. diff "
          f"{r_re / r_ma - 1:.2e}")

    print("3. critical current, T -> 0, phi = 2.0")
    rich = {}
    for gam in (0.1, 0.2):
        a, _ = current(40, 2.0, gam, 0.0, e)
        b, _ = current(80, 2.0, gam, 0.0, e)
        rich[gam] = (4 * b - a) / 3
        print(f"   Gamma = {gam}: {rich[gam]:.5f}")
    ic = 2 * rich[0.1] - rich[0.2]
    print(f"   extrapolated e R_N I_c / E_Th = {ic:.4f} (Dubos et al.: 10.82; ratio "
          f"{ic / 10.82:.5f})")

    cost()


def cost():
    """Sections 4 and 5 (wall times)."""
    e = np.concatenate([np.arange(0.0, 20.0, 0.05), np.geomspace(20.0, 300.0, 60)[1:]])
    print("4. cost at phi = 0 against the imposed-gradient solver (same solution)")
    p = sns(80, 0.0, 0.1)
    t0 = time.perf_counter()
    s_ref = solve_spectral(p.zero_phase(), e)
    t1 = time.perf_counter()
    s_ph = solve_phase(sns(80, 1e-3, 0.1), e)
    t2 = time.perf_counter()
    print(f"   imposed-gradient solver {t1 - t0:.2f} s, phase solver (phi = 1e-3) "
          f"{t2 - t1:.2f} s, ratio {(t2 - t1) / (t1 - t0):.1f}; max |dN| "
          f"{np.abs(s_ph.N - s_ref.N).max():.1e}")
    print("5. S wire, q = 0.2, Gamma = 0.005, 801 energies (Fig. 11 grid), 100 cells")
    s_wire_cost()


if __name__ == "__main__":
    main()

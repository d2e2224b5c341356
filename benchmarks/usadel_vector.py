"""SNS wire through φ = π with the unit-vector spectral solver (``vector.py``).

Normal wire (energies in E_Th, Δ = 1e5 E_Th reservoirs at ∓φ/2), t = E_Th, Γ = 0.1:
e R_N I(φ)/E_Th from ½∫ j_ε tanh(ε/2t) for φ/π = 0 ... 2 with the vector solver (40
cells) against the θ–χ solver (``phase.py``, same wire, where it converges: φ ≤ 0.9π)
computed in this process, with wall times; then the DOS in the middle at φ = π versus
the analytic ε → 0 limit N(x) = sin(πx/L).

Run: ``python benchmarks/usadel_vector.py``
"""

from __future__ import annotations

import time
import warnings

import numpy as np

from fvqp.models.usadel.network import uniform_wire
from fvqp.models.usadel.observables import integrate
from fvqp.models.usadel.phase import PhaseProblem, solve_phase
from fvqp.models.usadel.terminals import Reservoir
from fvqp.models.usadel.vector import solve_vector

EPS = np.concatenate([np.arange(0.0, 20.0, 0.25), np.geomspace(20.0, 300.0, 60)[1:]])


def sns(n, phi, gamma):
    net = uniform_wire(1.0, n, x0=0.0)
    res = [Reservoir("l", 0, "superconductor", delta=1e5, phase=-phi / 2),
           Reservoir("r", n, "superconductor", delta=1e5, phase=phi / 2)]
    return PhaseProblem(net, np.zeros(n + 1), gamma=gamma, reservoirs=res)


def current(solver, phi, n=40):
    t0 = time.perf_counter()
    s = solver(sns(n, phi, 0.1), EPS)
    i = float(integrate(s.edge_js.mean(axis=1) * np.tanh(EPS / 2), EPS))
    return i, time.perf_counter() - t0


def main():
    print(f"{'phi/pi':>6} {'I vector':>10} {'s':>6} {'I theta-chi':>12} {'s':>6}")
    for f in (0.0, 0.25, 0.5, 0.75, 0.9, 0.95, 1.0, 1.05, 1.1, 1.5, 2.0):
        iv, tv = current(solve_vector, f * np.pi)
        if f <= 0.9:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                ic, tc = current(solve_phase, f * np.pi)
            print(f"{f:6.2f} {iv:10.5f} {tv:6.2f} {ic:12.5f} {tc:6.2f}")
        else:
            print(f"{f:6.2f} {iv:10.5f} {tv:6.2f} {'-':>12} {'-':>6}")
    s = solve_vector(sns(40, np.pi, 1e-4), np.array([0.01]))
    x = np.linspace(0.0, 1.0, 41)
    print("phi = pi, eps = 0.01 E_Th: max |N(x) - sin(pi x/L)| =",
          f"{np.abs(s.N[0] - np.sin(np.pi * x)).max():.2e}")


if __name__ == "__main__":
    main()

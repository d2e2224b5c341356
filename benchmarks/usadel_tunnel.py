"""Energy quadrature of the Usadel tunnel terms: NIS current vs Γ/δε.

A uniform Dynes wire (Δ = 1, k_BT = 0.01) probed by an electrode at bias eV (Eq. 14
with f_T = 0 in the wire: the NIS current). Printed for Γ = 1e-4 ... 1e-2 and
δε = 0.02 ... 0.0025: the relative error of the gap-edge-aware cell integrals
(``fvqp.models.usadel.tunnel``, what the model uses) and of the plain point trapezoid
(the previous rule), both against scipy ``quad`` with breakpoints at ±Δ, ±eV computed in
this process, and the time per current.

Run: ``python benchmarks/usadel_tunnel.py``
"""

from __future__ import annotations

import time

import numpy as np
from scipy.integrate import quad

from fvqp.models.usadel.bulk import bulk_theta
from fvqp.models.usadel.kinetic import solve_linear
from fvqp.models.usadel.network import uniform_wire
from fvqp.models.usadel.observables import detector_current, integrate
from fvqp.models.usadel.spectral import SpectralProblem, SpectralSolution
from fvqp.models.usadel.terminals import Reservoir, electrode_distribution

T = 0.01


def wire(de, gamma):
    eps = np.arange(-round(4 / de), round(4 / de) + 1) * de
    net = uniform_wire(10.0, 10)
    res = [Reservoir("l", 0, temperature=T), Reservoir("r", 10, temperature=T)]
    prob = SpectralProblem(net, 1.0, gamma=gamma, reservoirs=res, spectral_tunnel=False)
    th = bulk_theta(eps, 1.0, gamma, 0.0)
    return SpectralSolution(eps=eps, theta=np.repeat(th[:, None], 11, axis=1),
                            problem=prob), res


def reference(gamma, v):
    def f(e):
        n = float(np.cos(bulk_theta(np.atleast_1d(e), 1.0, gamma, 0.0)).real[0])
        return 0.5 * n * electrode_distribution(np.array([e]), v, T)[1][0]
    return quad(f, -4, 4, points=sorted({-v, -1.0, 1.0, v}), limit=4000, epsabs=1e-15,
                epsrel=1e-12)[0]


def main():
    print(f"{'Gamma':>8} {'de':>7} {'eV':>5} {'cell err':>10} {'point err':>10} {'ms':>6}")
    for gamma in (1e-4, 1e-3, 1e-2):
        for v in (1.02, 1.5):
            ref = reference(gamma, v)
            for de in (0.02, 0.01, 0.005, 0.0025):
                spec, res = wire(de, gamma)
                kin = solve_linear(spec, res, [])
                t0 = time.perf_counter()
                cell = -detector_current(kin, 5, 1.0, [v], T)[0]
                ms = 1e3 * (time.perf_counter() - t0)
                point = 0.5 * integrate(spec.N[:, 5] * electrode_distribution(
                    spec.eps, v, T)[1], spec.eps)
                print(f"{gamma:8.0e} {de:7.4f} {v:5.2f} {cell / ref - 1:10.2e} "
                      f"{point / ref - 1:10.2e} {ms:6.1f}")


if __name__ == "__main__":
    main()

"""Usadel: graded vs uniform energy grids, and the Matsubara vs real-axis gap equation.

1. Grids: an S wire of 20 ξ (80 cells) between S reservoirs, Γ = 2e-3 Δ0, t = 0.05, an
   injector at its middle biased at 1.3 Δ0 (κ = 0.05). For uniform grids δε = 0.04 …
   0.0025 and graded grids (h_max, h_min), ±4 Δ0: the number of energies, the wall time of
   the spectral + kinetic solve, and the relative errors of the injector current and of
   μ_Q* 2 ξ away against the finest uniform grid. With ``--collisions``: e–e
   (γ_ee = 2e-3) and e–ph collisions (γ_ph = ħ/Δ0τ0 = 5.7e-6, Al's τ0 = 438 ns, phonons
   at t) by Newton–Krylov; graded grids evaluate the integrals on the uniform grid of
   step h_min (``regrid.py``); one more column: the energy lost to the phonons (injected
   minus drained into the reservoirs, :func:`~fvqp.models.usadel.observables.energy_balance`).
   Measured (80 cells, CPU seconds of the solve, 2 shared cores under load): uniform 3201
   energies 6.1 s; graded (0.04, 0.002) 261 energies 5.1 s with errors 7.6e-5 (I_inj),
   1.3e-3 (μ_Q*), 8.2e-3 (loss); uniform 1601 2.0 s with 4.4e-3, 1.0e-4, 4.7e-3; uniform
   801 0.9 s with 2.4e-2, 1.1e-3, 4.4e-2. With collisions the graded grid wins on the
   injector current only: the integrals on the fine grid of step h_min cost as much as
   the uniform grid of that step. A coarser collision grid (case key
   ``[collisions] spacing``), step 0.01, took 1.1 s here with the same current and μ_Q*
   errors and a loss error of 1.5e-3, but in the open-wire case (tests/test_usadel_regrid)
   its loss error is 19 % (1.2 % at the default step h_min): keep the default.
2. Gap equation: the same wire in equilibrium and with the injector at 1.5 Δ0, Δ by
   uniform-mode self-consistency (probe at the injector, Γ = 0.02, t = 0.02, ω_D = 10) with
   the real-axis and the Matsubara methods (each with the λ that makes its T = 0 bulk gap
   Δ0): Δ(0), Δ(V), iterations and wall times.

Run: ``python benchmarks/usadel_energy_grid.py [--cells 80] [--no-gap] [--collisions]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from fvqp.models.usadel.energygrid import graded_grid, uniform_grid
from fvqp.models.usadel.inelastic import solve_inelastic
from fvqp.models.usadel.kinetic import solve_linear
from fvqp.models.usadel.network import uniform_wire
from fvqp.models.usadel.observables import (
    charge_imbalance_potential,
    energy_balance,
    tunnel_current,
)
from fvqp.models.usadel.selfconsistent import Setup, solve_state
from fvqp.models.usadel.spectral import SpectralProblem, solve_spectral
from fvqp.models.usadel.terminals import Reservoir, TunnelJunction


def _device(n, bias, gamma, t):
    net = uniform_wire(20.0, n, points={"inj": 0.0, "det": 2.0})
    res = [Reservoir("l", 0, "superconductor", temperature=t),
           Reservoir("r", n, "superconductor", temperature=t)]
    jun = [TunnelJunction("inj", net.node("inj"), 0.05, bias=bias, temperature=t)]
    return net, res, jun, SpectralProblem(net, 1.0, gamma=gamma, reservoirs=res,
                                          junctions=jun)


def grids(n: int, collisions: bool = False) -> None:
    net, res, jun, prob = _device(n, 1.3, 2e-3, 0.05)

    def solve(eps):
        t0 = time.perf_counter()
        s = solve_spectral(prob, eps)
        if collisions:
            k = solve_inelastic(s, res, jun, 2e-3, gamma_ph=5.7e-6, t_ph=0.05)
            eb = energy_balance(k)
            extra = [eb["injected"] - eb["drained"]]
        else:
            k, extra = solve_linear(s, res, jun), []
        out = np.array([tunnel_current(k, jun[0]),
                        charge_imbalance_potential(k)[net.node("det")], *extra])
        return out, time.perf_counter() - t0

    rows = [("uniform", h, None, uniform_grid(h, 4.0)) for h in (0.0025, 0.005, 0.01,
                                                                  0.02, 0.04)]
    rows += [("graded", hm, hn, graded_grid(hm, hn, 4.0))
             for hm, hn in ((0.04, 0.004), (0.04, 0.002), (0.02, 0.002), (0.01, 0.001))]
    ref = None
    print(f"{'grid':8s} {'h_max':>7s} {'h_min':>7s} {'n_eps':>6s} {'wall s':>7s} "
          f"{'I_inj err':>10s} {'mu_Q err':>10s}" + (f" {'loss err':>10s}" if collisions
                                                       else ""))
    for kind, hm, hn, eps in rows:
        val, wall = solve(eps)
        ref = val if ref is None else ref
        err = np.abs(val / ref - 1)
        print(f"{kind:8s} {hm:7.4f} {hn or hm:7.4f} {eps.size:6d} {wall:7.2f} "
              + " ".join(f"{x:10.2e}" for x in err))


def gap(n: int) -> None:
    t = 0.02
    for method, lam in (("real_axis", 1 / np.arccosh(10.0)),
                        ("matsubara", 1 / np.arcsinh(10.0))):
        vals = []
        for bias in (0.0, 1.5):
            net, res, jun, prob = _device(n, bias, 0.02, t)
            s = Setup(problem=prob, eps=uniform_grid(0.01, 10.0), reservoirs=res,
                      junctions=jun, omega_d=10.0, coupling=lam, t_ref=t, gap_method=method,
                      selfconsistency="uniform", probe_node=net.node("inj"), tol=1e-9,
                      max_iter=100)
            t0 = time.perf_counter()
            st = solve_state(s)
            vals.append((st.delta[net.node("inj")], st.iterations, time.perf_counter() - t0))
        (d0, i0, w0), (d1, i1, w1) = vals
        print(f"{method:10s} Δ(0) = {d0:.6f} ({i0} it, {w0:.1f} s)  Δ(1.5) = {d1:.6f} "
              f"({i1} it, {w1:.1f} s)  Δ(V)/Δ(0) = {d1 / d0:.6f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=80)
    ap.add_argument("--no-gap", action="store_true")
    ap.add_argument("--collisions", action="store_true")
    a = ap.parse_args()
    grids(a.cells, a.collisions)
    if not a.no_gap:
        gap(a.cells // 2)


if __name__ == "__main__":
    main()

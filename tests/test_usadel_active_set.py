"""Newton of the Usadel spectral solvers on the active set (issue 18): only energies that
have not converged are iterated, freezing converged energies does not change θ, and
energies that cannot converge are reported, never returned silently."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from fvqp.models.usadel import newton
from fvqp.models.usadel.network import uniform_wire
from fvqp.models.usadel.newton import energies_text, newton_active
from fvqp.models.usadel.phase import PhaseProblem, _initial, _newton, solve_phase
from fvqp.models.usadel.spectral import SpectralProblem, solve_spectral
from fvqp.models.usadel.terminals import Reservoir
from fvqp.solvers import ConvergenceError

#: energies through both gap edges: at ε = ±1 exactly the Newton from the zero-phase guess
#: at Γ = 0.005 is slow (damped steps for ~25 iterations on this wire; on 100 cells it
#: stalls and the continuation in the broadening takes over)
EPS = np.arange(-64, 65) / 40


def _s_wire(n=40, length=20.0, q=0.2, gamma=0.005):
    """S wire between S reservoirs at ∓qL/2: phase gradient q (the issue's wire)."""
    net = uniform_wire(length, n, x0=0.0)
    res = [Reservoir("l", 0, "superconductor", delta=1.0, phase=-q * length / 2),
           Reservoir("r", n, "superconductor", delta=1.0, phase=q * length / 2)]
    return PhaseProblem(net, 1.0, gamma=gamma, reservoirs=res)


def test_active_set_phase_solve_equals_every_energy_iterated_to_convergence():
    """θ, χ of the active-set solve (i) equal those after three more Newton steps on
    *every* energy (tolerance 0: nothing frozen), so no energy was frozen before it had
    converged, and (ii) equal the solves of single energies, so the batch (the active set,
    the other energies, the fallback of the stalled ones) does not change an energy."""
    p = _s_wire()
    s = solve_phase(p, EPS)
    th, ch, _, it, _ = _newton(p, EPS, s.theta, s.chi, p.gamma, 1.0, maxit=3, tol=0.0)
    assert it == 3
    assert np.abs(th - s.theta).max() < 1e-10
    assert np.abs(ch - s.chi).max() < 1e-10
    for k in (0, 23, 24, 40, 64, 88, 104, 128):  # 24, 104: ε = ∓1, the stalled ones
        one = solve_phase(p, EPS[k:k + 1])
        assert np.abs(one.theta[0] - s.theta[k]).max() < 1e-10, EPS[k]
        assert np.abs(one.chi[0] - s.chi[k]).max() < 1e-10, EPS[k]


def test_newton_factorises_only_the_energies_not_converged(monkeypatch):
    """The LU of every iteration holds only the active energies: after the first
    iterations its size drops to the two energies at the gap edges."""
    sizes = []
    splu = newton.spla.splu

    def counting(a, *args, **kw):
        sizes.append(a.shape[0])
        return splu(a, *args, **kw)

    monkeypatch.setattr(newton.spla, "splu", counting)
    p = _s_wire()
    n2 = 2 * p.net.n_nodes
    th0, ch0 = _initial(p, EPS, p.gamma)
    sizes.clear()
    th, ch, done, it, _ = _newton(p, EPS, th0, ch0, p.gamma)
    assert done.all() and it == len(sizes) > 20  # ε = ±1 converge slowly (damped)
    assert sizes[0] == EPS.size * n2
    assert all(b <= a for a, b in zip(sizes, sizes[1:], strict=False))
    assert sizes[-1] == 2 * n2  # only ε = ±1 are iterated at the end
    assert sum(sizes) < 0.2 * it * EPS.size * n2  # not every energy every time


def test_spectral_active_set_equals_single_energy_solves():
    """The imposed-gradient solver (spectral.py) with the active set: batch = single
    energies, including the gap edge ε = ±1 at Γ = 0 and ε = 0."""
    net = uniform_wire(10.0, 40, x0=0.0)
    p = SpectralProblem(net, 1.0, gamma=0.0, dphi=0.1,
                        reservoirs=[Reservoir("l", 0, "normal"),
                                    Reservoir("r", 40, "superconductor")])
    s = solve_spectral(p, EPS)
    for k in (0, 24, 40, 64, 104, 128):
        one = solve_spectral(p, EPS[k:k + 1])
        assert np.abs(one.theta[0] - s.theta[k]).max() < 1e-10, EPS[k]


def test_nonconverging_energies_are_reported():
    """maxit = 1: the Newton and the fallbacks cannot converge; the ConvergenceError names
    the energies and the fix (never a silently returned unconverged θ)."""
    with pytest.raises(ConvergenceError, match=r"phase Newton failed at \d+ energies "
                       r"\(ε = .*Δ0\).*Fix: phase differences"):
        solve_phase(_s_wire(), EPS, maxit=1)
    net = uniform_wire(10.0, 40, x0=0.0)
    p = SpectralProblem(net, 1.0, reservoirs=[Reservoir("l", 0, "superconductor"),
                                              Reservoir("r", 40, "superconductor")])
    with pytest.raises(ConvergenceError, match=r"spectral Newton failed at 1 energy "
                       r"\(ε = 1 Δ0\).*Fix: a small Dynes"):
        solve_spectral(p, np.array([0.5, 1.0, 2.0]), maxit=1)


def test_newton_active_flags_an_unsolvable_system():
    """Independent real equations x² = a: a = −1 has no real root; it stays unconverged
    (flag False, its residual returned) while the others converge to √a and are frozen."""
    a = np.array([4.0, 2.0, -1.0, 9.0])

    def fun(idx, x, jac):
        r = x**2 - a[idx, None]
        return r, sp.diags(2 * x.ravel()) if jac else None

    x, done, it, norm = newton_active(fun, np.full((4, 1), 0.3), 30, 1e-12, 1e-14, 10)
    assert done.tolist() == [True, True, False, True]
    assert np.allclose(x[done, 0], np.sqrt(a[done]), rtol=1e-14, atol=0)
    assert norm[2] >= 1.0 and it == 30


def test_energies_text():
    assert energies_text(np.array([1.0])) == "1 energy (ε = 1 Δ0)"
    assert energies_text(np.arange(8.0), most=3) == "8 energies (ε = 0, 1, 2, … Δ0)"

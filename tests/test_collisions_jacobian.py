"""Jacobian of the discrete collision operator: dense blocks, FFT JVP, Newton."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest
from scipy.sparse.linalg import LinearOperator, gmres

from fvqp.collisions import (
    CollisionParams,
    EnergyGrid,
    collision_rhs,
    collision_terms,
    equilibrium,
    jacobian,
    jvp,
)
from fvqp.spectra.gap import thermal_gap

PARAMS = CollisionParams(2.3)
PROCESS_SETS = (("scattering",), ("pair",), ("scattering", "pair"))


@cache
def state(kind: str):
    t = 0.3
    delta = thermal_gap(t, 1.0)
    gamma = 1e-3 * delta if kind == "dynes" else 0.0
    h = {"coarse": 0.05, "dynes": 0.02}[kind]
    grid = EnergyGrid.build(delta, h, delta + 2.5, gamma=gamma)
    f0, n0 = equilibrium(grid, t)
    rng = np.random.default_rng(11)
    f = np.clip(f0 + rng.uniform(0, 0.2, grid.n) * np.exp(-(grid.e - delta)), 0, 1)
    n = n0 * rng.uniform(0.5, 1.5, grid.n_ph) + 0.01
    df = rng.normal(size=grid.n) * 0.1
    dn = rng.normal(size=grid.n_ph)
    return grid, f, n, df, dn


def complex_step(grid, f, n, df, dn, processes):
    eps = 1e-30
    t = collision_terms(f + 1j * eps * df, n + 1j * eps * dn, grid, PARAMS, processes,
                        method="direct")
    return t.qp.imag / eps, t.ph.imag / eps


def rel_err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


@pytest.mark.parametrize("processes", PROCESS_SETS)
@pytest.mark.parametrize("kind", ["coarse", "dynes"])
def test_dense_jacobian_and_fft_jvp_match_complex_step(kind: str, processes) -> None:
    grid, f, n, df, dn = state(kind)
    ref_q, ref_p = complex_step(grid, f, n, df, dn, processes)
    jac = jacobian(f, n, grid, PARAMS, processes)
    q, p = jac.matvec(df, dn)
    assert rel_err(q, ref_q) < 1e-12 and rel_err(p, ref_p) < 1e-12
    for tilt in (0.0, 1.0 / 0.3):
        q, p = jvp(f, n, df, dn, grid, PARAMS, processes, tilt=tilt)
        assert rel_err(q, ref_q) < 1e-12 and rel_err(p, ref_p) < 1e-12
    # each block separately (f-only and n-only directions)
    q, p = jvp(f, n, df, None, grid, PARAMS, processes)
    assert rel_err(q, jac.ff @ df) < 1e-12 and rel_err(p, jac.nf @ df) < 1e-12
    q, p = jvp(f, n, None, dn, grid, PARAMS, processes)
    assert rel_err(q, jac.fn @ dn) < 1e-12 and rel_err(p, jac.nn @ dn) < 1e-12
    assert np.count_nonzero(jac.nn - np.diag(np.diag(jac.nn))) == 0


def test_jacobian_matches_central_differences() -> None:
    grid, f, n, df, dn = state("coarse")
    jac = jacobian(f, n, grid, PARAMS)
    eps = 1e-6
    sp = collision_rhs(f + eps * df, n + eps * dn, grid, PARAMS, method="direct")
    sm = collision_rhs(f - eps * df, n - eps * dn, grid, PARAMS, method="direct")
    q, p = jac.matvec(df, dn)
    assert rel_err(q, (sp[0] - sm[0]) / (2 * eps)) < 1e-7
    assert rel_err(p, (sp[1] - sm[1]) / (2 * eps)) < 1e-7


def test_jacobian_conservation_structure() -> None:
    """Energy conservation for all (f, n) => the weighted column sums vanish."""
    grid, f, n, _, _ = state("coarse")
    jac = jacobian(f, n, grid, PARAMS).dense()
    w = np.concatenate([grid.qp_weights * grid.e,
                        PARAMS.phonon_weight * grid.h * grid.omega**3])
    col = w @ jac
    assert np.max(np.abs(col)) < 1e-12 * np.max(np.abs(w[:, None] * jac).sum(0))


def _steady_problem():
    """QP injection + phonon escape to a bath: a unique, well-posed steady state."""
    t_bath = 0.3
    delta = thermal_gap(t_bath, 1.0)
    grid = EnergyGrid.build(delta, 0.1, delta + 2.0)
    f_b, n_b = equilibrium(grid, t_bath)
    source = 2e-3 * np.exp(-(((grid.e - delta - 1.0) / 0.2) ** 2))
    tau_esc = 0.5

    def residual(x: np.ndarray) -> np.ndarray:
        f, n = x[: grid.n], x[grid.n :]
        sq, sp = collision_rhs(f, n, grid, PARAMS)
        return np.concatenate([sq + source, sp - (n - n_b) / tau_esc])

    def jac(x: np.ndarray) -> np.ndarray:
        f, n = x[: grid.n], x[grid.n :]
        j = jacobian(f, n, grid, PARAMS).dense()
        j[grid.n :, grid.n :] -= np.eye(grid.n_ph) / tau_esc
        return j

    def jv(x: np.ndarray, v: np.ndarray) -> np.ndarray:
        f, n = x[: grid.n], x[grid.n :]
        q, p = jvp(f, n, v[: grid.n], v[grid.n :], grid, PARAMS)
        return np.concatenate([q, p - v[grid.n :] / tau_esc])

    return grid, np.concatenate([f_b, n_b]), residual, jac, jv


def test_newton_converges_quadratically() -> None:
    """Dense Newton on a strongly driven steady state (f rises ~10x above thermal)."""
    grid, x, residual, jac, _ = _steady_problem()
    norms = [np.max(np.abs(residual(x)))]
    for _ in range(15):
        x = x - np.linalg.solve(jac(x), residual(x))
        norms.append(np.max(np.abs(residual(x))))
        if norms[-1] < 1e-14:
            break
    assert norms[-1] < 1e-14 and len(norms) <= 11
    # asymptotic range: e_{k+1} <= C e_k^2 and estimated order ~2
    tail = [e for e in norms[1:] if 1e-13 < e < 1e-2]
    assert len(tail) >= 3
    for a, b in zip(tail[:-1], tail[1:], strict=True):
        assert b <= 100.0 * a * a
    e0, e1, e2 = tail[-3:]
    order = np.log(e2 / e1) / np.log(e1 / e0)
    assert order > 1.8
    f = x[: grid.n]
    assert np.all(f > 0) and np.all(f < 1)


def test_newton_krylov_step_matches_dense_step() -> None:
    grid, x, residual, jac, jv = _steady_problem()
    r = residual(x)
    dense_step = np.linalg.solve(jac(x), r)
    size = r.size
    op = LinearOperator((size, size), matvec=lambda v: jv(x, v), dtype=float)
    krylov_step, info = gmres(op, r, rtol=1e-12, atol=0.0, restart=size, maxiter=5)
    assert info == 0
    assert rel_err(krylov_step, dense_step) < 1e-8

"""The cheap collision evaluation of the collisional bte (issue 16, performance) equals the
reference evaluations it replaced.

* :class:`fvqp.collisions.angular.RatesLinearisation` (the rates' derivative by the product
  rule in real FFTs, :func:`fvqp.collisions.correlations.evaluate`) equals the complex
  step through :func:`fvqp.collisions.angular.angular_rates`;
* :meth:`InelasticProblem.collision_jvp` at its cached linearisation equals the complex
  step through the whole collision rows (``jvp_mode = "complex_step"``, the former
  action), also at states whose partners are clipped (φ < 0, φ > 1, n < 0);
* the rates cached per state are the rates of that state (a changed state, also in the
  same buffer, is evaluated anew);
* the preconditioner's QP block alone (bath phonons) equals the QP block of the full
  dense Jacobian.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_bte_mesh_collisions import WALLS, _grid, make, packet

from fvqp.collisions.angular import RatesLinearisation, angular_rates
from fvqp.collisions.batched import batched_jacobian, qp_block
from fvqp.spectra.bins import BinGrid, cell_spectra

EPS = 1e-30


def _state(rng, C, N, M, clipped=False):
    f = 0.3 * rng.random((C, N))
    n = 0.5 * rng.random((C, M))
    if clipped:
        f[:, ::5] = -0.05
        f[:, 1::7] = 1.2
        n[:, ::3] = -0.02
    return f, n


@pytest.mark.parametrize("held", [False, True])
def test_rates_linearisation_equals_the_complex_step(held):
    """Every rate's derivative along (δf̄, δn̄) to 1e-13 of its scale, per cell DOS and
    prefactors; ``held``: phonons at the bath (δn̄ = None: the QP rates' derivatives
    alone)."""
    rng = np.random.default_rng(3)
    grid = BinGrid.build(1.7, 0.1, 3.3, omega_max=5.0)
    rho, ados, _ = cell_spectra(grid, np.array([1.7, 1.5, 1.9, 0.0]))
    C, N, M = 4, grid.n, grid.n_ph
    f, n = _state(rng, C, N, M)
    qs, cph = np.array([1.0, 0.7, 1.3, 2.0]), np.array([0.6, 0.5, 0.9, 0.3])
    kw = dict(h=grid.h, m=grid.m, qp_scale=qs, c_ph=cph)
    lin = RatesLinearisation(f, n, rho, ados, **kw)
    df = rng.standard_normal((C, N))
    dn = None if held else rng.standard_normal((C, M))
    got = lin.derivative(df, dn)
    ref = angular_rates(f + 1j * EPS * df, n + (0 if held else 1j * EPS * dn), rho, ados,
                        **kw)
    names = ("qp_in", "qp_out") if held else ("qp_in", "qp_out", "ph_gain", "ph_loss")
    for name, g in zip(names, got[: len(names)], strict=True):
        r = getattr(ref, name).imag / EPS
        assert np.abs(g - r).max() <= 1e-13 * np.abs(r).max(), name
    if held:
        assert got[2] is None and got[3] is None


@pytest.mark.parametrize("phonons", ["bath", "local"])
@pytest.mark.parametrize("clipped", [False, True])
def test_collision_action_equals_the_complex_step_of_the_rows(phonons, clipped):
    """The Krylov action of the collisions (real FFTs at the cached linearisation) equals
    the complex step through the collision rows to 1e-13 of its scale; with ``clipped``
    the angle averages leave [0, 1] in some bins and the phonons go negative in some
    nodes, where the partners are clipped (derivative 0, :func:`physical`)."""
    p = make(_grid(), {w: "diffuse" for w in WALLS}, phonons=phonons)
    rng = np.random.default_rng(7)
    x = packet(p, amp=0.3) * (1.0 + 0.3 * rng.standard_normal(p.n * p.S))
    y = x.reshape(p.n, p.S)
    if clipped:
        q = y[:, : p.nq].reshape(p.n, p.N, p.B)
        q[:, ::4, p.K] = -0.01
        q[:, 1::5, p.K] = 1.1
        if p.Mp:
            y[:, p.nq::3] = -0.05
        phi, nb = p.split(y)[1:]
        assert (phi < 0).any() and (phi > 1).any()
        assert not p.Mp or (nb < 0).any()
    for _ in range(2):  # a second direction at the same (cached) state
        v = rng.standard_normal(x.shape)
        got = p.collision_jvp(x, v)
        p.jvp_mode = "complex_step"
        ref = p.collision_jvp(x, v)
        p.jvp_mode = "linear"
        assert np.abs(got - ref).max() <= 1e-13 * np.abs(ref).max()


def test_cached_rates_follow_the_state():
    """The rates shared by the residual, the preconditioner and the actions are those of
    the state passed, also when the caller changes the same buffer in place."""
    p = make(_grid(), {w: "diffuse" for w in WALLS}, phonons="local")
    x = packet(p, amp=0.2)
    y = x.reshape(p.n, p.S)
    r1 = p.rates_at(y)
    fresh = p.collision_rates(y.copy())
    assert all(np.array_equal(getattr(r1, k), getattr(fresh, k))
               for k in ("qp_in", "qp_out", "ph_gain", "ph_loss"))
    res1 = p.rhs(x)
    x *= 1.1                                    # same buffer, another state
    res2 = p.rhs(x)
    p._lin = None                               # no cache at all
    assert np.array_equal(p.rhs(x), res2)
    assert np.abs(res2 - res1).max() > 1e-3 * np.abs(res1).max()
    r2 = p.rates_at(y)
    assert np.abs(r2.qp_out - r1.qp_out).max() > 1e-3 * np.abs(r1.qp_out).max()


def test_qp_block_equals_the_dense_jacobian_block():
    """The preconditioner's 0D block with bath phonons (QP rows and columns only) is the
    QP block of the full dense Jacobian, to round-off."""
    rng = np.random.default_rng(11)
    grid = BinGrid.build(1.7, 0.1, 3.3, omega_max=5.0)
    rho, ados, _ = cell_spectra(grid, np.array([1.7, 1.5, 0.0]))
    f, n = _state(rng, 3, grid.n, grid.n_ph)
    kw = dict(h=grid.h, m=grid.m, qp_scale=np.array([1.0, 0.5, 2.0]))
    ff = qp_block(f, n, rho, ados, **kw)
    ref = batched_jacobian(f, n, rho, ados, **kw)[:, : grid.n, : grid.n]
    assert np.abs(ff - ref).max() <= 1e-14 * np.abs(ref).max()


@pytest.mark.parametrize("shift", [0.0, 30.0])
def test_cell_blocks_by_schur_complement_equal_the_dense_inverse(shift):
    """Local phonons: the preconditioner's per-cell 0D solve through the Schur complement
    of the diagonal phonon block equals the dense (N + M) inverse to 1e-11 (steady
    ``shift = 0`` and a time step's shift)."""
    p = make(_grid(), {w: "diffuse" for w in WALLS}, phonons="local", tau_esc=5.0)
    x = packet(p, amp=0.3)
    pc = p.preconditioner
    pc.update(x, shift)
    assert pc.schur is not None
    rc = np.random.default_rng(5).standard_normal((p.n, p.N + p.M))
    got = pc._cell_solve(rc)
    pc._cell_schur = lambda *a: False
    pc.update(x, shift)
    assert pc.schur is None
    ref = pc._cell_solve(rc)
    assert np.abs(got - ref).max() <= 1e-11 * np.abs(ref).max()

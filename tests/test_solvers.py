"""Solver layer: PETSc options under a prefix, SNES results and failures, BDF order,
the mesh-less Newton on SNES (per-entry test, step halving, dense LU and scaled GMRES,
options), two-level coarse corrections."""

import json
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp

from conftest import MESHES, ROOT, mpi_env
from fvqp.mesh import build_geometry, read_mesh
from fvqp.models.heat.problem import BoundaryCondition, HeatProblem
from fvqp.parallel import Distribution
from fvqp.parallel.serial import SerialLayout
from fvqp.solvers import (
    BDFIntegrator,
    BDFOptions,
    ConvergenceError,
    DenseNewton,
    DomainError,
    JacobianConfig,
    NonlinearSolver,
    SparseAssembler,
    options_session,
)
from fvqp.solvers.dense import DenseLU, LaggedSchur
from fvqp.solvers.linear import csr_matrix
from fvqp.solvers.twolevel import CoarseCorrection, add_coarse_level, exact_defaults


@pytest.fixture(scope="module")
def line():
    return Distribution(build_geometry(read_mesh(MESHES / "mms/line_64.msh")))


class Linear:
    """Constant heat capacity and conductivity: U = c T, Phi = k T."""

    def __init__(self, c=1.0, k=1.0):
        self.c0, self.k0 = c, k

    def U(self, T):
        return self.c0 * T

    def c(self, T):
        return np.full_like(T, self.c0)

    def phi(self, T):
        return self.k0 * T

    def kappa(self, T):
        return np.full_like(T, self.k0)

    def dkappa(self, T):
        return np.zeros_like(T)


def test_sparse_assembler_sums_duplicates_like_scipy(line):
    n = line.local.n_owned
    rng = np.random.default_rng(1)
    rows = np.concatenate([np.arange(n), np.arange(n - 1), np.arange(n - 1), np.arange(n)])
    cols = np.concatenate([np.arange(n), np.arange(1, n), np.arange(n - 1), np.arange(n)])
    vals = rng.normal(size=rows.size)
    A = SparseAssembler(line, rows, cols).assemble(vals)
    ref = sp.coo_matrix((vals, (rows, cols)), shape=(n, n)).toarray()
    x = rng.normal(size=n)
    X, Y = A.createVecs()
    X.setArray(x)
    A.mult(X, Y)
    assert np.allclose(Y.getArray(), ref @ x, rtol=1e-14)


def cube_root_solver(dist, prefix, options, a, domain_guard=False):
    n = dist.local.n_owned
    calls = {"n": 0}

    def residual(x):
        calls["n"] += 1
        if domain_guard and np.any(x[:n] <= 0):
            raise DomainError("x must stay positive")
        return x[:n] ** 3 - a

    def jacobian(x):
        return 3 * x[:n] ** 2

    pat = (np.arange(n), np.arange(n))
    return NonlinearSolver(dist, residual, jacobian, pat, prefix, options), calls


def test_snes_newton_converges_quadratically(line):
    a = np.linspace(1.0, 8.0, line.local.n_owned)
    s, _ = cube_root_solver(line, "cr1", {"snes_rtol": 1e-14, "snes_atol": 1e-14,
                                          "ksp_type": "preonly", "pc_type": "jacobi"}, a)
    x = line.create_vec()
    x.set(2.0)
    res = s.solve(x)
    assert res.success and res.message.startswith("CONVERGED")
    assert np.allclose(x.getArray(), np.cbrt(a), rtol=1e-13)
    assert res.iterations <= 7  # quadratic convergence from x0 = 2
    assert res.linear_iterations >= res.iterations


def test_command_line_options_win_over_the_dict(line):
    from petsc4py import PETSc

    PETSc.Options().setValue("-cl_snes_max_it", 3)  # as if typed on the command line
    s, _ = cube_root_solver(line, "cl", {"snes_max_it": 50, "snes_rtol": 1e-3}, np.ones(64))
    assert s.snes.getTolerances()[3] == 3
    # the dict still applies
    assert s.snes.getTolerances()[0] == pytest.approx(1e-3, rel=1e-6, abs=0)
    assert "snes_max_it" not in s.inserted_options
    PETSc.Options().delValue("-cl_snes_max_it")


def test_a_second_problem_under_the_same_prefix_does_not_inherit_options(line):
    """Options of a first problem must not leak into the next one configured under the
    same prefix (two cases run from one Python session): the second call replaces the
    first call's values and removes the names it does not set; the command line still
    wins over both."""
    from petsc4py import PETSc

    PETSc.Options().setValue("-leak_snes_stol", 1e-30)  # as if typed on the command line
    a, _ = cube_root_solver(line, "leak", {"snes_max_it": 7, "snes_rtol": 1e-3}, np.ones(64))
    assert a.snes.getTolerances()[3] == 7 and a.snes.getTolerances()[0] == 1e-3
    b, _ = cube_root_solver(line, "leak", {"snes_rtol": 1e-6}, np.ones(64))
    assert b.snes.getTolerances()[0] == pytest.approx(1e-6, rel=1e-6, abs=0)
    assert b.snes.getTolerances()[3] == 50  # PETSc's default again, not the first's 7
    assert b.snes.getTolerances()[2] == pytest.approx(1e-30, rel=1e-6, abs=0)  # command line kept
    PETSc.Options().delValue("-leak_snes_stol")


def test_non_convergence_is_raised_with_reason(line):
    s, _ = cube_root_solver(line, "nc", {"snes_max_it": 1, "snes_rtol": 1e-14,
                                         "snes_atol": 1e-30, "snes_stol": 0}, np.full(64, 1e3))
    x = line.create_vec()
    x.set(1.0)
    with pytest.raises(ConvergenceError, match="DIVERGED_MAX_IT"):
        s.solve(x)
    x.set(1.0)
    res = s.solve(x, raise_on_failure=False)
    assert not res.success and res.reason < 0


def test_domain_errors_make_the_line_search_back_off(line):
    """log x = 0 from x0 = 10: the full Newton step goes to x = -13, outside the domain.
    The residual refuses (DomainError) and the line search must shorten the step."""
    n = line.local.n_owned
    refused = {"n": 0}

    def residual(x):
        if np.any(x[:n] <= 0):
            refused["n"] += 1
            raise DomainError("x must stay positive")
        return np.log(x[:n])

    s = NonlinearSolver(line, residual, lambda x: 1.0 / x[:n], (np.arange(n), np.arange(n)),
                        "de", {"snes_rtol": 1e-12, "snes_max_it": 100,
                               "snes_linesearch_type": "bt"})
    x = line.create_vec()
    x.set(10.0)
    res = s.solve(x)
    assert refused["n"] >= 1  # the domain was really hit
    assert res.success
    assert np.allclose(x.getArray(), 1.0, rtol=1e-10)


def _decay(dist, order, dt, t_end=0.05):
    n = dist.local.n_owned
    mat = Linear(c=1.0, k=1.0)
    bcs = {"left": BoundaryCondition("bath", 1.0), "right": BoundaryCondition("bath", 1.0)}
    prob = HeatProblem(dist, [mat], np.ones(1), bcs)
    x0 = 1.0 + np.sin(np.pi * dist.local.centroid[:n, 0])
    opts = BDFOptions(order=order, dt_initial=dt, adaptive=False)
    it = BDFIntegrator(prob, x0, 0.0, f"bdf{order}_", {"snes_rtol": 1e-13, "snes_atol": 1e-15,
                                                     "ksp_type": "preonly", "pc_type": "lu"},
                       opts, jacobian=JacobianConfig())
    res = it.run(t_end)
    assert res.success and res.steps == round(t_end / dt)
    return it.x


@pytest.mark.parametrize("order", [1, 2])
def test_bdf_time_order(line, order):
    ref = _decay(line, 2, 0.05 / 1024)
    errs = [np.abs(_decay(line, order, dt) - ref).max() for dt in (0.05 / 16, 0.05 / 32,
                                                                    0.05 / 64)]
    rates = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
    assert np.all(rates > order - 0.15) and np.all(rates < order + 0.3), rates


# ---- the mesh-less Newton on PETSc (kinetics0d's per-entry test, step halving, linear solves)
def _two_scale():
    """F = (y0 - 2, 1e-14 (exp(y1) - 2)): the second row is invisible in |F|."""
    def residual(y):
        return np.array([y[0] - 2.0, 1e-14 * (np.exp(y[1]) - 2.0)])

    def jacobian(y):
        return np.diag([1.0, 1e-14 * np.exp(y[1])])

    return residual, jacobian


def _plain_snes(residual, jacobian, y0):
    """PETSc's SNES with its own residual and step tests (the test DenseNewton replaces)."""
    from petsc4py import PETSc

    snes = PETSc.SNES().create(comm=PETSc.COMM_SELF)
    mat = PETSc.Mat().createDense((2, 2), comm=PETSc.COMM_SELF)
    mat.setUp()

    def fill(snes, x, J, P):
        P.getDenseArray()[...] = jacobian(x.getArray(readonly=True))
        P.assemble()

    snes.setFunction(lambda s, x, f: f.setArray(residual(x.getArray(readonly=True))),
                     PETSc.Vec().createSeq(2, comm=PETSc.COMM_SELF))
    snes.setJacobian(fill, mat)
    snes.getKSP().setType("preonly")
    snes.getKSP().getPC().setType("lu")
    snes.getLineSearch().setType("basic")
    x = PETSc.Vec().createSeq(2, comm=PETSc.COMM_SELF)
    x.setArray(y0)
    snes.solve(None, x)
    return x.getArray().copy(), int(snes.getConvergedReason())


def test_dense_newton_stops_on_the_callers_test_not_on_the_residual_norm():
    """PETSc's residual test stops after one iteration (|F| fell by 1e-14 through the
    first row) with y1 = 1, wrong by 44 % (ln 2 = 0.693); DenseNewton's per-entry test on
    the correction (|delta_i| <= 1e-12 max(|x_i|, floor)) continues until y1 = ln 2 to
    round-off. The hook sees the per-entry correction of every iterate and the history
    so far; the accepted correction is returned, not applied."""
    residual, jacobian = _two_scale()
    y, reason = _plain_snes(residual, jacobian, np.zeros(2))
    assert reason > 0 and abs(y[1] - np.log(2.0)) > 0.3
    calls = []

    def accepted(err, hist):
        calls.append((err, list(hist)))
        return err <= 1e-12

    newton = DenseNewton(2, residual, DenseLU(jacobian), accepted=accepted, floor=1e-12,
                         prefix="dn_hook_")
    x, res = newton.solve(np.zeros(2))
    assert res.success and res.reason == "CONVERGED_USER"
    y = x - res.correction
    assert y[0] == 2.0 and y[1] == pytest.approx(np.log(2.0), rel=1e-14, abs=0)
    assert np.array_equal(x, res.x)
    assert res.error == np.max(np.abs(res.correction) / np.maximum(np.abs(x), 1e-12))
    for k, (err, hist) in enumerate(calls):
        assert hist == res.history[: k + 1] and hist[-1] == err
    assert res.iterations == len(calls) == res.factorizations >= 4


def test_dense_newton_reports_an_unmet_callers_test_with_the_fix():
    """A test that is never met: the solve ends at snes_max_it with DIVERGED_MAX_IT, and
    the error says that the per-entry test was not met and how to continue."""
    residual, jacobian = _two_scale()
    newton = DenseNewton(2, residual, DenseLU(jacobian), accepted=lambda err, hist: False,
                         floor=1e-12, prefix="dn_never_", options={"snes_max_it": 5})
    with pytest.raises(ConvergenceError) as err:
        newton.solve(np.zeros(2))
    res = err.value.result
    assert res.reason == "DIVERGED_MAX_IT" and res.iterations == 5 and not res.success
    msg = str(err.value)
    assert "per-entry test" in msg and "-dn_never_snes_max_it" in msg
    assert "limit 5" in msg


def test_dense_newton_halves_the_step_into_the_domain():
    """F(x) = sqrt(x) - 1/2 from x = 4: the full step (to -2) leaves the domain x > 0; the
    step is halved until it is inside, the residual is never evaluated outside, and
    Newton converges to 1/4. A domain the direction never re-enters ends with
    DIVERGED_LINE_SEARCH after the halving limit (8 halvings: at best 4 - 6/128)."""
    seen = []

    def residual(x):
        seen.append(float(x[0]))
        if x[0] <= 0.0:
            raise ArithmeticError("sqrt of a negative number")
        return np.sqrt(x) - 0.5

    def jacobian(x):
        return np.diag(0.5 / np.sqrt(x))

    newton = DenseNewton(1, residual, DenseLU(jacobian), floor=1e-30,
                         accepted=lambda err, hist: err <= 1e-13,
                         in_domain=lambda x: bool(x[0] > 0.0), prefix="dn_domain_")
    x, res = newton.solve(np.array([4.0]))
    assert (x - res.correction)[0] == pytest.approx(0.25, rel=1e-14, abs=0)
    assert min(seen) > 0.0 and res.history[0] == 1.5  # |delta| = 6 at x = 4
    blocked = DenseNewton(1, residual, DenseLU(jacobian), floor=1e-30,
                          accepted=lambda err, hist: err <= 1e-13,
                          in_domain=lambda x: bool(x[0] > 3.99), prefix="dn_blocked_",
                          max_halvings=8)
    with pytest.raises(ConvergenceError, match="DIVERGED_LINE_SEARCH") as err:
        blocked.solve(np.array([4.0]))
    assert err.value.result.iterations == 1 and "no step 2^-j (j < 8)" in str(err.value)


def test_dense_newton_passes_the_callers_errors_through():
    """An error of the residual that is not ArithmeticError (a bug, not the domain) is
    raised as it is from inside SNES, not turned into a Newton failure, and the options
    pushed for the solve are removed all the same; an ArithmeticError of the Jacobian
    ends Newton with DIVERGED_LINEAR_SOLVE."""
    from petsc4py import PETSc

    def residual(x):
        if x[0] < 2.5:
            raise KeyError("bug in the residual")
        return x**2 - 4.0

    newton = DenseNewton(1, residual, DenseLU(lambda x: np.diag(2 * x)), floor=1e-30,
                         accepted=lambda err, hist: err <= 1e-13, prefix="dn_bug_")
    with pytest.raises(KeyError, match="bug in the residual"):
        newton.solve(np.array([3.0]))
    assert not [k for k in PETSc.Options().getAll() if k.startswith("dn_bug_")]

    def jacobian(x):  # the Jacobian's own domain error is a failed linear solve
        if x[0] < 2.5:
            raise ArithmeticError("no Jacobian here")
        return np.diag(2 * x)

    newton = DenseNewton(1, lambda x: x**2 - 4.0, DenseLU(jacobian), floor=1e-30,
                         accepted=lambda err, hist: err <= 1e-13, prefix="dn_bug_")
    with pytest.raises(ConvergenceError, match="DIVERGED_LINEAR_SOLVE after 1 iterations"):
        newton.solve(np.array([3.0]))


def _block_system(nq=10, nph=10, seed=3):
    r"""F(x) = J0 x + k x^2 - b, J0 = D [[A, B], [C, diag(d)]] D^{-1} (a diagonal second
    block), D = diag(x*), k_i ~ 1/x*_i: every row at the scale of its root entry, the root
    x* spanning nine decades. Returns the size, residual, dense Jacobian, blocks, action,
    diagonal and x*."""
    rng = np.random.default_rng(seed)
    n = nq + nph
    a = -np.diag(2.0 + rng.random(nq)) + 0.05 * rng.random((nq, nq))
    b, c = 0.05 * rng.random((nq, nph)), 0.05 * rng.random((nph, nq))
    d = -(1.0 + rng.random(nph))
    x_star = np.logspace(-9, 0, n)[rng.permutation(n)]
    j0 = x_star[:, None] * np.block([[a, b], [c, np.diag(d)]]) / x_star[None, :]
    k = -0.3 * rng.random(n) / x_star
    rhs = j0 @ x_star + k * x_star**2

    def residual(x):
        return j0 @ x + k * x**2 - rhs

    def jacobian(x):
        return j0 + np.diag(2 * k * x)

    def blocks(x):
        jac = jacobian(x)
        return jac[:nq, :nq], jac[:nq, nq:], jac[nq:, :nq], np.diag(jac)[nq:]

    return n, residual, jacobian, blocks, (lambda x: lambda v: jacobian(x) @ v), \
        (lambda x: np.diag(jacobian(x))), x_star


def test_lagged_schur_gmres_in_scaled_variables_is_newtons_state():
    """GMRES on the exact action in the per-entry scaled variables, preconditioned by the
    diagonal (no block formed, no factorisation), and the lagged Schur LU both reach the
    root x* (entries 1e-9 .. 1) to the per-entry tolerance of the dense-LU Newton, in the
    same number of corrections; the lagged LU is formed once."""
    n, residual, jacobian, blocks, action, diagonal, x_star = _block_system()
    kw = {"accepted": lambda err, hist: err <= 1e-10, "floor": 1e-30}
    x0 = 2.0 * x_star + 1e-12
    dense = DenseNewton(n, residual, DenseLU(jacobian), prefix="dn_lu_", **kw)
    x_d, res_d = dense.solve(x0)
    diag = DenseNewton(n, residual, LaggedSchur(blocks, action, diagonal=diagonal),
                       prefix="dn_diag_", **kw)
    x_g, res_g = diag.solve(x0)
    lagged = DenseNewton(n, residual, LaggedSchur(blocks, action), prefix="dn_lag_", **kw)
    x_l, res_l = lagged.solve(x0)
    for x, res in ((x_d, res_d), (x_g, res_g), (x_l, res_l)):
        y = x - res.correction
        assert np.max(np.abs(y - x_star) / x_star) < 1e-12
    assert res_g.iterations == res_d.iterations == res_l.iterations
    assert res_g.factorizations == 0 and res_g.diagonals == res_g.iterations
    assert res_g.krylov_iterations >= res_g.iterations
    assert res_l.factorizations == 1 and res_l.krylov_iterations >= res_l.iterations - 1


def test_dense_newton_takes_command_line_options_and_leaves_none():
    """Options the command line set under the prefix win over the caller's: with
    -<prefix>snes_max_it 1 a solve that needs several corrections stops with
    DIVERGED_MAX_IT (limit 1) although the options say 50; with
    -<prefix>scaled_ksp_max_it 1 the inner GMRES fails with the diagonal and the Schur
    LU takes over. After each solve no option fvqp pushed is left in the database."""
    from petsc4py import PETSc

    n, residual, jacobian, blocks, action, diagonal, x_star = _block_system()
    db = PETSc.Options()
    kw = {"accepted": lambda err, hist: err <= 1e-10, "floor": 1e-30}

    def under(prefix):
        return {k for k in db.getAll() if k.startswith(prefix)}

    db.setValue("dn_cli_snes_max_it", 1)
    try:
        newton = DenseNewton(n, residual, DenseLU(jacobian), prefix="dn_cli_",
                             options={"snes_max_it": 50}, **kw)
        with pytest.raises(ConvergenceError, match="DIVERGED_MAX_IT") as err:
            newton.solve(2.0 * x_star)
        assert err.value.result.max_iterations == 1 and "limit 1" in str(err.value)
        assert err.value.result.iterations == 1
        assert under("dn_cli_") == {"dn_cli_snes_max_it"}
    finally:
        db.delValue("dn_cli_snes_max_it")
    db.setValue("dn_cli_scaled_ksp_max_it", 1)
    try:
        newton = DenseNewton(n, residual, LaggedSchur(blocks, action, diagonal=diagonal),
                             prefix="dn_cli_", **kw)
        x, res = newton.solve(2.0 * x_star)
        assert res.success and res.factorizations >= 1 and res.diagonals == 1
        assert under("dn_cli_") == {"dn_cli_scaled_ksp_max_it"}
    finally:
        db.delValue("dn_cli_scaled_ksp_max_it")
    assert under("dn_") == set()


def test_nonlinear_solver_on_a_serial_layout_with_mf_operator():
    """NonlinearSolver on a flat vector of one process (SerialLayout), Krylov operator
    -snes_mf_operator (finite differences of F) preconditioned by an assembled matrix
    that is only the diagonal of the Jacobian (usadel's inelastic solve): a numpy start
    is solved in place, Newton converges to the tridiagonal system's solution."""
    n = 30
    b = np.linspace(1.0, 2.0, n)
    T = sp.diags([-1.0, 3.0, -1.0], [-1, 0, 1], shape=(n, n)).tocsr()

    def residual(x):
        return T @ x + x**3 - b

    with options_session():
        s = NonlinearSolver(SerialLayout(n), residual, lambda x: 3.0 + 3 * x**2,
                            (np.arange(n), np.arange(n)), "sl_mf_",
                            {"snes_mf_operator": None, "snes_rtol": 1e-12,
                             "ksp_type": "gmres", "ksp_rtol": 1e-12, "pc_type": "lu"})
        x = np.zeros(n)
        res = s.solve(x)
        s.destroy()
    assert res.success and res.iterations <= 8
    assert np.max(np.abs(residual(x))) <= 1e-10 * np.max(b)


# ---- two-level coarse corrections --------------------------------------------------------
def _spd(n, seed=3):
    """A sparse SPD matrix (shifted 1D Laplacian with random couplings)."""
    rng = np.random.default_rng(seed)
    off = -rng.uniform(0.5, 1.5, n - 1)
    d = np.zeros(n)
    d[:-1] -= off
    d[1:] -= off
    return sp.diags([off, d + 1e-3, off], [-1, 0, 1]).tocsr()


def _aggregates(n, size):
    agg = np.arange(n) // size
    R = sp.csr_matrix((np.ones(n), (agg, np.arange(n))), shape=(agg[-1] + 1, n))
    return R, R.T.tocsr()


def test_coarse_correction_is_the_galerkin_projection():
    """With an exact coarse solve, z = P (RAP)^{-1} R r (dense reference) and the
    corrected residual is orthogonal to the coarse space: R (r - A z) = 0 to round-off
    (both for a model-assembled coarse matrix and for PETSc's Galerkin product)."""
    from petsc4py import PETSc

    n = 64
    A = _spd(n)
    R, P = _aggregates(n, 8)
    C = (R @ A @ P).toarray()
    r = np.random.default_rng(4).normal(size=n)
    ref = P @ np.linalg.solve(C, R @ r)
    with options_session():
        cc = CoarseCorrection(PETSc.COMM_SELF, R, P, "cc_set_", exact_defaults(PETSc.COMM_SELF))
        cc.set_matrix(sp.csr_matrix(C))
        z = cc.correct(r)
        cc.destroy()
        Am = csr_matrix(PETSc.COMM_SELF, A, n)
        cg = CoarseCorrection(PETSc.COMM_SELF, R, P, "cc_gal_", exact_defaults(PETSc.COMM_SELF))
        cg.set_galerkin(Am)
        zg = cg.correct(r)
        cg.destroy()
        Am.destroy()
    scale = np.max(np.abs(ref))
    for zz in (z, zg):
        assert np.max(np.abs(zz - ref)) <= 1e-12 * scale
        assert np.max(np.abs(R @ (r - A @ zz))) <= 1e-12 * np.max(np.abs(r))


def test_galerkin_coarse_operator_follows_new_values_on_a_kept_pattern():
    """set_galerkin on the same matrix with new values (a Newton Jacobian) reuses the
    products' structure and the coarse solver (MAT_REUSE_MATRIX, refactored in place)
    and gives the coarse correction of the new values: equal to a fresh Galerkin level
    and to the dense formula P (RAP)^{-1} R r to 1e-12."""
    from petsc4py import PETSc

    n = 64
    A1, A2 = _spd(n, seed=3), _spd(n, seed=8)   # the same tridiagonal pattern
    R, P = _aggregates(n, 8)
    r = np.random.default_rng(6).normal(size=n)
    ref = P @ np.linalg.solve((R @ A2 @ P).toarray(), R @ r)
    with options_session():
        Am = csr_matrix(PETSc.COMM_SELF, A1, n)
        cc = CoarseCorrection(PETSc.COMM_SELF, R, P, "reuse_", exact_defaults(
            PETSc.COMM_SELF))
        cc.set_galerkin(Am)
        kept = cc.solver
        Am.setValuesCSR(A2.indptr.astype(PETSc.IntType), A2.indices.astype(PETSc.IntType),
                        A2.data)
        Am.assemble()
        cc.set_galerkin(Am)
        assert cc.solver is kept                 # reused, not rebuilt
        z = cc.correct(r)
        fresh = CoarseCorrection(PETSc.COMM_SELF, R, P, "fresh_", exact_defaults(
            PETSc.COMM_SELF))
        fresh.set_galerkin(Am)
        zf = fresh.correct(r)
        cc.destroy()
        fresh.destroy()
        Am.destroy()
    scale = np.max(np.abs(ref))
    assert np.max(np.abs(z - ref)) <= 1e-12 * scale
    assert np.max(np.abs(z - zf)) <= 1e-12 * scale


def two_level_ksp(A, R, P, prefix: str):
    """A KSP on ``A`` whose PC, as its options under ``prefix`` describe it, becomes the
    one-level stage of a TwoLevelPC with the coarse space ``(R, P)``; set up."""
    from petsc4py import PETSc

    from fvqp.solvers.options import set_from_options

    ksp = PETSc.KSP().create(comm=A.getComm())
    ksp.setOperators(A)
    ksp.setOptionsPrefix(prefix)
    set_from_options(ksp, prefix)
    add_coarse_level(ksp, R, P, prefix)
    ksp.setUp()
    return ksp


def test_two_level_pc_is_the_multiplicative_correction_of_its_smoother():
    """TwoLevelPC (installed by add_coarse_level on a KSP whose options chose point
    Jacobi, its one-level stage) with an exact coarse solve:
    y = D^{-1} x + P (RAP)^{-1} R (x - A D^{-1} x) (dense reference), and the coarse
    part of the residual vanishes, R (x - A y) = 0."""
    from petsc4py import PETSc

    from fvqp.solvers.options import apply_options

    n = 64
    A = _spd(n)
    R, P = _aggregates(n, 8)
    x = np.random.default_rng(5).normal(size=n)
    y0 = x / A.diagonal()
    ref = y0 + P @ np.linalg.solve((R @ A @ P).toarray(), R @ (x - A @ y0))
    with options_session():
        apply_options("t2l_", {"pc_type": "jacobi"})
        Am = csr_matrix(PETSc.COMM_SELF, A, n)
        ksp = two_level_ksp(Am, R, P, "t2l_")
        X, Y = Am.createVecs()
        X.setArray(x)
        ksp.getPC().apply(X, Y)
        y = Y.getArray().copy()
        ksp.destroy()
        Am.destroy()
    assert np.max(np.abs(y - ref)) <= 1e-12 * np.max(np.abs(ref))
    assert np.max(np.abs(R @ (x - A @ y))) <= 1e-12 * np.max(np.abs(x))


_TWO_RANK_COARSE = r"""
import json, sys
import numpy as np, scipy.sparse as sp
from petsc4py import PETSc
sys.path.insert(0, sys.argv[2])
from test_solvers import _spd, _aggregates, two_level_ksp
from fvqp.solvers import options_session
from fvqp.solvers.dense import DenseLU, LaggedSchur
from fvqp.solvers.linear import csr_matrix
from fvqp.solvers.options import apply_options
from fvqp.solvers.twolevel import CoarseCorrection, exact_defaults
comm = PETSc.COMM_WORLD
rank, size = comm.getRank(), comm.getSize()
n, agg = 64, 8
A = _spd(n)
R, P = _aggregates(n, agg)
lo, hi = rank * n // size, (rank + 1) * n // size  # aggregates do not straddle ranks
clo, chi = lo // agg, hi // agg
r = np.random.default_rng(4).normal(size=n)
C = (R @ A @ P).tocsr()
ref = P @ np.linalg.solve(C.toarray(), R @ r)
Rl, Pl = R[clo:chi, lo:hi], P[lo:hi, clo:chi]
with options_session():
    cc = CoarseCorrection(comm, Rl, Pl, "mpi_cc_", exact_defaults(comm))
    cc.set_matrix(C[clo:chi])
    z = cc.correct(r[lo:hi])
    Am = csr_matrix(comm, A[lo:hi], n)
    apply_options("mpi_t2l_", {"pc_type": "jacobi"})
    ksp = two_level_ksp(Am, Rl, Pl, "mpi_t2l_")
    X, Y = Am.createVecs()
    X.setArray(r[lo:hi])
    ksp.getPC().apply(X, Y)
    y = Y.getArray().copy()
    y0 = r / A.diagonal()
    yref = y0 + P @ np.linalg.solve(C.toarray(), R @ (r - A @ y0))
    ksp.destroy()
    cc.destroy()
errs = comm.tompi4py().gather([float(np.max(np.abs(z - ref[lo:hi]))),
                               float(np.max(np.abs(y - yref[lo:hi])))])
# ghost exchange on numpy arrays: owned global numbers -> owned + ghost global numbers
from fvqp.mesh import build_geometry, read_mesh
from fvqp.parallel import Distribution
dist = Distribution(build_geometry(read_mesh(sys.argv[3])))
n_own = dist.local.n_owned
gh = dist.ghosted(dist.local_to_global[:n_own].astype(float))
# blocks of 3 unknowns per cell: the global numbers computed on demand, not kept
from fvqp.parallel.blocked import BlockDistribution
bd = BlockDistribution(dist, 3)
want = (dist.local_to_global[:, None] * 3 + np.arange(3)).ravel()
some = np.array([0, 4, bd.local.n_local - 1])
blocks = bool(np.array_equal(bd.local_to_global, want)
              and np.array_equal(bd.global_index(some), want[some])
              and "local_to_global" not in vars(bd)
              and np.array_equal(bd.ghosted(want[:bd.local.n_owned].astype(float)), want))
ghosts = comm.tompi4py().gather([int(dist.local.n_local - n_own),
                                 bool(np.array_equal(gh, dist.local_to_global)) and blocks])
if rank == 0:
    json.dump({"size": size, "errors": errs, "scale": float(np.max(np.abs(ref))),
               "yscale": float(np.max(np.abs(yref))), "ghosts": ghosts},
              open(sys.argv[1], "w"))
"""


def test_two_level_on_two_ranks_equals_the_serial_formula(tmp_path):
    """`mpiexec -n 2`: the coarse matrix split by rows over the ranks (redundant LU) and
    TwoLevelPC's Galerkin product of a distributed A give the global formulas of the two
    tests above on every rank's rows; Distribution.ghosted fills every rank's ghost
    cells with their owners' values (global cell numbers), and a BlockDistribution's
    global numbers of unknowns, computed on demand (not kept), match them."""
    script = tmp_path / "two_rank_coarse.py"
    script.write_text(_TWO_RANK_COARSE)
    out = tmp_path / "out.json"
    proc = subprocess.run(["mpiexec", "-n", "2", sys.executable, str(script), str(out),
                           str(ROOT / "tests"), str(MESHES / "mms/line_64.msh")],
                          capture_output=True, text=True,
                          env=mpi_env(), timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    res = json.loads(out.read_text())
    assert res["size"] == 2
    for ez, ey in res["errors"]:
        assert ez <= 1e-12 * res["scale"] and ey <= 1e-12 * res["yscale"]
    assert all(n_ghosts >= 1 and same for n_ghosts, same in res["ghosts"])

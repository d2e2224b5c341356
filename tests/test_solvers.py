"""Solver layer: PETSc options under a prefix, SNES results and failures, BDF order."""

import numpy as np
import pytest
import scipy.sparse as sp

from conftest import MESHES
from fvqp.mesh import build_geometry, read_mesh
from fvqp.models.heat.problem import BoundaryCondition, HeatProblem
from fvqp.parallel import Distribution
from fvqp.solvers import (
    BDFIntegrator,
    BDFOptions,
    ConvergenceError,
    DomainError,
    NonlinearSolver,
    SparseAssembler,
)


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
                       opts)
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

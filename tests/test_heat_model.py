"""Heat model physics: manufactured solutions (2nd order), exact Jacobian, asymptotics."""

import math

import numpy as np
import pytest

from conftest import MESHES
from fvqp.materials import get_material
from fvqp.mesh import build_geometry, read_mesh
from fvqp.mesh.sources import PowerProfile, Source
from fvqp.models.heat.problem import BoundaryCondition, HeatProblem
from fvqp.models.heat.properties import HeatMaterial
from fvqp.parallel import Distribution
from fvqp.solvers import NonlinearSolver
from fvqp.spectra.gap import BCS_GAP_RATIO, bcs_gap
from fvqp.spectra.thermal import heat_capacity, kappa_ratio
from fvqp.units import UnitSystem

#: Al with the weak-coupling gap ratio: the tables against the BCS quadrature
AL = get_material("Al").with_overrides(gap_ratio=BCS_GAP_RATIO)
UNITS = UnitSystem.from_material(AL)


@pytest.fixture(scope="module")
def al():
    return HeatMaterial(AL, UNITS)


def solve_mms(path, mat, Tb=0.5, A=0.2):
    """Steady -div(kappa grad T) = s with T = Tb + A prod sin(pi x_d) (T = Tb on the boundary)."""
    g = build_geometry(read_mesh(MESHES / path))
    dist = Distribution(g)
    loc, n, d = dist.local, dist.local.n_owned, g.dim
    x = loc.centroid[:n, :d]
    s_ = np.sin(np.pi * x)
    c_ = np.cos(np.pi * x)
    T = Tb + A * np.prod(s_, axis=1)
    grad = np.stack([A * np.pi * c_[:, k] * np.prod(np.delete(s_, k, 1), axis=1)
                     for k in range(d)], axis=1)
    lap = -d * np.pi**2 * (T - Tb)
    src = -(mat.dkappa(T) * np.sum(grad**2, axis=1) + mat.kappa(T) * lap)
    bcs = {b: BoundaryCondition("bath", Tb) for b in g.boundary_names}
    prob = HeatProblem(dist, [mat], np.ones(1), bcs,
                       [Source(src * loc.volume[:n], PowerProfile(1.0))])
    solver = NonlinearSolver(dist, lambda xl: -prob.rhs(xl, 0, math.inf),
                             lambda xl: -prob.rhs_jacobian(xl, 0, math.inf), prob.pattern,
                             "mms_", {"snes_rtol": 1e-12, "ksp_type": "preonly", "pc_type": "lu"})
    v = dist.create_vec()
    v.set(Tb)
    res = solver.solve(v)
    assert res.success and res.iterations <= 6
    err = v.getArray() - T
    return math.sqrt(np.sum(loc.volume[:n] * err**2) / loc.volume[:n].sum())


@pytest.mark.parametrize("family,sizes", [("mms/square_{}.msh", (8, 16, 32, 64)),
                                          ("mms/cube_{}.msh", (8, 16, 32)),
                                          ("mms/line_{}.msh", (16, 32, 64, 128))])
def test_manufactured_solution_converges_at_second_order(al, family, sizes):
    errs = np.array([solve_mms(family.format(n), al) for n in sizes])
    orders = np.log2(errs[:-1] / errs[1:])
    assert np.all(orders > 1.85), (errs, orders)


def test_graded_mesh_error_matches_uniform_mesh_error(al):
    """Grading (Progression 1.1) keeps the TPFA error of the same order as uniform N=16."""
    e_uniform = solve_mms("mms/square_16.msh", al)
    e_graded = solve_mms("mms/square_graded_16.msh", al)
    assert e_graded < 4 * e_uniform


def test_jacobian_matches_finite_differences_across_a_material_interface():
    raw = read_mesh(MESHES / "film_trap/film_trap_coarse.msh")
    g = build_geometry(raw, widths=np.array([0.1, 0.3]))
    dist = Distribution(g)
    mats = [HeatMaterial(AL, UNITS), HeatMaterial(AL.replace(Tc=0.8), UNITS)]
    bcs = {"injector": BoundaryCondition("heat_flux", flux=1e-3),
           "film_edges": BoundaryCondition("insulated"),
           "trap_edges": BoundaryCondition("bath", 0.3), "trap_end": BoundaryCondition("bath", 0.2)}
    prob = HeatProblem(dist, mats, np.array([0.1, 0.3]), bcs)
    assert len(prob.m_i) > 0  # the film/trap interface uses the two-material flux
    n = dist.local.n_owned
    rng = np.random.default_rng(0)
    T = 0.3 + 0.4 * rng.random(n)
    J = np.zeros((n, n))
    np.add.at(J, prob.pattern, prob.rhs_jacobian(T, 0, 1))
    for k in rng.choice(n, 25, replace=False):
        h = 1e-6 * T[k]
        Tp, Tm = T.copy(), T.copy()
        Tp[k] += h
        Tm[k] -= h
        fd = (prob.rhs(Tp, 0, 1) - prob.rhs(Tm, 0, 1)) / (2 * h)
        assert np.allclose(J[:, k], fd, rtol=1e-5, atol=1e-9 * np.abs(fd).max())


def test_heat_capacity_spline_matches_quadrature(al):
    t = np.array([0.05, 0.1, 0.2, 0.35, 0.5, 0.7, 0.9, 0.98])
    assert np.allclose(al.c(t), heat_capacity(t, 1.0, 1.0), rtol=2e-6)
    # kappa from the Kirchhoff table agrees with the closed-form BRT conductivity
    assert np.allclose(al.kappa(t), al.kn * t * kappa_ratio(t, bcs_gap(t, 1.0)), rtol=1e-6)
    # kappa is the derivative of the Kirchhoff potential the residual uses
    h = 1e-6 * t
    assert np.allclose((al.phi(t + h) - al.phi(t - h)) / (2 * h), al.kappa(t), rtol=1e-6)
    assert np.allclose((al.U(t + h) - al.U(t - h)) / (2 * h), al.c(t), rtol=1e-6)
    assert np.allclose((al.kappa(t + h) - al.kappa(t - h)) / (2 * h), al.dkappa(t), rtol=1e-5)


@pytest.mark.parametrize("t", [0.05, 0.08, 0.12])
def test_low_temperature_asymptotics(al, t):
    """c ~ 2 sqrt(2 pi) N0 D y^1.5 e^-y [1 + 11/8y + 225/128y^2], kappa_es/kappa_n ~
    (6/pi^2)(y^2 + 2y + 2) e^-y (Boltzmann limit of BRT, notes Eq. 23)."""
    d = float(bcs_gap(t, 1.0))
    y = d / t
    c_asym = 2 * math.sqrt(2 * math.pi) * d * y**1.5 * math.exp(-y) * (
        1 + 11 / (8 * y) + 225 / (128 * y**2))
    assert abs(al.c(t) / c_asym - 1) < 8 / y**3
    ratio = al.kappa(t) / (al.kn * t)
    assert ratio == pytest.approx(6 / math.pi**2 * (y * y + 2 * y + 2) * math.exp(-y), rel=1e-5)


def test_normal_state_and_transition(al):
    # above Tc: c = gamma T with gamma = 2 pi^2/3 N0; kappa = L0 T / rho (Wiedemann-Franz)
    assert al.c(1.5) == pytest.approx(2 * math.pi**2 / 3 * 1.5, rel=1e-12)
    assert al.kappa(1.5) == pytest.approx(al.kn * 1.5, rel=1e-12)
    # U and Phi continuous at Tc; the BCS jump c_s/c_n = 1 + 12/(7 zeta(3)) = 2.426
    e = 1e-7
    assert al.U(1 - e) == pytest.approx(al.U(1 + e), rel=1e-6)
    assert al.phi(1 - e) == pytest.approx(al.phi(1 + e), rel=1e-6)
    assert al.c(1 - 1e-4) / al.c(1 + 1e-4) == pytest.approx(1 + 12 / (7 * 1.2020569), rel=3e-3)
    # the gap output is the BCS gap
    assert al.gap(0.0) == pytest.approx(math.pi * math.exp(-0.5772156649), rel=1e-6)

"""Spherical BTE (fvqp.models.bte_sphere): discretisation properties, exact solutions,
convergence, conservation with outflow, diffusion limit, Krylov iterations vs mean free
path."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.sparse import diags
from scipy.sparse.linalg import spsolve

from fvqp.collisions import EnergyGrid
from fvqp.models.bte_sphere.discretisation import Ordinates, RadialMesh, streaming_stencil
from fvqp.models.bte_sphere.problem import SphereProblem
from fvqp.models.bte_sphere.spectral import bcs_spectrum
from fvqp.solvers import BDFIntegrator, BDFOptions, JacobianConfig
from fvqp.spectra.gap import thermal_gap

LINEAR = {"snes_type": "ksponly", "ksp_type": "gmres", "ksp_rtol": 1e-12, "ksp_atol": 1e-300,
          "pc_type": "bjacobi", "sub_pc_type": "lu", "sub_pc_factor_mat_ordering_type": "rcm"}
NEWTON = {"snes_type": "newtonls", "snes_rtol": 1e-10, "ksp_type": "gmres", "ksp_rtol": 1e-10,
          "ksp_atol": 1e-300, "ksp_gmres_restart": 100, "pc_type": "bjacobi",
          "sub_pc_type": "lu", "sub_pc_factor_mat_ordering_type": "rcm"}
#: two bins only: streaming/scattering tests need no energy resolution
TWO_BINS = bcs_spectrum(EnergyGrid(delta=1.0, h=1.0, n=2))


def _problem(nr, k, radius=10.0, spectrum=TWO_BINS, **kw):
    kw.setdefault("collisions", False)
    return SphereProblem(RadialMesh.uniform(radius, nr), Ordinates.gauss_legendre(k),
                         spectrum, **kw)


def _run(p, x0, t_end, dt, opts=LINEAR, order=2, prefix="bs_"):
    integ = BDFIntegrator(p, x0, 0.0, prefix, opts,
                          BDFOptions(order=order, dt_initial=dt, adaptive=False),
                          jacobian=JacobianConfig("matrix_free"))
    integ.run(t_end)
    return integ


def _isotropic(p, profile):
    x0 = np.zeros((p.n, p.B))
    x0[:, :p.nq] = profile[:, None]
    return x0.ravel()


# ---- discretisation -------------------------------------------------------------------
@pytest.mark.parametrize("outer", ["vacuum", "bath", "specular"])
def test_stencil_conserves_and_is_m_matrix(outer):
    mesh, ords = RadialMesh.uniform(3.0, 7), Ordinates.gauss_legendre(6)
    st = streaming_stencil(mesh, ords, np.arange(7), 7, outer)
    K = ords.k
    A = np.zeros((7 * K, 7 * K))
    np.add.at(A, (st.rows, st.cols), st.vals)
    off = A - np.diag(np.diag(A))
    assert off.min() >= 0.0 and np.diag(A).max() <= 0.0  # -L: M-matrix (step scheme)
    psi = np.random.default_rng(0).random((7, K))
    gain = (A @ psi.ravel()).reshape(7, K) + st.inflow * 0.3  # bath occupation 0.3
    net_in = np.sum(gain * ords.w)
    out = np.sum(st.out_vals * ords.w[st.out_rows % K] * psi.ravel()[st.out_rows])
    if len(st.in_rows):
        out += np.sum(st.in_vals * ords.w[st.in_rows % K]) * 0.3
    assert abs(net_in + out) < 1e-12 * np.abs(gain).sum()
    if outer == "specular":
        assert abs(out) < 1e-12 * np.abs(gain).sum()


@pytest.mark.parametrize("phonons", ["bath", "local", "bte"])
@pytest.mark.parametrize("outer", ["bath", "specular"])
def test_uniform_isotropic_equilibrium_is_stationary(phonons, outer):
    g = EnergyGrid.build(thermal_gap(0.3, 1.0), h=0.1, e_max=5.0)
    p = _problem(12, 8, spectrum=bcs_spectrum(g), v_f=100.0, mfp=3.0, t_bath=0.3,
                 c_ph=300.0, phonons=phonons, c_s=1.0, outer_qp=outer, outer_ph=outer,
                 collisions=True)
    x = p.equilibrium()
    ref = np.abs(p.rhs(x * (1 + 1e-3 * np.random.default_rng(1).random(x.size)))).max()
    assert np.abs(p.rhs(x)).max() < 1e-9 * ref
    p.collisions = False  # streaming + elastic scattering alone
    terms = np.abs(p.linear).sum(axis=1).max() * x.max()  # size of single flux terms
    assert np.abs(p.rhs(x)).max() < 1e-13 * terms
    if outer == "specular":  # any uniform isotropic state streams to itself
        x2 = _isotropic(p, np.full(p.n, 0.2)) + np.where(np.arange(x.size) % p.B >= p.nq,
                                                           x, 0.0)
        assert np.abs(p.rhs(x2)).max() < 1e-13 * terms / x.max()


# ---- exact solutions and convergence ----------------------------------------------------
def _ballistic(r, s, a):
    """Angle average of an isotropic Gaussian exp(-r^2/2a^2) after free flight s."""
    return a * a / (2 * r * s) * (np.exp(-(r - s) ** 2 / (2 * a * a))
                                  - np.exp(-(r + s) ** 2 / (2 * a * a)))


def test_free_streaming_matches_characteristics_and_converges():
    a, t_end, errs = 1.0, 4.0, []
    for nr, k in ((25, 8), (50, 16), (100, 32)):
        p = _problem(nr, k, v_f=1.0)
        rc = p.mesh.centres
        integ = _run(p, _isotropic(p, np.exp(-rc**2 / (2 * a * a))), t_end, 0.25 * 10.0 / nr)
        fb, _ = p.angle_averaged(integ.x)
        V = p.mesh.volumes
        e = []
        for j in range(2):  # group velocity v_F / rho_j of each bin
            ex = _ballistic(rc, t_end / TWO_BINS.states[j], a)
            e.append(np.sum(V * np.abs(fb[:, j] - ex)) / np.sum(V * ex))
        errs.append(e)
    errs = np.array(errs)
    # first order (step differencing): the error halves with every refinement
    assert errs[-1].max() < 0.14
    assert np.all(errs[1:] < 0.65 * errs[:-1])
    # the gap-edge bin moves at the group velocity v_F / rho (1.73x slower), not at v_F
    wrong = _ballistic(rc, t_end, a)
    assert np.sum(V * np.abs(fb[:, 0] - wrong)) / np.sum(V * wrong) > 5 * errs[-1, 0]


def _manufactured(scheme, nr, k, continuous_angle=False, sigma=0.0):
    """Steady -L f - sigma f + S = 0 with f_k(r) = a(r) + mu_k r b(r); source from the
    operator that is semi-discrete in mu (radial study) or the continuous one (angular
    study). The limited scheme is piecewise linear: damped Newton on its branches (the
    absorption sigma > 0 keeps every branch matrix regular)."""
    p = _problem(nr, k, radius=5.0, v_f=1.0, scheme=scheme)
    ords, e = p.ords, p.mesh.edges
    mu, w, al = ords.mu, ords.w, ords.alpha

    def fex(r, m):
        return np.exp(-r**2) * (1 + 0.5 * m * r)

    xg, wg = np.polynomial.legendre.leggauss(6)
    S, fav = np.zeros((nr, k)), np.zeros((nr, k))
    for i in range(nr):
        lo, hi = e[i], e[i + 1]
        rq = 0.5 * (lo + hi) + 0.5 * (hi - lo) * xg
        wq = 0.5 * (hi - lo) * wg * 4 * np.pi * rq**2
        for kk in range(k):
            m = mu[kk]
            if continuous_angle:  # mu a' + mu^2 r b' + b with a = e^{-r^2}, b = a/2
                S[i, kk] = np.sum(wq * np.exp(-rq**2) * (-2 * m * rq - m * m * rq**2 + 0.5))
            else:
                rad = m * (4 * np.pi * hi**2 * fex(hi, m) - 4 * np.pi * lo**2 * fex(lo, m))
                prev = fex(rq, mu[kk - 1]) if kk else 0.0 * rq
                S[i, kk] = rad + np.sum(wq * (2 / rq) * (al[kk + 1] * fex(rq, m)
                                                         - al[kk] * prev)) / w[kk]
            fav[i, kk] = np.sum(wq * fex(rq, m)) / p.mesh.volumes[i]
    S += sigma * p.mesh.volumes[:, None] * fav
    b = np.zeros((nr, p.B))
    absorb = np.zeros((nr, p.B))
    for j in range(2):
        b[:, j * k:(j + 1) * k] = p.weight * p.grid.h * (w / 2) * S
        absorb[:, j * k:(j + 1) * k] = p.weight * p.grid.h * (w / 2) * sigma \
            * p.mesh.volumes[:, None]
    absorb = diags(absorb.ravel())
    x = spsolve((p.linear - absorb).tocsc(), -b.ravel())
    if scheme == "limited":
        x = _newton_steady(p, absorb, b.ravel(), x)
    f = x.reshape(nr, p.B)[:, :k]
    V = p.mesh.volumes[:, None]
    if continuous_angle:
        fb, fe = f @ (w / 2), fav @ (w / 2)
        return math.sqrt(np.sum(V[:, 0] * (fb - fe) ** 2) / np.sum(V[:, 0] * fe**2))
    return math.sqrt(np.sum(V * w * (f - fav) ** 2) / np.sum(V * w * fav**2))


def _newton_steady(p, absorb, b, x, rtol=1e-12, max_it=100):
    """Zero of rhs(x) - absorb x + b (piecewise linear) by Newton with backtracking."""
    def res(y):
        return p.rhs(y) - absorb @ y + b

    r = res(x)
    r0 = np.linalg.norm(r)
    for _ in range(max_it):
        dx = spsolve((p.streaming_matrix(x) - absorb).tocsc(), -r)
        lam = 1.0
        while True:
            xn = x + lam * dx
            rn = res(xn)
            if np.linalg.norm(rn) < (1 - 1e-4 * lam) * np.linalg.norm(r) or lam < 1e-6:
                break
            lam /= 2
        x, r = xn, rn
        if np.linalg.norm(r) < rtol * r0:
            return x
    raise AssertionError(f"Newton did not converge: |r|/|r0| = {np.linalg.norm(r) / r0}")


def test_second_order_in_space_with_diamond_first_with_step():
    nrs = (20, 40, 80)
    dia = np.array([_manufactured("diamond", n, 4) for n in nrs])
    step = np.array([_manufactured("step", n, 4) for n in nrs])
    order_d = np.log2(dia[:-1] / dia[1:])
    order_s = np.log2(step[:-1] / step[1:])
    assert np.all(order_d > 1.9) and dia[-1] < 3e-3
    assert np.all((order_s > 0.8) & (order_s < 1.2))


def test_angular_convergence_with_ordinates():
    errs = np.array([_manufactured("diamond", 80, k, continuous_angle=True)
                     for k in (2, 4, 8, 16)])
    # step angular differencing: first order in 1/K, towards the radial error (~1e-3)
    assert np.all(errs[1:] < 0.6 * errs[:-1])
    assert errs[-1] < 0.04


# ---- diffusion limit and the preconditioner ---------------------------------------------
def _diffusion_error(ell, scheme, nr=80, radius=8.0, opts=LINEAR, with_min=False,
                     prefix="bs_"):
    a = 1.0
    p = _problem(nr, 8, radius=radius, v_f=1.0, mfp=ell, scheme=scheme)
    D = ell / (3 * TWO_BINS.states[0])  # v l / 3, v = v_F / rho
    t_end = 1.5 * a * a / (2 * D)
    rc = p.mesh.centres
    integ = _run(p, _isotropic(p, np.exp(-rc**2 / (2 * a * a))), t_end, t_end / 60, opts,
                 prefix=prefix)
    fb, _ = p.angle_averaged(integ.x)
    s2 = a * a + 2 * D * t_end
    ex = (a * a / s2) ** 1.5 * np.exp(-rc**2 / (2 * s2))
    V = p.mesh.volumes
    lits = integ.solver.total_linear_iterations / integ.step_count
    err = np.sum(V * np.abs(fb[:, 0] - ex)) / np.sum(V * ex)
    return (err, lits, integ.x.min()) if with_min else (err, lits)


def test_diffusion_limit():
    """Small l: the angle average follows the 3D diffusion Gaussian with D = v l / 3.
    Diamond differencing has the thick diffusion limit on a fixed mesh (dr = 0.1 >> l);
    step differencing does not (its numerical diffusion ~ v dr dominates, documented)."""
    errs = [_diffusion_error(ell, "diamond") for ell in (0.4, 0.1, 0.025, 0.00625)]
    e = np.array([x[0] for x in errs])
    assert np.all(e[1:] < e[:-1]) and e[-1] < 0.004
    assert max(x[1] for x in errs) <= 1.0  # exact preconditioner: one Krylov iteration
    step_err, _ = _diffusion_error(0.00625, "step")
    assert step_err > 0.5


def test_krylov_iterations_bounded_as_mean_free_path_shrinks():
    """With collisions (phonon bath) the preconditioner inverts streaming + elastic
    scattering exactly; Krylov iterations per Newton step must not grow as l -> 0."""
    g = EnergyGrid.build(thermal_gap(0.4, 1.0), h=0.1, e_max=4.0)
    sp = bcs_spectrum(g)
    per = []
    for ell in (10.0, 0.1, 1e-3, 1e-5):
        p = _problem(20, 8, radius=5.0, spectrum=sp, v_f=10.0, mfp=ell, t_bath=0.4,
                     c_ph=30.0, collisions=True)
        x0 = p.equilibrium().reshape(p.n, p.B)
        rc = p.mesh.centres
        pk = 0.1 * np.exp(-((g.e - 3.0) / 0.3) ** 2)[None, :] * np.exp(-rc**2)[:, None]
        x0[:, :p.nq] += np.repeat(pk, p.K, axis=1)
        integ = _run(p, x0.ravel(), 1.0, 0.1, NEWTON, prefix="kr_")
        per.append(integ.solver.total_linear_iterations / integ.solver.total_iterations)
    assert max(per) <= 1.5 * min(per) + 1 and max(per) < 15, per


# ---- conservation including the outflow through r = R -----------------------------------
def outflow_balance(p, g, prefix):
    """A QP pulse at 3 (width 0.3) in the centre (r^2/8) over equilibrium, run to t = 2
    (dt 0.05): a real outflow through r = R, and the energy and QP number balances
    (changes = accumulated flows) to 1e-9. Returns the integrator."""
    x0 = p.equilibrium().reshape(p.n, p.B)
    rc = p.mesh.centres
    pk = 0.05 * np.exp(-((g.e - 3.0) / 0.3) ** 2)[None, :] * np.exp(-rc**2 / 8)[:, None]
    x0[:, :p.nq] += np.repeat(pk, p.K, axis=1)
    x0 = x0.ravel()
    integ = _run(p, x0, 2.0, 0.05, NEWTON, prefix=prefix)
    t0, t1, acc = p.totals(x0), p.totals(integ.x), integ.accumulated
    dE = t1["E_qp"] + t1["E_ph"] - t0["E_qp"] - t0["E_ph"]
    flows = {k: v for k, v in acc.items() if k.startswith("E:")}
    out = -acc["E:surface_qp"]
    assert out > 0.3 * (t0["E_qp"] - p.totals(p.equilibrium())["E_qp"])  # real outflow
    assert abs(dE - sum(flows.values())) < 1e-9 * abs(t0["E_qp"])
    dN = t1["N_qp"] - t0["N_qp"]
    nflows = sum(v for k, v in acc.items() if k.startswith("N:"))
    assert abs(dN - nflows) < 1e-9 * t0["N_qp"]
    return integ


@pytest.mark.parametrize("phonons", ["bath", "local", "bte"])
def test_energy_and_number_balance_with_outflow(phonons):
    g = EnergyGrid.build(thermal_gap(0.3, 1.0), h=0.1, e_max=6.0)
    p = _problem(16, 8, spectrum=bcs_spectrum(g), v_f=10.0, mfp=3.0, t_bath=0.3,
                 c_ph=30.0, phonons=phonons, c_s=2.0, tau_esc=5.0, collisions=True)
    integ = outflow_balance(p, g, "cons_")
    assert integ.x.min() >= 0.0  # positivity (step scheme)

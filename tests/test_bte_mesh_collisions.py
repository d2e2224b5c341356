"""bte model with inelastic electron-phonon collisions (fvqp.models.bte.inelastic): thermal
stationarity, energy/number conservation in a closed box with local phonons, the uniform
box against the 0D operator (direct double sums), the anisotropy decay rate."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fvqp.collisions import CollisionParams, EnergyGrid, collision_rhs, collision_terms
from fvqp.collisions.batched import batched_jacobian
from fvqp.collisions.grid import bose, fermi
from fvqp.mesh import build_geometry
from fvqp.models.bte.inelastic import COUPLED_PETSC, InelasticProblem
from fvqp.models.bte.problem import BTEProblem, Source
from fvqp.models.bte.rect import rectangle
from fvqp.ordinates.quadrature import circle
from fvqp.parallel import Distribution
from fvqp.solvers import BDFIntegrator, BDFOptions, JacobianConfig
from fvqp.spectra.bins import BinGrid as TransportGrid
from fvqp.spectra.bins import cell_spectra

GAP, T = 1.7, 0.3
C_PH = 0.6
WALLS = ("left", "right", "bottom", "top")


def _grid(h=0.1, width=1.6):
    """Bins to GAP + width, phonons to 2 GAP + width (all recombination phonons)."""
    return TransportGrid.build(GAP, h, GAP + width, omega_max=2 * GAP + width)


def make(grid, kinds, *, nx=3, mfp=0.5, phonons="bath", tau_esc=math.inf, trap=0.0,
         f_in=None, sources=(), K=8, v_f=1.0, prefix="bte_ie_test_"):
    raw = rectangle(nx, nx, 1.0, 1.0)
    dist = Distribution(build_geometry(raw))
    fb = fermi(grid.e, T)
    f_in = {k: fb for k in (f_in or ())}
    base = BTEProblem(dist, circle(K), grid, GAP, v_f, 1.0, np.ones(1),
                      np.array([1.0 / mfp]), np.array([trap]), kinds, f_in, fb, list(sources),
                      prefix=prefix + "bins_")
    rho, ados, _ = cell_spectra(grid, np.array([GAP]))
    return InelasticProblem(base, rho[0], ados[0], qp_scale=1.0, c_ph=C_PH, t_bath=T,
                            phonons=phonons, tau_esc=tau_esc)


def integrate(p, x0, dt, steps, order=1, prefix="bte_ie_test_"):
    opts = BDFOptions(order=order, dt_initial=dt, adaptive=False)
    it = BDFIntegrator(p, x0, 0.0, prefix, dict(COUPLED_PETSC), opts,
                       jacobian=JacobianConfig("matrix_free", preconditioner=p.preconditioner))
    res = it.run(dt * steps)
    assert res.status == 0
    return it, res


def packet(p, amp=0.02, e0=None, width=0.2):
    """Bath state plus an isotropic hot Gaussian packet (every cell)."""
    g = p.grid
    e0 = GAP + 1.0 if e0 is None else e0
    bump = amp * np.exp(-0.5 * ((g.e - e0) / width) ** 2)
    return p.equilibrium(p.f_bath + bump)


@pytest.mark.parametrize("phonons", ["bath", "local"])
def test_thermal_state_stationary_with_collisions(phonons):
    """f_FD(T_bath) isotropic everywhere with phonons at T_bath is a zero of the coupled
    residual (collisions, bath contacts, traps, diffuse walls) and stays put over BE and
    BDF2 steps."""
    g = _grid()
    kinds = {"left": "inflow", "right": "diffuse", "bottom": "diffuse", "top": "specular"}
    p = make(g, kinds, phonons=phonons, tau_esc=3.0, trap=0.2, f_in=["left"])
    x0 = p.equilibrium()
    r = p.rhs(x0)
    scale = np.abs(p.L_oo @ x0).max()
    assert np.abs(r).max() < 1e-13 * scale
    coll = np.abs(p.collision_rows(x0.reshape(p.n, p.S))).max()
    rates = np.abs(p.collision_rates(x0.reshape(p.n, p.S)).qp_in).max()
    assert coll < 1e-13 * rates
    it, res = integrate(p, x0, 0.5, 3, order=2)
    assert np.abs(it.x - x0).max() < 1e-13
    assert res.newton_iterations <= 3


@pytest.mark.parametrize("order", [1, 2])
def test_closed_box_conserves_energy_and_pairs(order):
    """Closed box (specular + diffuse walls, no contacts, local phonons that never escape):
    QP + phonon energy conserved to the Newton tolerance; the QP number changes only by
    pair processes, by exactly minus twice the phonon-number change of the pair
    processes (scattering changes the phonon number too)."""
    g = _grid()
    kinds = {"left": "specular", "right": "diffuse", "bottom": "diffuse", "top": "specular"}
    p = make(g, kinds, nx=4, phonons="local", mfp=0.3)
    x0 = packet(p, amp=0.05).reshape(p.n, p.S)
    x0[: p.n // 2, : p.nq] = p.equilibrium()[: p.nq]  # hot half only: gradients
    x0 = x0.ravel()
    t0 = p.totals(x0)
    it, res = integrate(p, x0, 0.3, 6, order=order)
    t1 = p.totals(it.x)
    e0 = t0["E_qp"] + t0["E_ph"]
    d_e = (t1["E_qp"] + t1["E_ph"]) - e0
    excess = t0["E_qp"] - p.totals(p.equilibrium())["E_qp"]
    d_qp_e = t1["E_qp"] - t0["E_qp"]
    assert abs(d_qp_e) > 0.05 * excess  # energy really flows to the phonons
    assert abs(d_e) < 1e-9 * excess
    d_n, d_ph = t1["N_qp"] - t0["N_qp"], t1["N_ph"] - t0["N_ph"]
    assert abs(d_n) > 1e-4 * t0["N_qp"]  # pair processes are active
    acc = it.accumulated
    assert abs(d_n - acc["N:pair"]) < 1e-9 * abs(d_n)
    assert abs(acc["N:pair"] + 2.0 * acc["P:pair"]) < 1e-9 * abs(d_n)
    assert abs(d_ph) > 2 * abs(acc["P:pair"])  # scattering emits phonons too
    assert res.linear_iterations / res.newton_iterations < 30


def _zero_d_be(grid_e: EnergyGrid, params, f0, n0, dt, steps, local):
    """Backward Euler of the 0D kinetics with the direct O(N^2) operator."""
    f, n = f0.copy(), n0.copy()
    N = grid_e.n
    for _ in range(steps):
        fo, no = f.copy(), n.copy()
        for _ in range(30):
            df, dn = collision_rhs(f, n, grid_e, params, method="direct")
            r = np.concatenate([f - fo - dt * df, (n - no - dt * dn) if local else []])
            jac = batched_jacobian(f[None], n[None], grid_e.dos[None], grid_e.ados[None],
                                   h=grid_e.h, m=grid_e.m, qp_scale=1.0,
                                   c_ph=params.phonon_prefactor)[0]
            size = N + (grid_e.n_ph if local else 0)
            a = np.eye(size) - dt * jac[:size, :size]
            step = np.linalg.solve(a, -r)
            f += step[:N]
            if local:
                n += step[N:]
            if np.abs(step).max() < 1e-15:
                break
    return f, n


@pytest.mark.parametrize("phonons", ["bath", "local"])
def test_uniform_box_equals_zero_d_kinetics(phonons):
    """Uniform isotropic hot packet in a box with reflecting walls: the angle average
    follows the 0D kinetic equations (direct double-sum operator of fvqp.collisions)
    step by step, every cell, every bin."""
    g = _grid()
    kinds = dict.fromkeys(WALLS, "specular")
    p = make(g, kinds, phonons=phonons)
    x0 = packet(p, amp=0.05)
    dt, steps = 0.4, 4
    it, _ = integrate(p, x0, dt, steps)
    ge = EnergyGrid.build(GAP, g.h, g.e_max, omega_max=g.omega[-1])
    assert ge.n == g.n and ge.m == g.m and ge.n_ph == g.n_ph
    params = CollisionParams(C_PH)
    f0 = x0.reshape(p.n, p.S)[0, : p.nq].reshape(p.N, p.B)[:, 0]
    f_ref, n_ref = _zero_d_be(ge, params, f0, bose(ge.omega, T), dt, steps,
                              phonons == "local")
    y = it.x.reshape(p.n, p.S)
    fk, phi, nb = p.split(y)
    assert np.abs(f_ref - f0).max() > 1e-3  # the packet really relaxes
    assert np.abs(phi - f_ref[None]).max() < 1e-10
    assert np.abs(fk - f_ref[None, :, None]).max() < 1e-10
    if phonons == "local":
        assert np.abs(n_ref - bose(ge.omega, T)).max() > 1e-4
        assert np.abs(nb - n_ref[None]).max() < 1e-10


def test_anisotropy_decays_at_the_isotropic_rate():
    """A hot packet in one direction and its mirror images (uniform, ballistic, specular
    box with axis-aligned walls: streaming leaves it uniform): differences between
    directions obey d(f_k - f_k')/dt = -(A + B)(f_k - f_k'), so one BE step divides
    them by 1 + dt Gamma with Gamma the total rate of the isotropic operator (direct double
    sums: gain/(1 - f) + loss/f) at the angle average -- the relaxation rate of the hot
    QPs towards the gap edge."""
    g = _grid()
    p = make(g, dict.fromkeys(WALLS, "specular"), mfp=np.inf)
    x0 = p.equilibrium().reshape(p.n, p.S)
    j0, amp = int(np.argmin(np.abs(g.e - (GAP + 1.0)))), 1e-3
    mirrors = [0, 3, 4, 7]  # azimuths 22.5, 157.5, 202.5, 337.5 degrees of circle(8)
    x0[:, j0 * p.B + np.array(mirrors)] += amp
    x0[:, j0 * p.B + p.K] += amp * len(mirrors) / p.K
    k0 = 0
    dt = 0.5
    it, _ = integrate(p, x0.ravel(), dt, 1)
    fk, phi, _ = p.split(it.x.reshape(p.n, p.S))
    aniso = fk[:, j0, k0] - fk[:, j0, (k0 + 1) % p.K]
    ge = EnergyGrid.build(GAP, g.h, g.e_max, omega_max=g.omega[-1])
    t = collision_terms(phi[0], bose(ge.omega, T), ge, CollisionParams(C_PH), method="direct")
    gain = (t.qp_sc_in + t.qp_pb)[j0] / (1.0 - phi[0, j0])
    loss = (t.qp_sc_out + t.qp_rec)[j0] / phi[0, j0]
    gamma = gain + loss
    assert gamma * dt > 0.1  # a real decay in one step
    assert np.allclose(aniso, amp / (1.0 + dt * gamma), rtol=1e-9, atol=0)


def test_source_balance_with_bath_phonons():
    """Open film: QP source, absorbing wall, bath phonons: the QP number and energy
    balances close to the Newton tolerance (boundary outflow, source, pair processes,
    energy to the phonon bath)."""
    g = _grid(h=0.2, width=1.6)
    kinds = {"left": "inflow", "right": "diffuse", "bottom": "specular", "top": "specular"}
    spec = np.exp(-0.5 * ((g.e - GAP - 1.0) / 0.2) ** 2)
    spec /= spec @ g.e
    w = np.zeros(9)
    w[4] = 1.0
    src = Source(w, spec, lambda t0, t1: 0.01)
    p = make(g, kinds, f_in=["left"], sources=[src], v_f=3.0)
    x0 = p.equilibrium()
    t0 = p.totals(x0)
    it, _ = integrate(p, x0, 0.5, 4, order=2)
    t1 = p.totals(it.x)
    acc = it.accumulated
    n_in = sum(v for k, v in acc.items() if k.startswith("N:"))
    e_in = sum(v for k, v in acc.items() if k.startswith("E:"))
    assert acc["N:sources"] > 0 and acc["E:phonon_bath"] < 0 and acc["N:boundary:left"] < 0
    assert abs(t1["N_qp"] - t0["N_qp"] - n_in) < 1e-9 * acc["N:sources"]
    assert abs(t1["E_qp"] - t0["E_qp"] - e_in) < 1e-9 * acc["E:sources"]


def test_two_level_preconditioner_halves_krylov_iterations():
    """Strong coupling (collision rate x dt ~ 2): the per-cell isotropic 0D-kinetic
    correction of InelasticPC needs less than 0.6x the Krylov iterations of the
    energy-diagonal LU alone (measured 145 vs 317 over 12 Newton steps), and the global
    Galerkin coarse operator (coupled_coarse) less than 0.8x the per-cell one (measured
    94); same Newton path for all three."""
    from fvqp.models.bte.inelastic import InelasticPC

    g = _grid()
    kinds = {"left": "specular", "right": "diffuse", "bottom": "diffuse", "top": "specular"}
    counts = []
    for i, (coarse, glob) in enumerate(((True, True), (True, False), (False, False))):
        pre = f"bte_ie_pc{i}_"
        p = make(g, kinds, nx=6, phonons="local", mfp=0.3, prefix=pre)
        p.preconditioner = InelasticPC(p, coarse=coarse, global_coarse=glob,
                                       prefix=pre + "icoarse_")
        x0 = packet(p, amp=0.05).reshape(p.n, p.S)
        x0[: p.n // 2, : p.nq] = p.equilibrium()[: p.nq]
        _, res = integrate(p, x0.ravel(), 3.0, 3, prefix=pre)
        counts.append((res.newton_iterations, res.linear_iterations))
    (n3, l3), (n2, l2), (n1, l1) = counts
    assert n3 == n2 == n1
    assert l2 < 0.6 * l1
    assert l3 < 0.8 * l2


def test_eliashberg_spectrum_with_collisions_thermal_state_stationary(tmp_path):
    """[spectrum] kind = "eliashberg" with collisions (local phonons, Al at 300 mK): the
    collision weights are the Eliashberg rho and coherence factor, storage N = rho m; the
    phonon grid reaches e_max + gap; f_FD and n_B at T_bath are a zero of the coupled
    residual to round-off (detailed balance holds for any DOS weights)."""
    from conftest import case_variant as _variant
    from fvqp.case import load_case
    from fvqp.models.bte.coupled import coupled_problem
    from fvqp.models.bte.driver import BTESimulation

    path = _variant("bte_film_pulse.toml", tmp_path, **{
        "directions = 16": "directions = 4\n\n[spectrum]\nkind = \"eliashberg\"\n\n"
                           "[collisions]\nenabled = true\nphonons = \"local\"",
        'temperature = "20 mK"': 'temperature = "300 mK"',
        '[boundaries.trap_end]\ntype = "absorbing"': '[boundaries.trap_end]\ntype = "bath"'})
    sim = BTESimulation(load_case(path))
    sim.problem.sources = []
    p = coupled_problem(sim)
    spec = sim.spectrum
    assert np.array_equal(p.cdos, spec.rho) and np.array_equal(p.cados, spec.ados)
    assert p.M * spec.grid.h >= spec.grid.e_max + spec.gap - 1e-9
    x0 = p.equilibrium()
    y = x0.reshape(p.n, p.S)
    rates = p.collision_rates(y)
    assert np.abs(rates.qp_pair_out).max() > 0  # pair processes present
    assert np.abs(p.collision_rows(y)).max() < 1e-12 * np.abs(rates.qp_in).max() * p.V.max()
    assert np.abs(p.rhs(x0)).max() < 1e-12 * np.abs(p.L_oo @ x0).max()


def test_3d_cube_uniform_packet_equals_zero_d():
    """3D hexahedra (cube_4, Gauss-Legendre x azimuth ordinates), diffuse walls, bath
    phonons: a uniform isotropic hot packet follows the 0D kinetics (direct operator)."""
    from conftest import MESHES
    from fvqp.mesh import read_mesh
    from fvqp.ordinates.quadrature import sphere

    g = _grid(h=0.17, width=1.2)
    raw = read_mesh(MESHES / "mms" / "cube_4.msh")
    dist = Distribution(build_geometry(raw))
    fb = fermi(g.e, T)
    kinds = dict.fromkeys(("xmin", "xmax", "ymin", "ymax", "zmin", "zmax"), "diffuse")
    base = BTEProblem(dist, sphere(2, 4), g, GAP, 1.0, 1.0, np.ones(1), np.array([2.0]),
                      np.zeros(1), kinds, {}, fb, prefix="bte_ie_3d_bins_")
    rho, ados, _ = cell_spectra(g, np.array([GAP]))
    p = InelasticProblem(base, rho[0], ados[0], qp_scale=1.0, c_ph=C_PH, t_bath=T)
    x0 = packet(p, amp=0.05)
    it, _ = integrate(p, x0, 0.5, 2, prefix="bte_ie_3d_")
    ge = EnergyGrid.build(GAP, g.h, g.e_max, omega_max=g.omega[-1])
    f0 = x0.reshape(p.n, p.S)[0, : p.nq].reshape(p.N, p.B)[:, 0]
    f_ref, _ = _zero_d_be(ge, CollisionParams(C_PH), f0, bose(ge.omega, T), 0.5, 2, False)
    fk, phi, _ = p.split(it.x.reshape(p.n, p.S))
    assert np.abs(f_ref - f0).max() > 1e-3
    assert np.abs(fk - f_ref[None, :, None]).max() < 1e-10

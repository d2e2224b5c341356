"""bte with electron-phonon collisions on a multi-material device (issue 16 §1): a Sn film
("high"), an Al film ("low") and a normal-metal trap ("cap", Al with normal = true,
gap 0), each with its own collision operator on one energy grid (meshes/bte_gapstep,
cases/bte_normal_trap.toml).

Pinned here: QP number and energy bookkeeping with collisions across the interfaces
(round-off / Newton tolerance); an equilibrium at one temperature is stationary across the
gap step and the normal trap with collisions on (1e-12); QPs in the normal trap relax at
the electron-phonon rate of the trap (the 0D collision layer with Delta = 0, and Kaplan's
normal-state rate); the case runs with its balances."""

from __future__ import annotations

import json

import numpy as np
import pytest
import pyvista as pv
from scipy.integrate import quad

from conftest import case_variant, run_fvqp
from fvqp.case import load_case
from fvqp.collisions.angular import angular_rates
from fvqp.models.bte.coupled import coupled_problem
from fvqp.models.bte.driver import BTESimulation
from fvqp.models.bte.inelastic import COUPLED_PETSC
from fvqp.solvers import BDFIntegrator, BDFOptions, JacobianConfig
from fvqp.spectra import bose, fermi

NO_SOURCE = {'[[sources]]\ntype = "quasiparticle"\nregion = "high"\nenergy = "600 ueV"\n'
             'width = "20 ueV"\ndeposit = "5 eV"\nduration = "20 ps"\ntime = "60 ps"\n': ""}
CLOSED = {'[boundaries.low_end]\ntype = "bath"': '[boundaries.low_end]\ntype = "diffuse"'}


def _setup(tmp_path, **repl):
    tmp_path.mkdir(parents=True, exist_ok=True)
    sim = BTESimulation(load_case(case_variant("bte_normal_trap.toml", tmp_path, **repl)))
    return sim, coupled_problem(sim)


def _region_cells(sim, name):
    p = sim.problem
    return p.loc.cell_region[: p.n] == sim.geometry.region_names.index(name)


def _integrate(prob, x0, dt, steps, order=1):
    # Newton stops at snes_rtol 1e-10 of the first residual or at 10x the round-off
    # floor of the residual, its norm at the exact equilibrium (the normal metal's
    # thermal QPs make the terms large)
    atol = 10.0 * float(np.linalg.norm(prob.rhs(prob.equilibrium())))
    opts = BDFOptions(order=order, dt_initial=dt, adaptive=False)
    it = BDFIntegrator(prob, x0, 0.0, "bte_nt_test_", {**COUPLED_PETSC, "snes_atol": atol},
                       opts,
                       jacobian=JacobianConfig("matrix_free", 1, prob.preconditioner))
    res = it.run(dt * steps)
    assert res.status == 0
    return it


def hot_state(sim, prob, amp):
    """Owned unknowns of the bath equilibrium plus hot QPs in the Sn ("high"): ``amp``
    times a Gaussian of 3 spacings at 1.08 Delta_Sn on every state; and Delta_Sn."""
    g = prob.grid
    hot = _region_cells(sim, "high")
    x0 = prob.equilibrium().reshape(prob.n, prob.S)
    gap_sn = float(sim.media.gap[sim.geometry.region_names.index("high")])
    bump = amp * np.exp(-0.5 * ((g.e - 1.08 * gap_sn) / (3 * g.h)) ** 2)
    q = x0[:, : prob.nq].reshape(prob.n, prob.N, prob.B)
    q[hot] += bump[None, :, None] * (prob.rho_cells[hot] > 0)[:, :, None]
    return x0.ravel(), gap_sn


def _region_energy(sim, prob, x, cells):
    """QP energy (internal) of the cells ``cells`` (owned mask)."""
    f, _, _ = prob.split(x.reshape(prob.n, prob.S))
    fbar = f @ prob.w
    c = prob.base.weight * prob.grid.h
    return c * float(np.sum((prob.V[:, None] * prob.rho_cells * fbar)[cells] @ prob.grid.e))


def test_collisions_across_interfaces_conserve_number_and_energy(tmp_path):
    """Closed device (every boundary reflecting), bath phonons, hot QPs at 600 ueV in the
    Sn only: they cross into the Al and the normal trap and relax there. Over three
    backward-Euler steps the QP energy change equals the energy given to the phonon bath
    (1e-7 of the excess) and the QP number change equals the pair processes (1e-7 of the
    change), to the Newton tolerance (snes_rtol 1e-10 of a first residual set by the
    large thermal terms of the normal metal; the operators conserve both to round-off),
    while > 2 % of the excess energy reaches the trap (measured 5 %)."""
    sim, prob = _setup(tmp_path, **NO_SOURCE, **CLOSED)
    trap = _region_cells(sim, "cap")
    x0, gap_sn = hot_state(sim, prob, 0.05)
    t0 = prob.totals(x0)
    eq = prob.totals(prob.equilibrium())
    # 3 x 88 ps (steps of 0.44 ns: tests/test_bte_positivity.py)
    it = _integrate(prob, x0, 0.2, 3)
    f = it.x.reshape(prob.n, prob.S)[:, : prob.nq]
    assert f.min() > -1e-12                                 # a physical state
    t1 = prob.totals(it.x)
    acc = it.accumulated
    excess = t0["E_qp"] - eq["E_qp"]
    d_e = t1["E_qp"] - t0["E_qp"]
    assert acc["E:phonon_bath"] < -0.01 * excess             # collisions act
    assert abs(d_e - acc["E:phonon_bath"]) < 1e-7 * excess    # Newton: snes_rtol 1e-10
    gained = _region_energy(sim, prob, it.x, trap) - _region_energy(sim, prob, x0, trap)
    assert gained > 0.02 * excess          # QPs reached the trap (measured 5 %)
    d_n = t1["N_qp"] - t0["N_qp"]
    assert abs(d_n) > 1e-3 * excess / gap_sn                  # pair processes act
    assert abs(d_n - acc["N:pair"]) < 1e-7 * abs(d_n)
    assert set(k for k in acc if k.startswith("N:") and acc[k]) <= {"N:pair"}


@pytest.mark.parametrize("phonons", ["bath", "local"])
def test_equilibrium_with_collisions_stationary_across_gap_step_and_normal_trap(
        tmp_path, phonons):
    """f_FD(T_bath) (and n_B) everywhere, bath contact at T_bath, a trap rate in the Sn,
    the normal-metal trap, collisions in all three regions: a zero of the coupled residual
    (1e-12 of the transport terms) that three BDF2 steps leave unchanged (1e-12 of f)."""
    sim, prob = _setup(tmp_path, **NO_SOURCE, **{
        'temperature = "100 mK"': 'temperature = "400 mK"',
        'mean_free_path = "0.5 um"': 'mean_free_path = "0.5 um"\ntrap_time = "1 ns"',
        'phonons = "bath"': f'phonons = "{phonons}"'
                            + ('\nescape_time = "0.2 ns"' if phonons == "local" else "")})
    assert np.max(sim.trap) > 0
    assert sorted(set(np.round(sim.media.gap, 9))) [0] == 0.0      # the normal metal
    x0 = prob.equilibrium()
    r = prob.rhs(x0)
    scale = np.abs(prob.L_oo @ x0).max()
    assert np.abs(r).max() < 1e-12 * scale
    it = _integrate(prob, x0, 0.5, 3, order=2)
    live = x0 > 0
    assert np.max(np.abs(it.x - x0)[live] / x0[live]) < 1e-12


def _kaplan_normal_rate(e, t):
    r"""Out-scattering rate of a normal-metal QP at energy ``e`` (units of k T_c and
    1/tau0 of the metal): Kaplan et al., PRB 14, 4854 (1976), Eq. 8 with Delta = 0,
    :math:`\Gamma = \int_0^\infty\Omega^2[(1+n(\Omega))(1-f(e-\Omega))
    + n(\Omega)(1-f(e+\Omega))]d\Omega` with :math:`1 - f(-x) = f(x)` below the Fermi
    level (electron-hole recombination), :math:`\to e^3/3` at T = 0."""
    def occ(x):
        return 1.0 - fermi(x, t) if x > 0 else fermi(-x, t)

    def integrand(w):
        return w * w * ((1.0 + bose(w, t)) * occ(e - w) + bose(w, t) * occ(e + w))

    return quad(integrand, 0.0, e, limit=200)[0] + quad(integrand, e, e + 60 * t,
                                                        limit=200)[0]


def test_normal_trap_relaxes_at_the_electron_phonon_rate(tmp_path):
    """QPs in the normal trap below the Al gap (they cannot leave): a small isotropic
    excess in one bin decays over one backward-Euler step exactly as the 0D collision
    layer with Delta = 0 and the trap's own tau0 and Tc predicts, 1/(1 + dt Gamma) with
    Gamma = qp_in + qp_out (1e-5 of the decay; the excess of 1e-6
    acts on the partner sums at that order), and Gamma agrees with Kaplan's
    normal-state rate E^3 / (3 tau0 (k Tc)^3) (thermal factors included) to the grid's
    accuracy (measured 1.3 %, bound 4 %)."""
    sim, prob = _setup(tmp_path, **NO_SOURCE, **CLOSED)
    trap = _region_cells(sim, "cap")
    g = prob.grid
    gap_al = float(sim.media.gap[sim.geometry.region_names.index("low")])
    j = int(np.searchsorted(g.e, 0.8 * gap_al))
    x_eq = prob.equilibrium()
    x0 = x_eq.reshape(prob.n, prob.S).copy()
    amp = 1e-6
    x0[trap, j * prob.B: (j + 1) * prob.B] += amp
    dt = 0.02
    it = _integrate(prob, x0.ravel(), dt, 1)
    y = it.x.reshape(prob.n, prob.S)
    decay = (y[trap, j * prob.B: j * prob.B + prob.K]
             - x_eq.reshape(prob.n, prob.S)[trap, j * prob.B: j * prob.B + prob.K]) / amp
    # 0D collision layer, Delta = 0, the trap material's prefactor
    mat = sim.materials[sim.geometry.region_names.index("cap")]
    u = sim.units
    qp_scale = (u.tau0 / mat.tau0) / (mat.Tc / u.Tc) ** 3
    rates = angular_rates(fermi(g.e, sim.T_bath)[None], bose(g.omega, sim.T_bath)[None],
                          np.ones((1, g.n)), np.zeros((1, g.n)), h=g.h, m=g.m,
                          qp_scale=qp_scale)
    gamma = float(rates.qp_in[0, j] + rates.qp_out[0, j])
    expect = 1.0 / (1.0 + dt * gamma)
    assert 0.5 < expect < 0.999                       # the step resolves a real decay
    # the excess's own effect on the partner sums is O(amp) = 1e-6 of the decay
    np.testing.assert_allclose(decay, expect, rtol=1e-5 * (1 - expect) / expect, atol=0)
    rT = mat.Tc / u.Tc                                 # energies in the metal's k Tc
    kaplan = _kaplan_normal_rate(g.e[j] / rT, sim.T_bath / rT) * qp_scale * rT**3
    assert gamma == pytest.approx(kaplan, rel=0.04)
    assert gamma > 0.3 * qp_scale * g.e[j] ** 3 / 3  # the E^3 law, not the trap rate 0


def test_normal_trap_case_runs(tmp_path):
    """cases/bte_normal_trap.toml end to end: QP number and energy balances (1e-9 of the
    injected), the burst is deposited (2 %, BDF2's pulse quadrature), QPs leave through
    the Al's bath end, QPs and energy reach the normal trap and the collisions pass
    energy to the phonon bath."""
    p = case_variant("bte_normal_trap.toml", tmp_path)
    out = tmp_path / "out"
    run_fvqp(["run", p, "--output", out])
    s = json.loads((out / "summary.json").read_text())
    assert s["status"] == 0
    q, e = s["qp_number"], s["energy_J"]
    assert abs(q["imbalance"]) < 1e-9 * q["sources"]
    assert abs(e["imbalance"]) < 1e-9 * e["inflows"]["sources"]
    # the 20 ps Gaussian pulse on fixed 20 ps BDF2 steps: deposited with the scheme's
    # quadrature error (measured +0.93 %)
    assert e["inflows"]["sources"] == pytest.approx(5 * 1.602176634e-19, rel=0.02, abs=0)
    assert q["boundary:low_end"] < -0.1 * q["sources"]
    series = sorted((out).glob("**/*.vtu"))
    mesh = pv.read(series[-1])
    sim = BTESimulation(load_case(p))
    names = sim.geometry.region_names
    bath = sim.fields(sim.problem.equilibrium(sim.f_bath), ["qp_energy_density"])
    reg = np.asarray(mesh.cell_data["region"]).astype(int)
    vol = np.asarray(mesh.compute_cell_sizes()["Area"])
    ex_n = np.asarray(mesh.cell_data["qp_excess"]) * vol
    ex_e = (np.asarray(mesh.cell_data["qp_energy_density"]) - bath["qp_energy_density"]) * vol
    cap = reg == names.index("cap")
    assert np.sum(ex_n[cap]) > 1e-3 * np.sum(ex_n)               # QPs reached the trap
    assert np.sum(ex_e[cap]) > 0
    assert e["inflows"]["phonon_bath"] < 0                     # and collisions act
    # the gap of every cell in ueV: Sn and Al at 100 mK (BCS, 1e-9), the normal trap 0
    gap = np.asarray(mesh.cell_data["gap"])
    assert np.all(gap[cap] == 0.0)
    for name in ("high", "low"):
        want = sim.units.to_si(sim.media.gap[names.index(name)], "energy") / 1.602176634e-25
        np.testing.assert_allclose(gap[reg == names.index(name)], want, rtol=1e-9, atol=0)
    assert 540 < float(gap[reg == names.index("high")][0]) < 600      # Sn, about 555 ueV

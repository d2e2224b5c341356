"""Phonon diffusion between cells in the transport model: exact Jacobian, exact balances,
the analytic diffusion-escape profile, and the three Jacobian modes."""

import math
import re

import numpy as np
import pytest
from scipy.sparse import coo_matrix
from test_transport_model import (
    LU,
    _Steady,
    build,
    energy_balance,
    local,
    newton_steady,
    pulsed_network,
    steady,
)

from conftest import CASES, run_fvqp
from fvqp.models.transport.problem import Boundary, RegionParams, SpectralSource
from fvqp.solvers import BDFIntegrator, BDFOptions, JacobianConfig
from fvqp.spectra.bins import BinGrid as TransportGrid
from fvqp.spectra.gap import thermal_gap


def network(d_ph=(4.0, 1.5, 2.0), sources=(), bias=3.2, t_bath=0.25):
    """The Y network of test_transport_model (Al wire, lower-gap wire, normal trap) with
    phonon diffusion constants ``d_ph`` per wire (the trap's: diffusion into the trap)."""
    d1, d2 = thermal_gap(t_bath, 1.0), 1.4 * thermal_gap(t_bath / 0.8, 1.0) / 1.764
    grid = TransportGrid.build(0.9 * d2, 0.08, 4.6)
    params = {"wire_1": RegionParams(qp_scale=1.0, c_ph=0.6, weight=4.0, diffusion=3.0,
                                     delta0=1.764, gap=d1, tau_esc=2.0,
                                     phonon_diffusion=d_ph[0]),
              "wire_2": RegionParams(qp_scale=2.5, c_ph=0.4, weight=3.0, diffusion=1.0,
                                     delta0=1.4, gap=d2, tau_esc=5.0,
                                     phonon_diffusion=d_ph[1]),
              "wire_3": RegionParams(qp_scale=1.0, c_ph=0.6, weight=5.0, diffusion=2.0,
                                     delta0=0.0, gap=0.0, trap=True,
                                     phonon_diffusion=d_ph[2])}
    bcs = {"end_1": Boundary("tunnel", rate=0.3, bias=bias, temperature=t_bath),
           "end_2": Boundary("bath"), "end_3": Boundary("insulating")}
    return build("wire_network/wire_network.msh", params, bcs, grid=grid, t_bath=t_bath,
                 sources=sources)


def test_jacobian_with_phonon_diffusion_is_exact_and_equilibrium_stationary():
    """Assembled Jacobian = complex-step derivative of the residual itself (independent of
    the hand-coded linear parts) = the matrix-free action, to 1e-13; phonon transport is
    in the pattern (across the gap step and into the trap) and the bath equilibrium stays
    stationary to round-off."""
    p = network(bias=0.0)
    x = local(p, p.equilibrium())
    r = p.rhs(x, 0.0, math.inf)
    scale = np.max(np.abs(p.G_ph)) + np.max(np.abs(p.G))
    assert np.max(np.abs(r)) <= 1e-14 * scale
    assert all(abs(v) <= 1e-14 * scale for v in p.rates(x, 0.0, math.inf).values())
    p = network()
    trap_pairs = p.trap[p.f_a[p.ph_pairs]] | p.trap[p.f_b[p.ph_pairs]]
    reg = p.loc.cell_region
    step = reg[p.f_a[p.ph_pairs]] != reg[p.f_b[p.ph_pairs]]
    assert np.any(trap_pairs) and np.any(step & ~trap_pairs)
    rng = np.random.default_rng(3)
    xl = local(p, p.equilibrium() * (1 + 0.3 * rng.random(p.n * p.B)))
    v = local(p, rng.standard_normal(p.n * p.B))
    rows, cols = p.pattern
    J = coo_matrix((p.rhs_jacobian(xl, 0, 1), (rows, cols)), shape=(p.n * p.B, xl.size))
    jv = J.tocsr() @ v
    eps = 1e-30
    cs = p.rhs(xl + 1j * eps * v, 0, 1).imag / eps
    assert np.max(np.abs(jv - cs)) <= 1e-13 * np.max(np.abs(jv))
    assert np.max(np.abs(jv - p.rhs_jvp(xl, v, 0, 1))) <= 1e-13 * np.max(np.abs(jv))
    # the phonon rows see their neighbours: switching phonon diffusion off changes them
    q = network(d_ph=(0.0, 0.0, 0.0))
    assert len(q.ph_pairs) == 0
    ph = (np.arange(p.n * p.B) % p.B) >= p.N
    d = np.abs(p.rhs(xl, 0, 1) - q.rhs(xl, 0, 1))[ph]
    assert np.max(d) > 1e-2 * np.max(np.abs(p.rhs(xl, 0, 1)[ph]))


def test_transient_balance_with_phonon_diffusion():
    """BDF2 over the phonon-pulsed network with phonon diffusion across the gap step and
    into the trap: energy in = stored + out through every channel (phonons lost to the
    trap counted in E:trap) to the Newton tolerance; the QP number balance stays exact."""
    p = pulsed_network(network)
    x0 = p.equilibrium()
    integ = BDFIntegrator(p, x0, 0.0, "tpb_", LU, BDFOptions(dt_initial=0.025,
                                                               adaptive=False),
                          jacobian=JacobianConfig(block_size=p.B))
    integ.run(0.4)
    t0, t1, acc, e_in, dE = energy_balance(p, x0, integ)
    assert acc["E:deposited"] == pytest.approx(0.05, rel=1e-3)
    assert abs(dE - sum(v for k, v in acc.items() if k.startswith("E:"))) <= 1e-9 * e_in
    dN = t1["N_qp"] - t0["N_qp"]
    n_in = sum(abs(v) for k, v in acc.items() if k.startswith("N:"))
    assert abs(dN - sum(v for k, v in acc.items() if k.startswith("N:"))) <= 1e-8 * n_in
    # the phonons reached the trap and were absorbed there
    xl = local(p, integ.x)
    lost = p._phonons_from_traps(xl.reshape(-1, p.B)[:, p.N:]) @ p.grid.omega
    assert lost < 0


def _phonon_line(n_cells, length=4.0, d_ph=2.0, tau=0.5, omega=2.0, power=1e-3):
    """Wire, a steady monochromatic phonon source (below 2 Delta: no pair breaking;
    thermal QPs at 0.1 Tc absorb ~e^-17) in the first cell, escape time tau. Phonons see
    insulating ends (boundaries act on QPs only); the QP bath contact at the right end
    only fixes the QP number, which recombination (~e^-35) would leave undetermined."""
    grid = TransportGrid.build(1.764, 0.1, 1.764 + 1.0, omega_max=3.0)
    prm = RegionParams(qp_scale=1.0, c_ph=0.6, diffusion=1.0, gap=1.764, delta0=1.764,
                       tau_esc=tau, phonon_diffusion=d_ph)
    src = SpectralSource("phonon", None, _Steady(power), energy=omega)
    p = build(f"mms/line_{n_cells}.msh", {"domain": prm},
              {"left": Boundary("insulating"), "right": Boundary("bath")},
              grid=grid, t_bath=0.1, scale=length, sources=[src])
    x = p.loc.centroid[:p.n, 0]
    src.weights = (x == x.min()).astype(float)
    p.set_gap(p.delta)
    y = steady(p, f"tpl{n_cells}_").reshape(-1, p.B)
    k = int(np.argmin(np.abs(p.grid.omega - omega)))
    exc = y[:, p.N + k] - p.n_bath[k]
    order = np.argsort(x)
    return p, x[order], exc[order], k


def test_phonon_diffusion_escape_profile_is_cosh():
    """Steady phonon excess of a wire with a source at x = 0 and escape time tau: the
    finite-volume solution is exactly cosh(mu (L - x) / h) with cosh(mu) = 1 + h^2/2D tau
    (reflecting face at L), which tends to the continuum cosh((L - x)/lambda),
    lambda = sqrt(D tau), at second order; the escape equals the injection."""
    length, d_ph, tau, omega, power = 4.0, 2.0, 0.5, 2.0, 1e-3
    lam = math.sqrt(d_ph * tau)
    errs = []
    for n in (16, 32, 64):
        p, x, exc, k = _phonon_line(n, length, d_ph, tau, omega, power)
        h = length / n
        mu = math.acosh(1 + h * h / (2 * d_ph * tau))
        discrete = np.cosh(mu * (length - x) / h)
        assert np.max(np.abs(exc / exc[0] - discrete / discrete[0])) <= 1e-8
        cont = np.cosh((length - x) / lam)
        errs.append(np.max(np.abs(exc / exc[0] - cont / cont[0])))
        # every injected phonon escapes (particles per unit time; source energy / omega)
        esc = np.sum(p.m_n[:p.n, k] * np.sort(exc)[::-1] / tau)
        assert esc == pytest.approx(power / p.grid.omega[k], rel=1e-8)
    rates = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
    assert np.all(np.abs(rates - 2.0) < 0.05), (errs, rates)
    assert exc[0] / exc[-1] > 10  # the profile decays (L = 4 lambda)


@pytest.mark.parametrize("mode", ["matrix_free", "schur"])
def test_matrix_free_and_schur_reach_the_assembled_steady_state(mode):
    """With phonon diffusion on, the matrix-free (GAMG on transport + diagonal) and Schur
    (phonon transport only in the cell-diagonal D block: approximate) preconditioners
    keep Newton quadratic and reach the assembled steady state; Krylov counts stay low."""
    from fvqp.models.transport.schur import SchurPreconditioner
    from fvqp.solvers.steady import SteadyPC

    out, lin = {}, {}
    for m in ("assembled", mode):
        q = network()
        jvp, pc = None, None
        opts = LU
        if m != "assembled":
            q.jacobian, q.matrix_free = m, True
            if m == "matrix_free":
                q.block_size = 1
                q.pattern = q._pattern()
            jvp = lambda xl_, vl, q=q: -q.rhs_jvp(xl_, vl, 0.0, math.inf)  # noqa: E731
            opts = {"ksp_type": "gmres", "ksp_rtol": 1e-12, "ksp_max_it": 500}
            if m == "matrix_free":
                opts["pc_type"] = "gamg"
            else:
                model_pc = SchurPreconditioner(q, "tpsm_")

                pc = SteadyPC(model_pc)
        out[m], res = newton_steady(q, f"tp{m[:2]}{mode[:2]}_", opts, jvp=jvp, pc=pc,
                                    block_size=q.block_size)
        assert res.iterations <= 8
        lin[m] = res.linear_iterations / res.iterations
    a, b = out["assembled"], out[mode]
    assert np.max(np.abs(a - b)) <= 1e-9 * np.max(np.abs(a))
    # measured per Newton step: matrix_free 23.6 (20.6 without phonon diffusion), schur 19.6
    # (15.4); dropping T_ph from the schur PC entirely took ~790
    assert lin[mode] <= {"matrix_free": 35, "schur": 25}[mode], lin


def test_negative_phonon_diffusion_is_rejected_with_the_key_and_fix(write_case):
    text = (CASES / "transport_absorber3d.toml").read_text().replace(
        "../meshes", str(CASES.parent / "meshes"))
    bad = re.sub(r"(\[regions\.\w+\]\n)", r'\1phonon_diffusion_constant = "-1e-4 m^2/s"\n',
                 text, count=1)
    assert bad != text
    proc = run_fvqp(["check", write_case(bad, "transport_bad_dph.toml")], check=False)
    assert proc.returncode == 2
    assert re.search(r"phonon_diffusion_constant.*must not be negative", proc.stderr)
    assert "value >= 0" in proc.stderr


def test_case_key_sets_the_phonon_diffusion_length_in_si(tmp_path):
    """``phonon_diffusion_constant`` in the absorber only: sqrt(D_ph tau_esc) in internal
    units times the unit length is the SI diffusion length, and no face touching the
    lead (D_ph = 0 there) carries phonons."""
    from fvqp.case.loader import load_case
    from fvqp.models.transport.driver import TransportSimulation

    text = (CASES / "transport_absorber3d.toml").read_text().replace(
        "../meshes", str(CASES.parent / "meshes"))
    text = text.replace('escape_time = "0.1 ns"',
                        'escape_time = "0.1 ns"\nphonon_diffusion_constant = "4e-3 m^2/s"')
    case = tmp_path / "dph.toml"
    case.write_text(text)
    sim = TransportSimulation(load_case(str(case)))
    p, names = sim.problem, sim.geometry.region_names
    prm = sim.params[names.index("absorber")]
    length = math.sqrt(prm.phonon_diffusion * prm.tau_esc) * sim.units.length
    assert length == pytest.approx(math.sqrt(4e-3 * 1e-10), rel=1e-12, abs=0)
    assert sim.params[names.index("lead")].phonon_diffusion == 0.0
    reg = p.loc.cell_region
    lead = names.index("lead")
    assert len(p.ph_pairs) > 0
    assert not np.any(reg[p.f_a[p.ph_pairs]] == lead)
    assert not np.any(reg[p.f_b[p.ph_pairs]] == lead)
    assert np.any((reg[p.f_a] == lead) != (reg[p.f_b] == lead))  # the interface exists

"""Energy-resolved transport on meshes: equilibrium, conservation, 0D limit, diffusion
against analytic solutions, spatial convergence and trapping."""

import math
from pathlib import Path

import numpy as np
import pytest
from scipy.sparse import coo_matrix
from scipy.sparse.linalg import spsolve

from conftest import coarse_components
from fvqp.collisions import CollisionParams, EnergyGrid, fermi
from fvqp.mesh import build_geometry, read_mesh
from fvqp.models.kinetics0d import Kinetics0D, PhononInjection, steady_state
from fvqp.models.transport.problem import (
    Boundary,
    RegionParams,
    SpectralSource,
    TransportProblem,
)
from fvqp.parallel import Distribution
from fvqp.solvers import BDFIntegrator, BDFOptions, JacobianConfig, NonlinearSolver
from fvqp.spectra.bins import BinGrid as TransportGrid
from fvqp.spectra.bins import gaps
from fvqp.spectra.gap import thermal_gap

MESHES = Path(__file__).resolve().parent.parent / "meshes"
LU = {"ksp_type": "preonly", "pc_type": "lu"}


def build(mesh, params, bcs, *, grid, t_bath, scale=1.0, widths=None, sources=(),
          collisions=True, sc=False):
    raw = read_mesh(str(MESHES / mesh))
    w = np.ones(len(raw.region_names)) if widths is None else widths
    geo = build_geometry(raw, scale=scale, widths=w, strict=False)
    dist = Distribution(geo)
    regs = [params[n] for n in raw.region_names]
    return TransportProblem(dist, grid, regs, w, bcs, sources, t_bath, sc, collisions)


def newton_steady(p, prefix, opts=LU, *, jvp=None, pc=None, block_size=1):
    """Steady state by SNES from the bath equilibrium (Jacobian action ``jvp`` and
    preconditioner ``pc`` when given): owned unknowns and the solve result."""
    solver = NonlinearSolver(p.dist, lambda xl: -p.rhs(xl, 0.0, math.inf),
                             lambda xl: -p.rhs_jacobian(xl, 0.0, math.inf), p.pattern,
                             prefix, opts, jvp=jvp, block_size=block_size,
                             preconditioner=pc)
    x = p.dist.create_vec()
    x.setArray(p.equilibrium())
    res = solver.solve(x, atol=1e-22)
    return x.getArray().copy(), res


def steady(p, prefix):
    """Steady state by SNES (LU) from the bath equilibrium: owned unknowns."""
    return newton_steady(p, prefix)[0]


def local(p, x):
    v = p.dist.create_vec()
    v.setArray(x)
    return p.dist.local_array(v)


class _Steady:
    def __init__(self, power):
        self.power = power

    def amount(self, t0, t1):
        return self.power * (t1 - t0)

    def steady_rate(self):
        return self.power

    def breakpoints(self):
        return []

    def max_dt(self, t, checked=True):
        return math.inf


class _Pulse(_Steady):
    def __init__(self, energy, t0, t1):
        self.energy, self.t0, self.t1 = energy, t0, t1

    def amount(self, a, b):
        return self.energy * max(0.0, min(b, self.t1) - max(a, self.t0)) / (self.t1 - self.t0)

    def steady_rate(self):
        return 0.0

    def breakpoints(self):
        return [self.t0, self.t1]


def network(sc=False, t_bath=0.25, bias=2.6, sources=(), grid=None):
    """Y network: wire_1 Al (gap 1.76), wire_2 lower gap, wire_3 a normal trap."""
    d1 = 1.764 * thermal_gap(t_bath, 1.0) / 1.764
    d2 = 1.4 * thermal_gap(t_bath / 0.8, 1.0) / 1.764
    grid = grid or TransportGrid.build(0.9 * d2, 0.08, 4.6)
    params = {"wire_1": RegionParams(qp_scale=1.0, c_ph=0.6, weight=4.0, diffusion=3.0,
                                     delta0=1.764, gap=d1, tau_esc=2.0),
              "wire_2": RegionParams(qp_scale=2.5, c_ph=0.4, weight=3.0, diffusion=1.0,
                                     delta0=1.4, gap=d2, tau_esc=5.0),
              "wire_3": RegionParams(weight=5.0, diffusion=2.0, delta0=0.0, gap=0.0,
                                     trap=True)}
    bcs = {"end_1": Boundary("tunnel", rate=0.3, bias=bias, temperature=t_bath),
           "end_2": Boundary("bath"), "end_3": Boundary("insulating")}
    return build("wire_network/wire_network.msh", params, bcs, grid=grid, t_bath=t_bath,
                 scale=1.0, sources=sources, sc=sc)


@pytest.mark.parametrize("sc", [False, True])
def test_equilibrium_stationary_with_varying_gap(sc):
    """Fermi f, Bose n and Delta(T) of each region: every row of the residual vanishes to
    round-off (collisions, transport across the gap step and into the trap, the junction
    at zero bias, the bath contact, escape), and the self-consistent gap is a fixed point."""
    p = network(sc=sc, bias=0.0)
    x = p.equilibrium()
    if sc:
        assert p.update_gap(local(p, x)) > 1e-6  # the region gaps were BCS continuum values
        assert p.update_gap(local(p, x)) < 1e-12  # now a fixed point of the discrete eq.
        g = np.unique(np.round(p.delta[~p.trap], 12))
        assert len(g) == 2  # two superconductors, different gaps
    r = p.rhs(local(p, x), 0.0, math.inf)
    terms = p.collision_terms(local(p, x).reshape(-1, p.B))
    scale = max(np.max(p.m_f[:p.n] * np.concatenate([t.qp_gain for t in terms])),
                np.max(np.abs(p.G)) * 1e-2)
    assert np.max(np.abs(r)) <= 1e-13 * scale
    assert all(abs(v) <= 1e-13 * scale for v in p.rates(local(p, x), 0.0, math.inf).values())


def pulsed_network(build=None, schur=False, **kw):
    """``build(sources=..., **kw)`` (default: :func:`network` at bias 3.2) with a phonon
    pulse (0.05 in 0.1..0.3, 3.9 +- 0.2) spread over region 1 by volume and the source
    spectrum rebuilt with those weights (``set_gap``); ``schur``: Jacobian mode 'schur'
    (exact action) on its pattern, the preconditioner left to the caller."""
    src = SpectralSource("phonon", None, _Pulse(0.05, 0.1, 0.3), energy=3.9, width=0.2)
    p = build(sources=[src], **kw) if build else network(sources=[src], bias=3.2)
    w = np.where(p.loc.cell_region[:p.n] == 1, p.loc.volume[:p.n], 0.0)
    src.weights = w / w.sum()
    p.set_gap(p.delta)
    if schur:
        p.jacobian, p.matrix_free = "schur", True
        p.pattern = p._pattern()
    return p


def energy_balance(p, x0, integ):
    """Totals before and after the run of ``integ`` from ``x0``, the accumulated flows,
    the energy moved through all channels and the change of the stored energy."""
    t0, t1 = p.totals(x0), p.totals(integ.x)
    acc = integ.accumulated
    e_in = sum(abs(v) for k, v in acc.items() if k.startswith("E:"))
    dE = (t1["E_qp"] + t1["E_ph"]) - (t0["E_qp"] + t0["E_ph"])
    return t0, t1, acc, e_in, dE


def test_transient_energy_and_number_balance():
    """BDF2 over a tunnel-driven, phonon-pulsed Y network with a gap step, a normal trap,
    a bath contact and phonon escape: energy in = stored + out through every channel, to
    the Newton tolerance; QP number changes only through boundaries, trap and pairs."""
    p = pulsed_network()
    x0 = p.equilibrium()
    integ = BDFIntegrator(p, x0, 0.0, "tb_", LU, BDFOptions(dt_initial=0.02, rtol=1e-4,
                                                              atol=1e-9),
                          jacobian=JacobianConfig(block_size=p.B))
    integ.run(3.0)
    t0, t1, acc, e_in, dE = energy_balance(p, x0, integ)
    assert e_in > 0.01 and acc["E:trap"] < 0 and acc["E:escape"] < 0
    # BDF2 integrates the step-averaged source with its own weights (exact balance, the
    # deposited total to the accuracy of the time integration)
    assert acc["E:deposited"] == pytest.approx(0.05, rel=1e-3)
    assert abs(dE - sum(v for k, v in acc.items() if k.startswith("E:"))) <= 1e-9 * e_in
    dN = t1["N_qp"] - t0["N_qp"]
    n_in = sum(abs(v) for k, v in acc.items() if k.startswith("N:"))
    assert abs(acc["N:pair"]) > 1e-3 * n_in  # pair breaking by the pulse phonons matters
    assert abs(dN - sum(v for k, v in acc.items() if k.startswith("N:"))) <= 1e-8 * n_in
    assert np.all(integ.x.reshape(-1, p.B)[:, :p.N] >= 0)


def test_uniform_device_equals_0d_model():
    """No gradients (insulated line, uniform phonon drive): every cell is the 0D model's
    steady state (fvqp.models.kinetics0d, same grid and prefactors)."""
    t_bath, delta = 0.2, thermal_gap(0.2, 1.0)
    grid = TransportGrid.build(delta, 0.05, delta + 3.0)
    c_ph, tau = 0.8, 4.0
    power, e_ph = 2e-4, 3.9
    prm = RegionParams(qp_scale=1.0, c_ph=c_ph, weight=4.0, diffusion=1.0, delta0=1.764,
                       gap=delta, tau_esc=tau)
    src = SpectralSource("phonon", None, _Steady(power * 4.0), energy=e_ph)  # P0 V w, V = 1
    p = build("mms/line_16.msh", {"domain": prm},
              {"left": Boundary("insulating"), "right": Boundary("insulating")},
              grid=grid, t_bath=t_bath, sources=[src])
    src.weights = p.loc.volume[:p.n] / p.loc.volume[:p.n].sum()
    p.set_gap(p.delta)
    y = steady(p, "tu_").reshape(-1, p.B)
    eg = EnergyGrid(delta=grid.h * grid.j0, h=grid.h, n=grid.n, n_ph=grid.n_ph)
    k = int(np.argmin(np.abs(eg.omega - e_ph)))
    model = Kinetics0D(eg, CollisionParams(c_ph), t_bath, tau,
                       [PhononInjection(energy=eg.omega[k], width=0.0, power=power)],
                       method="direct")
    y0, _ = steady_state(model)
    assert np.max(np.abs(y[:, :p.N] - y0[:p.N])) <= 1e-9 * np.max(y0[:p.N])
    assert np.max(np.abs(y[:, p.N:] - y0[p.N:])) <= 1e-9 * np.max(y0[p.N:])
    assert np.max(y0[:p.N] - fermi(eg.e, t_bath)) > 1e-3  # far from equilibrium


def _diffusion_line(n_cells=128, length=200.0, e_min=1.6):
    grid = TransportGrid.build(e_min, 0.1, e_min + 1.6)
    prm = RegionParams(diffusion=2.0, gap=1.7, delta0=1.764)
    p = build(f"mms/line_{n_cells}.msh", {"domain": prm},
              {"left": Boundary("insulating"), "right": Boundary("insulating")},
              grid=grid, t_bath=0.1, scale=length, collisions=False)
    return p


def test_pulse_spreads_with_energy_resolved_diffusion_constant():
    """A weak QP pulse spreads at every energy with D(E) = D_n D_L / rho: the variance
    grows as 2 D(E) t, with D(E) -> D_n sqrt(1 - Delta^2/E^2) away from the gap edge and
    no motion in bins below the gap."""
    p = _diffusion_line()
    g = p.grid
    xc = p.loc.centroid[:p.n, 0]
    y = p.equilibrium().reshape(p.n, p.B)
    s0 = 10.0
    bump = 1e-4 * np.exp(-0.5 * ((xc - 100.0) / s0) ** 2)
    y[:, :p.N] += bump[:, None] * (~p.alg_f[:p.n])
    integ = BDFIntegrator(p, y.ravel(), 0.0, "tp_", LU,
                          BDFOptions(dt_initial=0.05, adaptive=False),
                          jacobian=JacobianConfig(block_size=p.B))
    t_end = 40.0
    integ.run(t_end)
    f = integ.x.reshape(p.n, p.B)[:, :p.N] - p.f_bath
    rho, dl = p.rho[0], p.dl[0]
    checked = 0
    for i in range(p.N):
        if p.alg_f[0, i]:
            assert np.all(f[:, i] == 0.0)
            continue
        w = f[:, i] / f[:, i].sum()
        var = np.sum(w * (xc - 100.0) ** 2)
        d_num = (var - s0**2) / (2 * t_end)
        d_exact = 2.0 * dl[i] / rho[i]
        assert d_num == pytest.approx(d_exact, rel=3e-3), i
        e = g.e[i]
        if e > 1.7 + 3 * g.h:
            assert d_exact == pytest.approx(2.0 * math.sqrt(1 - (1.7 / e) ** 2), rel=3e-3)
        checked += 1
    assert checked >= 10


@pytest.mark.parametrize("kind", ["square", "cube"])
def test_transport_second_order_manufactured(kind):
    """Steady spectral diffusion with a manufactured solution and its exact boundary
    values: the L2 error of f falls as h^2 on refined square / cube meshes."""
    sizes = (8, 16, 32) if kind == "square" else (4, 8, 16)
    errs = []
    for n in sizes:
        grid = TransportGrid.build(1.6, 0.2, 2.4)
        names = ("left", "right", "bottom", "top") if kind == "square" else \
            ("xmin", "xmax", "ymin", "ymax", "zmin", "zmax")
        p = build(f"mms/{kind}_{n}.msh", {"domain": RegionParams(diffusion=1.5, gap=1.7)},
                  {b: Boundary("bath") for b in names}, grid=grid, t_bath=0.1,
                  collisions=False)
        i = p.N - 1  # a bin fully above the gap: c = w D
        c = 4.0 * 1.5

        def exact(x):
            return 0.2 + 0.1 * np.sin(np.pi * x[:, 0]) * np.cos(1.3 * x[:, 1]) \
                * (np.exp(0.5 * x[:, 2]) if x.shape[1] > 2 else 1.0)

        def lap(x):
            k2 = np.pi**2 + 1.69 - (0.25 if kind == "cube" else 0.0)
            return -k2 * (exact(x) - 0.2)

        cen = p.loc.centroid[:p.n]
        # boundary faces: exact value at the face centroid
        fc = []
        loc = p.loc
        for f in range(len(loc.faces)):
            if loc.face_ptr[f + 1] - loc.face_ptr[f] == 1:
                fc.append(loc.face_centroid[f])
        fc = np.array(fc)
        p.b_fn[:, i] = exact(fc)
        rows = np.concatenate([p.f_a, p.f_a, p.f_b, p.f_b, p.b_cell])
        cols = np.concatenate([p.f_a, p.f_b, p.f_b, p.f_a, p.b_cell])
        G, Gb = p.G[:, i], p.b_G[:, i]
        vals = np.concatenate([-G, G, -G, G, -Gb])
        A = coo_matrix((vals, (rows, cols)), shape=(p.n, p.n)).tocsr()
        b = -Gb * p.b_fn[:, i]
        rhs = np.bincount(p.b_cell, weights=b, minlength=p.n)
        src = -c * grid.h * lap(cen) * p.loc.volume[:p.n]
        f = spsolve(A, rhs - src)
        errs.append(math.sqrt(np.sum(p.loc.volume[:p.n] * (f - exact(cen)) ** 2)))
    orders = [math.log2(errs[k] / errs[k + 1]) for k in range(len(errs) - 1)]
    assert min(orders) > 1.85, orders


def test_trapping_time_diffusion_limited():
    """Uniform QP injection at one energy into a line whose left end is a bath contact
    (perfect absorber): the steady number of QPs is N = G L^2 / (3 D(E)) -- the
    diffusion-limited trapping time L^2/(3 D(E)) -- to the O(h^2) accuracy of the mesh."""
    n_cells, length = 128, 100.0
    grid = TransportGrid.build(1.6, 0.1, 3.2)
    prm = RegionParams(diffusion=2.0, gap=1.7, delta0=1.764)
    e0 = 2.25
    src = SpectralSource("quasiparticle", None, _Steady(1e-3), energy=e0)
    p = build(f"mms/line_{n_cells}.msh", {"domain": prm},
              {"left": Boundary("bath"), "right": Boundary("insulating")},
              grid=grid, t_bath=0.1, scale=length, sources=[src], collisions=False)
    src.weights = p.loc.volume[:p.n] / p.loc.volume[:p.n].sum()
    p.set_gap(p.delta)
    xs = steady(p, "tt_")
    y = xs.reshape(p.n, p.B)
    i = int(np.argmin(np.abs(grid.e - e0)))
    n_excess = np.sum(p.m_f[:p.n, i] * (y[:, i] - p.f_bath[i]))
    gen = 1e-3 / grid.e[i]  # particles per time (energy rate / energy)
    d_e = 2.0 * p.dl[0, i] / p.rho[0, i]
    # N counted with states weight w = 4: n per volume = w h rho f
    tau_trap = n_excess / gen
    assert tau_trap == pytest.approx(length**2 / (3 * d_e), rel=2e-4)
    flows = p.rates(local(p, xs), 0.0, math.inf)
    assert flows["N:boundary:left"] == pytest.approx(-gen, rel=1e-10, abs=0)


def test_gap_collapse_below_grid_is_reported():
    """A drive that pushes the self-consistent gap below the grid stops with a message
    naming the fix, instead of silently using a grid without those states."""
    p = network(sc=True)
    y = p.equilibrium().reshape(p.n, p.B)
    y[:, :p.N] = 0.45  # nearly normal distribution
    with pytest.raises(ValueError, match="e_min"):
        p.update_gap(local(p, y.ravel()))
    # a moderate excess reduces the gap in the gap equation's direction
    p2 = network(sc=True)
    x = p2.equilibrium()
    p2.update_gap(local(p2, x))
    before = p2.delta.copy()
    y = x.reshape(p2.n, p2.B).copy()
    y[:, :p2.N] += 2e-3
    p2.update_gap(local(p2, y.ravel()))
    sc = ~p2.trap
    assert np.all(p2.delta[sc] < before[sc])
    ref = gaps(np.where(p2.alg_f, 0, y[:, :p2.N]), p2.grid, p2.p["delta0"], tol=1e-13)
    assert np.allclose(p2.delta[sc], ref[sc], rtol=1e-12)


def test_linear_action_equals_complex_step_and_relinearises():
    """The Krylov operator's collision part by the product rule (``action = 'linear'``,
    outer-factor derivatives kept per state) = the complex step through the residual to
    round-off, also after the state changes in place (a kept linearisation is never used
    at another state) and after the gap (the DOS) changes."""
    p, q = network(bias=3.2), network(bias=3.2)
    q.action = "complex_step"
    rng = np.random.default_rng(4)
    xl = local(p, p.equilibrium() * (1 + 0.3 * rng.random(p.n * p.B)))
    v = rng.standard_normal(xl.size)
    for _ in range(2):
        ref = q.rhs_jvp(xl, v, 0, 1)
        assert np.max(np.abs(p.rhs_jvp(xl, v, 0, 1) - ref)) <= 1e-14 * np.max(np.abs(ref))
        xl *= 1 + 0.2 * rng.random(xl.size)  # same array, new state
    for r in (p, q):
        r.set_gap(r.delta * 1.01)
    ref = q.rhs_jvp(xl, v, 0, 1)
    assert np.max(np.abs(p.rhs_jvp(xl, v, 0, 1) - ref)) <= 1e-14 * np.max(np.abs(ref))
    # matrix-free: the residual at a state keeps the linearisation for the actions there
    p.matrix_free = True
    xl *= 1 + 0.2 * rng.random(xl.size)
    p.rhs(xl, 0, 1)
    kept = p._linearised[1]
    ref = q.rhs_jvp(xl, v, 0, 1)
    assert np.max(np.abs(p.rhs_jvp(xl, v, 0, 1) - ref)) <= 1e-14 * np.max(np.abs(ref))
    assert p._linearised[1] is kept  # used, not recomputed


def test_matrix_free_mode_equals_assembled():
    """The matrix-free Jacobian action (product rule through the FFT operator) equals the
    assembled exact Jacobian times a vector, and both modes reach the same steady state
    (Newton stays quadratic: the action is exact, only the preconditioner differs)."""
    p = network(bias=3.2)
    rng = np.random.default_rng(0)
    xl = local(p, p.equilibrium() * (1 + 0.3 * rng.random(p.n * p.B)))
    v = rng.standard_normal(xl.size)
    rows, cols = p.pattern
    J = coo_matrix((p.rhs_jacobian(xl, 0, 1), (rows, cols)), shape=(p.n * p.B, xl.size))
    jv = J.tocsr() @ v
    assert np.max(np.abs(jv - p.rhs_jvp(xl, v, 0, 1))) <= 1e-13 * np.max(np.abs(jv))
    out = {}
    for mode in ("assembled", "matrix_free"):
        q = network(bias=3.2)
        if mode == "matrix_free":
            q.matrix_free, q.block_size = True, 1
            q.pattern = q._pattern()
        jvp = (lambda xl_, vl, q=q: -q.rhs_jvp(xl_, vl, 0.0, math.inf)) \
            if q.matrix_free else None
        opts = LU if mode == "assembled" else {"ksp_type": "gmres", "pc_type": "gamg",
                                               "ksp_rtol": 1e-12, "ksp_max_it": 500}
        out[mode], res = newton_steady(q, f"tmf{mode[:2]}_", opts, jvp=jvp,
                                       block_size=q.block_size)
        assert res.iterations <= 8
    a, b = out["assembled"], out["matrix_free"]
    assert np.max(np.abs(a - b)) <= 1e-9 * np.max(np.abs(a))


def schur_network(seed: int):
    """The Y network in the ``schur`` mode at a perturbed state: problem, random
    generator (``seed`` plus the rank) and the local state."""
    p = network(bias=3.2)
    p.jacobian, p.matrix_free = "schur", True
    rng = np.random.default_rng(seed + p.cells.rank)
    return p, rng, local(p, p.equilibrium() * (1 + 0.3 * rng.random(p.n * p.B)))


@pytest.mark.parametrize("shift, couplings", [(0.0, "stored"), (7.5, "stored"),
                                              (7.5, "action")])
def test_schur_preconditioner_is_the_exact_inverse_with_an_exact_inner_solve(shift,
                                                                              couplings):
    """Phonons couple only through QPs and transport acts on QPs only, so eliminating the
    phonons cell by cell is exact: with an LU inner solve, the Schur preconditioner
    inverts K = shift m - dRHS/dy to round-off (single-precision stored coupling blocks:
    1e-6; couplings by the exact Jacobian action: 1e-10), also after a rebuild at another
    state and shift."""
    from petsc4py import PETSc

    from fvqp.models.transport.schur import SchurPreconditioner

    p, rng, xl = schur_network(1)
    prefix = f"tsc{int(shift)}{couplings[0]}_"
    PETSc.Options().setValue(prefix + "schur_couplings", couplings)
    pc = SchurPreconditioner(p, prefix, {"ksp_type": "preonly", "pc_type": "lu"})
    tol = 1e-5 if couplings == "stored" else 1e-10
    # the second update rewrites the values PETSc shares with the Python side in place
    # (no copies, blockcsr.py): the factorisation must follow, or the inverse is stale
    for state, s in ((xl, shift), (local(p, p.equilibrium()), 2.0 * shift + 1.0)):
        pc.update(state, s)
        v = rng.standard_normal(p.n * p.B)
        mass = p.dconserved(state[:p.n * p.B])
        Kv = s * mass * v - p.rhs_jvp(state, local(p, v), 0.0, 1.0)
        z = pc.apply(Kv)
        assert np.max(np.abs(z - v)) <= tol * np.max(np.abs(v))


@pytest.mark.parametrize("precision", ["single", "double"])
def test_schur_complement_precision(precision):
    """The cell blocks and the QP Schur complement built in single precision from the
    kinematics of the collision operator (the default) or in double from the dense cell
    Jacobians: with an LU inner solve and the couplings by the exact action, the
    preconditioner inverts K to single-precision round-off (measured 6e-8) or to 1e-10."""
    from petsc4py import PETSc

    from fvqp.models.transport.schur import SchurPreconditioner

    p, rng, xl = schur_network(5)
    prefix = f"tpr{precision[0]}_"
    PETSc.Options().setValue(prefix + "schur_couplings", "action")
    PETSc.Options().setValue(prefix + "schur_precision", precision)
    pc = SchurPreconditioner(p, prefix, {"ksp_type": "preonly", "pc_type": "lu"})
    assert pc.precision == precision
    pc.update(xl, 7.5)
    v = rng.standard_normal(p.n * p.B)
    Kv = 7.5 * p.dconserved(xl[:p.n * p.B]) * v - p.rhs_jvp(xl, local(p, v), 0.0, 1.0)
    err = np.max(np.abs(pc.apply(Kv) - v)) / np.max(np.abs(v))
    assert err <= (1e-6 if precision == "single" else 1e-10)
    assert precision == "double" or err > 1e-10  # the single build is really single


def test_schur_ilu_in_place_equals_the_copy_across_rebuilds():
    """The serial ILU(0) of the Schur complement factored in place (the default: the
    matrix holds its factors between rebuilds) gives the applications of the separate
    factorisation, also after rebuilds at other states and shifts (the matrix is reset
    to unfactored and rewritten each time)."""
    from petsc4py import PETSc

    from fvqp.models.transport.schur import SchurPreconditioner

    p, rng, xl = schur_network(6)
    r = rng.standard_normal(p.n * p.B)
    out = {}
    for mode in ("copy", "inplace"):
        if mode == "copy":
            PETSc.Options().setValue("tipc_schur_sub_pc_factor_in_place", False)
        pc = SchurPreconditioner(p, f"tip{mode[0]}_")
        opts = pc.ksp.getPC().getOptionsPrefix()
        assert PETSc.Options().getBool(opts + "sub_pc_factor_in_place") == (
            mode == "inplace")
        out[mode] = []
        for state, s in ((xl, 7.5), (local(p, p.equilibrium()), 3.0), (xl, 7.5)):
            pc.update(state, s)
            out[mode] += [pc.apply(r), pc.apply(r)]
    for a, b in zip(out["copy"], out["inplace"], strict=True):
        assert np.max(np.abs(a - b)) <= 1e-14 * np.max(np.abs(a))  # measured 3e-18
    assert np.max(np.abs(out["copy"][0] - out["copy"][2])) > 1e-3 * np.max(
        np.abs(out["copy"][0]))  # the rebuilds changed the preconditioner


@pytest.mark.parametrize("n_agg", [1, 5])
def test_schur_coarse_correction_is_galerkin(n_agg):
    """The aggregation coarse space of the inner Schur solve (coarse.py): after the
    coarse correction the residual has no component left in the coarse space,
    P^T (t - S_T z) = 0, which holds only if the coarse operator is exactly P^T S_T P
    (cell blocks summed per aggregate, transport within an aggregate cancelling, the
    couplings between aggregates summed)."""
    from petsc4py import PETSc

    from fvqp.models.transport.schur import SchurPreconditioner

    p, rng, xl = schur_network(3)
    prefix = f"tcg{n_agg}_"
    PETSc.Options().setValue(prefix + "schur_coarse_aggregates", n_agg)
    pc = SchurPreconditioner(p, prefix)
    assert pc.coarse is not None and pc.coarse.n_agg == n_agg
    pc.update(xl, 7.5)
    t = rng.standard_normal(p.n * p.N)
    r0, r1 = coarse_components(pc, t)
    assert np.max(np.abs(r0)) > 1e-6 * np.max(np.abs(t))  # the smoother leaves some
    assert np.max(np.abs(r1)) <= 1e-12 * np.max(np.abs(r0))  # measured 1e-14 .. 5e-14


def test_schur_mode_reaches_the_assembled_steady_state():
    """Jacobian mode 'schur' (exact action + phonon elimination, default block-ILU inner
    solve) converges quadratically to the assembled mode's steady state."""
    from fvqp.models.transport.schur import SchurPreconditioner
    from fvqp.solvers.steady import SteadyPC

    out, lin = {}, {}
    for mode in ("assembled", "schur"):
        q = network(bias=3.2)
        jvp, pc = None, None
        if mode == "schur":
            q.jacobian, q.matrix_free = "schur", True
            model_pc = SchurPreconditioner(q, "tsm_")
            jvp = lambda xl_, vl, q=q: -q.rhs_jvp(xl_, vl, 0.0, math.inf)  # noqa: E731

            pc = SteadyPC(model_pc)
        opts = LU if mode == "assembled" else {"ksp_type": "gmres", "ksp_rtol": 1e-12}
        out[mode], res = newton_steady(q, f"tsc{mode[:2]}_", opts, jvp=jvp, pc=pc,
                                       block_size=q.block_size)
        assert res.iterations <= 8
        lin[mode] = res.linear_iterations / res.iterations
    a, b = out["assembled"], out["schur"]
    assert np.max(np.abs(a - b)) <= 1e-9 * np.max(np.abs(a))
    assert lin["schur"] <= 25  # measured 15.4 Krylov iterations per Newton step


def test_schur_mode_transient_equals_assembled():
    """Fixed BDF2 steps through a phonon pulse: the 'schur' mode (exact action, phonon
    elimination, lagged preconditioner) gives the assembled mode's states to the Newton
    tolerance and keeps the exact energy balance."""
    from fvqp.models.transport.schur import SchurPreconditioner

    out = {}
    for mode in ("assembled", "schur"):
        p = pulsed_network(schur=mode == "schur")
        opts = LU
        if mode == "schur":
            p.preconditioner = SchurPreconditioner(p, "tst_")
            opts = {"ksp_type": "gmres", "ksp_rtol": 1e-12, "snes_lag_preconditioner": 2}
        x0 = p.equilibrium()
        integ = BDFIntegrator(p, x0, 0.0, f"tt{mode[:2]}_", opts,
                              BDFOptions(dt_initial=0.05, adaptive=False),
                              jacobian=JacobianConfig("matrix_free",
                                                      preconditioner=p.preconditioner)
                              if mode == "schur" else JacobianConfig(block_size=p.B))
        integ.run(1.0)
        _, _, acc, e_in, dE = energy_balance(p, x0, integ)
        assert abs(dE - sum(v for k, v in acc.items() if k.startswith("E:"))) <= 1e-9 * e_in
        out[mode] = integ.x.copy()
    a, b = out["assembled"], out["schur"]
    assert np.max(np.abs(a - b)) <= 1e-8 * np.max(np.abs(a))


def test_lagged_schur_preconditioner_keeps_the_answer_and_builds_less():
    """The Schur preconditioner kept across Newton iterations and steps (.lagged) and
    inexact Newton (Eisenstat-Walker) change the Krylov path, not the converged states:
    fixed BDF2 steps through a phonon pulse equal the assembled mode's to the Newton
    tolerance (as the unlagged 'schur' test), with fewer builds than linear solves."""
    from fvqp.models.transport.schur import SchurPreconditioner
    from fvqp.solvers.lagged import LaggedPreconditioner

    out, pcs = {}, {}
    for mode in ("assembled", "lagged"):
        p = pulsed_network(schur=mode == "lagged")
        opts = LU
        if mode == "lagged":
            p.preconditioner = pcs[mode] = LaggedPreconditioner(SchurPreconditioner(
                p, "tlg_"))
            opts = {"ksp_type": "gmres", "ksp_rtol": 1e-12, "snes_lag_preconditioner": 1,
                    "snes_ksp_ew": True}
        x0 = p.equilibrium()
        jac = JacobianConfig("matrix_free", 1, p.preconditioner) if mode == "lagged" \
            else JacobianConfig(block_size=p.B)
        integ = BDFIntegrator(p, x0, 0.0, f"tl{mode[:2]}_", opts,
                              BDFOptions(dt_initial=0.05, adaptive=False), jacobian=jac)
        integ.run(1.0)
        out[mode] = integ.x.copy()
        if mode == "lagged":
            newton = integ.solver.total_iterations
    a, b = out["assembled"], out["lagged"]
    assert np.max(np.abs(a - b)) <= 1e-8 * np.max(np.abs(a))  # measured 4e-10
    pc = pcs["lagged"]
    assert pc.builds + pc.reuses == newton  # one update per linear solve
    assert pc.builds < newton / 4  # measured: 4 builds for 69 Newton iterations


class _CountingPC:
    """A stand-in model preconditioner that records its builds."""

    def __init__(self):
        self.states = []

    def update(self, x, shift):
        self.states.append((x, shift))

    def apply(self, r):
        return r


def test_lag_rule_rebuilds_when_krylov_counts_grow_or_the_shift_moves():
    """The rebuild rule: keep while the last solve took at most growth * (first solve
    after the build) + 2 iterations, the shift stays within the factor and the build is
    younger than max_age; a solve that ran into the Krylov limit always rebuilds."""
    from fvqp.solvers.lagged import LaggedPreconditioner

    inner = _CountingPC()
    pc = LaggedPreconditioner(inner, growth=2.0, shift_factor=2.0, max_age=6)

    def solve(its, shift=1.0):
        pc.update(np.zeros(1), shift)
        for _ in range(its):
            pc.apply(np.zeros(1))

    solve(4)                      # first build; the first solve takes 4 iterations
    solve(9)                      # 4 -> kept; this solve took 9 (<= 2 * 4 + 2)
    solve(11)                     # 9 kept; 11 > 10 ...
    assert len(inner.states) == 1 and pc.reasons == {"first": 1}
    solve(3)                      # ... so this one starts from a rebuild
    assert pc.reasons == {"first": 1, "growth": 1}
    solve(3, shift=1.9)           # within the shift factor: kept
    solve(3, shift=0.9)           # 0.9 / 1.0 inside [1/2, 2] (the build's shift): kept
    assert pc.builds == 2
    solve(3, shift=0.25)          # a step cut by 4
    assert pc.reasons["shift"] == 1
    for _ in range(6):
        solve(3, shift=0.25)
    assert pc.reasons.get("age") == 1 and pc.builds == 4
    solve(1000, shift=0.25)       # a solve that hit the Krylov limit ...
    solve(3, shift=0.25)          # ... is followed by a rebuild
    assert pc.reasons["growth"] == 2 and pc.builds == 5
    never = LaggedPreconditioner(_CountingPC(), lag=False)
    for _ in range(3):
        never.update(np.zeros(1), 1.0)
    assert never.builds == 3


_SUBDOMAIN_SCRIPT = '''
import sys
import numpy as np
from petsc4py import PETSc
sys.path.insert(0, sys.argv[1])
from test_transport_model import schur_network
from fvqp.models.transport.schur import SchurPreconditioner

p, rng, xl = schur_network(3)
r = rng.standard_normal(p.n * p.B)
z = {}
for mode in ("rcm", "petsc"):
    PETSc.Options().setValue(f"tsd{mode}_schur_subdomains", mode)
    pc = SchurPreconditioner(p, f"tsd{mode}_", {"sub_pc_type": "lu"})
    pc.update(xl, 7.5)
    z[mode] = pc.apply(r)
    if mode == "rcm":
        sub = pc.ksp.getPC().getASMSubKSP()[0].getOperators()[0].getSize()[0]
err = np.max(np.abs(z["rcm"] - z["petsc"])) / np.max(np.abs(z["petsc"]))
rows = p.cells.comm.tompi4py().gather((err, p.n, p.loc.n_local, sub // p.N))
if p.cells.rank == 0:
    for row in rows:
        print("RESULT", *row, flush=True)
'''


@pytest.mark.mpi
def test_schur_rcm_subdomains_are_the_overlap_one_subdomains(tmp_path):
    """On several ranks the inner Schur solve uses additive Schwarz on the rank's cells
    plus one layer of neighbours, listed in RCM order (schur._rcm_subdomain). With exact
    (LU) subdomain solves the order cannot matter, so the preconditioner must equal the
    one on PETSc's own overlap-1 subdomains to round-off (measured 2e-16): fails if the
    subdomain lacks the neighbour layer or its owned part (the prolongation) lacks rows
    (both checked by mutation)."""
    import subprocess
    import sys

    from conftest import HANG_TIMEOUT, mpi_env

    script = tmp_path / "subdomains.py"
    script.write_text(_SUBDOMAIN_SCRIPT)
    proc = subprocess.run(["mpiexec", "-n", "2", sys.executable, str(script),
                           str(Path(__file__).parent)], capture_output=True, text=True,
                          env=mpi_env(), timeout=HANG_TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    rows = [line.split()[1:] for line in proc.stdout.splitlines()
            if line.startswith("RESULT")]
    assert len(rows) == 2
    for err, n_owned, n_local, n_sub in rows:
        assert float(err) <= 1e-10
        assert int(n_owned) < int(n_sub) == int(n_local)  # owned + ghost layer

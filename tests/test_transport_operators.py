"""Energy-space pieces of the transport model: batched collision operator, its Jacobian,
per-cell spectra on the absolute grid and the local gap equation."""

from types import SimpleNamespace

import numpy as np
import pytest

from fvqp.collisions import (
    CollisionParams,
    EnergyGrid,
    collision_terms_direct,
    fermi,
)
from fvqp.collisions.batched import (
    batched_blocks,
    batched_jacobian,
    batched_jvp,
    batched_terms,
    collision_jacobian_blocks,
    outer_derivative,
)
from fvqp.spectra.bins import BinGrid as TransportGrid
from fvqp.spectra.bins import cell_spectra, gaps
from fvqp.spectra.gap import thermal_gap

NAMES = ("qp_sc_in", "qp_sc_out", "qp_rec", "qp_pb", "ph_sc_in", "ph_sc_out", "ph_rec",
         "ph_pb")


def _duck_grid(g: TransportGrid, rho, ados):
    """An EnergyGrid look-alike with given DOS for the O(N^2) reference operator."""
    return SimpleNamespace(n=g.n, n_ph=g.n_ph, m=g.m, h=g.h, omega=g.omega, dos=rho,
                           ados=ados)


@pytest.fixture
def cells():
    g = TransportGrid.build(1.5, 0.06, 5.0)
    rng = np.random.default_rng(3)
    gaps = np.array([1.5, 1.5 + 0.3 * g.h, 1.6, 1.77])  # on an edge, inside bins
    rho, ados, _ = cell_spectra(g, gaps)
    f = rng.uniform(0.0, 0.4, (4, g.n))
    n = rng.uniform(0.0, 0.6, (4, g.n_ph))
    return g, gaps, rho, ados, f, n


def test_batched_equals_direct_reference_per_cell(cells):
    """FFT batch = the O(N^2) double sums of fvqp.collisions.direct, cell by cell, with
    per-cell DOS (gap inside a bin, bins without states) and prefactors."""
    g, gaps, rho, ados, f, n = cells
    qs, cph = np.array([1.0, 0.3, 2.0, 0.7]), np.array([0.5, 1.2, 0.8, 2.0])
    b = batched_terms(f, n, rho, ados, h=g.h, m=g.m, qp_scale=qs, c_ph=cph)
    for c in range(4):
        has = rho[c] > 0
        # reference on the bins with states (the direct code divides by rho)
        j0 = int(np.argmax(has))
        sub = SimpleNamespace(n=g.n - j0, n_ph=g.n_ph, m=g.m + 2 * j0, h=g.h, omega=g.omega,
                              dos=rho[c, j0:], ados=ados[c, j0:])
        ref = collision_terms_direct(f[c, j0:], n[c], sub, CollisionParams(cph[c]))
        for k in NAMES:
            a = getattr(ref, k) * (qs[c] if k.startswith("qp") else 1.0)
            got = getattr(b, k)[c]
            got = got[j0:] if k.startswith("qp") else got
            assert np.max(np.abs(got - a)) <= 1e-12 * np.max(np.abs(a)), (c, k)
        assert np.all(b.qp[c, ~has] == 0.0)


def test_energy_conserved_and_qp_number_by_pairs(cells):
    """sum_i h rho E S_qp + beta sum_k h W^3 S_ph = 0 to round-off in every cell
    (beta = qp_scale / 2 c_ph); QPs change only in pairs: sum h rho (pb - rec) equals
    twice the phonon number lost to pair breaking minus gained by recombination."""
    g, gaps, rho, ados, f, n = cells
    qs, cph = np.array([1.0, 0.3, 2.0, 0.7]), np.array([0.5, 1.2, 0.8, 2.0])
    b = batched_terms(f, n, rho, ados, h=g.h, m=g.m, qp_scale=qs, c_ph=cph)
    beta = qs / (2 * cph)
    e_qp = g.h * np.sum(rho * g.e * b.qp, axis=1)
    e_ph = beta * g.h * np.sum(g.omega**3 * b.ph, axis=1)
    scale = g.h * np.sum(rho * g.e * (b.qp_gain + b.qp_loss), axis=1)
    assert np.all(np.abs(e_qp + e_ph) <= 1e-13 * scale)
    dn_qp = g.h * np.sum(rho * (b.qp_pb - b.qp_rec), axis=1)
    dn_ph = beta * g.h * np.sum(g.omega**2 * (b.ph_rec - b.ph_pb), axis=1)
    assert np.allclose(dn_qp, -2 * dn_ph, rtol=1e-12, atol=0)
    # scattering alone conserves the QP number
    dsc = g.h * np.sum(rho * (b.qp_sc_in - b.qp_sc_out), axis=1)
    assert np.all(np.abs(dsc) <= 1e-13 * scale)


@pytest.mark.parametrize("t", [0.2, 0.45])
def test_detailed_balance_every_term(cells, t):
    """Fermi f and Bose n at one temperature: each process balances separately."""
    g, gaps, rho, ados, _, _ = cells
    f = np.tile(fermi(g.e, t), (4, 1))
    n = np.tile(1.0 / np.expm1(g.omega / t), (4, 1))
    b = batched_terms(f, n, rho, ados, h=g.h, m=g.m, qp_scale=1.3, c_ph=0.9)
    for gain, loss in (("qp_sc_in", "qp_sc_out"), ("qp_pb", "qp_rec"),
                       ("ph_sc_in", "ph_sc_out"), ("ph_rec", "ph_pb")):
        a, c = getattr(b, gain), getattr(b, loss)
        assert np.max(np.abs(a - c)) <= 1e-12 * np.max(a), (gain, loss)


def test_batched_jacobian_exact(cells):
    """Analytic batched Jacobian = complex-step derivative of the FFT operator (exact
    to round-off; the dual-number FFT keeps imaginary parts free of round-off)."""
    g, gaps, rho, ados, f, n = cells
    qs, cph = np.array([1.0, 0.3, 2.0, 0.7]), np.array([0.5, 1.2, 0.8, 2.0])

    def rate(ff, nn):
        t = batched_terms(ff, nn, rho, ados, h=g.h, m=g.m, qp_scale=qs, c_ph=cph)
        return t.qp, t.ph

    J1 = collision_jacobian_blocks(f, n, rate)
    J2 = batched_jacobian(f, n, rho, ados, h=g.h, m=g.m, qp_scale=qs, c_ph=cph)
    assert np.max(np.abs(J1 - J2)) <= 1e-12 * np.max(np.abs(J2))
    # and a finite-difference check of one column (independent of both)
    e = 1e-6
    f2 = f.copy()
    f2[:, 7] += e
    fd = (np.concatenate(rate(f2, n), axis=1) - np.concatenate(rate(f, n), axis=1)) / e
    assert np.allclose(fd, J2[:, :, 7], rtol=1e-4, atol=1e-6 * np.abs(J2).max())


@pytest.mark.parametrize("weighted", [False, True])
def test_batched_jvp_exact(cells, weighted):
    """The linearised action (product rule in real arithmetic, transport's Krylov
    operator) = the analytic dense Jacobian times a direction = the complex step of the
    FFT operator, to round-off: per-cell DOS with empty bins, per-cell prefactors, pair
    weights, both the QP and the phonon part of the direction."""
    g, gaps, rho, ados, f, n = cells
    qs, cph = np.array([1.0, 0.3, 2.0, 0.7]), np.array([0.5, 1.2, 0.8, 2.0])
    rng = np.random.default_rng(8)
    pw = rng.uniform(0.5, 1.5, g.n_ph) if weighted else None
    kw = dict(h=g.h, m=g.m, qp_scale=qs, c_ph=cph, pair_weight=pw)
    v, u = rng.standard_normal(f.shape), rng.standard_normal(n.shape)
    J = batched_jacobian(f, n, rho, ados, **kw)
    eps = 1e-30
    t = batched_terms(f + 1j * eps * v, n + 1j * eps * u, rho, ados, **kw)
    ref_cs = np.concatenate([t.qp.imag, t.ph.imag], axis=1) / eps
    for dv, du in ((v, u), (v, 0 * u), (0 * v, u)):
        ref = np.einsum("cij,cj->ci", J, np.concatenate([dv, du], axis=1))
        outer = outer_derivative(f, n, rho, ados, **kw)
        got = np.concatenate(batched_jvp(f, n, rho, ados, dv, du, outer=outer, **kw), axis=1)
        assert np.max(np.abs(got - ref)) <= 2e-15 * np.max(np.abs(ref))
    got = np.concatenate(batched_jvp(f, n, rho, ados, v, u, **kw), axis=1)
    assert np.max(np.abs(got - ref_cs)) <= 2e-15 * np.max(np.abs(ref_cs))


@pytest.mark.parametrize("weighted", [False, True])
def test_batched_blocks_by_kinematics_equal_the_dense_jacobian(cells, weighted):
    """The four Jacobian blocks gathered on the partner pattern (i +- k, k - m - 1 - i)
    = the dense analytic Jacobian (itself = complex step) to round-off in double; in
    single precision to single round-off; the phonon block is diagonal."""
    g, gaps, rho, ados, f, n = cells
    qs, cph = np.array([1.0, 0.3, 2.0, 0.7]), np.array([0.5, 1.2, 0.8, 2.0])
    pw = np.random.default_rng(2).uniform(0.5, 1.5, g.n_ph) if weighted else None
    kw = dict(h=g.h, m=g.m, qp_scale=qs, c_ph=cph, pair_weight=pw)
    J = batched_jacobian(f, n, rho, ados, **kw)
    N, k = g.n, np.arange(g.n_ph)
    ref = (J[:, :N, :N], J[:, :N, N:], J[:, N:, :N], J[:, N + k, N + k])
    scale = np.max(np.abs(J))
    for dtype, tol in ((np.float64, 1e-15), (np.float32, 1e-6)):
        got = batched_blocks(*(x.astype(dtype) for x in (f, n, rho, ados)), **kw)
        for a, b in zip(got, ref, strict=True):
            assert a.dtype == dtype
            assert np.max(np.abs(a - b)) <= tol * scale
    off = J[:, N:, N:] - np.einsum("ck,kl->ckl", ref[3], np.eye(g.n_ph))
    assert np.max(np.abs(off)) == 0.0


def test_cell_spectra_exact_bin_averages():
    """Gap on a bin edge: the EnergyGrid averages; any gap: the integrals of rho and
    Delta rho / E are sqrt(E^2 - D^2) and D acosh(E / D) exactly; D_L = bin fraction."""
    g = TransportGrid.build(1.5, 0.02, 6.0)
    ref = EnergyGrid(delta=1.5, h=g.h, n=g.n)
    gaps = np.array([1.5, 1.5 + 0.37 * g.h, 2.2, 0.0])
    rho, ados, dl = cell_spectra(g, gaps)
    assert np.allclose(rho[0], ref.dos, rtol=1e-12) and np.allclose(ados[0], ref.ados,
                                                                    rtol=1e-12)
    top = g.e_max
    for c in range(3):
        d = gaps[c]
        assert g.h * rho[c].sum() == pytest.approx(np.sqrt(top**2 - d**2), rel=1e-12)
        assert g.h * ados[c].sum() == pytest.approx(d * np.arccosh(top / d), rel=1e-12)
    j = int(np.floor((gaps[1] - g.edges[0]) / g.h))
    assert dl[1, j] == pytest.approx(0.63, rel=1e-9) and np.all(dl[1, :j] == 0)
    assert np.allclose(rho[3], 1.0, rtol=1e-14) and np.all(ados[3] == 0.0)
    assert np.all(dl[3] == 1.0)


@pytest.mark.parametrize("t", [0.3, 0.7])
def test_local_gap_equation_converges_to_bcs(t):
    """The discrete gap equation (f constant per bin) converges to BCS Delta(T) as
    h -> 0 (second order in h away from the edge singularity)."""
    exact = thermal_gap(t, 1.0)
    errs = []
    for h in (0.04, 0.02, 0.01):
        g = TransportGrid.build(0.6, h, 40.0)
        d = gaps(fermi(g.e, t)[None, :], g, np.array([thermal_gap(1e-9, 1.0)]), tol=1e-13)
        errs.append(abs(d[0] - exact))
    assert errs[-1] < 2e-4 * exact
    assert errs[0] / errs[-1] > 3.0  # converging at least ~h^1 (measured ~h^2)
    # above Tc the solution collapses onto the grid's lower edge (the model then stops
    # with a clear error: the grid holds no states below it)
    g = TransportGrid.build(0.3, 0.02, 40.0)
    d = gaps(fermi(g.e, 1.05)[None, :], g, np.array([1.764]), tol=1e-13)[0]
    assert d < g.edges[0]


def test_region_prefactors_convert_material_units_to_reference_units():
    """An Al region in a case whose units are Ta's: the batched operator with the
    driver's prefactors (qp_scale = (tau0_ref/tau0) (Tc_ref/Tc)^3, c_ph in reference
    energies) equals the Al operator in Al's own units (kTc_Al, tau0_Al) converted to
    the reference time unit -- QP and phonon terms alike (a wrong power of the Tc ratio
    or a wrong Delta0 in c_ph would fail)."""
    from fvqp.materials import get_material
    from fvqp.models.transport.driver import region_params
    from fvqp.units import UnitSystem

    ta, al = get_material("Ta"), get_material("Al")
    u = UnitSystem.from_material(ta)
    rp = region_params(al, {}, u, 0.05, 3)
    g_al = EnergyGrid.build(al.gap_ratio, 0.1, 6.0)
    r = al.Tc / ta.Tc
    g_ref = EnergyGrid(delta=g_al.delta * r, h=g_al.h * r, n=g_al.n, n_ph=g_al.n_ph)
    rng = np.random.default_rng(1)
    f, n = rng.uniform(0, 0.3, g_al.n), rng.uniform(0, 0.5, g_al.n_ph)
    own = collision_terms_direct(f, n, g_al, CollisionParams.from_times(
        al.tau0 / al.tau0_phi, al.gap_ratio))
    b = batched_terms(f[None], n[None], g_ref.dos[None], g_ref.ados[None], h=g_ref.h,
                      m=g_ref.m, qp_scale=rp.qp_scale, c_ph=rp.c_ph)
    s = u.tau0 / al.tau0  # Al rates per tau0_Al -> per tau0_Ta
    assert np.allclose(b.qp[0], s * own.qp, rtol=0, atol=1e-13 * s * np.abs(own.qp).max())
    assert np.allclose(b.ph[0], s * own.ph, rtol=0, atol=1e-13 * s * np.abs(own.ph).max())
    assert rp.gap == pytest.approx(
        thermal_gap(0.05 / al.Tc, 1.0, al.gap_ratio, "delta0") * r, rel=1e-12)

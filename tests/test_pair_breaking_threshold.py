"""Pair processes at the 2 Delta threshold (issue 19, item 5).

The thermal pair-breaking time and the recombination-phonon spectrum of the discrete
operator are compared with an independent quadrature of the continuum expressions of
Kaplan et al., PRB 14, 4854 (1976) (notes Eq. 40):

    1/tau_pb(Omega) = c_ph int_Delta^{Omega-Delta} dE [E E' + Delta^2] / (sqrt(E^2 - Delta^2)
                      sqrt(E'^2 - Delta^2)) [1 - f(E) - f(E')],        E' = Omega - E,

in units of 1/tau0 with c_ph = tau0/(pi Delta0 tau0^phi) (energies in k_B Tc). The
quadrature below uses only scipy (algebraic end-point weights for the two
inverse-square-root gap-edge singularities); nothing of fvqp's grid or closed form enters.

On the cell-centred grid (the layout before the fix) the thermal tau_pb of Al at 0.1 K
is 6% off at h = Delta/100 (0.2246 vs 0.2388 ns with the database's tau0^phi = 0.242 ns)
and converges like h^1.5; the vertex layout (a phonon node at exactly 2 Delta carrying
pair processes, exact node rates) reaches 1e-4 and converges like h^2.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate

from fvqp.collisions import (
    CollisionParams,
    EnergyGrid,
    collision_terms,
    equilibrium,
    jacobian,
    jvp,
    ph_number,
    qp_energy,
    qp_number,
    thermal_pair_breaking_rate,
)
from fvqp.collisions.batched import batched_jacobian, batched_terms
from fvqp.collisions.kernels import ph_energy
from fvqp.materials import get_material
from fvqp.spectra.gap import thermal_gap

MAT = get_material("Al")
PARAMS = CollisionParams.from_times(MAT.tau0 / MAT.tau0_phi, MAT.gap_ratio)


def _gap(t: float) -> float:
    """The film's gap at reduced temperature t (BCS Delta(T) scaled to Delta0 = 1.7)."""
    return float(thermal_gap(t, 1.0, MAT.gap_ratio, "alpha"))


def _fermi(e: float, t: float) -> float:
    return 0.5 * (1.0 - math.tanh(0.5 * e / t))


def _bose(w: float, t: float) -> float:
    return 1.0 / math.expm1(w / t)


def _kaplan_integral(omega: float, delta: float, occ) -> float:
    """int_Delta^{Omega-Delta} K^+(E, Omega - E) occ(E, Omega - E) dE by quad (``occ``
    smooth and of order one)."""
    if omega <= 2.0 * delta:
        return 0.0

    def smooth(e: float) -> float:  # times sqrt((E - Delta)(Omega - Delta - E))
        e2 = omega - e
        return (e * e2 + delta**2) / math.sqrt((e + delta) * (e2 + delta)) * occ(e, e2)

    val, _ = integrate.quad(smooth, delta, omega - delta, weight="alg", wvar=(-0.5, -0.5),
                            epsabs=0.0, epsrel=1e-12, limit=200)
    return val


def _continuum_tau_pb(t: float, delta: float) -> float:
    """Thermal pair-breaking time (units tau0): phonon-number average of Kaplan's rate over
    Omega > 2 Delta with Bose phonons at t."""
    c = PARAMS.phonon_prefactor

    def rate(w: float) -> float:
        return c * _kaplan_integral(w, delta,
                                    lambda e, e2: 1.0 - _fermi(e, t) - _fermi(e2, t))

    top = 60.0 * t
    num, _ = integrate.quad(lambda x: (2 * delta + x) ** 2 * _bose(2 * delta + x, t)
                            * rate(2 * delta + x), 0.0, top, epsabs=0.0, epsrel=1e-11,
                            limit=200)
    den, _ = integrate.quad(lambda x: (2 * delta + x) ** 2 * _bose(2 * delta + x, t),
                            0.0, top, epsabs=0.0, epsrel=1e-12, limit=200)
    return den / num


def _grid(t: float, divisions: int, layout: str = "vertex") -> EnergyGrid:
    delta = _gap(t)
    return EnergyGrid.build(delta, delta / divisions, delta + 40.0 * t, layout=layout)


@pytest.mark.parametrize("t_kelvin", [0.1, 0.2])
@pytest.mark.parametrize("method", ["fft", "direct"])
def test_thermal_pair_breaking_time_matches_continuum(t_kelvin, method):
    """tau_pb(T) of the operator at h = Delta/100 equals the continuum to 1e-3."""
    t = t_kelvin / MAT.Tc
    ref = _continuum_tau_pb(t, _gap(t))
    tau = 1.0 / thermal_pair_breaking_rate(_grid(t, 100), PARAMS, t, method=method)
    assert tau == pytest.approx(ref, rel=1e-3)


def test_thermal_pair_breaking_time_second_order():
    """The error falls by ~4 when h halves (scheme order 2, not h^0.75 .. h^1.5)."""
    t = 0.1 / MAT.Tc
    ref = _continuum_tau_pb(t, _gap(t))
    err = [abs(1.0 / thermal_pair_breaking_rate(_grid(t, d), PARAMS, t) / ref - 1.0)
           for d in (25, 50, 100)]
    assert err[0] / err[1] > 3.5
    assert err[1] / err[2] > 3.5


def _rec(w: float, t: float, delta: float) -> float:
    """Continuum recombination-phonon emission c_ph (1 + n_B) int K^+ f f' dE; f f' =
    e^{-Omega/T} / ((1 + e^{-E/T})(1 + e^{-E'/T})) keeps the integrand of order one."""
    occ = lambda e, e2: 1.0 / ((1.0 + math.exp(-e / t)) * (1.0 + math.exp(-e2 / t)))  # noqa: E731
    return (PARAMS.phonon_prefactor * (1.0 + _bose(w, t)) * math.exp(-w / t)
            * _kaplan_integral(w, delta, occ))


@pytest.mark.parametrize("t_kelvin", [0.1, 0.25])
def test_recombination_spectrum_matches_continuum(t_kelvin):
    """Phonons emitted by the recombination of thermal QPs per node, ph_rec_k, equal
    c_ph (1 + n_B) int K^+ f f' dE at every node above 2 Delta to 1e-3; the node at
    exactly 2 Delta the one-sided limit (it holds the states above 2 Delta only)."""
    t = t_kelvin / MAT.Tc
    grid = _grid(t, 100)
    delta = grid.delta
    f, n = equilibrium(grid, t)
    terms = collision_terms(f, n, grid, PARAMS, method="direct")
    m = grid.m
    assert grid.omega[m - 1] == pytest.approx(2.0 * delta, rel=1e-14)
    ks = np.arange(m + 1, m + 1 + int(20.0 * t / grid.h))  # nodes up to 2 Delta + 20 T
    for k in ks:
        w = grid.omega[k - 1]
        assert terms.ph_rec[k - 1] == pytest.approx(_rec(w, t, delta), rel=1e-3, abs=0), k
    edge = _rec(2.0 * delta * (1.0 + 1e-9), t, delta)
    assert terms.ph_rec[m - 1] == pytest.approx(edge, rel=1e-3, abs=0)
    assert terms.ph_pb[m - 1] > 0.0


def test_threshold_rates_at_zero_temperature():
    """T = 0 pair-breaking rate per phonon: Kaplan's integral at every node whose QP
    pairs lie on the grid, pi Delta c_ph at 2 Delta (the one-sided limit: the node holds
    the states above 2 Delta only), zero below."""
    grid = EnergyGrid.build(1.7, 0.017, 4.0, layout="vertex")
    f, n = np.zeros(grid.n), np.ones(grid.n_ph)
    pb = collision_terms(f, n, grid, PARAMS, method="direct").ph_pb
    c, m = PARAMS.phonon_prefactor, grid.m
    assert np.all(pb[: m - 1] == 0.0)
    assert pb[m - 1] == pytest.approx(math.pi * grid.delta * c, rel=1e-12)
    for k in range(m + 1, min(m + grid.n, grid.n_ph + 1)):
        ref = c * _kaplan_integral(grid.omega[k - 1], grid.delta, lambda e, e2: 1.0)
        assert pb[k - 1] == pytest.approx(ref, rel=1e-9), k


def _random_state(grid: EnergyGrid, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.uniform(0.0, 0.4, grid.n), rng.uniform(0.0, 0.6, grid.n_ph)


def test_vertex_layout_conserves_and_balances():
    """Exact energy and QP-number bookkeeping for any (f, n), and discrete detailed
    balance (thermal state stationary, pair and scattering parts separately)."""
    grid = EnergyGrid.build(1.7, 0.05, 5.0, layout="vertex")
    f, n = _random_state(grid)
    for method in ("fft", "direct"):
        t = collision_terms(f, n, grid, PARAMS, method=method)
        de = (qp_energy(t.qp, grid) + ph_energy(t.ph, grid, PARAMS))
        scale = qp_energy(np.abs(t.qp), grid)
        assert abs(de) <= 1e-13 * scale
        dn = qp_number(t.qp_pair, grid) + 2.0 * ph_number(t.ph_pair, grid, PARAMS)
        assert abs(dn) <= 1e-13 * qp_number(np.abs(t.qp_pair), grid)
        assert abs(qp_number(t.qp_scattering, grid)) <= 1e-13 * qp_number(
            np.abs(t.qp_scattering), grid)
    fe, ne = equilibrium(grid, 0.2)
    t = collision_terms(fe, ne, grid, PARAMS, method="direct")
    assert np.max(np.abs(t.qp_pair)) <= 1e-13 * np.max(t.qp_rec)
    assert np.max(np.abs(t.ph_pair)) <= 1e-13 * np.max(t.ph_rec)
    assert np.max(np.abs(t.qp_scattering)) <= 1e-13 * np.max(t.qp_sc_out)


def test_vertex_layout_one_operator_everywhere():
    """FFT, direct, the batched operator of the spatial models (m = pair_offset - 1,
    pair_weight, ph_states) and the exact Jacobians are the same discrete operator."""
    grid = EnergyGrid.build(1.7, 0.05, 5.0, layout="vertex")
    f, n = _random_state(grid)
    a = collision_terms(f, n, grid, PARAMS, method="direct")
    b = collision_terms(f, n, grid, PARAMS, method="fft")
    c = batched_terms(f[None], n[None], grid.dos[None], grid.ados[None], h=grid.h,
                      m=grid.pair_offset - 1, c_ph=PARAMS.phonon_prefactor,
                      pair_weight=grid.pair_weight, ph_states=grid.phonon_states)
    for name in ("qp_sc_in", "qp_sc_out", "qp_rec", "qp_pb", "ph_sc_in", "ph_sc_out",
                 "ph_rec", "ph_pb"):
        ref = getattr(a, name)
        scale = np.max(np.abs(ref))
        np.testing.assert_allclose(getattr(b, name), ref, rtol=0, atol=1e-13 * scale)
        np.testing.assert_allclose(getattr(c, name)[0], ref, rtol=0, atol=1e-13 * scale)
    jd = jacobian(f, n, grid, PARAMS).dense()
    jb = batched_jacobian(f[None], n[None], grid.dos[None], grid.ados[None], h=grid.h,
                          m=grid.pair_offset - 1, c_ph=PARAMS.phonon_prefactor,
                          pair_weight=grid.pair_weight, ph_states=grid.phonon_states)[0]
    np.testing.assert_allclose(jb, jd, rtol=0, atol=1e-13 * np.max(np.abs(jd)))
    rng = np.random.default_rng(5)
    df, dn = rng.normal(size=grid.n), rng.normal(size=grid.n_ph)
    v = np.concatenate(jvp(f, n, df, dn, grid, PARAMS))
    ref = jd @ np.concatenate((df, dn))
    np.testing.assert_allclose(v, ref, rtol=0, atol=1e-12 * np.max(np.abs(ref)))
    eps = 1e-6  # central differences of the direct operator
    ap = collision_terms(f + eps * df, n + eps * dn, grid, PARAMS, method="direct")
    am = collision_terms(f - eps * df, n - eps * dn, grid, PARAMS, method="direct")
    fd = np.concatenate((ap.qp - am.qp, ap.ph - am.ph)) / (2 * eps)
    np.testing.assert_allclose(fd, ref, rtol=0, atol=1e-8 * np.max(np.abs(ref)))


def test_vertex_layout_geometry():
    """Node at the gap edge, half first cell, exact cell integrals of rho and Delta rho/E,
    pair kinematics E_i + E_j = Omega_{i+j+m}."""
    grid = EnergyGrid.build(1.7, 0.05, 4.0, layout="vertex")
    d, h = grid.delta, grid.h
    assert grid.pair_offset == grid.m
    assert grid.e[0] == pytest.approx(d, rel=1e-15)
    np.testing.assert_allclose(np.diff(grid.e), h, rtol=1e-12)
    assert grid.e_edges[1] - grid.e_edges[0] == pytest.approx(0.5 * h, rel=1e-12)
    assert grid.e_max >= 4.0 and grid.e_edges[-1] == pytest.approx(grid.e_max)
    for i in (0, 1, 7):
        lo, hi = grid.e_edges[i], grid.e_edges[i + 1]
        # (E - Delta)^(-1/2) as the quadrature weight (algebraic singularity at the edge)
        rho, _ = integrate.quad(lambda e: e / math.sqrt(e + d), d, hi, weight="alg",
                                wvar=(-0.5, 0.0), epsabs=0, epsrel=1e-13)
        a, _ = integrate.quad(lambda e: d / math.sqrt(e + d), d, hi, weight="alg",
                              wvar=(-0.5, 0.0), epsabs=0, epsrel=1e-13)
        if lo > d:
            rho -= integrate.quad(lambda e: e / math.sqrt(e + d), d, lo, weight="alg",
                                  wvar=(-0.5, 0.0), epsabs=0, epsrel=1e-13)[0]
            a -= integrate.quad(lambda e: d / math.sqrt(e + d), d, lo, weight="alg",
                                wvar=(-0.5, 0.0), epsabs=0, epsrel=1e-13)[0]
        assert grid.qp_weights[i] == pytest.approx(rho, rel=1e-10)
        assert h * grid.ados[i] == pytest.approx(a, rel=1e-10)
    i, j = 3, 5
    assert grid.e[i] + grid.e[j] == pytest.approx(grid.omega[i + j + grid.m - 1], rel=1e-14)
    with pytest.raises(ValueError, match="vertex"):
        EnergyGrid.build(1.7, 0.05, 4.0, layout="vertex", gamma=0.01)
    with pytest.raises(ValueError, match="layout"):
        EnergyGrid.build(1.7, 0.05, 4.0, layout="edges")

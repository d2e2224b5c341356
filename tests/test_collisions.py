"""Tests of the discrete electron-phonon collision operators (fvqp.collisions).

(a) detailed balance of every channel at thermal equilibrium,
(b) exact energy conservation, (c) QP-number bookkeeping, (d) Kaplan et al. (1976)
low-temperature rates, (e) FFT == direct, plus grid/DOS checks and a comparison with
the continuum integrals of the notes (Eqs. 35-40) by adaptive quadrature.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import pytest
from scipy import integrate

from fvqp.collisions import (
    CollisionParams,
    EnergyGrid,
    bose,
    collision_terms,
    equilibrium,
    fermi,
    kaplan_recombination_rate,
    kaplan_scattering_rate_gap_edge,
    pair_breaking_rate_continuum,
    ph_energy,
    ph_loss_rates,
    ph_number,
    qp_energy,
    qp_loss_rates,
    qp_number,
    total_energy,
)
from fvqp.spectra.gap import thermal_gap

PARAMS = CollisionParams(3.7)  # c_ph of order 1 keeps both sides of similar size
TEMPS = (0.2, 0.5, 0.9)
# name -> (requested h, E_max - Delta, Dynes Gamma / Delta)
GRIDS = {
    "coarse": (0.05, 5.0, 0.0),
    "fine": (0.005, 3.0, 0.0),
    "dynes": (0.01, 4.0, 1e-3),
}
TERM_NAMES = (
    "qp_sc_in", "qp_sc_out", "qp_rec", "qp_pb", "ph_sc_in", "ph_sc_out", "ph_rec", "ph_pb",
)


@cache
def make_grid(kind: str, t: float) -> EnergyGrid:
    h, span, gamma_rel = GRIDS[kind]
    delta = thermal_gap(t, 1.0)
    return EnergyGrid.build(delta, h, delta + span, gamma=gamma_rel * delta)


@cache
def random_state(kind: str) -> tuple[EnergyGrid, np.ndarray, np.ndarray]:
    grid = make_grid(kind, 0.5)
    rng = np.random.default_rng(1234)
    return grid, rng.uniform(0.0, 1.0, grid.n), rng.uniform(0.0, 3.0, grid.n_ph)


@cache
def random_terms(kind: str, method: str):
    grid, f, n = random_state(kind)
    return collision_terms(f, n, grid, PARAMS, method=method)


@cache
def equilibrium_terms_direct(kind: str, t: float):
    grid = make_grid(kind, t)
    f, n = equilibrium(grid, t)
    return collision_terms(f, n, grid, PARAMS, method="direct")


# ----------------------------------------------------------------------------- grid
def test_grid_alignment_and_validation() -> None:
    grid = make_grid("coarse", 0.2)
    assert 2 * grid.delta == pytest.approx(grid.m * grid.h, rel=1e-14)
    np.testing.assert_allclose(grid.e_edges[0], grid.delta, rtol=1e-15)
    # scattering and pair kinematics land exactly on nodes
    i, k = 7, 11
    assert grid.e[i] + grid.omega[k - 1] == pytest.approx(grid.e[i + k], rel=1e-15)
    j = 4
    assert grid.e[i] + grid.e[j] == pytest.approx(grid.omega[i + j + grid.m], rel=1e-15)
    assert grid.omega_max == pytest.approx(grid.e_max, abs=grid.h)
    with pytest.raises(ValueError):
        EnergyGrid(delta=1.0, h=0.3, n=10)  # 2 Delta / h not an integer
    with pytest.raises(ValueError):
        EnergyGrid(delta=1.0, h=0.1, n=1)
    with pytest.raises(ValueError):
        EnergyGrid(delta=1.0, h=0.1, n=10, gamma=-1.0)
    with pytest.raises(ValueError):
        collision_terms(np.zeros(3), np.zeros(grid.n_ph), grid, PARAMS)


def test_bcs_gap_values() -> None:
    assert thermal_gap(0.0, 1.0) == pytest.approx(1.764, abs=1e-3)
    # Muehlschlegel: Delta(T)/Delta(0) = 0.9559 (t = 0.5), 0.5254 (t = 0.9)
    assert thermal_gap(0.5, 1.0) / thermal_gap(0.0, 1.0) == pytest.approx(0.9559, abs=2e-3)
    assert thermal_gap(0.9, 1.0) / thermal_gap(0.0, 1.0) == pytest.approx(0.5254, abs=3e-3)
    assert thermal_gap(1.0, 1.0) == 0.0


@pytest.mark.parametrize("gamma_rel", [0.0, 1e-3, 3e-2])
def test_dos_cell_averages_match_quadrature(gamma_rel: float) -> None:
    delta, h = 1.7, 0.02
    grid = EnergyGrid(delta=delta, h=h, n=60, gamma=gamma_rel * delta)
    gam = grid.gamma

    def rho(e: float) -> float:
        z = complex(e, gam)
        return (z / (np.sqrt(z - delta) * np.sqrt(z + delta))).real

    def ados(e: float) -> float:
        z = complex(e, gam)
        return (delta / (np.sqrt(z - delta) * np.sqrt(z + delta))).real

    for i in (0, 1, 2, 10, 59):
        lo, hi = grid.e_edges[i], grid.e_edges[i + 1]
        if gam == 0.0 and i == 0:  # integrable 1/sqrt singularity at the gap edge
            kw = {"weight": "alg", "wvar": (-0.5, 0.0)}
            r = integrate.quad(lambda e: rho(e) * math.sqrt(e - delta), lo, hi, **kw)[0]
            a = integrate.quad(lambda e: ados(e) * math.sqrt(e - delta), lo, hi, **kw)[0]
        else:
            pts = [delta + 0.5 * gam] if (i == 0 and gam > 0) else None
            r = integrate.quad(rho, lo, hi, points=pts, epsabs=0, epsrel=1e-12, limit=200)[0]
            a = integrate.quad(ados, lo, hi, points=pts, epsabs=0, epsrel=1e-12, limit=200)[0]
        assert grid.dos[i] == pytest.approx(r / h, rel=1e-9)
        assert grid.ados[i] == pytest.approx(a / h, rel=1e-9)
    assert np.all(grid.dos > grid.ados) and np.all(grid.ados > 0)


# ----------------------------------------------------------- (a) detailed balance
CHANNELS = (
    ("qp_sc_in", "qp_sc_out"),  # scattering (phonon emission <-> absorption)
    ("qp_pb", "qp_rec"),  # pair breaking <-> recombination
    ("ph_sc_in", "ph_sc_out"),
    ("ph_rec", "ph_pb"),
)


@pytest.mark.parametrize("method", ["direct", "fft-tilt", "fft"])
@pytest.mark.parametrize("t", TEMPS)
@pytest.mark.parametrize("kind", list(GRIDS))
def test_equilibrium_each_channel_vanishes(kind: str, t: float, method: str) -> None:
    """Thermal f and n at the same T: every gain/loss pair cancels to round-off.

    ``direct`` and ``fft`` with tilt 1/T cancel pointwise (relative to each gain);
    the untilted FFT has the usual global round-off ``~eps * |x| |y|`` which, with the
    Boltzmann tails at T = 0.2, is ~1e-12 of the largest term.
    """
    grid = make_grid(kind, t)
    f, n = equilibrium(grid, t)
    reference = equilibrium_terms_direct(kind, t)
    if method == "direct":
        terms = reference
    else:
        tilt = 1.0 / t if method == "fft-tilt" else 0.0
        terms = collision_terms(f, n, grid, PARAMS, method="fft", tilt=tilt)
    tol_max = 2e-11 if method == "fft" else 1e-13
    for gain_name, loss_name in CHANNELS:
        gain, loss = getattr(terms, gain_name), getattr(terms, loss_name)
        scale = np.max(np.abs(gain))
        assert scale > 0
        assert np.max(np.abs(gain - loss)) <= tol_max * scale, (gain_name, loss_name)
        if method != "fft":  # pointwise cancellation, even in the Boltzmann tails
            # entries that are structurally non-zero (a partner exists on the grid)
            nz = getattr(reference, gain_name) > 1e-250
            rel = np.abs(gain - loss)[nz] / gain[nz]
            assert np.max(rel) < 1e-12, (gain_name, loss_name)


def test_non_thermal_states_are_not_stationary() -> None:
    """Guard against trivially vanishing channels: f and n at different T."""
    grid = make_grid("coarse", 0.5)
    f = fermi(grid.e, 0.5)
    n = bose(grid.omega, 0.4)
    terms = collision_terms(f, n, grid, PARAMS)
    for gain_name, loss_name in CHANNELS:
        gain, loss = getattr(terms, gain_name), getattr(terms, loss_name)
        assert np.max(np.abs(gain - loss)) > 1e-3 * np.max(gain)


# ---------------------------------------------------- (b) energy and (c) QP number
@pytest.mark.parametrize("method", ["direct", "fft"])
@pytest.mark.parametrize("kind", list(GRIDS))
def test_energy_conservation(kind: str, method: str) -> None:
    grid, f, n = random_state(kind)
    terms = random_terms(kind, method)
    edot = qp_energy(terms.qp, grid) + ph_energy(terms.ph, grid, PARAMS)
    scale = sum(
        abs(qp_energy(getattr(terms, name), grid)) for name in TERM_NAMES[:4]
    ) + sum(abs(ph_energy(getattr(terms, name), grid, PARAMS)) for name in TERM_NAMES[4:])
    assert abs(edot) <= 1e-13 * scale
    # each process conserves energy separately
    for proc in ("scattering", "pair"):
        q = getattr(terms, f"qp_{proc}")
        p = getattr(terms, f"ph_{proc}")
        assert abs(qp_energy(q, grid) + ph_energy(p, grid, PARAMS)) <= 1e-13 * scale
    # the QP side alone is not conserved (non-trivial test)
    assert abs(qp_energy(terms.qp, grid)) > 1e-3 * scale
    assert total_energy(f, n, grid, PARAMS) > 0


@pytest.mark.parametrize("method", ["direct", "fft"])
@pytest.mark.parametrize("kind", list(GRIDS))
def test_qp_number_bookkeeping(kind: str, method: str) -> None:
    grid, _, _ = random_state(kind)
    t = random_terms(kind, method)
    scale = qp_number(t.qp_sc_in + t.qp_sc_out + t.qp_rec + t.qp_pb, grid)
    # scattering conserves the QP number
    assert abs(qp_number(t.qp_scattering, grid)) <= 1e-13 * scale
    # each recombination destroys 2 QPs and creates one phonon above 2 Delta ...
    assert qp_number(t.qp_rec, grid) == pytest.approx(
        2 * ph_number(t.ph_rec, grid, PARAMS), rel=1e-13
    )
    # ... each pair breaking does the opposite
    assert qp_number(t.qp_pb, grid) == pytest.approx(
        2 * ph_number(t.ph_pb, grid, PARAMS), rel=1e-13
    )
    dn_qp = qp_number(t.qp, grid)
    assert abs(dn_qp + 2 * ph_number(t.ph_pair, grid, PARAMS)) <= 1e-13 * scale
    assert abs(dn_qp) > 1e-3 * scale
    # pair processes only touch phonons above 2 Delta
    assert np.all(t.ph_rec[: grid.m] == 0) and np.all(t.ph_pb[: grid.m] == 0)


# ------------------------------------------------------------ (e) FFT == direct
@pytest.mark.parametrize("kind", list(GRIDS))
def test_fft_matches_direct(kind: str) -> None:
    a, b = random_terms(kind, "direct"), random_terms(kind, "fft")
    for name in TERM_NAMES:
        x, y = getattr(a, name), getattr(b, name)
        assert np.max(np.abs(x - y)) <= 1e-12 * np.max(np.abs(x)), name


def test_fft_matches_direct_odd_sizes_and_process_selection() -> None:
    grid = EnergyGrid(delta=1.5, h=0.1, n=37, n_ph=12)  # few phonons: no pair channel
    grid2 = EnergyGrid(delta=1.5, h=0.1, n=23, n_ph=90)  # phonons beyond any partner
    rng = np.random.default_rng(7)
    for g in (grid, grid2):
        f, n = rng.uniform(0, 1, g.n), rng.uniform(0, 2, g.n_ph)
        for procs in (("scattering",), ("pair",), ("scattering", "pair")):
            a = collision_terms(f, n, g, PARAMS, procs, method="direct")
            b = collision_terms(f, n, g, PARAMS, procs, method="fft")
            for name in TERM_NAMES:
                x, y = getattr(a, name), getattr(b, name)
                assert np.max(np.abs(x - y)) <= 1e-12 * max(np.max(np.abs(x)), 1e-300)


# ------------------------------------------------- continuum limit (Eqs. 35-40)
def _continuum_qp_terms(e: float, f, n, delta: float, e_max: float, w_max: float):
    """Eqs. 35-37 at energy e with E' = Delta cosh(u) (removes the DOS singularity)."""
    u_max = math.acosh(e_max / delta)
    u_e = math.acosh(e / delta)

    def sc(u: float, gain: bool) -> float:
        ep = delta * math.cosh(u)
        w = abs(ep - e)
        if w == 0.0 or w > w_max:
            return 0.0
        coh = delta * (math.cosh(u) - delta / e)  # U^-(E, E') dE'/du
        emit = ep > e  # partner above: E' -> E emits a phonon
        if gain:
            return w * w * coh * f(ep) * (1 + n(w) if emit else n(w))
        return w * w * coh * (1 - f(ep)) * (n(w) if emit else 1 + n(w))

    def pair(u: float, rec: bool) -> float:
        ep = delta * math.cosh(u)
        w = e + ep
        if w > w_max:
            return 0.0
        coh = delta * (math.cosh(u) + delta / e)  # U^+(E, E') dE'/du
        if rec:
            return w * w * coh * f(ep) * (1 + n(w))
        return w * w * coh * (1 - f(ep)) * n(w)

    def quad(fun, *args) -> float:
        kw = {"epsabs": 0.0, "epsrel": 1e-11, "limit": 400, "args": args}
        return integrate.quad(fun, 0, u_e, **kw)[0] + integrate.quad(fun, u_e, u_max, **kw)[0]

    return {
        "qp_sc_in": (1 - f(e)) * quad(sc, True),
        "qp_sc_out": f(e) * quad(sc, False),
        "qp_rec": f(e) * quad(pair, True),
        "qp_pb": (1 - f(e)) * quad(pair, False),
    }


def _continuum_ph_terms(w: float, f, n, delta: float, e_max: float, c: float):
    """Eqs. 39-40 at phonon energy w."""
    out = {}
    u_max = math.acosh(max(e_max - w, delta) / delta)

    def sc(u: float, gain: bool) -> float:
        e = delta * math.cosh(u)
        ep = e + w
        rho_p = ep / math.sqrt(ep * ep - delta * delta)
        kern = rho_p * (delta * math.cosh(u) - delta * delta / ep)  # K^- dE/du
        return kern * (f(ep) * (1 - f(e)) if gain else f(e) * (1 - f(ep)))

    kw = {"epsabs": 0.0, "epsrel": 1e-11, "limit": 400}
    out["ph_sc_in"] = 2 * c * (1 + n(w)) * integrate.quad(sc, 0, u_max, args=(True,), **kw)[0]
    out["ph_sc_out"] = 2 * c * n(w) * integrate.quad(sc, 0, u_max, args=(False,), **kw)[0]
    if w > 2 * delta:

        def pair(e: float, rec: bool) -> float:
            ep = w - e
            smooth = (e * ep + delta**2) / math.sqrt((e + delta) * (ep + delta))
            return smooth * (f(e) * f(ep) if rec else (1 - f(e)) * (1 - f(ep)))

        kw2 = {"weight": "alg", "wvar": (-0.5, -0.5), "epsabs": 0.0, "epsrel": 1e-11}
        val_r = integrate.quad(pair, delta, w - delta, args=(True,), **kw2)[0]
        val_p = integrate.quad(pair, delta, w - delta, args=(False,), **kw2)[0]
        out["ph_rec"] = c * (1 + n(w)) * val_r
        out["ph_pb"] = c * n(w) * val_p
    return out


def test_discrete_operator_converges_to_continuum_integrals() -> None:
    """Absolute prefactors and coherence factors against Eqs. 35-40 (quadrature).

    The discrete operator converges as ~h^1.5 (f constant on the singular gap-edge
    cells); at h = 0.005 all terms agree to < 1e-3, while a wrong coherence factor,
    prefactor or phonon factor would be off by O(10%).
    """
    t = 0.5
    delta = thermal_gap(t, 1.0)
    # phonon grid up to 2 E_max: no pair partner is cut by the phonon cut-off
    grid = EnergyGrid.build(delta, 0.005, delta + 4.0, omega_max=2 * (delta + 4.0))

    def f_fun(e):  # smooth, non-thermal
        return 0.6 * fermi(e, 0.45) + 0.02 * np.exp(-((e - delta - 0.8) / 0.3) ** 2)

    def n_fun(w):
        return bose(w, 0.6) + 0.05 * np.exp(-((w - 2.2) / 0.4) ** 2)

    f, n = f_fun(grid.e), n_fun(grid.omega)
    terms = collision_terms(f, n, grid, PARAMS)

    def ff(x: float) -> float:
        return float(f_fun(x))

    def nn(x: float) -> float:
        return float(n_fun(x))

    for i in (40, 150, 300):
        ref = _continuum_qp_terms(grid.e[i], ff, nn, delta, grid.e_max, grid.omega_max)
        for name, val in ref.items():
            assert getattr(terms, name)[i] == pytest.approx(val, rel=1.5e-3), (name, i)
    for k in (60, 200, grid.m + 80, grid.m + 300):
        w = grid.omega[k - 1]
        ref = _continuum_ph_terms(w, ff, nn, delta, grid.e_max, PARAMS.phonon_prefactor)
        for name, val in ref.items():
            assert getattr(terms, name)[k - 1] == pytest.approx(val, rel=1.5e-3), (name, k)


# --------------------------------------------------------- (d) Kaplan et al. 1976
@pytest.mark.parametrize("t", [0.05, 0.1])
def test_kaplan_low_temperature_qp_rates(t: float) -> None:
    """Gap-edge scattering (T^{7/2}) and recombination (sqrt(T) e^{-Delta/T}) rates.

    The discrete rates are compared with the closed forms at T << Tc; the residual
    deviation is the O(T/Delta) correction neglected by the closed forms (it halves
    with T) plus an O(h/T) first-cell effect.
    """
    delta = thermal_gap(t, 1.0)
    grid = EnergyGrid.build(delta, t / 40, delta + 40 * t + 0.5)
    f, n = equilibrium(grid, t)
    rate_s, rate_r = qp_loss_rates(f, n, grid, PARAMS, method="fft")
    ratio_s = rate_s[0] / kaplan_scattering_rate_gap_edge(delta, t)
    ratio_r = rate_r[0] / kaplan_recombination_rate(delta, t)
    assert abs(ratio_s - 1) < t / delta
    assert abs(ratio_r - 1) < t / delta
    # rates of the gap-edge QP against the continuum integrals at E = Delta
    cont_s = integrate.quad(
        lambda w: w**2 * math.sqrt(w / (2 * delta + w)) * float(bose(w, t))
        * (1 - float(fermi(delta + w, t))), 0, 60 * t, epsrel=1e-12, limit=200)[0]
    cont_r = integrate.quad(  # E' = Delta cosh u; U^+(Delta, E') dE' = Delta (cosh u + 1) du
        lambda u: (delta * (1 + math.cosh(u))) ** 2 * delta * (math.cosh(u) + 1)
        * float(fermi(delta * math.cosh(u), t))
        * (1 + float(bose(delta * (1 + math.cosh(u)), t))), 0, 3.0, epsrel=1e-12)[0]
    assert rate_s[0] == pytest.approx(cont_s, rel=1e-2)
    assert rate_r[0] == pytest.approx(cont_r, rel=3e-3, abs=0)


def test_kaplan_phonon_pair_breaking_rate_at_zero_temperature() -> None:
    """Eq. 40 at T = 0: 1/tau_pb -> (Delta/Delta0)/tau0^phi just above 2 Delta."""
    delta = thermal_gap(0.05, 1.0)
    params = CollisionParams.from_times(tau0_over_tau0ph=1685.0, delta0=thermal_gap(0.0, 1.0))
    grid = EnergyGrid.build(delta, 0.01, delta + 3.0)
    f, n = np.zeros(grid.n), np.ones(grid.n_ph)
    rate_abs, rate_pb = ph_loss_rates(f, n, grid, params)
    assert np.all(rate_pb[: grid.m] == 0)  # sub-gap phonons cannot break pairs
    assert np.all(rate_abs == 0)  # no QPs to absorb phonons
    for off in (10, 40, 100):
        k = grid.m + off
        ref = pair_breaking_rate_continuum(grid.omega[k - 1], delta, params)
        assert rate_pb[k - 1] == pytest.approx(ref, rel=5e-3)
    edge = pair_breaking_rate_continuum(2 * delta * (1 + 1e-9), delta, params)
    tau_ph = 1685.0  # tau0 / tau0^phi
    assert edge == pytest.approx(tau_ph * delta / thermal_gap(0.0, 1.0), rel=1e-6)

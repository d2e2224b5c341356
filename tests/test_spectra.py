"""Physics tests of fvqp.spectra.dos and fvqp.spectra.gap (dimensionless units, k_B = 1)."""

from __future__ import annotations

import warnings

import mpmath as mp
import numpy as np
import pytest
from scipy import integrate, special

from fvqp.spectra import dos, gap

TC = 1.0
D0 = gap.BCS_GAP_RATIO


# ----------------------------------------------------------------------------- constants
def test_bcs_ratio_and_zero_temperature_gap():
    """Delta0/Tc = pi exp(-gamma_E) = 1.76387699... and Delta(T->0) -> Delta0, Delta ∝ Tc."""
    assert gap.BCS_GAP_RATIO == pytest.approx(1.7638769, abs=1e-7)
    assert gap.bcs_gap(0.0, 2.5) == pytest.approx(2.5 * D0, rel=1e-15)
    # exponentially flat at low T: Delta0 - Delta = sqrt(2 pi Delta0 T) exp(-Delta0/T)
    t = 0.15
    deficit = D0 - gap.bcs_gap(t, TC)
    assert deficit == pytest.approx(np.sqrt(2 * np.pi * D0 * t) * np.exp(-D0 / t), rel=0.1)
    assert gap.bcs_gap(np.array([1.0, 1.3]), TC) == pytest.approx([0.0, 0.0], abs=0)


def _mp_gap(t: float) -> float:
    """Weak-coupling gap from the real-axis form ln(Delta0/Delta) = 2 int_0^inf f(D cosh u) du."""
    mp.mp.dps = 25
    d0 = mp.pi * mp.exp(-mp.euler)
    tt = mp.mpf(t)

    def residual(d):
        umax = mp.acosh(1 + 70 * tt / d)
        integral = mp.quad(lambda u: 1 / (mp.exp(d * mp.cosh(u) / tt) + 1), mp.linspace(0, umax, 8))
        return mp.log(d0 / d) - 2 * integral

    return float(mp.findroot(residual, mp.mpf(0.99) * d0 * mp.sqrt(1 - tt**3), tol=1e-35))


@pytest.mark.parametrize("t", [0.3, 0.6, 0.9, 0.99, 0.9999])
def test_gap_against_independent_high_precision_solution(t):
    """Delta(T)/Delta0 against an independent mpmath solution (25 digits).

    No published Mühlschlegel (1959) table could be retrieved with the search tool, so the
    reference is computed here: real-axis integral form with mpmath quadrature + findroot,
    whereas fvqp solves the Matsubara form. Agreement is required to 1e-10, far tighter than
    the 1e-4 of the printed table (e.g. Delta/Delta0 = 0.95688 at t = 0.5 and 0.52634 at
    t = 0.9 from this reference).
    """
    assert gap.bcs_gap(t, TC) == pytest.approx(_mp_gap(t), rel=1e-10)


def test_gap_near_tc_ginzburg_landau_form():
    """Delta ≈ sqrt(8 pi^2/(7 zeta3)) Tc sqrt(1-t) = 3.0633 Tc sqrt(1-t), error O(1-t)."""
    assert gap.GL_GAP_SLOPE == pytest.approx(3.0633, abs=1e-4)
    eps = np.array([1e-2, 1e-3, 1e-4, 1e-5])
    rel_err = gap.bcs_gap(1 - eps, TC) / (gap.GL_GAP_SLOPE * np.sqrt(eps)) - 1
    slope = rel_err / eps
    assert np.all(np.abs(rel_err) < 2 * eps)
    assert slope[2] == pytest.approx(slope[3], rel=2e-3)  # converged linear coefficient
    assert abs(slope[3]) > 0.1  # a genuine first-order correction, not accidental zero


def test_dgap_dT_analytic_against_finite_differences_and_gl_slope():
    t = np.array([0.3, 0.7, 0.95])
    h = 1e-6
    fd = (gap.bcs_gap(t + h, TC) - gap.bcs_gap(t - h, TC)) / (2 * h)
    assert gap.dgap_dT(t, TC) == pytest.approx(fd, rel=1e-7)
    # GL: dDelta/dT -> -(slope/2)/sqrt(1-t)
    eps = 1e-6
    assert gap.dgap_dT(1 - eps, TC) * np.sqrt(eps) == pytest.approx(-gap.GL_GAP_SLOPE / 2, rel=1e-5)
    # dDelta^2/dT is regular at Tc-: -8 pi^2 Tc/(7 zeta3)
    assert gap.dgap_squared_dT(1 - 1e-12, TC) == pytest.approx(
        -8 * np.pi**2 / (7 * gap.ZETA3), rel=1e-9)
    assert gap.dgap_squared_dT(0.7, TC) == pytest.approx(
        2 * gap.bcs_gap(0.7, TC) * gap.dgap_dT(0.7, TC), rel=1e-12)


def test_finite_debye_cutoff_gap():
    """Coupling fixed by Tc; Delta(0) = wD/sinh(1/lambda) -> 1.764 Tc with O((Tc/wD)^2) error."""
    for wd in (1e3, 1e4):
        inv_lam = 1 / gap.coupling_from_tc(TC, wd)
        assert inv_lam == pytest.approx(np.log(2 * np.exp(np.euler_gamma) * wd / np.pi), abs=1e-9)
    dev = []
    for wd in (10.0, 100.0):
        lam = gap.coupling_from_tc(TC, wd)
        d0 = gap.bcs_gap(0.0, TC, wd)
        assert d0 == pytest.approx(wd / np.sinh(1 / lam), rel=1e-14)
        dev.append(d0 / D0 - 1)
    assert dev[0] / dev[1] == pytest.approx(100, rel=0.05)  # quadratic in Tc/wD
    t = np.array([0.4, 0.8, 0.99])
    assert gap.bcs_gap(t, TC, 1e4) == pytest.approx(gap.bcs_gap(t, TC), rel=3e-8)
    wd = 20.0
    fd = (gap.bcs_gap(0.8 + 1e-5, TC, wd) - gap.bcs_gap(0.8 - 1e-5, TC, wd)) / 2e-5
    assert gap.dgap_dT(0.8, TC, wd) == pytest.approx(fd, rel=1e-7)


def test_nonequilibrium_gap_equation_reduces_to_thermal():
    """Reconstructed notes Eq. 1 with a Fermi f gives the equilibrium cutoff gap."""
    wd, T = 30.0, 0.7
    lam = gap.coupling_from_tc(TC, wd)
    target = gap.bcs_gap(T, TC, wd)
    d_callable = gap.gap_from_distribution(lambda E: gap.fermi(E, T), wd, lam)
    assert d_callable == pytest.approx(target, rel=1e-9)
    # tabulated f: exact cell integrals, error only from linear interpolation, O(h^2)
    errs = []
    for n in (2001, 4001):
        E = np.linspace(0.0, 40.0, n)
        errs.append(gap.gap_from_distribution((E, gap.fermi(E, T)), wd, lam) / target - 1)
    assert abs(errs[1]) < 1e-5
    assert errs[0] / errs[1] == pytest.approx(4.0, rel=0.05)


def test_nonequilibrium_gap_suppression_and_collapse():
    """Excess quasiparticles lower Delta; f = 1/2 up to the cutoff leaves no solution."""
    wd = 30.0
    lam = gap.coupling_from_tc(TC, wd)
    E = np.linspace(0.0, 40.0, 8001)
    f_th = gap.fermi(E, 0.3)
    d_th = gap.gap_from_distribution((E, f_th), wd, lam)
    extra = 0.02 * np.exp(-((E - 2.5) ** 2) / 0.1)  # injected quasiparticles near 1.4 Delta0
    d_ne = gap.gap_from_distribution((E, f_th + extra), wd, lam)
    assert 0.5 * d_th < d_ne < d_th - 1e-3
    assert gap.gap_from_distribution((E, np.full_like(E, 0.5)), wd, lam) == 0.0


@pytest.mark.parametrize("top", [40.0, 5.0])
def test_gap_residual_derivative_matches_finite_difference(top):
    """Analytic dR/dDelta, including the Leibniz term where f jumps to 0 above the grid."""
    wd = 30.0
    lam = gap.coupling_from_tc(TC, wd)
    E = np.linspace(0.2, top, 400)
    f = 0.3 * np.exp(-(E - 0.2)) + 0.01
    for d in (0.4, 1.0, 1.6):
        h = 1e-5 * d
        fd = (gap.gap_equation_residual(d + h, (E, f), wd, lam)
              - gap.gap_equation_residual(d - h, (E, f), wd, lam)) / (2 * h)
        an = gap.gap_equation_residual_derivative(d, (E, f), wd, lam)
        assert an == pytest.approx(fd, rel=1e-7, abs=1e-9)


# ---------------------------------------------------------------------- occupation numbers
def test_fermi_bose_detailed_balance_and_overflow_safety():
    T = 0.37
    E = np.array([-5.0, -1.0, 0.3, 2.0, 40.0])
    f, f_hole = gap.fermi(E, T), gap.fermi(-E, T)
    assert f + f_hole == pytest.approx(np.ones_like(E), rel=1e-15)  # 1 - f(E) = f(-E)
    assert f / f_hole == pytest.approx(np.exp(-E / T), rel=1e-12, abs=0)
    W = np.array([1e-6, 0.2, 3.0, 20.0])
    n = gap.bose(W, T)
    assert n / (1 + n) == pytest.approx(np.exp(-W / T), rel=1e-12, abs=0)
    assert gap.bose(-W, T) == pytest.approx(-1 - n, rel=1e-12)
    assert gap.bose(1e-6, T) == pytest.approx(T / 1e-6 - 0.5, rel=1e-9)  # classical limit
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert gap.fermi(1e5, 1e-3) == 0.0 and gap.fermi(-1e5, 1e-3) == 1.0
        assert gap.bose(1e5, 1e-3) == 0.0
        assert gap.minus_dfermi_dE(1e5, 1e-3) == 0.0
    assert list(gap.fermi([-1.0, 0.0, 1.0], 0.0)) == [1.0, 0.5, 0.0]
    assert list(gap.bose([1.0, -1.0], 0.0)) == [0.0, -1.0]


def test_minus_dfermi_is_derivative_and_normalised():
    T = 0.2
    E = np.array([-1.0, 0.0, 0.15, 0.9])
    assert gap.minus_dfermi_dE(E, T) == pytest.approx(gap.fermi(E, T) * (1 - gap.fermi(E, T)) / T,
                                                      rel=1e-12)
    assert gap.minus_dfermi_dE(0.0, T) == pytest.approx(1 / (4 * T), rel=1e-15)
    val, _ = integrate.quad(lambda e: gap.minus_dfermi_dE(e, T), -50, 50, points=[0.0])
    assert val == pytest.approx(1.0, rel=1e-12)


# ------------------------------------------------------------------- quasiparticle density
@pytest.mark.parametrize("a", [0.3, 2.0, 10.0, 50.0, 200.0])
def test_thermal_qp_density_exact_bessel_series(a):
    """n = 4 N0 Delta sum_k (-1)^{k+1} K1(k Delta/T) (Fermi function expanded in e^{-E/T})."""
    T, N0 = 1.3, 2.0
    d = a * T
    k = np.arange(1, 400)
    terms = (-1.0) ** (k + 1) * special.kve(1, k * a) * np.exp(-(k - 1) * a)  # x e^{a}
    exact_scaled = 4 * N0 * d * np.sum(terms)
    assert gap.thermal_qp_density(T, d, N0) * np.exp(a) == pytest.approx(exact_scaled, rel=1e-12)


def test_thermal_qp_density_low_T_expansion_and_limits():
    """n/n_lowT - 1 = 3/(8a) - 15/(128 a^2) + O(a^-3), a = Delta/T (Hankel expansion of K1)."""
    d, N0 = 1.0, 1.0
    for a in (50.0, 100.0, 200.0):
        T = d / a
        r = gap.thermal_qp_density(T, d, N0) / gap.thermal_qp_density_lowT(T, d, N0) - 1
        assert r > 0
        second = (r - 3 / (8 * a)) * a**2
        assert second == pytest.approx(-15 / 128, abs=0.12 / a)
    assert gap.thermal_qp_density(0.5, 0.0, 3.0) == pytest.approx(4 * 3.0 * 0.5 * np.log(2))
    assert gap.thermal_qp_density(0.0, 1.0, 1.0) == 0.0
    # SI-like scale: exp(-760) ~ 1e-330 underflows alone, the density ~1e-280 does not
    a = 760.0
    n = gap.thermal_qp_density(1.0, a, 1e47)
    expected = np.exp(np.log(2e47 * np.sqrt(2 * np.pi * a)) - a) * (1 + 3 / (8 * a))
    assert n == pytest.approx(expected, rel=1e-6, abs=0)
    assert gap.thermal_qp_density_lowT(1.0, a, 1e47) == 0.0  # naive formula underflows


# -------------------------------------------------------------------------------- DOS
def test_bcs_dos_basic_properties():
    d = 0.8
    E = np.array([-3.0, -0.5, 0.0, 0.5, 1.2, 3.0])
    rho = dos.bcs_dos(E, d)
    assert rho[1] == rho[2] == rho[3] == 0.0
    assert rho[0] == rho[5] == pytest.approx(3 / np.sqrt(9 - d * d))
    assert dos.bcs_dos(d, d) == np.inf
    assert dos.bcs_dos(E, 0.0) == pytest.approx(np.ones_like(E))


def test_dynes_zero_energy_and_in_gap_limit():
    d, g = 1.0, 0.01
    assert dos.dynes_dos(0.0, d, g) == pytest.approx(g / np.sqrt(d * d + g * g), rel=1e-14)
    for E in (0.5, -0.5):  # first order in Gamma inside the gap, positive on both sides
        assert dos.dynes_dos(E, d, 1e-6) / 1e-6 == pytest.approx(d * d / (d * d - E * E) ** 1.5,
                                                                 rel=1e-5)


@pytest.mark.parametrize("E", [2.0, -2.0, 5.0, -5.0])
def test_dynes_tends_to_bcs_away_from_edge(E):
    """N_D - rho = -Gamma^2 rho''(E)/2 + O(Gamma^4) outside the gap, for both signs of E."""
    d = 1.0
    a = abs(E)
    rho2 = 3 * d * d * a / (a * a - d * d) ** 2.5
    for g in (1e-2, 1e-3):
        diff = dos.dynes_dos(E, d, g) - dos.bcs_dos(E, d)
        assert diff == pytest.approx(-0.5 * g * g * rho2, rel=5 * g)


def test_dynes_conserves_states():
    """int_{-W}^{W} (N_D - 1) dE = Re[(s - z)|_{-W+iG}^{W+iG}] ≈ -Delta^2/W -> 0."""
    d, g = 1.0, 0.05
    res = []
    for W in (20.0, 200.0):
        val, _ = integrate.quad(lambda e: dos.dynes_dos(e, d, g) - 1.0, -W, W,
                                points=[-d, d], limit=400, epsabs=1e-12)
        res.append(val)
        assert val == pytest.approx(-d * d / W, rel=2e-3)
    assert abs(res[1]) < abs(res[0]) / 9


def _rho_integral_reference(lo: float, hi: float, d: float) -> float:
    """int_lo^hi rho dE by quad after E = ±(d + s^2), which removes the edge singularity."""

    def positive(a: float, b: float) -> float:  # int over [a, b] ∩ [d, inf)
        a, b = max(a, d), b
        if b <= a:
            return 0.0
        return integrate.quad(lambda s: 2 * (d + s * s) / np.sqrt(2 * d + s * s),
                              np.sqrt(a - d), np.sqrt(b - d), epsabs=1e-15, epsrel=1e-13)[0]

    return positive(lo, hi) + positive(-hi, -lo)


def test_cell_average_exact_across_gap_edge():
    d = 1.0
    edges = np.array([-3.0, -1.2, -1.0, -0.4, 0.5, 1.0, 1.001, 1.3, 2.0, 4.0])
    integ = dos.bcs_dos_cell_integral(edges, d)
    ref = [_rho_integral_reference(a, b, d) for a, b in zip(edges[:-1], edges[1:], strict=True)]
    assert integ == pytest.approx(ref, rel=1e-11, abs=1e-15)
    assert integ[2] == integ[3] == integ[4] == 0.0  # cells inside the gap
    avg = dos.bcs_dos_cell_average(edges, d)
    assert avg[5] == pytest.approx(np.sqrt(2 * d * 1e-3 + 1e-6) / 1e-3, rel=1e-8)  # [D, D+h]
    # states are conserved cell by cell: the total equals sqrt(4^2-1) + sqrt(3^2-1)
    assert np.sum(avg * np.diff(edges)) == pytest.approx(np.sqrt(15) + np.sqrt(8), rel=1e-14)


def test_cell_average_smooth_limit_and_narrow_far_cells():
    """avg - rho(mid) = h^2 rho''(mid)/24 + O(h^4); narrow cells far above the gap stay exact."""
    d, E0 = 1.0, 2.0
    rho2 = 3 * d * d * E0 / (E0 * E0 - d * d) ** 2.5
    for h in (1e-2, 1e-3):
        avg = dos.bcs_dos_cell_average([E0 - h / 2, E0 + h / 2], d)[0]
        assert (avg - dos.bcs_dos(E0, d)) / (h * h * rho2 / 24) == pytest.approx(1.0, rel=1e-3)
    far = 1e4
    avg = dos.bcs_dos_cell_average([far, far + 1e-9], d)[0]
    assert avg == pytest.approx(dos.bcs_dos(far + 5e-10, d), rel=1e-13)


# ------------------------------------------- the one copy of the DOS cell integrals
def _mp_cell(x0: complex, w: float, delta: complex, gamma: float) -> tuple[float, float]:
    """int rho and int varphi over [Delta + x0, Delta + x0 + w] (+ i gamma) from the
    antiderivatives Re s and Re Delta ln(z + s) at 40 digits (retarded branch Re s >= 0)."""
    mp.mp.dps = 40
    d = mp.mpc(delta.real, delta.imag)

    def ends(x: mp.mpc) -> tuple:
        z = d + x + 1j * mp.mpf(gamma)
        s = mp.sqrt(z * z - d * d)
        s = -s if mp.re(s) < 0 else s
        return s, d * mp.log(z + s)

    (s0, l0), (s1, l1) = ends(mp.mpc(x0.real, x0.imag)), ends(mp.mpc(x0.real, x0.imag) + w)
    return float(mp.re(s1 - s0)), float(mp.re(l1 - l0))


@pytest.mark.parametrize("delta, gamma", [(1.764, 0.0), (1.7, 0.05), (1.764 * (1 + 0.05j), 0.0)])
def test_dos_cell_integrals_exact_to_round_off(delta: complex, gamma: float) -> None:
    """dos_cell_integrals (notes Eqs. 166-167, the one copy behind EnergyGrid.dos,
    bins.cell_spectra and eliashberg.cell_averages) equals the 40-digit antiderivative
    differences to a few ulp, from the gap-edge cell to cells 1000 h above the gap, for
    a real gap, Dynes broadening and a complex gap (measured: the former EnergyGrid form
    was 1e-13 off far above the gap, the former Eliashberg form 3e-13)."""
    h = 0.01
    x0 = h * np.array([0, 1, 2, 5, 37, 400, 999], dtype=float)
    if isinstance(delta, complex):
        x0 = x0 + 1.6 - delta  # cells [1.6 + k h, ...] across the edge of a complex gap
    rho, ados = dos.dos_cell_integrals(x0, np.full(x0.size, h), delta, gamma)
    for i in range(x0.size):
        r, a = _mp_cell(complex(x0[i]), h, complex(delta), gamma)
        assert rho[i] == pytest.approx(r, rel=5e-15, abs=0)
        assert ados[i] == pytest.approx(a, rel=2e-14, abs=1e-17)


def test_energy_grid_dos_is_exact_on_its_gap_relative_cells() -> None:
    """EnergyGrid's cell averages (centred and vertex layouts) are the exact averages over
    its cells [Delta + x_i, Delta + x_(i+1)] (x exact multiples of h/2) to 1e-15, also
    1000 cells above the gap."""
    from fvqp.collisions import EnergyGrid

    for layout in ("centred", "vertex"):
        g = EnergyGrid.build(1.764, 0.01, 12.0, layout=layout)
        for i in (0, 1, 2, 50, g.n - 1):
            w = g.x_edges[i + 1] - g.x_edges[i]
            r, a = _mp_cell(complex(g.x_edges[i]), w, complex(g.delta), 0.0)
            assert g.dos[i] * g.h == pytest.approx(r, rel=1e-15, abs=0)
            assert g.ados[i] * g.h == pytest.approx(a, rel=1e-15, abs=0)

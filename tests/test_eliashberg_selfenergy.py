"""Building blocks of fvqp.eliashberg: alpha2F moments, DOS branch and cell averages,
normal-state self-energy against its closed form, linearised Matsubara T_c."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import quad

from fvqp.eliashberg import Alpha2F, calibrate_mu_star, critical_temperature
from fvqp.eliashberg.matsubara import matsubara_eigenvalue
from fvqp.eliashberg.selfenergy import RealAxisGrid, SelfEnergyKernel, fermi_cell_average
from fvqp.eliashberg.spectral import cell_averages, point_values


# ---- alpha2F ---------------------------------------------------------------------------
def test_debye_alpha2f_moments():
    lam, wd = 0.43, 364.0
    a = Alpha2F.debye(lam, wd)
    assert a.lam == pytest.approx(lam, rel=1e-6)  # 2 int a2F/Omega = lambda
    assert a.omega_log == pytest.approx(wd * np.exp(-0.5), rel=1e-5)  # Omega_D e^(-1/2)
    nu = np.array([0.0, 1.0, 100.0, 364.0, 2000.0])
    with np.errstate(divide="ignore", invalid="ignore"):
        exact = lam * (1 - (nu / wd) ** 2 * np.log1p(wd**2 / nu**2))
    exact[0] = lam
    assert np.allclose(a.matsubara_lambda(nu), exact, rtol=1e-6)
    # cell averages integrate the jump at Omega_D exactly: sum * h = int a2F = lam wd / 3
    h = 0.7
    c = np.arange(0, 600) * h
    total = a.cell_average(c, h) @ (np.minimum(c + h / 2, 1e9) - np.maximum(c - h / 2, 0))
    assert total == pytest.approx(lam * wd / 3, rel=1e-6)


def test_table_rescaling_and_file(tmp_path):
    om = np.linspace(0.5, 10, 50)
    va = np.exp(-((om - 5) ** 2))
    a = Alpha2F.from_table(om, va, lam=0.8)
    assert a.lam == pytest.approx(0.8, rel=1e-12)
    f = tmp_path / "a2f.txt"
    np.savetxt(f, np.column_stack([om / 2, va]))
    b = Alpha2F.from_file(f, scale=2.0, lam=0.8)
    assert np.allclose(b.values, a.values) and b.lam == pytest.approx(0.8)
    with pytest.raises(ValueError, match="non-decreasing"):
        Alpha2F(np.array([0.0, 2.0, 1.0]), np.array([0.0, 1.0, 1.0]))


# ---- spectral functions ---------------------------------------------------------------
def test_dos_branch_and_exact_cell_averages():
    d = 1.764
    e = np.array([0.5, 1.0, 1.7, 1.8, 3.0, 50.0])
    rho, ados = point_values(e, np.full(e.size, d + 0j))
    bcs = np.where(e > d, e / np.sqrt(np.abs(e**2 - d**2)), 0.0)
    assert np.allclose(rho, bcs) and np.allclose(ados, bcs * d / e)
    # a damped gap: rho >= 0 (retarded branch) and rho -> 1 + O(|D|^2/e^2)
    dc = d * (1 + 0.3j)
    r, _ = point_values(np.linspace(0, 20, 2001), np.full(2001, dc))
    assert np.all(r >= 0) and abs(r[-1] - 1) < 0.01
    # cell averages over a cell straddling the edge equal the exact integral
    a_, b_ = np.array([1.70]), np.array([1.90])
    rb, ab = cell_averages(a_, b_, np.array([d + 0j]))
    exact = quad(lambda x: x / np.sqrt(x * x - d * d), d, 1.9)[0] / 0.2
    exact_a = quad(lambda x: d / np.sqrt(x * x - d * d), d, 1.9)[0] / 0.2
    assert rb[0] == pytest.approx(exact, rel=1e-10) and ab[0] == pytest.approx(exact_a, rel=1e-10)


def test_fermi_cell_average_limits():
    x = np.array([-5.0, 0.0, 5.0])
    assert np.allclose(fermi_cell_average(x, 0.2, 0.0), [1.0, 0.5, 0.0])
    t = 0.7
    val = fermi_cell_average(np.array([0.3]), 0.4, t)[0]
    exact = quad(lambda y: 1 / (np.exp(y / t) + 1), 0.1, 0.5)[0] / 0.4
    assert val == pytest.approx(exact, rel=1e-12)


# ---- normal-state self-energy (Delta = 0) against its closed form ----------------------
def _re_z_normal(a: Alpha2F, w: float) -> float:
    """Re Z(w) = 1 + (1/w) int a2F(W) ln|(W+w)/(W-w)| dW  (T = 0 normal state)."""
    f = lambda x: a(x) * np.log(abs((x + w) / (x - w)))  # noqa: E731
    wmax = a.omega_max
    return 1 + quad(f, 0, wmax, points=[w] if w < wmax else None, limit=400)[0] / w


def test_normal_state_z_matches_closed_form_second_order():
    lam, wd = 0.43, 10.0
    a = Alpha2F.debye(lam, wd)
    targets = np.array([1.0, 5.0, 9.0, 20.0])
    errs, z0 = [], []
    for n in (2049, 4097, 8193):
        g = RealAxisGrid.build(100.0, n)
        k = SelfEnergyKernel(g, a, 0.0)
        ez, _, _, _ = k.evaluate(np.zeros(n, complex), 0.0, 50.0, "real")
        idx = np.searchsorted(g.e, targets)
        z = ez[idx].real / g.e[idx]
        errs.append(max(abs(z[i] - _re_z_normal(a, g.e[j])) for i, j in enumerate(idx)))
        z0.append((4 * ez[1].real / g.e[1] - ez[2].real / g.e[2]) / 3)
        # Im[eps Z] -> pi int a2F = pi lam wd / 3 above the phonon band (Eq. 182, rho = 1)
        assert ez[-1].imag == pytest.approx(np.pi * lam * wd / 3, rel=1e-6)
    assert errs[-1] < 5e-6, errs
    assert np.log2(errs[0] / errs[-1]) / 2 > 1.5  # at least ~second order
    assert abs(z0[-1] - (1 + lam)) < 1e-5  # Z(0) = 1 + lambda


# ---- Matsubara axis ---------------------------------------------------------------------
def test_calibrated_mu_star_reproduces_tc():
    a = Alpha2F.debye(1.55, 105.0 / 7.193)  # Pb-like: cheap (Omega_D = 14.6 T_c)
    wc = 5 * a.omega_max
    mu = calibrate_mu_star(a, wc, 1.0)
    assert 0.1 < mu < 0.3
    assert matsubara_eigenvalue(a, mu, wc, 1.0) == pytest.approx(1.0, abs=1e-8)
    assert critical_temperature(a, mu, wc, (0.5, 2.0)) == pytest.approx(1.0, rel=1e-5)
    # more repulsion, lower T_c
    assert critical_temperature(a, mu + 0.05, wc, (0.3, 2.0)) < 0.9
    with pytest.raises(ValueError, match="too weak"):
        calibrate_mu_star(Alpha2F.debye(0.05, 14.6), wc, 1.0)

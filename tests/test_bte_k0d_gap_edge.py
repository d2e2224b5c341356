"""Why bte and kinetics0d differ in N_qp(t) with the gap held fixed (the 2.8 % of
tests/test_bte_selfgap_transient.py): kinetics0d's phonon grid ended at E_max.

The 0D film of ``cases/bte_selfgap_pulse.toml`` (Al, tau0 = 1 ns, local phonons escaping in
0.2 ns, 100 mK, 2 keV of QPs at 600 +- 40 ueV in a Gaussian pulse at 3 ns of width 1 ns)
at the fixed bath gap, integrated to dt -> 0 (BDF, rtol 1e-8) by

* kinetics0d (:class:`fvqp.models.kinetics0d.model.Kinetics0D`, vertex grid,
  :func:`fvqp.collisions.collision_terms`), and
* bte's collision layer in one cell: the absolute bins of
  :class:`fvqp.spectra.bins.BinGrid` (first edge at 0.8 x the gap, ``[gap] floor``), the
  exact bin averages :func:`fvqp.spectra.bins.cell_spectra` and
  :func:`fvqp.collisions.batched.batched_terms` (what :mod:`fvqp.models.bte.inelastic`
  evaluates), phonons up to ``e_max + gap`` as :class:`fvqp.models.bte.simulation`.

Measured (5 ueV; 1.25 ueV alike): the peak N (4 ns) of kinetics0d was 1.3 % above bte's and
this does *not* fall with the bin width of either code (bte 2.4503e6 .. 2.4506e6, kinetics0d
2.4789e6 .. 2.4844e6 from 20 to 1.25 ueV). The per-energy rates for the same (f, n) agree
in the limit (pair breaking, scattering, recombination to 0.2 %). The cause:
:class:`fvqp.collisions.grid.EnergyGrid` puts its last phonon node at ``n + m/2`` spacings,
Omega_max = E_max = 800 ueV, and drops every transition leaving the grid, so the
recombination of the injected QPs above E_max - Delta = 628 ueV (half the pulse) with gap-edge
QPs is missing. With the phonon grid reaching E_max + Delta (as bte's) the peaks agree to
0.02 % (kinetics0d extrapolated from 5 and 2.5 ueV; +0.31 % at 5 ueV, its first-order
gap-edge error since its 2 Delta node holds the states above the threshold only; 0.04 %
before, when a trapping deficit of the opposite sign cancelled it); kinetics0d's driver
(:func:`fvqp.models.kinetics0d.build.build_model`) now builds that grid, and the test keeps
the truncated grid (the EnergyGrid default) to show the 1.3 %. The rest of the transient
difference (recovery, -4.8 % at 15 ns with bte at 20 ueV, -1.8 % at 10 ueV, +1.6 % at
5 ueV against bte at 1.25 ueV) is bte's bin width at the gap edge: h >= 2 kT (8.6 ueV) with
the gap inside a partial bin whose place changes with h (non-monotone); kinetics0d's vertex
grid is within 0.9 % at 10 ueV.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from scipy.integrate import solve_ivp
from selfgap_k0d import UEV, film_0d

from fvqp.collisions.batched import batched_terms
from fvqp.collisions.grid import EnergyGrid
from fvqp.models.kinetics0d.model import Kinetics0D
from fvqp.spectra.bins import BinGrid, cell_spectra
from fvqp.spectra.thermal_occupations import bose, fermi
from fvqp.units import E_CHARGE

TIMES_NS = np.array([0.0, 2.0, 4.0])


def _watt(t_ns: float) -> float:
    """Power [W] of the case's Gaussian pulse (2 keV, centre 3 ns, width 1 ns)."""
    return 2000.0 * E_CHARGE * math.exp(-0.5 * (t_ns - 3.0) ** 2) / math.sqrt(
        2.0 * math.pi) / 1e-9


def _integrate(film, rhs, y0, weights) -> np.ndarray:
    """Excess QP number at :data:`TIMES_NS` of ``dy/dt = rhs(y, P)`` (P: drive power)."""
    u = film.units
    ns = lambda t: u.to_si(t, "time") * 1e9  # noqa: E731
    te = [u.to_internal(t * 1e-9, "time") for t in TIMES_NS]
    sol = solve_ivp(lambda t, y: rhs(y, film.power(_watt(ns(t)))), (0.0, te[-1]), y0,
                    method="BDF", t_eval=te, rtol=1e-8, atol=1e-12,
                    max_step=u.to_internal(0.1e-9, "time"))
    assert sol.success, sol.message
    n = weights @ sol.y[: len(weights)] * film.number_unit
    return n - n[0]


def _kinetics0d(film, truncate: bool) -> np.ndarray:
    """kinetics0d's excess N; ``truncate``: phonon nodes only up to E_max (``n + m/2``, the
    EnergyGrid default and kinetics0d's grid before the driver extended it to E_max + Delta)."""
    m = film.model
    g = m.grid
    if truncate:
        g = EnergyGrid(delta=g.delta, h=g.h, n=g.n, layout=g.layout)
        m = Kinetics0D(g, m.params, m.t_bath, tau_esc=m.tau_esc,
                       drives=[dataclasses.replace(d) for d in m.drives])

    def rhs(y, p):
        m.drives[0].power = p
        return m.rhs(y)

    return _integrate(film, rhs, m.equilibrium(), g.qp_weights)


def _bte_layer(film, spacing_ueV: float) -> np.ndarray:
    u, m = film.units, film.model
    e = lambda x: u.to_internal(x * UEV, "energy")  # noqa: E731
    delta = m.grid.delta
    g = BinGrid.build(0.8 * delta, e(spacing_ueV), e(800.0), omega_max=e(800.0) + delta)
    rho, ados, _ = cell_spectra(g, np.array([delta]))
    rho, ados = rho[0], ados[0]
    w = g.h * rho
    gauss = np.exp(-0.5 * ((g.e - e(600.0)) / e(40.0)) ** 2) * rho
    src = np.divide(gauss / (gauss @ g.e), w, out=np.zeros_like(w), where=w > 0)
    nb = bose(g.omega, m.t_bath)
    esc = float(m.escape_rate[0])
    cph = m.params.phonon_prefactor

    def rhs(y, p):
        f, n = y[: g.n], y[g.n:]
        c = batched_terms(f[None], n[None], rho[None], ados[None], h=g.h, m=g.m, c_ph=cph)
        qp = np.where(rho > 0, (c.qp_sc_in + c.qp_pb - c.qp_sc_out - c.qp_rec)[0]
                      + p * src, 0.0)
        ph = (c.ph_sc_in + c.ph_rec - c.ph_sc_out - c.ph_pb)[0] - esc * (n - nb)
        return np.concatenate([qp, ph])

    y0 = np.concatenate([np.where(rho > 0, fermi(g.e, m.t_bath), 0.0), nb])
    return _integrate(film, rhs, y0, w)


def test_fixed_gap_pulse_peak_agrees_once_kinetics0d_phonons_reach_emax_plus_gap(tmp_path):
    """Excess N at 2 and 4 ns (the peak), fixed bath gap: bte's layer at 5 ueV (its peak
    converged in h: 2.4503e6 .. 2.4506e6 from 20 to 1.25 ueV) and kinetics0d on the
    driver's grid (phonons to E_max + Delta; 195 nodes at 5 ueV) extrapolated to h -> 0
    from 5 and 2.5 ueV (2 N(h/2) - N(h)) agree to 0.1 % at the peak and 0.6 % at 2 ns.
    kinetics0d's own error is first order at these spacings (+0.31 % at 5 ueV since its
    2 Delta node holds the phonon states above the threshold only, the gap-edge cells';
    before, a -O(h) trapping deficit cancelled most of it: 0.04 % at 5 ueV). With phonons
    only to E_max (161 nodes) kinetics0d gives 1.3 % more QPs at the peak than on the
    driver's grid at the same spacing (measured 1.29 %): the recombinations it drops.
    Measured: extrapolated kinetics0d / bte - 1 = 2.0e-4 at the peak, -2.4e-3 at 2 ns."""
    film = film_0d(tmp_path, "5 ueV")
    bte = _bte_layer(film, 5.0)
    own = _kinetics0d(film, truncate=False)
    half = _kinetics0d(film_0d(tmp_path, "2.5 ueV"), truncate=False)
    ext = 2.0 * half - own
    cut = _kinetics0d(film_0d(tmp_path, "5 ueV"), truncate=True)
    assert bte[2] == pytest.approx(2.4500e6, rel=2e-3, abs=0)
    assert abs(ext[2] / bte[2] - 1.0) < 1e-3
    assert film.model.grid.n_ph == 195
    assert abs(bte[1] / ext[1] - 1.0) < 6e-3
    assert 0.01 < cut[2] / own[2] - 1.0 < 0.016
    # the missing piece is recombination above the phonon cut-off
    assert own[2] < cut[2]

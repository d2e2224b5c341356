r"""Tunnel terms of a junction to a normal or superconducting electrode (paper Eqs. 11–14).

A junction's electrode is an equilibrium reservoir at bias V and temperature t (Eq. 12)
with the BCS/Dynes density of states :math:`N_e` of its own gap :math:`\Delta_e` and
broadening :math:`\gamma_e` (:func:`fvqp.spectra.dynes_dos`; :math:`\Delta_e = 0` is the
normal electrode of the paper, :math:`N_e \equiv 1`). In the Keldysh representation
:math:`h = f_L + f_T\tau_3` the electron component :math:`f_L + f_T` of Eq. 12 is
:math:`n_0(\epsilon + eV)`, the electrode's distribution at its own energy
:math:`\epsilon + eV`, where its DOS is :math:`N_+ = N_e(\epsilon + eV)`; the hole
component :math:`f_L - f_T = n_0(\epsilon - eV)` sees :math:`N_- = N_e(\epsilon - eV)`.
Eq. 11 with :math:`N_e` in place of the electrode's 1 (the Kupriyanov–Lukichev/Nazarov
tunnel term :math:`\propto[\check g, \check g_e]^K` keeping only the normal parts
:math:`N N_\pm` — **incoherent quasiparticle tunnelling**: the anomalous products
:math:`F F_e`, i.e. the Josephson current and the quasiparticle–pair interference
term, are dropped) is, per component,
:math:`\kappa N N_\pm\,(n_0(\epsilon \pm eV) - f_L \mp f_T)`, so in the two modes

.. math::
   \mathcal D_L\partial_n f_L &= \kappa N\big[\tfrac12(N_+a + N_-b)
        - P f_L - M f_T\big],\\
   \mathcal D_T\partial_n f_T &= \kappa N\big[\tfrac12(N_+a - N_-b)
        - M f_L - P f_T\big],

with :math:`a = n_0(\epsilon+eV)`, :math:`b = n_0(\epsilon-eV)`,
:math:`P = \tfrac12(N_+ + N_-)`, :math:`M = \tfrac12(N_+ - N_-)` (docs/theory_usadel.md,
"Superconducting electrodes"). For :math:`N_e = 1` this is Eq. 11 with Eq. 12
(:math:`P = 1`, :math:`M = 0`). The coupling matrix [[P, M], [M, P]] has the eigenvalues
:math:`N_\pm \ge 0`. With the wire in equilibrium (:math:`f_L = n_0(\epsilon)`,
:math:`f_T = 0`) the current of Eq. 13, :math:`\tfrac\kappa2\int N(\ldots)_T`, is the
classic SIS' quasiparticle current :math:`\kappa\int N(E)N_e(E+eV)[f(E)-f(E+eV)]\,dE`
(tested against an independent quadrature); at V = 0 and one temperature every term
vanishes (:math:`N_+ = N_-`, a = b = f_L: detailed balance).

Quadrature (as :mod:`~fvqp.models.usadel.tunnel` does for the NIS terms):

* **charge mode at a superconducting node**: the cell integrals
  :math:`\frac1{w_k}\int_{C_k} N\,g` of :math:`g = P, M` and the source, with the bulk
  DOS :math:`N_0` of the node and the electrode's point :math:`N_\pm` and Fermi functions
  on the node's fine grid, graded towards the wire's gap edges, the electrode's edges
  :math:`\pm eV \pm \Delta_e` (down to :math:`10^{-2}\gamma_e`) and the Fermi steps
  :math:`\pm eV`; the remainder :math:`N - N_0` at its node value;
* **energy mode, and the charge mode at a normal node**: the wire's N at the node (as for
  NIS) times the electrode factor with the exact cell averages
  :math:`\langle N_\pm\rangle_k` of the Dynes DOS (closed form,
  :func:`fvqp.spectra.dos.dos_cell_integrals`) and the Fermi functions at the node.

For :math:`\Delta_e = 0` both reduce to today's NIS terms bit for bit
(:math:`\langle N_\pm\rangle = 1` exactly, tested). The electrode of a case's junction:
:mod:`~.electrode_case`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ...spectra.dos import dos_cell_integrals, dynes_dos
from .terminals import dn0_dv, n0
from .tunnel import (
    cell_bounds,
    charge_source,
    charge_source_dv,
    graded_points,
    node_dos,
    node_grid,
)

__all__ = ["JunctionTerms", "electrode_cell_dos", "electrode_dos", "general_terms",
           "junction_terms", "superconducting", "terms_dv"]


def superconducting(junction) -> bool:
    """Whether ``junction``'s electrode has a gap (Δ_e > 0)."""
    return float(getattr(junction, "gap", 0.0)) > 0.0


def electrode_dos(e, gap: float, gamma: float) -> np.ndarray:
    r"""Point values of the electrode's Dynes DOS :math:`N_e(e)` (1 for a normal electrode;
    the BCS edge divergence of :math:`\gamma_e = 0` at exactly :math:`|e| = \Delta_e` is
    set to 0, an integrable point of measure 0)."""
    e = np.asarray(e, float)
    if gap <= 0:
        return np.ones_like(e)
    n = np.asarray(dynes_dos(e, gap, gamma), float)
    return np.where(np.isfinite(n), n, 0.0)


def electrode_cell_dos(lo, hi, gap: float, gamma: float) -> np.ndarray:
    r"""Exact cell averages :math:`\frac1{hi-lo}\int_{lo}^{hi}N_e` of the electrode's Dynes
    DOS over arbitrary cells (1 for a normal electrode). :math:`N_e` is even, so a cell is
    its parts on e > 0 and (mirrored) e < 0, each by the closed form of
    :func:`fvqp.spectra.dos.dos_cell_integrals` (antiderivative Re√((e+iγ)² − Δ²))."""
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    if gap <= 0:
        return np.ones_like(lo)

    def positive(a, b):  # ∫ over [a, b] ∩ [0, ∞)
        a, b = np.maximum(a, 0.0), np.maximum(b, 0.0)
        if gamma <= 0:  # BCS: no states below the gap
            a = np.maximum(a, gap)
            return dos_cell_integrals(a - gap, np.maximum(b - a, 0.0), gap)[0]
        return dos_cell_integrals(a - gap, b - a, gap, gamma)[0]

    return (positive(lo, hi) + positive(-hi, -lo)) / (hi - lo)


@dataclass(frozen=True)
class JunctionTerms:
    r"""The κ-free tunnel terms of one junction at its node, arrays (n_eps,):
    L row :math:`s_L - c_{LL}f_L - c_{LT}f_T`, T row :math:`s_T - c_{TL}f_L - c_{TT}f_T`
    (energy-cell averages: the kinetic equations and the currents use them with the
    trapezoid weights w_k)."""

    sL: np.ndarray
    cLL: np.ndarray
    cLT: np.ndarray
    sT: np.ndarray
    cTL: np.ndarray
    cTT: np.ndarray

    def rows(self, fL, fT) -> tuple[np.ndarray, np.ndarray]:
        """The L and T tunnel terms (without κ) for the wire's fL, fT at the node."""
        return self.sL - self.cLL * fL - self.cLT * fT, self.sT - self.cTL * fL - self.cTT * fT


def _nis_terms(spec, junction, cell_average: bool) -> JunctionTerms:
    """Today's NIS terms (paper Eqs. 11–12; charge mode: :mod:`~.tunnel`)."""
    N = spec.N[:, junction.node]
    fLJ, fTJ = junction.distribution(spec.eps)
    zero = np.zeros_like(N)
    sT = charge_source(spec, junction) if cell_average else N * fTJ
    cTT = node_dos(spec, junction.node) if cell_average else N
    return JunctionTerms(sL=N * fLJ, cLL=N, cLT=zero, sT=sT, cTL=zero, cTT=cTT)


def general_terms(spec, junction, cell_average: bool = True,
                  grid_bias: float | None = None) -> JunctionTerms:
    """The terms for an electrode with any gap (module docstring); ``cell_average=False``:
    point values everywhere (energies that are not a quadrature grid). ``grid_bias``: the
    bias whose electrode edges and Fermi steps grade the fine grid (default the
    junction's; :func:`terms_dv` holds the grid fixed)."""
    eps = np.asarray(spec.eps, float)
    node, v, t = junction.node, float(junction.bias), float(junction.temperature)
    vg = v if grid_bias is None else float(grid_bias)
    gap, gamma = float(getattr(junction, "gap", 0.0)), float(getattr(junction, "gamma", 0.0))
    N = spec.N[:, node]
    a, b = n0(eps + v, t), n0(eps - v, t)
    if cell_average:
        lo, hi = cell_bounds(eps)[:-1], cell_bounds(eps)[1:]
        npl, nmi = (electrode_cell_dos(lo + v, hi + v, gap, gamma),
                    electrode_cell_dos(lo - v, hi - v, gap, gamma))
    else:
        npl, nmi = electrode_dos(eps + v, gap, gamma), electrode_dos(eps - v, gap, gamma)
    P, M = 0.5 * (npl + nmi), 0.5 * (npl - nmi)
    sL = N * (0.5 * (npl * a + nmi * b))
    cLL, cLT = N * P, N * M
    grid = node_grid(spec, node) if cell_average else None
    if grid is None:  # normal node or point rule: the same form as the energy mode
        return JunctionTerms(sL=sL, cLL=cLL, cLT=cLT, sT=N * (0.5 * (npl * a - nmi * b)),
                             cTL=N * M, cTT=N * P)
    width = 4.0 * float(grid.weights.max())
    edges = ([] if gap <= 0 else
             graded_points([vg + gap, vg - gap, -vg + gap, -vg - gap],
                           1e-2 * max(gamma, 1e-9), width))
    steps = graded_points([vg, -vg], 1e-2 * max(t, 1e-9), width)

    def pm(e):
        return electrode_dos(e + v, gap, gamma), electrode_dos(e - v, gap, gamma)

    def coef(sign):
        def g(e):
            p, m = pm(e)
            return 0.5 * (p + sign * m)
        return g

    def src(e):
        p, m = pm(e)
        return 0.5 * (p * n0(e + v, t) - m * n0(e - v, t))

    edges = np.asarray(edges, float)
    if gap <= 0:  # N_± = 1: the same fine grid as node_dos (bitwise NIS)
        cTT = grid.average(coef(1.0))
        cTL = grid.average(coef(-1.0))
    else:
        cTT = grid.average(coef(1.0), edges)
        cTL = grid.average(coef(-1.0), edges)
    sT = grid.average(src, np.concatenate([edges, steps]))
    return JunctionTerms(sL=sL, cLL=cLL, cLT=cLT, sT=sT, cTL=cTL, cTT=cTT)


def terms_dv(spec, junction) -> JunctionTerms:
    r"""∂/∂V of the (cell-averaged) terms of ``junction`` at its bias, for g_nl (Eq. 15):
    the NIS sources' exact derivatives (∂_V f^{(N)} of Eq. 12, :mod:`~.tunnel`; the
    coefficients do not depend on V); for an S electrode, whose coefficients P, M depend
    on V through N_e(ε ± eV), central differences of :func:`general_terms` at V ± h on the
    fine grid of V (held fixed, so the terms are analytic in V for γ_e > 0), with
    h = 10⁻³ max(γ_e, 10⁻³Δ_e): truncation O(h²/γ_e²) ≈ 10⁻⁶, rounding ≈ 10⁻¹⁶/h."""
    from dataclasses import fields

    if not superconducting(junction):
        N = spec.N[:, junction.node]
        dL, _ = dn0_dv(spec.eps, junction.bias, junction.temperature)
        zero = np.zeros_like(N)
        return JunctionTerms(sL=N * dL, cLL=zero, cLT=zero, sT=charge_source_dv(spec, junction),
                             cTL=zero, cTT=zero)
    v = float(junction.bias)
    h = 1e-3 * max(float(junction.gamma), 1e-3 * float(junction.gap))
    up = general_terms(spec, replace(junction, bias=v + h), grid_bias=v)
    dn = general_terms(spec, replace(junction, bias=v - h), grid_bias=v)
    return JunctionTerms(**{f.name: (getattr(up, f.name) - getattr(dn, f.name)) / (2 * h)
                            for f in fields(JunctionTerms)})


def junction_terms(spec, junction, cell_average: bool = True) -> JunctionTerms:
    """The tunnel terms of ``junction``: :func:`general_terms` for a superconducting
    electrode, the NIS terms of :mod:`~.tunnel` (cached) for a normal one — equal to
    :func:`general_terms` with Δ_e = 0 bit for bit (tested). Cached per junction state
    on ``spec`` for superconducting electrodes (their terms depend on the bias)."""
    if not superconducting(junction):
        return _nis_terms(spec, junction, cell_average)
    cache = spec.__dict__.setdefault("_electrode_terms", {})
    key = (junction.node, float(junction.bias), float(junction.temperature),
           float(junction.gap), float(junction.gamma), bool(cell_average))
    if key not in cache:
        cache[key] = general_terms(spec, junction, cell_average)
    return cache[key]


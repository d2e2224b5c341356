r"""Quasiparticle densities of states and coherence factors.

All functions are dimension-agnostic: energies, the gap :math:`\Delta` and the Dynes
broadening :math:`\Gamma` must be given in one consistent energy unit (e.g. units of
:math:`\Delta_0` or of :math:`k_B T_c`). Densities of states are normalised to the normal-state
value, i.e. they multiply the single-spin normal density of states :math:`N_0`.

References
----------
.. [1] BoltzPhlow/BTE notes (``/work/shared/references/boltzphlow_bte_notes.txt``), Eqs. 4-5
   (coherence factor :math:`K^-` and BCS density of states :math:`\rho`), Eqs. 35-37 (use of
   :math:`U^\mp` in scattering, recombination and pair breaking).
.. [2] R. C. Dynes, V. Narayanamurti and J. P. Garno, Phys. Rev. Lett. 41, 1509 (1978).
.. [3] S. B. Kaplan et al., Phys. Rev. B 14, 4854 (1976), Eqs. (8)-(10).
.. [4] BoltzPhlow/BTE notes, Eqs. 166-167 (DOS and anomalous DOS of a complex gap,
   retarded branch), Eq. 34 (cell averages of the DOS on the collision grid).

:func:`dos_cell_integrals` is the one copy of the cell averages of the DOS (used by
``collisions.EnergyGrid``, ``spectra.bins.cell_spectra``, ``eliashberg.spectral``).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "dos_cell_integrals",
    "retarded_root",
    "bcs_dos",
    "bcs_dos_cell_average",
    "bcs_dos_cell_integral",
    "dynes_dos",
]


def _scalar_or_array(x: NDArray[np.float64]) -> NDArray[np.float64] | float:
    """Return a Python float for 0-d results and the array otherwise."""
    return float(x) if np.ndim(x) == 0 else x


def bcs_dos(E: ArrayLike, delta: ArrayLike) -> NDArray[np.float64] | float:
    r"""BCS quasiparticle density of states :math:`\rho(E)`.

    .. math::

        \rho(E) = \frac{|E|}{\sqrt{E^2 - \Delta^2}}\;\Theta(|E| - \Delta)

    (notes Eq. 5, extended symmetrically to negative energies). Inside the gap
    :math:`\rho = 0`; at :math:`|E| = \Delta` the (integrable) divergence is returned as ``inf``.
    For :math:`\Delta = 0` the normal-state value 1 is returned.

    Parameters
    ----------
    E : array_like
        Energy measured from the Fermi level.
    delta : array_like
        Gap :math:`\Delta \ge 0`, broadcast against ``E``.

    Returns
    -------
    float or ndarray
        :math:`\rho(E)`, dimensionless (in units of :math:`N_0`).
    """
    a = np.abs(np.asarray(E, dtype=float))
    d = np.abs(np.asarray(delta, dtype=float))
    a, d = np.broadcast_arrays(a, d)
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = a / np.sqrt((a - d) * (a + d))
    rho = np.where(a > d, rho, np.where(a == d, np.inf, 0.0))
    rho = np.where(d == 0.0, 1.0, rho)
    return _scalar_or_array(rho)


def dynes_dos(E: ArrayLike, delta: ArrayLike, gamma: ArrayLike) -> NDArray[np.float64] | float:
    r"""Dynes-broadened density of states.

    .. math::

        N_D(E) = \mathrm{Re}\,\frac{E + i\Gamma}{\sqrt{(E + i\Gamma)^2 - \Delta^2}}

    (Dynes et al. 1978). The square root is evaluated as
    :math:`\sqrt{z-\Delta}\,\sqrt{z+\Delta}` with principal branches, :math:`z = E + i\Gamma`.
    For :math:`\Gamma > 0` both factors lie in the upper half plane, so the product is the
    branch analytic in the upper half plane that behaves as :math:`+z` for :math:`|z|\to\infty`
    (the retarded Green function). This gives :math:`N_D \ge 0` and :math:`N_D \to 1` for
    :math:`E \to \pm\infty`, in particular the correct sign at negative energies, where the
    naive principal ``sqrt(z**2 - delta**2)`` would give :math:`N_D \to -1`.

    Special values: :math:`N_D(0) = \Gamma/\sqrt{\Delta^2 + \Gamma^2}`; for :math:`\Gamma = 0`
    the BCS result :func:`bcs_dos` is recovered (``inf`` exactly at :math:`|E| = \Delta`).

    Parameters
    ----------
    E : array_like
        Energy.
    delta : array_like
        Gap :math:`\Delta \ge 0`.
    gamma : array_like
        Dynes parameter :math:`\Gamma \ge 0`.

    Returns
    -------
    float or ndarray
        :math:`N_D(E)` in units of :math:`N_0`.
    """
    g = np.asarray(gamma, dtype=float)
    if np.any(g < 0):
        raise ValueError("Dynes parameter gamma must be >= 0")
    d = np.abs(np.asarray(delta, dtype=float))
    z = np.asarray(E, dtype=float) + 1j * g
    with np.errstate(divide="ignore", invalid="ignore"):
        val = np.real(z / (np.sqrt(z - d) * np.sqrt(z + d)))
    # Gamma = 0 and |E| = Delta: 0/0 or x/0 -> the BCS edge divergence.
    val = np.where(np.isnan(val) | np.isinf(val), np.inf, val)
    return _scalar_or_array(np.asarray(val, dtype=float))


def _check_edges(edges: ArrayLike) -> NDArray[np.float64]:
    e = np.asarray(edges, dtype=float)
    if e.ndim != 1 or e.size < 2:
        raise ValueError("edges must be a 1-D array with at least two entries")
    if np.any(np.diff(e) <= 0):
        raise ValueError("edges must be strictly increasing")
    return e


def bcs_dos_cell_integral(edges: ArrayLike, delta: float) -> NDArray[np.float64]:
    r"""Exact :math:`\int_{E_i}^{E_{i+1}} \rho(E)\,dE` (states per cell, units of
    :math:`N_0`) over strictly increasing ``edges`` (shape (n+1,), may be negative) at a
    gap :math:`\Delta \ge 0`: :math:`\rho` is even, so a cell is the sum of its parts on
    :math:`E > 0` and (mirrored) :math:`E < 0`, each :func:`dos_cell_integrals` over its
    overlap with :math:`[\Delta, \infty)` (no cancellation, also far above the gap)."""
    e = _check_edges(edges)
    d = abs(float(delta))

    def positive(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:  # over [lo, hi] ∩ [d, inf)
        lo = np.maximum(lo, d)
        return dos_cell_integrals(lo - d, np.maximum(hi - lo, 0.0), d)[0]

    lo, hi = e[:-1], e[1:]
    return positive(np.maximum(lo, 0.0), np.maximum(hi, 0.0)) + positive(
        np.maximum(-hi, 0.0), np.maximum(-lo, 0.0))


def bcs_dos_cell_average(edges: ArrayLike, delta: float) -> NDArray[np.float64]:
    r"""Exact cell average :math:`\frac{1}{E_{i+1}-E_i}\int_{E_i}^{E_{i+1}}\rho\,dE`
    (:func:`bcs_dos_cell_integral` over the widths; a cell :math:`[\Delta, \Delta + h]`
    gets :math:`\sqrt{2\Delta h + h^2}/h`, a smooth region the midpoint value
    :math:`+ h^2\rho''/24`)."""
    e = _check_edges(edges)
    return bcs_dos_cell_integral(e, delta) / np.diff(e)


#: relative size of Re s below which s is treated as purely imaginary (rounding noise)
_TIE = 1e-9


def retarded_root(x: ArrayLike, delta: ArrayLike) -> NDArray[np.complex128]:
    r""":math:`s = \sqrt{E^2-\Delta^2}` at :math:`E = \Delta + x` on the retarded branch.

    Formed as :math:`\sqrt{x\,(x + 2\Delta)}` (no cancellation at the gap edge; ``x`` may
    be complex: a complex gap, or :math:`x + i\Gamma` for Dynes broadening). Principal
    root, :math:`\operatorname{Re}s \ge 0`, so that :math:`\rho = \operatorname{Re}E/s
    \ge 0` (notes Eqs. 166-167); where :math:`|\operatorname{Re}s| < 10^{-9}|s|` (a real
    gap below its edge, up to rounding) the root with :math:`\operatorname{Im}s > 0`.
    For :math:`\operatorname{Re}E \ge 0` and :math:`\Gamma > 0` this is Dynes'
    :math:`\sqrt{z-\Delta}\sqrt{z+\Delta}` (:func:`dynes_dos`).
    """
    x = np.asarray(x, dtype=complex)
    s = np.sqrt(x * (x + 2.0 * np.asarray(delta, dtype=complex)))
    tie = np.abs(s.real) <= _TIE * np.abs(s)
    return np.where(tie, 1j * np.abs(s.imag), s)


def dos_cell_integrals(x_lo: ArrayLike, width: ArrayLike, delta: ArrayLike,
                       gamma: float = 0.0, per: ArrayLike = 1.0
                       ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    r"""Exact :math:`\int\rho\,dE` and :math:`\int\varphi\,dE` over cells
    :math:`[\Delta + x, \Delta + x + w]` (the one copy of the cell averages of the DOS).

    With :math:`z = E + i\Gamma` and :math:`s(z) = \sqrt{z^2 - \Delta^2}`
    (:func:`retarded_root`), :math:`\rho = \operatorname{Re} z/s` and
    :math:`\varphi = \operatorname{Re}\Delta/s` (notes Eqs. 166-167; Eq. 5 for real
    :math:`\Delta`, :math:`\Gamma = 0`; Dynes et al. 1978) have the antiderivatives
    :math:`\operatorname{Re}s` and :math:`\operatorname{Re}\Delta\ln(z + s)`, evaluated
    without cancellation (cell ends :math:`z_0, z_1 = z_0 + w`):

    .. math::
        \int_{cell}\rho = \operatorname{Re} q,\quad
        q = s_1 - s_0 = \frac{w\,(z_1 + z_0)}{s_1 + s_0},\qquad
        \int_{cell}\varphi = \operatorname{Re}\Big[\Delta\,
        \operatorname{log1p}\frac{w + q}{z_0 + s_0}\Big],

    :math:`z_k = \Delta + x_k` (gap-relative ends: the cell next to the gap keeps full
    relative accuracy). For a complex argument,
    :math:`\operatorname{log1p}u = \tfrac12\operatorname{log1p}(2\operatorname{Re}u +
    |u|^2) + i\arg(1 + u)`. A real gap without broadening runs in real arithmetic.

    Parameters
    ----------
    x_lo : array_like
        Lower cell end minus the gap, :math:`E_0 - \Delta` (complex for a complex gap);
        ``>= 0`` for a real gap without broadening (the caller clips the cell to
        :math:`E \ge \Delta`: no states below).
    width : array_like
        Cell widths :math:`w \ge 0` (real; ``0`` gives 0).
    delta : array_like
        Gap (real, or complex per cell), broadcast against ``x_lo``; ``0`` is the normal
        metal (:math:`\rho = 1`, :math:`\varphi = 0`).
    gamma : float
        Dynes broadening :math:`\Gamma \ge 0`.
    per : array_like
        Divide the integrals by this (the width for cell averages, the grid spacing for
        "states per ``h``").

    Returns
    -------
    rho, ados : ndarray
        :math:`\int_{cell}\rho\,dE` and :math:`\int_{cell}\varphi\,dE`, over ``per``.

    Examples
    --------
    >>> r, a = dos_cell_integrals([0.0, 3.0], [1e-2, 1e-2], 1.0)  # [D, D + h], [4, 4 + h]
    >>> rho_mid = 4.005 / (4.005**2 - 1) ** 0.5  # the average is the midpoint + O(h^2)
    >>> bool(abs(r[0] - (2e-2 + 1e-4) ** 0.5) < 1e-16), bool(abs(r[1] / 1e-2 - rho_mid) < 1e-6)
    (True, True)
    """
    w = np.asarray(width, dtype=float)
    d = np.asarray(delta)
    with np.errstate(divide="ignore", invalid="ignore"):
        if np.iscomplexobj(d) or np.iscomplexobj(x_lo) or gamma > 0:
            d = d.astype(complex)
            x0 = np.asarray(x_lo, dtype=complex) + 1j * gamma
            x1 = x0 + w
            s0, s1 = retarded_root(x0, d), retarded_root(x1, d)
            z0, den = d + x0, s0 + s1
            q = np.where(den != 0, w * (d + x1 + z0) / den, 0.0) / per
            u = (w + per * q) / (z0 + s0)
            log1p = 0.5 * np.log1p(2.0 * u.real + np.abs(u) ** 2) \
                + 1j * np.arctan2(u.imag, 1.0 + u.real)
            ados = np.where((d != 0) & (w > 0), (d / per * log1p).real, 0.0)
            return q.real, ados
        x0 = np.asarray(x_lo, dtype=float)
        x1 = x0 + w
        s0, s1 = np.sqrt(x0 * (x0 + 2.0 * d)), np.sqrt(x1 * (x1 + 2.0 * d))
        z0, den = d + x0, s0 + s1
        rho = np.where(den > 0, w * (d + x1 + z0) / den / per, 0.0)
        ados = np.where((d > 0) & (w > 0), d / per * np.log1p((w + per * rho) / (z0 + s0)),
                        0.0)
        return rho, ados

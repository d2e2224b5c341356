r"""Quasiparticle DOS :math:`\rho` and anomalous DOS :math:`\varphi` from a complex gap.

Notes Eqs. 166-167 (and 179): with :math:`\Delta=\phi/Z`,

.. math:: \rho(\epsilon) = \operatorname{Re}\frac{\epsilon}{\sqrt{\epsilon^2-\Delta^2}},
   \qquad \varphi(\epsilon) = \operatorname{Re}\frac{\Delta}{\sqrt{\epsilon^2-\Delta^2}}.

Branch: the square root is the one of the retarded function, :math:`\tilde s =
\sqrt{(\epsilon Z)^2-\phi^2}` with :math:`\operatorname{Im}\tilde s>0` (the pole picked
by the :math:`\xi` integral, Eqs. 162-165), continued from the normal state
(:math:`\tilde s\to\epsilon Z`). Since :math:`\rho=\operatorname{Re}(\epsilon/s)` is a
spectral weight, :math:`\rho\ge0`, i.e. :math:`\operatorname{Re}s\ge0` for
:math:`\epsilon>0` with :math:`s=\tilde s/Z=\sqrt{\epsilon^2-\Delta^2}`: this is the
principal square root, which is what is used here (the sign only matters where
:math:`\operatorname{Re}s=0`, i.e. below the edge with real :math:`\Delta`, where both
:math:`\rho` and :math:`\varphi` vanish for either sign).  For :math:`\epsilon<0`:
:math:`\rho` is even and :math:`\varphi` odd.

Cell averages: :math:`\rho` has an inverse-square-root edge singularity, so point
samples converge badly in the real-axis convolutions of Eqs. 182-183. With
:math:`\Delta` frozen on a cell the antiderivatives are exact,
:math:`\int\rho = \operatorname{Re}\sqrt{\epsilon^2-\Delta^2}`,
:math:`\int\varphi = \operatorname{Re}[\Delta\ln(\epsilon+\sqrt{\epsilon^2-\Delta^2})]`,
so :func:`cell_averages` is exact for a gap that is constant on each cell (BCS); it is
the one closed form :func:`fvqp.spectra.dos.dos_cell_integrals` (cancellation-free).
"""

from __future__ import annotations

import numpy as np

from ..spectra.dos import dos_cell_integrals, retarded_root

__all__ = ["sqrt_retarded", "point_values", "cell_averages", "cell_first_moments"]


def sqrt_retarded(e: np.ndarray, delta: np.ndarray) -> np.ndarray:
    r""":math:`\sqrt{\epsilon^2-\Delta^2}` on the physical branch for :math:`\epsilon\ge0`:
    :func:`fvqp.spectra.dos.retarded_root` at :math:`x = \epsilon - \Delta` (principal root,
    :math:`\operatorname{Re}s\ge0`, i.e. :math:`\rho\ge0`; where
    :math:`|\operatorname{Re}s| < 10^{-9}|s|` the root with :math:`\operatorname{Im}s>0`, as
    :math:`\operatorname{Im}\tilde s>0` requires; the choice matters for
    :math:`\operatorname{Im}[\Delta/s]`, the Coulomb term)."""
    d = np.asarray(delta, dtype=complex)
    return retarded_root(np.asarray(e, dtype=float) - d, d)


def point_values(e: np.ndarray, delta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r""":math:`(\rho, \varphi)` at energies :math:`\epsilon\ge0` (infinite exactly at an edge)."""
    s = sqrt_retarded(e, delta)
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = np.real(np.asarray(e) / s)
        ados = np.real(np.asarray(delta) / s)
    return rho, ados


def _prim_ados(x: np.ndarray, delta: np.ndarray) -> np.ndarray:
    s = sqrt_retarded(x, delta)
    arg = x + s
    with np.errstate(divide="ignore", invalid="ignore"):
        val = np.real(delta * np.log(arg))
    return np.where(np.abs(delta) > 0, val, 0.0)


def cell_averages(
    a: np.ndarray, b: np.ndarray, delta: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    r"""Averages of :math:`(\rho,\varphi)` over :math:`[a_i,b_i]\subset[0,\infty)`, gap frozen.

    Parameters
    ----------
    a, b : numpy.ndarray
        Cell ends, ``0 <= a < b``.
    delta : numpy.ndarray
        Complex gap :math:`\Delta` on each cell (e.g. its value at the cell centre).
    """
    a = np.asarray(a, dtype=float)
    width = np.asarray(b, dtype=float) - a
    delta = np.asarray(delta, dtype=complex)
    return dos_cell_integrals(a - delta, width, delta, per=width)


def cell_first_moments(
    a: np.ndarray, b: np.ndarray, delta: np.ndarray, c: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    r"""First moments :math:`\int_a^b(\epsilon-c)\rho` and :math:`\int_a^b(\epsilon-c)\varphi`.

    Exact for a frozen gap: :math:`\int\epsilon\rho = \operatorname{Re}[\epsilon s +
    \Delta^2\ln(\epsilon+s)]/2`, :math:`\int\epsilon\varphi=\operatorname{Re}[\Delta s]`.
    They locate the spectral weight inside a cell (near the edge it sits at the gap, not at
    the cell centre), which the thermal factors of Eqs. 180-181 need to second order.
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    c = np.asarray(c, dtype=float)
    delta = np.asarray(delta, dtype=complex)

    def prim_rho1(x: np.ndarray) -> np.ndarray:
        s = sqrt_retarded(x, delta)
        with np.errstate(divide="ignore", invalid="ignore"):
            log = np.where(np.abs(delta) > 0, delta**2 * np.log(x + s), 0.0)
        return 0.5 * np.real(x * s + log)

    def prim_ados1(x: np.ndarray) -> np.ndarray:
        return np.real(delta * sqrt_retarded(x, delta))

    rho0 = np.real(sqrt_retarded(b, delta) - sqrt_retarded(a, delta))
    ados0 = _prim_ados(b, delta) - _prim_ados(a, delta)
    m_rho = prim_rho1(b) - prim_rho1(a) - c * rho0
    m_ados = prim_ados1(b) - prim_ados1(a) - c * ados0
    return m_rho, m_ados

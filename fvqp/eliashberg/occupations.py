r"""Non-equilibrium occupations for the Eliashberg self-energies (notes Eqs. 180-181).

Eqs. 180-181 contain the electron occupation :math:`f_e(\epsilon-\omega)` and the phonon
occupation :math:`n_b(\omega)` of the actual state, not their thermal values:

.. math::
   2\operatorname{Im}\phi(\epsilon) = N_0\!\int\! d\omega\,|g|^2B(\omega)\,
       \check a_{12}(\epsilon-\omega)\,[1 + n_b(\omega) - f_e(\epsilon-\omega)],

and the same with :math:`\check a_{11}` for :math:`\operatorname{Im}[\epsilon Z]`
(isotropic here: the :math:`\langle\cdot\rangle_{\hat p'}` average is the angle average,
which for an isotropic distribution is the distribution itself). :class:`Occupations`
holds :math:`f_e(E)` for :math:`E \ge 0` and :math:`n_b(\Omega)` for :math:`\Omega > 0`
and extends them to the whole axis by

* branch (particle-hole) symmetry :math:`f_e(-E) = 1 - f_e(E)` (no charge imbalance:
  electron- and hole-like QPs equally occupied, as in the isotropic kinetic models of
  fvqp, whose ``f`` is the occupation of a QP of energy ``E``);
* :math:`n_b(-\Omega) = -1 - n_b(\Omega)` (the :math:`\Omega < 0` half of the integral
  is phonon absorption, :math:`B(-\Omega) = -B(\Omega)`).

With these, :math:`1 + n_b(\omega) - f_e(\epsilon-\omega) = n_b(\omega) +
\bar f(\omega - \epsilon)`, :math:`\bar f(x) \equiv 1 - f_e(-x)`, which is the form
:mod:`fvqp.eliashberg.selfenergy` evaluates (``f_minus`` below). For thermal
occupations :math:`\bar f(x) = f(x)`, the Fermi function, and the equilibrium kernel is
recovered exactly (:meth:`Occupations.thermal` uses the same closed forms).

Energies in :math:`k_BT_c` of the material.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..spectra.thermal_occupations import bose, fermi, minus_dfermi_dE

__all__ = ["Occupations"]

Func = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Occupations:
    r"""Isotropic QP occupation :math:`f_e(E)`, :math:`E \ge 0`, and phonon occupation
    :math:`n_b(\Omega)`, :math:`\Omega > 0` (vectorised callables), with the derivative
    :math:`f_e'(E)` used by the second-order cell quadrature of the Fermi factor.

    Attributes
    ----------
    f_e, df_e, n_b : callable
    label : str
    t_qp, t_ph : float or None
        Temperatures when the occupations are thermal (``thermal``), else None.
    """

    f_e: Func
    df_e: Func
    n_b: Func
    label: str = "user"
    t_qp: float | None = None
    t_ph: float | None = None

    @classmethod
    def thermal(cls, t_qp: float, t_ph: float | None = None) -> Occupations:
        r"""Fermi QPs at :math:`T_{qp}` and Bose phonons at :math:`T_{ph}` (default the
        same: equilibrium). ``t_ph != t_qp`` is the two-temperature non-equilibrium state
        (hot QPs in a cold lattice or the reverse)."""
        tq = float(t_qp)
        tp = tq if t_ph is None else float(t_ph)

        def df(e):
            if tq <= 0:
                return np.zeros_like(np.asarray(e, float))
            return -np.asarray(minus_dfermi_dE(np.asarray(e, float), tq))

        return cls(lambda e: fermi(np.asarray(e, float), tq), df,
                   lambda w: bose(np.asarray(w, float), tp),
                   label=f"thermal T_qp={tq:g} T_ph={tp:g}", t_qp=tq, t_ph=tp)

    @classmethod
    def from_functions(cls, f_e: Func, n_b: Func, df_e: Func | None = None,
                       step: float = 1e-4, label: str = "user") -> Occupations:
        """Arbitrary occupations; ``df_e`` defaults to a central difference with
        ``step`` (energy units)."""
        if df_e is None:
            def df_e(e):
                e = np.asarray(e, float)
                return (f_e(e + step) - f_e(np.maximum(e - step, 0.0))) \
                    / (e + step - np.maximum(e - step, 0.0))
        return cls(f_e, df_e, n_b, label=label)

    @classmethod
    def from_arrays(cls, e: np.ndarray, f: np.ndarray, omega: np.ndarray,
                    n: np.ndarray, tail_temperature: float) -> Occupations:
        r"""Tabulated occupations (e.g. a kinetic-model state): linear interpolation;
        outside the tables the thermal values at ``tail_temperature`` (QPs below the
        first energy hold the first value)."""
        e, f, omega, n = (np.asarray(x, float) for x in (e, f, omega, n))
        if np.any(np.diff(e) <= 0) or np.any(np.diff(omega) <= 0):
            raise ValueError("energy tables must be strictly increasing")
        t = float(tail_temperature)
        slope = np.diff(f) / np.diff(e)

        def fe(x):
            x = np.asarray(x, float)
            return np.where(x > e[-1], fermi(x, t), np.interp(x, e, f))

        def dfe(x):
            x = np.asarray(x, float)
            i = np.clip(np.searchsorted(e, x) - 1, 0, len(slope) - 1)
            inside = (x >= e[0]) & (x <= e[-1])
            return np.where(inside, slope[i], 0.0)

        def nb(x):
            x = np.asarray(x, float)
            return np.where(x > omega[-1], bose(x, t),
                            np.where(x < omega[0], bose(x, t), np.interp(x, omega, n)))

        return cls(fe, dfe, nb, label="tabulated")

    # ---- full-axis forms used by the self-energy kernel --------------------------------
    def f_minus(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r""":math:`\bar f(-x) = 1 - f_e(x)` on the full axis (branch symmetry) and its
        slope :math:`d/dx`; the factor multiplying :math:`\rho(x)` at :math:`x =
        \epsilon - \Omega` in the Fermi part of Eqs. 180-181."""
        x = np.asarray(x, float)
        ax = np.abs(x)
        fe = np.asarray(self.f_e(ax), float)
        dfe = np.asarray(self.df_e(ax), float)
        val = np.where(x >= 0, 1.0 - fe, fe)
        return val, -dfe  # d/dx: -f'(x) for x > 0; d/dx f(-x) = -f'(|x|) for x < 0

    def bose_full(self, omega: np.ndarray) -> np.ndarray:
        r""":math:`n_b(\Omega)` for :math:`\Omega \ne 0` with :math:`n_b(-\Omega) =
        -1 - n_b(\Omega)` (the value at 0 is not used)."""
        om = np.asarray(omega, float)
        a = np.where(om != 0, np.abs(om), 1.0)
        nb = np.asarray(self.n_b(a), float)
        return np.where(om > 0, nb, np.where(om < 0, -1.0 - nb, 0.0))

    def excess_pairs(self, e: np.ndarray, t_ref: float) -> np.ndarray:
        r""":math:`f_e(E) - f_T(E)`: the change of :math:`1 - 2f` against a thermal
        reference (used by the Coulomb term)."""
        e = np.asarray(e, float)
        return np.asarray(self.f_e(e), float) - fermi(e, t_ref)

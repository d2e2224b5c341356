r"""The gap edge of a cell from its own occupations by the real-axis Eliashberg equations.

Issue 16 §2 ("the Eliashberg self-energies with the local occupations"): the QP occupation
:math:`f_e(E)` of a cell (its angle average, tabulated on the energy bins of a kinetic
model) and its phonon occupation :math:`n_b(\Omega)` (tabulated, or thermal) enter the
imaginary parts of notes Eqs. 180-181 through an :class:`~.occupations.Occupations`, and
:func:`~.solve.solve_real_axis` makes :math:`\Delta(\epsilon)=\phi/Z` self-consistent for
them. The cell's gap edge is :math:`\Delta_0`, the first root of
:math:`\epsilon = \operatorname{Re}\Delta(\epsilon)`
(:attr:`~.solution.EliashbergSolution.delta0`). The Coulomb term's reference
temperature is the bath's (:class:`~.selfenergy.SelfEnergyKernel`): a thermal :math:`f_e`,
:math:`n_b` at that temperature reproduce :func:`~.solve.solve_eliashberg` at it.

The tabulated :math:`f_e` between the bin nodes :math:`E_j`: linear in
:math:`\ln f_e` (exact for a Boltzmann tail, positive), continued log-linearly below the
first node (the gap edge lies in the first bins) and thermal at ``tail_temperature``
above the last; its slope (the second-order cell quadrature of the kernel) is that of the
same interpolant. :math:`n_b` is linear between the phonon nodes and thermal outside.
Occupations :math:`\le 0` (an undershoot of a kinetic step) are floored at
:data:`F_FLOOR` for the logarithm.

Cost: one solve from the BCS guess takes about 20 sweeps (0.1 s each at
:math:`n = 2^{14}`); :class:`CellGaps` starts every cell from its own previous
:math:`\Delta(\epsilon)` (``delta_guess``) and returns the previous edge without solving
when the cell's tables have not changed beyond ``cache_tol`` (or equal those of a cell
solved last), and the imaginary-axis Coulomb kernels are kept between solves
(:func:`~.selfenergy.coulomb_operator`).

Energies in :math:`k_BT_c` of the material.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..spectra.thermal_occupations import bose, fermi
from .occupations import Occupations
from .params import EliashbergParams
from .solve import solve_real_axis

__all__ = ["F_FLOOR", "CellGaps"]

#: occupations below this are floored for the log-linear interpolation
F_FLOOR = 1e-300


def _log_linear(e: np.ndarray, f: np.ndarray, tail: float):
    """``f_e`` and its slope from the table (module docstring)."""
    lf = np.log(np.maximum(f, F_FLOOR))
    slope = np.diff(lf) / np.diff(e)
    s = np.concatenate([slope[:1], slope, slope[-1:]])  # below first / above last node

    def seg(x):
        return np.searchsorted(e, x, side="right")  # 0: below the first node

    def fe(x):
        x = np.asarray(x, float)
        i = seg(x)
        j = np.clip(i - 1, 0, len(e) - 1)
        val = np.exp(lf[j] + s[i] * (x - e[j]))
        return np.where(x > e[-1], fermi(x, tail), val)

    def dfe(x):
        x = np.asarray(x, float)
        i = seg(x)
        inside = x <= e[-1]
        return np.where(inside, s[i] * fe(x), -fermi(x, tail) * (1 - fermi(x, tail))
                        / tail if tail > 0 else 0.0)

    return fe, dfe


@dataclass
class _Last:
    """The tables and the result of a cell's last solve."""

    tables: tuple
    edge: float
    gap: np.ndarray
    solution: object = None


class CellGaps:
    r"""Gap edges of cells of one material from their own occupations (module docstring).

    Parameters
    ----------
    params : EliashbergParams
        The material's :math:`\alpha^2F`, :math:`\mu^*`, :math:`\omega_c`.
    reference_temperature : float
        :math:`T/T_c` of the Coulomb term's reference and of the tails (the bath).
    n, emax : int, float, optional
        Real-axis grid (default :math:`2^{14}` nodes to :math:`1.2\,\omega_c`, the grid of
        ``tests/test_eliashberg_noneq.py``: :math:`h = 0.13` for Al).
    tol : float
        Fixed-point tolerance on :math:`\max|\Delta_{new}-\Delta|` (:math:`k_BT_c`).
    cache_tol : float
        A cell whose tables differ from those of its last solve (or of the last solve of
        any cell) by at most this (absolute, in :math:`f` and :math:`n`) gets that edge
        without a solve; 0: only identical tables.
    keep_solutions : bool
        Keep every cell's last whole solution (:meth:`solution`: its DOS, anomalous DOS
        and renormalisation for the kinetics), about 1.1 MiB per cell at the default grid.
    """

    def __init__(self, params: EliashbergParams, reference_temperature: float, *,
                 n: int = 2**14, emax: float | None = None, tol: float = 1e-9,
                 cache_tol: float = 0.0, keep_solutions: bool = False) -> None:
        self.params, self.t_ref = params, float(reference_temperature)
        self.keep_solutions = bool(keep_solutions)
        self.n = int(n)
        self.emax = 1.2 * params.omega_c if emax is None else float(emax)
        self.tol, self.cache_tol = float(tol), float(cache_tol)
        self._last: dict = {}
        self._recent: _Last | None = None
        #: solves done, sweeps done, edges returned from the cache
        self.solves = self.sweeps = self.reused = 0

    def occupations(self, e: np.ndarray, f: np.ndarray, omega: np.ndarray | None = None,
                    n_b: np.ndarray | None = None) -> Occupations:
        """The :class:`Occupations` of a cell's tables (``omega``/``n_b`` None: thermal
        phonons at the reference temperature)."""
        e, f = np.asarray(e, float), np.asarray(f, float)
        if len(e) < 2 or np.any(np.diff(e) <= 0):
            raise ValueError("the QP table needs at least two increasing energies")
        fe, dfe = _log_linear(e, f, self.t_ref)
        t = self.t_ref
        if omega is None:
            def nb(w):
                return bose(np.asarray(w, float), t)
        else:
            om, nn = np.asarray(omega, float), np.asarray(n_b, float)

            def nb(w):
                w = np.asarray(w, float)
                out = np.interp(w, om, nn)
                return np.where((w < om[0]) | (w > om[-1]), bose(w, t), out)
        return Occupations(fe, dfe, nb, label="cell tables")

    def _match(self, last: _Last | None, tables: tuple) -> bool:
        if last is None or len(last.tables) != len(tables):
            return False
        for a, b in zip(last.tables, tables, strict=True):
            if (a is None) != (b is None):
                return False
            if a is not None and (a.shape != b.shape or np.any(np.abs(a - b) > self.cache_tol)):
                return False
        return True

    def edge(self, key, e: np.ndarray, f: np.ndarray, omega: np.ndarray | None = None,
             n_b: np.ndarray | None = None) -> float:
        r"""Gap edge :math:`\Delta_0` (:math:`k_BT_c`) of cell ``key`` with QP occupations
        ``f`` at energies ``e`` and phonon occupations ``n_b`` at ``omega`` (None:
        thermal), warm-started from the cell's previous solution.

        Raises
        ------
        EliashbergConvergenceError
            If the fixed point does not converge.
        """
        tables = tuple(None if a is None else np.array(a, dtype=float)
                       for a in (e, f, omega, n_b))
        for last in (self._last.get(key), self._recent):
            if self._match(last, tables):
                self._last[key] = last
                self.reused += 1
                return last.edge
        prev = self._last.get(key) or self._recent
        sol = solve_real_axis(self.params, self.t_ref, n=self.n, emax=self.emax,
                              tol=self.tol, delta_guess=None if prev is None else prev.gap,
                              occupations=self.occupations(*tables))
        self.solves += 1
        self.sweeps += sol.nit
        rec = _Last(tables, sol.delta0, sol.gap, sol if self.keep_solutions else None)
        self._last[key] = self._recent = rec
        return rec.edge

    def solution(self, key):
        """The :class:`~.solution.EliashbergSolution` of cell ``key``'s last edge (None:
        no solve yet, or ``keep_solutions`` off)."""
        last = self._last.get(key)
        return None if last is None else last.solution

r"""Result of a real-axis Eliashberg solve and its interface to kinetic solvers.

:class:`EliashbergSolution` holds :math:`Z(\epsilon)`, :math:`\phi(\epsilon)` on
:math:`\epsilon_j=jh\ge0` (energies in :math:`k_BT_c` of the material) and derived
quantities:

* :math:`\Delta=\phi/Z`; DOS :math:`\rho=\operatorname{Re}[\epsilon/\sqrt{\epsilon^2-
  \Delta^2}]` and anomalous DOS :math:`\varphi=\operatorname{Re}[\Delta/\sqrt{\epsilon^2-
  \Delta^2}]` (Eqs. 166-167, 179; branch in :mod:`fvqp.eliashberg.spectral`);
* the factor multiplying :math:`\partial_t f` in Eq. 178,
  :math:`m(\epsilon) = Z_1+\epsilon\partial_\epsilon Z_1-(\varphi/\rho)\,
  \partial_\epsilon\phi_1 = \partial_\epsilon\operatorname{Re}(\epsilon Z)
  - (\varphi/\rho)\partial_\epsilon\operatorname{Re}\phi`;
  where :math:`\rho=0` (inside the gap) :math:`\varphi/\rho` is replaced by its limit
  for a real gap, :math:`\operatorname{Re}\Delta/\epsilon` (the ratio is
  :math:`\operatorname{Re}[\Delta/s]/\operatorname{Re}[\epsilon/s]`, which equals
  :math:`\Delta/\epsilon` exactly for real :math:`\Delta`);
* the gap edge :math:`\Delta_0`: the first root of :math:`\epsilon=\operatorname{Re}
  \Delta(\epsilon)`.

:meth:`EliashbergSolution.on_grid` is the contract with the Boltzmann solvers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .params import EliashbergParams
from .spectral import cell_averages, point_values

__all__ = ["EliashbergSolution", "EliashbergConvergenceError"]


class EliashbergConvergenceError(RuntimeError):
    """Fixed-point iteration did not converge; ``.solution`` holds the last iterate."""

    def __init__(self, message: str, solution: EliashbergSolution) -> None:
        super().__init__(message)
        self.solution = solution


@dataclass
class EliashbergSolution:
    r"""Real-axis Eliashberg solution (energies in :math:`k_BT_c` of the material).

    Attributes
    ----------
    e : numpy.ndarray
        Energies :math:`\epsilon_j = jh \ge 0`.
    z, phi : numpy.ndarray
        Complex :math:`Z(\epsilon)` and :math:`\phi(\epsilon)` (retarded).
    ez : numpy.ndarray
        Complex :math:`\epsilon Z(\epsilon)` (regular at :math:`\epsilon=0`).
    rho_cell, ados_cell : numpy.ndarray
        Cell averages of :math:`\rho`, :math:`\varphi` used in the last sweep.
    params : EliashbergParams
    temperature : float
    success : bool
    status : int
        0 converged, 1 iteration limit, 2 non-finite iterate.
    message : str
    nit : int
        Number of Eliashberg sweeps.
    residual : float
        Final max-norm of the gap update, :math:`\max|\Delta_{new}-\Delta|`.
    phi_coulomb : float
        The Coulomb part :math:`\phi_C` of :math:`\phi` (the rest is the phonon part,
        whose real and imaginary parts are a Kramers-Kronig pair).
    """

    e: np.ndarray
    z: np.ndarray
    phi: np.ndarray
    ez: np.ndarray
    rho_cell: np.ndarray
    ados_cell: np.ndarray
    params: EliashbergParams
    temperature: float
    success: bool = True
    status: int = 0
    message: str = ""
    nit: int = 0
    residual: float = 0.0
    phi_coulomb: float = 0.0
    history: list = field(default_factory=list, repr=False)

    # ---- derived fields ---------------------------------------------------------------
    @property
    def h(self) -> float:
        return float(self.e[1] - self.e[0])

    @property
    def gap(self) -> np.ndarray:
        r"""Complex :math:`\Delta(\epsilon)=\phi/Z`."""
        d = self.phi / self.z
        return d

    @property
    def rho(self) -> np.ndarray:
        """Point values of the DOS (inf exactly at an edge; prefer :meth:`on_grid`)."""
        return point_values(self.e, self.gap)[0]

    @property
    def ados(self) -> np.ndarray:
        r"""Point values of the anomalous DOS :math:`\varphi`."""
        return point_values(self.e, self.gap)[1]

    def _ratio(self, e: np.ndarray, delta: np.ndarray, rho: np.ndarray, ados: np.ndarray):
        with np.errstate(divide="ignore", invalid="ignore"):
            inside = np.real(delta) / np.where(e > 0, e, np.inf)
            return np.where(rho > 1e-12, ados / np.where(rho > 1e-12, rho, 1.0), inside)

    @property
    def renorm(self) -> np.ndarray:
        r""":math:`m(\epsilon)` of Eq. 178 on the solution grid (central differences)."""
        d_ez = np.gradient(self.ez.real, self.h)
        d_phi = np.gradient(self.phi.real, self.h)
        rho, ados = self.rho_cell, self.ados_cell
        return d_ez - self._ratio(self.e, self.gap, rho, ados) * d_phi

    @property
    def z0(self) -> float:
        r"""The zero-energy renormalisation :math:`Z_1(0) = 1 + \lambda` that fvqp's
        normalisations already hold: Kaplan's :math:`\tau_0` (the time unit of the
        collision operators, :math:`1/\tau_0 = 2\pi b(k_BT_c)^3/\hbar Z_1(0)`, Kaplan et
        al., Phys. Rev. B 14, 4854 (1976), Eq. 8) and the materials' :math:`N_0` (from the
        Sommerfeld :math:`\gamma\propto N_0^{band}(1 + \lambda)`). The states per
        energy of Eq. 178 in those units are :math:`\rho m/Z_1(0)` (1 in the normal
        state at energies far below the phonons)."""
        return 1.0 + float(self.params.lam)

    @property
    def delta0(self) -> float:
        r"""Gap edge :math:`\Delta_0`: first root of ε = Re Δ(ε) (linear interpolation)."""
        g = self.e - self.gap.real
        idx = np.nonzero((g[:-1] <= 0) & (g[1:] > 0))[0]
        if idx.size == 0:
            return 0.0
        i = idx[0]
        return float(self.e[i] - g[i] * self.h / (g[i + 1] - g[i]))

    @property
    def delta0_mev(self) -> float | None:
        unit = self.params.energy_unit_mev
        return None if unit is None else self.delta0 * unit

    # ---- contract with the kinetic solvers ----------------------------------------------
    def on_grid(self, e: np.ndarray, edges: np.ndarray | None = None) -> dict[str, np.ndarray]:
        r"""Eliashberg functions at quasiparticle energies ``e`` (units :math:`k_BT_c`).

        Parameters
        ----------
        e : numpy.ndarray
            Energies :math:`\ge 0` (inside the solved range).
        edges : numpy.ndarray, optional
            Cell edges (``len(e) + 1``, increasing). If given, ``rho`` and ``ados`` are
            exact cell averages with :math:`\Delta` frozen at ``e`` (integrable edge
            singularity handled; sums ``rho * widths`` are state counts) and ``renorm`` is
            the cell average of :math:`m` (differences of :math:`\operatorname{Re}\epsilon Z`
            and :math:`\operatorname{Re}\phi` across the cell); otherwise point values.

        Returns
        -------
        dict
            ``"rho"`` (DOS :math:`\rho`), ``"ados"`` (:math:`\varphi`), ``"renorm"``
            (:math:`m`, Eq. 178), ``"gap"`` (:math:`\operatorname{Re}\Delta`) as float
            arrays shaped like ``e``; extra complex ``"gap_complex"``, ``"Z"``, ``"phi"``.
        """
        e = np.asarray(e, dtype=float)
        if np.any(e < 0) or np.any(e > self.e[-1]):
            raise ValueError(
                f"on_grid: energies must lie in [0, {self.e[-1]:g}] (the solved range)"
            )
        interp = lambda y: np.interp(e, self.e, y.real) + 1j * np.interp(e, self.e, y.imag)  # noqa: E731
        phi = interp(self.phi)
        delta = interp(self.gap)
        z = interp(self.z)
        if edges is None:
            rho, ados = point_values(e, delta)
            d_ez = np.interp(e, self.e, np.gradient(self.ez.real, self.h))
            d_phi = np.interp(e, self.e, np.gradient(self.phi.real, self.h))
        else:
            edges = np.asarray(edges, dtype=float)
            if edges.shape != (e.size + 1,) or np.any(np.diff(edges) <= 0):
                raise ValueError("on_grid: edges must be increasing with len(e) + 1 entries")
            lo, hi = np.clip(edges[:-1], 0, self.e[-1]), np.clip(edges[1:], 0, self.e[-1])
            rho, ados = cell_averages(lo, hi, delta)
            width = hi - lo
            def slope(y: np.ndarray) -> np.ndarray:
                return (np.interp(hi, self.e, y) - np.interp(lo, self.e, y)) / width

            d_ez, d_phi = slope(self.ez.real), slope(self.phi.real)
        renorm = d_ez - self._ratio(e, delta, rho, ados) * d_phi
        return {
            "rho": rho,
            "ados": ados,
            "renorm": renorm,
            "gap": delta.real,
            "gap_complex": delta,
            "Z": z,
            "phi": phi,
        }

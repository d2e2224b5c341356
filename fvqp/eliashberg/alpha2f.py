r"""Eliashberg spectral functions :math:`\alpha^2F(\Omega)`.

An :class:`Alpha2F` is a tabulated, piecewise-linear :math:`\alpha^2F(\Omega)` on
:math:`\Omega \ge 0` (zero outside the table), with energies in the unit chosen by the
caller (fvqp uses :math:`k_BT_c` of the material, see ``docs/units.md``).  Constructors:

* :meth:`Alpha2F.debye` -- the Debye-like spectrum of the notes,
  :math:`\alpha^2F(\Omega) = \lambda(\Omega/\Omega_D)^2` for :math:`\Omega<\Omega_D`
  (zero above), normalised so that :math:`\lambda = 2\int_0^\infty \alpha^2F(\Omega)
  \,d\Omega/\Omega` (Allen & Mitrović 1983, Eq. 2.29);
* :meth:`Alpha2F.from_table` / :meth:`Alpha2F.from_file` -- measured/computed tables,
  optionally rescaled to a prescribed :math:`\lambda`.

Moments used by the solvers: :attr:`lam` (:math:`\lambda`), :attr:`omega_log`
(:math:`\omega_{\ln} = \exp[(2/\lambda)\int \alpha^2F\ln\Omega\,d\Omega/\Omega]`),
:meth:`matsubara_lambda` (:math:`\lambda(\nu) = 2\int \Omega\alpha^2F/(\Omega^2+\nu^2)`)
and :meth:`cell_average` (cell averages on a uniform grid, used by the real-axis
convolutions of Eqs. 182-183 so that the Debye cut-off jump is integrated exactly).

References
----------
.. [1] P. B. Allen and B. Mitrović, "Theory of superconducting Tc", Solid State Physics
   37, 1-92 (1983).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["Alpha2F"]


def _segment_integrals(x: np.ndarray, y: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact integrals of the piecewise-linear interpolant (x, y) over [a_i, b_i] (0 outside)."""
    # cumulative integral at the nodes; piecewise quadratic in between
    cum = np.concatenate([[0.0], np.cumsum(0.5 * (y[1:] + y[:-1]) * np.diff(x))])

    def prim(t: np.ndarray) -> np.ndarray:
        t = np.clip(t, x[0], x[-1])
        k = np.clip(np.searchsorted(x, t, side="right") - 1, 0, len(x) - 2)
        dx = t - x[k]
        width = x[k + 1] - x[k]
        slope = np.divide(y[k + 1] - y[k], width, out=np.zeros_like(t), where=width > 0)
        return cum[k] + y[k] * dx + 0.5 * slope * dx**2

    return prim(np.asarray(b, float)) - prim(np.asarray(a, float))


@dataclass(frozen=True)
class Alpha2F:
    r"""Piecewise-linear :math:`\alpha^2F(\Omega)` table (zero outside ``omega``).

    Parameters
    ----------
    omega : numpy.ndarray
        Strictly increasing phonon energies, ``omega[0] >= 0``.
    values : numpy.ndarray
        :math:`\alpha^2F` at ``omega`` (dimensionless, >= 0). A jump (e.g. the Debye
        cut-off) is represented by two equal abscissae.
    label : str
        Free text (provenance) carried into outputs.
    """

    omega: np.ndarray
    values: np.ndarray
    label: str = ""

    def __post_init__(self) -> None:
        om = np.asarray(self.omega, dtype=float)
        va = np.asarray(self.values, dtype=float)
        if om.ndim != 1 or om.shape != va.shape or om.size < 2:
            raise ValueError("Alpha2F: omega and values must be 1-D arrays of equal length >= 2")
        if om[0] < 0 or np.any(np.diff(om) < 0):
            raise ValueError("Alpha2F: omega must be non-negative and non-decreasing")
        if np.any(va < 0) or not np.all(np.isfinite(va)):
            raise ValueError("Alpha2F: values must be finite and >= 0")
        if va[0] != 0.0 and om[0] == 0.0:
            raise ValueError("Alpha2F: alpha2F(0) must vanish (lambda would diverge)")
        object.__setattr__(self, "omega", om)
        object.__setattr__(self, "values", va)

    # ---- constructors ----------------------------------------------------------------
    @classmethod
    def debye(cls, lam: float, omega_d: float, n: int = 4001) -> Alpha2F:
        r"""Debye-like spectrum :math:`\lambda(\Omega/\Omega_D)^2\,\theta(\Omega_D-\Omega)`.

        With :math:`c=\lambda/\Omega_D^2` the normalisation :math:`2\int c\Omega\,d\Omega
        = \lambda` holds exactly; the table is dense (``n`` nodes) so that linear
        interpolation of :math:`\Omega^2` is accurate to :math:`(\Omega_D/n)^2`.
        """
        if lam <= 0 or omega_d <= 0:
            raise ValueError("Alpha2F.debye: lam and omega_d must be positive")
        om = np.linspace(0.0, omega_d, n)
        va = lam * (om / omega_d) ** 2
        # explicit jump to zero at the cut-off
        om = np.append(om, omega_d)
        va = np.append(va, 0.0)
        return cls(om, va, label=f"Debye lambda={lam:g} Omega_D={omega_d:g}")

    @classmethod
    def from_table(
        cls, omega: np.ndarray, values: np.ndarray, lam: float | None = None, label: str = ""
    ) -> Alpha2F:
        r"""Tabulated spectrum, optionally rescaled to :math:`2\int\alpha^2F/\Omega=\lambda`."""
        om = np.asarray(omega, dtype=float)
        va = np.asarray(values, dtype=float)
        if om[0] > 0:  # extend to Omega = 0 (alpha2F -> 0 at small Omega)
            om = np.concatenate([[0.0], om])
            va = np.concatenate([[0.0], va])
        out = cls(om, va, label=label or "table")
        if lam is not None:
            out = cls(om, va * (lam / out.lam), label=out.label + f" rescaled to lambda={lam:g}")
        return out

    @classmethod
    def from_file(
        cls, path: str | Path, scale: float = 1.0, lam: float | None = None
    ) -> Alpha2F:
        """Two-column text file (Omega, alpha2F); Omega multiplied by ``scale`` on reading."""
        data = np.loadtxt(path, comments="#", ndmin=2)
        if data.shape[1] < 2:
            raise ValueError(f"{path}: need two columns (Omega, alpha2F)")
        return cls.from_table(data[:, 0] * scale, data[:, 1], lam=lam, label=str(path))

    # ---- moments ----------------------------------------------------------------------
    @property
    def omega_max(self) -> float:
        """Largest phonon energy with non-zero weight."""
        nz = np.nonzero(self.values > 0)[0]
        return float(self.omega[min(nz[-1] + 1, self.omega.size - 1)]) if nz.size else 0.0

    def _weighted(self, g: np.ndarray) -> float:
        """Trapezoid integral of alpha2F * g on the table (g evaluated at the nodes)."""
        f = self.values * g
        return float(np.sum(0.5 * (f[1:] + f[:-1]) * np.diff(self.omega)))

    @property
    def lam(self) -> float:
        r""":math:`\lambda = 2\int\alpha^2F(\Omega)\,d\Omega/\Omega` (exact for linear pieces)."""
        om, va = self.omega, self.values
        total = 0.0
        for k in range(om.size - 1):
            a, b, ya, yb = om[k], om[k + 1], va[k], va[k + 1]
            if b <= a:
                continue
            s = (yb - ya) / (b - a)  # y = ya + s (x - a)  ->  int y/x = (ya - s a) ln(b/a) + s(b-a)
            c0 = ya - s * a
            total += s * (b - a) + (c0 * np.log(b / a) if a > 0 else 0.0)
        return 2.0 * total

    @property
    def omega_log(self) -> float:
        r""":math:`\omega_{\ln}=\exp[(2/\lambda)\int\alpha^2F\ln\Omega\,d\Omega/\Omega]`."""
        om = np.where(self.omega > 0, self.omega, 1.0)
        g = np.where(self.omega > 0, np.log(om) / om, 0.0)
        return float(np.exp(2.0 * self._weighted(g) / self.lam))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Linear interpolation, zero outside the table."""
        return np.interp(x, self.omega, self.values, left=0.0, right=0.0)

    def matsubara_lambda(self, nu: np.ndarray) -> np.ndarray:
        r""":math:`\lambda(\nu)=2\int_0^\infty\Omega\,\alpha^2F(\Omega)/(\Omega^2+\nu^2)\,d\Omega`.

        Exact for the piecewise-linear table: on a segment :math:`y=c_0+s\Omega`,
        :math:`\int\Omega y/(\Omega^2+\nu^2) = \tfrac{c_0}{2}\ln(\Omega^2+\nu^2)
        + s(\Omega-\nu\arctan(\Omega/\nu))`. Used by the Matsubara-axis solver
        (:mod:`fvqp.eliashberg.matsubara`); :math:`\lambda(0)=\lambda`.
        """
        nu = np.abs(np.atleast_1d(np.asarray(nu, dtype=float)))[:, None]
        om, va = self.omega, self.values
        keep = np.diff(om) > 0
        a, b = om[:-1][keep], om[1:][keep]
        ya, yb = va[:-1][keep], va[1:][keep]
        s = (yb - ya) / (b - a)
        c0 = ya - s * a

        def prim(x: np.ndarray) -> np.ndarray:
            with np.errstate(divide="ignore", invalid="ignore"):
                log_part = np.where(c0 != 0.0, 0.5 * c0 * np.log(x**2 + nu**2), 0.0)
                at = np.where(nu > 0, nu * np.arctan(x / np.where(nu > 0, nu, 1.0)), 0.0)
            return log_part + s * (x - at)

        return 2.0 * (prim(b) - prim(a)).sum(axis=1)

    def cell_average(self, centers: np.ndarray, h: float) -> np.ndarray:
        r"""Averages of :math:`\alpha^2F` over cells :math:`[c-h/2, c+h/2]\cap[0,\infty)`."""
        c = np.asarray(centers, dtype=float)
        a = np.maximum(c - 0.5 * h, 0.0)
        b = c + 0.5 * h
        return _segment_integrals(self.omega, self.values, a, b) / (b - a)

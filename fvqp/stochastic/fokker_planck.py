"""Fokker-Planck equations (S6) and (S11) for the cluster size, solved with FiPy.

The continuum limit of the reduced master equation (S5) (Meyer et al. 2020, SM Sec. II),

.. math::
    \\partial_t P = \\partial_N\\left[D\\,\\partial_N P + u(N) P\\right], \\qquad
    D = \\frac{AV}{2},\\quad
    u(N) = \\frac{AV}{2}\\left(-\\frac{2}{N} + \\frac{2\\bar\\Gamma_t N^2}{AV^2}
           + \\frac{4N}{AV\\tau_s}\\right),

is Eq. (S6) after expanding :math:`N^2\\partial_N(P/N^2) = \\partial_N P - 2P/N`; the
classical (Ising) Eq. (S11) drops the :math:`-2/N` term (its prefactor :math:`AV/2` is
restored so that times are physical).  Both are discretised by finite volumes on
``0 <= N <= L`` with no-flux boundaries, central diffusion and exponential
(Scharfetter-Gummel) convection, and stepped with implicit Euler, which conserves the
total probability exactly.  The stationary solution is obtained by implicit steps with a
time step far beyond the slowest relaxation time (the transient term keeps the singular
stationary operator invertible and fixes the normalisation).
"""

from __future__ import annotations

import numpy as np
from fipy import (
    CellVariable,
    DiffusionTerm,
    ExponentialConvectionTerm,
    FaceVariable,
    Grid1D,
    TransientTerm,
)
from fipy.solvers.scipy import LinearLUSolver

from fvqp.stochastic.spin_clusters import ClusterParams, n0_reduced

__all__ = ["drift", "FokkerPlanck1D"]


def drift(params: ClusterParams, N: np.ndarray, ising: bool = False) -> np.ndarray:
    """Drift velocity ``u(N)`` of Eq. (S6) (or S11) in ``flux = -(D dP/dN + u P)``.

    Parameters
    ----------
    params : ClusterParams
        Model parameters.
    N : array_like
        Particle numbers (``N > 0`` unless ``ising``).
    ising : bool
        Drop the entropic :math:`-2/N` term (Eq. S11).

    Returns
    -------
    numpy.ndarray
    """
    p = params
    N = np.asarray(N, dtype=float)
    u = p.gamma_t / p.V * N**2 + 2.0 * p.inv_tau_s * N
    if not ising:
        with np.errstate(divide="ignore"):
            u = u - p.injection / N
    return u


class FokkerPlanck1D:
    """Finite-volume FiPy model of Eq. (S6) or (S11) on ``[0, length]``.

    Parameters
    ----------
    params : ClusterParams
        Model parameters.
    nx : int
        Number of cells.
    length : float, optional
        Domain length in ``N`` (default ``5 N0`` with ``N0`` from Eq. 4).
    ising : bool
        Classical variant (S11).
    """

    def __init__(self, params: ClusterParams, nx: int, length: float | None = None,
                 ising: bool = False) -> None:
        self.params = params
        self.ising = ising
        self.length = 5.0 * n0_reduced(params) if length is None else float(length)
        self.mesh = Grid1D(nx=nx, dx=self.length / nx)
        self.P = CellVariable(mesh=self.mesh, value=0.0, name="P")
        xf = np.asarray(self.mesh.faceCenters[0])
        u = drift(params, xf, ising)
        u[~np.isfinite(u)] = 0.0  # the N = 0 face carries no flux
        coeff = FaceVariable(mesh=self.mesh, rank=1, value=-u[None, :])
        D = 0.5 * params.injection
        self.eq = TransientTerm() + ExponentialConvectionTerm(coeff=coeff) == DiffusionTerm(D)
        self.solver = LinearLUSolver(tolerance=1e-14)

    @property
    def x(self) -> np.ndarray:
        """Cell centres in ``N``."""
        return np.asarray(self.mesh.cellCenters[0])

    @property
    def dx(self) -> float:
        """Cell width."""
        return self.length / self.mesh.numberOfCells

    def set_initial(self, values: np.ndarray) -> None:
        """Set and normalise the initial density on the cell centres."""
        values = np.asarray(values, dtype=float)
        self.P.setValue(values / (values.sum() * self.dx))

    def step(self, dt: float) -> None:
        """Advance one implicit-Euler step."""
        self.eq.solve(var=self.P, dt=dt, solver=self.solver)

    def evolve(self, times: np.ndarray, dt: float) -> np.ndarray:
        """Densities at the requested times (steps shortened to land on each time).

        Parameters
        ----------
        times : array_like
            Increasing output times.
        dt : float
            Maximal time step.

        Returns
        -------
        numpy.ndarray
            Shape ``(len(times), nx)``.
        """
        out = []
        t = 0.0
        for target in np.asarray(times, dtype=float):
            n = int(np.ceil((target - t) / dt - 1e-9))
            for _ in range(n):
                self.step((target - t) / n if n else 0.0)
            t = target
            out.append(np.array(self.P.value))
        return np.array(out)

    def stationary(self, n_steps: int = 3) -> np.ndarray:
        """Stationary density by implicit steps with a very large time step.

        Parameters
        ----------
        n_steps : int
            Number of steps with ``dt = 1e8 * N0**2 / (A V)``.

        Returns
        -------
        numpy.ndarray
            Normalised density on the cell centres.
        """
        if not np.any(self.P.value):
            self.set_initial(np.ones(self.mesh.numberOfCells))
        tf = n0_reduced(self.params) ** 2 / self.params.injection
        for _ in range(n_steps):
            self.step(1e8 * tf)
        val = np.clip(np.array(self.P.value), 0.0, None)
        return val / (val.sum() * self.dx)

    def moments(self, density: np.ndarray, orders: tuple = (1, 2)) -> np.ndarray:
        """Raw moments of a density on the cell centres (midpoint rule)."""
        density = np.asarray(density)
        return np.array([np.sum(density * self.x**k) * self.dx for k in orders])

"""Method dispatch for the discrete collision operator (notes Eqs. 32-40)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .direct import collision_terms_direct
from .fft import collision_terms_fft
from .grid import EnergyGrid
from .kernels import PROCESSES, CollisionParams, CollisionTerms

__all__ = ["METHODS", "collision_rhs", "collision_terms"]

#: Implementations of the same discrete operator.
METHODS: tuple[str, ...] = ("fft", "direct")


def collision_terms(
    f: np.ndarray,
    n: np.ndarray,
    grid: EnergyGrid,
    params: CollisionParams,
    processes: Sequence[str] = PROCESSES,
    method: str = "fft",
    tilt: float = 0.0,
) -> CollisionTerms:
    """Gain/loss terms of the QP and phonon collision integrals.

    Parameters
    ----------
    f : ndarray, shape (grid.n,)
        QP occupation at :math:`E_i`.
    n : ndarray, shape (grid.n_ph,)
        Phonon occupation at :math:`\\Omega_k = k h`.
    grid : EnergyGrid
    params : CollisionParams
    processes : sequence of str
        Subset of ``("scattering", "pair")``.
    method : {"fft", "direct"}
        O(N log N) FFT correlations or the O(N^2) reference.
    tilt : float, optional
        FFT round-off control (``~1/T`` for thermal-like tails; see
        :mod:`fvqp.collisions.fft`); ignored by ``direct``.
    """
    if method == "fft":
        return collision_terms_fft(f, n, grid, params, processes, tilt=tilt)
    if method == "direct":
        return collision_terms_direct(f, n, grid, params, processes)
    raise ValueError(f"unknown method {method!r}; choose from {METHODS}")


def collision_rhs(*args, **kwargs) -> tuple[np.ndarray, np.ndarray]:
    """Right-hand sides ``(df/dt, dn/dt) = (S_qp, S_ph)`` in units of 1/tau_0.

    Arguments (and their defaults) as for :func:`collision_terms`, which this forwards to.
    """
    terms = collision_terms(*args, **kwargs)
    return terms.qp, terms.ph

r"""The diagonal of the 0D kinetics' exact Jacobian in :math:`O(N\log N)`, for preconditioning.

The QP diagonal is the collision operator's (:func:`fvqp.collisions.jacobian.qp_diagonal`:
the outer factors' derivatives from one FFT evaluation of the rates, plus each product's
derivative at the one partner index equal to the row, generated from the process table
like the dense blocks), plus the drives'. The phonon diagonal is exact from two
residuals: the phonon rows are affine in :math:`n_k` and independent of the other
:math:`n_l`, so :math:`d_k = \dot n_k(f, n + 1) - \dot n_k(f, n)` (escape included).
Tested against the diagonal of the dense Jacobian.
"""

from __future__ import annotations

import numpy as np

from ...collisions.jacobian import qp_diagonal
from .model import Kinetics0D

__all__ = ["jacobian_diagonal"]


def jacobian_diagonal(model: Kinetics0D, y: np.ndarray, t: float = 0.0) -> np.ndarray:
    r"""Diagonal of :meth:`Kinetics0D.jacobian` at ``y`` without forming it (module
    docstring): QPs by FFT products, phonons from :math:`\dot n(f, n+1) - \dot n(f, n)`,
    drives from :meth:`~fvqp.models.kinetics0d.drives.Drive.jacobian_qp_diagonal`."""
    f, n = model.split(np.asarray(y, dtype=float))
    dq = qp_diagonal(f, n, model.grid, model.params)
    for d in model.drives:
        if d.active(t):
            dq = dq + d.jacobian_qp_diagonal(f, n)
    nq = model.grid.n
    dn = model.rhs(model.join(f, n + 1.0), t)[nq:] - model.rhs(model.join(f, n), t)[nq:]
    return np.concatenate((dq, dn))

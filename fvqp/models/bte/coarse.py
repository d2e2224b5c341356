r"""Two-level preconditioner: block Jacobi plus an isotropic (diffusion-like) coarse
correction, for the thick diffusive limit.

One-level block Jacobi (exact LU per subdomain) leaves the errors that are smooth and
isotropic across subdomains — in the thick limit the solution obeys a diffusion equation
coupling all subdomains, and the iteration count grows with the number of subdomains
(measured: 4 and 8 blocks fail for :math:`h/\ell \gtrsim 30`). The coarse space here is
one *isotropic* value per cell, prolongation :math:`P\delta = (\delta, \dots, \delta;
\delta)` (every ordinate and the angle average), restriction :math:`R r = \sum_k w_k r_k`
(the particle balance of the cell), Galerkin operator :math:`A_c = RAP`. On the upwind
scheme :math:`A_c` is a symmetric graph Laplacian with face coefficients
:math:`v\langle\mu_+\rangle A_f w_f` plus the time/trap diagonal — exactly the leading
order of the *discrete* equations in the thick limit, where :math:`f_k` is isotropic to
:math:`O(\ell/h)`, i.e. a diffusion-synthetic correction consistent with the discretisation
(Adams & Larsen 2002, Sec. 4). Applied multiplicatively after block Jacobi,

.. math::  y = B r,\quad y \mathrel{+}= P A_c^{-1} R\,(r - A y),

with :math:`A_c^{-1}` one algebraic-multigrid V-cycle (GAMG; serial or parallel).

The coarse space is physics and is handed over as numbers (:func:`isotropic_maps`); the
PETSc objects — the Galerkin product, the GAMG coarse solve and the block Jacobi smoother
— are built by :func:`fvqp.solvers.twolevel.block_jacobi_two_level` (a
:class:`~fvqp.solvers.twolevel.TwoLevelPC`).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ...parallel.coarse import isotropic_space
from ...solvers.twolevel import block_jacobi_two_level

__all__ = ["block_jacobi_two_level", "isotropic_maps"]


def isotropic_maps(bdist, weights: np.ndarray) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    r"""Restriction R (owned cells x owned unknowns: the quadrature sum of a cell's
    ordinates, :math:`Rr = \sum_k w_k r_k`) and prolongation P (owned unknowns x owned
    cells: the cell's value on every ordinate and the angle average), rank-local
    (:func:`fvqp.parallel.coarse.isotropic_space`)."""
    return isotropic_space(bdist.cells.local.n_owned, bdist.bs - 1, weights)

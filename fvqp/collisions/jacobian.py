r"""Exact Jacobian of the discrete collision operator (dense blocks) and its JVP.

With the notation of :mod:`fvqp.collisions.direct` (``W_ij = Omega_k^2 K^-_ij``,
``k = |i-j|``; ``V_ij = r_k Omega_k^2 K^+_ij``, ``k = i+j+s`` with the grid's
``pair_offset`` ``s`` and ``pair_weight`` ``r``; ``P_ij`` the phonon factor
of the transition ``j -> i``), the derivatives are

.. math::
    \frac{\partial S^{sc}_i}{\partial f_l} &= \frac{h}{\bar\rho_i}\Big[W_{il}\big((1-f_i)P_{il}
        + f_iP_{li}\big) - \delta_{il}\sum_j W_{ij}\big(f_jP_{ij} + (1-f_j)P_{ji}\big)\Big],\\
    \frac{\partial S^{sc}_i}{\partial n_k} &= \frac{h}{\bar\rho_i}
        \sum_{j = i\pm k} W_{ij}(f_j - f_i), \\
    \frac{\partial S^{pair}_i}{\partial f_l} &= -\frac{h}{\bar\rho_i}\Big[V_{il}\big(f_i(1+n)
        + (1-f_i)n\big) + \delta_{il}\sum_j V_{ij}\big(f_j(1+n) + (1-f_j)n\big)\Big], \\
    \frac{\partial S^{pair}_i}{\partial n_k} &= -\frac{h}{\bar\rho_i}
        V_{ij}\big(f_if_j - (1-f_i)(1-f_j)\big)\big|_{j = k-m-1-i},

and analogously for the phonon rows (``dS_ph/dn`` is diagonal).  The blocks are not
written out here: they are generated from the process table
(:mod:`fvqp.collisions.processes`) by :mod:`fvqp.collisions.correlation_blocks`, as for
the spatial models, so a process added to the table is in them; the tests check them
against the complex step of the independent double sums of
:mod:`fvqp.collisions.direct`.  ``fvqp.collisions.jvp``
(:func:`fvqp.collisions.fft.jvp_fft`, generated from the same table) gives the same
linear map matrix-free in O(N log N) for Newton-Krylov solvers, and :func:`qp_diagonal`
the QP block's diagonal (the kinetics0d preconditioner).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .correlation_blocks import collision_blocks, collision_diagonal
from .correlations import selected_rates
from .grid import EnergyGrid
from .kernels import PROCESSES, CollisionParams, check_inputs, pair_layout, phonon_states

__all__ = ["JacobianBlocks", "jacobian", "qp_diagonal"]


@dataclass(frozen=True)
class JacobianBlocks:
    r"""Dense Jacobian blocks of :math:`(S_{qp}, S_{ph})` w.r.t. :math:`(f, n)`.

    Attributes
    ----------
    ff : ndarray, shape (N, N)
        :math:`\partial S_{qp}/\partial f`.
    fn : ndarray, shape (N, M)
        :math:`\partial S_{qp}/\partial n`.
    nf : ndarray, shape (M, N)
        :math:`\partial S_{ph}/\partial f`.
    nn : ndarray, shape (M, M)
        :math:`\partial S_{ph}/\partial n` (diagonal).
    """

    ff: np.ndarray
    fn: np.ndarray
    nf: np.ndarray
    nn: np.ndarray

    def matvec(self, df: np.ndarray, dn: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Apply the Jacobian to ``(df, dn)``."""
        return self.ff @ df + self.fn @ dn, self.nf @ df + self.nn @ dn

    def dense(self) -> np.ndarray:
        """Assembled ``(N + M) x (N + M)`` matrix ordered ``(f, n)``."""
        return np.block([[self.ff, self.fn], [self.nf, self.nn]])


def jacobian(
    f: np.ndarray,
    n: np.ndarray,
    grid: EnergyGrid,
    params: CollisionParams,
    processes: Sequence[str] = PROCESSES,
) -> JacobianBlocks:
    """Exact dense Jacobian of the discrete operator at ``(f, n)`` (O(N^2) memory).

    The blocks of :func:`fvqp.collisions.correlation_blocks.collision_blocks` for one
    cell, i.e. generated from the process table (:mod:`fvqp.collisions.processes`);
    the grid's layout enters as the pair offset ``m = s - 1``, the pair kernel's node
    factors (:func:`~fvqp.collisions.kernels.pair_layout`) and the phonon states
    (:func:`~fvqp.collisions.kernels.phonon_states`).

    Parameters
    ----------
    f, n : ndarray
        Linearisation point (real).
    grid, params, processes
        As for :func:`~fvqp.collisions.direct.collision_terms_direct`.
    """
    args, kw = _one_cell(f, n, grid, params, processes)
    b = collision_blocks(*args, **kw)
    return JacobianBlocks(ff=b["ff"][0], fn=b["fn"][0], nf=b["nf"][0],
                          nn=np.diag(b["nn"][0]))


def qp_diagonal(
    f: np.ndarray,
    n: np.ndarray,
    grid: EnergyGrid,
    params: CollisionParams,
    processes: Sequence[str] = PROCESSES,
) -> np.ndarray:
    r""":math:`\partial S_{qp,i}/\partial f_i`, the diagonal of :func:`jacobian`'s ``ff``
    block, in :math:`O(N\log N)` without forming it
    (:func:`fvqp.collisions.correlation_blocks.collision_diagonal`).

    Parameters
    ----------
    f, n, grid, params, processes
        As for :func:`jacobian`.
    """
    args, kw = _one_cell(f, n, grid, params, processes)
    return collision_diagonal(*args, **kw)[0]


def _one_cell(f, n, grid: EnergyGrid, params: CollisionParams, processes):
    """The 0D state as one cell of the batched operator: ``(f, n, rho, ados)`` with one
    row each, then the keywords (the grid's pair offset ``m = s - 1`` and pair weights,
    :func:`~fvqp.collisions.kernels.pair_layout`; its phonon states,
    :func:`~fvqp.collisions.kernels.phonon_states`; the selected processes' rates)."""
    procs, f, n = check_inputs(f, n, grid, processes)
    offset, pair_weight, _ = pair_layout(grid)
    return (f[None], n[None], grid.dos[None], grid.ados[None]), dict(
        h=grid.h, m=offset - 1, c_ph=params.phonon_prefactor, pair_weight=pair_weight,
        ph_states=phonon_states(grid), rates=selected_rates(procs))

r"""Global isotropic coarse correction for the coupled (collisional) Newton systems.

:class:`~fvqp.models.bte.inelastic.InelasticPC` corrects the isotropic error of every cell
with the cell's own 0D kinetic block; the isotropic coupling *between* cells — across
the subdomain interfaces on several ranks, and the energy-coupled diffusion at large
steps — is left to GMRES. Here the coarse space is the same (one isotropic value per
cell and bin, :math:`P_{iso}\delta`: every :math:`f_{jk}` and :math:`\phi_j` set to
:math:`\delta_j`; the local phonons as they are), but the coarse operator is the full
Galerkin :math:`C = RJP_{iso}` over all cells:

.. math::
    C = RLP_{iso} + \mathrm{blockdiag}_c\big(\sigma\,\mathrm{diag}(NV, \beta\Omega^2V)
        - \mathrm{diag}(\rho V, \beta\Omega^2V)\,\partial I^{iso}/\partial(\bar f, n)\big),

:math:`RLP_{iso}` the per-energy graph Laplacian of the upwind streaming (face
coefficients :math:`v\langle\mu_+\rangle A_fw_f`, :mod:`.coarse`) with traps, absorbing
walls and phonon escape, the blocks the dense 0D kinetic Jacobians of the cells — the
structure of the diffusive transport model's Jacobian, ``cells x (N + M_p)`` unknowns.
The model assembles it (owned rows, global columns) and hands it with :math:`R` and
:math:`P_{iso}` to :class:`fvqp.solvers.twolevel.CoarseCorrection`, which solves it
exactly (LU; on several ranks the redundant LU of the whole coarse matrix on every rank,
``-<prefix>icoarse_*`` options), so it is meant for coarse spaces up to ~1e5 unknowns.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ...parallel.blocked import BlockDistribution
from ...solvers.twolevel import CoarseCorrection, exact_defaults

__all__ = ["GlobalCoarse"]


class GlobalCoarse:
    """Galerkin coarse operator of :class:`~fvqp.models.bte.inelastic.InelasticProblem`
    on the isotropic space and its solve (module docstring): exact, or with the PETSc
    options ``defaults`` (e.g. the inexact Krylov solve of
    :data:`~fvqp.models.bte.inelastic_pc.INEXACT_COARSE`, whose cost grows like the
    coarse unknowns, not like a sparse LU's fill), the case's ``options`` over them
    (``[solver] petsc``'s ``icoarse_*``), and ``escalate``, the switch of its
    preconditioner after a solve of too many iterations
    (:data:`~fvqp.models.bte.inelastic_pc.COARSE_ESCALATION`). The coarse matrix's block
    size is a cell's coarse unknowns."""

    def __init__(self, prob, prefix: str = "bte_icoarse_", defaults: dict | None = None,
                 escalate=None, options: dict | None = None):
        self.p = p = prob
        n, nl, S, N, B, K = p.n, p.nl, p.S, p.N, p.B, p.K
        self.Sc = Sc = N + p.Mp
        self.cdist = BlockDistribution(p.base.dist, Sc)
        # restriction: angle sum of the QP rows, phonon rows as they are
        c = np.arange(n)
        rr, rc, rv = [], [], []
        for j in range(N):
            rr.append(np.repeat(c * Sc + j, K))
            rc.append((c[:, None] * S + j * B + np.arange(K)).ravel())
            rv.append(np.tile(p.w, n))
        q = np.arange(p.Mp)
        rr.append((c[:, None] * Sc + N + q).ravel())
        rc.append((c[:, None] * S + p.nq + q).ravel())
        rv.append(np.ones(n * p.Mp))
        R = sp.csr_matrix((np.concatenate(rv), (np.concatenate(rr), np.concatenate(rc))),
                          shape=(n * Sc, n * S))
        # prolongation on all local cells (ghosts too: L has ghost columns)
        cl = np.arange(nl)
        pr = (cl[:, None, None] * S + np.arange(N)[None, :, None] * B
              + np.arange(B)[None, None, :]).ravel()
        pc = np.repeat((cl[:, None] * Sc + np.arange(N)).ravel(), B)
        pr = np.concatenate([pr, (cl[:, None] * S + p.nq + q).ravel()])
        pc = np.concatenate([pc, (cl[:, None] * Sc + N + q).ravel()])
        P = sp.csr_matrix((np.ones(len(pr)), (pr, pc)), shape=(nl * S, nl * Sc))
        self.T = (R @ p.L @ P).tocoo()
        del R, P      # applied as the maps restrict / prolong: no matrices kept
        self.prefix = prefix
        self._slots = self._indptr = self._indices = None   # the CSR slots (update)
        self.level = CoarseCorrection(p.dist.comm, None, None, prefix,
                                      defaults or exact_defaults(p.dist.comm),
                                      options, block_size=Sc, escalate=escalate)

    def update(self, blocks: np.ndarray) -> None:
        """Assemble :math:`C` with the per-cell dense blocks ``blocks`` (n, Sc, Sc) and
        factorise it. The pattern is that of every update (the transport part ``T`` and
        the blocks' places are fixed): the slot of every entry in the CSR matrix is found
        once, later updates only sum the values into their slots (and the coarse level
        refactors its kept matrix in place)."""
        vals = np.concatenate([self.T.data, blocks.ravel()])
        if self._slots is None:
            n, Sc = self.p.n, self.Sc
            ng = self.cdist.n_global
            cell = np.repeat(np.arange(n), Sc * Sc)
            ii = cell * Sc + np.tile(np.repeat(np.arange(Sc), Sc), n)
            jj = cell * Sc + np.tile(np.arange(Sc), n * Sc)
            rows = np.concatenate([self.T.row, ii]).astype(np.int64)
            cols = self.cdist.global_index(np.concatenate([self.T.col, jj]))
            key, self._slots = np.unique(rows * ng + cols, return_inverse=True)
            self._slots = self._slots.ravel()
            self._indptr = np.searchsorted(key // ng, np.arange(n * Sc + 1))
            self._indices = key % ng
        data = np.bincount(self._slots, weights=vals, minlength=len(self._indices))
        csr = sp.csr_matrix((data, self._indices, self._indptr),
                            shape=(len(self._indptr) - 1, self.cdist.n_global))
        self.level.set_matrix(csr)

    def correction(self, res_owned: np.ndarray) -> np.ndarray:
        """:math:`P_{iso}C^{-1}R\\,r` on the owned unknowns."""
        return self.prolong(self.level.solve_coarse(self.restrict(res_owned)))

    def restrict(self, r: np.ndarray) -> np.ndarray:
        """:math:`R\\,r`: the angle sum :math:`\\sum_kw_kr_{jk}` of every cell's QP rows
        (the angle-average rows left out), the phonon rows as they are; summed over
        :math:`k` in ascending order, as the CSR matrix it replaces."""
        p = self.p
        y = np.asarray(r).reshape(p.n, p.S)
        f = y[:, : p.nq].reshape(p.n, p.N, p.B)
        out = np.empty((p.n, self.Sc))
        acc = out[:, : p.N]
        np.multiply(f[:, :, 0], p.w[0], out=acc)
        for k in range(1, p.K):
            acc += f[:, :, k] * p.w[k]
        out[:, p.N:] = y[:, p.nq:]
        return out.ravel()

    def prolong(self, e: np.ndarray) -> np.ndarray:
        """:math:`P_{iso}e`: every :math:`f_{jk}` and :math:`\\phi_j` of a cell set to its
        :math:`e_j`, the phonons to theirs."""
        p = self.p
        e = np.asarray(e).reshape(p.n, self.Sc)
        out = np.empty((p.n, p.S))
        out[:, : p.nq].reshape(p.n, p.N, p.B)[:] = e[:, : p.N, None]
        out[:, p.nq:] = e[:, p.N:]
        return out.ravel()

    def destroy(self) -> None:
        self.level.destroy()

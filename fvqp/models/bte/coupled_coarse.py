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

**The local phonons condensed (exact solves).** A cell's local phonons meet the other
cells only through the cell's QPs: their rows and columns of :math:`C` lie in the cell's
own block, and the phonon part :math:`D` of that block is diagonal (a phonon node meets
the other nodes only through the QPs, as in :meth:`.inelastic_pc.InelasticPC.
_cell_schur`; escape adds to the diagonal). With the cell blocks
:math:`[[A_c, B_c], [C_c, D_c]]` the coarse system :math:`C[a; b] = [r_a; r_b]` is

.. math::
    \big(A - \mathrm{blockdiag}_c(B_cD_c^{-1}C_c)\big)\,a
        = r_a - \mathrm{blockdiag}_c(B_cD_c^{-1})\,r_b,\qquad
    b_c = D_c^{-1}(r_{b,c} - C_ca_c),

:math:`A` with the streaming between cells. The LU is then of ``cells x N`` unknowns, not
``cells x (N + M_p)``: its fill and flops are those of a graph with :math:`N` unknowns per
node. Measured on the chip's films (22 -> 8 unknowns per cell): see
``docs/theory_phonon.md``. Done where the solve is exact (the default LU, or the user's
options over it); the inexact Krylov solve keeps the whole system (its iteration counts
are the ones measured). Where a cell's :math:`D_c` is not diagonal or not safely
invertible (:math:`|D| \le 10^{-8}\max|D|` on some rank: a steady state without QPs),
that update solves the whole system, as before.
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
        self._args = (prefix, defaults or exact_defaults(p.dist.comm), options, escalate)
        #: the coarse levels by unknowns per cell (``Sc``: the whole system, ``N``: the
        #: local phonons condensed), each created at its first use
        self.levels: dict[int, CoarseCorrection] = {}
        self._csr: dict[int, tuple] = {}    # per level: the CSR slots of its entries
        #: the pieces of the last condensed update, ``(B, C, 1/d, S)`` per cell (``d``
        #: the diagonal of ``D``, ``S = A - B D^-1 C``); None: the whole system
        self.schur = None
        self.condense = defaults is None and p.Mp > 0 and self._split_local()

    def _split_local(self) -> bool:
        """Split ``T`` (kept whole for the whole system) into its QP rows and columns
        (``Tq``, in the condensed numbering) and the entries in phonon rows or columns
        (``_tloc``: cell, row, column, value in the cell's block). False (nothing split)
        where one of the latter leaves its cell on some rank (collective: every rank
        takes the same branch, and the condensed distribution is built by all)."""
        T, Sc, N = self.T, self.Sc, self.p.N
        cr, kr = np.divmod(T.row, Sc)
        cc, kc = np.divmod(T.col, Sc)
        ph = (kr >= N) | (kc >= N)
        if self.p.dist.max(1.0 if np.any(cr[ph] != cc[ph]) else 0.0) > 0.0:
            return False
        self._tloc = (cr[ph], kr[ph], kc[ph], T.data[ph])
        self.Tq = sp.coo_matrix((T.data[~ph], (cr[~ph] * N + kr[~ph],
                                               cc[~ph] * N + kc[~ph])),
                                shape=(self.p.n * N, self.p.nl * N))
        self.qdist = BlockDistribution(self.p.base.dist, N)
        return True

    @property
    def level(self) -> CoarseCorrection | None:
        """The coarse level of the last update (None before the first)."""
        return self.levels.get(self._last) if self.levels else None

    def counts(self) -> dict[str, int]:
        """Solves, Krylov iterations and unconverged solves of every level so far."""
        lv = self.levels.values()
        return {"solves": sum(v.solves for v in lv),
                "iterations": sum(v.iterations for v in lv),
                "unconverged": sum(v.unconverged for v in lv)}

    def update(self, blocks: np.ndarray) -> None:
        """Assemble :math:`C` with the per-cell dense blocks ``blocks`` (n, Sc, Sc) and
        factorise it, with the local phonons condensed where they can be (module
        docstring; the decision is collective). The pattern is that of every update
        (the transport part ``T`` and the blocks' places are fixed): the slot of every
        entry in the CSR matrix is found once per level, later updates only sum the
        values into their slots (and the coarse level refactors its kept matrix in
        place)."""
        self.schur = None
        if self.condense:
            self.schur = self._condensed(blocks)
        if self.schur is not None:
            self._set(self.p.N, self.Tq, self.schur[3], self.qdist)
        else:
            self._set(self.Sc, self.T, blocks, self.cdist)

    def _condensed(self, blocks: np.ndarray):
        """``(b, c, 1/d, S)`` of the cell blocks with ``T``'s phonon entries added,
        ``S = A - B D^{-1} C`` (n, N, N); None (on every rank) where some ``D`` is not
        diagonal or not safely invertible."""
        N = self.p.N
        blk = blocks.copy()
        c, i, j, v = self._tloc
        np.add.at(blk, (c, i, j), v)
        D = blk[:, N:, N:]
        d = np.diagonal(D, axis1=1, axis2=2).copy()
        big = float(np.abs(d).max()) if d.size else 0.0
        ok = np.count_nonzero(D) == np.count_nonzero(d) and \
            (d.size == 0 or bool(np.all(np.abs(d) > 1e-8 * big)))
        if self.p.dist.max(0.0 if ok else 1.0) > 0.0:
            return None
        b, cm = blk[:, :N, N:], blk[:, N:, :N]
        dinv = 1.0 / d
        return b, cm, dinv, blk[:, :N, :N] - b @ (dinv[:, :, None] * cm)

    def _set(self, bs: int, T, blocks: np.ndarray, dist) -> None:
        """The coarse matrix of ``bs`` unknowns per cell: ``T`` (owned rows, local
        columns) plus the owned cells' dense ``blocks`` (n, bs, bs), on its level."""
        self._last = bs
        vals = np.concatenate([T.data, blocks.ravel()])
        if bs not in self._csr:
            n = self.p.n
            ng = dist.n_global
            cell = np.repeat(np.arange(n), bs * bs)
            ii = cell * bs + np.tile(np.repeat(np.arange(bs), bs), n)
            jj = cell * bs + np.tile(np.arange(bs), n * bs)
            rows = np.concatenate([T.row, ii]).astype(np.int64)
            cols = dist.global_index(np.concatenate([T.col, jj]))
            key, slots = np.unique(rows * ng + cols, return_inverse=True)
            self._csr[bs] = (slots.ravel(), key % ng,
                             np.searchsorted(key // ng, np.arange(n * bs + 1)), ng)
            prefix, defaults, options, escalate = self._args
            self.levels[bs] = CoarseCorrection(self.p.dist.comm, None, None, prefix,
                                               defaults, options, block_size=bs,
                                               escalate=escalate)
        slots, indices, indptr, ng = self._csr[bs]
        data = np.bincount(slots, weights=vals, minlength=len(indices))
        self.levels[bs].set_matrix(sp.csr_matrix((data, indices, indptr),
                                                 shape=(len(indptr) - 1, ng)))

    def correction(self, res_owned: np.ndarray) -> np.ndarray:
        """:math:`P_{iso}C^{-1}R\\,r` on the owned unknowns."""
        rc = self.restrict(res_owned)
        if self.schur is None:
            return self.prolong(self.level.solve_coarse(rc))
        b, cm, dinv, _ = self.schur
        N = self.p.N
        rc = rc.reshape(-1, self.Sc)
        rp = dinv * rc[:, N:]
        a = self.level.solve_coarse(
            (rc[:, :N] - np.einsum("cij,cj->ci", b, rp)).ravel()).reshape(-1, N)
        return self.prolong(np.concatenate(
            [a, rp - dinv * np.einsum("cij,cj->ci", cm, a)], axis=1).ravel())

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
        for lv in self.levels.values():
            lv.destroy()

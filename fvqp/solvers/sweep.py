r"""Transport sweeps as a factorisation in a given order, and the sweep two-level PC.

A model hands over the rank-local (owned rows and columns) block of its operator as a
scipy matrix and an order of its unknowns in which that block is nearly lower triangular
(the sweep order of discrete ordinates, :mod:`fvqp.models.bte.sweep`). :class:`OrderedILU`
permutes the block to that order and factors it by PETSc's ILU(0) with the natural
ordering: on a lower-triangular matrix ILU(0) is exact and its solve is the sweep (one
forward substitution, cost of the nonzeros); the entries above the diagonal (lagged
cycle edges, couplings between ordinates, the angle average) stay in the upper factor,
whose back substitution follows. Nothing but the matrix is stored — no fill.

:class:`SweepTwoLevelPC` is the petsc4py ``python`` PC of a distributed system with that
smoother on every rank's block (block Jacobi over the ranks) and a Galerkin coarse
correction (:class:`fvqp.solvers.twolevel.CoarseCorrection`) applied multiplicatively,
sweep – coarse – sweep (Smith, Bjørstad & Gropp 1996, ch. 2 and 5):

.. math::  y = S r,\quad y \mathrel{+}= P A_c^{-1}R(r - Ay),\quad y \mathrel{+}= S(r - Ay).

With the isotropic coarse space of the bte model this is a diffusion-synthetic
acceleration consistent with the discretisation (Adams & Larsen 2002, Sec. 4).

On several ranks a sweep per rank stops at the rank boundary: the inflow from the other
ranks is left to the Krylov method, whose count then grows with the ranks (measured on
the bte absorber: 7, 11, 13.4, 14 Krylov per Newton at 1, 2, 4, 8 ranks).
:class:`CrossingSweep` sweeps across the ranks instead: the model hands over the stage of
every owned unknown (the number of rank changes upwind of it,
:mod:`fvqp.parallel.sweepstages`), and the ranks sweep stage by stage — at stage
:math:`s` each rank solves (ILU(0) in the sweep order, as :class:`OrderedILU`) its rows of
stage :math:`s` with every other value, its own earlier stages and the ghosts received
after each stage, on the right-hand side,

.. math::  z_s = \tilde A_{ss}^{-1}\Big(r_s - \sum_{t \ne s} A_{st} z_t\Big),
           \quad z_t = 0 \text{ for the stages not yet swept},

a block Gauss–Seidel over the stages, lower triangular in the streaming of every
ordinate: on pure streaming it is the serial sweep, exact across any number of ranks,
with the work of one sweep and one ghost exchange per stage. It is a fixed linear
operator (GMRES may use it). On one rank it is :class:`OrderedILU`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from ..parallel.distribution import allgather_objects
from .options import apply_options, set_from_options
from .twolevel import CoarseCorrection, exact_defaults

__all__ = ["CrossingSweep", "OrderedILU", "SweepTwoLevelPC", "ZeroPivotError",
           "collective_factor"]

#: the sweep (options ``<prefix>sweep_*``): ILU(0) in the given order, in place (the factor
#: overwrites the values of the kept matrix, which are gathered anew at every
#: :meth:`OrderedILU.factor`: no second copy of the matrix)
SWEEP_DEFAULTS: dict[str, object] = {"pc_type": "ilu", "pc_factor_levels": 0,
                                     "pc_factor_mat_ordering_type": "natural",
                                     "pc_factor_in_place": True}


class ZeroPivotError(ArithmeticError):
    """The sweep's ILU(0) met a zero pivot or a non-finite value: its solve would be
    ``inf``/``nan`` (PETSc marks the factor failed and ``MatSolve`` fills the result with
    ``inf``). The message names the rows and the fix."""


def collective_factor(comm, factor: Callable[[], None]) -> None:
    """Call ``factor()`` (rank-local factorisations) on every rank of ``comm``; if it
    raised :class:`ZeroPivotError` on any rank, raise it on every rank (with the first
    failing rank's message). A raise on one rank alone would leave the others waiting in
    the next collective operation; one gather of a flag per factorisation costs nothing
    beside it."""
    msg = None
    try:
        factor()
    except ZeroPivotError as exc:
        msg = str(exc)
    failed = [(r, m) for r, m in enumerate(allgather_objects(comm, msg)) if m is not None]
    if failed:
        r, m = failed[0]
        where = f" (rank {r} of {comm.getSize()})" if comm.getSize() > 1 else ""
        raise ZeroPivotError(m + where)


#: entries gathered per chunk by :func:`gather` (8 MB of int64 indices at a time)
GATHER_CHUNK = 1 << 20


def gather(src: np.ndarray, index: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``out[:] = src[index]`` without a state-sized temporary: ``np.take`` with ``out``
    buffers the whole result in its default mode and converts int32 indices to intp
    whole (measured: 2x and 1x the result's size); here in chunks, unbuffered (``index``
    must be valid)."""
    for s in range(0, len(index), GATHER_CHUNK):
        e = s + GATHER_CHUNK
        np.take(src, index[s:e], out=out[s:e], mode="clip")
    return out


def _same_buffer(a: np.ndarray, b: np.ndarray) -> bool:
    """``a`` and ``b`` are the same memory seen alike (one array, or views of it that
    scipy's constructors make): equal contents without reading them."""
    return (a.shape == b.shape and a.dtype == b.dtype and a.strides == b.strides
            and a.__array_interface__["data"][0] == b.__array_interface__["data"][0])


class OrderedILU:
    """ILU(0) of a rank-local square matrix in a given order of its unknowns (module
    docstring); :meth:`factor` again for new values, :meth:`solve` on numpy arrays.

    A new matrix with the nonzero pattern of the previous one (the Newton iterations and
    time steps of one run: only the values of the collision diagonal and the time shift
    change) is factored on the kept matrix: its values are gathered into it by a
    permutation computed once, and only the numeric ILU(0) is redone. The result equals a
    fresh factorisation bit for bit (``tests/test_bte_sweep_inplace.py``). Another pattern
    is factored afresh (counted in :attr:`rebuilds`).

    Memory (the sweep is the largest object of a collisional bte run after the operator):
    one copy of the ordered matrix, the PETSc matrix built on the numpy arrays
    (``MatCreateSeqAIJWithArrays``) and factored in place (``pc_factor_in_place``, ILU(0)
    only: the factor overwrites the values, which every :meth:`factor` gathers anew), and
    the permutation of the values (int32 below 2^31 nonzeros): 16 bytes per nonzero,
    against 40 with PETSc's own copy, a separate factor, int64 permutation and a copy of
    the input's pattern. The input's pattern is kept by reference, not copied: a caller
    that factors one matrix object again with new values (:class:`fvqp.models.bte.
    inelastic_pc.InelasticPC`, :class:`fvqp.models.bte.sweep.BinSplitSweep`) costs nothing
    more, and must not change that matrix's pattern arrays in place (scipy's value
    updates do not).

    ILU(0) does not pivot: a pivot :math:`|u_{ii}|` below PETSc's ``pc_factor_zeropivot``
    makes PETSc mark the factor failed and every later solve return ``inf``. :meth:`factor`
    checks the matrix's values (finite) and PETSc's failed reason of the factorisation
    (:meth:`PETSc.PC.getFailedReason`) and raises :class:`ZeroPivotError` naming the cause
    and the fix (``-<prefix>pc_factor_shift_type nonzero``), and :meth:`solve` refuses a
    failed factor, so no ``inf`` reaches a Krylov method. PETSc keeps a failed factor's
    error through later numeric factorisations (measured: ``inf`` again after good values
    in place), so the factorisation after a failure is a fresh one.

    Parameters
    ----------
    order : ndarray of int
        The unknowns in sweep order (a permutation of ``range(n)``).
    prefix : str
        Options prefix of the factorisation (``<prefix>pc_type`` etc.,
        :data:`SWEEP_DEFAULTS`; the command line wins).
    """

    def __init__(self, order: np.ndarray, prefix: str = "sweep_"):
        from petsc4py import PETSc

        self.order = np.asarray(order, dtype=np.int64)
        #: the order is the natural one (no permutation kept)
        self._identity = bool(np.array_equal(self.order, np.arange(len(self.order))))
        self.prefix = prefix
        apply_options(prefix, SWEEP_DEFAULTS)
        self.pc = PETSc.PC().create(comm=PETSc.COMM_SELF)
        self.pc.setOptionsPrefix(prefix)
        self.mat = None
        #: the pattern of the kept matrix (natural numbering: the input's indptr, indices,
        #: by reference), the permutation of its values into the sweep order and the
        #: ordered matrix's arrays (PETSc's own: the matrix is built on them)
        self._pattern: tuple | None = None
        self._perm = self._ai = self._aj = self._a = self._dpos = None
        #: factorisations with a new pattern, and in place
        self.rebuilds, self.refactors = 0, 0
        #: the message of a failed factorisation (:meth:`solve` refuses it), or None
        self.failed: str | None = None
        n = len(self.order)
        self._x = PETSc.Vec().createSeq(n, comm=PETSc.COMM_SELF)
        self._y = PETSc.Vec().createSeq(n, comm=PETSc.COMM_SELF)

    def _same_pattern(self, m: sp.csr_matrix) -> bool:
        if self._pattern is None:
            return False
        ip, ix = self._pattern
        if _same_buffer(m.indptr, ip) and _same_buffer(m.indices, ix):
            return True                          # the same matrix with new values
        return (m.nnz == len(ix) and np.array_equal(m.indptr, ip)
                and np.array_equal(m.indices, ix))

    def factor(self, m: sp.spmatrix, diag: np.ndarray | None = None) -> None:
        """Factor the square rank-local matrix ``m`` (natural numbering), plus
        ``diag(diag)`` if given, in the order: on the kept matrix if its pattern is the
        previous one's (class docstring). With ``diag``, ``m``'s pattern must hold every
        diagonal entry (explicit zeros allowed): the sum is formed in the ordered copy,
        not as another matrix."""
        from petsc4py import PETSc

        m = sp.csr_matrix(m)
        if not m.has_canonical_format:  # sorted, no duplicates: a pattern to compare
            m = m.copy()
            m.sum_duplicates()
        self.failed = None
        if not np.all(np.isfinite(m.data)) or (
                diag is not None and not np.all(np.isfinite(diag))):
            self._fail(m, "non-finite values (inf or nan) in the matrix", diag)
        if self._same_pattern(m):
            self.mat.setUnfactored()     # the values of an in-place factor: written anew
            self._values(m, diag)
            self.mat.assemble()          # a new state: the PC factors again
            self.pc.setUp()
            self.refactors += 1
            self._check(m, diag)
            return
        o = self.order
        it = PETSc.IntType
        self._pattern = None   # set once the new ordered copy is complete
        if self._identity and m.indices.dtype == it and m.indptr.dtype == it:
            # already in sweep order (BinSplitSweep): the input's pattern is the ordered one
            self._perm, self._ai, self._aj = None, m.indptr, m.indices
        else:
            # the positions of m's values in the ordered matrix: permute their indices
            idx = sp.csr_matrix((np.arange(m.nnz, dtype=np.float64), m.indices, m.indptr),
                                shape=m.shape)[o][:, o].tocsr()
            idx.sort_indices()
            self._perm = idx.data.astype(np.int32 if m.nnz < 2**31 else np.int64)
            self._ai, self._aj = idx.indptr.astype(it), idx.indices.astype(it)
            del idx
        # the diagonal's places in the ordered values (every row has one with ``diag``)
        rowid = np.repeat(np.arange(m.shape[0], dtype=self._aj.dtype), np.diff(self._ai))
        self._dpos = np.flatnonzero(self._aj == rowid).astype(self._aj.dtype)
        del rowid
        self._a = np.empty(m.nnz)
        if diag is not None and len(self._dpos) != m.shape[0]:
            raise ValueError("OrderedILU.factor(m, diag): m's pattern lacks diagonal "
                             f"entries ({len(self._dpos)} of {m.shape[0]}); add them as "
                             "explicit zeros")
        self._values(m, diag)
        self._pattern = (m.indptr, m.indices)
        if self.mat is not None:
            self.mat.destroy()
        mat = PETSc.Mat().createAIJWithArrays(size=m.shape, comm=PETSc.COMM_SELF,
                                              csr=(self._ai, self._aj, self._a))
        self.pc.setOperators(mat, mat)
        if self.mat is None:
            set_from_options(self.pc, self.prefix)
        self.mat = mat
        self.pc.setUp()
        self.rebuilds += 1
        self._check(m, diag)

    def _values(self, m: sp.csr_matrix, diag: np.ndarray | None) -> None:
        """``m``'s values (+ ``diag`` on the diagonal) in the ordered matrix's array."""
        if self._perm is None:
            self._a[:] = m.data
        else:
            gather(m.data, self._perm, self._a)
        if diag is not None:
            d = np.asarray(diag, dtype=float)
            self._a[self._dpos] += d if self._identity else d[self.order]

    def _check(self, m: sp.csr_matrix, diag: np.ndarray | None = None) -> None:
        """Raise :class:`ZeroPivotError` if PETSc's factorisation failed (class
        docstring)."""
        from petsc4py import PETSc

        reason = int(self.pc.getFailedReason())
        if reason == 0:
            return
        names = {v: k for k, v in vars(PETSc.PC.FailedReason).items() if isinstance(v, int)}
        self._fail(m, f"PETSc's ILU(0) failed: {names.get(reason, reason)} (a pivot below "
                      f"-{self.prefix}pc_factor_zeropivot)", diag)

    def _fail(self, m: sp.csr_matrix, cause: str, diag: np.ndarray | None = None) -> None:
        """Mark the factor failed and raise :class:`ZeroPivotError` naming ``cause``, the
        rows with a zero or non-finite diagonal (natural numbering) and the fix."""
        d = m.diagonal() if diag is None else m.diagonal() + diag
        bad = np.flatnonzero(~np.isfinite(d) | (d == 0))
        rows = (f"rows with a zero or non-finite diagonal: {bad[:8].tolist()}"
                f"{' ...' if len(bad) > 8 else ''} of {m.shape[0]}" if len(bad) else
                "every diagonal nonzero: a pivot cancelled in the elimination")
        self.failed = (f"the sweep's ILU(0) (options prefix {self.prefix!r}) cannot factor "
                       f"the matrix: {cause}; {rows}. Its solve would return inf/nan. "
                       f"Fix: -{self.prefix}pc_factor_shift_type nonzero (shift zero "
                       "pivots), or a pivoting LU for the fine step (fine_pc = \"lu\"), or "
                       "check the operator's diagonal (a removal or time-step term missing)")
        self._pattern = None   # PETSc keeps a failed factor's error: the next one afresh
        raise ZeroPivotError(self.failed)

    def solve(self, r: np.ndarray) -> np.ndarray:
        """The sweep :math:`\\tilde A^{-1}r` (natural numbering in and out); refuses a
        failed factorisation (:class:`ZeroPivotError`)."""
        if self.failed is not None:
            raise ZeroPivotError(self.failed)
        with self._x as xa:                  # the permutation straight into PETSc's array
            if self._identity:
                xa[:] = r
            else:
                gather(np.asarray(r), self.order, xa)
        self.pc.apply(self._x, self._y)
        out = np.empty(len(self.order))
        with self._y as ya:
            if self._identity:
                out[:] = ya
            else:
                out[self.order] = ya
        return out

    def destroy(self) -> None:
        for o in (self.pc, self.mat, self._x, self._y):
            if o is not None:
                o.destroy()
        self.mat = None
        self._pattern = None


class CrossingSweep:
    """The sweep across ranks, stage by stage (module docstring); :meth:`factor` again for
    new values, :meth:`solve` on numpy arrays of the owned unknowns.

    Parameters
    ----------
    order : ndarray of int
        The owned unknowns in sweep order.
    stage : ndarray of int
        The stage of every owned unknown (natural numbering).
    n_stages : int
        Number of stages (the same on every rank).
    layout : GhostedVectors
        The ghosted layout of the unknowns (e.g. a
        :class:`~fvqp.parallel.blocked.BlockDistribution`): owned unknowns, then ghosts.
    prefix : str
        Options prefix of the stages' factorisations (:class:`OrderedILU`).
    """

    def __init__(self, order: np.ndarray, stage: np.ndarray, n_stages: int, layout,
                 prefix: str = "sweep_"):
        order = np.asarray(order, dtype=np.int64)
        self.stage = np.asarray(stage, dtype=np.int64)
        self.n_stages, self.layout = int(n_stages), layout
        self.n = len(order)
        self.rows = [order[self.stage[order] == s] for s in range(self.n_stages)]
        self.ilu = [OrderedILU(np.arange(len(r)), prefix) if len(r) else None
                    for r in self.rows]
        self.rest: list = [None] * self.n_stages
        self._vec = layout.create_vec() if self.n_stages > 1 else None

    def factor(self, m: sp.spmatrix) -> None:
        """Factor the stages of ``m`` (owned rows, local columns: owned then ghosts);
        collective (a zero pivot on any rank raises :class:`ZeroPivotError` on all,
        :func:`collective_factor`)."""
        collective_factor(self.layout.comm, lambda: self._factor(m))

    def _factor(self, m: sp.spmatrix) -> None:
        m = sp.csr_matrix(m)
        n = self.n
        col_stage = np.full(m.shape[1], -1, dtype=np.int64)
        col_stage[:n] = self.stage
        self._cross(m)
        for s, rows in enumerate(self.rows):
            if not len(rows):
                continue
            blk = m[rows].tocoo()
            own = col_stage[blk.col] == s
            pos = np.full(m.shape[1], -1, dtype=np.int64)
            pos[rows] = np.arange(len(rows))
            diag = sp.csr_matrix((blk.data[own], (blk.row[own], pos[blk.col[own]])),
                                 shape=(len(rows), len(rows)))
            self.ilu[s].factor(diag + sp.diags(self.pivot[rows]))
            self.rest[s] = sp.csr_matrix((blk.data[~own], (blk.row[~own], blk.col[~own])),
                                         shape=(len(rows), m.shape[1]))

    def _cross(self, m: sp.csr_matrix) -> None:
        """The ILU(0) terms of the couplings between stages of one rank (module
        docstring): the pivot change :math:`-\\sum_u A_{vu}A_{uv}/A_{uu}` of a row
        :math:`v` from the earlier-stage unknowns :math:`u` it couples with both ways,
        and the back substitution :math:`z_u \\mathrel{-}= A_{uv}z_v/A_{uu}` of the
        later-stage values into the earlier ones."""
        n = self.n
        own = m[:, :n].tocoo()
        st = self.stage
        d = m.diagonal()[:n] if n else np.zeros(0)
        dinv = np.divide(1.0, d, out=np.zeros(n), where=d != 0)
        up = st[own.col] > st[own.row]
        lo = st[own.col] < st[own.row]
        upper = sp.csr_matrix((own.data[up] * dinv[own.row[up]],
                               (own.row[up], own.col[up])), shape=(n, n))
        lower = sp.csr_matrix((own.data[lo], (own.row[lo], own.col[lo])), shape=(n, n))
        self.pivot = -np.asarray(lower.multiply(upper.T.tocsr()).sum(axis=1)).ravel()
        self.back = upper if upper.nnz else None

    def solve(self, r: np.ndarray) -> np.ndarray:
        """The sweep across the ranks of ``r`` (owned unknowns in and out; collective)."""
        if self.n_stages == 1:
            return self.ilu[0].solve(r) if self.ilu[0] is not None else np.zeros(self.n)
        with self._vec.localForm() as loc:
            z = loc.getArray()             # owned then ghosts, in place
            z[:] = 0.0
            for s, rows in enumerate(self.rows):
                if len(rows):
                    z[rows] = self.ilu[s].solve(r[rows] - self.rest[s] @ z)
                if s < self.n_stages - 1:  # ghosts of the stages swept so far
                    self._vec.ghostUpdate()
            out = z[: self.n].copy()
        return out - self.back @ out if self.back is not None else out

    def destroy(self) -> None:
        for o in self.ilu:
            if o is not None:
                o.destroy()
        if self._vec is not None:
            self._vec.destroy()


class SweepTwoLevelPC:
    r"""petsc4py ``python`` PC context: sweep – Galerkin coarse correction – sweep
    (module docstring).

    Parameters
    ----------
    A : petsc4py.PETSc.Mat
        The distributed fine operator.
    local : scipy sparse matrix
        This rank's owned rows of ``A``, columns owned then ghosts (natural local
        numbering; the ghost columns are used only by the sweep across ranks).
    order : ndarray of int
        Sweep order of the owned unknowns (:class:`OrderedILU`).
    crossing : tuple, optional
        ``(stage, n_stages, layout)`` of :class:`CrossingSweep`: sweep across the ranks;
        None: a sweep per rank (block Jacobi of sweeps over the ranks).
    R, P : scipy sparse matrices, optional
        Rank-local restriction and prolongation of the coarse space; None: the sweep
        alone (block Jacobi of sweeps over the ranks).
    prefix : str
        Options prefix of the outer KSP: the sweep reads ``<prefix>sweep_*``, the coarse
        solve ``<prefix>coarse_*`` (exact LU by default, :func:`exact_defaults`).
    post : bool
        Sweep again after the coarse correction (symmetric cycle).
    """

    def __init__(self, A, local, order, R=None, P=None, prefix: str = "bte_",
                 post: bool = True, crossing: tuple | None = None):
        self.A, self.post = A, post
        n = len(order)
        if crossing is None:
            self.sweep = OrderedILU(order, prefix + "sweep_")
            collective_factor(A.getComm(),
                              lambda: self.sweep.factor(sp.csr_matrix(local)[:, :n]))
        else:
            self.sweep = CrossingSweep(order, *crossing, prefix=prefix + "sweep_")
            self.sweep.factor(local)
        self.coarse = None
        if R is not None:
            comm = A.getComm()
            self.coarse = CoarseCorrection(comm, R, P, prefix + "coarse_",
                                           exact_defaults(comm))
            self.coarse.set_galerkin(A)
        self.t = A.createVecLeft()
        self.z = A.createVecLeft()

    def _smooth(self, x, y) -> None:
        """``y = S x`` on PETSc vectors."""
        y.setArray(self.sweep.solve(x.getArray(readonly=True)))

    def apply(self, pc, x, y) -> None:
        self._smooth(x, y)
        if self.coarse is None:
            return
        self.A.mult(y, self.t)
        self.t.aypx(-1.0, x)               # t = x - A y
        self.coarse.add_correction(self.t, y)
        if self.post:
            self.A.mult(y, self.t)
            self.t.aypx(-1.0, x)
            self._smooth(self.t, self.z)
            y.axpy(1.0, self.z)

    def destroy(self, pc=None) -> None:
        self.sweep.destroy()
        for o in (self.t, self.z):
            o.destroy()
        if self.coarse is not None:
            self.coarse.destroy()

r"""Two-level preconditioning: a coarse correction on a space chosen by the physics.

A model describes its coarse space with numbers — a restriction :math:`R` (coarse
unknowns of this rank from its owned fine unknowns) and a prolongation :math:`P` (the
reverse), both rank-local scipy matrices, and either a fine operator whose Galerkin
product :math:`A_c = RAP` is the coarse operator, or the coarse operator itself, assembled
by the model (owned rows, global columns). This module builds the PETSc objects: the
distributed coarse matrix, its KSP under an options prefix (defaults, then the case's
options, ``setFromOptions`` last so the command line wins, :mod:`.options`), and the
one-level smoother of :class:`TwoLevelPC`. The correction is

.. math::  z = P A_c^{-1} R\,r,

and applied multiplicatively after a one-level preconditioner :math:`B` (Smith, Bjørstad
& Gropp 1996, ch. 2 and 5; Mandel 1993),

.. math::  y = B r,\quad y \mathrel{+}= P A_c^{-1} R\,(r - A y).

Two flavours of the coarse level share the interface of :class:`CoarseLevel`
(``R``, ``P``, ``correct(r)``, ``iterations``, ``destroy``):

* :class:`CoarseCorrection`: coarse unknowns distributed over the ranks, the coarse matrix
  and its KSP built by PETSc (Galerkin :math:`RAP` of a PETSc fine operator, or assembled
  by the model). Users: :mod:`fvqp.models.bte.coarse` (isotropic coarse space of the
  per-bin transport systems, Galerkin, GAMG) and :mod:`fvqp.models.bte.coupled_coarse`
  (isotropic coarse space of the coupled Newton systems, assembled by the model, exact
  LU).
* :class:`AggregateCoarse`: piecewise constants on cell aggregates, separately for every
  one of the ``N`` unknowns of a cell (energy bins), for a fine operator given as dense
  :math:`N\times N` cell blocks plus couplings diagonal in the cell unknowns; the coarse
  matrix is small, summed over the ranks and factored redundantly on every rank (SuperLU,
  no PETSc). User: the inner Schur-complement solve of :mod:`fvqp.models.transport.schur`.
  The aggregates come from the cell distribution
  (:func:`fvqp.parallel.coarse.cell_aggregates`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from ..parallel.distribution import allgather_concat, allgather_objects, sum_in_place
from ..setops import distinct
from .linear import LinearSolver, bcsr_matrix, csr_matrix, option_value, set_blocked_values
from .options import apply_options, given_by_user, set_from_options
from .result import reason_name

__all__ = ["AggregateCoarse", "BLOCK_JACOBI_DEFAULTS", "CELL_BLOCK_GAMG", "CoarseCorrection",
           "CoarseLevel", "Escalation", "TwoLevelPC", "add_coarse_level",
           "block_jacobi_two_level", "exact_defaults"]

log = logging.getLogger("fvqp.solvers")

#: one-level stage of :func:`block_jacobi_two_level` (options ``<prefix>bj_*``)
BLOCK_JACOBI_DEFAULTS: dict[str, object] = {
    "pc_type": "bjacobi", "sub_pc_type": "lu", "sub_pc_factor_mat_ordering_type": "rcm"}
#: coarse solve of :func:`block_jacobi_two_level` (options ``<prefix>coarse_*``): one AMG
#: V-cycle
GALERKIN_COARSE_DEFAULTS: dict[str, object] = {"ksp_type": "preonly", "pc_type": "gamg"}


#: the coarse solve of an assembled operator with a node's unknowns coupled densely (a
#: cell's energies) and nodes coupled like a diffusion operator: algebraic multigrid whose
#: aggregates are whole nodes (the matrix's block size) with point-block Jacobi smoothing
#: (a node's dense block inverted). On the bte absorber's global coarse level (53 120
#: cells x 6 energies, issue 16) its GMRES took 6-10 iterations at 0.1 ns and at 4 ns
#: steps, where ILU(0) took 8-27 and 100-200 (the limit, not converged); an iteration
#: costs ~6 of ILU(0)'s (measurements: fvqp/models/bte/inelastic_pc.py). One smoothing
#: step per level (PETSc's default Chebyshev of degree 2): 8-12 instead of 6-8 iterations,
#: each cheaper — on that level 3 fixed steps of 0.3 ns 36.9 against 39.3 s per step, of
#: 4 ns 39.3 against 43.4 (coarse solves 16.6 / 17.3 against 19.0 / 22.0 s per step; the
#: same Newton counts, QP numbers to 1e-14); reusing the aggregation across the rebuilt
#: matrices (pc_gamg_reuse_interpolation) 45.9, unsmoothed aggregation 61.1, Richardson
#: smoothing 48.8, a single V-cycle as the coarse solve (preonly) 73.3 (339 outer Krylov
#: against 90), GMRES to 1e-1 / 1e-2 instead of 1e-3 39.1 / 41.0 (2026-11-25)
CELL_BLOCK_GAMG: dict[str, object] = {"pc_type": "gamg", "pc_gamg_threshold": 0.0,
                                      "mg_levels_pc_type": "pbjacobi",
                                      "mg_levels_ksp_max_it": 1}


@dataclass
class Escalation:
    """The switch of a coarse solve's preconditioner (:class:`CoarseCorrection`'s
    ``escalate``): once a solve takes more than ``limit`` Krylov iterations or does not
    converge, the solves use ``options`` instead of the defaults' preconditioner. One
    object may serve several levels in turn (bte's collision problems rebuilt at every
    gap update): once one of them switched, ``switched_at`` says so and every level
    sharing it, built before or after, uses ``options`` from its next solve on.

    Attributes
    ----------
    limit : int
        Krylov iterations of one coarse solve beyond which it switches.
    options : mapping
        The preconditioner's options after the switch (e.g. :data:`CELL_BLOCK_GAMG`).
    switched_at : (int, int) or None
        ``(solve, iterations)``: the solve of the level that switched (1-based) and its
        iterations, or None.
    """

    limit: int
    options: Mapping
    switched_at: tuple[int, int] | None = None

    def applied_to(self, options: Mapping) -> dict[str, object]:
        """``options`` after the switch: those that do not configure the preconditioner
        (``pc_*``, ``sub_*``, ``mg_*``), then :attr:`options`."""
        kept = {k: v for k, v in options.items()
                if not k.startswith(("pc_", "sub_", "mg_"))}
        return {**kept, **self.options}


def exact_defaults(comm) -> dict[str, object]:
    """Options of an exact coarse solve: LU, on several ranks the redundant LU of the
    whole coarse matrix on every rank."""
    if comm.getSize() > 1:
        return {"ksp_type": "preonly", "pc_type": "redundant", "redundant_pc_type": "lu"}
    return {"ksp_type": "preonly", "pc_type": "lu"}


def direct_lu(prefix: str) -> bool:
    """Whether the KSP under ``prefix`` solves by PETSc's LU (``pc_type lu``, or
    ``redundant`` with ``redundant_pc_type lu``) as its options stand: then
    :meth:`CoarseCorrection.set_matrix` stores its operator as BAIJ blocks
    (:func:`fvqp.solvers.linear.bcsr_matrix`), whose LU works on dense blocks."""
    pc = option_value(prefix + "pc_type", "")
    if pc == "redundant":
        pc = option_value(prefix + "redundant_pc_type", "")
    return pc == "lu"


def _mat(comm, m: sp.csr_matrix, col_start: int, n_cols_local: int):
    """A distributed AIJ matrix from rank-local rows/columns ``m`` (the owned block of a
    block-diagonal operator): global indices are ``start + local``."""
    from petsc4py import PETSc

    m = sp.csr_matrix(m)
    m.sort_indices()
    it = PETSc.IntType
    return PETSc.Mat().createAIJ(
        size=((m.shape[0], None), (n_cols_local, None)), comm=comm,
        csr=(m.indptr.astype(it), (m.indices + col_start).astype(it), m.data))


class CoarseLevel:
    r"""Interface of a coarse level :math:`z = P A_c^{-1} R r` (module docstring):
    rank-local restriction ``R`` and prolongation ``P`` (scipy), :meth:`correct` on
    owned fine residuals, the Krylov iterations of the coarse solves and
    :meth:`destroy`."""

    R: sp.csr_matrix
    P: sp.csr_matrix

    def correct(self, r: np.ndarray) -> np.ndarray:
        """:math:`P A_c^{-1} R\\,r` for the owned fine residual ``r``."""
        raise NotImplementedError

    @property
    def iterations(self) -> int:
        """Krylov iterations of all coarse solves (0 for a direct solve)."""
        return 0

    def destroy(self) -> None:
        """Free what the coarse level holds."""


class CoarseCorrection(CoarseLevel):
    r"""The coarse level :math:`z = P A_c^{-1} R r` (module docstring).

    Parameters
    ----------
    comm : petsc4py.PETSc.Comm
        Communicator of the fine (and coarse) system.
    R : scipy sparse matrix, shape (n_coarse, n_fine), or None
        Restriction from this rank's owned fine unknowns to its owned coarse unknowns.
    P : scipy sparse matrix, shape (n_fine, n_coarse), or None
        Prolongation, owned coarse to owned fine unknowns. ``R = P = None``: the model
        restricts and prolongs itself (a structured map kept as no matrix) around
        :meth:`solve_coarse`, after :meth:`set_matrix`.
    prefix : str
        Options prefix of the coarse KSP (e.g. ``"bte_icoarse_"``).
    defaults, options : mapping, optional
        PETSc options of the coarse solve without the prefix: defaults (e.g.
        :func:`exact_defaults`), then the user's; the command line wins.
    block_size : int
        Unknowns per node of the coarse matrix (a mesh cell's coarse unknowns), set on
        the matrices of :meth:`set_matrix`: what point-block smoothers and GAMG's
        aggregation of nodes see.
    escalate : Escalation, optional
        Once a coarse solve has taken more than ``escalate.limit`` Krylov iterations or
        has not converged, the later solves use ``escalate.options`` instead of the
        defaults' preconditioner (every ``pc_*``/``sub_*``/``mg_*`` default replaced), for
        the rest of the level's life and of every level sharing ``escalate``; logged
        once. Not done where the case or the command line chose the ``pc_type``. For a
        cheap preconditioner whose iterations grow with the problem's stiffness (ILU(0)
        on a diffusion operator at long time steps) and a scalable one that costs more
        per iteration (algebraic multigrid): :data:`CELL_BLOCK_GAMG`.
    """

    def __init__(self, comm, R, P, prefix: str, defaults: Mapping | None = None,
                 options: Mapping | None = None, block_size: int = 1,
                 escalate: Escalation | None = None):
        self.comm, self.prefix = comm, prefix
        self.R = None if R is None else sp.csr_matrix(R)
        self.P = None if P is None else sp.csr_matrix(P)
        self._options = {**(defaults or {}), **(options or {})}
        apply_options(prefix, self._options)
        self.block_size = int(block_size)
        chosen = "pc_type" in (options or {}) or given_by_user(prefix + "pc_type")
        self._escalate = None if chosen else escalate
        self._switched = False   # this level's KSP uses the escalate options
        #: coarse solves of :meth:`solve_coarse`, and those that stopped unconverged (an
        #: inexact solve at its ``ksp_max_it``: the outer Krylov solve still reaches its
        #: own tolerance, at the cost of more outer iterations; reported, not raised)
        self.solves = 0
        self.unconverged = 0
        self.solver: LinearSolver | None = None
        self._pattern: tuple | None = None  # the set_matrix operator's (indptr, indices)
        #: set_matrix's operator stored as BAIJ blocks of ``block_size`` (decided at its
        #: first matrix: a direct LU, :func:`direct_lu`, and no escalation)
        self._blocked: bool | None = None
        self._Rm = self._Pm = None
        self._rc = self._ec = None
        #: the Galerkin product's A P and the fine matrix and its nonzeros it was built for
        self._AP = None
        self._fine: tuple | None = None

    # ---- the coarse operator ----------------------------------------------------------
    def set_matrix(self, C: sp.csr_matrix) -> None:
        """Use ``C`` (owned coarse rows, *global* coarse columns, square) as the coarse
        operator, and factor it: in place if its pattern is the previous operator's on
        every rank (the values written into the kept PETSc matrix, whose symbolic
        factorisation PETSc keeps), else in a new matrix (the previous one is freed).
        Collective: all ranks take the same branch."""
        C = sp.csr_matrix(C)
        C.sum_duplicates()
        C.sort_indices()
        self._fine = None  # a later set_galerkin builds its product anew
        same = self.solver is not None and self._pattern is not None and C.nnz == len(
            self._pattern[1]) and np.array_equal(C.indptr, self._pattern[0]) \
            and np.array_equal(C.indices, self._pattern[1])
        # the decision is collective: the new matrix of the other branch is built by all
        # ranks, so every rank takes it if any rank's pattern changed (a pattern changed
        # on one rank only deadlocked: scipy drops exact-zero sums, so patterns follow
        # values)
        if all(allgather_objects(self.comm, bool(same))):
            from petsc4py import PETSc

            it = PETSc.IntType
            if self._blocked:
                set_blocked_values(self.solver.mat, C, self.block_size)
            else:
                self.solver.mat.setValuesCSR(C.indptr.astype(it), C.indices.astype(it),
                                             C.data)
            self.solver.mat.assemble()
            self.solver.set_operators()
            self.solver.ksp.setUp()
            return
        self._pattern = (C.indptr.copy(), C.indices.copy())
        if self._escalate is not None and self._escalate.switched_at and \
                not self._switched:          # another level sharing it switched
            self._adopt()
        if self._blocked is None:
            self._blocked = self.block_size > 1 and self._escalate is None and \
                direct_lu(self.prefix)
        if self._blocked:
            mat = bcsr_matrix(self.comm, C, C.shape[1], self.block_size)
        else:
            mat = csr_matrix(self.comm, C, C.shape[1])
            if self.block_size > 1:
                mat.setBlockSize(self.block_size)
        if self.solver is None:
            self.solver = LinearSolver(mat, self.prefix)  # options inserted at __init__
        else:
            self.solver.mat.destroy()
            self.solver.mat = mat
            self.solver.set_operators(mat)
        self.solver.ksp.setUp()

    def set_galerkin(self, A) -> None:
        """Use the Galerkin product :math:`RAP` of the distributed fine operator ``A``
        (a PETSc matrix on the owned fine unknowns) as the coarse operator.

        A new call with the same matrix object and as many nonzeros on every rank (new
        values on a kept pattern: a Newton Jacobian) recomputes the products' values only
        (PETSc's ``MAT_REUSE_MATRIX``) and refactors the coarse matrix in place, its
        symbolic factorisation kept; the decision is collective. On the steady film trap
        (2 ranks, 5 Newton) the symbolic products took 0.67 of 0.82 s."""
        self._need_maps("set_galerkin")
        if self._Rm is None:
            lo = A.getOwnershipRange()[0]
            self._Rm = _mat(self.comm, self.R, lo, self.R.shape[1])
            c0 = self._Rm.getOwnershipRange()[0]
            self._Pm = _mat(self.comm, self.P, c0, self.P.shape[1])
        nnz = A.getInfo()["nz_used"]
        # the same PETSc object (petsc4py wraps it anew on every getOperators; the kept
        # wrapper holds a reference, so its handle cannot be reused by another matrix)
        same = self.solver is not None and self._fine is not None and \
            self._fine[0].handle == A.handle and self._fine[1] == nnz
        if all(allgather_objects(self.comm, bool(same))):
            A.matMult(self._Pm, self._AP)
            self._Rm.matMult(self._AP, self.solver.mat)
            self.solver.set_operators()
            self.solver.ksp.setUp()
            return
        if self._AP is not None:
            self._AP.destroy()
        self._AP = A.matMult(self._Pm)
        Ac = self._Rm.matMult(self._AP)
        if self.solver is not None:
            self.solver.destroy()
            self._rc.destroy()
            self._ec.destroy()
        self.solver = LinearSolver(Ac, self.prefix)
        self.solver.ksp.setUp()
        self._rc, self._ec = Ac.createVecs()
        self._fine = (A, nnz)

    # ---- the correction ---------------------------------------------------------------
    def correct(self, r: np.ndarray) -> np.ndarray:
        """:math:`P A_c^{-1} R\\,r` for the owned fine residual ``r`` (numpy)."""
        self._need_maps("correct")
        return self.P @ self.solver.solve(self.R @ r)

    def _need_maps(self, what: str) -> None:
        """Refuse ``what`` (a method that applies R and P) on a level built without
        them."""
        if self.R is None or self.P is None:
            raise RuntimeError(f"coarse level {self.prefix!r} was built without R and P "
                               f"(the model restricts and prolongs itself): {what} needs "
                               "them; call solve_coarse on the restricted residual")

    def solve_coarse(self, rc: np.ndarray) -> np.ndarray:
        """:math:`A_c^{-1}r_c` for the owned coarse residual ``rc`` (numpy): the coarse
        solve alone, for a model that restricts and prolongs itself (with the switch of
        ``escalate`` before it, if a level sharing it switched, or after it, if it took
        too many iterations)."""
        esc = self._escalate
        if esc is not None and esc.switched_at and not self._switched:
            self._switch()
        out = self.solver.solve(rc)
        self.solves += 1
        ksp = self.solver.ksp
        its, reason = int(ksp.getIterationNumber()), int(ksp.getConvergedReason())
        if esc is not None and not self._switched and (its > esc.limit or reason < 0):
            from petsc4py import PETSc

            esc.switched_at = (self.solves, its)
            self._switch()
            log.info("coarse solve %s: %d iterations (%s, limit %d) at solve %d; the "
                     "later solves use %s", self.prefix, its,
                     reason_name(PETSc.KSP.ConvergedReason, reason), esc.limit,
                     self.solves, ", ".join(f"{k} {v}" for k, v in esc.options.items()))
        if reason < 0:
            self.unconverged += 1
            if self.unconverged == 1:
                from petsc4py import PETSc

                log.info("coarse solve %s stopped unconverged at solve %d (%s after %d "
                         "iterations); counted in the run's summary", self.prefix,
                         self.solves, reason_name(PETSc.KSP.ConvergedReason, reason), its)
        return out

    def _adopt(self) -> None:
        """The ``escalate`` options into the database under the prefix (for the KSP's next
        ``setFromOptions``)."""
        self._switched = True
        self._options = self._escalate.applied_to(self._options)
        apply_options(self.prefix, self._options)

    def _switch(self) -> None:
        """This level's KSP to the ``escalate`` options (collective: every rank saw the
        same iteration count)."""
        self._adopt()
        set_from_options(self.solver.ksp, self.prefix)
        self.solver.set_operators()
        self.solver.ksp.setUp()

    def add_correction(self, t, y) -> None:
        """``y += P A_c^{-1} R t`` on PETSc vectors of the fine layout (after
        :meth:`set_galerkin`)."""
        self._Rm.mult(t, self._rc)
        self.solver.ksp.solve(self._rc, self._ec)
        self._Pm.multAdd(self._ec, y, y)

    @property
    def iterations(self) -> int:
        """Krylov iterations of all coarse solves."""
        return 0 if self.solver is None else self.solver.iterations

    def destroy(self) -> None:
        """Free the coarse matrix, its factorisation and the transfer matrices."""
        if self.solver is not None:
            self.solver.destroy()
            self.solver = None
        self._pattern = self._fine = None
        for o in (self._Rm, self._Pm, self._rc, self._ec, self._AP):
            if o is not None:
                o.destroy()
        self._Rm = self._Pm = self._rc = self._ec = self._AP = None


class TwoLevelPC:
    r"""petsc4py ``python`` PC context: a one-level PETSc PC, then the Galerkin coarse
    correction on the space ``(R, P)`` (module docstring), optionally the one-level PC
    again (a symmetric cycle).

    By default the one-level stage is a PETSc PC under the outer KSP's own prefix, so the
    options that configured the KSP's PC before the coarse level was added
    (``-<prefix>pc_type asm``, ``-<prefix>pc_asm_overlap``, ``-<prefix>sub_pc_type``,
    ...) configure it unchanged (:func:`add_coarse_level`); :func:`block_jacobi_two_level`
    gives it its own prefix ``<prefix>bj_``. The coarse solve reads ``<prefix>coarse_*``
    (default :func:`exact_defaults`: LU, redundant on several ranks).

    Parameters
    ----------
    comm : petsc4py.PETSc.Comm
        Communicator of the fine system.
    R, P : scipy sparse matrices
        Rank-local restriction and prolongation (:class:`CoarseCorrection`).
    prefix : str
        Options prefix of the outer KSP.
    one_prefix : str, optional
        Options prefix of the one-level PC (default ``prefix``).
    one_defaults, coarse_defaults : mapping, optional
        Default options of the one-level PC (under ``one_prefix``; none by default) and
        of the coarse KSP (default :func:`exact_defaults`).
    subdomain : tuple of ndarray, optional
        ``(rows, owned)`` of :func:`fvqp.solvers.asm.set_asm_subdomains` for a one-level
        additive Schwarz PC (ignored by other types).
    post : bool
        Apply the one-level PC again after the coarse correction.
    fix : str, optional
        What a user can do when the coarse solve fails (e.g. the model's option for one
        level); it ends :attr:`failure`.

    Notes
    -----
    ``setUp`` (PETSc calls it for every new preconditioning matrix, so not when the
    preconditioner is lagged) sets up the one-level PC and forms the Galerkin product
    :math:`A_c = RBP` of the preconditioning matrix :math:`B`; ``apply`` is

    .. math:: y = M r,\quad y \mathrel{+}= P A_c^{-1} R\,(r - A y)
              \ [,\ y \mathrel{+}= M (r - A y)].
    """

    def __init__(self, comm, R, P, prefix: str, subdomain: tuple | None = None,
                 post: bool = False, one_prefix: str | None = None,
                 one_defaults: Mapping | None = None,
                 coarse_defaults: Mapping | None = None, fix: str = ""):
        from petsc4py import PETSc

        self.prefix = prefix if one_prefix is None else one_prefix
        self.subdomain, self.post, self.fix = subdomain, post, fix
        #: why the last application failed (None: it did not), for the solver's message
        self.failure: str | None = None
        if one_defaults:
            apply_options(self.prefix, one_defaults)
        self.coarse = CoarseCorrection(
            comm, R, P, prefix + "coarse_",
            exact_defaults(comm) if coarse_defaults is None else coarse_defaults)
        self.one = PETSc.PC().create(comm=comm)
        self.one.setOptionsPrefix(self.prefix)
        self.A = self.t = self.z = None

    def setUp(self, pc) -> None:
        from .asm import set_asm_subdomains

        A, B = pc.getOperators()
        self.one.setOperators(A, B)
        if self.A is None:
            set_from_options(self.one, self.prefix)
            if self.subdomain is not None:
                set_asm_subdomains(self.one, *self.subdomain)
            self.t, self.z = A.createVecLeft(), A.createVecLeft()
        self.A = A
        self.one.setUp()
        self.coarse.set_galerkin(B)

    def apply(self, pc, x, y) -> None:
        self.one.apply(x, y)
        self.A.mult(y, self.t)
        self.t.aypx(-1.0, x)           # t = x - A y
        self.coarse.add_correction(self.t, y)
        reason = int(self.coarse.solver.ksp.getConvergedReason())
        if reason < 0:
            self._failed(pc, reason)
            return
        if self.post:
            self.A.mult(y, self.t)
            self.t.aypx(-1.0, x)
            self.one.apply(self.t, self.z)
            y.axpy(1.0, self.z)

    def _failed(self, pc, reason: int) -> None:
        """Record a failed coarse solve and mark the PC failed (the outer Krylov solve then
        stops with ``DIVERGED_PC_FAILED``)."""
        from petsc4py import PETSc

        sub = reason_name(PETSc.PC.FailedReason,
                          self.coarse.solver.ksp.getPC().getFailedReason())
        self.failure = (f"the coarse solve of the two-level preconditioner failed "
                        f"({reason_name(PETSc.KSP.ConvergedReason, reason)}, its PC {sub}). "
                        f"Fix: "
                        f"-{self.coarse.prefix}pc_factor_shift_type nonzero"
                        + (f", or {self.fix}" if self.fix else ""))
        if pc is not None:
            pc.setFailedReason(PETSc.PC.FailedReason.SUBPC_ERROR)

    def destroy(self, pc=None) -> None:
        for o in (self.one, self.t, self.z):
            if o is not None:
                o.destroy()
        self.coarse.destroy()


def block_jacobi_two_level(comm, R, P, prefix: str) -> TwoLevelPC:
    """A :class:`TwoLevelPC` whose one-level stage is block Jacobi with an LU per rank in
    RCM order (options ``<prefix>bj_*``, :data:`BLOCK_JACOBI_DEFAULTS`) and whose coarse
    solve is one GAMG V-cycle (``<prefix>coarse_*``, :data:`GALERKIN_COARSE_DEFAULTS`):
    the python-PC context of a :class:`~fvqp.solvers.linear.LinearSolver`
    (``pc_context``). User: bte's isotropic coarse level, :mod:`fvqp.models.bte.coarse`."""
    return TwoLevelPC(comm, R, P, prefix, one_prefix=prefix + "bj_",
                      one_defaults=BLOCK_JACOBI_DEFAULTS,
                      coarse_defaults=GALERKIN_COARSE_DEFAULTS)


def add_coarse_level(ksp, R, P, prefix: str, subdomain: tuple | None = None,
                     post: bool = False, fix: str = "") -> TwoLevelPC:
    """Make the PC of ``ksp`` (its options already read) the one-level stage of a
    :class:`TwoLevelPC` with the coarse space ``(R, P)``: the KSP's PC becomes the
    ``python`` PC of the two levels; the one-level PC is rebuilt from the same options
    under ``prefix``. Returns the context (its ``failure``, ``coarse.iterations``)."""
    ctx = TwoLevelPC(ksp.getComm(), R, P, prefix, subdomain, post, fix=fix)
    pc = ksp.getPC()
    pc.setType("python")
    pc.setPythonContext(ctx)
    return ctx


class AggregateCoarse(CoarseLevel):
    r"""Coarse level on cell aggregates, separately for every unknown of a cell (energy
    bin), factored redundantly on every rank (module docstring).

    The fine operator :math:`S` has a dense :math:`N\times N` block per cell and couplings
    between cells that are diagonal in the cell's unknowns (transport per energy). With
    the coarse space piecewise constant on every aggregate and bin, the Galerkin operator
    :math:`S_c = P^TSP` keeps that structure (Mandel 1993; Smith, Bjørstad & Gropp 1996,
    ch. 2 and 5),

    .. math::
        (S_c)_{IJ} = \sum_{c\in I,\ b\in J} S_{cb},

    a dense block per aggregate (the sum of its cells' blocks; couplings inside an
    aggregate cancel except for boundary terms) plus bin-diagonal couplings between
    neighbouring aggregates. It is small (aggregates × N), summed over the ranks and
    factored on every rank (SuperLU), so :meth:`correct` needs one reduction of the
    restricted residual and no PETSc object.

    Parameters
    ----------
    comm : petsc4py.PETSc.Comm
        Communicator of the fine system (the sums over ranks).
    agg : ndarray of int
        Aggregate of every local cell (owned, then ghosts), the same numbering on every
        rank (:func:`fvqp.parallel.coarse.cell_aggregates`).
    n_owned : int
        Owned cells (the first ``n_owned`` of ``agg``).
    N : int
        Unknowns (energy bins) per cell.
    n_agg : int
        Number of aggregates.
    rows, cols, bins : ndarray of int
        Local row cell (owned), column cell and bin of every bin-diagonal coupling entry
        of :math:`S`, in the order of the values passed to :meth:`build`.
    diagonal : bool
        Keep only the bin-diagonal part of the aggregated cell blocks (cheaper coarse
        factorisation, weaker correction).
    """

    def __init__(self, comm, agg: np.ndarray, n_owned: int, N: int, n_agg: int,
                 rows: np.ndarray, cols: np.ndarray, bins: np.ndarray,
                 diagonal: bool = False):
        self.N, self.n, self.n_agg, self.diagonal = N, n_owned, n_agg, diagonal
        self.comm = comm
        self.agg = agg
        #: restriction of owned cells to aggregates (sums), per bin
        self.R = sp.csr_matrix((np.ones(self.n), (agg[:self.n], np.arange(self.n))),
                               shape=(n_agg, self.n))
        self.P = self.R.T.tocsr()
        I, J = agg[rows], agg[cols]
        same = I == J
        self._diag = (I[same], bins[same], same)
        # couplings between aggregates: a global list of pairs (the same on every rank)
        key = I[~same] * n_agg + J[~same]
        pairs = distinct(allgather_concat(comm, distinct(key)))
        self._pair_of_entry = np.searchsorted(pairs, key)
        self._e_off = bins[~same]
        self.pairs = (pairs // n_agg, pairs % n_agg)
        self.blocks = np.zeros((n_agg, N, N))
        self.lu = None

    def begin(self) -> None:
        """Start a new coarse operator (cell blocks and couplings follow)."""
        self.blocks[:] = 0.0

    def add_blocks(self, cs: np.ndarray, blocks: np.ndarray) -> None:
        """Add the dense blocks of owned cells ``cs`` to their aggregates."""
        R = sp.csr_matrix((np.ones(len(cs)), (self.agg[cs], np.arange(len(cs)))),
                          shape=(self.n_agg, len(cs)))
        self.blocks += (R @ blocks.reshape(len(cs), -1)).reshape(self.blocks.shape)

    def build(self, values: np.ndarray) -> None:
        """Add the coupling entries ``values`` (order of ``rows, cols``), sum over the
        ranks and factor :math:`S_c`."""
        N, na = self.N, self.n_agg
        I, e, same = self._diag
        self.blocks += np.bincount((I * N + e) * N + e, values[same],
                                   na * N * N).reshape(na, N, N)
        npair = len(self.pairs[0])
        off = np.bincount(self._pair_of_entry * N + self._e_off, values[~same],
                          npair * N).reshape(npair, N)
        sum_in_place(self.comm, self.blocks, off)
        if self.diagonal:
            self.blocks *= np.eye(N)
        k = np.arange(N)
        br = (np.arange(na)[:, None, None] * N + k[None, :, None]).repeat(N, axis=2)
        bc = (np.arange(na)[:, None, None] * N + k[None, None, :]).repeat(N, axis=1)
        pr = (self.pairs[0][:, None] * N + k).ravel()
        pc = (self.pairs[1][:, None] * N + k).ravel()
        S = sp.csc_matrix((np.concatenate([self.blocks.ravel(), off.ravel()]),
                           (np.concatenate([br.ravel(), pr]), np.concatenate([bc.ravel(), pc]))),
                          shape=(na * N, na * N))
        S.eliminate_zeros()  # the off-diagonal block entries with ``diagonal``
        self.lu = spla.splu(S)

    def correct(self, r: np.ndarray) -> np.ndarray:
        """:math:`P S_c^{-1} P^T r` for an owned-rows residual ``r`` of shape (n, N)."""
        rc = np.ascontiguousarray(self.R @ r)
        sum_in_place(self.comm, rc)
        zc = self.lu.solve(rc.ravel()).reshape(self.n_agg, self.N)
        return zc[self.agg[:self.n]]

    def destroy(self) -> None:
        self.lu = None

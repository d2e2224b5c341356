"""Krylov solves of an assembled PETSc matrix, configured under an options prefix.

The preconditioners built from a model's structure (e.g. the Schur complement of
:mod:`fvqp.models.transport.schur`) describe their matrices (:mod:`.blockcsr`) and the
subdomains they want; this module builds the KSP: defaults, then the case's options,
under the prefix, then ``setFromOptions`` last so the command line wins
(:mod:`.options`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np

from .options import apply_options, note_read, set_from_options
from .result import LinearSolveResult

__all__ = ["COMPACT_FGMRES_RESTART", "LinearSolver", "csr_matrix", "operator_solver",
           "option_value"]

log = logging.getLogger("fvqp.solvers")

#: FGMRES restart length of the solves whose vectors are the whole state (the coupled bte
#: sweep path, bte_chip's films, transport's condensed solve): PETSc's FGMRES starts with
#: 16 state-sized vectors (both bases, the work vectors) and, at the 7th iteration of a
#: cycle, adds 2 min(restart - 5, 10) at once: 36 vectors for every solve past 6
#: iterations at a restart of 30 (measured with PETSc's malloc accounting; 2 more per
#: restart step from 6 to 15). A restart of 6 keeps 16. With the bte sweeps (5-7 Krylov
#: per Newton) the restarts cost nothing measurable: 10 ns of the absorber case (finer
#: mesh, 1.5e6 unknowns, adaptive BDF2) took 939 Krylov at a restart of 30 and 940 at 6,
#: the same steps and QP numbers to 1e-14, peak 1 813 -> 1 560 MB
COMPACT_FGMRES_RESTART = 6


def csr_matrix(comm, csr, n_global: int):
    """A PETSc AIJ matrix from this rank's owned rows ``csr`` (a scipy CSR matrix whose
    column indices are global, sorted and without duplicates) of an ``n_global``-square
    distributed matrix."""
    from petsc4py import PETSc

    nr = csr.shape[0]
    return PETSc.Mat().createAIJ(
        size=((nr, n_global), (nr, n_global)), comm=comm,
        csr=(csr.indptr.astype(PETSc.IntType), csr.indices.astype(PETSc.IntType), csr.data))


def bcsr_matrix(comm, csr, n_global: int, bs: int):
    """A PETSc BAIJ matrix of ``bs`` x ``bs`` blocks from this rank's owned rows ``csr``
    (as :func:`csr_matrix`; the owned rows and ``n_global`` multiples of ``bs``): every
    block that holds an entry is stored dense. PETSc's LU of it runs on the dense
    blocks (on the chip films' coarse level, 8 unknowns per cell, the numeric
    factorisation took 0.10 against 0.50 s as AIJ, the same fill)."""
    from petsc4py import PETSc

    b = _blocks(csr, bs)
    nr = csr.shape[0]
    return PETSc.Mat().createBAIJ(
        size=((nr, n_global), (nr, n_global)), bsize=bs, comm=comm,
        csr=(b.indptr.astype(PETSc.IntType), b.indices.astype(PETSc.IntType),
             b.data.ravel()))


def set_blocked_values(mat, csr, bs: int) -> None:
    """New values of :func:`bcsr_matrix`'s matrix ``mat`` from ``csr`` of the same
    pattern (then ``mat.assemble()``)."""
    from petsc4py import PETSc

    b = _blocks(csr, bs)
    mat.setValuesBlockedCSR(b.indptr.astype(PETSc.IntType),
                            b.indices.astype(PETSc.IntType), b.data.ravel())


def _blocks(csr, bs: int):
    """``csr`` as sorted block rows of ``bs`` x ``bs`` blocks (scipy BSR, row-major
    blocks as PETSc's default ``MAT_ROW_ORIENTED``)."""
    b = csr.tobsr(blocksize=(bs, bs))
    b.sum_duplicates()
    b.sort_indices()
    return b


def option_value(name: str, default):
    """The value of the option ``name`` (with its prefix) in PETSc's database, of the
    type of ``default`` (str, int, float or bool), or ``default`` if it is not set."""
    from petsc4py import PETSc

    note_read(name)  # a case's key read here is not one that nothing read
    db = PETSc.Options()
    get = {bool: db.getBool, int: db.getInt, float: db.getReal}.get(type(default),
                                                                     db.getString)
    return get(name, default)


def case_option(name: str, options: dict, key: str, default):
    """:func:`option_value` of ``name`` with the case's value ``options[key]`` (taken out
    of ``options``: a key of fvqp's own, not a PETSc option) as its default, converted to
    the type of ``default``; the command line wins. Booleans accept PETSc's spellings
    (``false``, ``0``, ``no``, ``off`` are false)."""
    if key in options:
        value = options.pop(key)
        if isinstance(default, bool):
            default = str(value).strip().lower() not in ("false", "0", "no", "off", "")
        else:
            default = type(default)(value)
    return option_value(name, default)


class LinearSolver:
    """A KSP on the matrix ``mat`` under ``prefix``.

    Parameters
    ----------
    mat : petsc4py.PETSc.Mat
        The operator (and preconditioning matrix); its values may be rewritten in place
        between solves (call :meth:`set_operators` after each rewrite).
    prefix : str
        Options prefix, e.g. ``"transport_schur_"``.
    defaults, options : mapping, optional
        PETSc options without the prefix: the caller's defaults, then the user's (case
        file); ``sub_*`` defaults are dropped unless the PC has sub-solvers (bjacobi, asm).
        Both None: the options under the prefix are already in the database (inserted
        once for a family of solvers sharing the prefix).
    subdomains : tuple of ndarray, optional
        ``(rows, owned_rows)``: global row numbers of this rank's additive-Schwarz
        subdomain, in the order its factorisation should eliminate them, and the owned
        ones among them. Used when the PC type is ``asm`` (passed unsorted, overlap 0 on
        top).
    pc_context : object, optional
        A model preconditioner as a petsc4py python-PC context (``setUp``, ``apply``);
        it replaces the PC after the options are read.
    """

    def __init__(self, mat, prefix: str, defaults: Mapping | None = None,
                 options: Mapping | None = None, subdomains=None, pc_context=None):
        from petsc4py import PETSc

        self.mat, self.prefix = mat, prefix
        if defaults is not None or options is not None:
            user = dict(options or {})
            opts = {**(defaults or {}), **user}
            if opts.get("pc_type") not in ("bjacobi", "asm"):  # no sub-solvers
                opts = {k: v for k, v in opts.items()
                        if not k.startswith("sub_") or k in user}
            apply_options(prefix, opts)
        self.ksp = PETSc.KSP().create(comm=mat.getComm())
        self.ksp.setOperators(mat)
        self.ksp.setOptionsPrefix(prefix)
        if subdomains is not None and option_value(prefix + "pc_type", "") == "asm":
            rows, owned = (PETSc.IS().createGeneral(np.asarray(r).astype(PETSc.IntType),
                                                    comm=PETSc.COMM_SELF)
                           for r in subdomains)
            pc = self.ksp.getPC()
            pc.setType("asm")
            pc.setASMLocalSubdomains(1, [rows], [owned])
            pc.setASMOverlap(0)
            pc.setASMSortIndices(False)
        set_from_options(self.ksp, prefix)  # last: the command line wins
        self.pc_context = pc_context
        if pc_context is not None:
            self.ksp.getPC().setType("python")
            self.ksp.getPC().setPythonContext(pc_context)
        self._rhs, self._sol = mat.createVecs()
        self._res = None
        #: Krylov iterations of all solves (at least 1 per solve)
        self.iterations = 0
        #: :meth:`use_short_restart`'s ``(restart, limit, fallback)``, None without; and
        #: whether the solver has switched to ``fallback``
        self._short: tuple[int, int, int] | None = None
        self.restart_switched = False
        #: whether the next solves keep the preconditioner as last set up
        #: (:meth:`keep_preconditioner`), and how many solves failed with a kept one
        self._kept = False
        self.kept_failures = 0

    def use_short_restart(self, restart: int, limit: int, fallback: int) -> None:
        """GMRES restarted after ``restart`` iterations, for at most ``limit`` iterations
        of a solve (:meth:`solve_from`): a solve not converged by then goes on from its
        iterate with the restart ``fallback``, which this solver keeps from then on (the
        iterations add up, within the KSP's ``max_it``; a ``max_it`` of at most
        ``limit`` keeps the short restart without a cap). Only a GMRES KSP; set once (a
        later call changes nothing)."""
        if self._short is None and self.ksp.getType() == "gmres":
            self.ksp.setGMRESRestart(restart)
            self._short = (restart, limit, fallback)

    def set_restart_switched(self, switched: bool) -> None:
        """With :meth:`use_short_restart`: whether the next solves take the ``fallback``
        restart from their start (the system solved has switched before, e.g. in the
        run a checkpoint was written by) or the short one with its cap. Without it,
        nothing changes. Several systems may share this solver and switch one by one."""
        if self._short is None or bool(switched) == self.restart_switched:
            return
        restart, _, fallback = self._short
        self.ksp.setGMRESRestart(fallback if switched else restart)
        self.restart_switched = bool(switched)

    def keep_preconditioner(self, keep: bool) -> None:
        """Solve the next systems with the preconditioner as it was last set up
        (``keep``), although :meth:`set_operators` says the operator's values changed
        (PETSc's ``PCSetReusePreconditioner``; the operator of the product stays the new
        one, so a solve still meets its tolerance, in more iterations if the kept
        preconditioner fits it less well). ``False``: set up anew at the next solve. A
        solve that fails with a kept preconditioner goes on from its iterate with one
        set up anew (:meth:`solve_from`, counted in :attr:`kept_failures`)."""
        pc = self.ksp.getPC()
        pc.setReusePreconditioner(bool(keep))
        # PETSc hands the flag on to block Jacobi's and ASM's block solvers only when it
        # applies them, after it has set them up for the solve: without their own flag
        # the first solve after a change factors the blocks anew, and the first after a
        # kept one keeps them (2026-11-29, PETSc 3.26)
        for sub in _block_solvers(pc):
            sub.getPC().setReusePreconditioner(bool(keep))
        self._kept = bool(keep)

    def set_operators(self, mat=None) -> None:
        """Tell the KSP that the matrix values changed (the preconditioner is set up
        anew at the next solve, unless :meth:`keep_preconditioner` keeps it)."""
        self.ksp.setOperators(self.mat if mat is None else mat)

    def solve(self, b: np.ndarray) -> np.ndarray:
        """:math:`A^{-1} b` (owned rows) to the KSP's tolerance."""
        self._rhs.setArray(b)
        self.ksp.solve(self._rhs, self._sol)
        self.iterations += max(int(self.ksp.getIterationNumber()), 1)
        return self._sol.getArray().copy()

    def solve_from(self, b: np.ndarray, x0: np.ndarray | None = None
                   ) -> tuple[np.ndarray, LinearSolveResult]:
        """:math:`A^{-1} b` starting from ``x0`` (zero if None); returns the owned
        solution and the outcome (no exception: the caller decides what a failure
        means).

        Two second chances, each from the failed solve's iterate (from ``x0`` if that is
        not finite): with :meth:`use_short_restart`, a solve not converged in its
        ``limit`` iterations goes on with the ``fallback`` restart (within the KSP's
        ``max_it`` in all); with :meth:`keep_preconditioner`, a solve that fails with the
        kept preconditioner goes on with one set up anew for this operator (a fresh
        ``max_it``: the kept preconditioner's iterations are not charged to the
        system's own). The outcome's iterations are those of both attempts."""
        self._rhs.setArray(b)
        if x0 is not None:
            self._sol.setArray(x0)
        self.ksp.setInitialGuessNonzero(x0 is not None)
        max_it = self.ksp.getTolerances()[3]
        short = (self._short is not None and not self.restart_switched
                 and max_it > self._short[1])
        if not (short or self._kept):
            res = self._solve_in_place()
            return self._sol.getArray().copy(), res
        start = x0           # the caller's array: the solves write into ``_sol`` only
        try:
            if short:    # the short restart for at most ``limit`` iterations
                self.ksp.setTolerances(max_it=self._short[1])
            res = self._solve_in_place()
            if res.success:
                return self._sol.getArray().copy(), res
            prefix, budget = self.ksp.getOptionsPrefix(), max_it - res.iterations
            if short:
                restart, _, fallback = self._short
                self.set_restart_switched(True)
                log.info("%sGMRES did not converge in %d iterations with restart %d "
                         "(reason %d): restart %d for this system from now on", prefix,
                         res.iterations, restart, res.reason, fallback)
            if self._kept:
                self.keep_preconditioner(False)
                self.kept_failures += 1
                budget = max_it
                log.info("%sthe kept preconditioner did not converge in %d iterations "
                         "(reason %d): set up anew for this system", prefix,
                         res.iterations, res.reason)
            if not np.isfinite(self._sol.getArray()).all():    # on from the start
                if start is None:
                    self._sol.zeroEntries()
                else:
                    self._sol.setArray(start)
            self.ksp.setInitialGuessNonzero(True)        # on from where it stopped
            self.ksp.setTolerances(max_it=max(budget, 1))
            again = self._solve_in_place()
        finally:
            self.ksp.setTolerances(max_it=max_it)
        return self._sol.getArray().copy(), LinearSolveResult(
            again.reason, res.iterations + again.iterations, again.residual_norm)

    def _solve_in_place(self) -> LinearSolveResult:
        """One KSP solve of ``_rhs`` into ``_sol`` (its initial guess as set)."""
        self.ksp.solve(self._rhs, self._sol)
        res = LinearSolveResult(int(self.ksp.getConvergedReason()),
                                int(self.ksp.getIterationNumber()),
                                float(self.ksp.getResidualNorm()))
        self.iterations += max(res.iterations, 1)
        return res

    def destroy(self) -> None:
        """Free the KSP, its factorisations and the matrix."""
        self.ksp.destroy()
        self.mat.destroy()
        if self.pc_context is not None and hasattr(self.pc_context, "destroy"):
            self.pc_context.destroy()

    def residual(self, b: np.ndarray, x: np.ndarray) -> np.ndarray:
        """:math:`b - A x` (owned rows) with the KSP's current operator (after
        :meth:`set_operators` with another matrix: that one, not the constructor's)."""
        a = self.ksp.getOperators()[0]
        if self._res is None:
            self._res = a.createVecs()[0]
        self._sol.setArray(x)
        a.mult(self._sol, self._res)
        return b - self._res.getArray()


def _block_solvers(pc) -> list:
    """The block solvers of a set-up block-Jacobi or additive-Schwarz PC, else none."""
    from petsc4py import PETSc

    kind = pc.getType()
    if kind not in ("bjacobi", "asm"):
        return []
    try:
        return list(pc.getBJacobiSubKSP() if kind == "bjacobi" else pc.getASMSubKSP())
    except PETSc.Error:   # not set up yet: its first set-up factors the blocks anyway
        return []


class _Action:
    """petsc4py python-Mat context: ``y = action(x)`` on the owned values."""

    def __init__(self, action):
        self.action = action

    def mult(self, mat, x, y) -> None:
        y.setArray(self.action(x.getArray(readonly=True)))


class _Apply:
    """petsc4py python-PC context: ``y = apply(x)`` on the owned values."""

    def __init__(self, apply):
        self.apply_fn = apply

    def apply(self, pc, x, y) -> None:
        y.setArray(self.apply_fn(x.getArray(readonly=True)))


def operator_solver(comm, n_owned: int, action, precondition, prefix: str,
                    defaults: Mapping | None = None) -> LinearSolver:
    """A KSP on an operator known by its action, preconditioned by a given application.

    Parameters
    ----------
    comm
        Communicator of the distributed unknowns (mpi4py or PETSc).
    n_owned : int
        Unknowns this rank owns.
    action, precondition : callable
        ``owned array -> owned array``: the operator and the preconditioner (each may
        exchange ghosts itself; both are called collectively).
    prefix : str
        Options prefix of the KSP (``defaults`` under it; the command line wins).
    defaults : mapping, optional
        PETSc options without the prefix (e.g. ``{"ksp_type": "gmres"}``).

    Returns
    -------
    LinearSolver
        Its ``solve_from`` returns the owned solution and the KSP's outcome; set the
        tolerances on its ``ksp`` per solve if they change.
    """
    from petsc4py import PETSc

    mat = PETSc.Mat().createPython(((n_owned, PETSc.DETERMINE), (n_owned, PETSc.DETERMINE)),
                                   _Action(action), comm=comm)
    mat.setUp()
    return LinearSolver(mat, prefix, defaults=defaults or {},
                        pc_context=_Apply(precondition))

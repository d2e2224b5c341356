"""Newton–Krylov solves with PETSc SNES over a distributed cell vector.

A *problem* hands the solver two callables on local arrays (owned cells then ghosts):
``residual(x_local) -> r_owned`` and ``jacobian(x_local) -> values`` in the order of a
fixed COO sparsity pattern. The solver owns the PETSc objects; physics code never sees
them.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping

import numpy as np
import scipy.sparse as sp

from .forcing import Forcing, ForcingOptions
from .linear import option_value
from .options import (
    given_by_user,
    hold_options,
    normalise_prefix,
    release_options,
    set_from_options,
    unreported_unused,
)
from .result import ConvergenceError, SolveResult, reason_name

log = logging.getLogger(__name__)


class DomainError(ArithmeticError):
    """Raised by a residual evaluated outside its domain (e.g. a negative temperature):
    SNES's line search then shortens the step instead of failing."""


class SparseAssembler:
    """Fixed-pattern MPIAIJ matrix filled from COO values on local indices.

    Parameters
    ----------
    dist : fvqp.parallel.Distribution
    rows, cols : ndarray of int
        Local row (owned, ``< n_owned``) and column (owned or ghost) of every COO entry;
        duplicates are summed.
    block_size : int
        Block size of the matrix (unknowns per cell of a coupled per-cell block).
    """

    def __init__(self, dist, rows: np.ndarray, cols: np.ndarray, block_size: int = 1):
        from petsc4py import PETSc

        n_own, N = dist.local.n_owned, dist.n_global
        gcols = dist.global_index(cols).astype(np.int64)
        # the pattern by scipy's COO -> CSR (a counting sort by rows, then each row's
        # columns sorted and merged): 2.9x faster than np.unique on the keys (17.6 M
        # entries, the 2 500-cell film trap: 2.6 -> 0.9 s), the same pattern and map
        pat = sp.coo_matrix((np.ones(len(rows)), (rows, gcols)), shape=(n_own, N)).tocsr()
        pat.sum_duplicates()
        urow = np.repeat(np.arange(n_own, dtype=np.int64), np.diff(pat.indptr))
        ucol = pat.indices.astype(np.int64)
        self.map = np.searchsorted(urow * N + ucol, rows.astype(np.int64) * N + gcols)
        self.indptr = pat.indptr.astype(PETSc.IntType)
        self.indices = ucol.astype(PETSc.IntType)
        lo, hi = dist.starts[dist.rank], dist.starts[dist.rank + 1]
        diag = (ucol >= lo) & (ucol < hi)
        d_nnz = np.bincount(urow[diag], minlength=n_own).astype(PETSc.IntType)
        o_nnz = np.bincount(urow[~diag], minlength=n_own).astype(PETSc.IntType)
        # unknowns per cell: lets PETSc's block preconditioners (pbjacobi, GAMG) see cells
        self.mat = PETSc.Mat().createAIJ(size=((n_own, N), (n_own, N)), bsize=block_size,
                                         nnz=(d_nnz, o_nnz), comm=dist.comm)
        self.mat.setOption(PETSc.Mat.Option.NEW_NONZERO_ALLOCATION_ERR, True)
        self.mat.setUp()

    def assemble(self, values: np.ndarray, mat=None):
        """Insert the summed COO values into ``mat`` (default: own matrix) and assemble."""
        mat = self.mat if mat is None else mat
        data = np.bincount(self.map, weights=values, minlength=len(self.indices))
        mat.zeroEntries()
        mat.setValuesCSR(self.indptr, self.indices, data)
        mat.assemble()
        return mat


class NonlinearSolver:
    """PETSc SNES for ``F(x) = 0`` on a :class:`~fvqp.parallel.Distribution`.

    Parameters
    ----------
    dist
        The distribution of cells (vector layout and ghost exchange).
    residual
        ``residual(x_local) -> r_owned``; may raise :class:`DomainError`.
    jacobian
        ``jacobian(x_local) -> values`` for the COO pattern ``(rows, cols)``.
    pattern
        ``(rows, cols)`` local indices of the Jacobian entries.
    prefix
        PETSc options prefix (``"heat_"``); command-line options under it win.
    options
        PETSc options under the prefix, e.g. ``{"snes_rtol": 1e-10, "ksp_type": "gmres"}``.
    block_size
        Block size of the assembled matrix (see :class:`SparseAssembler`).
    jvp
        Optional ``jvp(x_local, v_local) -> (J v)_owned``: the exact Jacobian action. The
        Krylov operator is then a matrix-free shell and ``jacobian`` only assembles the
        *preconditioning* matrix on ``pattern`` (physics-based preconditioning).
    preconditioner
        Optional model preconditioner (with ``jvp``): an object with
        ``update(x_local)`` (called at every Jacobian evaluation) and
        ``apply(r_owned) -> z_owned``; optionally ``exact_residual()``, the residual
        :math:`r - Jz` (owned, flat) of its last application when that was an exact
        solve which knows it, else None: the line search's product :math:`JY` of the
        Newton direction is then :math:`r - (r - Jz)`, without a Jacobian action
        (:class:`_JacobianAction`). It becomes the PETSc PC (type ``python``; a
        ``-<prefix>pc_type`` on the command line still overrides it) and no matrix is
        assembled (``jacobian`` and ``pattern`` are unused). With ``forcing`` and a method
        ``set_rtol(rtol, reach)`` it is told each linear solve's relative tolerance and
        reach (:attr:`fvqp.solvers.forcing.Forcing.reach`) before applying (a
        preconditioner that is itself the solve to that tolerance). A
        preconditioner that is itself the linear solve (the outer KSP ``preonly``) gives
        its Krylov iterations by ``krylov_iterations()`` (cumulative; None when it is
        not solving): they are then the solver's linear iterations
        (``total_linear_iterations``, checkpointed with the BDF state, so a resumed run
        counts as an uninterrupted one), the outer KSP's in
        ``total_outer_linear_iterations``.
    forcing
        Inexact Newton (:mod:`fvqp.solvers.forcing`): the Krylov ``rtol`` of each linear
        solve set by these forcing terms, never below the configured ``ksp_rtol``; None:
        every solve to ``ksp_rtol``.
    """

    def __init__(self, dist, residual: Callable, jacobian: Callable, pattern,
                 prefix: str = "fvqp_", options: Mapping[str, object] | None = None,
                 jvp: Callable | None = None, block_size: int = 1,
                 preconditioner=None, forcing: ForcingOptions | None = None):
        from petsc4py import PETSc

        self.dist = dist
        self.prefix = normalise_prefix(prefix)
        self._residual_fn, self._jacobian_fn = residual, jacobian
        self._pc = preconditioner
        self._pc_ctx: _ModelPC | None = None
        if preconditioner is not None and jvp is None:
            raise ValueError("a model preconditioner needs the Jacobian action (jvp)")
        self.assembler = None if preconditioner is not None else \
            SparseAssembler(dist, *pattern, block_size=block_size)
        # the ghost exchanges of states go through the layout's scratch vector (no work
        # vector of its own: a state-length vector fewer, issue 18 §1)
        self._work = dist.scratch_vec()
        self._F = dist.create_vec()
        self.snes = PETSc.SNES().create(comm=dist.comm)
        self.snes.setFunction(self._residual, self._F)
        self._shell = None
        if jvp is None:  # (-snes_mf_operator makes the Krylov operator PETSc's own FD)
            self.snes.setJacobian(self._jacobian, self.assembler.mat)
        else:
            self._shell = _JacobianAction(dist, jvp)
            n_own, N = dist.local.n_owned, dist.n_global
            J = PETSc.Mat().createPython(((n_own, N), (n_own, N)), context=self._shell,
                                         comm=dist.comm)
            J.setUp()
            if preconditioner is None:
                self.snes.setJacobian(self._jacobian, J, self.assembler.mat)
            else:
                self.snes.setJacobian(self._jacobian, J, J)
                pc = self.snes.getKSP().getPC()
                self._pc_ctx = _ModelPC(dist, preconditioner, self._shell)
                pc.setType("python")
                pc.setPythonContext(self._pc_ctx)
        # the command line's atol (not an earlier solver's insertion; not marked used)
        self._user_atol = (options or {}).get("snes_atol") is not None or \
            given_by_user(self.prefix + "snes_atol")
        # held until destroy: removed then unless another solver holds the prefix
        self._options_token, self.inserted_options = hold_options(self.prefix, options)
        self.snes.setOptionsPrefix(self.prefix)
        set_from_options(self.snes, self.prefix)  # last: the command line always wins
        #: the forcing terms (None: every linear solve to the configured ksp_rtol)
        self.forcing = None
        if forcing is not None:
            # the configured rtol (from the database: a preonly KSP keeps PETSc's default)
            rtol = option_value(self.prefix + "ksp_rtol",
                                float(self.snes.getKSP().getTolerances()[0]))
            self.forcing = Forcing(forcing, rtol)
            self.snes.setUpdate(self._force)
            if preconditioner is not None:
                self._pc_ctx.forcing = self.forcing
        self._unused_checked = False
        self._update_test: _CorrectionTest | None = None
        self.total_iterations = 0
        #: the iterations that solved the linear systems (the model preconditioner's own
        #: where it is the solve, ``krylov_iterations``), and the outer KSP's
        self.total_linear_iterations = 0
        self.total_outer_linear_iterations = 0

    def _inner_iterations(self) -> int | None:
        """The model preconditioner's ``krylov_iterations()`` (None: none, or it does
        not solve the linear systems itself)."""
        get = getattr(getattr(self._pc_ctx, "model_pc", None), "krylov_iterations", None)
        return None if get is None else get()

    def _residual(self, snes, x, f) -> None:
        xl = self.dist.to_local(x, self._work)
        xl.flags.writeable = False  # a state a model may keep (as the Jacobian's point)
        try:
            r = self._residual_fn(xl)
            ok = np.all(np.isfinite(r))
        except DomainError:
            ok, r = False, None
        if self.dist.sum(0.0 if ok else 1.0) > 0:
            # petsc4py has no SNESSetFunctionDomainError: an infinite residual makes the
            # line search cut the step (and fails the solve cleanly if it cannot)
            f.set(np.inf)
            return
        f.setArray(r)

    def _force(self, snes, it: int) -> None:
        """SNES update hook (start of every Newton iteration): the Krylov rtol of the
        coming linear solve from the forcing terms (:mod:`fvqp.solvers.forcing`). The
        norm is that of the residual vector the solve will see (the correction test
        re-evaluates it at full corrections, after the line search's norm). A
        correction-tested solve is not forced: no norm is taken then."""
        residual_test = self._update_test is None or self._update_test.norm is None
        fnorm = self._F.norm() if residual_test else math.nan
        if it == 0:
            rtol, atol = snes.getTolerances()[:2]
            self.forcing.start(max(atol, rtol * fnorm) if residual_test else None)
        snes.getKSP().setTolerances(rtol=self.forcing.rtol(fnorm))  # (Forcing.current)

    def _jacobian(self, snes, x, J, P) -> None:
        xl = self.dist.to_local(x, self._work)
        # the linearisation point, frozen (read-only for its lifetime): a model may keep
        # it instead of a copy of its own (issue 18 §1)
        xl.flags.writeable = False
        if self._pc is not None:  # the PC is rebuilt in its setUp (PETSc may lag it)
            self._shell.x_local = xl
            self._shell.hint = None  # a product hint belongs to the previous point
            # xl is already a fresh copy (Distribution.local_array): a second one would
            # be a state-length array per Jacobian evaluation kept alive by the PC
            self._pc_ctx.x_local = xl
            J.assemble()
            return
        if J != P and self._shell is not None:
            self._shell.x_local = xl
        self.assembler.assemble(self._jacobian_fn(xl), P)
        if J != P:
            J.assemble()

    def solve(self, x, raise_on_failure: bool = True, atol: float | None = None,
              correction_norm: Callable | None = None,
              correction_tol: float = 1e-3) -> SolveResult:
        """Solve in place starting from ``x`` (a vector of the distribution's layout, or
        a numpy array of the owned values).

        Parameters
        ----------
        x
            Initial guess; the solution on return (a numpy array is overwritten).
        raise_on_failure
            Raise :class:`ConvergenceError` if SNES does not converge.
        atol
            Sets SNES's absolute tolerance for this solve — callers pass a multiple of the
            size of the residual's terms so that a residual that is pure round-off counts
            as converged — unless ``-<prefix>snes_atol`` was set explicitly. Not used with
            ``correction_norm``.
        correction_norm
            ``correction_norm(dx_owned, x_owned) -> float``, a norm of a Newton correction
            in which 1 is the caller's error tolerance (the same value on every rank,
            e.g. a global max of ``|dx|/(atol + rtol|x|)``). With it, the stopping test is
            on the solution, not on the residual's 2-norm: see :class:`_CorrectionTest`.
            PETSc's residual and step tolerances (``snes_rtol``, ``snes_atol``,
            ``snes_stol``) are then not used; ``snes_max_it`` and ``snes_max_fail`` are.
        correction_tol
            Newton stops when its full correction, times a convergence-rate factor, is at
            most this in ``correction_norm`` (and applies that correction).
        """
        from petsc4py import PETSc

        if isinstance(x, np.ndarray):
            vec = self.dist.create_vec()
            vec.setArray(x)
            try:
                return self.solve(vec, raise_on_failure, atol, correction_norm,
                                  correction_tol)
            finally:
                x[...] = vec.getArray(readonly=True)
                vec.destroy()
        if correction_norm is not None:
            if self._update_test is None:
                self._update_test = _CorrectionTest(self.snes, self._F)
            self._update_test.arm(correction_norm, correction_tol)
        elif self._update_test is not None:
            self._update_test.disarm()
            self._update_test = None
        if atol is not None and not self._user_atol and correction_norm is None:
            self.snes.setTolerances(atol=atol)
        inner0 = self._inner_iterations()
        self.snes.solve(None, x)
        if not self._unused_checked:  # sub-solvers read their options at the first solve
            self._unused_checked = True
            unused = unreported_unused(self.prefix)
            if unused and self.dist.rank == 0:
                log.warning("PETSc options not used by any solver object: %s. Fix: check "
                            "their spelling (-%ssnes_view lists the solver's "
                            "configuration).", " ".join("-" + k for k in unused),
                            self.prefix)
        reason = int(self.snes.getConvergedReason())
        its = int(self.snes.getIterationNumber())
        outer = int(self.snes.getLinearSolveIterations())
        inner = self._inner_iterations()
        lits = outer if inner is None or inner0 is None else inner - inner0
        self.total_iterations += its
        self.total_linear_iterations += lits
        self.total_outer_linear_iterations += outer
        res = SolveResult(success=reason > 0, reason=reason,
                          message=reason_name(PETSc.SNES.ConvergedReason, reason),
                          iterations=its,
                          linear_iterations=lits, residual_norm=float(self.snes.getFunctionNorm()))
        if not res.success and raise_on_failure:
            raise ConvergenceError(
                f"SNES (prefix {self.prefix!r}) did not converge: {res.message}"
                f"{self._linear_failure(reason)} after {its} Newton iterations, |F| = "
                f"{res.residual_norm:.3e}. Try -{self.prefix}snes_monitor "
                f"-{self.prefix}ksp_converged_reason, a smaller time step, or looser "
                f"-{self.prefix}snes_rtol.", res)
        return res

    def _linear_failure(self, reason: int) -> str:
        """For ``DIVERGED_LINEAR_SOLVE``: the Krylov solve's reason and, where the PC is a
        python context that records one (:class:`fvqp.solvers.twolevel.TwoLevelPC`), why
        the preconditioner failed; else empty."""
        from petsc4py import PETSc

        if reason != PETSc.SNES.ConvergedReason.DIVERGED_LINEAR_SOLVE:
            return ""
        ksp = self.snes.getKSP()
        kr = reason_name(PETSc.KSP.ConvergedReason, ksp.getConvergedReason())
        text = f" (the Krylov solve: {kr} after {ksp.getIterationNumber()} iterations"
        pc = ksp.getPC()
        if pc.getType() == PETSc.PC.Type.PYTHON:
            failure = getattr(pc.getPythonContext(), "failure", None)
            if failure:
                text += f"; {failure}"
        return text + ")"


    def destroy(self) -> None:
        """Free the SNES, its matrices and work vectors, and remove the options it
        inserted under its prefix (:func:`~fvqp.solvers.options.release_options`: unless
        another live solver holds the prefix; the command line's stay)."""
        release_options(self.prefix, self._options_token)
        self.snes.destroy()
        if self.assembler is not None:
            self.assembler.mat.destroy()
        self._F.destroy()  # (the scratch vector is the layout's)


class _CorrectionTest:
    r"""Newton's stopping test on the size of its correction in the caller's error norm.

    PETSc's default test stops when the residual's 2-norm falls below ``snes_rtol`` times
    its initial value or ``snes_atol``. When the unknowns' scales differ by many orders of
    magnitude (cells far below :math:`T_c` have heat capacities :math:`\sim e^{-31}` of
    the hot ones) that norm sees only the largest rows: the iterate it accepts can still be
    wrong by ~1 % of the time integrator's error tolerance in the small ones, and the
    residual reaches its round-off floor (where further iterations only move it by noise
    and the line search fails at random) before those are converged. Which iteration
    stops — and whether a line search at the floor fails and the step is retried — then
    depends on the last bits of the Krylov solves (the memory alignment of vectors, the
    partition of a block-Jacobi preconditioner), and so does the time step sequence.

    This test is instead deterministic to far below the caller's tolerance: after every
    linear solve (a line-search pre-check) it measures the full Newton correction
    :math:`\delta_k` in ``norm`` (1 = the error tolerance) and estimates the error left
    after applying it as :math:`\|\delta_k\|\max(1, \rho/(1-\rho))` with the observed
    rate :math:`\rho = \|\delta_k\|/\|\delta_{k-1}\|` (capped below 1). When that is
    at most ``tol`` the full correction is applied and the solve has converged
    (``CONVERGED_SNORM_RELATIVE``). With Newton's quadratic convergence the accepted
    iterate's error is then ~``tol``:sup:`2` of the tolerance. Every solve takes at least
    one Newton correction.

    A correction already within the tolerance (norm <= 1) is always taken in full: the
    line search's sufficient-decrease test on the residual's 2-norm only sees round-off
    there (measured on the fine absorber mesh: it cut every step to ~0.2, Newton crawled
    at rate 0.8 for 20 iterations or failed), while Newton converges quadratically. The
    residual is then re-evaluated at the new iterate for the next linear solve. Larger
    corrections keep the line search (globalisation, domain errors); one that fails still
    ends the solve (``DIVERGED_LINE_SEARCH`` after ``snes_max_fail`` failures), as
    ``snes_max_it`` does (``DIVERGED_MAX_IT``).
    """

    _RHO_CAP = 0.999
    #: corrections up to this (in the caller's norm) are taken in full, without line search
    FULL_STEP = 1.0

    def __init__(self, snes, F):
        self.snes, self.F = snes, F
        self.norm, self.tol = None, 1.0
        self.max_fail, self.stol = 1, 0.0
        self._reset()

    def arm(self, norm: Callable, tol: float) -> None:
        """Install (or re-configure) the test on the SNES for the next solves."""
        if not tol > 0:
            raise ValueError(f"correction tolerance must be positive, got {tol}")
        if self.norm is None:  # first use: remember what the options set, then take over
            self.max_fail = max(1, int(self.snes.getMaxStepFailures()))
            self.stol = self.snes.getTolerances()[2]
            # a failed line search must reach the test below (it may be a converged
            # correction at the round-off floor), and SNES's own step test must not stop
            # the solve before it (newtonls returns CONVERGED_SNORM_RELATIVE on a failed
            # line search with a step below stol * |x|, leaving the unconverged iterate)
            self.snes.setMaxStepFailures(2**30)
            self.snes.setTolerances(stol=0.0)
            self.snes.setConvergenceTest(self.converged)
            self.snes.setLineSearchPreCheck(self.precheck)
        self.norm, self.tol = norm, float(tol)

    def disarm(self) -> None:
        """Restore PETSc's default test and the options' step tolerance and failures."""
        if self.norm is not None:
            self.snes.setLineSearchPreCheck(None)
            self.snes.setConvergenceTest("default")
            self.snes.setMaxStepFailures(self.max_fail)
            self.snes.setTolerances(stol=self.stol)
        self.norm = None

    def _reset(self) -> None:
        self.d_prev, self.x_full, self.done = None, None, False
        self.seen_failures, self.failures = 0, 0

    def precheck(self, X, Y) -> bool:
        """Line-search pre-check: measure the full correction (SNES steps ``X - Y``)."""
        x = X.getArray(readonly=True)
        y = Y.getArray(readonly=True)
        d = float(self.norm(y, x))  # a global value: every rank decides alike
        est = d
        if self.d_prev is not None and self.d_prev > 0:
            rho = min(d / self.d_prev, self._RHO_CAP)
            est = d * max(1.0, rho / (1.0 - rho))
        self.d_prev = d
        self.x_full = x - y if d <= self.FULL_STEP else None
        self.done = est <= self.tol
        return False

    def converged(self, snes, it, norms):
        """SNES convergence test (see the class docstring)."""
        from petsc4py import PETSc

        reason = PETSc.SNES.ConvergedReason
        fnorm = norms[2]
        if it == 0:
            self._reset()
        if not math.isfinite(fnorm):
            return reason.DIVERGED_FNORM_NAN
        if it == 0:
            return reason.ITERATING
        new_failures = int(snes.getStepFailures()) - self.seen_failures
        self.seen_failures += new_failures
        if self.x_full is not None:  # the full correction, bit for bit, whatever the
            X = snes.getSolution()    # line search made of it (or whether it failed)
            x_ls = X.getArray(readonly=True).copy()
            X.setArray(self.x_full)
            self.x_full = None
            if self.done:
                return reason.CONVERGED_SNORM_RELATIVE
            # the next linear solve needs the residual at the new iterate
            snes.computeFunction(X, self.F)
            if math.isfinite(self.F.norm()):
                return reason.ITERATING if it < snes.getTolerances()[3] \
                    else reason.DIVERGED_MAX_IT
            X.setArray(x_ls)  # outside the domain: keep the line search's iterate
            snes.computeFunction(X, self.F)
        if self.done:  # (a correction above FULL_STEP cannot pass a tol < 1: kept general)
            return reason.CONVERGED_SNORM_RELATIVE
        self.failures += new_failures
        if self.failures >= self.max_fail:
            return reason.DIVERGED_LINE_SEARCH
        if it >= snes.getTolerances()[3]:
            return reason.DIVERGED_MAX_IT
        return reason.ITERATING


class _JacobianAction:
    r"""petsc4py shell-matrix context: ``y = J(x) v`` from a model's exact JVP.

    A model preconditioner that is an exact solve knowing its own linear residual
    (``exact_residual()``, :class:`_ModelPC`) leaves a *product hint*: for its last output
    :math:`z` of input :math:`r`, :math:`Jz = r - (r - Jz)` needs no action. PETSc's
    backtracking line search asks for exactly that product (its initial slope
    :math:`F\cdot JY` with the Newton direction :math:`Y = z`, one action per Newton
    iteration, 7 % of a step of the transport burst). The hint answers it once, and only
    for the same vector object holding the same values as the preconditioner's output,
    which the hint keeps until then (compared value by value: KSPSolve raises the
    solution's PETSc state after the PC has written it, so the state cannot tell; a BLAKE2
    digest of both did the same at 4x the cost, 2 x 58 ms per Newton iteration at 53 120
    cells x 196 unknowns against one 15 ms comparison) with ``r`` unchanged (its PETSc
    state), at the Jacobian point of the solve; any other product is the action itself.
    The product is written in place (:math:`y = r`, then :math:`y \mathrel{-}= r - Jz`: no
    state-length temporary)."""

    def __init__(self, dist, jvp: Callable):
        self.dist, self.jvp, self.x_local = dist, jvp, None
        #: no ghosted work vector of its own (None): an action's ghost exchange goes
        #: through the layout's scratch vector (:meth:`fvqp.parallel.distribution.
        #: GhostedVectors.scratch_vec`; issue 18 §1)
        self._work = None
        #: ``(z handle, z values, r, r state, r - Jz)`` of the last exact solve, or None
        #: (released at the next product: the arrays live only until then)
        self.hint = None
        #: products answered by the hint (no action)
        self.hinted = 0

    def mult(self, mat, v, y) -> None:
        hint, self.hint = self.hint, None  # one use at most
        if hint is not None:
            z_handle, z_values, r, r_state, res = hint
            same = v.handle == z_handle and r.stateGet() == r_state and \
                np.array_equal(v.getArray(readonly=True), z_values)
            del z_values
            # every rank takes the same branch (the action exchanges ghosts)
            if self.dist.sum(0.0 if same else 1.0) == 0:
                self.hinted += 1
                y.setArray(r.getArray(readonly=True))
                with y as values:  # (raises the state: no stale cached norm)
                    values -= res
                return
        vl = self.dist.to_local(v, self.dist.scratch_vec())
        y.setArray(self.jvp(self.x_local, vl))


class _ModelPC:
    """petsc4py python-PC context of a model preconditioner: ``setUp`` rebuilds it at the
    state of the last Jacobian evaluation (PETSc skips it when the preconditioner is lagged,
    ``-snes_lag_preconditioner``), ``apply`` applies it."""

    def __init__(self, dist, model_pc, shell: _JacobianAction | None = None):
        self.dist, self.model_pc, self.x_local = dist, model_pc, None
        self.setups = 0
        self._shell = shell
        #: the solver's forcing terms (:class:`fvqp.solvers.forcing.Forcing`), or None
        self.forcing = None

    def setUp(self, pc) -> None:
        self.model_pc.update(self.x_local)
        self.setups += 1

    def apply(self, pc, r, z) -> None:
        tell = getattr(self.model_pc, "set_rtol", None)
        if tell is not None and self.forcing is not None and self.forcing.current:
            # this solve's tolerance (inexact Newton) and how far the Newton solve's
            # residual test lies below its right-hand side
            tell(self.forcing.current, self.forcing.reach)
        into = getattr(self.model_pc, "apply_into", None)
        if into is not None and r.handle != z.handle:
            # written into z's own array: no state-length result array besides it (the
            # peak of a device-size step is set in this solve, issue 18 §1)
            with z as values:
                into(r.getArray(readonly=True), values)
            out = None
        else:
            out = self.model_pc.apply(r.getArray(readonly=True))
            z.setArray(out)
        exact = getattr(self.model_pc, "exact_residual", None)
        res = exact() if exact is not None and self._shell is not None else None
        if res is not None:  # an exact solve: J z = r - res (the line search's product)
            if out is None:  # the values the hint compares with (module docstring)
                out = z.getArray(readonly=True).copy()
            self._shell.hint = (z.handle, out, r, r.stateGet(), res)

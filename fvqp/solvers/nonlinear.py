"""Newton–Krylov solves with PETSc SNES over a distributed cell vector.

A *problem* hands the solver two callables on local arrays (owned cells then ghosts):
``residual(x_local) -> r_owned`` and ``jacobian(x_local) -> values`` in the order of a
fixed COO sparsity pattern. The solver owns the PETSc objects; physics code never sees
them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

import numpy as np

from .options import apply_options, normalise_prefix, set_from_options, unused_options
from .result import ConvergenceError, SolveResult

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
        gcols = dist.local_to_global[cols].astype(np.int64)
        key = rows.astype(np.int64) * N + gcols
        uniq, inv = np.unique(key, return_inverse=True)
        self.map = inv.ravel()
        urow, ucol = uniq // N, uniq % N
        self.indptr = np.searchsorted(urow, np.arange(n_own + 1)).astype(PETSc.IntType)
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
        ``apply(r_owned) -> z_owned``. It becomes the PETSc PC (type ``python``; a
        ``-<prefix>pc_type`` on the command line still overrides it) and no matrix is
        assembled (``jacobian`` and ``pattern`` are unused).
    """

    def __init__(self, dist, residual: Callable, jacobian: Callable, pattern,
                 prefix: str = "fvqp_", options: Mapping[str, object] | None = None,
                 jvp: Callable | None = None, block_size: int = 1,
                 preconditioner=None):
        from petsc4py import PETSc

        self.dist = dist
        self.prefix = normalise_prefix(prefix)
        self._residual_fn, self._jacobian_fn = residual, jacobian
        self._pc = preconditioner
        if preconditioner is not None and jvp is None:
            raise ValueError("a model preconditioner needs the Jacobian action (jvp)")
        self.assembler = None if preconditioner is not None else \
            SparseAssembler(dist, *pattern, block_size=block_size)
        self._work = dist.create_vec()
        self._F = dist.create_vec()
        self.snes = PETSc.SNES().create(comm=dist.comm)
        self.snes.setFunction(self._residual, self._F)
        if jvp is None:
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
                self._pc_ctx = _ModelPC(dist, preconditioner)
                pc.setType("python")
                pc.setPythonContext(self._pc_ctx)
        self._user_atol = (options or {}).get("snes_atol") is not None or \
            PETSc.Options().hasName(self.prefix + "snes_atol")
        self.inserted_options = apply_options(self.prefix, options)
        self.snes.setOptionsPrefix(self.prefix)
        set_from_options(self.snes, self.prefix)  # last: the command line always wins
        self._unused_checked = False
        self.total_iterations = 0
        self.total_linear_iterations = 0

    def _residual(self, snes, x, f) -> None:
        xl = self.dist.to_local(x, self._work)
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

    def _jacobian(self, snes, x, J, P) -> None:
        xl = self.dist.to_local(x, self._work)
        if self._pc is not None:  # the PC is rebuilt in its setUp (PETSc may lag it)
            self._shell.x_local = xl
            self._pc_ctx.x_local = xl.copy()
            J.assemble()
            return
        if J != P:
            self._shell.x_local = xl
        self.assembler.assemble(self._jacobian_fn(xl), P)
        if J != P:
            J.assemble()

    def solve(self, x, raise_on_failure: bool = True, atol: float | None = None) -> SolveResult:
        """Solve in place starting from ``x`` (a vector of the distribution's layout).

        ``atol``, if given, sets SNES's absolute tolerance for this solve — callers pass
        a multiple of the size of the residual's terms so that a residual that is pure
        round-off counts as converged — unless ``-<prefix>snes_atol`` was set explicitly.
        """
        from petsc4py import PETSc

        if atol is not None and not self._user_atol:
            self.snes.setTolerances(atol=atol)
        self.snes.solve(None, x)
        if not self._unused_checked:  # sub-solvers read their options at the first solve
            self._unused_checked = True
            unused = unused_options(self.prefix)
            if unused and self.dist.rank == 0:
                log.warning("PETSc options not used by any solver object: %s. Fix: check "
                            "their spelling (-%ssnes_view lists the solver's "
                            "configuration).", " ".join("-" + k for k in unused),
                            self.prefix)
        reason = int(self.snes.getConvergedReason())
        names = {v: k for k, v in PETSc.SNES.ConvergedReason.__dict__.items()
                 if isinstance(v, int)}
        its = int(self.snes.getIterationNumber())
        lits = int(self.snes.getLinearSolveIterations())
        self.total_iterations += its
        self.total_linear_iterations += lits
        res = SolveResult(success=reason > 0, reason=reason,
                          message=names.get(reason, str(reason)), iterations=its,
                          linear_iterations=lits, residual_norm=float(self.snes.getFunctionNorm()))
        if not res.success and raise_on_failure:
            raise ConvergenceError(
                f"SNES (prefix {self.prefix!r}) did not converge: {res.message} after {its} "
                f"Newton iterations, |F| = {res.residual_norm:.3e}. Try -{self.prefix}snes_monitor "
                f"-{self.prefix}ksp_converged_reason, a smaller time step, or looser "
                f"-{self.prefix}snes_rtol.", res)
        return res


class _JacobianAction:
    """petsc4py shell-matrix context: ``y = J(x) v`` from a model's exact JVP."""

    def __init__(self, dist, jvp: Callable):
        self.dist, self.jvp, self.x_local = dist, jvp, None
        self._work = dist.create_vec()

    def mult(self, mat, v, y) -> None:
        vl = self.dist.to_local(v, self._work)
        y.setArray(self.jvp(self.x_local, vl))


class _ModelPC:
    """petsc4py python-PC context of a model preconditioner: ``setUp`` rebuilds it at the
    state of the last Jacobian evaluation (PETSc skips it when the preconditioner is lagged,
    ``-snes_lag_preconditioner``), ``apply`` applies it."""

    def __init__(self, dist, model_pc):
        self.dist, self.model_pc, self.x_local = dist, model_pc, None
        self.setups = 0

    def setUp(self, pc) -> None:
        self.model_pc.update(self.x_local)
        self.setups += 1

    def apply(self, pc, r, z) -> None:
        z.setArray(self.model_pc.apply(r.getArray(readonly=True)))

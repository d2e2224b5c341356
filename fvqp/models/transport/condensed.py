r"""The Newton linear system of the transport model with the phonons condensed out exactly
(issue 18 §1a: GMRES on the QP unknowns only).

Ordered per cell as QPs then phonons, the Newton matrix of a BDF step
:math:`K = \sigma\,\mathrm{diag}(m) - \partial\,\text{rhs}/\partial y` is

.. math::
    K = \begin{pmatrix} K_{ff} & K_{fn} \\ K_{nf} & D \end{pmatrix},
    \qquad D = \mathrm{diag}\big(\sigma m^n_k - m^n_kg^n_k + m^n_k/\tau_{esc}\big),

with :math:`K_{ff}` the QP collisions and the transport between cells. The phonon block
:math:`D` is *exactly* diagonal: every phonon term is an outer factor :math:`n_k` or
:math:`1 + n_k` times a sum over QP states only (pair breaking, recombination,
scattering; :mod:`fvqp.collisions.correlations`, :math:`g^n_k` its derivative, notes
Eqs. 38-40), escape is diagonal, and without phonon diffusion no phonon couples to
another cell. Rows of phonons held at the bath are algebraic, :math:`D_k = \kappa`.
The solution of :math:`K(z_f, z_n) = (r_f, r_n)` is therefore, exactly,

.. math::
    S z_f = t \equiv r_f - K_{fn}D^{-1}r_n, \qquad
    z_n = D^{-1}(r_n - K_{nf}z_f), \qquad S = K_{ff} - K_{fn}D^{-1}K_{nf},

and the residual of :math:`(z_f, z_n)` in the full system equals :math:`t - Sz_f` (the
phonon rows are solved exactly): a Krylov solve of :math:`S` to
:math:`\|t - Sz_f\| \le \text{rtol}\,\|r\|` is the full solve to the same tolerance.
:math:`S` is applied exactly (:meth:`CondensedSolve.schur_action`: the phonon rows of
the Jacobian action of :math:`(v, 0)` give :math:`w = -D^{-1}K_{nf}v`, then the QP rows
of the action of :math:`(v, w)`, in the transforms of one action,
:func:`fvqp.collisions.batched.condensed_qp_jvp`), and preconditioned with the inner solve of the
float32 :math:`S_T` of :class:`.schur.SchurPreconditioner` (ILU(0)). The Krylov method
is PETSc's flexible GMRES (:func:`fvqp.solvers.linear.operator_solver`, options prefix
``<prefix>schur_condensed_``, e.g. ``-transport_schur_condensed_ksp_monitor``) with
classical Gram-Schmidt refined at every step (Giraud et al. 2005: orthogonal to working
precision): it keeps the preconditioned directions, so the float32 ILU's rounding (not a
linear operator to double precision) does not enter the solution — with plain
right-preconditioned GMRES, which applies the preconditioner once more to the combined
direction, the true residual was 1e-5 against an estimate of 1e-10. Its residual
estimate is then the true residual's norm; its two bases hold :math:`N` values per cell
each instead of the :math:`N + M` of GMRES on the whole system (66 instead of 196 on the
3D absorber).

The outer KSP of the Newton solve then only forwards the solve (``ksp_type preonly``;
with ``gmres`` it checks it, one or two iterations, at the price of its work vectors).
A condensed solve that does not converge in ``max_it`` iterations is reported (log
warning) and returns non-finite values, so the Newton step fails as a failed linear
solve would, never silently.

Measured on the absorber burst (``benchmarks/transport_absorber3d.py memory``, 13 280
cells x 66 bins x 130 phonon nodes, 6 BDF1 steps, with the float32 cell storage of
:math:`S_T`, against the default AIJ path in the same run, load 13-20): run peak 85.5
against 139.1 KB per cell, 12 Newton / 57 Krylov against 12 / 59, 9.6 against 13.5 CPU s
per step (numpy GMRES of the first version, which kept the float32 directions). With
PETSc's FGMRES (2026-11-23, 3 320 cells, no other load, the cell storage): run peak 96.4
KB/cell against 88.4 (its two double-precision bases in chunks: PETSc heap 23.6 against
14.3 KB/cell), the same 54 Krylov iterations, 2.21 CPU s per step.
"""

from __future__ import annotations

import logging
import math
import time

import numpy as np

from ...parallel.distribution import sum_in_place
from ...solvers.linear import COMPACT_FGMRES_RESTART
from .linearisation import CHUNK
from .quiet import shift_span

__all__ = ["CondensedSolve", "PhononDiagonal"]

log = logging.getLogger("fvqp.transport")

#: FGMRES restart length of the condensed solve
#: (:data:`fvqp.solvers.linear.COMPACT_FGMRES_RESTART`: 16 vectors of N values instead of
#: 36 past the 6th iteration, 8.4 KB per cell at 66 bins instead of 19; the 53 120-cell
#: target took 73 Krylov in 12 solves, some above 6). Solves of at most 6 iterations (all
#: of them on the absorber burst at 3 320 and 13 280 cells) are the same bit for bit.
RESTART = COMPACT_FGMRES_RESTART
#: PETSc defaults of the condensed Krylov solve (under ``<prefix>schur_condensed_``)
KSP_DEFAULTS = {"ksp_type": "fgmres", "ksp_pc_side": "right", "ksp_gmres_restart": RESTART,
                "ksp_orthogonalization_cgs_refinement_type": "refine_always",
                "ksp_norm_type": "unpreconditioned"}
#: iterations at most (over the restarts) before the solve counts as failed
MAX_IT = 1000


#: Linear solves to a relative tolerance of at least this (inexact Newton's forced first
#: solve of every Newton solve, :mod:`fvqp.solvers.forcing`: 1e-5) whose Newton solve
#: cannot end with them (:data:`SINGLE_ACTION_REACH`) apply :math:`S` with the collision
#: part's perturbation transforms in single precision (relative rounding ~1e-7, 1 % of
#: such a tolerance; :meth:`fvqp.collisions.correlations.State.perturbed_in`); the others
#: in double. The solution of such a solve only starts the next Newton iteration, whose
#: own solve is exact, so the step's answer is that of double-precision actions (absorber
#: burst, 13 280 cells x 66 bins, 6 BDF1 steps: the same 12 Newton / 45 Krylov
#: iterations, the final state within 2.5e-16 of the largest unknown of the double run's;
#: the condensed actions 8 % less CPU). ``[solver.petsc] collision_precision``
#: (:data:`fvqp.models.transport.COLLISION_KEYS`) turns it off (``"double"``) or uses
#: single precision in every solve (``"single"``).
SINGLE_ACTION_RTOL = 1e-6
#: ... and only where the Newton solve's residual test lies at most this fraction below
#: the solve's right-hand side (:attr:`fvqp.solvers.forcing.Forcing.reach`; a first solve
#: under the relative test: ``snes_rtol``, 1e-10 by default): a forced solve in double
#: precision overshoots its tolerance and can end a Newton solve close to its absolute
#: test in one iteration (the 520-cell absorber at 10 ps steps: residual 1.1e-7 ->
#: 1.9e-16, 1.7e-9 of it, the smallest such ratio measured), which single-precision
#: actions, whose rounding leaves ~1e-8 of the residual (-> 1.1e-15), cannot: 6 Newton
#: iterations in 3 steps instead of 5. Under the relative test (the burst at 0.2 ns
#: steps: the first solves leave 5e-4 ... 3e-6 of the residual) every Newton solve takes
#: two iterations either way.
SINGLE_ACTION_REACH = 3e-10


class CondensedSolve:
    """Exact phonon condensation and GMRES on the QP Schur complement (module docstring).

    Parameters
    ----------
    problem : TransportProblem
    schur : SchurPreconditioner
        Its inner solve of :math:`S_T` preconditions the Krylov solve (``_inner``).
    rtol : float
        Relative tolerance on the residual of the whole system (the outer KSP's).
    atol : float
        Absolute tolerance on the same residual.
    restart, max_it : int
        GMRES restart length and iteration limit.
    """

    def __init__(self, problem, schur, rtol: float = 1e-10, atol: float = 0.0,
                 restart: int = RESTART, max_it: int = MAX_IT):
        if len(problem.ph_pairs):
            raise ValueError("the condensed solve needs cell-local phonons: with phonon "
                             "diffusion the phonon block is not diagonal per cell "
                             "(-<prefix>schur_condensed 0)")
        self.p, self.schur = problem, schur
        self.rtol, self.atol = float(rtol), float(atol)
        #: the coming solve's reach (:attr:`fvqp.solvers.forcing.Forcing.reach`; None:
        #: not told, e.g. no inexact Newton)
        self.reach: float | None = None
        self.restart, self.max_it = int(restart), int(max_it)
        self.x_local = None
        self.shift = 0.0
        self._d = None
        self._residual = None
        #: Krylov iterations of the last solve and of all solves; solves done; the true
        #: residual :math:`\|t - Sz_f\|` of the last solve
        self.last_iterations, self.iterations, self.solves = 0, 0, 0
        self.last_residual = 0.0
        #: CPU seconds and calls of the exact Schur-complement actions (benchmark), and of
        #: those in single precision among them (:data:`SINGLE_ACTION_RTOL`)
        self.cpu = {"condensed_action": [0, 0.0], "condensed_action_single": [0, 0.0]}
        #: the real precision of the current solve's collision actions (:meth:`solve`)
        self._precision = np.float64
        self._comm = problem.cells.comm
        self._solver = None

    # ---- the point of the Newton matrix --------------------------------------------------
    def set_point(self, x_local: np.ndarray, shift: float) -> None:
        """The state and shift of the Newton matrix of the next solves (every linear
        solve: the condensation is exact only at the Jacobian's own point)."""
        self.x_local, self.shift = x_local, float(shift)
        self._residual = None  # the previous point's residual is not this point's
        self._d = None  # the previous point's

    @property
    def d(self) -> PhononDiagonal:
        """:math:`D` at the current point, made per batch of rows when used
        (:class:`PhononDiagonal`); let go at the end of every solve."""
        if self._d is None:
            p = self.p
            g = (p._outer_derivative(self.x_local.reshape(-1, p.B))[:, p.N:]
                 if p.collisions else 0.0)
            self._d = PhononDiagonal(p, g, self.shift)
        return self._d

    def phonon_diagonal(self) -> np.ndarray:
        """:math:`D` of the module docstring at the current point, shape (n, M)."""
        return np.asarray(self.d)

    # ---- the exact actions -----------------------------------------------------------------
    def action(self, vf: np.ndarray | None, vn: np.ndarray | None) -> np.ndarray:
        """:math:`K(v_f, v_n)` on the owned cells (``None``: a zero part), shape (n, B)."""
        p = self.p
        n, N = p.n, p.N
        v = np.zeros((n, p.B))
        if vf is not None:
            v[:, :N] = vf
        if vn is not None:
            v[:, N:] = vn
        vl = p.dist.ghosted(v.ravel()) if vf is not None else _local(v, p)
        # the span of the shift: the quiet cells' tolerance of this step (.quiet)
        jv = p.rhs_jvp(self.x_local, vl, *shift_span(self.shift)).reshape(n, p.B)
        v[:, :N] *= p.m_f[:n]
        v[:, N:] *= p.m_n[:n]
        v *= self.shift
        v -= jv
        return v

    def schur_action(self, v: np.ndarray) -> np.ndarray:
        """:math:`Sv = K_{ff}v + K_{fn}w`, :math:`w = -D^{-1}K_{nf}v` (owned, (n, N)), in
        the transforms of one Jacobian action
        (:meth:`TransportProblem.schur_action`)."""
        c0 = time.process_time()
        p = self.p
        vl = self.schur.dist.ghosted(v.ravel()).reshape(-1, p.N)
        out, _ = p.schur_action(self.x_local, vl, self.shift, self.d,
                                precision=self._precision)
        c1 = time.process_time() - c0
        for key in ("condensed_action",) + (
                ("condensed_action_single",) if self._precision == np.float32 else ()):
            entry = self.cpu[key]
            entry[0] += 1
            entry[1] += c1
        return out

    # ---- the solve --------------------------------------------------------------------------
    def solve(self, r: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """:math:`K^{-1}r` (owned unknowns, flat; written into ``out`` if given, which
        must not share memory with ``r``) to the tolerance of the module docstring;
        non-finite values (and a warning) if GMRES does not converge. Its collision
        actions in single precision if the tolerance is at least
        :data:`SINGLE_ACTION_RTOL` and the reach at most :data:`SINGLE_ACTION_REACH` (the
        problem's ``action_precision`` ``auto``, the default of a run), or always
        (``single``) or never (``double``)."""
        # the actions of this solve in single precision if it stops far above their
        # rounding; double again after it (:meth:`schur_action` outside a solve)
        mode, reach = self.p.action_precision, self.reach
        single = mode == "single" or (mode == "auto" and self.rtol >= SINGLE_ACTION_RTOL
                                      and reach is not None
                                      and reach <= SINGLE_ACTION_REACH)
        self._precision = np.float32 if single else np.float64
        try:
            return self._solve(r, out)
        finally:
            self._precision = np.float64

    def _solve(self, r: np.ndarray, out: np.ndarray | None) -> np.ndarray:
        p = self.p
        n, N = p.n, p.N
        self._residual = None
        r = np.asarray(r, dtype=float).reshape(n, p.B)
        rf, rn = r[:, :N], r[:, N:]
        tol = max(self.rtol * self._norm(r), self.atol)
        u = self.d.divide(rn)  # D^-1 r_n: made again for the back-substitution, not kept
        t = p.schur_action(self.x_local, None, self.shift, self.d, w0=u, keep_w=False,
                           precision=self._precision)[0]
        del u
        np.subtract(rf, t, out=t)  # t = r_f - K_fn D^-1 r_n, in place
        zf, its, res = self._gmres(t, tol)
        del t
        self.last_iterations = its
        self.iterations += its
        self.solves += 1
        if zf is None:
            self._d = None
            p.forget_loan()
            log.warning("condensed Krylov solve (QP Schur complement) did not converge: "
                        "%d iterations, residual %.3e > %.3e; the Newton step fails "
                        "(raise -<prefix>schur_condensed_max_it, or drop "
                        "-<prefix>schur_condensed)", its, res, tol)
            if out is None:
                return np.full(n * p.B, np.nan)
            out.fill(np.nan)
            return out
        # z_n = D^-1 (r_n - K_nf z_f) = u + w(z_f): the condensed direction of z_f, from
        # the action that also gives the true residual t - S z_f, written over
        # u = D^-1 r_n in the returned array (no separate u, w and concatenation)
        z = np.empty((n, p.B)) if out is None else out.reshape(n, p.B)
        z[:, :N] = zf
        zl = self.schur.dist.ghosted(zf.ravel()).reshape(-1, N)
        del zf
        self.d.divide(rn, out=z[:, N:])
        sz, _ = p.schur_action(self.x_local, zl, self.shift, self.d, w0=z[:, N:],
                               w_out=z[:, N:], precision=self._precision)
        del zl
        self._d = None  # (it holds the outer derivatives: not through the line search)
        p.forget_loan()  # its guests' data and transforms with it (made per d)
        np.subtract(rf, sz, out=sz)  # sz = S z_f + K_fn u (w0 = u): the true residual
        self.last_residual = self._norm(sz)
        self._residual = sz  # the QP rows of r - Kz (exact_residual), kept until asked
        if self.last_residual > 10.0 * tol:
            log.warning("condensed Krylov solve: true residual %.3e above 10x its "
                        "tolerance %.3e (GMRES estimate %.3e)", self.last_residual, tol, res)
        return z.ravel()

    def exact_residual(self) -> np.ndarray | None:
        r""":math:`r - Kz` of the last solve (owned, flat), once: its QP rows are the true
        residual :math:`t - Sz_f` the back-substitution computed, its phonon rows zero
        (solved exactly, module docstring); None if there is none (no solve since the last
        call, or the solve failed). Newton's line search takes :math:`Kz` from it
        (:class:`fvqp.solvers.nonlinear._JacobianAction`) instead of a Jacobian action."""
        sz, self._residual = self._residual, None
        if sz is None:
            return None
        p = self.p
        out = np.zeros((p.n, p.B))
        out[:, :p.N] = sz
        return out.ravel()

    def _norm(self, v: np.ndarray) -> float:
        s = np.array([float(np.vdot(v, v))])
        sum_in_place(self._comm, s)
        return math.sqrt(s[0])

    def _precondition(self, v: np.ndarray) -> np.ndarray:
        return self.schur._inner(np.ascontiguousarray(v).ravel())

    def _gmres(self, t: np.ndarray, tol: float):
        """PETSc's FGMRES on :math:`S` from zero to the absolute tolerance ``tol``:
        ``(z, its, residual)``, ``z`` None if it did not converge within
        :attr:`max_it`."""
        if self._solver is None:
            from ...solvers.linear import operator_solver

            p = self.p
            self._solver = operator_solver(
                self._comm, p.n * p.N, lambda v: self.schur_action(v.reshape(p.n, p.N)),
                self._precondition, self.schur.prefix + "condensed_",
                {**KSP_DEFAULTS, "ksp_gmres_restart": self.restart})
        ksp = self._solver.ksp
        ksp.setTolerances(rtol=0.0, atol=tol, max_it=self.max_it)
        z, res = self._solver.solve_from(np.ascontiguousarray(t).ravel())
        its = max(res.iterations, 0)
        if not res.success:
            return None, its, res.residual_norm
        return z.reshape(t.shape), its, res.residual_norm


class PhononDiagonal:
    r"""The phonon diagonal :math:`D` (n, M) of the module docstring at one point,
    :math:`D = \sigma m^n - m^ng^n + m^n/\tau_{esc}` (:math:`\kappa` where the phonons
    are held), made per batch of rows where it is used instead of kept: an (n, M) array
    less through the linear solves (issue 18 §1); every row has the bits of the whole
    array's (element-wise operations). ``d[rows]`` (a slice or an index array) gives
    those rows, any other index or ``np.asarray(d)`` the whole array.

    Parameters
    ----------
    problem : TransportProblem
    g : ndarray (n, M) or float
        The phonon outer derivatives :math:`g^n` at the point (0 without collisions).
    shift : float
        :math:`\sigma`.
    """

    def __init__(self, problem, g, shift: float):
        self.p, self.g, self.shift = problem, g, float(shift)
        self.shape = (problem.n, problem.M)

    def rows(self, sl: slice | np.ndarray) -> np.ndarray:
        """:math:`D` of the owned rows ``sl`` (a slice, or an array of indices)."""
        p = self.p
        if isinstance(sl, slice):
            sl = slice(*sl.indices(p.n)[:2])
        m_n = p.m_n[sl]
        g = self.g if np.isscalar(self.g) else self.g[sl]
        d = self.shift * m_n - m_n * g + m_n / p.p["tau_esc"][sl, None]
        return np.where(p.ph_fixed[sl, None], p.kappa[sl], d)

    def __getitem__(self, key):
        if isinstance(key, slice) or (isinstance(key, np.ndarray) and key.ndim == 1
                                      and key.dtype.kind in "iu"):
            return self.rows(key)
        return np.asarray(self)[key]

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        d = self.rows(slice(None))
        return d if dtype is None else d.astype(dtype)

    def divide(self, num: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """:math:`D^{-1}` ``num`` (n, M), batch by batch (into ``out`` if given)."""
        n = self.p.n
        out = np.empty((n, self.shape[1]), np.result_type(num, float)) if out is None \
            else out
        for s in range(0, n, CHUNK):
            sl = slice(s, min(n, s + CHUNK))
            np.divide(num[sl], self.rows(sl), out=out[sl])
        return out


def _local(v: np.ndarray, p) -> np.ndarray:
    """Owned values ``v`` (n, B) as a local array with zero ghost rows: the phonon
    direction alone needs no ghost exchange (no transport of phonons)."""
    out = np.zeros(p.loc.n_local * p.B)
    out[:v.size] = v.ravel()
    return out

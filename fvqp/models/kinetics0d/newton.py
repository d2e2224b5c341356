r"""Structured Newton for steady states of the 0D kinetics (issue 18 item 4).

The exact Jacobian of :math:`\dot y = (\dot f, \dot n)` has the block form

.. math::
    J = \begin{pmatrix} A & B \\ C & D \end{pmatrix},\qquad
    D = \operatorname{diag}(d),\quad
    d_k = \frac{\partial S_{ph,k}}{\partial n_k} - \frac{1}{\tau_{esc}},

because the collision operator's phonon rows depend on :math:`n_k` only through
:math:`n_k` itself (:mod:`fvqp.collisions.jacobian`, :math:`\partial S_{ph}/\partial n`
diagonal) and the drives act on ``f`` only. The phonons are eliminated node by node:

.. math::
    S = A - B D^{-1} C,\qquad
    S\,x_f = r_f - B D^{-1} r_n,\qquad x_n = D^{-1}(r_n - C x_f),

a dense LU of size ``N`` (the QP cells) instead of ``N + M`` (``M ~ 1.2 N`` phonon
nodes): about a tenth of the factorisation flops. :math:`d_k < 0` (every phonon is lost
by pair breaking, scattering or escape), so the node-wise pivots are safe.

The factorisation is *lagged*: it is formed at the start and reused as the
preconditioner of a GMRES solve for the exact Newton correction
:math:`\delta = J(y)^{-1}\dot y(y)` with the matrix-free exact action
:math:`J(y)v` (:meth:`Kinetics0D.jvp`, FFT, :math:`O(N\log N)`), in the variables
scaled entry by entry, :math:`z_i = \delta_i/\max(|y_i|, y_{floor})`, the scale of the
per-entry stopping test of :mod:`fvqp.models.kinetics0d.solve`. Since the correction is
Newton's (to the GMRES tolerance ``krylov_rtol`` relative to :math:`\|z\|_2 \ge
\|z\|_\infty`), the stopping test and the iterates are those of exact Newton; only the
cost changes: a new Jacobian and factorisation are formed only when GMRES needs more
than ``refactor_after`` iterations (or fails), i.e. when the lagged preconditioner has
gone stale. The Newton correction at each iterate *is* the convergence measure, so the
test costs no extra solve. With ``method = "direct"`` (small grids) the Jacobian is
formed and factored at every iterate (full Newton, no Krylov).

Globalisation: the step :math:`y - \lambda\delta` is halved until it stays in the domain
(:math:`0 \le f \le 1`, :math:`n \ge 0`, up to ``1e-10``) with a finite residual (no
residual-norm test: the norm is dominated by the fast phonons and would stall the QP
number on its slow scale). A run that does
not converge in ``max_iterations`` raises :class:`~fvqp.solvers.ConvergenceError`
(:func:`~fvqp.models.kinetics0d.solve.steady_state` then falls back to PETSc's dense
Newton and its TS path).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg as sla
from scipy.sparse.linalg import LinearOperator, gmres

from ...solvers.result import ConvergenceError
from .model import Kinetics0D

log = logging.getLogger(__name__)

__all__ = ["SchurLU", "StructuredNewtonResult", "structured_newton"]

#: occupations below -_NEG_TOL (or f above 1 + _NEG_TOL) are outside the domain
_NEG_TOL = 1e-10


class SchurLU:
    r"""LU of the Jacobian with the phonons eliminated per node (module docstring).

    Parameters
    ----------
    a, b, c : ndarray
        Blocks :math:`A` (N x N), :math:`B` (N x M), :math:`C` (M x N).
    d : ndarray
        Diagonal of :math:`D` (M,), all non-zero.
    """

    def __init__(self, a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray) -> None:
        if not np.all(np.isfinite(d)) or np.any(d == 0.0):
            raise np.linalg.LinAlgError("phonon diagonal of the Jacobian has a zero")
        self.b, self.c, self.d = b, c, d
        self.nq = a.shape[0]
        self.lu = sla.lu_factor(a - b @ (c / d[:, None]), check_finite=True)

    def solve(self, r: np.ndarray) -> np.ndarray:
        """:math:`J^{-1}r` for ``r = (r_f, r_n)``."""
        rf, rn = r[: self.nq], r[self.nq:]
        w = rn / self.d
        xf = sla.lu_solve(self.lu, rf - self.b @ w, check_finite=False)
        return np.concatenate((xf, w - (self.c @ xf) / self.d))


@dataclass
class StructuredNewtonResult:
    """Outcome of :func:`structured_newton`.

    Attributes
    ----------
    iterations : int
        Newton corrections evaluated (the last one is the accepted one).
    factorizations : int
        Jacobians formed and factored.
    krylov_iterations : int
        GMRES iterations in total.
    error, history : float, list of float
        Per-entry relative correction of the accepted iterate, and of every iterate.
    correction : ndarray
        The accepted Newton correction (not yet applied).
    residual_norm : float
    times : dict
        Wall time split (s): ``jacobian``, ``factor``, ``krylov``, ``residual``.
    """

    iterations: int
    factorizations: int
    krylov_iterations: int
    error: float
    correction: np.ndarray = field(repr=False)
    residual_norm: float
    history: list = field(default_factory=list)
    times: dict = field(default_factory=dict)


def _in_domain(y: np.ndarray, nq: int) -> bool:
    return bool(np.all(y >= -_NEG_TOL) and np.all(y[:nq] <= 1.0 + _NEG_TOL))


def _krylov(model: Kinetics0D, y: np.ndarray, r: np.ndarray, lu: SchurLU,
            scale: np.ndarray, t: float, rtol: float) -> tuple[np.ndarray, int, int]:
    r"""GMRES for the scaled correction :math:`z = \delta/s` of :math:`J(y)\delta = r`,
    left-preconditioned by the lagged ``lu``; returns ``(z, info, iterations)``."""
    f, n = model.split(y)
    drive_qp = [a for d in model.drives if d.active(t)
                if (a := d.jacobian_qp(f, n)) is not None]

    def matvec(z: np.ndarray) -> np.ndarray:
        return lu.solve(model.jvp(y, scale * np.ravel(z), t, drive_qp)) / scale

    count = [0]

    def tick(_: float) -> None:
        count[0] += 1

    op = LinearOperator((model.size,) * 2, dtype=float, matvec=matvec)
    z, info = gmres(op, lu.solve(r) / scale, rtol=rtol, atol=0.0, restart=30, maxiter=2,
                    callback=tick, callback_type="pr_norm")
    return z, int(info), count[0]


def structured_newton(model: Kinetics0D, y0: np.ndarray, *, t: float,
                      floor: float, accepted: Callable[[float, list], bool],
                      max_iterations: int = 50, krylov_rtol: float = 1e-4,
                      refactor_after: int = 12, max_halvings: int = 30
                      ) -> tuple[np.ndarray, StructuredNewtonResult]:
    r"""Newton with the Schur-complement LU, lagged as the GMRES preconditioner.

    Parameters
    ----------
    model : Kinetics0D
    y0 : ndarray
        Start (in the domain).
    t : float
        Time at which the drives are evaluated.
    floor : float
        Occupation floor of the per-entry scale :math:`\max(|y_i|, floor)`.
    accepted : callable
        ``accepted(error, history) -> bool``: the per-entry test on the relative Newton
        correction (``history``: the errors of every iterate so far, this one last).
    max_iterations, krylov_rtol, refactor_after, max_halvings
        Newton limit; GMRES tolerance (scaled 2-norm); GMRES count above which the next
        iterate gets a fresh factorisation; line-search halvings.

    Returns
    -------
    (ndarray, StructuredNewtonResult)
        The iterate whose correction passed ``accepted`` (the correction not applied).

    Raises
    ------
    ConvergenceError
        ``max_iterations`` reached, or a residual or factorisation that is not finite.
    """
    nq = model.grid.n
    y = np.asarray(y0, dtype=float).copy()
    times = dict.fromkeys(("jacobian", "factor", "krylov", "residual"), 0.0)
    hist: list[float] = []
    nfac = nkry = 0
    lu: SchurLU | None = None
    lu_at: np.ndarray | None = None
    refresh = True
    krylov = model.method == "fft"

    def residual(x: np.ndarray) -> np.ndarray:
        c0 = time.perf_counter()
        r = model.rhs(x, t)
        times["residual"] += time.perf_counter() - c0
        return r

    def factor(x: np.ndarray) -> SchurLU:
        nonlocal nfac
        c0 = time.perf_counter()
        blocks = model.jacobian_blocks(x, t)
        c1 = time.perf_counter()
        out = SchurLU(*blocks)
        times["jacobian"] += c1 - c0
        times["factor"] += time.perf_counter() - c1
        nfac += 1
        return out

    r = residual(y)
    for it in range(max_iterations):
        if not np.all(np.isfinite(r)):
            break
        scale = np.maximum(np.abs(y), floor)
        if refresh or not krylov:
            lu, lu_at, refresh = factor(y), y, False
        if lu_at is y:
            delta = lu.solve(r)
        else:
            c0 = time.perf_counter()
            z, info, count = _krylov(model, y, r, lu, scale, t, krylov_rtol)
            times["krylov"] += time.perf_counter() - c0
            nkry += count
            if info != 0 or not np.all(np.isfinite(z)):
                lu, lu_at = factor(y), y
                delta = lu.solve(r)
            else:
                delta = scale * z
                refresh = count > refactor_after
        err = float(np.max(np.abs(delta) / scale))
        if not np.isfinite(err):
            break
        hist.append(err)
        if accepted(err, hist):
            res = StructuredNewtonResult(it + 1, nfac, nkry, err, delta,
                                         float(np.linalg.norm(r)), hist, times)
            return y, res
        # damping: the longest step y - lam delta (lam = 1, 1/2, ...) in the domain
        norm0 = float(np.linalg.norm(r))
        lam = 1.0
        for _ in range(max_halvings):
            trial = y - lam * delta
            if _in_domain(trial, nq):
                rt = residual(trial)
                if np.all(np.isfinite(rt)):
                    break
            lam *= 0.5
        else:
            break
        log.debug("structured Newton %d: correction %.3e, step %.3g, |F| %.3e -> %.3e",
                  it, err, lam, norm0, float(np.linalg.norm(rt)))
        y, r = trial, rt
    raise ConvergenceError(
        f"kinetics0d structured Newton did not converge in {len(hist)} iterations "
        f"(per-entry corrections {', '.join(f'{e:.1e}' for e in hist[-5:])})",
        StructuredNewtonResult(len(hist), nfac, nkry, hist[-1] if hist else np.inf,
                               np.zeros_like(y), float(np.linalg.norm(r)), hist, times))

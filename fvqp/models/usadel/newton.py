"""Damped Newton for many independent per-energy systems, iterating only the active ones.

The spectral solvers (:mod:`~fvqp.models.usadel.spectral`,
:mod:`~fvqp.models.usadel.phase`) solve one nonlinear system per energy; the systems are
independent (block-diagonal Jacobian, per-energy line search). Iterating every energy
until the slowest one converges costs the full block LU per iteration even when a handful
of energies (e.g. exactly at the gap edge) stall: here each iteration assembles and
factorises only the energies that are still active.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse.linalg as spla


def newton_active(fun: Callable, x: np.ndarray, maxit: int, tol: float, step_tol: float,
                  backtracks: int):
    """Damped Newton with per-energy backtracking on the energies not yet converged.

    An energy leaves the active set, frozen, once its residual is below ``tol``·1e-3
    (round-off), after the Newton step taken from a residual below ``tol`` (one step of
    quadratic convergence past the tolerance: near the gap edge with Γ → 0 a residual of
    ``tol`` can still mean a θ error of 1e-10), or once its damped Newton step is below
    ``step_tol`` (stagnation: at the gap edge with Γ = 0 the residual stops near 1e-9,
    the round-off of a nearly singular Jacobian). Its iterates are those of a solve of
    that energy alone, up to the round-off of the sparse LU ordering. Energies still
    active after ``maxit`` iterations, or active when the LU failed, are returned
    unconverged (the caller's fallback continues them). Handing energies over earlier,
    when their residual stops decreasing fast, was tried: near φ = π it changes the
    discrete branch some energies land on, so it is not done.

    Parameters
    ----------
    fun : callable
        ``fun(idx, x, jac) -> (R, J)``: residual (k, m) of the energies ``idx`` (k,) at
        ``x`` (k, m) and, if ``jac``, their block-diagonal sparse Jacobian (k m × k m, the
        energies' blocks in the order of ``idx``), else None.
    x : ndarray (n_eps, m)
        Initial iterate (not modified).
    maxit : int
        Maximum Newton iterations.
    tol : float
        Residual tolerance (max norm per energy).
    step_tol : float
        Damped Newton step (λ·δx) below which an energy counts as converged.
    backtracks : int
        Maximum step halvings of the line search (Armijo, factor 1e-4).

    Returns
    -------
    x : ndarray (n_eps, m)
    done : ndarray of bool (n_eps,)
        Converged energies (frozen, or residual below ``tol`` after ``maxit``).
    it : int
        Newton iterations (of the slowest energy).
    norm : ndarray (n_eps,)
        Final residual per energy (∞ where the LU failed).
    """
    x = x.copy()
    every = np.arange(x.shape[0])
    norm = np.abs(fun(every, x, False)[0]).max(axis=1)
    done = np.zeros(x.shape[0], bool)
    dropped = np.zeros(x.shape[0], bool)
    it = 0
    while it < maxit and not (done | dropped).all():
        it += 1
        act = np.flatnonzero(~(done | dropped))
        xa, na = x[act], norm[act]
        R, J = fun(act, xa, True)
        try:
            step = spla.splu(J.tocsc()).solve(-R.ravel()).reshape(xa.shape)
        except RuntimeError:  # exactly singular (e.g. χ undefined): give these energies up
            dropped[act], norm[act] = True, np.inf
            break
        finite = np.isfinite(step).all(axis=1)
        step[~finite] = 0.0
        lam = np.ones(act.size)
        trial, nt = xa.copy(), np.full(act.size, np.inf)
        todo = np.arange(act.size)  # energies whose step is not accepted yet
        for _ in range(backtracks):
            trial[todo] = xa[todo] + lam[todo, None] * step[todo]
            nt[todo] = np.abs(fun(act[todo], trial[todo], False)[0]).max(axis=1)
            bad = (~np.isfinite(nt[todo]) | (nt[todo] > (1 - 1e-4 * lam[todo]) * na[todo])) \
                & (na[todo] > tol)
            if not bad.any():
                break
            todo = todo[bad]
            lam[todo] *= 0.5
        x[act], norm[act] = trial, nt
        small = np.abs(lam[:, None] * step).max(axis=1) < step_tol
        done[act] = (na < tol) | (nt < tol * 1e-3) | (finite & small)
    return x, (done | (norm < tol)) & np.isfinite(norm), it, norm


def energies_text(eps: np.ndarray, most: int = 6) -> str:
    """``'3 energies (ε = -1, 0.975, 1 Δ0)'``: the energies of a failed solve, for the
    message of a :class:`~fvqp.solvers.result.ConvergenceError` (the first ``most``)."""
    eps = np.asarray(eps, float)
    shown = ", ".join(f"{e:.6g}" for e in eps[:most]) + (", …" if eps.size > most else "")
    return f"{eps.size} energ{'y' if eps.size == 1 else 'ies'} (ε = {shown} Δ0)"

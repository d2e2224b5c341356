"""Master equations for spin-polarised quasiparticle clusters (Meyer et al. 2020, SM Sec. II).

Sparse generators ``Q`` (column convention, ``dP/dt = Q @ P``, every column sums to zero)
for

* the full master equation (S4) for :math:`P_{N,m}` on a truncated domain, and
* the reduced, fully polarised master equation (S5) for :math:`P_N`,

with their stationary solutions, time evolution and zero-frequency noise.

Rates (per state ``(N, m)`` with ``k = N - m`` majority spins, ``m`` minority spins):

============================  =====================================================
transition                    rate
============================  =====================================================
``(N+1, m)``                  :math:`(AV/2)[1 + 1/(k+1)]`   (injection, quantum)
``(N+1, m+1)``                :math:`(AV/2)[1 - 1/(k+1)]`   (injection, quantum)
``(N-2, m-1)``                :math:`(\\bar\\Gamma + \\bar\\Gamma_t) k m / V`
``(N-2, m)``                  :math:`\\bar\\Gamma_t k (k-1) / 2V`
``(N-2, m-2)``                :math:`\\bar\\Gamma_t m (m-1) / 2V`
``(N, m+1)``, ``(N, m-1)``    :math:`k/\\tau_s`, :math:`m/\\tau_s`
============================  =====================================================

Reconstruction notes: the triplet rates use the exact pair counts ``k(k-1)/2``,
``m(m-1)/2`` of Eq. (S4) (the main text's ``k^2/2``, ``m^2/2`` are their large-number
limits and would lead out of the domain ``m >= 0``).  The injection rates are the
Clebsch-Gordan ones of the main text / Eqs. (S1)-(S3); Eq. (S4) prints the gain term from
:math:`P_{N-1,m-1}` with :math:`1 - 1/(N-m)` instead of :math:`1 - 1/(N-m+1)`, which would
not conserve probability together with its loss term :math:`-AV P_{N,m}`.  In (S5) the
spin-flip-plus-annihilation process ``N -> N-2`` (rate :math:`N/\\tau_s`) is only allowed
for ``N >= 2``.  The Ising variant (SM Sec. IV) drops the ``1/(k+1)`` asymmetry.  The
domain ``0 <= m <= N`` is closed under all rates; truncation at ``N <= n_max``,
``m <= m_max`` is reflecting (transitions leaving the box are removed, both gain and
loss), so probability is conserved exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from fvqp.stochastic.spin_clusters import ClusterParams

__all__ = [
    "StateSpace",
    "full_generator",
    "reduced_generator",
    "stationary",
    "evolve",
    "marginal_n",
    "moments",
    "zero_frequency_noise",
]


@dataclass(frozen=True)
class StateSpace:
    """Enumeration of the truncated states ``(N, m)`` of Eq. (S4).

    Attributes
    ----------
    N, m : numpy.ndarray
        Particle number and number of minority spins of every state (``m`` is all zeros for
        the reduced model S5).
    n_max, m_max : int
        Truncation.
    """

    N: np.ndarray
    m: np.ndarray
    n_max: int
    m_max: int

    @property
    def size(self) -> int:
        """Number of states."""
        return int(self.N.size)

    def index(self, N: np.ndarray, m: np.ndarray) -> np.ndarray:
        """Linear index of ``(N, m)``, ``-1`` outside the truncated domain."""
        N = np.asarray(N)
        m = np.asarray(m)
        ok = (N >= 0) & (N <= self.n_max) & (m >= 0) & (m <= np.minimum(N, self.m_max))
        Nc = np.clip(N, 0, self.n_max)
        mc = np.clip(m, 0, self.m_max)
        # states are ordered by N, then m; offset(N) = sum_{n<N} (min(n, m_max) + 1)
        offs = _offsets(self.n_max, self.m_max)
        return np.where(ok, offs[Nc] + mc, -1)


def _offsets(n_max: int, m_max: int) -> np.ndarray:
    counts = np.minimum(np.arange(n_max + 1), m_max) + 1
    return np.concatenate(([0], np.cumsum(counts)[:-1]))


def _state_space(n_max: int, m_max: int) -> StateSpace:
    counts = np.minimum(np.arange(n_max + 1), m_max) + 1
    N = np.repeat(np.arange(n_max + 1), counts)
    m = np.arange(N.size) - np.repeat(_offsets(n_max, m_max), counts)
    return StateSpace(N=N, m=m, n_max=n_max, m_max=m_max)


def _assemble(size: int, src: list, dst: list, rates: list) -> sp.csc_matrix:
    src = np.concatenate(src)
    dst = np.concatenate(dst)
    rates = np.concatenate(rates)
    keep = (dst >= 0) & (rates > 0)
    src, dst, rates = src[keep], dst[keep], rates[keep]
    out = np.bincount(src, weights=rates, minlength=size)
    rows = np.concatenate((dst, np.arange(size)))
    cols = np.concatenate((src, np.arange(size)))
    vals = np.concatenate((rates, -out))
    return sp.csc_matrix((vals, (rows, cols)), shape=(size, size))


def full_generator(params: ClusterParams, n_max: int, m_max: int | None = None,
                   ising: bool = False) -> tuple[sp.csc_matrix, StateSpace]:
    """Sparse generator of the master equation (S4) on ``N <= n_max``, ``m <= m_max``.

    Parameters
    ----------
    params : ClusterParams
        Model parameters.
    n_max : int
        Largest particle number kept.
    m_max : int, optional
        Largest number of minority spins kept (default ``n_max``, the full triangle).
    ising : bool
        Classical (Ising) spins, SM Sec. IV: injection without the ``1/(N-m+1)`` terms.

    Returns
    -------
    Q : scipy.sparse.csc_matrix
        Generator, ``dP/dt = Q @ P``; columns sum to zero.
    space : StateSpace
        State enumeration.
    """
    m_max = n_max if m_max is None else min(m_max, n_max)
    s = _state_space(n_max, m_max)
    N, m = s.N, s.m
    k = (N - m).astype(float)
    mf = m.astype(float)
    p = params
    half = 0.5 * p.injection
    asym = np.zeros_like(k) if ising else 1.0 / (k + 1.0)
    g, gt, ts = p.gamma / p.V, p.gamma_t / p.V, p.inv_tau_s
    moves = [
        ((1, 0), half * (1.0 + asym)),
        ((1, 1), half * (1.0 - asym)),
        ((-2, -1), (g + gt) * k * mf),
        ((-2, 0), 0.5 * gt * k * (k - 1.0)),
        ((-2, -2), 0.5 * gt * mf * (mf - 1.0)),
        ((0, 1), ts * k),
        ((0, -1), ts * mf),
    ]
    src = np.arange(s.size)
    Q = _assemble(s.size, [src] * len(moves), [s.index(N + dn, m + dm) for (dn, dm), _ in moves],
                  [r for _, r in moves])
    return Q, s


def reduced_generator(params: ClusterParams, n_max: int,
                      ising: bool = False) -> tuple[sp.csc_matrix, StateSpace]:
    """Sparse generator of the reduced (fully polarised) master equation (S5).

    Parameters
    ----------
    params, n_max, ising
        As in :func:`full_generator` (``m = 0`` here; ``n_max`` a reflecting
        truncation; ``ising`` drops the :math:`1/(N+1)` asymmetry of injection).

    Returns
    -------
    Q : scipy.sparse.csc_matrix
        Generator on ``N = 0..n_max``.
    space : StateSpace
        State enumeration (``m = 0``).
    """
    N = np.arange(n_max + 1)
    Nf = N.astype(float)
    p = params
    half = 0.5 * p.injection
    asym = np.zeros_like(Nf) if ising else 1.0 / (Nf + 1.0)
    down2 = 0.5 * p.gamma_t / p.V * Nf * (Nf - 1.0) + p.inv_tau_s * Nf * (N >= 2)
    dst = [np.where(N + 1 <= n_max, N + 1, -1), N - 1, N - 2]
    rates = [half * (1.0 + asym), half * (1.0 - asym) * (N >= 1), down2]
    dst = [np.where(d >= 0, d, -1) for d in dst]
    Q = _assemble(N.size, [N] * 3, dst, rates)
    space = StateSpace(N=N, m=np.zeros_like(N), n_max=n_max, m_max=0)
    return Q, space


def _bordered(Q: sp.spmatrix) -> sp.csc_matrix:
    """``Q`` with its first row replaced by ones (normalisation / zero-sum constraint)."""
    Q = sp.csr_matrix(Q)
    ones = sp.csr_matrix(np.ones((1, Q.shape[0])))
    return sp.vstack([ones, Q[1:]], format="csc")


def _drop(Q: sp.spmatrix, k: int) -> tuple[sp.csc_matrix, np.ndarray]:
    """``Q`` without row and column ``k`` (nonsingular for an irreducible chain), and the
    mask of the kept states."""
    keep = np.ones(Q.shape[0], dtype=bool)
    keep[k] = False
    Q = sp.csc_matrix(Q)
    return sp.csc_matrix(Q[keep][:, keep]), keep


def _pinned_stationary(Q: sp.spmatrix, k: int) -> np.ndarray:
    """Solution of ``Q P = 0`` with ``P_k = 1`` (rows != k; the row k is redundant)."""
    A, keep = _drop(Q, k)
    col = np.asarray(sp.csc_matrix(Q)[:, [k]].todense()).ravel()[keep]
    P = np.empty(Q.shape[0])
    P[k] = 1.0
    with np.errstate(all="ignore"):
        P[keep] = spla.spsolve(A, -col)
    return P


def stationary(Q: sp.spmatrix) -> np.ndarray:
    """Normalised stationary solution of ``Q @ P = 0``.

    The probability of one state is pinned to one and the remaining (nonsingular, since
    the chain is irreducible and one redundant equation is dropped) sparse system is
    solved by LU -- keeping the sparsity of ``Q``, unlike a bordered system with a dense
    normalisation row.  A first solve pinned at state 0 finds the most probable state; if
    that is not state 0 the solve is repeated pinned there (no overflow/underflow of the
    pinned value), and as a last resort the bordered system is used.

    Parameters
    ----------
    Q : scipy.sparse matrix
        Generator of an irreducible chain.

    Returns
    -------
    numpy.ndarray
        Stationary probabilities (tiny negative round-off clipped to zero).
    """
    P = _pinned_stationary(Q, 0)
    if np.all(np.isfinite(P)):
        k = int(np.argmax(P))
        if k != 0:
            P = _pinned_stationary(Q, k)
    if not np.all(np.isfinite(P)) or P.sum() <= 0:
        rhs = np.zeros(Q.shape[0])
        rhs[0] = 1.0
        P = spla.spsolve(_bordered(Q), rhs)
    P = np.where(P < 0.0, 0.0, P)
    return P / P.sum()


def evolve(Q: sp.spmatrix, p0: np.ndarray, times: np.ndarray, method: str = "bdf2",
           dt: float | None = None) -> np.ndarray:
    """Time evolution :math:`P(t) = e^{Qt} P(0)` of the master equation.

    Parameters
    ----------
    Q : scipy.sparse matrix
        Generator.
    p0 : numpy.ndarray
        Initial probabilities.
    times : array_like
        Increasing output times ``>= 0``.
    method : {"bdf2", "expm"}
        ``"expm"`` uses :func:`scipy.sparse.linalg.expm_multiply` (exact, cost grows with
        ``||Q|| t``); ``"bdf2"`` uses constant-step BDF2 (first step implicit Euler) with a
        single sparse LU factorisation -- unconditionally stable and exactly
        probability-conserving, suited to the stiff singlet-annihilation rates.
    dt : float, optional
        BDF2 step (default ``times[-1] / 2000``, rounded so that ``times[-1]`` is a whole
        number of steps); output at intermediate times is linearly interpolated between
        steps.

    Returns
    -------
    numpy.ndarray
        Array of shape ``(len(times), n_states)``.
    """
    times = np.asarray(times, dtype=float)
    p0 = np.asarray(p0, dtype=float)
    if method == "expm":
        return np.array([spla.expm_multiply(Q * t, p0) if t > 0 else p0 for t in times])
    if method != "bdf2":
        raise ValueError(f"unknown method {method!r}")
    t_end = float(times[-1])
    dt = t_end / 2000.0 if dt is None else float(dt)
    n_steps = max(int(np.ceil(t_end / dt - 1e-9)), 1)
    dt = t_end / n_steps
    eye = sp.identity(Q.shape[0], format="csc")
    lu1 = spla.splu(sp.csc_matrix(eye - dt * Q))
    lu2 = spla.splu(sp.csc_matrix(eye - (2.0 / 3.0) * dt * Q))
    grid = np.arange(n_steps + 1) * dt
    out = np.empty((times.size, p0.size))
    prev, cur = None, p0.copy()
    j = 0
    for n in range(n_steps + 1):
        while j < times.size and times[j] <= grid[n] + 1e-12 * t_end:
            if n == 0 or times[j] >= grid[n] - 1e-12 * t_end:
                out[j] = cur
            else:
                w = (grid[n] - times[j]) / dt
                out[j] = w * prev + (1.0 - w) * cur
            j += 1
        if n == n_steps:
            break
        nxt = lu1.solve(cur) if prev is None else lu2.solve((4.0 * cur - prev) / 3.0)
        prev, cur = cur, nxt
    return out


def marginal_n(P: np.ndarray, space: StateSpace) -> np.ndarray:
    """Marginal distribution of ``N`` (sum over ``m``).

    Parameters
    ----------
    P : numpy.ndarray
        Probabilities on ``space``.
    space : StateSpace
        State enumeration.

    Returns
    -------
    numpy.ndarray
        :math:`P_N` for ``N = 0..n_max``.
    """
    return np.bincount(space.N, weights=P, minlength=space.n_max + 1)


def moments(P: np.ndarray, space: StateSpace, orders: tuple = (1, 2),
            variable: str = "N") -> np.ndarray:
    """Raw moments :math:`\\langle X^k\\rangle` of ``X = N`` or ``X = m``.

    Parameters
    ----------
    P : numpy.ndarray
        Probabilities.
    space : StateSpace
        State enumeration.
    orders : tuple of int
        Moment orders.
    variable : {"N", "m"}
        Observable.

    Returns
    -------
    numpy.ndarray
    """
    x = (space.N if variable == "N" else space.m).astype(float)
    return np.array([np.dot(P, x**k) for k in orders])


def zero_frequency_noise(Q: sp.spmatrix, space: StateSpace,
                         P: np.ndarray | None = None) -> tuple[float, float]:
    """Zero-frequency noise of ``N`` from the generator.

    :math:`S_N(0) = \\int_{-\\infty}^{\\infty}\\langle\\langle N(t)N(0)\\rangle\\rangle dt
    = 2\\sum_s N_s y_s`, where ``y`` solves :math:`Q y = -(N - \\langle N\\rangle) P_{st}`
    with :math:`\\sum y = 0` (the Drazin-inverse action of ``Q``; solved sparsely with one
    component pinned, then projected).  This two-sided convention reproduces the paper's
    :math:`S_N(0) \\approx 0.5\\langle\\langle N^2\\rangle\\rangle\\tau_s` (text after
    Eq. 9): the linearised SR relaxation rate is :math:`4/\\tau_s`.

    Parameters
    ----------
    Q : scipy.sparse matrix
        Generator.
    space : StateSpace
        State enumeration.
    P : numpy.ndarray, optional
        Stationary distribution (computed if omitted).

    Returns
    -------
    S0 : float
        Zero-frequency noise :math:`S_N(0)`.
    variance : float
        :math:`\\langle\\langle N^2\\rangle\\rangle`.
    """
    if P is None:
        P = stationary(Q)
    N = space.N.astype(float)
    mean = float(P @ N)
    x = (N - mean) * P
    # y with Q y = -x, sum(y) = 0: pin y_k = 0 at the most probable state (row k is
    # redundant), solve the sparse rest, then remove the null-space component P
    k = int(np.argmax(P))
    A, keep = _drop(Q, k)
    y = np.zeros_like(x)
    y[keep] = spla.spsolve(A, -x[keep])
    y -= P * y.sum()
    var = float(P @ (N - mean) ** 2)
    return 2.0 * float(N @ y), var

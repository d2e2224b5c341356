r"""Quiet cells: the bath's linear response in the transport model's residual, Jacobian
actions and Schur preconditioner blocks.

Far from a deposit or an injector most cells of a device sit at the bath: their
occupations differ from :math:`y^B = (f^{B}, n^{B})` (Fermi, Bose at the bath
temperature) by far less than any tolerance of the run (the 13 280-cell absorber burst,
0.2 ns steps: 77 % of the cells within :math:`10^{-10}` through its first 0.6 ns, 64 %
within :math:`10^{-14}`). The collision Jacobian of such a cell is the bath's,

.. math::
    J(y) = J(y^B) + O(|y - y^B|), \qquad
    J(y^B) = \frac{\partial(S^{qp}, S^{ph})}{\partial(f, n)}\Big|_{y^B},

which depends only on the cell's *class* — its region (``qp_scale``, ``c_ph``,
``tau_esc``, phonons held or not) and its gap (the DOS rows) — not on the cell: the
storage masses :math:`m^f, m^n` enter as row factors outside it (they scale with the
cell's volume). So every quiet cell of a class shares one dense :math:`(N+M)^2` matrix,
made once per class and gap (:func:`fvqp.collisions.batched.batched_jacobian`, exact:
the FFT operator's own blocks), and

* a Jacobian action there is a matrix product over the class's quiet cells instead of
  the 12 transforms per cell of the FFT path (:meth:`.problem.TransportProblem
  .rhs_jvp`; :meth:`~.problem.TransportProblem.schur_action` with the phonons condensed
  out at the shift :math:`\sigma`: :math:`G = J_{ff} + J_{fn}\,\mathrm{diag}(\gamma)
  \,J_{nf}` (N x N), :math:`\mathrm{diag}(\gamma)J_{nf}` and :math:`J_{fn}`,
  :math:`\gamma = m^n/D` the gain of :class:`.condensed.PhononDiagonal` at the bath);
* the residual's collision terms are :math:`S(y^B) + J(y^B)(y - y^B)`, and the net pair
  breaking likewise (:class:`QuietTerms`; the remainder :math:`O(|y - y^B|^2)` of a rate
  coefficient, below 1e-26): the residual Newton tests is the full operator's to that;
* the Schur preconditioner's :math:`S_T` of a quiet cell is its class's at the bath
  times its storage scale (:meth:`.schur.SchurPreconditioner._shared_blocks`).

A cell is quiet when :math:`\max_k|y_k - y^B_k| \le` :data:`QUIET_TOL` (absolute, on
occupations) in a steady solve. Every entry of :math:`J` is a rate coefficient times one
occupation factor (:math:`f, 1-f, n, 1+n`), so the shared matrix differs from the cell's
own by ~6.5 :data:`QUIET_TOL` of its largest entry (:data:`QUIET_SLOPE`, measured on the
520-cell absorber): ~1e-4 of the weakest row found (a bin at the Ta gap edge, diagonal
1.6e-8 at the bath), which a steady solve (no time term) would feel first at a larger
tolerance (at 1e-10 that row changed by 80 %). In a time step every storage row also
holds the time term :math:`\sigma m`, which bounds what the shared matrix and the
first-order residual change: there the tolerance of each class grows with
:math:`\sigma` up to :data:`QUIET_TOL_STEP` (:func:`tolerance`: the Newton matrix
within :data:`QUIET_STEP_REL` of the time term, the step's update of a quiet cell within
half that of its deviation; the 13 280-cell burst's 0.2 ns steps take 1e-10). Only classes holding
at least :data:`MIN_CELLS` of a rank's cells take part, at most :data:`MAX_CLASSES` of
them (a self-consistent gap gives every cell near the bath a gap of its own last bits);
so whether a cell is quiet depends on its state and, through that count, on its rank's
cells: a run on other ranks may treat a cell the other way, which moves its terms by the
remainder above, far below the solvers' tolerances.
"""

from __future__ import annotations

import numpy as np

from ...collisions.batched import batched_jacobian, batched_terms

__all__ = ["MAX_CLASSES", "MIN_CELLS", "QUIET_SLOPE", "QUIET_STEP_REL", "QUIET_TOL",
           "QUIET_TOL_STEP", "BathResponse", "QuietSplit", "QuietTerms", "shift_span",
           "step_sigma", "tolerance"]

#: largest deviation of a cell's occupations from the bath's (absolute) for which its
#: Jacobian actions use the bath's (module docstring): the tolerance of a steady solve,
#: and the floor of a time step's (:func:`tolerance`)
QUIET_TOL = 1e-14
#: the largest tolerance of a time step (:func:`tolerance`)
QUIET_TOL_STEP = 1e-10
#: the shared Jacobian of a cell at deviation :math:`\delta` differs from the cell's own
#: by about this times :math:`\delta` of the class Jacobian's largest entry (measured
#: 6.5 on the 520-cell absorber, module docstring)
QUIET_SLOPE = 6.5
#: in a time step, that difference relative to the time term :math:`\sigma` (and so the
#: relative error per step of a quiet cell's deviation from the bath: :func:`tolerance`)
QUIET_STEP_REL = 1e-8
#: a class (region and gap) takes part only if it holds at least this many of the rank's
#: cells, and only the :data:`MAX_CLASSES` largest do: with a self-consistent gap every
#: cell near the bath has a gap of its own last bits, and one dense Jacobian per cell
#: (307 KB at 66 x 130) would cost more than the FFT operator it replaces
MIN_CELLS = 16
#: ... (module docstring)
MAX_CLASSES = 32


def step_sigma(t0: float, t1: float) -> float:
    r"""A lower bound of the time term :math:`\sigma = \alpha_0/(t_1 - t_0)` of the
    step ``[t0, t1]`` (:math:`\alpha_0 \ge 1` for BDF1 and BDF2): :math:`1/(t_1 - t_0)`,
    0 for a steady solve (``t1`` infinite) or an empty span."""
    h = t1 - t0
    return 1.0 / h if 0.0 < h < np.inf else 0.0


def shift_span(shift: float) -> tuple[float, float]:
    """A step span ``(0, 1/shift)`` whose :func:`step_sigma` is ``shift`` (``(0, inf)``,
    a steady solve's, for a shift of 0): how a caller that knows the Newton matrix's shift
    hands it to ``rhs_jvp(x, v, t0, t1)``."""
    return (0.0, 1.0 / shift) if shift > 0 else (0.0, np.inf)


def tolerance(floor: float, cap: float, sigma: float, jmax: np.ndarray) -> np.ndarray:
    r"""The quiet tolerance of every class (:class:`QuietSplit`) in a step whose time
    term is at least ``sigma``.

    The Newton matrix of a step is :math:`\sigma m - J` with every storage row's
    diagonal at least :math:`\sigma m` (:math:`-J_{rr} \ge 0`). A quiet cell at the
    deviation :math:`\delta = \max_k|y_k - y^B_k|` takes a Jacobian that differs from
    its own by about :data:`QUIET_SLOPE` :math:`\delta J^{max}_c` (the class Jacobian's
    largest entry) and a residual that differs by half that times :math:`\delta` (the
    first-order remainder). Against the time term the Newton matrix then changes by
    :math:`\epsilon = ` :data:`QUIET_SLOPE` :math:`\delta J^{max}_c/\sigma`, and the
    step's update of the cell, whose error is the remainder over at least
    :math:`\sigma`, by :math:`\epsilon/2` of the cell's deviation. With
    :math:`\epsilon \le` :data:`QUIET_STEP_REL`:

    .. math::
        \delta_c = \frac{\text{QUIET\_STEP\_REL}\;\sigma}
                         {\text{QUIET\_SLOPE}\;J^{max}_c},

    kept between ``floor`` (:data:`QUIET_TOL`, the steady solve's) and ``cap``
    (:data:`QUIET_TOL_STEP`). A steady solve (``sigma`` 0) has no time term to bound
    the rows by: ``floor`` (module docstring: a weak row there feels a larger
    tolerance first). A ``floor`` of 0 (no quiet cells) stays 0.

    Parameters
    ----------
    floor, cap : float
    sigma : float
        The step's time term, :func:`step_sigma` or the BDF shift.
    jmax : ndarray, shape (classes,)
        :meth:`BathResponse.jmax`.
    """
    jmax = np.asarray(jmax, dtype=float)
    if floor <= 0 or sigma <= 0:
        return np.full(jmax.shape, max(floor, 0.0))
    with np.errstate(divide="ignore"):
        tol = QUIET_STEP_REL * sigma / (QUIET_SLOPE * jmax)
    return np.clip(tol, floor, max(cap, floor))


class QuietSplit:
    """The owned cells of one linearisation point split per batch of ``chunk`` cells
    into active cells (the FFT path) and quiet cells by class (module docstring).

    Parameters
    ----------
    y : ndarray, shape (n_local, B)
        The linearisation point.
    ref : ndarray, shape (B,)
        The bath's occupations.
    classes : ndarray of int, shape (n,)
        The class of every owned cell (-1: never quiet).
    chunk : int
        Cells per batch.
    tol : float or ndarray, shape (classes,)
        :data:`QUIET_TOL`, or per class (:func:`tolerance`); 0 (no cell quiet: every
        batch is its slice).

    Attributes
    ----------
    active : list
        Per batch: its slice when every cell is active, else the active cells' indices
        (possibly empty).
    quiet : list of list of (int, ndarray)
        Per batch: ``(class, cells)`` of its quiet cells.
    n_quiet : int
        Quiet owned cells of this rank.
    """

    def __init__(self, y: np.ndarray, ref: np.ndarray, classes: np.ndarray, chunk: int,
                 tol: float | np.ndarray = QUIET_TOL):
        n = len(classes)
        self.active, self.quiet, self.n_quiet = [], [], 0
        per_class = np.ndim(tol) > 0
        some = bool(np.max(tol, initial=0.0) > 0)
        for s in range(0, n, chunk):
            e = min(n, s + chunk)
            if some:
                cls = classes[s:e]
                limit = np.asarray(tol)[np.maximum(cls, 0)] if per_class else tol
                quiet = (np.max(np.abs(y[s:e] - ref), axis=1) <= limit) & (cls >= 0)
            else:
                quiet = np.zeros(e - s, bool)
            if not quiet.any():
                self.active.append(slice(s, e))
                self.quiet.append([])
                continue
            self.n_quiet += int(quiet.sum())
            self.active.append(s + np.flatnonzero(~quiet))
            cells = s + np.flatnonzero(quiet)
            cls = classes[cells]
            self.quiet.append([(int(c), cells[cls == c]) for c in np.unique(cls)])


class BathResponse:
    """The bath's dense collision Jacobian of every cell class, and its condensed maps at
    a shift (module docstring), made when first asked and kept until the gaps change.

    Parameters
    ----------
    problem : TransportProblem
        Its owned cells' classes (:attr:`classes`) and one representative cell per class.
    """

    def __init__(self, problem):
        p = self.p = problem
        reg = np.asarray(p.loc.cell_region[:p.n], np.int64)
        key = reg * (int(np.max(p.rho.index, initial=0)) + 1) + p.rho.index[:p.n]
        _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
        inverse = inverse.ravel().astype(np.int64)
        count = np.bincount(inverse, minlength=len(first))
        big = np.flatnonzero(count >= MIN_CELLS)
        big = big[np.argsort(-count[big], kind="stable")[:MAX_CLASSES]]
        number = np.full(len(first), -1, np.int64)
        number[big] = np.arange(len(big))
        #: the class of every owned cell (-1: none, never quiet: :data:`MIN_CELLS`), and
        #: a representative cell of every class
        self.classes, self.rep = number[inverse], first[big]
        self.ref = np.concatenate([p.f_bath, p.n_bath])
        self._kept: dict[tuple, object] = {}

    def kept(self, key: tuple, make):
        """``make()`` kept under ``key`` while the gaps stay (a class's Jacobian, terms,
        condensed maps at a shift, a preconditioner's block; at most 64 entries)."""
        if key not in self._kept:
            if len(self._kept) > 64:
                self._kept.clear()
            self._kept[key] = make()
        return self._kept[key]

    def jmax(self) -> np.ndarray:
        """The largest entry (absolute) of every class's :meth:`jacobian`."""
        return self.kept(("jmax",), lambda: np.array(
            [np.max(np.abs(self.jacobian(c)), initial=0.0) for c in range(len(self.rep))]))

    def _rep(self, c: int) -> slice:
        return slice(int(self.rep[c]), int(self.rep[c]) + 1)

    def jacobian(self, c: int) -> np.ndarray:
        """The per-unit collision Jacobian :math:`J(y^B)` (B, B) of class ``c``."""
        def make():
            p, r = self.p, self._rep(c)
            return batched_jacobian(
                p.f_bath[None, :], p.n_bath[None, :], p.rho[r], p.ados[r], h=p.grid.h,
                m=p.grid.m, qp_scale=p.p["qp_scale"][r], c_ph=p.p["c_ph"][r])[0]
        return self.kept(("jacobian", c), make)

    def terms(self, c: int) -> tuple:
        r"""The collision terms of class ``c`` at the bath and their derivatives:
        ``(r, jac, pair, dpair, g)`` — the net rates :math:`(S^{qp}, S^{ph})(y^B)`
        (B,), :math:`J(y^B)` (B, B), the net pair breaking minus recombination per bin
        (N,) and its Jacobian (N, B) by complex step, and the outer-factor derivatives
        (B,) (:func:`fvqp.collisions.batched.batched_terms` with ``outer``)."""
        def make():
            p, r, B = self.p, self._rep(c), self.p.B
            kw = dict(h=p.grid.h, m=p.grid.m, qp_scale=p.p["qp_scale"][r],
                      c_ph=p.p["c_ph"][r])
            f, n = p.f_bath[None, :], p.n_bath[None, :]
            t, g = batched_terms(f, n, p.rho[r], p.ados[r], outer=True, **kw)
            rates = np.concatenate([t.qp[0], t.ph[0]])
            pair = (t.qp_pb - t.qp_rec)[0]
            eps, e = 1e-30, np.eye(B)
            kwb = {**kw, "qp_scale": np.repeat(kw["qp_scale"], B),
                   "c_ph": np.repeat(kw["c_ph"], B)}
            tc = batched_terms(f + 1j * eps * e[:, :p.N], n + 1j * eps * e[:, p.N:],
                               np.repeat(p.rho[r], B, 0), np.repeat(p.ados[r], B, 0),
                               **kwb)
            dpair = ((tc.qp_pb - tc.qp_rec).imag / eps).T
            return (rates, self.jacobian(c), pair, dpair,
                    np.concatenate(g, axis=1)[0])
        return self.kept(("terms", c), make)

    def condensed(self, c: int, shift: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        r"""``(G, W, J_fn)`` of class ``c`` at the shift ``shift``: the QP rows
        :math:`Gv + J_{fn}w_0` and the condensed phonon direction :math:`Wv + w_0` of a
        quiet cell (:func:`fvqp.collisions.batched.condensed_qp_jvp` at the bath), with
        the gain :math:`\gamma = m^n/D` of the representative cell's
        :class:`.condensed.PhononDiagonal` at the bath's phonon outer derivative."""
        def make():
            from .condensed import PhononDiagonal  # (condensed imports this module)

            p, N, rep = self.p, self.p.N, np.array([int(self.rep[c])])
            jac = self.jacobian(c)
            g = np.broadcast_to(np.diagonal(jac)[N:], (p.n, p.M))  # g^n at the bath
            d = PhononDiagonal(p, g, shift).rows(rep)[0]
            gain = np.where(p.ph_fixed[rep[0]], 0.0, p.m_n[rep][0] / d)
            w = gain[:, None] * jac[N:, :N]
            return jac[:N, :N] + jac[:N, N:] @ w, w, jac[:N, N:]
        return self.kept(("condensed", c, float(shift)), make)


class QuietTerms:
    r"""The collision terms of quiet cells to first order about the bath (module
    docstring): the net rates ``qp`` (C, N), ``ph`` (C, M) and the net pair breaking per
    bin as ``qp_pb`` (with ``qp_rec`` = 0), as the residual reads
    :class:`fvqp.collisions.batched.BatchedTerms`; the outer-factor derivatives ``g``
    (C, B) those of the bath. The second-order remainder is
    :math:`O(|y - y^B|^2)` of a rate coefficient (below 1e-26 at :data:`QUIET_TOL`).

    Parameters
    ----------
    response : BathResponse
    c : int
        The cells' class.
    dy : ndarray, shape (C, B)
        :math:`y - y^B` of the cells.
    """

    qp_rec = 0.0

    def __init__(self, response: BathResponse, c: int, dy: np.ndarray):
        rates, jac, pair, dpair, g = response.terms(c)
        N = response.p.N
        full = rates + dy @ jac.T
        self.qp, self.ph = full[:, :N], full[:, N:]
        self.qp_pb = pair + dy @ dpair.T
        self.g = np.broadcast_to(g, dy.shape)

r"""The transport model's FFT collision work balanced over the ranks
(:mod:`fvqp.parallel.lending`).

With quiet cells (:mod:`.quiet`) the cost of an action is set by a rank's *active* cells
(the FFT operator, ~6x a quiet cell's), and a burst in one rank's part of a device leaves
that rank with most of them: the others wait at every Krylov reduction. The collision part
of an active cell needs only that cell's data, so a busy rank lends pieces of its active
batches (:data:`UNIT` cells each, the last of a batch first) to less busy ranks:

* the condensed Schur action (:class:`LentBatches`), per linearisation point and shift:
  once, the lent cells' state, DOS, ``qp_scale``, ``c_ph``, QP outer derivatives and
  phonon gain :math:`\gamma = m^n/D` go to the borrower, which makes their state
  transforms and keeps them (as the lender keeps its own,
  :meth:`.linearisation.Linearisation._jvp_spectra`); per action
  (:meth:`LentBatches.send` before the rank's own batches, :meth:`LentBatches.finish`
  after them) the lent cells' directions go out, the borrower applies
  :func:`fvqp.collisions.batched.condensed_qp_jvp`, and the QP rows and condensed phonon
  directions come back;
* the residual's collision terms (:class:`LentTerms`), per residual: the lent cells'
  state goes out before the rank's own batches, their terms (net rates, net pair
  breaking per bin, and the outer-factor derivatives where the residual keeps its
  linearisation) come back after them.

Every cell's transforms and products are its own (the batched operator works row by
row), so a cell computed in a borrower's batch gives the bits it gives in its owner's
(``tests/test_transport_lending.py``). The lender skips the lent cells (a batch lent in
part keeps the rest, with its kept transforms row-selected); everything else (quiet
cells, transport, storage) stays with the cell's owner. Both are collective: every rank
makes its loan at the same condensed solve and at the same residual.
"""

from __future__ import annotations

import time

import numpy as np

from ...collisions.batched import batched_terms, condensed_qp_jvp
from ...parallel.lending import Loan
from .linearisation import CHUNK, cells

__all__ = ["NO_LOAN", "UNIT", "LentBatches", "LentTerms"]

#: cells per piece a rank may lend: a batch of :data:`.linearisation.CHUNK` cells is 8
#: pieces, so loans balance to ~32 cells whatever the batches (the 520-cell absorber
#: has one active batch per rank on 2 ranks)
UNIT = 32


def _indices(key) -> np.ndarray:
    return np.arange(key.start, key.stop) if isinstance(key, slice) else np.asarray(key)


class _Lending:
    """The cells of a batched computation a rank lends and keeps (collective): units of
    :data:`UNIT` of every batch's active cells (``keys``), planned by
    :class:`fvqp.parallel.lending.Loan` with this computation's costs up to the return
    of the lent cells' results (where a rank that is early waits), in units of an owned
    active cell's: a quiet cell (every owned cell not in ``keys``) costs :attr:`QUIET`
    and a borrowed one :attr:`GUEST` (the subclasses' measured figures).

    Attributes
    ----------
    skip : frozenset of int
        The batches this rank lends whole (its own loop skips them).
    partial : dict
        ``{batch: positions}`` of the batches lent in part: the positions (in the batch's
        active cells) this rank keeps (:meth:`own`).
    idx : ndarray of int
        The lent cells, in the order of the exchanges.
    n_lent, n_borrowed : int
        Cells lent and borrowed.
    """

    QUIET = 0.0
    GUEST = 1.0

    def __init__(self, problem, keys: list):
        self.p = problem
        units = [(b, s, min(cells(k), s + UNIT)) for b, k in enumerate(keys)
                 for s in range(0, cells(k), UNIT)]
        quiet = problem.n - sum(cells(k) for k in keys)
        self.loan = Loan(problem.cells.comm,
                         np.array([e - s for _, s, e in units], dtype=np.int64),
                         base=self.QUIET * quiet, guest=self.GUEST)
        self.active = self.loan.active
        lent = [units[u] for u in self.loan.lent]
        self.idx = np.concatenate([_indices(keys[b])[s:e] for b, s, e in lent]
                                  + [np.zeros(0, np.int64)]).astype(np.int64)
        gone: dict[int, list] = {}
        for b, s, e in lent:
            gone.setdefault(b, []).append(np.arange(s, e))
        skip, self.partial = set(), {}
        for b, parts in gone.items():
            keep = np.setdiff1d(np.arange(cells(keys[b])), np.concatenate(parts))
            if len(keep):
                self.partial[b] = keep
            else:
                skip.add(b)
        self.skip = frozenset(skip)
        self.n_lent, self.n_borrowed = len(self.idx), int(sum(self.loan.borrowed))

    def count(self, cpu: dict, c0: float) -> None:
        """Add this loan's cells to ``cpu`` (``lent_cells``, ``borrowed_cells``: one per
        cell and use) and the CPU seconds since ``c0`` to the borrowed ones."""
        cpu["lent_cells"][0] += self.n_lent
        cpu["borrowed_cells"][0] += self.n_borrowed
        cpu["borrowed_cells"][1] += time.process_time() - c0

    def own(self, b: int, key, state=None):
        """The cells of batch ``b`` (``key``, its active cells) this rank computes and
        their kept transforms (``state``, the batch's), row-selected where the batch is
        lent in part."""
        if b not in self.partial:
            return key, state
        keep = self.partial[b]
        return _indices(key)[keep], None if state is None else state.rows(keep)


class LentBatches(_Lending):
    """The loan of the condensed actions at one linearisation point and shift (module
    docstring; collective).

    Costs per cell and action, measured on the target of
    ``benchmarks/transport_absorber3d.py`` on 2 ranks (its burst; one BLAS thread): an
    owned active cell 13 us (10.3-12.4 of them in the FFT operator, the rest its
    gathers and scatters; lent, ~12.5 us leave it), a borrowed one 8.3-8.7 us, a quiet
    one 0.64-0.7 us: :attr:`GUEST` 0.67, :attr:`QUIET` 0.052.

    Parameters
    ----------
    problem : TransportProblem
    y : ndarray, shape (n_local, B)
        The linearisation point.
    split : QuietSplit
        Its active batches (the lendable work).
    outer : ndarray, shape (n, B)
        The outer-factor derivatives at the point.
    d : PhononDiagonal
        :math:`D` at the point and shift.
    """

    QUIET = 0.052
    GUEST = 0.67

    def __init__(self, problem, y: np.ndarray, split, outer: np.ndarray, d):
        super().__init__(problem, split.active)
        p, N = problem, problem.N
        self.guests: list = []
        if not self.active:
            return
        i = self.idx
        gain = np.where(p.ph_fixed[i, None], 0.0, p.m_n[i] / d[i])
        got = self.loan.lend([y[i, :N], y[i, N:], p.rho[i], p.ados[i],
                              p.p["qp_scale"][i], p.p["c_ph"][i], outer[i, :N], gain])
        for o in range(0, self.n_borrowed, CHUNK):  # the borrowed cells in batches
            f, n, rho, ados, qs, c_ph, of, g = (a[o:o + CHUNK] for a in got)
            self.guests.append((p.spectra_of(f, n, rho, ados, qs), f, n, rho, ados,
                                c_ph, of, g))

    def send(self, vf: np.ndarray | None, w0: np.ndarray | None) -> tuple:
        """The lent cells' QP direction and phonon ``w0`` to the borrowers (``None``
        stays ``None``: the same on every rank); the borrowed cells' ones."""
        i = self.idx
        out = self.loan.lend([a[i] for a in (vf, w0) if a is not None])
        it = iter(out)
        return tuple(None if a is None else next(it) for a in (vf, w0))

    def finish(self, directions: tuple, precision, want_w: bool) -> tuple:
        """Apply the borrowed batches' actions to ``directions`` (:meth:`send`'s) and give
        the results back: the lent cells' ``dq`` (n_lent, N) (before the row masses) and,
        with ``want_w``, their condensed phonon direction ``w`` (n_lent, M)."""
        p = self.p
        vf, w0 = directions
        dq_all, w_all, o = [], [], 0
        for st, f, n, rho, ados, c_ph, of, g in self.guests:
            sl = slice(o, o + len(f))
            o = sl.stop
            dq, wc = condensed_qp_jvp(
                st.perturbed_in(precision), f, n, rho, ados,
                None if vf is None else vf[sl], g, of, h=p.grid.h, m=p.grid.m,
                c_ph=c_ph, w0=None if w0 is None else w0[sl])
            dq_all.append(dq)
            w_all.append(wc)
        back = [np.concatenate(dq_all + [np.zeros((0, p.N))])]
        if want_w:
            back.append(np.concatenate(w_all + [np.zeros((0, p.M))]))
        got = self.loan.give_back(back)
        return got[0], (got[1] if want_w else None)


class _Returned:
    """The collision terms of lent cells as a borrower gave them back: the net rates
    ``qp``, ``ph`` and the net pair breaking per bin as ``qp_pb`` (``qp_rec`` 0), as the
    residual reads :class:`fvqp.collisions.batched.BatchedTerms`."""

    qp_rec = 0.0

    def __init__(self, qp: np.ndarray, ph: np.ndarray, pair: np.ndarray):
        self.qp, self.ph, self.qp_pb = qp, ph, pair


class LentTerms(_Lending):
    """The loan of one residual's collision terms (:meth:`.problem.TransportProblem
    ._collision_chunks`; collective): the lent cells' state, DOS, ``qp_scale`` and
    ``c_ph`` go to the borrowers at once (:meth:`__init__`, before the rank's own
    batches), their terms (and outer-factor derivatives with ``outer``) come back at
    :meth:`finish` (after them).

    Parameters
    ----------
    problem : TransportProblem
    y : ndarray, shape (n_local, B)
    keys : list
        The batches' active cells.
    outer : bool
        Also the outer-factor derivatives (a residual that keeps its linearisation).

    Notes
    -----
    Costs per cell and residual, measured as :class:`LentBatches`' (three runs): an
    owned active cell 18-20 us (its FFT terms 14.5-18, its gathers and the residual's
    own work on its terms 3.5-3.9), a quiet one 3.5-3.9 us (its first-order terms and
    the residual's work on them), a borrowed one 13.8-14.6 us: :attr:`QUIET` 0.2,
    :attr:`GUEST` 0.75. The residual's work on a lent cell's terms (3.5-3.9 us) stays
    with its lender, after the terms come back: the plan balances the work up to that
    return (a rank that waits there waits once), not the lender's work after it.
    """

    QUIET = 0.2
    GUEST = 0.75

    def __init__(self, problem, y: np.ndarray, keys: list, outer: bool):
        super().__init__(problem, keys)
        self.outer = outer
        self._got = None
        if self.active:
            p, i, N = problem, self.idx, problem.N
            self._got = self.loan.lend([y[i, :N], y[i, N:], p.rho[i], p.ados[i],
                                        p.p["qp_scale"][i], p.p["c_ph"][i]])

    def finish(self) -> tuple:
        """The borrowed cells' terms, given back: the lent cells' :class:`_Returned` terms
        and (with ``outer``) their outer-factor derivatives (n_lent, B), else None."""
        p = self.p
        parts: list[list] = [[], [], [], []]
        for o in range(0, self.n_borrowed, CHUNK):
            f, n, rho, ados, qs, c_ph = (a[o:o + CHUNK] for a in self._got)
            t = batched_terms(f, n, rho, ados, h=p.grid.h, m=p.grid.m, qp_scale=qs,
                              c_ph=c_ph, outer=self.outer)
            if self.outer:
                t, (gf, gn) = t
                parts[3].append(np.concatenate([gf, gn], axis=1))
            parts[0].append(t.qp)
            parts[1].append(t.ph)
            parts[2].append(t.qp_pb - t.qp_rec)
        self._got = None
        widths = (p.N, p.M, p.N, p.B)
        back = [np.concatenate(a + [np.zeros((0, w))]) for a, w in zip(parts, widths,
                                                                        strict=True)]
        got = self.loan.give_back(back if self.outer else back[:3])
        return _Returned(*got[:3]), (got[3] if self.outer else None)


class _NoLoan:
    """No loan (one rank, or ``balance = "off"``): nothing lent or borrowed."""

    active = False
    skip: frozenset = frozenset()

    @staticmethod
    def own(b: int, key, state=None):
        """Every cell of every batch stays (:meth:`LentBatches.own`)."""
        return key, state


#: the loan of a run that lends nothing
NO_LOAN = _NoLoan()

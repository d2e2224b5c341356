"""The linearisation point of the transport model's Jacobian actions: the outer-factor
derivatives and the state transforms of the collision operator at one state, kept for all
the Krylov directions there (:class:`Linearisation` is a part of
:class:`fvqp.models.transport.problem.TransportProblem`)."""

from __future__ import annotations

import numpy as np

from ...collisions.batched import linearisation_spectra, outer_derivative
from .quiet import BathResponse, QuietSplit, tolerance

__all__ = ["CHUNK", "Linearisation", "cells", "is_frozen"]

#: cells per batched collision evaluation (cache-friendly FFT batches): the residual's and
#: the actions' batches (:mod:`.problem`) and the spectra kept here per batch must agree.
#: 256 (was 512): 66 bins x 130 phonon nodes, one thread, per cell: condensed action 6.2
#: against 6.7 us, residual terms 7.3 against 9.1 us (384: 6.5, 9.3; 128 and below
#: slower); absorber burst of 13 280 cells, 6 BDF1 steps, two runs each: 15.2-16.0
#: against 16.1-16.6 s of stepping, the same bits
CHUNK = 256


class Linearisation:
    """Outer derivatives and state spectra of :class:`TransportProblem` at its
    linearisation point (attributes ``_linearised``, ``_spectra``, ``keep_spectra``,
    ``single_spectra`` of the problem), and its split into active and quiet cells
    (:mod:`.quiet`: ``_quiet``, ``_bath``, ``quiet_tol``): the spectra are made for the
    active cells of every batch only."""

    def bath_response(self) -> BathResponse:
        """The bath's response of every cell class at the current gaps
        (:class:`.quiet.BathResponse`), made when first asked."""
        if self._bath is None:
            self._bath = BathResponse(self)
        return self._bath

    def quiet_tolerance(self, sigma: float = 0.0):
        """The quiet tolerance of every cell class in a step whose time term is at least
        ``sigma`` (:func:`.quiet.tolerance` between :attr:`quiet_tol` and
        :attr:`quiet_step_tol`; 0 for a steady solve gives :attr:`quiet_tol`)."""
        if self.quiet_tol <= 0:
            return 0.0
        if sigma <= 0 or self.quiet_step_tol <= self.quiet_tol:
            return self.quiet_tol
        return tolerance(self.quiet_tol, self.quiet_step_tol, sigma,
                         self.bath_response().jmax())

    def _quiet_split(self, y: np.ndarray, sigma: float = 0.0) -> QuietSplit:
        """The active and quiet cells of the current linearisation point
        (:class:`.quiet.QuietSplit`) in a step whose time term is at least ``sigma``
        (:meth:`quiet_tolerance`), made once per point and kept with it: the first
        caller's ``sigma`` holds for the point (every caller's is a lower bound of the
        same step's, so the bound of :func:`.quiet.tolerance` holds for all). Call after
        :meth:`_outer_derivative` (which sets the point)."""
        if self._quiet is not None and self._quiet[0] is self._linearised:
            return self._quiet[1]
        bath = self.bath_response()
        split = QuietSplit(y[:self.n], bath.ref, bath.classes, CHUNK,
                           self.quiet_tolerance(sigma))
        self._quiet = (self._linearised, split)
        return split

    def _jvp_spectra(self, y: np.ndarray, sigma: float = 0.0,
                     skip: frozenset = frozenset()) -> list:
        """The transforms of the state factors per batch of cells at the current
        linearisation point (:func:`fvqp.collisions.batched.linearisation_spectra`),
        computed at its first action and kept with it: an action then transforms only
        its direction (12 transforms instead of 24; 8 complex arrays of ~N + 1 values per
        cell). Call after :meth:`_outer_derivative` (which sets the point). ``skip``:
        batches whose spectra are not made (lent whole to other ranks, :mod:`.lent`;
        ``[b]`` gives None, and an action that still wants them makes its own)."""
        if self._spectra is not None and self._spectra[0] is self._linearised:
            return self._spectra[1]
        self._spectra = None
        split = self._quiet_split(y, sigma)
        if not self.keep_spectra:  # made per batch when an action asks (``spectra``)
            return _BatchSpectra(self, y, split)
        # kept without their DOS factors (2 N values per cell), made again per use; none
        # for a batch whose cells are all quiet
        out = _KeptSpectra(self, [self._batch_spectra(y, key).without_dos()
                                  if cells(key) and b not in skip else None
                                  for b, key in enumerate(split.active)], split)
        self._spectra = (self._linearised, out)
        return out

    def _batch_spectra(self, y: np.ndarray, key):
        """The linearisation spectra of the cells ``key`` (a batch's slice, or its active
        cells' indices)."""
        return self.spectra_of(y[key, :self.N], y[key, self.N:], self.rho[key],
                               self.ados[key], self.p["qp_scale"][key])

    def spectra_of(self, f, n, rho, ados, qp_scale):
        """The linearisation spectra of cells given by their arrays (an owner's batch, or
        cells borrowed from another rank, :mod:`.lent`), rounded to complex64 with
        ``spectra = "single"``."""
        st = linearisation_spectra(f, n, rho, ados, h=self.grid.h, m=self.grid.m,
                                   qp_scale=qp_scale)
        if self.single_spectra:  # the transforms rounded to complex64 (``spectra``)
            st = st.rounded(np.complex64)
        return st

    def _outer_derivative(self, y: np.ndarray) -> np.ndarray:
        """The outer-factor derivatives of the collision terms at the owned cells of ``y``
        (:func:`fvqp.collisions.batched.outer_derivative`, shape (n, B)), kept while
        the state is the same (one linearisation point, many Krylov directions)."""
        own = y[:self.n]
        kept = self._linearised
        if kept is not None and np.array_equal(kept[0], own):
            if kept[0] is not own and is_frozen(own):  # keep the caller's, drop the copy
                self._adopt((own, kept[1]))
            return kept[1]
        self._forget_point()  # the old point's go before the new come
        N, chunk = self.N, CHUNK
        g = np.empty((self.n, self.B))
        for s in range(0, self.n, chunk):
            sl = slice(s, min(self.n, s + chunk))
            g[sl, :N], g[sl, N:] = outer_derivative(
                y[sl, :N], y[sl, N:], self.rho[sl], self.ados[sl], h=self.grid.h,
                m=self.grid.m, qp_scale=self.p["qp_scale"][sl], c_ph=self.p["c_ph"][sl])
        self._linearised = (own if is_frozen(own) else own.copy(), g)
        return g

    def _forget_point(self) -> None:
        """Let go of the linearisation point, its spectra, its quiet cells and its
        pair-breaking sum."""
        self._linearised = self._spectra = self._pair = self._quiet = None

    def _adopt(self, point: tuple) -> None:
        """Replace the kept linearisation tuple by ``point`` (the same values), with the
        spectra and the pair-breaking sum kept for it."""
        old, self._linearised = self._linearised, point
        if self._spectra is not None and self._spectra[0] is old:
            self._spectra = (point, self._spectra[1])
        if self._pair is not None and self._pair[0] is old:
            self._pair = (point, self._pair[1])
        if self._quiet is not None and self._quiet[0] is old:
            self._quiet = (point, self._quiet[1])


def cells(key) -> int:
    """The number of cells of a batch key (a slice or an index array)."""
    return key.stop - key.start if isinstance(key, slice) else len(key)


def is_frozen(a: np.ndarray) -> bool:
    """Whether nothing can write ``a``'s values: it and every array it views read-only
    (a linearisation point the Newton solver froze,
    :meth:`fvqp.solvers.NonlinearSolver._jacobian`). Such a state is kept by reference
    instead of copied: a state-length array less through the linear solves (issue 18
    §1)."""
    while isinstance(a, np.ndarray):
        if a.flags.writeable:
            return False
        a = a.base
    return a is None


class _BatchSpectra:
    """The spectra of batch ``b``'s active cells made when an action asks for ``[b]``
    (``spectra = "recompute"``: none kept)."""

    def __init__(self, problem: Linearisation, y: np.ndarray, split: QuietSplit):
        self.p, self.y, self.split = problem, y, split

    def __getitem__(self, b: int):
        key = self.split.active[b]
        return self.p._batch_spectra(self.y, key) if cells(key) else None


class _KeptSpectra:
    """The kept spectra of every batch (:meth:`Linearisation._jvp_spectra`), without
    their DOS factors; ``[b]`` gives batch ``b``'s with them, made from the problem's
    DOS (:meth:`fvqp.collisions.correlations.State.with_dos`: the same values)."""

    def __init__(self, problem: Linearisation, states: list, split: QuietSplit):
        self.p, self.states, self.split = problem, states, split

    def __len__(self) -> int:
        return len(self.states)

    def __getitem__(self, b: int):
        p, key = self.p, self.split.active[b]
        if self.states[b] is None:
            return None
        return self.states[b].with_dos(p.rho[key], p.ados[key], p.p["qp_scale"][key])

r"""Residual and Jacobian of energy-resolved QP/phonon transport on a distributed mesh.

Unknowns per cell: the QP occupation :math:`f_i` on the absolute energy grid and the
phonon occupation :math:`n_k` (:mod:`fvqp.spectra.bins`). Every row is a
balance of *particles* in a cell and energy bin (internal units of :mod:`fvqp.units`):

.. math::
    \frac{d}{dt}\big(m^f_i f_i\big) &= m^f_i\,S^{qp}_i[f, n]
        + \sum_{faces} G_i\,(f^{nb}_i - f_i) + \text{boundary} + \text{sources}, \\
    \frac{d}{dt}\big(m^n_k n_k\big) &= m^n_k\Big(S^{ph}_k[n, f]
        - \frac{n_k - n^{bath}_k}{\tau_{esc}}\Big) + \text{sources},

with the numbers of states per bin :math:`m^f_i = V w h\bar\rho_i`,
:math:`m^n_k = V w\beta h\Omega_k^2` (:math:`w = 4N_0/N_{0,ref}`,
:math:`\beta = \text{qp\_scale}/2c_{ph}`, notes Eqs. 9-10), so that
:math:`\sum_i E_i m^f_i f_i + \sum_k\Omega_k m^n_k n_k` is the cell's energy and the
collision terms conserve it exactly (:mod:`fvqp.collisions.batched`). Transport is the
dirty-limit spectral diffusion :math:`\nabla\cdot(wD\,D_L\nabla f)` (ryan2026 Eqs. 9-10
in the BCS limit), diagonal in energy; the face conductance of bin ``i`` joining cells
``a, b, ...`` is the star-mesh combination :math:`G_{ab} = hc_ac_b/\sum_kc_k` of the
half-cell conductances :math:`c_a = w_aD_a\bar D_{L,a,i}\tau_a` (harmonic mean for two
cells): it vanishes when either side has no states at that energy, so QPs cannot enter a
region whose gap is above their energy.

Optional phonon diffusion (per region :math:`D_{ph}`, energy independent) adds
:math:`\sum_{faces}G^{ph}_k(n^{nb}_k - n_k)` to the phonon rows, with the same star-mesh
combination of :math:`c_a = w_a\beta_aD_{ph,a}\tau_a` times :math:`h\Omega_k^2`; cells
whose phonons are held at the bath (traps) absorb what diffuses into them.

Rows of bins without states and of *trap* cells (normal-metal absorbers held at the
bath) are algebraic, :math:`y = y^{bath}`; their storage is zero.

The problem is assembled from its parts: region parameters, boundaries and sources
(:mod:`.regions`), face operators and conductances (:mod:`.faces`), the Jacobian pattern
and entries (:mod:`.jacobian`) and the balances (:mod:`.balances`); this module keeps the
state, the spectra, the residual and the exact Jacobian action.
"""

from __future__ import annotations

import math
import time

import numpy as np

from ...collisions.batched import BatchedTerms, batched_jvp, batched_terms, condensed_qp_jvp
from ...collisions.grid import bose, fermi
from ...parallel.blocked import BlockDistribution
from ...spectra.bins import BinGrid, cell_spectra, gaps
from ...spectra.injection import gaussian_line
from .balances import Balances
from .faces import FaceOperators
from .jacobian import JacobianAssembly
from .lent import NO_LOAN, LentBatches, LentTerms
from .linearisation import CHUNK, Linearisation, cells, is_frozen
from .quiet import QUIET_TOL, QUIET_TOL_STEP, QuietSplit, QuietTerms, step_sigma
from .regions import Boundary, RegionParams, SpectralSource
from .rows import RowTable

__all__ = ["TransportProblem", "RegionParams", "Boundary", "SpectralSource", "CHUNK"]

class TransportProblem(FaceOperators, JacobianAssembly, Balances, Linearisation):
    """The transport model on one rank (owned + ghost cells of a Distribution).

    Parameters
    ----------
    cells : fvqp.parallel.Distribution
    grid : BinGrid
    regions : list
        :class:`RegionParams` per mesh region (None: not simulated).
    widths : ndarray
        Extrusion width per region (cross-section in 1D, thickness in 2D, 1 in 3D).
    boundaries : dict
        Boundary name -> :class:`Boundary` (every boundary face group of the mesh).
    sources : list of SpectralSource
    t_bath : float
    self_consistent : bool
        Update the gap of every cell from its ``f`` (:meth:`update_gap`).
    collisions : bool
        False switches the collision integrals off and holds the phonons at the bath
        (pure energy-resolved diffusion; used to check transport against analytic
        solutions).
    jacobian : {"assembled", "matrix_free", "schur"}
        ``assembled``: the exact Jacobian with dense per-cell collision blocks (memory
        ~ N (N + M) per cell). ``matrix_free``: the exact Jacobian *action* by complex
        step through the residual (:meth:`rhs_jvp`) and a sparse preconditioning matrix
        (transport + the diagonal of the collision Jacobian), memory ~ N + M per cell.
        ``schur``: the exact action and the phonon-eliminating preconditioner of
        :mod:`fvqp.models.transport.schur`, which the caller attaches as
        :attr:`preconditioner` (it needs the solver's options prefix).
    action : {"linear", "complex_step"}
        How :meth:`rhs_jvp` differentiates the collisions: the exact linearisation in
        real arithmetic (:mod:`fvqp.collisions.correlations`) or the complex step through
        the residual (the previous path, kept for comparison); equal to round-off.
    spectra : {"keep", "single", "recompute"}
        The state transforms of a linearisation point
        (:func:`fvqp.collisions.batched.linearisation_spectra`, 8 complex arrays of
        ~N + 1 values per cell: 8.7 KB per cell at 66 bins) kept for all its Jacobian
        actions (``keep``), kept rounded to complex64 (``single``: half of it; the
        action then carries the float32 rounding of the state's transforms, the
        residual Newton judges stays double), or made again batch by batch in every
        action (``recompute``: 8 more forward transforms per action, no such array;
        bit for bit the kept ones' actions). ``keep`` here, the exact action; a run's
        default is ``single`` (:data:`fvqp.models.transport.COLLISION_KEYS`).
    """

    def __init__(self, cells, grid: BinGrid, regions, widths, boundaries: dict,
                 sources=(), t_bath: float = 0.1, self_consistent: bool = False,
                 collisions: bool = True, jacobian: str = "assembled",
                 action: str = "linear", spectra: str = "keep", precision: str = "double",
                 quiet: str = "bath", balance: str = "lend"):
        self.cells, self.grid = cells, grid
        self.N, self.M = grid.n, grid.n_ph
        self.B = self.N + self.M
        self.dist = BlockDistribution(cells, self.B)
        loc = cells.local
        self.loc, self.n = loc, loc.n_owned
        self.t_bath, self.self_consistent = t_bath, self_consistent
        self.collisions = collisions
        if jacobian not in ("assembled", "matrix_free", "schur"):
            raise ValueError("jacobian must be 'assembled', 'matrix_free' or 'schur', not "
                             f"{jacobian!r}")
        self.jacobian = jacobian
        if action not in ("linear", "complex_step"):
            raise ValueError(f"action must be 'linear' or 'complex_step', not {action!r}")
        #: how :meth:`rhs_jvp` differentiates the collision operator: ``linear`` (the
        #: product rule in real arithmetic, :mod:`fvqp.collisions.correlations`) or
        #: ``complex_step`` (through the residual with complex occupations; ~3x slower)
        self.action = action
        if spectra not in ("keep", "single", "recompute"):
            raise ValueError("spectra must be 'keep', 'single' or 'recompute', not "
                             f"{spectra!r}")
        self.keep_spectra = spectra != "recompute"
        self.single_spectra = spectra == "single"
        if precision not in ("auto", "double", "single"):
            raise ValueError("precision must be 'auto', 'double' or 'single', not "
                             f"{precision!r}")
        #: the real precision of the condensed solve's collision actions (``auto``:
        #: single in forced linear solves, :data:`.condensed.SINGLE_ACTION_RTOL`)
        self.action_precision = precision
        if quiet not in ("bath", "off"):
            raise ValueError(f"quiet must be 'bath' or 'off', not {quiet!r}")
        #: how far from the bath a cell's Jacobian actions use the bath's linear response
        #: (:mod:`.quiet`; ``quiet = "off"``: 0, every cell through the FFT operator)
        self.quiet_tol = QUIET_TOL if quiet == "bath" else 0.0
        #: the largest such tolerance in a time step, where the time term bounds what it
        #: changes (:func:`.quiet.tolerance`; :attr:`quiet_tol` is the steady solve's)
        self.quiet_step_tol = QUIET_TOL_STEP
        if balance not in ("lend", "off"):
            raise ValueError(f"balance must be 'lend' or 'off', not {balance!r}")
        #: ``lend``: the condensed actions' active batches balanced over the ranks
        #: (:mod:`.lent`); ``off``: every rank computes its own cells
        self.balance = balance
        #: (PhononDiagonal, shift, LentBatches) of the current condensed actions
        self._lent = None
        self._quiet = self._bath = None
        self._linearised = None
        #: (the _linearised tuple, spectra per CHUNK batch) of the Jacobian actions
        self._spectra = None
        #: (the _linearised tuple, net pair breaking of this rank's owned cells) from the
        #: residual that made that linearisation (:meth:`pair_breaking`)
        self._pair = None
        #: CPU seconds and calls of the residual and of the Jacobian actions (benchmark);
        #: ``quiet_cells``: the cells whose collision part of an action was the bath's
        #: response (:mod:`.quiet`; one per cell and action) and its CPU seconds
        #: ``lent_cells``/``borrowed_cells``: the cells of this rank's condensed actions
        #: computed by another rank, and those it computed for others (:mod:`.lent`; one
        #: per cell and action), with the CPU seconds of the borrowed ones
        self.cpu = {"residual": [0, 0.0], "action": [0, 0.0], "quiet_cells": [0, 0.0],
                    "lent_cells": [0, 0.0], "borrowed_cells": [0, 0.0]}
        #: read by the BDF integrator: use rhs_jvp as the Krylov operator
        self.matrix_free = jacobian in ("matrix_free", "schur")
        #: model preconditioner (``update(x_local, shift)``, ``apply(r)``) for 'schur'
        self.preconditioner = None
        #: block size of the assembled matrix: cell blocks (assembled) or none (the
        #: matrix-free preconditioning matrix is diagonal in energy: GAMG per energy)
        self.block_size = 1 if self.matrix_free else self.B
        self.f_bath, self.n_bath = fermi(grid.e, t_bath), bose(grid.omega, t_bath)
        reg = loc.cell_region
        attr = {a: np.array([getattr(regions[r], a) for r in reg], dtype=float)
                for a in ("qp_scale", "c_ph", "weight", "diffusion", "delta0", "gap",
                          "tau_esc", "phonon_diffusion")}
        self.p = attr
        self.trap = np.array([regions[r].trap for r in reg], dtype=bool)
        #: cells whose phonons are held at the bath
        self.ph_fixed = self.trap | (not collisions)
        self.beta = np.array([regions[r].beta for r in reg], dtype=float)
        self.boundary_names = sorted(boundaries)
        self._faces(loc, widths, boundaries)
        self._phonon_faces()
        self.sources = list(sources)
        self.set_gap(np.where(self.trap, 0.0, attr["gap"]))
        self.pattern = self._pattern()

    # ---- spectra and conductances (depend on the gap) --------------------------------
    def set_gap(self, delta_local: np.ndarray) -> None:
        """Set the gap of every local cell and rebuild DOS, masks and conductances."""
        self.delta = np.asarray(delta_local, dtype=float).copy()
        # the DOS changes: a new linearisation (and pair-breaking sum) and new classes of
        # quiet cells (:mod:`.quiet`)
        self._forget_point()
        self._bath = None
        g = self.grid
        # one row of DOS per distinct gap, not per cell (RowTable: the same rows; the
        # cells of a region share theirs unless the gap is self-consistent)
        gaps_u, index = np.unique(self.delta, return_inverse=True)
        index = index.ravel()
        rho, ados, dl = cell_spectra(g, gaps_u)
        self.rho, self.ados, self.dl = (RowTable(t, index) for t in (rho, ados, dl))
        vol = self.loc.volume
        w = self.p["weight"]
        # the masses (vol w h) rho and (vol w beta h) Omega^2, 0 on the algebraic rows
        # (no states, traps; phonons held at the bath): the scale 0 there
        self.alg_f = (rho <= 0)[index] | self.trap[:, None]
        self.m_f = RowTable(np.where(rho > 0, rho, 0.0), index,
                            np.where(self.trap, 0.0, vol * w), g.h)
        self.m_n = RowTable(g.omega[None, :] ** 2, np.zeros(len(index), np.intp),
                            np.where(self.ph_fixed, 0.0, vol * w * self.beta), g.h)
        self.kappa = (vol * w * g.h)[:, None]  # scale of the algebraic rows
        self._conductances((w * self.p["diffusion"])[:, None] * self.dl)  # per unit tau
        for s in self.sources:
            s.spectrum = self._source_spectrum(s)

    def _source_spectrum(self, s: SpectralSource) -> np.ndarray:
        """Particles per unit energy deposited, per owned cell (rows sum E * s = 1); a
        phonon source's rows are all one row (a read-only view: no (n, M) array)."""
        g, n = self.grid, self.n
        x = g.e if s.kind == "quasiparticle" else g.omega
        shape = gaussian_line(x, s.energy, s.width)  # a narrow line: its nearest node
        if s.kind == "quasiparticle":
            spec = np.tile(shape, (n, 1)) * self.rho[:n] * ~self.alg_f[:n]
        else:
            spec = None
        norm = spec @ x if spec is not None else np.full(n, shape @ x)
        w = np.ones(n) if s.weights is None else s.weights
        if np.any((norm <= 0) & (w > 0)):
            raise ValueError(f"a {s.kind} source at {s.energy:.4g} kTc has no states to fill "
                             "in some cell (below the local gap or outside the grid).")
        if s.kind != "quasiparticle":  # one row: the phonon spectrum is the same everywhere
            row = shape / norm[0] if n and norm[0] > 0 else np.zeros_like(shape)
            row.flags.writeable = False
            return np.broadcast_to(row, (n, len(x)))
        return np.divide(spec, norm[:, None], out=np.zeros_like(spec), where=norm[:, None] > 0)

    def update_gap(self, x_local: np.ndarray, relaxation: float = 1.0) -> float:
        """Move the gaps towards the solution of the gap equation for the current ``f``
        (notes Eq. 1) by the fraction ``relaxation``; returns the largest distance to that
        solution. Cells whose gap would fall below the grid's first bin raise."""
        y = x_local.reshape(-1, self.B)
        f = np.where(self.alg_f, 0.0, y[:, :self.N])
        d0 = np.where(self.trap, 0.0, self.p["delta0"])
        new = gaps(f, self.grid, d0, tol=1e-13)
        low = (~self.trap) & (new < self.grid.edges[0] * (1 - 1e-12))
        if np.any(low):
            raise ValueError(
                f"the self-consistent gap fell to {new[low].min():.4g} kTc_ref, below the "
                f"first bin of the energy grid ({self.grid.edges[0]:.4g}); lower "
                "[energy] e_min.")
        change = float(np.max(np.abs(new - self.delta), initial=0.0))
        self.set_gap(self.delta + relaxation * (new - self.delta))
        return change

    # ---- collisions ---------------------------------------------------------------
    def collision_terms(self, y: np.ndarray, keep_linearisation: bool = False):
        """Batched collision terms of the owned cells (``y`` shaped (n_local, B)); with
        ``keep_linearisation`` the outer-factor derivatives at ``y`` come along and are
        kept for the Jacobian actions at this state (:meth:`_outer_derivative`)."""
        return [t for _, t in self._collision_chunks(y, keep_linearisation)]

    def _collision_chunks(self, y: np.ndarray, keep_linearisation: bool = False,
                          quiet: bool = False, sigma: float = 0.0, lend: bool = False):
        """``(cells, terms)`` per batch of :data:`CHUNK` owned cells (``cells`` a slice,
        or with ``quiet`` also index arrays): the callers use the terms of one batch and
        drop them, so the eight term arrays of all cells (4 (N + M) values per cell)
        never exist at once (issue 18: the residual's largest transient, measured by
        ``benchmarks/transport_memory.py``). ``quiet``: the cells within
        their tolerance of the bath get the bath's terms to first order
        (:class:`.quiet.QuietTerms`: the residual and its pair breaking; the FFT
        operator only on the others), the tolerance of a step whose time term is at least
        ``sigma`` (:meth:`quiet_tolerance`; 0: a steady solve's). ``lend``: the active
        cells balanced over the ranks (:class:`.lent.LentTerms`, collective: only where
        every rank evaluates the residual at once); the lent cells' terms come last."""
        if not self.collisions:
            z = np.zeros((self.n, self.N), y.dtype), np.zeros((self.n, self.M), y.dtype)
            yield slice(0, self.n), BatchedTerms(*(z[0],) * 4, *(z[1],) * 4)
            return
        if keep_linearisation:  # the previous point's arrays go before the new ones come
            self._forget_point()
        g = np.empty((self.n, self.B)) if keep_linearisation else None
        pair = 0.0
        split = None
        if quiet and self.quiet_tol > 0:
            bath = self.bath_response()
            split = QuietSplit(y[:self.n], bath.ref, bath.classes, CHUNK,
                               self.quiet_tolerance(sigma))
        keys = [slice(s, min(self.n, s + CHUNK)) for s in range(0, self.n, CHUNK)] \
            if split is None else split.active
        lent = (LentTerms(self, y, keys, keep_linearisation)
                if lend and self._lends() and not np.iscomplexobj(y) else NO_LOAN)
        for b, key in enumerate(keys):
            if cells(key) and b not in lent.skip:
                key = lent.own(b, key)[0]
                t = batched_terms(y[key, :self.N], y[key, self.N:], self.rho[key],
                                  self.ados[key], h=self.grid.h, m=self.grid.m,
                                  qp_scale=self.p["qp_scale"][key],
                                  c_ph=self.p["c_ph"][key], outer=keep_linearisation)
                if keep_linearisation:
                    t, (g[key, :self.N], g[key, self.N:]) = t
                    pair += self._batch_pair(key, t)
                yield key, t
            for c, q in ([] if split is None else split.quiet[b]):
                t = QuietTerms(bath, c, y[q] - bath.ref)
                if keep_linearisation:
                    g[q] = t.g
                    pair += self._batch_pair(q, t)
                yield q, t
        if lent.active:  # the borrowed cells' terms, then the lent ones' back
            c1 = time.process_time()
            t, gl = lent.finish()
            i = lent.idx
            if keep_linearisation:
                g[i] = gl
                pair += self._batch_pair(i, t)
            lent.count(self.cpu, c1)
            yield i, t
        if keep_linearisation:  # a frozen state by reference (linearisation.is_frozen)
            own = y[:self.n]
            self._linearised = (own if is_frozen(own) else own.copy(), g)
            self._pair = (self._linearised, pair)
            if split is not None:  # the actions' split at this point (the same cells)
                self._quiet = (self._linearised, split)

    def _batch_pair(self, sl: slice, t) -> float:
        """Net pair breaking (QPs per unit time) of the owned cells ``sl`` from their
        collision terms ``t``."""
        return float(np.sum(self.m_f[sl] * (t.qp_pb - t.qp_rec)))

    def pair_breaking(self, y: np.ndarray, sigma: float = 0.0) -> float:
        """Net pair breaking minus recombination of this rank's owned cells at the state
        ``y`` (shaped (n_local, B)), QPs per unit time. Taken from the residual evaluated
        at the same owned state (the last Newton iterate of a step, whose rates the time
        integrator asks for when it accepts the step) instead of a second evaluation of
        the collision operator; the same operations in the same order either way (the
        batches' sums added in batch order), so the same bits. ``sigma``: the step's time
        term as the residual had it (:meth:`_collision_chunks`)."""
        own, kept = y[:self.n], self._pair
        if kept is not None and kept[0] is self._linearised \
                and np.array_equal(kept[0][0], own):
            return kept[1]
        pair = 0.0
        for sl, t in self._collision_chunks(y, quiet=True, sigma=sigma):
            pair += self._batch_pair(sl, t)
        return pair

    # ---- residual pieces ------------------------------------------------------------
    def conserved(self, x_owned: np.ndarray) -> np.ndarray:
        r""":math:`m\odot x` of the owned rows, batch by batch of :data:`CHUNK` cells into
        one array (the same bits as the whole arrays' products; no (n, N) temporaries of
        the masses: at the 53 120-cell target 36 against 65-103 ms a call)."""
        y = x_owned.reshape(-1, self.B)
        n, N = self.n, self.N
        out = np.empty((n, self.B), np.result_type(x_owned, float))
        for s in range(0, n, CHUNK):
            sl = slice(s, min(n, s + CHUNK))
            np.multiply(self.m_f[sl], y[sl, :N], out=out[sl, :N])
            np.multiply(self.m_n[sl], y[sl, N:], out=out[sl, N:])
        return out.ravel()

    def dconserved(self, x_owned: np.ndarray) -> np.ndarray:
        n = self.n
        return np.concatenate([self.m_f[:n], self.m_n[:n]], axis=1).ravel()

    def rhs(self, xl: np.ndarray, t0: float, t1: float) -> np.ndarray:
        """Net particles per unit time into every owned row."""
        c0 = time.process_time()
        try:
            return self._rhs(xl, t0, t1)
        finally:
            self._count("residual", c0)

    def _count(self, what: str, c0: float) -> None:
        entry = self.cpu[what]
        entry[0] += 1
        entry[1] += time.process_time() - c0

    def _count_quiet(self, cells_done: int, c0: float) -> None:
        entry = self.cpu["quiet_cells"]
        entry[0] += cells_done
        entry[1] += time.process_time() - c0

    def _rhs(self, xl: np.ndarray, t0: float, t1: float) -> np.ndarray:
        N, n = self.N, self.n
        y = xl.reshape(-1, self.B)
        bad = not np.all(np.isfinite(y))
        if self._lends():  # every rank raises, or none: the loan below is collective
            bad = self.cells.max(float(bad)) > 0
        if bad:
            from ...solvers.nonlinear import DomainError
            raise DomainError("non-finite occupation")
        f, ph = y[:, :N], y[:, N:]
        r = np.zeros((self.loc.n_local, self.B), dtype=y.dtype)
        # the residual at a Newton iterate precedes the Jacobian actions there: keep the
        # outer-factor derivatives computed with it (no second pass per Newton iteration)
        keep = self.matrix_free and self.action == "linear" and not np.iscomplexobj(y)
        for sl, t in self._collision_chunks(y, keep_linearisation=keep, quiet=True,
                                            sigma=step_sigma(t0, t1), lend=True):
            esc = (ph[sl] - self.n_bath) / self.p["tau_esc"][sl, None]
            r[sl, :N] = self.m_f[sl] * t.qp
            r[sl, N:] = self.m_n[sl] * (t.ph - esc)
        # the face divergence in batches (not all face pairs' fluxes at once, the
        # residual's largest temporary: issue 18 §1), the same bits
        div = self._face_divergence(f)
        div += self._bsum @ (self.b_G * (self.b_fn - f[self.b_cell]))
        r[:, :N] += div
        del div
        if len(self.ph_pairs):
            r[:, N:] += self._div_ph @ self._phonon_flux(ph)
        for s in self.sources:
            p = s.power(t0, t1)
            if p:
                cols = slice(0, N) if s.kind == "quasiparticle" else slice(N, self.B)
                r[:n, cols] += p * s.weights[:, None] * s.spectrum
        out = r[:n]  # algebraic rows in place (no second (n, B) array), in batches
        for s in range(0, n, CHUNK):
            sl = slice(s, min(n, s + CHUNK))
            alg_n = np.broadcast_to(self.ph_fixed[sl, None], (sl.stop - s, self.M))
            np.copyto(out[sl, :N], -self.kappa[sl] * (f[sl] - self.f_bath),
                      where=self.alg_f[sl])
            np.copyto(out[sl, N:], -self.kappa[sl] * (ph[sl] - self.n_bath), where=alg_n)
        return out.ravel()

    def rhs_jvp(self, xl: np.ndarray, vl: np.ndarray, t0: float, t1: float) -> np.ndarray:
        """Exact ``(d rhs / d y) v`` (:meth:`_rhs_jvp`)."""
        c0 = time.process_time()
        try:
            return self._rhs_jvp(xl, vl, t0, t1)
        finally:
            self._count("action", c0)

    def _rhs_jvp(self, xl: np.ndarray, vl: np.ndarray, t0: float, t1: float) -> np.ndarray:
        """Exact ``(d rhs / d y) v``: the collision part by the product rule through the
        batched FFT operator (:attr:`action` ``linear``, the outer-factor derivatives kept
        per linearisation point) or by complex step through it (``complex_step``: analytic
        in y, its FFTs keep real and imaginary parts apart), the linear rest (transport,
        junctions, escape, algebraic rows) directly."""
        N, n, eps = self.N, self.n, 1e-30
        y, v = xl.reshape(-1, self.B), vl.reshape(-1, self.B)
        out = np.zeros((self.loc.n_local, self.B))
        if self.collisions and self.action == "linear":
            outer = self._outer_derivative(y)
            sigma = step_sigma(t0, t1)
            spectra = self._jvp_spectra(y, sigma)
            split = self._quiet_split(y, sigma)
            for b, key in enumerate(split.active):
                if cells(key):  # active cells: the FFT operator
                    dq, dp = batched_jvp(y[key, :N], y[key, N:], self.rho[key],
                                         self.ados[key], v[key, :N], v[key, N:],
                                         h=self.grid.h, m=self.grid.m,
                                         qp_scale=self.p["qp_scale"][key],
                                         c_ph=self.p["c_ph"][key],
                                         outer=(outer[key, :N], outer[key, N:]),
                                         spectra=spectra[b])
                    out[key, :N] = self.m_f[key] * dq
                    out[key, N:] = self.m_n[key] * dp
                for c, q in split.quiet[b]:  # quiet cells: the bath's response (.quiet)
                    c1 = time.process_time()
                    r = v[q] @ self.bath_response().jacobian(c).T
                    out[q, :N] = self.m_f[q] * r[:, :N]
                    out[q, N:] = self.m_n[q] * r[:, N:]
                    self._count_quiet(len(q), c1)
        elif self.collisions:
            for s in range(0, n, CHUNK):
                sl = slice(s, min(n, s + CHUNK))
                t = batched_terms(y[sl, :N] + 1j * eps * v[sl, :N],
                                  y[sl, N:] + 1j * eps * v[sl, N:], self.rho[sl],
                                  self.ados[sl], h=self.grid.h, m=self.grid.m,
                                  qp_scale=self.p["qp_scale"][sl], c_ph=self.p["c_ph"][sl])
                out[sl, :N] = self.m_f[sl] * (t.qp.imag / eps)
                out[sl, N:] = self.m_n[sl] * (t.ph.imag / eps)
        # escape and the algebraic rows batch by batch, the face fluxes in place: the
        # action's temporaries stay ~ 2 (pairs x N) + CHUNK B values (issue 18 §1)
        tau = self.p["tau_esc"]
        for s in range(0, n, CHUNK):
            sl = slice(s, min(n, s + CHUNK))
            out[sl, N:] -= self.m_n[sl] * v[sl, N:] / tau[sl, None]
        out[:, :N] += self._qp_transport(v[:, :N])
        if len(self.ph_pairs):
            out[:, N:] += self._div_ph @ self._phonon_flux(v[:, N:])
        res = out[:n]
        for s in range(0, n, CHUNK):
            sl = slice(s, min(n, s + CHUNK))
            alg = np.concatenate([self.alg_f[sl], np.broadcast_to(
                self.ph_fixed[sl, None], (sl.stop - s, self.M))], axis=1)
            np.copyto(res[sl], -self.kappa[sl] * v[sl], where=alg)
        return res.ravel()

    def schur_action(self, xl: np.ndarray, vf: np.ndarray | None, shift: float,
                     d: np.ndarray, w0: np.ndarray | None = None, keep_w: bool = True,
                     w_out: np.ndarray | None = None, precision=np.float64):
        r"""The QP Schur complement of the Newton matrix :math:`K = \sigma m - J` with
        the cell-diagonal phonon block condensed out,
        :math:`Sv = K_{ff}v + K_{fn}w`, :math:`w = -D^{-1}K_{nf}v`
        (:mod:`.condensed`), in the transforms of one Jacobian action
        (:func:`fvqp.collisions.batched.condensed_qp_jvp`).

        Parameters
        ----------
        xl : ndarray
            The local state (linearisation point).
        vf : ndarray, shape (n_local, N), or None
            The QP direction with its ghost values (None: zero, with ``w0``: the QP rows
            :math:`K_{fn}w_0` alone, in half the transforms).
        shift : float
            :math:`\sigma`.
        d : ndarray or PhononDiagonal, shape (n, M)
            The phonon diagonal :math:`D`, read by row slices
            (:class:`.condensed.PhononDiagonal`); the gain :math:`\gamma = m^n/D` (0
            where the phonons are held at the bath), :math:`w = \gamma\odot\delta
            S^{ph}(v, 0)`, is formed batch by batch (no second (n, M) array kept).
        w0 : ndarray, shape (n, M), optional
            Added to :math:`w` (with ``vf = 0``: :math:`K_{fn}w_0`).
        keep_w : bool
            With ``w0``: return :math:`w` (False: it is not kept, no (n, M) array).
        w_out : ndarray, shape (n, M), optional
            With ``w0``: where :math:`w` is written (it may be ``w0`` itself: batch by
            batch, each after its own batch of ``w0`` is read); default a new array.
        precision : dtype
            Of the collision part's perturbation transforms and products
            (:meth:`fvqp.collisions.correlations.State.perturbed_in`): ``float32`` for
            the linear solves of inexact Newton that stop far above its rounding
            (:data:`.condensed.SINGLE_ACTION_RTOL`); the transport, storage and
            algebraic rows stay double.

        Returns
        -------
        sv : ndarray, shape (n, N)
        w : ndarray, shape (n, M), or None
            The condensed phonon direction (``w0`` without collisions), only with
            ``w0`` and ``keep_w`` (else None: not kept).
        """
        c0 = time.process_time()
        N, n = self.N, self.n
        y = xl.reshape(-1, self.B)
        out = np.zeros((self.loc.n_local, N))
        # kept only with w0 (the back-substitution)
        if w0 is None or not keep_w:
            w = None
        elif w_out is None:
            w = w0.copy()
        else:  # batch by batch below (w0 may be w_out)
            w = w_out
            if not self.collisions:
                np.copyto(w, w0)
        if self.collisions:
            outer = self._outer_derivative(y)
            split = self._quiet_split(y, shift)
            lent = self._lent_batches(y, split, outer, d, shift)
            # (none made for the batches lent whole)
            spectra = self._jvp_spectra(y, shift, lent.skip)
            # the lent batches' directions out before this rank's own work (.lent)
            sent = lent.send(vf, w0) if lent.active else None
            m_n, held = self.m_n, self.ph_fixed
            for b, key in enumerate(split.active):
                if cells(key) and b not in lent.skip:  # active cells: the FFT operator
                    key, st = lent.own(b, key, spectra[b])  # (a batch lent in part)
                    gain = np.where(held[key, None], 0.0, m_n[key] / d[key])
                    dq, wc = condensed_qp_jvp(
                        st.perturbed_in(precision), y[key, :N], y[key, N:],
                        self.rho[key], self.ados[key],
                        None if vf is None else vf[key],
                        gain, outer[key, :N], h=self.grid.h, m=self.grid.m,
                        c_ph=self.p["c_ph"][key], w0=None if w0 is None else w0[key])
                    out[key] = self.m_f[key] * dq
                    if w is not None:
                        w[key] = wc
                for c, q in split.quiet[b]:  # quiet cells: the bath's response (.quiet)
                    c1 = time.process_time()
                    g, wv, jfn = self.bath_response().condensed(c, shift)
                    wq = None if w0 is None else w0[q]
                    dq = 0.0 if vf is None else vf[q] @ g.T
                    if wq is not None:
                        dq = dq + wq @ jfn.T
                    out[q] = self.m_f[q] * dq
                    if w is not None:
                        w[q] = wq if vf is None else (
                            vf[q] @ wv.T if wq is None else vf[q] @ wv.T + wq)
                    self._count_quiet(len(q), c1)
            if lent.active:  # the borrowed batches, then the lent ones' results back
                c1 = time.process_time()
                dq, wl = lent.finish(sent, precision, w is not None)
                i = lent.idx
                out[i] = self.m_f[i] * dq
                if w is not None:
                    w[i] = wl
                lent.count(self.cpu, c1)
        res = out[:n]
        if vf is None:  # K_fn w0 alone: no transport, storage or algebraic QP terms
            np.negative(res, out=res)
            res[self.alg_f[:n]] = 0.0
            self._count("action", c0)
            return res, w
        out += self._qp_transport(vf)
        np.negative(res, out=res)
        res += shift * self.m_f[:n] * vf[:n]
        np.copyto(res, self.kappa[:n] * vf[:n], where=self.alg_f[:n])
        self._count("action", c0)
        return res, w

    def _lent_batches(self, y: np.ndarray, split, outer: np.ndarray, d, shift: float):
        """The loan of the condensed actions with the diagonal ``d`` at ``shift``
        (:class:`.lent.LentBatches`; collective), made at the first action with that
        ``d``: every rank makes its ``d`` at the same solve (the condensed solve's point),
        so every rank makes its loan at the same call, whatever its own cells did."""
        kept = self._lent
        if kept is not None and kept[0] is d and kept[1] == shift:
            return kept[2]
        lent = LentBatches(self, y, split, outer, d) if self._lends() else NO_LOAN
        self._lent = (d, float(shift), lent)
        return lent

    def forget_loan(self) -> None:
        """Let go of the condensed actions' loan (:meth:`_lent_batches`: the borrowed
        cells' data and kept transforms, ~90 MB per rank at the issue-18 target) when
        its diagonal is let go, at the end of a condensed solve, instead of at the next
        solve's first action (through that solve's residual and preconditioner build)."""
        self._lent = None

    def _lends(self) -> bool:
        """Whether the collision work is balanced over the ranks (:mod:`.lent`): several
        ranks, ``balance = "lend"``, collisions on."""
        return self.balance == "lend" and self.cells.size > 1 and self.collisions

    def equilibrium(self, t: float | None = None) -> np.ndarray:
        """Owned unknowns of thermal equilibrium at ``t`` (default: the bath)."""
        t = self.t_bath if t is None else t
        row = np.concatenate([fermi(self.grid.e, t), bose(self.grid.omega, t)])
        return np.tile(row, self.n)

    def breakpoints(self) -> list[float]:
        return sorted({b for s in self.sources for b in s.profile.breakpoints()})

    def max_dt(self, t: float, checked: bool = True) -> float:
        return min([s.profile.max_dt(t, checked) for s in self.sources], default=math.inf)

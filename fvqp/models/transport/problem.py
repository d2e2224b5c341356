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
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
from scipy.sparse import csr_matrix

from ...collisions.batched import BatchedTerms, batched_jacobian, batched_terms
from ...collisions.batched_blocks import batched_blocks
from ...collisions.batched_jvp import batched_jvp, linearisation_spectra, outer_derivative
from ...collisions.grid import bose, fermi
from ...parallel.blocked import BlockDistribution
from ...spectra.bins import BinGrid, cell_gaps, cell_spectra

#: cells per batched collision evaluation (cache-friendly FFT batches)
CHUNK = 512


@dataclass
class RegionParams:
    """Material parameters of one region in internal units.

    Attributes
    ----------
    qp_scale, c_ph : float
        Collision prefactors (:mod:`fvqp.collisions.batched`).
    weight : float
        :math:`w = 4N_0/N_{0,ref}` (states per unit of the reference DOS).
    diffusion : float
        Normal-state diffusion constant :math:`D_n`.
    delta0 : float
        Zero-temperature gap (self-consistent mode); 0 for a normal metal.
    gap : float
        Fixed gap (used unless self-consistent).
    tau_esc : float
        Phonon escape time (``inf``: no escape).
    phonon_diffusion : float
        Energy-independent phonon diffusion constant :math:`D_{ph}` (0: no phonon
        transport across the faces of this region's cells).
    trap : bool
        Normal-metal absorber held at the bath distribution.
    """

    qp_scale: float = 1.0
    c_ph: float = 1.0
    weight: float = 4.0
    diffusion: float = 1.0
    delta0: float = 1.764
    gap: float = 1.764
    tau_esc: float = math.inf
    phonon_diffusion: float = 0.0
    trap: bool = False

    @property
    def beta(self) -> float:
        return self.qp_scale / (2.0 * self.c_ph)


@dataclass
class Boundary:
    """QP boundary condition: ``kind`` = ``"insulating"``, ``"bath"`` (Ohmic contact to a
    normal reservoir at the bath) or ``"tunnel"`` (NIS junction: ``rate`` =
    :math:`2\\tau_0/(e^2R_TN_{0,ref}L^3)` per unit area fraction, bias :math:`eV`,
    normal-electrode temperature)."""

    kind: str
    rate: float = 0.0
    bias: float = 0.0
    temperature: float = 0.0


@dataclass
class SpectralSource:
    """Particles injected per unit time: ``profile.amount(t0, t1)`` energy split over
    owned cells by ``weights`` (sum 1 over all ranks) and over bins by a Gaussian
    spectrum (``kind`` = ``"quasiparticle"`` or ``"phonon"``)."""

    kind: str
    weights: np.ndarray
    profile: object
    energy: float
    width: float = 0.0
    spectrum: np.ndarray = field(default=None, repr=False)  # (n_owned, N or M)

    def power(self, t0: float, t1: float) -> float:
        if math.isinf(t1):
            return self.profile.steady_rate()
        return self.profile.amount(t0, t1) / (t1 - t0)


class TransportProblem:
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
        real arithmetic (:mod:`fvqp.collisions.batched_jvp`) or the complex step through
        the residual (the previous path, kept for comparison); equal to round-off.
    """

    def __init__(self, cells, grid: BinGrid, regions, widths, boundaries: dict,
                 sources=(), t_bath: float = 0.1, self_consistent: bool = False,
                 collisions: bool = True, jacobian: str = "assembled",
                 action: str = "linear"):
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
        #: product rule in real arithmetic, :mod:`fvqp.collisions.batched_jvp`) or
        #: ``complex_step`` (through the residual with complex occupations; ~3x slower)
        self.action = action
        self._linearised = None
        #: (the _linearised tuple, spectra per CHUNK batch) of the Jacobian actions
        self._spectra = None
        #: CPU seconds and calls of the residual and of the Jacobian actions (benchmark)
        self.cpu = {"residual": [0, 0.0], "action": [0, 0.0]}
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

    # ---- geometry -------------------------------------------------------------------
    def _faces(self, loc, widths, bcs) -> None:
        pa, pb, ta, tb, tsum_id = [], [], [], [], []
        b_cell, b_tau, b_kind, b_group, b_area = [], [], [], [], []
        sums, inc_f, inc_c, inc_t = [], [], [], []
        for f in range(len(loc.faces)):
            lo, hi = loc.face_ptr[f], loc.face_ptr[f + 1]
            cells, tau = loc.inc_cell[lo:hi], loc.inc_tau[lo:hi]
            if hi - lo == 1:
                if cells[0] >= self.n:
                    continue
                g = loc.face_group[f]
                name = loc.group_names[g] if g >= 0 else "unlabelled"
                if bcs[name].kind == "insulating" or self.trap[cells[0]]:
                    continue
                b_cell.append(cells[0])
                b_tau.append(tau[0])
                b_kind.append(bcs[name])
                b_group.append(self.boundary_names.index(name))
                b_area.append(loc.face_area[f] * widths[loc.cell_region[cells[0]]])
                continue
            g = loc.face_group[f]
            name = loc.group_names[g] if g >= 0 else None
            if name in bcs and bcs[name].kind == "tunnel":  # junction on an interior face
                for c_ in cells[cells < self.n]:
                    if self.trap[c_]:
                        continue
                    b_cell.append(c_)
                    b_tau.append(0.0)
                    b_kind.append(bcs[name])
                    b_group.append(self.boundary_names.index(name))
                    b_area.append(loc.face_area[f] * widths[loc.cell_region[c_]]
                                  / len(cells))
            sums.append((cells, tau))
            inc_f.extend([len(sums) - 1] * len(cells))
            inc_c.extend(cells)
            inc_t.extend(tau)
            for a in range(len(cells)):
                for b in range(a + 1, len(cells)):
                    if cells[a] >= self.n and cells[b] >= self.n:
                        continue
                    pa.append(cells[a])
                    pb.append(cells[b])
                    ta.append(tau[a])
                    tb.append(tau[b])
                    tsum_id.append(len(sums) - 1)
        self.f_a, self.f_b = np.array(pa, dtype=np.int64), np.array(pb, dtype=np.int64)
        self.f_ta, self.f_tb = np.array(ta, dtype=float), np.array(tb, dtype=float)
        self._n_sets = len(sums)
        self._inc = (np.array(inc_f, dtype=np.int64), np.array(inc_c, dtype=np.int64),
                     np.array(inc_t, dtype=float))
        self._pair_face = np.array(tsum_id, dtype=np.int64)
        self.b_cell = np.array(b_cell, dtype=np.int64)
        self.b_tau, self.b_area = np.array(b_tau, dtype=float), np.array(b_area, dtype=float)
        self.b_group = np.array(b_group, dtype=np.int64)
        self.b_bc = b_kind
        # scatter matrices (sparse): flux divergence per cell, face-set sums
        nl, npair = loc.n_local, len(pa)
        self._div = csr_matrix((np.concatenate([np.ones(npair), -np.ones(npair)]),
                                (np.concatenate([self.f_a, self.f_b]),
                                 np.concatenate([np.arange(npair)] * 2))), shape=(nl, npair))
        self._bsum = csr_matrix((np.ones(len(b_cell)), (self.b_cell, np.arange(len(b_cell)))),
                                shape=(nl, len(b_cell)))
        fi, ci, ti = self._inc
        self._setsum = csr_matrix((ti, (fi, ci)), shape=(len(sums), nl))
        total = {}
        for g, a in zip(b_group, b_area, strict=True):
            total[g] = total.get(g, 0.0) + a
        self._b_area_total = {g: self.cells.sum(total.get(g, 0.0))
                              for g in range(len(self.boundary_names))}

    def _phonon_faces(self) -> None:
        r"""Phonon conductances (independent of the gap): star-mesh combination of the
        half-cell conductances :math:`c_a = w_a\beta_a D_{ph,a}\tau_a` per unit
        :math:`h\Omega_k^2`, kept only for face pairs that carry phonons."""
        c = self.p["weight"] * self.beta * self.p["phonon_diffusion"]
        den = self._setsum @ c
        ca, cb = c[self.f_a] * self.f_ta, c[self.f_b] * self.f_tb
        d = den[self._pair_face]
        g = np.divide(ca * cb, d, out=np.zeros_like(ca), where=d > 0)
        sel = np.flatnonzero(g > 0)
        #: face pairs with phonon transport and their conductances (pairs, M)
        self.ph_pairs = sel
        self.G_ph = self.grid.h * g[sel, None] * self.grid.omega[None, :] ** 2
        self._div_ph = self._div[:, sel]
        # cell-diagonal part of d rhs_ph / d n (the Schur preconditioner's D block)
        self.ph_diag = -(abs(self._div_ph) @ self.G_ph)

    # ---- spectra and conductances (depend on the gap) --------------------------------
    def set_gap(self, delta_local: np.ndarray) -> None:
        """Set the gap of every local cell and rebuild DOS, masks and conductances."""
        self.delta = np.asarray(delta_local, dtype=float).copy()
        self._linearised = self._spectra = None  # the DOS changes: a new linearisation
        g = self.grid
        self.rho, self.ados, self.dl = cell_spectra(g, self.delta)
        vol = self.loc.volume
        w = self.p["weight"]
        self.m_f = (vol * w)[:, None] * g.h * self.rho
        self.m_n = (vol * w * self.beta)[:, None] * g.h * g.omega[None, :] ** 2
        self.alg_f = (self.rho <= 0) | self.trap[:, None]
        self.m_f[self.alg_f] = 0.0
        self.m_n[self.ph_fixed] = 0.0
        self.kappa = (vol * w * g.h)[:, None]  # scale of the algebraic rows
        c = (w * self.p["diffusion"])[:, None] * self.dl  # (cells, N) per unit tau
        den = self._setsum @ c  # sum over the cells of every face of c * tau
        ca = c[self.f_a] * self.f_ta[:, None]
        cb = c[self.f_b] * self.f_tb[:, None]
        d = den[self._pair_face]
        self.G = g.h * np.divide(ca * cb, d, out=np.zeros_like(ca), where=d > 0)
        bc = self.b_cell
        gb = np.zeros((len(bc), self.N))
        self.b_fn = np.zeros((len(bc), self.N))
        for j, b in enumerate(self.b_bc):
            if b.kind == "bath":
                gb[j] = g.h * c[bc[j]] * self.b_tau[j]
                self.b_fn[j] = self.f_bath
            else:  # tunnel: rate per state times the face's share of the junction area
                share = self.b_area[j] / self._b_area_total[self.b_group[j]]
                gb[j] = b.rate * share * g.h * self.rho[bc[j]]
                self.b_fn[j] = 0.5 * (fermi(g.e - b.bias, b.temperature)
                                      + fermi(g.e + b.bias, b.temperature))
        self.b_G = gb
        for s in self.sources:
            s.spectrum = self._source_spectrum(s)

    def _source_spectrum(self, s: SpectralSource) -> np.ndarray:
        """Particles per unit energy deposited, per owned cell (rows sum E * s = 1)."""
        g, n = self.grid, self.n
        x = g.e if s.kind == "quasiparticle" else g.omega
        if s.width > 0:
            shape = np.exp(-0.5 * ((x - s.energy) / s.width) ** 2)
        else:
            shape = np.zeros_like(x)
            shape[int(np.argmin(np.abs(x - s.energy)))] = 1.0
        spec = np.tile(shape, (n, 1))
        if s.kind == "quasiparticle":
            spec = spec * self.rho[:n] * ~self.alg_f[:n]
        norm = spec @ x
        w = np.ones(n) if s.weights is None else s.weights
        if np.any((norm <= 0) & (w > 0)):
            raise ValueError(f"a {s.kind} source at {s.energy:.4g} kTc has no states to fill "
                             "in some cell (below the local gap or outside the grid).")
        return np.divide(spec, norm[:, None], out=np.zeros_like(spec), where=norm[:, None] > 0)

    def update_gap(self, x_local: np.ndarray, relaxation: float = 1.0) -> float:
        """Move the gaps towards the solution of the gap equation for the current ``f``
        (notes Eq. 1) by the fraction ``relaxation``; returns the largest distance to that
        solution. Cells whose gap would fall below the grid's first bin raise."""
        y = x_local.reshape(-1, self.B)
        f = np.where(self.alg_f, 0.0, y[:, :self.N])
        d0 = np.where(self.trap, 0.0, self.p["delta0"])
        new = cell_gaps(self.grid, f, d0)
        low = (~self.trap) & (new < self.grid.edges[0] * (1 - 1e-12))
        if np.any(low):
            raise ValueError(
                f"the self-consistent gap fell to {new[low].min():.4g} kTc_ref, below the "
                f"first bin of the energy grid ({self.grid.edges[0]:.4g}); lower "
                "[energy] e_min.")
        change = float(np.max(np.abs(new - self.delta), initial=0.0))
        self.set_gap(self.delta + relaxation * (new - self.delta))
        return change

    # ---- the pattern of the Jacobian ------------------------------------------------
    def _pattern(self):
        N, M, B, n = self.N, self.M, self.B, self.n
        if self.jacobian == "schur":  # the model preconditioner assembles its own matrix
            self._blk, self._keep = (np.zeros(0, int),) * 2, np.zeros(0, bool)
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        k = np.arange(B)
        if self.matrix_free:  # preconditioner: the diagonal of every cell block
            blk_r, blk_c = k, k
        else:
            blk_r = np.concatenate([np.repeat(np.arange(N), B), N + np.arange(M),
                                    np.repeat(N + np.arange(M), N)])
            blk_c = np.concatenate([np.tile(k, N), N + np.arange(M),
                                    np.tile(np.arange(N), M)])
        self._blk = (blk_r, blk_c)
        r, c = self.block_pattern(B, blk_r, blk_c)
        self._keep = r < n * B
        return r[self._keep], c[self._keep]

    def block_pattern(self, bs: int, blk_r: np.ndarray, blk_c: np.ndarray):
        """COO pattern (local indices, ``bs`` unknowns per cell, QPs first): the entries
        ``(blk_r, blk_c)`` of every owned cell, then the transport entries in the order of
        :meth:`transport_values` (rows of ghost cells included; drop ``rows >= n bs``)."""
        base = np.arange(self.n) * bs
        rows = [(base[:, None] + blk_r[None, :]).ravel()]
        cols = [(base[:, None] + blk_c[None, :]).ravel()]
        e = np.arange(self.N)
        ia = (self.f_a[:, None] * bs + e).ravel()
        ib = (self.f_b[:, None] * bs + e).ravel()
        rows += [ia, ia, ib, ib]
        cols += [ia, ib, ib, ia]
        bi = (self.b_cell[:, None] * bs + e).ravel()
        rows.append(bi)
        cols.append(bi)
        if bs == self.B:  # phonon transport (same order: aa, ab, bb, ba)
            k = self.N + np.arange(self.M)
            pa = (self.f_a[self.ph_pairs, None] * bs + k).ravel()
            pb = (self.f_b[self.ph_pairs, None] * bs + k).ravel()
            rows += [pa, pa, pb, pb]
            cols += [pa, pb, pb, pa]
        return np.concatenate(rows), np.concatenate(cols)

    # ---- collisions ---------------------------------------------------------------
    def collision_terms(self, y: np.ndarray, keep_linearisation: bool = False):
        """Batched collision terms of the owned cells (``y`` shaped (n_local, B)); with
        ``keep_linearisation`` the outer-factor derivatives at ``y`` come along and are
        kept for the Jacobian actions at this state (:meth:`_outer_derivative`)."""
        return [t for _, t in self._collision_chunks(y, keep_linearisation)]

    def _collision_chunks(self, y: np.ndarray, keep_linearisation: bool = False):
        """``(cells, terms)`` per batch of :data:`CHUNK` owned cells: the callers use the
        terms of one batch and drop them, so the eight term arrays of all cells
        (4 (N + M) values per cell) never exist at once (issue 18: the residual's largest
        transient, measured by ``benchmarks/transport_memory.py``)."""
        if not self.collisions:
            z = np.zeros((self.n, self.N), y.dtype), np.zeros((self.n, self.M), y.dtype)
            yield slice(0, self.n), BatchedTerms(*(z[0],) * 4, *(z[1],) * 4)
            return
        if keep_linearisation:  # the previous point's arrays go before the new ones come
            self._linearised = self._spectra = None
        g = np.empty((self.n, self.B)) if keep_linearisation else None
        for s in range(0, self.n, CHUNK):
            sl = slice(s, min(self.n, s + CHUNK))
            t = batched_terms(y[sl, :self.N], y[sl, self.N:], self.rho[sl], self.ados[sl],
                              h=self.grid.h, m=self.grid.m, qp_scale=self.p["qp_scale"][sl],
                              c_ph=self.p["c_ph"][sl], outer=keep_linearisation)
            if keep_linearisation:
                t, (g[sl, :self.N], g[sl, self.N:]) = t
            yield sl, t
        if keep_linearisation:
            self._linearised = (y[:self.n].copy(), g)

    # ---- residual pieces ------------------------------------------------------------
    def conserved(self, x_owned: np.ndarray) -> np.ndarray:
        y = x_owned.reshape(-1, self.B)
        n = self.n
        return np.concatenate([self.m_f[:n] * y[:, :self.N], self.m_n[:n] * y[:, self.N:]],
                              axis=1).ravel()

    def dconserved(self, x_owned: np.ndarray) -> np.ndarray:
        n = self.n
        return np.concatenate([self.m_f[:n], self.m_n[:n]], axis=1).ravel()

    def _fluxes(self, f: np.ndarray):
        Ff = f[self.f_b]  # into a, per bin: G (f_b - f_a) in place (one pairs x N array)
        np.subtract(Ff, f[self.f_a], out=Ff)
        Ff *= self.G
        Fb = self.b_G * (self.b_fn - f[self.b_cell])  # into the domain
        return Ff, Fb

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

    def _rhs(self, xl: np.ndarray, t0: float, t1: float) -> np.ndarray:
        N, n = self.N, self.n
        y = xl.reshape(-1, self.B)
        if not np.all(np.isfinite(y)):
            from ...solvers.nonlinear import DomainError
            raise DomainError("non-finite occupation")
        f, ph = y[:, :N], y[:, N:]
        r = np.zeros((self.loc.n_local, self.B), dtype=y.dtype)
        # the residual at a Newton iterate precedes the Jacobian actions there: keep the
        # outer-factor derivatives computed with it (no second pass per Newton iteration)
        keep = self.matrix_free and self.action == "linear" and not np.iscomplexobj(y)
        for sl, t in self._collision_chunks(y, keep_linearisation=keep):
            esc = (ph[sl] - self.n_bath) / self.p["tau_esc"][sl, None]
            r[sl, :N] = self.m_f[sl] * t.qp
            r[sl, N:] = self.m_n[sl] * (t.ph - esc)
        Ff, Fb = self._fluxes(f)
        r[:, :N] += self._div @ Ff + self._bsum @ Fb
        if len(self.ph_pairs):
            r[:, N:] += self._div_ph @ self._phonon_flux(ph)
        for s in self.sources:
            p = s.power(t0, t1)
            if p:
                cols = slice(0, N) if s.kind == "quasiparticle" else slice(N, self.B)
                r[:n, cols] += p * s.weights[:, None] * s.spectrum
        out = r[:n]  # algebraic rows in place (no second (n, B) array)
        alg_n = np.broadcast_to(self.ph_fixed[:n, None], (n, self.M))
        np.copyto(out[:, :N], -self.kappa[:n] * (f[:n] - self.f_bath), where=self.alg_f[:n])
        np.copyto(out[:, N:], -self.kappa[:n] * (ph[:n] - self.n_bath), where=alg_n)
        return out.ravel()

    def rhs_jacobian(self, xl: np.ndarray, t0: float, t1: float) -> np.ndarray:
        """d rhs / d y as values on :attr:`pattern`."""
        B, n = self.B, self.n
        y = xl.reshape(-1, B)
        br, bc = self._blk
        blocks = np.empty((n, len(br)))
        for s in range(0, n, CHUNK):
            sl = slice(s, min(n, s + CHUNK))
            if self.matrix_free:
                blocks[sl] = self._diagonal(y, sl)
            else:
                blocks[sl] = self.cell_blocks(y, sl)[:, br, bc]
        return np.concatenate([blocks.ravel(), self.transport_values(),
                               self.phonon_transport_values()])[self._keep]

    def cell_blocks(self, y: np.ndarray, sl: slice) -> np.ndarray:
        """Dense d rhs / d y of the cells ``sl`` within each cell, shape (cells, B, B):
        collisions, phonon escape and algebraic rows, without transport. Phonon rows
        couple to their own phonon only (the phonon-phonon part is diagonal)."""
        N, M, B = self.N, self.M, self.B
        c = sl.stop - sl.start
        if self.collisions:
            J = batched_jacobian(y[sl, :N], y[sl, N:], self.rho[sl], self.ados[sl],
                                 h=self.grid.h, m=self.grid.m,
                                 qp_scale=self.p["qp_scale"][sl], c_ph=self.p["c_ph"][sl])
        else:
            J = np.zeros((c, B, B))
        mass = np.concatenate([self.m_f[sl], self.m_n[sl]], axis=1)
        J *= mass[:, :, None]
        k = np.arange(M)
        J[:, N + k, N + k] -= self.m_n[sl] / self.p["tau_esc"][sl, None]
        alg = np.concatenate([self.alg_f[sl], np.broadcast_to(
            self.ph_fixed[sl, None], (c, M))], axis=1)
        J[alg] = 0.0
        d = np.arange(B)
        J[:, d, d] -= np.where(alg, self.kappa[sl], 0.0)
        return J

    def cell_step_blocks(self, y: np.ndarray, sl: slice, shift: float,
                         dtype=np.float32) -> tuple[np.ndarray, ...]:
        r"""The cell-local blocks of :math:`K = \sigma\,\mathrm{diag}(m) - \partial\,
        \text{rhs}/\partial y` of the cells ``sl`` (collisions, escape, storage,
        algebraic rows; no transport) in ``dtype``: ``K_ff (c, N, N)``, ``K_fn (c, N, M)``,
        ``K_nf (c, M, N)`` and the diagonal phonon block ``d (c, M)`` — the entries of
        :meth:`cell_blocks` without the dense :math:`(N + M)^2` matrix
        (:func:`fvqp.collisions.batched_blocks.batched_blocks`)."""
        N, M = self.N, self.M
        c = sl.stop - sl.start
        if self.collisions:
            ff, fn, nf, nn = batched_blocks(
                y[sl, :N].astype(dtype), y[sl, N:].astype(dtype),
                self.rho[sl].astype(dtype), self.ados[sl].astype(dtype), h=self.grid.h,
                m=self.grid.m, qp_scale=self.p["qp_scale"][sl], c_ph=self.p["c_ph"][sl])
        else:
            ff, fn = np.zeros((c, N, N), dtype), np.zeros((c, N, M), dtype)
            nf, nn = np.zeros((c, M, N), dtype), np.zeros((c, M), dtype)
        mf, mn = self.m_f[sl].astype(dtype), self.m_n[sl].astype(dtype)
        alg_f, fixed = self.alg_f[sl], self.ph_fixed[sl]
        kff = -mf[:, :, None] * ff
        i = np.arange(N)
        kff[:, i, i] += shift * mf
        kfn = -mf[:, :, None] * fn
        kff[alg_f] = 0.0
        kfn[alg_f] = 0.0
        kff[:, i, i] += np.where(alg_f, self.kappa[sl], 0.0).astype(dtype)
        knf = -mn[:, :, None] * nf
        knf[fixed] = 0.0
        d = shift * self.m_n[sl] - self.m_n[sl] * nn + self.m_n[sl] / self.p["tau_esc"][
            sl, None] - np.where(fixed[:, None], 0.0, self.ph_diag[sl])
        d = np.where(fixed[:, None], self.kappa[sl], d)
        return kff, kfn, knf, d.astype(dtype)

    def transport_values(self) -> np.ndarray:
        """d rhs / d f of face transport and boundary exchange, in the order of the
        transport part of the patterns: (a, a), (a, b), (b, b), (b, a) per face pair and
        energy, then the boundary diagonal. Rows of algebraic bins stay clean."""
        G = self.G
        nf = np.where(self.alg_f[self.f_a], 0.0, 1.0)
        nb = np.where(self.alg_f[self.f_b], 0.0, 1.0)
        bd = np.where(self.alg_f[self.b_cell], 0.0, -self.b_G)
        return np.concatenate([(-G * nf).ravel(), (G * nf).ravel(), (-G * nb).ravel(),
                               (G * nb).ravel(), bd.ravel()])

    def phonon_transport_values(self) -> np.ndarray:
        """d rhs / d n of phonon transport between cells, in the order of the phonon part
        of the pattern: (a, a), (a, b), (b, b), (b, a) per phonon face pair and mode. Rows
        of cells whose phonons are held at the bath stay clean."""
        G = self.G_ph
        na = np.where(self.ph_fixed[self.f_a[self.ph_pairs]], 0.0, 1.0)[:, None]
        nb = np.where(self.ph_fixed[self.f_b[self.ph_pairs]], 0.0, 1.0)[:, None]
        return np.concatenate([(-G * na).ravel(), (G * na).ravel(), (-G * nb).ravel(),
                               (G * nb).ravel()])

    def _phonon_flux(self, ph: np.ndarray) -> np.ndarray:
        """Phonons per unit time into ``f_a`` of every phonon face pair, per mode."""
        a, b = self.f_a[self.ph_pairs], self.f_b[self.ph_pairs]
        return self.G_ph * (ph[b] - ph[a])

    def _diagonal(self, y: np.ndarray, sl: slice) -> np.ndarray:
        """Diagonal of d rhs / d y of the cells ``sl`` (preconditioner of the matrix-free
        mode): every collision term is an outer occupation factor (f, 1 - f, n, 1 + n)
        times a sum, whose derivative dominates the diagonal."""
        N = self.N
        f, ph = y[sl, :N], y[sl, N:]
        if self.collisions:
            t = batched_terms(f, ph, self.rho[sl], self.ados[sl], h=self.grid.h,
                              m=self.grid.m, qp_scale=self.p["qp_scale"][sl],
                              c_ph=self.p["c_ph"][sl])
            dq = -_ratio(t.qp_sc_in + t.qp_pb, 1.0 - f) - _ratio(t.qp_sc_out + t.qp_rec, f)
            dp = _ratio(t.ph_sc_in + t.ph_rec, 1.0 + ph) - _ratio(t.ph_sc_out + t.ph_pb, ph)
        else:
            dq, dp = np.zeros_like(f), np.zeros_like(ph)
        d = np.concatenate([self.m_f[sl] * dq, self.m_n[sl] * (
            dp - 1.0 / self.p["tau_esc"][sl, None])], axis=1)
        alg = np.concatenate([self.alg_f[sl], np.broadcast_to(
            self.ph_fixed[sl, None], ph.shape)], axis=1)
        return np.where(alg, -self.kappa[sl], d)

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
            spectra = self._jvp_spectra(y)
            for b, s in enumerate(range(0, n, CHUNK)):
                sl = slice(s, min(n, s + CHUNK))
                dq, dp = batched_jvp(y[sl, :N], y[sl, N:], self.rho[sl], self.ados[sl],
                                     v[sl, :N], v[sl, N:], h=self.grid.h, m=self.grid.m,
                                     qp_scale=self.p["qp_scale"][sl],
                                     c_ph=self.p["c_ph"][sl],
                                     outer=(outer[sl, :N], outer[sl, N:]),
                                     spectra=spectra[b])
                out[sl, :N] = self.m_f[sl] * dq
                out[sl, N:] = self.m_n[sl] * dp
        elif self.collisions:
            for s in range(0, n, CHUNK):
                sl = slice(s, min(n, s + CHUNK))
                t = batched_terms(y[sl, :N] + 1j * eps * v[sl, :N],
                                  y[sl, N:] + 1j * eps * v[sl, N:], self.rho[sl],
                                  self.ados[sl], h=self.grid.h, m=self.grid.m,
                                  qp_scale=self.p["qp_scale"][sl], c_ph=self.p["c_ph"][sl])
                out[sl, :N] = self.m_f[sl] * (t.qp.imag / eps)
                out[sl, N:] = self.m_n[sl] * (t.ph.imag / eps)
        out[:n, N:] -= self.m_n[:n] * v[:n, N:] / self.p["tau_esc"][:n, None]
        vf = v[:, :N]
        out[:, :N] += self._div @ (self.G * (vf[self.f_b] - vf[self.f_a])) \
            - self._bsum @ (self.b_G * vf[self.b_cell])
        if len(self.ph_pairs):
            out[:, N:] += self._div_ph @ self._phonon_flux(v[:, N:])
        res = out[:n]
        alg = np.concatenate([self.alg_f[:n], np.broadcast_to(self.ph_fixed[:n, None],
                                                                (n, self.M))], axis=1)
        return np.where(alg, -self.kappa[:n] * v[:n], res).ravel()

    def _jvp_spectra(self, y: np.ndarray) -> list:
        """The transforms of the state factors per :data:`CHUNK` batch at the current
        linearisation point (:func:`fvqp.collisions.batched_jvp.linearisation_spectra`),
        computed at its first action and kept with it: an action then transforms only
        its direction (12 transforms instead of 24; 8 complex arrays of ~N + 1 values per
        cell). Call after :meth:`_outer_derivative` (which sets the point)."""
        if self._spectra is not None and self._spectra[0] is self._linearised:
            return self._spectra[1]
        self._spectra = None
        out = []
        for s in range(0, self.n, CHUNK):
            sl = slice(s, min(self.n, s + CHUNK))
            out.append(linearisation_spectra(
                y[sl, :self.N], y[sl, self.N:], self.rho[sl], self.ados[sl], h=self.grid.h,
                m=self.grid.m, qp_scale=self.p["qp_scale"][sl]))
        self._spectra = (self._linearised, out)
        return out

    def _outer_derivative(self, y: np.ndarray) -> np.ndarray:
        """The outer-factor derivatives of the collision terms at the owned cells of ``y``
        (:func:`fvqp.collisions.batched_jvp.outer_derivative`, shape (n, B)), kept while
        the state is the same (one linearisation point, many Krylov directions)."""
        own = y[:self.n]
        if self._linearised is not None and np.array_equal(self._linearised[0], own):
            return self._linearised[1]
        N = self.N
        g = np.empty((self.n, self.B))
        for s in range(0, self.n, CHUNK):
            sl = slice(s, min(self.n, s + CHUNK))
            g[sl, :N], g[sl, N:] = outer_derivative(
                y[sl, :N], y[sl, N:], self.rho[sl], self.ados[sl], h=self.grid.h,
                m=self.grid.m, qp_scale=self.p["qp_scale"][sl], c_ph=self.p["c_ph"][sl])
        self._linearised = (own.copy(), g)
        return g

    # ---- balances -------------------------------------------------------------------
    def rates(self, xl: np.ndarray, t0: float, t1: float) -> dict[str, float]:
        """This rank's energy (``E:``) and QP number (``N:``) flows into the simulated
        cells: per boundary, into traps, phonon escape, sources, and (``N:pair``) net
        pair breaking minus recombination."""
        N, n, g = self.N, self.n, self.grid
        y = xl.reshape(-1, self.B)
        f, ph = y[:, :N], y[:, N:]
        Ff, Fb = self._fluxes(f)
        out = {}
        for gi, name in enumerate(self.boundary_names):
            sel = self.b_group == gi
            out[f"E:boundary:{name}"] = float(np.sum(Fb[sel] @ g.e))
            out[f"N:boundary:{name}"] = float(np.sum(Fb[sel]))
        # flux from trap cells into owned active cells (Ff is the flux into f_a)
        act = ~self.trap
        from_trap = np.zeros(N)
        for a, b, sign in ((self.f_a, self.f_b, 1.0), (self.f_b, self.f_a, -1.0)):
            sel = (a < n) & act[a] & self.trap[b]
            from_trap += np.sum(sign * Ff[sel], axis=0)
        out["E:trap"] = float(from_trap @ g.e + self._phonons_from_traps(ph) @ g.omega)
        out["N:trap"] = float(from_trap.sum())
        esc = -self.m_n[:n] * (ph[:n] - self.n_bath) / self.p["tau_esc"][:n, None]
        esc[self.ph_fixed[:n]] = 0.0
        out["E:escape"] = float(np.sum(esc @ g.omega))
        out.update(self._deposits(t0, t1))
        pair = np.empty((n, N))
        for sl, t in self._collision_chunks(y):
            pair[sl] = t.qp_pb - t.qp_rec
        out["N:pair"] = float(np.sum(self.m_f[:n] * pair))
        return out

    def _phonons_from_traps(self, ph: np.ndarray) -> np.ndarray:
        """Phonons per unit time and mode from cells held at the bath (traps) into owned
        cells with dynamic phonons (an active cell next to a trap loses phonons to it)."""
        out = np.zeros(self.M)
        if not len(self.ph_pairs):
            return out
        F = self._phonon_flux(ph)
        a_, b_ = self.f_a[self.ph_pairs], self.f_b[self.ph_pairs]
        fixed = self.ph_fixed
        for a, b, sign in ((a_, b_, 1.0), (b_, a_, -1.0)):
            sel = (a < self.n) & ~fixed[a] & fixed[b]
            out += np.sum(sign * F[sel], axis=0)
        return out

    def totals(self, x_owned: np.ndarray) -> dict[str, float]:
        """This rank's QP number, QP energy and phonon energy (internal units)."""
        y = x_owned.reshape(-1, self.B)
        n, N, g = self.n, self.N, self.grid
        return {"N_qp": float(np.sum(self.m_f[:n] * y[:, :N])),
                "E_qp": float(np.sum(self.m_f[:n] * y[:, :N] * g.e)),
                "E_ph": float(np.sum(self.m_n[:n] * y[:, N:] * g.omega))}

    def equilibrium(self, t: float | None = None) -> np.ndarray:
        """Owned unknowns of thermal equilibrium at ``t`` (default: the bath)."""
        t = self.t_bath if t is None else t
        row = np.concatenate([fermi(self.grid.e, t), bose(self.grid.omega, t)])
        return np.tile(row, self.n)

    def explicit_source(self, t0: float, t1: float) -> tuple[np.ndarray, dict]:
        """The state-independent part of :meth:`rhs` (the sources' step-averaged rows, not
        in algebraic rows) and its share of :meth:`rates` (``E:deposited``,
        ``N:deposited``), for :class:`fvqp.solvers.bdf.BDFIntegrator`'s exact source
        integration."""
        n, N = self.n, self.N
        out = np.zeros((n, self.B))
        for s in self.sources:
            p = s.power(t0, t1)
            if p:
                cols = slice(0, N) if s.kind == "quasiparticle" else slice(N, self.B)
                out[:, cols] += p * s.weights[:, None] * s.spectrum
        np.copyto(out[:, :N], 0.0, where=self.alg_f[:n])
        np.copyto(out[:, N:], 0.0, where=np.broadcast_to(self.ph_fixed[:n, None],
                                                         (n, self.M)))
        return out.ravel(), self._deposits(t0, t1)

    def _deposits(self, t0: float, t1: float) -> dict[str, float]:
        """This rank's step-averaged energy and QP number put in by the sources."""
        dep, ndep = 0.0, 0.0
        for s in self.sources:
            p = s.power(t0, t1)
            dep += p * float(np.sum(s.weights))
            if s.kind == "quasiparticle":
                ndep += p * float(np.sum(s.weights[:, None] * s.spectrum))
        return {"E:deposited": dep, "N:deposited": ndep}

    def breakpoints(self) -> list[float]:
        return sorted({b for s in self.sources for b in s.profile.breakpoints()})

    def max_dt(self, t: float) -> float:
        return min([s.profile.max_dt(t) for s in self.sources], default=math.inf)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` with 0 where ``den`` vanishes (an empty occupation factor)."""
    return np.divide(num, den, out=np.zeros_like(num), where=np.abs(den) > 1e-300)

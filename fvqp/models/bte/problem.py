r"""Discrete-ordinates BTE of quasiparticles on a distributed mesh: operators and solves.

Unknowns: :math:`f_{c,j,k}`, the occupation of cell :math:`c`, energy bin :math:`j` of the
transport model's absolute grid (:class:`~fvqp.spectra.bins.BinGrid`,
first bin at the gap) and ordinate :math:`k`. In conservative form (notes Eqs. 52–53 with
a uniform, static gap, so :math:`\nabla_x\cdot v = \dot k = 0`),

.. math::
    \partial_t(\rho f_k) + \nabla\cdot(\rho v\,\Omega_k f_k)
    = \rho\frac{v}{\ell}(\bar f - f_k) - \rho\,\Gamma\,(f_k - f_B) + \rho\, q,

with the BCS density of states :math:`\rho = E/\sqrt{E^2-\Delta^2}` (Eq. 34), the group
velocity :math:`v = v_F\sqrt{1-\Delta^2/E^2}`, so :math:`\rho v = v_F` is the same for
every energy; :math:`\bar f = \sum_k w_k f_k` the angle average, :math:`\ell` the elastic
(isotropic impurity) mean free path of the region — energy independent, the same for
quasiparticles and normal electrons (notes Eqs. 17–19, 23) —, :math:`\Gamma` the trapping
rate of a trap region, :math:`f_B` the bath occupation. Bins are averaged exactly:
:math:`\bar\rho_j` and :math:`\overline{\rho v}_j = v_F\bar D_{L,j}` from
:func:`~fvqp.spectra.bins.cell_spectra`.

Regions of different superconductors (``media``: per region gap, Fermi velocity,
density of states, :class:`Media`) share the absolute grid, whose first bin starts at the
lowest gap. Every row of a cell is then written in particles of the reference weight
:math:`w_0`: storage :math:`(w_s/w_0)\bar\rho_{s,j}` and flux speed
:math:`(w_s/w_0)v_{F,s}\bar D_{L,s,j}` of the cell's medium :math:`s`; bins below a
medium's gap have neither (their unknowns are pinned to the bath occupation and carry
nothing). Faces between different media are interfaces
(:func:`fvqp.ordinates.streaming.interface_matrix`) with the reciprocal transmission of
:meth:`Media.transmission` (``docs/theory_bte_mesh.md``).

Without inelastic collisions the energies decouple: every bin is one linear system over
the cells with :math:`K + 1` unknowns per cell — the ordinates and the angle average
:math:`\phi = \bar f` as an auxiliary unknown, which keeps the scattering sparse
(rows :math:`(v/\ell)V(f_k - \phi)` and :math:`s_c(\phi - \sum_k w_kf_k) = 0`) instead of a
dense :math:`K\times K` block per cell. Steady state: :math:`\partial_t = 0`; transient:
backward Euler or BDF2 with a fixed step, :math:`\partial_t(\rho f) \to \rho(a f^{n+1} -
h^n)`. The systems are solved with PETSc GMRES preconditioned by block Jacobi with an
exact sparse LU of each rank's subdomain (serial: a direct solve). This preconditioner
does not degrade in the thick diffusive limit :math:`\ell\to 0` where source iteration
and ILU do (Adams & Larsen 2002); in parallel the Krylov count depends on the coupling
across the subdomain interfaces (measured in ``benchmarks/bte_mesh.py``). The
alternative ``preconditioner = "sweep"`` does not factor the system: a transport sweep per
ordinate (:mod:`.sweep`, :class:`fvqp.solvers.sweep.SweepTwoLevelPC`) and the isotropic
Galerkin coarse correction of :mod:`.coarse`, cost linear in the unknowns, Krylov counts
bounded as :math:`\ell\to 0` (``tests/test_bte_sweep.py``; ``sweep_only``: without the
coarse level, growing). On several ranks the sweeps cross the rank boundaries stage by
stage (:class:`fvqp.solvers.sweep.CrossingSweep`, stages from
:mod:`fvqp.parallel.sweepstages`): the serial sweep on pure streaming, Krylov counts flat
in the number of ranks (``tests/test_bte_sweep_ranks.py``).

References
----------
E. E. Lewis and W. F. Miller, *Computational Methods of Neutron Transport* (1984).
M. L. Adams and E. W. Larsen, Prog. Nucl. Energy 40, 3 (2002).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from ...ordinates import Quadrature, build_streaming
from ...parallel.blocked import BlockDistribution
from ...solvers.linear import LinearSolver, csr_matrix
from ...solvers.options import apply_options, normalise_prefix
from ...solvers.result import LinearSolveResult
from ...spectra.bins import BinGrid, cell_spectra
from .balances import BinBalances, Source
from .binmarch import BinMarch
from .binoperator import BinOperator
from .cellspectra import CellSpectra
from .media import Media, Relabelled, cell_media

log = logging.getLogger("fvqp.bte")

__all__ = ["DEFAULT_PETSC", "BTEProblem", "KSPResult", "Source"]

#: PETSc defaults under the case's prefix (case file and command line override)
DEFAULT_PETSC = {"ksp_type": "gmres", "ksp_rtol": 1e-12, "ksp_atol": 1e-300,
                 "ksp_max_it": 2000, "ksp_gmres_restart": 200, "pc_type": "bjacobi",
                 "sub_pc_type": "lu", "sub_pc_factor_mat_ordering_type": "rcm"}


#: outcome of one per-bin solve (status, Krylov iterations, residual norm)
KSPResult = LinearSolveResult


@dataclass
class BTEProblem(BinBalances, BinMarch):
    """Discrete-ordinates QP transport on one rank (module docstring): operators and
    per-bin solves here, observables and balances in :class:`~.balances.BinBalances`,
    steady state, steps and the single-bin march in :class:`~.binmarch.BinMarch`.

    Parameters
    ----------
    dist : fvqp.parallel.Distribution
    quad : Quadrature
    grid : BinGrid
        Energy grid; its first bin edge is the (uniform) gap ``gap``.
    gap, v_f, weight : float
        Gap, Fermi velocity (µm per time unit) and state weight :math:`4N_0/N_{0,ref}`.
    widths, inv_mfp, trap_rate : ndarray
        Per region: extrusion width, :math:`1/\\ell` (0: ballistic), trapping rate.
    kinds : dict
        Boundary group -> ``inflow``/``specular``/``diffuse``.
    f_in : dict
        Inflow group -> occupation per energy bin (N,) entering through it.
    f_bath : ndarray
        Bath occupation per bin (the traps relax towards it).
    states, flux : ndarray, optional
        Per bin: states per energy :math:`N` (storage weight of ``f``) and number flux per
        energy over :math:`v_F` (:math:`N v / v_F`); default the BCS bin averages of
        :math:`\\rho` and :math:`\\rho v/v_F`. An Eliashberg spectrum gives
        :math:`N = \\rho m` and flux 1 (:mod:`fvqp.models.bte_sphere.spectral`).
    scheme : str
        Spatial scheme of :func:`fvqp.ordinates.streaming.build_streaming`: ``upwind`` (step, first
        order) or ``linear`` (least-squares linear reconstruction, one rank only).
    media : Media, optional
        Regions of different superconductors (BCS): per region gap, Fermi velocity and
        weight; ``gap``, ``v_f``, ``weight`` are then those of the reference medium
        (grid start, output scale). Default: one medium everywhere.
    preconditioner : str
        ``auto``, ``block_jacobi`` (LU per rank), ``two_level`` (plus the isotropic
        coarse level), ``sweep`` (transport sweeps plus that coarse level, no
        factorisation) or ``sweep_only``.
    cell_gap : ndarray, shape (n_local,), optional
        A gap per local cell (owned then ghosts, at or above the grid's first edge, or 0):
        storage and flux of every cell from its own gap, interfaces between cells of
        different gaps (:mod:`.media`; upwind scheme). Default: the regions' gaps.
    cell_spectra : CellSpectra, optional
        With ``cell_gap``: the spectrum of every local cell as tables
        (:mod:`.cellspectra`: the Eliashberg solution of its own occupations), whose
        states per energy replace the BCS storage :math:`\\bar\\rho(\\Delta_c)`; the flux
        and the interfaces keep the gap edge alone (:math:`Nv = N_0v_F`). Default: BCS.
    """

    dist: object
    quad: Quadrature
    grid: BinGrid
    gap: float
    v_f: float
    weight: float
    widths: np.ndarray
    inv_mfp: np.ndarray
    trap_rate: np.ndarray
    kinds: dict
    f_in: dict
    f_bath: np.ndarray
    sources: list = field(default_factory=list)
    prefix: str = "bte_"
    petsc: dict = field(default_factory=dict)
    preconditioner: str = "auto"
    states: np.ndarray | None = None
    flux: np.ndarray | None = None
    scheme: str = "upwind"
    media: Media | None = None
    cell_gap: np.ndarray | None = None
    cell_spectra: CellSpectra | None = None

    def __post_init__(self):
        loc = self.dist.local
        self.loc, self.n = loc, loc.n_owned
        self.K, self.B, self.N = self.quad.n, self.quad.n + 1, self.grid.n
        self.bdist = BlockDistribution(self.dist, self.B)
        if self.states is None:  # BCS: bin averages of rho and rho v / v_F
            rho, _, dl = cell_spectra(self.grid, np.array([self.gap]))
            self.states, self.flux = rho[0], dl[0]
        self.rho, self.v = np.asarray(self.states), self.v_f * np.asarray(self.flux)
        normals = self.dist.geometry.face_normal[loc.faces]
        cut = None
        #: the media of the cells: the regions', or (``cell_gap``) one per (region, gap)
        self.cell_media, self.medium, wmed, sloc = self.media, loc.cell_region, \
            self.widths, loc
        if self.cell_gap is not None:

            self.cell_media, self.medium, wmed = cell_media(self, loc.cell_region)
            sloc = Relabelled(loc, self.medium)
        if self.cell_media is not None:
            self.rho_r, self.v_r, dl = self.cell_media.spectra(self.grid, self.weight)
            cut = self.cell_media.differ      # per face: a per-cell gap has ~a medium per cell
        self.uniform = self.cell_media is None
        self.stream = build_streaming(sloc, normals, wmed, self.quad, self.kinds,
                                      self.scheme, interface=cut)
        self._itf_groups = self._split_interfaces(dl if cut is not None else None)
        if not self.uniform:
            reg = self.medium
            self.rho_c, self.v_c = self.rho_r[reg].T, self.v_r[reg].T   # (N, n_local)
            if self.cell_spectra is not None:
                rel = np.asarray(self.cell_media.weight, dtype=float)[reg] / self.weight
                self.rho_c = np.ascontiguousarray((rel[:, None] * self.cell_spectra.states).T)
            self.dead = (self.rho_c[:, : self.n] == 0) & (self.v_c[:, : self.n] == 0)
        self.vol = loc.volume[: self.n]
        reg = loc.cell_region[: self.n]
        self.sig = self.inv_mfp[reg]
        self.gam = self.trap_rate[reg]
        self._coll, self._phi = self._scattering()
        self.prefix = normalise_prefix(self.prefix)
        opts = dict(DEFAULT_PETSC)
        if self.two_level or self.sweeps:  # the outer PC is a python context
            opts = {k: v for k, v in opts.items()
                    if not (k.startswith("sub_") or k.startswith("pc_"))}
        #: every bin's solver reads these (they share the prefix): in the database only
        #: while a solve builds or sets up its solver (:meth:`options`); under the prefix
        #: of the construction (a caller that re-points ``prefix`` configures it itself)
        self._options = (self.prefix, {**opts, **(self.petsc or {})})
        self._ksp: dict = {}

    # ---- per-cell spectra ---------------------------------------------------------------
    def cell_gaps(self) -> np.ndarray:
        """Gap of every owned cell (``cell_gap``, its region's medium, or the one gap)."""
        if self.cell_media is None:
            return np.full(self.n, float(self.gap))
        return np.asarray(self.cell_media.gap, dtype=float)[self.medium[: self.n]]

    def owned_spectra(self) -> CellSpectra | None:
        """The owned cells' tables of ``cell_spectra`` (None: BCS)."""
        cs = self.cell_spectra
        return None if cs is None else cs.take(slice(0, self.n))

    def collision_spectra(self) -> tuple[np.ndarray, np.ndarray]:
        """Collision DOS and anomalous DOS of every owned cell, (n_owned, N) each: the
        tables of ``cell_spectra``, or BCS at the cells' gaps."""
        cs = self.owned_spectra()
        if cs is None:
            rho, ados, _ = cell_spectra(self.grid, self.cell_gaps())
            return rho, ados
        return cs.rho, cs.ados

    def cell_storage(self) -> np.ndarray:
        """Storage weight of every owned cell and bin, (n_owned, N): :math:`\bar\rho_j`
        (one medium) or :math:`(w_s/w_0)\bar\rho_{s,j}` of the cell's medium."""
        if self.uniform:
            return np.broadcast_to(self.rho, (self.n, self.N))
        return self.rho_c[:, : self.n].T

    def cell_speed(self) -> np.ndarray:
        """Flux speed of every owned cell and bin, (n_owned, N) (:attr:`cell_storage`'s
        companion: :math:`v_F\bar D_{L,j}` times the medium's weight)."""
        if self.uniform:
            return np.broadcast_to(self.v, (self.n, self.N))
        return self.v_c[:, : self.n].T

    # ---- operators --------------------------------------------------------------------
    def _scattering(self):
        """f rows :math:`V/\\ell\\,(f_k-\\phi)` and phi rows :math:`s(\\phi-\\sum w_kf_k)`."""
        n, K, B = self.n, self.K, self.B
        c = np.arange(n)
        vs = self.vol * self.sig
        fr = (c[:, None] * B + np.arange(K)).ravel()
        pr = np.repeat(c * B + K, K)
        coll = sp.csr_matrix((np.concatenate([np.repeat(vs, K), -np.repeat(vs, K)]),
                              (np.concatenate([fr, fr]), np.concatenate([fr, pr]))),
                             shape=(n * B, self.loc.n_local * B))
        h = (self.vol / self.widths[self.loc.cell_region[:n]]) ** (1.0 / self.loc.dim)
        s = self.vol * np.maximum(self.sig, 1.0 / h)  # row scale, same size as the f rows
        self._srow = s
        w = np.tile(self.quad.weights, n)
        phi = sp.csr_matrix((np.concatenate([s, -np.repeat(s, K) * w]),
                             (np.concatenate([c * B + K, pr]), np.concatenate([c * B + K, fr]))),
                            shape=(n * B, self.loc.n_local * B))
        return coll, phi

    def _split_interfaces(self, dl: np.ndarray | None) -> list:
        r"""The interface faces as ``(model, faces, T_ab, T_ba)`` groups — faces inside one
        material (a per-cell gap's gap gradient) are specular whatever the case's model
        (:meth:`.media.Media.specular_pairs`), the others take it — with their
        transmissions in every bin (F, N) from the media's :math:`\bar D_L` ``dl``
        (:meth:`.media.Media.pair_transmission`: per face, not per pair of media, whose
        number grows as the square of the cells with a per-cell gap)."""
        itf = self.stream.interfaces
        if itf is None or not len(itf.a):
            return []
        med = self.cell_media
        ma, mb = self.medium[itf.a], self.medium[itf.b]
        spec = med.specular_pairs(ma, mb)
        out = []
        for model, sel in (("specular", spec), (med.model, ~spec)):
            if np.any(sel):
                a, b = ma[sel], mb[sel]
                out.append((model, itf.subset(sel), med.pair_transmission(a, b, dl),
                            med.pair_transmission(b, a, dl)))
        return out

    def face_transmissions(self) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Per group of interface faces (:meth:`_split_interfaces`): the local cells on
        the two sides and :math:`T_{ab}` in every bin, shape (F, N)."""
        return [(part.a, part.b, tab) for _, part, tab, _ in self._itf_groups]

    def sweep_graph(self, top: sp.spmatrix | None = None) -> sp.spmatrix:
        """The couplings that order a transport sweep (:mod:`.sweep`; rows ``c (K+1) +
        k``, owned; local columns): the streaming, and the interface faces of the
        highest bin (every interface open). An interface face passes what it transmits
        in the same ordinate (specular, and every face inside one material:
        :meth:`.media.Media.specular_pairs`) downwind like any face; left out of the sweep's
        graph, its cells were swept in an order blind to it (a per-cell gap makes most
        faces near a hot spot such faces) and the sweep across ranks, whose stages
        follow the graph, did not converge. ``top``: the highest bin's system, if the
        caller has it."""
        itf = self.stream.interfaces
        if itf is None or not len(itf.a):
            return self.stream.matrix
        return self.local_matrix(self.N - 1, 0.0) if top is None else top

    def local_matrix(self, j: int, a: float) -> sp.csr_matrix:
        """Owned rows of the system of bin ``j`` with time coefficient ``a`` (0: steady)."""
        d = np.zeros((self.n, self.B))
        if self.uniform:
            d[:, : self.K] = (self.rho[j] * self.vol * (a + self.gam))[:, None]
            return self.bin_operator.matrix(np.full(self.loc.n_local, self.v[j]), [], d)
        d[:, : self.K] = (self.rho_c[j, : self.n] * self.vol * (a + self.gam))[:, None]
        d[:, : self.K] += np.where(self.dead[j], self._srow, 0.0)[:, None]  # f = f_bath
        return self.bin_operator.matrix(self.v_c[j], [(tab[:, j], tba[:, j]) for
                                                      _, _, tab, tba in self._itf_groups], d)

    @functools.cached_property
    def bin_operator(self) -> BinOperator:
        """The bins' common structure (:mod:`.binoperator`), built at first use."""
        return BinOperator(self.stream.matrix, self._coll, self._phi, self._itf_groups,
                           self.quad.weights, self.n, self.loc.n_local)

    def petsc_matrix(self, j: int, a: float):
        """The system of bin ``j`` as a distributed PETSc matrix."""
        m = self.local_matrix(j, a).tocoo()
        g = self.bdist.global_index(m.col)
        csr = sp.csr_matrix((m.data, (m.row, g)), shape=(m.shape[0], self.bdist.n_global))
        csr.sum_duplicates()
        csr.sort_indices()
        return csr_matrix(self.dist.comm, csr, self.bdist.n_global)

    def ksp(self, j: int, a: float) -> LinearSolver:
        """The solver of bin ``j`` and coefficient ``a``; kept for reuse (fixed steps)."""
        traps = self.dist.max(float(np.max(self.gam, initial=0.0))) > 0
        # the matrix depends on j only through rho v and rho (a + Gamma): share solvers
        key = (float(self.v[j]), float(self.rho[j]) if (a or traps) else 0.0, float(a))
        if not self.uniform:  # per medium; the interfaces depend on j through v_r too
            key = (tuple(self.v_r[:, j]), tuple(self.rho_r[:, j] if (a or traps) else
                                                self.rho_r[:, j] == 0), float(a))
        if self.cell_gap is not None and (self.dist.size > 1
                                          or self.cell_spectra is not None):
            # the cell media are per rank: a key equal here may differ on another rank
            # (whose rows of the shared matrix would be another bin's); with tables per
            # cell the storage is not the medium's: one per bin
            key = (j, float(a))
        if key not in self._ksp:
            A = self.petsc_matrix(j, a)
            ctx = None
            if self.sweeps:
                ctx = self._sweep_pc(A, j, a)
            elif self.two_level:
                from .coarse import block_jacobi_two_level, isotropic_maps

                ctx = block_jacobi_two_level(
                    A.getComm(), *isotropic_maps(self.bdist, self.quad.weights),
                    self.prefix)
            self._ksp[key] = LinearSolver(A, self.prefix, pc_context=ctx)
        return self._ksp[key]

    @property
    def sweeps(self) -> bool:
        """Transport sweeps instead of the LU (:mod:`.sweep`): ``sweep`` (with the
        isotropic Galerkin coarse correction of :mod:`.coarse`, solved exactly) or
        ``sweep_only`` (no coarse level: grows in the thick limit)."""
        return self.preconditioner in ("sweep", "sweep_only")

    def _sweep_pc(self, A, j: int, a: float):
        from .sweep import bin_sweep_pc

        return bin_sweep_pc(self, A, j, a)

    @property
    def two_level(self) -> bool:
        """Block Jacobi + isotropic coarse correction (:mod:`.coarse`): ``two_level``,
        or ``auto`` on more than one rank; ``block_jacobi`` alone otherwise."""
        if self.preconditioner == "auto":
            return self.dist.size > 1
        return self.preconditioner == "two_level"

    def release(self) -> None:
        """Destroy the cached solvers (and their LU factors)."""
        for solver in self._ksp.values():
            solver.destroy()
        self._ksp.clear()

    # ---- right-hand sides (sources: :class:`~.balances.BinBalances`) ---------------------
    def rhs(self, j: int, hist: np.ndarray | None = None, src: np.ndarray | None = None
            ) -> np.ndarray:
        """Owned right-hand side of bin ``j``: inflow, trap bath term, history
        :math:`\\rho V h^n` (``hist``: (n, K) values of :math:`h^n`), sources (n,)."""
        b = np.zeros((self.n, self.B))
        v = self.v[j] if self.uniform else self.v_c[j, : self.n, None]
        rho = self.rho[j] if self.uniform else self.rho_c[j, : self.n]
        for name, coef in self.stream.inflow.items():
            b += v * self.f_in[name][j] * coef.reshape(self.n, self.B)
        fr = b[:, : self.K]
        fr += (rho * self.vol * self.gam * self.f_bath[j])[:, None]
        if not self.uniform:
            fr += np.where(self.dead[j], self._srow * self.f_bath[j], 0.0)[:, None]
        if hist is not None:
            fr += (rho * self.vol)[:, None] * hist
        if src is not None:
            fr += (src / (self.weight * self.grid.h))[:, None]
        return b.ravel()

    @contextmanager
    def options(self) -> Iterator[None]:
        """The problem's PETSc options under its prefix in PETSc's database for the
        scope (the command line's win, :func:`fvqp.solvers.options.apply_options`) and
        removed on leaving it, whoever calls — the run template's options session, or a
        test or script that drives the problem (or a self-gap stepper) directly: the
        DOLFINx/petsctools rule "removed after use". Every reader is inside a solve: the
        KSP's ``setFromOptions`` (:meth:`ksp`) and its setup at the first solve (block
        Jacobi's sub-solvers, the coarse and sweep preconditioners). A problem that never
        solves a bin on its own (the transport base of the collisional Newton solver,
        prefix ``<case>bins_``) never inserts them."""
        prefix, options = self._options
        apply_options(prefix, options)
        try:
            yield
        finally:
            apply_options(prefix, {})

    def solve(self, j: int, a: float, b: np.ndarray, x0: np.ndarray | None = None
              ) -> tuple[np.ndarray, KSPResult]:
        """Solve bin ``j`` (inside :meth:`options`); returns owned unknowns and the KSP
        outcome."""
        with self.options():
            out, res = self.ksp(j, a).solve_from(b, x0)
        if not res.success:
            log.error("bin %d: KSP did not converge (reason %d after %d iterations)", j,
                      res.reason, res.iterations)
        return out, res

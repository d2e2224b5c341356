r"""Phonon-eliminating preconditioner of the transport model (``[numerics] jacobian =
"schur"``).

The linear systems of a Newton step are :math:`K = \sigma\,\mathrm{diag}(m) - J` with
:math:`J = \partial\,\text{rhs}/\partial y` and :math:`\sigma` the BDF shift (0 for a steady
state). Ordered per cell as QPs then phonons,

.. math::
    K = \begin{pmatrix} A + T & B \\ C & D \end{pmatrix},

where :math:`A, B, C, D` are cell-local (collisions, escape, storage) and :math:`T` is the
transport between cells, which acts on QPs only. :math:`D` is *diagonal*: a phonon mode
is coupled to the others only through the QPs. Eliminating the phonons is therefore exact
and cheap,

.. math::
    K^{-1} = \begin{pmatrix} I & 0 \\ -D^{-1}C & I \end{pmatrix}
             \begin{pmatrix} S_T^{-1} & 0 \\ 0 & D^{-1} \end{pmatrix}
             \begin{pmatrix} I & -BD^{-1} \\ 0 & I \end{pmatrix},
    \qquad S_T = A + T - B D^{-1} C,

and the only approximation is the solve with the QP Schur complement :math:`S_T` (dense
:math:`N\times N` per cell plus energy-diagonal transport couplings): by default its
float32 cell blocks with their own block ILU(0), restricted additive Schwarz on the
ranks' one-layer subdomains on several (:mod:`fvqp.solvers.cellblock_ilu`,
:mod:`fvqp.solvers.cellblock_ras`), else an AIJ matrix under a PETSc KSP with the prefix
``<prefix>schur_`` (ILU(0), PETSc's ASM on several ranks). The coupling blocks :math:`B`
and :math:`C` are applied by FFTs from the four state spectra of the build point
(:class:`fvqp.collisions.batched.CouplingSpectra`, single precision: they only shape the
preconditioner; ``-<prefix>schur_couplings stored`` keeps :math:`BD^{-1}`,
:math:`D^{-1}C` as float32 blocks); the Krylov operator stays the exact Jacobian action.
Memory per cell ~ :math:`N^2` (double, assembled) :math:`+ 4(N+2)` complex values
instead of the assembled Jacobian's :math:`N(N + 2M)` doubles plus its factorisation.

With phonon diffusion (region key ``phonon_diffusion_constant``) the phonon block is
:math:`D + T_{ph}`. :math:`S_T` is built with the cell-diagonal part only (:math:`D` plus
the sum of the cell's phonon face conductances: still diagonal, the elimination stays
cell-local), and the phonon blocks are applied with the exact sparse
:math:`D + T_{ph}` (:mod:`.phonon_pc`). The preconditioner is then approximate even with
exact inner solves; the Krylov operator keeps the exact action (counts measured in
``tests/test_transport_phonon_diffusion.py``).
"""

from __future__ import annotations

import numpy as np

from ...collisions.batched import CouplingSpectra
from ...parallel.blocked import BlockDistribution
from ...parallel.coarse import cell_aggregates
from ...parallel.overlap import ghost_faces, subdomain_cells
from ...solvers.blockcsr import CellBlockCSR
from ...solvers.cellblock_ilu import VALUES, CellBlockILU
from ...solvers.cellblock_ras import CellBlockRAS
from ...solvers.linear import LinearSolver, case_option, option_value
from ...solvers.twolevel import AggregateCoarse
from . import SCHUR_VALUE_KEYS
from .condensed import MAX_IT, CondensedSolve
from .phonon_pc import PhononDiffusionSolve
from .quiet import QuietSplit
from .schur_couplings import SchurCouplings

__all__ = ["SchurPreconditioner", "SCHUR_DEFAULTS"]

#: default options of the inner Schur-complement solve of the AIJ storage (under
#: ``<prefix>schur_``): one ILU(0) sweep; on several ranks restricted additive Schwarz on
#: the rank's cells plus one layer of neighbours listed in reverse Cuthill-McKee order
#: (:meth:`_rcm_subdomain`; the cell storage builds the same subdomains itself,
#: :class:`fvqp.solvers.cellblock_ras.CellBlockRAS`).
#: ILU(0) depends on the elimination order far more than on the rank cut. Inner GMRES on
#: the Schur complement alone (3D absorber 13 280 cells x 66 bins, rtol 1e-8): global
#: ILU(0) 7 iterations in the mesh file's order, 15 with the two halves listed one after
#: the other (the 2-rank numbering); two blocks: block Jacobi 34, PETSc's overlapping
#: subdomains (sorted rows) 15, the RCM subdomains 7. Outer Krylov iterations over 6 BDF1
#: steps through the burst: serial 58; 2 ranks with PETSc's subdomains (overlap 2) 200,
#: + aggregation coarse space (AggregateCoarse) 118, + a second sweep 77; RCM subdomains 58
#: (benchmarks/transport_absorber3d.py). The RCM graph is the subdomain's part of the
#: global face graph (:mod:`fvqp.parallel.overlap`); built from the local faces it missed
#: the faces between ghost cells, and ILU(0) eliminated columns of the thin films' strongly
#: coupled layers that the ranks' bisection cuts out of order: Krylov per Newton at 1, 2,
#: 4, 8 ranks (11 680 cells x 16 bins, 3 BDF1 steps) 5, 5, 21.2, - then; 5, 5, 5, 5 now
#: (benchmarks/transport_ranks.py; tests/test_transport_ranks_krylov.py).
SCHUR_DEFAULTS = {"ksp_type": "preonly", "pc_type": "bjacobi", "sub_pc_type": "ilu"}
SCHUR_PARALLEL_DEFAULTS = {"pc_type": "asm"}
#: layers of neighbour cells in the subdomains of the RCM additive Schwarz
#: (``-<prefix>schur_overlap``; :func:`fvqp.parallel.overlap.subdomain_cells`)
OVERLAP = 1

#: aggregates of the optional two-level inner solve
#: (:class:`fvqp.solvers.twolevel.AggregateCoarse`; option
#: ``-<prefix>schur_coarse_aggregates``, off by default: no gain on 2 ranks once the cells
#: are in RCM order)
COARSE_AGGREGATES = 0

#: cells per block computation (memory ~ CHUNK B^2 doubles)
CHUNK = 256
#: cells per single-precision block computation (temporaries ~ 20 CHUNK N M floats:
#: small enough to stay in cache)
CHUNK_SINGLE = 32
#: default of ``-<prefix>schur_couplings``: B and C applied by FFTs from the build point's
#: state spectra (absorber burst, 13 280 cells x 66 bins: peak 229 -> 164 KB per cell,
#: same Newton and Krylov counts, PC application +27 %; ``stored`` keeps the float32
#: blocks B D^-1, D^-1 C, 2NM values per cell)
COUPLINGS = "fft"
#: default of ``-<prefix>schur_storage`` (:attr:`SchurPreconditioner.storage`; "cells":
#: the float32 cell blocks, "auto": those where they apply, :meth:`_cells_apply`, else
#: "aij"; ``[solver.petsc] schur_storage`` of a case). "auto" since 2026-11-24: on the
#: absorber burst (13 280 cells x 66 bins, 6 BDF1 steps, serial, idle machine, one run
#: each, alternating) the cell storage took 4.23 against 4.97 s per step (PC application
#: 2.22 against 2.91 CPU s per step: its float32 triangular sweeps read a third of the
#: AIJ factors' bytes) and 1 286 against 1 815 MB peak, with the same 12 Newton / 57
#: Krylov iterations and every balance of summary.json equal to 1e-12
STORAGE = "auto"
#: default of ``-<prefix>schur_block_values`` (:attr:`SchurPreconditioner.block_values`):
#: how the cell storage keeps its blocks, ``float32`` or ``int16``
#: (:data:`fvqp.solvers.cellblock_ilu.VALUES`); a run's default is :data:`RUN_BLOCK_VALUES`
BLOCK_VALUES = "float32"
#: how a run's cell storage keeps its blocks unless the case or the command line says
#: (``schur_block_values`` of ``[solver.petsc]``; :func:`.solver_config.jacobian_config`):
#: ``int16``, every row as integers of its own float32 scale (half the largest array of a
#: device-size run). Measured on the absorber burst, 6 BDF1 steps, serial, one thread,
#: 2026-11-26: 13 280 cells x 66 bins, two runs each alternating, 2.99-3.10 against
#: 3.05-3.10 s per step, the same 12 Newton / 45 Krylov iterations, final energy and QP
#: number equal to 2e-16, run peak 1 088-1 093 -> 991-1 009 MB; the 53 120-cell target
#: (``benchmarks/transport_absorber3d.py target``, with the complex64 action spectra)
#: 14.68 against 15.09 s per step (the machine slower that hour than in the morning's
#: 12.9), 12 Newton / 62 against 61 Krylov, peak 4 252 -> 3 449-3 602 MB (82 -> 66-69 KB
#: per cell)
RUN_BLOCK_VALUES = SCHUR_VALUE_KEYS["schur_block_values"][0]
#: default of ``-<prefix>schur_condensed`` (:mod:`.condensed`: the phonons condensed out
#: of the Newton system exactly, GMRES on the QP unknowns; with the outer
#: ``-<prefix>ksp_type preonly``; ``[solver.petsc] schur_condensed = true`` of a case)
CONDENSED = False


class SchurPreconditioner(SchurCouplings):
    """Exact phonon elimination + an inner solve of the QP Schur complement.

    Parameters
    ----------
    problem : TransportProblem
    prefix : str
        Options prefix of the outer solver; the inner KSP uses ``<prefix>schur_``.
    options : dict, optional
        Inner KSP options (defaults :data:`SCHUR_DEFAULTS`; the command line wins).
    """

    def __init__(self, problem, prefix: str, options: dict | None = None):
        self.p = problem
        N = problem.N
        self.dist = BlockDistribution(problem.cells, N)
        self.prefix = prefix + "schur_"
        options = dict(options or {})

        def own(name: str, default):
            """One of this preconditioner's own keys (not a PETSc KSP option): the
            case's value (``schur_<name>`` of ``[solver.petsc]``, taken out of the inner
            KSP's options), the command line's ``-<prefix>schur_<name>`` winning."""
            return case_option(self.prefix + name, options, name, default)

        #: two-level inner solve (AggregateCoarse) on this many aggregates, 0 = off; option
        #: ``-<prefix>schur_coarse_aggregates``
        n_agg = own("coarse_aggregates", COARSE_AGGREGATES)
        #: the AIJ storage's additive-Schwarz subdomains on several ranks ("rcm" or
        #: "petsc") and their layers of neighbours (:meth:`_rcm_subdomain`)
        self._subdomains = own("subdomains", "rcm")
        self._overlap = own("overlap", OVERLAP)
        self._coarse_diagonal = own("coarse_diagonal", False)
        self._couplings = own("couplings", COUPLINGS)
        self._precision = own("precision", "double" if self._couplings == "action"
                              else "single")
        #: "aij": :math:`S_T` as a PETSc AIJ matrix under the inner KSP; "cells": its
        #: float32 cell blocks and couplings with their own level-scheduled block ILU(0)
        #: (:class:`fvqp.solvers.cellblock_ilu.CellBlockILU`; on several ranks on each
        #: rank's subdomain, :class:`fvqp.solvers.cellblock_ras.CellBlockRAS`; one
        #: sweep, the aggregate coarse level multiplicatively with residuals from a kept
        #: float32 copy of the blocks) -- option ``-<prefix>schur_storage``
        #: the exact condensed solve of :mod:`.condensed` (None: this is a preconditioner
        #: of the whole system) -- option ``-<prefix>schur_condensed``
        self.condensed = None
        self._condense = own("condensed", CONDENSED)
        self._max_it = own("condensed_max_it", MAX_IT)
        self._outer = prefix
        self.storage = own("storage", STORAGE)
        #: how the cell storage keeps its blocks (:data:`fvqp.solvers.cellblock_ilu.
        #: VALUES`) -- option ``-<prefix>schur_block_values``
        self.block_values = own("block_values", BLOCK_VALUES)
        if self.block_values not in VALUES:
            raise ValueError(f"-{self.prefix}block_values (schur_block_values of "
                             f"[solver.petsc]) must be one of {VALUES}, not "
                             f"{self.block_values!r}")
        self.ilu = None
        #: the faces between two ghost cells (local cells a, b, their tau) that the
        #: parallel cell storage's subdomains couple (None: serial or AIJ)
        self._ghost_pairs = None
        if self.storage == "auto":  # cells where they apply
            self.storage = "cells" if self._cells_apply(problem, options) else "aij"
        if self.storage == "cells":
            if not self._one_layer_rcm() or options:
                raise ValueError(
                    f"-{self.prefix}storage cells (schur_storage = \"cells\" of "
                    "[solver.petsc]): the default inner solve only -- on several ranks "
                    "RCM subdomains of one layer "
                    f"(-{self.prefix}overlap 1), no inner KSP options"
                    + (f" (given: {', '.join('schur_' + k for k in sorted(options))})"
                       if options else "") + "; or use schur_storage = \"aij\"")
            a, b = problem.f_a, problem.f_b
            if self.dist.size > 1:  # restricted additive Schwarz on the subdomains
                self._ghost_pairs = ghost_faces(problem.cells)
                a = np.concatenate([a, self._ghost_pairs[0]])
                b = np.concatenate([b, self._ghost_pairs[1]])
                self.ilu = CellBlockRAS(problem.cells, N, a, b, n_agg > 0,
                                        self.block_values)
            else:
                self.ilu = CellBlockILU(problem.n, N, a, b, n_agg > 0, self.block_values)
            #: the coupled pairs of the cell storage (local cells)
            self._pairs = (a, b)
            self.csr = self.ilu
            self.mat = self.inner = None
            self._init_couplings(problem, n_agg)
            return
        if self.storage != "aij":
            raise ValueError(f"-{self.prefix}storage must be 'aij' or 'cells', not "
                             f"{self.storage!r}")
        self.csr = CellBlockCSR(problem.cells, N, problem.f_a, problem.f_b)
        self.mat = self.csr.create_matrix(self.dist.comm)
        self._transport_pos = self._positions()
        par = SCHUR_PARALLEL_DEFAULTS if self.dist.size > 1 and "pc_type" not in (
            options or {}) else {}
        sub = None
        if self.dist.size > 1 and self._subdomains == "rcm":
            sub = self._rcm_subdomain()
        #: the inner KSP of :math:`S_T` (:class:`fvqp.solvers.linear.LinearSolver`)
        # serial one-sweep ILU(0) without the coarse space: factor in place (the matrix
        # is only needed as its factors; saves a copy of N (N + 6) values per cell)
        user = options or {}
        inplace = {"sub_pc_factor_in_place": True} if (
            self.dist.size == 1 and "ksp_type" not in user and "pc_type" not in user
            and option_value(self.prefix + "ksp_type", "") == ""
            and option_value(self.prefix + "pc_type", "") == ""
            and n_agg == 0
        ) else {}
        self.inner = LinearSolver(self.mat, self.prefix, {**SCHUR_DEFAULTS, **par, **inplace},
                                  options, subdomains=sub)
        self._init_couplings(problem, n_agg)

    def _cells_apply(self, problem, options: dict) -> bool:
        """``storage = "auto"``: the cell storage with the default one-sweep ILU(0) (no
        inner KSP or PC chosen; on several ranks the default one-layer
        RCM subdomains) on a mesh without three pairwise-neighbour cells (the global mesh
        on several ranks: every rank decides alike)."""
        if options or option_value(self.prefix + "ksp_type", "") or \
                option_value(self.prefix + "pc_type", "") or not self._one_layer_rcm():
            return False
        try:
            if self.dist.size > 1:
                CellBlockRAS.check(problem.cells)
            else:
                CellBlockILU.check(problem.n, problem.f_a, problem.f_b)
        except ValueError:
            return False
        return True

    def _one_layer_rcm(self) -> bool:
        """One rank, or the default subdomains of several (RCM, one layer: the ghost
        cells, which the cell storage's Schwarz solve is built on)."""
        return self.dist.size == 1 or (
            self._subdomains == "rcm" and self._overlap == 1)

    def _init_couplings(self, problem, n_agg: int) -> None:
        """The coupling blocks' storage, the coarse level and the phonon solve."""
        N = problem.N
        #: "stored": B D^-1 and D^-1 C kept per cell in single precision (2NM floats per
        #: cell); "fft": B, C applied by FFTs from the four state spectra of the build
        #: point (:class:`fvqp.collisions.batched.CouplingSpectra`, 4 (N + 2)
        #: complex values per cell, complex64 with the single-precision build);
        #: "action": through the whole exact Jacobian action (no storage, two
        #: collision-operator evaluations per application, each moving the Newton
        #: linearisation point) -- option ``-<prefix>schur_couplings``
        self.couplings = self._couplings
        if self.couplings not in ("stored", "fft", "action"):
            raise ValueError(f"-{self.prefix}couplings must be 'stored', 'fft' or 'action', "
                             f"not {self.couplings!r}")
        #: "single": the cell blocks and the Schur complement formed in single precision
        #: from the kinematics (default with stored couplings, themselves single);
        #: "double": from the dense double-precision cell Jacobians (the previous build;
        #: default with couplings by the exact action) -- option
        #: ``-<prefix>schur_precision``
        self.precision = self._precision
        if self.precision not in ("single", "double"):
            raise ValueError(f"-{self.prefix}precision must be 'single' or 'double', not "
                             f"{self.precision!r}")
        if self._condense:  # B, C through the exact action of the condensed solve
            self.couplings = "exact"
        #: work vector of the couplings by the action only (created on first use:
        #: 1.5 KB per cell that the default FFT couplings do not need)
        self._v = None
        #: B D^-1 and D^-1 C per cell, rewritten in place at every update (fresh arrays
        #: next to the old ones would double the largest arrays at the peak)
        stored = self.couplings == "stored"
        n, M = problem.n, problem.M
        self.bd = np.empty((n, N, M), dtype=np.float32) if stored else None
        self.dc = np.empty((n, M, N), dtype=np.float32) if stored else None
        self.spectra = None
        #: the owned build state the FFT couplings read (:meth:`_keep_state`)
        self._y = None
        #: the shift of the last build (the couplings by the action read it: the quiet
        #: cells' tolerance of its step, :mod:`.schur_couplings`)
        self.build_shift = 0.0
        if self._condense:  # B and C only through the exact action (.condensed)
            self.condensed = CondensedSolve(problem, self)
        elif self.couplings == "fft" and problem.collisions:
            self.spectra = CouplingSpectra(
                n, N, h=problem.grid.h, m=problem.grid.m,
                dtype=np.float32 if self.precision == "single" else np.float64)
        self.coarse = None
        if n_agg > 0:
            #: the owned entries' mask (transport_values order; with the cell storage,
            #: the couplings' order of _factor_cells) and their row, column, bin
            self._coarse_keep, rows, cols, bins = self._transport_entries()
            diagonal = self._coarse_diagonal
            agg, n_agg = cell_aggregates(problem.cells, n_agg)
            self.coarse = AggregateCoarse(problem.cells.comm, agg,
                                          problem.cells.local.n_owned, N, n_agg, rows,
                                          cols, bins, diagonal)
        #: phonon diffusion between cells: sparse solves with D + T_ph (.phonon_pc)
        self.phonons = (PhononDiffusionSolve(problem, self.prefix + "ph_")
                        if len(problem.ph_pairs) else None)

    @property
    def ksp(self):
        """The inner PETSc KSP (for inspection; None with the cell storage)."""
        return None if self.inner is None else self.inner.ksp

    def _rcm_subdomain(self) -> tuple[np.ndarray, np.ndarray]:
        """This rank's additive-Schwarz subdomain: owned cells plus ``layers`` layers of
        neighbours (option ``-<prefix>schur_overlap``, :data:`OVERLAP`), listed cell by
        cell in reverse Cuthill-McKee order of their face graph, unsorted, so that the
        subdomain ILU(0) eliminates in that order (module constants above: 7 instead of 15
        inner iterations on the absorber). The layers follow the global face graph
        (:func:`fvqp.parallel.overlap.subdomain_cells`). Option
        ``-<prefix>schur_subdomains petsc`` leaves the subdomains to PETSc
        (``-<prefix>schur_pc_asm_overlap``; rows sorted by global number). Returns the
        global rows of the subdomain and its owned rows."""
        N = self.p.N
        layers = self._overlap
        cells, owned = subdomain_cells(self.p.cells, layers)
        rows = (cells[:, None] * N + np.arange(N)).ravel()
        return rows, rows[np.repeat(owned, N)]

    def _positions(self) -> np.ndarray:
        """Value positions of :meth:`TransportProblem.transport_values` in the CSR data
        (-1: a row of a ghost cell; int32 where the data fit)."""
        p, csr, n = self.p, self.csr, self.p.n
        a, b = p.f_a, p.f_b
        out = []
        for row, col in ((a, a), (a, b), (b, b), (b, a), (p.b_cell, p.b_cell)):
            pos = np.full((len(row), p.N), -1, dtype=np.int64)
            own = row < n
            if row is col:
                pos[own] = csr.diagonal_positions(row[own])
            else:
                pos[own] = csr.coupling_positions(row[own], col[own])
            out.append(pos.ravel())
        pos = np.concatenate(out)
        return pos.astype(np.int32) if csr.data.size < 2**31 else pos

    def _transport_entries(self) -> tuple[np.ndarray, ...]:
        """The entries of :meth:`TransportProblem.transport_values` in owned rows (the
        aggregate coarse level's input: ~17 KB per cell): their mask in that order and
        their row cell, column cell and energy bin; with the cell storage its couplings
        instead (rows ``a`` then ``b`` of its pairs; the diagonals are in its blocks)."""
        p, N = self.p, self.p.N
        a, b = p.f_a, p.f_b
        pairs = ((a, a), (a, b), (b, b), (b, a), (p.b_cell, p.b_cell))
        if self.ilu is not None:  # the cell storage's couplings (diagonals in blocks)
            a, b = self._pairs
            pairs = ((a, b), (b, a))
        rows = np.concatenate([np.repeat(row, N) for row, _ in pairs])
        cols = np.concatenate([np.repeat(col, N) for _, col in pairs])
        bins = np.concatenate([np.tile(np.arange(N), len(row)) for row, _ in pairs])
        keep = rows < p.n
        return keep, rows[keep], cols[keep], bins[keep]

    def update(self, xl: np.ndarray, shift: float) -> None:
        """Factor the cell blocks at the state ``xl`` for :math:`K = \\sigma m - J`."""
        p = self.p
        n = p.n
        y = xl.reshape(-1, p.B)
        self.csr.begin()
        if self.coarse is not None:
            self.coarse.begin()
        self._keep_state(xl)
        self.build_shift = float(shift)
        stored = self.couplings == "stored"
        # D^-1 only for the application of this preconditioner (the condensed solve
        # forms its own D at every Newton point: 8 M bytes per cell less); the old array
        # goes before the new one comes
        self.inv_d = None
        self.inv_d = None if self.condensed is not None else np.empty((n, p.M))
        chunk = CHUNK_SINGLE if self.precision == "single" else CHUNK
        split = self._quiet_split(y, chunk, shift)
        for b, s in enumerate(range(0, n, chunk)):
            sl = slice(s, min(n, s + chunk))
            cells = np.arange(sl.start, sl.stop)
            if split is not None and split.quiet[b]:
                S = self._shared_blocks(y, split, b, sl, shift)
                self.csr.set_blocks(cells, S)
                if self.coarse is not None and self.ilu is None:
                    self.coarse.add_blocks(cells, S.astype(float))
                continue
            S, inv_d, bd, knf = self._schur_blocks(y, sl, shift)
            self.csr.set_blocks(cells, S)
            if self.coarse is not None and self.ilu is None:
                self.coarse.add_blocks(cells, S.astype(float))
            if self.inv_d is not None:
                self.inv_d[sl] = inv_d
            if stored:
                self.bd[sl] = bd
                self.dc[sl] = knf * inv_d[:, :, None]
            if self.spectra is not None:
                self.spectra.set(sl, y[sl, :p.N], p.rho[sl], p.ados[sl])
        if self._ghost_pairs is not None:  # the subdomain's ghost cells: S_T only
            nl = p.loc.n_local
            for s in range(n, nl, chunk):
                sl = slice(s, min(nl, s + chunk))
                self.csr.set_blocks(np.arange(sl.start, sl.stop),
                                    self._schur_blocks(y, sl, shift)[0])
        self._finish()

    def _quiet_split(self, y: np.ndarray, chunk: int,
                     shift: float) -> QuietSplit | None:
        """The build's batches split into active and quiet cells (:mod:`.quiet`; the
        tolerance of the shift's step, :meth:`.problem.TransportProblem.quiet_tolerance`),
        or None
        where quiet cells do not share blocks: a double-precision build, blocks kept for
        more than :math:`S_T` (no condensed solve, or stored couplings), phonon
        diffusion (its cell-diagonal part is not a row factor of the cell)."""
        p = self.p
        if (p.quiet_tol <= 0 or self.precision != "single" or self.inv_d is not None
                or self.couplings == "stored" or self.spectra is not None
                or len(p.ph_pairs) or not p.collisions):
            return None
        bath = p.bath_response()
        return QuietSplit(y[:p.n], bath.ref, bath.classes, chunk, p.quiet_tolerance(shift))

    def _shared_blocks(self, y: np.ndarray, split, b: int, sl: slice,
                       shift: float) -> np.ndarray:
        r""":math:`S_T` of the cells ``sl`` (batch ``b`` of ``split``): the active cells'
        own, every quiet cell's its class's at the bath (:meth:`_bath_block`) times its
        storage scale over the class representative's (:math:`K_{ff}, K_{fn}, K_{nf}, D`
        all carry the cell's volume times the region weight as a row factor, so
        :math:`S_T` does: :mod:`.quiet`)."""
        p = self.p
        out = np.empty((sl.stop - sl.start, p.N, p.N), np.float32)
        act = split.active[b]
        if len(act):
            out[act - sl.start] = self._schur_blocks(y, act, shift)[0]
        bath = p.bath_response()
        scale = p.kappa[:, 0]
        for c, q in split.quiet[b]:
            rep = int(bath.rep[c])
            ratio = (scale[q] / scale[rep]).astype(np.float32)
            out[q - sl.start] = ratio[:, None, None] * self._bath_block(c, shift)
        return out

    def _bath_block(self, c: int, shift: float) -> np.ndarray:
        """:math:`S_T` of the representative cell of class ``c`` at the bath (kept until
        the gaps or the shift change)."""
        p = self.p
        bath = p.bath_response()

        def make():
            rep = np.array([int(bath.rep[c])])
            ref = np.broadcast_to(bath.ref, (p.loc.n_local, p.B))
            return self._schur_blocks(ref, rep, shift)[0][0]
        return bath.kept(("schur_block", c, float(shift)), make)

    def _schur_blocks(self, y: np.ndarray, sl: slice, shift: float) -> tuple:
        """The QP Schur complement :math:`S = K_{ff} - K_{fn}D^{-1}K_{nf}` of the cells
        ``sl`` (local: owned or ghost) with :math:`D^{-1}`, :math:`K_{fn}D^{-1}` and
        :math:`K_{nf}`. ``single`` precision (:attr:`precision`): from the kinematics of
        the collision operator (:meth:`TransportProblem.cell_step_blocks`: no dense
        :math:`(N + M)^2` block, no double-precision B, C), formed in float32;
        ``double``: from the dense cell Jacobians (:meth:`TransportProblem.cell_blocks`).
        The phonon block :math:`D` holds only the cell-diagonal part of phonon
        transport (module docstring)."""
        p, N = self.p, self.p.N
        if self.precision == "single":
            kff, kfn, knf, d = p.cell_step_blocks(y, sl, shift, np.float32)
            inv_d = 1.0 / np.where(d == 0.0, np.float32(1.0), d)
            bd = kfn * inv_d[:, None, :]
            return kff - bd @ knf, inv_d, bd, knf
        K = -p.cell_blocks(y, sl)
        k, kp = np.arange(p.B), np.arange(p.M)
        K[:, k, k] += shift * np.concatenate([p.m_f[sl], p.m_n[sl]], axis=1)
        K[:, N + kp, N + kp] -= np.where(p.ph_fixed[sl, None], 0.0, p.ph_diag[sl])
        d = np.diagonal(K[:, N:, N:], axis1=1, axis2=2)
        inv_d = 1.0 / np.where(d == 0.0, 1.0, d)
        bd = K[:, :N, N:] * inv_d[:, None, :]
        return K[:, :N, :N] - bd @ K[:, N:, :N], inv_d, bd, K[:, N:, :N]

    def _keep_state(self, xl: np.ndarray) -> None:
        """Keep what the couplings need of the build state: the whole local state for
        the couplings by the action (:attr:`x_local`); for the FFT couplings the owned
        state in the spectra's precision (:attr:`_y`: float32 with the single-precision
        build, which is what :class:`CouplingSpectra` casts it to; 4 B bytes per cell
        instead of a reference to the solver's 8 B-byte local copy of the build point,
        which a lagged build would keep alive next to the current one)."""
        p = self.p
        self.x_local = xl if self.couplings == "action" else None
        if self.spectra is None:
            self._y = None
        elif self.spectra.dtype == np.float64:
            self._y = xl.reshape(-1, p.B)[:p.n]
        else:
            if self._y is None or self._y.dtype != self.spectra.dtype:
                self._y = np.empty((p.n, p.B), self.spectra.dtype)
            np.copyto(self._y, xl.reshape(-1, p.B)[:p.n], casting="same_kind")

    def _finish(self) -> None:
        """Transport entries, assembly and the inner solve's refactorisation."""
        if self.ilu is not None:
            self._factor_cells()
        else:
            self._assemble()
        if self.phonons is not None:
            self.d = 1.0 / self.inv_d
            self.phonons.update(self.d)

    def _factor_cells(self) -> None:
        """The cell storage: transport entries of :math:`K = -J` on the block diagonals
        and as couplings (:meth:`TransportProblem.transport_values` order), then the
        ILU(0)."""
        p, N = self.p, self.p.N
        # the entries of -transport_values() pair by pair (no 5 (pairs x N) copies)
        ga = np.where(p.alg_f[p.f_a], 0.0, p.G)  # rows of a: K_aa = ga, K_ab = -ga
        gb = np.where(p.alg_f[p.f_b], 0.0, p.G)  # rows of b: K_bb = gb, K_ba = -gb
        # owned rows (the local faces hold all of an owned cell's faces; the ghosts'
        # diagonals come from their owners, CellBlockRAS.add_diagonal)
        diag = np.zeros((p.loc.n_local, N))
        np.add.at(diag, p.f_a, ga)
        np.add.at(diag, p.f_b, gb)
        np.add.at(diag, p.b_cell, np.where(p.alg_f[p.b_cell], 0.0, p.b_G))
        self.ilu.add_diagonal(diag[:p.n])
        del diag
        a, b = p.f_a, p.f_b
        if self._ghost_pairs is not None:  # and the couplings between two ghosts
            a2, b2, ta, tb = self._ghost_pairs
            g = p.pair_conductances(a2, b2, ta, tb)
            a, b = np.concatenate([a, a2]), np.concatenate([b, b2])
            ga = np.concatenate([ga, np.where(p.alg_f[a2], 0.0, g)])
            gb = np.concatenate([gb, np.where(p.alg_f[b2], 0.0, g)])
            del g
        np.negative(ga, out=ga)
        np.negative(gb, out=gb)
        self.ilu.set_couplings(a, b, ga, gb)
        if self.coarse is not None:  # P^T S P of the stored (float32) matrix itself
            for s in range(0, p.n, CHUNK):
                cells = np.arange(s, min(p.n, s + CHUNK))
                self.coarse.add_blocks(cells, self.ilu.cell_blocks(cells).astype(float))
            cv = np.concatenate([ga.ravel(), gb.ravel()])[self._coarse_keep]
            self.coarse.build(cv.astype(np.float32).astype(float))
        del ga, gb
        self.ilu.factor()

    def _assemble(self) -> None:
        """The AIJ storage: transport entries, assembly, refactorisation."""
        p = self.p
        keep = self._transport_pos >= 0  # = self._coarse_keep
        tv = p.transport_values()[keep]
        np.negative(tv, out=tv)  # in place: two copies of the values at the peak, not three
        np.add.at(self.csr.data, self._transport_pos[keep], tv)
        if self.coarse is not None:
            self.coarse.build(tv)
        self.mat.setUnfactored()  # refactored in place (-<prefix>schur_sub_pc_factor_in_place)
        self.csr.assemble(self.mat)
        self.inner.set_operators()

    def _smooth(self, t: np.ndarray) -> np.ndarray:
        return self.ilu.solve(t) if self.ilu is not None else self.inner.solve(t)

    def _residual(self, t: np.ndarray, z: np.ndarray) -> np.ndarray:
        """:math:`t - S_Tz` with the stored :math:`S_T` (the cell storage keeps a copy
        of its blocks for this when the coarse level is on)."""
        if self.ilu is not None:
            return t - self.ilu.matvec(z)
        return self.inner.residual(t, z)

    def _inner(self, t: np.ndarray) -> np.ndarray:
        """:math:`S_T^{-1}t` approximately: the inner KSP, with the coarse correction
        and a second smoothing if :attr:`coarse` is on
        (:class:`fvqp.solvers.twolevel.AggregateCoarse`)."""
        z = self._smooth(t)
        if self.coarse is None:
            return z
        z += self.coarse.correct(self._residual(t, z).reshape(-1, self.p.N)).ravel()
        return z + self._smooth(self._residual(t, z))

    def set_point(self, xl: np.ndarray, shift: float) -> None:
        """The point and shift of the Newton matrix of the next linear solve (every
        solve, the build lagged or not): the condensed solve is exact there."""
        if self.condensed is not None:
            c = self.condensed
            c.rtol = option_value(self._outer + "ksp_rtol", c.rtol)
            c.atol = option_value(self._outer + "ksp_atol", c.atol)
            c.max_it = self._max_it  # the case's or the command line's (own, at init)
            c.set_point(xl, shift)

    def set_rtol(self, rtol: float, reach: float | None = None) -> None:
        """The relative tolerance of the coming linear solve (the protocol of
        :class:`fvqp.solvers.NonlinearSolver`; with inexact Newton it varies from solve to
        solve) and its reach (:attr:`fvqp.solvers.forcing.Forcing.reach`): the condensed
        solve's, which is that solve."""
        if self.condensed is not None:
            self.condensed.rtol = float(rtol)
            self.condensed.reach = reach

    @property
    def needs_point(self) -> bool:
        """The condensed solve must see the Newton point of every linear solve
        (:meth:`set_point`; the protocol of :mod:`fvqp.solvers.lagged`)."""
        return self.condensed is not None

    @property
    def last_iterations(self) -> int:
        """Krylov iterations of the last application (1 unless condensed)."""
        return 1 if self.condensed is None else self.condensed.last_iterations

    def counters(self) -> dict[str, list]:
        """``name -> [calls, CPU s]`` of the condensed solve's own work (its Krylov
        iterations on the QP unknowns, its exact Schur-complement actions and those of
        them in single precision), none without it (the protocol of
        :mod:`fvqp.solvers.lagged`)."""
        if self.condensed is None:
            return {}
        c = self.condensed
        return {"condensed_krylov": [c.iterations, 0.0],
                **{k: list(v) for k, v in c.cpu.items()}}

    def krylov_iterations(self) -> int | None:
        """The condensed solve's Krylov iterations so far (it is the linear solve; the
        protocol of :class:`fvqp.solvers.nonlinear.NonlinearSolver`), None without it."""
        return None if self.condensed is None else self.condensed.iterations

    def exact_residual(self) -> np.ndarray | None:
        """:math:`r - Kz` of the last application when it was the exact condensed solve
        (:meth:`.condensed.CondensedSolve.exact_residual`), else None (the protocol of
        :class:`fvqp.solvers.nonlinear.NonlinearSolver`)."""
        return None if self.condensed is None else self.condensed.exact_residual()

    def apply_into(self, r: np.ndarray, out: np.ndarray) -> None:
        """:meth:`apply` written into ``out`` (flat, owned; the condensed solve builds
        its solution there: no second state-length array at its back-substitution,
        issue 18 §1)."""
        if self.condensed is not None:
            self.condensed.solve(r, out=out)
        else:
            out[...] = self.apply(r)

    def apply(self, r: np.ndarray) -> np.ndarray:
        """:math:`K^{-1} r` (owned unknowns) with the inner solve of :math:`S_T`; with
        the condensed solve, :math:`K^{-1}r` to the outer tolerance (:mod:`.condensed`)."""
        if self.condensed is not None:
            return self.condensed.solve(r)
        p = self.p
        N, B = p.N, p.B
        r = r.reshape(-1, B)
        rf, rn = r[:, :N], r[:, N:]
        if self.phonons is not None:  # B = bd d, C = d dc; phonon blocks with D + T_ph
            u = self.phonons.solve(rn)
            t = rf - self._b_inv_d(self.d * u)
        else:
            t = rf - self._b_inv_d(rn)
        zf = self._inner(t.ravel()).reshape(-1, N)
        if self.phonons is not None:
            cz = self.d * self._inv_d_c(zf)
            zn = self.phonons.solve(rn - cz)
        else:
            zn = rn * self.inv_d - self._inv_d_c(zf)
        return np.concatenate([zf, zn], axis=1).ravel()

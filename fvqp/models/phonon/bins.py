r"""The linear systems of the phonon bins and the sweep that solves them, highest bin first.

The bins of :class:`.problem.PhononProblem` couple only downwards (anharmonic decay puts
products into lower bins), so a time step (coefficient :math:`a = \alpha_0/\Delta t`) or the
steady state (:math:`a = 0`) is one linear system per bin — per energy with ``amm_modes`` or
isotope scattering across the branches, whose L and T bins form one system
(:attr:`~.problem.PhononProblem.groups`) — solved from the highest down, each by PETSc GMRES
with block-Jacobi ILU (:class:`fvqp.solvers.linear.LinearSolver`, options under the
problem's prefix). The system of each bin and time coefficient is assembled once
(:meth:`~.problem.PhononProblem.local_matrix`, :meth:`~.problem.PhononProblem.group_matrix`)
and its KSP cached. Per-cell relaxation rates that change every sweep (``extra``: the chip
chain's film absorption minus emission, :mod:`fvqp.models.bte_chip.coupling`) go onto the
diagonal of matrices built once, in place, solved by one KSP per system size
(:class:`fvqp.solvers.diagonal.ShiftedSystems`, :meth:`BinSweeps._shifted`). Every
solution is scaled so that it keeps the bins' phonon number and energy exactly, whatever
the Krylov tolerance (:meth:`BinSweeps._conserving`).

:class:`BinSweeps` is a part of :class:`~.problem.PhononProblem` (its base class); it uses
the problem's layout (``n``, ``K``, ``B``, ``groups``), operators and right-hand sides.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace

import numpy as np
import scipy.sparse as sp

from ...parallel.blocked import BlockDistribution
from ...parallel.distribution import sum_in_place
from ...solvers.linear import LinearSolver, csr_matrix
from .monotone import certify

log = logging.getLogger("fvqp.phonon")

__all__ = ["BinSweeps", "COARSE", "FACTOR_SPREAD", "RESTART_LIMIT", "SWEEP",
           "TRANSIENT_RESTART"]

#: the isotropic coarse level (:meth:`BinSweeps._coarse_level`) in steady systems by
#: default (option ``-<prefix>coarse``: 1 for every system, 0 for none). Steady states of
#: a 100 um Si column, GMRES iterations at l = 5, 0.5, 0.05 um: one level 69, 86, 105,
#: two levels 48, 47, 43; the 8^3 block at l = 100, 10, 1, 0.1 um: 29, 40, 56, 56 against
#: 25, 25, 30, 31. Transient steps keep one level: the time term bounds the count (8 per
#: bin at 1 ns with and without); at l = 0.5 um 352 -> 304 iterations in 3 steps, but
#: 0.38 -> 0.52 s with the GAMG set-up per bin (2026-11-23)
COARSE = True
#: the bins' transient systems in sweep order (option ``-<prefix>sweep 1``; the default,
#: 0, keeps the mesh's order): every rank's unknowns renumbered ordinate by ordinate,
#: cells in the ordinate's sweep order, angle averages last
#: (:func:`fvqp.ordinates.sweeporder.coupled_order`), so PETSc's block-Jacobi ILU(0) in the
#: natural order of the renumbered matrix is the sweep — exact for the streaming of one
#: ordinate — and the Krylov count does not grow with the cells a phonon crosses in a step.
#: GMRES iterations to 1e-13 (right-hand side of a random state, one bin at the chip
#: chain's 5 ns, 8 ordinates) at 1 578, 20 640 and 78 710 cells: mesh order 21, 27, 35;
#: sweep order 20, 21, 22. In the chip chain (3 steps of 5 ns, per bin and sweep) 7.6,
#: 10.5, 14.6 against 6.6 (57 adaptive steps), 7.3, 7.4. Not the default: an iteration
#: costs 1.3-1.8x as much (a row reaches its cell's angle average and the other ordinates
#: across the vector, not beside it), so the phonon sweeps took the same CPU time within
#: 10 % at every size measured (2026-11-27, docs/theory_phonon.md)
SWEEP = False
#: GMRES restart of the transient systems (a time term) unless the case's options or the
#: command line name ``ksp_gmres_restart`` (steady systems keep the options' 200): a
#: transient solve converges in 10-30 iterations from the last step's solution, its cost
#: is memory traffic, and a basis of up to 30 vectors made the Gram-Schmidt as dear as the
#: product and the ILU solve. The same Krylov counts (right preconditioning: the true
#: residual's tolerance) and the basis's memory goes too. Measured (one core, 2026-11-29,
#: alternating pairs against 200): the chip chain at 20 640 cells x 24 ordinates, 3
#: steps of 5 ns, solves 21.3 / 22.7 -> 19.0 / 20.2 s (16.4 Krylov per bin and sweep in
#: all); at 78 710 cells 126.1 / 121.4 -> 110.5 / 109.3 s, the runs 224.8 / 219.8 -> 212.0
#: / 197.2 s, peak 8.34 -> 7.97 GB (Krylov 23.1 -> 23.4); the Si block of
#: ``benchmarks/phonon_block.py --cells 32`` (8.65e6 unknowns, 13 Krylov per solve)
#: 2.65 / 2.77 -> 2.41 / 2.29 s per step, 952 -> 791 B per unknown; the same energy
#: imbalances (docs/theory_phonon.md, *The bins' Krylov method and preconditioner, tried*)
TRANSIENT_RESTART = 10
#: ... for at most this many iterations: a solve that has not converged by then goes on
#: from where it stopped with the options' restart, which its system keeps from then
#: on: strong bulk scattering at long steps (the diffusive limit) stalls a short
#: restart. A 100 um Si column at l = 0.05 um (1 um cells, 32 ordinates), one bin
#: from zero to 1e-13: GMRES(200) 37, 98, 104, 105 iterations at steps of 1 ns, 10 ns,
#: 100 ns, 1 us; GMRES(10) 38, 135, 685, not converged in 2 000 (LGMRES(10) 43, 126, 306,
#: 496; GMRES(20) 37, 116, 443, 1 407)
RESTART_LIMIT = 50
#: the transient systems solved by one shared KSP with per-cell rates on the diagonal
#: (:meth:`BinSweeps._shifted`: the chip chain's bins) keep the block-Jacobi ILU factor
#: of an earlier bin while their diagonal is that bin's up to a scale within this
#: relative spread (:class:`fvqp.solvers.diagonal.ShiftedSystems`; option
#: ``-<prefix>factor_spread``, 0: every system factored for itself): a bin's system is
#: nearly an earlier one's times the ratio of their densities of states, and a
#: preconditioner scaled by a constant gives the same iterates. The chip chain at 20 640
#: cells x 24 ordinates, the ratio spreads to the highest bin's diagonal: 0.02-0.125 for
#: the bins above the films' pair-breaking edge, 0.59 for those below it, where the
#: films' rates are off; among those below it the spread is < 1e-6. Iterations per bin
#: and sweep with a factor of their own, with the highest bin's for the whole sweep, with
#: this rule (2 factorisations per sweep instead of 14): 16.4, 17.8, 16.5. Every sweep
#: factors its first system (a sweep depends on no earlier one: a resumed run solves with
#: the preconditioners of the uninterrupted one). Measured (one core, 3 steps of 5 ns,
#: alternating against a factor per bin, 2026-11-29): 20 640 cells x 24 ordinates,
#: solves 19.8 / 20.2 / 22.1 -> 18.0 / 16.3 / 18.5 s; 78 710 cells 113.0 -> 99.5 s, the
#: run 206.2 -> 191.3 s (Krylov 23.4 both). PETSc's block Jacobi
#: hands the kept flag on to its blocks only when it applies them, so
#: :meth:`fvqp.solvers.linear.LinearSolver.keep_preconditioner` sets it on them too
FACTOR_SPREAD = 0.25


class BinSweeps:
    """The bins' cached systems and KSPs and :meth:`sweep` (module docstring)."""

    def ksp(self, j: int, a: float) -> LinearSolver:
        """The (cached) solver of bin ``j`` and time coefficient ``a``."""
        key = (j, float(a))
        if key not in self._ksp:
            self._ksp[key] = self._solver(self.local_matrix(j, a), steady=a == 0)
        return self._ksp[key]

    def _solver(self, m: sp.csr_matrix, bdist=None, steady: bool = False) -> LinearSolver:
        """A KSP of the owned rows ``m`` (local columns; ``bdist``: its block distribution,
        default one bin's; ``steady``: a system of the steady state), with the isotropic
        coarse level where it applies (:meth:`_coarse_level`), in sweep order where that
        applies (:meth:`_order`)."""
        bdist = bdist or self.bdist
        members = bdist.bs // self.B
        csr, n_global, _ = self._global_rows(m, bdist, self._order(members, steady))
        return LinearSolver(csr_matrix(self.dist.comm, csr, n_global), self.prefix,
                            pc_context=self._coarse_level(members, steady))

    def _coarse_on(self, steady: bool) -> bool:
        """Whether a system takes the coarse level (:data:`COARSE`, ``-<prefix>coarse``)."""
        from ...solvers.linear import option_value

        return bool(option_value(self.prefix + "coarse", COARSE and steady))

    def _coarse_factory(self, members: int, steady: bool):
        """For the shared KSPs of :meth:`_shifted`: a callable giving
        :meth:`_coarse_level`'s context where the coarse level applies, else None."""
        return (lambda: self._coarse_level(members, steady)) if self._coarse_on(steady) \
            else None

    def _order(self, members: int, steady: bool) -> np.ndarray | None:
        """The sweep order of the owned unknowns of a system of ``members`` bins
        (:data:`SWEEP`; rows ``c (m B) + i B + k``), or None for the mesh's order:
        steady systems and those with the coarse level (its restriction is in the mesh's
        order), ``-<prefix>sweep 0``, or a PC named by the command line or the case
        (``-<prefix>pc_type``, ``pc_type`` of the case's options), whose order is the
        user's. Decided once per problem (every system of a run in the same numbering)."""
        if ("on", steady) not in self._orders:
            from ...solvers.linear import option_value
            from ...solvers.options import given_by_user

            named = "pc_type" in (self.petsc or {}) or given_by_user(self.prefix +
                                                                      "pc_type")
            self._orders[("on", steady)] = not (
                steady or self._coarse_on(steady) or named
                or not option_value(self.prefix + "sweep", SWEEP))
        if not self._orders[("on", steady)]:
            return None
        if members not in self._orders:
            from ...ordinates.sweeporder import cell_orders, coupled_order

            if "cells" not in self._orders:   # one bin's streaming: every bin's
                self._orders["cells"] = cell_orders(self.local_matrix(0, 1.0), self.n,
                                                    self.K)[0]
            self._orders[members] = coupled_order(self._orders["cells"], self.n, members,
                                                  members * self.B, 0)
        return self._orders[members]

    def _renumbered(self, bdist, order: np.ndarray) -> np.ndarray:
        """The global number of every local unknown (owned, then ghosts) of ``bdist``
        with every rank's owned unknowns in ``order``: its first owned row + the place in
        ``order``; a ghost's from its owner (one ghost exchange)."""
        key = ("global", bdist.bs)
        if key not in self._orders:
            place = np.empty(len(order), dtype=np.int64)
            place[order] = np.arange(len(order))
            row0 = int(bdist.global_index(0)) if len(order) else 0
            self._orders[key] = np.rint(bdist.ghosted((row0 + place).astype(float))
                                        ).astype(np.int64)
        return self._orders[key]

    def _coarse_level(self, members: int, steady: bool):
        """The two-level PC context of a system of ``members`` bins (None: one level):
        block-Jacobi ILU (the options' PC) followed by the Galerkin correction on the
        isotropic space of every cell and bin (:func:`fvqp.parallel.coarse.
        isotropic_space`, one GAMG V-cycle: the phonons' diffusion limit); by default in
        ``steady`` systems only (:data:`COARSE`), option ``-<prefix>coarse`` for all."""
        from ...parallel.coarse import isotropic_space
        from ...solvers.twolevel import GALERKIN_COARSE_DEFAULTS, TwoLevelPC

        if not self._coarse_on(steady):
            return None
        R, P = isotropic_space(self.n, self.K, self.quad.weights, members)
        return TwoLevelPC(self.dist.comm, R, P, self.prefix,
                          coarse_defaults=GALERKIN_COARSE_DEFAULTS,
                          fix=f"one level with -{self.prefix}coarse 0")

    def _global_rows(self, m: sp.csr_matrix, bdist=None, order: np.ndarray | None = None):
        """The owned rows ``m`` (local columns) with global, sorted column indices; the
        global size and the global index of the first owned row (``bdist``: as
        :meth:`_solver`). ``order``: rows and columns renumbered to every rank's owned
        unknowns in that order (:meth:`_order`, :meth:`_renumbered`)."""
        bdist = bdist or self.bdist
        if order is None:        # the rows as they are, their columns renumbered
            # a copy of the caller's matrix: sorting the renumbered rows permutes the
            # values in place (on several ranks, where ghosts' global numbers reorder a
            # row), which must not reach it
            m = sp.csr_matrix(m, copy=True)
            m.sum_duplicates()                     # (and sorts; nothing if canonical)
            g = bdist.global_index(np.arange(m.shape[1]))[m.indices]
            csr = sp.csr_matrix((m.data, g, m.indptr), shape=(m.shape[0], bdist.n_global))
        else:
            m = m.tocoo()
            new = self._renumbered(bdist, order)
            rows = new[m.row] - (int(bdist.global_index(0)) if m.shape[0] else 0)
            csr = sp.csr_matrix((m.data, (rows, new[m.col])),
                                shape=(m.shape[0], bdist.n_global))
            csr.sum_duplicates()
        csr.sort_indices()
        row0 = int(bdist.global_index(0)) if m.shape[0] else 0
        return csr, bdist.n_global, row0

    def _group_solver(self, gi: int, a: float, extra=None) -> LinearSolver:
        """The (cached unless ``extra``) solver of group ``gi``."""
        key = ("group", gi, float(a))
        if extra is not None:
            return self._solver(self.group_matrix(gi, a, extra), self._group_layout(gi),
                                a == 0)
        if key not in self._ksp:
            self._ksp[key] = self._solver(self.group_matrix(gi, a), self._group_layout(gi),
                                          a == 0)
        return self._ksp[key]

    def _group_layout(self, gi: int) -> BlockDistribution:
        """The block distribution of the systems of ``groups[gi]``."""
        m = len(self.groups[gi])
        if m not in self._group_dist:
            self._group_dist[m] = BlockDistribution(self.dist, m * self.B)
        return self._group_dist[m]

    def _extra_diagonal(self, bins, extra: np.ndarray) -> np.ndarray:
        """What ``extra`` (N, n_owned) adds to the diagonal of the system of ``bins``
        (owned rows, ``c (m B) + i B + k``): :math:`V_cg_j` times the rate on every
        ordinate row of bin ``j = bins[i]``, 0 on the angle-average rows (as
        :meth:`local_matrix`)."""
        n, K = self.n, self.K
        out = np.zeros((n, len(bins), self.B))
        for i, j in enumerate(bins):
            out[:, i, :K] = (self.states[self.reg[:n], j] * self.vol * extra[j])[:, None]
        return out.ravel()

    def _shifted(self, gi: int, a: float, extra: np.ndarray) -> LinearSolver:
        """The solver of the bins ``groups[gi]`` with the per-cell rates ``extra`` on
        its ordinates' diagonal (:class:`fvqp.solvers.diagonal.ShiftedSystems`: the
        system's matrix without them built once, its own diagonal plus
        :meth:`_extra_diagonal` — the entries :meth:`local_matrix` sums, round-off
        apart — and one KSP for all bins, with the isotropic coarse level where it
        applies, :meth:`_coarse_level`)."""
        bins = self.groups[gi]
        a, extra = self._kept_coefficient(gi, float(a), extra)
        order = self._order(len(bins), a == 0)

        def build():
            single = len(bins) == 1
            m = self.local_matrix(bins[0], a) if single else self.group_matrix(gi, a)
            self._certified[(gi, a)] = a > 0 and certify(
                m, self.n, self.K, len(bins), self.quad.weights, np.stack(
                    [self.states[self.reg[:self.n], j] * self.vol * a for j in bins],
                    axis=1))
            return self._global_rows(m, None if single else self._group_layout(gi),
                                     order)
        shift = self._extra_diagonal(bins, extra)
        return self._systems.solver((gi, a), build,
                                    shift if order is None else shift[order],
                                    self._coarse_factory(len(bins), a == 0),
                                    self._factor_spread() if a > 0 else 0.0)

    def _factor_spread(self) -> float:
        """:data:`FACTOR_SPREAD` or ``-<prefix>factor_spread`` (read once)."""
        if self._spread is None:
            from ...solvers.linear import option_value

            self._spread = max(float(option_value(self.prefix + "factor_spread",
                                                  float(FACTOR_SPREAD))), 0.0)
        return self._spread

    def _kept_coefficient(self, gi: int, a: float, extra: np.ndarray):
        r"""The time coefficient whose system of group ``gi`` is solved for ``a``, and the
        per-cell rates with the difference. With :attr:`time_reference` :math:`a_0` set
        (adaptive steps: a new :math:`1/\Delta t` at almost every step), every
        coefficient but 0 is :math:`a_0`'s matrix with :math:`a - a_0` added to the
        ``extra`` rates on its ordinates' diagonal, where :meth:`local_matrix` puts
        :math:`a` — the same system (the only other place of :math:`a` is the scale of the
        angle-average rows, which does not change the solution) — instead of one more
        cached system per step; and a resumed run solves the very systems of the
        uninterrupted one. Without it, ``a`` as given (one system per coefficient: the
        fixed steps' one or two)."""
        ref = self._solved_coefficient(a)
        return (a, extra) if ref == a else (ref, extra + (a - ref))

    def _solved_coefficient(self, a: float) -> float:
        """The time coefficient of the matrix that solves for ``a``
        (:meth:`_kept_coefficient`)."""
        ref = self.time_reference
        return a if ref is None or a == 0 else ref

    def sweep_order(self) -> np.ndarray:
        """The groups (:attr:`groups`) in the order :meth:`sweep` solves them: highest
        energy first, since decay products go to lower energies."""
        top = [self.omega[g[0]] for g in self.groups]
        return np.argsort(-np.asarray(top), kind="stable")

    def decay_coupling(self) -> np.ndarray | None:
        r"""(N, N) :math:`C_{qj} = \max_r p^{(r)}_{qj}\,g_{r,j}\gamma^A_{r,j}/g_{r,q}`: how much
        a change :math:`\le\epsilon_j` of bin ``j``'s occupations moves bin ``q``'s
        right-hand side per unit of its time term's :math:`S_q = Vg_q`
        (:meth:`add_decay_gains`: isotropic products of the angle average), over the
        regions with states of bin ``q``; None with per-ordinate decay kernels (not
        bounded here). Used to carry the stale-solution bound
        (:mod:`.monotone`) down the bins decays feed."""
        if self.decay_kernels:
            return None
        if self._decay_coupling is not None:
            return self._decay_coupling
        N = self.N
        P = self.products if self.products.ndim == 3 else self.products[None]
        R = len(self.states)
        P = np.broadcast_to(P, (R, N, N))
        g, gam = self.states, self.decay
        with np.errstate(divide="ignore", invalid="ignore"):
            c = P * (g * gam)[:, None, :] / g[:, :, None]
        c = np.where(g[:, :, None] > 0, c, 0.0)
        self._decay_coupling = np.nan_to_num(c, nan=0.0, posinf=np.inf).max(axis=0)
        return self._decay_coupling

    def solver_counts(self) -> dict:
        """What the bins' solvers did, so far: the systems of :meth:`_shifted` factored
        (``systems_factored``) and solved on a kept factor (``systems_kept_factor``,
        :data:`FACTOR_SPREAD`), the solves that failed on a kept factor and went on
        with their own (``kept_factor_failures``), and the transient systems switched
        to the options' GMRES restart (``restart_switches``, :data:`RESTART_LIMIT`)."""
        sy = self._systems
        return {"systems_factored": sy.refactored, "systems_kept_factor": sy.kept,
                "kept_factor_failures": sy.failures(),
                "restart_switches": self.restart_switches}

    def solver_state(self) -> dict:
        """What a resumed run needs to solve with the solvers of the uninterrupted one
        (JSON; :meth:`restore_solver_state`): the cached systems switched to the
        options' GMRES restart (:data:`RESTART_LIMIT`; a switched system takes it from
        the start of its later solves) and the switches counted. The kept factors need
        nothing: every sweep factors its first system (:data:`FACTOR_SPREAD`)."""
        return {"restart_switched": sorted([list(k) for k in self._switched], key=repr),
                "restart_switches": int(self.restart_switches)}

    def restore_solver_state(self, state: dict | None) -> None:
        """Inverse of :meth:`solver_state` (None, as from a checkpoint written before
        it: nothing switched)."""
        state = state or {}
        self._switched = {tuple(k) for k in state.get("restart_switched", [])}
        self.restart_switches = int(state.get("restart_switches", 0))

    def release(self) -> None:
        """Destroy the cached solvers."""
        for s in self._ksp.values():
            s.destroy()
        self._ksp.clear()
        self._systems.release()
        self._certified.clear()

    def sweep(self, a: float, hist=None, src=None, x0=None, extra=None, rtol=None):
        """All bins from the highest down (decay gains from the new states above);
        ``hist``: (N, n, K) or None; ``src``: (n, N); ``extra``: (N, n) per-cell
        relaxation rates added to every ordinate's diagonal (:meth:`local_matrix`: with
        :attr:`reuse`, on cached matrices in place under one KSP, :meth:`_shifted`; else
        systems built for this sweep only) or None; ``rtol``: a looser relative Krylov
        tolerance for this sweep only (None: the solvers' own). Returns states and KSP
        results; the wall time of the systems' setup and of the solves accumulates in
        :attr:`seconds`, their CPU time (this process) in :attr:`cpu_seconds`."""
        xs = np.zeros((self.N, self.n * self.B))
        gain = np.zeros((self.N, self.n, self.K) if self.decay_kernels else (self.N, self.n))
        res = [None] * self.N
        certified = extra is not None and self.reuse
        self._systems.forget_factors()    # the sweep's first system factored for itself
        for gi in self.sweep_order():
            bins = self.groups[gi]
            b = [self.rhs(j, None if hist is None else hist[j],
                          None if src is None else src[:, j], gain[j]) for j in bins]
            t0, c0 = time.perf_counter(), time.process_time()
            rebuild = extra is not None and not self.reuse   # a system for this sweep
            j = bins[0]
            a_mat = float(a)   # the time coefficient of the solved matrix
            # the cached system's key (:meth:`_solved`); None: one of this sweep only
            if extra is not None and self.reuse:
                ksp = self._shifted(gi, a, extra)
                a_mat = self._solved_coefficient(a_mat)   # :meth:`_kept_coefficient`
                certified = certified and self._certified.get((gi, a_mat), False)
                key = ("shifted", int(gi), a_mat)
            elif len(bins) == 1:
                ksp = self._solver(self.local_matrix(j, a, extra[j]), steady=a == 0) \
                    if rebuild else \
                    self.ksp(j, a)
                key = None if rebuild else ("bin", int(j), a_mat)
            else:
                ksp = self._group_solver(gi, a, extra)
                key = None if rebuild else ("group", int(gi), a_mat)
            t1, c1 = time.perf_counter(), time.process_time()
            tols = ksp.ksp.getTolerances()
            if rtol is not None:     # a looser relative tolerance for this sweep only
                ksp.ksp.setTolerances(rtol=max(rtol, tols[0]))
            order = self._order(len(bins), a == 0)   # the system's numbering
            try:
                if len(bins) == 1:
                    xs[j], res[j] = self._solved(ksp, a, b[0],
                                                 None if x0 is None else x0[j], order, key)
                    if res[j].success:
                        xs[j] = self._conserving(ksp, b[0], xs[j], bins, a_mat, order)
                else:   # interleaved per cell: c * (m B) + i * B + k
                    x_in = None if x0 is None else self._interleave([x0[j] for j in bins])
                    bg = self._interleave(b)
                    xg, rg = self._solved(ksp, a, bg, x_in, order, key)
                    if rg.success:
                        xg = self._conserving(ksp, bg, xg, bins, a_mat, order)
                    xg = xg.reshape(self.n, len(bins), self.B)
                    for i, j in enumerate(bins):   # the Krylov count once per group
                        xs[j], res[j] = xg[:, i].ravel(), rg if i == 0 else replace(
                            rg, iterations=0)
            finally:                 # the kept KSP's own tolerance back, whatever happened
                if rtol is not None:
                    ksp.ksp.setTolerances(*tols)
            t2, c2 = time.perf_counter(), time.process_time()
            if rebuild:
                ksp.destroy()
            self.seconds["setup"] += t1 - t0 + time.perf_counter() - t2
            self.seconds["solve"] += t2 - t1
            self.cpu_seconds["setup"] += c1 - c0 + time.process_time() - c2
            self.cpu_seconds["solve"] += c2 - c1
            for j in bins:
                if not res[j].success:
                    log.error("bin %d: KSP did not converge (reason %d)", j, res[j].reason)
                self.add_decay_gains(j, xs[j], gain)
        self.certified = certified
        return xs, res

    def _solved(self, ksp: LinearSolver, a: float, b: np.ndarray, x0: np.ndarray | None,
                order: np.ndarray | None, key: tuple | None = None):
        """:func:`_solve` of a system of time coefficient ``a``, a transient one with the
        short restart of :data:`TRANSIENT_RESTART` for at most :data:`RESTART_LIMIT`
        iterations where fvqp chooses the restart, the options' restart after
        (:meth:`fvqp.solvers.linear.LinearSolver.use_short_restart`; counted in
        :attr:`restart_switches`). ``key``: the cached system's (its switch is its own,
        although systems share a KSP, and a checkpoint keeps it: :meth:`solver_state`);
        None: a system of this sweep only."""
        if a > 0 and self._restart_is_ours():
            from .problem import DEFAULT_PETSC

            ksp.use_short_restart(TRANSIENT_RESTART, RESTART_LIMIT,
                                  DEFAULT_PETSC["ksp_gmres_restart"])
            if key is not None:
                ksp.set_restart_switched(key in self._switched)
        before = ksp.restart_switched
        out = _solve(ksp, b, x0, order)
        if ksp.restart_switched and not before:
            self.restart_switches += 1
            if key is not None:
                self._switched.add(key)
        return out

    def _restart_is_ours(self) -> bool:
        """Whether fvqp chooses the transient systems' GMRES restart: neither the case's
        options nor the command line name ``ksp_gmres_restart``."""
        if self._restart_ours is None:
            from ...solvers.options import given_by_user

            key = "ksp_gmres_restart"
            self._restart_ours = key not in (self.petsc or {}) and not given_by_user(
                self.prefix + key)
        return self._restart_ours

    def _conserving(self, ksp: LinearSolver, b: np.ndarray, x: np.ndarray, bins,
                    a: float, order: np.ndarray | None) -> np.ndarray:
        r"""The Krylov solution ``x`` of the system of ``bins`` (matrix coefficient ``a``,
        numbering ``order``: as :func:`_solve`) scaled by :math:`1 + \alpha` so that it
        keeps the bins' phonon number and energy exactly: with :math:`r = b - Ax` and
        the balance weights :math:`\ell` (:meth:`~.problem.PhononProblem.
        bin_balance_weights`), :math:`\alpha = \ell^Tr/\ell^TAx` makes
        :math:`\ell^T(b - A(1+\alpha)x) = 0` (:math:`Ax = b - r`: one product with the
        matrix, no solve). The Krylov tolerance then sets the accuracy only: the
        imbalance a residual of relative size :math:`\epsilon` leaves, about
        :math:`3\epsilon` of the deposit, is removed (the uniform relative change,
        :math:`|\alpha| \lesssim \epsilon`, keeps every occupation's sign). Collective."""
        w = self.bin_balance_weights(bins, a)
        if order is not None:     # the system's numbering
            b, w = b[order], w[order]
        r = ksp.residual(b, x if order is None else x[order])
        lr = w @ r
        sums = np.array([lr, w @ b - lr])          # l^T r, l^T A x
        sum_in_place(self.dist.comm, sums)
        if not (np.isfinite(sums).all() and sums[1] != 0.0):
            return x
        return x * (1.0 + sums[0] / sums[1])

    def _interleave(self, parts: list) -> np.ndarray:
        """Per-bin owned vectors (n B each) as one group vector (cell-major)."""
        return np.stack([p.reshape(self.n, self.B) for p in parts], axis=1).ravel()


def _solve(ksp: LinearSolver, b: np.ndarray, x0: np.ndarray | None,
           order: np.ndarray | None):
    """``ksp.solve_from(b, x0)`` for a system whose owned unknowns are numbered in
    ``order`` (:meth:`BinSweeps._order`; None: as given): ``b`` and ``x0`` taken into
    that order, the solution back to the caller's."""
    if order is None:
        return ksp.solve_from(b, x0)
    x, res = ksp.solve_from(b[order], None if x0 is None else x0[order])
    out = np.empty_like(x)
    out[order] = x
    return out, res

r"""``[gap] model = "eliashberg"``: the gap of every cell from the Eliashberg self-energies
with the cell's own occupations (issue 16 §2).

The BCS rule of :mod:`.selfgap` (notes Eq. 1, weak coupling) is replaced by the real-axis
Eliashberg equations (notes Eqs. 180-186) with the cell's angle-averaged QP occupation
:math:`\bar f` on its bins and its phonon occupation (the local phonons of
``[collisions] phonons = "local"``, else thermal at the bath):
:class:`fvqp.eliashberg.cellgap.CellGaps`, one per region, gives the gap edge
:math:`\mathcal G_E[\bar f]` (warm-started from the cell's previous
:math:`\Delta(\epsilon)`; energies converted with the region material's :math:`k_BT_c`).
The kinetics keep the BCS bins of every cell at that edge (storage, flux and collision
DOS of :mod:`.media`, :mod:`.gapcollide`): the Eliashberg solution enters through
the gap edge only, not through the shape of its DOS or the renormalisation :math:`m`.

Self-consistency with the state as in :mod:`.selfgap`: states keep :math:`\xi`
(:func:`.gapshift.shift_gap`), and the gap of a cell is the root of
:math:`F(\Delta) = \mathcal G_E[S_{\Delta_c\to\Delta}f] - \Delta`. Every evaluation of
:math:`F` is an Eliashberg solve, so the root is found by the secant method from the
cell's current gap (:math:`\Delta_1 = \Delta_c - F(\Delta_c)/F'` with the slope
:math:`F'` of the cell's last root, :math:`\Delta_c + F(\Delta_c)` before there is one,
then secant steps: 3-4 solves per step and distinct cell in the pulse of
``cases/bte_selfgap_eliashberg.toml``, none for a cell whose tables did not change), to
``tol`` :math:`\cdot\Delta_c` with ``tol`` at least :data:`TOL` (the solver's own precision,
:math:`10^{-9}\,k_BT_c` on :math:`\Delta(\epsilon)`, sets the floor). Non-convergence
is reported, not raised: a secant that does not meet the tolerance, or an Eliashberg
solve that fails in a cell (:class:`~fvqp.eliashberg.EliashbergConvergenceError`, caught
per cell: that cell keeps its gap), gives ``GapUpdate.converged = False``, which every rank
learns (:func:`.gapdynamics.collective`) and the run stops on with a status; a failure in
the thermal start is a :class:`~fvqp.solvers.ConvergenceError` on every rank.

Units: the grid's (internal energies).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ...eliashberg import COUPLING, EliashbergConvergenceError, EliashbergParams
from ...eliashberg.cellgap import CellGaps
from ...spectra.bins import BinGrid
from .cellspectra import CellSpectra, eliashberg_tables
from .gapshift import shift_gap, shift_states, state_edges
from .selfgap import GapUpdate, log

__all__ = ["CACHE_TOL", "TOL", "EliashbergGaps", "gap_model", "refusals"]

#: lowest relative tolerance of the root (the Eliashberg fixed point is solved to 1e-9)
TOL = 1e-8
#: cells whose tables (f, n) differ by at most this from a solved cell's reuse its edge
#: (:class:`fvqp.eliashberg.cellgap.CellGaps`; tests/test_bte_eliashberg_gap.py: the
#: gaps equal those without reuse)
CACHE_TOL = 1e-12


def gap_model(sim, delta0: np.ndarray, held: np.ndarray) -> EliashbergGaps | None:
    """The ``[gap] model`` of a run: None for ``"bcs"`` (:mod:`.selfgap`); with
    ``[spectrum] kind = "eliashberg"`` the kinetics take every cell's whole Eliashberg
    spectrum (``shape``)."""
    d = sim.case.values
    if d["gap"].get("model", "bcs") != "eliashberg":
        return None
    return EliashbergGaps(sim, delta0, held,
                          shape=d["spectrum"].get("kind", "bcs") == "eliashberg")


class EliashbergGaps:
    """Eliashberg gaps of the owned cells (module docstring); the methods mirror
    :func:`.selfgap.local_gaps` and :func:`.selfgap.consistent_gaps`.

    ``phonons``: None (thermal phonons at the bath) or a callable returning the phonon
    energies (M,) and the owned cells' occupations (n_owned, M) of the current state
    (None before there is one)."""

    def __init__(self, sim, delta0: np.ndarray, held: np.ndarray, *,
                 cache_tol: float = CACHE_TOL, shape: bool = False):
        u, loc = sim.units, sim.dist.local
        self.region = np.asarray(loc.cell_region[: loc.n_owned])
        self.dist = sim.dist
        #: the kinetics use every cell's whole spectrum (:meth:`spectra`), not only its edge
        self.shape = bool(shape)
        self.phonons: Callable[[], tuple[np.ndarray, np.ndarray]] | None = None
        self.solvers: dict[int, tuple[CellGaps, float]] = {}
        #: dF/dDelta of every owned cell's last root (NaN: none yet), the secant's start
        self.slope = np.full(len(self.region), np.nan)
        need = set(self.region[(np.asarray(delta0) > 0) & ~np.asarray(held, dtype=bool)])
        for r in sorted(need):
            mat = sim.materials[r]
            scale = mat.Tc / u.Tc                   # k_B Tc of the material, internal
            cg = CellGaps(EliashbergParams.from_material(mat), sim.T_bath / scale,
                          cache_tol=cache_tol, keep_solutions=self.shape)
            self.solvers[int(r)] = (cg, scale)

    def gaps(self, phi: np.ndarray, grid: BinGrid, trial: np.ndarray, cells: np.ndarray
             ) -> np.ndarray:
        r""":math:`\mathcal G_E` of owned ``cells`` whose occupations ``phi`` (m, N) lie on
        the bins of the gaps ``trial`` (m,): the bins with states, each at the energy of
        its mid state :math:`E(\tfrac12(\xi_a + \xi_b))` (a bin holds the
        :math:`\xi`-average of :math:`f`, exact at that state for :math:`f` linear in
        :math:`\xi`; a bin appearing at the gap edge enters at :math:`E = \Delta`, so
        :math:`\mathcal G_E` is continuous in the trial gap)."""
        ph = None if self.phonons is None else self.phonons()
        out = np.empty(len(cells))
        xi = state_edges(grid, np.asarray(trial, dtype=float))
        for k, c in enumerate(np.asarray(cells, dtype=int)):
            cg, sc = self.solvers[int(self.region[c])]
            live = grid.edges[1:] > trial[k]
            mid = 0.5 * (xi[k, :-1] + xi[k, 1:])[live]       # the bins' mid states
            e = np.sqrt(mid**2 + trial[k] ** 2)
            om, nb = (None, None) if ph is None else (ph[0] / sc, ph[1][c])
            try:
                out[k] = sc * cg.edge(int(c), e / sc, phi[k, live], om, nb)
            except EliashbergConvergenceError as exc:  # reported by the callers (NaN)
                log.warning("Eliashberg gap of cell %d: %s", int(c), exc)
                out[k] = np.nan
        return out

    def spectra(self, grid: BinGrid, gaps: np.ndarray) -> CellSpectra:
        r"""The owned cells' spectra at their ``gaps`` (:mod:`.cellspectra`): every cell
        with an Eliashberg solver from the solution of its last edge
        (:func:`.cellspectra.eliashberg_tables`, energies in the material's
        :math:`k_BT_c`), the others (normal cells) BCS. Cells that share a solution
        (reused between cells with equal tables, :class:`~fvqp.eliashberg.cellgap.
        CellGaps`) and a gap share one table."""
        gaps = np.asarray(gaps, dtype=float)
        out = CellSpectra.bcs(grid, gaps)
        done: dict = {}                  # (solution, gap) -> the cell that has its table
        for c in np.flatnonzero(gaps > 0):
            entry = self.solvers.get(int(self.region[c]))
            if entry is None:
                continue
            cg, sc = entry
            sol = cg.solution(int(c))
            if sol is None:
                raise RuntimeError(f"no Eliashberg solution for owned cell {int(c)}: its "
                                   "gap was not solved before its spectrum was asked for")
            first = done.setdefault((id(sol), gaps[c]), c)
            t = (eliashberg_tables(sol, grid.edges / sc, gaps[c] / sc) if first == c else
                 (out.states[first], out.rho[first], out.ados[first]))
            out.states[c], out.rho[c], out.ados[c] = t
        return out

    def local(self, phi: np.ndarray, grid: BinGrid, delta0: np.ndarray,
              held: np.ndarray | None = None, current: np.ndarray | None = None,
              iterate: bool = False) -> np.ndarray:
        r"""Gaps of every owned cell from ``phi`` (C, N) on the bins of ``current``, no
        remap (held and normal cells as :func:`.selfgap.local_gaps`).

        ``iterate`` (the thermal start with every cell's spectrum, :attr:`shape`): for a
        ``phi`` whose values hold at any gap (:math:`f_{FD}` at the bin nodes), the gap
        is the fixed point :math:`\Delta = \mathcal G_E[\phi]` read on the bins of
        :math:`\Delta` itself (:meth:`gaps` places a bin's value at its mid state, which
        depends on the gap), iterated from ``current`` until it moves by at most
        ``0.1 TOL`` (a few warm-started solves), so that the first update does not move
        a thermal state."""
        cur = np.asarray(current, dtype=float)
        out = np.where(np.asarray(delta0) > 0, cur, 0.0)
        free = np.asarray(delta0) > 0
        if held is not None:
            free &= ~np.asarray(held, dtype=bool)
        cells = np.flatnonzero(free)
        ph = np.asarray(phi, float)[cells]
        trial = cur[cells]
        done, change = not iterate, 0.0
        for _ in range((20 if iterate else 1) if len(cells) else 0):
            new = self.gaps(ph, grid, trial, cells)
            change = float(np.max(np.abs(new - trial) / new))
            done = not np.all(np.isfinite(new)) or change <= 0.1 * TOL
            trial = new
            if done:
                break
        if iterate and len(cells) and not done:   # reported; the first update moves them
            log.warning("the thermal start's Eliashberg gaps did not settle on their own "
                        "bins in 20 iterations (last change %.3g of the gap); the first "
                        "update will move them", change)
        if len(cells):
            out[cells] = trial
        if self.dist.max(float(np.isnan(out).any())):   # collective: every rank raises
            from ...solvers import ConvergenceError

            raise ConvergenceError("the Eliashberg gap equations did not converge in a cell "
                                   "(see the warning above). Fix: check the material's "
                                   "coupling, or hold the region's gap ([gap] hold).")
        return out

    def consistent(self, f: np.ndarray, grid: BinGrid, delta: np.ndarray,
                   delta0: np.ndarray, average: Callable[[np.ndarray], np.ndarray], *,
                   held: np.ndarray | None = None, tol: float = TOL,
                   max_iterations: int = 20, spectra: CellSpectra | None = None
                   ) -> GapUpdate:
        """Self-consistent gaps of the state ``f`` (C, N, ...) on the bins of ``delta``
        by the secant method (module docstring); arguments as
        :func:`.selfgap.consistent_gaps`. With :attr:`shape`, ``spectra`` are the owned
        cells' current spectra: the state is remapped from them to the spectra of the
        new solutions (returned as ``GapUpdate.spectra``)."""
        if self.shape and spectra is None:
            raise ValueError("the Eliashberg spectra of the cells need their current "
                             "tables (spectra=)")
        tol = max(float(tol), TOL)
        fa_ = np.asarray(f, dtype=float)
        d_c = np.asarray(delta, dtype=float)
        d0 = np.asarray(delta0, dtype=float)
        out = np.where(d0 > 0, d_c, 0.0)
        free = d0 > 0 if held is None else (d0 > 0) & ~np.asarray(held, dtype=bool)
        cells = np.flatnonzero(free)
        lo = float(grid.edges[0])

        def resid(idx: np.ndarray, x: np.ndarray) -> np.ndarray:
            fx = shift_gap(fa_[idx], grid, d_c[idx], x)
            return self.gaps(average(fx), grid, x, idx) - x

        iterations, change, ok, below = 0, 0.0, True, 0
        failed = np.zeros(0, dtype=int)
        if len(cells):
            x0 = d_c[cells]
            f0 = resid(cells, x0)
            failed = cells[np.isnan(f0)]
            move = np.abs(f0) > tol * x0           # False for NaN: a failed cell stays
            cells, x0, f0 = cells[move], x0[move], f0[move]
        if len(cells):
            hi = 2.0 * d0[cells]
            sl = self.slope[cells]
            good = np.isfinite(sl) & (sl < 0)
            x1 = np.clip(np.where(good, x0 - f0 / np.where(good, sl, -1.0), x0 + f0), lo, hi)
            f1 = resid(cells, x1)
            f1 = np.where(np.isnan(f1), np.inf, f1)
            iterations = 1
            done = (np.abs(f1) <= tol * x1) | np.isinf(f1)   # a failed cell stops
            while not np.all(done) and iterations < max_iterations:
                a = ~done
                den = f1[a] - f0[a]
                x2 = np.where(den != 0, x1[a] - f1[a] * (x1[a] - x0[a])
                              / np.where(den != 0, den, 1.0), x1[a])
                x2 = np.clip(x2, lo, hi[a])
                f2 = resid(cells[a], x2)
                f2 = np.where(np.isnan(f2), np.inf, f2)   # a failed solve: not converged
                x0[a], f0[a] = x1[a], f1[a]
                x1[a], f1[a] = x2, f2
                iterations += 1
                done = ((np.abs(f1) <= tol * x1) | (np.abs(x1 - x0) <= 1e-3 * tol * x1)
                        | np.isinf(f1))
            change = float(np.max(np.abs(f1) / x1))
            ok = bool(np.all(np.abs(f1) <= tol * x1))
            # held at the grid's first edge with the root below it
            below = int(np.sum((x1 <= lo) & (f1 < 0) & ~(np.abs(f1) <= tol * x1)))
            out[cells] = np.where(np.isfinite(f1), x1, d_c[cells])
            with np.errstate(divide="ignore", invalid="ignore"):
                self.slope[cells] = np.where(x1 != x0, (f1 - f0) / (x1 - x0), np.nan)
        if len(failed):
            ok, change = False, np.inf
        if not ok:
            log.warning("Eliashberg gap not converged in %d secant steps (last change %.3g "
                        "of the gap, tolerance %.3g)", iterations, change, tol)
        if not self.shape:
            return GapUpdate(out, shift_gap(fa_, grid, d_c, out), iterations, ok, change,
                             below)
        new = self.spectra(grid, out)
        # a cell whose gap stayed keeps its spectrum while the tables move by less than
        # the root's tolerance (the solver's own noise would remap its states each time)
        same = (out == d_c) & np.all(np.abs(new.states - spectra.states)
                                     <= TOL * np.max(np.abs(spectra.states), axis=1,
                                                     keepdims=True), axis=1)
        for a, b in ((new.states, spectra.states), (new.rho, spectra.rho),
                     (new.ados, spectra.ados)):
            a[same] = b[same]
        return GapUpdate(out, shift_states(fa_, spectra.edges(grid), new.edges(grid)),
                         iterations, ok, change, below, new)

    def counters(self) -> dict:
        """Solves, sweeps and cached edges of all ranks."""
        tot = np.zeros(3)
        for cg, _ in self.solvers.values():
            tot += (cg.solves, cg.sweeps, cg.reused)
        s = [int(self.dist.sum(float(v))) for v in tot]
        return {"eliashberg_solves": s[0], "eliashberg_sweeps": s[1],
                "eliashberg_reused": s[2]}


def refusals(data: dict) -> list[tuple[str, str]]:
    """Active superconducting regions of ``[gap] model = "eliashberg"`` whose material has
    no electron-phonon coupling (no alpha2F): (region, material) pairs."""
    from ...materials import UnknownMaterialError, get_material

    hold = set((data.get("gap") or {}).get("hold") or [])
    bad = []
    for name, reg in data["regions"].items():
        if not reg.get("active", True) or reg.get("normal") or name in hold:
            continue
        try:
            mat = get_material(reg["material"])
        except (UnknownMaterialError, KeyError):
            continue
        if mat.name not in COUPLING or mat.debye_temperature is None:
            bad.append((name, mat.name))
    return bad

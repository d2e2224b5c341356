r"""Transport steps with a gap that follows the quasiparticles (issue 16 §2), collisionless.

One step of :func:`gap_step`: the per-bin backward-Euler step of :class:`.problem.BTEProblem`
at the frozen cell gaps :math:`\Delta_c` (storage :math:`\bar\rho(\Delta_c)`, flux
:math:`v_F\bar D_L(\Delta_c)`, turning points at the faces between gaps, :mod:`.media`),
then the gaps made self-consistent with the new state (:func:`.selfgap.consistent_gaps`, a
converged fixed point to ``tol`` with non-convergence reported) while every state keeps
its :math:`\xi` (:func:`.gapshift.shift_gap`, the energy shift
:math:`\dot E = (\Delta/E)\dot\Delta`), and the operators rebuilt at the new gaps. A
Lie splitting, first order in the step: the transport sees the gap of the step's start.
QP number is conserved by both parts (the step to the solver tolerance, the gap update
to round-off). On several ranks every rank solves the gaps of its owned cells from their
own occupations (Eq. 1 is local) and the ghost cells' gaps come from the distribution's
ghost exchange (:meth:`fvqp.parallel.Distribution.ghosted`) before the operators are
rebuilt; convergence is decided on all ranks together.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .cellspectra import CellSpectra
from .problem import BTEProblem
from .selfgap import GapUpdate, consistent_gaps, local_gaps

__all__ = ["collective", "consistent_state", "extrapolated_gaps", "gap_step", "gap_update",
           "per_bin", "per_cell", "rebuilt", "thermal_start"]


def per_cell(p: BTEProblem, x: np.ndarray) -> np.ndarray:
    """Unknowns (N, n B) of the per-bin layout as (n, N, B)."""
    return x.reshape(p.N, p.n, p.B).transpose(1, 0, 2)


def per_bin(p: BTEProblem, y: np.ndarray) -> np.ndarray:
    """(n, N, B) back to the per-bin layout (N, n B)."""
    return np.ascontiguousarray(y.transpose(1, 0, 2)).reshape(p.N, p.n * p.B)


def rebuilt(p: BTEProblem, owned_gaps: np.ndarray, spectra=None) -> BTEProblem:
    """The problem at new gaps of the owned cells (ghost cells' gaps exchanged); the
    old problem's solvers are released. A problem with per-cell spectra
    (:mod:`.cellspectra`) needs the owned cells' ``spectra`` at the new gaps (their
    ghosts exchanged too); at unchanged gaps it keeps its own."""
    owned_gaps = np.asarray(owned_gaps, dtype=float)
    tables = None
    if spectra is None and p.cell_spectra is not None:
        if not np.array_equal(owned_gaps, p.cell_gaps()):
            raise ValueError("the cells' spectra are tables of their Eliashberg solutions: "
                             "new gaps need their spectra (rebuilt(..., spectra=))")
        spectra = p.owned_spectra()
    if spectra is not None:
        from ...parallel.blocked import BlockDistribution

        st = spectra.stacked()
        tables = CellSpectra.unstacked(BlockDistribution(p.dist, st.shape[1]).ghosted(
            st.ravel()).reshape(-1, st.shape[1]))
    p.release()
    return dataclasses.replace(p, cell_gap=p.dist.ghosted(owned_gaps), cell_spectra=tables)


def collective(dist, up: GapUpdate) -> GapUpdate:
    """``up`` with ``converged`` and ``change`` of all ranks (every rank decides alike)."""
    bad = dist.max(0.0 if up.converged else 1.0)
    return dataclasses.replace(up, converged=bad == 0.0, change=dist.max(up.change),
                               iterations=int(dist.max(up.iterations)),
                               below=int(dist.sum(float(up.below))))


def gap_update(p: BTEProblem, x: np.ndarray, delta0: np.ndarray, *, held=None,
               tol: float = 1e-12, model=None) -> tuple[BTEProblem, np.ndarray, GapUpdate]:
    """The gaps of the state ``x`` (per-bin layout) made self-consistent
    (:func:`.selfgap.consistent_gaps`, or ``model.consistent`` of
    :class:`.eliashberg_gaps.EliashbergGaps`; collective): ``(problem at the new gaps,
    x remapped onto them, GapUpdate)``."""
    up = consistent_state(p, x, delta0, held=held, tol=tol, model=model)
    q = rebuilt(p, up.delta, up.spectra)
    return q, per_bin(q, up.f), up


def consistent_state(p: BTEProblem, x: np.ndarray, delta0: np.ndarray, *, held=None,
                     tol: float = 1e-12, model=None) -> GapUpdate:
    """The self-consistent gaps of the owned cells for the state ``x`` (per-bin layout) and
    the state remapped onto them (per cell), collective; the problem is left as it is
    (:func:`gap_update` rebuilds it; the corrector of :class:`.gapsteps.Collisionless`
    only needs the gaps)."""
    w = p.quad.weights
    solve = consistent_gaps if model is None else model.consistent
    extra = {"spectra": p.owned_spectra()} if getattr(model, "shape", False) else {}
    return collective(p.dist, solve(per_cell(p, x), p.grid, p.cell_gaps(), delta0,
                                    lambda y: y[:, :, : p.K] @ w, held=held, tol=tol,
                                    **extra))


def thermal_start(p: BTEProblem, f0: np.ndarray, delta0: np.ndarray, *, held=None,
                  model=None) -> tuple[BTEProblem, np.ndarray, GapUpdate]:
    r"""The isotropic state with occupation ``f0`` (N,) on the bins, at its own
    self-consistent gap :math:`\Delta = \mathcal G[f_0]` (no remap: for a thermal
    ``f0`` an equilibrium at that gap, which collisions with the bath keep exactly):
    ``(problem, x, GapUpdate)``. Held cells keep their gap, normal cells 0; ``model``:
    the Eliashberg gaps of :mod:`.eliashberg_gaps` (None: BCS)."""
    phi = np.broadcast_to(np.asarray(f0, dtype=float), (p.n, p.N))
    shape = getattr(model, "shape", False)
    if model is None:
        d = local_gaps(phi, p.grid, delta0, held, p.cell_gaps())
    else:   # with every cell's spectrum: the gaps' fixed point on their own bins
        d = model.local(phi, p.grid, delta0, held, p.cell_gaps(), iterate=shape)
    spectra = model.spectra(p.grid, d) if shape else None
    q = rebuilt(p, d, spectra)
    return q, q.equilibrium(np.asarray(f0, dtype=float)), GapUpdate(d, phi, 0, True, 0.0,
                                                                    0, spectra)


def gap_step(p: BTEProblem, x: np.ndarray, t: float, dt: float, delta0: np.ndarray, *,
             held=None, tol: float = 1e-12):
    """One backward-Euler step with the gap update (module docstring).

    Returns ``(problem at the new gaps, x, GapUpdate, KSP results)``."""
    xn, res = p.step(x, None, t, dt)
    q, xq, up = gap_update(p, xn, delta0, held=held, tol=tol)
    return q, xq, up, res


def extrapolated_gaps(gaps: np.ndarray, previous: np.ndarray, delta0: np.ndarray, held,
                      floor: float, ratio: float = 1.0) -> np.ndarray:
    r"""Gaps at the end of the next step from the last two,
    :math:`\Delta^* = \Delta^n + w(\Delta^n - \Delta^{n-1})` with :math:`w` = ``ratio``
    of the next step to the last (:math:`\Delta(t_{n+1}) + O(\Delta t^2)`; equal steps:
    :math:`2\Delta^n - \Delta^{n-1}`), per owned cell, within [``floor`` (the grid's
    first edge), :math:`\Delta_0`]; held and normal cells keep their gap."""
    free = np.asarray(delta0) > 0
    if held is not None:
        free &= ~np.asarray(held, dtype=bool)
    lin = 2.0 * gaps - previous if ratio == 1.0 else gaps + ratio * (gaps - previous)
    star = np.clip(lin, floor, np.maximum(delta0, floor))
    return np.where(free, star, gaps)

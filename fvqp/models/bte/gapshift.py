r"""The energy shift of quasiparticles when the gap of a cell changes in time.

A QP state is labelled by its momentum, i.e. by :math:`\xi` (notes Eq. 58,
:math:`E^2 = \xi^2 + \Delta(\mathbf x, t)^2`). Where :math:`\Delta` changes in time but not
in space, :math:`\dot{\mathbf k} = -\nabla_xE = 0` (notes Eq. 56), so every state keeps its
:math:`\xi` and its occupation while its energy moves,

.. math::
    \dot E = \frac{\partial E}{\partial t}\Big|_{\mathbf k} = \frac{\Delta}{E}\,\dot\Delta ,

and the phase-space volume is conserved (notes Eqs. 55–56 cancel). In energy space this is
the conservative term :math:`\partial_t(\rho f) + \partial_E(\rho\dot Ef) = 0` of Eq. 52
projected with Eq. 61 (the :math:`\partial_\epsilon f\,\partial_t\phi_1` term of Eq. 170 in
the BCS limit :math:`\phi_1 = \Delta`, :math:`Z_1 = 1`); its flux
:math:`\rho\dot E f = \Delta\dot\Delta f/\sqrt{E^2 - \Delta^2}` is singular at the gap edge,
so it is applied here exactly, as a remap in :math:`\xi`, not as a flux between bins:

* bin :math:`j` of the absolute grid, :math:`[a_j, b_j]`, holds the states
  :math:`\xi \in [s(\max(a_j, \Delta)), s(b_j)]`, :math:`s(E) = \sqrt{E^2 - \Delta^2}`,
  :math:`h\bar\rho_j = s(b_j) - s(\max(a_j, \Delta))` of them (the exact bin average of
  :func:`fvqp.spectra.bins.cell_spectra`, the model's storage);
* ``f`` is reconstructed linearly in :math:`\xi` on every bin (minmod-limited slopes
  between the neighbours' averages: non-negative for :math:`f \ge 0`, second order where
  smooth), the number of QPs below :math:`\xi`, :math:`Q(\xi) = \int_0^\xi f\,d\xi'`,
  integrated exactly, and the new bins' occupations are
  :math:`f'_j = [Q(s'(b_j)) - Q(s'(\max(a_j, \Delta')))] / (h\bar\rho'_j)` with the new gap
  :math:`\Delta'`. This is the exact solution of :math:`\dot E = (\Delta/E)\dot\Delta` for
  the reconstructed state, projected on the new bins.

The QP number :math:`\sum_jh\bar\rho_jf_j` is conserved to round-off: states that leave
the top of the grid (:math:`\Delta` rising) are put in the last bin, and the gap may not
fall below the grid's first edge (states there would have no bin: :class:`ValueError`).
The energy of every state changes by :math:`\int(\Delta/E)\dot\Delta\,dt` exactly; the
discrete energy :math:`\sum_jh\bar\rho_jE_jf_j` (bin nodes :math:`E_j`) follows it to the
grid's accuracy (``tests/test_bte_gapshift.py``). Any trailing axes of ``f`` (ordinates,
the angle average) are remapped alike: the direction of a state does not change.

Units: those of the grid (internal energies).
"""

from __future__ import annotations

import numpy as np

from ...spectra.bins import BinGrid

__all__ = ["shift_gap", "shift_states", "state_edges"]


def state_edges(grid: BinGrid, delta: np.ndarray) -> np.ndarray:
    r""":math:`\xi` of every bin edge of cells with gaps ``delta`` (C,): shape (C, N + 1),
    :math:`s(\max(E, \Delta))` (0 at and below the gap)."""
    d = np.asarray(delta, dtype=float)[:, None]
    e = np.maximum(grid.edges[None, :], d)
    return np.sqrt((e - d) * (e + d))


def shift_gap(f: np.ndarray, grid: BinGrid, delta_old: np.ndarray, delta_new: np.ndarray
              ) -> np.ndarray:
    r"""Occupations after the gaps of the cells change from ``delta_old`` to
    ``delta_new`` (module docstring).

    Parameters
    ----------
    f : ndarray, shape (C, N, ...)
        Occupation per cell and bin (trailing axes, e.g. ordinates, remapped alike).
    grid : BinGrid
    delta_old, delta_new : ndarray, shape (C,)
        Gaps before and after (``0``: a normal cell, whose states do not move).

    Returns
    -------
    ndarray, shape of ``f``
        New occupations; ``0`` in bins without states.

    Raises
    ------
    ValueError
        If a new gap lies below the grid's first edge (the lowest states would have no
        bin; start the grid lower).
    """
    f = np.asarray(f, dtype=float)
    d0, d1 = np.asarray(delta_old, dtype=float), np.asarray(delta_new, dtype=float)
    low = (d1 > 0) & (d1 < grid.edges[0] * (1 - 1e-12))
    if np.any(low):
        raise ValueError(f"a gap of {d1[low].min():.6g} lies below the first bin edge "
                         f"{grid.edges[0]:.6g} of the energy grid: start the grid lower")
    return shift_states(f, state_edges(grid, d0), state_edges(grid, d1))


def shift_states(f: np.ndarray, xi_old: np.ndarray, xi_new: np.ndarray) -> np.ndarray:
    r"""Occupations after the states of every cell move from the bins of the
    :math:`\xi` edges ``xi_old`` to those of ``xi_new`` (both (C, N + 1), increasing
    from 0: :func:`state_edges`, or :meth:`.cellspectra.CellSpectra.edges` of any
    spectrum), every state keeping its :math:`\xi` and occupation (module docstring);
    ``f`` (C, N, ...) as in :func:`shift_gap`. Cells with equal edges are copied.
    Vectorised over the cells (a loop over cells was 57 % of a per-cell-gap step of the
    absorber: the gap iteration remaps every free cell several times)."""
    f = np.asarray(f, dtype=float)
    x0, x1 = np.asarray(xi_old, dtype=float), np.asarray(xi_new, dtype=float)
    tail = f.shape[2:]
    flat = f.reshape(f.shape[0], f.shape[1], -1)
    out = flat.copy()
    moved = np.flatnonzero(np.any(x0 != x1, axis=1))
    for lo in range(0, len(moved), _CHUNK):
        c = moved[lo: lo + _CHUNK]
        out[c] = _remap(flat[c], x0[c], x1[c])
    return out.reshape(f.shape[:2] + tail)


#: cells remapped at once (bounds the (cells, N + 1, N + 1) comparison of the bin search)
_CHUNK = 2048


def _slopes(f: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Minmod-limited slopes in xi of bin averages ``f`` (C, N, T) on edges ``x``
    (C, N + 1) of every cell: the linear reconstruction stays between the neighbours'
    averages (so >= 0 for f >= 0); 0 in bins without states, in the lowest bin with
    states and in the top bin. The bins with states are the top ones of every cell (the
    edges rise from 0), so the neighbours of a bin with states are its adjacent bins."""
    w = np.diff(x, axis=1)
    has = w > 0
    cen = 0.5 * (x[:, :-1] + x[:, 1:])
    dc = np.diff(cen, axis=1)
    both = has[:, :-1] & has[:, 1:]
    d = np.divide(np.diff(f, axis=1), dc[:, :, None], out=np.zeros(f[:, 1:].shape),
                  where=both[:, :, None])
    a, b = d[:, :-1], d[:, 1:]
    inner = (has[:, :-2] & has[:, 1:-1] & has[:, 2:])[:, :, None]
    sl = np.zeros_like(f)
    sl[:, 1:-1] = np.where(inner & (a * b > 0),
                           np.sign(a) * np.minimum(np.abs(a), np.abs(b)), 0.0)
    return sl


def _remap(f: np.ndarray, x0: np.ndarray, x1: np.ndarray) -> np.ndarray:
    """Bin averages (C, N, T) on the state edges ``x1`` (C, N + 1) of the
    piecewise-linear reconstruction of ``f`` on ``x0``; beyond the old top the last
    bin's line is cut off and its states are kept in the new last bin (number
    conserved)."""
    n = x0.shape[1] - 1
    if np.any(np.diff((np.diff(x0, axis=1) > 0).astype(np.int8), axis=1) < 0):
        raise ValueError("a cell's bins with states are not its top bins (xi edges must "
                         "rise from 0)")
    w0 = np.diff(x0, axis=1)
    cen = 0.5 * (x0[:, :-1] + x0[:, 1:])
    sl = _slopes(f, x0)
    q = np.concatenate([np.zeros((f.shape[0], 1, f.shape[2])),
                        np.cumsum(w0[:, :, None] * f, axis=1)], axis=1)
    top = np.minimum(x1, x0[:, -1:])
    # per row: the last old edge <= top (searchsorted side="right", minus 1)
    idx = np.clip(np.sum(x0[:, None, :] <= top[:, :, None], axis=2) - 1, 0, n - 1)

    def at(a):
        return np.take_along_axis(a, idx, axis=1)

    def at3(a):
        return np.take_along_axis(a, idx[:, :, None], axis=1)

    u, lo = top - at(x0), at(x0) - at(cen)
    part = at3(f) * u[:, :, None] + 0.5 * at3(sl) * ((u + lo) ** 2 - lo**2)[:, :, None]
    qn = at3(q) + np.where((at(w0) > 0)[:, :, None], part, 0.0)
    qn[:, -1] = q[:, -1]                                 # everything ends in the grid
    dn = np.diff(qn, axis=1)
    w1 = np.diff(x1, axis=1)
    return np.divide(dn, w1[:, :, None], out=np.zeros_like(dn), where=w1[:, :, None] > 0)

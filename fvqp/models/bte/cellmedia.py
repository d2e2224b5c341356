r"""Media of a gap that varies from cell to cell (issue 16 §2): ``BTEProblem(cell_gap=...)``.

Every distinct (region, gap) of the local cells is one medium of
:class:`~fvqp.models.bte.problem.Media` (the region's Fermi velocity and weight), so the
storage :math:`\bar\rho(\Delta_c)` and flux speed :math:`v_F\bar D_L(\Delta_c)` of every cell
follow its own gap, and faces between cells of different gaps are interfaces
(``docs/theory_bte_mesh.md``, "A gap that follows the quasiparticles").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .problem import Media

__all__ = ["Relabelled", "cell_media"]


class Relabelled:
    """The rank's local mesh with the cells' medium ids as their "regions" (for
    :func:`~fvqp.ordinates.streaming.build_streaming`, which cuts interfaces between
    regions)."""

    def __init__(self, loc, cell_region: np.ndarray):
        self._loc, self.cell_region = loc, cell_region

    def __getattr__(self, name):
        return getattr(self._loc, name)


def cell_media(p, region: np.ndarray) -> tuple[Media, np.ndarray, np.ndarray]:
    r"""Media of a per-cell gap (``p.cell_gap``, local cells): one per distinct
    (region, gap), with the region's Fermi velocity and weight; faces between cells of
    different gaps become interfaces with the ``specular`` flux matching of
    :meth:`~fvqp.models.bte.problem.Media.transmission` (same material: :math:`T = 1`
    above both gaps, total reflection of the part of a bin below the far gap: the
    turning points of a gap gradient, :math:`N v = N_0 v_F` continuous). Returns the
    media, the medium of every local cell and the extrusion width of every medium."""
    gap = np.asarray(p.cell_gap, dtype=float)
    if gap.shape != region.shape:
        raise ValueError(f"cell_gap has shape {gap.shape}, expected {region.shape} "
                         "(owned + ghost cells)")
    if np.any((gap > 0) & (gap < p.grid.edges[0] * (1 - 1e-12))):
        raise ValueError("a cell gap lies below the first bin edge of the energy grid")
    keys, ids = np.unique(np.stack([region.astype(float), gap], axis=1), axis=0,
                          return_inverse=True)
    r = keys[:, 0].astype(int)
    base = p.media
    v_f = np.asarray(base.v_f, float)[r] if base is not None else np.full(len(r), p.v_f)
    w = np.asarray(base.weight, float)[r] if base is not None else np.full(len(r), p.weight)
    model = base.model if base is not None else "specular"
    from .problem import Media

    return Media(keys[:, 1], v_f, w, model), ids.ravel(), np.asarray(p.widths)[r]

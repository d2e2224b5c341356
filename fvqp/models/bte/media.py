r"""Media of the bte model: the superconductors of a multi-material case (:class:`Media`,
BCS spectra, interface transmission) and the media of a gap that varies from cell to cell
(issue 16 §2: ``BTEProblem(cell_gap=...)``, :func:`cell_media`).

Every distinct (region, gap) of the local cells is one medium (the region's Fermi velocity
and weight), so the storage :math:`\bar\rho(\Delta_c)` and flux speed
:math:`v_F\bar D_L(\Delta_c)` of every cell follow its own gap, and faces between cells of
different gaps are interfaces (``docs/theory_bte_mesh.md``, "A gap that follows the
quasiparticles").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...spectra.bins import BinGrid, cell_spectra

__all__ = ["Media", "Relabelled", "cell_media"]


@dataclass
class Media:
    r"""Superconductors of the regions of a multi-material case (BCS spectra).

    Parameters
    ----------
    gap : ndarray, shape (R,)
        Gap of each region's material (internal energy units, :math:`\ge` the grid's
        first edge).
    v_f : ndarray, shape (R,)
        Fermi velocity (internal units).
    weight : ndarray, shape (R,)
        State weight :math:`w_s = 4N_{0,s}/N_{0,ref}`.
    model : str
        Interface transmission model, ``specular`` or ``diffuse``
        (:meth:`transmission`), between media of different materials.
    family : ndarray of int, shape (R,), optional
        The material of each medium (media of one material that differ only by their
        gap, as the cells of a per-cell gap, share a family). Faces inside a family are
        no material interface: their transmission is the flux matching of one material
        whatever ``model`` (:math:`t = 1`; only the part of a bin below the far gap is
        reflected) and they are specular whatever ``model`` (:meth:`specular_pairs`: a QP
        keeps its direction across a gap gradient and turns back at its turning point).
        Default: every medium its own family.

    Notes
    -----
    Regions with equal (gap, Fermi velocity, weight) are one medium: their common faces
    are ordinary interior faces.
    """

    gap: np.ndarray
    v_f: np.ndarray
    weight: np.ndarray
    model: str = "diffuse"
    family: np.ndarray | None = None

    def spectra(self, grid: BinGrid, w0: float) -> tuple[np.ndarray, np.ndarray,
                                                           np.ndarray]:
        r"""Per region and bin: storage :math:`(w_s/w_0)\bar\rho`, flux speed
        :math:`(w_s/w_0)v_F\bar D_L` and :math:`\bar D_L` (exact BCS bin averages)."""
        rho, _, dl = cell_spectra(grid, np.asarray(self.gap, dtype=float))
        rel = np.asarray(self.weight, dtype=float)[:, None] / w0
        return rel * rho, rel * np.asarray(self.v_f, dtype=float)[:, None] * dl, dl

    def differ(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Per pair of media ``a``, ``b`` (index arrays of one shape): whether they differ
        (gap, Fermi velocity or weight), i.e. their common faces are interfaces."""
        p = np.stack([np.asarray(self.gap, float), np.asarray(self.v_f, float),
                      np.asarray(self.weight, float)], axis=1)
        return np.any(p[a] != p[b], axis=-1)

    def specular_pairs(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        r"""Per pair of media ``a``, ``b``: whether their interface faces are specular —
        all with ``model = "specular"``, else the pairs inside one ``family``.

        A gap gradient inside one material changes the momentum of a QP along the
        gradient only (notes Eq. 56, :math:`\dot{\mathbf k} = -\nabla_xE`): what crosses
        keeps its direction and what turns back is mirrored, so such faces must not
        re-emit isotropically. With a diffuse rule there every face between two cells
        whose gaps differ by round-off would randomise the directions crossing it —
        scattering that is not in the equation, and a jump in the operator between equal
        and almost equal gaps (the per-cell gap runs of the absorber then differed
        between solvers by 1e-6 in density and 6e-3 in current).

        Examples
        --------
        Two media of one material (family 0) and another material, diffuse interfaces:

        >>> m = Media(np.array([1.0, 1.0001, 2.0]), np.ones(3), np.ones(3), "diffuse",
        ...           family=np.array([0, 0, 1]))
        >>> m.specular_pairs(np.array([0, 0, 1]), np.array([1, 2, 2])).tolist()
        [True, False, False]
        """
        a, b = np.asarray(a), np.asarray(b)
        if self.model == "specular":
            return np.ones(a.shape, dtype=bool)
        fam = np.arange(len(self.gap)) if self.family is None else np.asarray(self.family)
        return fam[a] == fam[b]

    def transmission(self, dl: np.ndarray) -> np.ndarray:
        r"""Transmission probabilities :math:`T_{ab,j}` of every pair, shape (R, R, N)
        (:meth:`pair_transmission`; for a few media — a per-cell gap has up to one per
        cell, whose faces use :meth:`pair_transmission` directly).

        Examples
        --------
        Two cells of one Al film whose gaps differ by 1e-4, in a case whose material
        interfaces are diffuse: above both gaps everything is transmitted.

        >>> from fvqp.spectra.bins import BinGrid, cell_spectra
        >>> g = BinGrid.build(0.8, 0.1, 3.0)
        >>> media = Media(np.array([1.0, 1.0001]), np.ones(2), np.ones(2), "diffuse",
        ...               family=np.array([0, 0]))
        >>> float(media.transmission(cell_spectra(g, media.gap)[2])[0, 1, -1])
        1.0
        """
        r = len(np.asarray(self.gap))
        a, b = _all_pairs(r)
        return self.pair_transmission(a, b, dl).reshape(r, r, -1)

    def pair_transmission(self, a: np.ndarray, b: np.ndarray, dl: np.ndarray
                          ) -> np.ndarray:
        r"""Transmission probabilities :math:`T_{ab,j}` from media ``a`` into ``b`` (index
        arrays, shape (F,)) in every bin: shape (F, N), ``dl`` (R, N) the media's
        :math:`\bar D_L`.

        With the channel number :math:`M_s = w_sv_{F,s}` per area (:math:`N_sv_s = N_{0,s}
        v_{F,s}` above the gap) and :math:`\bar D_{L,s,j}` the part of bin :math:`j` above
        the gap of :math:`s`,

        .. math::
            T_{ab,j} = t_{ab}\,\frac{\min(\bar D_{L,a,j}, \bar D_{L,b,j})}
                                      {\bar D_{L,a,j}},\qquad
            t_{ab} = \min(1, M_b/M_a)\ (\text{specular}),\quad
            t_{ab} = \frac{M_b}{M_a + M_b}\ (\text{diffuse}),

        0 where side :math:`a` has no states; between media of one ``family`` (one
        material, different gaps) :math:`t_{ab} = \min(1, M_b/M_a) = 1` whatever the
        model: a gap gradient inside a material reflects only at its turning points.
        Reciprocity (detailed balance)
        :math:`M_a\bar D_{L,a}T_{ab} = M_b\bar D_{L,b}T_{ba}` holds exactly, and a bin
        wholly below the gap of :math:`b` is reflected entirely (:math:`T_{ab} = 0`).
        """
        a, b = np.asarray(a), np.asarray(b)
        m = np.asarray(self.weight, dtype=float) * np.asarray(self.v_f, dtype=float)
        ma, mb = m[a], m[b]
        if self.model == "specular":
            t = np.minimum(1.0, mb / ma)
        elif self.model == "diffuse":
            t = mb / (ma + mb)
        else:
            raise ValueError(f"unknown interface model {self.model!r}")
        if self.family is not None:  # inside one material: flux matching
            fam = np.asarray(self.family)
            t = np.where(fam[a] == fam[b], np.minimum(1.0, mb / ma), t)
        dl = np.asarray(dl, dtype=float)
        lo, den = np.minimum(dl[a], dl[b]), dl[a]
        return t[..., None] * np.divide(lo, den, out=np.zeros_like(lo), where=den > 0)


def _all_pairs(r: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``a, b`` of every ordered pair of ``r`` media (``a`` slow)."""
    a, b = np.meshgrid(np.arange(r), np.arange(r), indexing="ij")
    return a.ravel(), b.ravel()


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
    different gaps become interfaces with the flux matching of :meth:`Media.transmission`
    inside one material (one ``family``: :math:`T = 1` above both gaps, total reflection
    of the part of a bin below the far gap: the turning points of a gap gradient,
    :math:`N v = N_0 v_F` continuous), and the case's interface model only between
    materials. Returns the media, the medium of every local cell and the extrusion width
    of every medium."""
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
    if base is None:
        model, family = "specular", np.zeros(len(r), dtype=int)
    else:  # the material of each medium: its region's (bath gap, v_F, weight)
        model = base.model
        mat = np.stack([np.asarray(base.gap, float)[r], v_f, w], axis=1)
        family = np.unique(mat, axis=0, return_inverse=True)[1].ravel()
    return (Media(keys[:, 1], v_f, w, model, family=family), ids.ravel(),
            np.asarray(p.widths)[r])

"""The case → mesh → distribution stage that every mesh model's simulation starts with
(heat, transport, bte, phonon; bte_chip through its sub-simulations).

A case's mesh is read once and restricted to the active regions (``active = false``
leaves a region, e.g. an unmeshed substrate, out: its faces become boundaries); each
region's width comes from the key its model declares for the mesh's dimension
(:attr:`fvqp.models.spec.ModelSpec.dimension_keys`: ``thickness`` of a 2D film,
``cross_section`` of a 1D wire; the case check requires it of every active region);
then the geometry is built and distributed over the ranks
(:class:`fvqp.parallel.Distribution`). What a model does per region (materials, media,
rates) stays in the model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ...mesh import RawMesh, build_geometry, read_mesh
from ...parallel import Distribution

__all__ = ["CaseMesh", "active_regions"]


def active_regions(values: Mapping) -> list[str]:
    """The names of the case's simulated regions (``[regions.<name>] active``, default
    true), in the case's order."""
    return [n for n, r in values["regions"].items() if r.get("active", True)]


@dataclass
class CaseMesh:
    """A case's mesh restricted to its active regions, with the regions' widths.

    Attributes
    ----------
    raw : fvqp.mesh.reader.RawMesh
        The cells of the active regions; ``region_names`` (and the region indices of the
        cells) are the file's, inactive regions included.
    active : list of str
        The active regions (:func:`active_regions`).
    widths : ndarray
        Per region index of ``raw``: the thickness (2D) or cross-section (1D) given in
        the case (internal units), else 1 (3D meshes; regions without the key).
    """

    raw: RawMesh
    active: list[str]
    widths: np.ndarray

    @classmethod
    def read(cls, case, dimension_keys: Mapping[int, tuple]) -> CaseMesh:
        """The mesh of ``case`` (an :class:`fvqp.case.InternalCase`: ``mesh_path`` and
        internal ``values``) with the widths of ``dimension_keys`` (the model's
        ``SPEC.dimension_keys``)."""
        values = case.values
        active = active_regions(values)
        raw = read_mesh(case.mesh_path).subset(active)
        widths = np.ones(len(raw.region_names))
        for ri, name in enumerate(raw.region_names):
            reg = values["regions"].get(name) or {}
            for key in dimension_keys.get(raw.dim, ()):
                if reg.get(key) is not None:
                    widths[ri] = reg[key]
        return cls(raw, active, widths)

    @property
    def dim(self) -> int:
        return self.raw.dim

    @property
    def all_active(self) -> bool:
        """Every region of the mesh is simulated (none left out)."""
        return len(self.active) == len(self.raw.region_names)

    def distribute(self, scale: float, comm=None, strict: bool = False):
        """``(geometry, distribution)`` of the active cells (mesh coordinates times
        ``scale``; ``strict``: every boundary face must be in a physical group,
        :func:`fvqp.mesh.build_geometry`); collective."""
        geometry = build_geometry(self.raw, scale=scale, widths=self.widths, strict=strict)
        return geometry, Distribution(geometry, comm)

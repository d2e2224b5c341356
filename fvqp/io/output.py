"""Time series of cell fields on a distributed mesh: one ``.pvd`` per run.

Serial runs write ``vtu/<name>_<k>.vtu``; MPI runs write one piece per rank
(``vtu/<name>_<k>_p<rank>.vtu``) and a ``.pvtu`` index on rank 0. Coordinates are in
metres, fields in SI with their units in the metadata (:mod:`fvqp.io.vtk`). Given the
mesh's region names, every file carries them as the field-data string array
``region_names`` (``region_names[k]`` is the region whose ``region`` field value is ``k``).
"""

from __future__ import annotations

import os

import numpy as np

from .vtk import read_pvd, subset_cells, write_pvd, write_pvtu, write_vtu


class OutputWriter:
    """Writes snapshots of owned-cell fields and keeps the ``.pvd`` collection.

    Parameters
    ----------
    directory, name
        Output directory and base name (the case name).
    dist : fvqp.parallel.Distribution
    points_si : ndarray
        Mesh node coordinates in metres.
    blocks : list
        (cell type, connectivity) of the simulated cells, in geometry cell order.
    units : dict
        Field name -> SI unit label.
    resume : bool
        Keep the entries of an existing ``.pvd`` (continuing a run) instead of starting anew.
    region_names : list of str, optional
        Name of each region id of the mesh (all regions of the mesh file, simulated or
        not), written as the field data ``region_names`` of every snapshot.
    """

    def __init__(self, directory: str, name: str, dist, points_si, blocks, units: dict,
                 resume: bool = False, region_names=None):
        self.dir, self.name, self.dist, self.units = directory, name, dist, units
        self.strings = ({"region_names": [str(n) for n in region_names]}
                        if region_names is not None else {})
        self.pvd = os.path.join(directory, f"{name}.pvd")
        owned = dist.local.cells[: dist.local.n_owned]
        self.order = np.argsort(owned)
        self.points, self.blocks = subset_cells(points_si, blocks, owned[self.order])
        self.entries = read_pvd(self.pvd) if (resume and dist.rank == 0) else []
        if dist.rank == 0:
            os.makedirs(os.path.join(directory, "vtu"), exist_ok=True)
        self.count = dist.bcast(len(self.entries))

    def truncate(self, time_si: float) -> None:
        """Forget snapshots later than ``time_si`` (written after the checkpoint a run
        resumes from); they are written again, under the same file names."""
        if self.dist.rank == 0:
            self.entries = [e for e in self.entries if e[0] <= time_si * (1 + 1e-12)]
        self.count = self.dist.bcast(len(self.entries))

    def write(self, time_si: float, fields: dict[str, np.ndarray]) -> str:
        """Write one snapshot of owned-cell fields (shape (n,) or, for vectors, (n, 3));
        returns the file the .pvd points to."""
        k = self.count
        data = {n: np.asarray(v)[self.order] for n, v in fields.items()}
        units = {n: self.units.get(n, "") for n in fields}
        base = f"{self.name}_{k:05d}"
        if self.dist.size == 1:
            rel = os.path.join("vtu", f"{base}.vtu")
            write_vtu(os.path.join(self.dir, rel), self.points, self.blocks, data, units, time_si,
                      self.strings)
        else:
            piece = f"{base}_p{self.dist.rank}.vtu"
            write_vtu(os.path.join(self.dir, "vtu", piece), self.points, self.blocks, data,
                      units, time_si, self.strings)
            self.dist.barrier()
            rel = os.path.join("vtu", f"{base}.pvtu")
            if self.dist.rank == 0:
                pieces = [f"{base}_p{r}.vtu" for r in range(self.dist.size)]
                write_pvtu(os.path.join(self.dir, rel), pieces, list(fields), units, time_si,
                           self.strings, {n: v.shape[1] for n, v in data.items() if v.ndim == 2})
        if self.dist.rank == 0:
            self.entries.append((time_si, rel))
            write_pvd(self.pvd, self.entries)
        self.count += 1
        return rel

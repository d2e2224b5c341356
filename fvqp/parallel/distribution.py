"""Distribution of mesh cells over MPI ranks — the one object in fvqp that knows about ranks.

Every rank reads the (global) mesh geometry; cells are split into contiguous blocks of a
new global numbering by recursive coordinate bisection of the cell centres, and PETSc
does the rest: ghosted vectors (:meth:`Distribution.create_vec`) exchange the values of
neighbouring cells, MPIAIJ matrices hold the Jacobian rows of the owned cells. Models see
only a :class:`LocalGeometry` — owned cells first, then ghosts — and never a rank.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..mesh.geometry import Geometry
from ..setops import distinct


def rcb_partition(points: np.ndarray, nparts: int) -> np.ndarray:
    """Recursive coordinate bisection: part index of every point, balanced to ±1 cell.

    Splits along the longest extent, in proportion to the number of parts on each side,
    so any ``nparts`` (not only powers of two) works. Deterministic.
    """
    part = np.zeros(len(points), dtype=np.int64)

    def split(ids: np.ndarray, parts: int, offset: int) -> None:
        if parts == 1 or len(ids) == 0:
            part[ids] = offset
            return
        p1 = parts // 2
        pts = points[ids]
        axis = int(np.argmax(np.ptp(pts, axis=0)))
        order = np.argsort(pts[:, axis], kind="stable")
        k = int(round(len(ids) * p1 / parts))
        split(ids[order[:k]], p1, offset)
        split(ids[order[k:]], parts - p1, offset + p1)

    split(np.arange(len(points)), nparts, 0)
    return part


@dataclass
class LocalGeometry:
    """The part of a :class:`~fvqp.mesh.Geometry` a model needs on one rank.

    Cells are numbered locally: ``0..n_owned-1`` owned, then ghosts. Faces are those
    touching an owned cell; incidences refer to local cells.
    """

    n_owned: int
    n_local: int
    cells: np.ndarray  # global (file-order) index of every local cell
    volume: np.ndarray
    centroid: np.ndarray
    cell_region: np.ndarray
    faces: np.ndarray  # global face index of every local face
    face_ptr: np.ndarray
    inc_cell: np.ndarray
    inc_tau: np.ndarray
    face_group: np.ndarray
    face_area: np.ndarray
    face_centroid: np.ndarray
    region_names: list[str]
    group_names: list[str]
    dim: int

    @property
    def inc_face(self) -> np.ndarray:
        return np.repeat(np.arange(len(self.faces)), np.diff(self.face_ptr))

    @property
    def face_degree(self) -> np.ndarray:
        return np.diff(self.face_ptr)


class GhostedVectors:
    """Vectors with owned + ghost entries, from a template ``self._template``."""

    def create_vec(self):
        """A new ghosted PETSc vector (owned part + ghost slots)."""
        return self._template.duplicate()

    def scratch_vec(self):
        """The layout's template vector as a scratch vector: its values are anyone's to
        overwrite within one call (copy in, ghost exchange, copy out: :meth:`to_local`,
        :meth:`ghosted`) and mean nothing after it; never destroy it. A state-length
        vector fewer than a work vector per user (issue 18 §1)."""
        return self._template

    def global_index(self, local: np.ndarray) -> np.ndarray:
        """Global numbers of the local unknowns ``local`` (``local_to_global[local]``; a
        layout that does not keep the whole map computes only these)."""
        return self.local_to_global[np.asarray(local)]

    def max_array(self, values: np.ndarray) -> np.ndarray:
        """Entry-wise maximum of the ranks' equally shaped ``values`` (one collective on
        the layout's petsc4py ``comm``)."""
        a = np.array(values, dtype=float)
        if self.size > 1:
            max_in_place(self.comm, a)
        return a

    def local_array(self, vec) -> np.ndarray:
        """Owned + ghost values of a vector (ghosts refreshed), as a numpy copy."""
        return self.read_local(vec, np.copy)

    def read_local(self, vec, fn):
        """``fn(values)`` on the owned + ghost values of a vector (ghosts refreshed), read
        in place: ``values`` is read-only and valid only inside ``fn``."""
        vec.ghostUpdate()
        with vec.localForm() as loc:
            return fn(loc.getArray(readonly=True))

    def ghosted(self, owned_values: np.ndarray, work=None) -> np.ndarray:
        """Owned values of every rank -> this rank's owned + ghost values (a ghost
        exchange on numpy arrays, for code that must not handle PETSc vectors). ``work``:
        a vector of :meth:`create_vec` to use instead of the scratch vector
        (:meth:`scratch_vec`).

        Examples
        --------
        >>> from fvqp.parallel.serial import SerialLayout
        >>> SerialLayout(3).ghosted(np.array([1.0, 2.0, 3.0]))
        array([1., 2., 3.])
        """
        return self.with_ghosts(owned_values, np.copy, work)

    def with_ghosts(self, owned_values: np.ndarray, fn, work=None):
        """``fn(values)`` on the owned + ghost values of ``owned_values`` (a ghost
        exchange, as :meth:`ghosted`) read in place, without the copy: ``values`` is
        read-only and valid only inside ``fn`` (for a caller that gathers from it at
        once, e.g. a subdomain solve's first permutation; :meth:`read_local`)."""
        v = self.scratch_vec() if work is None else work
        v.setArray(np.asarray(owned_values, dtype=float).ravel())
        return self.read_local(v, fn)

    def to_local(self, x, work) -> np.ndarray:
        """Copy any vector with this layout into the ghosted ``work`` and return local values."""
        x.copy(work)
        return self.local_array(work)


class Distribution(GhostedVectors):
    """Cells of a mesh spread over the ranks of a communicator.

    Parameters
    ----------
    geometry
        Global finite-volume geometry (identical on every rank).
    comm
        A petsc4py communicator; ``PETSc.COMM_WORLD`` by default.
    """

    def __init__(self, geometry: Geometry, comm=None):
        from petsc4py import PETSc

        self.comm = comm or PETSc.COMM_WORLD
        self.rank, self.size = self.comm.getRank(), self.comm.getSize()
        self.geometry = geometry
        n = geometry.n_cells
        owner = rcb_partition(geometry.centroid, self.size)
        perm = np.argsort(owner, kind="stable")  # new -> old
        self.new_of_old = np.empty(n, dtype=np.int64)
        self.new_of_old[perm] = np.arange(n)
        counts = np.bincount(owner, minlength=self.size)
        self.starts = np.concatenate([[0], np.cumsum(counts)])
        owned = perm[self.starts[self.rank]:self.starts[self.rank + 1]]
        self.local = self._local_geometry(owned, owner)
        self.n_global = n
        ghosts_new = self.new_of_old[self.local.cells[self.local.n_owned:]]
        self._template = PETSc.Vec().createGhost(
            ghosts_new.astype(PETSc.IntType), size=(self.local.n_owned, n), comm=self.comm)
        self.local_to_global = self.new_of_old[self.local.cells]

    def _local_geometry(self, owned: np.ndarray, owner: np.ndarray) -> LocalGeometry:
        g = self.geometry
        is_owned = owner == self.rank
        touch = np.zeros(g.n_faces, dtype=bool)
        touch[g.inc_face[is_owned[g.inc_cell]]] = True
        faces = np.flatnonzero(touch)
        lo, hi = g.face_ptr[faces], g.face_ptr[faces + 1]
        idx = np.concatenate([np.arange(a, b) for a, b in zip(lo, hi, strict=True)]) \
            if len(faces) else np.zeros(0, dtype=np.int64)
        inc_cells = g.inc_cell[idx]
        ghosts = distinct(inc_cells[~is_owned[inc_cells]])
        cells = np.concatenate([owned, ghosts])
        loc = np.full(g.n_cells, -1, dtype=np.int64)
        loc[cells] = np.arange(len(cells))
        ptr = np.concatenate([[0], np.cumsum(hi - lo)])
        return LocalGeometry(
            n_owned=len(owned), n_local=len(cells), cells=cells, volume=g.volume[cells],
            centroid=g.centroid[cells], cell_region=g.cell_region[cells], faces=faces,
            face_ptr=ptr, inc_cell=loc[inc_cells], inc_tau=g.inc_tau[idx],
            face_group=g.face_group[faces], face_area=g.face_area[faces],
            face_centroid=g.face_centroid[faces], region_names=g.region_names,
            group_names=g.group_names, dim=g.dim)

    # ---- global reductions and gathers ---------------------------------------------
    def sum(self, value: float) -> float:
        """Sum of a per-rank scalar over all ranks."""
        return float(self.comm.tompi4py().allreduce(float(value)))

    def max(self, value: float) -> float:
        return float(self.comm.tompi4py().allreduce(float(value), op=_mpi_max()))

    def gather(self, owned_values: np.ndarray, root: int | None = 0) -> np.ndarray | None:
        """Owned values of every rank assembled in file cell order.

        Returns the full array on ``root`` (None elsewhere), or on all ranks if root is None.
        """
        mpi = self.comm.tompi4py()
        cells = self.local.cells[: self.local.n_owned]
        owned_values = np.asarray(owned_values)
        if root is None:
            parts = mpi.allgather((cells, owned_values))
        else:
            parts = mpi.gather((cells, owned_values), root=root)
            if self.rank != root:
                return None
        out = np.empty((self.n_global,) + owned_values.shape[1:], dtype=owned_values.dtype)
        for c, v in parts:
            out[c] = v
        return out

    def scatter(self, full: np.ndarray | None, root: int = 0) -> np.ndarray:
        """Inverse of :meth:`gather`: owned values from a full file-ordered array on root."""
        full = self.comm.tompi4py().bcast(full, root=root)
        return np.asarray(full)[self.local.cells[: self.local.n_owned]]

    def bcast(self, obj, root: int = 0):
        return self.comm.tompi4py().bcast(obj, root=root)

    def barrier(self) -> None:
        """Wait until every rank of the distribution's communicator has arrived."""
        self.comm.barrier()


def world():
    """The communicator of the whole run (``PETSc.COMM_WORLD``)."""
    from petsc4py import PETSc

    return PETSc.COMM_WORLD


def comm_rank(comm) -> int:
    """This process's rank in ``comm`` (a PETSc communicator; 0 without one)."""
    return comm.getRank() if comm is not None else 0


def bcast_object(comm, obj, root: int = 0):
    """``obj`` (a picklable object) of rank ``root`` of ``comm`` (a PETSc
    communicator), on every rank; ``obj`` itself on one rank or without a
    communicator."""
    if comm is None or comm.getSize() == 1:
        return obj
    return comm.tompi4py().bcast(obj, root=root)


def sum_in_place(comm, *arrays: np.ndarray) -> None:
    """Sum each contiguous array over the ranks of ``comm`` (a PETSc communicator), in
    place: the reductions of the solvers' coarse levels, kept in this layer."""
    _reduce_in_place(comm, "SUM", arrays)


def max_in_place(comm, *arrays: np.ndarray) -> None:
    """The elementwise maximum of each contiguous array over the ranks of ``comm`` (a
    PETSc communicator), in place."""
    _reduce_in_place(comm, "MAX", arrays)


def _reduce_in_place(comm, op: str, arrays) -> None:
    """Each contiguous array reduced by MPI's ``op`` over the ranks of ``comm``."""
    if comm.getSize() == 1:
        return
    from mpi4py import MPI

    mpi, op = comm.tompi4py(), getattr(MPI, op)
    for a in arrays:
        mpi.Allreduce(MPI.IN_PLACE, a, op=op)


def allgather_concat(comm, values: np.ndarray) -> np.ndarray:
    """The per-rank arrays ``values`` of ``comm`` concatenated in rank order, on every
    rank."""
    if comm.getSize() == 1:
        return np.asarray(values)
    return np.concatenate(comm.tompi4py().allgather(np.asarray(values)))


def allgather_objects(comm, value) -> tuple:
    """``value`` (a picklable object) of every rank of ``comm`` (a PETSc communicator), in
    rank order, on every rank."""
    if comm.getSize() == 1:
        return (value,)
    return tuple(comm.tompi4py().allgather(value))


def _mpi_max():
    from mpi4py import MPI

    return MPI.MAX

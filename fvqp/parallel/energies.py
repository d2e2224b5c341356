"""Independent energies shared over the ranks of a communicator.

Equations that decouple in energy (the retarded Usadel equation, the collisionless
kinetic equations of the Usadel model) are solved energy by energy: :class:`EnergySplit`
gives every rank one contiguous block of the energy grid (the first ``n mod P`` ranks one
energy more), runs the caller's solve on that block and gathers every block's result on
every rank, in grid order, so each rank continues with the whole solution. A solve that
raises on one rank raises the same exception on every rank (no rank waits forever).

Serial runs (one rank, or no MPI launcher) see one block: the caller's serial code path.
This module, :mod:`.tasks` and :mod:`.distribution` are the only ones that know ranks.

A system that couples the energies (the Usadel kinetic equations with collisions) can be
solved on the same blocks as one distributed vector: :class:`EnergyLayout` is the layout
of :class:`fvqp.solvers.NonlinearSolver` with a fixed number of unknowns per energy and
each rank's block of energies owned by that rank (no ghosts); its :meth:`~EnergyLayout.
gather` assembles per-block arrays along an axis on every rank, and
:meth:`~EnergyLayout.to_rows` / :meth:`~EnergyLayout.to_energies` move a table of
(rows × energies) between "this rank's energies of every row" and "every energy of this
rank's rows" (one all-to-all each: each rank receives only the part it needs).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .serial import FlatLayout
from .tasks import TaskShare

__all__ = ["EnergyLayout", "EnergySplit", "weighted_bounds"]


def weighted_bounds(weights: np.ndarray, parts: int) -> np.ndarray:
    """Boundaries ``b_0 = 0 <= b_1 <= ... <= b_parts = len(weights)`` of ``parts``
    contiguous ranges of items of cost ``weights``: ``b_p`` is the first item whose
    middle (its cumulative weight less half its own) lies at or past ``p / parts`` of
    the total, so every range's sum is within the largest weight of ``total / parts``."""
    w = np.asarray(weights, dtype=float)
    if w.ndim != 1 or len(w) == 0 or np.any(w < 0) or not np.sum(w) > 0:
        raise ValueError("weighted_bounds: weights must be a non-empty 1-D array, "
                         "non-negative, with a positive sum")
    cum = np.cumsum(w)
    cuts = np.searchsorted(cum - 0.5 * w, np.arange(1, parts) * cum[-1] / parts)
    return np.concatenate([[0], cuts, [len(w)]]).astype(np.int64)


class EnergySplit(TaskShare):
    """Contiguous blocks of ``n`` energies over the ranks of ``comm`` (module docstring;
    the communicator, ``rank``, ``size`` and ``is_root`` of :class:`.tasks.TaskShare`).

    Parameters
    ----------
    comm : optional
        A petsc4py or mpi4py communicator; ``PETSc.COMM_WORLD`` by default.

    Examples
    --------
    >>> s = EnergySplit()
    >>> s.size, s.block(5, 0)  # a serial run: one block
    (1, slice(0, 5, None))
    >>> s.map(lambda sl: list(range(10))[sl], 10)
    [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]]
    """

    def block(self, n: int, rank: int | None = None) -> slice:
        """The energies ``rank`` (default this one) solves: block ``p`` of ``n`` holds
        ``n // P`` energies, one more for ``p < n mod P``."""
        p = self.rank if rank is None else rank
        q, r = divmod(n, self.size)
        start = p * q + min(p, r)
        return slice(start, start + q + (1 if p < r else 0))

    def block_by_weight(self, weights: np.ndarray, rank: int | None = None) -> slice:
        """The contiguous block of ``len(weights)`` items ``rank`` (default this one)
        takes when the items cost ``weights`` (the same on every rank;
        :func:`weighted_bounds`)."""
        p = self.rank if rank is None else rank
        bounds = weighted_bounds(weights, self.size)
        return slice(int(bounds[p]), int(bounds[p + 1]))

    def map(self, solve: Callable[[slice], Any], n: int) -> list[Any]:
        """``[solve(block(n, p)) for p in ranks]`` on every rank: this rank computes its
        own block, the results of all blocks are gathered (in grid order)."""
        if self.size == 1:
            return [solve(slice(0, n))]
        mine: tuple[str, Any]
        try:
            mine = ("ok", solve(self.block(n)))
        except Exception as exc:  # noqa: BLE001 - re-raised below, on every rank
            mine = ("error", exc)
        gathered = self.comm.allgather(mine)
        for kind, value in gathered:
            if kind == "error":
                raise value
        return [value for _, value in gathered]


class EnergyLayout(FlatLayout):
    """``per`` unknowns per energy of ``n_eps`` energies, rank ``p`` owning those of
    ``split.block(n_eps, p)`` (energy-major, contiguous; no ghosts): the vector layout of
    a :class:`fvqp.solvers.NonlinearSolver` over the ranks of ``split``.

    Parameters
    ----------
    split : EnergySplit
    n_eps, per : int

    Examples
    --------
    >>> lay = EnergyLayout(EnergySplit(), 4, 3)
    >>> lay.energies, lay.local.n_owned, lay.n_global
    (slice(0, 4, None), 12, 12)
    """

    def __init__(self, split: EnergySplit, n_eps: int, per: int):
        from petsc4py import PETSc

        self.split, self.energies, self.n_eps = split, split.block(n_eps), int(n_eps)
        lo, hi = self._blocks(PETSc.Comm(split.comm), split.rank, split.size,
                              [split.block(n_eps, p).start * per for p in range(split.size)]
                              + [n_eps * per])
        self._template = PETSc.Vec().createMPI((hi - lo, self.n_global), comm=self.comm)

    def sum(self, value: float) -> float:
        return float(self.split.comm.allreduce(float(value)))

    def max(self, value: float) -> float:
        from mpi4py import MPI

        return float(self.split.comm.allreduce(float(value), op=MPI.MAX))

    def gather(self, part: np.ndarray, axis: int = 0) -> np.ndarray:
        """Every rank's ``part`` concatenated along ``axis`` in rank order, on every rank
        (one rank: ``part`` itself)."""
        if self.size == 1:
            return part
        moved = np.ascontiguousarray(np.moveaxis(np.asarray(part), axis, 0))
        comm = self.split.comm
        meta = comm.allgather((moved.shape, moved.dtype.str))
        if len({(m[0][1:], m[1]) for m in meta}) > 1:  # mixed shapes or types: objects
            return np.concatenate(comm.allgather(np.ascontiguousarray(part)), axis=axis)
        counts = np.array([m[0][0] for m in meta], dtype=np.int64)
        per = int(np.prod(moved.shape[1:], dtype=np.int64))
        out = np.empty((int(counts.sum()),) + moved.shape[1:], dtype=moved.dtype)
        comm.Allgatherv(moved, [out, counts * per])  # buffers, no pickling
        return np.moveaxis(out, 0, axis)

    def _table_blocks(self, n_rows: int) -> tuple[list, list, slice, slice]:
        """The row blocks of ``n_rows`` and the energy blocks of every rank (the rule of
        :meth:`EnergySplit.block`), and this rank's of each."""
        sp = self.split
        rows = [sp.block(n_rows, p) for p in range(self.size)]
        cols = [sp.block(self.n_eps, p) for p in range(self.size)]
        return rows, cols, rows[sp.rank], cols[sp.rank]

    def to_rows(self, a: np.ndarray) -> np.ndarray:
        r"""Every energy of this rank's rows: ``a`` (R, this rank's energies) → (this
        rank's rows, all energies), rows in blocks ``split.block(R, p)`` as the energies
        (one ``Alltoallv``; the inverse of :meth:`to_energies`). On one rank: ``a``.

        Each rank sends rank :math:`p` the :math:`R_p \times E_{\text{mine}}` part of
        :math:`p`'s rows, so a rank receives :math:`R/P \times E` values instead of the
        :math:`R \times E` of :meth:`gather` (and no exchange of shapes: they follow
        from the blocks).
        """
        if self.size == 1:
            return a
        _real(a, "to_rows")
        a = np.ascontiguousarray(a, dtype=np.float64)
        rows, cols, mine_r, mine_c = self._table_blocks(a.shape[0])
        if a.shape[1] != mine_c.stop - mine_c.start:
            raise ValueError(f"to_rows: {a.shape[1]} energies, this rank owns "
                             f"{mine_c.stop - mine_c.start}")
        send = [(r.stop - r.start) * a.shape[1] for r in rows]
        recv = [(mine_r.stop - mine_r.start) * (c.stop - c.start) for c in cols]
        buf = np.empty(sum(recv))
        self.split.comm.Alltoallv([a, (send, _starts(send))], [buf, (recv, _starts(recv))])
        out = np.empty((mine_r.stop - mine_r.start, self.n_eps))
        for c, lo, n in zip(cols, _starts(recv), recv, strict=True):
            out[:, c] = buf[lo:lo + n].reshape(out.shape[0], c.stop - c.start)
        return out

    def to_energies(self, b: np.ndarray, n_rows: int) -> np.ndarray:
        """This rank's energies of every row: ``b`` (this rank's rows of ``n_rows``, all
        energies) → (``n_rows``, this rank's energies), the inverse of :meth:`to_rows`.
        On one rank: ``b``."""
        if self.size == 1:
            return b
        _real(b, "to_energies")
        rows, cols, mine_r, mine_c = self._table_blocks(n_rows)
        if np.shape(b) != (mine_r.stop - mine_r.start, self.n_eps):
            raise ValueError(f"to_energies: shape {np.shape(b)}, this rank's rows and all "
                             f"energies are ({mine_r.stop - mine_r.start}, {self.n_eps})")
        send = [b.shape[0] * (c.stop - c.start) for c in cols]
        send_buf = np.empty(sum(send))
        for c, lo, n in zip(cols, _starts(send), send, strict=True):
            send_buf[lo:lo + n].reshape(b.shape[0], c.stop - c.start)[:] = b[:, c]
        width = mine_c.stop - mine_c.start
        recv = [(r.stop - r.start) * width for r in rows]
        out = np.empty((n_rows, width))
        self.split.comm.Alltoallv([send_buf, (send, _starts(send))],
                                  [out, (recv, _starts(recv))])
        return out


def _real(a, name: str) -> None:
    """The transposes move real tables (float64 buffers): complex input is refused, not
    cut to its real part."""
    if np.iscomplexobj(a):
        raise TypeError(f"{name}: a real table is expected, got {np.asarray(a).dtype}")


def _starts(counts: list) -> list:
    """Displacements of consecutive blocks of ``counts`` values."""
    return [int(x) for x in np.concatenate([[0], np.cumsum(counts)[:-1]])]

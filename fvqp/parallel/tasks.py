"""Independent tasks shared over the ranks of a communicator.

A sweep of independent work units (separately seeded Monte Carlo runs, one point of a
parameter sweep each) needs no mesh and no ghost exchange: :class:`TaskShare` deals the
units out round-robin, a round of ``size`` units at a time, and gathers every round's
results on every rank, so each rank ends with the whole sweep and the caller can
checkpoint after every round. Serial runs (one rank, or no MPI launcher) see a round of
one unit: exactly the sequential loop.

This module and :mod:`.distribution` are the only ones that know about ranks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

__all__ = ["TaskShare"]


class TaskShare:
    """Round-robin sharing of independent tasks over the ranks of ``comm``.

    Parameters
    ----------
    comm : optional
        A petsc4py or mpi4py communicator; ``PETSc.COMM_WORLD`` by default.

    Notes
    -----
    Round :math:`r` gives task :math:`rP + p` to rank :math:`p` of :math:`P`; a task's
    result does not depend on which rank computed it (each carries its own seed), so the
    gathered results equal the serial ones exactly.
    """

    def __init__(self, comm=None):
        if comm is None:
            from petsc4py import PETSc

            comm = PETSc.COMM_WORLD
        self.comm = comm.tompi4py() if hasattr(comm, "tompi4py") else comm
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()

    @property
    def is_root(self) -> bool:
        """True on the rank that writes files (rank 0)."""
        return self.rank == 0

    def rounds(self, n: int) -> Iterator[range]:
        """Task indices ``0..n-1`` in rounds of at most ``size`` tasks."""
        for start in range(0, n, self.size):
            yield range(start, min(start + self.size, n))

    def run_round(self, tasks: Sequence[Callable[[], Any]]) -> list[Any]:
        """Run a round (at most ``size`` tasks): task ``p`` on rank ``p``; every rank gets
        every result, in task order. A task that raises on one rank raises on all, so no
        rank waits forever: the same exception (type and message) where it can be sent
        (a ConvergenceError stays one, and every rank takes the same failure path: with a
        RuntimeError on the others, a sweep whose point failed on rank 0 ended on rank 0
        with status -1 and hung there while rank 1 died of the RuntimeError), else a
        RuntimeError naming the rank."""
        if len(tasks) > self.size:
            raise ValueError(f"a round holds at most {self.size} tasks, got {len(tasks)}")
        mine: tuple[str, Any] = ("ok", None)
        failure: Exception | None = None
        if self.rank < len(tasks):
            try:
                mine = ("ok", tasks[self.rank]())
            except Exception as exc:  # noqa: BLE001 - re-raised below, on every rank
                failure, mine = exc, ("error", _sendable(exc))
        gathered = self.comm.allgather(mine) if self.size > 1 else [mine]
        if failure is not None:
            raise failure
        for p, (kind, value) in enumerate(gathered[:len(tasks)]):
            if kind == "error":
                if isinstance(value, Exception):
                    raise value
                raise RuntimeError(f"work unit {p} of this round failed on rank {p}: {value}")
        return [value for _, value in gathered[:len(tasks)]]


def _sendable(exc: Exception):
    """``exc`` itself if it survives pickling (the allgather sends it to every rank),
    else its type and message as text."""
    import pickle

    try:
        back = pickle.loads(pickle.dumps(exc))
    except Exception:  # noqa: BLE001 - anything unpicklable is sent as text
        return f"{type(exc).__name__}: {exc}"
    return back if type(back) is type(exc) and str(back) == str(exc) else \
        f"{type(exc).__name__}: {exc}"

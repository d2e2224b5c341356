r"""Convergence of 0D steady states: every block at its own scale (issue 19).

PETSc's default tests look at norms of the whole state: the absolute residual test at
the size of the gain/loss vector, which the fast, highly occupied low-energy phonons
dominate, and the step test relative to :math:`\|y\|`, which :math:`n(\Omega \to 0)
\sim T/\Omega` dominates. At low temperature the QP occupations near the gap are
:math:`\sim e^{-\Delta/T} \approx 10^{-9}` and relax on the slow recombination scale, so
both tests can stop Newton while ``f`` is still wrong by orders of magnitude (Al at
0.1 K started from QPs at 141 mK: ``CONVERGED_SNORM_RELATIVE`` with
:math:`f/f_{FD} = 33`, issue 19). The steady state
(:func:`~fvqp.models.kinetics0d.solve.steady_state`) therefore uses a per-entry test:
with the full Newton correction :math:`\delta = J(y)^{-1}\dot y(y)` (the error estimate
of Newton's method, which sees the slow collective modes such as the QP number, unlike
a residual scaled entry by entry),

.. math::
    \max_i \frac{|\delta_i|}{\max(|y_i|, y_{floor})} \le \text{block\_rtol}

over the QP *and* the phonon entries (default ``block_rtol = 1e-6``, ``y_floor = 1e-12``:
occupations below the floor are only required to be right to ``1e-18`` absolute).
A correction above ``block_rtol`` but below :data:`STALL_RTOL` (1e-4) that has stopped
decreasing (not halved over the last two evaluations) is the round-off of the operator
(FFT outputs are accurate relative to their largest entry, so occupations of 1e-12 carry
relative errors of 1e-6 and more) and is accepted with a logged warning and the message
saying so (:class:`CorrectionTest`). The default ``block_rtol`` sits above the round-off
of the FFT operator (``~5e-7`` relative for ``f ~ 1e-9``; ``1e-11`` with
``method="direct"``). Newton (:class:`fvqp.solvers.dense.DenseNewton`) evaluates the
correction at every iterate anyway, so the test costs no extra solve;
:func:`block_convergence` evaluates it at any state by a dense LU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .model import Kinetics0D

__all__ = ["BLOCK_RTOL", "OCCUPATION_FLOOR", "STALL_RTOL", "BlockConvergence",
           "CorrectionTest", "block_convergence", "correction_measure"]

#: default per-entry tolerance of the steady state (module docstring)
BLOCK_RTOL = 1e-6
#: occupations below this are measured against it (module docstring)
OCCUPATION_FLOOR = 1e-12
#: round-off floor: a correction between block_rtol and this that no longer decreases
#: (by 2x over two evaluations) is round-off of the operator and accepted (module docstring)
STALL_RTOL = 1e-4


@dataclass
class BlockConvergence:
    r"""Per-entry convergence measure of a steady state (module docstring).

    Attributes
    ----------
    error : float
        :math:`\max_i |\delta_i|/\max(|y_i|, y_{floor})` of the full Newton correction.
    block : str
        ``"qp"`` or ``"phonon"``: where the maximum is.
    index : int
        Entry of that block.
    energy : float
        Its energy :math:`E_i` or :math:`\Omega_k` (kTc).
    value : float
        Its occupation.
    correction : ndarray or None
        The full Newton correction :math:`\delta` (``y - delta`` is the next iterate).
    """

    error: float
    block: str
    index: int
    energy: float
    value: float
    correction: np.ndarray | None = field(default=None, repr=False)

    def describe(self) -> str:
        """One line naming the worst entry."""
        name = "f(E)" if self.block == "qp" else "n(Omega)"
        return (f"{name} at {self.energy:.6g} kTc (entry {self.index}, value "
                f"{self.value:.3e}) has a relative Newton correction {self.error:.3e}")


def _unresolved(model: Kinetics0D, y: np.ndarray) -> BlockConvergence:
    return BlockConvergence(math.inf, "qp", 0, float(model.grid.e[0]), float(y[0]))


def block_convergence(model: Kinetics0D, y: np.ndarray, t: float = 0.0,
                      floor: float = OCCUPATION_FLOOR) -> BlockConvergence:
    r"""Relative full Newton correction per entry at ``y`` (module docstring).

    :math:`\delta = J^{-1}\dot y` by a dense LU of the exact Jacobian; a singular
    Jacobian or a non-finite residual gives ``error = inf``.
    """
    y = np.asarray(y, dtype=float)
    try:
        r = model.rhs(y, t)
        delta = np.linalg.solve(model.jacobian(y, t), r)
    except (np.linalg.LinAlgError, ArithmeticError, ValueError):
        return _unresolved(model, y)
    return correction_measure(model, y, delta, floor)


def correction_measure(model: Kinetics0D, y: np.ndarray, delta: np.ndarray,
                       floor: float = OCCUPATION_FLOOR) -> BlockConvergence:
    """:class:`BlockConvergence` of a given Newton correction ``delta`` at ``y``."""
    nq = model.grid.n
    rel = np.abs(delta) / np.maximum(np.abs(y), floor)
    if not np.all(np.isfinite(rel)):
        return _unresolved(model, y)
    i = int(np.argmax(rel))
    if i < nq:
        return BlockConvergence(float(rel[i]), "qp", i, float(model.grid.e[i]), float(y[i]),
                                delta)
    k = i - nq
    return BlockConvergence(float(rel[i]), "phonon", k, float(model.grid.omega[k]),
                            float(y[i]), delta)


class CorrectionTest:
    """Newton's stopping test (the ``accepted`` hook of
    :class:`fvqp.solvers.dense.DenseNewton`):
    a per-entry correction at most ``rtol``, or stalled (round-off) below
    :data:`STALL_RTOL` (module docstring); ``stalled`` says which."""

    def __init__(self, rtol: float) -> None:
        self.rtol = rtol
        self.stalled = False

    def reset(self) -> None:
        self.stalled = False

    def accepted(self, err: float, history: list) -> bool:
        """``err``: the current correction, the last of ``history``."""
        if err <= self.rtol:
            return True
        h = history
        self.stalled = (err <= STALL_RTOL and len(h) >= 3
                        and h[-1] > 0.5 * min(h[-3], h[-2]))
        return self.stalled

    def how(self, err: float) -> str:
        """The accepted correction in words."""
        return (f"<= {self.rtol:g}" if err <= self.rtol else
                f"> {self.rtol:g} but no longer decreasing: operator round-off")

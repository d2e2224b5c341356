r"""Time relaxation of the 0D kinetics (Pareschi & Russo; notes Eqs. 46-51).

With :math:`\dot y = G(y) - L(y)` (:meth:`Kinetics0D.terms`) and
:math:`\mu \ge \max_i L_i/y_i`, :math:`P(y) = G - L + \mu y \ge 0` (Eq. 48). The change of
variables :math:`\tau = 1 - e^{-\mu\Delta t}`, :math:`F = y e^{\mu t}` (Eq. 47) and the
power series :math:`F = \sum\tau^k F_k` (Eq. 49) give

.. math::
    F_0 = y^n,\quad F_1 = P(F_0)/\mu,\quad
    F_2 = F_1 + \frac{1}{2\mu}\,\frac{\partial P}{\partial y}\Big|_{F_0}(F_1 - F_0),

where :math:`F_2` is the Taylor coefficient of the exact solution for a general (not
bilinear) :math:`P`; for a symmetric bilinear :math:`P` it reduces to Eq. 50,
:math:`F_2 = P(F_0, F_1)/\mu`. Steps (Eq. 51 with the Pareschi-Russo weights that sum
to one):

* first order: :math:`y^{n+1} = (1 - \tau)F_0 + \tau F_1`, i.e.
  :math:`y^{n+1} = y^n + \tau\,(G - L)/\mu`: positive for any :math:`\Delta t`, and
  with a scalar :math:`\mu` every linear invariant (the energy) is conserved exactly;
* second order: :math:`y^{n+1} = (1-\tau)F_0 + \tau(1-\tau)F_1 + \tau^2F_2`.
  Positivity holds whenever :math:`F_2 \ge 0`; where :math:`F_2 < 0` the step falls back
  to the first-order update for that component (counted in ``limited``).

``mu = "global"`` uses one :math:`\mu` (the notes); ``"local"`` one per unknown
(:math:`\mu_i = L_i/y_i`, an exponential-integrator-like variant that is also positive and
first/second order, but conserves energy only in the limit :math:`\Delta t\to 0`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from ...solvers.result import ConvergenceError
from .model import Kinetics0D

__all__ = ["RelaxationResult", "relax", "relaxation_step"]


@dataclass
class RelaxationResult:
    """Outcome of :func:`relax`.

    Attributes
    ----------
    t : float
    steps : int
    limited : int
        Second-order components that fell back to first order (``F_2 < 0``).
    residual_norm : float
        :math:`\\|\\dot y\\|_2` at the end.
    wall_time : float
    history : dict
        ``t`` and ``residual`` per recorded step (and ``delta`` with a self-consistent
        gap).
    model : Kinetics0D
        The model of the final state (a new grid if the gap followed ``f``).
    """

    t: float
    steps: int
    limited: int
    residual_norm: float
    wall_time: float
    history: dict = field(default_factory=dict)
    model: Kinetics0D | None = None


def _mu(model: Kinetics0D, y: np.ndarray, loss: np.ndarray, kind: str,
        safety: float) -> np.ndarray | float:
    rate = np.zeros_like(y)
    np.divide(loss, y, out=rate, where=y > 0)
    rate = np.maximum(rate, 1e-300)
    if kind == "global":
        return safety * float(np.max(rate))
    if kind == "local":
        return safety * rate
    raise ValueError(f"mu must be 'global' or 'local', got {kind!r}")


def relaxation_step(model: Kinetics0D, y: np.ndarray, dt: float, *, order: int = 1,
                    t: float = 0.0, mu: str = "global", safety: float = 1.0
                    ) -> tuple[np.ndarray, int]:
    """One time-relaxation step (Eqs. 46-51); returns ``(y_new, n_limited)``."""
    gain, loss = model.terms(y, t)
    m = _mu(model, y, loss, mu, safety)
    q = gain - loss
    f1 = y + q / m  # = P(F0)/mu, >= 0 by the choice of mu
    tau = -np.expm1(-m * dt)
    if order == 1:
        return y + tau * q / m, 0
    if order != 2:
        raise ValueError("order must be 1 or 2")
    jp = model.jacobian(y, t) @ (f1 - y) + m * (f1 - y)  # (dQ/dy + mu) (F1 - F0)
    f2 = f1 + jp / (2.0 * m)
    y_new = (1.0 - tau) * y + tau * (1.0 - tau) * f1 + tau * tau * f2
    bad = y_new < 0
    if np.any(bad):
        y_new = np.where(bad, y + tau * q / m, y_new)
    return y_new, int(np.count_nonzero(bad))


def _follow_gap(model: Kinetics0D, y: np.ndarray, delta0: float
                ) -> tuple[Kinetics0D, np.ndarray]:
    from .selfgap import remap, self_consistent_gap

    d = self_consistent_gap(model.split(y)[0], model.grid, delta0)
    if abs(d - model.grid.delta) <= 1e-14 * model.grid.delta:
        return model, y
    new = model.with_gap(d)
    return new, remap(y, model, new)


def relax(model: Kinetics0D, y0: np.ndarray, dt: float, *, t_end: float = math.inf,
          order: int = 1, mu: str = "global", safety: float = 1.0,
          residual_tol: float | None = None, max_steps: int = 1_000_000,
          record_every: int = 0, max_wall: float = math.inf,
          gap_delta0: float | None = None) -> tuple[np.ndarray, RelaxationResult]:
    """Time-relaxation integration with fixed ``dt`` to ``t_end`` or until
    :math:`\\|\\dot y\\|_2 \\le` ``residual_tol`` (checked every step if given).

    ``max_wall`` (seconds) stops the run like ``max_steps`` does. With ``gap_delta0``
    (:math:`\\Delta_0` of the gap equation) the gap follows ``f`` at every step: after
    each step the gap equation is solved for the new ``f``
    (:func:`fvqp.models.kinetics0d.selfgap.self_consistent_gap`) and, if the gap moved,
    the model is rebuilt on the grid of the new gap and the state carried over
    (:func:`~fvqp.models.kinetics0d.selfgap.remap`: QP number kept; the energy change
    is the condensate's). The final model is ``result.model``.

    Raises
    ------
    ConvergenceError
        ``residual_tol`` not reached within ``max_steps`` / ``max_wall``.
    """
    y = np.asarray(y0, dtype=float).copy()
    t, steps, limited = 0.0, 0, 0
    hist: dict[str, list] = {"t": [], "residual": []}
    start = time.perf_counter()
    res = math.inf
    while steps < max_steps and time.perf_counter() - start < max_wall:
        h = min(dt, t_end - t)
        if h <= 0:
            break
        if residual_tol is not None:
            res = float(np.linalg.norm(model.rhs(y, t)))
            if res <= residual_tol:
                break
        y, nl = relaxation_step(model, y, h, order=order, t=t, mu=mu, safety=safety)
        limited += nl
        if gap_delta0 is not None:
            model, y = _follow_gap(model, y, gap_delta0)
        t += h
        steps += 1
        if record_every and steps % record_every == 0:
            hist["t"].append(t)
            hist["residual"].append(res)
            hist.setdefault("delta", []).append(model.grid.delta)
    res = float(np.linalg.norm(model.rhs(y, t)))
    out = RelaxationResult(t=t, steps=steps, limited=limited, residual_norm=res,
                           wall_time=time.perf_counter() - start, history=hist, model=model)
    if residual_tol is not None and res > residual_tol:
        raise ConvergenceError(f"time relaxation did not reach |F| <= {residual_tol:.3e} in "
                               f"{steps} steps (|F| = {res:.3e}); increase max_steps or dt "
                               "(mu='local').", out)
    return y, out

"""Time marching of the discrete-ordinates QP problem without collisions (:mod:`.problem`).

Without inelastic collisions every energy bin is one linear system over the cells: the
steady state, one backward-Euler/BDF2 step of every bin, and the fixed-step march of one
bin alone (one LU factorisation for the whole run, flows accumulated with the scheme's own
weights so the particle balance is exact) are solves of :meth:`~.problem.BTEProblem.solve`
with the right-hand sides of :meth:`~.problem.BTEProblem.rhs`.
"""

from __future__ import annotations

import numpy as np

from ...solvers.result import LinearSolveResult

__all__ = ["BinMarch"]


class BinMarch:
    """Steady solve, steps and single-bin march of a :class:`~.problem.BTEProblem` (a
    mixin on its ``solve``, ``rhs``, ``step_source`` and ``rates``)."""

    def equilibrium(self, f: np.ndarray) -> np.ndarray:
        """Isotropic state with occupation ``f`` (N,) everywhere: (N, n_owned B)."""
        return np.repeat(f[:, None], self.n * self.B, axis=1)

    def steady(self) -> tuple[np.ndarray, list[LinearSolveResult]]:
        """Steady state of every bin: unknowns (N, n_owned B) and the solve outcomes."""
        src = self.source_rates(0.0, np.inf)
        xs, res = [], []
        for j in range(self.N):
            x, r = self.solve(j, 0.0, self.rhs(j, src=src[:, j]))
            xs.append(x)
            res.append(r)
        return np.array(xs), res

    def step(self, x: np.ndarray, x_prev: np.ndarray | None, t: float, dt: float
             ) -> tuple[np.ndarray, list[LinearSolveResult]]:
        """One backward-Euler (``x_prev`` None) or BDF2 step of every bin (equal steps;
        sources by :meth:`step_source`)."""
        src = self.step_source(t, dt, x_prev is not None)
        n, B, K = self.n, self.B, self.K
        xs, res = [], []
        for j in range(self.N):
            fo = x[j].reshape(n, B)[:, :K]
            if x_prev is None:
                a, hist = 1.0 / dt, fo / dt
            else:
                fp = x_prev[j].reshape(n, B)[:, :K]
                a, hist = 1.5 / dt, (2.0 * fo - 0.5 * fp) / dt
            xn, r = self.solve(j, a, self.rhs(j, hist, src[:, j]), x0=x[j])
            xs.append(xn)
            res.append(r)
        return np.array(xs), res

    def march(self, j: int, x: np.ndarray, dt: float, nsteps: int, bdf2: bool,
              keep=(), start: int = 0, prev: np.ndarray | None = None,
              flows: dict | None = None, on_step=None,
              increments: dict | None = None) -> dict:
        """Time-march bin ``j`` alone (the bins are independent) from step ``start``
        (state ``x`` (n_owned B,), previous state ``prev`` for BDF2) to step ``nsteps``
        with fixed steps: one LU factorisation for the whole run.

        ``flows`` (time integrals of :meth:`rates` so far) is continued with the time
        scheme's own weights, so that the particle balance is exact for BDF2 too: the
        storage obeys 3/2 dC(n+1) - 1/2 dC(n) = dt R(n+1) + 3/2 S(n+1) - 1/2 S(n) (sources
        by :meth:`step_source`), every flow is accumulated by the same recurrence from its
        last increment (``increments``, per key; a backward-Euler step restarts it) and
        the sources by their exact deposit S(n+1). ``on_step(step, x, prev, flows, iterations)`` is
        called after every accepted step (checkpoints; the current increments are in
        :attr:`last_increments`); a true return stops the march after that step (a stop
        signal). Returns a dict with ``states`` (step -> x for steps in
        ``keep``), ``flows``, ``increments``, ``iterations`` (per step of this call),
        ``failed`` (first step whose KSP failed, or None), ``steps`` done (absolute) and
        ``final`` / ``prev`` states.
        """
        n, B, K = self.n, self.B, self.K
        states, flows, its = {}, dict(flows or {}), []
        inc = dict(increments or {})
        failed, done = None, start
        for step in range(start + 1, nsteps + 1):
            t = (step - 1) * dt
            fo = x.reshape(n, B)[:, :K]
            be = prev is None or not bdf2
            src = self.step_source(t, dt, not be)[:, j]
            if be:
                a, hist = 1.0 / dt, fo / dt
            else:
                a, hist = 1.5 / dt, (2.0 * fo - 0.5 * prev.reshape(n, B)[:, :K]) / dt
            xn, r = self.solve(j, a, self.rhs(j, hist, src), x0=x)
            its.append(r.iterations)
            if not r.success:
                failed = step
                break
            for k, val in self.rates(xn, t, t + dt, bins=[j]).items():
                if be or k == "sources":  # the step's exact deposit (BDF2 on C - A)
                    inc[k] = dt * val
                else:
                    inc[k] = (dt * val + 0.5 * inc.get(k, 0.0)) / 1.5
                flows[k] = flows.get(k, 0.0) + inc[k]
            self.last_increments = inc
            prev, x, done = x, xn, step
            if step in keep:
                states[step] = x
            if on_step is not None and on_step(step, x, prev, flows, its):
                break  # the caller stops after this step
        self.release()
        return {"states": states, "flows": flows, "iterations": its, "failed": failed,
                "steps": done, "final": x, "prev": prev, "increments": inc}

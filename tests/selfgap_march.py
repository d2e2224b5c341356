"""Fixed steps of a self-consistent-gap stepper of fvqp/models/bte (``Collisionless`` of
gapsteps.py, ``WithCollisions`` of gapcollide.py) for the tests: kinetic step, flows,
gap update, samples."""

from __future__ import annotations

from collections.abc import Callable


def march(run, dt: float, nsteps: int, every: int, sample: Callable[[], tuple],
          after: Callable[[], None] | None = None) -> tuple[list, dict]:
    """``nsteps`` steps of ``dt`` (internal) from t = 0, each followed by the gap update
    (asserted to converge) and ``after()``; ``sample()`` every ``every`` steps. Returns the
    samples and the accumulated QP flows out of the system (internal numbers)."""
    flows, rows = {}, []
    for k in range(nsteps):
        ok, inc, _ = run.step(k * dt, dt)
        assert ok
        for key, v in inc.items():
            flows[key] = flows.get(key, 0.0) + v
        assert run.update().converged
        if after is not None:
            after()
        if (k + 1) % every == 0:
            rows.append(sample())
    return rows, flows

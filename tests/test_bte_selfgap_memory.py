"""A per-cell gap run replaces its problems, solvers and factorisations at every gap update
(fvqp/models/bte/gapcollide.py, gaprun.py): the replaced ones must be freed at once.
Before 2026-11-25 the collision problem and its preconditioner (LU factors included)
stayed alive in reference cycles until Python's next full collection, which large arrays
do not trigger: the small absorber variant of tests/test_bte_absorber3d.py peaked at
1.26 GB after 9 steps (0.57 GB after 3), 0.47 GB with the releases."""

from __future__ import annotations

import gc
from pathlib import Path

import fvqp.api as fa
from fvqp.models.bte import gaprun
from fvqp.models.bte.inelastic import InelasticProblem

CASES = Path(__file__).resolve().parents[1] / "cases"


def _alive() -> int:
    """InelasticProblem objects in memory, reachable or not (no collection first)."""
    return sum(isinstance(o, InelasticProblem) for o in gc.get_objects())


def test_replaced_collision_problems_are_freed_at_every_step(tmp_path, monkeypatch):
    """bte_selfgap_uniform (collisions, local phonons, per-cell gap), 8 steps: after every
    step at most one collision problem is in memory, the one in use."""
    counts = []
    advance = gaprun.GapMarch.advance

    def counted(self, step):
        out = advance(self, step)
        counts.append(_alive())
        return out

    monkeypatch.setattr(gaprun.GapMarch, "advance", counted)
    text = (CASES / "bte_selfgap_uniform.toml").read_text()
    for old, new in (('end = "80 ns"', 'end = "16 ns"'), ("every = 5", "every = 8")):
        assert old in text, old
        text = text.replace(old, new)
    gc.collect()
    before = _alive()
    r = fa.run(text, base_dir=CASES, name="memory", output_dir=tmp_path)
    assert r.result.status == 0, r.result.message
    assert len(counts) == 8
    assert max(counts) - before <= 1, counts

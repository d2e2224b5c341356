"""``benchmarks/rank_waits.py``: each rank's wait at a collective (the last arrival
minus its own) is charged to the segment it ran since its previous collective, and
ranks whose sequences of collectives differ are refused (the tool's figures in
docs/performance.md rest on both)."""

import pytest
from test_benchmark_cases import _benchmark


def test_waits_are_charged_to_the_segment_before_the_collective():
    """Two ranks, three collectives: rank 1 arrives 0.3 s late at the first (rank 0
    waits there, after its start segment) and rank 0 0.5 s late at the second (rank 1
    waits, after its segment from the first); the third is reached together. Times
    inside the collectives are their exit minus entry on each rank."""
    charge = _benchmark("rank_waits").charge
    r0 = [("a@x.py:1", 1.0, 1.3), ("b@x.py:2", 2.5, 2.6), ("a@x.py:1", 3.0, 3.1)]
    r1 = [("a@x.py:1", 1.3, 1.3), ("b@x.py:2", 2.0, 2.6), ("a@x.py:1", 3.0, 3.1)]
    waits, inside = charge([r0, r1])
    assert waits[0]["start -> a@x.py:1"] == pytest.approx(0.3)
    assert waits[1]["a@x.py:1 -> b@x.py:2"] == pytest.approx(0.5)
    assert sum(waits[0].values()) == pytest.approx(0.3)
    assert sum(waits[1].values()) == pytest.approx(0.5)
    assert inside == pytest.approx([0.5, 0.7])


def test_different_sequences_are_refused():
    """Collectives that differ between the ranks cannot be lined up: an error naming
    them, not figures."""
    charge = _benchmark("rank_waits").charge
    with pytest.raises(RuntimeError, match="differs between the ranks"):
        charge([[("a@x.py:1", 0.0, 0.1)], [("b@x.py:1", 0.0, 0.1)]])

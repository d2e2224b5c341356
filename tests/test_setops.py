"""fvqp.setops.distinct is np.unique (sorted distinct values) without numpy's hashing."""

from __future__ import annotations

import numpy as np
import pytest

from fvqp.setops import distinct


@pytest.mark.parametrize("values", [
    np.zeros(0, dtype=np.int64), np.array([7]), np.array([2, 2, 2]),
    np.random.default_rng(1).integers(-50, 50, 10_000),
    np.random.default_rng(2).integers(0, 1 << 40, 2_000) * 1024,
    np.random.default_rng(3).random((40, 30)).round(1),
    np.array([3, 1, 3, 2, 1], dtype=np.int32)])
def test_distinct_is_np_unique(values):
    got, ref = distinct(values), np.unique(values)
    assert got.dtype == ref.dtype
    assert np.array_equal(got, ref)

"""COO triplet accumulator for the Jacobians of the Usadel spectral solvers."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


class Triplets:
    """Collects ``(row, col, value)`` blocks (broadcast against each other) and builds the
    CSR matrix with duplicates summed: ``put = Triplets(); put(r, c, v); put.csr(shape)``.
    """

    def __init__(self):
        self.rows: list = []
        self.cols: list = []
        self.vals: list = []

    def __call__(self, r, c, v) -> None:
        r, c, v = np.broadcast_arrays(r, c, v)
        self.rows.append(r.ravel())
        self.cols.append(c.ravel())
        self.vals.append(v.ravel())

    def csr(self, shape: tuple[int, int]) -> sp.csr_matrix:
        return sp.csr_matrix((np.concatenate(self.vals), (np.concatenate(self.rows),
                                                          np.concatenate(self.cols))),
                             shape=shape)

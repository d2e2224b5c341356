r"""The system matrix of one energy bin as one sparsity pattern and entries linear in the
bin's speeds and transmissions.

The owned rows of bin :math:`j` (:meth:`.problem.BTEProblem.local_matrix`) are

.. math::
    A_j = S\,\mathrm{diag}(v_j) + \mathrm{diag}(v_j)\,C + \Phi
          + \sum_g I_g(v_j, T_{g,j}) + \mathrm{diag}(d_j),

:math:`S` the streaming per unit speed (column scaled by the flux speed of the upwind,
i.e. the column's, cell), :math:`C` the elastic scattering (row scaled by the row's cell),
:math:`\Phi` the angle-average rows, :math:`I_g` the interface faces of group :math:`g`
(:func:`fvqp.ordinates.streaming.interface_entries`: every entry a coefficient times the
speed of one side and :math:`T`, :math:`1 - T` or 1) and :math:`d_j` the storage and trap
diagonal. Every entry is thus :math:`c_e\,v_j[\text{cell}_e]\,\tau_j[e]`: the
coefficients, cells, transmission indices and the summed pattern do not depend on the
bin, and are built once per problem (:class:`BinOperator`); a bin's matrix is then one
vectorised product and one ``bincount`` instead of the sparse products and sums of every
term (the collision problem of a per-cell-gap run assembles all bins at every gap update:
``benchmarks/bte_absorber3d.py selfgap``).

Explicit zeros (a bin below a cell's gap, :math:`T = 1` or 0) are removed from every
matrix, so the pattern of each bin is the one of the sum of its non-zero terms (the
sweep's ordering reads it: :meth:`.problem.BTEProblem.sweep_graph`).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ...ordinates import interface_entries
from ...ordinates.streaming import InterfaceEntries

__all__ = ["BinOperator"]


class BinOperator:
    """The bin-independent structure of a problem's per-bin matrices (module docstring).

    Parameters
    ----------
    stream, coll, phi : scipy.sparse matrix, shape (n B, n_local B)
        Streaming per unit speed, elastic scattering per unit speed, angle-average rows.
    groups : list of (model, InterfaceFaces, tab, tba)
        The interface faces (:meth:`.problem.BTEProblem._split_interfaces`).
    w : ndarray, shape (K,)
        Quadrature weights.
    n, n_local : int
        Owned and local cells.
    """

    def __init__(self, stream, coll, phi, groups: list, w: np.ndarray, n: int,
                 n_local: int):
        B = len(w) + 1
        self.shape = (n * B, n_local * B)
        self.groups = [(part.a, part.b, len(part.a)) for _, part, _, _ in groups]
        rows, cols, coef, cell, trans = [], [], [], [], []
        pad = n_local                      # cell index of the speed 1 (no speed factor)
        for m, by_col in ((stream, True), (coll, False), (phi, None)):
            m = m.tocoo()
            rows.append(m.row)
            cols.append(m.col)
            coef.append(m.data)
            cell.append(np.full(m.nnz, pad) if by_col is None
                        else (m.col if by_col else m.row) // B)
            trans.append(np.full(m.nnz, -1))
        offset = 0
        for (model, part, _, _), (a, b, F) in zip(groups, self.groups, strict=True):
            e = interface_entries(part, w, n, model)
            rows.append(e.rows)
            cols.append(e.cols)
            coef.append(e.coef)
            cell.append(np.concatenate([a, b])[e.speed])
            trans.append(np.where(e.trans == 4 * F, -1, e.trans + offset))
            offset += 4 * F
        diag = np.arange(n * B)            # the storage/trap diagonal, last
        rows.append(diag)
        cols.append(diag)
        self.n_raw = sum(len(r) for r in rows[:-1])
        self.coef = np.concatenate(coef)
        self.cell = np.concatenate(cell)
        self.trans = np.concatenate(trans)
        self.has_trans = offset > 0
        r, c = np.concatenate(rows), np.concatenate(cols)
        keys, self.slot = np.unique(r.astype(np.int64) * self.shape[1] + c,
                                    return_inverse=True)
        self.indices = (keys % self.shape[1]).astype(np.int32)
        self.indptr = np.zeros(self.shape[0] + 1, dtype=np.int32)
        np.cumsum(np.bincount(keys // self.shape[1], minlength=self.shape[0]),
                  out=self.indptr[1:])

    def matrix(self, speed: np.ndarray, transmissions: list, d: np.ndarray) -> sp.csr_matrix:
        """The bin's matrix: flux speeds of the local cells ``speed`` (n_local,), the
        groups' ``(T_ab, T_ba)`` per face in this bin, the diagonal ``d`` (n B,); no
        stored zeros."""
        vals = self.coef * np.append(speed, 1.0)[self.cell]
        if self.has_trans:
            # every group's [T_ab, T_ba, 1 - T_ab, 1 - T_ba] (InterfaceEntries' layout,
            # its trailing 1 shared by all groups: index -1)
            tx = np.concatenate([InterfaceEntries.factors(tab, tba)[:-1]
                                 for tab, tba in transmissions] + [[1.0]])
            vals *= tx[self.trans]
        data = np.bincount(self.slot, weights=np.concatenate([vals, np.ravel(d)]),
                           minlength=len(self.indices))
        out = sp.csr_matrix((data, self.indices.copy(), self.indptr.copy()), shape=self.shape)
        out.has_sorted_indices = True
        out.eliminate_zeros()          # in place: on copies of the shared pattern
        return out

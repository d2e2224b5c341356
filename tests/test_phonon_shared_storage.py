"""What the phonon systems of a chip store once (issue 17 §4, memory per phonon unknown):
the ``dmm`` interface operators of bins with proportional flux speeds (one operator times
:math:`(\\Omega_j/\\Omega_0)^2`, :class:`fvqp.models.phonon.problem.ScaledOperators`), and
the cached bin systems of one sparsity pattern (one PETSc matrix and KSP, the values per
bin: :class:`fvqp.solvers.diagonal.ShiftedSystems`)."""

from __future__ import annotations

import numpy as np

from conftest import case_variant
from fvqp.case.loader import load_case


def test_chip_bins_share_one_interface_operator_and_one_pattern(tmp_path):
    """The small chip (358 cells, Si with dmm interfaces to three Al films, 14 phonon
    nodes): the interface operators of all bins are one stored operator, and each bin's
    equals the operator built for it directly (:func:`fvqp.ordinates.interface_matrix`)
    to 1e-14 of its largest entry (measured 3.5e-16) — a wrong factor (e.g.
    :math:`\\Omega_j/\\Omega_0` instead of its square) would be off by O(1); one sweep
    with film rates caches a system per bin on one sparsity pattern (one PETSc matrix).
    ~4 CPU s."""
    from fvqp.models.bte_chip.driver import ChipSimulation
    from fvqp.models.phonon.mismatch import dmm_transmission
    from fvqp.ordinates import interface_matrix

    case = case_variant("bte_chip_deposit.toml", tmp_path,
                        **{"chip_layout/chip.msh": "chip_small/chip_small.msh"})
    sim = ChipSimulation(load_case(case))
    ph = sim.psim.problem
    assert len(ph._itf) == ph.N == 14
    assert len(ph._itf.base) == 1
    itf = ph.stream.interfaces
    ra, rb = ph.reg[itf.a], ph.reg[itf.b]
    for j in range(ph.N):
        ga, gb = ph.flux[ra, j], ph.flux[rb, j]
        direct = interface_matrix(itf, ph.quad.weights, ph.n, ph.loc.n_local, ga, gb,
                                  dmm_transmission(ga, gb), dmm_transmission(gb, ga),
                                  "diffuse")
        assert abs(direct - ph._itf[j]).max() <= 1e-14 * abs(direct).max()
    dt = sim.dt
    x = ph.equilibrium(ph.n_bath)
    extra = np.zeros((ph.N, ph.n))
    extra[:, ph.reg[: ph.n] != sim.geometry.region_names.index("substrate")] = 1.0
    _, res = ph.sweep(1.0 / dt, hist=ph.directional(x) / dt, x0=x, extra=extra)
    assert all(r.success for r in res)
    assert len(ph._systems._vals) == ph.N
    assert len(ph._systems._pat) == 1
    ph.release()


def test_system_rows_renumbered_in_place_equal_the_coordinate_route(tmp_path):
    """``BinSweeps._global_rows`` in the mesh's order renumbers the CSR's columns in
    place (one gather, rows kept) instead of the coordinate route it took before (COO,
    global columns, duplicates summed, CSR): every bin system of the small chip, and
    one with a duplicate entry, come out the same CSR bit for bit (row starts, sorted
    global columns, values), also with global numbers that reorder every row, and the
    caller's matrix is left as it was."""
    import scipy.sparse as sp

    from fvqp.models.bte_chip.driver import ChipSimulation

    case = case_variant("bte_chip_deposit.toml", tmp_path,
                        **{"chip_layout/chip.msh": "chip_small/chip_small.msh"})
    sim = ChipSimulation(load_case(case))
    ph = sim.psim.problem
    a = 1.0 / sim.dt                      # the chain's time coefficient

    class Reversed:
        """Global numbers backwards: every row's columns reorder (as ghosts' do on
        several ranks), so sorting them moves the values."""

        n_global = ph.bdist.n_global

        def global_index(self, local):
            return self.n_global - 1 - np.asarray(local, dtype=np.int64)

    def coordinate_route(m, bdist):
        c = m.tocoo()
        csr = sp.csr_matrix((c.data, (c.row, bdist.global_index(c.col))),
                            shape=(m.shape[0], bdist.n_global))
        csr.sum_duplicates()
        csr.sort_indices()
        return csr

    mats = [ph.local_matrix(j, a) for j in range(ph.N)]
    m0 = mats[0].tocsr()      # row 3 with its first column once more, at its end
    at = m0.indptr[4]
    indptr = m0.indptr.copy()
    indptr[4:] += 1
    dup = sp.csr_matrix((np.insert(m0.data, at, 0.25),
                         np.insert(m0.indices, at, m0.indices[m0.indptr[3]]), indptr),
                        shape=m0.shape)
    assert not dup.has_canonical_format
    canonical = []         # local_matrix's rows come unsorted: canonical ones too
    for m in mats[:3]:
        c = m.copy()
        c.sum_duplicates()
        assert c.has_canonical_format
        canonical.append(c)
    for bdist in (ph.bdist, Reversed()):
        for m in [*mats, *canonical, dup]:
            kept = (m.indptr.copy(), m.indices.copy(), m.data.copy())
            got, n_global, row0 = ph._global_rows(m, bdist)
            want = coordinate_route(m, bdist)
            assert n_global == ph.bdist.n_global
            assert row0 == int(bdist.global_index(0))
            assert np.array_equal(got.indptr, want.indptr)
            assert np.array_equal(got.indices, want.indices)
            assert np.array_equal(got.data, want.data)
            assert all(np.array_equal(x, y) for x, y in
                       zip(kept, (m.indptr, m.indices, m.data), strict=True))
    ph.release()

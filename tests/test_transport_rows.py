"""Issue 18 §1: the transport problem's per-cell DOS and masses kept as a table of their
distinct rows (:class:`fvqp.models.transport.rows.RowTable`): the same numbers as one
row per cell, bit for bit, in a fraction of the memory."""

import numpy as np
import pytest
import test_transport_schur_cells as _cells

from fvqp.models.transport.rows import RowTable
from fvqp.spectra.bins import cell_spectra

#: the 520-cell absorber at a perturbed state (the fixture of the cell-storage tests)
absorber = _cells.absorber


def test_row_table_indexing_is_the_whole_arrays():
    rng = np.random.default_rng(2)
    table = rng.standard_normal((3, 5))
    index = rng.integers(0, 3, 40)
    scale = rng.uniform(size=40)
    for t in (RowTable(table, index), RowTable(table, index, scale, 0.7)):
        whole = table[index] if t.scale is None else (scale[:, None] * 0.7) * table[index]
        assert np.array_equal(np.asarray(t), whole) and t.shape == whole.shape
        for key in (slice(3, 17), 5, np.array([0, 9, 39]), slice(None), np.int64(7)):
            assert np.array_equal(t[key], whole[key])
        assert np.array_equal(t[2:9, 4], whole[2:9, 4])
        assert t[6, 1] == whole[6, 1]
    with pytest.raises(IndexError):
        RowTable(table, index)[1, 2, 3]


def test_problem_dos_and_masses_are_the_per_cell_arrays(absorber):
    """rho, ados, dl, m_f, m_n of the absorber (two gaps, traps, phonons held in the
    traps) equal the per-cell formulas bit for bit, in tables of their distinct rows
    (one per gap: the Ta pad, the Al lead, the traps' zero gap)."""
    p, _ = absorber
    g = p.grid
    rho, ados, dl = cell_spectra(g, p.delta)
    vol, w = p.loc.volume, p.p["weight"]
    m_f = (vol * w)[:, None] * g.h * rho
    m_n = (vol * w * p.beta)[:, None] * g.h * g.omega[None, :] ** 2
    alg = (rho <= 0) | p.trap[:, None]
    m_f[alg] = 0.0
    m_n[p.ph_fixed] = 0.0
    for name, want in (("rho", rho), ("ados", ados), ("dl", dl), ("m_f", m_f),
                       ("m_n", m_n)):
        got = getattr(p, name)
        assert isinstance(got, RowTable)
        assert np.array_equal(np.asarray(got), want), name
        assert np.array_equal(got[5:300], want[5:300]), name
    assert np.array_equal(p.alg_f, alg)
    distinct = len(np.unique(p.delta))
    assert 2 <= distinct <= 3 and p.rho.table.shape[0] == distinct
    assert p.m_n.table.shape[0] == 1
    # memory: the tables, row numbers and scales against one row per cell
    held = sum(getattr(p, k).nbytes for k in ("rho", "ados", "dl", "m_f", "m_n"))
    assert held < 0.1 * (4 * rho.nbytes + m_n.nbytes)

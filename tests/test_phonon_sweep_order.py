"""The phonon bins' transient systems in sweep order (``-<prefix>sweep 1``,
:data:`fvqp.models.phonon.bins.SWEEP`): every rank's unknowns renumbered ordinate by
ordinate, cells in the ordinate's sweep order, angle averages last, so that PETSc's
block-Jacobi ILU(0) is the transport sweep. The renumbering must not change the answer
(serial and on 2 ranks, where a ghost's new number comes from its owner) and must cut
the Krylov count."""

from __future__ import annotations

import json

import pytest
from test_bte_chip_adaptive import _rows
from test_bte_chip_bdf2 import SHORT

from conftest import run_fvqp

KEYS = ("time_s", "E_qp_J", "E_phonon_J", "N_qp:upper", "N_pair")


def _run(write_case, tmp_path, name: str, nproc: int = 1, extra=()):
    case = write_case(SHORT, f"{name}.toml")
    run_fvqp(["run", case, "--output", tmp_path / name, *extra], nproc=nproc)
    s = json.loads((tmp_path / name / "summary.json").read_text())
    return s, _rows(tmp_path / name / f"{name}_series.csv")


def test_sweep_order_gives_the_same_chain_in_fewer_phonon_iterations(write_case, tmp_path):
    """The closed chip to 6 ns (1 ns steps through the deposit): with ``-bte_chip_sweep
    1``, serially and on 2 ranks, every series row equals the mesh order's to 1e-8 of
    its column's largest value (the Krylov tolerance is 1e-13; a wrong renumbering of
    a row, a column, a ghost or the film rates' diagonal is off by O(1)), the energy
    balances to 1e-10 of the deposit in every row, and the serial phonon sweeps take
    fewer Krylov iterations than in the mesh order. Measured: rows 6.8e-12 (serial) and
    4.6e-12 (2 ranks) apart, imbalance 1.2e-13 of the deposit; 1 631 -> 1 503 phonon
    Krylov iterations on this 358-cell chip (the gain grows with the cells: 10.5 -> 7.3
    per bin and sweep at 20 640 cells, 14.6 -> 7.4 at 78 710). ~12 s."""
    base, rb = _run(write_case, tmp_path, "mesh")
    sw, rs = _run(write_case, tmp_path, "sweep", extra=["-bte_chip_sweep", "1"])
    par, rp = _run(write_case, tmp_path, "sweep2", nproc=2,
                   extra=["-bte_chip_sweep", "1"])
    assert base["status"] == sw["status"] == par["status"] == 0 and par["ranks"] == 2
    dep = base["E_deposited_J"]
    for rows in (rs, rp):
        assert len(rows) == len(rb)
        for k in KEYS:
            top = max(abs(float(a[k])) for a in rb)
            for a, b in zip(rb, rows, strict=True):
                assert float(b[k]) == pytest.approx(float(a[k]), rel=1e-8,
                                                    abs=1e-8 * top), k
        assert all(abs(float(r["imbalance_J"])) < 1e-10 * dep for r in rows)
    assert sw["phonon_linear_iterations"] < base["phonon_linear_iterations"]


def test_sweep_order_of_coupled_branches_gives_the_mesh_orders_step(write_case):
    """Si | sapphire with mode conversion (``amm_modes``, L and T branches: every energy's
    L and T bins one system of two bins per cell, ``groups``): one backward-Euler sweep
    of 1 ns from a state away from equilibrium (every ordinate of every cell its own
    occupation) gives the same states with the systems in sweep order as in the mesh's
    order, to 1e-10 of the largest (the Krylov tolerance is 1e-13; a renumbering that
    reached the matrix but not the right-hand side, the start or the result is off by
    O(1)), and the grouped systems were the renumbered ones (an order of two bins per
    cell was made)."""
    import numpy as np
    from petsc4py import PETSc
    from test_phonon_interfaces import _sim
    from test_phonon_modes import LT

    out = []
    for on in (False, True):
        sim = _sim(write_case, model="amm_modes", reflection="specular", extra=LT)
        p = sim.problem
        assert p.groups == [(0, 4), (1, 5), (2, 6), (3, 7)]
        opts = PETSc.Options()
        opts[p.prefix + "sweep"] = int(on)
        try:
            x = (1.0 + np.random.default_rng(3).random((p.N, p.n * p.B))) * 1e-3
            dt = sim.units.to_internal(1e-9, "time")
            xn, res = p.sweep(1.0 / dt, hist=p.directional(x) / dt, x0=x)
            assert all(r.success for r in res)
            assert (2 in p._orders) == on
            out.append(xn)
        finally:
            del opts[p.prefix + "sweep"]
            p.release()
    scale = np.abs(out[0]).max()
    assert np.abs(out[1] - out[0]).max() <= 1e-10 * scale

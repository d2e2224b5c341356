"""bte_sphere under ``mpiexec -n 2`` gives the serial answer (issue 18 §3).

The radial cells are split in contiguous blocks over the ranks
(:func:`fvqp.models.bte_sphere.discretisation.radial_distribution`): the residual, the
collisions and the Jacobian action of a rank's cells are computed once, on that rank. The
preconditioner is the exact inverse of the preconditioning matrix on both: the LU of
every energy bin's block over *all* radial cells, the blocks shared over the ranks
(:class:`fvqp.models.bte_sphere.precond.EnergyBlockPC`,
:class:`fvqp.parallel.blocktranspose.BlockTranspose`), so GMRES sees the same
preconditioned operator and takes the same iterations; the answers differ by round-off
only. (PETSc's block Jacobi over the ranks' cells, the former
default, drops the streaming coupling across the rank boundary: 128 instead of 114
Krylov iterations and 2.4e-12 in f, 7e-11 in the balances.) Compared here: the snapshots
of f (angle average and the written ordinates), of the phonons, the time series, and
every balance of ``summary.json``.
"""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from test_bte_sphere_vtk import SMALL as VTK_SMALL

from conftest import case_variant, run_fvqp

#: the small fixed-step variant of the .pvd test (10 BDF steps of 5 ps, a snapshot every
#: 2 steps) with 16 radial cells: 8 per rank
SMALL = {**VTK_SMALL, "cells = 40": "cells = 16"}

#: relative tolerance of 2 ranks against serial: round-off (measured figures in the
#: docstring of the test), far below the solver tolerances (1e-10)
RTOL = 1e-12


def _close(a, b, rtol: float = RTOL) -> float:
    """max |a - b| / max |a| (0 for two zero arrays), asserted <= rtol."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    assert a.shape == b.shape
    scale = float(np.max(np.abs(a))) if a.size else 0.0
    d = float(np.max(np.abs(a - b))) / scale if scale else float(np.max(np.abs(b), initial=0))
    assert d <= rtol, d
    return d


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


@pytest.mark.mpi
def test_sphere_two_ranks_equal_serial(tmp_path):
    """Fields, series and balances of ``mpiexec -n 2`` equal the serial run to 1e-12
    relative, with the same Newton and Krylov iterations (114). Measured (three runs):
    snapshots of the excess f <= 2.1e-16 (ordinates 2.8e-16, phonon excess 2.8e-14),
    energy balance <= 8e-14 of the deposited energy (the sums of the 5e-14 J thermal
    totals in another order), QP number 1.2e-15, time series <= 1.2e-13 (the 2e-21 J
    phonon surface flow)."""
    case = case_variant("bte_sphere_sn_packet.toml", tmp_path, **SMALL)
    run_fvqp(["run", case, "--output", tmp_path / "s"])
    run_fvqp(["run", case, "--output", tmp_path / "p"], nproc=2)
    s, p = (json.loads((tmp_path / k / "summary.json").read_text()) for k in "sp")
    assert s["status"] == p["status"] == 0
    assert (s["ranks"], p["ranks"]) == (1, 2)
    assert s["steps"] == p["steps"] == 10
    assert s["newton_iterations"] == p["newton_iterations"]
    # the preconditioner is the same on both: so is every GMRES solve
    assert s["linear_iterations"] == p["linear_iterations"]
    assert s["unknowns"] == p["unknowns"]
    assert s["packet_amplitude"] == pytest.approx(p["packet_amplitude"], rel=1e-14, abs=0)
    # balances: every number of the energy (J) and QP-number tables, relative to the
    # table's scale (the deposited energy, the initial QP number): an imbalance is
    # round-off of a difference and is compared on that scale
    fs, fp = _flat(s["energy_J"]), _flat(p["energy_J"])
    assert fs.keys() == fp.keys()
    e_scale = abs(s["energy_J"]["deposited_excess"])
    for k in fs:
        assert abs(fs[k] - fp[k]) <= RTOL * e_scale, (k, fs[k], fp[k])
    ns, np_ = _flat(s["qp_number"]), _flat(p["qp_number"])
    assert ns.keys() == np_.keys()
    for k in ns:
        assert abs(ns[k] - np_[k]) <= RTOL * s["qp_number"]["initial"], (k, ns[k], np_[k])
    # snapshots (rank 0 gathers the cells in serial order) and the time series
    with h5py.File(tmp_path / "s" / "bte_sphere.h5") as hs, \
            h5py.File(tmp_path / "p" / "bte_sphere.h5") as hp:
        assert np.array_equal(hs["snapshots/t"][()], hp["snapshots/t"][()])
        assert len(hs["snapshots/t"]) == 6
        for k in ("f", "f_mu", "n"):
            # the excess over the bath (the packet is ~1e-6 of the thermal occupation
            # at low energies: compare what moves)
            bath = hs["grid/f_bath" if k != "n" else "grid/n_bath"][()]
            a = hs[f"snapshots/{k}"][()]
            b = hp[f"snapshots/{k}"][()]
            shape = (1, 1, -1) + ((1,) if k == "f_mu" else ())
            _close(a - bath.reshape(shape), b - bath.reshape(shape))
        for k in hs["series"]:
            _close(hs[f"series/{k}"][()], hp[f"series/{k}"][()])

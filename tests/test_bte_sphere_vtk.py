"""bte_sphere writes its (r, E) fields as a ``.pvd`` time series (issue 16 §4): one
``.vtu`` per snapshot, SI fields with units, opened with pyvista; the QP density per
energy integrated over the sphere and the energies is the run's own QP number."""

from __future__ import annotations

import json
import math

import h5py
import numpy as np
import pytest

from conftest import CASES, run_fvqp
from fvqp.io.vtk import array_units

E = 1.602176634e-19

#: a small, fixed-step variant of cases/bte_sphere_sn_packet.toml: 50 ps, snapshot every
#: 2 steps of 5 ps
SMALL = {"cells = 40": "cells = 8", "ordinates = 8": "ordinates = 4",
         'spacing = "13.87 ueV"': 'spacing = "80 ueV"', 'e_max = "7.5 meV"': 'e_max = "6.7 meV"',
         'end = "5 ns"': 'end = "50 ps"', 'dt_initial = "0.01 ps"':
         'dt_initial = "5 ps"\nadaptive = false',
         'times = ["1 ps", "10 ps", "100 ps", "1 ns"]': "times = []",
         "every = 10": "every = 2"}


def _case(tmp_path):
    text = (CASES / "bte_sphere_sn_packet.toml").read_text()
    for a, b in SMALL.items():
        assert a in text, a
        text = text.replace(a, b)
    p = tmp_path / "bte_sphere_sn_packet.toml"
    p.write_text(text)
    return p


def _integral(mesh, name):
    """sum over cells of V(r) dE n: V = 4 pi/3 (r+^3 - r-^3) [m^3], dE [J] from the
    quad's corners (x = r [m], y = E [ueV])."""
    import pyvista as pv

    conn = mesh.cells_dict[pv.CellType.QUAD]
    x, y = mesh.points[conn, 0], mesh.points[conn, 1]
    vol = 4 * math.pi / 3 * (x.max(axis=1) ** 3 - x.min(axis=1) ** 3)
    de = (y.max(axis=1) - y.min(axis=1)) * E * 1e-6
    return float(np.sum(vol * de * np.asarray(mesh.cell_data[name])))


def test_sphere_pvd_series_holds_every_snapshot_and_the_qp_number(tmp_path):
    import pyvista as pv

    out = tmp_path / "out"
    run_fvqp(["run", _case(tmp_path), "--output", out])
    s = json.loads((out / "summary.json").read_text())
    assert s["status"] == 0 and s["steps"] == 10
    with h5py.File(out / "bte_sphere.h5") as fh:
        t_h5 = fh["snapshots/t"][()]
        f_h5 = fh["snapshots/f"][()]
        n_r, n_e = len(fh["grid/r_centres_m"]), len(fh["grid/energy_ueV"])
        radius = fh["grid/r_edges_m"][-1]
    reader = pv.get_reader(str(out / "bte_sphere_sn_packet.pvd"))
    times = np.asarray(reader.time_values)
    assert len(times) == len(t_h5) == 6  # t = 0 and every 2 of 10 steps
    assert np.allclose(times, t_h5, rtol=1e-12, atol=0)
    reader.set_active_time_value(times[0])
    first = reader.read()[0]
    reader.set_active_time_value(times[-1])
    last = reader.read()[0]
    assert last.n_cells == n_r * n_e
    # the radial axis spans the sphere (50 um)
    assert last.bounds[0] == 0.0 and last.bounds[1] == radius == pytest.approx(50e-6, rel=1e-12,
                                                                               abs=0)
    vtu = sorted((out / "vtu").glob("bte_sphere_sn_packet_*.vtu"))
    assert len(vtu) == 6
    units = array_units(str(vtu[-1]))
    assert units["qp_density_per_energy"] == units["qp_excess_per_energy"] == "1/(m^3 J)"
    assert units["f"] == "1"
    # f is the .h5's angle average (radial cell major, then energy)
    assert np.array_equal(np.asarray(last.cell_data["f"]), f_h5[-1].ravel())
    # integrated over the sphere and the energies: the run's QP number, first and last
    n = s["qp_number"]
    assert _integral(first, "qp_density_per_energy") == pytest.approx(n["initial"], rel=1e-10,
                                                                      abs=0)
    assert _integral(last, "qp_density_per_energy") == pytest.approx(n["final"], rel=1e-10,
                                                                     abs=0)
    # the excess is what the packet brought: positive, and less than the total
    ex = _integral(last, "qp_excess_per_energy")
    assert 0 < ex < n["final"]


@pytest.mark.mpi
def test_sphere_pvd_on_two_ranks_equals_serial(tmp_path):
    """Rank 0 writes the gathered (r, E) cells in the serial order: the last snapshot's
    fields of `mpiexec -n 2` equal the serial ones to the Newton tolerance (measured
    1.1e-11)."""
    import pyvista as pv

    case = _case(tmp_path)
    run_fvqp(["run", case, "--output", tmp_path / "s"])
    run_fvqp(["run", case, "--output", tmp_path / "p"], nproc=2)
    last = {}
    for k in "sp":
        reader = pv.get_reader(str(tmp_path / k / "bte_sphere_sn_packet.pvd"))
        assert len(reader.time_values) == 6
        reader.set_active_time_value(reader.time_values[-1])
        last[k] = reader.read()[0]
    assert np.array_equal(last["s"].points, last["p"].points)
    for f in ("f", "qp_density_per_energy"):
        a, b = np.asarray(last["s"].cell_data[f]), np.asarray(last["p"].cell_data[f])
        assert np.max(np.abs(a - b)) <= 1e-9 * np.max(np.abs(a)), f

"""``fvqp info`` on HDF5 and series files written by hand (no run): each dataset's unit
from a JSON ``units`` table (the Usadel model's), every ``<case>_series.csv`` column with
its unit (declared in the file, else from its name's suffix) and range."""

from __future__ import annotations

import json

import h5py
import numpy as np

from fvqp.io.series import SeriesWriter
from fvqp.post.info import describe
from fvqp.post.result import open_result


def test_datasets_carry_the_units_of_a_json_table(tmp_path):
    (tmp_path / "summary.json").write_text(json.dumps({"model": "usadel", "status": 0}))
    with h5py.File(tmp_path / "wire.h5", "w") as fh:
        fh.attrs["units"] = json.dumps({"x_um": "um", "spectral/N": "1"})
        fh["x_um"] = np.zeros(5)
        fh["plain"] = np.zeros(2)
        g = fh.create_group("spectral")
        g.attrs["units"] = json.dumps({"N": "1", "energy_ueV": "ueV"})
        g["N"] = np.zeros((3, 5))
        g["energy_ueV"] = np.zeros(3)
        t = fh.create_group("timeseries")
        t.attrs["units"] = "t in tau0"
        t["t"] = np.zeros(4)
    lines = describe(open_result(tmp_path)).splitlines()
    assert "  x_um  float64 (5,)  (um)" in lines
    assert "  plain  float64 (2,)" in lines
    assert "  spectral/N  float64 (3, 5)  (1)" in lines
    assert "  spectral/energy_ueV  float64 (3,)  (ueV)" in lines
    # a plain note stays the group's; no line shows a JSON table
    assert "  timeseries/  (t in tau0)" in lines
    assert not any("{" in ln for ln in lines)


def test_series_columns_with_units_and_ranges(tmp_path):
    (tmp_path / "summary.json").write_text(json.dumps({"model": "heat", "status": 0}))
    rows = SeriesWriter(str(tmp_path / "c_series.csv"))
    for k in range(3):
        rows.append({"time_s": 1e-9 * k, "step": k, "energy_J.final": 2.0 + k})
    rows.flush()
    rows = SeriesWriter(str(tmp_path / "d_series.csv"), title="reduced",
                        columns={"time_reduced": ("tau", "t / tau"), "N_qp": ("", "count")})
    rows.append({"time_reduced": 0.5, "N_qp": 7})
    rows.flush()
    lines = describe(open_result(tmp_path)).splitlines()
    i = lines.index("series   c_series.csv: 3 rows")
    assert lines[i + 1].split() == ["time_s", "s", "0", "...", "2e-09"]
    assert lines[i + 2].split() == ["step", "-", "0", "...", "2"]
    assert lines[i + 3].split() == ["energy_J.final", "J", "2", "...", "4"]
    j = lines.index("series   d_series.csv: 1 row")
    assert lines[j + 1:j + 6] == ["  # reduced", "  # time_reduced [tau]: t / tau",
                                  "  # N_qp [-]: count",
                                  "  time_reduced  tau  0.5 ... 0.5",
                                  "  N_qp          -    7 ... 7"]


def test_other_files_are_named_with_what_they_are(tmp_path):
    (tmp_path / "summary.json").write_text(json.dumps({"model": "usadel", "status": 0}))
    with h5py.File(tmp_path / "wire.h5", "w") as fh:
        fh["x"] = np.zeros(2)
    for name in ("checkpoint.h5", "wire.vtu", "notes.txt", "wire.png"):
        (tmp_path / name).write_bytes(b"")
    lines = describe(open_result(tmp_path)).splitlines()
    assert lines[-2:] == ["figures  wire.png",
                          "other    checkpoint.h5 (restart data: fvqp run --resume), "
                          "notes.txt, wire.vtu (VTK cells: ParaView, pyvista)"]


def test_a_grid_on_r_and_e_axes_is_described_by_its_axes(tmp_path):
    from fvqp.io.vtk import write_pvd, write_vtu

    (tmp_path / "vtu").mkdir()
    pts = np.array([[0, 6e-4, 0], [5e-5, 6e-4, 0], [5e-5, 7.5e-3, 0], [0, 7.5e-3, 0]], float)
    write_vtu(str(tmp_path / "vtu" / "s_0.vtu"), pts, [("quad", np.array([[0, 1, 2, 3]]))],
              {"f": np.ones(1)}, {"f": "1"},
              strings={"axes": ["x: radius r [m]", "y: QP energy E [eV]"]})
    write_pvd(str(tmp_path / "s.pvd"), [(0.0, "vtu/s_0.vtu")])
    lines = describe(open_result(tmp_path)).splitlines()
    i = next(k for k, ln in enumerate(lines) if ln.startswith("grid"))
    assert lines[i:i + 3] == ["grid     radius r [um]: 0 to 50",
                              "         QP energy E [ueV]: 600 to 7500", "         1 cells"]
    assert not any(ln.startswith(("mesh", "regions")) for ln in lines)

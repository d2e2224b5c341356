"""``fvqp plot`` on results written by hand (no run): a mesh result that also holds an HDF5
result (bte_sphere) draws the HDF5 ``series`` group when its ``<case>_series.csv`` holds only
the time loop's work columns and copies the model's own figure (summary ``figure``), while a
series file with integral quantities is drawn instead of the group; a grid on (r, E) axes
is drawn on those axes; a wire as a profile along it."""

from __future__ import annotations

import json

import h5py
import matplotlib.image
import numpy as np
import pytest

from fvqp.io.series import SeriesWriter
from fvqp.io.vtk import write_pvd, write_vtu
from fvqp.post.plot import plot_result
from fvqp.post.result import open_result


def _result(path, quantities: bool):
    """A 1D mesh result (2 snapshots of 3 line cells), an HDF5 ``series`` group in SI, the
    model's own PNG and a series file with work columns (and ``N_qp`` if ``quantities``)."""
    import matplotlib.pyplot as plt

    (path / "vtu").mkdir(parents=True)
    pts = np.array([[0, 0, 0], [1e-6, 0, 0], [2e-6, 0, 0], [3e-6, 0, 0]], float)
    lines = np.array([[0, 1], [1, 2], [2, 3]])
    for k, t in enumerate((0.0, 1e-12)):
        write_vtu(str(path / "vtu" / f"r_{k}.vtu"), pts, [("line", lines)],
                  {"f": np.full(3, 0.1 * (k + 1))}, {"f": "1"}, time=t)
    write_pvd(str(path / "r.pvd"), [(0.0, "vtu/r_0.vtu"), (1e-12, "vtu/r_1.vtu")])
    t = np.linspace(0.0, 1e-11, 6)
    with h5py.File(path / "sphere.h5", "w") as fh:
        g = fh.create_group("series")
        g.attrs["units"] = "t in s, energies in J, numbers of QPs"
        g["t"], g["N_qp"], g["E_qp_J"] = t, 1e5 + t * 1e15, 1e-16 * np.exp(-t / 3e-12)
    fig = plt.figure()
    fig.savefig(path / "r_relaxation.png")
    plt.close(fig)
    rows = SeriesWriter(str(path / "r_series.csv"))
    for k, tk in enumerate(t):
        row = {"time_s": float(tk), "step": k, "newton_iterations": 2 * k}
        rows.append({**row, "N_qp": 1e5 + k} if quantities else row)
    rows.flush()
    (path / "summary.json").write_text(json.dumps({
        "model": "bte_sphere", "status": 0, "figure": str(path / "r_relaxation.png")}))


@pytest.mark.parametrize("quantities", [False, True])
def test_mesh_result_draws_its_hdf5_series_unless_the_csv_holds_quantities(tmp_path,
                                                                            quantities):
    res = tmp_path / "res"
    _result(res, quantities)
    out = tmp_path / "png"
    names = [p.name for p in plot_result(open_result(res), output=out, fields=["f"])]
    assert names[0] == "r_f_1ps.png" and "r_timeseries.png" in names
    # the model's own figure, copied unchanged
    assert "r_relaxation.png" in names
    assert (out / "r_relaxation.png").read_bytes() == (res / "r_relaxation.png").read_bytes()
    if quantities:  # drawn from the series file in SI, not again from the HDF5 group
        assert "r_series.png" in names and "sphere_timeseries.png" not in names
    else:  # only work columns in the series file: the HDF5 group is the time series
        assert "sphere_timeseries.png" in names and "r_series.png" not in names
        pixels = matplotlib.image.imread(out / "sphere_timeseries.png")
        assert pixels.shape[0] > 300 and len(np.unique(pixels.reshape(-1, 4), axis=0)) > 20


def test_a_grid_on_r_and_e_axes_is_drawn_on_those_axes(tmp_path):
    """bte_sphere's (r, E) plane (field data ``axes``): every cell a polygon in um and ueV
    coloured by its value, not a 50 um x 7 mm strip of space."""
    import matplotlib.pyplot as plt
    import pyvista as pv

    from fvqp.io.vtk import write_vtu
    from fvqp.post.render import plane_figure, render_field

    r = np.linspace(0.0, 5e-5, 4)  # m
    e = np.linspace(6e-4, 7.5e-3, 3)  # eV
    xx, yy = np.meshgrid(r, e, indexing="ij")
    pts = np.column_stack([xx.ravel(), yy.ravel(), np.zeros(xx.size)])
    quads = np.array([[i * 3 + j, (i + 1) * 3 + j, (i + 1) * 3 + j + 1, i * 3 + j + 1]
                      for i in range(3) for j in range(2)])
    f = np.arange(1.0, 7.0) * 1e-7
    path = tmp_path / "plane.vtu"
    write_vtu(str(path), pts, [("quad", quads)], {"f": f}, {"f": "1"},
              strings={"axes": ["x: radius r [m]", "y: QP energy E [eV]"]})
    grid = pv.read(str(path))
    fig = plane_figure(grid, "f", "1", "t")
    ax = fig.axes[0]
    (coll,) = ax.collections
    np.testing.assert_array_equal(coll.get_array(), f)
    assert ax.get_xlabel() == "radius r [um]" and ax.get_ylabel() == "QP energy E [ueV]"
    np.testing.assert_allclose(ax.get_xlim(), [0.0, 50.0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ax.get_ylim(), [600.0, 7500.0], rtol=1e-12)
    # the first cell spans r = 0 .. 16.7 um, E = 600 .. 4050 ueV
    v = coll.get_paths()[0].vertices
    np.testing.assert_allclose([v[:, 0].min(), v[:, 0].max()], [0.0, 50 / 3], atol=1e-9)
    np.testing.assert_allclose([v[:, 1].min(), v[:, 1].max()], [600.0, 4050.0], rtol=1e-12)
    plt.close(fig)
    png = render_field(grid, "f", "1", tmp_path / "plane.png", "t")
    assert matplotlib.image.imread(png).shape[:2] == (700, 1000)


def test_a_wire_is_drawn_as_a_profile_per_region(tmp_path):
    """A 1D mesh: the field at the cell centres versus x [um], one line per named region
    (was a coloured line in a 3D view)."""
    import matplotlib.pyplot as plt
    import pyvista as pv

    from fvqp.io.vtk import write_vtu
    from fvqp.post.render import profile_figure, render_field

    x = np.array([3.0, 0.0, 1.0, 2.0]) * 1e-6  # points out of order
    pts = np.column_stack([x, np.zeros(4), np.zeros(4)])
    lines = np.array([[1, 2], [2, 3], [3, 0]])
    n = np.array([5.0, 7.0, 6.0])
    path = tmp_path / "wire.vtu"
    write_vtu(str(path), pts, [("line", lines)], {"n": n, "region": np.array([0, 0, 1.0])},
              {"n": "1/um^3", "region": "1"}, strings={"region_names": ["wire", "pad"]})
    grid = pv.read(str(path))
    fig = profile_figure(grid, "n", "1/um^3", "t")
    ax = fig.axes[0]
    got = {ln.get_label(): (ln.get_xdata(), ln.get_ydata()) for ln in ax.get_lines()}
    assert set(got) == {"wire", "pad"}
    np.testing.assert_allclose(got["wire"][0], [0.5, 1.5], rtol=1e-12)
    np.testing.assert_array_equal(got["wire"][1], [5.0, 7.0])
    np.testing.assert_allclose(got["pad"][0], [2.5], rtol=1e-12)
    np.testing.assert_array_equal(got["pad"][1], [6.0])
    assert ax.get_xlabel() == "x [um]" and ax.get_ylabel() == "n [1/um^3]"
    plt.close(fig)
    png = render_field(grid, "n", "1/um^3", tmp_path / "wire.png", "t")
    assert matplotlib.image.imread(png).shape[:2] == (700, 1000)


def test_counts_spanning_decades_are_drawn_on_a_log_axis(tmp_path):
    """bte_chip's QP numbers: 0 at t = 0, then a detector's 0.2 beside the ground plane's
    3e5; the panel is logarithmic (the zeros left out), its lines the columns. A panel
    with a negative value stays linear."""
    import matplotlib.pyplot as plt

    from fvqp.post.arrays import csv_series
    from fvqp.post.csvplot import log_axis, series_figure

    rows = SeriesWriter(str(tmp_path / "c_series.csv"))
    t = [0.0, 5e-9, 1e-8]
    far, ground, flow = [0.0, 0.002, 0.18], [0.0, 4e4, 3.3e5], [0.0, -1e-17, 2e-17]
    for k in range(3):
        rows.append({"time_s": t[k], "N_qp:far": far[k], "N_qp:ground": ground[k],
                     "sources_J": flow[k]})
    rows.flush()
    fig = series_figure(csv_series(tmp_path / "c_series.csv"), "t")
    by_label = {ln.get_label(): ln for ax in fig.axes for ln in ax.get_lines()}
    assert by_label["N_qp:far"].axes.get_yscale() == "log"
    assert by_label["sources_J"].axes.get_yscale() == "linear"
    np.testing.assert_array_equal(by_label["N_qp:far"].get_ydata(), far)
    np.testing.assert_array_equal(by_label["N_qp:ground"].get_ydata(), ground)
    plt.close(fig)
    assert not log_axis(np.array([1.0, 2.0, 500.0]))  # within three decades
    assert not log_axis(np.array([0.0, 0.0]))


def test_a_front_loaded_series_gets_a_log_time_axis():
    """A decay recorded event by event (half the rows in the first percent of the run,
    times over more than three decades) is drawn over log t; evenly or adaptively
    stepped transients keep a linear axis."""
    import matplotlib.pyplot as plt

    from fvqp.post.arrays import Series
    from fvqp.post.csvplot import log_time, series_figure

    decay = np.concatenate([[0.0], np.geomspace(1e-5, 666.0, 489)])
    assert log_time(decay)
    assert not log_time(np.linspace(0.0, 2e-6, 50))
    assert not log_time(np.concatenate([[0.0], np.geomspace(1e-10, 2e-6, 30),
                                        np.linspace(2e-6, 2e-4, 60)]))  # median late
    n = np.linspace(1000.0, 20.0, decay.size)
    fig = series_figure({"N_qp": Series("N_qp", "", decay, n)}, "t")
    (ln,) = fig.axes[0].get_lines()
    assert fig.axes[0].get_xscale() == "log" and fig.axes[0].get_xlabel() == "t [s]"
    np.testing.assert_array_equal(ln.get_xdata(), decay)
    np.testing.assert_array_equal(ln.get_ydata(), n)
    plt.close(fig)

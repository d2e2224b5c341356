"""`fvqp info` and `fvqp plot` on a real result directory (the 3D absorber heat case, run
for 12 ns): what info lists is what the writer wrote, the pictures are real renderings, the
integral quantities are the run's own balances, and a bad RESULT is refused with exit 2."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from conftest import MESHES, case_variant, run_fvqp
from fvqp.mesh import read_mesh

NAME = "heat_absorber3d"
TIMES = ('times = ["1 ns", "2 ns", "3 ns", "5 ns", "10 ns", "20 ns", "50 ns", "100 ns", '
         '"200 ns", "500 ns", "1 us"]')  # the case's output times


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    """Output directory of heat_absorber3d (coarse mesh) stopped at 12 ns."""
    tmp = tmp_path_factory.mktemp("post")
    case = case_variant(f"{NAME}.toml", tmp, **{'end = "2 us"': 'end = "12 ns"',
                                                 TIMES: 'times = ["10 ns"]'})
    out = tmp / "out"
    run_fvqp(["run", case, "--output", out])
    return out


def _written(out):
    """Fields, units, times and the last snapshot as the writer wrote them, read back
    without fvqp: pyvista for the data, the XML for the units attributes."""
    import pyvista as pv

    reader = pv.get_reader(str(out / f"{NAME}.pvd"))
    times = list(reader.time_values)
    first = ET.parse(out / ET.parse(out / f"{NAME}.pvd").getroot().find(".//DataSet")
                     .get("file")).getroot()
    units = {el.get("Name"): el.get("units") for el in first.iter("DataArray")
             if el.get("units") is not None}
    reader.set_active_time_value(times[-1])
    return units, times, reader.read()[0]


def _image(path):
    from PIL import Image

    with Image.open(path) as im:
        im.verify()
    with Image.open(path) as im:
        assert im.format == "PNG"
        return np.asarray(im.convert("RGB"))


def test_info_lists_fields_units_times_regions_and_summary(result):
    units, times, grid = _written(result)
    assert set(units) == set(grid.cell_data) - {"vtkOriginalCellIds"}
    assert units["temperature"] == "K" and units["gap"] == "ueV"
    proc = run_fvqp(["info", result])
    lines = proc.stdout.splitlines()
    for name, unit in units.items():
        assert any(ln.split() == [name, unit] for ln in lines), (name, unit, proc.stdout)
    (tline,) = [ln for ln in lines if ln.startswith("times")]
    assert f"{len(times)} snapshots [s]: " in tline
    shown = [float(x) for x in tline.split(": ", 1)[1].replace("...,", "").split(",")]
    assert shown[0] == pytest.approx(times[0], abs=0) and shown[0] == 0.0
    assert shown[-1] == pytest.approx(times[-1], rel=1e-5, abs=0)
    assert len(times) > 2  # a time series, not a single picture
    region = np.asarray(grid.cell_data["region"])
    ids = np.unique(region)
    assert len(ids) == 2  # absorber and lead (the substrate is not simulated)
    # the names come from the field data the writer stored, index = region id, and
    # are the mesh's physical groups
    names = list(grid.field_data["region_names"])
    assert names == read_mesh(MESHES / "absorber3d/absorber3d_coarse.msh").region_names
    assert {names[int(r)] for r in ids} == {"absorber", "lead"}
    for r in ids:
        count = int(np.sum(region == r))
        assert any(ln.split()[:5] == [names[int(r)], "id", str(int(r)), str(count), "cells,"]
                   for ln in lines), (r, count, proc.stdout)
    assert "  not simulated: substrate" in lines
    summary = json.loads((result / "summary.json").read_text())
    assert "status   0: " + summary["message"] in lines
    assert f"  t_end_s = {summary['t_end_s']:.6g}" in lines
    assert f"  energy_J.final = {summary['energy_J']['final']:.6g}" in lines


def test_plot_draws_fields_at_a_chosen_time_a_clip_and_the_time_series(result, tmp_path):
    png_dir = tmp_path / "png"
    before = sorted(p.name for p in result.iterdir())
    proc = run_fvqp(["plot", result, "--time", "10 ns", "--field", "temperature",
                     "--field", "qp_density", "--output", png_dir])
    assert sorted(p.name for p in result.iterdir()) == before  # result left as it was
    printed = proc.stdout.split()
    expected = {f"{NAME}_{f}_10ns{c}.png" for f in ("temperature", "qp_density")
                for c in ("", "_clip")} | {f"{NAME}_timeseries.png", f"{NAME}_series.png"}
    assert {p.split("/")[-1] for p in printed} == expected
    assert {p.name for p in png_dir.iterdir()} == expected
    for name in expected:
        pixels = _image(png_dir / name)
        assert pixels.shape[0] > 200 and pixels.shape[1] > 200
        colours = np.unique(pixels.reshape(-1, 3), axis=0)
        # a coloured rendering of a field that varies over the device, not a blank window
        assert len(colours) > 50, (name, len(colours))
    field = _image(png_dir / f"{NAME}_temperature_10ns.png")
    other = _image(png_dir / f"{NAME}_qp_density_10ns.png")
    assert field.shape == other.shape and np.any(field != other)


def test_plot_defaults_to_the_last_snapshot_in_the_result_directory(tmp_path):
    # its own small result: plotting into the shared one would change what other tests see
    case = case_variant(f"{NAME}.toml", tmp_path, **{'end = "2 us"': 'end = "3 ns"',
                                                      TIMES: 'times = ["2 ns"]'})
    out = tmp_path / "out"
    run_fvqp(["run", case, "--output", out])
    proc = run_fvqp(["plot", out, "--field", "temperature", "--no-clip"])
    names = sorted(p.split("/")[-1] for p in proc.stdout.split())
    assert names == [f"{NAME}_series.png", f"{NAME}_temperature_3ns.png",
                     f"{NAME}_timeseries.png"]
    assert all((out / n).is_file() for n in names)


def test_time_series_totals_are_the_runs_energy_balance(result):
    from fvqp.post import open_result
    from fvqp.post.series import time_series

    res = open_result(result)
    ts = time_series(res, ["energy_density", "temperature"])
    summary = json.loads((result / "summary.json").read_text())
    by = {(q.field, q.kind): q for q in ts.quantities}
    energy = by[("energy_density", "total")]
    assert energy.unit == "J"
    total = sum(v for v in energy.values.values())
    # cell volumes from VTK times the written density = the run's stored energy
    assert set(energy.values) == {"absorber", "lead"}  # per region, by name
    assert total[0] == pytest.approx(summary["energy_J"]["initial"], rel=1e-9, abs=0)
    assert total[-1] == pytest.approx(summary["energy_J"]["final"], rel=1e-9, abs=0)
    assert np.max(total) > 10 * total[0]  # the photon's energy is in the pad
    assert by[("temperature", "max")].unit == "K"
    peak = max(np.max(v) for v in by[("temperature", "max")].values.values())
    assert peak > 0.25  # above the bath


@pytest.mark.parametrize("command", ["info", "plot"])
def test_bad_result_path_exits_2_with_a_message(command, tmp_path):
    missing = tmp_path / "no_such_run"
    proc = run_fvqp([command, missing], check=False)
    assert proc.returncode == 2
    assert "error:" in proc.stderr and str(missing) in proc.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = run_fvqp([command, empty], check=False)
    assert proc.returncode == 2
    assert "not a result directory" in proc.stderr


def test_unknown_field_exits_2_naming_the_fields(result, tmp_path):
    proc = run_fvqp(["plot", result, "--field", "temperatur", "--output", tmp_path],
                    check=False)
    assert proc.returncode == 2
    assert "'temperatur'" in proc.stderr and "temperature" in proc.stderr
    assert not list(tmp_path.glob("*.png"))


def test_kinetics0d_result_info_lists_datasets_and_plot_draws_its_time_series(tmp_path):
    import h5py

    case = case_variant("kinetics0d_al_relaxation.toml", tmp_path, **{
        'end = "200 us"': 'end = "1 us"',
        'times = ["1 ns", "10 ns", "100 ns", "1 us", "10 us", "100 us"]':
            'times = ["1 ns", "10 ns", "100 ns"]'})
    out = tmp_path / "out"
    run_fvqp(["run", case, "--output", out])
    lines = run_fvqp(["info", out]).stdout.splitlines()
    with h5py.File(out / "kinetics0d.h5", "r") as fh:
        n = fh["timeseries/n_qp"].shape
        note = fh["timeseries"].attrs["units"]
    assert f"  timeseries/n_qp  float64 {n}" in lines
    assert f"  timeseries/  ({note})" in lines
    assert "model    kinetics0d" in lines
    png_dir = tmp_path / "png"
    printed = run_fvqp(["plot", out, "--output", png_dir]).stdout.split()
    own = "kinetics0d_al_relaxation_transient.png"  # the model's figure (<case>_transient)
    # the series is drawn once, in SI from <case>_series.csv (not again from the HDF5
    # group on the model's internal time axis)
    assert sorted(p.split("/")[-1] for p in printed) == [
        "kinetics0d_al_relaxation_series.png", own]
    # the model's own figure (it needs the solved model to redraw) is copied unchanged
    assert (png_dir / own).read_bytes() == (out / own).read_bytes()
    pixels = _image(png_dir / "kinetics0d_al_relaxation_series.png")
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50


def test_stochastic_figure_is_redrawn_from_its_hdf5(tmp_path):
    from conftest import case_with_values

    case = case_with_values("stochastic_relaxation.toml", tmp_path, repeats=1, n_start=300)
    out = tmp_path / "out"
    run_fvqp(["run", case, "--output", out])
    png_dir = tmp_path / "png"
    (h5,) = [p for p in out.glob("*.h5") if p.name != "checkpoint.h5"]
    png = f"{h5.stem}.png"  # <case>_<what>.png next to <case>_<what>.h5
    drawn_by_run = _image(out / png)
    (out / png).unlink()  # nothing to copy: plot must draw it from the HDF5
    printed = run_fvqp(["plot", out, "--output", png_dir]).stdout.split()
    # the study's figure and its time trace <case>_series.csv (tests/test_stochastic_series)
    assert [p.split("/")[-1] for p in printed] == [png, "stochastic_relaxation_series.png"]
    # drawn again by the model's own figure function from the HDF5 alone: the same
    # picture as the run's
    assert np.array_equal(_image(png_dir / png), drawn_by_run)

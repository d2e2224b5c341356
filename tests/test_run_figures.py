"""The pictures and key numbers every mesh-model run writes (issue 20 §1-2): a finished
heat, transport and bte run draws its main field at the last snapshot (a cut in 3D), the
field's integrals over the snapshots and its ``<case>_series.csv``; the renderings show
the field (many colours inside the device, one for a uniform field); ``[output] figures
= false`` draws none; the series picture's lines are the CSV's columns in SI; transients
report N_qp, equal to the integral of the written QP density."""

from __future__ import annotations

import csv
import json
import os
import re

import numpy as np
import pytest

from conftest import CASES, case_variant, run_fvqp

HEAT = "heat_film_trap"
#: the case's list of output times (several lines)
HEAT_TIMES = re.search(r"(?m)^times = \[[^\]]*\]", (CASES / f"{HEAT}.toml").read_text()).group(0)
HEAT_SHORT = {'end = "2 us"': 'end = "30 ns"', HEAT_TIMES: 'times = ["10 ns", "20 ns"]'}
TRANSPORT = "transport_absorber3d"
TRANSPORT_SHORT = {'end = "2 us"': 'end = "3 ns"',
                   'times = ["2 ns", "10 ns", "100 ns", "1 us"]': 'times = ["2 ns"]'}
BTE = "bte_film_pulse"
BTE_SHORT = {'end = "100 ps"': 'end = "12 ps"', "directions = 16": "directions = 4",
             'spacing = "40 ueV"': 'spacing = "60 ueV"'}


def _pngs(out) -> set[str]:
    return {p.name for p in out.iterdir() if p.suffix == ".png"}


def _field_colours(png) -> int:
    """Distinct saturated colours of a rendering between its title and its colour bar: the
    device coloured by the field (white background, black text, grey outlines and the
    colour bar are left out); a uniform field gives one."""
    from PIL import Image

    with Image.open(png) as im:
        assert im.format == "PNG"
        a = np.asarray(im.convert("RGB")).astype(int)
    h = a.shape[0]
    px = a[int(0.08 * h):int(0.8 * h)].reshape(-1, 3)
    return len(np.unique(px[px.max(axis=1) - px.min(axis=1) > 20], axis=0))


@pytest.fixture(scope="module")
def heat_run(tmp_path_factory):
    """heat_film_trap (2D film) run for 30 ns by `fvqp run`: its output directory."""
    tmp = tmp_path_factory.mktemp("heat")
    out = tmp / "out"
    proc = run_fvqp(["run", case_variant(f"{HEAT}.toml", tmp, **HEAT_SHORT), "--output", out])
    return out, proc


def test_a_heat_run_draws_its_temperature_and_time_series(heat_run):
    out, _ = heat_run
    expected = {f"{HEAT}_temperature_30ns.png", f"{HEAT}_timeseries.png", f"{HEAT}_series.png"}
    assert _pngs(out) == expected
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["figures"]) == expected
    assert _field_colours(out / f"{HEAT}_temperature_30ns.png") > 50
    mask = os.umask(0o022)
    os.umask(mask)
    for name in expected:  # written like every other output: mode 0666 & ~umask
        assert oct((out / name).stat().st_mode & 0o777) == oct(0o666 & ~mask), name


def test_a_uniform_field_renders_as_one_colour(heat_run, tmp_path):
    """The colour count of :func:`_field_colours` measures the field, not the picture:
    the same snapshot with a uniform temperature gives a single colour."""
    from fvqp.post.render import render_field
    from fvqp.post.result import open_result

    res = open_result(heat_run[0])
    grid = res.read_snapshot(len(res.series) - 1)
    grid.cell_data["temperature"] = np.full(grid.n_cells, 0.25)
    png = render_field(grid, "temperature", "K", tmp_path / "uniform.png", "uniform")
    assert _field_colours(png) == 1


def test_series_picture_draws_the_csv_columns_in_si(heat_run):
    """Every line of the series picture is one column of heat_film_trap_series.csv: its
    y-data the column's values [J], its x-data time_s in the axis' unit; the loop's work
    columns and the constant initial energy are not drawn, the stored energy and the
    imbalance have panels of their own, the hottest cell's temperature too."""
    import matplotlib.pyplot as plt

    from fvqp.post.arrays import csv_series
    from fvqp.post.csvplot import series_figure

    path = heat_run[0] / f"{HEAT}_series.csv"
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    columns = {name: np.array([float(r[j]) for r in rows[1:]])
               for j, name in enumerate(rows[0])}
    assert len(columns["time_s"]) > 5
    fig = series_figure(csv_series(path), "heat")
    lines = {ln.get_label(): ln for ax in fig.axes for ln in ax.get_lines()}
    energy = {k for k in columns if k.startswith("energy_J.")} - {"energy_J.initial"}
    assert set(lines) == energy | {"max_temperature_K"}
    for name, ln in lines.items():
        assert np.array_equal(ln.get_ydata(), columns[name]), name
        ax = ln.axes
        assert ax.get_xlabel() == "t [ns]"
        np.testing.assert_allclose(np.asarray(ln.get_xdata()) * 1e-9, columns["time_s"],
                                   rtol=1e-14, atol=0)
    titles = {ln.axes.get_title() for ln in lines.values()}
    assert titles - {"energy_J (stored) [J]", "energy_J [J]", "imbalance [J]"} == {
        lines["max_temperature_K"].axes.get_title()}
    assert lines["max_temperature_K"].axes.get_title().endswith("[K]")
    assert lines["energy_J.imbalance"].axes.get_title() == "imbalance [J]"
    # the heating is visible: 0.5 pW for 30 ns deposited
    assert columns["energy_J.deposited"][-1] == pytest.approx(0.5e-12 * 30e-9, rel=1e-6,
                                                              abs=0)
    plt.close(fig)


def test_figures_false_draws_none(tmp_path):
    """The same run in-process, with and without ``[output] figures``: only the switch
    differs, and it decides whether any PNG is written."""
    from fvqp.api import run_loaded_case
    from fvqp.case import load_case

    short = {'end = "2 us"': 'end = "10 ns"', HEAT_TIMES: 'times = ["5 ns"]'}
    case = load_case(case_variant(f"{HEAT}.toml", tmp_path, **short))
    drawn = run_loaded_case(case, output_dir=str(tmp_path / "on"))
    assert _pngs(tmp_path / "on") == set(drawn["figures"]) == {
        f"{HEAT}_temperature_10ns.png", f"{HEAT}_timeseries.png", f"{HEAT}_series.png"}
    # the switch as a user writes it, in the case file's [output] table
    (tmp_path / "off_case").mkdir()
    anchor = 'directory = "../output/heat_film_trap"'
    off = case_variant(f"{HEAT}.toml", tmp_path / "off_case", **short,
                       **{anchor: anchor + "\nfigures = false"})
    quiet = run_loaded_case(load_case(off), output_dir=str(tmp_path / "off"))
    assert quiet["status"] == 0 and "figures" not in quiet
    assert _pngs(tmp_path / "off") == set()
    assert (tmp_path / "off" / f"{HEAT}_series.csv").is_file()  # the results are written


def test_a_transport_transient_draws_a_cut_and_reports_n_qp(tmp_path):
    """3D absorber burst for 3 ns: the QP excess at the last snapshot and a cut through its
    peak, the time series; N_qp in summary.json is the written qp_density integrated over
    the cells (1/um^3 x m^3), and the end-of-run report prints it with what it counts."""
    from fvqp.post.run import Run

    out = tmp_path / "out"
    proc = run_fvqp(["run", case_variant(f"{TRANSPORT}.toml", tmp_path, **TRANSPORT_SHORT),
                     "--output", out])
    expected = {f"{TRANSPORT}_qp_excess_3ns.png", f"{TRANSPORT}_qp_excess_3ns_clip.png",
                f"{TRANSPORT}_timeseries.png", f"{TRANSPORT}_series.png"}
    assert _pngs(out) == expected
    for name in (f"{TRANSPORT}_qp_excess_3ns.png", f"{TRANSPORT}_qp_excess_3ns_clip.png"):
        assert _field_colours(out / name) > 50, name
    s = json.loads((out / "summary.json").read_text())
    n = Run.open(out).fields["qp_density"]
    assert s["N_qp"] == pytest.approx(float(n.integral()[-1]), rel=1e-10, abs=0)
    assert s["N_qp"] == s["qp_number"]["final"]
    assert s["N_qp"] > 1e3 * s["qp_number"]["initial"]  # the burst made the QPs
    shown = re.search(r"N_qp: (\S+) quasiparticles", proc.stderr + proc.stdout)
    assert shown and float(shown.group(1)) == pytest.approx(s["N_qp"], rel=1e-5, abs=0)


def test_a_bte_transient_reports_n_qp(tmp_path):
    """Collisionless QP pulse in the 100 nm Al film for 12 ps: N_qp in summary.json is the
    written qp_density integrated over the film (area x thickness), the report prints it,
    and the run draws its QP excess and series."""
    from fvqp.post.run import Run

    out = tmp_path / "out"
    proc = run_fvqp(["run", case_variant(f"{BTE}.toml", tmp_path, **BTE_SHORT),
                     "--output", out])
    s = json.loads((out / "summary.json").read_text())
    n = Run.open(out).fields["qp_density"]
    assert s["N_qp"] == pytest.approx(float(n.integral()[-1]) * 100e-9, rel=1e-10, abs=0)
    assert s["N_qp"] > 1e3  # the 1 eV pulse of ~250 ueV QPs, not the thermal few
    shown = re.search(r"N_qp: (\S+) quasiparticles", proc.stderr + proc.stdout)
    assert shown and float(shown.group(1)) == pytest.approx(s["N_qp"], rel=1e-5, abs=0)
    assert _pngs(out) == {f"{BTE}_qp_excess_12ps.png", f"{BTE}_timeseries.png",
                          f"{BTE}_series.png"}


def test_energy_slices_are_titled_with_their_energy(tmp_path):
    """transport's ``f_slice_<k>`` pictures name the slice's energy from the summary's
    ``slice_energies_ueV`` (the k-th); other fields, and a slice without one, keep their
    name."""
    from fvqp.post.plot import _field_title
    from fvqp.post.result import Result

    res = Result(path=tmp_path, name="wire", summary={"slice_energies_ueV": [280.0, 400.0]})
    assert _field_title(res, "f_slice_1") == "f_slice_1 (f at E = 400 ueV)"
    assert _field_title(res, "f_slice_0") == "f_slice_0 (f at E = 280 ueV)"
    assert _field_title(res, "f_slice_2") == "f_slice_2"
    assert _field_title(res, "qp_excess") == "qp_excess"


def test_a_failed_rendering_is_a_warning_not_a_failed_run(monkeypatch, caplog, tmp_path):
    """Pictures are not results: if drawing raises, the template's hook logs the cause and
    the command that draws them later, and gives no figures (the run keeps its status)."""
    import fvqp.post.figures as figures
    from fvqp.models.base.template import draw_figures

    def broken(*args, **kwargs):
        raise RuntimeError("no OpenGL context")

    monkeypatch.setattr(figures, "run_figures", broken)
    with caplog.at_level("WARNING"):
        assert draw_figures(str(tmp_path), {"status": 0}) == []
    (rec,) = [r for r in caplog.records if r.levelname == "WARNING"]
    assert "RuntimeError: no OpenGL context" in rec.getMessage()
    assert f"fvqp plot {tmp_path}" in rec.getMessage()


def test_2d_time_series_integrate_over_the_film_thickness(heat_run):
    """heat_film_trap is a 2D mesh of films 100 nm (film) and 300 nm (trap) thick: the
    run writes their thicknesses (summary.json ``region_thickness_m``), so ``fvqp plot``'s time
    series integrate per-volume fields per region (a 2D mesh alone gives areas): the
    energy density summed over the regions at the last snapshot is the stored energy of
    the run's balance, and the power density the injected power."""
    from fvqp.post.result import open_result
    from fvqp.post.series import time_series

    out, _ = heat_run
    s = json.loads((out / "summary.json").read_text())
    assert s["region_thickness_m"] == pytest.approx({"film": 100e-9, "trap": 300e-9},
                                                    rel=1e-12, abs=0)
    res = open_result(out)
    assert res.times[-1] == pytest.approx(s["t_end_s"], rel=1e-12, abs=0)
    q = {(x.field, x.kind): x for x in time_series(res).quantities}
    energy = q[("energy_density", "total")]
    assert energy.unit == "J" and set(energy.values) == {"film", "trap"}
    stored = sum(v[-1] for v in energy.values.values())
    assert stored == pytest.approx(s["energy_J"]["final"], rel=1e-10, abs=0)
    # the source heats at a constant power through the 30 ns (its 200 ns pulse)
    power = sum(v[-1] for v in q[("power_density", "total")].values.values())
    assert power == pytest.approx(s["energy_J"]["deposited"] / s["t_end_s"], rel=1e-10,
                                  abs=0)

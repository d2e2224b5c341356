"""The time trace of the stochastic ``relaxation`` study as ``<case>_series.csv``: its rows
are the HDF5 datasets, its SI time is the reduced time times r_c^3/Gamma_bar of the case's
material, and ``fvqp plot`` / ``fvqp info`` draw and list it with the time unit."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from test_stochastic_cases import _variant

import fvqp
from conftest import run_fvqp
from fvqp.io.series import read_series, series_units
from fvqp.materials import get_material
from fvqp.post.arrays import csv_series
from fvqp.post.csvplot import series_figure
from fvqp.stochastic import annihilation as an

_SMALL = {"a0": 1e-6, "box": 50.0, "n_start": 140, "repeats": 2, "bins": 6}


@pytest.fixture(scope="module")
def relaxation_run(tmp_path_factory):
    """The case's small variant (r_c = 100 nm, Al): output directory and summary."""
    tmp = tmp_path_factory.mktemp("relax")
    out = tmp / "out"
    s = fvqp.run_case(_variant(tmp, "stochastic_relaxation.toml", **_SMALL),
                      output_dir=str(out))
    return out, s


def _columns(csv) -> dict[str, np.ndarray]:
    header, rows = read_series(str(csv))
    a = np.array(rows, dtype=float)
    return {h: a[:, j] for j, h in enumerate(header)}


def test_series_csv_equals_the_hdf5_trace_and_si_is_reduced_times_the_scale(relaxation_run):
    out, s = relaxation_run
    csv = out / "stochastic_relaxation_series.csv"
    assert s["series"] == str(csv)
    col = _columns(csv)
    with h5py.File(out / "stochastic_relaxation_decay_rate.h5") as fh:
        t, c_t = fh["data/t"][()], fh["data/c_t"][()]
        t_s, c_si = fh["data/t_s"][()], fh["data/c_t_SI"][()]
    assert t.size > 20 and t[0] == 0.0
    np.testing.assert_allclose(col["time_reduced"], t, rtol=1e-13, atol=0)
    np.testing.assert_allclose(col["c_reduced"], c_t, rtol=1e-13, atol=0)
    np.testing.assert_allclose(col["time_s"], t_s, rtol=1e-13, atol=0)
    np.testing.assert_allclose(col["c_per_m3"], c_si, rtol=1e-13, atol=0)
    # N_qp: whole particles in the 50^3 box, from n_start = 140 down
    assert np.array_equal(col["N_qp"], np.rint(c_t * 50.0**3))
    assert np.abs(col["N_qp"] - c_t * 50.0**3).max() < 1e-9
    assert col["N_qp"][0] <= 140 and np.all(np.diff(col["N_qp"]) < 0)
    # SI: t = t~ r_c^3 / Gamma_bar with Gamma_bar = 24 gamma(Delta)/(nu0 Delta) of Al
    gbar = an.gamma_bar_material(get_material("Al"))
    scale = 1e-7**3 / gbar
    assert s["time_unit_s"] == pytest.approx(scale, rel=1e-13, abs=0)
    np.testing.assert_allclose(col["time_s"], col["time_reduced"] * scale, rtol=1e-13,
                               atol=0)
    np.testing.assert_allclose(col["c_per_m3"], col["c_reduced"] / 1e-21, rtol=1e-13,
                               atol=0)
    assert s["decay_time_s"] == pytest.approx(col["time_s"][-1], rel=1e-13, abs=0)
    # the comment lines declare every column's unit
    assert series_units(str(csv)) == {"time_s": "s", "time_reduced": "r_c^3/Gamma_bar",
                                      "N_qp": "", "c_reduced": "1/r_c^3",
                                      "c_per_m3": "1/m^3"}
    assert (out / "stochastic_relaxation_series.png").stat().st_size > 10_000


def test_plotted_lines_are_the_csv_columns(relaxation_run):
    import matplotlib.pyplot as plt

    out, _ = relaxation_run
    csv = out / "stochastic_relaxation_series.csv"
    col = _columns(csv)
    series = csv_series(csv)
    assert set(series) == {"N_qp", "c_reduced", "c_per_m3"}  # time_* are axes
    fig = series_figure(series, "t")
    lines = {ln.get_label(): ln for ax in fig.axes for ln in ax.get_lines()}
    assert set(lines) == set(series)
    for name, ln in lines.items():
        np.testing.assert_array_equal(ln.get_xdata(), col["time_s"])
        np.testing.assert_array_equal(ln.get_ydata(), col[name])
        assert ln.axes.get_xlabel() == "t [s]"
    plt.close(fig)
    # fvqp plot draws it (and the study's figure) from the result directory
    proc = run_fvqp(["plot", out, "--output", out / "pictures"])
    assert str(out / "pictures" / "stochastic_relaxation_series.png") in proc.stdout
    assert (out / "pictures" / "stochastic_relaxation_decay_rate.png").is_file()


def test_info_lists_the_series_with_units(relaxation_run):
    out, _ = relaxation_run
    text = run_fvqp(["info", out]).stdout
    n = len(read_series(str(out / "stochastic_relaxation_series.csv"))[1])
    assert f"series   stochastic_relaxation_series.csv: {n} rows" in text
    for name, unit in (("time_s", "s"), ("time_reduced", "r_c^3/Gamma_bar"),
                       ("N_qp", "-"), ("c_per_m3", "1/m^3")):
        assert any(line.split()[:2] == [name, unit] for line in text.splitlines()), name


def test_without_r_c_the_series_is_in_reduced_time(tmp_path):
    """A case without r_c: no SI columns, the picture's x axis in r_c^3/Gamma_bar."""
    import matplotlib.pyplot as plt

    case = _variant(tmp_path, "stochastic_relaxation.toml", **_SMALL)
    text = open(case).read().replace('r_c = "100 nm"\n', "")
    open(case, "w").write(text)
    out = tmp_path / "out"
    s = fvqp.run_case(case, output_dir=str(out))
    assert "time_unit_s" not in s and "time_unit_s" not in s["keys"]
    csv = out / "stochastic_relaxation_series.csv"
    col = _columns(csv)
    assert list(col) == ["time_reduced", "N_qp", "c_reduced"]
    with h5py.File(out / "stochastic_relaxation_decay_rate.h5") as fh:
        assert "t_s" not in fh["data"]
        np.testing.assert_allclose(col["time_reduced"], fh["data/t"][()], rtol=1e-13, atol=0)
    series = csv_series(csv)
    assert {x.time_unit for x in series.values()} == {"r_c^3/Gamma_bar"}
    fig = series_figure(series, "t")
    for ax in fig.axes:
        for ln in ax.get_lines():
            assert ax.get_xlabel() == "t [r_c^3/Gamma_bar]"
            np.testing.assert_array_equal(ln.get_xdata(), col["time_reduced"])
            np.testing.assert_array_equal(ln.get_ydata(), col[ln.get_label()])
    plt.close(fig)


def test_r_c_needs_a_known_material_or_gamma_bar(tmp_path):
    from fvqp.case import CaseError, load_case

    case = _variant(tmp_path, "stochastic_relaxation.toml", material='"Xx"')
    with pytest.raises(CaseError, match=r"study.material: unknown material 'Xx'.*\. Fix: "
                       r"choose one of the listed materials, or give study.gamma_bar"):
        load_case(case)
    text = open(case).read().replace('material = "Xx"', "gamma_bar = 1.8e-17")
    open(case, "w").write(text)
    assert load_case(case).data["study"]["gamma_bar"] == 1.8e-17

"""Render docs/img/bte_absorber3d.png: the discrete-ordinates case of the 3D absorber
(cases/bte_absorber3d.toml), excess QP density, mean QP energy and the drop of every cell's
gap below its bath gap 2.5 ns after the start (the 6 keV burst is at 0.6 ns). Run from the
repository root: `python docs/make_bte_absorber3d_figure.py`.

``--small`` renders the same picture from a run with 100 ueV bins, the burst next to the
lead and five 0.3 ns steps (what the test suite runs), ``--output`` writes the PNG elsewhere
and ``--workdir`` keeps the run's result directory there (default: a temporary directory,
deleted). The script prints the PNG's path, the rendered time and the ranges of the fields
it reads (the mean energy is their ratio)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pyvista as pv
from figure_cli import run_figure

ROOT = Path(__file__).resolve().parents[1]
SMALL_HELP = "100 ueV bins, burst next to the lead, 1.5 ns (a minute instead of minutes)"
DEFAULT_PNG = ROOT / "docs" / "img" / "bte_absorber3d.png"
WINDOW = (2100, 560)
FIELDS = ("qp_excess", "qp_density", "qp_energy_density", "gap")
#: eV per J, for the mean energy in ueV
UEV_PER_J = 1e6 / 1.602176634e-19
SMALL = (('spacing = "50 ueV"', 'spacing = "100 ueV"'), ('end = "2.5 ns"', 'end = "1.5 ns"'),
         ('dt_initial = "0.1 ns"', 'dt_initial = "0.3 ns"'),
         ("position = [20.0, 10.0, 0.15]", "position = [40.0, 0.0, 0.15]"))


def render(workdir: Path, png: Path, small: bool) -> tuple[float, dict]:
    """Run the case into ``workdir`` and render its last snapshot to ``png``; returns the
    snapshot's time in s and the (min, max) of each field read."""
    text = (ROOT / "cases" / "bte_absorber3d.toml").read_text()
    text = text.replace("../meshes/", str(ROOT / "meshes") + "/")
    for old, new in SMALL if small else ():
        assert old in text, old
        text = text.replace(old, new)
    case = workdir / "bte_absorber3d.toml"
    case.write_text(text)
    subprocess.run([sys.executable, "-m", "fvqp", "-q", "run", str(case), "--output",
                    str(workdir), "--overwrite"], check=True)
    reader = pv.get_reader(str(workdir / "bte_absorber3d.pvd"))
    reader.set_active_time_value(reader.time_values[0])
    gap0 = np.asarray(reader.read()[0].cell_data["gap"])      # each region's bath gap
    t_last = reader.time_values[-1]
    reader.set_active_time_value(t_last)
    grid = reader.read()[0]
    ranges = {f: (float(grid.cell_data[f].min()), float(grid.cell_data[f].max()))
              for f in FIELDS}
    grid = grid.scale([1e6, 1e6, 2e7])  # um; z exaggerated 20x
    mean = grid.cell_data["qp_energy_density"] / (grid.cell_data["qp_density"] * 1e18)
    grid.cell_data["mean_energy_ueV"] = mean * UEV_PER_J
    excess = np.clip(grid.cell_data["qp_excess"], 1e-12 * ranges["qp_excess"][1], None)
    grid.cell_data["excess_clipped"] = excess
    # the gap of every cell below its region's bath gap, in parts per million
    grid.cell_data["gap_drop_ppm"] = 1e6 * (gap0 - grid.cell_data["gap"]) / gap0
    pv.OFF_SCREEN = True
    p = pv.Plotter(shape=(1, 3), window_size=WINDOW, off_screen=True)
    p.subplot(0, 0)
    p.add_mesh(grid, scalars="excess_clipped", cmap="viridis", log_scale=True,
               scalar_bar_args={"title": "excess QP density [1/um^3]"})
    p.add_text(f"6 keV in a Ta pad + Al lead (bte), t = {t_last * 1e9:.3g} ns (z x20)",
               font_size=11)
    p.camera_position = "iso"
    p.subplot(0, 1)
    p.add_mesh(grid, scalars="mean_energy_ueV", cmap="magma", clim=(600.0, 1000.0),
               scalar_bar_args={"title": "mean QP energy [ueV] (Ta gap 693)"})
    p.add_text("QPs relax in the Al lead; below the Ta gap they cannot return", font_size=11)
    p.camera_position = "iso"
    p.subplot(0, 2)
    p.add_mesh(grid, scalars="gap_drop_ppm", cmap="cividis",
               scalar_bar_args={"title": "gap below the bath gap [ppm]"})
    p.add_text("every cell's gap, lowered by its QPs", font_size=11)
    p.camera_position = "iso"
    png.parent.mkdir(parents=True, exist_ok=True)
    p.screenshot(str(png))
    p.close()
    return t_last, ranges


def main(argv: list[str] | None = None) -> None:
    png, (t_last, ranges) = run_figure(__doc__, DEFAULT_PNG, SMALL_HELP, render, argv)
    print(f"wrote {png}")
    print(f"time {t_last!r} s")
    for f, (lo, hi) in ranges.items():
        print(f"{f}: min {lo!r}, max {hi!r}")


if __name__ == "__main__":
    main()

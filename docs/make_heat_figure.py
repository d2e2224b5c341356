"""Render docs/img/heat_absorber3d.png: the 3D absorber case on the fine mesh, 10 ns after
the photon. Run from the repository root: `python docs/make_heat_figure.py`.

``--small`` renders the same picture from the coarse mesh and a run stopped at 12 ns (what
the test suite runs), ``--output`` writes the PNG elsewhere and ``--workdir`` keeps the run's
result directory there (default: a temporary directory, deleted). The script prints the PNG's
path, the rendered time and the temperature range (K) of that snapshot."""

from __future__ import annotations

from pathlib import Path

import pyvista as pv
from figure_cli import run_case, run_figure

ROOT = Path(__file__).resolve().parents[1]
SMALL_HELP = "coarse mesh, run stopped at 12 ns (seconds instead of minutes)"
DEFAULT_PNG = ROOT / "docs" / "img" / "heat_absorber3d.png"
WINDOW = (1000, 600)
SHOT = 1e-8  # s: the snapshot rendered (an [output] time of the case)


def render(workdir: Path, png: Path, small: bool) -> tuple[float, float]:
    """Run the case into ``workdir`` and render its 10 ns snapshot to ``png``; returns the
    (min, max) quasiparticle temperature in K of that snapshot."""
    text = (ROOT / "cases" / "heat_absorber3d.toml").read_text()
    mesh = "absorber3d_coarse.msh" if small else "absorber3d_fine.msh"
    text = text.replace("../meshes/absorber3d/absorber3d_coarse.msh",
                        str(ROOT / "meshes" / "absorber3d" / mesh))
    end, times = ('"12 ns"', '["10 ns"]') if small else ('"100 ns"', '["10 ns", "100 ns"]')
    reader = run_case(text, "heat_absorber3d", workdir, end, times)
    shots = [t for t in reader.time_values if abs(t - SHOT) < 1e-15]
    reader.set_active_time_value(shots[0])
    grid = reader.read()[0].scale([1e6, 1e6, 2e7])  # um; z exaggerated 20x
    temperature = grid.cell_data["temperature"]
    pv.OFF_SCREEN = True
    p = pv.Plotter(window_size=WINDOW, off_screen=True)
    p.add_mesh(grid, scalars="temperature", cmap="inferno",
               scalar_bar_args={"title": "quasiparticle temperature [K]"})
    p.add_text("6 keV in a Ta pad with an Al lead, t = 10 ns (z x20)", font_size=12)
    p.camera_position = "iso"
    png.parent.mkdir(parents=True, exist_ok=True)
    p.screenshot(str(png))
    p.close()
    return float(temperature.min()), float(temperature.max())


def main(argv: list[str] | None = None) -> None:
    png, (t_min, t_max) = run_figure(__doc__, DEFAULT_PNG, SMALL_HELP, render, argv)
    print(f"wrote {png}")
    print(f"time {SHOT!r} s")
    print(f"temperature: min {t_min!r}, max {t_max!r}")


if __name__ == "__main__":
    main()

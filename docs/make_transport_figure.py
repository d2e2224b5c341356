"""Render docs/img/transport_absorber3d.png: the energy-resolved transport case of the 3D
absorber (cases/transport_absorber3d.toml), excess QP density and the QP occupation at
720 ueV, 100 ns after the 6 keV burst. Run from the repository root:
`python docs/make_transport_figure.py`.

``--small`` renders the same picture from a run stopped at 3 ns (what the test suite runs),
``--output`` writes the PNG elsewhere and ``--workdir`` keeps the run's result directory there
(default: a temporary directory, deleted). The script prints the PNG's path, the rendered
time and the ranges of the two rendered fields."""

from __future__ import annotations

from pathlib import Path

import pyvista as pv
from figure_cli import run_case, run_figure

ROOT = Path(__file__).resolve().parents[1]
SMALL_HELP = "run stopped at 3 ns (seconds instead of minutes)"
DEFAULT_PNG = ROOT / "docs" / "img" / "transport_absorber3d.png"
WINDOW = (1400, 560)
FIELDS = ("qp_excess", "f_slice_1")


def render(workdir: Path, png: Path, small: bool) -> tuple[float, dict]:
    """Run the case into ``workdir`` and render its last snapshot to ``png``; returns the
    snapshot's time in s and the (min, max) of each rendered field."""
    text = (ROOT / "cases" / "transport_absorber3d.toml").read_text()
    text = text.replace("../meshes/", str(ROOT / "meshes") + "/")
    end, times = ('"3 ns"', '["2 ns"]') if small else ('"100 ns"', '["2 ns", "10 ns", "100 ns"]')
    reader = run_case(text, "transport_absorber3d", workdir, end, times)
    t_last = reader.time_values[-1]
    reader.set_active_time_value(t_last)
    grid = reader.read()[0].scale([1e6, 1e6, 2e7])  # um; z exaggerated 20x
    ranges = {f: (float(grid.cell_data[f].min()), float(grid.cell_data[f].max()))
              for f in FIELDS}
    pv.OFF_SCREEN = True
    p = pv.Plotter(shape=(1, 2), window_size=WINDOW, off_screen=True)
    p.subplot(0, 0)
    p.add_mesh(grid, scalars="qp_excess", cmap="viridis", log_scale=True,
               scalar_bar_args={"title": "excess QP density [1/um^3]"})
    p.add_text(f"6 keV in a Ta pad + Al lead, t = {t_last * 1e9:.3g} ns (z x20)", font_size=11)
    p.camera_position = "iso"
    p.subplot(0, 1)
    p.add_mesh(grid, scalars="f_slice_1", cmap="magma", log_scale=True,
               scalar_bar_args={"title": "f(E = 720 ueV)"})
    p.add_text("QP occupation just above the Ta gap", font_size=11)
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

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

from figure_cli import main, render_panels, run_case, snapshot

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
    grid = snapshot(reader, t_last)
    ranges = {f: (float(grid.cell_data[f].min()), float(grid.cell_data[f].max()))
              for f in FIELDS}
    render_panels(png, WINDOW, grid, [
        ({"scalars": "qp_excess", "cmap": "viridis", "log_scale": True,
          "scalar_bar_args": {"title": "excess QP density [1/um^3]"}},
         f"6 keV in a Ta pad + Al lead, t = {t_last * 1e9:.3g} ns (z x20)", 11),
        ({"scalars": "f_slice_1", "cmap": "magma", "log_scale": True,
          "scalar_bar_args": {"title": "f(E = 720 ueV)"}},
         "QP occupation just above the Ta gap", 11)])
    return t_last, ranges


if __name__ == "__main__":
    main(__doc__, DEFAULT_PNG, SMALL_HELP, render)

"""Render docs/img/heat_absorber3d.png: the 3D absorber case on the fine mesh, 10 ns after
the photon. Run from the repository root: `python docs/make_heat_figure.py`.

``--small`` renders the same picture from the coarse mesh and a run stopped at 12 ns (what
the test suite runs), ``--output`` writes the PNG elsewhere and ``--workdir`` keeps the run's
result directory there (default: a temporary directory, deleted). The script prints the PNG's
path, the rendered time and the temperature range (K) of that snapshot."""

from __future__ import annotations

from pathlib import Path

from figure_cli import main, render_panels, run_case, snapshot

ROOT = Path(__file__).resolve().parents[1]
SMALL_HELP = "coarse mesh, run stopped at 12 ns (seconds instead of minutes)"
DEFAULT_PNG = ROOT / "docs" / "img" / "heat_absorber3d.png"
WINDOW = (1000, 600)
SHOT = 1e-8  # s: the snapshot rendered (an [output] time of the case)


def render(workdir: Path, png: Path, small: bool) -> tuple[float, dict]:
    """Run the case into ``workdir`` and render its 10 ns snapshot to ``png``; returns its
    time in s and the (min, max) quasiparticle temperature in K of that snapshot."""
    text = (ROOT / "cases" / "heat_absorber3d.toml").read_text()
    mesh = "absorber3d_coarse.msh" if small else "absorber3d_fine.msh"
    text = text.replace("../meshes/absorber3d/absorber3d_coarse.msh",
                        str(ROOT / "meshes" / "absorber3d" / mesh))
    end, times = ('"12 ns"', '["10 ns"]') if small else ('"100 ns"', '["10 ns", "100 ns"]')
    reader = run_case(text, "heat_absorber3d", workdir, end, times)
    shots = [t for t in reader.time_values if abs(t - SHOT) < 1e-15]
    grid = snapshot(reader, shots[0])
    temperature = grid.cell_data["temperature"]
    render_panels(png, WINDOW, grid, [
        ({"scalars": "temperature", "cmap": "inferno",
          "scalar_bar_args": {"title": "quasiparticle temperature [K]"}},
         "6 keV in a Ta pad with an Al lead, t = 10 ns (z x20)", 12)])
    return SHOT, {"temperature": (float(temperature.min()), float(temperature.max()))}


if __name__ == "__main__":
    main(__doc__, DEFAULT_PNG, SMALL_HELP, render)

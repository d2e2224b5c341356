"""Render docs/img/heat_absorber3d.png: the 3D absorber case on the fine mesh, 10 ns after
the photon. Run from the repository root: `python docs/make_heat_figure.py`."""

import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pyvista as pv

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        text = (ROOT / "cases" / "heat_absorber3d.toml").read_text()
        text = text.replace("../meshes/absorber3d/absorber3d_coarse.msh",
                            str(ROOT / "meshes/absorber3d/absorber3d_fine.msh"))
        text = re.sub(r'end = "2 us"', 'end = "100 ns"', text)
        case = Path(d) / "heat_absorber3d.toml"
        case.write_text(text)
        subprocess.run([sys.executable, "-m", "fvqp", "-q", "run", str(case), "--output", d],
                       check=True)
        reader = pv.get_reader(str(Path(d) / "heat_absorber3d.pvd"))
        shots = [t for t in reader.time_values if abs(t - 1e-8) < 1e-15]
        reader.set_active_time_value(shots[0])
        grid = reader.read()[0].scale([1e6, 1e6, 2e7])  # um; z exaggerated 20x
    pv.OFF_SCREEN = True
    p = pv.Plotter(window_size=(1000, 600))
    p.add_mesh(grid, scalars="temperature", cmap="inferno",
               scalar_bar_args={"title": "quasiparticle temperature [K]"})
    p.add_text("6 keV in a Ta pad with an Al lead, t = 10 ns (z x20)", font_size=12)
    p.camera_position = "iso"
    p.screenshot(str(ROOT / "docs" / "img" / "heat_absorber3d.png"))


if __name__ == "__main__":
    main()

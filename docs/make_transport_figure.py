"""Render docs/img/transport_absorber3d.png: the energy-resolved transport case of the 3D
absorber (cases/transport_absorber3d.toml), excess QP density and the QP occupation at
720 ueV, 100 ns after the 6 keV burst. Run from the repository root:
`python docs/make_transport_figure.py`."""

import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pyvista as pv

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        text = (ROOT / "cases" / "transport_absorber3d.toml").read_text()
        text = text.replace("../meshes/", str(ROOT / "meshes") + "/")
        text = re.sub(r'end = "2 us"', 'end = "100 ns"', text)
        case = Path(d) / "transport_absorber3d.toml"
        case.write_text(text)
        subprocess.run([sys.executable, "-m", "fvqp", "-q", "run", str(case), "--output", d],
                       check=True)
        reader = pv.get_reader(str(Path(d) / "transport_absorber3d.pvd"))
        reader.set_active_time_value(reader.time_values[-1])
        grid = reader.read()[0].scale([1e6, 1e6, 2e7])  # um; z exaggerated 20x
    pv.OFF_SCREEN = True
    p = pv.Plotter(shape=(1, 2), window_size=(1400, 560))
    p.subplot(0, 0)
    p.add_mesh(grid, scalars="qp_excess", cmap="viridis", log_scale=True,
               scalar_bar_args={"title": "excess QP density [1/um^3]"})
    p.add_text("6 keV in a Ta pad + Al lead, t = 100 ns (z x20)", font_size=11)
    p.camera_position = "iso"
    p.subplot(0, 1)
    p.add_mesh(grid, scalars="f_slice_1", cmap="magma", log_scale=True,
               scalar_bar_args={"title": "f(E = 720 ueV)"})
    p.add_text("QP occupation just above the Ta gap", font_size=11)
    p.camera_position = "iso"
    p.screenshot(str(ROOT / "docs" / "img" / "transport_absorber3d.png"))


if __name__ == "__main__":
    main()

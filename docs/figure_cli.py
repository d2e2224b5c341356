"""Command line and case run shared by the ``docs/make_*_figure.py`` scripts.

Each script renders one picture of a shipped case; this module gives them the same options:
``--output`` (the PNG), ``--small`` (the variant the test suite runs) and ``--workdir``
(keep the run's result directory; default: a temporary directory, deleted); it runs the
shortened case (:func:`run_case`), renders the panels of a snapshot (:func:`snapshot`,
:func:`render_panels`) and prints what was rendered (:func:`main`).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def run_figure(doc: str, default_png: Path, small_help: str,
               render: Callable[[Path, Path, bool], Any],
               argv: list[str] | None = None) -> tuple[Path, Any]:
    """Parse the options, run ``render(workdir, png, small)`` and return (png, its result)."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--output", type=Path, default=default_png, help="PNG to write")
    ap.add_argument("--small", action="store_true", help=small_help)
    ap.add_argument("--workdir", type=Path, default=None,
                    help="keep the run's result directory here (default: temporary)")
    args = ap.parse_args(argv)
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
        return args.output, render(args.workdir, args.output, args.small)
    with tempfile.TemporaryDirectory() as d:
        return args.output, render(Path(d), args.output, args.small)


def run_case(text: str, name: str, workdir: Path, end: str, times: str):
    """Run the case ``text`` (a shipped case whose ``end = "2 us"``) shortened to ``end``
    with the ``[output] times`` ``times`` (none after the end) as ``<workdir>/<name>.toml``
    into ``workdir`` (a kept workdir is redone) and return a pyvista reader of its series."""
    import pyvista as pv

    text = re.sub(r'end = "2 us"', f"end = {end}", text)
    text = re.sub(r"(?m)^times = \[.*\]$", f"times = {times}", text)
    case = workdir / f"{name}.toml"
    case.write_text(text)
    subprocess.run([sys.executable, "-m", "fvqp", "-q", "run", str(case), "--output",
                    str(workdir), "--overwrite"], check=True)
    return pv.get_reader(str(workdir / f"{name}.pvd"))


def snapshot(reader, t: float):
    """The first block of the snapshot at time ``t`` of ``reader``, in µm with z
    exaggerated 20x."""
    reader.set_active_time_value(t)
    return reader.read()[0].scale([1e6, 1e6, 2e7])


def render_panels(png: Path, window: tuple[int, int], grid,
                  panels: list[tuple[dict, str, int]]) -> None:
    """Render ``grid`` off screen into ``png``: one iso view side by side per panel
    ``(add_mesh keywords, caption, caption font size)``."""
    import pyvista as pv

    pv.OFF_SCREEN = True
    p = pv.Plotter(shape=(1, len(panels)), window_size=window, off_screen=True)
    for k, (mesh, caption, font_size) in enumerate(panels):
        p.subplot(0, k)
        p.add_mesh(grid, **mesh)
        p.add_text(caption, font_size=font_size)
        p.camera_position = "iso"
    png.parent.mkdir(parents=True, exist_ok=True)
    p.screenshot(str(png))
    p.close()


def main(doc: str, default_png: Path, small_help: str,
         render: Callable[[Path, Path, bool], tuple[float, dict]],
         argv: list[str] | None = None) -> None:
    """:func:`run_figure`, then print the PNG's path, the rendered time (s) and the
    (min, max) of each rendered field that ``render`` returns."""
    png, (t, ranges) = run_figure(doc, default_png, small_help, render, argv)
    print(f"wrote {png}")
    print(f"time {t!r} s")
    for f, (lo, hi) in ranges.items():
        print(f"{f}: min {lo!r}, max {hi!r}")

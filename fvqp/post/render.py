"""Off-screen pyvista pictures of one cell field of a mesh snapshot.

Coordinates are shown in µm; a film whose thickness is below 5 % of its extent is drawn with
its thin axis exaggerated (the factor is written on the picture). Positive fields spanning
more than three decades are coloured on a log scale. The PNG is written atomically
(a temporary sibling renamed over it: readers never see half a picture).

A wire (a 1D mesh of line cells) is drawn as a profile with matplotlib: the field at the
cell centres versus the coordinate along which the wire extends most (µm), one line per
region.

A grid whose axes are not lengths (field data ``axes``, e.g. bte_sphere's (r, E) plane:
``["x: radius r [m]", "y: QP energy E [ueV]"]``) is drawn with matplotlib on its own axes,
each labelled with its name and unit (m shown in µm, eV in µeV), filling the picture
whatever the ratio of the two ranges.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..io.atomic import atomic_path
from ..units import E_CHARGE

__all__ = ["axis_label", "plane_figure", "profile_figure", "render_field", "thin_axis_scale"]

WINDOW = (1000, 700)


def thin_axis_scale(bounds) -> tuple[int, float]:
    """(axis, factor) stretching a thin axis of a 3D box to at least 5 % of its largest
    extent (factor 1, 2 or 5 times a power of ten);
    ``(-1, 1.0)`` when no axis needs it (or the body is flat/1D)."""
    ext = np.array(bounds[1::2]) - np.array(bounds[0::2])
    big = ext.max()
    nonzero = ext > 1e-12 * big
    if big <= 0 or nonzero.sum() < 3:
        return -1, 1.0
    axis = int(np.argmin(ext))
    if ext[axis] >= 0.05 * big:
        return -1, 1.0
    need = 0.05 * big / ext[axis]
    decade = 10.0 ** np.floor(np.log10(need))
    factor = next(m * decade for m in (1, 2, 5, 10) if m * decade >= need)
    return axis, float(factor)


def _log_scale(values: np.ndarray) -> bool:
    finite = values[np.isfinite(values)]
    return bool(len(finite) and finite.min() > 0 and finite.max() > 1e3 * finite.min())


def render_field(grid, field: str, unit: str, png: str | Path, title: str,
                 clip: bool = False, window_size: tuple[int, int] = WINDOW) -> Path:
    """Render ``field`` of ``grid`` (cell data, coordinates in metres) off screen to ``png``.

    Parameters
    ----------
    grid : pyvista.UnstructuredGrid
    field : str
        Cell array to colour by; a vector array (n, 3) is coloured by its magnitude, with
        arrows of its direction on the visible surface (:func:`_arrows`).
    unit : str
        Its unit label (for the colour bar).
    png : str or Path
    title : str
        Text drawn in the upper left corner.
    clip : bool
        Cut a 3D device by the plane normal to y through the cell where ``field`` peaks and
        keep the half with larger y (with a translucent outline of the whole device), so the
        interior and the thickness profile show.
    window_size : (int, int)
        Picture size in pixels.

    Returns
    -------
    Path
        ``png``.
    """
    import pyvista as pv

    from .series import mesh_dimension

    if "axes" in grid.field_data and grid.bounds[5] == grid.bounds[4]:
        return _render_plane(grid, field, unit, Path(png), title, window_size)
    if mesh_dimension(grid) == 1:
        return _save(profile_figure(grid, field, unit, title, window_size), Path(png))
    pv.OFF_SCREEN = True
    mesh = grid.scale([1e6, 1e6, 1e6], inplace=False)  # m -> um
    values = np.asarray(mesh.cell_data[field], dtype=float)
    vector = field if values.ndim == 2 else None
    if vector:  # colour by the magnitude, arrows on the surface show the direction
        field = f"{vector} magnitude"
        mesh.cell_data[field] = values = np.linalg.norm(values, axis=1)
    axis, factor = thin_axis_scale(mesh.bounds)
    if factor != 1.0:
        s = [1.0, 1.0, 1.0]
        s[axis] = factor
        mesh = mesh.scale(s, inplace=False)
        title += f"  ({'xyz'[axis]} x{factor:g})"
    outline = None
    if clip:
        centres = mesh.cell_centers().points
        origin = centres[int(np.nanargmax(values))] if np.isfinite(values).any() \
            else np.array(mesh.center)
        cut = mesh.clip(normal="-y", origin=origin, crinkle=False)
        if cut.n_cells:
            outline, mesh = mesh, cut
            values = np.asarray(mesh.cell_data[field], dtype=float)
            title += f"  (cut at y = {origin[1]:.4g} um)"
    plotter = pv.Plotter(off_screen=True, window_size=list(window_size))
    plotter.set_background("white")
    bar = f"{field} [{unit}]" if unit else field
    plotter.add_mesh(mesh, scalars=field, preference="cell", cmap="viridis",
                     log_scale=_log_scale(values), line_width=6,
                     scalar_bar_args={"title": bar, "color": "black", "fmt": "%.4g"})
    if outline is not None:
        plotter.add_mesh(outline.outline(), color="grey")
    if vector:
        plotter.add_mesh(_arrows(mesh, vector), color="black")
    plotter.add_text(title, font_size=10, color="black")
    plotter.camera_position = "iso" if mesh.bounds[5] - mesh.bounds[4] > 0 else "xy"
    png = Path(png)
    tmp = atomic_path(str(png))  # readers see the old picture or the whole new one
    try:
        plotter.screenshot(tmp)
        os.replace(tmp, png)
    finally:
        plotter.close()
        if os.path.exists(tmp):
            os.unlink(tmp)
    return png


def _arrows(mesh, field: str, most: int = 400):
    """Arrows of the direction of the (n, 3) cell array ``field`` on the surface of
    ``mesh`` (at the centres of up to ``most`` evenly picked boundary faces, each with its
    cell's vector), all of one length, a twenty-fifth of the device's extent (the colour
    gives the magnitude); none where the vector is 0."""
    try:
        surface = mesh.extract_surface(algorithm=None)
    except TypeError:  # pyvista < 0.47 has one algorithm
        surface = mesh.extract_surface()
    step = max(1, surface.n_cells // most)
    vec = np.asarray(surface.cell_data[field], dtype=float)[::step]
    size = np.linalg.norm(vec, axis=1)
    extent = float(np.max(np.array(mesh.bounds[1::2]) - np.array(mesh.bounds[0::2])))
    arrows = surface.cell_centers().extract_points(
        np.arange(0, surface.n_cells, step)[size > 0], adjacent_cells=False)
    arrows.point_data["arrow"] = vec[size > 0] / size[size > 0, None] * (extent / 25)
    return arrows.glyph(orient="arrow", scale="arrow", factor=1.0)


#: unit of a grid axis -> (factor, unit shown)
_AXIS_UNITS = {"m": (1e6, "um"), "eV": (1e6, "ueV"), "ueV": (1.0, "ueV"),
               "J": (1e6 / E_CHARGE, "ueV")}


def axis_label(label: str) -> tuple[str, float]:
    """``"x: radius r [m]"`` -> (``"radius r [um]"``, 1e6)."""
    text = label.split(":", 1)[-1].strip()
    if text.endswith("]") and "[" in text:
        name, unit = text[:-1].rsplit("[", 1)
        fac, shown = _AXIS_UNITS.get(unit.strip(), (1.0, unit.strip()))
        return f"{name.strip()} [{shown}]", fac
    return text, 1.0


def plane_figure(grid, field: str, unit: str, title: str,
                 window_size: tuple[int, int] = WINDOW):
    """A flat grid of cells on non-spatial axes (field data ``axes``) as a matplotlib
    figure: each cell a polygon coloured by ``field`` (its magnitude for a vector), the
    axes in the shown units of :data:`_AXIS_UNITS`. Returns the figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import PolyCollection
    from matplotlib.colors import LogNorm

    (xlabel, fx), (ylabel, fy) = (axis_label(str(a)) for a in
                                  np.asarray(grid.field_data["axes"]).ravel()[:2])
    values = np.asarray(grid.cell_data[field], dtype=float)
    if values.ndim == 2:
        values = np.linalg.norm(values, axis=1)
    pts = np.asarray(grid.points)[:, :2] * [fx, fy]
    polys = [pts[grid.get_cell(k).point_ids] for k in range(grid.n_cells)]
    norm = LogNorm() if _log_scale(values) else None
    coll = PolyCollection(polys, array=values, cmap="viridis", norm=norm, edgecolors="none")
    fig, ax = plt.subplots(figsize=(window_size[0] / 100, window_size[1] / 100), dpi=100)
    ax.add_collection(coll)
    ax.autoscale_view()
    ax.margins(0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    fig.colorbar(coll, ax=ax, label=f"{field} [{unit}]" if unit else field)
    fig.tight_layout()
    return fig


def profile_figure(grid, field: str, unit: str, title: str,
                   window_size: tuple[int, int] = WINDOW):
    """A wire's ``field`` (its magnitude for a vector) at the cell centres versus the
    coordinate of largest extent [µm], one line per region (names from the field data
    ``region_names``). Returns the figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .series import region_masks

    values = np.asarray(grid.cell_data[field], dtype=float)
    if values.ndim == 2:
        values = np.linalg.norm(values, axis=1)
    centres = np.asarray(grid.cell_centers().points) * 1e6
    axis = int(np.argmax(np.ptp(centres, axis=0)))
    x = centres[:, axis]
    fig, ax = plt.subplots(figsize=(window_size[0] / 100, window_size[1] / 100), dpi=100)
    for label, m in region_masks(grid).items():
        order = np.argsort(x[m])
        ax.plot(x[m][order], values[m][order], ".-", ms=3, lw=1, label=label)
    if _log_scale(values):
        ax.set_yscale("log")
    ax.set_xlabel(f"{'xyz'[axis]} [um]")
    ax.set_ylabel(f"{field} [{unit}]" if unit else field)
    ax.set_title(title, fontsize=10)
    if len(ax.get_lines()) > 1:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _save(fig, png: Path) -> Path:
    """A matplotlib picture written to ``png`` at the window's pixel size (atomically)."""
    from ..io.atomic import atomic_savefig

    atomic_savefig(fig, str(png), dpi=100)  # closes the figure
    return png


def _render_plane(grid, field: str, unit: str, png: Path, title: str,
                  window_size: tuple[int, int]) -> Path:
    """:func:`plane_figure` written to ``png``."""
    return _save(plane_figure(grid, field, unit, title, window_size), png)

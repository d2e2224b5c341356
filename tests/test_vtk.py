"""VTK output is read back by meshio and pyvista: geometry, values, units, time."""

import numpy as np
import pytest

from conftest import MESHES
from fvqp.io.vtk import (
    array_units,
    field_strings,
    read_pvd,
    subset_cells,
    write_pvd,
    write_pvtu,
    write_vtu,
)
from fvqp.mesh import build_geometry, read_mesh


@pytest.fixture(scope="module")
def film():
    raw = read_mesh(MESHES / "film_trap/film_trap_coarse.msh")
    return raw, build_geometry(raw)


def test_vtu_round_trip_with_units(tmp_path, film):
    import meshio
    import pyvista as pv

    raw, g = film
    T = 0.1 + 1e-3 * g.centroid[:, 0]
    path = tmp_path / "a.vtu"
    write_vtu(str(path), raw.points * 1e-6, raw.blocks, {"temperature": T}, {"temperature": "K"},
              time=2.5e-9)
    m = meshio.read(path)
    assert np.allclose(np.concatenate(m.cell_data["temperature"]), T, rtol=0, atol=0)
    grid = pv.read(path)
    assert grid.n_cells == g.n_cells
    assert np.array_equal(grid.cell_data["temperature"], T)
    assert grid.field_data["TIME"][0] == 2.5e-9
    assert array_units(str(path)) == {"temperature": "K"}
    # cell volumes computed by VTK agree with ours (coordinates written in metres)
    sizes = grid.compute_cell_sizes()["Area"]
    assert np.allclose(sizes, g.volume * 1e-12, rtol=1e-12, atol=0)


def test_pvtu_pieces_and_pvd_series(tmp_path, film):
    import pyvista as pv

    raw, g = film
    n = g.n_cells
    halves = [np.arange(0, n // 2), np.arange(n // 2, n)]
    for k, cells in enumerate(halves):
        pts, blocks = subset_cells(raw.points * 1e-6, raw.blocks, cells)
        write_vtu(str(tmp_path / f"s_p{k}.vtu"), pts, blocks, {"f": cells.astype(float)},
                  {"f": "1"})
    write_pvtu(str(tmp_path / "s.pvtu"), ["s_p0.vtu", "s_p1.vtu"], ["f"], {"f": "1"})
    assert array_units(str(tmp_path / "s.pvtu")) == {"f": "1"}
    grid = pv.read(tmp_path / "s.pvtu")
    assert grid.n_cells == n
    assert np.array_equal(np.sort(grid.cell_data["f"]), np.arange(n, dtype=float))
    write_pvd(str(tmp_path / "s.pvd"), [(0.0, "s.pvtu"), (1e-9, "s.pvtu")])
    assert read_pvd(str(tmp_path / "s.pvd")) == [(0.0, "s.pvtu"), (1e-9, "s.pvtu")]
    reader = pv.get_reader(str(tmp_path / "s.pvd"))
    assert reader.time_values == [0.0, 1e-9]


NAMES = ["absorber", "lead", "substrate", "Ta–Al µ-bridge"]  # non-ASCII survives


def test_region_names_are_string_field_data_read_by_pyvista(tmp_path, film):
    import pyvista as pv

    raw, g = film
    path = tmp_path / "r.vtu"
    write_vtu(str(path), raw.points * 1e-6, raw.blocks,
              {"region": g.cell_region.astype(float)}, {"region": "1"}, time=1e-9,
              strings={"region_names": NAMES})
    grid = pv.read(path)
    assert list(grid.field_data["region_names"]) == NAMES
    assert grid.field_data["TIME"][0] == 1e-9
    assert np.array_equal(grid.cell_data["region"], g.cell_region)
    assert field_strings(str(path)) == {"region_names": NAMES}
    assert "region_names" not in pv.read(_plain(tmp_path, raw)).field_data


def _plain(tmp_path, raw):
    path = tmp_path / "plain.vtu"
    write_vtu(str(path), raw.points * 1e-6, raw.blocks, {}, {})
    return path


def test_region_names_of_a_pvtu_come_from_its_pieces(tmp_path, film):
    import pyvista as pv

    raw, g = film
    n = g.n_cells
    pieces = []
    for k, cells in enumerate([np.arange(0, n // 3), np.arange(n // 3, n)]):
        pts, blocks = subset_cells(raw.points * 1e-6, raw.blocks, cells)
        write_vtu(str(tmp_path / f"s_p{k}.vtu"), pts, blocks,
                  {"region": g.cell_region[cells].astype(float)}, {}, 0.0,
                  {"region_names": NAMES[:2]})
        pieces.append(f"s_p{k}.vtu")
    write_pvtu(str(tmp_path / "s.pvtu"), pieces, ["region"], {}, 0.0,
               {"region_names": NAMES[:2]})
    grid = pv.read(tmp_path / "s.pvtu")
    assert list(grid.field_data["region_names"]) == NAMES[:2]
    assert field_strings(str(tmp_path / "s.pvtu")) == {"region_names": NAMES[:2]}


def test_vector_fields_are_three_component_arrays_in_vtu_and_pvtu(tmp_path, film):
    """A (n, 3) cell array is written as one 3-component array (ParaView draws it as
    arrows), read back by pyvista with the same values, also through a .pvtu of pieces;
    a (n, 2, 2) array is refused with its shape named."""
    import pyvista as pv

    raw, g = film
    n = g.n_cells
    v = np.column_stack([g.centroid[:, 0], -g.centroid[:, 1], np.arange(n, dtype=float)])
    write_vtu(str(tmp_path / "v.vtu"), raw.points * 1e-6, raw.blocks, {"j": v}, {"j": "A/m^2"})
    grid = pv.read(tmp_path / "v.vtu")
    assert grid.cell_data["j"].shape == (n, 3)
    assert np.array_equal(grid.cell_data["j"], v)
    assert grid.glyph(orient="j", scale=False).n_points > 0
    halves = [np.arange(0, n // 2), np.arange(n // 2, n)]
    for k, cells in enumerate(halves):
        pts, blocks = subset_cells(raw.points * 1e-6, raw.blocks, cells)
        write_vtu(str(tmp_path / f"v_p{k}.vtu"), pts, blocks, {"j": v[cells]}, {"j": "A/m^2"})
    write_pvtu(str(tmp_path / "v.pvtu"), ["v_p0.vtu", "v_p1.vtu"], ["j"], {"j": "A/m^2"},
               components={"j": 3})
    grid = pv.read(tmp_path / "v.pvtu")
    j = grid.cell_data["j"]
    assert j.shape == (n, 3)
    assert np.array_equal(j[np.argsort(j[:, 2])], v)
    with pytest.raises(ValueError, match=r"\(n,\) or \(n, k\), not \(.*2, 2\)"):
        write_vtu(str(tmp_path / "w.vtu"), raw.points * 1e-6, raw.blocks,
                  {"t": np.zeros((n, 2, 2))}, {})

"""Mesh reading (gmsh v4, v2, VTK), named groups, and finite-volume geometry."""

import numpy as np
import pytest

from conftest import MESHES
from fvqp.mesh import MeshError, build_geometry, mesh_info, read_mesh


def closure(g):
    """Sum of outward vector areas of every cell (zero for a closed cell)."""
    first = g.inc_cell[g.face_ptr[:-1]]
    sign = np.where(g.inc_cell == first[g.inc_face], 1.0, -1.0)
    s = np.zeros((g.n_cells, 3))
    np.add.at(s, g.inc_cell, sign[:, None] * g.face_normal[g.inc_face] *
              g.face_area[g.inc_face, None])
    return np.abs(s).max()


@pytest.mark.parametrize("path,dim,measure,regions,boundaries", [
    ("film_trap/film_trap_coarse.msh", 2, 200 * 50, {"film", "trap"},
     {"injector", "film_edges", "trap_edges", "trap_end"}),
    ("absorber3d/absorber3d_coarse.msh", 3, 300 * 300 * 10 + 100 * 100 * 0.3 + 100 * 10 * 0.1,
     {"absorber", "lead", "substrate"},
     {"lead_end", "substrate_bottom", "substrate_sides", "absorber_top", "lead_surface",
      "substrate_top"}),
    ("nis_wire/nis_wire.msh", 1, 11.0, {"wire"}, {"reservoir_left", "reservoir_right"}),
    ("mms/cube_8.msh", 3, 1.0, {"domain"}, {"xmin", "xmax", "ymin", "ymax", "zmin", "zmax"}),
])
def test_device_meshes_groups_and_measures(path, dim, measure, regions, boundaries):
    g = build_geometry(read_mesh(MESHES / path))
    assert g.dim == dim
    assert set(g.region_names) == regions
    assert set(g.boundary_names) == boundaries  # every exterior face is named
    assert g.volume.sum() == pytest.approx(measure, rel=1e-12)
    assert closure(g) < 1e-10 * g.face_area.max()
    assert g.max_nonorthogonality < 1e-6


def test_nis_wire_junction_points_are_nodes_at_the_paper_positions():
    raw = read_mesh(MESHES / "nis_wire/nis_wire.msh")
    g = build_geometry(raw)
    for name, x in [("junction_a", -0.3), ("junction_b", 0.0), ("junction_c", 0.3)]:
        f = np.flatnonzero(g.face_group == g.group_names.index(name))
        assert len(f) == 1 and g.face_degree[f[0]] == 2
        assert g.face_centroid[f[0], 0] == pytest.approx(x, abs=1e-12)


def test_network_node_joins_three_wires():
    g = build_geometry(read_mesh(MESHES / "wire_network/wire_network.msh"))
    node = np.flatnonzero(g.face_group == g.group_names.index("node"))
    assert len(node) == 1 and g.face_degree[node[0]] == 3
    assert (g.face_degree <= 3).all() and (g.face_degree == 3).sum() == 1
    assert g.volume.sum() == pytest.approx(2 + 3 + 4, rel=1e-12)


def test_tpfa_transmissibility_of_uniform_squares():
    g = build_geometry(read_mesh(MESHES / "mms/square_16.msh"))
    h = 1 / 16
    interior = g.face_degree[g.inc_face] == 2
    # tau = A (n.d)/|d|^2 = h / (h/2) = 2 for every interior half-face of a uniform grid
    assert np.allclose(g.inc_tau[interior], 2.0, rtol=1e-12)
    assert np.allclose(g.volume, h * h, rtol=1e-12)


def test_widths_scale_volumes_and_transmissibilities():
    raw = read_mesh(MESHES / "film_trap/film_trap_coarse.msh")
    g1 = build_geometry(raw)
    g2 = build_geometry(raw, widths=np.array([0.1, 0.3]))  # film, trap thickness
    film = g1.cell_region == raw.region_names.index("film")
    assert np.allclose(g2.volume[film], 0.1 * g1.volume[film])
    assert np.allclose(g2.volume[~film], 0.3 * g1.volume[~film])


@pytest.mark.parametrize("other", ["mms/square_16_v2.msh", "mms/square_16.vtu"])
def test_msh2_and_vtu_give_the_same_geometry_as_msh4(other):
    ref = build_geometry(read_mesh(MESHES / "mms/square_16.msh"))
    g = build_geometry(read_mesh(MESHES / other))
    assert g.n_cells == ref.n_cells and g.n_faces == ref.n_faces
    assert np.allclose(np.sort(g.volume), np.sort(ref.volume))
    assert len(g.boundary_names) == 4  # named (msh2) or numbered (vtu) boundary groups
    assert np.array_equal(np.sort(g.inc_tau), np.sort(ref.inc_tau))


def test_subset_turns_interfaces_into_named_boundaries():
    raw = read_mesh(MESHES / "absorber3d/absorber3d_coarse.msh")
    g = build_geometry(raw.subset(["absorber", "lead"]), strict=False)
    assert set(g.boundary_names) == {"absorber_top", "lead_surface", "lead_end",
                                     "absorber_substrate", "lead_substrate"}
    assert g.volume.sum() == pytest.approx(100 * 100 * 0.3 + 100 * 10 * 0.1)


def test_mesh_info_lists_regions_boundaries_and_counts():
    text = mesh_info(str(MESHES / "absorber3d/absorber3d_coarse.msh"))
    assert "absorber" in text and "480 cells" in text and "lead_end" in text
    assert "absorber_substrate" in text  # interfaces are listed


def test_bad_mesh_files_are_reported(tmp_path):
    with pytest.raises(MeshError, match="does not exist"):
        read_mesh(tmp_path / "nope.msh")
    bad = tmp_path / "garbage.msh"
    bad.write_text("this is not a mesh\n")
    with pytest.raises(MeshError, match="cannot read mesh file"):
        read_mesh(bad)
    import meshio

    plain = tmp_path / "plain.vtu"
    meshio.write(plain, meshio.Mesh(np.array([[0, 0, 0], [1, 0, 0.0], [1, 1, 0], [0, 1, 0]]),
                                    [("quad", np.array([[0, 1, 2, 3]]))]))
    with pytest.raises(MeshError, match="no physical groups"):
        read_mesh(plain)

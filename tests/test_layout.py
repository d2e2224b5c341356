"""Layout to mesh (``fvqp mesh``, :mod:`fvqp.mesh.layout`): the generated mesh has the
drawing's regions, volumes and interface areas, is a conforming all-hexahedral mesh, its
``.geo`` regenerates it, a GDS cell gives the same mesh, and it runs in a heat case."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from conftest import MESHES, run_fvqp

# substrate 40 x 30 x 5; a 10 x 10 x 0.3 pad; an L-shaped wire (0.1 thick) touching the pad's
# side at x = 15 and leaving the chip at x = 40; a 6 x 6 x 0.2 cap stacked on the pad
LAYOUT = """
unit = "1 um"
h = 5.0
[substrate]
material = "Si"
box = [0, 0, 40, 30]
thickness = 5.0
cells = 2
[[layer]]
name = "pad"
material = "Ta"
thickness = 0.3
cells = 2
rectangles = [[5, 5, 15, 15]]
[[layer]]
name = "wire"
material = "Al"
thickness = 0.1
polygons = [[[15, 8], [40, 8], [40, 12], [25, 12], [25, 25], [21, 25], [21, 12], [15, 12]]]
[[layer]]
name = "cap"
material = "Ta"
z = 0.3
thickness = 0.2
rectangles = [[7, 7, 13, 13]]
"""
L_PERIMETER = 25 + 4 + 15 + 13 + 4 + 13 + 6 + 4  # the wire's outline (84)
L_AREA = 25 * 4 + 4 * 13  # 152
# by hand from the drawing (µm³, µm²)
VOLUMES = {"substrate": 40 * 30 * 5.0, "pad": 100 * 0.3, "wire": L_AREA * 0.1, "cap": 36 * 0.2}
AREAS = {
    "substrate_pad": 100.0, "substrate_wire": L_AREA, "pad_wire": 4 * 0.1, "pad_cap": 36.0,
    "wire_edge": 4 * 0.1, "substrate_bottom": 1200.0, "substrate_edge": 140 * 5.0,
    "substrate_surface": 1200.0 - 100 - L_AREA,
    "pad_surface": (100 - 36) + 40 * 0.3 - 4 * 0.1,
    "wire_surface": L_AREA + (L_PERIMETER - 4 - 4) * 0.1,
    "cap_surface": 36 + 24 * 0.2,
}


def _measures(path):
    """Volume per region and area per facet group of a mesh of boxes, from its nodes."""
    import meshio

    m = meshio.read(path)
    names = {int(v[0]): (k, int(v[1])) for k, v in m.field_data.items()}
    vol: dict[str, float] = {}
    area: dict[str, float] = {}
    for block, tags in zip(m.cells, m.cell_data["gmsh:physical"], strict=True):
        ext = np.ptp(m.points[block.data], axis=1)  # cell extents (boxes, rectangles)
        for tag in np.unique(tags):
            name, dim = names[int(tag)]
            e = ext[tags == tag]
            if block.type == "hexahedron":
                vol[name] = vol.get(name, 0.0) + float(np.prod(e, axis=1).sum())
            elif block.type == "quad":
                flat = e <= 1e-9 * np.abs(m.points).max()  # the facet's normal direction
                prod = np.prod(np.where(flat, 1.0, e), axis=1)
                area[name] = area.get(name, 0.0) + float(prod.sum())
    types = {b.type for b in m.cells}
    return vol, area, types


@pytest.fixture(scope="module")
def chip(tmp_path_factory):
    d = tmp_path_factory.mktemp("layout")
    (d / "chip.toml").write_text(LAYOUT)
    from fvqp.mesh.layout import read_layout
    from fvqp.mesh.layout_mesh import build_mesh

    info = build_mesh(read_layout(d / "chip.toml"), d / "mesh" / "chip.msh")
    return d, info


def test_regions_volumes_and_interface_areas_equal_the_layouts(chip):
    d, info = chip
    vol, area, types = _measures(d / "mesh" / "chip.msh")
    assert types == {"hexahedron", "quad"}  # boxes only: K-orthogonal
    assert set(vol) == set(VOLUMES) and set(area) == set(AREAS)
    for name, v in VOLUMES.items():
        assert vol[name] == pytest.approx(v, rel=1e-12, abs=0), name
        assert info["regions"][name] == pytest.approx(v, rel=1e-12, abs=0), name
    for name, a in AREAS.items():
        assert area[name] == pytest.approx(a, rel=1e-12, abs=0), name
        assert info["groups"][name] == pytest.approx(a, rel=1e-12, abs=0), name


def test_mesh_passes_the_mesh_checker_and_fvqp_reads_its_groups(chip):
    """Conforming (one piece, no duplicate nodes), boxes, each exterior facet in one
    group (meshes/check_meshes.py), and fvqp's reader sees regions and interfaces."""
    d, info = chip
    p = subprocess.run([sys.executable, str(MESHES / "check_meshes.py"), "-v",
                        str(d / "mesh" / "chip.msh")], capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    from fvqp.mesh import read_mesh

    raw = read_mesh(d / "mesh" / "chip.msh")
    assert list(raw.region_names) == ["substrate", "pad", "wire", "cap"]
    assert info["cells"] == raw.n_cells
    # z levels: 2 substrate cells; the pad's 2 cells (0.15 thick) meet the wire's top at
    # 0.1, so 0.1..0.3 takes 2 cells of 0.1; the cap (default ceil(0.2 / h) = 1 cell)
    z = np.unique(np.round(raw.points[:, 2], 12))
    assert list(z) == pytest.approx([-5, -2.5, 0, 0.1, 0.2, 0.3, 0.5], rel=0, abs=1e-12)
    # in-plane: no cell wider than h = 5 (x breaks 0 5 7 13 15 21 25 40, y 0 5 7 8 12 ...)
    x = np.unique(np.round(raw.points[:, 0], 9))
    assert np.diff(x).max() <= 5.0 + 1e-9 and {0, 5, 7, 13, 15, 21, 25, 40} <= set(x)


def test_geo_script_regenerates_the_same_mesh(chip):
    import gmsh

    d, info = chip
    geo = d / "mesh" / "chip.geo"
    assert geo.is_file()
    gmsh.initialize(readConfigFiles=False, interruptible=False)
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        gmsh.open(str(geo))
        gmsh.model.mesh.generate(3)
        gmsh.write(str(d / "again.msh"))
    finally:
        gmsh.finalize()
    v1, a1, _ = _measures(d / "mesh" / "chip.msh")
    v2, a2, _ = _measures(d / "again.msh")
    assert v1 == v2 and a1 == a2
    import meshio

    assert len(meshio.read(d / "again.msh").points) == len(meshio.read(
        d / "mesh" / "chip.msh").points)


def test_gds_cell_gives_the_same_mesh(tmp_path, chip):
    gdstk = pytest.importorskip("gdstk")
    lib = gdstk.Library()
    top = lib.new_cell("CHIP")
    sub = lib.new_cell("PAD")  # the pad through a reference: flattened
    sub.add(gdstk.rectangle((0, 0), (10, 10), layer=1))
    top.add(gdstk.Reference(sub, (5, 5)))
    top.add(gdstk.Polygon([(15, 8), (40, 8), (40, 12), (25, 12), (25, 25), (21, 25), (21, 12),
                           (15, 12)], layer=2))
    top.add(gdstk.rectangle((7, 7), (13, 13), layer=3, datatype=1))
    lib.write_gds(str(tmp_path / "chip.gds"))
    text = LAYOUT.replace('unit = "1 um"', 'unit = "1 um"\ngds = "chip.gds"\ncell = "CHIP"')
    text = text.replace("rectangles = [[5, 5, 15, 15]]", "gds_layer = [1, 0]")
    text = text.replace("polygons = [[[15, 8], [40, 8], [40, 12], [25, 12], [25, 25], [21, 25], "
                        "[21, 12], [15, 12]]]", "gds_layer = [2, 0]")
    text = text.replace("rectangles = [[7, 7, 13, 13]]", "gds_layer = [3, 1]")
    assert text.count("gds_layer") == 3
    (tmp_path / "gds.toml").write_text(text)
    p = run_fvqp(["mesh", tmp_path / "gds.toml", "-o", tmp_path / "gds.msh"])
    assert "region wire" in p.stdout and (tmp_path / "gds.geo").is_file()
    d, _ = chip
    assert _measures(tmp_path / "gds.msh")[:2] == _measures(d / "mesh" / "chip.msh")[:2]


TRIANGLE = '\n[[layer]]\nname = "x"\nmaterial = "Al"\nthickness = 0.1\n' \
    'polygons = [[[30, 9], [35, 9], [30, 11]]]\n'


CAP = "rectangles = [[7, 7, 13, 13]]"
FREE = TRIANGLE.replace("[30, 9], [35, 9], [30, 11]", "[30, 20], [35, 20], [30, 24]")


@pytest.mark.parametrize("changes, key", [
    ([("z = 0.3", "z = 0.2")], "overlap"),  # the cap sinks into the pad
    ([("[21, 12], [15, 12]]]", "[21, 12], [14, 12], [14, 8]]]")], "overlap"),  # into pad
    ([(CAP, CAP + TRIANGLE)], "overlap"),  # a triangle on the wire: on the prism path
    ([("[25, 25], [21, 25]", "[25, 45], [21, 45]")], "outside the substrate box"),
    ([("h = 5.0", 'h = 5.0\ncells = "tets"')], "cells: 'tets'"),
    ([("h = 5.0", 'h = 5.0\ncells = "hexahedra"'), (CAP, CAP + FREE)],
     "not parallel to x or y"),
    ([('name = "cap"', 'name = "pad"')], "used twice"),
])
def test_bad_layouts_are_refused_with_the_fix(tmp_path, changes, key):
    text = LAYOUT
    for old, new in changes:
        assert old in text
        text = text.replace(old, new)
    (tmp_path / "bad.toml").write_text(text)
    p = run_fvqp(["mesh", tmp_path / "bad.toml"], check=False)
    assert p.returncode == 2 and key in p.stderr and "Fix:" in p.stderr
    assert not (tmp_path / "bad.msh").exists()


def test_layout_mesh_runs_in_a_heat_case_and_conserves_energy(chip, tmp_path):
    """A 100 eV pulse in the pad, cooled through the wire's end at the chip edge; the
    substrate and its interfaces are left out (insulating)."""
    from fvqp.api import run

    d, _ = chip
    case = {
        "model": "heat", "mesh": {"file": str(d / "mesh" / "chip.msh"), "scale": "1 um"},
        "units": {"reference_material": "Ta"}, "bath": {"temperature": "250 mK"},
        "regions": {"substrate": {"active": False}, "pad": {"material": "Ta"},
                    "wire": {"material": "Al"}, "cap": {"material": "Ta"}},
        "boundaries": {"wire_edge": {"type": "bath"},
                       **{b: {"type": "insulated"} for b in (
                           "pad_surface", "wire_surface", "cap_surface", "substrate_pad",
                           "substrate_wire")}},
        "sources": [{"type": "pulse", "energy": "100 eV", "time": "1 ns",
                     "duration": "0.2 ns", "position": [10.0, 10.0, 0.15], "radius": "2 um",
                     "region": "pad"}],
        "time": {"end": "20 ns", "dt_initial": "10 ps", "rtol": 1e-3, "atol": "10 uK"},
        "output": {"every": 1000},
    }
    r = run(case, output_dir=tmp_path / "out", name="heat_chip")
    assert r.status == 0
    e = r.result["energy_J"]
    # the pulse as integrated by the adaptive BDF steps (rtol 1e-3): measured +0.19 %
    assert e["deposited"] == pytest.approx(100 * 1.602176634e-19, rel=5e-3, abs=0)
    assert abs(e["imbalance"]) < 1e-8 * e["deposited"]
    T = r.fields["temperature"]
    assert set(T.region) == {"pad", "wire", "cap"}  # substrate left out
    assert T.values[-1].max() > 0.25 and T.values.min() >= 0.25 - 1e-6
    vol = {n: T.measure[T.region == n].sum() for n in ("pad", "wire", "cap")}
    assert vol["wire"] == pytest.approx(L_AREA * 0.1e-18, rel=1e-12, abs=0)  # m³



def test_shipped_chip_layout_has_the_ground_plane_openings_and_is_reproducible(tmp_path):
    """meshes/chip_layout: two islands in openings (holes) of a ground plane; the shipped
    .msh is what `fvqp mesh` makes from chip.toml."""
    src = MESHES / "chip_layout"
    run_fvqp(["mesh", src / "chip.toml", "-o", tmp_path / "chip.msh"])
    vol, area, types = _measures(tmp_path / "chip.msh")
    assert types == {"hexahedron", "quad"}
    t = 0.1
    expect = {"substrate": 1000 * 600 * 100.0, "island_left": 200 * 100 * t,
              "island_right": 200 * 100 * t,
              "ground": (1000 * 600 - 2 * 260 * 160) * t}  # box minus the two openings
    for name, v in expect.items():
        assert vol[name] == pytest.approx(v, rel=1e-12, abs=0), name
    assert area["substrate_ground"] == pytest.approx(expect["ground"] / t, rel=1e-12, abs=0)
    # the 30 µm gaps: bare substrate top = openings minus islands
    assert area["substrate_surface"] == pytest.approx(2 * (260 * 160 - 200 * 100), rel=1e-12,
                                                      abs=0)
    assert "ground_island_left" not in area  # the islands do not touch the ground plane
    assert _measures(src / "chip.msh") == (vol, area, types)


def test_layout_mesh_runs_in_a_transport_case(chip, tmp_path):
    """10 eV of 2.5Δ phonons in the pad for 1 ns: energy and QP number balance on the
    generated mesh, and QPs cross the pad's interfaces into the cap above it and the wire
    beside it (conforming interfaces)."""
    from fvqp.api import run

    d, _ = chip
    ins = ("pad_surface", "wire_surface", "cap_surface", "substrate_pad", "substrate_wire")
    case = {
        "model": "transport", "mesh": {"file": str(d / "mesh" / "chip.msh"), "scale": "1 um"},
        "units": {"reference_material": "Ta"}, "bath": {"temperature": "50 mK"},
        "regions": {"substrate": {"active": False},
                    "pad": {"material": "Ta", "escape_time": "0.1 ns"},
                    "wire": {"material": "Al", "escape_time": "0.2 ns"},
                    "cap": {"material": "Ta", "escape_time": "0.1 ns"}},
        "boundaries": {"wire_edge": {"type": "bath"}, **{b: {"type": "insulating"} for b in ins}},
        "sources": [{"type": "phonon", "energy": "1.73 meV", "width": "0.1 meV",
                     "deposit": "10 eV", "time": "0.2 ns", "duration": "0.05 ns",
                     "position": [10.0, 10.0, 0.15], "radius": "2 um", "region": "pad"}],
        "energy": {"spacing": "80 ueV", "e_max": "1.2 meV"},
        "time": {"end": "1 ns", "dt_initial": "10 ps", "rtol": 1e-3},
    }
    r = run(case, output_dir=tmp_path, name="transport_chip")
    assert r.status == 0
    e, q = r.result["energy_J"], r.result["qp_number"]
    assert e["deposited"] == pytest.approx(10 * 1.602176634e-19, rel=1e-3, abs=0)
    assert abs(e["imbalance"]) < 1e-12 * e["deposited"]  # measured 8e-16
    assert abs(q["imbalance"]) < 1e-9 * q["final"]  # measured 8e-16
    n = r.fields["qp_excess"]
    per_region = {k: n.integral(k)[-1] for k in ("pad", "cap", "wire")}
    # measured: pad 6591, cap 3019, wire 8.3 QPs at 1 ns
    assert per_region["cap"] > 0.1 * per_region["pad"] and per_region["wire"] > 1.0


def _facet_areas(path) -> dict[str, float]:
    """Area per facet group (triangles and planar quads) of a mesh file."""
    import meshio

    m = meshio.read(path)
    names = {int(v[0]): k for k, v in m.field_data.items() if int(v[1]) == 2}
    out: dict[str, float] = {}
    for block, tags in zip(m.cells, m.cell_data["gmsh:physical"], strict=True):
        p = m.points[block.data]
        if block.type == "triangle":
            a = 0.5 * np.linalg.norm(np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]), axis=1)
        elif block.type == "quad":
            a = 0.5 * np.linalg.norm(np.cross(p[:, 2] - p[:, 0], p[:, 3] - p[:, 1]), axis=1)
        else:
            continue
        for tag in np.unique(tags):
            out[names[int(tag)]] = out.get(names[int(tag)], 0.0) + float(a[tags == tag].sum())
    return out


def test_oblique_shapes_get_a_prism_mesh_with_the_drawings_volumes_and_areas(tmp_path):
    """A triangle (oblique edge) makes the layout non-Manhattan: wedges over a triangulated
    footprint, every region's volume and every group's area as drawn, conforming (fvqp
    reads it as one mesh), and the .geo regenerates it."""
    import gmsh

    (tmp_path / "tri.toml").write_text(LAYOUT.replace(CAP, CAP + FREE))
    p = run_fvqp(["mesh", tmp_path / "tri.toml", "-o", tmp_path / "tri.msh"])
    assert "prisms" in p.stdout
    from fvqp.mesh import build_geometry, read_mesh

    raw = read_mesh(tmp_path / "tri.msh")
    geo = build_geometry(raw)
    assert {t for t, _ in geo.cell_nodes} == {"wedge"}
    tri_area = 0.5 * 5 * 4
    volumes = {**VOLUMES, "x": tri_area * 0.1}
    for i, name in enumerate(raw.region_names):
        assert geo.volume[geo.cell_region == i].sum() == pytest.approx(volumes[name], rel=1e-12,
                                                                       abs=0), name
    areas = {**AREAS, "substrate_x": tri_area,
             "substrate_surface": AREAS["substrate_surface"] - tri_area,
             "x_surface": tri_area + (5 + 4 + np.hypot(5, 4)) * 0.1}
    found = _facet_areas(tmp_path / "tri.msh")
    assert set(found) == set(areas)
    for name, a in areas.items():
        assert found[name] == pytest.approx(a, rel=1e-12, abs=0), name
    gmsh.initialize(readConfigFiles=False, interruptible=False)
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        gmsh.open(str(tmp_path / "tri.geo"))
        gmsh.model.mesh.generate(3)
        gmsh.write(str(tmp_path / "again.msh"))
    finally:
        gmsh.finalize()
    assert _facet_areas(tmp_path / "again.msh") == found
    assert read_mesh(tmp_path / "again.msh").n_cells == raw.n_cells


GRADED = """
h = 5.0
h_max = 40.0
[substrate]
material = "Si"
box = [-150, -150, 150, 150]
thickness = 60.0
[[layer]]
name = "absorber"
material = "Ta"
thickness = 0.3
cells = 2
rectangles = [[-50, -50, 50, 50]]
[[layer]]
name = "lead"
material = "Al"
thickness = 0.1
rectangles = [[50, -5, 150, 5]]
"""


def test_graded_cells_keep_the_drawing_and_grow_away_from_its_edges(tmp_path):
    """h_max > h: cells of at most h at every edge of the drawing, at most h_max inside,
    the substrate fine under the films; volumes and areas unchanged, still boxes."""
    import meshio

    (tmp_path / "g.toml").write_text(GRADED)
    (tmp_path / "u.toml").write_text(GRADED.replace("h_max = 40.0\n", ""))
    run_fvqp(["mesh", tmp_path / "g.toml"])
    run_fvqp(["mesh", tmp_path / "u.toml"])
    vg, ag, _ = _measures(tmp_path / "g.msh")
    vu, au, _ = _measures(tmp_path / "u.msh")
    # graded node positions carry gmsh's ~1e-8 placement error; the sums stay ~1e-11
    assert vg == pytest.approx(vu, rel=1e-9, abs=0)
    assert ag == pytest.approx(au, rel=1e-9, abs=0)
    assert vg["absorber"] == pytest.approx(100 * 100 * 0.3, rel=1e-9, abs=0)
    p = subprocess.run([sys.executable, str(MESHES / "check_meshes.py"),
                        str(tmp_path / "g.msh")], capture_output=True, text=True)
    assert p.returncode == 0, p.stdout
    m = meshio.read(tmp_path / "g.msh")
    hexes = m.points[m.cells_dict["hexahedron"]]
    lo, hi = hexes.min(axis=1), hexes.max(axis=1)
    ext = hi - lo
    tol = 1e-6  # gmsh's Progression places the nodes to ~1e-8
    assert ext[:, :2].max() <= 40.0 * (1 + tol) and ext[:, :2].max() > 10.0
    for axis, edges in ((0, (-150, -50, 50, 150)), (1, (-150, -50, -5, 5, 50, 150))):
        for e in edges:  # the cells on either side of an edge of the drawing
            at = (np.abs(lo[:, axis] - e) < 1e-9) | (np.abs(hi[:, axis] - e) < 1e-9)
            assert at.any() and ext[at, axis].max() <= 5.0 * (1 + tol), (axis, e)
    sub = lo[:, 2] < 0
    top, bottom = sub & (np.abs(hi[:, 2]) < 1e-12), sub & (np.abs(lo[:, 2] + 60) < 1e-12)
    assert ext[top, 2].max() <= 5.0 * (1 + tol) and ext[bottom, 2].min() > ext[top, 2].max()
    n_graded, n_uniform = len(hexes), len(meshio.read(tmp_path / "u.msh").cells_dict[
        "hexahedron"])
    assert n_graded < n_uniform / 4  # measured 5540 against 44440

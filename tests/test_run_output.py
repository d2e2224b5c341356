"""What a run of a mesh model leaves for the user: region names in the VTK files (ParaView
and pyvista show names, not ids), shown by `fvqp info`."""

from __future__ import annotations

import numpy as np
import pytest
import tomllib

from conftest import case_variant, run_fvqp
from fvqp.mesh import read_mesh


def _mesh_names(case) -> list[str]:
    data = tomllib.loads(case.read_text())
    return read_mesh(data["mesh"]["file"]).region_names


def _snapshots(out, name):
    import pyvista as pv

    reader = pv.get_reader(str(out / f"{name}.pvd"))
    grids = []
    for t in reader.time_values:
        reader.set_active_time_value(t)
        grids.append(reader.read()[0])
    return grids


# one fast steady case of each mesh model (they share the writer of the run template)
@pytest.mark.parametrize("name", ["heat_nis_wire", "transport_nis_wire", "bte_gapstep"])
def test_every_mesh_model_writes_region_names_shown_by_info(name, tmp_path):
    case = case_variant(f"{name}.toml", tmp_path)
    out = tmp_path / "out"
    run_fvqp(["run", case, "--output", out])
    names = _mesh_names(case)
    grids = _snapshots(out, name)
    assert grids
    for grid in grids:
        assert list(grid.field_data["region_names"]) == names
    region = np.asarray(grids[-1].cell_data["region"]).astype(int)
    lines = run_fvqp(["info", out]).stdout.splitlines()
    for r in np.unique(region):
        count = int(np.sum(region == r))
        assert any(ln.split()[:5] == [names[r], "id", str(r), str(count), "cells,"]
                   for ln in lines), (names[r], count, lines)


@pytest.mark.mpi
def test_region_names_in_the_pieces_of_a_two_rank_run(tmp_path):
    import pyvista as pv

    from fvqp.io.vtk import field_strings

    case = case_variant("heat_nis_wire.toml", tmp_path)
    out = tmp_path / "out"
    run_fvqp(["run", case, "--output", out], nproc=2)
    names = _mesh_names(case)
    pvtu = sorted((out / "vtu").glob("*.pvtu"))[-1]
    pieces = sorted((out / "vtu").glob(f"{pvtu.stem}_p*.vtu"))
    assert len(pieces) == 2
    for piece in pieces:  # VTK takes a .pvtu's field data from its pieces
        assert field_strings(str(piece)) == {"region_names": names}
    assert list(pv.read(pvtu).field_data["region_names"]) == names

"""VTK XML output for ParaView: ``.vtu`` pieces, ``.pvtu`` under MPI, ``.pvd`` time series.

Cell fields are Float64 arrays named after the field (``temperature``); each DataArray
carries a ``units`` XML attribute, and the file's FieldData holds ``TIME`` in seconds and,
when the writer is given them, string arrays such as ``region_names`` (the name of each
value of the ``region`` cell field: ``region_names[k]`` is region ``k``; ParaView lists it
under Information → Data Arrays and in the spreadsheet view's Field Data, pyvista as
``grid.field_data["region_names"]``). VTK, ParaView and pyvista read the files; meshio
(5.3) reads only numeric arrays, so it reads files written without string arrays but
refuses those with ``region_names`` ("Illegal data type 'String'"). Every file is written
to a temporary name and renamed, so a killed run never leaves a half file.
"""

from __future__ import annotations

import base64
import os
import xml.etree.ElementTree as ET

import numpy as np

from ..setops import distinct
from .atomic import atomic_write_bytes

VTK_TYPE = {"line": 3, "triangle": 5, "quad": 9, "tetra": 10, "hexahedron": 12, "wedge": 13}
_NP_TYPE = {np.dtype(np.float64): "Float64", np.dtype(np.int64): "Int64",
            np.dtype(np.uint8): "UInt8", np.dtype(np.int32): "Int32"}


def _b64(arr: np.ndarray) -> str:
    raw = np.ascontiguousarray(arr).tobytes()
    return base64.b64encode(np.uint64(len(raw)).tobytes() + raw).decode("ascii")


def _array(parent, name, arr, ncomp=1, units=None):
    arr = np.asarray(arr)
    if arr.dtype.kind == "f":
        arr = arr.astype(np.float64)
    elif arr.dtype.kind in "iu" and arr.dtype != np.uint8:
        arr = arr.astype(np.int64)
    el = ET.SubElement(parent, "DataArray", type=_NP_TYPE[arr.dtype], Name=name,
                       format="binary")
    if ncomp > 1:
        el.set("NumberOfComponents", str(ncomp))
    if units:
        el.set("units", units)
    el.text = _b64(arr)
    return el


def _field_data(parent, time, strings=None):
    fd = ET.SubElement(parent, "FieldData")
    el = ET.SubElement(fd, "DataArray", type="Float64", Name="TIME", NumberOfTuples="1",
                       format="ascii")
    el.text = repr(float(time))
    for name, values in (strings or {}).items():
        _string_array(fd, name, values)


def _string_array(parent, name: str, values) -> None:
    """A VTK ``String`` DataArray: UTF-8 strings, each ended by a NUL byte (binary)."""
    values = [str(v) for v in values]
    if any("\0" in v for v in values):
        raise ValueError(f"{name}: strings with a NUL character cannot be written")
    el = ET.SubElement(parent, "DataArray", type="String", Name=name,
                       NumberOfTuples=str(len(values)), format="binary")
    el.text = _b64(np.frombuffer(b"".join(v.encode("utf-8") + b"\0" for v in values),
                                 dtype=np.uint8))


def subset_cells(points: np.ndarray, blocks, cells: np.ndarray):
    """Points and (type, connectivity) blocks of the cells ``cells`` (file numbering),
    renumbered so only the points they use are kept."""
    sizes = np.cumsum([0] + [len(c) for _, c in blocks])
    out_blocks = []
    used = []
    for (ctype, conn), lo, hi in zip(blocks, sizes[:-1], sizes[1:], strict=True):
        sel = cells[(cells >= lo) & (cells < hi)] - lo
        if len(sel):
            out_blocks.append((ctype, conn[sel]))
            used.append(conn[sel].ravel())
    keep = distinct(np.concatenate(used)) if used else np.zeros(0, dtype=np.int64)
    new = np.full(len(points), -1, dtype=np.int64)
    new[keep] = np.arange(len(keep))
    return points[keep], [(t, new[c]) for t, c in out_blocks]


def write_vtu(path: str, points: np.ndarray, blocks, cell_data: dict, units: dict,
              time: float = 0.0, strings: dict | None = None) -> None:
    """Write one unstructured-grid piece.

    Parameters
    ----------
    path : str
    points : ndarray
        Node coordinates, shape (n, 3).
    blocks : list
        (cell type, connectivity) blocks; ``cell_data`` values follow the block order.
    cell_data : dict
        Field name -> one value per cell (shape (n,)), or one vector per cell (shape
        (n, k), written as a k-component array: ParaView draws (n, 3) arrays as arrows).
    units : dict
        Field name -> unit label (the ``units`` attribute).
    time : float
        The ``TIME`` field data [s].
    strings : dict, optional
        Field-data string arrays, name -> list of str (e.g. ``region_names``).
    """
    root = ET.Element("VTKFile", type="UnstructuredGrid", version="1.0",
                      byte_order="LittleEndian", header_type="UInt64")
    grid = ET.SubElement(root, "UnstructuredGrid")
    _field_data(grid, time, strings)
    ncell = sum(len(c) for _, c in blocks)
    piece = ET.SubElement(grid, "Piece", NumberOfPoints=str(len(points)),
                          NumberOfCells=str(ncell))
    _array(ET.SubElement(piece, "Points"), "Points", points.astype(float), 3)
    cells = ET.SubElement(piece, "Cells")
    conn = np.concatenate([c.ravel() for _, c in blocks]) if blocks else np.zeros(0, np.int64)
    offsets = np.cumsum(np.concatenate([np.full(len(c), c.shape[1]) for _, c in blocks])) \
        if blocks else np.zeros(0, np.int64)
    types = np.concatenate([np.full(len(c), VTK_TYPE[t], dtype=np.uint8) for t, c in blocks]) \
        if blocks else np.zeros(0, np.uint8)
    _array(cells, "connectivity", conn)
    _array(cells, "offsets", offsets)
    _array(cells, "types", types)
    cd = ET.SubElement(piece, "CellData")
    for name, values in cell_data.items():
        values = np.asarray(values)
        _array(cd, name, values, _components(values), units=units.get(name))
    atomic_write_bytes(path, ET.tostring(root, xml_declaration=True, encoding="utf-8"))


def _components(values: np.ndarray) -> int:
    """Number of components of a cell array: 1 for shape (n,), k for shape (n, k)."""
    if values.ndim == 1:
        return 1
    if values.ndim == 2:
        return values.shape[1]
    raise ValueError(f"a cell array has shape (n,) or (n, k), not {values.shape}")


def write_pvtu(path: str, pieces: list[str], fields: list[str], units: dict,
               time: float = 0.0, strings: dict | None = None,
               components: dict | None = None) -> None:
    """Parallel index file naming the per-rank pieces (paths relative to ``path``).

    ``components`` gives the number of components of the vector fields (default 1).
    VTK takes the field data of a ``.pvtu`` from its pieces (each piece must carry
    ``strings`` too); they are repeated here for readers of the index alone."""
    root = ET.Element("VTKFile", type="PUnstructuredGrid", version="1.0",
                      byte_order="LittleEndian", header_type="UInt64")
    grid = ET.SubElement(root, "PUnstructuredGrid", GhostLevel="0")
    _field_data(grid, time, strings)
    pp = ET.SubElement(grid, "PPoints")
    ET.SubElement(pp, "PDataArray", type="Float64", NumberOfComponents="3", Name="Points")
    pcd = ET.SubElement(grid, "PCellData")
    for name in fields:
        el = ET.SubElement(pcd, "PDataArray", type="Float64", Name=name)
        if (components or {}).get(name, 1) > 1:
            el.set("NumberOfComponents", str(components[name]))
        if units.get(name):
            el.set("units", units[name])
    for p in pieces:
        ET.SubElement(grid, "Piece", Source=p)
    atomic_write_bytes(path, ET.tostring(root, xml_declaration=True, encoding="utf-8"))


def write_pvd(path: str, entries: list[tuple[float, str]]) -> None:
    """Time series index: ``entries`` are (time in s, file relative to ``path``)."""
    root = ET.Element("VTKFile", type="Collection", version="1.0", byte_order="LittleEndian")
    col = ET.SubElement(root, "Collection")
    for t, f in entries:
        ET.SubElement(col, "DataSet", timestep=repr(float(t)), group="", part="0", file=f)
    atomic_write_bytes(path, ET.tostring(root, xml_declaration=True, encoding="utf-8"))


def read_pvd(path: str) -> list[tuple[float, str]]:
    """Entries of an existing ``.pvd`` (empty list if there is none)."""
    if not os.path.isfile(path):
        return []
    root = ET.parse(path).getroot()
    return [(float(d.get("timestep")), d.get("file")) for d in root.iter("DataSet")]


def field_strings(path: str) -> dict[str, list[str]]:
    """The string arrays of the FieldData of a .vtu/.pvtu written by :func:`write_vtu`."""
    root = ET.parse(path).getroot()
    out = {}
    for fd in root.iter("FieldData"):
        for el in fd.iter("DataArray"):
            if el.get("type") != "String":
                continue
            text = (el.text or "").strip()
            if el.get("format") == "binary":
                raw = base64.b64decode(text)[8:]
            else:
                raw = bytes(int(x) for x in text.split())
            out[el.get("Name")] = [b.decode("utf-8") for b in raw.split(b"\0")[:-1]]
    return out


def array_units(path: str) -> dict[str, str]:
    """The ``units`` attributes of the cell arrays of a .vtu/.pvtu file."""
    root = ET.parse(path).getroot()
    return {el.get("Name"): el.get("units") for tag in ("DataArray", "PDataArray")
            for el in root.iter(tag) if el.get("units") is not None}

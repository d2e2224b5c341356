"""A result directory written by ``fvqp run``, found and read back.

Mesh models (heat, transport, bte) write a ``<case>.pvd`` time series of ``.vtu``/``.pvtu``
snapshots whose cell arrays carry a ``units`` attribute (:mod:`fvqp.io.vtk`); the 0D, Usadel,
stochastic and sphere models write ``<name>.h5`` and their own ``<case>_<what>.png``; every finished
run writes ``summary.json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..io.vtk import array_units, read_pvd

__all__ = ["Result", "ResultError", "open_result"]

#: HDF5 files of a result directory that are not results (restart data).
NOT_RESULTS = ("checkpoint.h5",)


class ResultError(ValueError):
    """The path is not a readable result directory of ``fvqp run``."""


@dataclass
class Result:
    """What one result directory holds.

    Attributes
    ----------
    path : Path
        The result directory.
    name : str
        Base name of the run's files (the case name for mesh models, else the ``.h5`` stem).
    summary : dict
        ``summary.json`` (empty if the run has not written it yet).
    pvd : Path or None
        The ``.pvd`` time series of a mesh model.
    series : list of (float, Path)
        Snapshots of the ``.pvd``: time in s and file.
    units : dict
        Cell field name -> SI unit label, as written in the snapshots.
    h5 : list of Path
        HDF5 result files (checkpoints excluded).
    pngs : list of Path
        PNG figures already in the directory (written by the run or by ``fvqp plot``).
    """

    path: Path
    name: str
    summary: dict = field(default_factory=dict)
    pvd: Path | None = None
    series: list[tuple[float, Path]] = field(default_factory=list)
    units: dict[str, str] = field(default_factory=dict)
    h5: list[Path] = field(default_factory=list)
    pngs: list[Path] = field(default_factory=list)

    @property
    def is_mesh(self) -> bool:
        """True for a mesh model's ``.pvd`` time series."""
        return self.pvd is not None and bool(self.series)

    @property
    def times(self) -> list[float]:
        """Snapshot times in s."""
        return [t for t, _ in self.series]

    @property
    def fields(self) -> list[str]:
        """Cell fields of the snapshots, in the order written."""
        return list(self.units)

    def snapshot_index(self, time: float) -> int:
        """Index of the snapshot nearest to ``time`` (s)."""
        if not self.series:
            raise ResultError(f"{self.path} has no snapshots")
        return min(range(len(self.series)), key=lambda k: abs(self.series[k][0] - time))

    def read_snapshot(self, index: int):
        """The snapshot ``index`` as a :class:`pyvista.UnstructuredGrid` (SI: metres)."""
        import pyvista as pv

        return pv.read(str(self.series[index][1]))


def _units_in_order(path: Path) -> dict[str, str]:
    """Cell arrays of a ``.vtu``/``.pvtu`` with their units, in file order (no unit: "")."""
    import xml.etree.ElementTree as ET

    root = ET.parse(path).getroot()
    names = [el.get("Name") for tag in ("CellData", "PCellData") for cd in root.iter(tag)
             for el in cd if el.get("Name")]
    units = array_units(str(path))
    return {n: units.get(n, "") for n in dict.fromkeys(names)}


def open_result(path: str | Path) -> Result:
    """Find what the result directory ``path`` holds.

    Parameters
    ----------
    path : str or Path
        A directory written by ``fvqp run`` (or its ``.pvd`` file).

    Returns
    -------
    Result

    Raises
    ------
    ResultError
        If ``path`` does not exist, is not a directory, or holds neither a ``.pvd`` time
        series, nor an HDF5 result, nor a ``summary.json``.
    """
    p = Path(path)
    pvds: list[Path]
    if p.is_file() and p.suffix == ".pvd":
        p, pvds = p.parent, [p]
    elif not p.exists():
        raise ResultError(f"{path}: no such directory (give the output directory of "
                          "`fvqp run`)")
    elif not p.is_dir():
        raise ResultError(f"{path}: not a directory (give the output directory of `fvqp run`)")
    else:
        pvds = sorted(p.glob("*.pvd"))
    if len(pvds) > 1:
        raise ResultError(f"{p} holds several .pvd series ({', '.join(x.name for x in pvds)}); "
                          "give the one to use as RESULT")
    summary: dict = {}
    if (p / "summary.json").is_file():
        try:
            summary = json.loads((p / "summary.json").read_text())
        except (OSError, ValueError) as exc:
            raise ResultError(f"{p / 'summary.json'}: unreadable ({exc})") from exc
    h5 = sorted(f for f in p.glob("*.h5") if f.name not in NOT_RESULTS)
    pngs = sorted(p.glob("*.png"))
    if not pvds and not h5 and not summary:
        raise ResultError(f"{p}: not a result directory of `fvqp run` (no .pvd, no .h5 "
                          "result, no summary.json)")
    res = Result(path=p, name=pvds[0].stem if pvds else (h5[0].stem if h5 else p.name),
                 summary=summary, h5=h5, pngs=pngs)
    if pvds:
        res.pvd = pvds[0]
        res.series = [(t, p / f) for t, f in read_pvd(str(pvds[0]))]
        missing = [f for _, f in res.series if not f.is_file()]
        if missing:
            raise ResultError(f"{pvds[0]}: snapshot {missing[0]} is missing")
        if res.series:
            res.units = _units_in_order(res.series[0][1])
    return res

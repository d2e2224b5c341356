"""A run and its outputs in SI (:class:`Run`, what :func:`fvqp.api.run` returns): the
arrays of :mod:`fvqp.post.arrays` with the run's status, and its pictures
(:func:`fvqp.post.plot.plot_result`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..models.base.result import ModelResult
from .arrays import Data, Field, Quantity, Series, h5_arrays, read_arrays
from .commands import _quiet_vtk
from .plot import plot_result
from .result import open_result

__all__ = ["Run"]


@dataclass
class Run:
    """A run and its outputs in SI: what :func:`fvqp.api.run` returns.

    Attributes
    ----------
    result : fvqp.models.base.ModelResult
        Status, message, counters, balances and the whole summary.
    path : Path
        The output directory.
    fields : dict of str -> Field
        Cell fields of a mesh model (heat, transport, bte) at every snapshot.
    series : dict of str -> Series
        Quantities versus time (``<case>_series.csv``; the 0D and sphere models' series).
    quantities : dict of str -> Quantity
        The summary's numbers with their SI unit (``"max_temperature_K"``,
        ``"energy_J.imbalance"`` ...).
    data : dict of str -> Data
        Datasets with declared units of HDF5 results (Usadel: ``gap_ueV`` in J, ``x_um``
        in m, conductances in S ...; kinetics0d: ``energy``/``phonon_energy`` in J and the
        occupations ``f``, ``n`` on them).
    """

    result: object
    path: Path
    fields: dict[str, Field] = field(default_factory=dict)
    series: dict[str, Series] = field(default_factory=dict)
    quantities: dict[str, Quantity] = field(default_factory=dict)
    data: dict[str, Data] = field(default_factory=dict)

    @property
    def status(self) -> int:
        """0 finished, 1 stopped on request, -1 failed."""
        return self.result.status

    def __repr__(self) -> str:
        return (f"Run({self.result.model or '?'}: status {self.status}, {self.path}; "
                f"fields {sorted(self.fields)}, {len(self.series)} series, "
                f"{len(self.quantities)} quantities, data {sorted(self.data)})")

    @classmethod
    def open(cls, path, result=None) -> Run:
        """Read the output directory ``path`` of a run (its ``summary.json`` gives the
        :class:`~fvqp.models.base.ModelResult` unless ``result`` is given)."""
        res = open_result(path)
        if result is None:
            s = dict(res.summary)
            result = ModelResult.from_summary(str(s.get("model", "")), s, str(res.path))
        arrays = read_arrays(res)
        data = {}
        for h5 in res.h5:
            for k, (v, unit) in h5_arrays(h5).items():
                data[k] = Data(k, unit, v)
        return cls(result=result, path=res.path, fields=arrays.fields, series=arrays.series,
                   quantities=arrays.quantities, data=data)

    def plot(self, output=None, times=None, fields=None, clip=None) -> list[Path]:
        """Write the run's pictures as PNG (:func:`fvqp.post.plot_result`, like
        ``fvqp plot``); returns the files. Arguments as there (times in s)."""
        _quiet_vtk()
        return plot_result(open_result(self.path), output=output, times=times,
                           fields=fields, clip=clip)

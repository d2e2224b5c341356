"""Post-processing of result directories written by ``fvqp run``: what is in them
(:func:`describe`, ``fvqp info``) and pictures of them (:func:`plot_result`, ``fvqp plot``).

Modules: :mod:`~fvqp.post.result` (finding and reading a result directory),
:mod:`~fvqp.post.info` (the text of ``fvqp info``), :mod:`~fvqp.post.series` (integral
quantities versus time), :mod:`~fvqp.post.render` (off-screen pyvista pictures of mesh
fields), :mod:`~fvqp.post.plot` (every picture of a result), :mod:`~fvqp.post.commands`
(the two subcommands), :mod:`~fvqp.post.arrays` (a result as SI arrays with units) and
:mod:`~fvqp.post.run` (:class:`Run`, those arrays with the run's status: what
:func:`fvqp.api.run` returns). The names below are imported on first use, so that the command
line loads none of this until ``fvqp info``/``fvqp plot`` runs.
"""

from __future__ import annotations

import importlib

__all__ = ["Data", "Field", "Quantity", "Result", "ResultError", "Run", "Series", "describe",
           "open_result", "plot_result", "read_arrays"]

_WHERE = {"Result": "result", "ResultError": "result", "open_result": "result",
          "describe": "info", "plot_result": "plot", "Run": "run", "Field": "arrays",
          "Series": "arrays", "Quantity": "arrays", "Data": "arrays",
          "read_arrays": "arrays"}


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""The ``fvqp info`` and ``fvqp plot`` subcommands: their arguments and what they do.

:mod:`fvqp.cli` registers them with :func:`add_parsers` and hands the parsed arguments of
either to :func:`main`; this module imports nothing heavy until a command runs.
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["add_parsers", "main", "time_argument"]

EXIT_BAD_INPUT = 2


def time_argument(value: str) -> float | str:
    """``--time`` values: ``all``, seconds (``1e-8``) or a quantity (``"10 ns"``)."""
    if value == "all":
        return value
    from ..units import UnitError, parse_quantity

    try:
        return parse_quantity(value, "time")
    except UnitError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def add_parsers(sub) -> None:
    """Add the ``info`` and ``plot`` subparsers to ``sub`` (argparse subparsers)."""
    i = sub.add_parser("info", help="fields, units, times, regions and summary of a result")
    i.add_argument("result", help="output directory written by `fvqp run` (or its .pvd)")
    p = sub.add_parser("plot", help="PNG pictures of a result (off-screen pyvista, matplotlib)")
    p.add_argument("result", help="output directory written by `fvqp run` (or its .pvd)")
    p.add_argument("--time", action="append", type=time_argument, default=None,
                   metavar="T", help="snapshot time, e.g. '10 ns' or 1e-8 (s), repeatable; "
                   "the nearest snapshot is drawn; 'all' for every one (default: the last)")
    p.add_argument("--field", action="append", default=None, metavar="NAME",
                   help="field to draw, repeatable (default: all but region)")
    p.add_argument("--clip", action=argparse.BooleanOptionalAction, default=None,
                   help="also draw a cut through each field's peak (default: for 3D meshes)")
    p.add_argument("--output", default=None,
                   help="directory for the PNGs (default: the result directory)")


def _quiet_vtk() -> None:
    """Keep VTK's off-screen notes (``bad X server connection`` where there is no display,
    before it falls back to an off-screen context) out of the command's output; VTK errors
    still show."""
    try:
        from vtkmodules.vtkCommonCore import vtkLogger
    except ImportError:  # pragma: no cover - pyvista always brings vtk
        return
    vtkLogger.SetStderrVerbosity(vtkLogger.VERBOSITY_ERROR)


def main(args: argparse.Namespace) -> int:
    """Run ``fvqp info`` or ``fvqp plot``; returns the exit status (2 for a bad RESULT)."""
    from .result import ResultError, open_result

    try:
        result = open_result(args.result)
        if args.command == "info":
            from .info import describe

            print(describe(result))
            return 0
        from .plot import plot_result

        _quiet_vtk()
        times = args.time
        if times is not None and "all" in times:
            times = result.times
        written = plot_result(result, output=args.output, times=times, fields=args.field,
                              clip=args.clip)
        for png in written:
            print(png)
        # the run's directory's manifest: `fvqp run --overwrite` deletes these PNGs with
        # the run's own outputs (it refuses files no fvqp run recorded)
        from ..io.manifest import add_outputs

        add_outputs(result.path, written)
    except ResultError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0

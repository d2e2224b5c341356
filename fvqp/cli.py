"""The ``fvqp`` command line: run, check, mesh-info, mesh, materials, info, plot.

Arguments that argparse does not know and that start with ``-`` are PETSc options
(``-heat_snes_monitor``, ``-heat_ksp_type preonly`` ...); they are handed to PETSc before
it starts and override the case file's ``[solver.petsc]`` table. Unknown options that look
like fvqp's own flags (``--max-step``, ``-resume``) are refused with exit status 2, as are
fresh runs over an earlier run's checkpoint (``--resume`` or ``--overwrite``) and runs into
an output directory that another run holds (:mod:`fvqp.io.lock`).
"""

from __future__ import annotations

import argparse
import difflib
import logging
import sys

EXIT_BAD_INPUT, EXIT_NOT_CONVERGED = 2, 3

#: PETSc's own options that resemble fvqp flags (``-help`` lists PETSc's options)
_PETSC_LOOKALIKES = frozenset({"help", "version"})


def _steps(text: str) -> int:
    """argparse type of ``--max-steps``: a whole number >= 1."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if n < 1:
        raise argparse.ArgumentTypeError(
            f"{n} steps: give at least 1 (leave --max-steps out to run to the end)")
    return n


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="fvqp", description="Nonequilibrium quasiparticles and phonons in superconducting "
        "devices. Run under MPI with `mpiexec -n N fvqp run CASE.toml`.",
        epilog="Unrecognised options starting with a single '-' are passed to PETSc, e.g. "
        "`fvqp run case.toml -heat_snes_monitor -heat_ksp_type preonly -heat_pc_type lu`; "
        "misspelt fvqp flags (`-resume`, `--max-step`) are refused.")
    from . import __version__

    p.add_argument("--version", action="version", version=f"fvqp {__version__}")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    p.add_argument("-q", "--quiet", action="store_true", help="warnings only")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    r = sub.add_parser("run", help="validate and run a case file")
    r.add_argument("case", help="case file <model>_<device>.toml")
    r.add_argument("-o", "--output",
                   help="output directory (default: the case's [output] directory)")
    fresh = r.add_mutually_exclusive_group()
    fresh.add_argument("--resume", action="store_true",
                       help="continue a killed run from its checkpoint in the output directory")
    fresh.add_argument("--overwrite", action="store_true",
                       help="start anew: delete what earlier fvqp runs wrote into the "
                       "output directory (checkpoint, snapshots, figures ...) first; without "
                       "it a run over a checkpoint is refused")
    r.add_argument("--max-steps", type=_steps, default=None,
                   help="stop after this many time steps, or new sweep units (Usadel "
                   "biases, stochastic runs); a checkpoint is written")
    c = sub.add_parser("check", help="validate a case file and its mesh; solve nothing")
    c.add_argument("case")
    m = sub.add_parser("mesh-info", help="regions, boundaries and cell counts of a mesh file")
    m.add_argument("mesh")
    m.add_argument("--scale", type=float, default=1.0, help="µm per mesh unit (default 1)")
    sub.add_parser("materials", help="table of the material database")
    lay = sub.add_parser("mesh", help="hexahedral gmsh mesh (.msh + .geo) with named groups "
                         "from a layout: substrate block + layers of rectangles/polygons "
                         "(TOML, shapes optionally from a GDS cell)")
    lay.add_argument("layout", help="layout file LAYOUT.toml (see fvqp.mesh.layout)")
    lay.add_argument("--model", default=None, choices=("heat", "transport", "bte", "phonon",
                                                         "bte_chip"),
                     help="print the case tables of this model only (default: of each)")
    lay.add_argument("-o", "--output", default=None,
                     help="mesh file to write (default: LAYOUT.msh next to the layout); "
                     "the gmsh script is written next to it as .geo")
    from .post.commands import add_parsers as add_post_parsers

    add_post_parsers(sub)  # info, plot
    return p


def _known_flags(parser: argparse.ArgumentParser) -> set[str]:
    known = {a for act in parser._actions for a in act.option_strings}
    for sp in parser._subparsers._group_actions[0].choices.values():
        known |= {a for act in sp._actions for a in act.option_strings}
    return known


def _short_flags(arg: str, known: set[str]) -> bool:
    """``-vv``, ``-qv``: fvqp's one-letter flags run together (argparse reads them)."""
    return len(arg) > 2 and arg[1] != "-" and all(f"-{c}" in known for c in arg[1:])


def _lookalike(arg: str, known: set[str]) -> str | None:
    """Why ``arg`` (not one of fvqp's flags) is refused rather than handed to PETSc: a
    double-dash option (PETSc's take one dash), or a single-dash spelling or near miss
    of an fvqp flag (``-resume``, ``-max_step``); None for a plausible PETSc option."""
    name = arg.split("=")[0]
    longs = sorted(f[2:] for f in known if f.startswith("--"))
    bare = name.lstrip("-").replace("_", "-").lower()
    if name.startswith("--"):
        close = difflib.get_close_matches(bare, longs, n=1, cutoff=0.6)
        hint = f"did you mean --{close[0]}?" if close else \
            f"did you mean the PETSc option -{name[2:]}?" if "_" in name else \
            "see `fvqp run --help` for fvqp's options."
        return (f"unknown option {name!r}: {hint} (PETSc options take a single dash, "
                "e.g. -heat_snes_monitor)")
    if name[1:] in _PETSC_LOOKALIKES:
        return None
    # a PETSc option carries a prefix (-ts_max_steps): compare names of as many words only
    alike = [f for f in longs if bare.count("-") <= f.count("-")]
    close = difflib.get_close_matches(bare, alike, n=1, cutoff=0.8)
    if close:
        return (f"{name!r} is not an fvqp option (with one dash it would be handed to "
                f"PETSc, which ignores it): did you mean --{close[0]}?")
    return None


def _split_petsc(argv: list[str]) -> tuple[list[str], list[str]]:
    """Separate fvqp's own arguments from PETSc options (-name [value]).

    An unknown option that looks like a mistyped fvqp flag is refused (argparse error,
    exit 2) instead of being handed to PETSc, where it would be ignored.
    """
    parser = _parser()
    ns_args, rest = [], []
    known = _known_flags(parser)
    i = 0
    while i < len(argv):
        a = argv[i]
        if a.startswith("-") and a.split("=")[0] not in known and len(a) > 1 and \
                not a[1:2].isdigit() and a != "--" and not _short_flags(a, known):
            why = _lookalike(a, known)
            if why is not None:
                parser.error(why)
            rest.append(a)
            if i + 1 < len(argv) and not argv[i + 1].startswith("-"):
                # a value follows unless it is the case file / a positional (ends in .toml)
                if not argv[i + 1].endswith((".toml", ".msh", ".vtu")):
                    rest.append(argv[i + 1])
                    i += 1
        else:
            ns_args.append(a)
        i += 1
    return ns_args, rest


def _mesh_layout(args: argparse.Namespace) -> int:
    """``fvqp mesh LAYOUT.toml -o device.msh``: mesh a layout, print what was written."""
    import os

    from .mesh import MeshError
    from .mesh.layout import read_layout
    from .mesh.layout_mesh import build_mesh

    out = args.output or os.path.splitext(args.layout)[0] + ".msh"
    try:
        layout = read_layout(args.layout)
        res = build_mesh(layout, out)
    except MeshError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"{res['msh']}: {res['cells']} {res['kind']} (script {res['geo']}); mesh units "
          f"{layout.unit} (the case's [mesh] scale)")
    for name, vol in res["regions"].items():
        print(f"  region {name:<24} volume {vol:.6g} (layout units^3)")
    for name, area in res["groups"].items():
        print(f"  facets {name:<24} area   {area:.6g} (layout units^2)")
    from .mesh.layout_case import MODELS

    for model in [args.model] if args.model else MODELS:
        print(f"# ---- case tables for this mesh, model {model} ----")
        print(_case_snippet(layout, res["msh"], model))
    return 0


def _case_snippet(layout, msh: str, model: str) -> str:
    """TOML text of a case's ``model``, ``[mesh]``, ``[regions.*]``
    (:func:`fvqp.mesh.layout_case.region_tables`: films by ``material``, phonon-only
    regions by ``medium``, the substrate left out of the QP models) and a condition for
    every boundary group ``model`` requires of the simulated part of the mesh ``msh`` (its
    no-flux one; the holder ``bath`` under the substrate for the phonon models)."""
    from .mesh import build_geometry, read_mesh
    from .mesh.layout_case import WALL, region_tables, region_toml
    from .models import get_model_spec

    regions = region_tables(layout, model)
    active = [n for n, t in regions.items() if t.get("active", True)]
    geo = build_geometry(read_mesh(msh).subset(active), strict=False)
    bottom = f"{layout.substrate.name}_bottom"
    bath = model in ("phonon", "bte_chip")
    lines = [f'model = "{model}"', "[mesh]", f'file = "{msh}"', f'scale = "{layout.unit}"',
             *region_toml(regions)]
    for name in get_model_spec(model).required_boundaries(geo, set(active)):
        kind = "bath" if bath and name == bottom else WALL[model]
        lines += [f"[boundaries.{name}]", f'type = "{kind}"']
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``fvqp`` command; returns the exit status."""
    from .heap import keep_freed_memory

    keep_freed_memory()  # before any large allocation (fvqp.heap; FVQP_MALLOC=default)
    argv = list(sys.argv[1:] if argv is None else argv)
    own, petsc_args = _split_petsc(argv)
    args = _parser().parse_args(own)
    from . import log as fvqp_log

    fvqp_log.configure(-1 if args.quiet else args.verbose)
    logger = logging.getLogger("fvqp")
    if args.command == "materials":
        from .materials import material_table

        print(material_table())
        return 0
    if args.command in ("info", "plot"):
        from .post.commands import main as post_main

        return post_main(args)
    if args.command == "mesh-info":
        from .mesh import MeshError, mesh_info

        try:
            print(mesh_info(args.mesh, args.scale))
        except MeshError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT
        return 0
    if args.command == "mesh":
        return _mesh_layout(args)
    from .case import CaseError, load_case

    try:
        with fvqp_log.root_reports():  # every rank checks the same case; rank 0 reports
            case = load_case(args.case)
    except CaseError as exc:
        if fvqp_log.is_root():
            print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.command == "check":
        where = f", mesh {case.mesh_path}" if case.mesh_path else ""
        if fvqp_log.is_root():
            print(f"{args.case}: OK (model {case.model}{where})")
        return 0
    import petsc4py

    petsc4py.init([sys.argv[0]] + petsc_args)
    from .api import run_loaded_case
    from .io import CheckpointError, OutputDirError
    from .solvers import ConvergenceError
    from .solvers.options import forget_command_line

    try:
        summary = run_loaded_case(case, output_dir=args.output, resume=args.resume,
                                  max_steps=args.max_steps, overwrite=args.overwrite)
    except OutputDirError as exc:
        print(f"error: {exc}", file=sys.stderr)
        forget_command_line(petsc_args)
        return EXIT_BAD_INPUT
    except (CheckpointError, ValueError) as exc:
        logger.error("%s", exc)
        forget_command_line(petsc_args)
        return EXIT_BAD_INPUT
    except ConvergenceError as exc:
        logger.error("not converged: %s", exc)
        return EXIT_NOT_CONVERGED
    # SIGINT/SIGTERM stopped the run cleanly, checkpoint written (one that arrived during
    # the last step cut nothing short: the run is complete, status 0, exit 0)
    if summary.get("stopped_by") and summary["status"] == 1:
        import signal

        return 128 + int(signal.Signals[summary["stopped_by"]])
    return 0 if summary["status"] >= 0 else EXIT_NOT_CONVERGED

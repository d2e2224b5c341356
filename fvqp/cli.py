"""The ``fvqp`` command line: run, check, mesh-info, materials.

Arguments that argparse does not know and that start with ``-`` are PETSc options
(``-heat_snes_monitor``, ``-heat_ksp_type preonly`` ...); they are handed to PETSc before
it starts and override the case file's ``[solver.petsc]`` table.
"""

from __future__ import annotations

import argparse
import logging
import sys

EXIT_BAD_INPUT, EXIT_NOT_CONVERGED = 2, 3


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="fvqp", description="Nonequilibrium quasiparticles and phonons in superconducting "
        "devices. Run under MPI with `mpiexec -n N fvqp run CASE.toml`.",
        epilog="Unrecognised options starting with '-' are passed to PETSc, e.g. "
        "`fvqp run case.toml -heat_snes_monitor -heat_ksp_type preonly -heat_pc_type lu`.")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    p.add_argument("-q", "--quiet", action="store_true", help="warnings only")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    r = sub.add_parser("run", help="validate and run a case file")
    r.add_argument("case", help="case file <model>_<device>.toml")
    r.add_argument("--output", help="output directory (default: the case's [output] directory)")
    r.add_argument("--resume", action="store_true",
                   help="continue a killed run from its checkpoint in the output directory")
    r.add_argument("--max-steps", type=int, default=None,
                   help="stop after this many time steps, or new sweep units (Usadel "
                   "biases, stochastic runs); a checkpoint is written")
    c = sub.add_parser("check", help="validate a case file and its mesh; solve nothing")
    c.add_argument("case")
    m = sub.add_parser("mesh-info", help="regions, boundaries and cell counts of a mesh file")
    m.add_argument("mesh")
    m.add_argument("--scale", type=float, default=1.0, help="µm per mesh unit (default 1)")
    sub.add_parser("materials", help="table of the material database")
    from .post.commands import add_parsers as add_post_parsers

    add_post_parsers(sub)  # info, plot
    return p


def _split_petsc(argv: list[str]) -> tuple[list[str], list[str]]:
    """Separate fvqp's own arguments from PETSc options (-name [value])."""
    parser = _parser()
    ns_args, rest = [], []
    known = {a for act in parser._actions for a in act.option_strings}
    for sp in parser._subparsers._group_actions[0].choices.values():
        known |= {a for act in sp._actions for a in act.option_strings}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a.startswith("-") and a.split("=")[0] not in known and len(a) > 1 and \
                not a[1:2].isdigit():
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


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``fvqp`` command; returns the exit status."""
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
    from .case import CaseError, load_case

    try:
        case = load_case(args.case)
    except CaseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.command == "check":
        where = f", mesh {case.mesh_path}" if case.mesh_path else ""
        print(f"{args.case}: OK (model {case.model}{where})")
        return 0
    import petsc4py

    petsc4py.init([sys.argv[0]] + petsc_args)
    from .io import CheckpointError
    from .models import get_model_module
    from .solvers import ConvergenceError

    try:
        summary = get_model_module(case.model).run(case, output_dir=args.output,
                                                   resume=args.resume, max_steps=args.max_steps)
    except (CheckpointError, ValueError) as exc:
        logger.error("%s", exc)
        return EXIT_BAD_INPUT
    except ConvergenceError as exc:
        logger.error("not converged: %s", exc)
        return EXIT_NOT_CONVERGED
    return 0 if summary["status"] >= 0 else EXIT_NOT_CONVERGED

"""One-call entry points of the Python API (the same as the ``fvqp`` command)."""

from __future__ import annotations

import os


def run_case(path: str | os.PathLike, output_dir: str | None = None, resume: bool = False,
             max_steps: int | None = None, overwrite: bool = False) -> dict:
    """Validate and run a case file, like ``fvqp run``.

    Parameters
    ----------
    path
        Case file ``<model>_<device>.toml``.
    output_dir
        Overrides the case's ``[output] directory``.
    resume
        Continue a killed run from the checkpoint in the output directory.
    max_steps
        Stop after this many time steps (leaving a checkpoint); at least 1.
    overwrite
        Start anew in an output directory that holds an earlier run's checkpoint
        (which is deleted); without it such a run is refused.

    Returns
    -------
    dict
        Summary: ``status``, ``message``, counters, energy balance (also in
        ``summary.json`` in the output directory).

    Raises
    ------
    fvqp.case.CaseError
        The case or its mesh is invalid (nothing has been run).
    fvqp.io.OutputDirError
        The output path is a file or not writable, another run holds the directory
        (:class:`fvqp.io.OutputDirLocked`), or a fresh run would overwrite a checkpoint
        (nothing has been run).
    ValueError
        ``max_steps`` < 1, or both ``resume`` and ``overwrite``.
    fvqp.solvers.ConvergenceError
        A solve failed and could not be rescued by shorter time steps.
    """
    from .case import load_case

    return run_loaded_case(load_case(path), output_dir=output_dir, resume=resume,
                           max_steps=max_steps, overwrite=overwrite)


def run_loaded_case(case, *, output_dir: str | None = None, resume: bool = False,
                    max_steps: int | None = None, overwrite: bool = False) -> dict:
    """Run a validated :class:`~fvqp.case.Case` with its output directory locked.

    The one place where ``fvqp run`` and :func:`run_case` start a model: the output
    directory is checked, locked against a second run and guarded against overwriting a
    checkpoint (:func:`fvqp.io.lock.claim_output_dir`) before anything is solved.
    Arguments and exceptions as in :func:`run_case`.
    """
    if max_steps is not None and (isinstance(max_steps, bool) or int(max_steps) != max_steps
                                  or max_steps < 1):
        raise ValueError(f"max_steps = {max_steps!r}: must be a whole number of steps >= 1 "
                         "(or None for no limit). Fix: pass max_steps >= 1.")
    if resume and overwrite:
        raise ValueError("resume and overwrite exclude each other: resume continues the "
                         "checkpoint that overwrite would delete. Fix: pass one of them.")
    from petsc4py import PETSc

    from .io.lock import claim_output_dir
    from .models import get_model_module

    out = os.path.abspath(output_dir or case.output_dir)
    with claim_output_dir(out, resume=resume, overwrite=overwrite,
                          comm=PETSc.COMM_WORLD.tompi4py()):
        return get_model_module(case.model).run(case, output_dir=out, resume=resume,
                                                max_steps=max_steps)

"""One-call entry points of the Python API (the same as the ``fvqp`` command)."""

from __future__ import annotations

import os


def run_case(path: str | os.PathLike, output_dir: str | None = None, resume: bool = False,
             max_steps: int | None = None) -> dict:
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
        Stop after this many time steps (leaving a checkpoint).

    Returns
    -------
    dict
        Summary: ``status``, ``message``, counters, energy balance (also in
        ``summary.json`` in the output directory).

    Raises
    ------
    fvqp.case.CaseError
        The case or its mesh is invalid (nothing has been run).
    fvqp.solvers.ConvergenceError
        A solve failed and could not be rescued by shorter time steps.
    """
    from .case import load_case
    from .models import get_model_module

    case = load_case(path)
    return get_model_module(case.model).run(case, output_dir=output_dir, resume=resume,
                                            max_steps=max_steps)

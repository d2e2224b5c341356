"""The model interface and the run template shared by fvqp's models.

* :class:`Problem` — what a mesh model's physics provides to the solvers (state layout,
  residual, Jacobian or its action, preconditioner hook, balances);
* :class:`MeshModel` — one run template for mesh models (case → units → mesh →
  distribution → sources → integrator → writer → checkpoint → summary);
* :class:`ModelResult` — the result of every model's ``run()``;
* :class:`OutputField` — declared output fields, converted to SI in one place;
* :func:`run_checkpointed` — the time loop with snapshots, checkpoints and progress.

How to add a mesh model with these pieces: ``docs/architecture.md``.
"""

from .outputs import OutputField, to_output, unit_labels
from .problem import ActionProblem, ModelPreconditioner, Problem
from .result import ModelResult
from .template import MeshModel, RunContext, run_model
from .timeloop import Progress, bdf_options, peak_rss_mb, restore, run_checkpointed, save

__all__ = ["ActionProblem", "MeshModel", "ModelPreconditioner", "ModelResult",
           "OutputField", "Problem", "Progress", "RunContext", "bdf_options", "peak_rss_mb",
           "restore", "run_checkpointed", "run_model", "save", "to_output",
           "unit_labels"]

"""The model interface and the run template shared by fvqp's models.

* :class:`Problem` — what a mesh model's physics provides to the solvers (state layout,
  residual, Jacobian or its action, preconditioner hook, balances);
* :class:`MeshModel` — one run template for mesh models (case → units → mesh →
  distribution → sources → integrator → writer → checkpoint → summary);
* :class:`ModelResult` — the result of every model's ``run()``;
* :class:`OutputField` — declared output fields, converted to SI in one place;
* :func:`run_checkpointed` — the time loop with snapshots, checkpoints and progress;
* :func:`march_fixed` — the same for models that march with fixed steps (a
  :class:`StepRun` per model);
* :class:`CaseMesh` — the case → mesh → distribution stage.

How to add a mesh model with these pieces: ``docs/architecture.md``.
"""

from .fixedstep import StepRun, march_fixed
from .meshstage import CaseMesh
from .outputs import OutputField, to_output, unit_labels
from .problem import ActionProblem, ModelPreconditioner, Problem
from .result import ModelResult
from .template import MeshModel, RunContext, run_model
from .timeloop import Progress, bdf_options, peak_rss_mb, restore, run_checkpointed, save

__all__ = ["ActionProblem", "CaseMesh", "MeshModel", "ModelPreconditioner", "ModelResult",
           "OutputField", "Problem", "Progress", "RunContext", "StepRun", "bdf_options",
           "march_fixed", "peak_rss_mb", "restore", "run_checkpointed", "run_model", "save",
           "to_output", "unit_labels"]

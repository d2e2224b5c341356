"""Registry of fvqp's models, selected by the ``model`` key of a case file."""

from __future__ import annotations

import importlib

#: model name -> module implementing ``SPEC`` (a :class:`ModelSpec`) and ``run(case, ...)``
_MODELS = {"heat": "fvqp.models.heat"}
_MODELS["kinetics0d"] = "fvqp.models.kinetics0d"
_MODELS["transport"] = "fvqp.models.transport"
_MODELS["usadel"] = "fvqp.models.usadel"
_MODELS["stochastic"] = "fvqp.models.stochastic"
_MODELS["bte_sphere"] = "fvqp.models.bte_sphere"
_MODELS["bte"] = "fvqp.models.bte"
_MODELS["phonon"] = "fvqp.models.phonon"
_MODELS["bte_chip"] = "fvqp.models.bte_chip"


def model_names() -> list[str]:
    """Names accepted as ``model = ...`` in a case file."""
    return sorted(_MODELS)


def get_model_module(name: str):
    return importlib.import_module(_MODELS[name])


def get_model_spec(name: str):
    """The :class:`~fvqp.models.spec.ModelSpec` of a model (its case-file schema)."""
    return get_model_module(name).SPEC

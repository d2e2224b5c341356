"""The case tables a meshed layout needs, per model (what ``fvqp mesh`` prints).

The models read a region differently: the QP models (``heat``, ``transport``, ``bte``)
simulate superconducting films (``material`` from ``fvqp/materials/materials.toml``) and
leave the substrate out (``active = false``); ``phonon`` carries phonons in every region
(``medium`` from ``fvqp/materials/substrates.toml``); ``bte_chip`` puts QPs in the films
(``material``, their medium defaults to it) and phonons only in the substrate
(``medium``). A layout says only "material = Si": :func:`region_tables` turns it into
the region tables of one model, :func:`region_toml` into their TOML text (``fvqp mesh``
adds the boundary conditions the model requires of the mesh, :mod:`fvqp.cli`).
"""

from __future__ import annotations

__all__ = ["MODELS", "WALL", "region_tables", "region_toml"]

#: the mesh models a layout's mesh is for, in the order ``fvqp mesh`` prints them
MODELS = ("heat", "transport", "bte", "phonon", "bte_chip")
#: a model's condition of a free exterior face (no flux; phonons re-emitted diffusely)
WALL = {"heat": "insulated", "transport": "insulating", "bte": "diffuse",
         "phonon": "diffuse", "bte_chip": "diffuse"}


def _superconductor(name: str) -> bool:
    from ..materials import UnknownMaterialError, get_material

    try:
        get_material(name)
    except UnknownMaterialError:
        return False
    return True


def region_tables(layout, model: str) -> dict[str, dict]:
    """``[regions.<name>]`` tables of ``layout`` (:class:`fvqp.mesh.layout.Layout`) for
    ``model`` (module docstring): region name -> its keys."""
    if model not in MODELS:
        raise ValueError(f"model {model!r}: one of {', '.join(MODELS)}")
    out = {}
    for r in layout.regions:
        film = r is not layout.substrate and _superconductor(r.material)
        if model == "phonon" or (model == "bte_chip" and not film):
            out[r.name] = {"medium": r.material}
        elif film:
            out[r.name] = {"material": r.material}
        else:
            out[r.name] = {"active": False}
    return out


def region_toml(tables: dict[str, dict]) -> list[str]:
    """The lines of ``[regions.<name>]`` tables (:func:`region_tables`)."""
    lines = []
    for name, table in tables.items():
        lines.append(f"[regions.{name}]")
        lines += [f"{k} = {str(v).lower()}" if isinstance(v, bool) else f'{k} = "{v}"'
                  for k, v in table.items()]
    return lines

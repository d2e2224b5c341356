"""Material database of elemental superconductors (SI units, one source per number).

See :mod:`fvqp.materials.database` for the list of fields and conventions.
"""

from .database import (
    K_B,
    Material,
    UnknownMaterialError,
    get_material,
    list_materials,
    load_table,
    material_table,
)

__all__ = [
    "K_B",
    "Material",
    "UnknownMaterialError",
    "get_material",
    "list_materials",
    "load_table",
    "material_table",
]
from .substrates import PhononMedium, UnknownMediumError, get_medium, list_media  # noqa: E402,F401

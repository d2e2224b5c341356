"""Case files: TOML in SI units, validated against the model's schema and the mesh."""

from .internal import InternalCase
from .loader import Case, CaseError, load_case

__all__ = ["Case", "CaseError", "InternalCase", "load_case"]

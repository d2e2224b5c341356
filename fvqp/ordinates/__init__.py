"""Discrete ordinates on unstructured meshes, shared by every Boltzmann model.

The angular quadratures (:mod:`.quadrature`), the conservative upwind streaming operator
with its wall and interface conditions (:mod:`.streaming`) and the least-squares face
reconstruction of its second-order variant (:mod:`.reconstruction`) know nothing of the
particle they transport: the quasiparticle ``bte`` model and the phonon model use the same
copy with their own velocities.
"""

from .angular_interface import angular_interface_matrix, reciprocal_scaling
from .quadrature import GRAZING, Quadrature, circle, sphere
from .streaming import Streaming, build_streaming, interface_entries, interface_matrix

__all__ = [
    "GRAZING",
    "Quadrature",
    "Streaming",
    "angular_interface_matrix",
    "build_streaming",
    "circle",
    "interface_entries",
    "interface_matrix",
    "reciprocal_scaling",
    "sphere",
]

"""fvqp — nonequilibrium quasiparticles and phonons in superconducting devices.

The public namespace, by layer:

* case files: :func:`load_case`, :func:`run_case`, :class:`CaseError`
* physics core: :func:`get_material`, :mod:`fvqp.spectra`, :class:`UnitSystem`
* meshes: :func:`read_mesh`, :func:`build_geometry`, :class:`Distribution`
* solvers: :class:`NonlinearSolver`, :class:`BDFIntegrator`, :class:`ConvergenceError`
"""

__version__ = "0.1.0"

from .api import run_case
from .case import Case, CaseError, load_case
from .materials import get_material, list_materials
from .mesh import MeshError, build_geometry, read_mesh
from .parallel import Distribution
from .solvers import BDFIntegrator, BDFOptions, ConvergenceError, NonlinearSolver
from .units import UnitSystem

__all__ = ["BDFIntegrator", "BDFOptions", "Case", "CaseError", "ConvergenceError",
           "Distribution", "MeshError", "NonlinearSolver", "UnitSystem", "build_geometry",
           "get_material", "list_materials", "load_case", "read_mesh", "run_case"]

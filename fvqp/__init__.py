"""fvqp — nonequilibrium quasiparticles and phonons in superconducting devices.

The public namespace, by layer:

* case files: :func:`load_case`, :func:`run_case`, :class:`CaseError`
* the Python API in SI: :func:`build_case` (a case from a file, TOML text or a dict, with
  :class:`Material` overrides), :func:`run` (a :class:`fvqp.post.Run` with SI arrays and
  units), :func:`open_run` (an earlier run's directory); see ``docs/api.md``
* physics core: :func:`get_material`, :mod:`fvqp.spectra`, :class:`UnitSystem`
* meshes: :func:`read_mesh`, :func:`build_geometry`, :class:`Distribution`
* solvers: :class:`NonlinearSolver`, :class:`BDFIntegrator`, :class:`ConvergenceError`
"""

__version__ = "0.1.0"

from .api import build_case, open_run, run, run_case
from .case import Case, CaseError, load_case
from .materials import Material, get_material, list_materials
from .mesh import MeshError, build_geometry, read_mesh
from .parallel import Distribution
from .solvers import BDFIntegrator, BDFOptions, ConvergenceError, NonlinearSolver
from .units import UnitSystem

__all__ = ["BDFIntegrator", "BDFOptions", "Case", "CaseError", "ConvergenceError",
           "Distribution", "Material", "MeshError", "NonlinearSolver", "UnitSystem",
           "build_case", "build_geometry", "get_material", "list_materials", "load_case",
           "open_run", "read_mesh", "run", "run_case"]

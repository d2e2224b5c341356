"""Material database of elemental superconductors (SI units, one source per number), and
the phonon media (substrates, film metals) of the same kind of data file.

See :mod:`fvqp.materials.database` and :mod:`fvqp.materials.substrates` for the fields and
conventions; the package exports both modules' public names (their ``__all__``).
"""

from . import database, substrates
from .database import *  # noqa: F403
from .substrates import *  # noqa: F403

__all__ = [*database.__all__, *substrates.__all__]

"""Issue 18 §1: the ghost exchanges of states go through the layout's scratch vector
(:meth:`fvqp.parallel.distribution.GhostedVectors.scratch_vec`, its template): the Newton
solver and its Jacobian shell keep no state-length work vector of their own, and a ghost
exchange makes none. The scratch vector outlives every solver that used it."""

from __future__ import annotations

import numpy as np

from conftest import MESHES
from fvqp.mesh import build_geometry, read_mesh
from fvqp.parallel import Distribution
from fvqp.parallel.blocked import BlockDistribution
from fvqp.solvers import NonlinearSolver


def test_newton_keeps_no_work_vector_and_the_layout_survives_it():
    """Solve x^3 = 1 on a 64-cell line (3 unknowns per cell): the solver's work vector
    is the layout's scratch vector, destroying the solver leaves it usable (a new vector
    from the layout, a ghost exchange) and a second solver on the same layout solves
    too."""
    dist = BlockDistribution(Distribution(build_geometry(read_mesh(
        MESHES / "mms/line_64.msh"))), 3)
    n = dist.local.n_owned  # unknowns (cells x 3)
    for k in range(2):
        s = NonlinearSolver(dist, lambda x: x[:n] ** 3 - 1.0, lambda x: 3.0 * x[:n] ** 2,
                            (np.arange(n), np.arange(n)), f"scratch{k}_",
                            {"snes_rtol": 1e-12})
        assert s._work is dist.scratch_vec()
        x = dist.create_vec()
        x.set(3.0)
        assert s.solve(x).success
        assert np.allclose(x.getArray(), 1.0, rtol=1e-10)
        s.destroy()
        x.destroy()
    owned = np.arange(n, dtype=float)
    assert np.array_equal(dist.ghosted(owned)[:n], owned)  # the scratch still works
    v = dist.create_vec()
    assert v.getSize() == dist.n_global
    v.destroy()

"""The array reductions of the parallel layer used by the solvers' coarse levels, on two
real MPI ranks: sums in place over the ranks and gathers in rank order."""

import subprocess
import sys

from conftest import mpi_env

SCRIPT = """
import numpy as np
from petsc4py import PETSc
from fvqp.parallel.distribution import allgather_concat, sum_in_place
c = PETSc.COMM_WORLD
r = c.getRank()
a = np.full((2, 3), r + 1.0)
b = np.arange(4.0) * (r + 1)
sum_in_place(c, a, b)
g = allgather_concat(c, np.array([r, 10 + r]))
assert np.array_equal(a, np.full((2, 3), 3.0)), a
assert np.array_equal(b, 3 * np.arange(4.0)), b
assert g.tolist() == [0, 10, 1, 11], g
import sys
open(f"{sys.argv[1]}/ok_{r}", "w").write(repr(g.tolist()))
"""


def test_sum_in_place_and_allgather_on_two_ranks(tmp_path):
    script = tmp_path / "reduce.py"
    script.write_text(SCRIPT)
    out = subprocess.run(["mpiexec", "-n", "2", sys.executable, str(script), str(tmp_path)],
                         env=mpi_env(), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    # every rank passed its asserts and wrote its file (stdout of two ranks interleaves)
    for r in (0, 1):
        assert (tmp_path / f"ok_{r}").read_text() == "[0, 10, 1, 11]"

"""Usadel work of one rank's block of energies (issue 18 §3).

Under ``mpiexec`` each rank assembles the kinetic matrix of its own block of energies
(:func:`fvqp.models.usadel.kinetic.assemble` with ``energies``); its spectral
coefficients now come from :meth:`fvqp.models.usadel.spectral.ThetaSolution
.energy_block` (the block's θ, χ only) instead of the whole grid's on every rank. Checked
serially: the block's coefficients and matrix equal the rows of the whole grid's bit for
bit (spectral and phase-biased solutions, with a tunnel junction). Under a real
``mpiexec -n 2``: :meth:`fvqp.parallel.energies.EnergyLayout.gather` (buffers) along
either axis, complex and real, and with ranks of different block sizes; the all-to-all
transposes ``to_rows`` / ``to_energies`` of a (rows × energies) table (the collision
nodes of the inelastic solve) give exactly the slices of the whole table and invert each
other, with uneven blocks of rows and of energies.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import HANG_TIMEOUT, ROOT, mpi_env
from fvqp.models.usadel.kinetic import assemble
from fvqp.models.usadel.network import uniform_wire
from fvqp.models.usadel.phase import PhaseProblem, solve_phase
from fvqp.models.usadel.spectral import SpectralProblem, solve_spectral
from fvqp.models.usadel.terminals import Reservoir, TunnelJunction


def _spectral():
    net = uniform_wire(8.0, 20, x0=0.0)
    res = [Reservoir("n", 0, "normal", bias=0.5, temperature=0.05),
           Reservoir("s", 20, "superconductor", temperature=0.05)]
    jun = [TunnelJunction("j", 10, 0.3, bias=1.2, temperature=0.05)]
    prob = SpectralProblem(net, 1.0, gamma=1e-3, reservoirs=res, junctions=jun)
    return solve_spectral(prob, np.linspace(-3, 3, 121)), res, jun


def _phase():
    length, n, q = 10.0, 20, 0.2
    res = [Reservoir("l", 0, "superconductor", delta=1.0, phase=-q * length / 2),
           Reservoir("r", n, "superconductor", delta=1.0, phase=q * length / 2)]
    prob = PhaseProblem(uniform_wire(length, n, x0=0.0), 1.0, gamma=0.005, reservoirs=res)
    return solve_phase(prob, np.arange(-120, 121) / 40), res, []


@pytest.mark.parametrize("which", ["spectral", "phase"])
def test_block_coefficients_and_matrix_equal_the_whole_grid_rows(which):
    spec, res, jun = _spectral() if which == "spectral" else _phase()
    sl = slice(37, 90)
    block = spec.energy_block(sl)
    assert np.array_equal(block.eps, spec.eps[sl])
    names = ["DL", "DT", "RT", "jeps", "N"] + (["edge_js", "node_RL", "cross"]
                                                if which == "phase" else [])
    for name in names:
        assert np.array_equal(getattr(block, name), getattr(spec, name)[sl]), name
    # the block's matrix from a fresh solution (coefficients not cached on it) equals the
    # whole grid's rows and columns of those energies
    fresh = type(spec)(**{k: v for k, v in vars(spec).items()
                          if k in {f for f in spec.__dataclass_fields__}})
    part = assemble(fresh, res, jun, energies=sl)
    assert "DL" not in vars(fresh)  # only the block's coefficients were computed
    whole = assemble(spec, res, jun)
    m = 2 * spec.problem.net.n_nodes
    rows = slice(sl.start * m, sl.stop * m)
    ref = whole.A[rows][:, rows]
    assert (part.A != ref).nnz == 0
    assert np.array_equal(part.b, whole.b[rows])


SCRIPT = r'''
import json, sys
import numpy as np
from fvqp.parallel.energies import EnergyLayout, EnergySplit

split = EnergySplit()
lay = EnergyLayout(split, 7, 3)   # 4 + 3 energies
e = np.arange(7)[lay.energies]
out = {}
a = (e[:, None] * 10 + np.arange(5)[None, :]) * (1 + 1j)       # (energies, 5) complex
out["axis0"] = lay.gather(a, axis=0).tolist()
b = (np.arange(4)[:, None] * 100.0 + e[None, :])                 # (4, energies) real
out["axis1"] = lay.gather(b, axis=1).tolist()
c = np.zeros((0, 5)) if split.rank else np.ones((2, 5), complex)  # different dtypes
out["mixed"] = lay.gather(c, axis=0).shape
whole = np.arange(5)[:, None] * 1000.0 + np.arange(7)[None, :] + 0.25   # (5 rows, 7 eps)
rows = lay.to_rows(whole[:, lay.energies])                          # my rows, all eps
out["rows"] = rows.tolist()
out["back"] = lay.to_energies(rows * 2.0, 5).tolist()               # (5, my eps)
try:
    lay.to_energies(rows[:, :3], 5)
except ValueError as exc:
    out["bad"] = str(exc)
one = lay.to_rows(whole[:1, lay.energies])                          # 1 row: rank 1 has none
out["one"] = [one.shape, lay.to_energies(one, 1).tolist()]
try:
    lay.to_rows(whole[:, lay.energies] * 1j)
except TypeError as exc:
    out["complex"] = str(exc)
json.dump(out, open(sys.argv[1] + f"/g{split.rank}.json", "w"), default=str)
'''


@pytest.mark.mpi
def test_layout_gather_on_two_ranks(tmp_path):
    script = tmp_path / "gather.py"
    script.write_text(SCRIPT)
    subprocess.run(["mpiexec", "-n", "2", sys.executable, str(script), str(tmp_path)],
                   check=True, env=mpi_env(), cwd=ROOT, timeout=HANG_TIMEOUT,
                   capture_output=True)
    e = np.arange(7)
    for r in (0, 1):
        out = json.loads((tmp_path / f"g{r}.json").read_text())
        ref0 = (e[:, None] * 10 + np.arange(5)[None, :]) * (1 + 1j)
        got0 = np.array([[complex(z) for z in row] for row in out["axis0"]])
        assert np.array_equal(got0, ref0)
        assert np.array_equal(np.array(out["axis1"]),
                              np.arange(4)[:, None] * 100.0 + e[None, :])
        assert out["mixed"] == [2, 5]
        whole = np.arange(5)[:, None] * 1000.0 + np.arange(7)[None, :] + 0.25
        mine_rows = slice(0, 3) if r == 0 else slice(3, 5)   # rows 3 + 2
        mine_eps = slice(0, 4) if r == 0 else slice(4, 7)    # energies 4 + 3
        assert np.array_equal(np.array(out["rows"]), whole[mine_rows])
        assert np.array_equal(np.array(out["back"]), 2.0 * whole[:, mine_eps])
        assert "to_energies: shape" in out["bad"]
        assert out["one"][0] == ([1, 7] if r == 0 else [0, 7])
        assert np.array_equal(np.array(out["one"][1]), whole[:1, mine_eps])
        assert "a real table is expected" in out["complex"]

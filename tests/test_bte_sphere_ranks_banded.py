"""The banded energy-block preconditioner of bte_sphere on 1 and 2 ranks (issue 18 §3).

:class:`fvqp.models.bte_sphere.precond.EnergyBlockPC` factorises every energy block of
the preconditioning matrix by LAPACK's band LU (:class:`~fvqp.models.bte_sphere.precond
.BandedBlocks`), the blocks shared over the ranks by
:class:`fvqp.parallel.blocktranspose.BlockTranspose`. Checked here: the band LU of
blocks of several shapes (runs of equal blocks solved together) with row interchanges
against dense solves, and ``z = P^{-1} r`` of a real ``mpiexec -n 2`` run against the
serial one and against a sparse direct solve of the assembled ``P`` (schemes with one-
and two-cell stencils, phonons transported, local and bath).
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from scipy.sparse import coo_matrix
from scipy.sparse.linalg import spsolve

from conftest import HANG_TIMEOUT, ROOT, mpi_env
from fvqp.models.bte_sphere.precond import BandedBlocks

#: the small problems of tests/test_bte_sphere_precond.py; the script builds one, the
#: preconditioner at a perturbed state, and writes the gathered z = P^{-1} r (rank 0)
SCRIPT = r'''
import sys
import numpy as np
from fvqp.collisions import EnergyGrid
from fvqp.models.bte_sphere.discretisation import Ordinates, RadialMesh
from fvqp.models.bte_sphere.precond import EnergyBlockPC, energy_blocks
from fvqp.models.bte_sphere.problem import SphereProblem
from fvqp.models.bte_sphere.spectral import bcs_spectrum
from fvqp.parallel.blocktranspose import BlockTranspose
from fvqp.spectra.gap import thermal_gap

phonons, scheme, out = sys.argv[1:4]
delta = thermal_gap(0.3, 1.0)
grid = EnergyGrid(delta=delta, h=delta / 4, n=12)
p = SphereProblem(RadialMesh.uniform(50.0, 9), Ordinates.gauss_legendre(4),
                  bcs_spectrum(grid), v_f=50.0, mfp=10.0, t_bath=0.3, c_ph=30.0,
                  phonons=phonons, c_s=5.0, outer_qp="bath", outer_ph="bath", scheme=scheme)
rng = np.random.default_rng(3)
ncell = p.mesh.n
xg = np.tile(p.equilibrium()[:p.B], ncell) * (1 + 0.2 * rng.random(ncell * p.B))
rg = rng.standard_normal(ncell * p.B)
xl = xg.reshape(ncell, p.B)[p.rcell].ravel()
block, slot = energy_blocks(p)
pc = EnergyBlockPC(p, BlockTranspose(p.rcell, p.n, ncell, block, slot))
pc.update(xl, 7.0)
z = pc.apply(rg.reshape(ncell, p.B)[p.rcell[:p.n]].ravel())
zg = np.asarray(p.dist.gather(z)).ravel()
if p.dist.comm.tompi4py().Get_rank() == 0:
    np.save(out, zg)
'''


def test_banded_blocks_with_row_interchanges_solve_every_block():
    """Three runs of blocks (two equal blocks, one wider band, one diagonal) with random
    entries in their bands: pivoting happens, and the solve equals a dense solve of
    every block to 1e-12 (relative)."""
    rng = np.random.default_rng(5)
    shapes = [(30, 3, 2), (30, 3, 2), (25, 5, 4), (6, 0, 0)]
    rows, cols, dense = [], [], []
    off = 0
    for m, kl, ku in shapes:
        i, j = np.nonzero(np.subtract.outer(np.arange(m), np.arange(m)) <= kl)
        keep = (j - i) <= ku
        i, j = i[keep], j[keep]
        a = np.zeros((m, m))
        a[i, j] = rng.standard_normal(len(i))
        dense.append(a)
        rows.append(i + off)
        cols.append(j + off)
        off += m
    offsets = np.cumsum([0] + [m for m, _, _ in shapes])
    r, c = np.concatenate(rows), np.concatenate(cols)
    lu = BandedBlocks(r, c, offsets)
    assert [(b1 - b0, kl, ku) for b0, b1, kl, ku in lu.runs] == [(2, 3, 2), (1, 5, 4),
                                                                  (1, 0, 0)]
    data = np.concatenate([d[i - o, j - o] for d, i, j, o in
                           zip(dense, rows, cols, offsets[:-1], strict=True)])
    lu.factor(data)
    assert any(np.any(p != np.arange(len(p))) for p in lu._piv)  # rows were swapped
    rhs = rng.standard_normal(off)
    z = lu.solve(rhs)
    ref = np.concatenate([np.linalg.solve(d, rhs[a:b])
                          for d, a, b in zip(dense, offsets[:-1], offsets[1:], strict=True)])
    assert np.max(np.abs(z - ref)) <= 1e-12 * np.max(np.abs(ref))


def test_banded_blocks_refuse_an_entry_across_blocks():
    with pytest.raises(ValueError, match="couples two blocks"):
        BandedBlocks(np.array([0, 1, 2]), np.array([0, 2, 2]), np.array([0, 2, 3]))


def _run(nproc: int, phonons: str, scheme: str, tmp_path) -> np.ndarray:
    script = tmp_path / "pc_script.py"
    script.write_text(SCRIPT)
    out = tmp_path / f"z{nproc}.npy"
    cmd = [sys.executable, str(script), phonons, scheme, str(out)]
    if nproc > 1:
        cmd = ["mpiexec", "-n", str(nproc), *cmd]
    subprocess.run(cmd, check=True, env=mpi_env(), cwd=ROOT, timeout=HANG_TIMEOUT,
                   capture_output=True)
    return np.load(out)


def _assembled_solve(phonons: str, scheme: str) -> np.ndarray:
    """``P^{-1} r`` of the script's problem by a sparse direct solve of the assembled
    preconditioning matrix (serial, independent of the block code)."""
    ns: dict = {}
    exec(SCRIPT.split("block, slot =")[0].replace("phonons, scheme, out = sys.argv[1:4]",
                                                   ""), {"phonons": phonons,
                                                         "scheme": scheme}, ns)
    p, xl, rg = ns["p"], ns["xl"], ns["rg"]
    rows, cols = p.pattern
    n = p.n * p.B
    mat = coo_matrix((-p.rhs_jacobian(xl), (rows, cols)), shape=(n, n)).tocsr() \
        + coo_matrix((7.0 * p.dconserved(xl), (np.arange(n), np.arange(n))),
                     shape=(n, n)).tocsr()
    return spsolve(mat.tocsc(), rg)


@pytest.mark.mpi
@pytest.mark.parametrize(("phonons", "scheme"), [("bte", "step"), ("bath", "limited"),
                                                 ("local", "diamond")])
def test_energy_block_pc_two_ranks_equals_serial(phonons, scheme, tmp_path):
    """z = P^{-1} r gathered from 2 ranks (5 + 4 radial cells, each rank half the energy
    blocks) equals the serial z to 1e-14 and the assembled matrix's direct solve to
    1e-12 (relative to max |z|)."""
    z1 = _run(1, phonons, scheme, tmp_path)
    z2 = _run(2, phonons, scheme, tmp_path)
    scale = np.max(np.abs(z1))
    assert np.max(np.abs(z2 - z1)) <= 1e-14 * scale
    ref = _assembled_solve(phonons, scheme)
    assert np.max(np.abs(z1 - ref)) <= 1e-12 * scale

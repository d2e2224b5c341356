"""The energy-block preconditioner of bte_sphere on 1 and 2 ranks (issue 18 §3).

:class:`fvqp.models.bte_sphere.precond.EnergyBlockPC` factorises every energy block of
the preconditioning matrix by PETSc's sparse LU (:class:`fvqp.solvers.sparselu
.SparseLU`, natural order, no row interchanges), the blocks shared over the ranks by
:class:`fvqp.parallel.blocktranspose.BlockTranspose` in ranges of near-equal cost
(:func:`fvqp.models.bte_sphere.precond.block_weights`, :func:`fvqp.parallel.energies
.weighted_bounds`). Checked here: the LU of stacked blocks against dense solves, a
block's solution independent of the blocks stacked with it (bit for bit), refactorisation
on new values, a zero pivot reported; the weighted ranges; and ``z = P^{-1} r`` of a real
``mpiexec -n 2`` run against the serial one and against a sparse direct solve of the
assembled ``P`` (schemes with one- and two-cell stencils, phonons transported, local and
bath).
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from scipy.sparse import coo_matrix
from scipy.sparse.linalg import spsolve

from conftest import HANG_TIMEOUT, ROOT, mpi_env
from fvqp.parallel.energies import weighted_bounds
from fvqp.solvers import options_session
from fvqp.solvers.sparselu import SparseLU

#: the small problems of tests/test_bte_sphere_precond.py; the script builds one, the
#: preconditioner at a perturbed state, and writes the gathered z = P^{-1} r (rank 0)
SCRIPT = r'''
import sys
import numpy as np
from fvqp.collisions import EnergyGrid
from fvqp.models.bte_sphere.discretisation import Ordinates, RadialMesh
from fvqp.models.bte_sphere.precond import EnergyBlockPC, block_weights, energy_blocks
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
weights = block_weights(p, block)
tr = BlockTranspose(p.rcell, p.n, ncell, block, slot, weights=weights)
pc = EnergyBlockPC(p, tr)
pc.update(xl, 7.0)
z = pc.apply(rg.reshape(ncell, p.B)[p.rcell[:p.n]].ravel())
zg = np.asarray(p.dist.gather(z)).ravel()
comm = p.dist.comm.tompi4py()
total = comm.allreduce(weights)
share = comm.gather(float(total[tr.blocks.start:tr.blocks.stop].sum()), root=0)
if comm.Get_rank() == 0:
    np.save(out, zg)
    np.save(out.replace(".npy", "_cost.npy"), np.array(share + [total.max(), total.sum()]))
'''


def _stacked_blocks(rng, sizes, kl: int = 3, ku: int = 2):
    """Blocks of the given sizes with random entries in a band, diagonally dominant
    (an LU without row interchanges is stable), as (rows, cols, data, dense blocks)."""
    rows, cols, data, dense = [], [], [], []
    off = 0
    for m in sizes:
        i, j = np.nonzero((np.subtract.outer(np.arange(m), np.arange(m)) <= kl)
                          & (np.subtract.outer(np.arange(m), np.arange(m)) >= -ku))
        a = np.zeros((m, m))
        a[i, j] = rng.standard_normal(len(i))
        a[np.arange(m), np.arange(m)] = np.abs(a).sum(axis=1) + 1.0
        dense.append(a)
        rows.append(i + off)
        cols.append(j + off)
        data.append(a[i, j])
        off += m
    return np.concatenate(rows), np.concatenate(cols), np.concatenate(data), dense


def test_sparse_lu_solves_stacked_blocks_each_on_its_own():
    """Three blocks stacked: the solve equals a dense solve of every block to 1e-13;
    the first block's solution is the same bit for bit solved alone (its factors never
    see the other blocks: the rank that holds it does not matter); new values with the
    same pattern are refactorised (a second, different matrix solved as exactly)."""
    rng = np.random.default_rng(5)
    sizes = [30, 25, 6]
    r, c, d, dense = _stacked_blocks(rng, sizes)
    n = sum(sizes)
    rhs = rng.standard_normal(n)
    offsets = np.cumsum([0] + sizes)
    with options_session():
        lu = SparseLU(r, c, n, "test_lu_")
        for scale in (1.0, 0.5 + rng.random(len(d))):
            lu.factor(d * scale)
            z = lu.solve(rhs)
            for k, (a, b) in enumerate(zip(offsets[:-1], offsets[1:], strict=True)):
                blk = np.zeros_like(dense[k])
                m = (r >= a) & (r < b)
                blk[r[m] - a, c[m] - a] = (d * scale)[m]
                ref = np.linalg.solve(blk, rhs[a:b])
                assert np.max(np.abs(z[a:b] - ref)) <= 1e-13 * np.max(np.abs(ref))
        first = r < sizes[0]
        alone = SparseLU(r[first], c[first], sizes[0], "test_lu_alone_")
        alone.factor((d * scale)[first])
        assert np.array_equal(alone.solve(rhs[:sizes[0]]), z[:sizes[0]])
        assert lu.factorisations == 2
        lu.destroy()
        alone.destroy()


def test_sparse_lu_reports_a_zero_pivot_and_refuses_repeated_entries():
    rows, cols = np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2])
    with options_session():
        lu = SparseLU(rows, cols, 3, "test_lu_")
        lu.factor(np.array([2.0, 4.0, 1.0, 5.0]))
        assert np.allclose(lu.solve(np.array([2.0, 5.0, 5.0])), 1.0)
        with pytest.raises(np.linalg.LinAlgError, match="zero pivot"):
            lu.factor(np.array([2.0, 0.0, 1.0, 5.0]))
        with pytest.raises(ValueError, match="twice"):
            SparseLU(np.array([0, 0]), np.array([1, 1]), 2, "test_lu_")


@pytest.mark.parametrize("parts", [2, 3, 7])
def test_weighted_bounds_share_the_cost(parts):
    """Contiguous ranges whose sums lie within the largest weight of total / parts
    (QP-like blocks 2.6 times as heavy as phonon-like ones); equal weights give ranges
    of near-equal length."""
    w = np.concatenate([np.full(276, 3504.0), np.full(298, 1544.0)])
    b = weighted_bounds(w, parts)
    assert b[0] == 0 and b[-1] == len(w) and np.all(np.diff(b) >= 0)
    sums = np.add.reduceat(w, b[:-1])
    assert np.all(np.abs(sums - w.sum() / parts) <= w.max())
    lengths = np.diff(weighted_bounds(np.ones(10), parts))
    assert lengths.max() - lengths.min() <= 1
    with pytest.raises(ValueError, match="non-negative"):
        weighted_bounds(np.array([1.0, -1.0]), 2)


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
    """z = P^{-1} r gathered from 2 ranks (5 + 4 radial cells, the energy blocks shared
    by cost: the ranks' costs within the heaviest block's of each other) equals the
    serial z to 1e-14 and the assembled matrix's direct solve to 1e-12 (relative to
    max |z|)."""
    z1 = _run(1, phonons, scheme, tmp_path)
    z2 = _run(2, phonons, scheme, tmp_path)
    cost = np.load(tmp_path / "z2_cost.npy")
    assert abs(cost[0] - cost[1]) <= cost[2] and cost[0] + cost[1] == cost[3]
    scale = np.max(np.abs(z1))
    assert np.max(np.abs(z2 - z1)) <= 1e-14 * scale
    ref = _assembled_solve(phonons, scheme)
    assert np.max(np.abs(z1 - ref)) <= 1e-12 * scale


@pytest.mark.parametrize("scheme", ["step", "diamond", "limited"])
def test_energy_blocks_need_no_row_interchanges_down_to_steady_diffusive(scheme):
    """The blocks' LU has no row interchanges (natural order, no pivot shift): checked
    where its pivots are weakest, a steady state (shift 0) in the diffusive limit
    (mfp 0.01 of a 50 um sphere, 8 ordinates) with each scheme: z = P^{-1} r equals a
    pivoting sparse direct solve of the assembled P to 1e-13 (measured 1e-16 to 6e-16)."""
    from fvqp.collisions import EnergyGrid
    from fvqp.models.bte_sphere.discretisation import Ordinates, RadialMesh
    from fvqp.models.bte_sphere.precond import EnergyBlockPC, block_weights, energy_blocks
    from fvqp.models.bte_sphere.problem import SphereProblem
    from fvqp.models.bte_sphere.spectral import bcs_spectrum
    from fvqp.parallel.blocktranspose import BlockTranspose
    from fvqp.spectra.gap import thermal_gap

    delta = thermal_gap(0.3, 1.0)
    grid = EnergyGrid(delta=delta, h=delta / 4, n=12)
    with options_session():
        p = SphereProblem(RadialMesh.uniform(50.0, 9), Ordinates.gauss_legendre(8),
                          bcs_spectrum(grid), v_f=50.0, mfp=0.01, t_bath=0.3, c_ph=30.0,
                          phonons="bte", c_s=5.0, outer_qp="bath", outer_ph="bath",
                          scheme=scheme)
        rng = np.random.default_rng(3)
        xl = np.tile(p.equilibrium()[:p.B], p.mesh.n) * (1 + 0.2 * rng.random(p.mesh.n * p.B))
        r = rng.standard_normal(p.n * p.B)
        block, slot = energy_blocks(p)
        pc = EnergyBlockPC(p, BlockTranspose(p.rcell, p.n, p.mesh.n, block, slot,
                                             weights=block_weights(p, block)))
        pc.update(xl, 0.0)
        z = pc.apply(r)
        pc.destroy()
    rows, cols = p.pattern
    n = p.n * p.B
    mat = coo_matrix((-p.rhs_jacobian(xl), (rows, cols)), shape=(n, n)).tocsc()
    ref = spsolve(mat, r)
    assert np.max(np.abs(z - ref)) <= 1e-13 * np.max(np.abs(ref))


def test_case_options_reach_the_blocks_lu(tmp_path):
    """``[solver.petsc] eblock_*`` keys configure the energy blocks' LU (prefix
    ``bte_sphere_eblock_``): ``eblock_pc_type = "jacobi"`` replaces the exact block
    inverse by its diagonal, so GMRES takes more iterations for the same steps, and no
    key is reported unread. Before, the keys reached the database after the LU had read
    its options and did nothing, without a warning (50 Krylov iterations both)."""
    import json

    from test_bte_sphere_vtk import _case

    from conftest import run_fvqp

    counts = {}
    for tag, extra in (("lu", ""), ("jacobi", '\n[solver.petsc]\neblock_pc_type = "jacobi"\n')):
        (tmp_path / tag).mkdir()
        case = _case(tmp_path / tag)
        case.write_text(case.read_text() + extra)
        run_fvqp(["run", case, "--output", tmp_path / tag / "out", "--max-steps", "3"])
        s = json.loads((tmp_path / tag / "out" / "summary.json").read_text())
        assert not s.get("unread_options"), s.get("unread_options")
        counts[tag] = (s["newton_iterations"], s["linear_iterations"])
    assert counts["jacobi"][1] > 2 * counts["lu"][1], counts  # measured 136 against 50

"""The coupled collisional system's sweep split over the ranks by energy bins
(fvqp.models.bte.sweep.BinSplitSweep, fvqp.parallel.exchange.BlockRegroup): every rank
sweeps its bins over the whole mesh in the serial order, so on 2 ranks it is the serial
sweep (fvqp.solvers.sweep.OrderedILU on one rank) — checked on one vector against the
serial sweep of the same problem built on every rank alone, with local phonons (rows that
stay with their cells), triangles (sweep orders with several wavefronts) and diffuse and
specular walls (couplings between ordinates)."""

from __future__ import annotations

from test_bte_absorber3d_mpi import CASE, SMALL

from conftest import ROOT, case_variant, run_fvqp, script_result

_MPI = """
import sys
import numpy as np
sys.path.insert(0, {tests!r})
from petsc4py import PETSc
from test_bte_mesh_collisions import T, _grid, GAP, C_PH
from fvqp.collisions.grid import fermi
from fvqp.mesh import build_geometry
from fvqp.models.bte.inelastic import InelasticProblem
from fvqp.models.bte.problem import BTEProblem
from fvqp.models.bte.rect import rectangle
from fvqp.models.bte.sweep import BinSplitSweep, cell_orders, coupled_order
from fvqp.ordinates.quadrature import circle
from fvqp.parallel import Distribution
from fvqp.solvers.sweep import OrderedILU
from fvqp.spectra.bins import cell_spectra

raw = rectangle(14, 9, 1.4, 0.9, triangles=True)
kinds = {{"left": "inflow", "right": "diffuse", "bottom": "diffuse", "top": "specular"}}
grid = _grid(h=0.2)

def problem(comm, tag):
    dist = Distribution(build_geometry(raw), comm=comm)
    fb = fermi(grid.e, T)
    base = BTEProblem(dist, circle(8), grid, GAP, 1.0, 1.0, np.ones(1), np.array([2.0]),
                      np.array([0.1]), kinds, {{"left": fb}}, fb, [], prefix=tag + "bins_")
    rho, ados, _ = cell_spectra(grid, np.array([GAP]))
    return InelasticProblem(base, rho[0], ados[0], qp_scale=1.0, c_ph=C_PH, t_bath=T,
                            phonons="local", tau_esc=3.0)

def inputs(p):
    # the diagonal (time shift + collisions) and the residual: functions of the file cell
    c = p.base.dist.local.cells[: p.n].astype(float)[:, None]
    k = np.arange(p.S)[None, :]
    return ((2.0 + np.sin(0.7 * c + 0.3 * k)) * p.storage.reshape(p.n, p.S) + 0.5).ravel(), \\
        np.cos(0.37 * c - 0.11 * k).ravel()

ser = problem(PETSc.COMM_SELF, "ser_")
orders, _ = cell_orders(ser.base.stream.matrix, ser.n, ser.K)
ilu = OrderedILU(coupled_order(orders, ser.n, ser.N, ser.S, ser.Mp), "ser_sweep_")
d, r = inputs(ser)
import scipy.sparse as sp
ilu.factor(ser.L_oo + sp.diags(d))
z_ser = ilu.solve(r).reshape(ser.n, ser.S)            # file cell order (one rank)
par = problem(PETSc.COMM_WORLD, "par_")
sw = BinSplitSweep(par, "par_sweep_")
d, r = inputs(par)
sw.factor(d)
z = par.base.dist.gather(sw.solve(r).reshape(par.n, par.S), root=None)
for k in range(2):                                    # refactored in place: the same
    sw.factor(d)
z2 = par.base.dist.gather(sw.solve(r).reshape(par.n, par.S), root=None)
if PETSc.COMM_WORLD.rank == 0:
    print("RESULT", repr((par.base.dist.size, par.N, par.Mp, sw.rg.mine.tolist(),
          float(np.max(np.abs(z - z_ser)) / np.max(np.abs(z_ser))),
          float(np.max(np.abs(z2 - z))), float(np.max(np.abs(z_ser))))))
"""


def _run(nproc: int) -> tuple:
    return script_result(_MPI.format(tests=str(ROOT / "tests")), nproc, timeout=600)


def test_bin_split_sweep_on_two_ranks_is_the_serial_sweep():
    """252 triangles, 8 ordinates, 8 bins and 24 local phonon nodes: the sweep split by
    bins over 2 ranks (bins 0, 2, 4, 6 on rank 0: by their cost) equals the serial
    sweep of the same system to round-off (measured 1.1e-16 relative, from the phonon
    rows; the orders and the arithmetic of every bin are the serial ones), also after
    refactoring in place (bit for bit); on one rank too."""
    for nproc in (1, 2):
        size, n_bins, n_ph, mine, rel, again, scale = _run(nproc)
        assert size == nproc and n_ph > 0 and scale > 0.1
        assert 0 < len(mine) <= n_bins if nproc == 2 else len(mine) == n_bins
        assert rel < 1e-13, (nproc, rel)
        assert again == 0.0, (nproc, again)


def test_unknown_rank_split_is_refused(tmp_path):
    """``sweep_rank_split`` other than bins/stages: exit 2 (a case error) naming the case
    file, the key and the choices (before any step)."""
    case = case_variant(CASE, tmp_path, **SMALL)
    case.write_text(case.read_text()
                    + '\n[solver]\npetsc = { fine_pc = "sweep", sweep_rank_split = "cells" }\n')
    proc = run_fvqp(["run", case, "--output", tmp_path / "o"], check=False)
    assert proc.returncode == 2, proc.stderr[-2000:]
    msg = proc.stderr + proc.stdout
    assert str(case) in msg and "sweep_rank_split" in msg and "bins, stages" in msg

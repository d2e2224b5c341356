"""The coarse level of the assembled transport Jacobian in steady solves (issue 18 §2).

A steady state is the infinite-step limit of the implicit step, where one-level additive
Schwarz loses the coupling that the ranks cut: on the steady NIS wire
(``cases/transport_nis_wire.toml``, 326 cells x 154 unknowns, 3 Newton steps) the
one-level Krylov counts were 16, 144, 341, 416 at 1, 2, 4, 8 ranks. The coarse level
(piecewise constants on cell aggregates per QP bin, Galerkin, exact LU;
:class:`fvqp.solvers.twolevel.TwoLevelPC`, :func:`fvqp.parallel.coarse.aggregate_space`;
max(64, 16 per rank) aggregates by default) measured 16, 33, 38, 33. Serially the ILU(0)
of the whole wire is nearly exact already (16 with and without the coarse level); on the
2-D film trap it is not (2 068 Krylov one level, 158 with the coarse level, serial and 2
ranks alike).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import ROOT, case_variant, run_fvqp

#: the shipped case with the assembled Jacobian named (``auto``'s choice for it; the
#: coarse level serves ``jacobian = "assembled"``)
ASSEMBLED = {"[time]": '[numerics]\njacobian = "assembled"\n\n[time]'}
#: the same with the matrix-free Jacobian
MATRIX_FREE = {"[time]": '[numerics]\njacobian = "matrix_free"\n\n[time]'}


def _run(tmp_path, name: str, nproc: int, *options) -> dict:
    out = tmp_path / name
    case = case_variant("transport_nis_wire.toml", tmp_path, **ASSEMBLED)
    run_fvqp(["-q", "run", case, "--output", out, *options], nproc=nproc)
    s = json.loads((out / "summary.json").read_text())
    assert s["status"] == 0, s["message"]
    assert s["jacobian"] == "assembled"
    return s


@pytest.mark.mpi
def test_coarse_level_keeps_the_steady_wire_krylov_counts_flat(tmp_path):
    """Serial, 2 and 4 ranks with the coarse level, 4 ranks without: the same answer
    (QP number and every boundary flow to 1e-10 of serial) and Newton steps; Krylov per
    Newton at 4 ranks <= 1.25 x at 2 ranks and <= 3 x serial (measured 11.0, 12.7 and
    5.3; one level 48 and 114); without the coarse level
    (``-transport_coarse_aggregates 0``) at least 3 x more at 4 ranks (measured 341
    against 38)."""
    s1 = _run(tmp_path, "s1", 1)
    s2 = _run(tmp_path, "s2", 2)
    s4 = _run(tmp_path, "s4", 4)
    one = _run(tmp_path, "one", 4, "-transport_coarse_aggregates", "0")
    for s in (s2, s4, one):
        assert s["newton_iterations"] == s1["newton_iterations"]
        assert s["N_qp"] == pytest.approx(s1["N_qp"], rel=1e-10)
        flows = s1["qp_rates_per_s"]
        scale = max(abs(v) for v in flows.values())
        for k, v in flows.items():
            assert abs(s["qp_rates_per_s"][k] - v) <= 1e-10 * scale, k
    k1, k2, k4, k_one = (s["linear_iterations"] / s["newton_iterations"]
                         for s in (s1, s2, s4, one))
    assert k4 <= 1.25 * k2, (k2, k4)
    assert max(k2, k4) <= 3.0 * k1, (k1, k2, k4)
    assert k_one >= 3.0 * k4, (k_one, k4)


_EXACT_COARSE = """
import numpy as np, scipy.sparse as sp
from petsc4py import PETSc
from fvqp.solvers.linear import csr_matrix
from fvqp.solvers.twolevel import add_coarse_level
from fvqp.solvers.options import apply_options, set_from_options

comm = PETSc.COMM_WORLD
rank, size = comm.getRank(), comm.getSize()
n = 200                                   # 1D Laplacian + shift, split over the ranks
lo, hi = rank * n // size, (rank + 1) * n // size
rows = np.arange(lo, hi)
A = sp.lil_matrix((hi - lo, n))
for i, r in enumerate(rows):
    A[i, r] = 2.0 + 1e-3
    if r > 0:
        A[i, r - 1] = -1.0
    if r < n - 1:
        A[i, r + 1] = -1.0
M = csr_matrix(comm, sp.csr_matrix(A), n)
ksp = PETSc.KSP().create(comm=comm)
ksp.setOperators(M)
ksp.setOptionsPrefix("t_")
apply_options("t_", {"ksp_type": "gmres", "ksp_rtol": 1e-12, "ksp_max_it": 1000,
                     "ksp_gmres_restart": 200, "ksp_pc_side": "right",
                     "pc_type": "jacobi"})
set_from_options(ksp, "t_")
counts = {}
for name, P in (("one", None), ("exact", sp.identity(hi - lo, format="csr")),
                ("pair", sp.csr_matrix((np.ones(hi - lo), (np.arange(hi - lo),
                                        np.arange(hi - lo) // 2)),
                                       shape=(hi - lo, (hi - lo + 1) // 2)))):
    k = PETSc.KSP().create(comm=comm)
    k.setOperators(M)
    k.setOptionsPrefix("t_")
    set_from_options(k, "t_")
    if P is not None:
        ctx = add_coarse_level(k, P.T.tocsr(), P, "t_")
    b = M.createVecLeft()
    b.setArray(np.sin(0.05 * rows) + 1.0)
    x = M.createVecRight()
    k.solve(b, x)
    r = M.createVecLeft()
    M.mult(x, r)
    r.axpy(-1.0, b)
    counts[name] = (k.getIterationNumber(), r.norm() / b.norm())
if rank == 0:
    print("RESULT", counts)
"""


@pytest.mark.mpi
@pytest.mark.parametrize("nproc", [1, 2])
def test_two_level_pc_with_the_whole_space_as_coarse_space_is_exact(nproc):
    """With ``P = I`` the multiplicative correction ``y += A_c^{-1}(r - A y)`` makes the
    two-level PC exact: GMRES converges in one iteration, whatever the one-level PC;
    with pairs of unknowns as aggregates it needs fewer iterations than the one-level
    PC (point Jacobi) alone (a shifted 1D Laplacian of 200 unknowns)."""
    from conftest import script_result

    c = script_result(_EXACT_COARSE, nproc=nproc)
    assert c["exact"][0] == 1 and c["exact"][1] < 1e-11, c
    for name in ("one", "pair"):
        assert c[name][1] < 1e-11, c
    assert c["pair"][0] < c["one"][0], c


def test_aggregate_space_sums_each_unknown_over_the_owned_cells_of_an_aggregate():
    """``R`` sums every unknown of the cells of an aggregate separately; ``P = R^T``;
    every owned fine unknown belongs to exactly one coarse unknown."""
    from fvqp.mesh import build_geometry, read_mesh
    from fvqp.parallel import Distribution
    from fvqp.parallel.coarse import aggregate_space, cell_aggregates

    cells = Distribution(build_geometry(read_mesh(ROOT / "meshes" / "nis_wire" /
                                                  "nis_wire.msh")))
    bs = 3
    R, P = aggregate_space(cells, 8, bs)
    n = cells.local.n_owned
    agg, n_agg = cell_aggregates(cells, 8)
    assert R.shape == (n_agg * bs, n * bs) and (P != R.T).nnz == 0
    assert np.array_equal(np.asarray(R.sum(axis=0)).ravel(), np.ones(n * bs))
    x = np.arange(n * bs, dtype=float).reshape(n, bs)
    want = np.zeros((n_agg, bs))
    np.add.at(want, agg[:n], x)
    assert np.allclose((R @ x.ravel()).reshape(n_agg, bs), want, rtol=0, atol=0)


@pytest.mark.mpi
def test_the_matrix_free_steady_wire_is_flat_in_ranks(tmp_path):
    """``jacobian = "matrix_free"`` (GAMG on the diffusion-plus-diagonal matrix; recorded
    in ``summary.json`` ``jacobian``): its Krylov counts do not jump from 1 to 4 ranks as
    the one-level Schwarz ILU(0) of the assembled Jacobian does (measured 38 / 40 Krylov
    in 3 Newton steps, against 16 / 341 one level): the same Newton steps and answer as
    serial (1e-9 of N_qp and of the largest flow: the linear solves stop at 1e-10) and
    Krylov per Newton at 4 ranks <= 1.25 x serial."""
    runs = {}
    case = case_variant("transport_nis_wire.toml", tmp_path, **MATRIX_FREE)
    for n in (1, 4):
        out = tmp_path / f"mf{n}"
        run_fvqp(["-q", "run", case, "--output", out], nproc=n)
        runs[n] = s = json.loads((out / "summary.json").read_text())
        assert s["status"] == 0, s["message"]
        assert s["jacobian"] == "matrix_free"
    s1, s4 = runs[1], runs[4]
    assert s4["newton_iterations"] == s1["newton_iterations"]
    assert s4["N_qp"] == pytest.approx(s1["N_qp"], rel=1e-9)
    scale = max(abs(v) for v in s1["qp_rates_per_s"].values())
    for k, v in s1["qp_rates_per_s"].items():
        assert abs(s4["qp_rates_per_s"][k] - v) <= 1e-9 * scale, k
    k1, k4 = (s["linear_iterations"] / s["newton_iterations"] for s in (s1, s4))
    assert k4 <= 1.25 * k1, (k1, k4)


def test_a_failed_coarse_solve_is_reported_with_its_cause_and_fix(tmp_path):
    """A coarse factorisation that fails (here forced: every pivot counts as zero) stops
    the steady solve with status -1 and exit 3, and the message names the coarse solve,
    PETSc's reason and the fixes (a shifted factorisation, or one level) instead of a bare
    DIVERGED_LINEAR_SOLVE."""
    out = tmp_path / "fail"
    case = case_variant("transport_nis_wire.toml", tmp_path, **ASSEMBLED)
    proc = run_fvqp(["-q", "run", case, "--output", out,
                     "-transport_coarse_pc_factor_zeropivot", "1e30"], check=False)
    assert proc.returncode == 3, proc.stderr[-2000:]
    s = json.loads((out / "summary.json").read_text())
    assert s["status"] == -1
    for text in ("DIVERGED_LINEAR_SOLVE", "the coarse solve of the two-level "
                 "preconditioner failed", "FACTOR_NUMERIC_ZEROPIVOT",
                 "-transport_coarse_pc_factor_shift_type nonzero",
                 "-transport_coarse_aggregates 0"):
        assert text in s["message"], (text, s["message"])

"""Issue 18 §1b: the QP Schur complement stored as float32 cell blocks with its own
ILU(0) (``-<prefix>schur_storage cells``, :class:`fvqp.solvers.cellblock_ilu.CellBlockILU`)
is PETSc's point ILU(0) of the AIJ storage, in single precision."""

import json

import numpy as np
import pytest

from conftest import CASES, case_variant, run_fvqp


@pytest.fixture(scope="module")
def absorber(tmp_path_factory):
    """The shipped 3D absorber (520 hexahedra) in the ``schur`` mode at a non-equilibrium
    state (the bath perturbed by up to 30 %)."""
    from fvqp.case.loader import load_case
    from fvqp.models.transport.driver import TransportSimulation

    text = (CASES / "transport_absorber3d.toml").read_text().replace(
        "../meshes", str(CASES.parent / "meshes"))
    case = tmp_path_factory.mktemp("cells") / "absorber.toml"
    case.write_text(text + '\n[numerics]\njacobian = "schur"\n')
    sim = TransportSimulation(load_case(str(case)))
    rng = np.random.default_rng(18)
    x = sim.x0 * (1.0 + 0.3 * rng.uniform(-1.0, 1.0, sim.x0.shape))
    return sim.problem, sim.local(x)


def test_cell_storage_is_petsc_ilu0_in_single_precision(absorber):
    """At a BDF shift of 1e3 (steps of ~10 ps) the inner solve of the cell storage equals
    PETSc's ILU(0) on the AIJ matrix to 1e-6 of its largest entry (measured 7e-8: the
    float32 rounding of blocks and factors), and so does the whole phonon-eliminating
    application (measured 5e-9); a non-ILU(0) elimination (e.g. a block ILU with dense
    fill from the neighbours) would differ at O(1e-2)."""
    from petsc4py import PETSc

    from fvqp.models.transport.schur import SchurPreconditioner

    p, xl = absorber
    aij = SchurPreconditioner(p, "h3aij_")
    PETSc.Options()["h3cells_schur_storage"] = "cells"
    try:
        cells = SchurPreconditioner(p, "h3cells_")
    finally:
        del PETSc.Options()["h3cells_schur_storage"]
    assert cells.ilu is not None and cells.ksp is None
    assert cells.ilu.blocks.dtype == np.float32
    assert len(cells.ilu.levels) > 1  # a real triangular sweep, not block Jacobi
    rng = np.random.default_rng(7)
    for pc in (aij, cells):
        pc.update(xl, 1e3)
    t = rng.standard_normal(p.n * p.N)
    za, zc = aij._smooth(t), cells._smooth(t)
    assert np.max(np.abs(zc - za)) <= 1e-6 * np.max(np.abs(za))
    r = rng.standard_normal(p.n * p.B)
    ra, rc = aij.apply(r), cells.apply(r)
    assert np.max(np.abs(rc - ra)) <= 1e-6 * np.max(np.abs(ra))


def test_default_storage_is_the_cells_where_they_apply(absorber):
    """The default storage (``auto``) is the float32 cell blocks on one rank with the
    default inner solve (the hexahedral absorber), and AIJ under a PETSc inner solve the
    case chooses (the cell storage has no PETSc KSP to configure); ``aij`` is kept when
    asked for."""
    from petsc4py import PETSc

    from fvqp.models.transport.schur import SchurPreconditioner

    p, _ = absorber
    auto = SchurPreconditioner(p, "h3auto_")
    assert auto.storage == "cells" and auto.ilu is not None and auto.ksp is None
    PETSc.Options()["h3asm_schur_pc_type"] = "asm"
    try:
        asm = SchurPreconditioner(p, "h3asm_")
    finally:
        del PETSc.Options()["h3asm_schur_pc_type"]
    assert asm.storage == "aij" and asm.ilu is None and asm.ksp is not None
    aij = SchurPreconditioner(p, "h3forced_", {"storage": "aij"})
    assert aij.storage == "aij" and aij.ksp is not None


def test_cell_ilu_refuses_triangles_and_is_exact_without_couplings():
    """Three pairwise-neighbour cells (a triangle in the face graph) break the closed form
    of the module: refused. Without couplings the ILU(0) is the exact inverse of each
    block (to float32 round-off)."""
    from fvqp.solvers.cellblock_ilu import CellBlockILU

    with pytest.raises(ValueError, match="pairwise neighbours"):
        CellBlockILU(3, 2, np.array([0, 1, 2]), np.array([1, 2, 0]))
    rng = np.random.default_rng(1)
    n, N = 4, 5
    ilu = CellBlockILU(n, N, np.array([0, 1, 2]), np.array([1, 2, 3]))  # a chain
    S = rng.standard_normal((n, N, N)) + 8 * np.eye(N)
    ilu.set_blocks(np.arange(n), S)
    zero = np.zeros((3, N))
    ilu.set_couplings(np.array([0, 1, 2]), np.array([1, 2, 3]), zero, zero)
    ilu.factor()
    r = rng.standard_normal(n * N)
    want = np.linalg.solve(S, r.reshape(n, N, 1)).ravel()
    assert np.max(np.abs(ilu.solve(r) - want)) <= 1e-5 * np.max(np.abs(want))


@pytest.mark.slow
def test_burst_counts_and_answers_equal_the_aij_storage(tmp_path):
    """Six BDF steps of the absorber burst: the cell storage takes the same Newton
    iterations and Krylov iterations within one per Newton iteration as the AIJ storage
    (measured over 12 steps: 27 Newton both, 169 vs 172 Krylov), and the stored energy
    and QP number agree to the Newton tolerance (1e-6)."""
    out = {}
    for storage in ("aij", "cells"):
        (tmp_path / storage).mkdir()
        case = case_variant("transport_absorber3d.toml", tmp_path / storage)
        case.write_text(case.read_text() + '\n[numerics]\njacobian = "schur"\n\n'
                        f'[solver.petsc]\nschur_storage = "{storage}"\n')
        run_fvqp(["run", case, "--output", tmp_path / storage / "out", "--max-steps", "6"])
        out[storage] = json.loads((tmp_path / storage / "out" / "summary.json").read_text())
    a, c = out["aij"], out["cells"]
    assert (a["schur_storage"], c["schur_storage"]) == ("aij", "cells")  # as asked
    assert c["newton_iterations"] == a["newton_iterations"]
    assert abs(c["linear_iterations"] - a["linear_iterations"]) <= a["newton_iterations"]
    assert c["energy_J"]["final"] == pytest.approx(a["energy_J"]["final"], rel=1e-6, abs=0)
    assert c["qp_number"]["final"] == pytest.approx(a["qp_number"]["final"], rel=1e-6, abs=0)
    # flow resolutions (summary.json flow_resolution): at 0.26 ns the QPs have not reached
    # the lead's bath contact: its flow is ~1e-30 QPs against a resolution of 0.22 QPs at
    # atol = 1e-8, named unresolved by both runs (it moved by 8.5e-6 relative between the
    # storages, 4e-3 after 12 steps, as much as between Newton tolerances 100x apart: the
    # digits of the linear solves), and so is the phonon escape (-1.4e-20 J against
    # 4.0e-18 J); every flow of the two runs agrees to within newton_tol (1e-3) of its
    # resolution (measured at most 7e-15 of it)
    for s in (a, c):
        res = s["flow_resolution"]
        assert res["unresolved"] == ["energy_J.boundary:lead_end", "energy_J.escape",
                                     "qp_number.boundary:lead_end"]
        lead = res["qp_number"]["boundary:lead_end"]
        assert lead == pytest.approx(0.2224, rel=1e-3, abs=0)
        assert abs(s["qp_number"]["boundary:lead_end"]) < 1e-20 * lead
    checked = 0
    for b in ("energy_J", "qp_number"):
        for k, res in a["flow_resolution"][b].items():
            assert c["flow_resolution"][b][k] == pytest.approx(res, rel=1e-6, abs=0)
            assert abs(a[b][k] - c[b][k]) <= 1e-3 * res
            checked += res > 0
    assert checked == 3  # lead_end (energy, number) and escape carry a resolution
